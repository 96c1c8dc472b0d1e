//! sonde-common: what the probe and the collector share.
//!
//! - [`config`]: TOML loading with every problem reported at once, human units,
//!   secrets from files or the environment;
//! - [`tls`]: rustls configurations for mutual TLS 1.3 and certificate identity;
//! - [`pki`]: generation of a CA and certificates (quick start, tests);
//! - [`community_id`]: Community ID v1 flow hashing;
//! - [`ecs`]: the Elastic Common Schema document for a flow record;
//! - [`telemetry`]: log set-up shared by both binaries.

pub mod community_id;
pub mod config;
pub mod ecs;
pub mod pki;
pub mod telemetry;
pub mod tls;
