//! Tests of the TLS classifier: real captures (`captures`), segments,
//! truncation and other protocols (`segments`), hand-made hellos (`crafted`).
//! Shared helpers here. Expected values are those ndpiReader printed for the same
//! captures (`ndpi/result/*.out`), except JA4's ALPN characters where nDPI
//! departs from FoxIO's spec (see `fingerprint`).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod captures;
pub(super) mod crafted;
mod segments;

use sonde_proto::v1;

use super::super::testing::{OwnedPacket, every_prefix, flows, l7_name, payloads};
use super::super::tls;
use super::super::{Findings, Kind, Packet, Parse, Probe, Protocol, Risk, Transport};

/// The flow of `capture` whose SNI is `sni`.
pub(super) fn flow_by_sni(capture: &str, sni: &str) -> v1::Flow {
    flows(capture)
        .into_iter()
        .find(|f| tls_of(f).is_some_and(|t| t.sni == sni))
        .unwrap_or_else(|| panic!("{capture}: no flow with SNI {sni}"))
}

pub(super) fn tls_of(f: &v1::Flow) -> Option<&v1::TlsInfo> {
    f.l7.as_ref()?.tls.as_ref()
}

pub(super) fn extra<'a>(f: &'a v1::Flow, key: &str) -> Option<&'a str> {
    f.l7.as_ref()?.extra.get(key).map(String::as_str)
}

pub(super) fn risks(f: &v1::Flow) -> Vec<&str> {
    f.risks.iter().map(|r| r.name.as_str()).collect()
}

/// `YYYY-MM-DD hh:mm:ss` (UTC) in microseconds, as nDPI prints validity.
pub(super) fn utc(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> u64 {
    // Days from civil (H. Hinnant), proleptic Gregorian.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(((days * 24 + h) * 60 + mi) * 60 + s).unwrap() * 1_000_000
}

/// Feeds packets (with their direction) to a fresh TLS parser; returns the
/// verdict after each and the findings.
pub(super) fn run(packets: &[(&OwnedPacket, bool)]) -> (Vec<Parse>, Findings) {
    let mut parser = Kind::Tls.start_for_test();
    let mut out = Findings::default();
    let verdicts = packets
        .iter()
        .map(|(p, from_client)| parser.parse(&p.view(*from_client), &mut out))
        .collect();
    (verdicts, out)
}

/// 443-git.pcap's ClientHello and the server's first flight (ServerHello,
/// Certificate over three segments, ServerHelloDone).
pub(super) fn git_handshake() -> (OwnedPacket, Vec<OwnedPacket>) {
    let all = payloads("443-git.pcap");
    let hello = all
        .iter()
        .find(|p| p.dst_port == 443 && p.payload.starts_with(&[0x16, 3, 1]))
        .unwrap()
        .clone();
    let server: Vec<OwnedPacket> = all
        .iter()
        .filter(|p| p.src_port == 443)
        .take(3)
        .cloned()
        .collect();
    (hello, server)
}
