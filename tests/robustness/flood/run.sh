#!/usr/bin/env bash
# Memory under floods (issue 7): runs the real product, `netpath run --serve
# echo` on a TAP in a network namespace of its own, and floods it from the
# kernel's side of the TAP with BUILD/flood/flood (AF_PACKET), one flood per
# fresh netpath process, sampling its VmRSS every 100 ms and its gauges
# (sockstat print) and counters every second:
#   syn    spoofed off-link SYNs while a legitimate kernel client keeps connecting
#   frag   8-byte first fragments, random ids and sources, never completed
#   ooo    out-of-order segments into one connection (within and beyond the window)
#   arp    ARP requests and unsolicited replies from random on-link senders
# then BUILD/flood/cycles: connect/transfer/close cycles between two stacks in
# one process (TIME_WAIT in netpath, resident memory and heap over the cycles),
# once with the default tcp_max_tw_buckets and once (a tenth as many) capped at 4096.
# Prints a summary table and writes, in --out DIR: NAME-rss.csv (t, VmRSS),
# NAME-gauges.csv (one row per second), NAME.kv (the figures), netpath's output.
#
# Usage (root): tests/robustness/flood/run.sh [--quick] [--out DIR] [--build DIR]
#                                            [--only syn,frag,ooo,arp,cycles]
#        [--rate PPS (0: as fast as the flooder can)] [--duration SEC] [--cycles N]
#        [--syncookies 0|1|2 (net.ipv4.tcp_syncookies; default 1)]
# (--build: the build tree holding netpath and flood/; default ROOT/build or $BUILD)
#   full:  50,000 frames/s for 30 s each, 1,000,000 cycles
#   quick: 20,000 frames/s for 4 s each, 20,000 cycles (tests/interop/test_floods.sh)
# Exit status: 0 if every flood ran and netpath answered a ping after each; the
# bounds themselves are asserted by tests/interop/test_floods.sh from the .kv files.
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
QUICK=0
OUT=
BUILD=${BUILD:-$ROOT/build}
ONLY=syn,frag,ooo,arp,cycles
RATE_OPT= DUR_OPT= CYCLES_OPT= COOKIES_OPT=1
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--out) OUT=$2; shift ;;
	--build) BUILD=$2; shift ;;
	--only) ONLY=$2; shift ;;
	--rate) RATE_OPT=$2; shift ;;
	--duration) DUR_OPT=$2; shift ;;
	--cycles) CYCLES_OPT=$2; shift ;;
	--syncookies) COOKIES_OPT=$2; shift ;;
	-h|--help) sed -n '2,25p' "$0"; exit 0 ;;
	*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done
BUILD=$(cd "$BUILD" 2>/dev/null && pwd) || { echo "run.sh: no build directory $BUILD" >&2; exit 1; }
NP=$BUILD/netpath
FLOOD=$BUILD/flood/flood
CYCLES=$BUILD/flood/cycles
for f in "$NP" "$FLOOD" "$CYCLES"; do
	[ -x "$f" ] || { echo "run.sh: $f is missing: cmake --build $BUILD --target netpath flood flood_cycles" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "run.sh: needs root (network namespace, TAP, AF_PACKET)" >&2; exit 1; }
for tool in ip ping python3; do
	command -v "$tool" >/dev/null 2>&1 || { echo "run.sh: '$tool' is missing" >&2; exit 1; }
done
[ -c /dev/net/tun ] || { echo "run.sh: /dev/net/tun is missing (modprobe tun)" >&2; exit 1; }
[ -n "$OUT" ] || OUT=$(mktemp -d /tmp/h4flood.XXXXXX)
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)

# Re-run inside a namespace of our own, so every process is a child and cleanup cannot miss one.
if [ -z "${H4FL_INSIDE:-}" ]; then
	NS=h4fl-$$
	ip netns add "$NS" || { echo "run.sh: ip netns add $NS failed" >&2; exit 1; }
	trap 'ip netns del "$NS" 2>/dev/null' EXIT
	trap 'exit 1' INT TERM
	args=(--out "$OUT" --build "$BUILD" --only "$ONLY" ${RATE_OPT:+--rate $RATE_OPT} ${DUR_OPT:+--duration $DUR_OPT}
		${CYCLES_OPT:+--cycles $CYCLES_OPT} --syncookies "$COOKIES_OPT")
	[ "$QUICK" = 1 ] && args+=(--quick)
	H4FL_INSIDE=$NS ip netns exec "$NS" bash "$0" "${args[@]}"
	exit $?
fi

if [ "$QUICK" = 1 ]; then
	RATE=20000 DUR=4 NCYCLES=20000 FRAGTIME=3 LEGIT_RATE=40
else
	RATE=50000 DUR=30 NCYCLES=1000000 FRAGTIME=30 LEGIT_RATE=50
fi
RATE=${RATE_OPT:-$RATE} DUR=${DUR_OPT:-$DUR} NCYCLES=${CYCLES_OPT:-$NCYCLES}
# The bounds, set explicitly so the budgets below are known (these are also netpath's defaults).
FRAG_HIGH=4194304
GC_THRESH3=1024
RCVBUF=131072
SYN_BACKLOG=1024
SYSCTLS=(--sysctl net.ipv4.ipfrag_high_thresh=$FRAG_HIGH --sysctl net.ipv4.ipfrag_time=$FRAGTIME
	--sysctl net.ipv4.neigh.default.gc_thresh3=$GC_THRESH3 --sysctl net.ipv4.tcp_rmem_default=$RCVBUF
	--sysctl net.ipv4.tcp_max_syn_backlog=$SYN_BACKLOG)
# net.ipv4.tcp_syncookies as --syncookies says (default 1, Linux's: cookies once the SYN queue is
# full); a netpath without the sysctl runs without cookies, and the summary says so.
if grep -qa 'net\.ipv4\.tcp_syncookies' "$NP"; then
	SYSCTLS+=(--sysctl net.ipv4.tcp_syncookies=$COOKIES_OPT)
	COOKIES=$COOKIES_OPT
else
	COOKIES=absent
fi

DEV=h4fl0 NET=10.91 ADDR=10.91.0.2 HOST=10.91.0.1
NP_PID= RSS_PID= FPID= LPID= FAILED=0
cleanup() {
	[ -n "$FPID" ] && kill "$FPID" 2>/dev/null
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null
	[ -n "$RSS_PID" ] && kill "$RSS_PID" 2>/dev/null
	if [ -n "$NP_PID" ]; then
		kill -TERM "$NP_PID" 2>/dev/null
		wait "$NP_PID" 2>/dev/null
	fi
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 1' INT TERM

ip link set lo up
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1
sysctl -qw net.ipv4.ip_forward=0 >/dev/null 2>&1
sysctl -qw net.ipv4.ip_local_port_range="10000 60999" >/dev/null 2>&1
echo "# flood run: $([ "$QUICK" = 1 ] && echo quick || echo full), netpath $NP, out $OUT, syncookies $COOKIES"
echo "# machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shares the cores)"

now() { date +%s.%N; }

# start_netpath NAME: a fresh `netpath run --serve echo` on the TAP; sets NP_PID, MAC, RSS_PID.
start_netpath() {
	local name=$1
	"$NP" run --tap $DEV --addr $ADDR/16 --host-addr $HOST/16 --gateway $HOST --serve echo \
		--counters-interval 1 "${SYSCTLS[@]}" >"$OUT/$name-netpath.out" 2>"$OUT/$name-netpath.err" &
	NP_PID=$!
	for _ in $(seq 100); do
		grep -q "netpath: $DEV up" "$OUT/$name-netpath.err" 2>/dev/null && break
		kill -0 "$NP_PID" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q "netpath: $DEV up" "$OUT/$name-netpath.err"; then
		echo "netpath did not come up:" >&2
		cat "$OUT/$name-netpath.err" >&2
		exit 1
	fi
	MAC=$(grep -o "mac [0-9a-f:]*" "$OUT/$name-netpath.err" | head -1 | cut -d' ' -f2)
	python3 "$HERE/floodlib.py" rss "$NP_PID" "$OUT/$name-rss.csv" &
	RSS_PID=$!
	# Warm the paths every flood shares (ARP for the host, ICMP, one TCP echo) before the baseline.
	ping -n -q -c 3 -i 0.2 -W 1 $ADDR >/dev/null 2>&1
	python3 "$HERE/floodlib.py" legit $ADDR 7 1 "$OUT/$name-warm.csv" 10 >/dev/null 2>&1
	sleep 2
}

# finish NAME T0 T1 ORDER: ping check, stop netpath, turn its output into NAME.kv.
finish() {
	local name=$1 t0=$2 t1=$3 order=$4 kv="$OUT/$1.kv"
	local pong=0
	ping -n -q -c 3 -i 0.2 -W 2 $ADDR >"$OUT/$name-ping.out" 2>&1 && grep -q " 0% packet loss" "$OUT/$name-ping.out" && pong=1
	sleep 1.2     # one more counters print after the flood has drained
	kill "$RSS_PID" 2>/dev/null
	wait "$RSS_PID" 2>/dev/null
	RSS_PID=
	kill -TERM "$NP_PID" 2>/dev/null
	wait "$NP_PID"
	local st=$?
	NP_PID=
	{
		echo "flood=$name"
		echo "order=$order"
		echo "ping_after=$pong"
		echo "netpath_exit=$st"
		echo "flood_start=$t0"
		echo "flood_end=$t1"
		sed -n 's/^flood: done mode [a-z]* sent \([0-9]*\) failed \([0-9]*\) in \([0-9.]*\) s: \([0-9]*\) frames.*/sent=\1\nsend_failed=\2\nduration=\3\nachieved_rate=\4/p' \
			"$OUT/$name-flood.out"
		python3 "$HERE/floodlib.py" window "$OUT/$name-rss.csv" "$t0" "$t1" \
			"$(sed -n 's/^flood: done mode [a-z]* sent \([0-9]*\) .*/\1/p' "$OUT/$name-flood.out")"
		python3 "$HERE/floodlib.py" gauges "$OUT/$name-netpath.out" "$OUT/$name-gauges.csv"
	} >>"$kv"
	[ "$pong" = 1 ] || { echo "FAIL: $name: netpath did not answer ping after the flood" >&2; FAILED=1; }
	[ "$st" = 0 ] || { echo "FAIL: $name: netpath exited $st" >&2; FAILED=1; }
}

kvget() { local v; v=$(sed -n "s/^$2=//p" "$OUT/$1.kv" | tail -1); echo "${v:-0}"; }

run_flood() {
	local name=$1 order=$2 mode=$3 post=$4; shift 4
	rm -f "$OUT/$name.kv"
	start_netpath "$name"
	echo "target_rate=$RATE" >>"$OUT/$name.kv"
	local t0 t1
	t0=$(now)
	"$FLOOD" --if $DEV --mode "$mode" --dst $ADDR --dst-mac "$MAC" --rate $RATE --duration $DUR "$@" \
		>"$OUT/$name-flood.out" 2>&1 &
	FPID=$!
	if [ "$mode" = syn ]; then
		python3 "$HERE/floodlib.py" legit $ADDR 7 "$DUR" "$OUT/$name-legit.csv" $LEGIT_RATE >>"$OUT/$name.kv" 2>&1 &
		LPID=$!
	fi
	wait $FPID || { echo "FAIL: $name: the flooder failed:" >&2; cat "$OUT/$name-flood.out" >&2; FAILED=1; }
	FPID=
	[ -n "$LPID" ] && wait $LPID
	LPID=
	t1=$(now)
	sleep "$post"
	finish "$name" "$t0" "$t1" "$order"
}

IFS=, read -ra WANT <<<"$ONLY"
want() { local w; for w in "${WANT[@]}"; do [ "$w" = "$1" ] && return 0; done; return 1; }

if want syn; then
	echo "# syn: $RATE SYN/s from random 198.18.0.0/15 sources (off-link, via the gateway) for $DUR s + legitimate client"
	run_flood syn 1 syn 2 --port 7 --src-net 198.18.0.0/15
	{
		echo "syncookies=$COOKIES"
		echo "bound=SYN_RECV peak $(kvget syn peak_tcp_synrecv) / listen backlog 511 (max_syn_backlog $SYN_BACKLOG); cookies sent $(kvget syn last_TcpExtSyncookiesSent), recv $(kvget syn last_TcpExtSyncookiesRecv)"
		echo "legit=$(kvget syn legit_ok)/$(kvget syn legit_attempts) ($(kvget syn legit_pct)%), p50 $(kvget syn legit_p50_ms) ms, p99 $(kvget syn legit_p99_ms) ms"
	} >>"$OUT/syn.kv"
fi
if want frag; then
	echo "# frag: $RATE tiny fragments/s (8 bytes, random ids and sources) for $DUR s, then ipfrag_time ($FRAGTIME s)"
	run_flood frag 2 frag $((FRAGTIME + 2)) --port 9 --src-net 198.18.0.0/15
	echo "bound=FRAG memory peak $(kvget frag peak_frag_memory) / ipfrag_high_thresh $FRAG_HIGH; end $(kvget frag last_frag_memory)" >>"$OUT/frag.kv"
fi
if want ooo; then
	echo "# ooo: $RATE out-of-order 1000-byte segments/s into one connection for $DUR s (span 128 KiB: about half within the 64 KiB window, half beyond)"
	run_flood ooo 3 ooo 1 --port 7 --src-net 198.18.0.0/15 --seg 1000 --span 131072
	echo "bound=ofo peak $(kvget ooo peak_tcp_ofo) B ($(kvget ooo peak_tcp_ofo_segs) segs), rmem peak $(kvget ooo peak_tcp_rmem) / rcvbuf $RCVBUF" >>"$OUT/ooo.kv"
fi
if want arp; then
	echo "# arp: $RATE ARP frames/s (requests for $ADDR and unsolicited replies) from random 10.91.0.0/16 senders for $DUR s"
	run_flood arp 4 arp 1 --src-net 10.91.0.0/16
	echo "bound=ARP entries peak $(kvget arp peak_arp_entries) / gc_thresh3 $GC_THRESH3" >>"$OUT/arp.kv"
fi
# run_cycles NAME ORDER CYCLES [cycles options]: the in-process soak, its figures into NAME.kv.
run_cycles() {
	local name=$1 order=$2 n=$3 t0 t1 st; shift 3
	rm -f "$OUT/$name.kv"
	t0=$(now)
	"$CYCLES" --cycles "$n" --sample $((n / 200 > 0 ? n / 200 : 1)) --csv "$OUT/$name-rss.csv" "$@" \
		>"$OUT/$name.out" 2>&1
	st=$?
	t1=$(now)
	sed 's/^/  /' "$OUT/$name.out"
	{
		echo "flood=$name"
		echo "order=$order"
		echo "cycles_exit=$st"
		echo "target_rate=-"
		python3 -c "print(f'duration={$t1 - $t0:.1f}'); print(f'achieved_rate={int($n / ($t1 - $t0))}')"
		sed -n 's/^cycles: rss baseline \([0-9]*\) kB peak \([0-9]*\) kB end \([0-9]*\) kB (after malloc_trim \([0-9]*\) kB)/rss_base_kb=\1\nrss_peak_kb=\2\nrss_end_kb=\3\nrss_trimmed_kb=\4/p' "$OUT/$name.out"
		sed -n 's/^cycles: heap in use baseline \([0-9-]*\) kB peak \([0-9]*\) kB end \([0-9]*\) kB/heap_base_kb=\1\nheap_peak_kb=\2\nheap_end_kb=\3/p' "$OUT/$name.out"
		sed -n 's/^cycles: time_wait peak \([0-9]*\) (tcp_max_tw_buckets \([0-9]*\), TCPTimeWaitOverflow \([0-9]*\)), after 2\*MSL \([0-9]*\)/tw_peak=\1\ntw_max=\2\ntw_overflow=\3\ntw_end=\4/p' "$OUT/$name.out"
	} >>"$OUT/$name.kv"
	echo "bound=TIME_WAIT peak $(kvget $name tw_peak) / tcp_max_tw_buckets $(kvget $name tw_max) (overflows $(kvget $name tw_overflow)), after 2*MSL $(kvget $name tw_end); heap in use $(kvget $name heap_base_kb) -> $(kvget $name heap_peak_kb) -> $(kvget $name heap_end_kb) kB" >>"$OUT/$name.kv"
	[ "$st" = 0 ] || { echo "FAIL: $name exited $st" >&2; FAILED=1; }
}

if want cycles; then
	echo "# cycles: $NCYCLES connect/transfer/close cycles between two stacks in one process (TIME_WAIT in the client), after 15,000 warm-up cycles"
	run_cycles cycles 5 "$NCYCLES"
	echo "# cycles-tw4096: $((NCYCLES / 10)) cycles with net.ipv4.tcp_max_tw_buckets=4096 (TIME_WAIT at its cap)"
	run_cycles cycles-tw4096 6 $((NCYCLES / 10)) --tw-max 4096 --warmup 5000
fi

echo
python3 "$HERE/floodlib.py" table "$OUT" | tee "$OUT/summary.md"
echo
echo "# CSVs and logs in $OUT"
exit $FAILED
