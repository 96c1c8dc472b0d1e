//! Layer-7 part of a flow document: the nDPI classification (`network.protocol`,
//! `network.application`, `sonde.l7.*`) and protocol metadata in its ECS homes
//! (`tls.*`, `dns.*`, `http.*`, `url.*`, `user_agent.original`), with what ECS
//! has no field for under `sonde.*`.

use sonde_proto::v1::{DnsInfo, HttpInfo, L7, TlsInfo};

use super::doc::{Doc, Leaf};

/// Most `l7.extra` entries indexed per document: each one is a field in the
/// index mapping, and Elasticsearch refuses documents past its field limit.
const MAX_EXTRA: usize = 64;

pub(super) fn put_l7<'a>(doc: &mut Doc<'a>, l7: &'a L7) {
    let protocol = l7.protocol.trim();
    // nDPI says "Unknown" when it could not classify; that is no protocol.
    let protocol = if protocol.eq_ignore_ascii_case("unknown") {
        ""
    } else {
        protocol
    };
    let application = l7.application.trim();
    doc.put_str("network.protocol", protocol.to_lowercase());
    doc.put_str("network.application", application.to_lowercase());
    // nDPI's own notation, e.g. "TLS.Amazon", for those who search by it.
    let name = match (protocol.is_empty(), application.is_empty()) {
        (false, false) => format!("{protocol}.{application}"),
        (false, true) => protocol.to_owned(),
        _ => application.to_owned(),
    };
    doc.put_str("sonde.l7.name", name);
    doc.put_str("sonde.l7.category", &l7.category);

    if let Some(tls) = &l7.tls {
        // First: a path written once keeps its first value.
        put_tls_extra(doc, l7);
        put_tls(doc, tls, protocol);
    }
    if let Some(dns) = &l7.dns {
        put_dns(doc, dns);
    }
    if let Some(http) = &l7.http {
        put_http(doc, http);
    }
    if let Some(ssh) = &l7.ssh {
        doc.put_str("sonde.ssh.client_software", &ssh.client_software);
        doc.put_str("sonde.ssh.server_software", &ssh.server_software);
    }
    put_extra(doc, l7);
}

fn put_tls<'a>(doc: &mut Doc<'a>, tls: &'a TlsInfo, protocol: &str) {
    doc.put_str("tls.client.server_name", &tls.sni);
    let version = tls.negotiated_version.trim();
    if !version.is_empty() {
        doc.put("tls.version", version);
        // ECS splits "TLSv1.3" into version "1.3" and protocol "tls"; SSL 2.0
        // and 3.0 are the versions that are not TLS.
        let family = if protocol.eq_ignore_ascii_case("dtls") {
            "dtls"
        } else if matches!(version, "2.0" | "3.0") {
            "ssl"
        } else {
            "tls"
        };
        doc.put("tls.version_protocol", family);
    }
    doc.put_str("sonde.tls.client_version", &tls.client_version);
    doc.put_str("tls.cipher", &tls.cipher);
    doc.put_str("tls.client.ja3", &tls.ja3);
    doc.put_str("tls.server.ja3s", &tls.ja3s);
    // ECS 8.17 has no JA4 field.
    doc.put_str("sonde.tls.ja4", &tls.ja4);
    let alpn: Vec<&str> = tls
        .alpn
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect();
    if let Some(first) = alpn.first() {
        // ECS: "per the values in the IANA registry, this string should be lower case".
        doc.put("tls.next_protocol", first.to_lowercase());
    }
    doc.put_list("sonde.tls.alpn", alpn);
    doc.put_str("tls.server.subject", &tls.server_subject);
    doc.put_str("tls.server.issuer", &tls.server_issuer);
    doc.put_opt(
        "tls.server.not_before",
        Leaf::time(tls.server_not_before_us),
    );
    doc.put_opt("tls.server.not_after", Leaf::time(tls.server_not_after_us));
    let sha1 = tls.server_sha1.trim();
    if sha1.len() == 40 && sha1.bytes().all(|b| b.is_ascii_hexdigit()) {
        // ECS wants hashes in uppercase, as its example shows.
        doc.put("tls.server.hash.sha1", sha1.to_ascii_uppercase());
    }
}

/// What the probe keeps in `extra` for TLS that has an ECS home: the ALPN
/// the server chose (ECS's `tls.next_protocol` is the negotiated one, so it
/// replaces the client's first offer) and the certificate's names.
fn put_tls_extra<'a>(doc: &mut Doc<'a>, l7: &'a L7) {
    if let Some(alpn) = l7.extra.get("tls.negotiated_alpn").map(|a| a.trim())
        && !alpn.is_empty()
    {
        doc.put("tls.next_protocol", alpn.to_lowercase());
    }
    if let Some(names) = l7.extra.get("tls.server_names") {
        let names: Vec<&str> = names
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .collect();
        doc.put_list("tls.server.x509.alternative_names", names);
    }
}

fn put_dns<'a>(doc: &mut Doc<'a>, dns: &'a DnsInfo) {
    let response = dns.response_code.trim();
    // proto3 cannot tell transaction id 0 from unset, so the record counts as
    // DNS (and the id as real) only when something else was parsed.
    if dns.query.trim().is_empty() && response.is_empty() && dns.answers.is_empty() {
        return;
    }
    doc.put_str("dns.question.name", &dns.query);
    doc.put_str("dns.question.type", &dns.query_type);
    doc.put_str("dns.response_code", response);
    doc.put("dns.id", Leaf::Digits(u64::from(dns.transaction_id)));
    doc.put(
        "dns.type",
        if response.is_empty() {
            "query"
        } else {
            "answer"
        },
    );
    let mut answers = Vec::new();
    let mut resolved = Vec::new();
    for answer in &dns.answers {
        let mut entry = Doc::default();
        entry.put_str("name", &answer.name);
        entry.put_str("type", &answer.r#type);
        entry.put_str("data", &answer.data);
        if entry.is_empty() {
            continue;
        }
        // A TTL of 0 is meaningful (do not cache), so it is kept.
        entry.put("ttl", answer.ttl);
        answers.push(entry.into_value());
        // ECS dns.resolved_ip: the addresses of A and AAAA answers.
        if matches!(answer.r#type.trim(), "A" | "AAAA") {
            if let Ok(addr) = answer.data.trim().parse::<std::net::IpAddr>() {
                let addr = addr.to_string();
                if !resolved.contains(&addr) {
                    resolved.push(addr);
                }
            }
        }
    }
    doc.put_list("dns.answers", answers);
    doc.put_list("dns.resolved_ip", resolved);
}

fn put_http<'a>(doc: &mut Doc<'a>, http: &'a HttpInfo) {
    doc.put_str("http.request.method", &http.method);
    if (100..=999).contains(&http.status) {
        doc.put("http.response.status_code", http.status);
    }
    // ECS wants "1.1", not "HTTP/1.1".
    let version = http.version.trim();
    let version = match version.get(..5) {
        Some(prefix) if prefix.eq_ignore_ascii_case("http/") => {
            version.get(5..).unwrap_or_default()
        }
        _ => version,
    };
    doc.put_str("http.version", version);
    // The media type without parameters ("text/html; charset=utf-8").
    let mime = http.content_type.split(';').next().unwrap_or_default();
    doc.put_str("http.response.mime_type", mime.trim().to_ascii_lowercase());
    let (host, port) = split_host_port(http.host.trim());
    doc.put_str("url.domain", host);
    doc.put_opt("url.port", port);
    let url = http.url.trim();
    doc.put_str("url.original", url);
    let (path, query) = path_and_query(url);
    doc.put_str("url.path", path);
    doc.put_str("url.query", query);
    doc.put_str("user_agent.original", &http.user_agent);
}

/// Splits a Host header into host and port: `example.com:8080`, `[2001:db8::1]:80`;
/// a bare IPv6 address has no port.
fn split_host_port(host: &str) -> (&str, Option<u16>) {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((addr, tail)) => (addr, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
            None => (host, None),
        };
    }
    match host.split_once(':') {
        Some((name, port)) if !port.contains(':') => match port.parse() {
            Ok(port) => (name, Some(port)),
            Err(_) => (host, None),
        },
        _ => (host, None),
    }
}

/// Path and query of a request target (RFC 9112 §3.2): origin form `/p?q`
/// or absolute form `http://h/p?q`; authority (`CONNECT`) and asterisk
/// forms have neither.
fn path_and_query(target: &str) -> (&str, &str) {
    let target = target.split('#').next().unwrap_or_default();
    let rest = match target.find("://") {
        Some(at) => {
            let after = target.get(at + 3..).unwrap_or_default();
            after
                .find('/')
                .and_then(|slash| after.get(slash..))
                .unwrap_or_default()
        }
        None if target.starts_with('/') => target,
        None => "",
    };
    rest.split_once('?').unwrap_or((rest, ""))
}

/// `l7.extra` under `sonde.l7.extra.<key>`, one level deep: the probe's
/// dotted keys (`http.server`) become `http_server`, so every entry is a leaf
/// the index template maps as a keyword (a dotted key would make an object,
/// which the open keyword mapping refuses: `sonde.l7.extra.http` would be
/// both). Keys are lowercased and stripped to `[a-z0-9_]`; keys left without
/// a letter or digit are dropped, and in sorted key order the first of two
/// keys that end up equal wins, so output is deterministic.
fn put_extra<'a>(doc: &mut Doc<'a>, l7: &'a L7) {
    let mut entries: Vec<(&String, &String)> = l7.extra.iter().collect();
    entries.sort();
    let mut written: Vec<String> = Vec::new();
    for (key, value) in entries {
        if written.len() == MAX_EXTRA {
            break;
        }
        let key: String = key
            .chars()
            .map(|c| match c.to_ascii_lowercase() {
                '.' => '_',
                c => c,
            })
            .filter(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
            .collect();
        let value = value.trim();
        if !key.bytes().any(|b| b.is_ascii_alphanumeric())
            || value.is_empty()
            || written.contains(&key)
        {
            continue;
        }
        doc.put(format!("sonde.l7.extra.{key}"), value);
        written.push(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_headers_split_into_host_and_port() {
        assert_eq!(split_host_port("example.com"), ("example.com", None));
        assert_eq!(
            split_host_port("example.com:8080"),
            ("example.com", Some(8080))
        );
        assert_eq!(
            split_host_port("[2001:db8::1]:80"),
            ("2001:db8::1", Some(80))
        );
        assert_eq!(split_host_port("2001:db8::1"), ("2001:db8::1", None));
        assert_eq!(
            split_host_port("example.com:99999"),
            ("example.com:99999", None)
        );
    }

    #[test]
    fn negotiated_alpn_and_certificate_names_go_to_their_ecs_fields() {
        let mut l7 = L7 {
            protocol: "TLS".into(),
            tls: Some(TlsInfo {
                alpn: vec!["h2".into(), "http/1.1".into()],
                ..TlsInfo::default()
            }),
            ..L7::default()
        };
        l7.extra
            .insert("tls.negotiated_alpn".into(), "http/1.1".into());
        l7.extra
            .insert("tls.server_names".into(), "a.example, *.b.example,".into());
        l7.extra
            .insert("http.server".into(), "Apache/2.4.3 (Fedora)".into());
        l7.extra
            .insert("http".into(), "clashes with nothing".into());
        let mut doc = Doc::default();
        put_l7(&mut doc, &l7);
        let json = doc.into_value();
        assert_eq!(json["tls"]["next_protocol"], "http/1.1");
        assert_eq!(
            json["tls"]["server"]["x509"]["alternative_names"],
            serde_json::json!(["a.example", "*.b.example"])
        );
        // Extra entries stay one level deep, whatever dots their keys have.
        let extra = &json["sonde"]["l7"]["extra"];
        assert_eq!(extra["http_server"], "Apache/2.4.3 (Fedora)");
        assert_eq!(extra["http"], "clashes with nothing");
        assert_eq!(extra["tls_server_names"], "a.example, *.b.example,");
        assert!(extra.as_object().unwrap().values().all(|v| v.is_string()));
    }

    #[test]
    fn request_targets_give_path_and_query() {
        assert_eq!(path_and_query("/a/b?x=1#f"), ("/a/b", "x=1"));
        assert_eq!(path_and_query("http://h:8080/p?q"), ("/p", "q"));
        assert_eq!(path_and_query("http://h"), ("", ""));
        assert_eq!(path_and_query("example.com:443"), ("", ""));
        assert_eq!(path_and_query("*"), ("", ""));
    }
}
