//! `_bulk` bodies and responses, pure: what to send for a batch of
//! documents, and what each response item means for its document.
//!
//! Every document is a `create` with its deterministic `_id`, so a document
//! sent twice (a retry, a resend after a reconnect, a spool drained after a
//! crash) is a 409 the second time, counted as delivered, never a duplicate.

use serde_json::{Value, json};

use super::Target;
use crate::sink::{DocKind, Document, Outcome};

/// One `_bulk` request body (NDJSON) and how many documents it holds.
#[derive(Debug)]
pub(super) struct Body {
    pub ndjson: Vec<u8>,
    /// Index of its first document in the batch.
    pub first: usize,
    pub count: usize,
}

/// The action line and document of `doc`, NDJSON, appended to `out`.
pub(super) fn append(out: &mut Vec<u8>, doc: &Document, flows: &Target, alerts: &Target) {
    let target = match doc.kind {
        DocKind::Flow => flows,
        DocKind::Alert => alerts,
    };
    let action = json!({"create": {"_index": target.index_for(doc.timestamp_us), "_id": doc.id}});
    // Serialising a `Value` cannot fail.
    let _ = serde_json::to_writer(&mut *out, &action);
    out.push(b'\n');
    out.extend_from_slice(&doc.json);
    out.push(b'\n');
}

/// Splits `docs` into request bodies of at most `max_docs` documents and
/// about `max_bytes` bytes (a single larger document gets a body of its own).
pub(super) fn bodies(
    docs: &[Document],
    max_docs: usize,
    max_bytes: usize,
    flows: &Target,
    alerts: &Target,
) -> Vec<Body> {
    let mut out = Vec::new();
    let mut current = Body {
        ndjson: Vec::new(),
        first: 0,
        count: 0,
    };
    for (i, doc) in docs.iter().enumerate() {
        let mut one = Vec::new();
        append(&mut one, doc, flows, alerts);
        if current.count > 0
            && (current.count >= max_docs || current.ndjson.len() + one.len() > max_bytes)
        {
            let next = Body {
                ndjson: Vec::new(),
                first: i,
                count: 0,
            };
            out.push(std::mem::replace(&mut current, next));
        }
        current.ndjson.extend_from_slice(&one);
        current.count += 1;
    }
    if current.count > 0 {
        out.push(current);
    }
    out
}

/// The outcome of each of `count` documents from a 200 response body.
///
/// The body is untrusted: when it cannot be read, or does not have one item
/// per document, every document is retried (the `_id`s make that safe).
#[cfg(test)]
pub(super) fn outcomes(body: &[u8], count: usize) -> Vec<Outcome> {
    items(body, count).into_iter().map(|(o, _)| o).collect()
}

/// [`outcomes`] with the index each item names (a data stream's backing
/// index, where a 409's document lives).
pub(super) fn items(body: &[u8], count: usize) -> Vec<(Outcome, Option<String>)> {
    let retry_all = |why: &str| {
        vec![
            (
                Outcome::Retry {
                    reason: why.to_owned()
                },
                None
            );
            count
        ]
    };
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return retry_all("the bulk response is not JSON");
    };
    let Some(items) = value.get("items").and_then(Value::as_array) else {
        return retry_all("the bulk response has no items");
    };
    if items.len() != count {
        return retry_all(&format!(
            "the bulk response has {} items for {count} documents",
            items.len()
        ));
    }
    items
        .iter()
        .map(|item| {
            let index = item
                .as_object()
                .and_then(|o| o.values().next())
                .and_then(|r| r.get("_index"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            (item_outcome(item), index)
        })
        .collect()
}

fn item_outcome(item: &Value) -> Outcome {
    // The item is keyed by its action: {"create": {...}}.
    let result = item
        .as_object()
        .and_then(|o| o.values().next())
        .unwrap_or(&Value::Null);
    let status = result.get("status").and_then(Value::as_u64).unwrap_or(0);
    let reason = || error_reason(result.get("error"));
    match status {
        200 | 201 => Outcome::Accepted,
        409 => Outcome::Duplicate,
        // Too many requests, server errors, and an index that is missing
        // (a template or privilege problem the operator fixes): later.
        429 | 404 | 500..=599 => Outcome::Retry {
            reason: format!("{status}: {}", reason()),
        },
        400..=499 => Outcome::Rejected {
            reason: format!("{status}: {}", reason()),
        },
        _ => Outcome::Retry {
            reason: format!("unexpected item status {status}"),
        },
    }
}

/// `type: reason` of an Elasticsearch error object, at most 500 characters.
pub(super) fn error_reason(error: Option<&Value>) -> String {
    let text = match error {
        Some(Value::Object(e)) => {
            let ty = e.get("type").and_then(Value::as_str).unwrap_or("error");
            let reason = e.get("reason").and_then(Value::as_str).unwrap_or("");
            let caused = e
                .get("caused_by")
                .and_then(|c| c.get("reason"))
                .and_then(Value::as_str)
                .map(|c| format!(" (caused by: {c})"))
                .unwrap_or_default();
            format!("{ty}: {reason}{caused}")
        }
        Some(Value::String(s)) => s.clone(),
        _ => "no error details".to_owned(),
    };
    truncate(text, 500)
}

pub(super) fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(n: u64, kind: DocKind) -> Document {
        // 2025-11-25T10:00:00Z
        Document::from_value(
            format!("id-{n}"),
            kind,
            1_764_064_800_000_000,
            json!({"n": n}),
        )
    }

    fn targets() -> (Target, Target) {
        (
            Target::parse("logs-sonde.conn-so").unwrap(),
            Target::parse("so-alerts-%Y.%m.%d").unwrap(),
        )
    }

    #[test]
    fn each_document_is_a_create_with_its_id_and_target() {
        let (f, a) = targets();
        let mut out = Vec::new();
        append(&mut out, &doc(1, DocKind::Flow), &f, &a);
        append(&mut out, &doc(2, DocKind::Alert), &f, &a);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(
            lines,
            [
                json!({"create": {"_index": "logs-sonde.conn-so", "_id": "id-1"}}),
                json!({"n": 1, "event": {"id": "id-1"}}),
                json!({"create": {"_index": "so-alerts-2025.11.25", "_id": "id-2"}}),
                json!({"n": 2, "event": {"id": "id-2"}}),
            ]
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn bodies_respect_document_and_byte_limits() {
        let (f, a) = targets();
        let docs: Vec<_> = (0..10).map(|n| doc(n, DocKind::Flow)).collect();
        let by_count = bodies(&docs, 4, usize::MAX, &f, &a);
        let shape: Vec<_> = by_count.iter().map(|b| (b.first, b.count)).collect();
        assert_eq!(shape, [(0, 4), (4, 4), (8, 2)]);
        let one = {
            let mut v = Vec::new();
            append(&mut v, &docs[0], &f, &a);
            v.len()
        };
        let by_bytes = bodies(&docs, 100, one * 3, &f, &a);
        assert!(by_bytes.iter().all(|b| b.ndjson.len() <= one * 3));
        assert_eq!(by_bytes.iter().map(|b| b.count).sum::<usize>(), 10);
        // A document larger than the limit still goes, alone.
        let alone = bodies(&docs[..2], 100, 1, &f, &a);
        assert_eq!(alone.len(), 2);
    }

    #[test]
    fn item_statuses_map_to_outcomes() {
        let body = json!({"errors": true, "items": [
            {"create": {"status": 201}},
            {"create": {"status": 409, "error": {"type": "version_conflict_engine_exception", "reason": "exists"}}},
            {"create": {"status": 429, "error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}},
            {"create": {"status": 503}},
            {"create": {"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "failed to parse field [source.ip]", "caused_by": {"reason": "'x' is not an IP string literal."}}}},
            {"create": {"status": 404, "error": {"type": "index_not_found_exception", "reason": "no such index"}}},
            {"create": {}},
        ]});
        let got = outcomes(body.to_string().as_bytes(), 7);
        assert_eq!(got[0], Outcome::Accepted);
        assert_eq!(got[1], Outcome::Duplicate);
        assert!(matches!(&got[2], Outcome::Retry { reason } if reason.contains("queue full")));
        assert!(matches!(&got[3], Outcome::Retry { .. }));
        assert_eq!(
            got[4],
            Outcome::Rejected {
                reason: "400: mapper_parsing_exception: failed to parse field [source.ip] (caused by: 'x' is not an IP string literal.)".into()
            }
        );
        assert!(matches!(&got[5], Outcome::Retry { .. }));
        assert!(matches!(&got[6], Outcome::Retry { .. }));
    }

    #[test]
    fn an_unreadable_response_retries_everything() {
        for body in [
            &b"<html>proxy error</html>"[..],
            b"{}",
            br#"{"items": [{}]}"#,
        ] {
            let got = outcomes(body, 3);
            assert_eq!(got.len(), 3);
            assert!(
                got.iter().all(|o| matches!(o, Outcome::Retry { .. })),
                "{got:?}"
            );
        }
    }

    proptest::proptest! {
        /// Whatever a server (or a proxy in front of it) answers, every
        /// document gets exactly one outcome and nothing panics.
        #[test]
        fn any_response_gives_one_outcome_per_document(
            body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            count in 0usize..20,
        ) {
            proptest::prop_assert_eq!(outcomes(&body, count).len(), count);
        }

        #[test]
        fn any_item_list_gives_one_outcome_per_document(
            statuses in proptest::collection::vec(proptest::prelude::any::<i64>(), 0..20),
            junk in "[ -~]{0,40}",
        ) {
            let items: Vec<Value> = statuses
                .iter()
                .map(|s| json!({"create": {"status": s, "error": {"type": junk.clone(), "reason": junk.clone()}}}))
                .collect();
            let body = json!({"items": items}).to_string();
            let got = outcomes(body.as_bytes(), statuses.len());
            proptest::prop_assert_eq!(got.len(), statuses.len());
            for (s, o) in statuses.iter().zip(&got) {
                let accepted = matches!(o, Outcome::Accepted);
                proptest::prop_assert_eq!(accepted, *s == 200 || *s == 201);
            }
        }
    }

    #[test]
    fn long_reasons_are_cut_on_a_character_boundary() {
        let long = "é".repeat(400);
        let cut = truncate(long, 501);
        assert!(cut.len() <= 504 && cut.ends_with('…'));
    }
}
