//! The unix stream socket Suricata writes eve lines to (`filetype:
//! unix_stream`): the probe listens, Suricata connects. Non-blocking accept
//! and reads, polled; at most [`MAX_CONNECTIONS`] clients at once, each with
//! its own line splitter.

use std::io::{self, Read as _};
use std::os::unix::fs::FileTypeExt as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::{CHUNK, EveCounters, FollowSettings, Handler, Lines, MAX_CONNECTIONS, nap};
use crate::suricata::eve::EveEvent;

/// Listens on a unix stream socket at `path` (a stale socket there is
/// removed first; any other file there is an error) and reads eve lines from
/// every client until `stop` is set. The socket file is removed on return.
pub fn listen_socket(
    path: &Path,
    settings: &FollowSettings,
    stop: &AtomicBool,
    sink: &mut dyn FnMut(EveEvent) -> bool,
) -> io::Result<EveCounters> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    listener.set_nonblocking(true)?;
    tracing::info!(path = %path.display(), "listening for Suricata's eve stream");
    let mut handler = Handler::new(sink, settings.max_line);
    let mut clients: Vec<(UnixStream, Lines)> = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    let idle = settings.poll.min(Duration::from_millis(20));
    while !stop.load(Ordering::Relaxed) && !handler.done {
        let mut busy = false;
        match listener.accept() {
            Ok((stream, _)) => {
                busy = true;
                if clients.len() >= MAX_CONNECTIONS {
                    tracing::warn!(max = MAX_CONNECTIONS, "eve socket client refused: too many");
                } else if stream.set_nonblocking(true).is_ok() {
                    handler.counters.connections += 1;
                    tracing::info!(path = %path.display(), "Suricata connected");
                    clients.push((stream, Lines::new(settings.max_line)));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => tracing::warn!(error = %e, "eve socket accept failed"),
        }
        clients.retain_mut(|(stream, lines)| match stream.read(&mut buf) {
            Ok(0) => {
                handler.drop_partial(lines);
                tracing::info!("Suricata disconnected");
                false
            }
            Ok(n) => {
                busy = true;
                handler.feed(lines, buf.get(..n).unwrap_or_default());
                true
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                true
            }
            Err(e) => {
                tracing::warn!(error = %e, "eve socket read failed");
                handler.drop_partial(lines);
                false
            }
        });
        if !busy && !nap(idle, stop) {
            break;
        }
    }
    // Lines cut by the stop are lost: count them.
    for (_, lines) in &mut clients {
        handler.drop_partial(lines);
    }
    drop(listener);
    let _ = std::fs::remove_file(path);
    Ok(handler.counters)
}
