//! Fuzzing entry points (`fuzz/fuzz_targets/classify_*.rs`): untrusted bytes
//! through one classifier, both as the flow driver runs it (probe, then the
//! parser of whichever candidate claims the flow) and with the classifier's
//! parser forced onto every packet, so its parser is exercised even on
//! bytes its probe would refuse.
//!
//! Input format: a sequence of packets, each `flags: u8`, `len: u16` (big
//! endian, taken modulo 2048), `len` bytes. Flag bit 0: sent by the server;
//! bit 1: TCP (else UDP); bit 2: the TCP sequence number jumps (a gap or a
//! retransmission, by the next two bytes as a signed offset). Ports are fixed
//! per transport so port-keyed classifiers see their port on some inputs.

use super::cursor::Cursor;
use super::{DpiSettings, Findings, FlowDpi, Kind, Packet, Transport};

/// The classifiers' names (`tls`, `dns`, ...), for the fuzz targets.
pub fn classifiers() -> Vec<&'static str> {
    Kind::ALL.iter().map(|k| k.name()).collect()
}

/// Runs `data` through the classifier named `name`; false when no
/// classifier has that name.
pub fn run(name: &str, data: &[u8]) -> bool {
    let Some(&kind) = Kind::ALL.iter().find(|k| k.name() == name) else {
        return false;
    };
    // Built once: the applications file is parsed when settings are made.
    static SETTINGS: std::sync::OnceLock<DpiSettings> = std::sync::OnceLock::new();
    let settings = SETTINGS.get_or_init(DpiSettings::default);
    let mut flow: Option<Box<FlowDpi>> = None;
    let mut forced = kind.start_for_test();
    let mut findings = Findings::default();
    let mut seq = [1_000u32, 5_000_000u32];
    let mut input = Cursor::new(data);
    let mut packet_no = 0u32;
    while let (Ok(flags), Ok(len)) = (input.u8(), input.u16()) {
        let from_client = flags & 1 == 0;
        let transport = if flags & 2 != 0 {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        let dir = usize::from(!from_client);
        if flags & 4 != 0 {
            let jump = input.u16().unwrap_or(0) as i16;
            seq[dir] = seq[dir].wrapping_add_signed(i32::from(jump));
        }
        let payload = input
            .take(usize::from(len % 2048))
            .unwrap_or_else(|_| input.rest());
        packet_no += 1;
        let (client_port, server_port) = kind
            .protocol()
            .ports(transport)
            .first()
            .map_or((40_000, 443), |&p| (40_000, p));
        let pkt = Packet {
            payload,
            from_client,
            transport,
            client_port,
            server_port,
            tcp_seq: (transport == Transport::Tcp).then_some(seq[dir]),
            ts_us: u64::from(packet_no) * 1_000,
            packet_no,
        };
        seq[dir] = seq[dir].wrapping_add(payload.len() as u32);
        let _ = kind.probe_for_test(&pkt);
        let _ = forced.parse(&pkt, &mut findings);
        super::on_packet(&mut flow, &pkt, settings);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_classifier_can_be_fuzzed_by_name() {
        for name in classifiers() {
            assert!(
                run(name, &[0, 0, 3, 1, 2, 3, 3, 0, 2, 0xff, 0xff]),
                "{name}"
            );
        }
        assert!(!run("no such classifier", &[]));
    }

    /// Lists the names for fuzz/gen-classify-targets.sh.
    #[test]
    fn classifier_names() {
        for name in classifiers() {
            println!("classifier: {name}");
        }
        assert!(classifiers().contains(&"tls"));
    }
}
