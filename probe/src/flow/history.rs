//! Zeek's connection `history` string and `conn_state`, so sonde's flows read
//! like Zeek's conn.log in Security Onion (`connection.history`,
//! `connection.state`).
//!
//! History letters, upper case for the originator, lower case for the
//! responder (Zeek's conn.log documentation): `S` SYN without ACK, `H` SYN+ACK,
//! `A` pure ACK, `D` payload, `F` FIN, `R` RST, `G` content gap, `T`
//! retransmitted payload, `W` zero window, `I` FIN+RST, `Q` SYN with FIN or RST,
//! `^` the direction was flipped (the first packet was the responder's SYN+ACK).
//! `A`, `D`, `I`, `Q` are recorded once per direction; `S`, `H`, `F`, `R` again
//! when their sequence number changes; `G`, `T`, `W` after 1, 10, 100... events.

/// A TCP endpoint's state, as Zeek tracks it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EndpointState {
    #[default]
    Inactive,
    SynSent,
    SynAckSent,
    /// Seen mid-stream, without a handshake.
    Partial,
    Established,
    Closed,
    Reset,
}

impl EndpointState {
    /// Zeek's "inactive" for conn_state: never really took part.
    fn inactive(self) -> bool {
        matches!(self, EndpointState::Inactive | EndpointState::Partial)
    }
}

/// Letters with repetition rules, per direction. Compact: a flow table holds
/// one per flow.
#[derive(Clone, Copy, Debug, Default)]
struct DirMarks {
    /// `A`, `D`, `I`, `Q` already recorded.
    once: u8,
    /// Which `last_seq` entries hold a value (bit per [`SeqLetter`]).
    seq_set: u8,
    last_seq: [u32; 4],
    /// Saturating: the letter for the 100,000th event is never written.
    counts: [u16; 3],
}

const ONCE_A: u8 = 1;
const ONCE_D: u8 = 2;
const ONCE_I: u8 = 4;
const ONCE_Q: u8 = 8;

/// Letters whose repeats depend on the sequence number.
#[derive(Clone, Copy, Debug)]
pub enum SeqLetter {
    S = 0,
    H = 1,
    F = 2,
    R = 3,
}

/// Letters recorded after 1, 10, 100... events.
#[derive(Clone, Copy, Debug)]
pub enum CountLetter {
    G = 0,
    T = 1,
    W = 2,
}

/// Longest history kept, inline; Zeek's is unbounded but in practice short.
const MAX_HISTORY: usize = 22;

#[derive(Clone, Debug, Default)]
pub struct History {
    text: [u8; MAX_HISTORY],
    len: u8,
    marks: [DirMarks; 2],
}

impl History {
    /// Marks the direction as flipped (`^` leads the string).
    pub fn flipped(&mut self) {
        if self.len == 0 {
            self.push_byte(b'^');
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever pushed.
        let text = self.text.get(..usize::from(self.len)).unwrap_or_default();
        std::str::from_utf8(text).unwrap_or_default()
    }

    fn push_byte(&mut self, b: u8) {
        if let Some(slot) = self.text.get_mut(usize::from(self.len)) {
            *slot = b;
            self.len += 1;
        }
    }

    fn push(&mut self, from_client: bool, upper: u8) {
        self.push_byte(if from_client {
            upper
        } else {
            upper.to_ascii_lowercase()
        });
    }

    fn dir(from_client: bool) -> usize {
        usize::from(!from_client)
    }

    /// `A`, `D`, `I`, `Q`: once per direction.
    pub fn once(&mut self, from_client: bool, letter: char) {
        let bit = match letter {
            'A' => ONCE_A,
            'D' => ONCE_D,
            'I' => ONCE_I,
            'Q' => ONCE_Q,
            _ => return,
        };
        let marks = &mut self.marks[Self::dir(from_client)];
        if marks.once & bit == 0 {
            marks.once |= bit;
            self.push(from_client, letter as u8);
        }
    }

    /// `S`, `H`, `F`, `R`: again only for a new sequence number.
    pub fn seq(&mut self, from_client: bool, letter: SeqLetter, seq: u32) {
        let marks = &mut self.marks[Self::dir(from_client)];
        let i = letter as usize;
        let bit = 1u8 << i;
        if marks.seq_set & bit != 0 && marks.last_seq[i] == seq {
            return;
        }
        marks.seq_set |= bit;
        marks.last_seq[i] = seq;
        let c = match letter {
            SeqLetter::S => b'S',
            SeqLetter::H => b'H',
            SeqLetter::F => b'F',
            SeqLetter::R => b'R',
        };
        self.push(from_client, c);
    }

    /// `G`, `T`, `W`: at the 1st, 10th, 100th... event.
    pub fn count(&mut self, from_client: bool, letter: CountLetter) {
        let n = &mut self.marks[Self::dir(from_client)].counts[letter as usize];
        *n = n.saturating_add(1);
        let n = *n;
        if n == 1 || (n % 10 == 0 && is_power_of_ten(u32::from(n))) {
            let c = match letter {
                CountLetter::G => b'G',
                CountLetter::T => b'T',
                CountLetter::W => b'W',
            };
            self.push(from_client, c);
        }
    }
}

fn is_power_of_ten(mut n: u32) -> bool {
    while n >= 10 && n % 10 == 0 {
        n /= 10;
    }
    n == 1
}

/// What conn_state needs about a flow.
#[derive(Clone, Copy, Debug)]
pub(super) struct StateInput<'a> {
    pub(super) proto: u8,
    pub(super) client: EndpointState,
    pub(super) server: EndpointState,
    /// Whether each side ever sent a packet, and whether any side sent payload.
    pub(super) client_sent: bool,
    pub(super) server_sent: bool,
    pub(super) any_payload: bool,
    pub(super) history: &'a str,
}

/// Zeek's `conn_state` (base/protocols/conn/main.zeek).
pub(super) fn conn_state(i: &StateInput<'_>) -> &'static str {
    use EndpointState::*;
    match i.proto {
        crate::decode::proto::TCP => {
            let (os, rs) = (i.client, i.server);
            if rs == Reset {
                if matches!(os, SynSent | SynAckSent) || (os == Reset && !i.any_payload) {
                    "REJ"
                } else if os.inactive() {
                    "RSTRH"
                } else {
                    "RSTR"
                }
            } else if os == Reset {
                if rs.inactive() {
                    if syn_then_reset(i.history) {
                        "RSTOS0"
                    } else {
                        "OTH"
                    }
                } else {
                    "RSTO"
                }
            } else if rs == Closed && os == Closed {
                "SF"
            } else if os == Closed {
                if rs.inactive() { "SH" } else { "S2" }
            } else if rs == Closed {
                if os.inactive() { "SHR" } else { "S3" }
            } else if os == SynSent && rs == Inactive {
                "S0"
            } else if os == Established && rs == Established {
                "S1"
            } else {
                "OTH"
            }
        }
        crate::decode::proto::UDP => match (i.client_sent, i.server_sent) {
            (true, true) => "SF",
            (true, false) => "S0",
            (false, true) => "SHR",
            (false, false) => "OTH",
        },
        _ => "OTH",
    }
}

/// Zeek's `/\^?S[^HAFGIQ]*R.*/`: a SYN, then nothing but resets or
/// responder-side letters, then an originator RST.
fn syn_then_reset(history: &str) -> bool {
    let h = history.strip_prefix('^').unwrap_or(history);
    let Some(rest) = h.strip_prefix('S') else {
        return false;
    };
    for c in rest.chars() {
        if c == 'R' {
            return true;
        }
        if "HAFGIQ".contains(c) {
            return false;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_letters_repeat_at_powers_of_ten() {
        let mut h = History::default();
        for _ in 0..150 {
            h.count(true, CountLetter::T);
        }
        assert_eq!(h.as_str(), "TTT");
    }

    #[test]
    fn seq_letters_repeat_only_for_new_sequence_numbers() {
        let mut h = History::default();
        h.seq(true, SeqLetter::S, 1);
        h.seq(true, SeqLetter::S, 1);
        h.seq(false, SeqLetter::H, 9);
        h.seq(true, SeqLetter::S, 2);
        assert_eq!(h.as_str(), "ShS");
    }

    #[test]
    fn syn_then_reset_matches_zeeks_pattern() {
        assert!(syn_then_reset("SR"));
        assert!(syn_then_reset("SaR"));
        assert!(syn_then_reset("^SrR"));
        assert!(!syn_then_reset("SaFR"));
        assert!(!syn_then_reset("R"));
    }
}
