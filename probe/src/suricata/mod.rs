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

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::alert::config::SuricataConfig;

/// Events waiting between the follower thread and the alert engine; a full
/// queue pauses the reader (Suricata's file simply grows meanwhile).
const QUEUE_EVENTS: usize = 16_384;

/// Starts the thread that reads Suricata's events as `config` says: the
/// followed eve file or the unix socket; `None` when neither is set (or the
/// thread cannot start, which is logged). The thread ends when `stop` is set
/// or the receiver is dropped.
pub fn spawn_follower(
    config: &SuricataConfig,
    stop: &Arc<AtomicBool>,
) -> Option<(JoinHandle<()>, mpsc::Receiver<EveEvent>)> {
    let settings = FollowSettings::from_config(config);
    let (tx, rx) = mpsc::sync_channel(QUEUE_EVENTS);
    let stop = Arc::clone(stop);
    let spawned = if let Some(path) = config.eve.clone() {
        std::thread::Builder::new()
            .name("eve-file".into())
            .spawn(move || {
                let mut sink = channel_sink(tx);
                let counters = follow_file(&path, &settings, &stop, &mut sink);
                tracing::info!(path = %path.display(), lines = counters.lines,
                    events = counters.events, malformed = counters.malformed_total(),
                    oversize = counters.oversize, "Stopped following the eve file.");
            })
    } else if let Some(path) = config.socket.clone() {
        std::thread::Builder::new()
            .name("eve-socket".into())
            .spawn(move || {
                let mut sink = channel_sink(tx);
                match listen_socket(&path, &settings, &stop, &mut sink) {
                    Ok(c) => tracing::info!(path = %path.display(), lines = c.lines,
                        events = c.events, malformed = c.malformed_total(),
                        "Stopped listening for Suricata."),
                    Err(e) => tracing::error!(path = %path.display(), error = %e,
                        "Cannot listen for Suricata's events: no Suricata alerts will be correlated."),
                }
            })
    } else {
        return None;
    };
    match spawned {
        Ok(handle) => Some((handle, rx)),
        Err(e) => {
            tracing::error!(error = %e, "Cannot start the eve reader thread.");
            None
        }
    }
}
