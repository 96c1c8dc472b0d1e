//! QUIC versions the classifier knows: which wire format a version uses
//! (IETF long header with protected Initial packets, or Google QUIC's
//! cleartext public header), how its Initial packets are protected (salt,
//! HKDF labels, long-header type of an Initial) and what its CRYPTO stream
//! carries (a TLS ClientHello or a gQUIC CHLO). Names are nDPI's (`V-1`,
//! `Draft-29`, `Q050`).

/// RFC 9001 §5.2.
const SALT_V1: [u8; 20] = [
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad,
    0xcc, 0xbb, 0x7f, 0x0a,
];
/// RFC 9369 §3.3.1.
const SALT_V2: [u8; 20] = [
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb,
    0xf9, 0xbd, 0x2e, 0xd9,
];
/// draft-ietf-quic-tls-29 §5.2 (drafts 29 to 32).
const SALT_DRAFT_29: [u8; 20] = [
    0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97, 0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0,
    0x43, 0x90, 0xa8, 0x99,
];
/// draft-ietf-quic-tls-23 §5.2 (drafts 23 to 28).
const SALT_DRAFT_23: [u8; 20] = [
    0xc3, 0xee, 0xf7, 0x12, 0xc7, 0x2e, 0xbb, 0x5a, 0x11, 0xa7, 0xd2, 0x43, 0x2b, 0xb4, 0x63, 0x65,
    0xbe, 0xf9, 0xf5, 0x02,
];
/// draft-ietf-quic-tls-22 §5.2 (Facebook's mvfst draft-22 builds).
const SALT_DRAFT_22: [u8; 20] = [
    0x7f, 0xbc, 0xdb, 0x0e, 0x7c, 0x66, 0xbb, 0xe9, 0x19, 0x3a, 0x96, 0xcd, 0x21, 0x51, 0x9e, 0xbd,
    0x7a, 0x02, 0x64, 0x4a,
];
/// Google QUIC Q050 (Chromium's `kQ050Salt`).
const SALT_Q050: [u8; 20] = [
    0x50, 0x45, 0x74, 0xef, 0xd0, 0x66, 0xfe, 0x2f, 0x9d, 0x94, 0x5c, 0xfc, 0xdb, 0xd3, 0xa7, 0xf0,
    0xd3, 0xb5, 0x6b, 0x45,
];
/// Google QUIC T050 (`kT050Salt`).
const SALT_T050: [u8; 20] = [
    0x7f, 0xf5, 0x79, 0xe5, 0xac, 0xd0, 0x72, 0x91, 0x55, 0x80, 0x30, 0x4c, 0x43, 0xa2, 0x36, 0x7c,
    0x60, 0x48, 0x83, 0x10,
];
/// Google QUIC T051 (`kT051Salt`).
const SALT_T051: [u8; 20] = [
    0x7a, 0x4e, 0xde, 0xf4, 0xe7, 0xcc, 0xee, 0x5f, 0xa4, 0x50, 0x6c, 0x19, 0x12, 0x4f, 0xc8, 0xcc,
    0xda, 0x6e, 0x03, 0x3d,
];

pub(super) const V1: u32 = 0x0000_0001;
pub(super) const V2: u32 = 0x6b33_43cf;
const Q046: u32 = 0x5130_3436;
const Q050: u32 = 0x5130_3530;
const T050: u32 = 0x5430_3530;
const T051: u32 = 0x5430_3531;
const MVFST_22: u32 = 0xface_b001;
const MVFST_27: u32 = 0xface_b002;
const MVFST_EXP: u32 = 0xface_b00e;

/// How the packets of a version carried in a long header look (gQUIC up
/// to Q043 uses a public header instead, see [`public_header_number`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Format {
    /// RFC 9000 §17.2 long header, Initial packets protected with keys
    /// derived from the client's Destination Connection ID (RFC 9001 §5).
    Protected(Protection),
    /// gQUIC Q046: a long header of fixed shape (connection ID lengths byte
    /// 0x50, one 8-byte connection ID), then the message hash and
    /// cleartext frames.
    Gquic46,
}

/// What a version's Initial packets need to be opened and read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Protection {
    pub(super) salt: &'static [u8; 20],
    /// RFC 9369 §3.3.2: v2 derives keys under "quicv2 key/iv/hp".
    pub(super) v2_labels: bool,
    /// The long-header packet type of an Initial (RFC 9000 §17.2: 0b00;
    /// RFC 9369 §3.2: 0b01).
    pub(super) initial_type: u8,
    /// Frames inside: IETF frames (RFC 9000 §19) or gQUIC frames (Q050,
    /// T05x: CRYPTO frames of type 0x08).
    pub(super) gquic_frames: bool,
    /// The CRYPTO stream carries a TLS ClientHello (IETF, T05x) rather than
    /// a gQUIC CHLO (Q050).
    pub(super) tls: bool,
}

const fn ietf(salt: &'static [u8; 20]) -> Format {
    Format::Protected(Protection {
        salt,
        v2_labels: false,
        initial_type: 0,
        gquic_frames: false,
        tls: true,
    })
}

const fn google(salt: &'static [u8; 20], tls: bool) -> Format {
    Format::Protected(Protection {
        salt,
        v2_labels: false,
        initial_type: 0,
        gquic_frames: true,
        tls,
    })
}

/// The format of a version carried in a long header (IETF versions, Q046
/// and later gQUIC), or `None` for a version we cannot read.
pub(super) fn long_header_format(version: u32) -> Option<Format> {
    let draft = version & 0xff;
    Some(match version {
        V1 => ietf(&SALT_V1),
        V2 => Format::Protected(Protection {
            salt: &SALT_V2,
            v2_labels: true,
            initial_type: 1,
            gquic_frames: false,
            tls: true,
        }),
        // IETF drafts 0xff0000NN (draft-ietf-quic-transport §15).
        _ if version & 0xffff_ff00 == 0xff00_0000 => match draft {
            29..=32 => ietf(&SALT_DRAFT_29),
            23..=28 => ietf(&SALT_DRAFT_23),
            _ => return None,
        },
        MVFST_22 => ietf(&SALT_DRAFT_22),
        MVFST_27 | MVFST_EXP => ietf(&SALT_DRAFT_23),
        Q046 => Format::Gquic46,
        Q050 => google(&SALT_Q050, false),
        T050 => google(&SALT_T050, true),
        T051 => google(&SALT_T051, true),
        _ => return None,
    })
}

/// A gQUIC version of the public-header era (`Q024` to `Q043`), whose
/// number is the three ASCII digits after the `Q`.
pub(super) fn public_header_number(version: u32) -> Option<u32> {
    let [q, a, b, c] = version.to_be_bytes();
    if q != b'Q' || !a.is_ascii_digit() || !b.is_ascii_digit() || !c.is_ascii_digit() {
        return None;
    }
    let n = u32::from(a - b'0') * 100 + u32::from(b - b'0') * 10 + u32::from(c - b'0');
    (24..=43).contains(&n).then_some(n)
}

/// nDPI's name of a version (`V-1`, `V-2`, `Draft-29`, `Q050`, `T051`,
/// `MVFST-27`).
pub(super) fn name(version: u32) -> String {
    match version {
        V1 => "V-1".to_owned(),
        V2 => "V-2".to_owned(),
        MVFST_22 => "MVFST-22".to_owned(),
        MVFST_27 => "MVFST-27".to_owned(),
        MVFST_EXP => "MVFST-EXP".to_owned(),
        _ if version & 0xffff_ff00 == 0xff00_0000 => format!("Draft-{}", version & 0xff),
        _ => {
            let bytes = version.to_be_bytes();
            if bytes.iter().all(u8::is_ascii_alphanumeric) {
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                format!("0x{version:08x}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_named_as_ndpi_names_them() {
        assert_eq!(name(V1), "V-1");
        assert_eq!(name(V2), "V-2");
        assert_eq!(name(0xff00_001d), "Draft-29");
        assert_eq!(name(Q050), "Q050");
        assert_eq!(name(0x5130_3335), "Q035");
        assert_eq!(name(0x0a1a_2a3a), "0x0a1a2a3a");
    }

    #[test]
    fn only_known_versions_have_a_format() {
        assert!(matches!(long_header_format(V1), Some(Format::Protected(_))));
        assert!(
            matches!(long_header_format(0xff00_001c), Some(Format::Protected(p)) if p.salt == &SALT_DRAFT_23)
        );
        assert_eq!(long_header_format(Q046), Some(Format::Gquic46));
        assert_eq!(long_header_format(0xff00_0010), None);
        assert_eq!(long_header_format(0x1234_5678), None);
        assert_eq!(long_header_format(0), None);
        assert_eq!(public_header_number(0x5130_3335), Some(35));
        assert_eq!(public_header_number(Q050), None);
        assert_eq!(public_header_number(0x5131_3335), None);
    }
}
