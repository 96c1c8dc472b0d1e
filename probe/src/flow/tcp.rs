//! TCP per-flow analysis: endpoint states (for conn_state), handshake RTT,
//! retransmissions, out-of-order segments, content gaps, zero windows.
//!
//! Sequence tracking per direction keeps the highest sequence end seen and up
//! to [`MAX_HOLES`] holes (ranges skipped by a jump forward). A segment that
//! ends at or before the highest end is out-of-order when it falls into a hole
//! (and fills it), else a retransmission. The peer acknowledging data that was
//! never seen is a content gap (Zeek's `G`). All comparisons are modulo 2^32
//! (RFC 9293 §3.4). Memory per flow is fixed.

use super::history::{CountLetter, EndpointState, History, SeqLetter};
use crate::decode::{TcpHeader, tcp_flags as f};

const MAX_HOLES: usize = 2;

/// `a` after `b` in sequence space.
fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// A range of sequence space skipped by a jump forward; empty when
/// `start == end` (no `Option`: a flow table holds four of these per flow).
#[derive(Clone, Copy, Debug, Default)]
struct Hole {
    start: u32,
    end: u32,
}

impl Hole {
    fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// One direction's sequence space and counters (counters saturate; they are
/// per flow, and a flow table holds one of these per direction).
#[derive(Clone, Debug, Default)]
pub struct TcpDir {
    pub state: EndpointState,
    /// Whether `max_end` holds a value.
    started: bool,
    /// One past the highest sequence number seen (data, SYN and FIN count).
    max_end: u32,
    holes: [Hole; MAX_HOLES],
    pub retransmissions: u32,
    pub out_of_order: u32,
    pub zero_windows: u32,
    pub gaps: u32,
    /// Saturates at 4 GiB, enough for a goodput estimate.
    pub retransmitted_bytes: u32,
}

/// TCP state of a flow; index 0 is the client (originator), 1 the server.
#[derive(Clone, Debug, Default)]
pub struct TcpFlow {
    pub dirs: [TcpDir; 2],
    /// Capture time of the last handshake step seen (the SYN, then the
    /// SYN+ACK), the start of the next RTT measurement.
    handshake_us: u64,
    pub rtt_server_us: u32,
    pub rtt_client_us: u32,
    saw_syn: bool,
    saw_syn_ack: bool,
    pub saw_fin_or_rst: bool,
}

/// Microseconds as a `u32` (71 minutes), saturating: plenty for a handshake.
fn us32(us: u64) -> u32 {
    u32::try_from(us).unwrap_or(u32::MAX)
}

impl TcpFlow {
    /// Updates the flow with one segment from the client (`from_client`) or the
    /// server carrying `payload_len` bytes, recording history letters.
    pub fn update(
        &mut self,
        from_client: bool,
        tcp: &TcpHeader,
        payload_len: u32,
        ts_us: u64,
        history: &mut History,
    ) {
        let flags = tcp.flags;
        let (syn, ack, fin, rst) = (
            flags & f::SYN != 0,
            flags & f::ACK != 0,
            flags & f::FIN != 0,
            flags & f::RST != 0,
        );
        let (me, peer) = if from_client { (0, 1) } else { (1, 0) };

        // History letters (Zeek's TCP_Analyzer order: flags, then payload).
        if syn && (fin || rst) {
            history.once(from_client, 'Q');
        } else if fin && rst {
            history.once(from_client, 'I');
        } else {
            if syn {
                history.seq(
                    from_client,
                    if ack { SeqLetter::H } else { SeqLetter::S },
                    tcp.seq,
                );
            }
            if fin {
                history.seq(from_client, SeqLetter::F, tcp.seq);
            }
            if rst {
                history.seq(from_client, SeqLetter::R, tcp.seq);
            }
        }
        if payload_len > 0 {
            history.once(from_client, 'D');
        } else if ack && !syn && !fin && !rst {
            history.once(from_client, 'A');
        }
        if tcp.window == 0 && !rst && !syn {
            self.dirs[me].zero_windows = self.dirs[me].zero_windows.saturating_add(1);
            history.count(from_client, CountLetter::W);
        }

        // Handshake RTTs: SYN -> SYN+ACK is the server side, SYN+ACK -> ACK the client side.
        if syn && !ack && from_client && !self.saw_syn {
            self.saw_syn = true;
            self.handshake_us = ts_us;
        } else if syn && ack && !from_client && !self.saw_syn_ack {
            if self.saw_syn {
                self.rtt_server_us = us32(ts_us.saturating_sub(self.handshake_us));
            }
            self.saw_syn_ack = true;
            self.handshake_us = ts_us;
        } else if ack && !syn && from_client && self.rtt_client_us == 0 && self.saw_syn_ack {
            self.rtt_client_us = us32(ts_us.saturating_sub(self.handshake_us)).max(1);
        }

        // Sequence analysis of this direction.
        let seg_len = payload_len + u32::from(syn) + u32::from(fin);
        if seg_len > 0 && !rst {
            let retransmitted = self.dirs[me].segment(tcp.seq, seg_len);
            if retransmitted && payload_len > 0 {
                let dir = &mut self.dirs[me];
                dir.retransmissions = dir.retransmissions.saturating_add(1);
                dir.retransmitted_bytes = dir.retransmitted_bytes.saturating_add(payload_len);
                history.count(from_client, CountLetter::T);
            }
        }
        // The peer's data acknowledged but never seen: a content gap.
        if ack && !rst && self.dirs[peer].acked_unseen(tcp.ack) {
            self.dirs[peer].gaps = self.dirs[peer].gaps.saturating_add(1);
            history.count(!from_client, CountLetter::G);
        }

        self.update_states(me, peer, syn, ack, fin, rst, payload_len);
    }

    #[allow(clippy::too_many_arguments, reason = "the flag bits of one segment")]
    fn update_states(
        &mut self,
        me: usize,
        peer: usize,
        syn: bool,
        ack: bool,
        fin: bool,
        rst: bool,
        len: u32,
    ) {
        use EndpointState::*;
        if rst {
            self.dirs[me].state = Reset;
            self.saw_fin_or_rst = true;
            return;
        }
        if fin {
            if self.dirs[me].state != Reset {
                self.dirs[me].state = Closed;
            }
            self.saw_fin_or_rst = true;
            return;
        }
        let peer_state = self.dirs[peer].state;
        let state = &mut self.dirs[me].state;
        match (*state, syn, ack) {
            (Inactive, true, false) => *state = SynSent,
            (Inactive | Partial, true, true) => *state = SynAckSent,
            (Inactive, false, _) if ack || len > 0 => *state = Partial,
            // Completing the handshake establishes both ends.
            (SynSent | SynAckSent, false, true)
                if matches!(peer_state, SynSent | SynAckSent | Established) =>
            {
                *state = Established;
                if matches!(peer_state, SynSent | SynAckSent) {
                    self.dirs[peer].state = Established;
                }
            }
            _ => {}
        }
    }

    /// Payload bytes sent once (retransmissions excluded), both directions.
    pub fn retransmitted_bytes(&self) -> u64 {
        self.dirs
            .iter()
            .map(|d| u64::from(d.retransmitted_bytes))
            .sum()
    }
}

impl TcpDir {
    /// Records a segment `[seq, seq + len)`; true when it repeats data already seen.
    fn segment(&mut self, seq: u32, len: u32) -> bool {
        let end = seq.wrapping_add(len);
        if !self.started {
            self.started = true;
            self.max_end = end;
            return false;
        }
        let max_end = self.max_end;
        if after(end, max_end) {
            if after(seq, max_end) {
                // A jump forward: remember the skipped range.
                self.add_hole(Hole {
                    start: max_end,
                    end: seq,
                });
            }
            self.max_end = end;
            return false;
        }
        // At or behind the front: filling a hole, or a retransmission.
        for hole in &mut self.holes {
            if !hole.is_empty() && !after(hole.start, seq) && after(hole.end, seq) {
                self.out_of_order = self.out_of_order.saturating_add(1);
                // What is left of the hole after this segment (maybe nothing).
                hole.start = if after(hole.end, end) { end } else { hole.end };
                return false;
            }
        }
        true
    }

    fn add_hole(&mut self, hole: Hole) {
        if let Some(slot) = self.holes.iter_mut().find(|h| h.is_empty()) {
            *slot = hole;
        } else {
            // Full: forget the oldest hole, it is the likeliest to be a real loss.
            self.holes.rotate_left(1);
            self.holes[MAX_HOLES - 1] = hole;
        }
    }

    /// The peer acknowledges `ack`: true (once per hole) when that covers
    /// bytes this direction never showed us.
    fn acked_unseen(&mut self, ack: u32) -> bool {
        if !self.started {
            return false;
        }
        if after(ack, self.max_end) {
            // Acknowledged beyond anything seen: data missed by the capture.
            self.max_end = ack;
            return true;
        }
        let mut gap = false;
        for hole in &mut self.holes {
            if !hole.is_empty() && after(ack, hole.start) {
                gap = true;
                *hole = Hole::default();
            }
        }
        gap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(flags: u8, seq: u32, ack: u32) -> TcpHeader {
        TcpHeader {
            flags,
            seq,
            ack,
            window: 1000,
        }
    }

    #[test]
    fn handshake_data_and_close_give_rtts_and_states() {
        let mut t = TcpFlow::default();
        let mut h = History::default();
        t.update(true, &seg(f::SYN, 100, 0), 0, 1_000, &mut h);
        t.update(false, &seg(f::SYN | f::ACK, 500, 101), 0, 1_300, &mut h);
        t.update(true, &seg(f::ACK, 101, 501), 0, 1_350, &mut h);
        assert_eq!((t.rtt_server_us, t.rtt_client_us), (300, 50));
        assert_eq!(t.dirs[0].state, EndpointState::Established);
        assert_eq!(t.dirs[1].state, EndpointState::Established);
        t.update(true, &seg(f::ACK | f::PSH, 101, 501), 10, 1_400, &mut h);
        t.update(true, &seg(f::ACK | f::PSH, 101, 501), 10, 1_500, &mut h);
        assert_eq!(t.dirs[0].retransmissions, 1);
        t.update(true, &seg(f::FIN | f::ACK, 111, 501), 0, 1_600, &mut h);
        t.update(false, &seg(f::FIN | f::ACK, 501, 112), 0, 1_700, &mut h);
        assert_eq!(h.as_str(), "ShADTFf");
        assert!(t.saw_fin_or_rst);
    }

    #[test]
    fn a_segment_filling_a_hole_is_out_of_order_not_a_retransmission() {
        let mut d = TcpDir::default();
        assert!(!d.segment(0, 10));
        assert!(!d.segment(20, 10)); // hole [10, 20)
        assert!(!d.segment(10, 10)); // fills it
        assert_eq!(d.out_of_order, 1);
        assert!(d.segment(10, 10)); // now a retransmission
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut d = TcpDir::default();
        assert!(!d.segment(u32::MAX - 5, 10));
        assert!(!d.segment(4, 10));
        assert!(d.segment(u32::MAX - 5, 10));
    }

    #[test]
    fn acknowledging_unseen_data_is_a_gap() {
        let mut t = TcpFlow::default();
        let mut h = History::default();
        t.update(true, &seg(f::ACK | f::PSH, 1000, 1), 100, 1, &mut h);
        t.update(false, &seg(f::ACK, 1, 5000), 0, 2, &mut h);
        assert_eq!(t.dirs[0].gaps, 1);
        assert_eq!(h.as_str(), "DaG");
    }
}
