//! Suricata's eve.json on the probe: [`eve`] parses a line into a typed
//! event, [`follow`] reads lines from a followed file, a unix socket or a
//! whole file, and [`correlate`] turns alert events into consolidated
//! `v1::Alert`s with the probe's flow context.

pub mod correlate;
pub mod eve;
mod flows;
pub mod follow;
mod group;

pub use correlate::{Correlator, CorrelatorCounters, CorrelatorSettings, so_severity};
pub use eve::{EveError, EveEvent, parse_line};
pub use follow::{
    EveCounters, FollowSettings, channel_sink, follow_file, listen_socket, read_file,
};
