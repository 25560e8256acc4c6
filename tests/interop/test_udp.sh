#!/usr/bin/env bash
# Interop test of UDP and the socket layer: netpath on TAP devices against
# the Linux kernel's UDP, inside a network namespace of its own (npu-PID,
# devices npu0..npu2, addresses 10.78.x only).
#   kernel UDP (udp_peer.py, socat, nc -u) -> npu0 -> netpath run --serve echo --serve discard
#     10,000 datagrams of 1..1472 bytes echoed byte for byte; ECONNREFUSED from a
#     closed port; discard answers nothing, not even ICMP; the counters at exit
#   examples/udp_echo_client -> npu1 -> a kernel UDP echo server (and a closed kernel port)
#   kernel UDP -> npu2 -> examples/udp_echo_server; both examples without a TAP
#   kernel UDP and TCP -> npu3 -> netpath run --serve echo --busy-poll (SO_PREFER_BUSY_POLL)
# Usage: test_udp.sh /path/to/netpath   (as root; never skips: FAILs if it cannot run)
set -u

NP=${1:-}
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=test_udp

. "$(dirname "$0")/lib.sh"

# ---- can this run at all? Say so loudly and fail, never skip. ----
[ -n "$NP" ] || fail "cannot run: give the netpath binary as the first argument"
[ -x "$NP" ] || fail "cannot run: $NP is not an executable"
EX=$(cd "$(dirname "$NP")" && pwd)/examples
for ex in udp_echo_client udp_echo_server; do
	[ -x "$EX/$ex" ] || fail "cannot run: $EX/$ex is missing (build the examples: cmake --build BUILD)"
done
[ "$(id -u)" -eq 0 ] || fail "cannot run: needs root (it creates a network namespace and TAP devices); run ./scripts/test.sh as root or with sudo"
for tool in ip python3 socat nc timeout awk grep sed; do
	command -v "$tool" >/dev/null 2>&1 || fail "cannot run: '$tool' is missing (./scripts/test.sh installs it)"
done
[ -c /dev/net/tun ] || fail "cannot run: /dev/net/tun is missing (modprobe tun)"

# The outer run creates the namespace and runs this same script inside it,
# so every process the test starts is its own child (ip netns exec may fork,
# which would hide netpath's PID and exit status) and cleanup cannot miss.
if [ -z "${NPU_INSIDE:-}" ]; then
	NS=npu-$$
	ip netns add "$NS" || fail "cannot run: ip netns add $NS failed"
	trap 'ip netns del "$NS" 2>/dev/null' EXIT
	trap 'exit 1' INT TERM
	NPU_INSIDE=$NS ip netns exec "$NS" bash "$0" "$NP"
	exit $?
fi
NS=$NPU_INSIDE

TMP=$(mktemp -d /tmp/npu.XXXXXX) || fail "cannot run: mktemp failed"
PEER="python3 $HERE/udp_peer.py"
NP_PID=
SRV_PID=
ECHO_PID=
CHECKS=0
FAILURES=0

cleanup() {
	stop_pid "$NP_PID" >/dev/null 2>&1
	stop_pid "$SRV_PID" >/dev/null 2>&1
	stop_pid "$ECHO_PID" >/dev/null 2>&1
	keep_or_remove_tmp
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 1' INT TERM

ip link set lo up
# No IPv6 in this namespace: keeps router solicitations and MLD off the TAPs.
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1

echo "# $NAME: namespace $NS, netpath $NP, examples $EX, logs in $TMP"

# ---- (a) netpath run --serve echo --serve discard on npu0 ----
"$NP" run --tap npu0 --addr 10.78.0.2/24 --host-addr 10.78.0.1/24 --serve echo --serve discard \
	>"$TMP/run.out" 2>"$TMP/run.err" &
NP_PID=$!
wait_ready "$TMP/run.err" "netpath: npu0 up" "$NP_PID" || fail "netpath run --serve did not come up on npu0"
grep -q "netpath: serving udp echo on port 7, udp discard on port 9" "$TMP/run.err" &&
	ok "netpath run announces its services: $(grep serving "$TMP/run.err")" ||
	bad "no 'serving' line: $(cat "$TMP/run.err")"

out=$(echo "hello through socat" | timeout 10 socat -t 2 - UDP4:10.78.0.2:7 2>&1)
expect "socat sends one datagram to 10.78.0.2:7 and reads the echo" "$out" "hello through socat"
out=$(echo "hello through nc -u" | timeout 10 nc -u -w 1 10.78.0.2 7 2>&1)
expect "nc -u sends one datagram to 10.78.0.2:7 and reads the echo" "$out" "hello through nc -u"

start=$(date +%s.%N)
timeout 300 $PEER flood 10.78.0.2 7 --count 10000 --max-size 1472 --window 32 >"$TMP/flood.out" 2>&1
st=$?
sed 's/^/     /' "$TMP/flood.out"
expect "10,000 datagrams of 1..1472 bytes to the echo service: exit" "$st" 0
intact=$(sed -n 's/.* \([0-9]*\) echoed intact.*/\1/p' "$TMP/flood.out")
expect "datagrams echoed back byte for byte" "${intact:-0}" 10000
expect "mismatched replies" "$(sed -n 's/.* \([0-9]*\) mismatched.*/\1/p' "$TMP/flood.out")" 0
expect "lost datagrams (the TAP link has no loss)" "$(sed -n 's/.* \([0-9]*\) lost.*/\1/p' "$TMP/flood.out")" 0
echo "     (flood took $(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }') s)"

# ---- (b) a closed port answers ICMP port unreachable; discard answers nothing ----
timeout 20 $PEER refused 10.78.0.2 4444 >"$TMP/refused.out" 2>&1
st=$?
expect "a connected kernel socket sending to closed port 4444 sees ECONNREFUSED: $(cat "$TMP/refused.out")" "$st" 0
timeout 20 $PEER silent 10.78.0.2 9 --count 3 --wait 1 >"$TMP/silent.out" 2>&1
st=$?
expect "discard (port 9): no reply, no ICMP error: $(cat "$TMP/silent.out")" "$st" 0

# ---- (d) SIGTERM: clean exit, the apps' summaries and the counters ----
stop_pid "$NP_PID"
st=$?
NP_PID=
expect "netpath run --serve exits 0 on SIGTERM" "$st" 0
grep -q "netpath: stopping" "$TMP/run.err" && ok "netpath says it is stopping" || bad "no 'stopping' line"
echoed=$(sed -n 's/^serve echo (udp port 7): \([0-9]*\) datagrams.*/\1/p' "$TMP/run.out")
at_least "serve echo reports the datagrams it echoed" "${echoed:-0}" 10002
discarded=$(sed -n 's/^serve discard (udp port 9): \([0-9]*\) datagrams.*/\1/p' "$TMP/run.out")
expect "serve discard reports the datagrams it threw away" "${discarded:-0}" 3
grep -q "echoes not sent" "$TMP/run.out" && bad "echo could not send some echoes: $(grep 'echoes not sent' "$TMP/run.out")" ||
	ok "echo sent every echo"
at_least "UdpInDatagrams" "$(counter UdpInDatagrams "$TMP/run.out")" 10000
at_least "UdpOutDatagrams" "$(counter UdpOutDatagrams "$TMP/run.out")" 10000
at_least "UdpNoPorts (the datagram to port 4444)" "$(counter UdpNoPorts "$TMP/run.out")" 1
at_least "IcmpOutDestUnreachs (the port unreachable sent back)" "$(counter IcmpOutDestUnreachs "$TMP/run.out")" 1
expect "UdpRcvbufErrors (echo keeps up with a window of 32)" "$(counter UdpRcvbufErrors "$TMP/run.out")" 0
expect "UdpInErrors" "$(counter UdpInErrors "$TMP/run.out")" 0
expect "drop SOCKET_RCVBUFF" "$(counter SOCKET_RCVBUFF "$TMP/run.out")" 0

# ---- (c) the netpath example client against a kernel UDP echo server on npu1 ----
$PEER echo-server 7777 >"$TMP/kecho.out" 2>&1 &
ECHO_PID=$!
wait_ready "$TMP/kecho.out" "ready" "$ECHO_PID" || fail "the kernel echo server did not start"
timeout 120 "$EX/udp_echo_client" --tap npu1 --addr 10.78.1.2/24 --host-addr 10.78.1.1/24 \
	--count 300 --size 1472 10.78.1.1:7777 >"$TMP/client.out" 2>&1
st=$?
sed 's/^/     /' "$TMP/client.out"
expect "udp_echo_client --count 300 --size 1472 to the kernel's echo server: exit" "$st" 0
grep -q "300 datagrams of 1472 bytes sent to 10.78.1.1:7777: 300 echoed back intact" "$TMP/client.out" &&
	ok "every one of the 300 echoes matched byte for byte" || bad "client summary: $(tail -1 "$TMP/client.out")"
timeout 120 "$EX/udp_echo_client" --tap npu1 --addr 10.78.1.2/24 --host-addr 10.78.1.1/24 \
	--count 50 --size 1 10.78.1.1:7777 >"$TMP/client1.out" 2>&1
st=$?
expect "udp_echo_client --count 50 --size 1: exit ($(tail -1 "$TMP/client1.out"))" "$st" 0
stop_pid "$ECHO_PID"
ECHO_PID=
n=$(sed -n 's/^echoed \([0-9]*\) datagrams.*/\1/p' "$TMP/kecho.out")
expect "the kernel echo server saw every datagram" "${n:-0}" 350

# A closed kernel port: the kernel's ICMP port unreachable reaches the netpath client's socket.
timeout 60 "$EX/udp_echo_client" --tap npu1 --addr 10.78.1.2/24 --host-addr 10.78.1.1/24 \
	--count 3 10.78.1.1:7778 >"$TMP/client-refused.out" 2>&1
st=$?
if [ $st -eq 1 ] && grep -q "Connection refused" "$TMP/client-refused.out"; then
	ok "udp_echo_client to a closed kernel port fails with ECONNREFUSED (exit 1)"
else
	bad "udp_echo_client to a closed kernel port: exit $st: $(cat "$TMP/client-refused.out")"
fi

# ---- the example server on npu2, fed by the kernel ----
"$EX/udp_echo_server" --tap npu2 --addr 10.78.2.2/24 --host-addr 10.78.2.1/24 --port 7 \
	>"$TMP/server.out" 2>"$TMP/server.err" &
SRV_PID=$!
wait_ready "$TMP/server.err" "npu2 up" "$SRV_PID" || fail "udp_echo_server did not come up on npu2"
timeout 120 $PEER flood 10.78.2.2 7 --count 1000 --window 16 >"$TMP/flood2.out" 2>&1
st=$?
expect "1,000 kernel datagrams through examples/udp_echo_server: $(cat "$TMP/flood2.out")" "$st" 0
stop_pid "$SRV_PID"
st=$?
SRV_PID=
expect "udp_echo_server exits 0 on SIGTERM" "$st" 0
grep -q "echoed 1000 datagrams" "$TMP/server.out" && ok "udp_echo_server: $(cat "$TMP/server.out")" ||
	bad "udp_echo_server summary: $(cat "$TMP/server.out" "$TMP/server.err")"

# ---- netpath run --serve echo --busy-poll on npu3: the app threads wait on the TAP themselves ----
"$NP" run --tap npu3 --addr 10.78.3.2/24 --host-addr 10.78.3.1/24 --serve echo --busy-poll \
	>"$TMP/busy.out" 2>"$TMP/busy.err" &
NP_PID=$!
wait_ready "$TMP/busy.err" "netpath: npu3 up" "$NP_PID" || fail "netpath run --busy-poll did not come up on npu3"
timeout 300 $PEER flood 10.78.3.2 7 --count 10000 --max-size 1472 --window 32 >"$TMP/flood3.out" 2>&1
st=$?
sed 's/^/     /' "$TMP/flood3.out"
expect "--busy-poll: 10,000 datagrams of 1..1472 bytes to the echo service: exit" "$st" 0
expect "--busy-poll: datagrams echoed back byte for byte" "$(sed -n 's/.* \([0-9]*\) echoed intact.*/\1/p' "$TMP/flood3.out")" 10000
expect "--busy-poll: lost datagrams" "$(sed -n 's/.* \([0-9]*\) lost.*/\1/p' "$TMP/flood3.out")" 0
out=$(echo "tcp through a busy-polling app" | timeout 10 socat -t 2 - TCP4:10.78.3.2:7 2>&1)
expect "--busy-poll: socat's TCP line comes back from the echo connection's thread" "$out" "tcp through a busy-polling app"
stop_pid "$NP_PID"
st=$?
NP_PID=
expect "netpath run --busy-poll exits 0 on SIGTERM" "$st" 0
echoed=$(sed -n 's/^serve echo (udp port 7): \([0-9]*\) datagrams.*/\1/p' "$TMP/busy.out")
expect "--busy-poll: serve echo reports the datagrams it echoed" "${echoed:-0}" 10000

# ---- both examples without a TAP: two stacks on a virtual cable, no privileges needed ----
timeout 60 "$EX/udp_echo_server" >"$TMP/ex1.out" 2>&1
st=$?
expect "udp_echo_server (in-process) exits 0 ($(tail -1 "$TMP/ex1.out"))" "$st" 0
timeout 60 "$EX/udp_echo_client" --count 20 --size 1000 >"$TMP/ex2.out" 2>&1
st=$?
expect "udp_echo_client (in-process) exits 0 ($(tail -1 "$TMP/ex2.out"))" "$st" 0

echo "# $NAME: $CHECKS checks, $FAILURES failed"
[ "$FAILURES" -eq 0 ] || exit 1
echo "PASS: $NAME"
exit 0
