//! eve.json lines: the parser, the line splitter and the correlator never
//! panic, whatever Suricata (or whoever writes to its socket) sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sonde_probe::suricata::follow::read_stream;
use sonde_probe::suricata::{Correlator, CorrelatorSettings, parse_line};

fuzz_target!(|data: &[u8]| {
    // The bytes as one line.
    let _ = parse_line(data, 1 << 16);
    // The bytes as a stream of lines (a small cap exercises oversize lines),
    // every event through a correlator with tiny tables.
    let mut correlator = Correlator::new(CorrelatorSettings {
        max_pending: 4,
        max_flows: 4,
        max_enrichment: 4,
        max_victims: 2,
        ..CorrelatorSettings::default()
    });
    let mut out = Vec::new();
    let Ok(counters) = read_stream(data, 512, &mut |event| {
        correlator.event(event, &mut out);
        true
    }) else {
        return;
    };
    correlator.finish(&mut out);
    assert!(counters.events <= counters.lines);
    // Every alert event is in exactly one consolidated alert.
    let alerts: u64 = out.iter().map(|a| a.count).sum();
    assert_eq!(
        alerts,
        correlator.counters().alerts_in - correlator.counters().alerts_without_address
    );
    assert!(out.iter().all(|a| !a.attacker_ip.is_empty()));
});
