#!/usr/bin/env python3
"""The kernel's side of tests/interop/test_udp.sh: UDP through the Linux
kernel's own sockets, against netpath on the other end of a TAP.

  udp_peer.py flood HOST PORT [--count N] [--max-size N] [--window N] [--seed N] [--timeout SEC]
      Sends N datagrams (sizes cycling 1..max-size, random contents) to an
      echo server, up to --window in flight, and checks that every reply is
      the datagram sent, byte for byte. Exit 0 only if all N came back intact.
  udp_peer.py refused HOST PORT
      A connected socket sends one datagram to a port where nothing listens;
      exit 0 if the next recv fails with ECONNREFUSED (the ICMP port
      unreachable reached the socket, as udp(7) says).
  udp_peer.py silent HOST PORT [--count N] [--wait SEC]
      A connected socket sends N datagrams to a discard server; exit 0 if
      neither a reply nor an ICMP error (ECONNREFUSED) comes back.
  udp_peer.py echo-server PORT
      Echoes every datagram on 0.0.0.0:PORT until SIGTERM; prints "ready"
      once bound and "echoed N datagrams" at the end.
"""
import argparse
import collections
import errno
import random
import signal
import socket
import sys
import time


def connected(host, port, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.connect((host, port))
    s.settimeout(timeout)
    return s


def flood(a):
    s = connected(a.host, a.port, a.timeout)
    rng = random.Random(a.seed)
    outstanding = collections.deque()     # payloads sent and not yet echoed, in order
    sent = matched = reordered = mismatched = lost = errors = 0
    t0 = time.monotonic()
    while sent < a.count or outstanding:
        while sent < a.count and len(outstanding) < a.window:
            data = rng.randbytes(sent % a.max_size + 1)
            s.send(data)
            outstanding.append(data)
            sent += 1
        try:
            reply = s.recv(65536)
        except socket.timeout:
            # No reply for --timeout seconds: whatever is still in flight is lost.
            lost += len(outstanding)
            outstanding.clear()
            continue
        except OSError as e:
            errors += 1
            print(f"flood: recv: {e}", file=sys.stderr)
            if errors > 10:
                break
            continue
        if outstanding and reply == outstanding[0]:
            outstanding.popleft()
            matched += 1
            continue
        for k, d in enumerate(outstanding):
            if d == reply:
                del outstanding[k]
                matched += 1
                reordered += 1
                break
        else:
            mismatched += 1
            if mismatched <= 3:
                print(f"flood: a reply of {len(reply)} bytes matches nothing sent", file=sys.stderr)
    elapsed = time.monotonic() - t0
    print(f"flood: {sent} sent, {matched} echoed intact, {mismatched} mismatched, {lost} lost, "
          f"{reordered} out of order, {errors} errors, {elapsed:.2f} s "
          f"({sent / elapsed if elapsed > 0 else 0:.0f} datagrams/s, window {a.window})")
    return 0 if matched == a.count and mismatched == 0 else 1


def refused(a):
    s = connected(a.host, a.port, 3.0)
    s.send(b"is anybody there?")
    try:
        data = s.recv(65536)
    except ConnectionRefusedError:
        print("refused: recv failed with ECONNREFUSED")
        return 0
    except socket.timeout:
        print("refused: no ICMP error within 3 s (recv timed out)")
        return 1
    except OSError as e:
        print(f"refused: recv failed with {errno.errorcode.get(e.errno, e.errno)}, expected ECONNREFUSED")
        return 1
    print(f"refused: got a {len(data)}-byte reply, expected ECONNREFUSED")
    return 1


def silent(a):
    s = connected(a.host, a.port, a.wait)
    for i in range(a.count):
        s.send(b"discard me %d" % i)
    try:
        data = s.recv(65536)
    except socket.timeout:
        print(f"silent: {a.count} datagrams sent, no reply and no ICMP error within {a.wait} s")
        return 0
    except OSError as e:
        print(f"silent: recv failed with {errno.errorcode.get(e.errno, e.errno)} (an ICMP error came back)")
        return 1
    print(f"silent: got a {len(data)}-byte reply")
    return 1


def echo_server(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind(("0.0.0.0", a.port))
    n = 0

    def done(*_):
        print(f"echoed {n} datagrams", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, done)
    signal.signal(signal.SIGINT, done)
    print("ready", flush=True)
    while True:
        data, peer = s.recvfrom(65536)
        s.sendto(data, peer)
        n += 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("flood")
    f.add_argument("host")
    f.add_argument("port", type=int)
    f.add_argument("--count", type=int, default=10000)
    f.add_argument("--max-size", type=int, default=1472)
    f.add_argument("--window", type=int, default=32)
    f.add_argument("--seed", type=int, default=1)
    f.add_argument("--timeout", type=float, default=2.0)
    r = sub.add_parser("refused")
    r.add_argument("host")
    r.add_argument("port", type=int)
    q = sub.add_parser("silent")
    q.add_argument("host")
    q.add_argument("port", type=int)
    q.add_argument("--count", type=int, default=3)
    q.add_argument("--wait", type=float, default=1.0)
    e = sub.add_parser("echo-server")
    e.add_argument("port", type=int)
    a = p.parse_args()
    return {"flood": flood, "refused": refused, "silent": silent, "echo-server": echo_server}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
