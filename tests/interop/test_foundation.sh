#!/usr/bin/env bash
# Interop test of the foundation: netpath on a TAP against the Linux kernel,
# inside a network namespace of its own (npf-PID, addresses 10.77.x only).
#   kernel ping/arping -> np0 (TAP) -> netpath run: ARP, ICMP echo, MTU 1500
#   malformed frames (inject.py, raw AF_PACKET) -> each dropped for its reason
#   netpath ping -> np1 (TAP) -> kernel replies
#   the pcap netpath wrote -> tshark: every frame netpath sent is well-formed
# Usage: test_foundation.sh /path/to/netpath   (as root; never skips: FAILs if it cannot run)
set -u

NP=${1:-}
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=test_foundation

. "$(dirname "$0")/lib.sh"

# ---- can this run at all? Say so loudly and fail, never skip. ----
[ -n "$NP" ] || fail "cannot run: give the netpath binary as the first argument"
[ -x "$NP" ] || fail "cannot run: $NP is not an executable"
[ "$(id -u)" -eq 0 ] || fail "cannot run: needs root (it creates a network namespace and TAP devices); run ./scripts/test.sh as root or with sudo"
for tool in ip ping arping tshark python3 timeout awk grep sed; do
	command -v "$tool" >/dev/null 2>&1 || fail "cannot run: '$tool' is missing (./scripts/test.sh installs it)"
done
[ -c /dev/net/tun ] || fail "cannot run: /dev/net/tun is missing (modprobe tun)"

# The outer run creates the namespace and runs this same script inside it,
# so every process the test starts is its own child (ip netns exec may fork,
# which would hide netpath's PID and exit status) and cleanup cannot miss.
if [ -z "${NPF_INSIDE:-}" ]; then
	NS=npf-$$
	ip netns add "$NS" || fail "cannot run: ip netns add $NS failed"
	trap 'ip netns del "$NS" 2>/dev/null' EXIT
	trap 'exit 1' INT TERM
	NPF_INSIDE=$NS ip netns exec "$NS" bash "$0" "$NP"
	exit $?
fi
NS=$NPF_INSIDE

TMP=$(mktemp -d /tmp/npf.XXXXXX) || fail "cannot run: mktemp failed"
NP_PID=
CHECKS=0
FAILURES=0

stop_netpath() {
	# Sends SIGTERM to the netpath this test started and waits up to 10 s; returns its status.
	local pid=$NP_PID status=0
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "netpath (pid $pid) ignored SIGTERM for 10 s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	status=$?
	NP_PID=
	return $status
}

cleanup() {
	stop_netpath >/dev/null 2>&1
	keep_or_remove_tmp
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 1' INT TERM

nsx() { "$@"; }   # already inside the namespace
# received N from a ping summary ("100 packets transmitted, 100 received, ...")
received() { sed -n 's/.* \([0-9][0-9]*\) received.*/\1/p' | tail -1; }

# Waits until netpath prints "netpath: IF up" on stderr (file $1); fails if it exits first.
wait_ready() {
	local err=$1 ifname=$2
	for _ in $(seq 100); do
		grep -q "netpath: $ifname up" "$err" 2>/dev/null && return 0
		if [ -n "$NP_PID" ] && ! kill -0 "$NP_PID" 2>/dev/null; then
			echo "--- netpath stderr ---" >&2; cat "$err" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "--- netpath stderr (no ready line after 10 s) ---" >&2; cat "$err" >&2
	return 1
}

# Value of a counter in netpath's counters output: SNMP "IpInHdrErrors 3" or a
# drop reason under "Drops by reason" ("drop IP_CSUM 1" or "IP_CSUM 1"). 0 if absent.
counter() {
	local name=$1 file=$2 v
	v=$(awk -v n="$name" '
		{ for (i = 1; i < NF; i++) if ($i == n || $i == n ":") { v = $(i + 1) } }
		END { if (v == "") v = 0; print v }' "$file")
	echo "$v"
}

nsx ip link set lo up
# No IPv6 in this namespace: keeps router solicitations and MLD off the TAP.
nsx sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1

echo "# $NAME: namespace $NS, netpath $NP, logs in $TMP"

# ---- 1. netpath run on np0, the kernel on the other side ----
"$NP" run --tap np0 --addr 10.77.0.2/24 --host-addr 10.77.0.1/24 --pcap "$TMP/np.pcap" \
	>"$TMP/run.out" 2>"$TMP/run.err" &
NP_PID=$!
wait_ready "$TMP/run.err" np0 || fail "netpath run did not come up on np0"
MAC=$(sed -n 's/.*np0 up,.* mac \([0-9a-f:]\{17\}\).*/\1/p' "$TMP/run.err" | head -1)
[ -n "$MAC" ] || fail "no MAC in the ready line: $(cat "$TMP/run.err")"
ok "netpath run is up on np0 (mac $MAC)"

out=$(nsx ping -c 100 -i 0.01 -W 1 10.77.0.2 2>&1)
expect "kernel ping -c 100 -i 0.01 10.77.0.2: replies" "$(echo "$out" | received)" 100

out=$(nsx ping -c 20 -i 0.01 -W 1 -s 1472 -M do 10.77.0.2 2>&1)
expect "kernel ping -s 1472 -M do (1500-byte packets, MTU 1500): replies" "$(echo "$out" | received)" 20

out=$(nsx arping -c 3 -w 10 -I np0 10.77.0.2 2>&1)
n=$(echo "$out" | sed -n 's/^Received \([0-9]*\) response.*/\1/p')
expect "arping -c 3 -I np0 10.77.0.2: responses" "${n:-0}" 3

# A second netpath on the same TAP must fail clearly, not steal it.
nsx timeout 10 "$NP" run --tap np0 --addr 10.77.0.9/24 >"$TMP/busy.out" 2>"$TMP/busy.err"
st=$?
if [ $st -ne 0 ] && [ $st -ne 124 ] && grep -qi "cannot open TAP np0" "$TMP/busy.err"; then
	ok "second netpath on np0 fails: $(head -1 "$TMP/busy.err")"
else
	bad "second netpath on np0: exit $st, stderr: $(cat "$TMP/busy.err")"
fi

# ---- 2. malformed frames from the kernel side ----
CASES="runt arp-hwtype ihl-short ihl-long totlen-long ip-csum martian"
nsx python3 "$HERE/inject.py" np0 "$MAC" 10.77.0.1 10.77.0.2 $CASES >"$TMP/inject.out" 2>&1
st=$?
cat "$TMP/inject.out" | sed 's/^/     inject: /'
[ $st -eq 0 ] || bad "inject.py failed (exit $st)"
RUNT_FALLBACK=0
if grep -q "^runt refused" "$TMP/inject.out"; then
	# Linux will not transmit a frame shorter than the Ethernet header on an
	# Ethernet device (dev_validate_header), so the kernel side can only send
	# the shortest frame it allows: a bare 14-byte header saying IPv4.
	echo "     NOTE: the kernel refuses 10-byte frames on a TAP; the runt case sent a bare Ethernet header instead"
	RUNT_FALLBACK=1
fi
sleep 0.3

out=$(nsx ping -c 5 -i 0.05 -W 1 10.77.0.2 2>&1)
expect "netpath still answers pings after the malformed frames" "$(echo "$out" | received)" 5

# ---- 3. stop netpath; its counters name each drop ----
stop_netpath
st=$?
expect "netpath run exits 0 on SIGTERM" "$st" 0
grep -q "Drops by reason" "$TMP/run.out" || bad "no 'Drops by reason' section in the counters: $(cat "$TMP/run.out")"

# Expected per Linux's ip_rcv_core / arp_rcv semantics:
#   runt (bare header)   -> IP_INHDR (IPv4 header missing), IpInHdrErrors
#   runt (10 bytes)      -> MAC_TRUNCATED
#   arp-hwtype           -> ARP_BAD_FIELDS
#   ihl-short, ihl-long  -> IP_INHDR, IpInHdrErrors
#   totlen-long          -> PKT_TOO_SMALL, IpExtInTruncatedPkts
#   ip-csum              -> IP_CSUM, IpExtInCsumErrors and IpInHdrErrors
#   martian 127.0.0.1    -> IP_INVALID_SOURCE, IpExtInMartians
if [ $RUNT_FALLBACK = 1 ]; then inhdr=3; hdrerr=4; mac_trunc=0; else inhdr=2; hdrerr=3; mac_trunc=1; fi
expect "drop MAC_TRUNCATED" "$(counter MAC_TRUNCATED "$TMP/run.out")" $mac_trunc
expect "drop ARP_BAD_FIELDS" "$(counter ARP_BAD_FIELDS "$TMP/run.out")" 1
expect "drop IP_INHDR" "$(counter IP_INHDR "$TMP/run.out")" $inhdr
expect "drop PKT_TOO_SMALL" "$(counter PKT_TOO_SMALL "$TMP/run.out")" 1
expect "drop IP_CSUM" "$(counter IP_CSUM "$TMP/run.out")" 1
expect "drop IP_INVALID_SOURCE" "$(counter IP_INVALID_SOURCE "$TMP/run.out")" 1
expect "IpInHdrErrors" "$(counter IpInHdrErrors "$TMP/run.out")" $hdrerr
expect "IpExtInCsumErrors" "$(counter IpExtInCsumErrors "$TMP/run.out")" 1
expect "IpExtInTruncatedPkts" "$(counter IpExtInTruncatedPkts "$TMP/run.out")" 1
expect "IpExtInMartians" "$(counter IpExtInMartians "$TMP/run.out")" 1
echos=$(counter IcmpInEchos "$TMP/run.out")
[ "$echos" -ge 125 ] 2>/dev/null && ok "IcmpInEchos counts the kernel's pings ($echos)" ||
	bad "IcmpInEchos: got '$echos', expected >= 125"

# ---- 4. netpath ping against the kernel on np1 ----
nsx timeout 60 "$NP" ping --tap np1 --addr 10.77.1.2/24 --host-addr 10.77.1.1/24 -c 5 -i 0.2 10.77.1.1 \
	>"$TMP/ping.out" 2>"$TMP/ping.err"
st=$?
sed 's/^/     /' "$TMP/ping.out"
expect "netpath ping -c 5 10.77.1.1 exits 0" "$st" 0
expect "netpath ping -c 5 10.77.1.1: replies" "$(received <"$TMP/ping.out")" 5
grep -q "^64 bytes from 10.77.1.1: icmp_seq=1 ttl=64 time=" "$TMP/ping.out" &&
	ok "netpath ping prints iputils-style reply lines" || bad "netpath ping reply line format: $(head -3 "$TMP/ping.out")"

# ---- 5. the capture: well-formed frames with good checksums ----
TS="tshark -n -o ip.check_checksum:TRUE -o udp.check_checksum:TRUE -o tcp.check_checksum:TRUE"
total=$($TS -r "$TMP/np.pcap" -T fields -e frame.number 2>"$TMP/tshark.err" | wc -l)
[ "$total" -gt 200 ] && ok "pcap holds $total frames" || bad "pcap holds $total frames (want > 200): $(cat "$TMP/tshark.err")"
sent=$($TS -r "$TMP/np.pcap" -Y "eth.src == $MAC" -T fields -e frame.number 2>/dev/null | wc -l)
[ "$sent" -gt 100 ] && ok "pcap holds $sent frames netpath sent" || bad "pcap holds $sent frames from netpath (want > 100)"
BADF='_ws.malformed || _ws.expert.severity >= error || ip.checksum.status == "Bad" || icmp.checksum.status == "Bad" || udp.checksum.status == "Bad" || tcp.checksum.status == "Bad"'
badn=$($TS -r "$TMP/np.pcap" -Y "eth.src == $MAC && ($BADF)" 2>/dev/null | tee "$TMP/bad.txt" | wc -l)
expect "frames netpath sent that tshark finds malformed or with bad checksums" "$badn" 0
[ "$badn" = 0 ] || head -5 "$TMP/bad.txt"
# The kernel's frames and the injected ones are in the file too: the injected bad ones must be there.
inj=$($TS -r "$TMP/np.pcap" -Y "ip.checksum.status == \"Bad\"" 2>/dev/null | wc -l)
expect "the injected bad-checksum frame is in the capture" "$inj" 1

echo "# $NAME: $CHECKS checks, $FAILURES failed"
[ "$FAILURES" -eq 0 ] || exit 1
echo "PASS: $NAME"
exit 0
