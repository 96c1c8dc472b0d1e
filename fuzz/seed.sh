#!/usr/bin/env bash
# Seeds the decode and flow_engine corpora with real frames from the test data.
set -euo pipefail
cd "$(dirname "$0")"
testdata=${SONDE_TESTDATA:-../../shared/testdata}
mkdir -p corpus/decode corpus/flow_engine
python3 - "$testdata" <<'PY'
import os, struct, sys, hashlib
root = sys.argv[1]
files = [os.path.join(root, "ndpi/pcap", f) for f in sorted(os.listdir(os.path.join(root, "ndpi/pcap"))) if f.endswith(".pcap")]
files += [os.path.join(root, "community-id/pcaps", f) for f in ("combined.pcap",)]
for path in files:
    data = open(path, "rb").read()
    if data[:4] != b"\xd4\xc3\xb2\xa1" or struct.unpack("<I", data[20:24])[0] != 1:
        continue
    off, frames = 24, []
    while off + 16 <= len(data) and len(frames) < 64:
        _, _, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        frames.append(data[off + 16:off + 16 + incl])
        off += 16 + incl
    for f in frames[:16]:
        seed = b"\x01" + f
        open("corpus/decode/" + hashlib.sha1(seed).hexdigest(), "wb").write(seed)
    blob = b"".join(struct.pack(">HB", len(f), 1) + f for f in frames)
    open("corpus/flow_engine/" + hashlib.sha1(blob).hexdigest(), "wb").write(blob)
PY
echo "seeded: $(ls corpus/decode | wc -l) decode, $(ls corpus/flow_engine | wc -l) flow_engine inputs"
