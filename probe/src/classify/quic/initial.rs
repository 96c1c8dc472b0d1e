//! Opening QUIC Initial packets: the long header (RFC 9000 §17.2), the
//! client's Initial keys (RFC 9001 §5.2, with a version's own salt and
//! labels, RFC 9369 §3.3), header protection (RFC 9001 §5.4) and the
//! AEAD_AES_128_GCM payload (RFC 9001 §5.3).
//!
//! Anyone can derive Initial keys from the packet itself, so a passive
//! observer can read the ClientHello; the AEAD tag then proves the bytes
//! are a real Initial of that version, not a look-alike.

use ring::aead::quic::{AES_128, HeaderProtectionKey};
use ring::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hkdf;

use super::super::cursor::{Cursor, Error, Result};
use super::version::Protection;

/// RFC 9000 §17.2: connection IDs of version 1 are at most 20 bytes.
pub(super) const MAX_CID: usize = 20;
/// RFC 9001 §5.4.2: the header protection sample is 16 bytes, taken 4
/// bytes after the start of the Packet Number field.
const SAMPLE_LEN: usize = 16;
/// AEAD_AES_128_GCM's tag (RFC 5116 §5.1).
const TAG_LEN: usize = 16;

/// One long-header packet of a datagram, still protected.
#[derive(Clone, Copy, Debug)]
pub(super) struct LongPacket<'a> {
    pub(super) first: u8,
    pub(super) version: u32,
    pub(super) dcid: &'a [u8],
    /// The packet from its first byte to the end of its Length field
    /// (where the protected Packet Number starts).
    pub(super) head: &'a [u8],
    /// The Packet Number, the protected payload and its tag.
    pub(super) body: &'a [u8],
}

impl LongPacket<'_> {
    /// RFC 9000 §17.2: the Long Packet Type bits.
    pub(super) fn packet_type(&self) -> u8 {
        (self.first >> 4) & 0x03
    }
}

/// Reads the long-header packet at the front of `c` (RFC 9000 §17.2); the
/// cursor moves to the next coalesced packet (§12.2). `initial_type` tells
/// which packet type carries a Token field (an Initial's, §17.2.2).
pub(super) fn long_packet<'a>(c: &mut Cursor<'a>, initial_type: u8) -> Result<LongPacket<'a>> {
    let start = c.peek_rest();
    let first = c.u8()?;
    if first & 0x80 == 0 {
        return Err(Error::Malformed);
    }
    let version = c.u32()?;
    let dcid = c.vec_u8()?.rest();
    let scid_len = usize::from(c.u8()?);
    if dcid.len() > MAX_CID || scid_len > MAX_CID {
        return Err(Error::Malformed);
    }
    c.skip(scid_len)?;
    if (first >> 4) & 0x03 == initial_type {
        // §17.2.2: Token Length (i), Token (..).
        let token = c.varint()?;
        c.skip(usize::try_from(token).map_err(|_| Error::Malformed)?)?;
    } else if (first >> 4) & 0x03 == (initial_type + 3) & 0x03 {
        // Retry (§17.2.5): no Length field, it fills the datagram.
        let body = c.rest();
        let head = start
            .get(..start.len() - body.len())
            .ok_or(Error::Malformed)?;
        return Ok(LongPacket {
            first,
            version,
            dcid,
            head,
            body,
        });
    }
    let length = c.varint()?;
    let head_len = start.len() - c.remaining();
    let head = start.get(..head_len).ok_or(Error::Malformed)?;
    let body = c.take(usize::try_from(length).map_err(|_| Error::Malformed)?)?;
    Ok(LongPacket {
        first,
        version,
        dcid,
        head,
        body,
    })
}

/// The client's Initial packet protection keys of one connection.
pub(super) struct Keys {
    /// The Destination Connection ID they were derived from.
    dcid: [u8; MAX_CID],
    dcid_len: u8,
    aead: LessSafeKey,
    iv: [u8; 12],
    hp: HeaderProtectionKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys")
            .field("dcid", &self.dcid())
            .finish_non_exhaustive()
    }
}

/// RFC 8446 §7.1 HKDF-Expand-Label with an empty context, as RFC 9001 §5.1
/// uses it: `info` is `uint16 length, opaque label<7..255> = "tls13 " +
/// label, opaque context<0..255> = ""`.
fn expand_label(prk: &hkdf::Prk, label: &[u8], out: &mut [u8]) -> Result<()> {
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let len = u16::try_from(out.len()).map_err(|_| Error::Malformed)?;
    let label_len = u8::try_from(6 + label.len()).map_err(|_| Error::Malformed)?;
    let len_bytes = len.to_be_bytes();
    let info: [&[u8]; 5] = [&len_bytes, &[label_len], b"tls13 ", label, &[0]];
    prk.expand(&info, Len(out.len()))
        .and_then(|okm| okm.fill(out))
        .map_err(|_| Error::Malformed)
}

/// The client's Initial secret (RFC 9001 §5.2):
/// `HKDF-Expand-Label(HKDF-Extract(salt, dcid), "client in", "", 32)`.
pub(super) fn client_initial_secret(salt: &[u8], dcid: &[u8]) -> Result<[u8; 32]> {
    let initial = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(dcid);
    let mut secret = [0u8; 32];
    expand_label(&initial, b"client in", &mut secret)?;
    Ok(secret)
}

/// The raw key material of a client Initial secret: packet key, IV and
/// header protection key (RFC 9001 §5.1, labels of RFC 9369 §3.3.2 for v2).
pub(super) fn key_material(secret: &[u8; 32], v2: bool) -> Result<([u8; 16], [u8; 12], [u8; 16])> {
    let prk = hkdf::Prk::new_less_safe(hkdf::HKDF_SHA256, secret);
    let (key_label, iv_label, hp_label): (&[u8], &[u8], &[u8]) = if v2 {
        (b"quicv2 key", b"quicv2 iv", b"quicv2 hp")
    } else {
        (b"quic key", b"quic iv", b"quic hp")
    };
    let mut key = [0u8; 16];
    let mut iv = [0u8; 12];
    let mut hp = [0u8; 16];
    expand_label(&prk, key_label, &mut key)?;
    expand_label(&prk, iv_label, &mut iv)?;
    expand_label(&prk, hp_label, &mut hp)?;
    Ok((key, iv, hp))
}

impl Keys {
    /// Derives the client's Initial keys for `dcid` under `protection`.
    pub(super) fn client(protection: &Protection, dcid: &[u8]) -> Result<Self> {
        if dcid.len() > MAX_CID {
            return Err(Error::Malformed);
        }
        let secret = client_initial_secret(protection.salt, dcid)?;
        let (key, iv, hp) = key_material(&secret, protection.v2_labels)?;
        let aead = UnboundKey::new(&AES_128_GCM, &key).map_err(|_| Error::Malformed)?;
        let hp = HeaderProtectionKey::new(&AES_128, &hp).map_err(|_| Error::Malformed)?;
        let mut stored = [0u8; MAX_CID];
        stored
            .get_mut(..dcid.len())
            .ok_or(Error::Malformed)?
            .copy_from_slice(dcid);
        Ok(Self {
            dcid: stored,
            dcid_len: u8::try_from(dcid.len()).map_err(|_| Error::Malformed)?,
            aead: LessSafeKey::new(aead),
            iv,
            hp,
        })
    }

    pub(super) fn dcid(&self) -> &[u8] {
        self.dcid.get(..usize::from(self.dcid_len)).unwrap_or(&[])
    }

    /// Removes header protection (RFC 9001 §5.4.1) and opens the payload
    /// (§5.3): the plaintext frames, or `Malformed` when the tag does not
    /// verify (wrong keys, or not an Initial at all), `Truncated` when the
    /// packet is cut short.
    pub(super) fn open(&self, packet: &LongPacket<'_>) -> Result<Vec<u8>> {
        // §5.4.2: the sample starts 4 bytes into the Packet Number field.
        let sample = packet.body.get(4..4 + SAMPLE_LEN).ok_or(Error::Truncated)?;
        let mask = self.hp.new_mask(sample).map_err(|_| Error::Malformed)?;
        let [m0, m1, m2, m3, m4] = mask;
        // §5.4.1: a long header protects the low 4 bits of the first byte.
        let first = packet.first ^ (m0 & 0x0f);
        let pn_len = usize::from(first & 0x03) + 1;
        let mut pn_bytes = [0u8; 4];
        for ((out, byte), m) in pn_bytes
            .iter_mut()
            .zip(packet.body.iter().take(pn_len))
            .zip([m1, m2, m3, m4])
        {
            *out = byte ^ m;
        }
        if packet.body.len() < pn_len + TAG_LEN {
            return Err(Error::Truncated);
        }
        // The associated data is the unprotected header, Packet Number
        // included (§5.3).
        let mut aad = Vec::with_capacity(packet.head.len() + pn_len);
        aad.extend_from_slice(packet.head);
        if let Some(b) = aad.first_mut() {
            *b = first;
        }
        aad.extend_from_slice(pn_bytes.get(..pn_len).ok_or(Error::Malformed)?);
        // RFC 9000 §17.1: a client's first Initial packet numbers are small,
        // so the truncated number is the full one (no larger one seen yet).
        let pn = pn_bytes
            .iter()
            .take(pn_len)
            .fold(0u64, |n, b| (n << 8) | u64::from(*b));
        // §5.3: the nonce is the IV XORed with the packet number, left-padded.
        let mut nonce = self.iv;
        for (n, p) in nonce.iter_mut().rev().zip(pn.to_be_bytes().iter().rev()) {
            *n ^= p;
        }
        let mut payload = packet.body.get(pn_len..).ok_or(Error::Truncated)?.to_vec();
        let plain_len = self
            .aead
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&aad),
                &mut payload,
            )
            .map_err(|_| Error::Malformed)?
            .len();
        payload.truncate(plain_len);
        Ok(payload)
    }
}

#[cfg(test)]
#[path = "initial_tests.rs"]
pub(super) mod tests;
