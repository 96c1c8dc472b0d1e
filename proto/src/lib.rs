//! The sonde wire protocol: generated protobuf messages and the gRPC
//! `Collector` service (client and server), plus the limits both ends enforce.
//!
//! The rules of the protocol (sequence numbers, cumulative acknowledgements,
//! size limits, compatibility) are written down in `proto/README.md`; the
//! `.proto` files are in `proto/sonde/v1/`.

/// Version 1 of the protocol.
pub mod v1 {
    #![allow(
        clippy::all,
        missing_debug_implementations,
        unreachable_pub,
        reason = "generated code"
    )]
    tonic::include_proto!("sonde.v1");

    /// Revision of the protocol spoken by this build (`Hello.protocol_revision`).
    pub const PROTOCOL_REVISION: u32 = 1;
}

/// Serde helpers for the generated messages' `Serialize`: addresses as text,
/// enums by their protobuf name.
mod text {
    use serde::Serializer;

    /// 4 or 16 bytes as an IP address; anything else as an empty string.
    pub(crate) fn ip<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match crate::ip_from_bytes(bytes) {
            Some(ip) => s.collect_str(&ip),
            None => s.serialize_str(""),
        }
    }

    /// 6 bytes as `00:11:22:aa:bb:cc`; anything else as an empty string.
    pub(crate) fn mac<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match <[u8; 6]>::try_from(bytes) {
            Ok(m) => s.collect_str(&format_args!(
                "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
                m[0], m[1], m[2], m[3], m[4], m[5]
            )),
            Err(_) => s.serialize_str(""),
        }
    }

    /// An enum field (an `i32` on the wire) by its protobuf name, or the number
    /// when this build does not know it.
    pub(crate) fn enum_name<E, S>(value: &i32, s: S) -> Result<S::Ok, S::Error>
    where
        E: TryFrom<i32> + NamedEnum,
        S: Serializer,
    {
        match E::try_from(*value) {
            Ok(e) => s.serialize_str(e.name()),
            Err(_) => s.serialize_i32(*value),
        }
    }

    /// The generated `as_str_name`, as a trait.
    pub(crate) trait NamedEnum {
        fn name(&self) -> &'static str;
    }

    macro_rules! named {
        ($($t:ident),*) => {$(
            impl NamedEnum for crate::v1::$t {
                fn name(&self) -> &'static str { self.as_str_name() }
            }
        )*};
    }
    named!(
        EndReason,
        Severity,
        AlertSource,
        EntityKind,
        Lifecycle,
        NackCode
    );
}

/// An IP address from its wire form (4 or 16 bytes); `None` for any other length.
pub fn ip_from_bytes(bytes: &[u8]) -> Option<std::net::IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(std::net::IpAddr::from),
        _ => None,
    }
}

/// The wire form of an address: 4 bytes for IPv4, 16 for IPv6.
pub fn ip_to_bytes(ip: std::net::IpAddr) -> Vec<u8> {
    match ip {
        std::net::IpAddr::V4(a) => a.octets().to_vec(),
        std::net::IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// Limits both ends enforce; see proto/README.md.
pub mod limits {
    /// Largest encoded message either side accepts (gRPC max message size).
    pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
    /// Most records in one `Batch`.
    pub const MAX_BATCH_RECORDS: usize = 16_384;
    /// Size at which a probe closes a batch (encoded, before compression).
    pub const DEFAULT_BATCH_BYTES: usize = 1024 * 1024;
}
