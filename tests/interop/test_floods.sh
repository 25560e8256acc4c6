#!/usr/bin/env bash
# Interop test of bounded memory under floods (issue 7): the CI-sized run of
# tests/robustness/flood/run.sh --quick against `netpath run --serve echo` on a
# TAP in a namespace of its own, then assertions on what it recorded:
#   syn    20,000 spoofed SYN/s for 4 s: SYN_RECV never above the listen backlog,
#          SYN cookies sent and accepted, the legitimate client's connections succeed
#   frag   20,000 tiny fragments/s: reassembly memory never above ipfrag_high_thresh,
#          back to 0 after ipfrag_time
#   ooo    20,000 out-of-order segments/s into one connection: receive memory within
#          rcvbuf (plus one segment), the out-of-order queue pruned or dropping
#   arp    20,000 ARP frames/s from random senders: entries never above gc_thresh3
#   cycles 20,000 connect/transfer/close cycles in one process: TIME_WAIT bounded and
#          gone after 2*MSL, heap back at its baseline (LeakSanitizer in the ASan tree);
#          2,000 more with tcp_max_tw_buckets=4096: TIME_WAIT at the cap, overflows counted
# and after each flood netpath still answers a ping, its resident memory stayed under
# baseline + a budget computed from the sysctl bound, and it exits 0.
# Usage: test_floods.sh /path/to/netpath   (as root; the flood tools are built next to it)
set -u

NP=${1:-}
NAME=test_floods
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"

[ -n "$NP" ] || fail "cannot run: give the netpath binary as the first argument"
[ -x "$NP" ] || fail "cannot run: $NP is not an executable"
BUILD=$(cd "$(dirname "$NP")" && pwd)
for f in "$BUILD/flood/flood" "$BUILD/flood/cycles"; do
	[ -x "$f" ] || fail "cannot run: $f is missing (cmake --build $BUILD --target flood flood_cycles)"
done
[ "$(id -u)" -eq 0 ] || fail "cannot run: needs root (network namespace, TAP, AF_PACKET)"
for tool in ip ping python3 awk grep sed; do
	command -v "$tool" >/dev/null 2>&1 || fail "cannot run: '$tool' is missing (./scripts/test.sh installs it)"
done
[ -c /dev/net/tun ] || fail "cannot run: /dev/net/tun is missing (modprobe tun)"
grep -qa 'net\.ipv4\.tcp_syncookies' "$NP" || fail "cannot run: $NP has no net.ipv4.tcp_syncookies (SYN cookies are what the SYN flood checks)"

OUT=$(mktemp -d /tmp/npfl.XXXXXX) || fail "cannot run: mktemp failed"
CHECKS=0
FAILURES=0
cleanup() {
	if [ "$FAILURES" -ne 0 ] || [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "logs kept in $OUT" >&2
	else
		rm -rf "$OUT"
	fi
}
trap cleanup EXIT

# Under ASan the process carries shadow memory and a quarantine of freed blocks: a bigger slack.
ASAN=0
if grep -qa '__asan_init' "$NP"; then
	ASAN=1
	export ASAN_OPTIONS=${ASAN_OPTIONS:-quarantine_size_mb=16:detect_leaks=1}
fi
SLACK_KB=$([ $ASAN = 1 ] && echo 65536 || echo 16384)

echo "# $NAME: netpath $NP (asan $ASAN), logs in $OUT"
bash "$HERE/../robustness/flood/run.sh" --quick --build "$BUILD" --out "$OUT"
st=$?
expect "run.sh --quick: exit (every flood ran, netpath answered ping after each, cycles passed)" "$st" 0

kv() { sed -n "s/^$2=//p" "$OUT/$1.kv" 2>/dev/null | tail -1; }
kvn() { local v; v=$(kv "$1" "$2"); echo "${v:-0}"; }   # a counter absent from the prints is 0
# le WHAT VALUE LIMIT
le() { if [ -n "$2" ] && [ "$2" -le "$3" ] 2>/dev/null; then ok "$1 ($2 <= $3)"; else bad "$1: got '$2', expected <= $3"; fi; }

FRAG_HIGH=4194304 GC_THRESH3=1024 RCVBUF=131072 BACKLOG=511

for f in syn frag ooo arp; do
	[ -f "$OUT/$f.kv" ] || { bad "$f: no results ($OUT/$f.kv)"; continue; }
	expect "$f: netpath answered ping after the flood" "$(kv $f ping_after)" 1
	expect "$f: netpath exited 0" "$(kv $f netpath_exit)" 0
	at_least "$f: frames the flooder sent" "$(kv $f sent)" 1000
	at_least "$f: frames netpath received" "$(kv $f peak_rx_packets)" 1000
done

# Resident memory: baseline + (the bound in bytes x 3 for skb truesize and allocator overhead) + slack.
rss_budget() {
	local f=$1 bound_bytes=$2 base
	base=$(kv $f rss_base_kb)
	le "$f: RSS peak kB under baseline + 3 x $bound_bytes B + $SLACK_KB kB" "$(kv $f rss_peak_kb)" \
		$(( ${base:-0} + bound_bytes * 3 / 1024 + SLACK_KB ))
}

# SYN flood
le "syn: SYN_RECV children never above the listen backlog" "$(kv syn peak_tcp_synrecv)" $BACKLOG
at_least "syn: TcpExtSyncookiesSent (the queue filled, cookies took over)" "$(kvn syn last_TcpExtSyncookiesSent)" 1
at_least "syn: TcpExtSyncookiesRecv (legitimate clients came back with a valid cookie)" "$(kvn syn last_TcpExtSyncookiesRecv)" 1
at_least "syn: legitimate client attempts" "$(kv syn legit_attempts)" 20
pct=$(kv syn legit_pct)
at_least "syn: legitimate client success % during the flood" "${pct%.*}" 90
rss_budget syn $((BACKLOG * 4096))

# Tiny-fragment flood
le "frag: reassembly memory never above ipfrag_high_thresh" "$(kv frag peak_frag_memory)" $FRAG_HIGH
at_least "frag: drop IP_FRAG_MEM_LIMIT (the limit was reached)" "$(kvn frag last_drop_IP_FRAG_MEM_LIMIT)" 1
expect "frag: reassembly memory after ipfrag_time" "$(kvn frag last_frag_memory)" 0
rss_budget frag $FRAG_HIGH

# Out-of-order flood
le "ooo: receive memory of the connection within rcvbuf + one segment" "$(kv ooo peak_tcp_rmem)" $((RCVBUF + 65536))
le "ooo: out-of-order queue segments (TCP_OFO_MAX_SEGS)" "$(kv ooo peak_tcp_ofo_segs)" 512
ofo_bounded=$(( $(kvn ooo last_TcpExtOfoPruned) + $(kvn ooo last_TcpExtTCPOFODrop) ))
at_least "ooo: TcpExtOfoPruned + TcpExtTCPOFODrop (the bound was hit)" "$ofo_bounded" 1
at_least "ooo: TcpExtTCPOFOQueue" "$(kvn ooo last_TcpExtTCPOFOQueue)" 1
rss_budget ooo $RCVBUF

# ARP flood
le "arp: neighbour entries never above gc_thresh3 (+ the gateway)" "$(kv arp peak_arp_entries)" $((GC_THRESH3 + 1))
at_least "arp: neighbour entries reached (the flood filled the table)" "$(kv arp peak_arp_entries)" $((GC_THRESH3 / 2))
rss_budget arp $((GC_THRESH3 * 512))

# Connect/transfer/close cycles
expect "cycles: exit (all completed, nothing left, memory back; LSan in the ASan tree)" "$(kv cycles cycles_exit)" 0
le "cycles: TIME_WAIT peak within tcp_max_tw_buckets" "$(kv cycles tw_peak)" "$(kv cycles tw_max)"
expect "cycles: TIME_WAIT after 2*MSL" "$(kv cycles tw_end)" 0
expect "cycles-tw4096: exit" "$(kv cycles-tw4096 cycles_exit)" 0
le "cycles-tw4096: TIME_WAIT peak within tcp_max_tw_buckets=4096" "$(kv cycles-tw4096 tw_peak)" 4096
at_least "cycles-tw4096: TcpExtTCPTimeWaitOverflow (the cap was hit)" "$(kvn cycles-tw4096 tw_overflow)" 1

echo "# $NAME: $CHECKS checks, $FAILURES failed"
[ "$FAILURES" -eq 0 ] || exit 1
echo "PASS: $NAME"
exit 0
