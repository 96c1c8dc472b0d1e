//! One MaxMind DB file (GeoIP2/GeoLite2 City or Country, ASN or ISP) and the
//! ECS objects made from its records.
//!
//! Input: a `.mmdb` file, untrusted: it is read whole into memory (at most
//! [`MAX_DATABASE_BYTES`], regular files only, so a FIFO or `/dev/zero` cannot
//! hang the collector), its metadata checked and its `database_type` matched
//! to the [`Kind`] the config key expects. Output per address: an ECS `geo`
//! object (`city_name`, `continent_code`, `continent_name`, `country_iso_code`,
//! `country_name`, `region_iso_code`, `region_name`, `location`,
//! `postal_code`, `timezone`) or an ECS `as` object (`number`,
//! `organization.name`).
//!
//! Invariants: a lookup never panics and never loops without bound (the
//! search tree walk is at most 128 steps; record decoding is bounded by the
//! `maxminddb` decoder's per-operation budgets); a corrupt record is "not
//! found" and counted; strings are borrowed from the file while decoding, so
//! the only allocations are the JSON values added; empty or oversized strings
//! and out-of-range coordinates are left out, so a hostile file cannot make
//! Elasticsearch reject a document.

use std::fmt;
use std::fs::File;
use std::io::Read as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use maxminddb::{MaxMindDbError, Reader};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::EnrichError;
use super::records::{AsnRecord, GeoRecord};

/// Larger files are refused: real City databases weigh tens to a few hundred
/// MB, so this only stops a wrong path (a disk image, a log) from filling memory.
pub(crate) const MAX_DATABASE_BYTES: u64 = 2 << 30;

/// Strings longer than this are left out (real names are far shorter).
const MAX_STRING_BYTES: usize = 256;

/// What a config key expects, checked against the file's `database_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `geoip_city`: GeoIP2/GeoLite2 City, Country or Enterprise (also DB-IP's).
    Geo,
    /// `geoip_asn`: GeoLite2-ASN or GeoIP2-ISP (also DB-IP's ASN).
    Asn,
}

impl Kind {
    /// The config key that names a file of this kind.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Kind::Geo => "enrich.geoip_city",
            Kind::Asn => "enrich.geoip_asn",
        }
    }

    fn expected(self) -> &'static str {
        match self {
            Kind::Geo => "a City or Country database",
            Kind::Asn => "an ASN or ISP database",
        }
    }

    /// Matches whole words of the type (`GeoLite2-City`, `DBIP-ASN-Lite`) so
    /// that `Enterprise` is not mistaken for an ISP database.
    fn accepts(self, database_type: &str) -> bool {
        let words: &[&str] = match self {
            Kind::Geo => &["city", "country", "enterprise"],
            Kind::Asn => &["asn", "isp"],
        };
        database_type
            .split(['-', '_', ' ', '.'])
            .any(|w| words.iter().any(|k| w.eq_ignore_ascii_case(k)))
    }
}

pub(crate) struct Database {
    kind: Kind,
    path: PathBuf,
    reader: Reader<Vec<u8>>,
    /// IPv6 addresses cannot be looked up in an IPv4-only file.
    has_ipv6: bool,
    errors: AtomicU64,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let meta = self.reader.metadata();
        f.debug_struct("Database")
            .field("path", &self.path)
            .field("database_type", &meta.database_type)
            .field("build_epoch", &meta.build_epoch)
            .field("lookup_errors", &self.lookup_errors())
            .finish()
    }
}

impl Database {
    /// Reads the file and checks that its type is of `kind`.
    pub(crate) fn open(path: &Path, kind: Kind) -> Result<Self, EnrichError> {
        let db = Self::load(path, kind)?;
        let found = &db.reader.metadata().database_type;
        if !kind.accepts(found) {
            return Err(EnrichError::WrongType {
                key: kind.key(),
                path: path.to_owned(),
                found: found.clone(),
                expected: kind.expected(),
            });
        }
        Ok(db)
    }

    /// Reads the file, whatever its type.
    fn load(path: &Path, kind: Kind) -> Result<Self, EnrichError> {
        let io = |source| EnrichError::Read {
            key: kind.key(),
            path: path.to_owned(),
            source,
        };
        let invalid = |reason: String| EnrichError::Invalid {
            key: kind.key(),
            path: path.to_owned(),
            reason,
        };
        let file = File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(invalid("not a regular file".to_owned()));
        }
        if meta.len() > MAX_DATABASE_BYTES {
            return Err(invalid(format!(
                "{} bytes, limit is {MAX_DATABASE_BYTES}",
                meta.len()
            )));
        }
        let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        // The file may grow after the size check: read one byte past the limit to see it.
        file.take(MAX_DATABASE_BYTES + 1)
            .read_to_end(&mut buf)
            .map_err(io)?;
        if buf.len() as u64 > MAX_DATABASE_BYTES {
            return Err(invalid(format!("larger than {MAX_DATABASE_BYTES} bytes")));
        }
        let reader = Reader::from_source(buf).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            kind,
            path: path.to_owned(),
            has_ipv6: reader.metadata().ip_version == 6,
            reader,
            errors: AtomicU64::new(0),
        })
    }

    pub(crate) fn lookup_errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// Walks the whole file (search tree and data section); slow on real
    /// databases, meant for `check` commands rather than startup.
    pub(crate) fn verify(&self) -> Result<(), EnrichError> {
        self.reader.verify().map_err(|e| EnrichError::Invalid {
            key: self.kind.key(),
            path: self.path.clone(),
            reason: e.to_string(),
        })
    }

    /// The ECS `geo` object for `ip`, if the file knows anything about it.
    pub(crate) fn geo(&self, ip: IpAddr) -> Option<Value> {
        let rec: GeoRecord<'_> = self.record(ip)?;
        let mut geo = Map::new();
        put_str(&mut geo, "city_name", rec.city.names.en);
        put_str(&mut geo, "continent_code", rec.continent.code);
        put_str(&mut geo, "continent_name", rec.continent.names.en);
        let country = text(rec.country.iso_code);
        put_str(&mut geo, "country_iso_code", country);
        put_str(&mut geo, "country_name", rec.country.names.en);
        if let Some(region) = rec.subdivisions {
            // ECS region_iso_code is ISO 3166-2: "SE-E", the country then the subdivision.
            if let (Some(c), Some(r)) = (country, text(region.iso_code)) {
                geo.insert("region_iso_code".into(), format!("{c}-{r}").into());
            }
            put_str(&mut geo, "region_name", region.names.en);
        }
        if let (Some(lat), Some(lon)) = (rec.location.latitude, rec.location.longitude) {
            if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) {
                let mut location = Map::new();
                location.insert("lat".into(), lat.into());
                location.insert("lon".into(), lon.into());
                geo.insert("location".into(), location.into());
            }
        }
        put_str(&mut geo, "postal_code", rec.postal.code);
        put_str(&mut geo, "timezone", rec.location.time_zone);
        (!geo.is_empty()).then_some(Value::Object(geo))
    }

    /// The ECS `as` object for `ip`, if the file knows anything about it.
    pub(crate) fn asn(&self, ip: IpAddr) -> Option<Value> {
        let rec: AsnRecord<'_> = self.record(ip)?;
        let mut asn = Map::new();
        if let Some(number) = rec.autonomous_system_number {
            asn.insert("number".into(), number.into());
        }
        if let Some(name) = text(rec.autonomous_system_organization) {
            let mut organization = Map::new();
            organization.insert("name".into(), name.into());
            asn.insert("organization".into(), organization.into());
        }
        (!asn.is_empty()).then_some(Value::Object(asn))
    }

    fn record<'a, T: Deserialize<'a>>(&'a self, ip: IpAddr) -> Option<T> {
        if ip.is_ipv6() && !self.has_ipv6 {
            return None;
        }
        match self.reader.lookup(ip).and_then(|found| found.decode()) {
            Ok(record) => record,
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }

    /// Counts a failed lookup; only the first is logged, so a corrupt file
    /// does not flood the log at the document rate.
    #[cold]
    fn failed(&self, error: &MaxMindDbError) {
        if self.errors.fetch_add(1, Ordering::Relaxed) == 0 {
            tracing::warn!(
                file = %self.path.display(),
                %error,
                "GeoIP lookup failed, the database may be corrupt; further failures are only counted."
            );
        }
    }
}

fn text(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty() && s.len() <= MAX_STRING_BYTES)
}

fn put_str(map: &mut Map<String, Value>, key: &str, value: Option<&str>) {
    if let Some(v) = text(value) {
        map.insert(key.to_owned(), v.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(rel: &str) -> PathBuf {
        std::env::var_os("SONDE_TESTDATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata")
            })
            .join(rel)
    }

    /// The integration tests only reach lookups on files whose type passes
    /// the check; this walks every corrupt file's tree and data whatever its
    /// type. Each lookup is bounded by the decoder, so this test is too.
    #[test]
    fn lookups_in_corrupt_files_of_any_type_never_panic() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(testdata("geoip/bad-data"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.push(testdata(
            "geoip/test-data/GeoIP2-City-Test-Broken-Double-Format.mmdb",
        ));
        files.push(testdata(
            "geoip/test-data/GeoIP2-City-Test-Invalid-Node-Count.mmdb",
        ));
        let ips: Vec<IpAddr> = (0..=255u8)
            .flat_map(|a| [IpAddr::from([a, 1, 1, 1]), IpAddr::from([a, 160, 20, 112])])
            .chain(["2001:218::1", "::1.1.1.1", "::"].map(|s| s.parse().unwrap()))
            .collect();
        let mut loaded = 0;
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "mmdb"))
        {
            let Ok(db) = Database::load(file, Kind::Geo) else {
                continue;
            };
            loaded += 1;
            for &ip in &ips {
                let _ = (db.geo(ip), db.asn(ip));
            }
            assert!(
                db.verify().is_err(),
                "{} passes verification",
                file.display()
            );
        }
        assert!(
            loaded >= 1,
            "no corrupt file loaded: the lookup path was not exercised"
        );
    }

    #[test]
    fn database_types_match_whole_words() {
        for t in [
            "GeoIP2-City",
            "GeoLite2-City",
            "GeoIP2-Country",
            "GeoLite2-Country",
            "GeoIP2-Enterprise",
            "DBIP-City-Lite",
        ] {
            assert!(Kind::Geo.accepts(t), "{t}");
            assert!(!Kind::Asn.accepts(t), "{t}");
        }
        for t in ["GeoLite2-ASN", "GeoIP2-ISP", "DBIP-ASN-Lite"] {
            assert!(Kind::Asn.accepts(t), "{t}");
            assert!(!Kind::Geo.accepts(t), "{t}");
        }
        for t in [
            "GeoIP2-Anonymous-IP",
            "GeoIP2-Connection-Type",
            "GeoIP2-Domain",
            "",
        ] {
            assert!(!Kind::Geo.accepts(t) && !Kind::Asn.accepts(t), "{t}");
        }
    }
}
