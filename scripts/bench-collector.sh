#!/usr/bin/env bash
# Benchmark of the collector's output against a real Elasticsearch 8 node
# (started here with scripts/elasticsearch.sh, stopped at the end): spool
# writes during an outage, the drain of the backlog, and direct delivery from
# four concurrent probes. Prints a markdown table for docs/benchmarks.md.
# Usage: scripts/bench-collector.sh [DOCUMENTS]   (default 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
export SONDE_ES_STATE_DIR
SONDE_ES_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sonde-bench-es.XXXXXX")
chmod 755 "$SONDE_ES_STATE_DIR"
trap 'scripts/elasticsearch.sh stop --all >/dev/null 2>&1 || true; rm -rf "$SONDE_ES_STATE_DIR"' EXIT INT TERM

# Two builds: with --example, cargo would build only the example, not the probe binary.
cargo build --release -q -p sonde-probe --bin sonde-probe
cargo build --release -q -p sonde-integration-tests --example bench_es_output
scripts/elasticsearch.sh fetch
scripts/elasticsearch.sh start --mode http --name bench
SONDE_TEST_ES_HTTP_URL=$(set +u; eval "$(scripts/elasticsearch.sh env --name bench)"; printf '%s' "$SONDE_ES_URL")
export SONDE_TEST_ES_HTTP_URL SONDE_BENCH_DOCS=${1:-200000}
target/release/examples/bench_es_output
