#!/usr/bin/env python3
"""Injects malformed frames into a TAP from the kernel's side.

Used by test_foundation.sh: each case sends one frame through a raw
AF_PACKET socket bound to the kernel's end of the TAP, so netpath (holding
the TAP) receives it through its driver poll and must drop it for the right
reason. Plain sockets and struct only (no scapy), so it runs anywhere.

usage: inject.py IFACE DST_MAC SRC_IP DST_IP CASE...
Prints one line per case: "CASE sent LEN" or "CASE refused ERRNO-TEXT".
"""
import socket
import struct
import sys

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806


def csum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def mac_bytes(mac: str) -> bytes:
    return bytes(int(x, 16) for x in mac.split(":"))


def eth(dst: bytes, src: bytes, ethertype: int) -> bytes:
    return dst + src + struct.pack("!H", ethertype)


def icmp_echo(ident=0x7E57, seq=1, payload=b"netpath-inject!!") -> bytes:
    hdr = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + payload
    c = csum(hdr)
    return hdr[:2] + struct.pack("!H", c) + hdr[4:]


def ipv4(src: str, dst: str, payload: bytes, ihl=5, total_len=None, bad_csum=False, proto=1) -> bytes:
    """An IPv4 header of 20 bytes whose IHL and total length fields may lie."""
    tl = 20 + len(payload) if total_len is None else total_len
    hdr = struct.pack("!BBHHHBBH4s4s", (4 << 4) | ihl, 0, tl, 0x1234, 0x4000, 64, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    c = csum(hdr)
    if bad_csum:
        c ^= 0x5A5A
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + payload


def arp(op: int, sha: bytes, spa: str, tha: bytes, tpa: str, htype=1) -> bytes:
    return struct.pack("!HHBBH6s4s6s4s", htype, ETH_P_IP, 6, 4, op, sha, socket.inet_aton(spa), tha,
                       socket.inet_aton(tpa))


def build(case: str, dmac: bytes, smac: bytes, sip: str, dip: str):
    """Returns (frame, fallback) for a case; fallback is sent if the kernel refuses frame."""
    ip_eth = eth(dmac, smac, ETH_P_IP)
    if case == "runt":
        # Truncated Ethernet: 10 bytes, shorter than the 14-byte header.
        # Linux refuses it (dev_validate_header: len < min_header_len), so
        # the fallback is the shortest frame it allows: a bare header.
        return ip_eth[:10], ip_eth
    if case == "arp-hwtype":
        return eth(b"\xff" * 6, smac, ETH_P_ARP) + arp(1, smac, sip, b"\0" * 6, dip, htype=7), None
    if case == "ihl-short":
        return ip_eth + ipv4(sip, dip, icmp_echo(), ihl=4), None
    if case == "ihl-long":
        return ip_eth + ipv4(sip, dip, icmp_echo(), ihl=15), None
    if case == "totlen-long":
        return ip_eth + ipv4(sip, dip, icmp_echo(), total_len=1000), None
    if case == "ip-csum":
        return ip_eth + ipv4(sip, dip, icmp_echo(), bad_csum=True), None
    if case == "martian":
        return ip_eth + ipv4("127.0.0.1", dip, icmp_echo()), None
    raise SystemExit("inject.py: unknown case %s" % case)


def main() -> int:
    if len(sys.argv) < 6:
        print(__doc__, file=sys.stderr)
        return 2
    iface, dmac_s, sip, dip = sys.argv[1:5]
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    smac = s.getsockname()[4][:6]
    dmac = mac_bytes(dmac_s)
    for case in sys.argv[5:]:
        frame, fallback = build(case, dmac, smac, sip, dip)
        try:
            n = s.send(frame)
            print("%s sent %d" % (case, n), flush=True)
        except OSError as e:
            if fallback is None:
                print("%s refused %s" % (case, e.strerror), flush=True)
                continue
            n = s.send(fallback)
            print("%s refused %s; sent fallback %d" % (case, e.strerror, n), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
