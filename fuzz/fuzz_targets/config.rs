//! Config parsing and validation never panic, whatever the file holds.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sonde_probe::config::ProbeConfig;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sonde_common::config::parse::<ProbeConfig>("fuzz.toml", text);
    }
});
