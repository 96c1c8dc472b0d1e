//! Unit tests of the incident lifecycle with synthetic flow records:
//! engaged, updated once a minute, released; time jumps; interim records;
//! Suricata signatures; caps.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed test"
)]

use std::sync::Arc;

use sonde_proto::v1;

use super::HostChecks;
use super::capture_tests::rules_with;
use super::tests::{
    A, ENGAGED, MIN, RELEASED, S, T0, V, dir, evidence, host, ip, make_syn_scan, of, ping, rec,
    run, session, spread, syn,
};
use crate::alert::{Rule, Rules};

/// 300 SYNs to distinct ports within minute `m`.
fn scan_minute(m: u64) -> Vec<v1::Flow> {
    (0..300u32)
        .map(|i| syn(A, V, 1 + i, T0 + m * MIN + S + u64::from(i) * 100_000))
        .collect()
}

#[test]
fn an_incident_is_engaged_updated_once_a_minute_and_released_after_a_quiet_minute() {
    let mut checks = HostChecks::new(Arc::new(Rules::default()), Vec::new());
    let mut out = Vec::new();
    for m in 0..3 {
        for f in scan_minute(m) {
            checks.flow(&f, &mut out);
            // Many clock ticks within the minute: no extra alerts.
            checks.advance(f.last_seen_us, &mut out);
        }
    }
    checks.advance(T0 + 3 * MIN + S, &mut out);
    assert_eq!(out.len(), 3, "{out:#?}");
    assert!(out.iter().all(|a| a.lifecycle == ENGAGED));
    assert!(out.iter().all(|a| a.incident_id == out[0].incident_id));
    assert_eq!(
        out.iter().map(|a| a.count).collect::<Vec<_>>(),
        vec![300, 600, 900]
    );
    assert!(out[1].last_seen_us > out[0].last_seen_us);
    assert_eq!(out[0].first_seen_us, T0 + S);
    assert_eq!(
        checks.incident_of_attacker(ip(A)).map(|i| i.1),
        Some("syn_scan")
    );
    // A minute without the condition releases it.
    checks.advance(T0 + 4 * MIN + S, &mut out);
    assert_eq!(out.len(), 4);
    assert_eq!(out[3].lifecycle, RELEASED);
    assert_eq!(out[3].incident_id, out[0].incident_id);
    assert_eq!(out[3].count, 900);
    assert_eq!(evidence(&out[3], "minutes"), "3");
    assert!(checks.incident_of_attacker(ip(A)).is_none());
    checks.finish(&mut out);
    assert_eq!(out.len(), 4);
}

#[test]
fn a_jump_in_time_engages_and_releases_at_once() {
    let mut checks = HostChecks::new(Arc::new(Rules::default()), Vec::new());
    let mut out = Vec::new();
    for f in scan_minute(0) {
        checks.flow(&f, &mut out);
    }
    checks.advance(T0 + 10 * MIN, &mut out);
    let lc: Vec<i32> = out.iter().map(|a| a.lifecycle).collect();
    assert_eq!(lc, vec![ENGAGED, RELEASED]);
}

#[test]
fn a_record_from_a_later_minute_closes_the_window_without_advance() {
    let mut checks = HostChecks::new(Arc::new(Rules::default()), Vec::new());
    let mut out = Vec::new();
    for f in scan_minute(0) {
        checks.flow(&f, &mut out);
    }
    assert!(out.is_empty());
    checks.flow(&session("10.9.9.9", V, 443, 100, T0 + MIN + S), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].lifecycle, ENGAGED);
}

#[test]
fn suricata_signatures_join_the_incident_of_their_attacker() {
    let mut checks = HostChecks::new(Arc::new(Rules::default()), Vec::new());
    let mut out = Vec::new();
    for f in scan_minute(0) {
        checks.flow(&f, &mut out);
    }
    checks.advance(T0 + MIN + S, &mut out);
    let (id, rule) = checks.incident_of_attacker(ip(A)).unwrap();
    assert_eq!(rule, "syn_scan");
    assert_eq!(id, out[0].incident_id);
    assert!(checks.incident_of_attacker(ip(V)).is_none());
    let sig = v1::SuricataSignature {
        signature_id: 2_010_937,
        signature: "ET SCAN Suspicious inbound to mySQL port 3306".to_owned(),
        category: "Potentially Bad Traffic".to_owned(),
        severity: 2,
        count: 1,
    };
    checks.attach_signature(&id, sig.clone());
    checks.attach_signature(&id, sig);
    checks.attach_signature("no-such-incident", v1::SuricataSignature::default());
    checks.finish(&mut out);
    let released = out.last().unwrap();
    assert_eq!(released.lifecycle, RELEASED);
    assert_eq!(released.signatures.len(), 1);
    assert_eq!(released.signatures[0].count, 2);
}

#[test]
fn the_victim_of_a_flood_from_several_sources_leads_back_to_each_of_them() {
    let mut checks = HostChecks::new(Arc::new(Rules::default()), Vec::new());
    let mut out = Vec::new();
    for i in 0..1100u32 {
        let src = if i % 2 == 0 { "192.0.2.1" } else { "192.0.2.2" };
        checks.flow(&syn(src, V, 443, spread(i, 1100)), &mut out);
    }
    checks.advance(T0 + MIN + S, &mut out);
    assert_eq!(out.len(), 1, "{out:#?}");
    assert_eq!(
        out[0].message,
        "SYN flood against 10.0.0.9:443 from 2 sources"
    );
    let (id, rule) = checks.incident_of_attacker(ip("192.0.2.2")).unwrap();
    assert_eq!(
        (id.as_str(), rule),
        (out[0].incident_id.as_str(), "syn_flood")
    );
}

#[test]
fn a_long_flow_counts_once_however_many_interim_records_it_has() {
    // Two flows a minute would be a flow flood at this threshold.
    let rules = rules_with(&[("flow_flood", "flows", 2.0)]);
    let mut flows = Vec::new();
    for k in 0..5u64 {
        let mut f = rec(17, A, 5000, V, 9999, T0 + k * 10 * S);
        f.last_seen_us = T0 + (k * 10 + 9) * S;
        f.server_to_client = dir(1, 10, 0);
        f.flow_id = 42;
        f.interim = k < 4;
        flows.push(f);
    }
    assert!(run(rules.clone(), &flows).is_empty());
    // Without the flow id they are five flows.
    for f in &mut flows {
        f.flow_id = 0;
    }
    assert_eq!(of(&run(rules, &flows), "flow_flood").len(), 2);
}

#[test]
fn a_slow_long_ping_is_not_a_flood() {
    // 20,000 packets over ten minutes: 2,000 a minute.
    let alerts = run(Rules::default(), &[ping(A, V, 20_000, T0, 600)]);
    assert!(alerts.is_empty(), "{alerts:#?}");
    // The same packets within a minute are.
    let alerts = run(Rules::default(), &[ping(A, V, 20_000, T0, 50)]);
    assert_eq!(of(&alerts, "icmp_flood").len(), 2, "{alerts:#?}");
    assert_eq!(
        alerts[0].message,
        "ICMP flood against 10.0.0.9 from 1 source: 20,000 packets in a minute"
    );
}

#[test]
fn a_disabled_rule_raises_nothing() {
    let mut rules = Rules::default();
    rules.set_enabled(Rule::SynScan, false);
    assert!(run(rules, &make_syn_scan(1000)).is_empty());
}

#[test]
fn the_host_table_is_capped_and_its_overflow_counted() {
    let mut checks = HostChecks::new(Arc::new(Rules::default()), Vec::new());
    let mut out = Vec::new();
    for i in 0..70_000u32 {
        checks.flow(&rec(17, &host(i), 5000, V, 9999, T0 + S), &mut out);
    }
    let stats = checks.stats();
    assert!(
        stats.overflow.hosts >= 70_001 - super::window::MAX_HOSTS as u64,
        "{stats:?}"
    );
    checks.finish(&mut out);
    // The victim was tracked before the table filled up: 70,000 flows from
    // 70,000 sources, over the flow flood threshold (15,360).
    assert_eq!(of(&out, "flow_flood").len(), 2, "{out:#?}");
}

/// A rough cost figure (run by hand: `cargo test ... -- --ignored
/// --nocapture`); speed goals belong in benchmarks, not in this test.
#[test]
#[ignore = "a measurement, not a check"]
fn cost_of_a_record_in_a_busy_minute() {
    let mut checks = HostChecks::new(Arc::new(Rules::default()), Vec::new());
    let mut out = Vec::new();
    let flows: Vec<v1::Flow> = (0..200_000u32)
        .map(|i| {
            let t = T0 + u64::from(i) * 250;
            match i % 4 {
                0 => syn(&host(i % 5000), &host(i % 777 + 9000), 1 + i % 1000, t),
                1 => session(&host(i % 5000), V, 443, 5000, t),
                2 => ping(&host(i % 300), &host(i % 2000), 2, t, 1),
                _ => rec(17, &host(i % 5000), 40_000, &host(i % 3000 + 7000), 53, t),
            }
        })
        .collect();
    let started = std::time::Instant::now();
    for f in &flows {
        checks.flow(f, &mut out);
    }
    let per_record = started.elapsed().as_secs_f64() / flows.len() as f64;
    let close = std::time::Instant::now();
    checks.finish(&mut out);
    eprintln!(
        "{:.0} ns per record, {:.1} ms to close the window, {} alerts",
        per_record * 1e9,
        close.elapsed().as_secs_f64() * 1e3,
        out.len()
    );
}
