//! Blacklist files: any bytes parse into entries and counted invalid lines,
//! and lookups on the result never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (entries, invalid) = sonde_probe::alert::lists::fuzz_parse(data);
    // Every line is at most one entry or one invalid line.
    let lines = data.split(|b| *b == b'\n').count();
    assert!(entries + invalid as usize <= lines);
});
