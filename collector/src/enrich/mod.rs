//! Enrichment of flow documents: GeoIP location, autonomous system and
//! network direction, added by the collector after the ECS mapping.
//!
//! Input: the fields of an ECS document under construction ([`Doc`]) and
//! the addresses of its sides ([`SideIps`]: `source`, `destination`, and
//! their mirrors `client`/`server` when present), MaxMind DB
//! files named in `[enrich]` and the operator's `local_networks`.
//! Output, in place, following ECS 8.17 and Elastic's GeoIP processor (see
//! its expected documents in testdata/suricata/elastic-integrations):
//!
//! | field | from |
//! |---|---|
//! | `<side>.geo.{city_name, continent_code, continent_name, country_iso_code, country_name}` | City/Country DB, English names |
//! | `<side>.geo.{region_iso_code, region_name}` | first subdivision; `region_iso_code` = country + "-" + subdivision code (`SE-E`) |
//! | `<side>.geo.{location: {lat, lon}, postal_code, timezone}` | City DB |
//! | `<side>.as.{number, organization.name}` | ASN or ISP DB |
//! | `network.direction` | `inbound`, `outbound`, `internal`, `external` from `local_networks` (the source is the originator) |
//!
//! `<side>` is `source`, `destination`, and `client`/`server` when present.
//!
//! Invariants: [`Enricher::enrich`] never panics and never fails: a missing
//! database skips its fields, an address the database does not know (or a
//! private, loopback, link-local... address, which is not looked up) adds
//! nothing, a corrupt record is counted ([`Enricher::lookup_errors`]) and adds
//! nothing. Without `local_networks`, `network.direction` is not set. The
//! files are read once, by [`Enricher::open`]; lookups only borrow them.

mod mmdb;
mod network;
mod records;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use sonde_common::config::{Problems, require_path};
use sonde_common::ecs::{Doc, Leaf};

use mmdb::{Database, Kind};
use network::LocalNetworks;

/// `[enrich]` in collector.toml; everything optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct EnrichConfig {
    /// A GeoIP2/GeoLite2 City (or Country) `.mmdb`.
    pub geoip_city: Option<PathBuf>,
    /// A GeoLite2-ASN (or GeoIP2-ISP) `.mmdb`.
    pub geoip_asn: Option<PathBuf>,
    /// The operator's networks as CIDRs (`10.0.0.0/8`, `fd00::/8`), for
    /// `network.direction`.
    pub local_networks: Vec<String>,
}

impl EnrichConfig {
    /// The pure checks: paths are not empty, every CIDR parses.
    pub fn validate(&self, problems: &mut Problems) {
        for (kind, path) in [(Kind::Geo, &self.geoip_city), (Kind::Asn, &self.geoip_asn)] {
            if let Some(path) = path {
                require_path(problems, kind.key(), path);
            }
        }
        for (i, cidr) in self.local_networks.iter().enumerate() {
            if network::parse_cidr(cidr).is_none() {
                problems.push(
                    format!("enrich.local_networks[{i}]"),
                    format!("must be a CIDR such as 10.0.0.0/8 or fd00::/8 (got \"{cidr}\")"),
                );
            }
        }
    }
}

/// Why [`Enricher::open`] failed; file errors name the key and the file.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    #[error("{key}: {}: cannot read the file: {source}", path.display())]
    Read {
        key: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{key}: {}: not a valid MaxMind database: {reason}", path.display())]
    Invalid {
        key: &'static str,
        path: PathBuf,
        reason: String,
    },
    #[error("{key}: {}: database type is \"{found}\", expected {expected}", path.display())]
    WrongType {
        key: &'static str,
        path: PathBuf,
        found: String,
        expected: &'static str,
    },
    #[error("enrich.local_networks[{index}]: not a CIDR (got \"{value}\")")]
    LocalNetwork { index: usize, value: String },
}

/// Adds geo, AS and direction fields to documents. Cheap to clone and share
/// between tasks: the databases live behind an `Arc`.
#[derive(Clone, Debug)]
pub struct Enricher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    geo: Option<Database>,
    asn: Option<Database>,
    local: LocalNetworks,
}

impl Enricher {
    /// Reads the configured databases into memory and checks their type.
    /// With nothing configured the enricher does nothing.
    pub fn open(config: &EnrichConfig) -> Result<Self, EnrichError> {
        let local = LocalNetworks::parse(&config.local_networks)
            .map_err(|(index, value)| EnrichError::LocalNetwork { index, value })?;
        let geo = config
            .geoip_city
            .as_deref()
            .map(|path| Database::open(path, Kind::Geo))
            .transpose()?;
        let asn = config
            .geoip_asn
            .as_deref()
            .map(|path| Database::open(path, Kind::Asn))
            .transpose()?;
        Ok(Self {
            inner: Arc::new(Inner { geo, asn, local }),
        })
    }

    /// Walks every configured database completely and reports the first
    /// corruption found. Slow on real databases (seconds): for `check`
    /// commands, not for startup.
    pub fn verify(&self) -> Result<(), EnrichError> {
        self.databases().try_for_each(Database::verify)
    }

    /// Lookups that failed on a corrupt record since [`Enricher::open`].
    pub fn lookup_errors(&self) -> u64 {
        self.databases().map(Database::lookup_errors).sum()
    }

    /// Adds geo, AS and direction fields to an ECS flow document in place.
    pub fn enrich(&self, doc: &mut Doc<'_>, ips: SideIps) {
        if let (Some(s), Some(d)) = (ips.source, ips.destination) {
            if let Some(direction) = self.inner.local.direction(s, d) {
                doc.put("network.direction", direction);
            }
        }
        if self.inner.geo.is_none() && self.inner.asn.is_none() {
            return;
        }
        let src = ips.source.map(|ip| self.lookup(ip)).unwrap_or_default();
        let dst = ips
            .destination
            .map(|ip| self.lookup(ip))
            .unwrap_or_default();
        for (ip, paths) in [(ips.client, CLIENT), (ips.server, SERVER)] {
            let Some(ip) = ip else { continue };
            let found = if Some(ip) == ips.source {
                src.clone()
            } else if Some(ip) == ips.destination {
                dst.clone()
            } else {
                self.lookup(ip)
            };
            found.apply(doc, paths);
        }
        src.apply(doc, SOURCE);
        dst.apply(doc, DESTINATION);
    }

    fn lookup(&self, ip: IpAddr) -> Found {
        if !network::is_globally_routed(ip) {
            return Found::default();
        }
        Found {
            geo: self.inner.geo.as_ref().and_then(|db| db.geo(ip)),
            asn: self.inner.asn.as_ref().and_then(|db| db.asn(ip)),
        }
    }

    fn databases(&self) -> impl Iterator<Item = &Database> {
        self.inner.geo.iter().chain(self.inner.asn.iter())
    }
}

/// What the databases know about one address.
#[derive(Clone, Debug, Default)]
struct Found {
    geo: Option<Value>,
    asn: Option<Value>,
}

impl Found {
    fn apply(self, doc: &mut Doc<'_>, (geo_path, as_path): (&'static str, &'static str)) {
        if let Some(geo) = self.geo {
            doc.put(geo_path, geo);
        }
        if let Some(asn) = self.asn {
            doc.put(as_path, asn);
        }
    }
}

const SOURCE: (&str, &str) = ("source.geo", "source.as");
const DESTINATION: (&str, &str) = ("destination.geo", "destination.as");
const CLIENT: (&str, &str) = ("client.geo", "client.as");
const SERVER: (&str, &str) = ("server.geo", "server.as");

/// The addresses of a document's sides, as its `<side>.ip` fields hold them;
/// IPv4-mapped IPv6 becomes IPv4.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SideIps {
    pub source: Option<IpAddr>,
    pub destination: Option<IpAddr>,
    pub client: Option<IpAddr>,
    pub server: Option<IpAddr>,
}

impl SideIps {
    /// Read back from the document's fields (alerts, where the flow context
    /// and the attacker/victim both may give the source).
    pub fn of(doc: &Doc<'_>) -> SideIps {
        let ip = |path: &str| match doc.get(path) {
            Some(Leaf::Ip(ip)) => Some(ip.to_canonical()),
            Some(Leaf::Str(text)) => text.parse::<IpAddr>().ok().map(|ip| ip.to_canonical()),
            _ => None,
        };
        SideIps {
            source: ip("source.ip"),
            destination: ip("destination.ip"),
            client: ip("client.ip"),
            server: ip("server.ip"),
        }
    }
}
