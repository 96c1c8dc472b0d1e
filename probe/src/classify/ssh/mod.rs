//! SSH (RFC 4253): a flow whose first payload is an identification string
//! (`SSH-2.0-OpenSSH_8.2p1`, §4.2), from either end.
//!
//! Each direction is read as a stream: its identification line, then its
//! first binary packet, which must be the KEXINIT (§7.1). Extracted:
//! - the client's and the server's software (`out.ssh()`);
//! - HASSH fingerprints (MD5 of the KEXINIT algorithm lists, as salesforce's
//!   HASSH and nDPI compute them) as `ssh.hassh_client` / `ssh.hassh_server`;
//! - nDPI's risks "SSH Obsolete Cli/Ser Vers/Cipher": protocol 1.x, software
//!   older than nDPI's thresholds, or an obsolete cipher offered.
//!
//! DPI ends once both KEXINITs are read (everything after is encrypted).

mod kexinit;

use super::cursor::Cursor;
use super::stream::{Stream, StreamError};
use super::{Findings, Packet, Parse, Probe, Protocol, Risk, Transport};
use kexinit::kex_init;

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Tcp];
pub(super) const PROTOCOL: Protocol = Protocol::Ssh;

/// Longest identification line, CR LF included (RFC 4253 §4.2).
const MAX_IDENT: usize = 255;
/// Largest KEXINIT buffered; RFC 4253 §6.1 lets packets reach 35000 bytes.
const MAX_PACKET: usize = 35_000;

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    let p = pkt.payload;
    if p.starts_with(b"SSH-") {
        Probe::Match
    } else if p.len() < 4 && b"SSH-".starts_with(p) {
        Probe::Unsure
    } else {
        Probe::NoMatch
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Ident,
    KexInit,
    Done,
}

#[derive(Debug)]
struct Side {
    stream: Stream,
    state: State,
    /// An obsolete version was seen; the risk is set once the KEXINIT is
    /// read, so that a "Found cipher" explanation can come with it.
    obsolete_version: bool,
}

impl Default for Side {
    fn default() -> Self {
        Self {
            stream: Stream::new(MAX_PACKET + 4),
            state: State::Ident,
            obsolete_version: false,
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Parser {
    sides: [Side; 2],
}

/// What reading a direction's bytes gave.
enum Step {
    More,
    Invalid,
}

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        let client = pkt.from_client;
        let Some(side) = self.sides.get_mut(pkt.dir()) else {
            return Parse::Skip;
        };
        if side.state != State::Done {
            let state = &mut side.state;
            let obsolete = &mut side.obsolete_version;
            let fed = side.stream.feed(pkt.tcp_seq, pkt.payload, |bytes| {
                read(state, obsolete, bytes, client, out)
            });
            match fed {
                Ok(Some(Step::Invalid)) => return Parse::Invalid,
                Ok(_) => {}
                Err(StreamError::Gap | StreamError::TooLong) => side.state = State::Done,
            }
            if side.state == State::Done && side.obsolete_version {
                side.obsolete_version = false;
                out.risk(obsolete_risk(client));
            }
        }
        if self.sides.iter().all(|s| s.state == State::Done) {
            Parse::Done
        } else {
            Parse::Incomplete
        }
    }
}

pub(super) fn obsolete_risk(client: bool) -> Risk {
    if client {
        Risk::SshObsoleteClient
    } else {
        Risk::SshObsoleteServer
    }
}

/// Reads what it can of one direction; returns how many bytes it consumed.
fn read(
    state: &mut State,
    obsolete: &mut bool,
    bytes: &[u8],
    client: bool,
    out: &mut Findings,
) -> (Step, usize) {
    let mut c = Cursor::new(bytes);
    if *state == State::Ident {
        let Some(line) = c.until(b"\n") else {
            // RFC 4253 §4.2: the line, CR LF included, is at most 255 bytes.
            let step = if bytes.len() >= MAX_IDENT {
                Step::Invalid
            } else {
                Step::More
            };
            return (step, 0);
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(ident) = Ident::parse(line) else {
            return (Step::Invalid, 0);
        };
        let software = super::findings::text(line);
        if client {
            out.ssh().client_software = software;
        } else {
            out.ssh().server_software = software;
        }
        *obsolete = ident.obsolete();
        *state = State::KexInit;
    }
    if *state == State::KexInit {
        // RFC 4253 §6: uint32 packet_length, byte padding_length, payload.
        let mut header = c;
        let (Ok(len), Ok(_pad), Ok(msg)) = (header.u32(), header.u8(), header.u8()) else {
            return (Step::More, bytes.len() - c.remaining());
        };
        let len = len as usize;
        if !(2..=MAX_PACKET).contains(&len) || msg != 20 {
            // Not a clear-text KEXINIT (§7.1 says it comes first): stop here.
            *state = State::Done;
            return (Step::More, bytes.len());
        }
        let Ok(mut packet) = c.sub(4 + len) else {
            return (Step::More, bytes.len() - c.remaining());
        };
        let _ = packet.skip(6);
        kex_init(packet, client, out);
        *state = State::Done;
    }
    (Step::More, bytes.len())
}

/// The identification string `SSH-protoversion-softwareversion SP comments`.
struct Ident<'a> {
    proto: &'a [u8],
    software: &'a [u8],
}

impl<'a> Ident<'a> {
    fn parse(line: &'a [u8]) -> Option<Self> {
        let rest = line.strip_prefix(b"SSH-")?;
        let dash = rest.iter().position(|&b| b == b'-')?;
        let proto = rest.get(..dash)?;
        let software = rest.get(dash + 1..)?;
        let valid_proto = !proto.is_empty()
            && proto.len() <= 8
            && proto.iter().all(|b| b.is_ascii_digit() || *b == b'.');
        let printable = line.iter().all(|b| (0x20..0x7f).contains(b));
        (valid_proto && printable).then_some(Self { proto, software })
    }

    /// Protocol 1.x, or software older than nDPI's thresholds.
    fn obsolete(&self) -> bool {
        if self.proto.starts_with(b"1.") {
            return true;
        }
        // nDPI (ssh.c): the oldest versions it does not flag.
        const CURRENT: [(&[u8], [u32; 3]); 5] = [
            (b"OpenSSH_", [7, 0, 0]),
            (b"APACHE-SSHD-", [2, 5, 1]),
            (b"FileZilla_", [3, 40, 0]),
            (b"paramiko_", [2, 4, 0]),
            (b"dropbear_", [2020, 0, 0]),
        ];
        CURRENT.iter().any(|(name, min)| {
            self.software
                .strip_prefix(*name)
                .and_then(version)
                .is_some_and(|v| v < *min)
        })
    }
}

/// `major.minor[.patch]` at the start of `s` (what follows is ignored).
fn version(s: &[u8]) -> Option<[u32; 3]> {
    let mut out = [0u32; 3];
    let mut parts = 0;
    for (i, part) in s.split(|&b| b == b'.').take(3).enumerate() {
        let digits = part.iter().take_while(|b| b.is_ascii_digit()).count();
        let n = std::str::from_utf8(part.get(..digits)?)
            .ok()?
            .parse()
            .ok()?;
        *out.get_mut(i)? = n;
        parts += 1;
        if digits < part.len() {
            break;
        }
    }
    (parts >= 2).then_some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::testing::{every_prefix, flows, l7_name, payloads};
    use super::super::{Kind, Parse, Probe};
    use super::*;

    fn port(f: &sonde_proto::v1::Flow) -> u32 {
        f.server.as_ref().map_or(0, |s| s.port)
    }

    fn risks(f: &sonde_proto::v1::Flow) -> Vec<&str> {
        f.risks.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn ssh_pcap_flows_are_ssh_with_software_hassh_and_risks() {
        let flows = flows("ssh.pcap");
        let a = flows.iter().find(|f| port(f) == 22).unwrap();
        assert_eq!(l7_name(a), "SSH");
        let l7 = a.l7.as_ref().unwrap();
        let ssh = l7.ssh.as_ref().unwrap();
        // nDPI labels the first line it sees "client" (here the server's).
        assert_eq!(ssh.client_software, "SSH-2.0-OpenSSH_5.6");
        assert_eq!(ssh.server_software, "SSH-2.0-OpenSSH_5.3");
        assert_eq!(
            l7.extra["ssh.hassh_client"],
            "21B457A327CE7A2D4FCE5EF2C42400BD".to_ascii_lowercase()
        );
        assert_eq!(
            l7.extra["ssh.hassh_server"],
            "B1C6C0D56317555B85C7005A3DE29325".to_ascii_lowercase()
        );
        let r = risks(a);
        assert!(r.contains(&"SSH Obsolete Cli Vers/Cipher"), "{r:?}");
        assert!(r.contains(&"SSH Obsolete Ser Vers/Cipher"), "{r:?}");
        let info: Vec<_> = a.risks.iter().map(|r| r.info.as_str()).collect();
        assert!(info.contains(&"Found cipher arcfour128"), "{info:?}");

        let b = flows.iter().find(|f| port(f) == 8000).unwrap();
        assert_eq!(l7_name(b), "SSH");
        let l7 = b.l7.as_ref().unwrap();
        let ssh = l7.ssh.as_ref().unwrap();
        assert_eq!(
            ssh.client_software,
            "SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.11"
        );
        assert_eq!(ssh.server_software, "SSH-2.0-APACHE-SSHD-2.5.0");
        assert_eq!(
            l7.extra["ssh.hassh_client"],
            "c11b200866cf918393e62ea25d851d90"
        );
        assert_eq!(
            l7.extra["ssh.hassh_server"],
            "ca6dd86b2d9a44e4a3f1a55c53e6b0fa"
        );
        let r = risks(b);
        assert!(r.contains(&"SSH Obsolete Ser Vers/Cipher"), "{r:?}");
        assert!(!r.contains(&"SSH Obsolete Cli Vers/Cipher"), "{r:?}");
    }

    #[test]
    fn a_kexinit_split_over_small_segments_is_reassembled() {
        let p = payloads("ssh.pcap");
        let client: Vec<_> = p.iter().filter(|p| p.dst_port == 8000).take(2).collect();
        let mut parser = Parser::default();
        let mut out = Findings::default();
        let mut seq = client[0].tcp_seq.unwrap();
        // The identification line, then the KEXINIT in 100-byte segments.
        let bytes: Vec<u8> = client.iter().flat_map(|p| p.payload.clone()).collect();
        for chunk in bytes.chunks(100) {
            let mut pkt = client[0].clone();
            pkt.payload = chunk.to_vec();
            pkt.tcp_seq = Some(seq);
            seq = seq.wrapping_add(chunk.len() as u32);
            assert_eq!(parser.parse(&pkt.view(true), &mut out), Parse::Incomplete);
        }
        assert_eq!(
            out.l7.extra["ssh.hassh_client"],
            "c11b200866cf918393e62ea25d851d90"
        );
    }

    #[test]
    fn versions_are_judged_like_ndpi() {
        let old = |s: &[u8]| Ident::parse(s).unwrap().obsolete();
        assert!(old(b"SSH-2.0-OpenSSH_5.3"));
        assert!(!old(b"SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.11"));
        assert!(!old(b"SSH-2.0-OpenSSH_7.0"));
        assert!(old(b"SSH-2.0-APACHE-SSHD-2.5.0"));
        assert!(old(b"SSH-1.5-Cisco-1.25"));
        assert!(old(b"SSH-2.0-dropbear_2019.78"));
        assert!(!old(b"SSH-2.0-libssh_0.9.6"));
        assert!(Ident::parse(b"SSH-x-y").is_none());
    }

    #[test]
    fn cut_payloads_never_panic_nor_claim_what_they_could_not_read() {
        for p in payloads("ssh.pcap").iter().take(6) {
            for (len, verdict) in every_prefix(Kind::Ssh, p, p.dst_port == 22)
                .iter()
                .enumerate()
            {
                let cut = p.payload.get(..len).unwrap();
                // A fresh parser reads one direction only: never Done.
                assert_ne!(*verdict, Parse::Done, "at {len} of {cut:?}");
            }
        }
    }

    #[test]
    fn other_protocols_are_not_claimed() {
        for name in ["http.pcapng", "443-chrome.pcap", "dns.pcap", "smbv1.pcap"] {
            for p in payloads(name) {
                assert_eq!(
                    Kind::Ssh.probe_for_test(&p.to_server()),
                    Probe::NoMatch,
                    "{name}"
                );
            }
        }
    }
}
