//! RFC 9001 Appendix A and RFC 9369 Appendix A sample packets: the keys,
//! the header protection mask and the protected client Initial.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

use super::super::version::{self, Format, Protection};
use super::*;

/// RFC 9001 §A.2: the protected client Initial (1200 bytes).
pub(in super::super) const RFC9001_CLIENT_INITIAL: &[u8] =
    include_bytes!("testdata/rfc9001_a2_client_initial.bin");
/// RFC 9369 §A.2: the same ClientHello in a QUIC v2 Initial.
pub(in super::super) const RFC9369_CLIENT_INITIAL: &[u8] =
    include_bytes!("testdata/rfc9369_a2_client_initial.bin");
/// The Destination Connection ID of both appendices.
const DCID: [u8; 8] = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn protection(v: u32) -> Protection {
    match version::long_header_format(v) {
        Some(Format::Protected(p)) => p,
        other => panic!("no protection for {v:#x}: {other:?}"),
    }
}

#[test]
fn client_initial_keys_match_rfc_9001_appendix_a1() {
    let p = protection(version::V1);
    let secret = client_initial_secret(p.salt, &DCID).unwrap();
    assert_eq!(
        hex(&secret),
        "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea"
    );
    let (key, iv, hp) = key_material(&secret, false).unwrap();
    assert_eq!(hex(&key), "1f369613dd76d5467730efcbe3b1a22d");
    assert_eq!(hex(&iv), "fa044b2f42a3fd3b46fb255c");
    assert_eq!(hex(&hp), "9f50449e04a0e810283a1e9933adedd2");
}

#[test]
fn client_initial_keys_match_rfc_9369_appendix_a1() {
    let p = protection(version::V2);
    let secret = client_initial_secret(p.salt, &DCID).unwrap();
    assert_eq!(
        hex(&secret),
        "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b"
    );
    let (key, iv, hp) = key_material(&secret, true).unwrap();
    assert_eq!(hex(&key), "8b1a0bc121284290a29e0971b5cd045d");
    assert_eq!(hex(&iv), "91f73e2351d8fa91660e909f");
    assert_eq!(hex(&hp), "45b95e15235d6f45a6b19cbcb0294ba9");
}

#[test]
fn header_protection_masks_match_both_appendices() {
    let v1 = Keys::client(&protection(version::V1), &DCID).unwrap();
    let sample = RFC9001_CLIENT_INITIAL.get(22..38).unwrap();
    assert_eq!(hex(&v1.hp.new_mask(sample).unwrap()), "437b9aec36");
    let v2 = Keys::client(&protection(version::V2), &DCID).unwrap();
    let sample = RFC9369_CLIENT_INITIAL.get(22..38).unwrap();
    assert_eq!(hex(&v2.hp.new_mask(sample).unwrap()), "94a0c95e80");
}

/// The unprotected payload of §A.2 starts with this CRYPTO frame header and
/// ClientHello header (offset 0, 241 bytes; handshake type 1, 237 bytes).
const CRYPTO_FRAME_START: &str = "060040f1010000ed0303ebf8fa56f129";

fn open_sample(packet: &[u8], v: u32) -> Result<Vec<u8>> {
    let mut c = Cursor::new(packet);
    let p = protection(v);
    let long = long_packet(&mut c, p.initial_type)?;
    assert_eq!(long.version, v);
    assert_eq!(long.dcid, DCID);
    assert!(c.is_empty(), "one packet fills the datagram");
    Keys::client(&p, long.dcid)?.open(&long)
}

#[test]
fn the_rfc_9001_client_initial_decrypts_to_its_client_hello() {
    let plain = open_sample(RFC9001_CLIENT_INITIAL, version::V1).unwrap();
    assert_eq!(plain.len(), 1162);
    assert_eq!(hex(plain.get(..16).unwrap()), CRYPTO_FRAME_START);
    assert!(cursor_find(&plain, b"example.com"));
    // The rest is PADDING.
    assert!(plain.get(245..).unwrap().iter().all(|b| *b == 0));
}

#[test]
fn the_rfc_9369_client_initial_decrypts_to_the_same_client_hello() {
    let v2 = open_sample(RFC9369_CLIENT_INITIAL, version::V2).unwrap();
    let v1 = open_sample(RFC9001_CLIENT_INITIAL, version::V1).unwrap();
    assert_eq!(v1, v2);
}

fn cursor_find(hay: &[u8], needle: &[u8]) -> bool {
    crate::classify::cursor::find(hay, needle).is_some()
}

#[test]
fn a_corrupted_byte_or_the_wrong_version_fails_the_tag() {
    for at in [30, 600, 1199] {
        let mut bad = RFC9001_CLIENT_INITIAL.to_vec();
        *bad.get_mut(at).unwrap() ^= 0x01;
        assert_eq!(open_sample(&bad, version::V1), Err(Error::Malformed));
    }
    // v2 keys on a v1 packet (version field rewritten): the tag fails.
    let mut relabelled = RFC9001_CLIENT_INITIAL.to_vec();
    relabelled
        .get_mut(1..5)
        .unwrap()
        .copy_from_slice(&version::V2.to_be_bytes());
    let p = protection(version::V2);
    let long = long_packet(&mut Cursor::new(&relabelled), 0).unwrap();
    assert_eq!(
        Keys::client(&p, long.dcid).unwrap().open(&long),
        Err(Error::Malformed)
    );
}

#[test]
fn every_cut_of_the_sample_packet_fails_cleanly() {
    let p = protection(version::V1);
    let keys = Keys::client(&p, &DCID).unwrap();
    for len in 0..RFC9001_CLIENT_INITIAL.len() {
        let cut = RFC9001_CLIENT_INITIAL.get(..len).unwrap();
        let mut c = Cursor::new(cut);
        if let Ok(long) = long_packet(&mut c, 0) {
            assert!(keys.open(&long).is_err(), "cut at {len} decrypted");
        }
    }
}

#[test]
fn connection_ids_longer_than_20_bytes_are_malformed() {
    let mut pkt = vec![0xc0, 0, 0, 0, 1, 21];
    pkt.extend_from_slice(&[0u8; 21]);
    pkt.extend_from_slice(&[0, 0, 0]);
    assert_eq!(
        long_packet(&mut Cursor::new(&pkt), 0).map(|_| ()),
        Err(Error::Malformed)
    );
    assert!(Keys::client(&protection(version::V1), &[0u8; 21]).is_err());
}

/// Protects `frames` as a client Initial of `version` (test-only inverse of
/// [`Keys::open`]): header with `dcid`, no token, a 4-byte packet number;
/// keys derived from `key_dcid` (a client keeps its first DCID's keys when
/// the server gives it a new DCID, RFC 9001 §5.2).
pub(in super::super) fn seal_initial(
    version: u32,
    dcid: &[u8],
    key_dcid: &[u8],
    pn: u32,
    frames: &[u8],
) -> Vec<u8> {
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey};
    let p = protection(version);
    let secret = client_initial_secret(p.salt, key_dcid).unwrap();
    let (key, iv, hp) = key_material(&secret, p.v2_labels).unwrap();
    let mut packet = vec![0xc0 | (p.initial_type << 4) | 0x03];
    packet.extend_from_slice(&version.to_be_bytes());
    packet.push(dcid.len() as u8);
    packet.extend_from_slice(dcid);
    packet.extend_from_slice(&[0, 0]); // no SCID, no token
    let length = 4 + frames.len() + 16;
    packet.extend_from_slice(&(0x4000 | length as u16).to_be_bytes());
    let pn_offset = packet.len();
    packet.extend_from_slice(&pn.to_be_bytes());
    let mut nonce = iv;
    for (n, b) in nonce.iter_mut().rev().zip(pn.to_be_bytes().iter().rev()) {
        *n ^= b;
    }
    let aead = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &key).unwrap());
    let mut body = frames.to_vec();
    aead.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(&packet),
        &mut body,
    )
    .unwrap();
    packet.extend_from_slice(&body);
    let hp = HeaderProtectionKey::new(&AES_128, &hp).unwrap();
    let sample = packet.get(pn_offset + 4..pn_offset + 20).unwrap();
    let mask = hp.new_mask(sample).unwrap();
    *packet.first_mut().unwrap() ^= mask[0] & 0x0f;
    for (b, m) in packet.iter_mut().skip(pn_offset).zip(&mask[1..]) {
        *b ^= m;
    }
    packet
}

#[test]
fn a_sealed_packet_opens_to_its_frames() {
    let frames = [0x01u8; 40];
    let packet = seal_initial(version::V2, &DCID, &DCID, 7, &frames);
    let mut c = Cursor::new(&packet);
    let long = long_packet(&mut c, 1).unwrap();
    let keys = Keys::client(&protection(version::V2), &DCID).unwrap();
    assert_eq!(keys.open(&long).unwrap(), frames);
}
