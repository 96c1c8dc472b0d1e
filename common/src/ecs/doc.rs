//! A JSON object built by dotted paths (`tls.client.ja3`), the way ECS names
//! fields. Helpers skip empty values so the mapping code reads as a list of
//! fields and never emits `""`, `[]` or `{}`.

use serde_json::{Map, Value};

/// A document under construction; [`Doc::into_value`] returns the object.
#[derive(Debug, Default)]
pub(super) struct Doc(Map<String, Value>);

impl Doc {
    /// A document that starts with the fields of `map`.
    pub(super) fn from_map(map: Map<String, Value>) -> Self {
        Doc(map)
    }

    /// Inserts `value` at `path`, creating the objects on the way.
    ///
    /// The first writer wins: when the path runs into an existing value
    /// (a leaf where an object is needed, or an existing leaf), nothing is
    /// written and `false` is returned. Paths with an empty segment (`a..b`,
    /// `.a`) are refused, so no empty object is ever left behind.
    pub(super) fn put(&mut self, path: &str, value: impl Into<Value>) -> bool {
        if path.split('.').any(str::is_empty) {
            return false;
        }
        let mut map = &mut self.0;
        let mut segments = path.split('.').peekable();
        while let Some(segment) = segments.next() {
            if segments.peek().is_none() {
                if map.contains_key(segment) {
                    return false;
                }
                map.insert(segment.to_owned(), value.into());
                return true;
            }
            let next = map
                .entry(segment.to_owned())
                .or_insert_with(|| Value::Object(Map::new()));
            match next {
                Value::Object(inner) => map = inner,
                _ => return false,
            }
        }
        false
    }

    /// Inserts a string unless it is empty or only whitespace.
    pub(super) fn put_str(&mut self, path: &str, value: &str) {
        let value = value.trim();
        if !value.is_empty() {
            self.put(path, value);
        }
    }

    /// Inserts the value when there is one.
    pub(super) fn put_opt<T: Into<Value>>(&mut self, path: &str, value: Option<T>) {
        if let Some(value) = value {
            self.put(path, value);
        }
    }

    /// Inserts a list unless it is empty.
    pub(super) fn put_list<T: Into<Value>>(&mut self, path: &str, values: Vec<T>) {
        if !values.is_empty() {
            self.put(
                path,
                Value::Array(values.into_iter().map(Into::into).collect()),
            );
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn into_value(self) -> Value {
        Value::Object(self.0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dotted_paths_nest_and_the_first_writer_wins() {
        let mut doc = Doc::default();
        assert!(doc.put("a.b", 1));
        assert!(doc.put("a.c.d", "x"));
        assert!(!doc.put("a.b", 2), "existing leaf");
        assert!(!doc.put("a.b.e", 3), "leaf where an object is needed");
        assert!(!doc.put("a.c", 4), "object where a leaf would go");
        assert!(!doc.put("z..y", 5), "empty segment");
        assert!(!doc.put(".z", 5), "empty segment");
        doc.put_str("s", "  ");
        doc.put_list::<u8>("l", vec![]);
        doc.put_opt::<u8>("o", None);
        assert_eq!(doc.into_value(), json!({"a": {"b": 1, "c": {"d": "x"}}}));
    }
}
