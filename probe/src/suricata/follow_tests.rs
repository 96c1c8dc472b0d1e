#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed test"
)]

use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::*;

/// A real-format eve line (a Slips alert) told apart by its flow id.
fn line(n: u64) -> String {
    format!(
        r#"{{"timestamp":"2021-06-06T15:59:46.457984+0200","flow_id":{n},"event_type":"alert","src_ip":"78.36.196.213","src_port":51698,"dest_ip":"192.168.1.129","dest_port":445,"proto":"TCP","alert":{{"action":"allowed","gid":1,"signature_id":2403388,"rev":66418,"signature":"ET CINS Active Threat Intelligence Poor Reputation IP group 89","category":"Misc Attack","severity":2}},"host":"stratosphere.org"}}"#
    ) + "\n"
}

fn settings() -> FollowSettings {
    FollowSettings {
        max_line: 4096,
        poll: Duration::from_millis(20),
        from_start: true,
    }
}

/// A reader on its own thread; stopped and joined on drop, whatever happens.
struct Running {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<EveCounters>>,
    events: Receiver<EveEvent>,
}

impl Running {
    fn follow(path: &Path, settings: FollowSettings) -> Self {
        let path = path.to_owned();
        Self::spawn(move |stop, sink| follow_file(&path, &settings, &stop, sink))
    }

    fn listen(path: &Path) -> Self {
        let path = path.to_owned();
        Self::spawn(move |stop, sink| listen_socket(&path, &settings(), &stop, sink).unwrap())
    }

    fn spawn(
        run: impl FnOnce(Arc<AtomicBool>, &mut dyn FnMut(EveEvent) -> bool) -> EveCounters
        + Send
        + 'static,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, events) = sync_channel(64);
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || run(flag, &mut channel_sink(tx)));
        Self {
            stop,
            thread: Some(thread),
            events,
        }
    }

    /// The flow ids of the next `n` events (waiting up to 5 s).
    fn next(&self, n: usize) -> Vec<u64> {
        (0..n)
            .map(|_| {
                let e = self.events.recv_timeout(Duration::from_secs(5)).unwrap();
                e.flow_id.unwrap()
            })
            .collect()
    }

    /// Nothing more arrives within a few polls.
    fn quiet(&self) {
        assert!(
            self.events
                .recv_timeout(Duration::from_millis(150))
                .is_err()
        );
    }

    fn stop(mut self) -> EveCounters {
        self.halt().unwrap()
    }

    fn halt(&mut self) -> Option<EveCounters> {
        self.stop.store(true, Ordering::Relaxed);
        // Unblock a sink waiting on a full channel.
        while self.events.try_recv().is_ok() {}
        self.thread.take().map(|t| t.join().unwrap())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.halt();
    }
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

fn eve_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("eve.json")
}

#[test]
fn lines_are_split_at_newlines_keeping_partial_ones_and_skipping_long_ones() {
    let mut lines = Lines::new(5);
    let mut seen = Vec::new();
    let mut on = |l: Line<'_>| {
        seen.push(match l {
            Line::Complete(b) => String::from_utf8(b.to_vec()).unwrap(),
            Line::Oversize => "<oversize>".to_owned(),
        });
    };
    lines.feed(b"ab\ncd", &mut on);
    lines.feed(b"e\n12345\n123456\n", &mut on);
    lines.feed(b"1234", &mut on);
    lines.feed(b"56789", &mut on);
    lines.feed(b"0123\nok", &mut on);
    lines.feed(b"\n", &mut on);
    assert_eq!(
        seen,
        ["ab", "cde", "12345", "<oversize>", "<oversize>", "ok"]
    );
    // The skipped line was never buffered beyond the limit.
    assert!(lines.buf.capacity() <= 16);
}

#[test]
fn a_whole_file_is_read_once_with_bad_lines_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = eve_path(&dir);
    let long = format!("{{\"x\":\"{}\"}}\n", "a".repeat(10_000));
    let text = [
        line(1),
        "not json\n".to_owned(),
        long,
        "\n".to_owned(),
        line(2),
        line(3).trim_end().to_owned(),
    ]
    .concat();
    std::fs::write(&path, text).unwrap();
    let (events, counters) = read_file(&path, 4096).unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| e.flow_id.unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(
        (counters.lines, counters.events, counters.oversize),
        (5, 3, 1)
    );
    assert_eq!(counters.malformed, BTreeMap::from([("not_json", 1)]));
    assert!(read_file(&dir.path().join("missing"), 4096).is_err());
}

#[test]
fn a_followed_file_delivers_appended_lines_and_completes_partial_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = eve_path(&dir);
    append(&path, &line(1));
    let run = Running::follow(&path, settings());
    assert_eq!(run.next(1), [1]);
    append(&path, &line(2));
    let third = line(3);
    let (a, b) = third.split_at(40);
    append(&path, a);
    assert_eq!(run.next(1), [2]);
    run.quiet();
    append(&path, b);
    assert_eq!(run.next(1), [3]);
    // An oversize line is skipped up to its newline; the next one arrives.
    append(&path, &"x".repeat(10_000));
    append(&path, &"y".repeat(10_000));
    append(&path, &format!("\n{}", line(4)));
    assert_eq!(run.next(1), [4]);
    let c = run.stop();
    assert_eq!((c.events, c.oversize, c.malformed_total()), (4, 1, 0));
}

#[test]
fn an_existing_file_is_followed_from_its_end_unless_asked_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let path = eve_path(&dir);
    append(&path, &line(1));
    let run = Running::follow(
        &path,
        FollowSettings {
            from_start: false,
            ..settings()
        },
    );
    std::thread::sleep(Duration::from_millis(100));
    append(&path, &line(2));
    assert_eq!(run.next(1), [2]);
    assert_eq!(run.stop().events, 1);
    // Started while Suricata was writing a line: its rest is skipped, not
    // counted as malformed.
    let third = line(3);
    let (head, tail) = third.split_at(50);
    append(&path, head);
    let run = Running::follow(
        &path,
        FollowSettings {
            from_start: false,
            ..settings()
        },
    );
    std::thread::sleep(Duration::from_millis(100));
    append(&path, &[tail, &line(4)].concat());
    assert_eq!(run.next(1), [4]);
    let c = run.stop();
    assert_eq!(
        (c.lines, c.events, c.malformed_total(), c.oversize),
        (1, 1, 0, 0)
    );
}

#[test]
fn a_rotated_file_is_finished_and_the_new_one_read_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = eve_path(&dir);
    append(&path, &line(1));
    let run = Running::follow(&path, settings());
    assert_eq!(run.next(1), [1]);
    // Suricata wrote one more line, then logrotate renamed the file and
    // Suricata reopened a new one.
    append(&path, &line(2));
    std::fs::rename(&path, dir.path().join("eve.json.1")).unwrap();
    append(&path, &line(3));
    append(&path, &line(4));
    assert_eq!(run.next(3), [2, 3, 4]);
    let c = run.stop();
    assert_eq!((c.rotations, c.events), (1, 4));
}

#[test]
fn a_truncated_file_is_read_again_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = eve_path(&dir);
    append(&path, &line(1));
    append(&path, &line(2));
    let run = Running::follow(&path, settings());
    assert_eq!(run.next(2), [1, 2]);
    std::fs::write(&path, line(5)).unwrap();
    assert_eq!(run.next(1), [5]);
    let c = run.stop();
    assert_eq!((c.truncations, c.events), (1, 3));
}

#[test]
fn a_missing_file_is_waited_for_and_read_from_its_start_once_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = eve_path(&dir);
    let run = Running::follow(
        &path,
        FollowSettings {
            from_start: false,
            ..settings()
        },
    );
    std::thread::sleep(Duration::from_millis(100));
    run.quiet();
    append(&path, &[line(7), line(8)].concat());
    assert_eq!(run.next(2), [7, 8]);
    // Removed for a while (not rotated yet): nothing breaks.
    std::fs::remove_file(&path).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    append(&path, &line(9));
    assert_eq!(run.next(1), [9]);
    let c = run.stop();
    assert_eq!(c.events, 3);
    // Missing at start, then gone for a while: two warnings, not one per poll.
    assert_eq!(c.problems_logged, 2);
}

#[test]
fn an_unreadable_path_keeps_the_follower_retrying_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be.
    let run = Running::follow(dir.path(), settings());
    std::thread::sleep(Duration::from_millis(100));
    run.quiet();
    let started = Instant::now();
    let c = run.stop();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(c.lines, 0);
    assert_eq!(c.problems_logged, 1, "logged once, retried every poll");
}

#[test]
fn the_socket_listener_reads_lines_from_suricatas_connections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eve.sock");
    // A stale socket from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let run = Running::listen(&path);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut client = loop {
        match UnixStream::connect(&path) {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("connect: {e}"),
        }
    };
    client.write_all(line(1).as_bytes()).unwrap();
    let second = line(2);
    let (a, b) = second.split_at(30);
    client.write_all(a.as_bytes()).unwrap();
    client.flush().unwrap();
    assert_eq!(run.next(1), [1]);
    run.quiet();
    client.write_all(b.as_bytes()).unwrap();
    client.write_all(b"{garbage\n").unwrap();
    assert_eq!(run.next(1), [2]);
    // Suricata reconnects after a restart, leaving a cut line behind.
    client.write_all(b"{\"timestamp\"").unwrap();
    drop(client);
    let mut again = UnixStream::connect(&path).unwrap();
    again.write_all(line(3).as_bytes()).unwrap();
    assert_eq!(run.next(1), [3]);
    let c = run.stop();
    assert_eq!((c.connections, c.events), (2, 3));
    assert_eq!(
        c.malformed,
        BTreeMap::from([("not_json", 1), ("partial", 1)])
    );
    assert!(!path.exists(), "the socket file is removed on stop");
}

#[test]
fn the_socket_listener_refuses_to_replace_a_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("eve.json");
    std::fs::write(&path, "keep me").unwrap();
    let stop = AtomicBool::new(false);
    let e = listen_socket(&path, &settings(), &stop, &mut |_| true).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
}
