//! A JSON object built by dotted paths (`tls.client.ja3`), the way ECS names
//! fields, and written straight to bytes.
//!
//! A [`Doc`] is a flat list of (path, value) pairs in the order they were
//! put; nothing is nested until [`Doc::write_json`] sorts the paths and writes
//! the objects they imply. That is what makes documents cheap to build: no map
//! per object, no key copies, values borrowed from the record where they can
//! be, addresses and dates kept as numbers until written. The collector adds
//! its own fields (enrichment, dedupe lists, the id) to the same list before
//! the one write.
//!
//! The sorting and the keys depend only on the paths, so they are done once
//! per document shape (the sequence of static paths) and kept as a plan: the
//! bytes between the values. A collector maps records of a few dozen shapes;
//! writing one is then copying those bytes and the values (see `Plans`).
//!
//! Semantics, the same as inserting into a tree in order:
//! - the first writer wins: a path equal to an earlier one, below an earlier
//!   leaf, or above earlier leaves is dropped when written;
//! - paths with an empty segment (`a..b`, `.a`, `a.`) are refused at once;
//! - helpers skip empty values, so the mapping code reads as a list of fields
//!   and never emits `""`, `[]` or `{}`;
//! - keys come out in byte order at every level, as `serde_json::Map` would
//!   order them, so a document's bytes depend only on its fields.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::io::Write as _;
use std::net::IpAddr;

use serde_json::Value;
use serde_json::ser::{CompactFormatter, Formatter as _};

/// One value at the end of a path.
#[derive(Clone, Debug, PartialEq)]
pub enum Leaf<'a> {
    Str(Cow<'a, str>),
    U64(u64),
    I64(i64),
    /// Written as `null` when not finite (JSON has no NaN), as `serde_json` does.
    F64(f64),
    Bool(bool),
    /// An address, written as its text (`192.0.2.1`, `2001:db8::1`).
    Ip(IpAddr),
    /// Unix microseconds, written as RFC 3339 UTC with six fraction digits;
    /// made by [`Leaf::time`], which refuses what RFC 3339 cannot write.
    Time(u64),
    /// A number written as a string (ECS keyword fields such as `network.iana_number`).
    Digits(u64),
    /// A list of borrowed strings (`event.category`, a one-item list).
    Strs(&'a [&'a str]),
    List(Vec<Leaf<'a>>),
    /// Any JSON, written as it is (nested objects such as a GeoIP location).
    Json(Value),
}

impl Leaf<'_> {
    /// A date, or None for 0 (unset) and instants past year 9999.
    pub fn time(unix_us: u64) -> Option<Leaf<'static>> {
        super::values::rfc3339_instant(unix_us).map(|_| Leaf::Time(unix_us))
    }
}

impl From<IpAddr> for Leaf<'_> {
    fn from(value: IpAddr) -> Self {
        Leaf::Ip(value)
    }
}

macro_rules! leaf_from {
    ($($t:ty => $variant:ident as $as:ty),* $(,)?) => {
        $(impl From<$t> for Leaf<'_> {
            fn from(value: $t) -> Self {
                Leaf::$variant(<$as>::from(value))
            }
        })*
    };
}

leaf_from!(
    u8 => U64 as u64, u16 => U64 as u64, u32 => U64 as u64, u64 => U64 as u64,
    i32 => I64 as i64, i64 => I64 as i64, f64 => F64 as f64, bool => Bool as bool,
);

impl<'a> From<&'a str> for Leaf<'a> {
    fn from(value: &'a str) -> Self {
        Leaf::Str(Cow::Borrowed(value))
    }
}

impl From<String> for Leaf<'_> {
    fn from(value: String) -> Self {
        Leaf::Str(Cow::Owned(value))
    }
}

impl<'a> From<Cow<'a, str>> for Leaf<'a> {
    fn from(value: Cow<'a, str>) -> Self {
        Leaf::Str(value)
    }
}

impl From<Value> for Leaf<'_> {
    fn from(value: Value) -> Self {
        Leaf::Json(value)
    }
}

impl<'a, T: Into<Leaf<'a>>> From<Vec<T>> for Leaf<'a> {
    fn from(values: Vec<T>) -> Self {
        Leaf::List(values.into_iter().map(Into::into).collect())
    }
}

/// A document under construction.
#[derive(Clone, Debug, Default)]
pub struct Doc<'a> {
    fields: Vec<(Cow<'static, str>, Leaf<'a>)>,
}

impl<'a> Doc<'a> {
    /// An empty document with room for `fields` fields.
    pub fn with_capacity(fields: usize) -> Self {
        Doc {
            fields: Vec::with_capacity(fields),
        }
    }

    /// Puts `value` at `path` (see the module for who wins a clash). False
    /// when the path has an empty segment and is refused.
    pub fn put(&mut self, path: impl Into<Cow<'static, str>>, value: impl Into<Leaf<'a>>) -> bool {
        let path = path.into();
        if !valid_path(&path) {
            return false;
        }
        self.fields.push((path, value.into()));
        true
    }

    /// Puts a string unless it is empty or only whitespace; trimmed.
    pub fn put_str(&mut self, path: impl Into<Cow<'static, str>>, value: impl Into<Cow<'a, str>>) {
        let value = match value.into() {
            Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
            Cow::Owned(s) if s.trim().len() == s.len() => Cow::Owned(s),
            Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
        };
        if !value.is_empty() {
            self.put(path, Leaf::Str(value));
        }
    }

    /// Puts the value when there is one.
    pub fn put_opt<T: Into<Leaf<'a>>>(
        &mut self,
        path: impl Into<Cow<'static, str>>,
        value: Option<T>,
    ) {
        if let Some(value) = value {
            self.put(path, value);
        }
    }

    /// Puts a list unless it is empty.
    pub fn put_list<T: Into<Leaf<'a>>>(
        &mut self,
        path: impl Into<Cow<'static, str>>,
        values: Vec<T>,
    ) {
        if !values.is_empty() {
            self.put(path, values);
        }
    }

    /// The leaves of a JSON object as a document (tests and tools that start
    /// from JSON): strings, numbers and booleans become their leaves, lists
    /// and nulls stay JSON; anything but an object gives an empty document.
    pub fn from_value(value: &Value) -> Doc<'static> {
        fn walk(doc: &mut Doc<'static>, prefix: &str, value: &Value) {
            let Value::Object(map) = value else { return };
            for (key, value) in map {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                let leaf = match value {
                    Value::Object(_) => {
                        walk(doc, &path, value);
                        continue;
                    }
                    Value::String(s) => Leaf::Str(Cow::Owned(s.clone())),
                    Value::Bool(b) => Leaf::Bool(*b),
                    Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                        (Some(u), _, _) => Leaf::U64(u),
                        (None, Some(i), _) => Leaf::I64(i),
                        (None, None, Some(f)) => Leaf::F64(f),
                        _ => Leaf::Json(value.clone()),
                    },
                    other => Leaf::Json(other.clone()),
                };
                doc.put(path, leaf);
            }
        }
        let mut doc = Doc::default();
        walk(&mut doc, "", value);
        doc
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The value first put at exactly `path`, if any (a linear search: for
    /// the few fields a caller needs back).
    pub fn get(&self, path: &str) -> Option<&Leaf<'a>> {
        self.fields.iter().find(|(p, _)| p == path).map(|(_, v)| v)
    }

    /// Drops every field under the top-level keys `roots` (and leaves named so).
    pub fn remove_roots(&mut self, roots: &[&str]) {
        self.fields.retain(|(path, _)| {
            let root = path.split('.').next().unwrap_or_default();
            !roots.contains(&root)
        });
    }

    /// Appends the document as compact JSON to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        PLANS.with_borrow_mut(|plans| match plans.get_or_insert(self) {
            Some(plan) => plan.write(&self.fields, out),
            // A path made at run time: no shape to cache it by.
            None => self.plan().write(&self.fields, out),
        });
    }

    /// The paths as addresses and lengths of static strings (None for a
    /// path made at run time): two documents with the same shape have the
    /// same plan.
    fn shape(&self) -> impl Iterator<Item = Option<(usize, usize)>> + '_ {
        self.fields.iter().map(|(path, _)| match path {
            Cow::Borrowed(p) => Some((p.as_ptr() as usize, p.len())),
            Cow::Owned(_) => None,
        })
    }

    /// How to write this document: the fields in output order, each with
    /// the bytes before its value (closing and opening objects, its key).
    fn plan(&self) -> Plan {
        let order = self.order();
        let mut plan = Plan {
            text: Vec::with_capacity(16 * order.len()),
            steps: Vec::with_capacity(order.len()),
        };
        let out = &mut plan.text;
        out.push(b'{');
        let mut prev: &str = "";
        let mut depth = 0;
        let mut first = true;
        for &(_, i) in &order {
            let Some((path, _)) = self.fields.get(i as usize) else {
                continue;
            };
            // Still open: the objects both paths share, up to their last
            // common dot. The rest are closed, and this path's own opened.
            let shared = shared_parents(prev, path);
            let kept = dots(&path.as_bytes()[..shared]);
            for _ in kept..depth {
                out.push(b'}');
            }
            depth = kept;
            let mut rest = path.get(shared..).unwrap_or_default();
            while let Some((segment, tail)) = rest.split_once('.') {
                if !first {
                    out.push(b',');
                }
                write_str(out, segment);
                out.extend_from_slice(b":{");
                depth += 1;
                first = true;
                rest = tail;
            }
            if !first {
                out.push(b',');
            }
            write_str(out, rest);
            out.push(b':');
            plan.steps.push((i, out.len() as u32));
            first = false;
            prev = path;
        }
        for _ in 0..depth {
            out.push(b'}');
        }
        out.push(b'}');
        plan
    }

    /// The document as a `serde_json` value (nested entries of a list, tests).
    pub fn into_value(self) -> Value {
        let order = self.order();
        let mut slots: Vec<Option<(Cow<'static, str>, Leaf<'a>)>> =
            self.fields.into_iter().map(Some).collect();
        let mut root = serde_json::Map::new();
        for (_, i) in order {
            let Some((path, leaf)) = slots.get_mut(i as usize).and_then(Option::take) else {
                continue;
            };
            // Clash-free by construction: every parent is an object or absent.
            let mut map = &mut root;
            let mut segments = path.split('.').peekable();
            while let Some(segment) = segments.next() {
                if segments.peek().is_none() {
                    map.insert(segment.to_owned(), leaf_value(leaf));
                    break;
                }
                let next = map
                    .entry(segment.to_owned())
                    .or_insert_with(|| Value::Object(serde_json::Map::new()));
                let Value::Object(inner) = next else { break };
                map = inner;
            }
        }
        Value::Object(root)
    }

    /// Sort keys and indices of the fields to write, in output order,
    /// clashes resolved.
    fn order(&self) -> Vec<(u128, u32)> {
        let mut order: Vec<(u128, u32)> = self
            .fields
            .iter()
            .enumerate()
            .map(|(i, (path, _))| (sort_key(path), i as u32))
            .collect();
        let cmp = |a: &(u128, u32), b: &(u128, u32)| {
            a.0.cmp(&b.0)
                .then_with(|| {
                    let (pa, pb) = (&self.fields[a.1 as usize].0, &self.fields[b.1 as usize].0);
                    if pa.len() > KEY_BYTES || pb.len() > KEY_BYTES {
                        path_cmp(pa, pb)
                    } else {
                        Ordering::Equal
                    }
                })
                .then(a.1.cmp(&b.1))
        };
        order.sort_unstable_by(cmp);
        let clash = order.windows(2).any(|w| {
            clashes(
                &self.fields[w[0].1 as usize].0,
                &self.fields[w[1].1 as usize].0,
            )
        });
        if !clash {
            return order;
        }
        // Rare: replay the puts in order, keeping those that clash with no
        // earlier kept one, then sort what is left.
        let mut kept: Vec<(u128, u32)> = Vec::with_capacity(order.len());
        for (i, (path, _)) in self.fields.iter().enumerate() {
            if !kept.iter().any(|k| {
                clashes(&self.fields[k.1 as usize].0, path)
                    || clashes(path, &self.fields[k.1 as usize].0)
            }) {
                kept.push((sort_key(path), i as u32));
            }
        }
        kept.sort_unstable_by(cmp);
        kept
    }
}

/// No empty segment: not empty, no leading or trailing dot, no `..`.
fn valid_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('.')
        && !path.ends_with('.')
        && !path.as_bytes().windows(2).any(|w| w == b"..")
}

const KEY_BYTES: usize = 16;

/// The path's first 16 bytes, big-endian, with the dot mapped to 0: paths
/// compare segment by segment (`a` < `a.b` < `a-b`... as nested maps order
/// their keys) with one integer comparison unless they share 16 bytes.
fn sort_key(path: &str) -> u128 {
    let mut key = [0u8; KEY_BYTES];
    for (k, &b) in key.iter_mut().zip(path.as_bytes()) {
        *k = if b == b'.' { 0 } else { b };
    }
    u128::from_be_bytes(key)
}

/// Segment-wise order of two whole paths (the dot below every other byte).
fn path_cmp(a: &str, b: &str) -> Ordering {
    let map = |b: &u8| if *b == b'.' { 0 } else { *b };
    a.as_bytes()
        .iter()
        .map(map)
        .cmp(b.as_bytes().iter().map(map))
}

/// Whether `b` cannot be written once `a` is: the same path, or a path
/// below `a` (`a` is a leaf where an object would be needed).
fn clashes(a: &str, b: &str) -> bool {
    b.strip_prefix(a)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// How documents of one shape are written: `text` is everything but the
/// values; each step names a field and where its value goes in `text`.
#[derive(Debug)]
struct Plan {
    text: Vec<u8>,
    steps: Vec<(u32, u32)>,
}

impl Plan {
    fn write(&self, fields: &[(Cow<'static, str>, Leaf<'_>)], out: &mut Vec<u8>) {
        out.reserve(self.text.len() + 16 * self.steps.len());
        let mut at = 0;
        for &(i, end) in &self.steps {
            out.extend_from_slice(self.text.get(at..end as usize).unwrap_or_default());
            if let Some((_, value)) = fields.get(i as usize) {
                write_leaf(out, value);
            }
            at = end as usize;
        }
        out.extend_from_slice(self.text.get(at..).unwrap_or_default());
    }
}

/// Plans of the document shapes seen lately, per thread: a collector maps
/// records of a few dozen shapes, and a cached plan spares sorting the
/// paths and writing the keys of every document. Bounded: cleared when full.
/// Looked up by the shape of a document without collecting it: the shape is
/// stored only with a new plan.
#[derive(Default)]
struct Plans {
    by_shape: hashbrown::HashTable<(Vec<(usize, usize)>, Plan)>,
    hasher: hashbrown::DefaultHashBuilder,
}

const MAX_PLANS: usize = 512;

impl Plans {
    /// The plan of documents shaped like `doc`; None when a path is not
    /// static.
    fn get_or_insert(&mut self, doc: &Doc<'_>) -> Option<&Plan> {
        let hash = shape_hash(&self.hasher, doc.shape())?;
        let same = |(shape, _): &(Vec<(usize, usize)>, Plan)| {
            shape.iter().copied().map(Some).eq(doc.shape())
        };
        if self.by_shape.len() >= MAX_PLANS && self.by_shape.find(hash, same).is_none() {
            self.by_shape.clear();
        }
        let hasher = &self.hasher;
        let entry = self.by_shape.entry(hash, same, |(shape, _)| {
            shape_hash(hasher, shape.iter().copied().map(Some)).unwrap_or_default()
        });
        Some(
            &entry
                .or_insert_with(|| (doc.shape().flatten().collect(), doc.plan()))
                .into_mut()
                .1,
        )
    }
}

/// The hash of a shape; None when a path is not static.
fn shape_hash(
    hasher: &hashbrown::DefaultHashBuilder,
    shape: impl Iterator<Item = Option<(usize, usize)>>,
) -> Option<u64> {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = hasher.build_hasher();
    for path in shape {
        let (at, len) = path?;
        h.write_usize(at);
        h.write_usize(len);
    }
    Some(h.finish())
}

thread_local! {
    static PLANS: std::cell::RefCell<Plans> = std::cell::RefCell::new(Plans::default());
}

/// Length of the longest prefix of both paths that ends with a dot: the
/// objects they share.
fn shared_parents(a: &str, b: &str) -> usize {
    let mut end = 0;
    for (i, (x, y)) in a.bytes().zip(b.bytes()).enumerate() {
        if x != y {
            break;
        }
        if x == b'.' {
            end = i + 1;
        }
    }
    end
}

fn dots(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| b == b'.').count()
}

fn write_leaf(out: &mut Vec<u8>, leaf: &Leaf<'_>) {
    // Writing to a Vec cannot fail; serde_json's formatter does the escaping
    // and number formatting, so the bytes match what `serde_json` writes.
    let mut f = CompactFormatter;
    let _ = match leaf {
        Leaf::Str(s) => {
            write_str(out, s);
            Ok(())
        }
        Leaf::U64(n) => f.write_u64(out, *n),
        Leaf::I64(n) => f.write_i64(out, *n),
        Leaf::F64(x) if x.is_finite() => f.write_f64(out, *x),
        Leaf::F64(_) => f.write_null(out),
        Leaf::Bool(b) => f.write_bool(out, *b),
        // Address and date texts need no escaping.
        Leaf::Ip(ip) => {
            write_ip(out, ip);
            Ok(())
        }
        Leaf::Time(us) => {
            out.push(b'"');
            super::values::write_rfc3339_us(*us, out);
            out.push(b'"');
            Ok(())
        }
        Leaf::Digits(n) => {
            out.push(b'"');
            let _ = f.write_u64(out, *n);
            out.push(b'"');
            Ok(())
        }
        Leaf::Strs(items) => {
            write_array(out, items, |out, item| write_str(out, item));
            Ok(())
        }
        Leaf::List(items) => {
            write_array(out, items, write_leaf);
            Ok(())
        }
        Leaf::Json(value) => serde_json::to_writer(&mut *out, value).map_err(std::io::Error::from),
    };
}

/// `[a,b,…]`, each item written by `write`.
fn write_array<T>(out: &mut Vec<u8>, items: &[T], mut write: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(b',');
        }
        write(out, item);
    }
    out.push(b']');
}

fn leaf_value(leaf: Leaf<'_>) -> Value {
    match leaf {
        Leaf::Str(s) => Value::String(s.into_owned()),
        Leaf::U64(n) => n.into(),
        Leaf::I64(n) => n.into(),
        Leaf::F64(x) => x.into(),
        Leaf::Bool(b) => b.into(),
        Leaf::Ip(ip) => Value::String(ip.to_string()),
        Leaf::Time(us) => super::values::rfc3339_us(us).map_or(Value::Null, Value::String),
        Leaf::Digits(n) => Value::String(n.to_string()),
        Leaf::Strs(items) => items.iter().map(|s| Value::from(*s)).collect(),
        Leaf::List(items) => Value::Array(items.into_iter().map(leaf_value).collect()),
        Leaf::Json(value) => value,
    }
}

/// An address as a JSON string; IPv4 digit by digit (`fmt` is slow, and
/// every flow document has four addresses), IPv6 through `fmt`.
fn write_ip(out: &mut Vec<u8>, ip: &IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            out.push(b'"');
            for (n, octet) in v4.octets().into_iter().enumerate() {
                if n > 0 {
                    out.push(b'.');
                }
                if octet >= 100 {
                    out.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.push(b'0' + octet / 10 % 10);
                }
                out.push(b'0' + octet % 10);
            }
            out.push(b'"');
        }
        IpAddr::V6(_) => {
            // Writing to a Vec cannot fail.
            let _ = write!(out, "\"{ip}\"");
        }
    }
}

/// A JSON string, escaped exactly as `serde_json` escapes it (most need no
/// escaping: those are copied as they are).
fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    use serde::Serializer as _;
    let _ = serde_json::Serializer::new(out).serialize_str(s);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn written(doc: &Doc<'_>) -> String {
        let mut out = Vec::new();
        doc.write_json(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn dotted_paths_nest_and_the_first_writer_wins() {
        let mut doc = Doc::default();
        assert!(doc.put("a.b", 1u64));
        assert!(doc.put("a.c.d", "x"));
        doc.put("a.b", 2u64); // existing leaf
        doc.put("a.b.e", 3u64); // leaf where an object is needed
        doc.put("a.c", 4u64); // object where a leaf would go
        assert!(!doc.put("z..y", 5u64), "empty segment");
        assert!(!doc.put(".z", 5u64), "empty segment");
        assert!(!doc.put("z.", 5u64), "empty segment");
        doc.put_str("s", "  ");
        doc.put_list::<u8>("l", vec![]);
        doc.put_opt::<u8>("o", None);
        assert_eq!(doc.into_value(), json!({"a": {"b": 1, "c": {"d": "x"}}}));
    }

    #[test]
    fn a_leaf_put_first_wins_over_later_paths_below_it() {
        let mut doc = Doc::default();
        doc.put("a", 1u64);
        doc.put("a.b", 2u64);
        doc.put("a-b", 3u64);
        assert_eq!(written(&doc), r#"{"a":1,"a-b":3}"#);
    }

    #[test]
    fn output_is_what_serde_json_writes_for_the_same_tree() {
        let mut doc = Doc::default();
        doc.put("sonde.flow.retransmissions.server", 1u64);
        doc.put("sonde.flow.retransmissions.client", 2u64);
        doc.put("@timestamp", "2026-01-01T00:00:00.000000Z");
        doc.put("a-b", true);
        doc.put("a.b", -3i64);
        doc.put("ab", 0.5f64);
        doc.put("nan", f64::NAN);
        doc.put("list", vec!["x\"y", "\u{1}"]);
        doc.put("geo", json!({"z": 1, "a": {"b": null}}));
        doc.put("sonde.l7.name", "TLS");
        doc.put("sonde.flow.id", "7");
        let expected = json!({
            "sonde": {"flow": {"retransmissions": {"server": 1, "client": 2}, "id": "7"},
                      "l7": {"name": "TLS"}},
            "@timestamp": "2026-01-01T00:00:00.000000Z",
            "a-b": true, "a": {"b": -3}, "ab": 0.5, "nan": null,
            "list": ["x\"y", "\u{1}"],
            "geo": {"z": 1, "a": {"b": null}},
        });
        assert_eq!(written(&doc), serde_json::to_string(&expected).unwrap());
    }

    #[test]
    fn documents_of_one_shape_share_a_plan_and_keep_their_own_values() {
        let shaped = |n: u64, text: &'static str| {
            let mut doc = Doc::default();
            doc.put("b.y", n);
            doc.put("a", text);
            doc.put("b.x", vec![n, n + 1]);
            doc.put("b.y", 99u64); // a clash, dropped in every plan
            doc
        };
        for (n, text) in [(1, "one"), (2, "two\"quoted\""), (3, "")] {
            let doc = shaped(n, text);
            let expected = json!({"a": text, "b": {"x": [n, n + 1], "y": n}});
            assert_eq!(written(&doc), serde_json::to_string(&expected).unwrap());
        }
        // Same number of fields, other paths: another plan.
        let mut other = Doc::default();
        other.put("b.y", 1u64);
        other.put("c", "x");
        other.put("b.z", 2u64);
        other.put("b", 3u64);
        assert_eq!(written(&other), r#"{"b":{"y":1,"z":2},"c":"x"}"#);
    }

    #[test]
    fn typed_leaves_are_written_as_their_text() {
        let mut doc = Doc::default();
        doc.put("ip4", "192.0.2.1".parse::<IpAddr>().unwrap());
        doc.put("ip6", "2001:db8::1".parse::<IpAddr>().unwrap());
        doc.put(
            "ip4s",
            vec![
                "0.9.10.99".parse::<IpAddr>().unwrap(),
                "100.255.250.7".parse::<IpAddr>().unwrap(),
            ],
        );
        doc.put_opt("at", Leaf::time(1_764_064_800_123_456));
        doc.put_opt("never", Leaf::time(0));
        doc.put_opt("too_late", Leaf::time(u64::MAX));
        doc.put("id", Leaf::Digits(u64::MAX));
        doc.put("kinds", Leaf::Strs(&["a", "b\"c"]));
        let text = written(&doc);
        assert_eq!(
            text,
            r#"{"at":"2025-11-25T10:00:00.123456Z","id":"18446744073709551615","ip4":"192.0.2.1","ip4s":["0.9.10.99","100.255.250.7"],"ip6":"2001:db8::1","kinds":["a","b\"c"]}"#
        );
        assert_eq!(serde_json::to_string(&doc.into_value()).unwrap(), text);
    }

    #[test]
    fn strings_are_trimmed_and_borrowed_when_they_can_be() {
        let owned = String::from("  spaced ");
        let mut doc = Doc::default();
        doc.put_str("a", owned.as_str());
        doc.put_str("b", String::from("x "));
        doc.put_str("c", String::from("y"));
        assert_eq!(doc.get("a"), Some(&Leaf::Str(Cow::Borrowed("spaced"))));
        assert_eq!(written(&doc), r#"{"a":"spaced","b":"x","c":"y"}"#);
    }

    #[test]
    fn remove_roots_drops_whole_subtrees_only() {
        let mut doc = Doc::default();
        doc.put("event.kind", "event");
        doc.put("events.x", 1u64);
        doc.put("@timestamp", "t");
        doc.remove_roots(&["event", "@timestamp"]);
        assert_eq!(written(&doc), r#"{"events":{"x":1}}"#);
    }

    proptest::proptest! {
        /// Any sequence of puts writes exactly the JSON that inserting the
        /// same paths into nested `serde_json` maps (first writer wins) gives.
        #[test]
        fn matches_a_tree_built_put_by_put(
            puts in proptest::collection::vec(("[ab.-]{1,7}", 0u64..100), 0..24)
        ) {
            let mut doc = Doc::default();
            let mut tree = serde_json::Map::new();
            for (path, n) in &puts {
                doc.put(path.clone(), *n);
                tree_put(&mut tree, path, *n);
            }
            proptest::prop_assert_eq!(written(&doc), serde_json::to_string(&tree).unwrap());
            proptest::prop_assert_eq!(doc.into_value(), Value::Object(tree));
        }
    }

    /// The reference: nested maps, first writer wins, empty segments refused.
    fn tree_put(map: &mut serde_json::Map<String, Value>, path: &str, n: u64) {
        if path.split('.').any(str::is_empty) {
            return;
        }
        let mut map = map;
        let mut segments = path.split('.').peekable();
        while let Some(segment) = segments.next() {
            if segments.peek().is_none() {
                map.entry(segment.to_owned()).or_insert(json!(n));
                return;
            }
            let next = map.entry(segment.to_owned()).or_insert_with(|| json!({}));
            match next {
                Value::Object(inner) => map = inner,
                _ => return,
            }
        }
    }
}
