//! NDJSON file names: `sonde-<kind>-YYYYMMDD-HHMMSS-N.ndjson`, where the stamp
//! is the UTC wall clock when the file was created and `N` tells apart files
//! created in the same second. Creation order is (stamp, N), with N compared as
//! a number, so `-10` comes after `-9`.

use crate::sink::DocKind;

/// A file's place in creation order: `YYYYMMDD-HHMMSS` and the number `N`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct NameKey {
    pub(super) stamp: String,
    pub(super) n: u64,
}

impl NameKey {
    pub(super) fn file_name(&self, kind: DocKind) -> String {
        format!("sonde-{}-{}-{}.ndjson", kind.as_str(), self.stamp, self.n)
    }
}

/// The kind and key of a file this sink names, or None for any other file.
pub(super) fn parse_name(name: &str) -> Option<(DocKind, NameKey)> {
    let rest = name.strip_prefix("sonde-")?.strip_suffix(".ndjson")?;
    let (kind, rest) = match rest.strip_prefix("flow-") {
        Some(rest) => (DocKind::Flow, rest),
        None => (DocKind::Alert, rest.strip_prefix("alert-")?),
    };
    let (stamp, n) = rest.rsplit_once('-')?;
    let stamp_ok = stamp.len() == 15
        && stamp.bytes().enumerate().all(|(i, b)| {
            if i == 8 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !stamp_ok || n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = n.parse().ok()?;
    Some((
        kind,
        NameKey {
            stamp: stamp.to_owned(),
            n,
        },
    ))
}

/// The stamp for a file created now.
pub(super) fn stamp_now() -> String {
    let t = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort_by_number_not_text() {
        let key = |n| NameKey {
            stamp: "20240501-120000".into(),
            n,
        };
        let name = key(10).file_name(DocKind::Alert);
        assert_eq!(name, "sonde-alert-20240501-120000-10.ndjson");
        assert_eq!(parse_name(&name), Some((DocKind::Alert, key(10))));
        assert!(key(9) < key(10));
    }

    #[test]
    fn the_stamp_of_now_parses_as_a_name() {
        let name = NameKey {
            stamp: stamp_now(),
            n: 0,
        }
        .file_name(DocKind::Flow);
        assert!(parse_name(&name).is_some(), "{name}");
    }

    #[test]
    fn foreign_files_are_not_taken_for_the_sinks() {
        for name in [
            "sonde-flow-20240501-120000-1.json",
            "sonde-dns-20240501-120000-1.ndjson",
            "sonde-flow-2024050-1120000-1.ndjson",
            "sonde-flow-20240501-120000-.ndjson",
            "sonde-flow-20240501-120000-x.ndjson",
            "notes.txt",
        ] {
            assert_eq!(parse_name(name), None, "{name}");
        }
    }
}
