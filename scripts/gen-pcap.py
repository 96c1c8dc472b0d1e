#!/usr/bin/env python3
"""Writes capture files for end-to-end benchmarks of `sonde-probe read`.

  gen-pcap.py OUT.pcap [FLOWS] [DATA_SEGMENTS] [CONCURRENT] [PAYLOAD]
      FLOWS synthetic TCP connections (handshake, DATA_SEGMENTS request and
      response segments of PAYLOAD bytes, FIN close), interleaved in rounds of
      CONCURRENT so that many flows are open at once.
  gen-pcap.py --mix OUT.pcap REPEAT IN.pcap...
      The Ethernet captures IN, concatenated REPEAT times, each copy an hour
      after the previous one (so its flows are new flows).
  gen-pcap.py --mix-distinct OUT.pcap REPEAT IN.pcap...
      The same, and each copy's IP addresses rewritten (the copy number XORed
      into the low 16 bits of every IPv4 and IPv6 address, IPv4 header
      checksums recomputed), so every copy's flows are new 5-tuples even to
      a reader that does not expire idle flows (ndpiReader).

Deterministic: the same arguments give the same file.
"""
import struct
import sys


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def frame(src, dst, sport, dport, seq, ack, flags, payload):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    eth = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
    return eth + ip + tcp


def read_pcap(path):
    """(ts_us, caplen, wire_len, data) of every record of an Ethernet pcap."""
    data = open(path, "rb").read()
    magic = data[:4]
    if magic not in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        return []
    nano = magic == b"\x4d\x3c\xb2\xa1"
    if struct.unpack("<I", data[20:24])[0] != 1:
        return []
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack("<IIII", data[off:off + 16])
        body = data[off + 16:off + 16 + incl]
        if len(body) < incl:
            break
        out.append((sec * 1_000_000 + (frac // 1000 if nano else frac), orig, body))
        off += 16 + incl
    return out


def remap(frame, k):
    """The Ethernet frame with copy number k XORed into its IP addresses."""
    if k == 0:
        return frame
    off = 12
    etype = struct.unpack("!H", frame[off:off + 2])[0] if len(frame) >= 14 else 0
    off = 14
    while etype in (0x8100, 0x88A8) and len(frame) >= off + 4:
        etype = struct.unpack("!H", frame[off + 2:off + 4])[0]
        off += 4
    b = bytearray(frame)
    hi, lo = (k >> 8) & 0xFF, k & 0xFF
    if etype == 0x0800 and len(b) >= off + 20:
        for at in (off + 14, off + 18):
            b[at] ^= hi
            b[at + 1] ^= lo
        ihl = (b[off] & 15) * 4
        b[off + 10:off + 12] = b"\0\0"
        b[off + 10:off + 12] = struct.pack("!H", checksum(bytes(b[off:off + ihl])))
    elif etype == 0x86DD and len(b) >= off + 40:
        for at in (off + 22, off + 38):
            b[at] ^= hi
            b[at + 1] ^= lo
    return bytes(b)


def mix(out, repeat, inputs, distinct=False):
    records = [r for path in inputs for r in read_pcap(path)]
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        base = 1_700_000_000 * 1_000_000
        for k in range(repeat):
            start = base + k * 3_600_000_000
            first = None
            for ts, orig, body in records:
                first = ts if first is None else first
                t = start + max(0, ts - first) % 3_000_000_000
                body = remap(body, k) if distinct else body
                f.write(struct.pack("<IIII", t // 1_000_000, t % 1_000_000, len(body), orig))
                f.write(body)
    print(f"{out}: {repeat * len(records)} packets")


def main():
    if sys.argv[1] in ("--mix", "--mix-distinct"):
        mix(sys.argv[2], int(sys.argv[3]), sys.argv[4:], sys.argv[1] == "--mix-distinct")
        return
    out = sys.argv[1]
    flows = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    segments = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    concurrent = int(sys.argv[4]) if len(sys.argv) > 4 else 10_000
    payload = int(sys.argv[5]) if len(sys.argv) > 5 else 100
    ts = 1_700_000_000 * 1_000_000
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        def write(data):
            nonlocal ts
            ts += 7
            f.write(struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(data), len(data)))
            f.write(data)
        for start in range(0, flows, concurrent):
            batch = range(start, min(flows, start + concurrent))
            ends = {}
            for i in batch:
                c = bytes([10, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF])
                s = bytes([192, 168, (i >> 8) & 0xFF, 1 + i % 250])
                cp, sp = 1024 + i % 60000, 443
                ends[i] = (c, s, cp, sp)
                write(frame(c, s, cp, sp, 1000, 0, 0x02, b""))
                write(frame(s, c, sp, cp, 5000, 1001, 0x12, b""))
                write(frame(c, s, cp, sp, 1001, 5001, 0x10, b""))
            for k in range(segments):
                for i in batch:
                    c, s, cp, sp = ends[i]
                    if k % 2 == 0:
                        seq, ack = 1001 + payload * (k // 2), 5001 + payload * (k // 2)
                        write(frame(c, s, cp, sp, seq, ack, 0x18, b"q" * payload))
                    else:
                        seq, ack = 5001 + payload * (k // 2), 1001 + payload * (k // 2 + 1)
                        write(frame(s, c, sp, cp, seq, ack, 0x18, b"r" * payload))
            for i in batch:
                c, s, cp, sp = ends[i]
                nc, ns = (segments + 1) // 2, segments // 2
                write(frame(c, s, cp, sp, 1001 + payload * nc, 5001 + payload * ns, 0x11, b""))
                write(frame(s, c, sp, cp, 5001 + payload * ns, 1002 + payload * nc, 0x11, b""))


if __name__ == "__main__":
    main()
