//! GeoIP/ASN and direction enrichment against MaxMind's official test
//! databases (testdata/geoip), compared with the fields Elastic's GeoIP
//! processor produced for the same addresses (testdata/suricata).
//!
//! A little over 400 lines, kept whole: every test shares the fixtures and
//! helpers at the top, and the test binary has one module per stage.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use sonde_collector::enrich::{EnrichConfig, EnrichError, Enricher, SideIps};
use sonde_common::config::{Problems, Validate};
use sonde_common::ecs::Doc;

/// The shared third-party test data, or `$SONDE_TESTDATA` when set.
fn testdata(rel: &str) -> PathBuf {
    let root = std::env::var_os("SONDE_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata"));
    let path = root.join(rel);
    assert!(
        path.exists(),
        "test data missing: {} (set SONDE_TESTDATA)",
        path.display()
    );
    path
}

fn db(name: &str) -> PathBuf {
    testdata(&format!("geoip/test-data/{name}"))
}

fn enricher(city: Option<&str>, asn: Option<&str>, local: &[&str]) -> Enricher {
    Enricher::open(&EnrichConfig {
        geoip_city: city.map(db),
        geoip_asn: asn.map(db),
        local_networks: local.iter().map(|s| (*s).to_owned()).collect(),
    })
    .unwrap()
}

fn geolite() -> Enricher {
    enricher(
        Some("GeoLite2-City-Test.mmdb"),
        Some("GeoLite2-ASN-Test.mmdb"),
        &[],
    )
}

/// A flow document the way sonde's ECS mapping shapes it.
fn flow(source: &str, destination: &str) -> Value {
    json!({
        "source": {"ip": source, "port": 40000},
        "destination": {"ip": destination, "port": 443},
        "client": {"ip": source, "port": 40000},
        "server": {"ip": destination, "port": 443},
        "network": {"transport": "tcp"},
    })
}

fn enriched(enricher: &Enricher, source: &str, destination: &str) -> Value {
    enrich_value(enricher, &flow(source, destination))
}

/// `value` enriched as the collector enriches a document with these fields.
fn enrich_value(enricher: &Enricher, value: &Value) -> Value {
    let mut doc = Doc::from_value(value);
    let ips = SideIps::of(&doc);
    enricher.enrich(&mut doc, ips);
    doc.into_value()
}

/// `side` of the first document in Elastic's expected output whose `side.ip` is `ip`.
fn elastic(file: &str, side: &str, ip: &str) -> Value {
    let path = testdata(&format!("suricata/elastic-integrations/{file}"));
    let expected: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    expected["expected"]
        .as_array()
        .unwrap()
        .iter()
        .find(|doc| doc[side]["ip"] == ip)
        .map(|doc| doc[side].clone())
        .unwrap_or_else(|| panic!("no {side}.ip {ip} in {file}"))
}

/// Every leaf Elastic has under `path` is the same in `ours`.
fn assert_has_elastic_fields(ours: &Value, theirs: &Value, path: &str) {
    match theirs {
        Value::Object(map) => {
            for (key, value) in map {
                assert_has_elastic_fields(&ours[key], value, &format!("{path}.{key}"));
            }
        }
        leaf => assert_eq!(ours, leaf, "{path}"),
    }
}

#[test]
fn swedish_address_gets_the_geo_and_as_fields_elastic_produces() {
    let theirs = elastic(
        "test-eve-small.log-expected.json",
        "destination",
        "89.160.20.112",
    );
    for city in ["GeoLite2-City-Test.mmdb", "GeoIP2-City-Test.mmdb"] {
        let doc = enriched(
            &enricher(Some(city), Some("GeoLite2-ASN-Test.mmdb"), &[]),
            "192.168.86.85",
            "89.160.20.112",
        );
        let dst = &doc["destination"];
        assert_has_elastic_fields(&dst["geo"], &theirs["geo"], "geo");
        assert_has_elastic_fields(&dst["as"], &theirs["as"], "as");
        let geo = &dst["geo"];
        assert_eq!(geo["country_iso_code"], "SE", "{city}");
        assert_eq!(geo["city_name"], "Linköping");
        assert_eq!(geo["region_iso_code"], "SE-E");
        assert_eq!(geo["region_name"], "Östergötland County");
        assert_eq!(geo["continent_code"], "EU");
        assert_eq!(geo["location"], json!({"lat": 58.4167, "lon": 15.6167}));
        assert_eq!(geo["timezone"], "Europe/Stockholm");
        assert_eq!(
            dst["as"],
            json!({"number": 29518, "organization": {"name": "Bredband2 AB"}})
        );
        assert_eq!(
            doc["server"]["geo"], dst["geo"],
            "server mirrors destination"
        );
        assert_eq!(doc["server"]["as"], dst["as"]);
        assert_eq!(
            doc["source"].get("geo"),
            None,
            "private source is not looked up"
        );
        assert_eq!(doc["client"].get("as"), None);
    }
}

#[test]
fn chinese_address_gets_region_cn_22_like_elastic() {
    let theirs = elastic("test-eve-6-0.log-expected.json", "source", "175.16.199.1");
    let doc = enriched(&geolite(), "175.16.199.1", "10.31.64.240");
    let src = &doc["source"];
    assert_has_elastic_fields(&src["geo"], &theirs["geo"], "geo");
    assert_eq!(src["geo"]["country_iso_code"], "CN");
    assert_eq!(src["geo"]["city_name"], "Changchun");
    assert_eq!(src["geo"]["region_iso_code"], "CN-22");
    assert_eq!(src["geo"]["region_name"], "Jilin Sheng");
    assert_eq!(
        src.get("as"),
        None,
        "the ASN test database does not know it"
    );
    assert_eq!(doc["client"]["geo"], src["geo"]);
}

#[test]
fn ipv6_address_resolves_to_japan_without_a_city() {
    let doc = enriched(&geolite(), "fd00::1", "2001:218::1");
    let geo = &doc["destination"]["geo"];
    assert_eq!(geo["country_iso_code"], "JP");
    assert_eq!(geo["country_name"], "Japan");
    assert_eq!(geo["location"], json!({"lat": 35.68536, "lon": 139.75309}));
    assert_eq!(geo.get("city_name"), None);
    assert_eq!(geo.get("region_iso_code"), None);
}

#[test]
fn unknown_and_private_addresses_add_nothing() {
    for (source, destination) in [
        ("8.8.8.8", "10.0.0.1"),
        ("10.0.0.1", "8.8.8.8"),
        ("::1", "::ffff:10.0.0.1"),
    ] {
        let before = flow(source, destination);
        let doc = enrich_value(&geolite(), &before);
        assert_eq!(doc, before, "{source} -> {destination}");
    }
}

#[test]
fn isp_database_serves_as_the_asn_database() {
    let isp = enricher(None, Some("GeoIP2-ISP-Test.mmdb"), &[]);
    let doc = enriched(&isp, "89.160.20.112", "216.160.83.56");
    assert_eq!(
        doc["source"]["as"],
        json!({"number": 29518, "organization": {"name": "Bredband2 AB"}})
    );
    assert_eq!(
        doc["destination"]["as"],
        json!({"number": 209}),
        "no organization name"
    );
    assert_eq!(
        doc["source"].get("geo"),
        None,
        "no City database configured"
    );
}

#[test]
fn country_database_gives_country_fields_only() {
    let country = enricher(Some("GeoLite2-Country-Test.mmdb"), None, &[]);
    let doc = enriched(&country, "10.0.0.1", "89.160.20.112");
    let geo = &doc["destination"]["geo"];
    assert_eq!(geo["country_iso_code"], "SE");
    assert_eq!(geo["continent_name"], "Europe");
    assert_eq!(geo.get("city_name"), None);
    assert_eq!(geo.get("location"), None);
}

#[test]
fn client_and_server_that_differ_from_source_and_destination_are_looked_up_themselves() {
    let mut doc = flow("10.0.0.1", "10.0.0.2");
    doc["client"]["ip"] = json!("89.160.20.112");
    let doc = enrich_value(&geolite(), &doc);
    assert_eq!(doc["client"]["geo"]["country_iso_code"], "SE");
    assert_eq!(doc["source"].get("geo"), None);
}

#[test]
fn direction_follows_the_local_networks() {
    let local = enricher(None, None, &["10.0.0.0/8", "192.168.0.0/16", "fd00::/8"]);
    for (source, destination, direction) in [
        ("89.160.20.112", "10.0.0.1", "inbound"),
        ("192.168.1.5", "89.160.20.112", "outbound"),
        ("10.0.0.1", "192.168.1.1", "internal"),
        ("8.8.8.8", "89.160.20.112", "external"),
        ("2001:218::1", "fd00::1", "inbound"),
        ("fd12:3456::1", "2001:218::1", "outbound"),
        ("fd00::1", "fdff::2", "internal"),
        ("fe80::1", "2001:218::1", "external"),
        ("::ffff:10.1.1.1", "8.8.8.8", "outbound"),
    ] {
        let doc = enriched(&local, source, destination);
        assert_eq!(
            doc["network"]["direction"], direction,
            "{source} -> {destination}"
        );
        assert_eq!(
            doc["network"]["transport"], "tcp",
            "other network fields kept"
        );
    }
}

#[test]
fn empty_local_networks_set_no_direction() {
    let doc = enriched(&geolite(), "10.0.0.1", "89.160.20.112");
    assert_eq!(doc["network"].get("direction"), None);
    assert_eq!(doc["destination"]["geo"]["country_iso_code"], "SE");
}

#[test]
fn documents_without_addresses_or_of_another_shape_are_left_alone() {
    let local = enricher(Some("GeoLite2-City-Test.mmdb"), None, &["10.0.0.0/8"]);
    for before in [
        json!(null),
        json!([1, 2]),
        json!({"source": {"ip": 17}, "destination": {"ip": ["89.160.20.112"]}}),
        json!({"source": "89.160.20.112", "destination": {"ip": "not an ip"}}),
        json!({"source": {"ip": "10.0.0.1"}, "destination": {"ip": "10.0.0.2"}, "network": 5}),
    ] {
        // What the document's own fields give, without enrichment.
        let fields = Doc::from_value(&before).into_value();
        assert_eq!(enrich_value(&local, &before), fields);
    }
}

/// Runs `f` on another thread and fails the test if it takes longer than 30 s.
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("{what}: no result within 30 s (hang or panic): {e}"))
}

#[test]
fn corrupt_databases_fail_to_open_with_the_file_name_or_find_nothing() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(testdata("geoip/bad-data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mmdb"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 7, "{files:?}");
    files.push(db("GeoIP2-City-Test-Broken-Double-Format.mmdb"));
    files.push(db("GeoIP2-City-Test-Invalid-Node-Count.mmdb"));
    for file in files {
        for as_asn in [false, true] {
            let config = EnrichConfig {
                geoip_city: (!as_asn).then(|| file.clone()),
                geoip_asn: as_asn.then(|| file.clone()),
                local_networks: Vec::new(),
            };
            let what = format!("{} (as ASN: {as_asn})", file.display());
            let outcome = bounded(&what, move || {
                Enricher::open(&config).map(|e| {
                    [
                        "89.160.20.112",
                        "81.2.69.142",
                        "175.16.199.1",
                        "2001:218::1",
                        "1.1.1.1",
                    ]
                    .map(|ip| enriched(&e, ip, ip))
                })
            });
            match outcome {
                Err(e) => assert_error_names(&e, &file),
                Ok(docs) => {
                    for doc in docs {
                        assert_eq!(doc["source"].get("geo"), None, "{what}: {doc}");
                        assert_eq!(doc["source"].get("as"), None, "{what}: {doc}");
                    }
                }
            }
        }
    }
}

fn assert_error_names(e: &EnrichError, file: &Path) {
    let name = file.file_name().unwrap().to_str().unwrap();
    let message = e.to_string();
    assert!(
        message.contains(name),
        "error does not name {name}: {message}"
    );
}

fn open_error(city: Option<&Path>, asn: Option<&Path>) -> EnrichError {
    Enricher::open(&EnrichConfig {
        geoip_city: city.map(Path::to_owned),
        geoip_asn: asn.map(Path::to_owned),
        local_networks: Vec::new(),
    })
    .unwrap_err()
}

#[test]
fn city_database_given_as_asn_database_is_a_clear_error() {
    let file = db("GeoLite2-City-Test.mmdb");
    let e = open_error(None, Some(&file));
    assert_error_names(&e, &file);
    let message = e.to_string();
    assert!(message.starts_with("enrich.geoip_asn: "), "{message}");
    assert!(
        message.ends_with("database type is \"GeoLite2-City\", expected an ASN or ISP database"),
        "{message}"
    );

    let file = db("GeoLite2-ASN-Test.mmdb");
    let e = open_error(Some(&file), None);
    assert!(matches!(e, EnrichError::WrongType { .. }), "{e}");
    assert_error_names(&e, &file);
    assert!(
        e.to_string()
            .contains("expected a City or Country database"),
        "{e}"
    );
}

#[test]
fn a_missing_file_or_a_directory_is_an_error_naming_it() {
    let missing = testdata("geoip").join("no-such-file.mmdb");
    let e = open_error(Some(&missing), None);
    assert!(matches!(e, EnrichError::Read { .. }), "{e}");
    assert_error_names(&e, &missing);
    let dir = testdata("geoip/test-data");
    let e = open_error(None, Some(&dir));
    assert!(
        e.to_string()
            .ends_with("test-data: not a valid MaxMind database: not a regular file"),
        "{e}"
    );
}

#[test]
fn test_databases_pass_the_full_verification() {
    geolite().verify().unwrap();
    assert_eq!(geolite().lookup_errors(), 0);
}

/// `[enrich]` inside a config file, read through sonde's config loader.
#[derive(Debug, Deserialize)]
struct File {
    #[serde(default)]
    enrich: EnrichConfig,
}

impl Validate for File {
    fn validate(&self, problems: &mut Problems) {
        self.enrich.validate(problems);
    }
}

#[test]
fn validate_reports_a_bad_cidr_with_its_index() {
    let text = r#"
        [enrich]
        geoip_city = ""
        local_networks = ["10.0.0.0/8", "192.168.0.0/33", "fd00::/8", "bogus"]
    "#;
    let e = sonde_common::config::parse::<File>("collector.toml", text).unwrap_err();
    let problems: Vec<_> = e
        .problems()
        .unwrap()
        .iter()
        .map(|p| p.key.as_str())
        .collect();
    assert_eq!(
        problems,
        [
            "enrich.geoip_city",
            "enrich.local_networks[1]",
            "enrich.local_networks[3]"
        ]
    );
    assert!(
        e.to_string()
            .contains("collector.toml: enrich.local_networks[1]: must be a CIDR such as 10.0.0.0/8 or fd00::/8 (got \"192.168.0.0/33\")"),
        "{e}"
    );
}

#[test]
fn enrich_section_is_optional_and_unknown_keys_are_reported() {
    let file: File = sonde_common::config::parse("collector.toml", "").unwrap();
    assert_eq!(file.enrich, EnrichConfig::default());
    let e = sonde_common::config::parse::<File>("collector.toml", "[enrich]\ngeoip = \"x\"\n")
        .unwrap_err();
    assert!(e.to_string().contains("enrich.geoip: unknown key"), "{e}");
}
