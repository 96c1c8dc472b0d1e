//! The `misc_udp` classifier never panics, whatever the packets (framing:
//! sonde_probe::classify::fuzzing).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    assert!(sonde_probe::classify::fuzzing::run("misc_udp", data));
});
