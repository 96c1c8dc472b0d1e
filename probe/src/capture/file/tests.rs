//! The reader against libpcap (the `pcap` crate) on every test capture, on
//! big-endian, nanosecond and pcapng rewrites of them, and on damaged input.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use super::{FileError, FileSource, MAX_PACKET};
use crate::capture::{CaptureError, Next, PacketSource};
use crate::classify::testing::testdata;

/// A small classic pcap (little-endian, microseconds): ndpi/pcap/dns.pcap
/// is a pcapng.
const LEGACY: &str = "community-id/zeek/pcaps/http-get.pcap";

/// (time in µs, captured bytes, length on the wire)
type Frame = (u64, Vec<u8>, u32);

/// Every packet, then whether the file ended cleanly.
fn ours(source: &mut FileSource) -> (Vec<Frame>, Option<CaptureError>) {
    let mut frames = Vec::new();
    loop {
        match source.next_packet() {
            Ok(Next::Packet(p)) => frames.push((p.ts_us, p.data.to_vec(), p.wire_len)),
            Ok(Next::Idle) => panic!("a file is never idle"),
            Ok(Next::End) => return (frames, None),
            Err(e) => return (frames, Some(e)),
        }
    }
}

fn ours_of_bytes(bytes: &[u8]) -> Result<(Vec<Frame>, Option<CaptureError>), CaptureError> {
    let mut source = FileSource::from_reader(Box::new(Cursor::new(bytes.to_vec())), "mem")?;
    Ok(ours(&mut source))
}

/// What libpcap reads: `None` if it cannot open the file.
fn libpcap(path: &Path) -> Option<(Vec<Frame>, bool)> {
    let mut capture = pcap::Capture::from_file(path).ok()?;
    let mut frames = Vec::new();
    loop {
        match capture.next_packet() {
            Ok(p) => {
                let p = crate::capture::packet(&p);
                frames.push((p.ts_us, p.data.to_vec(), p.wire_len));
            }
            Err(pcap::Error::NoMorePackets) => return Some((frames, true)),
            Err(_) => return Some((frames, false)),
        }
    }
}

/// Reads `path` both ways and asserts the same packets and the same ending.
fn same_as_libpcap(path: &Path) -> usize {
    let reference = libpcap(path);
    let mine = FileSource::open(path, "t");
    match (reference, mine) {
        (None, Err(_)) => 0,
        (None, Ok(_)) => panic!("{}: libpcap refuses it, sonde opens it", path.display()),
        (Some(_), Err(CaptureError::LinkType(_))) => 0,
        (Some(_), Err(e)) => panic!("{}: libpcap opens it, sonde: {e}", path.display()),
        (Some((theirs, clean)), Ok(mut source)) => {
            let (frames, error) = ours(&mut source);
            assert_eq!(
                frames.len(),
                theirs.len(),
                "{}: packet count",
                path.display()
            );
            for (i, (a, b)) in frames.iter().zip(&theirs).enumerate() {
                assert_eq!(a, b, "{}: packet {i}", path.display());
            }
            assert_eq!(error.is_none(), clean, "{}: {error:?}", path.display());
            frames.len()
        }
    }
}

fn captures() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![testdata("")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path
                .extension()
                .is_some_and(|e| e == "pcap" || e == "pcapng" || e == "cap")
            {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn every_test_capture_reads_as_libpcap_reads_it() {
    let files = captures();
    assert!(files.len() > 60, "test captures missing: {}", files.len());
    let mut packets = 0;
    let mut pcapng = 0;
    for path in &files {
        packets += same_as_libpcap(path);
        pcapng += usize::from(path.extension().is_some_and(|e| e == "pcapng"));
    }
    assert!(packets > 5_000, "{packets}");
    assert!(pcapng >= 7, "{pcapng}");
}

/// A classic little-endian microsecond pcap rewritten: big-endian and/or
/// nanoseconds (each fraction x 1000 + 999, which must be cut, not rounded).
fn rewrite(pcap: &[u8], big: bool, nanos: bool) -> Vec<u8> {
    let u32_at = |at: usize| u32::from_le_bytes(pcap[at..at + 4].try_into().unwrap());
    let u16_at = |at: usize| u16::from_le_bytes(pcap[at..at + 2].try_into().unwrap());
    let put32 = |out: &mut Vec<u8>, v: u32| {
        out.extend_from_slice(&if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    };
    let put16 = |out: &mut Vec<u8>, v: u16| {
        out.extend_from_slice(&if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        });
    };
    assert_eq!(u32_at(0), 0xa1b2_c3d4);
    let mut out = Vec::new();
    put32(&mut out, if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 });
    put16(&mut out, u16_at(4));
    put16(&mut out, u16_at(6));
    for at in [8, 12, 16, 20] {
        put32(&mut out, u32_at(at));
    }
    let mut at = 24;
    while at + 16 <= pcap.len() {
        let caplen = u32_at(at + 8) as usize;
        put32(&mut out, u32_at(at));
        let frac = u32_at(at + 4);
        put32(&mut out, if nanos { frac * 1000 + 999 } else { frac });
        put32(&mut out, u32_at(at + 8));
        put32(&mut out, u32_at(at + 12));
        out.extend_from_slice(&pcap[at + 16..at + 16 + caplen]);
        at += 16 + caplen;
    }
    out
}

/// The same packets as pcapng: one section, `ifaces` interfaces of the
/// file's link type (packets spread over them), nanosecond resolution and
/// a time offset of 1000 s (subtracted from each packet), a name resolution
/// block to skip; the given byte order.
fn to_pcapng(pcap: &[u8], big: bool, ifaces: u32) -> Vec<u8> {
    let u32_at = |at: usize| u32::from_le_bytes(pcap[at..at + 4].try_into().unwrap());
    let w32 = |v: u32| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let w16 = |v: u16| {
        if big {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    };
    let block = |out: &mut Vec<u8>, kind: u32, body: &[u8]| {
        let padded = body.len().next_multiple_of(4);
        let len = u32::try_from(12 + padded).unwrap();
        out.extend_from_slice(&w32(kind));
        out.extend_from_slice(&w32(len));
        out.extend_from_slice(body);
        out.resize(out.len() + padded - body.len(), 0);
        out.extend_from_slice(&w32(len));
    };
    let mut out = Vec::new();
    let mut shb = w32(0x1a2b_3c4d).to_vec();
    shb.extend_from_slice(&w16(1));
    shb.extend_from_slice(&w16(0));
    shb.extend_from_slice(&u64::MAX.to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    for _ in 0..ifaces {
        let mut idb = w16(u16::try_from(u32_at(20)).unwrap()).to_vec();
        idb.extend_from_slice(&w16(0));
        idb.extend_from_slice(&w32(u32_at(16)));
        // if_tsresol = 9 (nanoseconds), if_tsoffset = 1000 s, end.
        idb.extend_from_slice(&w16(9));
        idb.extend_from_slice(&w16(1));
        idb.extend_from_slice(&[9, 0, 0, 0]);
        idb.extend_from_slice(&w16(14));
        idb.extend_from_slice(&w16(8));
        idb.extend_from_slice(
            &(if big {
                1000u64.to_be_bytes()
            } else {
                1000u64.to_le_bytes()
            }),
        );
        idb.extend_from_slice(&[0, 0, 0, 0]);
        block(&mut out, 1, &idb);
    }
    block(&mut out, 4, &[0; 40]);
    let mut at = 24;
    let mut n = 0;
    while at + 16 <= pcap.len() {
        let caplen = u32_at(at + 8);
        let ns =
            (u64::from(u32_at(at)) - 1000) * 1_000_000_000 + u64::from(u32_at(at + 4)) * 1000 + 7;
        let mut epb = w32(n % ifaces).to_vec();
        epb.extend_from_slice(&w32((ns >> 32) as u32));
        epb.extend_from_slice(&w32(ns as u32));
        epb.extend_from_slice(&w32(caplen));
        epb.extend_from_slice(&w32(u32_at(at + 12)));
        epb.extend_from_slice(&pcap[at + 16..at + 16 + caplen as usize]);
        block(&mut out, 6, &epb);
        at += 16 + caplen as usize;
        n += 1;
    }
    out
}

/// Little-endian microsecond pcaps whose times the rewrites can shift:
/// every record after 1970-01-01 00:16:40, fractions below a second.
fn small_pcaps() -> Vec<PathBuf> {
    let plain = |pcap: &[u8]| {
        let u32_at = |at: usize| u32::from_le_bytes(pcap[at..at + 4].try_into().unwrap());
        if pcap.get(..4) != Some(&[0xd4, 0xc3, 0xb2, 0xa1]) {
            return false;
        }
        let mut at = 24;
        while at + 16 <= pcap.len() {
            if u32_at(at) < 1000 || u32_at(at + 4) > 999_999 {
                return false;
            }
            at += 16 + u32_at(at + 8) as usize;
        }
        true
    };
    captures()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .filter(|p| plain(&std::fs::read(p).unwrap()))
        .collect()
}

#[test]
fn big_endian_nanosecond_and_pcapng_rewrites_read_as_libpcap_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for path in small_pcaps()
        .iter()
        .filter(|p| p.starts_with(testdata("ndpi")))
    {
        let original = std::fs::read(path).unwrap();
        let Ok((frames, None)) = ours_of_bytes(&original) else {
            continue;
        };
        let variants = [
            ("be.pcap", rewrite(&original, true, false)),
            ("ns.pcap", rewrite(&original, false, true)),
            ("be-ns.pcap", rewrite(&original, true, true)),
            ("le.pcapng", to_pcapng(&original, false, 1)),
            ("be.pcapng", to_pcapng(&original, true, 1)),
            ("two.pcapng", to_pcapng(&original, false, 2)),
        ];
        for (suffix, bytes) in variants {
            let file = dir.path().join(suffix);
            std::fs::write(&file, &bytes).unwrap();
            same_as_libpcap(&file);
            let (again, end) = ours_of_bytes(&bytes).unwrap();
            assert!(end.is_none(), "{}: {suffix}: {end:?}", path.display());
            // Microsecond times survive every rewrite (nanoseconds are cut).
            assert_eq!(again, frames, "{}: {suffix}", path.display());
        }
        checked += 1;
    }
    assert!(checked > 30, "{checked}");
}

#[test]
fn a_capture_cut_at_any_offset_yields_a_prefix_then_says_truncated() {
    for name in [LEGACY, "ndpi/pcap/dns.pcap", "ndpi/pcap/http.pcapng"] {
        let whole = std::fs::read(testdata(name)).unwrap();
        let (all, end) = ours_of_bytes(&whole).unwrap();
        assert!(end.is_none() && !all.is_empty());
        for cut in 0..whole.len() {
            let Ok((frames, end)) = ours_of_bytes(&whole[..cut]) else {
                continue; // cut inside the header: refused at open
            };
            assert!(frames.len() <= all.len());
            assert_eq!(frames[..], all[..frames.len()], "{name} cut at {cut}");
            if let Some(e) = end {
                assert!(
                    matches!(
                        &e,
                        CaptureError::ReadFile {
                            error: FileError::Truncated { .. },
                            ..
                        }
                    ),
                    "{name} cut at {cut}: {e}"
                );
                assert!(e.to_string().contains("truncated"));
            }
        }
    }
}

#[test]
fn a_huge_claimed_record_is_an_error_not_an_allocation() {
    let mut pcap = std::fs::read(testdata(LEGACY)).unwrap();
    pcap.truncate(24);
    pcap.extend_from_slice(&[0; 8]);
    pcap.extend_from_slice(&u32::MAX.to_le_bytes());
    pcap.extend_from_slice(&u32::MAX.to_le_bytes());
    let (frames, end) = ours_of_bytes(&pcap).unwrap();
    assert!(frames.is_empty());
    let e = end.unwrap();
    assert!(
        matches!(&e, CaptureError::ReadFile { error: FileError::TooLarge { limit, .. }, .. } if *limit == u64::from(MAX_PACKET)),
        "{e}"
    );

    let ng = to_pcapng(&std::fs::read(testdata(LEGACY)).unwrap(), false, 1);
    // The first packet block's length field (after SHB 28, IDB 44, NRB 52).
    let mut huge = ng[..28 + 44 + 52].to_vec();
    huge.extend_from_slice(&6u32.to_le_bytes());
    huge.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
    let (_, end) = ours_of_bytes(&huge).unwrap();
    assert!(matches!(
        end,
        Some(CaptureError::ReadFile {
            error: FileError::TooLarge { .. },
            ..
        })
    ));
    // A huge block that carries no packet is skipped: here it runs past the
    // end, a truncation.
    let mut skip = ng[..28 + 44 + 52].to_vec();
    skip.extend_from_slice(&5u32.to_le_bytes());
    skip.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
    let (_, end) = ours_of_bytes(&skip).unwrap();
    assert!(matches!(
        end,
        Some(CaptureError::ReadFile {
            error: FileError::Truncated { .. },
            ..
        })
    ));
}

#[test]
fn garbage_is_not_a_capture_file() {
    for bytes in [
        &b""[..],
        b"ab",
        b"this is not a capture file at all",
        &[0xd4, 0xc3, 0xb2],
    ] {
        let e = FileSource::from_reader(Box::new(Cursor::new(bytes.to_vec())), "g").unwrap_err();
        assert!(
            matches!(
                &e,
                CaptureError::OpenFile {
                    source: FileError::NotCapture { .. },
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("not a pcap or pcapng file"), "{e}");
    }
    // A pcap magic and nothing else: a short header.
    let e = FileSource::from_reader(Box::new(Cursor::new(vec![0xd4, 0xc3, 0xb2, 0xa1, 2])), "g")
        .unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
}

#[test]
fn pcapng_interfaces_of_different_link_types_are_refused() {
    let mut ng = to_pcapng(&std::fs::read(testdata(LEGACY)).unwrap(), false, 2);
    // The second IDB (at 28 + 44) gets link type 101 (raw IP).
    ng[28 + 44 + 8..28 + 44 + 10].copy_from_slice(&101u16.to_le_bytes());
    let (frames, end) = ours_of_bytes(&ng).unwrap();
    assert!(frames.is_empty());
    let e = end.unwrap();
    assert!(e.to_string().contains("link type 101"), "{e}");
}

#[test]
fn an_unknown_link_type_is_named() {
    let mut pcap = std::fs::read(testdata(LEGACY)).unwrap();
    pcap.truncate(24);
    pcap[20..24].copy_from_slice(&189u32.to_le_bytes());
    let e = FileSource::from_reader(Box::new(Cursor::new(pcap)), "u").unwrap_err();
    assert!(matches!(e, CaptureError::LinkType(189)), "{e}");
}
