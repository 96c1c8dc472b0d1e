//! The capture file reader (classic pcap and pcapng) never panics, never
//! hands out a packet longer than `MAX_PACKET`, and never more bytes in all
//! than the input holds: the bytes are read as a file to its end or first
//! error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sonde_probe::capture::file::MAX_PACKET;
use sonde_probe::capture::{FileSource, Next, PacketSource};

fuzz_target!(|data: &[u8]| {
    let reader = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok(mut source) = FileSource::from_reader(reader, "fuzz") else {
        return;
    };
    let mut total = 0usize;
    loop {
        match source.next_packet() {
            Ok(Next::Packet(p)) => {
                assert!(p.data.len() <= MAX_PACKET as usize);
                total += p.data.len();
                assert!(total <= data.len(), "{total} bytes out of {}", data.len());
            }
            Ok(Next::Idle) => panic!("a file is never idle"),
            Ok(Next::End) | Err(_) => break,
        }
    }
});
