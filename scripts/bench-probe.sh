#!/usr/bin/env bash
# End-to-end benchmark of the probe (decode, flow table, DPI, records), from a
# file, one core, next to nDPI's ndpiReader (Debian's libndpi-bin) on the same
# captures:
#   1. synthetic: 100,000 concurrent TCP flows of 10 small packets each;
#   2. mixed: the nDPI test captures (real traffic), concatenated 20 times;
#   3. web: the nDPI captures of TLS, HTTP, DNS and QUIC traffic (real
#      handshakes, about 470 bytes per packet), concatenated 600 times with
#      each copy's addresses rewritten, so every copy is new flows for both
#      readers (ndpiReader does not expire idle flows: with the plain mix it
#      classifies each 5-tuple once and only counts the copies).
# Prints a markdown table (packets/s with DPI on and off, peak RSS, and
# sonde/nDPI ratios) for docs/benchmarks.md. Usage: scripts/bench-probe.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-$(mktemp -d "${TMPDIR:-/tmp}/sonde-bench.XXXXXX")}
mkdir -p "$work"
testdata=${SONDE_TESTDATA:-../shared/testdata}
command -v ndpiReader >/dev/null || { echo "installing libndpi-bin" >&2; apt-get install -y -qq libndpi-bin >/dev/null; }
command -v /usr/bin/time >/dev/null || apt-get install -y -qq time >/dev/null
cargo build --release -q -p sonde-probe

synthetic=$work/synthetic-100k.pcap
mixed=$work/mixed.pcap
web=$work/web.pcap
[ -s "$synthetic" ] || python3 scripts/gen-pcap.py "$synthetic" 100000 5 100000 64 >/dev/null
[ -s "$mixed" ] || python3 scripts/gen-pcap.py --mix "$mixed" 20 "$testdata"/ndpi/pcap/*.pcap >/dev/null
web_inputs=(443-chrome google_ssl 443-git facebook ssl-cert-name-mismatch quic-29 youtube_quic
    dns_fragmented dns_long_domainname WebattackSQLinj 6in4tunnel whatsapp_login_chat)
[ -s "$web" ] || python3 scripts/gen-pcap.py --mix-distinct "$web" 600 \
    $(for n in "${web_inputs[@]}"; do echo "$testdata/ndpi/pcap/$n.pcap"; done) >/dev/null

packets() { target/release/sonde-probe read "$1" --emit none 2>&1 | sed -n 's/.*: \([0-9]*\) packets,.*/\1/p' | head -1; }

# best of $RUNS (default 5): "seconds maxrss_kib". Wall time is taken with
# nanosecond clocks around the run: /usr/bin/time's %e has 10 ms steps, 3-12%
# of a run here.
measure() {
    local best="" rss=0
    for _ in $(seq "${RUNS:-5}"); do
        local start end
        start=$(date +%s%N)
        /usr/bin/time -o "$work/time.txt" -f "%M" "$@" >/dev/null 2>&1 || true
        end=$(date +%s%N)
        local t m
        t=$(awk -v ns=$((end - start)) 'BEGIN { printf "%.4f", ns / 1e9 }')
        m=$(tail -1 "$work/time.txt")
        if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
        [ "$m" -gt "$rss" ] && rss=$m
    done
    echo "$best $rss"
}

echo "| capture | packets | sonde pkt/s (DPI on) | sonde pkt/s (DPI off) | sonde peak RSS | ndpiReader pkt/s | ndpiReader peak RSS | speed sonde/nDPI | memory sonde/nDPI | sonde pkt/s (DPI + alerts) | peak RSS (DPI + alerts) |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for pcap in "$synthetic" "$mixed" "$web"; do
    n=$(packets "$pcap")
    read -r st sm < <(measure taskset -c 0 target/release/sonde-probe read "$pcap" --emit none --no-alerts)
    read -r ot _ < <(measure taskset -c 0 target/release/sonde-probe read "$pcap" --emit none --no-alerts --no-dpi)
    read -r at am < <(measure taskset -c 0 target/release/sonde-probe read "$pcap" --emit none)
    read -r nt nm < <(measure taskset -c 0 ndpiReader -q -i "$pcap")
    awk -v name="$(basename "$pcap")" -v n="$n" -v st="$st" -v ot="$ot" -v sm="$sm" -v nt="$nt" -v nm="$nm" -v at="$at" -v am="$am" 'BEGIN {
        sp = (st > 0) ? n / st : 0; op = (ot > 0) ? n / ot : 0; np = (nt > 0) ? n / nt : 0; ap = (at > 0) ? n / at : 0;
        printf "| %s | %d | %.2f M | %.2f M | %.0f MiB | %.2f M | %.0f MiB | %.2f | %.2f | %.2f M | %.0f MiB |\n",
            name, n, sp / 1e6, op / 1e6, sm / 1024, np / 1e6, nm / 1024, (np > 0 ? sp / np : 0), (nm > 0 ? sm / nm : 0), ap / 1e6, am / 1024 }'
done
