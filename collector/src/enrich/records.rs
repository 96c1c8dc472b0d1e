//! The parts of MaxMind DB records that sonde maps to ECS, decoded straight
//! from the file's bytes.
//!
//! Input: one record of a City/Country or ASN/ISP database (untrusted bytes,
//! decoded by `maxminddb`'s bounded decoder). Output: borrowed views whose
//! strings point into the file. Invariants: no allocation while decoding (no
//! `String`, no `Vec`: only the first subdivision is kept); unknown fields and
//! other languages' names are skipped without being expanded; a missing field
//! is `None`, never an error.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};

/// A City or Country record (a Country record has no city, location or postal).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct GeoRecord<'a> {
    #[serde(borrow)]
    pub(crate) city: Place<'a>,
    #[serde(borrow)]
    pub(crate) continent: Place<'a>,
    #[serde(borrow)]
    pub(crate) country: Place<'a>,
    #[serde(borrow)]
    pub(crate) location: Location<'a>,
    #[serde(borrow)]
    pub(crate) postal: Postal<'a>,
    /// The first (largest) subdivision only: ECS has one region.
    #[serde(borrow, deserialize_with = "first_element")]
    pub(crate) subdivisions: Option<Place<'a>>,
}

/// A continent, country, subdivision or city: codes and English name.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Place<'a> {
    #[serde(borrow)]
    pub(crate) code: Option<&'a str>,
    #[serde(borrow)]
    pub(crate) iso_code: Option<&'a str>,
    #[serde(borrow)]
    pub(crate) names: Names<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Names<'a> {
    #[serde(borrow)]
    pub(crate) en: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Location<'a> {
    pub(crate) latitude: Option<f64>,
    pub(crate) longitude: Option<f64>,
    #[serde(borrow)]
    pub(crate) time_zone: Option<&'a str>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Postal<'a> {
    #[serde(borrow)]
    pub(crate) code: Option<&'a str>,
}

/// An ASN record, or the AS part of an ISP record.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct AsnRecord<'a> {
    pub(crate) autonomous_system_number: Option<u32>,
    #[serde(borrow)]
    pub(crate) autonomous_system_organization: Option<&'a str>,
}

/// The first element of an array, the rest skipped: no `Vec` per lookup.
fn first_element<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct First<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for First<T> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<T>, A::Error> {
            let first = seq.next_element()?;
            // The decoder bounds the element count; the skipped ones are not expanded.
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(first)
        }
    }

    deserializer.deserialize_seq(First(PhantomData))
}
