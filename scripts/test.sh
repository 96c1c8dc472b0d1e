#!/usr/bin/env bash
# sonde's one test command (README.md, .ci/run). On a fresh Debian machine it:
#   1. installs what is missing (libpcap-dev, a JDK 17, maven, openssl, python3);
#   2. checks formatting and clippy (-D warnings);
#   3. starts two real Elasticsearch 8 nodes (plain HTTP, and HTTPS with basic
#      auth as on Security Onion) through scripts/elasticsearch.sh;
#   4. runs every test of the workspace against them;
#   5. stops Elasticsearch whatever happened, and exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

say() { printf '\n==> %s\n' "$*" >&2; }

# ---------------------------------------------------------------- 1. packages
install_packages() {
    local missing=()
    dpkg -s libpcap-dev >/dev/null 2>&1 || missing+=(libpcap-dev)
    command -v java >/dev/null 2>&1 && java -version 2>&1 | grep -q '"17\.' \
        || ls -d /usr/lib/jvm/java-17-* >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
    command -v mvn >/dev/null 2>&1 || missing+=(maven)
    command -v openssl >/dev/null 2>&1 || missing+=(openssl)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        local sudo=()
        [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        "${sudo[@]}" apt-get update -qq
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}
say "checking system packages"
install_packages

# ---------------------------------------------------------------- 2. lints
say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

# ---------------------------------------------------------------- 3. Elasticsearch
export SONDE_ES_STATE_DIR
SONDE_ES_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sonde-test-es.XXXXXX")
chmod 755 "$SONDE_ES_STATE_DIR"
stop_elasticsearch() {
    local status=$?
    say "stopping Elasticsearch"
    "$root/scripts/elasticsearch.sh" stop --all || true
    rm -rf "$SONDE_ES_STATE_DIR"
    exit "$status"
}
trap stop_elasticsearch EXIT INT TERM

# Build the tests while Elasticsearch starts: both take a while.
say "building tests"
cargo test --workspace --locked --no-run

say "deployment assets (systemd, Kubernetes, configs)"
scripts/check-deploy.sh

say "starting Elasticsearch (http and https)"
scripts/elasticsearch.sh fetch
scripts/elasticsearch.sh start --mode http --name http
scripts/elasticsearch.sh start --mode https --name https

node_var() { # node_var NAME VAR: one variable of a node's env file
    (set +u; unset SONDE_ES_URL SONDE_ES_CA SONDE_ES_USER SONDE_ES_PASSWORD
     eval "$(scripts/elasticsearch.sh env --name "$1")"; printf '%s' "${!2:-}")
}
export SONDE_TEST_ES_HTTP_URL SONDE_TEST_ES_HTTPS_URL SONDE_TEST_ES_CA SONDE_TEST_ES_USER SONDE_TEST_ES_PASSWORD
SONDE_TEST_ES_HTTP_URL=$(node_var http SONDE_ES_URL)
SONDE_TEST_ES_HTTPS_URL=$(node_var https SONDE_ES_URL)
SONDE_TEST_ES_CA=$(node_var https SONDE_ES_CA)
SONDE_TEST_ES_USER=$(node_var https SONDE_ES_USER)
SONDE_TEST_ES_PASSWORD=$(node_var https SONDE_ES_PASSWORD)
export SONDE_REQUIRE_ES=1

# ---------------------------------------------------------------- 4. tests
say "cargo test --workspace"
# A hung test must fail the run, not eat CI's whole budget: the suite takes
# about a minute once built, so 20 minutes is a hang, never slowness.
timeout --kill-after=30s "${SONDE_TEST_TIMEOUT:-20m}" cargo test --workspace --locked

say "Debian packages"
scripts/check-packages.sh
say "all checks passed"
