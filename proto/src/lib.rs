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

/// Limits both ends enforce; see proto/README.md.
pub mod limits {
    /// Largest encoded message either side accepts (gRPC max message size).
    pub const MAX_MESSAGE_BYTES: usize = 8 * 1024 * 1024;
    /// Most records in one `Batch`.
    pub const MAX_BATCH_RECORDS: usize = 16_384;
    /// Size at which a probe closes a batch (encoded, before compression).
    pub const DEFAULT_BATCH_BYTES: usize = 1024 * 1024;
}
