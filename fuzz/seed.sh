#!/usr/bin/env bash
# Seeds the fuzz corpora from real inputs (the corpora themselves are not
# committed; run this once after a checkout, it is idempotent):
# - capture_file: the test captures themselves (up to 64 KiB each);
# - decode:      frames of the test captures (pcap and pcapng), prefixed with
#                the link byte that selects their link type in the target;
# - flow_engine: the first frames of each Ethernet capture in the target's
#                framing (2-byte length, 1-byte time step of 100 ms, frame);
# - config:      the example probe configuration;
# - eve_line:    every line of the Suricata eve.json samples.
# proto_batch starts empty: libFuzzer finds the protobuf structure by itself.
set -euo pipefail
cd "$(dirname "$0")"
testdata=${SONDE_TESTDATA:-../../shared/testdata}
mkdir -p corpus/decode corpus/flow_engine corpus/config corpus/proto_batch corpus/capture_file
cp ../deploy/config/probe.example.toml corpus/config/probe.example.toml
python3 - "$testdata" <<'PY'
import hashlib, os, struct, sys

root = sys.argv[1]
# Must match LINKS in fuzz_targets/decode.rs: the link byte is an index.
LINKS = [0, 1, 12, 101, 108, 113, 276, 147]
FRAMES_PER_FILE = 16   # decode seeds per capture
FLOW_FRAMES = 64       # frames per flow_engine seed
MAX_FRAME = 1599       # flow_engine takes the length modulo 1600


def pcap(data):
    """(linktype, [(ts_us, frame)]) of a classic pcap, either byte order."""
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        return None
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    link = struct.unpack(e + "I", data[20:24])[0] & 0xFFFF  # high bits: FCS flags
    off, frames = 24, []
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack(e + "IIII", data[off:off + 16])
        frames.append((sec * 1_000_000 + (frac // 1000 if nano else frac), data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return link, frames


def pcapng(data):
    """(linktype of interface 0, [(ts_us, frame)]) of a pcapng, enhanced and
    simple packet blocks of interfaces with interface 0's link type."""
    if data[:4] != b"\x0a\x0d\x0d\x0a":
        return None
    e = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    off, links, frames = 0, [], []
    while off + 12 <= len(data):
        btype, blen = struct.unpack(e + "II", data[off:off + 8])
        if blen < 12 or off + blen > len(data):
            break
        body = data[off + 8:off + blen - 4]
        if btype == 0x0A0D0D0A:
            links = []  # a new section renumbers interfaces
        elif btype == 1:
            links.append(struct.unpack(e + "H", body[:2])[0])
        elif btype == 6 and links:
            iface, hi, lo, incl = struct.unpack(e + "IIII", body[:16])
            if iface < len(links) and links[iface] == links[0]:
                frames.append(((hi << 32 | lo), body[20:20 + incl]))  # default resolution: us
        elif btype == 3 and links:
            frames.append((0, body[4:]))
        off += blen
    return (links[0], frames) if links else None


def write(folder, blob):
    with open(os.path.join(folder, hashlib.sha1(blob).hexdigest()), "wb") as f:
        f.write(blob)


paths = []
for folder in ("ndpi/pcap", "community-id/pcaps", "pcaps"):
    d = os.path.join(root, folder)
    if os.path.isdir(d):
        paths += [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith((".pcap", ".pcapng"))]

files = decode_n = flow_n = 0
for path in paths:
    with open(path, "rb") as f:
        data = f.read()
    if len(data) <= 65536:
        write("corpus/capture_file", data)
    parsed = pcap(data) or pcapng(data)
    if not parsed or parsed[0] not in LINKS or not parsed[1]:
        continue
    link, frames = parsed
    files += 1
    pick = bytes([LINKS.index(link)])
    for _, frame in frames[:FRAMES_PER_FILE]:
        write("corpus/decode", pick + frame)
        decode_n += 1
    if link == 1:  # flow_engine is Ethernet only
        blob, prev = b"", frames[0][0]
        for ts, frame in frames[:FLOW_FRAMES]:
            step = min(255, max(0, ts - prev) // 100_000)
            prev = ts
            frame = frame[:MAX_FRAME]
            blob += struct.pack(">HB", len(frame), step) + frame
        write("corpus/flow_engine", blob)
        flow_n += 1
print(f"read {files} captures: {decode_n} decode seeds, {flow_n} flow_engine seeds", file=sys.stderr)


def transport(frame):
    """(is_tcp, sport, dport, payload) of an Ethernet frame (VLAN tags,
    IPv4 without fragments, IPv6 without extension headers), or None."""
    off, etype = 14, struct.unpack("!H", frame[12:14])[0] if len(frame) >= 14 else 0
    while etype in (0x8100, 0x88A8) and len(frame) >= off + 4:
        etype, off = struct.unpack("!H", frame[off + 2:off + 4])[0], off + 4
    if etype == 0x0800 and len(frame) >= off + 20:
        ihl, proto = (frame[off] & 15) * 4, frame[off + 9]
        total = struct.unpack("!H", frame[off + 2:off + 4])[0]
        l4, end = off + ihl, min(len(frame), off + total)
    elif etype == 0x86DD and len(frame) >= off + 40:
        proto, l4 = frame[off + 6], off + 40
        end = min(len(frame), l4 + struct.unpack("!H", frame[off + 4:off + 6])[0])
    else:
        return None
    if proto == 6 and end >= l4 + 20:
        sport, dport = struct.unpack("!HH", frame[l4:l4 + 4])
        return True, sport, dport, frame[l4 + (frame[l4 + 12] >> 4) * 4:end]
    if proto == 17 and end >= l4 + 8:
        sport, dport = struct.unpack("!HH", frame[l4:l4 + 4])
        return False, sport, dport, frame[l4 + 8:end]
    return None


# classify_*: the payloads of each flow's first packets, in the targets'
# framing (flags: bit 0 server, bit 1 TCP; 2-byte length; bytes).
targets = [f[:-3] for f in sorted(os.listdir("fuzz_targets")) if f.startswith("classify_")]
for t in targets:
    os.makedirs(os.path.join("corpus", t), exist_ok=True)
classify_n = 0
for path in paths:
    with open(path, "rb") as f:
        data = f.read()
    parsed = pcap(data) or pcapng(data)
    if not parsed or parsed[0] != 1:
        continue
    flows = {}
    for _, frame in parsed[1]:
        t = transport(frame)
        if not t or not t[3]:
            continue
        is_tcp, sport, dport, payload = t
        key = (is_tcp, min(sport, dport), max(sport, dport))
        first = flows.setdefault(key, [sport, []])
        if len(first[1]) < 8:
            flags = (0 if sport == first[0] else 1) | (2 if is_tcp else 0)
            payload = payload[:2047]
            first[1].append(struct.pack("!BH", flags, len(payload)) + payload)
    for _, packets in flows.values():
        blob = b"".join(packets)
        for t in targets:
            write(os.path.join("corpus", t), blob)
        classify_n += 1
print(f"{classify_n} classify seeds for each of {len(targets)} classify_* targets", file=sys.stderr)
PY
# eve_line: every line of the Suricata eve samples, one seed each.
mkdir -p corpus/eve_line
for f in "$testdata"/suricata/elastic-integrations/*.log "$testdata"/suricata/slips/*.sample.json; do
    n=0
    while IFS= read -r line; do
        n=$((n + 1))
        printf '%s\n' "$line" > "corpus/eve_line/$(basename "$f")-$n"
    done < "$f"
done
for t in capture_file decode flow_engine proto_batch config eve_line $(cd fuzz_targets && ls classify_*.rs 2>/dev/null | sed 's/\.rs$//'); do
    echo "corpus/$t: $(ls "corpus/$t" | wc -l) inputs"
done
