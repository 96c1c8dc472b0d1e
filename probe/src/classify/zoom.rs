//! Placeholder: this classifier is being written (claims nothing yet).

use super::{Findings, Packet, Parse, Probe, Protocol, Transport};

pub(super) const TRANSPORTS: &[Transport] = &[Transport::Udp];
pub(super) const PROTOCOL: Protocol = Protocol::Zoom;

pub(super) fn probe(_pkt: &Packet<'_>) -> Probe {
    Probe::NoMatch
}

#[derive(Debug, Default)]
pub(super) struct Parser;

impl Parser {
    pub(super) fn parse(&mut self, _pkt: &Packet<'_>, _out: &mut Findings) -> Parse {
        Parse::Skip
    }
}
