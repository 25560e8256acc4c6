#!/usr/bin/env bash
# netpath's benchmarks: every figure is netpath against a peer measured in
# this same invocation (and a device ceiling where one exists), the median
# of --runs runs, with CPU time per packet beside it. Prints a table and
# writes it as JSON. `make bench` builds build-release/ and runs this.
#
#   bench/run.sh [--build DIR] [--out FILE] [--runs N] [--duration SEC] [--only ID,ID] [--keep]
#
# Figures (--only takes ids or prefixes): udp_echo_64_tap(_evloop,_busypoll),
# udp_bulk_1472_cable, udp_ipp_{rx,tx}_{64,1472}, tcp_ipp_{rx,tx}_1448, udp_socket_mem,
# tcp_stream_cable, tcp_echo_64_tap(_evloop), tcp_conn_mem, tcp_rr_1_tap_{2core,1core}(_evloop,_busypoll),
# tcp_crr_tap(_evloop,_busypoll), tcp_conn_mem_nofd, tcp_conn_max_1gib_cable, tcp_rr_10k_vs_1(_kernel),
# tcp_stream_cable_offload, tcp_stream_tap_{rx,tx}_{plain,offload}, tcp_stream_afpacket_rx (the TCP ones
# run once np_socket(SOCK_STREAM) works, else they are listed as pending).
# Each network run happens in fresh network namespaces of its own (npb<pid>...,
# 10.20x.0.0/24 addresses only) with a random port, and everything started
# here is stopped and deleted on exit. Needs root (namespaces, TAP devices).
# Load comes from bench/npload.c, one program that runs the same code over
# kernel sockets and over netpath's np_* sockets; bench/ipp.c counts
# instructions per datagram and per TCP segment under valgrind's callgrind. docs/performance.md
# explains each figure.
# Where lwIP can serve (a TAP), an lwIP column runs interleaved with the
# other series: bench/lwip/lwip_server.c, built here when Debian's
# liblwip-dev is installed (without it the column says so and stays "-").
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
# lwIP, a third column where it can serve: bench/lwip/lwip_server.c, lwIP's
# raw API in one thread on a TAP (our own TAP glue), built against Debian's
# liblwip-dev when it is installed; without it the column stays "-" and
# says why (like valgrind for udp_ipp). lwIP keeps its state in globals,
# one stack per process, so it has no in-process cable figures.
# ======================================================================
LWIP=
LWIP_WHY=
if ! pkg-config --exists lwip 2>/dev/null; then
	LWIP_WHY="lwIP is not installed (apt-get install liblwip-dev)"
elif ! cc $CFLAGS $(pkg-config --cflags lwip) bench/lwip/lwip_server.c $(pkg-config --libs lwip) -o "$BIN/lwip_server"; then
	LWIP_WHY="bench/lwip/lwip_server.c does not build against lwIP $(pkg-config --modversion lwip)"
else
	LWIP=${NPLOAD%/npload}/lwip_server
fi
[ -n "$LWIP_WHY" ] && echo "bench/run.sh: $LWIP_WHY: the lwIP column stays empty" >&2
LWIP_VER=$(pkg-config --modversion lwip 2>/dev/null)
LWIP_LABEL="lwIP $LWIP_VER on a TAP (bench/lwip/lwip_server): raw API, one thread, replies from the receive callback"
LWIP_CABLE_NOTE="lwIP runs one stack per process (global state): it cannot be both ends of an in-process cable"

# lwip_start NS OUT PROTO PORT [MODE [SIZE]]: lwip_server on a new TAP nbtap0 in NS (pinned
# like netpath's servers), then the host side of the TAP; dst is 10.201.0.2, as for netpath.
# MODE echo (UDP and TCP echo, alive 60 s; output in OUT.srv, OUT.srverr, as echo_run reads
# them) or stream-recv (a TCP sink measuring goodput like npload stream-recv: --warmup 0.3
# after the first byte, then DUR s; output in OUT.rx, OUT.rxerr, as stream_run reads them).
lwip_start() {
	local ns=$1 out=$2 proto=$3 port=$4 mode=${5:-echo} size=${6:-64} life=(--duration 60) o=srv
	[ "$mode" = stream-recv ] && life=(--warmup 0.3 --duration "$DUR") && o=rx
	startbg "$ns" "${SRV_CPU:-$CPU_B}" "$out.$o" "$out.${o}err" "$LWIP" --tap nbtap0 --addr 10.201.0.2/24 --gw 10.201.0.1 \
		--proto "$proto" --port "$port" --mode "$mode" --size "$size" "${life[@]}"
	waitready "$out.${o}err" "ready (lwip" || return 1
	ip netns exec "$ns" ip addr add 10.201.0.1/24 dev nbtap0 &&
		ip netns exec "$ns" ip link set nbtap0 up
}
# lwip_series ID LABEL [KIND]: declares the lwIP series of a figure and prints "ID:KIND"
# (KIND lwip for echo_figure, lwip_rx for stream_figure) for the figure's list, or nothing
# when lwIP is not available.
lwip_series() {
	[ -n "$LWIP" ] || return 0
	series "$1" "$2"
	echo "$1:${3:-lwip}"
}
# lwip_column FIGURE SERIES [NOTE]: the lwIP column of FIGURE (report.py: value, netpath/lwIP).
lwip_column() {
	local s=$2 note=${3:-}
	if [ -z "$LWIP" ]; then
		s=
		[ -z "$note" ] && note=$LWIP_WHY
	fi
	printf '{"lwip_figure":"%s","lwip":"%s","lwip_note":%s}\n' "$1" "$s" "$(json_str "$note")" >>"$REC"
}

# ======================================================================
# Echo through a TAP: the client is always npload over the kernel's
# sockets, pinned to CPU_A; the server side (everything the echo runs on)
# is pinned to CPU_B.
# ======================================================================

# echo_run SERIES RUN KIND PROTO WINDOW: one measurement of one server kind;
# KIND is np_thread, np_busy (np_thread with SO_PREFER_BUSY_POLL), np_poll, kernel_veth,
# tap_reflect or lwip.
echo_run() {
	local s=$1 i=$2 kind=$3 proto=$4 window=$5 port ns nsb= dst out=$TMP/$1.$2 ok=1
	# ECHO_SIZE (request bytes, 64), SRV_CPU (the server side's CPU, CPU_B), CLIENT_MODE
	# (echo-client, or crr-client for connection rate) and SRV_NOFD (netpath's server opens
	# NP_SOCK_NOFD sockets: it waits in np_poll or blocking calls, so no eventfd is needed) may be set.
	local size=${ECHO_SIZE:-64} scpu_pin=${SRV_CPU:-$CPU_B} cmode=${CLIENT_MODE:-echo-client}
	port=$(rand_port)
	ns=$(nsname c)
	newns "$ns"
	# Connection rate: the client keeps TIME_WAIT; give it the whole port range (same for every peer).
	[ "$cmode" = crr-client ] && ip netns exec "$ns" sysctl -qw "net.ipv4.ip_local_port_range=1024 65535" \
		net.ipv4.tcp_tw_reuse=1 >/dev/null
	case $kind in
	np_thread|np_poll|np_busy)
		local loop=${kind#np_} busy=
		[ "$kind" = np_busy ] && loop=thread busy=--busy-poll
		startbg "$ns" "$scpu_pin" "$out.srv" "$out.srverr" "$NPLOAD" echo-server --backend np-tap --np-loop "$loop" $busy \
			${SRV_NOFD:+--nofd} --proto "$proto" --size "$size" --tap nbtap0 --addr 10.201.0.2/24 --host-addr 10.201.0.1/24 --port "$port" --duration 60
		waitready "$out.srverr" "echo-server ready" || ok=0
		dst=10.201.0.2
		;;
	tap_reflect)
		startbg "$ns" "$scpu_pin" "$out.srv" "$out.srverr" "$NPLOAD" tap-reflect --tap nbtap0
		waitready "$out.srverr" "tap-reflect ready" || ok=0
		ip netns exec "$ns" ip addr add 10.201.0.1/24 dev nbtap0
		ip netns exec "$ns" ip link set nbtap0 up
		dst=10.201.0.2
		;;
	lwip)
		lwip_start "$ns" "$out" "$proto" "$port" echo "$size" || ok=0
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
		startbg "$nsb" "$scpu_pin" "$out.srv" "$out.srverr" "$NPLOAD" echo-server --backend kernel --proto "$proto" \
			--size "$size" --port "$port" --duration 60
		waitready "$out.srverr" "echo-server ready" || ok=0
		dst=10.202.0.2
		;;
	esac
	if [ $ok = 1 ]; then
		ip netns exec "$ns" taskset -c "$CPU_A" timeout 60 "$NPLOAD" "$cmode" --proto "$proto" --size "$size" \
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
	series echo_np_busy "netpath on a TAP: stack thread + blocking echo thread with SO_PREFER_BUSY_POLL (--busy-poll)"
	series echo_np_poll "netpath on a TAP: one thread, event loop on np_stack_fd + np_stack_poll (--np-loop poll)"
	series echo_kernel_veth "Linux UDP over a veth pair, npload echo-server in a second namespace"
	series echo_tap_reflect "raw TAP reflector: read() a frame, swap addresses, write() it back"
	echo_figure udp 64 echo_np_thread:np_thread echo_np_busy:np_busy echo_np_poll:np_poll echo_kernel_veth:kernel_veth \
		echo_tap_reflect:tap_reflect \
		$(lwip_series echo_lwip "$LWIP_LABEL")
	figure udp_echo_64_tap "UDP echo 64 B through a TAP" "pkt/s" 1 echo_np_thread echo_kernel_veth echo_tap_reflect \
		"$ECHO_PIN" ok "64 datagrams in flight; CPU is both ends per echoed packet"
	figure udp_echo_64_tap_evloop "UDP echo 64 B through a TAP, netpath as one-thread event loop" "pkt/s" 1 echo_np_poll \
		echo_kernel_veth echo_tap_reflect "$ECHO_PIN" ok "same runs' peer and ceiling as udp_echo_64_tap"
	figure udp_echo_64_tap_busypoll "UDP echo 64 B through a TAP, threaded with SO_PREFER_BUSY_POLL" "pkt/s" 1 echo_np_busy \
		echo_kernel_veth echo_tap_reflect "$ECHO_PIN" ok "same runs' peer and ceiling as udp_echo_64_tap; the echo thread sleeps on the TAP itself"
	lwip_column udp_echo_64_tap echo_lwip
	lwip_column udp_echo_64_tap_evloop echo_lwip
	lwip_column udp_echo_64_tap_busypoll echo_lwip
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
	np_cable_offload) ip netns exec "$ns" taskset -c "$CPU_A" timeout 60 "$NPLOAD" bulk --backend np-cable --offload on \
		"${args[@]}" --port "$port" ;;
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
	lwip_column udp_bulk_1472_cable "" "$LWIP_CABLE_NOTE"
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
		lwip_column tcp_stream_cable "" "$LWIP_CABLE_NOTE"
	fi
	if want tcp_echo_64_tap; then
		echo ">>> TCP request/response, 64 bytes, one in flight, through a TAP ($RUNS runs of ${DUR}s)"
		series tcprr_np_thread "netpath TCP on a TAP: stack thread + blocking echo thread"
		series tcprr_np_poll "netpath TCP on a TAP: one-thread event loop"
		series tcprr_kernel_veth "Linux TCP over a veth pair"
		echo_figure tcp 1 tcprr_np_thread:np_thread tcprr_np_poll:np_poll tcprr_kernel_veth:kernel_veth \
			$(lwip_series tcprr_lwip "$LWIP_LABEL")
		figure tcp_echo_64_tap "TCP request/response 64 B through a TAP" "trans/s" 1 tcprr_np_thread tcprr_kernel_veth "" \
			"$ECHO_PIN" ok "one 64-byte request in flight (latency-bound), TCP_NODELAY; CPU is both ends per transaction"
		figure tcp_echo_64_tap_evloop "TCP request/response 64 B through a TAP, netpath as event loop" "trans/s" 1 \
			tcprr_np_poll tcprr_kernel_veth "" "$ECHO_PIN" ok "same runs' peer as tcp_echo_64_tap"
		lwip_column tcp_echo_64_tap tcprr_lwip
		lwip_column tcp_echo_64_tap_evloop tcprr_lwip
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

# ======================================================================
# TCP per-connection figures: latency (1-byte request/response on two
# cores and on one), connection rate (connect + 1-byte exchange + close),
# cost per connection (memory, and how many fit in 1 GiB) and scale (the
# request/response rate over 10,000 connections against one). The TAP
# ones reuse echo_run: the client is npload over the kernel's sockets.
# ======================================================================
CONN_FIGS="tcp_rr_1_tap_2core tcp_rr_1_tap_1core tcp_crr_tap tcp_conn_mem_nofd tcp_conn_max_1gib_cable tcp_rr_10k_vs_1"
if [ $TCP_OK = 0 ]; then
	for f in $CONN_FIGS; do
		want $f && figure $f "$f" "" 1 "" "" "" "" pending "$PENDING"
	done
else
	# netpath's TAP servers below open NP_SOCK_NOFD sockets (SRV_NOFD): one eventfd write and
	# read fewer per transaction, since nothing epolls a socket.
	if want tcp_rr_1_tap_2core || want tcp_rr_1_tap; then
		echo ">>> TCP request/response, 1 byte, one in flight, through a TAP; client CPU $CPU_A, server CPU $CPU_B ($RUNS runs of ${DUR}s)"
		series rr1_2c_np_thread "netpath TCP on a TAP: stack thread + blocking echo thread, server side on CPU $CPU_B"
		series rr1_2c_np_busy "netpath TCP on a TAP: stack thread + blocking echo thread with SO_PREFER_BUSY_POLL, server side on CPU $CPU_B"
		series rr1_2c_np_poll "netpath TCP on a TAP: one-thread event loop, on CPU $CPU_B"
		series rr1_2c_kernel_veth "Linux TCP over a veth pair, server on CPU $CPU_B"
		SRV_NOFD=1 ECHO_SIZE=1 echo_figure tcp 1 rr1_2c_np_thread:np_thread rr1_2c_np_busy:np_busy rr1_2c_np_poll:np_poll \
			rr1_2c_kernel_veth:kernel_veth \
			$(lwip_series rr1_2c_lwip "$LWIP_LABEL, on CPU $CPU_B")
		figure tcp_rr_1_tap_2core "TCP request/response 1 B through a TAP, two cores" "trans/s" 1 rr1_2c_np_thread \
			rr1_2c_kernel_veth "" "$ECHO_PIN" ok "one 1-byte request in flight, TCP_NODELAY; CPU is both ends per transaction"
		figure tcp_rr_1_tap_2core_evloop "TCP request/response 1 B through a TAP, two cores, netpath as event loop" \
			"trans/s" 1 rr1_2c_np_poll rr1_2c_kernel_veth "" "$ECHO_PIN" ok "same runs' peer as tcp_rr_1_tap_2core"
		figure tcp_rr_1_tap_2core_busypoll "TCP request/response 1 B through a TAP, two cores, threaded with SO_PREFER_BUSY_POLL" \
			"trans/s" 1 rr1_2c_np_busy rr1_2c_kernel_veth "" "$ECHO_PIN" ok "same runs' peer as tcp_rr_1_tap_2core; the echo thread sleeps on the TAP itself"
		lwip_column tcp_rr_1_tap_2core rr1_2c_lwip
		lwip_column tcp_rr_1_tap_2core_evloop rr1_2c_lwip
		lwip_column tcp_rr_1_tap_2core_busypoll rr1_2c_lwip
	fi
	if want tcp_rr_1_tap_1core || want tcp_rr_1_tap; then
		echo ">>> TCP request/response, 1 byte, through a TAP; client and server on CPU $CPU_A ($RUNS runs of ${DUR}s)"
		series rr1_1c_np_thread "netpath TCP on a TAP: stack thread + blocking echo thread, everything on CPU $CPU_A"
		series rr1_1c_np_busy "netpath TCP on a TAP: stack thread + blocking echo thread with SO_PREFER_BUSY_POLL, everything on CPU $CPU_A"
		series rr1_1c_np_poll "netpath TCP on a TAP: one-thread event loop, everything on CPU $CPU_A"
		series rr1_1c_kernel_veth "Linux TCP over a veth pair, client and server on CPU $CPU_A"
		SRV_NOFD=1 SRV_CPU=$CPU_A ECHO_SIZE=1 echo_figure tcp 1 rr1_1c_np_thread:np_thread rr1_1c_np_busy:np_busy \
			rr1_1c_np_poll:np_poll rr1_1c_kernel_veth:kernel_veth $(lwip_series rr1_1c_lwip "$LWIP_LABEL, everything on CPU $CPU_A")
		PIN1="client and server side all taskset -c $CPU_A (one core)"
		figure tcp_rr_1_tap_1core "TCP request/response 1 B through a TAP, one core" "trans/s" 1 rr1_1c_np_thread \
			rr1_1c_kernel_veth "" "$PIN1" ok "one 1-byte request in flight, TCP_NODELAY; CPU is both ends per transaction"
		figure tcp_rr_1_tap_1core_evloop "TCP request/response 1 B through a TAP, one core, netpath as event loop" \
			"trans/s" 1 rr1_1c_np_poll rr1_1c_kernel_veth "" "$PIN1" ok "same runs' peer as tcp_rr_1_tap_1core"
		figure tcp_rr_1_tap_1core_busypoll "TCP request/response 1 B through a TAP, one core, threaded with SO_PREFER_BUSY_POLL" \
			"trans/s" 1 rr1_1c_np_busy rr1_1c_kernel_veth "" "$PIN1" ok "same runs' peer as tcp_rr_1_tap_1core; the echo thread sleeps on the TAP itself"
		lwip_column tcp_rr_1_tap_1core rr1_1c_lwip
		lwip_column tcp_rr_1_tap_1core_evloop rr1_1c_lwip
		lwip_column tcp_rr_1_tap_1core_busypoll rr1_1c_lwip
	fi
	if want tcp_crr_tap; then
		echo ">>> TCP connection rate: connect + 1-byte exchange + close, through a TAP ($RUNS runs of ${DUR}s)"
		series crr_np_thread "netpath TCP on a TAP: stack thread + blocking server thread (one connection at a time)"
		series crr_np_busy "netpath TCP on a TAP: stack thread + blocking server thread with SO_PREFER_BUSY_POLL"
		series crr_np_poll "netpath TCP on a TAP: one-thread event loop"
		series crr_kernel_veth "Linux TCP over a veth pair, the same server"
		SRV_NOFD=1 CLIENT_MODE=crr-client ECHO_SIZE=1 echo_figure tcp 1 crr_np_thread:np_thread crr_np_busy:np_busy crr_np_poll:np_poll \
			crr_kernel_veth:kernel_veth $(lwip_series crr_lwip "$LWIP_LABEL")
		figure tcp_crr_tap "TCP connect + 1-byte exchange + close through a TAP" "conn/s" 1 crr_np_thread crr_kernel_veth "" \
			"$ECHO_PIN" ok "client closes first (TIME_WAIT on the kernel client, port range 1024-65535, tcp_tw_reuse=1); CPU is both ends per connection"
		figure tcp_crr_tap_evloop "TCP connect + exchange + close through a TAP, netpath as event loop" "conn/s" 1 \
			crr_np_poll crr_kernel_veth "" "$ECHO_PIN" ok "same runs' peer as tcp_crr_tap"
		figure tcp_crr_tap_busypoll "TCP connect + exchange + close through a TAP, threaded with SO_PREFER_BUSY_POLL" "conn/s" 1 \
			crr_np_busy crr_kernel_veth "" "$ECHO_PIN" ok "same runs' peer as tcp_crr_tap; the listener and its connections have SO_PREFER_BUSY_POLL"
		lwip_column tcp_crr_tap crr_lwip
		lwip_column tcp_crr_tap_evloop crr_lwip
		lwip_column tcp_crr_tap_busypoll crr_lwip
	fi
	if want tcp_conn_mem_nofd; then
		echo ">>> Memory per established TCP connection end, NP_SOCK_NOFD sockets, 4000 connections ($RUNS runs)"
		series tcpmem_nofd_np "netpath, NP_SOCK_NOFD sockets (no eventfd): malloc'd bytes per connection end"
		series tcpmem_nofd_kernel "Linux: kernel slab bytes per connection end"
		for i in $(seq "$RUNS"); do
			for be in np-cable kernel; do
				s=tcpmem_nofd_np
				[ $be = kernel ] && s=tcpmem_nofd_kernel
				ns=$(nsname m)
				newns "$ns"
				out=$TMP/$s.$i
				ip netns exec "$ns" taskset -c "$CPU_A" timeout 120 "$NPLOAD" sock-mem --backend $be --nofd --proto tcp \
					--count 4000 --port "$(rand_port)" >"$out" 2>"$out.err"
				delns "$ns"
				v=$(kv "$out" bytes_per_socket)
				# NP_SOCK_NOFD sockets hold nothing in the kernel: its Slab delta is other activity on the machine.
				[ $be = np-cable ] && v=$(kv "$out" malloc_bytes_per_socket)
				if [ -z "$v" ]; then
					echo "  $s run $i FAILED: $(tail -3 "$out.err")" >&2
					record "$s" "$i" null null ',"failed":true'
					continue
				fi
				record "$s" "$i" "$v" null ",\"malloc_bytes\":$(kv "$out" malloc_bytes_per_socket),\"kernel_bytes\":$(kv "$out" kernel_bytes_per_socket)"
				printf '  %-18s run %d: %8.0f bytes/end\n' "$s" "$i" "$v"
			done
		done
		figure tcp_conn_mem_nofd "Memory per idle TCP connection end, NP_SOCK_NOFD" "bytes" 0 tcpmem_nofd_np \
			tcpmem_nofd_kernel "" "taskset -c $CPU_A" ok "4000 connections over the cable / loopback, both ends in one process; target <= 1024 per connection end"
	fi
	if want tcp_conn_max_1gib_cable; then
		# Few runs: each opens hundreds of thousands of connections.
		CM_RUNS=$((RUNS < 3 ? RUNS : 3))
		echo ">>> Established TCP connections that fit in 1 GiB (malloc + kernel slab), both ends in one process ($CM_RUNS runs)"
		series connmax_np "netpath: two stacks on the in-process cable, NP_SOCK_NOFD sockets"
		series connmax_kernel "Linux over loopback (idle connections hold no packets, so the device does not matter)"
		for i in $(seq "$CM_RUNS"); do
			for be in np-cable kernel; do
				s=connmax_np
				[ $be = kernel ] && s=connmax_kernel
				ns=$(nsname x)
				newns "$ns"
				out=$TMP/$s.$i
				ip netns exec "$ns" taskset -c "$CPU_A" timeout 600 "$NPLOAD" conn-max --backend $be --nofd \
					--mem-limit 1073741824 --count 2000000 --port 20000 >"$out" 2>"$out.err"
				delns "$ns"
				c=$(kv "$out" connections)
				if [ -z "$c" ]; then
					echo "  $s run $i FAILED: $(tail -3 "$out.err")" >&2
					record "$s" "$i" null null ',"failed":true'
					continue
				fi
				why=$(kv "$out" reason)
				bpc=$(kv "$out" bytes_per_connection)
				# Stopped by something else than memory (descriptors, ports): what 1 GiB would hold at this cost.
				v=$c
				[ "$why" != memory ] && v=$(python3 -c "import sys; print(int(1073741824 / float(sys.argv[1])))" "$bpc")
				record "$s" "$i" "$v" null ",\"opened\":$c,\"bytes_per_connection\":$bpc,\"extrapolated\":$([ "$why" = memory ] && echo 0 || echo 1)"
				printf '  %-18s run %d: %8d connections in 1 GiB (opened %d, stopped by %s, %.0f bytes/connection)\n' \
					"$s" "$i" "$v" "$c" "$why" "$bpc"
			done
		done
		figure tcp_conn_max_1gib_cable "Established TCP connections within 1 GiB" "conns" 1 connmax_np connmax_kernel "" \
			"taskset -c $CPU_A" ok "both ends in one process; a run stopped by descriptors (ulimit -n) is extrapolated as 1 GiB / bytes per connection; target 1,000,000"
		lwip_column tcp_conn_max_1gib_cable "" "$LWIP_CABLE_NOTE"
	fi
	if want tcp_rr_10k_vs_1; then
		echo ">>> TCP request/response over 10,000 connections against one, one thread on CPU $CPU_A ($RUNS runs of ${DUR}s)"
		series scale_np_1 "netpath, cable, 1 connection: 1-byte request/response, one at a time"
		series scale_np_10k "netpath, cable, 10,000 connections visited in turn (NP_SOCK_NOFD)"
		series scale_kernel_1 "Linux, loopback, 1 connection"
		series scale_kernel_10k "Linux, loopback, 9,900 connections (ulimit -n 20000 holds two descriptors per connection)"
		for i in $(seq "$RUNS"); do
			for e in scale_np_1:np-cable:1 scale_np_10k:np-cable:10000 scale_kernel_1:kernel:1 scale_kernel_10k:kernel:9900; do
				IFS=: read -r s be cnt <<<"$e"
				ns=$(nsname r)
				newns "$ns"
				out=$TMP/$s.$i
				ip netns exec "$ns" taskset -c "$CPU_A" timeout 300 "$NPLOAD" rr-scale --backend "$be" --nofd --count "$cnt" \
					--port 20000 --warmup 0.3 --duration "$DUR" >"$out" 2>"$out.err"
				delns "$ns"
				v=$(kv "$out" pps)
				if [ -z "$v" ]; then
					echo "  $s run $i FAILED: $(tail -3 "$out.err")" >&2
					record "$s" "$i" null null ',"failed":true'
					continue
				fi
				sp=$(kv "$out" segs_per_trans)
				record "$s" "$i" "$v" "$(kv "$out" cpu_ns_per_pkt)" ",\"segs_per_trans\":${sp:-null}"
				printf '  %-18s run %d: %10.0f trans/s  %7.0f ns CPU/transaction  %s segments/transaction\n' "$s" "$i" "$v" \
					"$(kv "$out" cpu_ns_per_pkt)" "${sp:--}"
			done
		done
		figure tcp_rr_10k_vs_1 "TCP request/response, 10,000 connections against 1 (netpath)" "trans/s" 1 scale_np_10k \
			scale_np_1 "" "everything taskset -c $CPU_A" ok "peer = netpath with one connection: the ratio is the figure (target >= 0.8); read the CPU columns"
		figure tcp_rr_10k_vs_1_kernel "TCP request/response, 9,900 connections against 1 (Linux, reference)" "trans/s" 1 \
			scale_kernel_10k scale_kernel_1 "" "everything taskset -c $CPU_A" ok "the kernel's own ratio on this machine"
		lwip_column tcp_rr_10k_vs_1 "" "$LWIP_CABLE_NOTE"
	fi
fi

# ======================================================================
# Bulk TCP with segmentation and checksum offloads (issue 6): the cable
# with TSO/GSO on both ends, and one TCP flow through a TAP (plain frames,
# or a virtio-net header with TSO and checksum offload) or over AF_PACKET
# on a veth end. Sender taskset -c CPU_A, receiver taskset -c CPU_B; CPU
# per 1448 bytes is both ends (sender's and receiver's process time).
# ======================================================================
# stream_run SERIES RUN KIND: KIND is np_tap_rx[_off], np_tap_tx[_off], np_afp_rx,
# kernel_veth[_off] (rx: netpath/kernel receives; the kernel veth peer sends kernel to
# kernel), kernel_veth_tx[_off] (the same, for figures where netpath sends), drain[_off]
# or lwip_rx (lwIP receives on a TAP, plain frames).
stream_run() {
	local s=$1 i=$2 kind=$3 out=$TMP/$1.$2 ns nsb= port ok=1 off=off
	local np_args=(--tap nbtap0 --addr 10.201.0.2/24 --host-addr 10.201.0.1/24 --np-loop poll)
	local t=(--warmup 0.3 --duration "$DUR")
	local tsend=(--warmup 0.3 --duration "$(python3 -c "print($DUR + 3)")")
	port=$(rand_port)
	ns=$(nsname t)
	newns "$ns"
	local clamp=()
	case $kind in *_off|*_off_w64k) off=on ;; esac
	# _w64k: the kernel's receiver clamped to a 64 KiB window, what netpath offered before RFC 7323 scaling.
	case $kind in *_w64k) clamp=(--clamp 65535) ;; esac
	case $kind in
	np_tap_rx|np_tap_rx_off)
		startbg "$ns" "$CPU_B" "$out.rx" "$out.rxerr" "$NPLOAD" stream-recv --backend np-tap "${np_args[@]}" 			--offload $off --port "$port" "${t[@]}"
		waitready "$out.rxerr" "stream-recv ready" || ok=0
		[ $ok = 1 ] && ip netns exec "$ns" taskset -c "$CPU_A" timeout 60 "$NPLOAD" stream-send --proto tcp 			--dst "10.201.0.2:$port" "${tsend[@]}" >"$out.tx" 2>"$out.txerr"
		;;
	np_tap_tx|np_tap_tx_off)
		startbg "$ns" "$CPU_B" "$out.rx" "$out.rxerr" "$NPLOAD" stream-recv --backend kernel --port "$port" "${t[@]}"
		waitready "$out.rxerr" "stream-recv ready" || ok=0
		[ $ok = 1 ] && ip netns exec "$ns" taskset -c "$CPU_A" timeout 60 "$NPLOAD" stream-send --backend np-tap 			"${np_args[@]}" --offload $off --proto tcp --dst "10.201.0.1:$port" "${tsend[@]}" >"$out.tx" 2>"$out.txerr"
		;;
	lwip_rx)
		lwip_start "$ns" "$out" tcp "$port" stream-recv || ok=0
		[ $ok = 1 ] && ip netns exec "$ns" taskset -c "$CPU_A" timeout 60 "$NPLOAD" stream-send --proto tcp \
			--dst "10.201.0.2:$port" "${tsend[@]}" >"$out.tx" 2>"$out.txerr"
		;;
	drain|drain_off)
		startbg "$ns" "$CPU_B" "$out.rx" "$out.rxerr" "$NPLOAD" tap-drain --tap nbtap0 --offload $off "${t[@]}"
		waitready "$out.rxerr" "tap-drain ready" || ok=0
		ip netns exec "$ns" ip addr add 10.201.0.1/24 dev nbtap0
		ip netns exec "$ns" ip link set nbtap0 up
		[ $ok = 1 ] && ip netns exec "$ns" taskset -c "$CPU_A" timeout 60 "$NPLOAD" stream-send --proto udp --size 1472 \
			--dst "10.201.0.2:$port" "${tsend[@]}" >"$out.tx" 2>"$out.txerr"
		;;
	kernel_veth*|np_afp_rx)
		nsb=$(nsname s)
		newns "$nsb"
		ip link add nbveth0 netns "$ns" type veth peer name nbveth1 netns "$nsb" || ok=0
		ip netns exec "$ns" ip addr add 10.202.0.1/24 dev nbveth0
		ip netns exec "$ns" ip link set nbveth0 up
		ip netns exec "$nsb" ip link set nbveth1 up
		if [ $off = off ]; then
			# Plain frames: MTU-sized, checksums complete (what AF_PACKET and a plain TAP see).
			ip netns exec "$ns" ethtool -K nbveth0 tso off gso off tx off >/dev/null 2>&1
			ip netns exec "$nsb" ethtool -K nbveth1 tso off gso off tx off gro off >/dev/null 2>&1
		fi
		if [ "$kind" = np_afp_rx ]; then
			startbg "$nsb" "$CPU_B" "$out.rx" "$out.rxerr" "$NPLOAD" stream-recv --backend np-afpacket --iface nbveth1 \
				--addr 10.202.0.2/24 --np-loop poll --port "$port" "${t[@]}"
		else
			ip netns exec "$nsb" ip addr add 10.202.0.2/24 dev nbveth1
			startbg "$nsb" "$CPU_B" "$out.rx" "$out.rxerr" "$NPLOAD" stream-recv --backend kernel --port "$port" "${t[@]}" \
				"${clamp[@]}"
		fi
		waitready "$out.rxerr" "stream-recv ready" || ok=0
		[ $ok = 1 ] && ip netns exec "$ns" taskset -c "$CPU_A" timeout 60 "$NPLOAD" stream-send --proto tcp \
			--dst "10.202.0.2:$port" "${tsend[@]}" >"$out.tx" 2>"$out.txerr"
		;;
	esac
	# The receiver ends by itself after its window; give it a moment, then stop it.
	for _ in $(seq 50); do kill -0 "$BGPID" 2>/dev/null || break; sleep 0.1; done
	stopbg "$BGPID"
	delns "$ns"
	[ -n "$nsb" ] && delns "$nsb"
	local g c1 c2 both
	g=$(kv "$out.rx" gbps)
	c1=$(kv "$out.rx" cpu_ns_per_pkt)
	c2=$(kv "$out.tx" cpu_ns_per_pkt)
	if [ $ok = 0 ] || [ -z "$g" ]; then
		echo "  $s run $i FAILED: $(cat "$out.rxerr" "$out.txerr" 2>/dev/null | tail -3)" >&2
		record "$s" "$i" null null ',"failed":true'
		return
	fi
	both=$(python3 -c "import sys; print(round(sum(float(x) for x in sys.argv[1:] if x), 1))" "${c1:-0}" "${c2:-0}")
	record "$s" "$i" "$g" "$both" ",\"receiver_cpu_ns\":${c1:-null},\"sender_cpu_ns\":${c2:-null}"
	printf '  %-22s run %d: %8.2f Gbit/s  %7.0f ns CPU/1448 B (both ends)\n' "$s" "$i" "$g" "$both"
}
# stream_figure SERIES:KIND...: every series RUNS times, order rotating per run.
stream_figure() {
	local i k n list=("$@")
	n=${#list[@]}
	for i in $(seq "$RUNS"); do
		for k in $(seq 0 $((n - 1))); do
			local e=${list[$(((k + i) % n))]}
			stream_run "${e%%:*}" "$i" "${e#*:}"
		done
	done
}
STREAM_PIN="sender taskset -c $CPU_A, receiver taskset -c $CPU_B"
if [ $TCP_OK = 1 ]; then
	if want tcp_stream_cable_offload; then
		echo ">>> TCP stream over the cable with TSO/GSO and checksum offload, one thread on CPU $CPU_A ($RUNS runs of ${DUR}s)"
		series tcpbulk_np_off "netpath TCP, cable with offloads on both ends (np_dev_set_offload): 64 KiB super-packets"
		series tcpbulk_kernel_off "Linux TCP over loopback (TSO/GSO, no checksums), one thread"
		series tcpbulk_memcpy_off "memcpy of 1448-byte blocks between two 1 MiB buffers"
		bulk_figure tcp 1448 tcpbulk_np_off:np_cable_offload tcpbulk_kernel_off:kernel_lo tcpbulk_memcpy_off:memcpy
		figure tcp_stream_cable_offload "TCP stream, one core, offloads on" "Gbit/s" 1 tcpbulk_np_off tcpbulk_kernel_off \
			tcpbulk_memcpy_off "everything taskset -c $CPU_A" ok "64 KiB writes; CPU per 1448 bytes received (target >= 1.0x)"
		lwip_column tcp_stream_cable_offload "" "$LWIP_CABLE_NOTE"
	fi
	if want tcp_stream_tap_rx; then
		echo ">>> One TCP flow, kernel -> netpath through a TAP ($RUNS runs of ${DUR}s; $STREAM_PIN)"
		series tstream_rx_np "netpath receives on a TAP (plain frames; event loop), kernel TCP sends"
		series tstream_rx_np_off "netpath receives on a TAP with a vnet header, TSO + checksum offload (super-frames whole)"
		series tstream_rx_veth "Linux to Linux over a veth pair, TSO/GSO/GRO and checksum offload off"
		series tstream_rx_veth_off "Linux to Linux over a veth pair, default offloads"
		series tstream_rx_drain "raw TAP read ceiling: npload tap-drain reads frames (1472-byte UDP from the kernel)"
		series tstream_rx_drain_off "raw TAP read ceiling with a vnet header and offloads"
		series tstream_rx_veth_w64k "Linux to Linux over a veth pair, default offloads, receive window clamped to 64 KiB"
		stream_figure tstream_rx_np:np_tap_rx tstream_rx_np_off:np_tap_rx_off tstream_rx_veth:kernel_veth \
			tstream_rx_veth_off:kernel_veth_off tstream_rx_drain:drain tstream_rx_drain_off:drain_off \
			tstream_rx_veth_w64k:kernel_veth_off_w64k \
			$(lwip_series tstream_rx_lwip "lwIP $LWIP_VER receives on a TAP (bench/lwip/lwip_server --mode stream-recv: raw API, one thread; plain frames)" lwip_rx)
		figure tcp_stream_tap_rx_plain "TCP stream kernel -> netpath through a TAP, plain frames" "Gbit/s" 1 tstream_rx_np \
			tstream_rx_veth tstream_rx_drain "$STREAM_PIN" ok "target >= 0.9x the ceiling; CPU both ends per 1448 B"
		figure tcp_stream_tap_rx_offload "TCP stream kernel -> netpath through a TAP, vnet header + offloads" "Gbit/s" 1 \
			tstream_rx_np_off tstream_rx_veth_off tstream_rx_drain_off "$STREAM_PIN" ok "target >= 0.7x kernel-to-kernel veth"
		figure tcp_stream_tap_rx_offload_w64k "TCP stream kernel -> netpath, offloads, against a kernel held to a 64 KiB window" \
			"Gbit/s" 1 tstream_rx_np_off tstream_rx_veth_w64k "" "$STREAM_PIN" ok \
			"same netpath runs; the peer's receiver has TCP_WINDOW_CLAMP 65535 (netpath's window before RFC 7323 scaling)"
		lwip_column tcp_stream_tap_rx_plain tstream_rx_lwip
		lwip_column tcp_stream_tap_rx_offload "" "lwIP's TAP glue passes plain frames (no vnet header, no offloads): its plain-frame figure is in tcp_stream_tap_rx_plain"
	fi
	if want tcp_stream_tap_tx; then
		echo ">>> One TCP flow, netpath -> kernel through a TAP ($RUNS runs of ${DUR}s; $STREAM_PIN)"
		series tstream_tx_np "netpath sends on a TAP (plain frames; event loop), kernel TCP receives"
		series tstream_tx_np_off "netpath sends TSO super-packets through a vnet-header TAP"
		series tstream_tx_veth "Linux to Linux over a veth pair, offloads off"
		series tstream_tx_veth_off "Linux to Linux over a veth pair, default offloads"
		series tstream_tx_veth_w64k "Linux to Linux over a veth pair, default offloads, receive window clamped to 64 KiB"
		stream_figure tstream_tx_np:np_tap_tx tstream_tx_np_off:np_tap_tx_off tstream_tx_veth:kernel_veth \
			tstream_tx_veth_off:kernel_veth_off tstream_tx_veth_w64k:kernel_veth_off_w64k
		figure tcp_stream_tap_tx_plain "TCP stream netpath -> kernel through a TAP, plain frames" "Gbit/s" 1 tstream_tx_np \
			tstream_tx_veth "" "$STREAM_PIN" ok "CPU both ends per 1448 B"
		figure tcp_stream_tap_tx_offload "TCP stream netpath -> kernel through a TAP, vnet header + TSO" "Gbit/s" 1 \
			tstream_tx_np_off tstream_tx_veth_off "" "$STREAM_PIN" ok "target >= 1.0x kernel-to-kernel veth"
		figure tcp_stream_tap_tx_offload_w64k "TCP stream netpath -> kernel, TSO, against a kernel held to a 64 KiB window" \
			"Gbit/s" 1 tstream_tx_np_off tstream_tx_veth_w64k "" "$STREAM_PIN" ok \
			"same netpath runs; the kernel receiver clamped to 64 KiB (what it could offer netpath before window scaling)"
	fi
	if want tcp_stream_afpacket_rx; then
		echo ">>> One TCP flow, kernel -> netpath over AF_PACKET on a veth end ($RUNS runs of ${DUR}s; $STREAM_PIN)"
		series tstream_afp_np "netpath receives through AF_PACKET (TPACKET_V3) on a veth end, peer offloads off"
		series tstream_afp_veth "Linux to Linux over a veth pair, offloads off"
		stream_figure tstream_afp_np:np_afp_rx tstream_afp_veth:kernel_veth
		figure tcp_stream_afpacket_rx "TCP stream kernel -> netpath over AF_PACKET" "Gbit/s" 1 tstream_afp_np tstream_afp_veth "" \
			"$STREAM_PIN" ok "plain frames (netpath's AF_PACKET driver has no offloads); CPU both ends per 1448 B"
	fi
fi

# ---- the table and the JSON ----
python3 bench/report.py "$REC" "$OUT" --runs "$RUNS" --duration "$DUR"
# ---- issue 6's targets, judged on this run ----
if [ -z "$ONLY" ]; then
	echo
	echo "Targets (bench/targets.py $OUT):"
	python3 bench/targets.py "$OUT"
fi
