#!/usr/bin/env python3
"""Writes the seed corpus of each fuzz target (tests/fuzz/corpus/<target>/).

Two kinds of seeds: hand-built ones (below) and ones cut from a real
capture of the Linux kernel talking to netpath (corpus_from_pcap.py, run
at the end, from tests/fuzz/captures/kernel_to_netpath.pcap; the pcap is
recorded again with capture_seeds.sh).

Each seed is a small, valid input in the target's format (see the comment
at the top of each fuzz_*.c): real frames addressed to the fuzz stack
(us 10.0.0.1, MAC 02:00:00:00:00:01; peer 10.0.0.2, MAC 02:00:00:00:00:02),
so the fuzzer starts from inputs that reach deep into the stack.
Run it again after changing an input format: python3 tests/fuzz/make_corpus.py
"""
import os
import socket
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
US_MAC = bytes([2, 0, 0, 0, 0, 1])
PEER_MAC = bytes([2, 0, 0, 0, 0, 2])
US, PEER = "10.0.0.1", "10.0.0.2"


def csum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def eth(t: int, dst=US_MAC) -> bytes:
    return dst + PEER_MAC + struct.pack("!H", t)


def ip(proto: int, payload: bytes, ident=1, frag=0, src=PEER, dst=US) -> bytes:
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0,
                    socket.inet_aton(src), socket.inet_aton(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def pseudo(proto: int, l4: bytes) -> bytes:
    return socket.inet_aton(PEER) + socket.inet_aton(US) + struct.pack("!BBH", 0, proto, len(l4))


def icmp_echo(seq=1, data=b"fuzzseed" * 4) -> bytes:
    h = struct.pack("!BBHHH", 8, 0, 0, 0x1234, seq) + data
    return h[:2] + struct.pack("!H", csum(h)) + h[4:]


def udp(dport: int, data: bytes) -> bytes:
    h = struct.pack("!HHHH", 5000, dport, 8 + len(data), 0) + data
    c = csum(pseudo(17, h) + h) or 0xFFFF
    return h[:6] + struct.pack("!H", c) + h[8:]


def tcp(sport, dport, seq, ack, flags, opts=b"", data=b"", win=65535) -> bytes:
    opts += b"\0" * (-len(opts) % 4)
    h = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (5 + len(opts) // 4) << 4, flags, win, 0, 0) + opts + data
    return h[:16] + struct.pack("!H", csum(pseudo(6, h) + h)) + h[18:]


def arp_req(tip=US) -> bytes:
    return eth(0x0806, b"\xff" * 6) + struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, PEER_MAC,
                                                  socket.inet_aton(PEER), b"\0" * 6, socket.inet_aton(tip))


SYN_OPTS = bytes([2, 4, 5, 0xB4, 4, 2, 8, 10]) + struct.pack("!II", 1, 0) + bytes([1, 3, 3, 7])


def frames_seed(mode: int, frames) -> bytes:
    out = bytes([mode])
    for f in frames:
        out += struct.pack("!H", len(f)) + f
    return out


def write(target: str, name: str, data: bytes) -> None:
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as fh:
        fh.write(data)


def main() -> None:
    echo = eth(0x0800) + ip(1, icmp_echo())
    syn = eth(0x0800) + ip(6, tcp(40000, 80, 1000, 0, 0x02, SYN_OPTS))
    ack = eth(0x0800) + ip(6, tcp(40000, 80, 1001, 0, 0x10))
    dns = eth(0x0800) + ip(17, udp(53, b"\x12\x34\x01\x00\x00\x01" + b"\0" * 6))
    noport = eth(0x0800) + ip(17, udp(9, b"hello"))
    payload = icmp_echo(2, bytes(range(64)))
    frag1 = eth(0x0800) + ip(1, payload[:40], ident=7, frag=0x2000)
    frag2 = eth(0x0800) + ip(1, payload[40:], ident=7, frag=5)
    synack = eth(0x0800) + ip(6, tcp(5000, 45000, 7000, 0, 0x12, bytes([2, 4, 5, 0xB4])))
    write("fuzz_frame", "arp_request", frames_seed(1, [arp_req()]))
    write("fuzz_frame", "echo", frames_seed(0, [echo]))
    write("fuzz_frame", "tcp_syn_ack", frames_seed(1, [syn, ack]))
    write("fuzz_frame", "udp", frames_seed(1, [dns, noport]))
    write("fuzz_frame", "fragments", frames_seed(3, [frag2, frag1]))
    write("fuzz_frame", "mixed_timers", frames_seed(3, [arp_req(), echo, syn, synack, dns]))

    # tcp_parse: bare TCP headers.
    write("fuzz_tcp_options", "syn_full", tcp(1, 2, 3, 0, 0x02, SYN_OPTS))
    write("fuzz_tcp_options", "sack", tcp(1, 2, 3, 4, 0x10, bytes([1, 1, 5, 18]) + struct.pack("!IIII", 10, 20, 30, 40)))
    write("fuzz_tcp_options", "ts_data", tcp(1, 2, 3, 4, 0x18, bytes([1, 1, 8, 10]) + struct.pack("!II", 5, 6), b"data"))
    write("fuzz_tcp_options", "plain", tcp(1, 2, 3, 4, 0x10))

    # Reassembly records: op, off(2, units of 8), flags, len(2), data.
    def rec(op, off, fl, data):
        return struct.pack("!BHBH", op, off, fl, len(data)) + data
    udp_dgram = struct.pack("!HHHH", 5000, 53, 8 + 56, 0) + bytes(range(56))
    write("fuzz_ipv4_reasm", "in_order", rec(0, 0, 1, udp_dgram[:32]) + rec(0, 4, 0, udp_dgram[32:]))
    write("fuzz_ipv4_reasm", "reverse", rec(1, 4, 0, udp_dgram[32:]) + rec(1, 0, 1, udp_dgram[:32]))
    write("fuzz_ipv4_reasm", "overlap_timeout", rec(2, 0, 1, udp_dgram[:32]) + rec(2, 2, 1, udp_dgram[16:48]) +
          bytes([0x80 | 70]))
    write("fuzz_ipv4_reasm", "icmp_three", rec(4, 0, 1, payload[:24]) + rec(4, 6, 0, payload[48:]) +
          rec(4, 3, 1, payload[24:48]))

    # Session records (12 bytes): see fuzz_tcp_session.c.
    def seg(flow, flags, dseq=0, dack=0, win=65535, plen=0, opt=0, urg=0):
        return struct.pack("!BBBhhHBBB", 1, flow, flags, dseq, dack, win, plen, opt, urg)

    def app(op, a=0, b=0):
        return bytes([op, a, b]) + b"\0" * 9
    server = seg(0, 0x02, opt=2) + seg(0, 0x10) + app(7) + seg(0, 0x18, plen=100) + app(4) + app(3, 0, 8) + \
        seg(0, 0x10) + seg(0, 0x11) + app(6) + app(0, 0x0F, 0xA0)
    write("fuzz_tcp_session", "server_exchange", server)
    client = seg(1, 0x12, opt=2) + app(3, 1, 4) + seg(1, 0x10, plen=50) + app(4, 1) + app(5, 1) + \
        seg(1, 0x11) + app(0, 0x75, 0x30)
    write("fuzz_tcp_session", "client_exchange", client)
    write("fuzz_tcp_session", "rst_challenge", seg(0, 0x02, opt=1) + seg(0, 0x10) + seg(0, 0x04, dseq=100) +
          seg(0, 0x02, dseq=5) + seg(0, 0x10, dack=3000))
    write("fuzz_tcp_session", "retransmit", seg(0, 0x02, opt=1) + seg(0, 0x10) + app(7) + app(3, 0, 200) +
          app(0, 0x10, 0x00) + seg(0, 0x10, opt=3) + app(0, 0xFF, 0xFF))

    # UDP records (same 12 bytes): 8 datagram in, 9 send, 10 recv, 11 ICMP error quoting what we sent.
    def rec(op, *b):
        b = bytes(b)
        return bytes([op]) + b + b"\0" * (11 - len(b))
    def dgram(bits, plen, fl=0, adj=0, first=0, salt=0):
        return rec(8, bits, plen >> 8, plen & 0xFF, fl, adj & 0xFF, first, salt)
    udp_seed = (dgram(0, 40) + rec(10, 0) + dgram(1, 100) + rec(10, 1, 2, 4) + rec(9, 1, 0, 200) +
                rec(11, 1, 0, 3, 0, 0, 28) + rec(10, 1) + rec(9, 0, 0x05, 0xDC) + rec(0, 0, 50) +
                dgram(0, 1400, 4, 0, 90, 1) + rec(10, 0) + dgram(2 | 1, 10) + rec(10, 1) + dgram(4, 30) +
                dgram(8, 16) + dgram(0, 20, 1) + dgram(0, 20, 2, 0xFC) + rec(10, 0))
    write("fuzz_tcp_session", "udp_exchange", udp_seed)
    pmtu = (seg(0, 0x02, opt=1) + seg(0, 0x10) + app(7) + app(3, 0, 90) +
            rec(11, 0, 0, 4, 0x02, 0x40, 28) + app(0, 0x01, 0x00) + seg(0, 0x10) +
            rec(11, 0, 0, 1, 0, 0, 28) + rec(11, 0, 1, 0, 0, 0, 8) + app(0, 0x10, 0x00))
    write("fuzz_tcp_session", "icmp_errors", pmtu)

    socket_api_seeds()
    sys.dont_write_bytecode = True  # no __pycache__ in the tree
    import corpus_from_pcap  # the seeds cut from the real capture
    corpus_from_pcap.main()


def socket_api_seeds() -> None:
    """Records of 8 bytes (see fuzz_socket_api.c): op, slot, a, b, c (be16), d (be16)."""
    def r(op, slot=0, a=0, b=0, c=0, d=0):
        return struct.pack("!BBBBHH", op, slot, a, b, c, d)
    # Address selector: ip index (0 any, 1 A, 2 B, 3 lo, 7 silent host) | port index << 3 (1: 80, 2: 81, 3: c).
    A80, B80, B81, LO80, SILENT80 = 0x09, 0x0A, 0x12, 0x0B, 0x0F
    TCP_B, TCP_A, UDP_B, UDP_A = 0x80, 0x00, 0x81, 0x01
    adv = lambda ms: r(16, 0, 0, 0, ms)
    tcp = (r(0, 0, TCP_B) + r(9, 0, 0, 0, 0x0100) + r(1, 0, B80) + r(2, 0, 0, 4) +
           r(0, 1, TCP_A) + r(3, 1, B80) + adv(10) + r(4, 0, 1) +
           r(5, 1, 0, 0, 1000) + adv(10) + r(7, 2, 0, 0, 2000) +
           r(5, 2, 0, 0, 500) + r(17, 0, 3) + r(7, 1, 1, 0, 100) + r(7, 1, 0, 0, 600) +
           r(11, 1, 0, 1) + adv(10) + r(7, 2, 0, 0, 100) + r(15, 2, 1) + r(15, 1, 0) +
           r(12, 2) + r(12, 1) + r(12, 0) + r(19) + r(19))
    write("fuzz_socket_api", "tcp_exchange", tcp)
    udp = (r(0, 0, UDP_B) + r(1, 0, B81) + r(0, 1, UDP_A) + r(1, 1, A80) + r(3, 1, B81) +
           r(5, 1, 0, 0, 300) + r(6, 1, 0, B81, 40) + adv(5) + r(8, 0, 0, 0, 2000) +
           r(7, 0, 2, 0, 10) + r(6, 0, 0, A80, 1472) + adv(5) + r(18, 1, 1, 0, 4000, 0x4000) +
           r(0, 3, UDP_A) + r(3, 3, 0x1A, 0, 9) + r(5, 3, 0, 0, 20) + adv(100) + r(7, 3, 0, 0, 100) +
           r(10, 3, 0, 9) + r(6, 1, 0x80, 0x1A, 0x7000, 9) + adv(5) +
           r(12, 0) + r(12, 1) + r(12, 3))
    write("fuzz_socket_api", "udp_exchange", udp)
    opts = r(0, 0, TCP_A)
    for lvl in (0, 2, 3, 5):
        for name in range(16):
            opts += r(9, 0, lvl, name, 0x0100) + r(10, 0, lvl, name)
    opts += (r(9, 0, 0, 15, 0x0100, 0x0500) + r(14, 0, 0) + r(14, 0, 1) + r(15, 0, 0) + r(15, 0, 1) +
             r(13, 0, 0x01, 3, 0x0007) + r(12, 0))
    write("fuzz_socket_api", "sockopts", opts)
    lo = (r(0, 0, TCP_A) + r(1, 0, LO80) + r(2, 0, 0, 2) + r(0, 1, TCP_A) + r(3, 1, LO80) + r(17, 0, 0) +
          r(4, 0, 0) + r(3, 1, LO80) + r(5, 1, 0, 0, 3000) + r(17) + r(7, 2, 4, 0, 3000) +
          r(9, 2, 0, 15, 0x0100, 0x0500) + r(12, 2) + adv(1) + r(7, 1, 0, 0, 10) + r(12, 1) + r(12, 0) + r(19))
    write("fuzz_socket_api", "loopback_abort", lo)
    fail = (r(0, 0, TCP_A) + r(3, 0, SILENT80) + r(0, 1, TCP_A) + r(3, 1, B81) + adv(50) + r(10, 1, 0, 9) +
            r(3, 1, B81) + r(0, 2, UDP_A) + r(6, 2, 0, SILENT80, 64) + r(16, 0, 0x80, 0, 2000) +
            r(10, 0, 0, 9) + r(3, 0, SILENT80) + r(19) + r(12, 0) + r(12, 1) + r(12, 2))
    write("fuzz_socket_api", "failures", fail)
    # Regressions of bugs this target found (each failed the wire or errno checks before its fix).
    # An abortive close (SO_LINGER 0) and a close with unread data sent their RST from port 0.
    write("fuzz_socket_api", "regress_close_unread_rst",
          r(0, 0, TCP_B) + r(1, 0, B80) + r(2, 0, 0, 4) + r(0, 1, TCP_A) + r(3, 1, B80) + adv(10) + r(4, 0) +
          r(5, 1, 0, 0, 100) + adv(10) + r(12, 2) + adv(10) + r(7, 1, 0, 0, 100) + r(12, 1) + r(12, 0) + r(19))
    # recvfrom after shutdown(SHUT_RD) on UDP returned 0 with addrlen 16 and an unwritten address.
    write("fuzz_socket_api", "regress_udp_recvfrom_after_shutdown",
          r(0, 0, UDP_B) + r(1, 0, B81) + r(11, 0, 0, 0) + r(8, 0, 0, 0, 2000) + r(18, 0, 1, 0, 100, 0x4000) +
          r(8, 0, 0x60, 0, 100))   # ... and recvfrom(MSG_ERRQUEUE) then returned 0 (EOF) instead of EAGAIN
    # setsockopt(TCP_CONGESTION, NULL, 0) passed NULL to memcpy (UBSan).
    write("fuzz_socket_api", "regress_tcp_congestion_null", r(0, 0, TCP_A) + r(9, 0, 3, 9, 0, 0x8040))


if __name__ == "__main__":
    main()
