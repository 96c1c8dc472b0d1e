//! The flow engine on a sequence of arbitrary Ethernet frames with arbitrary
//! time steps: no panic, and every decoded packet lands in exactly one record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sonde_probe::capture::Packet;
use sonde_probe::decode::LinkType;
use sonde_probe::engine::Engine;
use sonde_probe::flow::FlowSettings;

fuzz_target!(|data: &[u8]| {
    let settings = FlowSettings {
        max_flows: 64,
        ..FlowSettings::default()
    };
    let mut engine = Engine::new(LinkType::Ethernet, "fuzz", settings);
    let mut out = Vec::new();
    let mut ts_us = 1_700_000_000_000_000u64;
    let mut rest = data;
    // Each frame: 2-byte length, 1-byte time step (x 100 ms), then the bytes.
    while rest.len() >= 3 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])) % 1600;
        ts_us += u64::from(rest[2]) * 100_000;
        rest = &rest[3..];
        let frame = &rest[..len.min(rest.len())];
        rest = &rest[frame.len()..];
        engine.packet(
            &Packet {
                ts_us,
                data: frame,
                wire_len: frame.len() as u32,
            },
            &mut out,
        );
    }
    engine.finish(&mut out);
    let c = engine.counters();
    let in_records: u64 = out
        .iter()
        .map(|f| {
            f.client_to_server.map_or(0, |d| d.packets)
                + f.server_to_client.map_or(0, |d| d.packets)
        })
        .sum();
    assert_eq!(
        in_records,
        c.packets - c.skipped_total() - c.fragments_unattributed
    );
});
