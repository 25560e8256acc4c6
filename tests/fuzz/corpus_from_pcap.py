#!/usr/bin/env python3
"""Cuts fuzz seeds out of a real capture (tests/fuzz/captures/*.pcap).

The capture (made by tests/fuzz/capture_seeds.sh: the Linux kernel at
10.0.0.2 talking to `netpath run` at 10.0.0.1 over a TAP) holds what a real
peer sends: the kernel's ARP, ICMP, fragments, UDP and TCP with its own
options, windows and timing. Each frame the kernel sent is readdressed to
the fuzz stack's MACs (us 02:00:00:00:00:01, peer 02:00:00:00:00:02; the IP
addresses already match) and written as seeds for:
  fuzz_frame        the frames themselves (length-prefixed, see fuzz_frame.c)
  fuzz_ipv4_reasm   the fragments of the 3000-byte ping, in order and reversed
  fuzz_tcp_session  the kernel's segments of the HTTP and TCP echo
                    connections as 12-byte records (seq/ack as deltas, the
                    server application's accept/send/recv/close between)
Plain struct parsing of the pcap: no dependency beyond python3.
  python3 tests/fuzz/corpus_from_pcap.py [capture.pcap]
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
US_MAC = bytes([2, 0, 0, 0, 0, 1])
PEER_MAC = bytes([2, 0, 0, 0, 0, 2])
US_IP = bytes([10, 0, 0, 1])
PEER_IP = bytes([10, 0, 0, 2])


def read_pcap(path):
    """Yields (timestamp in s, frame bytes) of a libpcap file with Ethernet frames."""
    with open(path, "rb") as fh:
        data = fh.read()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        end = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        end = ">"
    else:
        sys.exit("%s: not a libpcap file" % path)
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    linktype = struct.unpack(end + "I", data[20:24])[0]
    if linktype != 1:
        sys.exit("%s: link type %d, expected Ethernet (1)" % (path, linktype))
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(end + "IIII", data[off:off + 16])
        off += 16
        yield sec + frac / (1e9 if nano else 1e6), data[off:off + incl]
        off += incl


def from_kernel(f):
    """True for a frame the kernel (10.0.0.2) sent: IPv4 from it, or ARP from it."""
    et = struct.unpack("!H", f[12:14])[0]
    if et == 0x0800 and len(f) >= 34:
        return f[26:30] == PEER_IP
    if et == 0x0806 and len(f) >= 42:
        return f[28:32] == PEER_IP
    return False


def readdress(f):
    """The frame with the fuzz stack's MACs (a broadcast stays a broadcast)."""
    dst = f[0:6] if f[0:6] == b"\xff" * 6 else US_MAC
    f = dst + PEER_MAC + f[12:]
    if struct.unpack("!H", f[12:14])[0] == 0x0806:
        tha = f[32:38] if f[32:38] == b"\0" * 6 else US_MAC
        f = f[:22] + PEER_MAC + f[28:32] + tha + f[38:]
    return f


def ip_info(f):
    """(ihl, proto, frag field, payload) of an IPv4 frame, or None."""
    if struct.unpack("!H", f[12:14])[0] != 0x0800:
        return None
    ip = f[14:]
    ihl = (ip[0] & 15) * 4
    tot = struct.unpack("!H", ip[2:4])[0]
    return ihl, ip[9], struct.unpack("!H", ip[6:8])[0], ip[ihl:tot]


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as fh:
        fh.write(data)


def frames_seed(mode, frames):
    return bytes([mode]) + b"".join(struct.pack("!H", len(f)) + f for f in frames)


def tcp_fields(seg):
    sport, dport, seq, ack, doff, flags, win = struct.unpack("!HHIIBBH", seg[:16])
    hl = (doff >> 4) * 4
    return sport, dport, seq, ack, flags, win, seg[hl:], seg[20:hl]


def session_records(frames, port):
    """
    The kernel's side of one TCP connection to `port` as fuzz_tcp_session
    records (flow 0: the peer connects to the stack's listener on 80), with
    the server application's calls where netpath's server made them: accept
    after the handshake, recv after data, send what netpath sent, close
    after the peer's FIN. seq/ack are deltas from what the harness tracks,
    computed from the same bookkeeping on the captured numbers.
    """
    recs = b""
    peer_nxt = our_end = None
    last_t = None
    accepted = False
    for t, f, kernel in frames:
        info = ip_info(f)
        if not info or info[1] != 6 or info[2] & 0x3FFF:
            continue
        sport, dport, seq, ack, flags, win, payload, opts = tcp_fields(info[3])
        if (dport if kernel else sport) != port:
            continue
        if last_t is not None and t - last_t > 0.0005:
            ms = max(1, min(65535, int(round((t - last_t) * 1000))))
            recs += struct.pack("!BH", 0, ms) + b"\0" * 9
        last_t = t
        if not kernel:
            our_end = (seq + len(payload) + (1 if flags & 0x02 else 0) + (1 if flags & 0x01 else 0)) & 0xFFFFFFFF
            if payload and accepted:
                # What netpath's server sent, as the harness's send op ([2] * 16 bytes).
                recs += bytes([3, 0, min(255, (len(payload) + 15) // 16)]) + b"\0" * 9
            continue
        if peer_nxt is None:
            peer_nxt = seq
        dseq = (seq - peer_nxt + 0x8000) % 0x10000 - 0x8000
        dack = 0 if our_end is None or not flags & 0x10 else (ack - our_end + 0x8000) % 0x10000 - 0x8000
        opt = 2 if flags & 0x02 and opts else 0
        recs += struct.pack("!BBBhhHBBB", 1, 0, flags, dseq, dack, win, min(255, len(payload)), opt, 0)
        if seq == peer_nxt and not flags & 0x04:
            peer_nxt = (seq + len(payload) + (1 if flags & 0x02 else 0) + (1 if flags & 0x01 else 0)) & 0xFFFFFFFF
        if flags & 0x10 and not flags & 0x02 and not accepted:
            recs += bytes([7]) + b"\0" * 11
            accepted = True
        if payload:
            recs += bytes([4]) + b"\0" * 11
        if flags & 0x01:
            recs += bytes([6]) + b"\0" * 11
    return recs


def main(path=None):
    path = path or os.path.join(HERE, "captures", "kernel_to_netpath.pcap")
    frames = [(t, f, from_kernel(f)) for t, f in read_pcap(path)]
    frames = [(t, readdress(f) if k else f, k) for t, f, k in frames]
    kernel = [f for _t, f, k in frames if k]
    arp = [f for f in kernel if f[12:14] == b"\x08\x06"]
    echo, frags, udp, tcp80, tcp7 = [], [], [], [], []
    for f in kernel:
        info = ip_info(f)
        if not info:
            continue
        _ihl, proto, frag, payload = info
        if frag & 0x3FFF:
            frags.append(f)
        elif proto == 1:
            echo.append(f)
        elif proto == 17:
            udp.append(f)
        elif proto == 6:
            dport = struct.unpack("!H", payload[2:4])[0]
            (tcp80 if dport == 80 else tcp7).append(f)
    if not (arp and echo and frags and udp and tcp80 and tcp7):
        sys.exit("%s lacks some traffic (arp %d echo %d frags %d udp %d tcp80 %d tcp7 %d)" %
                 (path, len(arp), len(echo), len(frags), len(udp), len(tcp80), len(tcp7)))

    # fuzz_frame: mode 0 injects them as captured (the kernel's checksums are verified);
    # mode 2 adds 250 ms of clock after each frame; mode 1 lets the harness fix checksums.
    write("fuzz_frame", "pcap_arp_ping", frames_seed(0, arp + echo))
    write("fuzz_frame", "pcap_frag_ping", frames_seed(0, frags))
    write("fuzz_frame", "pcap_frag_ping_reversed_timers", frames_seed(2, frags[::-1]))
    write("fuzz_frame", "pcap_udp_echo_port7", frames_seed(0, udp))
    to53 = []
    for f in udp:
        ihl = (f[14] & 15) * 4
        to53.append(f[:14 + ihl + 2] + struct.pack("!H", 53) + f[14 + ihl + 4:])
    write("fuzz_frame", "pcap_udp_to_53_fixed", frames_seed(1, to53))
    write("fuzz_frame", "pcap_http_get", frames_seed(0, tcp80))
    write("fuzz_frame", "pcap_tcp_echo_closed_port", frames_seed(2, tcp7))

    # fuzz_ipv4_reasm: records op (4: ICMP, id 0), offset (8-byte units), flags (MF), len, data.
    def reasm(fs):
        out = b""
        for f in fs:
            _ihl, _proto, frag, payload = ip_info(f)
            out += struct.pack("!BHBH", 4, frag & 0x1FFF, 1 if frag & 0x2000 else 0, len(payload)) + payload
        return out
    write("fuzz_ipv4_reasm", "pcap_frag_ping", reasm(frags))
    write("fuzz_ipv4_reasm", "pcap_frag_ping_reversed", reasm(frags[::-1]) + bytes([0x80 | 70]))

    # fuzz_tcp_session: the HTTP and echo connections, both replayed against the listener.
    write("fuzz_tcp_session", "pcap_http_server", session_records(frames, 80))
    write("fuzz_tcp_session", "pcap_echo_server", session_records(frames, 7))
    # UDP: the echo requests as datagrams to the session's UDP server (op 8, flow 0), each read (op 10).
    recs = b""
    for f in udp:
        n = len(ip_info(f)[3]) - 8
        recs += bytes([8, 0, n >> 8, n & 255]) + b"\0" * 8 + bytes([10]) + b"\0" * 11
    write("fuzz_tcp_session", "pcap_udp_server", recs)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
