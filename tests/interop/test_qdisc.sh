#!/usr/bin/env bash
# Interop test of queueing disciplines and 802.1Q VLANs: netpath on TAP
# devices against the Linux kernel, inside a network namespace of its own
# (npq-PID, devices npq0 and npq1, addresses 10.83.x only).
#   (a) netpath run --qdisc tbf:rate=10mbit,burst=32k,latency=50ms --serve http=DIR on npq0:
#       the kernel's curl downloads a file; the frames netpath sends arrive at 10 Mbit/s
#       (within 5%, measured by the kernel's byte counter of the TAP), the file intact,
#       and `tc -s qdisc`-style statistics at exit show the shaping (overlimits).
#   (b) netpath run --tap npq1 ... --vlan 100 --addr 10.83.100.2/24: frames tagged with
#       VID 100, crafted with scapy (the kernel has no 8021q module), get tagged answers:
#       ARP request -> tagged ARP reply, ICMP echo -> tagged echo reply (up to the full
#       1500-byte MTU, 1518-byte tagged frames both ways); VID 200 gets
#       nothing and is counted as VLAN_UNKNOWN.
# Usage: test_qdisc.sh /path/to/netpath   (as root; never skips: FAILs if it cannot run)
set -u

NP=${1:-}
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=test_qdisc

. "$(dirname "$0")/lib.sh"

# ---- can this run at all? Say so loudly and fail, never skip. ----
[ -n "$NP" ] || fail "cannot run: give the netpath binary as the first argument"
[ -x "$NP" ] || fail "cannot run: $NP is not an executable"
[ "$(id -u)" -eq 0 ] || fail "cannot run: needs root (it creates a network namespace and TAP devices); run ./scripts/test.sh as root or with sudo"
for tool in ip python3 curl timeout awk grep sed head cmp; do
	command -v "$tool" >/dev/null 2>&1 || fail "cannot run: '$tool' is missing (./scripts/test.sh installs it)"
done
[ -c /dev/net/tun ] || fail "cannot run: /dev/net/tun is missing (modprobe tun)"
# scapy may live only in the system's python when another python3 comes first in PATH.
PY=
for p in python3 /usr/bin/python3; do
	if "$p" -c 'import scapy.all' >/dev/null 2>&1; then
		PY=$p
		break
	fi
done
[ -n "$PY" ] || fail "cannot run: python3 has no scapy (install python3-scapy; ./scripts/test.sh does)"

# The outer run creates the namespace and runs this same script inside it.
if [ -z "${NPQ_INSIDE:-}" ]; then
	NS=npq-$$
	ip netns add "$NS" || fail "cannot run: ip netns add $NS failed"
	trap 'ip netns del "$NS" 2>/dev/null' EXIT
	trap 'exit 1' INT TERM
	NPQ_INSIDE=$NS ip netns exec "$NS" bash "$0" "$NP"
	exit $?
fi
NS=$NPQ_INSIDE

TMP=$(mktemp -d /tmp/npq.XXXXXX) || fail "cannot run: mktemp failed"
NP_PID=
CHECKS=0
FAILURES=0

cleanup() {
	stop_pid "$NP_PID" >/dev/null 2>&1
	keep_or_remove_tmp
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 1' INT TERM

ip link set lo up
# No IPv6 in this namespace: keeps router solicitations and MLD off the TAPs.
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1

echo "# $NAME: namespace $NS, netpath $NP, python $PY, logs in $TMP"

# ---- (a) tbf at 10 Mbit/s under a TCP download ----
mkdir -p "$TMP/www"
head -c 6000000 /dev/urandom >"$TMP/www/big.bin"
"$NP" run --tap npq0 --addr 10.83.0.2/24 --host-addr 10.83.0.1/24 \
	--qdisc tbf:rate=10mbit,burst=32k,latency=50ms --serve "http=$TMP/www" \
	>"$TMP/run-a.out" 2>"$TMP/run-a.err" &
NP_PID=$!
wait_ready "$TMP/run-a.err" "netpath: npq0 up" "$NP_PID" || fail "netpath run --qdisc tbf did not come up on npq0"
rx0=$(cat /sys/class/net/npq0/statistics/rx_bytes)
w=$(timeout 60 curl -s -o "$TMP/got.bin" -w '%{http_code} %{size_download} %{time_total}' http://10.83.0.2/big.bin)
st=$?
rx1=$(cat /sys/class/net/npq0/statistics/rx_bytes)
expect "curl downloads big.bin from netpath behind tbf: exit" "$st" 0
set -- $w
code=${1:-0}
size=${2:-0}
secs=${3:-0}
expect "HTTP status" "$code" 200
cmp -s "$TMP/got.bin" "$TMP/www/big.bin" && ok "the 6,000,000 bytes arrived intact" || bad "the downloaded file differs"
# Frame bytes the kernel received on the TAP (Ethernet header included, as tbf counts them).
bits=$(( (rx1 - rx0) * 8 ))
rate=$(awk -v b="$bits" -v t="$secs" 'BEGIN { if (t > 0) printf "%.0f", b / t; else print 0 }')
good=$(awk -v s="$size" -v t="$secs" 'BEGIN { if (t > 0) printf "%.2f", s * 8 / t / 1e6; else print 0 }')
echo "     $((rx1 - rx0)) frame bytes in $secs s: $(awk -v r="$rate" 'BEGIN { printf "%.3f", r / 1e6 }') Mbit/s on the wire, $good Mbit/s of payload"
if [ "$rate" -ge 9500000 ] && [ "$rate" -le 10500000 ]; then
	ok "the wire rate is 10 Mbit/s within 5% ($rate bit/s)"
else
	bad "the wire rate $rate bit/s is not within 5% of 10 Mbit/s"
fi
stop_pid "$NP_PID"
st=$?
NP_PID=
expect "netpath run exits 0 on SIGTERM" "$st" 0
line=$(grep -A1 "^qdisc tbf 8001: dev npq0 root rate 10Mbit burst 32Kb lat 50.0ms" "$TMP/run-a.out" | tail -1)
[ -n "$line" ] && ok "tc-style statistics at exit: $line" || bad "no 'qdisc tbf' statistics in the counters output"
over=$(echo "$line" | sed -n 's/.*overlimits \([0-9]*\).*/\1/p')
at_least "tbf overlimits (dequeue waited for tokens)" "${over:-0}" 1
sent=$(echo "$line" | sed -n 's/.*Sent \([0-9]*\) bytes.*/\1/p')
at_least "tbf sent at least the file's bytes" "${sent:-0}" 6000000

# ---- (b) 802.1Q: scapy's tagged frames against netpath's VLAN device ----
"$NP" run --tap npq1 --addr 10.83.1.2/24 --host-addr 10.83.1.1/24 --vlan 100 --addr 10.83.100.2/24 \
	>"$TMP/run-b.out" 2>"$TMP/run-b.err" &
NP_PID=$!
wait_ready "$TMP/run-b.err" "netpath: npq1.100 up (vlan 100 on npq1), 10.83.100.2/24" "$NP_PID" ||
	fail "netpath run --vlan 100 did not come up on npq1"
mac=$(sed -n 's/^netpath: npq1 up, .*mac \([0-9a-f:]*\).*/\1/p' "$TMP/run-b.err")
[ -n "$mac" ] || fail "no MAC in netpath's 'up' line: $(cat "$TMP/run-b.err")"
# Untagged traffic still works on the parent.
ping -c 2 -i 0.2 -W 2 10.83.1.2 >"$TMP/ping.out" 2>&1 && ok "untagged ping to 10.83.1.2 on npq1" ||
	bad "untagged ping to 10.83.1.2: $(tail -2 "$TMP/ping.out")"
out=$(timeout 60 "$PY" "$HERE/vlan_peer.py" npq1 "$mac" 100 10.83.100.1 10.83.100.2 2>&1)
st=$?
expect "VID 100: tagged ARP request -> tagged ARP reply, tagged echoes -> tagged replies [$out]" "$st" 0
out=$(timeout 60 "$PY" "$HERE/vlan_peer.py" npq1 "$mac" 200 10.83.100.1 10.83.100.2 --expect-silence 2>&1)
st=$?
expect "VID 200 (no such VLAN device): no answer at all [$out]" "$st" 0
stop_pid "$NP_PID"
st=$?
NP_PID=
expect "netpath run --vlan exits 0 on SIGTERM" "$st" 0
at_least "drop VLAN_UNKNOWN (the VID 200 frames)" "$(counter VLAN_UNKNOWN "$TMP/run-b.out")" 5
vrx=$(awk '/: npq1.100: mtu/ { getline; print $5 }' "$TMP/run-b.out")
at_least "npq1.100 received packets (ARP + echoes)" "${vrx:-0}" 5

echo "# $NAME: $CHECKS checks, $FAILURES failed"
[ "$FAILURES" -eq 0 ] || exit 1
echo "PASS: $NAME"
exit 0
