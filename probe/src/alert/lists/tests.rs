#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed test"
)]

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn invalid_lines_are_counted_and_reported_with_their_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "bad.txt",
        "# a comment\n\n10.1.2.3\nnot a domain!\n192.0.2.0/24 # inline comment\n300.1.1.1\nevil.example\n10.0.0.0/33\n",
    );
    let (lists, report) = Blacklists::load(std::slice::from_ref(&path));
    assert_eq!(report.files.len(), 1);
    let f = &report.files[0];
    assert_eq!(f.entries, 3);
    assert_eq!(f.invalid_lines, 3);
    let lines: Vec<u64> = f.invalid.iter().map(|l| l.line).collect();
    assert_eq!(lines, vec![4, 6, 8]);
    assert_eq!(f.invalid[0].text, "not a domain!");
    assert!(f.error.is_none());
    assert_eq!(report.invalid_lines(), 3);
    assert_eq!(lists.ip(ip("192.0.2.77")), Some("bad.txt"));
    assert_eq!(lists.ip(ip("10.1.2.3")), Some("bad.txt"));
    assert_eq!(lists.ip(ip("10.1.2.4")), None);
}

#[test]
fn ipv4_ipv6_cidr_and_domains_match_and_neighbours_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "mixed.txt",
        "198.51.100.7\n203.0.113.128/25\n2001:db8::/32\n2001:db9::1\nBad.Example.COM.\n*.tracker.test\n",
    );
    let (lists, _) = Blacklists::load(&[path]);
    assert!(lists.ip(ip("198.51.100.7")).is_some());
    assert!(lists.ip(ip("198.51.100.8")).is_none());
    assert!(lists.ip(ip("203.0.113.128")).is_some());
    assert!(lists.ip(ip("203.0.113.255")).is_some());
    assert!(lists.ip(ip("203.0.113.127")).is_none());
    assert!(lists.ip(ip("2001:db8:ffff::1")).is_some());
    assert!(lists.ip(ip("2001:db9::1")).is_some());
    assert!(lists.ip(ip("2001:db9::2")).is_none());
    // An IPv4-mapped IPv6 address is the IPv4 address.
    assert!(lists.ip(ip("::ffff:198.51.100.7")).is_some());
    // Exact, subdomain, case and trailing dot; not a mere suffix.
    assert_eq!(
        lists.domain("bad.example.com"),
        Some(("mixed.txt", "bad.example.com"))
    );
    assert_eq!(
        lists.domain("x.y.BAD.example.com."),
        Some(("mixed.txt", "bad.example.com"))
    );
    assert!(lists.domain("notbad.example.com").is_none());
    assert!(lists.domain("example.com").is_none());
    assert!(lists.domain("tracker.test").is_some());
    assert!(lists.domain("a.tracker.test").is_some());
    assert!(lists.domain("").is_none());
}

#[test]
fn overlapping_and_adjacent_ranges_merge() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        &dir,
        "ranges.txt",
        "10.0.0.0/24\n10.0.1.0/24\n10.0.0.128/25\n255.255.255.255\n0.0.0.0/32\n",
    );
    let (lists, report) = Blacklists::load(&[path]);
    assert_eq!(
        report.files[0].entries, 3,
        "two /24s and a /25 become one range"
    );
    assert!(lists.ip(ip("10.0.1.255")).is_some());
    assert!(lists.ip(ip("10.0.2.0")).is_none());
    assert!(lists.ip(ip("255.255.255.255")).is_some());
    assert!(lists.ip(ip("0.0.0.0")).is_some());
    assert!(lists.ip(ip("0.0.0.1")).is_none());
}

#[test]
fn a_changed_file_is_reloaded_and_an_unchanged_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "list.txt", "192.0.2.1\n");
    let (mut lists, _) = Blacklists::load(std::slice::from_ref(&path));
    assert!(lists.reload_if_changed().is_none());
    assert!(lists.ip(ip("192.0.2.1")).is_some());
    // A different size is a change even within the same mtime second.
    std::fs::write(&path, "192.0.2.2\nevil.test\n").unwrap();
    let report = lists.reload_if_changed().expect("the file changed");
    assert_eq!(report.files[0].entries, 2);
    assert!(lists.ip(ip("192.0.2.1")).is_none());
    assert!(lists.ip(ip("192.0.2.2")).is_some());
    assert!(lists.domain("www.evil.test").is_some());
    assert!(lists.reload_if_changed().is_none());
}

#[test]
fn a_vanished_file_keeps_its_last_good_list_and_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir, "gone.txt", "192.0.2.1\n");
    let (mut lists, _) = Blacklists::load(std::slice::from_ref(&path));
    std::fs::remove_file(&path).unwrap();
    let report = lists.reload_if_changed().expect("the failure is reported");
    assert_eq!(report.errors(), 1);
    assert_eq!(report.files[0].entries, 1);
    assert!(lists.ip(ip("192.0.2.1")).is_some(), "last good list kept");
    assert!(lists.reload_if_changed().is_none(), "reported once");
    // It comes back: loaded again.
    std::fs::write(&path, "192.0.2.9\n").unwrap();
    let report = lists.reload_if_changed().expect("reloaded");
    assert_eq!(report.errors(), 0);
    assert!(lists.ip(ip("192.0.2.9")).is_some());
    assert!(lists.ip(ip("192.0.2.1")).is_none());
}

#[test]
fn a_missing_file_at_start_is_reported_and_loaded_when_it_appears() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("later.txt");
    let (mut lists, report) = Blacklists::load(std::slice::from_ref(&path));
    assert_eq!(report.errors(), 1);
    assert!(lists.is_empty());
    assert!(lists.reload_if_changed().is_none());
    std::fs::write(&path, "later.test\n").unwrap();
    assert!(lists.reload_if_changed().is_some());
    assert!(lists.domain("later.test").is_some());
}

#[test]
fn a_list_of_100k_entries_loads_and_answers_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.txt");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    // 100,000 scattered single addresses, every other /32 of 10.0.0.0/13,
    // plus 20,000 domains.
    for i in 0..100_000u32 {
        writeln!(f, "{}", Ipv4Addr::from(0x0a00_0000 + i * 2)).unwrap();
    }
    for i in 0..20_000u32 {
        writeln!(f, "host{i}.bad.test").unwrap();
    }
    drop(f);
    let started = std::time::Instant::now();
    let (lists, report) = Blacklists::load(&[path]);
    let load = started.elapsed();
    assert_eq!(report.files[0].entries, 120_000);
    assert_eq!(report.files[0].invalid_lines, 0);
    let started = std::time::Instant::now();
    let mut hits = 0;
    for i in 0..200_000u32 {
        if lists
            .ip(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
            .is_some()
        {
            hits += 1;
        }
    }
    let lookups = started.elapsed();
    assert_eq!(hits, 100_000, "even offsets only");
    assert!(lists.domain("host19999.bad.test").is_some());
    assert!(lists.domain("www.host5.bad.test").is_some());
    assert!(lists.domain("host20000.bad.test").is_none());
    eprintln!("100k-entry list: load {load:?}, 200,000 lookups {lookups:?}");
}

#[test]
fn domains_are_normalized_and_junk_is_refused() {
    assert_eq!(
        normalize_domain("WWW.Example.com."),
        Some("www.example.com".into())
    );
    assert_eq!(
        normalize_domain("*.example.com"),
        Some("example.com".into())
    );
    assert_eq!(normalize_domain("1.2.3.4"), None);
    assert_eq!(normalize_domain("a..b"), None);
    assert_eq!(normalize_domain("has space.com"), None);
    assert_eq!(normalize_domain(&"a".repeat(64)), None);
    assert_eq!(normalize_domain(&format!("{}.com", "a.".repeat(130))), None);
}

#[test]
fn an_overlong_line_is_invalid_and_the_next_line_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    let long = "a".repeat(5_000);
    let path = write(&dir, "long.txt", &format!("{long}\n192.0.2.1\nlast.test"));
    let (lists, report) = Blacklists::load(&[path]);
    let f = &report.files[0];
    assert_eq!(f.invalid_lines, 1);
    assert_eq!(f.invalid[0].line, 1);
    assert_eq!(f.invalid[0].text.len(), 80);
    assert_eq!(f.entries, 2);
    assert!(lists.ip(ip("192.0.2.1")).is_some());
    assert!(
        lists.domain("last.test").is_some(),
        "a last line without newline counts"
    );
}
