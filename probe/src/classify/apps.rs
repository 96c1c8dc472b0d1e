//! Applications by host name and address (nDPI's `TLS.Amazon`, `DNS.Google`):
//! a data file in the repository (`probe/data/applications.toml`, compiled
//! in) that the user's own file extends (`[dpi] applications`).
//!
//! File format (TOML), one table per application:
//! ```toml
//! [[app]]
//! name = "Google"                 # nDPI's application name
//! category = "Web"                # nDPI's category name
//! hosts = ["google.com", "gstatic.com"]   # the name and all its subdomains
//! ips = ["142.250.0.0/15"]        # server address ranges (IPv4 or IPv6 CIDR)
//! protocols = ["STUN"]            # optional: only for flows of these masters
//! ```
//! A host matches its longest listed suffix at a label boundary; an address
//! its longest prefix. The user's entries come after the built-in ones and
//! win on equal length, so a user can re-file a domain.

use std::net::IpAddr;
use std::path::Path;

// hashbrown's map (foldhash), not std's (SipHash): the verdict looks up
// every suffix of a flow's host name, and the lists are ours, not an
// attacker's choosing, so a DoS-resistant hash buys nothing here.
use hashbrown::HashMap;
use ipnet::IpNet;
use serde::Deserialize;

use super::Protocol;

const BUILTIN: &str = include_str!("../../data/applications.toml");

/// One application as the verdict names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct App<'a> {
    pub(crate) name: &'a str,
    pub(crate) category: &'a str,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    app: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    ips: Vec<String>,
    #[serde(default)]
    protocols: Vec<String>,
}

#[derive(Debug)]
struct AppDef {
    name: String,
    category: String,
    /// Masters the entry is limited to; empty: any.
    protocols: Vec<Protocol>,
}

impl AppDef {
    fn applies(&self, protocol: Protocol) -> bool {
        self.protocols.is_empty() || self.protocols.contains(&protocol)
    }

    fn app(&self) -> App<'_> {
        App {
            name: &self.name,
            category: &self.category,
        }
    }
}

/// Why an applications file was refused.
#[derive(Debug, thiserror::Error)]
pub enum AppsError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// The applications known to the probe.
#[derive(Debug, Default)]
pub struct Applications {
    apps: Vec<AppDef>,
    /// Host suffix -> apps, later entries last.
    hosts: HashMap<String, Vec<u32>>,
    /// Per prefix length (longest first): network address -> apps.
    v4: Vec<(u8, HashMap<u32, Vec<u32>>)>,
    v6: Vec<(u8, HashMap<u128, Vec<u32>>)>,
    /// Protocols some address range is limited to.
    scoped_ips: Vec<Protocol>,
}

impl Applications {
    /// The built-in list.
    pub fn builtin() -> Self {
        let mut apps = Self::default();
        // INVARIANT: the built-in file is valid; a unit test parses it.
        #[allow(clippy::expect_used, reason = "checked by builtin_list_is_valid")]
        apps.add("applications.toml (built in)", BUILTIN)
            .expect("built-in applications.toml is valid");
        apps
    }

    /// The built-in list extended by the user's file.
    pub fn with_file(path: &Path) -> Result<Self, AppsError> {
        let text = std::fs::read_to_string(path).map_err(|source| AppsError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut apps = Self::builtin();
        apps.add(&path.display().to_string(), &text)?;
        Ok(apps)
    }

    /// Number of applications.
    pub fn len(&self) -> usize {
        self.apps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.apps.is_empty()
    }

    fn add(&mut self, origin: &str, text: &str) -> Result<(), AppsError> {
        let invalid = |message: String| AppsError::Invalid {
            path: origin.to_owned(),
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut problems = Vec::new();
        for entry in file.app {
            let index = self.apps.len() as u32;
            let mut protocols = Vec::new();
            for name in &entry.protocols {
                match Protocol::by_name(name) {
                    Some(p) => protocols.push(p),
                    None => problems.push(format!("{}: unknown protocol {name:?}", entry.name)),
                }
            }
            for host in &entry.hosts {
                let host = host.trim().trim_start_matches("*.").trim_matches('.');
                if host.is_empty() {
                    problems.push(format!("{}: empty host", entry.name));
                    continue;
                }
                self.hosts
                    .entry(host.to_ascii_lowercase())
                    .or_default()
                    .push(index);
            }
            if !entry.ips.is_empty() {
                for p in &protocols {
                    if !self.scoped_ips.contains(p) {
                        self.scoped_ips.push(*p);
                    }
                }
            }
            for ip in &entry.ips {
                match ip
                    .trim()
                    .parse::<IpNet>()
                    .or_else(|_| ip.trim().parse::<IpAddr>().map(IpNet::from))
                {
                    Ok(net) => self.add_net(net.trunc(), index),
                    Err(_) => {
                        problems.push(format!("{}: invalid address range {ip:?}", entry.name))
                    }
                }
            }
            self.apps.push(AppDef {
                name: entry.name,
                category: entry.category,
                protocols,
            });
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(invalid(problems.join("; ")))
        }
    }

    fn add_net(&mut self, net: IpNet, index: u32) {
        fn put<K: std::hash::Hash + Eq>(
            tables: &mut Vec<(u8, HashMap<K, Vec<u32>>)>,
            len: u8,
            key: K,
            index: u32,
        ) {
            let at = match tables.iter().position(|(l, _)| *l == len) {
                Some(at) => at,
                None => {
                    tables.push((len, HashMap::new()));
                    tables.sort_by_key(|t| std::cmp::Reverse(t.0));
                    tables.iter().position(|(l, _)| *l == len).unwrap_or(0)
                }
            };
            if let Some((_, table)) = tables.get_mut(at) {
                table.entry(key).or_default().push(index);
            }
        }
        match net {
            IpNet::V4(n) => put(&mut self.v4, n.prefix_len(), u32::from(n.network()), index),
            IpNet::V6(n) => put(&mut self.v6, n.prefix_len(), u128::from(n.network()), index),
        }
    }

    /// The application a host name belongs to, for a flow of `protocol`.
    pub(crate) fn by_host(&self, host: &str, protocol: Protocol) -> Option<App<'_>> {
        let host = host.trim_end_matches('.');
        let mut rest = host;
        loop {
            if let Some(app) = self.pick(self.hosts.get(rest), protocol) {
                return Some(app);
            }
            rest = rest.split_once('.')?.1;
        }
    }

    /// The application a server address belongs to, for a flow of `protocol`.
    pub(crate) fn by_ip(&self, ip: IpAddr, protocol: Protocol) -> Option<App<'_>> {
        self.by_ip_where(ip, |e| e.applies(protocol))
    }

    /// The application of a server address by an entry limited to
    /// `protocol` (`protocols = ["STUN"]`): such entries name the
    /// application even of flows whose protocol DPI found (Google's call
    /// relays are `STUN.GoogleCall`), where plain address ranges do not.
    pub(crate) fn by_ip_for(&self, ip: IpAddr, protocol: Protocol) -> Option<App<'_>> {
        // Most flows' protocols have no scoped range: no lookup for them.
        if !self.scoped_ips.contains(&protocol) {
            return None;
        }
        self.by_ip_where(ip, |e| e.protocols.contains(&protocol))
    }

    fn by_ip_where(&self, ip: IpAddr, wanted: impl Fn(&AppDef) -> bool) -> Option<App<'_>> {
        let pick = |entries: Option<&Vec<u32>>| {
            entries?
                .iter()
                .rev()
                .filter_map(|&i| self.apps.get(i as usize))
                .find(|a| wanted(a))
                .map(AppDef::app)
        };
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4.iter().find_map(|(len, table)| {
                    let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
                    pick(table.get(&(a & mask)))
                })
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6.iter().find_map(|(len, table)| {
                    let mask = u128::MAX.checked_shl(128 - u32::from(*len)).unwrap_or(0);
                    pick(table.get(&(a & mask)))
                })
            }
        }
    }

    /// An application by its name.
    pub(crate) fn by_name(&self, name: &str) -> Option<App<'_>> {
        self.apps.iter().find(|a| a.name == name).map(AppDef::app)
    }

    /// The last entry that applies to `protocol` (users' entries come last).
    fn pick(&self, entries: Option<&Vec<u32>>, protocol: Protocol) -> Option<App<'_>> {
        entries?
            .iter()
            .rev()
            .filter_map(|&i| self.apps.get(i as usize))
            .find(|a| a.applies(protocol))
            .map(AppDef::app)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_list_is_valid() {
        let mut apps = Applications::default();
        apps.add("builtin", BUILTIN).unwrap();
        assert!(!apps.is_empty());
    }

    #[test]
    fn builtin_names_and_categories_follow_ndpi() {
        let apps = Applications::builtin();
        let app = |h| {
            apps.by_host(h, Protocol::Quic)
                .map(|a| format!("{}/{}", a.name, a.category))
        };
        assert_eq!(app("chat.google.com").as_deref(), Some("GoogleChat/Chat"));
        assert_eq!(app("www.gstatic.com").as_deref(), Some("Google/Web"));
        assert_eq!(app("yt3.ggpht.com").as_deref(), Some("YouTube/Media"));
        assert_eq!(
            app("googleads.g.doubleclick.net").as_deref(),
            Some("Google/Advertisement")
        );
        assert_eq!(app("e7.whatsapp.net").as_deref(), Some("WhatsApp/Chat"));
        assert_eq!(
            app("bolt-prod-s3-eu-west-1.s3.eu-west-1.amazonaws.com").as_deref(),
            Some("AmazonAWS/Cloud")
        );
        assert_eq!(app("localhost"), None);
        assert_eq!(app("example.org"), None);
        // Call applications found in STUN payloads have a category by name.
        assert_eq!(
            apps.by_name("WhatsAppCall").map(|a| a.category),
            Some("VoIP")
        );
    }

    const SAMPLE: &str = r#"
[[app]]
name = "Example"
category = "Web"
hosts = ["example.com"]
ips = ["192.0.2.0/24", "2001:db8::/32"]

[[app]]
name = "ExampleCall"
category = "VoIP"
ips = ["192.0.2.128/25"]
protocols = ["STUN"]
"#;

    fn sample() -> Applications {
        let mut apps = Applications::default();
        apps.add("sample", SAMPLE).unwrap();
        apps
    }

    #[test]
    fn hosts_match_at_label_boundaries() {
        let apps = sample();
        let name = |h| apps.by_host(h, Protocol::Tls).map(|a| a.name);
        assert_eq!(name("example.com"), Some("Example"));
        assert_eq!(name("www.cdn.example.com."), Some("Example"));
        assert_eq!(name("notexample.com"), None);
        assert_eq!(name("com"), None);
    }

    #[test]
    fn addresses_match_the_longest_prefix_for_the_protocol() {
        let apps = sample();
        let name = |ip: &str, p| apps.by_ip(ip.parse().unwrap(), p).map(|a| a.name);
        assert_eq!(name("192.0.2.200", Protocol::Stun), Some("ExampleCall"));
        assert_eq!(name("192.0.2.200", Protocol::Tls), Some("Example"));
        assert_eq!(name("192.0.2.1", Protocol::Stun), Some("Example"));
        assert_eq!(name("192.0.3.1", Protocol::Tls), None);
        assert_eq!(name("2001:db8:1::5", Protocol::Tls), Some("Example"));
        let scoped = |ip: &str, p| apps.by_ip_for(ip.parse().unwrap(), p).map(|a| a.name);
        assert_eq!(scoped("192.0.2.200", Protocol::Stun), Some("ExampleCall"));
        assert_eq!(scoped("192.0.2.200", Protocol::Tls), None);
        assert_eq!(scoped("192.0.2.1", Protocol::Stun), None);
    }

    #[test]
    fn a_user_file_extends_and_overrides_the_list() {
        let mut apps = sample();
        apps.add("user", "[[app]]\nname = \"Mine\"\ncategory = \"Cloud\"\nhosts = [\"cdn.example.com\", \"example.com\"]\n")
            .unwrap();
        assert_eq!(
            apps.by_host("a.example.com", Protocol::Tls).map(|a| a.name),
            Some("Mine")
        );
    }

    #[test]
    fn invalid_entries_are_all_reported() {
        let mut apps = Applications::default();
        let err = apps
            .add("bad.toml", "[[app]]\nname = \"X\"\nips = [\"300.1.1.1/8\", \"10.0.0.0/8\"]\nprotocols = [\"NOPE\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("bad.toml") && err.contains("300.1.1.1/8") && err.contains("NOPE"),
            "{err}"
        );
        assert!(apps.add("bad.toml", "[[app]]\nnme = 1\n").is_err());
    }
}
