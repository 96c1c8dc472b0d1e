//! DNS data exfiltration: a queried name with a label longer than the
//! `label_length` threshold, or a label of at least [`MIN_ENTROPY_LABEL`]
//! characters whose Shannon entropy is above the `entropy` threshold (bits
//! per character): data encoded into names (base32, base64, hex) is long
//! and close to random, host names are short and wordy.
//!
//! Names under the services nDPI exempts from its "Long DNS host name" risk
//! (DNS block lists, CDNs, cloud storage: they carry hashes in labels by
//! design) are not checked. The merge key is the conversation plus the
//! domain under the suspicious label, so one tunnel is one alert per window.

use sonde_proto::v1;

use super::super::{Rule, Rules, build};
use super::Ctx;
use super::checks::alert;

/// Labels shorter than this are not judged by entropy: a short string's
/// entropy is bounded by log2 of its length.
pub(crate) const MIN_ENTROPY_LABEL: usize = 20;

/// Domains whose names carry long labels legitimately: nDPI's exemptions,
/// the same list the probe's DNS classifier applies.
const EXEMPT: &[&str] = crate::classify::dns::LONG_LABEL_OK;

/// Shannon entropy of the bytes of `s`, in bits per byte.
pub(crate) fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
        }
    }
    let n = s.len() as f64;
    if n == 0.0 {
        return 0.0;
    }
    counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = f64::from(*c) / n;
            -p * p.log2()
        })
        .sum()
}

/// The first label of `query` that looks like encoded data: (index, label,
/// entropy, reason).
pub(crate) fn suspicious_label(
    query: &str,
    max_len: f64,
    max_entropy: f64,
) -> Option<(usize, &str, f64, &'static str)> {
    query
        .trim_end_matches('.')
        .split('.')
        .enumerate()
        .find_map(|(i, label)| {
            let e = entropy(label);
            if label.len() as f64 > max_len {
                Some((i, label, e, "long label"))
            } else if label.len() >= MIN_ENTROPY_LABEL && e > max_entropy {
                Some((i, label, e, "high-entropy label"))
            } else {
                None
            }
        })
}

fn exempt(query: &str) -> bool {
    let q = query.trim_end_matches('.').to_ascii_lowercase();
    EXEMPT
        .iter()
        .any(|d| q == *d || q.strip_suffix(d).is_some_and(|rest| rest.ends_with('.')))
}

pub(super) fn exfiltration(rules: &Rules, ctx: &Ctx<'_>, out: &mut Vec<(v1::Alert, String)>) {
    let Some(query) = ctx
        .flow
        .l7
        .as_ref()
        .and_then(|l| l.dns.as_ref())
        .map(|d| d.query.as_str())
        .filter(|q| !q.is_empty())
    else {
        return;
    };
    if exempt(query) {
        return;
    }
    let max_len = rules.threshold(Rule::DnsExfiltration, "label_length");
    let max_entropy = rules.threshold(Rule::DnsExfiltration, "entropy");
    let Some((index, label, e, reason)) = suspicious_label(query, max_len, max_entropy) else {
        return;
    };
    // The domain the data was sent to: what follows the suspicious label.
    let domain = query
        .trim_end_matches('.')
        .split('.')
        .skip(index + 1)
        .collect::<Vec<_>>()
        .join(".")
        .to_ascii_lowercase();
    let shown: String = query.chars().take(120).collect();
    let message = format!(
        "Possible DNS exfiltration from {} via {}: {reason} of {} characters (entropy {e:.2} bits) in {shown}",
        ctx.client,
        ctx.server_at(),
        label.len(),
    );
    if let Some(mut a) = alert(rules, Rule::DnsExfiltration, ctx, message) {
        build::evidence(&mut a, "query", &shown);
        build::evidence(&mut a, "label_length", label.len());
        build::evidence(&mut a, "label_entropy", format!("{e:.2}"));
        build::evidence(&mut a, "reason", reason);
        build::evidence(&mut a, "domain", &domain);
        out.push((a, format!("{} {domain}", ctx.conversation)));
    }
}
