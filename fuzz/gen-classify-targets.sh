#!/usr/bin/env bash
# Writes one cargo-fuzz target per DPI classifier (fuzz_targets/classify_NAME.rs
# and its [[bin]] in Cargo.toml) from the names the probe's registry reports,
# so a new classifier gets its fuzz target by running this once.
set -euo pipefail
cd "$(dirname "$0")"
names=$(cd .. && cargo test -q -p sonde-probe --lib classify::fuzzing::tests::classifier_names -- --nocapture 2>/dev/null \
    | sed -n 's/^classifier: //p')
[ -n "$names" ] || { echo "no classifier names (build the probe's tests first)" >&2; exit 1; }
for name in $names; do
    file=fuzz_targets/classify_$name.rs
    cat >"$file" <<RS
//! The \`$name\` classifier never panics, whatever the packets (framing:
//! sonde_probe::classify::fuzzing).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    assert!(sonde_probe::classify::fuzzing::run("$name", data));
});
RS
    grep -q "name = \"classify_$name\"" Cargo.toml || cat >>Cargo.toml <<TOML

[[bin]]
name = "classify_$name"
path = "$file"
test = false
doc = false
bench = false
TOML
done
echo "$(echo "$names" | wc -w) classify targets"
