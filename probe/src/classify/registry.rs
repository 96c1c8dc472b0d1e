//! The registry of classifiers: a closed enum generated from one list, so
//! adding a protocol is one module plus one line in [`classifiers!`]'s call.
//!
//! Each classifier module provides:
//! - `pub(super) const TRANSPORTS: &[Transport]`: where it can run;
//! - `pub(super) const PROTOCOL: Protocol`: what a flow it claims is, unless
//!   its parser sets `Findings::protocol` to something more precise;
//! - `pub(super) fn probe(pkt: &Packet<'_>) -> Probe`: cheap, stateless;
//! - `#[derive(Debug, Default)] pub(super) struct Parser` with
//!   `pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse`.
//!
//! Order matters only among classifiers that match the same packet: the first
//! in the list wins, so the specific come before the lenient (RTP last).

use super::{Findings, Packet, Parse, Probe, Protocol, Transport};

macro_rules! classifiers {
    ($($variant:ident => $module:ident,)*) => {
        /// One classifier.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub(crate) enum Kind {
            $($variant,)*
        }

        impl Kind {
            /// Every classifier, in probing order.
            pub(crate) const ALL: &'static [Kind] = &[$(Kind::$variant,)*];

            fn transports(self) -> &'static [Transport] {
                match self {
                    $(Kind::$variant => super::$module::TRANSPORTS,)*
                }
            }

            /// The classifier's name (its module), as fuzz targets call it.
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(Kind::$variant => stringify!($module),)*
                }
            }

            /// The protocol of a flow this classifier claims, by default.
            pub(crate) fn protocol(self) -> Protocol {
                match self {
                    $(Kind::$variant => super::$module::PROTOCOL,)*
                }
            }

            fn probe(self, pkt: &Packet<'_>) -> Probe {
                match self {
                    $(Kind::$variant => super::$module::probe(pkt),)*
                }
            }

            fn start(self) -> Parser {
                match self {
                    $(Kind::$variant => Parser::$variant(Box::default()),)*
                }
            }
        }

        // Test and fuzzing access: a classifier called directly, without the
        // candidates' selection.
        impl Kind {
            pub(crate) fn probe_for_test(self, pkt: &Packet<'_>) -> Probe {
                self.probe(pkt)
            }

            pub(super) fn start_for_test(self) -> Parser {
                self.start()
            }
        }

        /// The state of the parser that claimed a flow.
        #[derive(Debug)]
        pub(super) enum Parser {
            $($variant(Box<super::$module::Parser>),)*
        }

        impl Parser {
            pub(super) fn parse(&mut self, pkt: &Packet<'_>, out: &mut Findings) -> Parse {
                match self {
                    $(Parser::$variant(p) => p.parse(pkt, out),)*
                }
            }
        }
    };
}

classifiers! {
    Tls => tls,
    Quic => quic,
    Dns => dns,
    Http => http,
    Ssh => ssh,
    Smb => smb,
    NetBios => netbios,
    Kerberos => kerberos,
    Ldap => ldap,
    Mail => mail,
    TextTcp => text_tcp,
    MiscTcp => misc_tcp,
    Dhcp => dhcp,
    Sip => sip,
    Stun => stun,
    Dtls => dtls,
    Vpn => vpn,
    Zoom => zoom,
    BitTorrent => bittorrent,
    MiscUdp => misc_udp,
    Rtp => rtp,
}

const _: () = assert!(Kind::ALL.len() <= 64, "candidates are a u64 bitmap");

/// The classifiers still in the running for a flow.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Candidates(u64);

impl Candidates {
    pub(crate) fn for_transport(transport: Transport) -> Self {
        let mut bits = 0u64;
        for kind in Kind::ALL {
            if kind.transports().contains(&transport) {
                bits |= 1 << (*kind as u8);
            }
        }
        Self(bits)
    }

    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub(crate) fn remove(&mut self, kind: Kind) {
        self.0 &= !(1 << (kind as u8));
    }

    /// Probes every remaining candidate with `pkt`: the first to match gets a
    /// fresh parser; those that say no are dropped.
    pub(super) fn probe(&mut self, pkt: &Packet<'_>) -> Option<(Kind, Parser)> {
        let mut bits = self.0;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let Some(&kind) = Kind::ALL.get(i) else {
                break;
            };
            match kind.probe(pkt) {
                Probe::Match => return Some((kind, kind.start())),
                Probe::Unsure => {}
                Probe::NoMatch => self.remove(kind),
            }
        }
        None
    }
}
