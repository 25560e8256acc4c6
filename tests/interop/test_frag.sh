#!/usr/bin/env bash
# Interop test of IPv4 fragmentation and reassembly (src/net/ipv4/ip_fragment.c):
# netpath on TAP devices against the Linux kernel, inside a network namespace of
# its own (npfr-PID, devices npf0..npf3, addresses 10.80.x only).
#   kernel ping -s 8000 -> netpath run (reassembles, answers fragmented; the kernel reassembles)
#   kernel UDP 20,000-byte datagrams -> netpath run --serve echo -> back, byte for byte
#     both at MTU 1500 (npf0) and 576 (npf1: --mtu 576 and ip link set mtu 576)
#   netpath ping -s 8000 -> the kernel (netpath fragments, the kernel reassembles and
#     answers fragmented) at MTU 1500 (npf2) and 576 (npf3)
#   examples/udp_echo_client --size 20000 -> a kernel UDP echo server (npf2)
# Usage: test_frag.sh /path/to/netpath   (as root; never skips: FAILs if it cannot run)
set -u

NP=${1:-}
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=test_frag

. "$(dirname "$0")/lib.sh"

# ---- can this run at all? Say so loudly and fail, never skip. ----
[ -n "$NP" ] || fail "cannot run: give the netpath binary as the first argument"
[ -x "$NP" ] || fail "cannot run: $NP is not an executable"
EX=$(cd "$(dirname "$NP")" && pwd)/examples
[ -x "$EX/udp_echo_client" ] || fail "cannot run: $EX/udp_echo_client is missing (build the examples: cmake --build BUILD)"
[ "$(id -u)" -eq 0 ] || fail "cannot run: needs root (it creates a network namespace and TAP devices); run ./scripts/test.sh as root or with sudo"
for tool in ip ping python3 timeout awk grep sed; do
	command -v "$tool" >/dev/null 2>&1 || fail "cannot run: '$tool' is missing (./scripts/test.sh installs it)"
done
[ -c /dev/net/tun ] || fail "cannot run: /dev/net/tun is missing (modprobe tun)"

# The outer run creates the namespace and runs this same script inside it, so
# every process the test starts is its own child and cleanup cannot miss one.
if [ -z "${NPFR_INSIDE:-}" ]; then
	NS=npfr-$$
	ip netns add "$NS" || fail "cannot run: ip netns add $NS failed"
	trap 'ip netns del "$NS" 2>/dev/null' EXIT
	trap 'exit 1' INT TERM
	NPFR_INSIDE=$NS ip netns exec "$NS" bash "$0" "$NP"
	exit $?
fi
NS=$NPFR_INSIDE

TMP=$(mktemp -d /tmp/npfr.XXXXXX) || fail "cannot run: mktemp failed"
NP_PID=
ECHO_PID=
CHECKS=0
FAILURES=0

cleanup() {
	stop_pid "$NP_PID" >/dev/null 2>&1
	stop_pid "$ECHO_PID" >/dev/null 2>&1
	keep_or_remove_tmp
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 1' INT TERM

# The kernel's side of the UDP test: COUNT datagrams of SIZE random bytes, one at a
# time, each to be echoed back byte for byte (no retries: the TAP link loses nothing).
cat >"$TMP/frag_peer.py" <<'EOF'
import os, socket, sys
host, port, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.settimeout(5)
s.connect((host, port))
intact = 0
for i in range(count):
    data = os.urandom(size)
    s.send(data)
    try:
        reply = s.recv(65536)
    except socket.timeout:
        print(f"datagram {i}: no echo within 5 s", file=sys.stderr)
        continue
    if reply == data:
        intact += 1
    else:
        print(f"datagram {i}: echo of {len(reply)} bytes differs", file=sys.stderr)
print(f"{intact} of {count} datagrams of {size} bytes echoed intact")
sys.exit(0 if intact == count else 1)
EOF

ip link set lo up
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1

echo "# $NAME: namespace $NS, netpath $NP, logs in $TMP"

# kernel_to_netpath MTU DEV NET: netpath run --serve echo on DEV, the kernel pings and sends UDP to it.
kernel_to_netpath() {
	local mtu=$1 dev=$2 net=$3 out
	"$NP" run --tap "$dev" --addr "$net.2/24" --host-addr "$net.1/24" --mtu "$mtu" --serve echo \
		>"$TMP/run-$mtu.out" 2>"$TMP/run-$mtu.err" &
	NP_PID=$!
	wait_ready "$TMP/run-$mtu.err" "netpath: $dev up" "$NP_PID" || fail "netpath run did not come up on $dev"
	ip link set dev "$dev" mtu "$mtu" || bad "ip link set dev $dev mtu $mtu"
	expect "kernel side of $dev has MTU $mtu" "$(cat "/sys/class/net/$dev/mtu")" "$mtu"

	out=$(timeout 30 ping -n -c 3 -i 0.3 -W 5 -s 8000 "$net.2" 2>&1)
	st=$?
	echo "$out" | sed 's/^/     /' | tail -3
	expect "MTU $mtu: kernel ping -s 8000 to netpath (netpath reassembles, replies fragmented): exit" "$st" 0
	echo "$out" | grep -q "3 received" && ok "MTU $mtu: all 3 echo replies of 8008 bytes came back" ||
		bad "MTU $mtu: replies missing"

	timeout 120 python3 "$TMP/frag_peer.py" "$net.2" 7 20 20000 >"$TMP/udp-$mtu.out" 2>&1
	st=$?
	sed 's/^/     /' "$TMP/udp-$mtu.out"
	expect "MTU $mtu: 20 kernel UDP datagrams of 20,000 bytes echoed by netpath byte for byte: exit" "$st" 0
	timeout 60 python3 "$TMP/frag_peer.py" "$net.2" 7 3 65507 >"$TMP/udp-max-$mtu.out" 2>&1
	st=$?
	expect "MTU $mtu: 3 datagrams of 65,507 bytes (the IPv4 maximum): $(cat "$TMP/udp-max-$mtu.out")" "$st" 0

	stop_pid "$NP_PID"
	st=$?
	NP_PID=
	expect "MTU $mtu: netpath run exits 0 on SIGTERM" "$st" 0
	local per=$(( (20008 + ((mtu - 20) / 8 * 8) - 1) / ((mtu - 20) / 8 * 8) ))
	at_least "MTU $mtu: IpReasmOKs (3 pings + 23 datagrams)" "$(counter IpReasmOKs "$TMP/run-$mtu.out")" 26
	at_least "MTU $mtu: IpFragOKs (3 replies + 23 echoes)" "$(counter IpFragOKs "$TMP/run-$mtu.out")" 26
	at_least "MTU $mtu: IpFragCreates ($per fragments per 20,000-byte echo)" \
		"$(counter IpFragCreates "$TMP/run-$mtu.out")" $((20 * per))
	expect "MTU $mtu: IpReasmFails" "$(counter IpReasmFails "$TMP/run-$mtu.out")" 0
	expect "MTU $mtu: IpFragFails" "$(counter IpFragFails "$TMP/run-$mtu.out")" 0
	expect "MTU $mtu: IpExtReasmOverlaps" "$(counter IpExtReasmOverlaps "$TMP/run-$mtu.out")" 0
	expect "MTU $mtu: drop PKT_TOO_BIG (every frame fit the link)" "$(counter PKT_TOO_BIG "$TMP/run-$mtu.out")" 0
}

kernel_to_netpath 1500 npf0 10.80.0
kernel_to_netpath 576 npf1 10.80.1

# netpath_to_kernel MTU DEV NET: netpath ping -s 8000 to the kernel, which reassembles and answers fragmented.
netpath_to_kernel() {
	local mtu=$1 dev=$2 net=$3
	timeout 60 "$NP" ping --tap "$dev" --addr "$net.2/24" --host-addr "$net.1/24" --mtu "$mtu" \
		-c 3 -i 0.3 -W 5 -s 8000 "$net.1" >"$TMP/ping-$mtu.out" 2>&1
	st=$?
	tail -3 "$TMP/ping-$mtu.out" | sed 's/^/     /'
	expect "MTU $mtu: netpath ping -s 8000 to the kernel (the kernel reassembles and replies fragmented): exit" "$st" 0
	grep -q "3 packets transmitted, 3 received" "$TMP/ping-$mtu.out" &&
		ok "MTU $mtu: all 3 replies reassembled by netpath" || bad "MTU $mtu: $(grep transmitted "$TMP/ping-$mtu.out")"
	grep -q "^8008 bytes from $net.1" "$TMP/ping-$mtu.out" && ok "MTU $mtu: replies of 8008 bytes" ||
		bad "MTU $mtu: no 8008-byte reply line"
}

netpath_to_kernel 1500 npf2 10.80.2
netpath_to_kernel 576 npf3 10.80.3

# ---- examples/udp_echo_client: 20,000-byte datagrams from netpath to a kernel UDP echo server ----
python3 "$HERE/udp_peer.py" echo-server 7777 >"$TMP/kecho.out" 2>&1 &
ECHO_PID=$!
wait_ready "$TMP/kecho.out" "ready" "$ECHO_PID" || fail "the kernel echo server did not start"
timeout 120 "$EX/udp_echo_client" --tap npf2 --addr 10.80.2.2/24 --host-addr 10.80.2.1/24 \
	--count 20 --size 20000 10.80.2.1:7777 >"$TMP/client.out" 2>&1
st=$?
tail -1 "$TMP/client.out" | sed 's/^/     /'
expect "udp_echo_client --count 20 --size 20000 to the kernel's echo server: exit" "$st" 0
grep -q "20 datagrams of 20000 bytes sent to 10.80.2.1:7777: 20 echoed back intact" "$TMP/client.out" &&
	ok "the kernel reassembled netpath's fragments and netpath reassembled the kernel's" ||
	bad "client summary: $(tail -1 "$TMP/client.out")"
stop_pid "$ECHO_PID"
ECHO_PID=

echo "# $NAME: $CHECKS checks, $FAILURES failed"
[ "$FAILURES" -eq 0 ] || exit 1
echo "PASS: $NAME"
exit 0
