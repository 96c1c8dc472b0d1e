#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed test"
)]

use std::io::{BufRead as _, BufReader};
use std::net::IpAddr;

use sonde_common::community_id::{CommunityId, Encoding};

use super::*;
use crate::classify::testing::testdata;

const LIMIT: usize = 1 << 20;

fn lines_of(rel: &str) -> Vec<String> {
    let text = std::fs::read_to_string(testdata(rel)).unwrap();
    text.lines().map(str::to_owned).collect()
}

pub(crate) fn slips_full_lines() -> Vec<String> {
    let file =
        std::fs::File::open(testdata("suricata/slips/test6-malicious.suricata.json.gz")).unwrap();
    BufReader::new(flate2::read::GzDecoder::new(file))
        .lines()
        .map(Result::unwrap)
        .collect()
}

/// `2018-07-05T19:07:20.910Z` of Elastic's documents -> Unix ms.
fn iso_ms(text: &str) -> u64 {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap();
    u64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap()
}

#[test]
fn every_line_of_elastics_samples_matches_their_expected_documents() {
    let mut alerts = 0;
    let mut checked = 0;
    for name in ["test-eve-small.log", "test-eve-6-0.log"] {
        let lines = lines_of(&format!("suricata/elastic-integrations/{name}"));
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(testdata(&format!(
                "suricata/elastic-integrations/{name}-expected.json"
            )))
            .unwrap(),
        )
        .unwrap();
        let docs = expected["expected"].as_array().unwrap();
        assert_eq!(docs.len(), lines.len(), "{name}");
        for (line, doc) in lines.iter().zip(docs) {
            let ev = parse_line(line.as_bytes(), LIMIT).unwrap();
            assert_eq!(
                ev.timestamp_us / 1000,
                iso_ms(doc["@timestamp"].as_str().unwrap()),
                "{line}"
            );
            if let Some(ip) = doc["source"]["ip"].as_str() {
                assert_eq!(ev.src_ip, Some(ip.parse::<IpAddr>().unwrap()));
                assert_eq!(
                    ev.dest_ip,
                    doc["destination"]["ip"]
                        .as_str()
                        .map(|s| s.parse().unwrap())
                );
                assert_eq!(ev.src_port.map(u64::from), doc["source"]["port"].as_u64());
                assert_eq!(
                    ev.dest_port.map(u64::from),
                    doc["destination"]["port"].as_u64()
                );
                let transport = doc["network"]["transport"].as_str().unwrap();
                assert_eq!(ev.proto, Some(if transport == "tcp" { 6 } else { 17 }));
                // Elastic computed these with seed 0 from the same 5-tuple.
                let cid = ev.community_id_with(&CommunityId::new(0, Encoding::Base64));
                assert_eq!(cid.as_deref(), doc["network"]["community_id"].as_str());
                checked += 1;
            }
            if let Some(rule) = doc.get("rule") {
                let a = ev.alert.as_ref().unwrap();
                alerts += 1;
                assert_eq!(a.signature_id.to_string(), rule["id"].as_str().unwrap());
                assert_eq!(a.signature, rule["name"].as_str().unwrap());
                assert_eq!(a.category.as_deref(), rule["category"].as_str());
                assert_eq!(a.severity.map(u64::from), doc["event"]["severity"].as_u64());
            } else {
                assert!(ev.alert.is_none());
            }
        }
    }
    assert_eq!(alerts, 2);
    assert_eq!(checked, 12);
}

#[test]
fn per_type_objects_carry_their_fields() {
    let lines = lines_of("suricata/elastic-integrations/test-eve-small.log");
    let alert = parse_line(lines[1].as_bytes(), LIMIT).unwrap();
    assert_eq!(alert.event_type, "alert");
    assert_eq!(alert.flow_id, Some(904_992_230_150_281));
    assert_eq!(alert.in_iface.as_deref(), Some("en0"));
    assert_eq!(alert.app_proto.as_deref(), Some("tls"));
    let a = alert.alert.unwrap();
    assert_eq!(
        (a.gid, a.rev, a.action.as_deref()),
        (Some(1), Some(3), Some("allowed"))
    );
    assert_eq!(alert.tls.unwrap().sni.as_deref(), Some("l2.io"));
    let f = alert.flow.unwrap();
    assert_eq!((f.pkts_toserver, f.bytes_toclient), (4, 343));

    let http = parse_line(lines[2].as_bytes(), LIMIT)
        .unwrap()
        .http
        .unwrap();
    assert_eq!(http.hostname.as_deref(), Some("192.168.86.28"));
    assert_eq!(http.url.as_deref(), Some("/dd.xml"));
    assert_eq!(
        (http.method.as_deref(), http.status),
        (Some("GET"), Some(200))
    );
    assert!(http.user_agent.unwrap().starts_with("Mozilla/5.0"));

    let dns = parse_line(lines[4].as_bytes(), LIMIT).unwrap().dns.unwrap();
    assert_eq!(dns.kind.as_deref(), Some("answer"));
    assert_eq!(dns.rrname.as_deref(), Some("clients.l.google.com"));
    assert_eq!(dns.rcode.as_deref(), Some("NOERROR"));

    let ja3 = parse_line(lines[11].as_bytes(), LIMIT)
        .unwrap()
        .tls
        .unwrap();
    assert_eq!(ja3.sni.as_deref(), Some("www.example.com"));
    assert_eq!(ja3.ja3.as_deref(), Some("44d502d471cfdb99c59bdfb0f220e5a8"));

    let flow = parse_line(lines[7].as_bytes(), LIMIT).unwrap();
    let f = flow.flow.unwrap();
    assert_eq!(f.state.as_deref(), Some("new"));
    assert_eq!(f.reason.as_deref(), Some("timeout"));
    assert_eq!(f.start_us, f.end_us);
    assert_eq!(
        f.start_us,
        Some(parse_time("2018-07-05T15:51:23.453468-0400").unwrap())
    );

    let stats = parse_line(lines[5].as_bytes(), LIMIT).unwrap();
    assert_eq!(stats.event_type, "stats");
    assert_eq!((stats.src_ip, stats.proto), (None, None));
}

#[test]
fn suricatas_timestamps_become_unix_microseconds() {
    // 2018-07-05T19:07:20.910626Z
    assert_eq!(
        parse_time("2018-07-05T15:07:20.910626-0400"),
        Ok(1_530_817_640_910_626)
    );
    assert_eq!(
        parse_time("2018-07-05T21:07:20.910626+0200"),
        Ok(1_530_817_640_910_626)
    );
    assert_eq!(
        parse_time("2018-07-05T19:07:20.910626+00:00"),
        Ok(1_530_817_640_910_626)
    );
    for bad in [
        "",
        "yesterday",
        "2018-07-05T15:07:20-0400",
        "2018-13-05T15:07:20.1-0400",
        "1969-12-31T23:59:59.000000+0000",
    ] {
        assert!(
            matches!(parse_time(bad), Err(EveError::BadTimestamp(_))),
            "{bad}"
        );
    }
}

#[test]
fn every_line_of_the_slips_eve_file_parses() {
    let mut alerts = 0;
    for line in lines_of("suricata/slips/test6-malicious.suricata.sample.json") {
        let ev = parse_line(line.as_bytes(), LIMIT).unwrap();
        assert_eq!(ev.host.as_deref(), Some("stratosphere.org"));
        alerts += usize::from(ev.alert.is_some());
    }
    assert!(alerts >= 1);
    let mut types = std::collections::BTreeMap::<String, u64>::new();
    let mut metadata = 0;
    for line in slips_full_lines() {
        let ev = parse_line(line.as_bytes(), LIMIT).unwrap();
        *types.entry(ev.event_type.clone()).or_default() += 1;
        if let Some(a) = &ev.alert {
            assert!(a.signature_id > 0 && !a.signature.is_empty());
            metadata += usize::from(!a.metadata.is_empty());
        }
        assert!(ev.timestamp_us > 1_622_980_000_000_000, "{line}");
    }
    // The README's census of the file.
    let expect = [
        ("alert", 745),
        ("anomaly", 3),
        ("dns", 680),
        ("fileinfo", 3),
        ("flow", 3512),
        ("http", 56),
        ("tls", 1),
    ];
    assert_eq!(
        types,
        expect.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    );
    assert_eq!(metadata, 745);
}

#[test]
fn every_prefix_of_a_real_line_is_an_error_and_never_a_panic() {
    let lines = lines_of("suricata/elastic-integrations/test-eve-6-0.log");
    let line = lines[0].as_bytes();
    for cut in 0..line.len() {
        let r = parse_line(&line[..cut], LIMIT);
        assert!(r.is_err(), "prefix of {cut} bytes parsed");
    }
    assert!(matches!(
        parse_line(&line[..100], LIMIT),
        Err(EveError::Truncated { .. })
    ));
    assert!(parse_line(line, LIMIT).is_ok());
}

#[test]
fn garbage_and_wrong_types_are_errors_with_reasons() {
    let ok = r#"{"timestamp":"2021-06-06T15:59:46.457984+0200","event_type":"alert","src_ip":"1.2.3.4","dest_ip":"10.0.0.9","src_port":1,"dest_port":2,"proto":"TCP","alert":{"signature_id":1,"signature":"x"}}"#;
    assert!(parse_line(ok.as_bytes(), LIMIT).is_ok());
    let cases: &[(&[u8], &str)] = &[
        (b"", "empty"),
        (b"  \r\n", "empty"),
        (b"hello", "not_json"),
        (b"{\"a\":1}}", "not_json"),
        (b"[1,2]", "wrong_type"),
        (b"42", "wrong_type"),
        (b"{\"timestamp\":\"x\xff\"}", "not_utf8"),
        (b"{\"event_type\":\"alert\"}", "missing_field"),
        (b"{\"timestamp\":\"2021-06-06T15:59:46.457984+0200\"}", "missing_field"),
        (b"{\"timestamp\":12,\"event_type\":\"flow\"}", "wrong_type"),
        (b"{\"timestamp\":\"now\",\"event_type\":\"flow\"}", "bad_timestamp"),
        (b"{\"timestamp\":\"2021-06-06T15:59:46.1+0200\",\"event_type\":\"flow\",\"src_port\":70000}", "wrong_type"),
        (b"{\"timestamp\":\"2021-06-06T15:59:46.1+0200\",\"event_type\":\"flow\",\"src_port\":\"80\"}", "wrong_type"),
        (b"{\"timestamp\":\"2021-06-06T15:59:46.1+0200\",\"event_type\":\"flow\",\"src_ip\":\"1.2.3\"}", "bad_address"),
        (b"{\"timestamp\":\"2021-06-06T15:59:46.1+0200\",\"event_type\":\"flow\",\"proto\":\"QUUX\"}", "bad_proto"),
        (b"{\"timestamp\":\"2021-06-06T15:59:46.1+0200\",\"event_type\":\"flow\",\"proto\":300}", "bad_proto"),
        (b"{\"timestamp\":\"2021-06-06T15:59:46.1+0200\",\"event_type\":\"alert\",\"alert\":{}}", "missing_field"),
        (b"{\"timestamp\":\"2021-06-06T15:59:46.1+0200\",\"event_type\":\"alert\",\"alert\":{\"signature_id\":-1}}", "wrong_type"),
        (b"{\"timestamp\":\"2021-06-06T15:59:46.1+0200\",\"timestamp\":\"2021-06-06T15:59:46.1+0200\",\"event_type\":\"flow\"}", "wrong_type"),
    ];
    for (line, reason) in cases {
        let e = parse_line(line, LIMIT).unwrap_err();
        assert_eq!(
            e.reason(),
            *reason,
            "{:?}: {e}",
            String::from_utf8_lossy(line)
        );
    }
    // Numbers of protocols without names, as Suricata writes them.
    let gre = br#"{"timestamp":"2021-06-06T15:59:46.1+0200","event_type":"flow","proto":"047"}"#;
    assert_eq!(parse_line(gre, LIMIT).unwrap().proto, Some(47));
    // Unknown fields and odd metadata values are ignored, not errors.
    let odd = br#"{"timestamp":"2021-06-06T15:59:46.1+0200","event_type":"alert","x":{"y":[1,{}]},"alert":{"signature_id":5,"metadata":{"a":[1,"b"],"c":{}}}}"#;
    let a = parse_line(odd, LIMIT).unwrap().alert.unwrap();
    assert_eq!(a.metadata["a"], vec!["b".to_owned()]);
    assert!(a.metadata["c"].is_empty());
}

#[test]
fn enormous_and_deeply_nested_lines_are_refused_without_panicking() {
    let big = vec![b'{'; 2 * LIMIT];
    assert_eq!(
        parse_line(&big, LIMIT),
        Err(EveError::TooLong {
            len: 2 * LIMIT,
            limit: LIMIT
        })
    );
    // Skipped fields are skipped without recursion; a kept value (metadata)
    // hits serde_json's recursion limit: no stack overflow either way.
    let nest = |prefix: &[u8], suffix: &[u8]| {
        let mut deep = prefix.to_vec();
        deep.extend(std::iter::repeat_n(b'[', 100_000));
        deep.extend(std::iter::repeat_n(b']', 100_000));
        deep.extend_from_slice(suffix);
        parse_line(&deep, LIMIT)
    };
    let head = br#"{"timestamp":"2021-06-06T15:59:46.1+0200","event_type":"alert","#;
    assert!(nest(&[head.as_slice(), b"\"x\":"].concat(), b"}").is_ok());
    let metadata = [
        head.as_slice(),
        br#""alert":{"signature_id":1,"metadata":{"m":"#,
    ]
    .concat();
    assert_eq!(nest(&metadata, b"}}}").unwrap_err().reason(), "not_json");
    let long_string = format!(
        "{{\"timestamp\":\"{}\",\"event_type\":\"flow\"}}",
        "9".repeat(100_000)
    );
    let e = parse_line(long_string.as_bytes(), LIMIT).unwrap_err();
    assert!(e.to_string().len() < 200, "{e}");
}

#[test]
fn arbitrary_bytes_never_panic() {
    use proptest::prelude::*;
    let real = lines_of("suricata/elastic-integrations/test-eve-6-0.log").remove(0);
    proptest!(ProptestConfig::with_cases(2000), |(bytes in proptest::collection::vec(any::<u8>(), 0..600), at in 0usize..900, flip in any::<u8>())| {
        let _ = parse_line(&bytes, LIMIT);
        let mut line = real.clone().into_bytes();
        if let Some(b) = line.get_mut(at) {
            *b ^= flip;
        }
        let _ = parse_line(&line, LIMIT);
    });
}

#[test]
fn suricata_8_shapes_parse() {
    // Shapes from Suricata 8.0.6's schema (etc/schema.json): dns `queries`,
    // `query` in alert records, tls `ja4`, `community_id`, ICMP type/code.
    let dns = br#"{"timestamp":"2025-05-23T18:12:35.925083+0000","flow_id":1,"event_type":"dns","src_ip":"10.0.0.2","src_port":5353,"dest_ip":"10.0.0.1","dest_port":53,"proto":"UDP","pkt_src":"wire/pcap","community_id":"1:abc=","dns":{"version":3,"type":"request","tx_id":0,"id":7,"flags":"100","rd":true,"opcode":0,"queries":[{"rrname":"example.org","rrtype":"AAAA"}]}}"#;
    let e = parse_line(dns, LIMIT).unwrap();
    let d = e.dns.unwrap();
    assert_eq!(
        (d.rrname.as_deref(), d.rrtype.as_deref()),
        (Some("example.org"), Some("AAAA"))
    );
    assert_eq!(e.community_id.as_deref(), Some("1:abc="));
    let alert = br#"{"timestamp":"2025-05-23T18:12:35.925083+0000","event_type":"alert","src_ip":"10.0.0.2","dest_ip":"10.0.0.1","proto":"UDP","alert":{"signature_id":9},"dns":{"query":[{"rrname":"evil.example","rrtype":"A"}]},"tls":{"ja4":"t13d1516h2_8daaf6152771_02713d6af862"}}"#;
    let e = parse_line(alert, LIMIT).unwrap();
    assert_eq!(e.dns.unwrap().rrname.as_deref(), Some("evil.example"));
    assert_eq!(
        e.tls.unwrap().ja4.as_deref(),
        Some("t13d1516h2_8daaf6152771_02713d6af862")
    );
    let ping = br#"{"timestamp":"2025-05-23T18:12:35.925083+0000","event_type":"flow","src_ip":"10.0.0.2","dest_ip":"10.0.0.1","proto":"ICMP","icmp_type":8,"icmp_code":0}"#;
    let e = parse_line(ping, LIMIT).unwrap();
    assert_eq!(
        (e.proto, e.icmp_type, e.icmp_code),
        (Some(1), Some(8), Some(0))
    );
    // Echo request and reply hash alike, as Community ID wants.
    let cid = CommunityId::new(0, Encoding::Base64);
    let mut reply = e.clone();
    (reply.src_ip, reply.dest_ip, reply.icmp_type) = (e.dest_ip, e.src_ip, Some(0));
    assert_eq!(e.community_id_with(&cid), reply.community_id_with(&cid));
}
