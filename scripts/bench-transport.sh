#!/usr/bin/env bash
# Load generator and benchmark of probe -> collector over mutual TLS: the
# probe's exporter streams synthetic flow records at full speed to a release
# sonde-collector writing NDJSON, then at a fixed rate to measure latency.
# Prints a markdown table for docs/benchmarks.md.
# Usage: scripts/bench-transport.sh [RECORDS [RATE]]   (defaults 1000000, 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
# Two builds: with --example, cargo would build only the example, not the collector binary.
cargo build --release -q -p sonde-collector --bin sonde-collector
cargo build --release -q -p sonde-integration-tests --example bench_transport
SONDE_BENCH_RECORDS=${1:-1000000} SONDE_BENCH_RATE=${2:-20000} target/release/examples/bench_transport
