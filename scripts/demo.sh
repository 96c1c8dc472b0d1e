#!/usr/bin/env bash
# sonde in one minute, on this machine, no root needed:
#   1. a quick-start PKI (sonde-collector certs init);
#   2. a collector on 127.0.0.1 writing NDJSON files, or, when SONDE_ES_URL is
#      set, indexing into that Elasticsearch 8 (data stream logs-sonde.conn-so;
#      SONDE_ES_CA, SONDE_ES_USER and SONDE_ES_PASSWORD when it needs them, as
#      `scripts/elasticsearch.sh env` prints them for a test node);
#   3. a probe replaying a real capture (testdata) to it over mutual TLS;
#   4. the ECS documents that arrived, summarised with the probe's identity.
# Usage: scripts/demo.sh [PCAP]   (default: an nDPI test capture with ~2,000 flows)
set -euo pipefail
cd "$(dirname "$0")/.."
pcap=${1:-${SONDE_TESTDATA:-../shared/testdata}/ndpi/pcap/synscan.pcap}
work=$(mktemp -d "${TMPDIR:-/tmp}/sonde-demo.XXXXXX")
collector_pid=""
cleanup() {
    [ -n "$collector_pid" ] && kill "$collector_pid" 2>/dev/null && wait "$collector_pid" 2>/dev/null
    echo "demo files kept in $work" >&2
}
trap cleanup EXIT

echo "==> building (release)" >&2
cargo build --release -q -p sonde-probe -p sonde-collector
bin=target/release

echo "==> certificates" >&2
$bin/sonde-collector certs init --dir "$work/pki" --collector-name collector.demo \
    --collector-alt-name 127.0.0.1 --probe branch-1.demo > /dev/null

cat > "$work/collector.toml" <<TOML
[server]
listen = "127.0.0.1:0"
[server.tls]
ca = "$work/pki/ca.pem"
cert = "$work/pki/collector.pem"
key = "$work/pki/collector.key"
[file]
dir = "$work/ndjson"
[spool]
dir = "$work/spool"
max_size = "64MiB"
TOML
if [ -n "${SONDE_ES_URL:-}" ]; then
    {
        echo "[elasticsearch]"
        echo "urls = [\"$SONDE_ES_URL\"]"
        echo "batch_delay = \"50ms\""
        [ -n "${SONDE_ES_CA:-}" ] && echo "ca = \"$SONDE_ES_CA\""
        if [ -n "${SONDE_ES_USER:-}" ]; then
            printf '%s' "${SONDE_ES_PASSWORD:-}" > "$work/es-password"
            chmod 600 "$work/es-password"
            echo "username = \"$SONDE_ES_USER\""
            echo "password = { file = \"$work/es-password\" }"
        fi
    } >> "$work/collector.toml"
fi

echo "==> collector" >&2
# Created here: the background job opens it only once it is scheduled.
: > "$work/collector.log"
$bin/sonde-collector run --config "$work/collector.toml" 2> "$work/collector.log" &
collector_pid=$!
for _ in $(seq 1 100); do
    addr=$(sed -n 's/^sonde-collector: listening on //p' "$work/collector.log")
    [ -n "$addr" ] && break
    sleep 0.1
done
[ -n "$addr" ] || { cat "$work/collector.log" >&2; exit 1; }
echo "    listening on $addr" >&2

cat > "$work/probe.toml" <<TOML
[collector]
endpoint = "$addr"
server_name = "collector.demo"
batch_delay = "200ms"
[collector.tls]
ca = "$work/pki/ca.pem"
cert = "$work/pki/probe-branch-1.demo.pem"
key = "$work/pki/probe-branch-1.demo.key"
TOML

echo "==> probe replaying $(basename "$pcap")" >&2
$bin/sonde-probe run --config "$work/probe.toml" --replay "$pcap"

kill "$collector_pid"; wait "$collector_pid" 2>/dev/null || true
collector_pid=""
tail -n 1 "$work/collector.log" >&2

if [ -n "${SONDE_ES_URL:-}" ]; then
    echo "==> what Elasticsearch holds ($SONDE_ES_URL: logs-sonde.conn-so, logs-sonde.alert-so)" >&2
    curl_es() {
        local args=(-fsS)
        [ -n "${SONDE_ES_CA:-}" ] && args+=(--cacert "$SONDE_ES_CA")
        [ -n "${SONDE_ES_USER:-}" ] && args+=(-u "$SONDE_ES_USER:${SONDE_ES_PASSWORD:-}")
        curl "${args[@]}" "$@"
    }
    curl_es -X POST "$SONDE_ES_URL/logs-sonde.*/_refresh" > /dev/null
    curl_es "$SONDE_ES_URL/logs-sonde.conn-so,logs-sonde.alert-so/_search?size=10000&ignore_unavailable=true" > "$work/search.json"
    source=(python3 - "$work/search.json" es)
else
    echo "==> what the collector wrote ($work/ndjson)" >&2
    source=(python3 - "$work/ndjson" files)
fi
"${source[@]}" <<'PY'
import collections, json, os, sys
docs = []
if sys.argv[2] == "es":
    with open(sys.argv[1]) as f:
        docs = [hit["_source"] for hit in json.load(f)["hits"]["hits"]]
else:
    for name in sorted(os.listdir(sys.argv[1])):
        with open(os.path.join(sys.argv[1], name)) as f:
            docs += [json.loads(line) for line in f]
flows = [d for d in docs if d.get("event", {}).get("kind") != "alert"]
alerts = [d for d in docs if d.get("event", {}).get("kind") == "alert"]
observers = sorted({d["observer"]["name"] for d in docs})
print(f"{len(flows)} ECS flow documents and {len(alerts)} alert documents from observer(s) {observers}")
states = collections.Counter(d.get("connection", {}).get("state") for d in flows)
print("connection.state:", ", ".join(f"{k} {v}" for k, v in states.most_common(6)))
l7 = collections.Counter(d.get("sonde", {}).get("l7", {}).get("name", "Unknown") for d in flows)
print("top L7 protocols:", ", ".join(f"{k} {v}" for k, v in l7.most_common(8)))
print("alerts:")
for a in sorted(alerts, key=lambda a: a["@timestamp"]):
    life = a.get("sonde", {}).get("alert", {}).get("lifecycle", "")
    print(f"  {a['@timestamp']}  {a['event']['severity_label']:<8} {a['rule']['name']:<24} {life:<9} {a.get('message', '')}")
if alerts:
    print("one alert document:")
    print(json.dumps(alerts[0], indent=2)[:2500])
PY
