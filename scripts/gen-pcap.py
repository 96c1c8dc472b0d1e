#!/usr/bin/env python3
"""Writes a synthetic Ethernet pcap for end-to-end benchmarks of `sonde-probe read`.

FLOWS TCP connections (handshake, DATA request/response segments, FIN close),
interleaved in rounds so many flows are open at once, with increasing
timestamps. Deterministic: the same arguments give the same file.

usage: gen-pcap.py OUT.pcap [FLOWS] [DATA_SEGMENTS] [CONCURRENT]
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


def main():
    out = sys.argv[1]
    flows = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    segments = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    concurrent = int(sys.argv[4]) if len(sys.argv) > 4 else 10_000
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
                        write(frame(c, s, cp, sp, 1001 + 100 * (k // 2), 5001 + 1000 * (k // 2), 0x18, b"q" * 100))
                    else:
                        write(frame(s, c, sp, cp, 5001 + 1000 * (k // 2), 1101 + 100 * (k // 2), 0x18, b"r" * 1000))
            for i in batch:
                c, s, cp, sp = ends[i]
                n = segments // 2
                write(frame(c, s, cp, sp, 1001 + 100 * n, 5001 + 1000 * n, 0x11, b""))
                write(frame(s, c, sp, cp, 5001 + 1000 * n, 1002 + 100 * n, 0x11, b""))


if __name__ == "__main__":
    main()
