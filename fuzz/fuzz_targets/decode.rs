//! Decode never panics: the first byte picks a link type, the rest is a frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sonde_probe::decode::{self, LinkType};

const LINKS: [i32; 8] = [0, 1, 12, 101, 108, 113, 276, 147];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, frame)) = data.split_first() else {
        return;
    };
    let link = LinkType::from_dlt(LINKS[usize::from(pick) % LINKS.len()]);
    let _ = decode::decode(link, frame);
});
