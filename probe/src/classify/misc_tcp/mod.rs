//! Small TCP protocols recognised from their first message, one file each:
//! RDP ([`rdp`]), MQTT ([`mqtt`]), Modbus/TCP ([`modbus`]), iSCSI
//! ([`iscsi`]) and WhatsApp's chat protocol ([`whatsapp`]).
//!
//! One classifier for the lot keeps the per-packet cost of probing low: each
//! sub-probe looks at a few bytes (and a port, where the protocol has no
//! strong magic of its own), and the first that matches reads the flow.

mod iscsi;
mod modbus;
mod mqtt;
mod rdp;
mod whatsapp;

use super::{Findings, Packet, Parse, Probe, Protocol, Transport};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Tcp];
/// Each sub-parser sets the flow's protocol itself.
pub(super) const PROTOCOL: Protocol = Protocol::Unknown;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Rdp,
    Mqtt,
    Modbus,
    Iscsi,
    WhatsApp,
}

const ALL: [Which; 5] = [
    Which::Rdp,
    Which::Mqtt,
    Which::WhatsApp,
    Which::Modbus,
    Which::Iscsi,
];

impl Which {
    fn probe(self, pkt: &Packet<'_>) -> Probe {
        match self {
            Which::Rdp => rdp::probe(pkt),
            Which::Mqtt => mqtt::probe(pkt),
            Which::Modbus => modbus::probe(pkt),
            Which::Iscsi => iscsi::probe(pkt),
            Which::WhatsApp => whatsapp::probe(pkt),
        }
    }

    fn parse(self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        match self {
            Which::Rdp => rdp::parse(pkt, out),
            Which::Mqtt => mqtt::parse(pkt, out),
            Which::Modbus => modbus::parse(pkt, out),
            Which::Iscsi => iscsi::parse(pkt, out),
            Which::WhatsApp => whatsapp::parse(pkt, out),
        }
    }
}

/// The first sub-protocol that matches, or whether any still might.
fn detect(pkt: &Packet<'_>) -> (Probe, Option<Which>) {
    let mut verdict = Probe::NoMatch;
    for which in ALL {
        match which.probe(pkt) {
            Probe::Match => return (Probe::Match, Some(which)),
            Probe::Unsure => verdict = Probe::Unsure,
            Probe::NoMatch => {}
        }
    }
    (verdict, None)
}

pub(super) fn probe(pkt: &Packet<'_>) -> Probe {
    detect(pkt).0
}

#[derive(Debug, Default)]
pub(super) struct Parser {
    which: Option<Which>,
}

impl Parser {
    pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
        let which = match self.which {
            Some(w) => w,
            None => match detect(pkt) {
                (_, Some(w)) => *self.which.insert(w),
                _ => return Parse::Invalid,
            },
        };
        which.parse(pkt, out)
    }
}

#[cfg(test)]
pub(super) mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::super::testing::payloads;
    use super::super::{Kind, Probe};

    /// Payloads of other protocols, each probed as sent to `port` by the
    /// client and by the server: none may be claimed.
    pub(crate) fn assert_not_claimed(probe: fn(&super::Packet<'_>) -> Probe, port: u16) {
        for name in [
            "http.pcapng",
            "443-chrome.pcap",
            "dns.pcap",
            "smbv1.pcap",
            "ssh.pcap",
            "kerberos.pcap",
            "smtp.pcap",
            "irc.pcap",
        ] {
            for p in payloads(name) {
                let mut on_port = p.clone();
                on_port.dst_port = port;
                for from_client in [true, false] {
                    let v = probe(&on_port.view(from_client));
                    assert_ne!(v, Probe::Match, "{name}: {:?}", p.payload.get(..16));
                }
            }
        }
    }

    #[test]
    fn the_family_claims_none_of_the_common_protocols() {
        for port in [502, 3260, 1883, 3389, 443, 5222] {
            assert_not_claimed(|p| Kind::MiscTcp.probe_for_test(p), port);
        }
    }
}
