#!/usr/bin/env bash
# Records the real traffic the fuzz seed corpus is cut from: the Linux
# kernel talks to `netpath run` over a TAP inside a network namespace this
# script creates, and netpath's own --pcap writes both directions.
#   tests/fuzz/capture_seeds.sh NETPATH [OUT.pcap]
#     (root; default OUT: tests/fuzz/captures/kernel_to_netpath.pcap)
# Traffic, kernel 10.0.0.2 -> netpath 10.0.0.1 (the fuzz stack's address):
#   ARP, 2 pings, a 3000-byte ping (3 fragments each way), a UDP exchange
#   with --serve echo (port 7), TCP echo of 40 bytes, and an HTTP GET of a
#   2 KB file from --serve http=DIR, each connection closed normally.
# Then tests/fuzz/corpus_from_pcap.py turns the frames into seeds.
# FUZZ_NS names the namespace (default npfz<pid>); it, the TAP and netpath
# go away on every exit path.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
NP=${1:?usage: capture_seeds.sh NETPATH [OUT.pcap]}
NP=$(cd "$(dirname "$NP")" && pwd)/$(basename "$NP")
OUT=${2:-$HERE/captures/kernel_to_netpath.pcap}
NS=${FUZZ_NS:-npfz$$}
[ "$(id -u)" = 0 ] || { echo "error: needs root (network namespace and TAP)" >&2; exit 1; }
command -v curl >/dev/null || { echo "error: curl not found" >&2; exit 1; }
TMP=$(mktemp -d)
NP_PID=
cleanup() {
	[ -n "$NP_PID" ] && kill -TERM "$NP_PID" 2>/dev/null && wait "$NP_PID" 2>/dev/null || true
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT
mkdir -p "$(dirname "$OUT")" "$TMP/www"
# A small text file whose bytes are easy to recognise in a hex dump.
for i in $(seq 1 64); do printf 'netpath fuzz seed line %02d ....\n' "$i"; done >"$TMP/www/small.txt"

ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" "$NP" run --tap fz0 --addr 10.0.0.1/24 --host-addr 10.0.0.2/24 --pcap "$TMP/cap.pcap" \
	--serve http="$TMP/www" --serve echo >"$TMP/run.out" 2>"$TMP/run.err" &
NP_PID=$!
for _ in $(seq 100); do
	grep -q "fz0 up" "$TMP/run.err" 2>/dev/null && break
	kill -0 "$NP_PID" 2>/dev/null || { cat "$TMP/run.err" >&2; exit 1; }
	sleep 0.1
done
grep -q "fz0 up" "$TMP/run.err" || { echo "error: netpath did not come up" >&2; cat "$TMP/run.err" >&2; exit 1; }
# The kernel must hand netpath whole checksums (no TX offload on the TAP).
ip netns exec "$NS" ethtool -K fz0 tx off >/dev/null 2>&1 || true

ip netns exec "$NS" ping -c 2 -i 0.2 -W 2 10.0.0.1 >/dev/null
ip netns exec "$NS" ping -c 1 -s 3000 -W 2 10.0.0.1 >/dev/null
ip netns exec "$NS" python3 - <<'EOF'
import socket
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(2)
for msg in (b"hello netpath", b"x" * 200):
    u.sendto(msg, ("10.0.0.1", 7))
    assert u.recvfrom(2048)[0] == msg
t = socket.create_connection(("10.0.0.1", 7), timeout=2)
t.sendall(b"tcp echo through netpath, 40 bytes long")
got = b""
while len(got) < 39:
    got += t.recv(100)
t.close()
EOF
ip netns exec "$NS" curl -s --max-time 5 -o "$TMP/got.txt" http://10.0.0.1/small.txt
cmp -s "$TMP/got.txt" "$TMP/www/small.txt" || { echo "error: the HTTP download differs" >&2; exit 1; }
sleep 0.5   # the last FIN/ACKs
kill -TERM "$NP_PID"
wait "$NP_PID" || true
NP_PID=
cp "$TMP/cap.pcap" "$OUT"
echo "capture_seeds: wrote $OUT ($(stat -c %s "$OUT") bytes)"
