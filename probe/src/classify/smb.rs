//! SMB over TCP (445, or 139 behind a NetBIOS session, RFC 1002 §4.3), in
//! nDPI's names: master `NetBIOS`, sub-protocol `SMBv1` (`\xffSMB`, with
//! nDPI's "SMB Insecure Vers" risk) or `SMBv23` (`\xfeSMB`, or the SMB 3
//! transform and compression headers `\xfdSMB` / `\xfcSMB`).
//!
//! Each session message starts with a 4-byte header (type, 24-bit length);
//! SMB messages are type 0. A NetBIOS session request (type 0x81, port 139)
//! claims the flow as `NetBIOS` and names both ends; the SMB after it
//! decides the sub-protocol. Extracted: `smb.command` (the first command
//! seen), `smb.dialect` (from an SMB2 NEGOTIATE response, MS-SMB2
//! §2.2.4), `netbios.called_name` / `netbios.calling_name`.

use super::cursor::{Cursor, Error, Result};
use super::netbios::Name;
use super::{Findings, Packet, Parse, Probe, Protocol, Risk, Transport};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Tcp];
pub(super) const PROTOCOL: Protocol = Protocol::NetBios;

/// Packets read before giving up on seeing SMB after a session request, or
/// on an SMB2 NEGOTIATE response.
const MAX_PACKETS: u8 = 8;

const SESSION_MESSAGE: u8 = 0x00;
const SESSION_REQUEST: u8 = 0x81;

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    let p = pkt.payload;
    match p.first() {
        Some(&SESSION_MESSAGE) => match header(p) {
            Ok(_) => Probe::Match,
            Err(Error::Truncated) if p.len() < 8 => Probe::Unsure,
            Err(_) => Probe::NoMatch,
        },
        Some(&SESSION_REQUEST) if pkt.has_port(139) => match session_request(p) {
            Ok(_) => Probe::Match,
            Err(_) => Probe::NoMatch,
        },
        Some(_) => Probe::NoMatch,
        None => Probe::Unsure,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V2,
    /// Encrypted or compressed SMB 3.
    V3Transform,
}

/// The SMB header of a session message: its version and the SMB bytes.
fn header(p: &[u8]) -> Result<(Version, &[u8])> {
    let mut c = Cursor::new(p);
    if c.u8()? != SESSION_MESSAGE {
        return Err(Error::Malformed);
    }
    // 24-bit length (RFC 1002's 17 bits, extended by SMB over TCP).
    let len = c.u24()? as usize;
    let version = match c.array::<4>()? {
        [0xff, b'S', b'M', b'B'] => Version::V1,
        [0xfe, b'S', b'M', b'B'] => Version::V2,
        [0xfd | 0xfc, b'S', b'M', b'B'] => Version::V3Transform,
        _ => return Err(Error::Malformed),
    };
    // The fixed headers: 32 bytes (SMB1), 64 (SMB2), 52 (transform).
    if len < 32 {
        return Err(Error::Malformed);
    }
    Ok((version, p.get(4..).unwrap_or_default()))
}

/// A session request (RFC 1002 §4.3.2): called and calling names.
fn session_request(p: &[u8]) -> Result<(Name, Name)> {
    let mut c = Cursor::new(p);
    let _type = c.u8()?;
    if c.u8()? & 0xfe != 0 {
        return Err(Error::Malformed);
    }
    let len = usize::from(c.u16()?);
    let mut body = c.sub(len)?;
    Ok((Name::read(&mut body)?, Name::read(&mut body)?))
}

#[derive(Debug, Default)]
pub(super) struct Parser {
    packets: u8,
    /// The SMB version, once seen.
    version: Option<Version>,
    /// An SMB2 NEGOTIATE request was seen: wait for the response's dialect.
    negotiating: bool,
}

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        self.packets = self.packets.saturating_add(1);
        let p = pkt.payload;
        match p.first() {
            Some(&SESSION_MESSAGE) => match header(p) {
                Ok((version, smb)) => self.smb(version, smb, out),
                Err(_) if out.protocol != Protocol::Unknown => {}
                Err(_) => return Parse::Invalid,
            },
            Some(&SESSION_REQUEST) if out.protocol == Protocol::Unknown => {
                let Ok((called, calling)) = session_request(p) else {
                    return Parse::Invalid;
                };
                out.protocol = Protocol::NetBios;
                out.extra("netbios.called_name", called.text());
                out.extra("netbios.calling_name", calling.text());
            }
            // Session responses and keep-alives (§4.3), or the rest of a
            // message split over segments.
            _ if out.protocol != Protocol::Unknown => {}
            _ => return Parse::Invalid,
        }
        if self.version.is_some() && !self.negotiating {
            Parse::Done
        } else if self.packets >= MAX_PACKETS {
            Parse::Skip
        } else {
            Parse::Incomplete
        }
    }

    fn smb(&mut self, version: Version, smb: &[u8], out: &mut Findings) {
        out.protocol = Protocol::NetBios;
        if self.version.is_none() {
            self.version = Some(version);
            match version {
                Version::V1 => {
                    out.sub_protocol = Some(Protocol::SmbV1);
                    out.risk_with(Risk::SmbInsecureVersion, "Found SMBv1");
                    out.risk(Risk::UnsafeProtocol);
                }
                Version::V2 | Version::V3Transform => out.sub_protocol = Some(Protocol::SmbV23),
            }
        }
        let mut c = Cursor::new(smb);
        match version {
            // MS-CIFS §2.2.3.1: protocol (4), command (1).
            Version::V1 => {
                if let Ok(cmd) = c.skip(4).and_then(|()| c.u8()) {
                    out.extra("smb.command", smb1_command(cmd).as_bytes());
                }
            }
            Version::V2 => {
                if let Ok((command, response, body)) = smb2_header(c) {
                    out.extra("smb.command", smb2_command(command).as_bytes());
                    if command == 0 && !response {
                        self.negotiating = true;
                    } else if command == 0 {
                        // NEGOTIATE response (MS-SMB2 §2.2.4): StructureSize,
                        // SecurityMode, DialectRevision.
                        let mut b = body;
                        if let Ok(d) = b.skip(4).and_then(|()| b.u16_le()) {
                            out.extra("smb.dialect", dialect(d).as_bytes());
                        }
                        self.negotiating = false;
                    }
                }
            }
            Version::V3Transform => {}
        }
    }
}

/// MS-SMB2 §2.2.1: the command, whether it is a response, and the body.
fn smb2_header(mut c: Cursor<'_>) -> Result<(u16, bool, Cursor<'_>)> {
    let mut h = c.sub(64)?;
    h.skip(12)?;
    let command = h.u16_le()?;
    h.skip(2)?;
    let flags = h.u32_le()?;
    Ok((command, flags & 1 != 0, c))
}

fn smb2_command(cmd: u16) -> String {
    const NAMES: [&str; 19] = [
        "NEGOTIATE",
        "SESSION_SETUP",
        "LOGOFF",
        "TREE_CONNECT",
        "TREE_DISCONNECT",
        "CREATE",
        "CLOSE",
        "FLUSH",
        "READ",
        "WRITE",
        "LOCK",
        "IOCTL",
        "CANCEL",
        "ECHO",
        "QUERY_DIRECTORY",
        "CHANGE_NOTIFY",
        "QUERY_INFO",
        "SET_INFO",
        "OPLOCK_BREAK",
    ];
    NAMES
        .get(usize::from(cmd))
        .map_or_else(|| format!("0x{cmd:04x}"), |n| (*n).to_owned())
}

fn smb1_command(cmd: u8) -> String {
    let name = match cmd {
        0x04 => "CLOSE",
        0x25 => "TRANSACTION",
        0x2e => "READ_ANDX",
        0x2f => "WRITE_ANDX",
        0x32 => "TRANSACTION2",
        0x71 => "TREE_DISCONNECT",
        0x72 => "NEGOTIATE",
        0x73 => "SESSION_SETUP_ANDX",
        0x74 => "LOGOFF_ANDX",
        0x75 => "TREE_CONNECT_ANDX",
        0xa0 => "NT_TRANSACT",
        0xa2 => "NT_CREATE_ANDX",
        _ => return format!("0x{cmd:02x}"),
    };
    name.to_owned()
}

/// MS-SMB2 §2.2.4 DialectRevision.
fn dialect(d: u16) -> String {
    let name = match d {
        0x0202 => "2.0.2",
        0x0210 => "2.1",
        0x0300 => "3.0",
        0x0302 => "3.0.2",
        0x0311 => "3.1.1",
        0x02ff => "2.x",
        _ => return format!("0x{d:04x}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::testing::{every_prefix, flows, l7_name, payloads};
    use super::super::{Kind, Parse, Probe};
    use super::*;

    fn risks(f: &sonde_proto::v1::Flow) -> Vec<&str> {
        f.risks.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn smbv1_negotiation_is_netbios_smbv1_with_ndpi_risks() {
        let flows = flows("smbv1.pcap");
        assert_eq!(flows.len(), 1);
        let f = &flows[0];
        assert_eq!(l7_name(f), "NetBIOS.SMBv1");
        let r = risks(f);
        assert!(r.contains(&"SMB Insecure Vers"), "{r:?}");
        assert!(r.contains(&"Unsafe Protocol"), "{r:?}");
        assert_eq!(f.l7.as_ref().unwrap().extra["smb.command"], "NEGOTIATE");
    }

    #[test]
    fn smb2_file_deletion_is_netbios_smbv23() {
        let flows = flows("smb_deletefile.pcap");
        assert_eq!(flows.len(), 1);
        assert_eq!(l7_name(&flows[0]), "NetBIOS.SMBv23");
        assert!(!risks(&flows[0]).contains(&"SMB Insecure Vers"));
        assert_eq!(flows[0].l7.as_ref().unwrap().extra["smb.command"], "CREATE");
    }

    #[test]
    fn an_smb2_negotiation_gives_the_dialect() {
        let mut req = vec![0, 0, 0, 100, 0xfe, b'S', b'M', b'B', 64, 0];
        req.resize(4 + 64 + 36, 0);
        let mut resp = req.clone();
        resp[4 + 16] = 1; // SMB2_FLAGS_SERVER_TO_REDIR
        resp[4 + 64 + 4] = 0x11; // DialectRevision 0x0311
        resp[4 + 64 + 5] = 0x03;
        let pkt = |payload: &'static [u8], from_client| Packet {
            payload,
            from_client,
            transport: Transport::Tcp,
            client_port: 50_000,
            server_port: 445,
            tcp_seq: None,
            ts_us: 0,
            packet_no: 1,
        };
        let (req, resp): (&'static [u8], &'static [u8]) = (req.leak(), resp.leak());
        let mut parser = Parser::default();
        let mut f = Findings::default();
        assert_eq!(probe(&pkt(req, true)), Probe::Match);
        assert_eq!(parser.parse(&pkt(req, true), &mut f), Parse::Incomplete);
        assert_eq!(parser.parse(&pkt(resp, false), &mut f), Parse::Done);
        assert_eq!(f.l7.extra["smb.dialect"], "3.1.1");
        assert_eq!(f.sub_protocol, Some(Protocol::SmbV23));
    }

    #[test]
    fn a_session_request_on_139_names_both_ends_then_smb_decides() {
        // RFC 1002 §4.3.2: called "*SMBSERVER", calling "CLIENT".
        let encode = |name: &[u8]| {
            let mut padded = name.to_vec();
            padded.resize(16, b' ');
            let mut out = vec![32u8];
            for b in padded {
                out.extend_from_slice(&[b'A' + (b >> 4), b'A' + (b & 0xf)]);
            }
            out.push(0);
            out
        };
        let mut body = encode(b"*SMBSERVER");
        body.extend(encode(b"CLIENT"));
        let mut req = vec![0x81, 0, 0, body.len() as u8];
        req.extend(body);
        let mut smb = vec![0, 0, 0, 40, 0xff, b'S', b'M', b'B', 0x72];
        smb.resize(44, 0);
        let pkt = |payload: &'static [u8], from_client| Packet {
            payload,
            from_client,
            transport: Transport::Tcp,
            client_port: 50_000,
            server_port: 139,
            tcp_seq: None,
            ts_us: 0,
            packet_no: 1,
        };
        let (req, smb): (&'static [u8], &'static [u8]) = (req.leak(), smb.leak());
        assert_eq!(probe(&pkt(req, true)), Probe::Match);
        let mut parser = Parser::default();
        let mut f = Findings::default();
        assert_eq!(parser.parse(&pkt(req, true), &mut f), Parse::Incomplete);
        assert_eq!(f.protocol, Protocol::NetBios);
        assert_eq!(f.l7.extra["netbios.called_name"], "*SMBSERVER");
        assert_eq!(f.l7.extra["netbios.calling_name"], "CLIENT");
        // Positive session response, then the SMB negotiation.
        assert_eq!(
            parser.parse(&pkt(b"\x82\0\0\0", false), &mut f),
            Parse::Incomplete
        );
        assert_eq!(parser.parse(&pkt(smb, true), &mut f), Parse::Done);
        assert_eq!(f.sub_protocol, Some(Protocol::SmbV1));
        // Not on another port.
        let mut elsewhere = pkt(req, true);
        elsewhere.server_port = 4000;
        assert_eq!(probe(&elsewhere), Probe::NoMatch);
    }

    #[test]
    fn cut_messages_never_panic() {
        for name in ["smbv1.pcap", "smb_deletefile.pcap"] {
            for p in payloads(name).iter().take(4) {
                let v = every_prefix(Kind::Smb, p, p.dst_port == 445);
                // Shorter than session header and SMB magic: not claimed.
                assert!(v.iter().take(8).all(|v| *v == Parse::Invalid), "{v:?}");
            }
        }
    }

    #[test]
    fn other_protocols_are_not_claimed() {
        for name in [
            "http.pcapng",
            "443-chrome.pcap",
            "ssh.pcap",
            "rdp.pcap",
            "modbus.pcap",
        ] {
            for p in payloads(name) {
                let mut on_445 = p.clone();
                on_445.dst_port = 445;
                assert_eq!(
                    Kind::Smb.probe_for_test(&on_445.view(true)),
                    Probe::NoMatch,
                    "{name}"
                );
            }
        }
    }
}
