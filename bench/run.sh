#!/usr/bin/env bash
# netpath's benchmarks: every figure is netpath against a peer measured in
# this same invocation (and a device ceiling where one exists), the median
# of --runs runs, with CPU time per packet beside it. Prints a table and
# writes it as JSON. `make bench` builds build-release/ and runs this.
#
#   bench/run.sh [--build DIR] [--out FILE] [--runs N] [--duration SEC] [--only ID,ID] [--keep]
#
# Figures (--only takes ids or prefixes): udp_echo_64_tap(_evloop),
# udp_bulk_1472_cable, udp_ipp_{rx,tx}_{64,1472}, tcp_ipp_{rx,tx}_1448, udp_socket_mem,
# tcp_stream_cable, tcp_echo_64_tap(_evloop), tcp_conn_mem (the TCP ones
# run once np_socket(SOCK_STREAM) works, else they are listed as pending).
# Each network run happens in fresh network namespaces of its own (npb<pid>...,
# 10.20x.0.0/24 addresses only) with a random port, and everything started
# here is stopped and deleted on exit. Needs root (namespaces, TAP devices).
# Load comes from bench/npload.c, one program that runs the same code over
# kernel sockets and over netpath's np_* sockets; bench/ipp.c counts
# instructions per datagram and per TCP segment under valgrind's callgrind. docs/performance.md
# explains each figure.
set -u
CALLER=$(pwd)
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# Paths given on the command line are relative to where run.sh was called from.
abspath() { case $1 in /*) echo "$1" ;; *) echo "$CALLER/$1" ;; esac; }

BUILD=${BUILD:-build-release}
OUT=bench/results.json
RUNS=5
DUR=1.5
ONLY=
KEEP=0
while [ $# -gt 0 ]; do
	case $1 in
	--build) BUILD=$(abspath "$2"); shift 2 ;;
	--out) OUT=$(abspath "$2"); shift 2 ;;
	--runs) RUNS=$2; shift 2 ;;
	--duration) DUR=$2; shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--keep) KEEP=1; shift ;;
	-h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) echo "bench/run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	esac
done

die() { echo "bench/run.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root: it creates network namespaces and TAP devices (sudo make bench)"
for t in ip taskset python3 cc pkg-config; do
	command -v "$t" >/dev/null 2>&1 || die "'$t' is missing"
done
[ -c /dev/net/tun ] || die "/dev/net/tun is missing (modprobe tun)"
[ -f "$BUILD/libnetpath.a" ] || die "$BUILD/libnetpath.a is missing: build it first (make bench does)"

# ---- the tools ----
BIN=$BUILD/bench
mkdir -p "$BIN"
CFLAGS="-O2 -g -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wstrict-prototypes -Iinclude"
LIBS="$BUILD/libnetpath.a $(pkg-config --libs libpcap) -lpthread"
cc $CFLAGS bench/npload.c $LIBS -o "$BIN/npload" || die "cannot build npload"
IPP_DEFS=
if [ ! -f /usr/include/valgrind/callgrind.h ]; then
	IPP_DEFS=-DNO_CALLGRIND   # counts whole runs and subtracts a run of 0 datagrams
fi
cc $CFLAGS $IPP_DEFS bench/ipp.c $LIBS -o "$BIN/ipp" || die "cannot build ipp"
NPLOAD=$ROOT/$BIN/npload
[ "${BIN#/}" != "$BIN" ] && NPLOAD=$BIN/npload
IPP=${NPLOAD%/npload}/ipp

# ---- bookkeeping and cleanup ----
TMP=$(mktemp -d /tmp/npbench.XXXXXX) || die "mktemp failed"
REC=$TMP/records.jsonl
: >"$REC"
PIDS=()
NSS=()
cleanup() {
	local p n
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	for n in "${NSS[@]}"; do ip netns del "$n" 2>/dev/null; done
	if [ "$KEEP" = 1 ]; then echo "logs kept in $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 1' INT TERM

NCPU=$(nproc)
if [ "$NCPU" -ge 2 ]; then CPU_A=0; CPU_B=1; else CPU_A=0; CPU_B=0; fi

# want ID: true if --only is empty or names ID, a prefix of it (udp_echo) or a longer id in its section.
want() {
	local w
	[ -z "$ONLY" ] && return 0
	for w in ${ONLY//,/ }; do
		[[ $1 == "$w"* || $w == "$1"* ]] && return 0
	done
	return 1
}
rand_port() { echo $((20000 + RANDOM % 40000)); }
# kv FILE KEY: the value of KEY=... in npload's result line
kv() { sed -n "s/.*[ ]$2=\([^ ]*\).*/\1/p" "$1" | tail -1; }
json_str() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }

# series ID LABEL: names one measured thing
series() { printf '{"series":"%s","label":%s}\n' "$1" "$(json_str "$2")" >>"$REC"; }
# record SERIES RUN VALUE CPU_NS [EXTRA_JSON]
record() {
	printf '{"series":"%s","run":%s,"value":%s,"cpu_ns":%s%s}\n' "$1" "$2" "${3:-null}" "${4:-null}" "${5:-}" >>"$REC"
}
# figure ID TITLE UNIT HIGHER(1/0) NP_SERIES PEER_SERIES CEIL_SERIES PINNING STATUS NOTE
figure() {
	printf '{"figure":"%s","title":%s,"unit":%s,"higher":%s,"netpath":"%s","peer":"%s","ceiling":"%s","pinning":%s,"status":"%s","note":%s}\n' \
		"$1" "$(json_str "$2")" "$(json_str "$3")" "$4" "$5" "$6" "$7" "$(json_str "$8")" "$9" "$(json_str "${10}")" >>"$REC"
}

# newns NAME: a fresh namespace with lo up and no IPv6 (no router solicitations on the links)
newns() {
	ip netns add "$1" || die "ip netns add $1 failed"
	NSS+=("$1")
	ip netns exec "$1" ip link set lo up
	ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1
}
delns() {
	local n keep=()
	ip netns del "$1" 2>/dev/null
	for n in "${NSS[@]}"; do [ "$n" != "$1" ] && keep+=("$n"); done
	NSS=("${keep[@]}")
}
# startbg NS CPU OUT ERR CMD...: starts CMD pinned in NS; its pid in BGPID
startbg() {
	local ns=$1 cpu=$2 out=$3 err=$4
	shift 4
	ip netns exec "$ns" taskset -c "$cpu" "$@" >"$out" 2>"$err" &
	BGPID=$!
	PIDS+=("$BGPID")
}
# waitready ERRFILE PATTERN: until the line appears (10 s), or the process dies
waitready() {
	for _ in $(seq 200); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		kill -0 "$BGPID" 2>/dev/null || break
		sleep 0.05
	done
	echo "--- no '$2' from pid $BGPID:" >&2
	cat "$1" >&2
	return 1
}
stopbg() {
	local p=$1 keep=() q
	kill -TERM "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	for q in "${PIDS[@]}"; do [ "$q" != "$p" ] && keep+=("$q"); done
	PIDS=("${keep[@]}")
}
RUNID=0
nsname() { RUNID=$((RUNID + 1)); echo "npb$$r$RUNID$1"; }

# ======================================================================
# Echo through a TAP: the client is always npload over the kernel's
# sockets, pinned to CPU_A; the server side (everything the echo runs on)
# is pinned to CPU_B.
# ======================================================================

# echo_run SERIES RUN KIND PROTO WINDOW: one measurement of one server kind;
# KIND is np_thread, np_poll, kernel_veth or tap_reflect.
echo_run() {
	local s=$1 i=$2 kind=$3 proto=$4 window=$5 port ns nsb= dst out=$TMP/$1.$2 ok=1
	port=$(rand_port)
	ns=$(nsname c)
	newns "$ns"
	case $kind in
	np_thread|np_poll)
		startbg "$ns" "$CPU_B" "$out.srv" "$out.srverr" "$NPLOAD" echo-server --backend np-tap --np-loop "${kind#np_}" \
			--proto "$proto" --tap nbtap0 --addr 10.201.0.2/24 --host-addr 10.201.0.1/24 --port "$port" --duration 60
		waitready "$out.srverr" "echo-server ready" || ok=0
		dst=10.201.0.2
		;;
	tap_reflect)
		startbg "$ns" "$CPU_B" "$out.srv" "$out.srverr" "$NPLOAD" tap-reflect --tap nbtap0
		waitready "$out.srverr" "tap-reflect ready" || ok=0
		ip netns exec "$ns" ip addr add 10.201.0.1/24 dev nbtap0
		ip netns exec "$ns" ip link set nbtap0 up
		dst=10.201.0.2
		;;
	kernel_veth)
		nsb=$(nsname s)
		newns "$nsb"
		ip link add nbveth0 netns "$ns" type veth peer name nbveth1 netns "$nsb" || ok=0
		ip netns exec "$ns" ip addr add 10.202.0.1/24 dev nbveth0
		ip netns exec "$ns" ip link set nbveth0 up
		ip netns exec "$nsb" ip addr add 10.202.0.2/24 dev nbveth1
		ip netns exec "$nsb" ip link set nbveth1 up
		startbg "$nsb" "$CPU_B" "$out.srv" "$out.srverr" "$NPLOAD" echo-server --backend kernel --proto "$proto" \
			--port "$port" --duration 60
		waitready "$out.srverr" "echo-server ready" || ok=0
		dst=10.202.0.2
		;;
	esac
	if [ $ok = 1 ]; then
		ip netns exec "$ns" taskset -c "$CPU_A" timeout 60 "$NPLOAD" echo-client --proto "$proto" --size 64 \
			--window "$window" --warmup 0.3 --duration "$DUR" --dst "$dst:$port" >"$out.cli" 2>"$out.clierr" || ok=0
	fi
	stopbg "$BGPID"
	delns "$ns"
	[ -n "$nsb" ] && delns "$nsb"
	if [ $ok = 0 ] || [ -z "$(kv "$out.cli" pps)" ]; then
		echo "  $s run $i FAILED: $(cat "$out.clierr" "$out.srverr" 2>/dev/null | tail -3)" >&2
		record "$s" "$i" null null ',"failed":true'
		return
	fi
	local pps ccpu scpu spk both lost csw
	pps=$(kv "$out.cli" pps)
	ccpu=$(kv "$out.cli" cpu_ns_per_pkt)
	scpu=$(kv "$out.srv" cpu_s)
	spk=$(kv "$out.srv" packets)
	# CPU per packet of both ends: the client's over its window plus the server's over its life.
	both=$(python3 -c "import sys; c,s,p=map(float,sys.argv[1:]); print(round(c + (s*1e9/p if p else 0), 1))" \
		"$ccpu" "${scpu:-0}" "${spk:-0}")
	lost=$(kv "$out.cli" lost)
	csw=$(kv "$out.srv" ctx_switches_per_pkt)
	record "$s" "$i" "$pps" "$both" ",\"client_cpu_ns\":${ccpu:-null},\"lost\":${lost:-null},\"server_ctx_switches_per_pkt\":${csw:-null}"
	printf '  %-18s run %d: %10.0f /s  %7.0f ns CPU/packet (both ends)\n' "$s" "$i" "$pps" "$both"
}

# echo_figure PROTO WINDOW SERIES:KIND...: runs every series RUNS times, rotating the
# order each run so slow drift of the machine favours none.
echo_figure() {
	local proto=$1 window=$2 i k n
	shift 2
	local list=("$@")
	n=${#list[@]}
	for i in $(seq "$RUNS"); do
		for k in $(seq 0 $((n - 1))); do
			local e=${list[$(((k + i) % n))]}
			echo_run "${e%%:*}" "$i" "${e#*:}" "$proto" "$window"
		done
	done
}
ECHO_PIN="client (npload, kernel sockets) taskset -c $CPU_A; server side taskset -c $CPU_B (netpath's stack and echo threads share it)"

if want udp_echo_64_tap || want udp_echo_64_tap_evloop; then
	echo ">>> UDP echo, 64-byte datagrams, through a TAP ($RUNS runs of ${DUR}s; client on CPU $CPU_A, server on CPU $CPU_B)"
	series echo_np_thread "netpath on a TAP: stack thread + blocking echo thread (npload echo-server --backend np-tap, as netpath run --serve echo)"
	series echo_np_poll "netpath on a TAP: one thread, event loop on np_stack_fd + np_stack_poll (--np-loop poll)"
	series echo_kernel_veth "Linux UDP over a veth pair, npload echo-server in a second namespace"
	series echo_tap_reflect "raw TAP reflector: read() a frame, swap addresses, write() it back"
	echo_figure udp 64 echo_np_thread:np_thread echo_np_poll:np_poll echo_kernel_veth:kernel_veth echo_tap_reflect:tap_reflect
	figure udp_echo_64_tap "UDP echo 64 B through a TAP" "pkt/s" 1 echo_np_thread echo_kernel_veth echo_tap_reflect \
		"$ECHO_PIN" ok "64 datagrams in flight; CPU is both ends per echoed packet"
	figure udp_echo_64_tap_evloop "UDP echo 64 B through a TAP, netpath as one-thread event loop" "pkt/s" 1 echo_np_poll \
		echo_kernel_veth echo_tap_reflect "$ECHO_PIN" ok "same runs' peer and ceiling as udp_echo_64_tap"
fi

# ======================================================================
# Bulk: sender and receiver in one thread on one core.
# ======================================================================
# bulk_run SERIES RUN KIND PROTO SIZE: KIND is np_cable, kernel_lo or memcpy.
bulk_run() {
	local s=$1 i=$2 kind=$3 proto=$4 size=$5 out=$TMP/$1.$2 ns port
	local args=(--proto "$proto" --size "$size" --burst 32 --warmup 0.3 --duration "$DUR")
	port=$(rand_port)
	ns=$(nsname b)
	newns "$ns"
	case $kind in
	np_cable) ip netns exec "$ns" taskset -c "$CPU_A" timeout 60 "$NPLOAD" bulk --backend np-cable "${args[@]}" --port "$port" ;;
	kernel_lo) ip netns exec "$ns" taskset -c "$CPU_A" timeout 60 "$NPLOAD" bulk --backend kernel "${args[@]}" --port "$port" ;;
	memcpy) taskset -c "$CPU_A" "$NPLOAD" memcpy --size "$size" --duration "$DUR" ;;
	esac >"$out" 2>"$out.err"
	delns "$ns"
	local g c
	g=$(kv "$out" gbps)
	c=$(kv "$out" cpu_ns_per_pkt)
	if [ -z "$g" ]; then
		echo "  $s run $i FAILED: $(tail -3 "$out.err")" >&2
		record "$s" "$i" null null ',"failed":true'
		return
	fi
	record "$s" "$i" "$g" "$c"
	printf '  %-18s run %d: %8.2f Gbit/s  %7.0f ns CPU/packet\n' "$s" "$i" "$g" "$c"
}
bulk_figure() {
	local proto=$1 size=$2 i k n
	shift 2
	local list=("$@")
	n=${#list[@]}
	for i in $(seq "$RUNS"); do
		for k in $(seq 0 $((n - 1))); do
			local e=${list[$(((k + i) % n))]}
			bulk_run "${e%%:*}" "$i" "${e#*:}" "$proto" "$size"
		done
	done
}
if want udp_bulk_1472_cable; then
	echo ">>> UDP bulk, 1472-byte datagrams, one thread on CPU $CPU_A ($RUNS runs of ${DUR}s)"
	series bulk_np_cable "netpath: two stacks on the in-process cable, one thread (np_stack_poll)"
	series bulk_kernel_lo "Linux UDP over loopback (127.0.0.1), sender and receiver in one thread"
	series bulk_memcpy "memcpy of 1472-byte blocks between two 1 MiB buffers"
	bulk_figure udp 1472 bulk_np_cable:np_cable bulk_kernel_lo:kernel_lo bulk_memcpy:memcpy
	figure udp_bulk_1472_cable "UDP bulk 1472 B, one core" "Gbit/s" 1 bulk_np_cable bulk_kernel_lo bulk_memcpy \
		"everything taskset -c $CPU_A" ok "payload goodput; bursts of 32 datagrams, then drain; CPU per datagram received"
fi

# ======================================================================
# Instructions per datagram (callgrind), netpath's in-process path.
# ======================================================================
ipp_run() {
	# ipp_run SIZE RUN [udp|tcp]: the series are ipp_{rx,tx}_SIZE (UDP) or tcp_ipp_{rx,tx}_SIZE.
	local size=$1 i=$2 proto=${3:-udp} dir=$TMP/ipp.${3:-udp}.$1.$2 rx tx pre=
	[ "$proto" = tcp ] && pre=tcp_
	mkdir -p "$dir"
	if [ -z "$IPP_DEFS" ]; then
		valgrind --tool=callgrind --instr-atstart=no --collect-atstart=no \
			--callgrind-out-file="$dir/cg.%p" "$IPP" --proto "$proto" --count 10000 --size "$size" >"$dir/out" 2>"$dir/err" || return 1
		rx=$(grep -h '^totals:' "$dir"/cg.*.1 | awk '{print $2}')
		tx=$(grep -h '^totals:' "$dir"/cg.*.2 | awk '{print $2}')
		rx=$((rx / 10000))
		tx=$((tx / 10000))
		cp "$dir"/cg.*.1 "$TMP/${pre}ipp-rx-$size.callgrind"
		cp "$dir"/cg.*.2 "$TMP/${pre}ipp-tx-$size.callgrind"
	else
		# No callgrind.h: whole runs of N and of 0 packets; the difference is rx + tx.
		local a b
		valgrind --tool=callgrind --callgrind-out-file="$dir/n" "$IPP" --proto "$proto" --count 10000 --size "$size" >/dev/null 2>&1 || return 1
		valgrind --tool=callgrind --callgrind-out-file="$dir/z" "$IPP" --proto "$proto" --count 0 --size "$size" >/dev/null 2>&1 || return 1
		a=$(grep -h '^totals:' "$dir/n" | awk '{print $2}')
		b=$(grep -h '^totals:' "$dir/z" | awk '{print $2}')
		rx=$(((a - b) / 20000))   # rx and tx cannot be told apart: half each
		tx=$rx
	fi
	record "${pre}ipp_rx_$size" "$i" "$rx" null
	record "${pre}ipp_tx_$size" "$i" "$tx" null
	printf '  ipp %s %4d B run %d: rx %6d  tx %6d instructions/packet\n' "$proto" "$size" "$i" "$rx" "$tx"
}
if want udp_ipp; then
	if command -v valgrind >/dev/null 2>&1; then
		echo ">>> Instructions per UDP datagram, callgrind ($RUNS runs)"
		series ipp_rx_64 "netpath rx: np_stack_poll (cable_poll ... udp_rcv) + np_recv, 64-byte datagram"
		series ipp_tx_64 "netpath tx: np_send ... cable_xmit, 64-byte datagram"
		series ipp_rx_1472 "netpath rx, 1472-byte datagram"
		series ipp_tx_1472 "netpath tx, 1472-byte datagram"
		for i in $(seq "$RUNS"); do
			ipp_run 64 "$i" || echo "  ipp 64 run $i FAILED" >&2
			ipp_run 1472 "$i" || echo "  ipp 1472 run $i FAILED" >&2
		done
		NOTE="user-space instructions (callgrind Ir) per datagram; no peer: the kernel's instructions cannot be counted the same way"
		[ -n "$IPP_DEFS" ] && NOTE="$NOTE; no callgrind.h: (run of N - run of 0) / 2N, rx and tx not told apart"
		figure udp_ipp_rx_64 "Instructions/datagram, UDP receive, 64 B" "instr" 0 ipp_rx_64 "" "" "callgrind (serialised)" ok "$NOTE"
		figure udp_ipp_tx_64 "Instructions/datagram, UDP send, 64 B" "instr" 0 ipp_tx_64 "" "" "callgrind (serialised)" ok "$NOTE"
		figure udp_ipp_rx_1472 "Instructions/datagram, UDP receive, 1472 B" "instr" 0 ipp_rx_1472 "" "" "callgrind (serialised)" ok "$NOTE"
		figure udp_ipp_tx_1472 "Instructions/datagram, UDP send, 1472 B" "instr" 0 ipp_tx_1472 "" "" "callgrind (serialised)" ok "$NOTE"
		if command -v callgrind_annotate >/dev/null 2>&1; then
			for f in "$TMP"/ipp-*.callgrind; do
				[ -f "$f" ] || continue
				b=$(basename "$f" .callgrind)
				callgrind_annotate --inclusive=no "$f" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | head -16 >"$BIN/$b.self.txt"
				callgrind_annotate --inclusive=yes "$f" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | head -40 >"$BIN/$b.inclusive.txt"
			done
			echo "  hottest functions: $BIN/ipp-*.self.txt, ipp-*.inclusive.txt"
		fi
	else
		figure udp_ipp_rx_64 "Instructions/datagram, UDP receive, 64 B" "instr" 0 ipp_rx_64 "" "" "" skipped \
			"valgrind is not installed (apt-get install valgrind)"
	fi
fi

if want tcp_ipp; then
	if command -v valgrind >/dev/null 2>&1; then
		echo ">>> Instructions per TCP data segment, callgrind ($RUNS runs)"
		series tcp_ipp_rx_1448 "netpath rx: np_stack_poll (cable_poll ... tcp_v4_rcv, the ACK it sends) + np_recv, 1448-byte segment"
		series tcp_ipp_tx_1448 "netpath tx: np_send ... cable_xmit + the sender's poll that takes the ACKs"
		for i in $(seq "$RUNS"); do
			ipp_run 1448 "$i" tcp || echo "  ipp tcp 1448 run $i FAILED" >&2
		done
		NOTE="user-space instructions (callgrind Ir) per full-sized segment, one connection, TCP_NODELAY, frozen virtual clock (no timer in the count)"
		[ -n "$IPP_DEFS" ] && NOTE="$NOTE; no callgrind.h: (run of N - run of 0) / 2N, rx and tx not told apart"
		figure tcp_ipp_rx_1448 "Instructions/segment, TCP receive, 1448 B" "instr" 0 tcp_ipp_rx_1448 "" "" "callgrind (serialised)" ok "$NOTE"
		figure tcp_ipp_tx_1448 "Instructions/segment, TCP send, 1448 B" "instr" 0 tcp_ipp_tx_1448 "" "" "callgrind (serialised)" ok "$NOTE"
	else
		figure tcp_ipp_rx_1448 "Instructions/segment, TCP receive, 1448 B" "instr" 0 tcp_ipp_rx_1448 "" "" "" skipped \
			"valgrind is not installed (apt-get install valgrind)"
	fi
fi

# ======================================================================
# Cost per socket: memory of an idle socket / connection.
# ======================================================================
mem_run() {
	local s=$1 i=$2 proto=$3 count=$4 out=$TMP/$1.$2 ns port rc be=kernel
	ns=$(nsname m)
	newns "$ns"
	port=$(rand_port)
	[ "${s%_np}" != "$s" ] && be=np-cable
	ip netns exec "$ns" taskset -c "$CPU_A" timeout 120 "$NPLOAD" sock-mem --backend $be --proto "$proto" \
		--count "$count" --port "$port" >"$out" 2>"$out.err"
	rc=$?
	delns "$ns"
	local v m k
	v=$(kv "$out" bytes_per_socket)
	m=$(kv "$out" malloc_bytes_per_socket)
	k=$(kv "$out" kernel_bytes_per_socket)
	if [ -z "$v" ]; then
		echo "  $s run $i FAILED (exit $rc): $(tail -3 "$out.err")" >&2
		record "$s" "$i" null null ',"failed":true'
		return
	fi
	record "$s" "$i" "$v" null ",\"malloc_bytes\":$m,\"kernel_bytes\":$k"
	printf '  %-18s run %d: %8.0f bytes/socket (malloc %.0f + kernel slab %.0f)\n' "$s" "$i" "$v" "$m" "$k"
}
if want udp_socket_mem; then
	echo ">>> Memory per idle UDP socket, 10000 sockets ($RUNS runs)"
	series udpmem_np "netpath: malloc'd bytes (mallinfo2) + kernel slab of each socket's eventfd"
	series udpmem_kernel "Linux: kernel slab bytes (/proc/meminfo Slab) per UDP socket"
	for i in $(seq "$RUNS"); do
		mem_run udpmem_np "$i" udp 10000
		mem_run udpmem_kernel "$i" udp 10000
	done
	figure udp_socket_mem "Memory per idle UDP socket (bound)" "bytes" 0 udpmem_np udpmem_kernel "" \
		"taskset -c $CPU_A" ok "10000 sockets bound to ephemeral ports; slab deltas include other activity on the machine"
fi

# ======================================================================
# TCP: the same shapes; they run once netpath opens SOCK_STREAM sockets.
# ======================================================================
TCP_OK=0
"$NPLOAD" probe --backend np-cable --proto tcp >"$TMP/probe" 2>&1 && TCP_OK=1
if [ $TCP_OK = 0 ]; then
	PENDING="pending: np_socket(SOCK_STREAM) fails ($(sed -n 's/.* error=//p' "$TMP/probe")); these run once netpath has TCP"
	for f in tcp_stream_cable tcp_echo_64_tap tcp_conn_mem; do
		want $f && figure $f "$f" "" 1 "" "" "" "" pending "$PENDING"
	done
	want tcp_stream_cable && echo ">>> TCP figures: $PENDING"
else
	if want tcp_stream_cable; then
		echo ">>> TCP stream, one thread on CPU $CPU_A ($RUNS runs of ${DUR}s)"
		series tcpbulk_np "netpath TCP: two stacks on the in-process cable, one thread (np_stack_poll)"
		series tcpbulk_kernel "Linux TCP over loopback, one thread"
		series tcpbulk_memcpy "memcpy of 1448-byte blocks between two 1 MiB buffers"
		bulk_figure tcp 1448 tcpbulk_np:np_cable tcpbulk_kernel:kernel_lo tcpbulk_memcpy:memcpy
		figure tcp_stream_cable "TCP stream, one core" "Gbit/s" 1 tcpbulk_np tcpbulk_kernel tcpbulk_memcpy \
			"everything taskset -c $CPU_A" ok "64 KiB writes, non-blocking, one thread; CPU per 1448 bytes received"
	fi
	if want tcp_echo_64_tap; then
		echo ">>> TCP request/response, 64 bytes, one in flight, through a TAP ($RUNS runs of ${DUR}s)"
		series tcprr_np_thread "netpath TCP on a TAP: stack thread + blocking echo thread"
		series tcprr_np_poll "netpath TCP on a TAP: one-thread event loop"
		series tcprr_kernel_veth "Linux TCP over a veth pair"
		echo_figure tcp 1 tcprr_np_thread:np_thread tcprr_np_poll:np_poll tcprr_kernel_veth:kernel_veth
		figure tcp_echo_64_tap "TCP request/response 64 B through a TAP" "trans/s" 1 tcprr_np_thread tcprr_kernel_veth "" \
			"$ECHO_PIN" ok "one 64-byte request in flight (latency-bound), TCP_NODELAY; CPU is both ends per transaction"
		figure tcp_echo_64_tap_evloop "TCP request/response 64 B through a TAP, netpath as event loop" "trans/s" 1 \
			tcprr_np_poll tcprr_kernel_veth "" "$ECHO_PIN" ok "same runs' peer as tcp_echo_64_tap"
	fi
	if want tcp_conn_mem; then
		echo ">>> Memory per established TCP connection end, 4000 connections ($RUNS runs)"
		series tcpmem_np "netpath: malloc'd bytes + eventfd slab per connection end"
		series tcpmem_kernel "Linux: kernel slab bytes per connection end"
		for i in $(seq "$RUNS"); do
			mem_run tcpmem_np "$i" tcp 4000
			mem_run tcpmem_kernel "$i" tcp 4000
		done
		figure tcp_conn_mem "Memory per idle TCP connection end" "bytes" 0 tcpmem_np tcpmem_kernel "" \
			"taskset -c $CPU_A" ok "4000 connections over the cable / loopback, both ends in one process (8000 ends)"
	fi
fi

# ---- the table and the JSON ----
python3 bench/report.py "$REC" "$OUT" --runs "$RUNS" --duration "$DUR"
