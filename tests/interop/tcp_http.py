#!/usr/bin/env python3
"""Kernel-side HTTP helpers for tests/interop/test_tcp.sh (standard library only).

  tcp_http.py serve BIND PORT DIR
      An HTTP/1.1 server over the kernel's TCP that frames its bodies in the
      two ways python's http.server does not: GET /chunked/NAME answers the
      file DIR/NAME with Transfer-Encoding: chunked (chunks of 1 byte to
      64 KiB, fixed seed), GET /close/NAME answers it with no Content-Length,
      the end of the body being the server's close (RFC 9112 6.3). Prints
      "ready" once listening.

  tcp_http.py raw HOST PORT REQUEST
      Sends REQUEST (Python escapes such as \\r\\n are decoded) on one
      connection, then half-closes it and prints the status line of the
      first response (or "no response"). For malformed and refused requests.

  tcp_http.py pipeline HOST PORT
      Sends four requests on one connection, all at once (pipelined):
      GET /1K, HEAD /1M, GET /missing, GET /1K with Connection: close, and
      reads the four responses in order. Exit 0 if the statuses are 200,
      200, 404, 200, each body has its Content-Length (none for HEAD), the
      two GET /1K bodies are identical 1024-byte bodies, and the
      server closes after the last (persistent connection, RFC 9112 9.3).
"""
import random
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def serve(bind, port, root):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            parts = self.path.split("/")
            if len(parts) != 3 or parts[1] not in ("chunked", "close") or not parts[2] or parts[2].startswith("."):
                self.send_error(404)
                return
            try:
                with open(f"{root}/{parts[2]}", "rb") as f:
                    data = f.read()
            except OSError:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if parts[1] == "chunked":
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                rng = random.Random(len(data))
                off = 0
                while off < len(data):
                    n = min(len(data) - off, rng.choice((1, 7, 100, 1460, 4096, 65536)))
                    self.wfile.write(b"%x;ext=1\r\n" % n + data[off:off + n] + b"\r\n")
                    off += n
                self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")
            else:
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = Server((bind, port), Handler)
    print("ready", flush=True)
    srv.serve_forever()


def read_response(f, head_only=False):
    """(status, headers dict, body) of one response read from file f; None at EOF."""
    line = f.readline()
    if not line:
        return None
    status = int(line.split()[1])
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b"\n", b""):
            break
        k, _, v = h.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    body = b"" if head_only else f.read(n)
    return status, headers, body


def raw(host, port, request):
    req = request.encode("latin-1").decode("unicode_escape").encode("latin-1")
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(req)
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    f = s.makefile("rb")
    try:
        line = f.readline().decode("latin-1").strip()
    except (ConnectionResetError, socket.timeout) as e:
        line = f"no response ({e.__class__.__name__})"
    print(line or "no response")
    return 0


def pipeline(host, port):
    s = socket.create_connection((host, port), timeout=20)
    reqs = (b"GET /1K HTTP/1.1\r\nHost: t\r\n\r\n"
            b"HEAD /1M HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n"
            b"GET /1K HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    s.sendall(reqs)
    f = s.makefile("rb")
    got = []
    for head_only in (False, True, False, False):
        r = read_response(f, head_only)
        if r is None:
            break
        got.append(r)
    rest = f.read()   # the server must close after the Connection: close request
    statuses = [g[0] for g in got]
    ok = (statuses == [200, 200, 404, 200] and len(got[0][2]) == 1024 and got[0][2] == got[3][2]
          and got[1][1].get("content-length") == "1048576" and got[1][2] == b"" and rest == b"")
    print(f"pipelined 4 requests on one connection: statuses {statuses}, "
          f"bodies {[len(g[2]) for g in got]}, {len(rest)} bytes after the last response, "
          f"{'ok' if ok else 'WRONG'}")
    return 0 if ok else 1


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "serve" and len(sys.argv) == 5:
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 5 and sys.argv[1] == "raw":
        sys.exit(raw(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
    elif len(sys.argv) == 4 and sys.argv[1] == "pipeline":
        sys.exit(pipeline(sys.argv[2], int(sys.argv[3])))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
