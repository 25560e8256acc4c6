#!/usr/bin/env bash
# Fault-injection soak (issue 7, "Robustness"): bulk TCP transfers under a
# grid of loss rates, with netpath's injector adding reordering, duplication
# and corruption, on three paths; every transfer is checked by SHA-256 and
# every connection must survive. Prints and writes a markdown report.
#   cable: soak/soak_cable, netpath <-> netpath over the in-process cable on a
#          virtual clock (link model 100 us one-way, 1 Gbit/s), both ways at once;
#          the injector on both transmit sides (loss, reorder, dup, corrupt)
#   tap:   netpath <-> the Linux kernel over TAPs in a namespace of our own:
#          curl downloads from `netpath run --serve http=DIR` (netpath -> Linux),
#          `netpath get` downloads from python3 -m http.server (Linux -> netpath);
#          loss: iptables' statistic match drops on the kernel's side (what
#          netpath sends) and netpath's --faults-rx (what the kernel sends);
#          reorder/dup/corrupt: netpath's --faults-rx and --faults-tx
#   veth:  the baseline, Linux -> Linux (curl from python3 -m http.server)
#          over a veth pair between two namespaces, TSO/GSO/GRO off so each
#          iptables drop is one segment, the same iptables random drop each way
#          (no reorder/dup/corrupt: this kernel has no netem)
# Fails (exit 1) on any SHA-256 mismatch, and on any aborted connection below
# 10% loss (aborts at 10% are reported, and counted in the table).
# Usage (root): tests/soak/run.sh [--quick] [--mib N] [--slow-mib N] [--seeds K]
#   [--base-seeds K] [--cells "clean 0 1 5 10"] [--paths "cable tap veth"]
#   [--netpath PATH] [--out FILE]
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
NAME=soak
. "$ROOT/tests/interop/lib.sh"

usage() {
	cat >&2 <<'EOF'
usage: tests/soak/run.sh [options]   (as root)
  --quick          CI size: --mib 2 --slow-mib 2 --seeds 1 --base-seeds 1 --cells "0 5"
  --mib N          MiB each way per transfer (default 100)
  --slow-mib N     MiB for the tap and veth paths in cells at or above --slow-loss
                   (default 8: without SACK, netpath moves ~0.15 MB/s at 10% loss)
  --slow-loss P    (default 10)
  --seeds K        runs per cell for the netpath paths, injector seeds 1..K (default 3)
  --first-seed N   start the seeds at N instead of 1 (to add runs to a cell later)
  --base-seeds K   runs per cell for the Linux baseline (default 3)
  --cells LIST     loss cells in percent; "clean" is a run with no faults at all (default "clean 0 1 5 10")
  --paths LIST     any of cable tap veth (default all three)
  --netpath PATH   the netpath binary (default build/netpath); soak_cable is PATH's dir/soak/soak_cable
  --out FILE       the markdown report (default: BUILD/soak/results.md, raw runs beside it as .tsv)
EOF
	exit 2
}

FIRST=1 MIB=100 SLOW_MIB=8 SLOW_LOSS=10 SEEDS=3 BASE_SEEDS=3 CELLS="clean 0 1 5 10" PATHS="cable tap veth"
NP=$ROOT/build/netpath OUT=
EXTRA="reorder=5%,dup=1%,corrupt=0.1%"   # netpath's injector, both directions, every cell but "clean"
while [ $# -gt 0 ]; do
	case $1 in
	--quick) MIB=2 SLOW_MIB=2 SEEDS=1 BASE_SEEDS=1 CELLS="0 5" ;;
	--mib) MIB=$2; shift ;;
	--slow-mib) SLOW_MIB=$2; shift ;;
	--slow-loss) SLOW_LOSS=$2; shift ;;
	--seeds) SEEDS=$2; shift ;;
	--first-seed) FIRST=$2; shift ;;
	--base-seeds) BASE_SEEDS=$2; shift ;;
	--cells) CELLS=$2; shift ;;
	--paths) PATHS=$2; shift ;;
	--netpath) NP=$2; shift ;;
	--out) OUT=$2; shift ;;
	-h|--help) usage ;;
	*) echo "run.sh: unknown option $1" >&2; usage ;;
	esac
	shift
done
case "$FIRST$MIB$SLOW_MIB$SLOW_LOSS$SEEDS$BASE_SEEDS" in *[!0-9]*) echo "run.sh: sizes and counts are integers" >&2; exit 2 ;; esac
for c in $CELLS; do case $c in clean|[0-9]|[0-9][0-9]) ;; *) echo "run.sh: bad cell '$c'" >&2; exit 2 ;; esac; done

# ---- can this run at all? Fail loudly, never skip. ----
[ -x "$NP" ] || fail "cannot run: $NP is not an executable (build netpath, or give --netpath)"
NP=$(cd "$(dirname "$NP")" && pwd)/$(basename "$NP")
BUILD=$(dirname "$NP")
CABLE=$BUILD/soak/soak_cable
has() { case " $PATHS " in *" $1 "*) return 0 ;; esac; return 1; }
has cable && { [ -x "$CABLE" ] || fail "cannot run: $CABLE is missing (cmake --build $BUILD --target soak_cable)"; }
if has tap || has veth; then
	[ "$(id -u)" -eq 0 ] || fail "cannot run: needs root (network namespaces, TAP devices, iptables)"
	for tool in ip iptables curl python3 ethtool sha256sum awk timeout; do
		command -v "$tool" >/dev/null 2>&1 || fail "cannot run: '$tool' is missing (apt-get install it)"
	done
	[ -c /dev/net/tun ] || fail "cannot run: /dev/net/tun is missing (modprobe tun)"
fi
[ -n "$OUT" ] || OUT=$BUILD/soak/results.md
mkdir -p "$(dirname "$OUT")" || fail "cannot create $(dirname "$OUT")"
TSV=${OUT%.md}.tsv

TMP=$(mktemp -d /tmp/h3soak.XXXXXX) || fail "mktemp failed"
NS=h3soak$$ NSA=h3soka$$ NSB=h3sokb$$
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do stop_pid "$p" >/dev/null 2>&1; done
	for n in "$NS" "$NSA" "$NSB"; do ip netns del "$n" 2>/dev/null; done
	if [ "${KEEP_TMP:-0}" = 1 ]; then rm -f "$TMP"/data/*; echo "logs kept in $TMP" >&2; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 1' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
sha() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
cell_mib() { # cell path -> MiB for that transfer
	local l=$1
	[ "$l" = clean ] && l=0
	if [ "$2" != cable ] && [ "$l" -ge "$SLOW_LOSS" ]; then echo "$SLOW_MIB"; else echo "$MIB"; fi
}
prob() { awk -v l="$1" 'BEGIN { printf "%.4f", l / 100 }'; }
# A field of /proc/net/snmp or /proc/net/netstat in namespace $1: snmp NS Tcp RetransSegs
snmp() {
	ip netns exec "$1" cat /proc/net/snmp /proc/net/netstat 2>/dev/null | awk -v g="$2:" -v f="$3" '
		$1 == g && !seen[g]++ { for (i = 2; i <= NF; i++) h[i] = $i; next }
		$1 == g { for (i = 2; i <= NF; i++) if (h[i] == f) print $i }'
}
# The namespace's INPUT drops by the statistic rule on device $2.
ipt_drops() { ip netns exec "$1" iptables -L INPUT -v -n -x | awk -v d="$2" '$3 == "DROP" && $6 == d { s += $1 } END { print s + 0 }'; }
set_drop() { # NS DEV LOSS: replaces the random-drop rule on DEV's input
	ip netns exec "$1" iptables -F INPUT
	[ "$3" = clean ] || [ "$3" -eq 0 ] ||
		ip netns exec "$1" iptables -A INPUT -i "$2" -m statistic --mode random --probability "$(prob "$3")" -j DROP ||
		fail "iptables -m statistic failed in $1"
}
# record PATH DIR CELL SEED BYTES SECS RETRANS TIMEOUTS DROPS ABORTED SHA NOTE
record() {
	local mbps
	mbps=$(awk -v b="$5" -v s="$6" 'BEGIN { printf "%.2f", (s > 0 ? b / s / 1e6 : 0) }')
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$mbps" "$7" "$8" "$9" "${10}" "${11}" "${12}" >>"$TSV"
	printf '  %-5s %-10s loss %-5s seed %s: %5d MiB in %8.2f s = %8.2f MB/s, retrans %s, timeouts %s, drops %s, aborted %s, sha %s %s\n' \
		"$1" "$2" "$3" "$4" $(($5 / 1048576)) "$6" "$mbps" "$7" "$8" "$9" "${10}" "${11}" "${12}"
}
wait_http() { # NS ADDR PORT
	for _ in $(seq 100); do
		ip netns exec "$1" python3 -c "import socket; socket.create_connection(('$2', $3), 1)" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

T0=$(now)
DATE0=$(date -u '+%Y-%m-%d %H:%M UTC')
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
printf 'path\tdir\tcell\tseed\tbytes\tsecs\tMBps\tretrans\ttimeouts\tdrops\taborted\tsha\tnote\n' >"$TSV"
echo "# soak: cells '$CELLS', paths '$PATHS', $MIB MiB each way (tap/veth: $SLOW_MIB MiB at >= $SLOW_LOSS% loss)," \
	"$SEEDS seeds (baseline $BASE_SEEDS), netpath $NP, logs in $TMP, load $LOAD0"

# ---- files served ----
mkdir -p "$TMP/data" || fail "mkdir failed"
for c in $CELLS; do for p in tap veth; do
	m=$(cell_mib "$c" $p)
	[ -f "$TMP/data/f$m" ] || head -c "${m}M" /dev/urandom >"$TMP/data/f$m" || fail "cannot write $TMP/data/f$m"
done; done

# ---- namespaces: NS holds the TAPs; NSA and NSB the veth pair ----
if has tap || has veth; then
	for n in "$NS" "$NSA" "$NSB"; do
		ip netns add "$n" || fail "ip netns add $n failed"
		ip -n "$n" link set lo up
		ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1
	done
fi
if has tap; then
	# The Linux -> netpath TAP is persistent, so the kernel's server can bind before netpath get runs.
	ip -n "$NS" tuntap add dev h3s1 mode tap && ip -n "$NS" addr add 10.88.1.1/24 dev h3s1 &&
		ip -n "$NS" link set h3s1 up || fail "cannot create the TAP h3s1"
	ip netns exec "$NS" python3 -m http.server --bind 10.88.1.1 --directory "$TMP/data" 8000 >"$TMP/py1.log" 2>&1 &
	PIDS+=($!)
	wait_http "$NS" 10.88.1.1 8000 || fail "python3 -m http.server did not start in $NS"
fi
if has veth; then
	ip -n "$NSA" link add h3va type veth peer name h3vb netns "$NSB" || fail "cannot create the veth pair"
	ip -n "$NSA" addr add 10.88.2.1/24 dev h3va && ip -n "$NSB" addr add 10.88.2.2/24 dev h3vb &&
		ip -n "$NSA" link set h3va up && ip -n "$NSB" link set h3vb up || fail "cannot configure the veth pair"
	ip netns exec "$NSA" ethtool -K h3va tso off gso off gro off >/dev/null 2>&1 &&
		ip netns exec "$NSB" ethtool -K h3vb tso off gso off gro off >/dev/null 2>&1 || fail "ethtool -K on the veth pair failed"
	ip netns exec "$NSA" python3 -m http.server --bind 10.88.2.1 --directory "$TMP/data" 8000 >"$TMP/pyA.log" 2>&1 &
	PIDS+=($!)
	wait_http "$NSB" 10.88.2.1 8000 || fail "python3 -m http.server did not start in $NSA"
fi

# Idle limit of the downloading applications: above TCP_RTO_MAX (120 s), so only a
# connection TCP itself gives up on counts as aborted. At 10% loss a Linux sender talking
# to netpath (no timestamps, so Karn's rule keeps its backoff) reached 120 s between
# retransmissions, and `netpath get --timeout 120` gave up first.
IDLE=300
# curl_run NS URL BYTES LOG: downloads; prints "curl_exit secs sha"
curl_run() {
	local ns=$1 url=$2 out=$TMP/dl w st
	w=$(ip netns exec "$ns" curl -sS --noproxy '*' --speed-limit 1 --speed-time "$IDLE" -o "$out" \
		-w '%{time_total}' "$url" 2>"$4")
	st=$?
	echo "$st ${w:-0} $(sha "$out")"
	rm -f "$out"
}

# ==== the grid ====
for cell in $CELLS; do
	loss=$cell
	[ "$cell" = clean ] && loss=0
	if [ "$cell" = clean ]; then
		FX= FRX= FTX=
	else
		FX=$EXTRA
		[ "$loss" -gt 0 ] && FX="loss=$loss%,$EXTRA"
		FRX=$FX FTX=$EXTRA
	fi
	echo "## cell: loss $cell% ($([ -n "$FX" ] && echo "netpath faults $FX" || echo "no faults"))"

	# -- (a) netpath <-> netpath over the cable, both ways at once --
	if has cable; then
		bytes=$(($(cell_mib "$cell" cable) * 1048576))
		for seed in $(seq "$FIRST" $((FIRST + SEEDS - 1))); do
			line=$("$CABLE" --bytes "$bytes" --seed "$seed" ${FX:+--faults "$FX"} 2>"$TMP/cable.err")
			st=$?
			get() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
			ab=$(get ab_s) ba=$(get ba_s) ab=${ab:-0} ba=${ba:-0}
			ab_ok=$(get sha_ab) ba_ok=$(get sha_ba) ab_ok=${ab_ok:-n/a} ba_ok=${ba_ok:-n/a}
			abort=$(get aborted) abort=${abort:-1}
			note="wall $(get wall_s) s; virtual clock; exit $st $(get why | sed 's/^none$//')"
			record cable A-B "$cell" "$seed" "$bytes" "$ab" "$(get retrans_a)" "$(get timeouts_a)" "$(get injected_loss)" "$abort" "$ab_ok" "$note"
			record cable B-A "$cell" "$seed" "$bytes" "$ba" "$(get retrans_b)" "$(get timeouts_b)" "$(get injected_loss)" "$abort" "$ba_ok" "$note"
			[ $st -eq 0 ] || { echo "    reproduce: $CABLE --bytes $bytes --seed $seed ${FX:+--faults $FX}"; cat "$TMP/cable.err"; }
		done
	fi

	# -- (b) netpath <-> Linux over TAPs --
	if has tap; then
		m=$(cell_mib "$cell" tap)
		bytes=$((m * 1048576))
		want=$(sha "$TMP/data/f$m")
		set_drop "$NS" h3s0 "$cell"
		for seed in $(seq "$FIRST" $((FIRST + SEEDS - 1))); do
			# netpath -> Linux: curl from netpath run --serve http.
			args=()
			[ -n "$FRX" ] && args+=(--faults-rx "$FRX,seed=$((seed * 10))" --faults-tx "$FTX,seed=$((seed * 10 + 1))")
			ip -n "$NS" link del h3s0 2>/dev/null
			ip netns exec "$NS" iptables -Z INPUT
			ip netns exec "$NS" "$NP" run --tap h3s0 --addr 10.88.0.2/24 --host-addr 10.88.0.1/24 "${args[@]}" \
				--serve http="$TMP/data" >"$TMP/run.out" 2>"$TMP/run.err" &
			pid=$!
			PIDS+=($pid)
			if wait_ready "$TMP/run.err" "h3s0 up" "$pid"; then
				set -- $(curl_run "$NS" "http://10.88.0.2/f$m" "$bytes" "$TMP/curl.err")
				stop_pid "$pid"
				rst=$?
				cst=$1 secs=$2 got=${3:-none}
				drops=$(( $(ipt_drops "$NS" h3s0) + $(counter FAULT_INJECTED_LOSS "$TMP/run.out") ))
				shaok=ok; [ "$got" = "$want" ] || shaok=MISMATCH
				abort=0; [ "$cst" -eq 0 ] || { abort=1; shaok="n/a"; }
				note="curl exit $cst, netpath run exit $rst"
				# A netpath that does not exit 0 on SIGTERM (a crash, a sanitizer report) fails the soak.
				[ "$rst" -eq 0 ] || echo "tap np-Linux loss $cell seed $seed: netpath run exited $rst" >>"$TMP/errors"
				[ "$abort" = 1 ] && note="$note: $(head -c 200 "$TMP/curl.err" | tr '\n\t' '  ')"
				record tap np-Linux "$cell" "$seed" "$bytes" "$secs" "$(counter TcpRetransSegs "$TMP/run.out")" \
					"$(counter TcpExtTCPTimeouts "$TMP/run.out")" "$drops" "$abort" "$shaok" "$note"
				[ "$shaok" = MISMATCH ] && { cp "$TMP/run.out" "$TMP/run.out.mismatch.$cell.$seed"; KEEP_TMP=1; }
			else
				record tap np-Linux "$cell" "$seed" "$bytes" 0 0 0 0 1 n/a "netpath run did not come up"
			fi

			# Linux -> netpath: netpath get from the kernel's python3 http.server.
			set_drop "$NS" h3s1 "$cell"
			r0=$(snmp "$NS" Tcp RetransSegs) o0=$(snmp "$NS" TcpExt TCPTimeouts)
			q0=$(snmp "$NS" TcpExt TCPRenoReorder) f0=$(snmp "$NS" TcpExt TCPRenoFailures)
			ip netns exec "$NS" timeout 14400 "$NP" get --tap h3s1 --addr 10.88.1.2/24 "${args[@]}" --timeout "$IDLE" \
				--counters "http://10.88.1.1:8000/f$m" -o "$TMP/dl" >"$TMP/get.out" 2>&1
			gst=$?
			secs=$(sed -n 's/^\([0-9]*\) bytes in \([0-9.]*\) s.*/\2/p' "$TMP/get.out" | head -1)
			got=$(sha "$TMP/dl")
			rm -f "$TMP/dl"
			drops=$(( $(ipt_drops "$NS" h3s1) + $(counter FAULT_INJECTED_LOSS "$TMP/get.out") ))
			shaok=ok; [ "$got" = "$want" ] || shaok=MISMATCH
			abort=0; [ "$gst" -eq 0 ] || { abort=1; shaok="n/a"; }
			# The kernel's Reno emulation (netpath has no SACK yet): reordering it inferred, recoveries that ended in an RTO.
			note="netpath get exit $gst; Linux TCPRenoReorder $(($(snmp "$NS" TcpExt TCPRenoReorder) - q0)), TCPRenoFailures $(($(snmp "$NS" TcpExt TCPRenoFailures) - f0))"
			[ "$abort" = 1 ] && note="$note: $(grep -v ' up, ' "$TMP/get.out" | grep -i -m2 'incomplete\|error\|fail\|refused' | tr '\n\t' '  ')"
			record tap Linux-np "$cell" "$seed" "$bytes" "${secs:-0}" $(($(snmp "$NS" Tcp RetransSegs) - r0)) \
				$(($(snmp "$NS" TcpExt TCPTimeouts) - o0)) "$drops" "$abort" "$shaok" "$note"
			[ "$shaok" = MISMATCH ] && { cp "$TMP/get.out" "$TMP/get.out.mismatch.$cell.$seed"; KEEP_TMP=1; }
			set_drop "$NS" h3s0 "$cell"
		done
	fi

	# -- (c) the baseline: Linux -> Linux over a veth pair, the same random drop each way --
	if has veth; then
		m=$(cell_mib "$cell" veth)
		bytes=$((m * 1048576))
		want=$(sha "$TMP/data/f$m")
		set_drop "$NSA" h3va "$cell"
		set_drop "$NSB" h3vb "$cell"
		for seed in $(seq "$BASE_SEEDS"); do
			r0=$(snmp "$NSA" Tcp RetransSegs) o0=$(snmp "$NSA" TcpExt TCPTimeouts)
			ip netns exec "$NSA" iptables -Z INPUT; ip netns exec "$NSB" iptables -Z INPUT
			set -- $(curl_run "$NSB" "http://10.88.2.1:8000/f$m" "$bytes" "$TMP/curl.err")
			cst=$1 secs=$2 got=${3:-none}
			drops=$(( $(ipt_drops "$NSA" h3va) + $(ipt_drops "$NSB" h3vb) ))
			shaok=ok; [ "$got" = "$want" ] || shaok=MISMATCH
			abort=0; [ "$cst" -eq 0 ] || { abort=1; shaok="n/a"; }
			record veth Linux-Linux "$cell" "$seed" "$bytes" "$secs" $(($(snmp "$NSA" Tcp RetransSegs) - r0)) \
				$(($(snmp "$NSA" TcpExt TCPTimeouts) - o0)) "$drops" "$abort" "$shaok" "curl exit $cst"
		done
	fi
done
T1=$(elapsed "$T0")
LOAD1=$(cut -d' ' -f1-3 /proc/loadavg)

# ==== the report ====
cmdline="tests/soak/run.sh"
[ "$MIB" != 100 ] && cmdline="$cmdline --mib $MIB"
[ "$SLOW_MIB" != 8 ] && cmdline="$cmdline --slow-mib $SLOW_MIB"
[ "$SEEDS" != 3 ] && cmdline="$cmdline --seeds $SEEDS"
[ "$FIRST" != 1 ] && cmdline="$cmdline --first-seed $FIRST"
[ "$BASE_SEEDS" != 3 ] && cmdline="$cmdline --base-seeds $BASE_SEEDS"
[ "$CELLS" != "clean 0 1 5 10" ] && cmdline="$cmdline --cells \"$CELLS\""
[ "$PATHS" != "cable tap veth" ] && cmdline="$cmdline --paths \"$PATHS\""
awk -F'\t' -v cells="$CELLS" -v extra="$EXTRA" -v date="$DATE0" -v dur="$T1" \
	-v load0="$LOAD0" -v load1="$LOAD1" -v cmd="$cmdline" -v cpu="$(nproc) cores, $(uname -r)" '
NR == 1 { next }
{
	k = $1 SUBSEP $2 SUBSEP $3
	n[k]++; v[k, n[k]] = $7; mib[k] = $5 / 1048576; secs[k] += $6
	rt[k] += $8; to[k] += $9; ab[k] += $11; runs++
	if ($12 == "MISMATCH") mism++
	if ($11 == 1) aborts++
	if ($11 == 1) abcell[$3] += 1
}
function med(k,   i, j, t, m, a) {
	m = n[k]; if (!m) return "—"
	for (i = 1; i <= m; i++) a[i] = v[k, i] + 0
	for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
	return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
}
function fmt(k,   m, i, lo, hi, x) {
	m = n[k]; if (!m) return "—"
	lo = hi = v[k, 1] + 0
	for (i = 2; i <= m; i++) { x = v[k, i] + 0; if (x < lo) lo = x; if (x > hi) hi = x }
	return m > 1 ? sprintf("%.2f (%.2f–%.2f)", med(k), lo, hi) : sprintf("%.2f", med(k))
}
function ratio(a, b) { return (n[a] && n[b] && med(b) > 0) ? sprintf("%.3f", med(a) / med(b)) : "—" }
function sz(k) { return n[k] ? mib[k] " MiB" : "—" }
function retx(k) { return n[k] ? sprintf("%.0f / %.0f", rt[k] / n[k], to[k] / n[k]) : "—" }
END {
	nc = split(cells, C, " ")
	printf "Soak run started %s: %s, %s s in all, load average %s at the start and %s at the end (other engineers were building and testing on the same machine).\n\n", date, cpu, dur, load0, load1
	print "Paths: **cable**: two netpath stacks in one process on the virtual cable, virtual clock, link model 100 us one-way and 1 Gbit/s, both directions at once, netpath\x27s injector on both transmit sides (goodput in the link\x27s virtual time; the wall-clock time is in the runs below). **TAP**: `netpath run --serve http` to curl (netpath→Linux) and `netpath get` from `python3 -m http.server` (Linux→netpath) in a namespace of their own; loss is iptables\x27 `-m statistic --mode random` DROP on the kernel\x27s INPUT (what netpath sends) plus netpath\x27s `--faults-rx loss=` (what the kernel sends). **veth**: the baseline, curl from `python3 -m http.server` between two namespaces over a veth pair with TSO/GSO/GRO off (so one drop is one segment), the same iptables drop on both sides, no reorder/dup/corrupt (this kernel has no netem).\n"
	printf "Command: `%s` (as root). Goodput is the median of the runs (min–max), in MB/s (10^6 bytes/s). Loss is per direction. Every cell but \"clean\" also has netpath injecting `%s` in both directions. Retrans / RTO: mean TcpRetransSegs and TCPTimeouts of the sender per run.\n\n", cmd, extra
	print "| loss | cable A→B (virtual) | cable B→A (virtual) | size | netpath→Linux (TAP) | Linux→netpath (TAP) | Linux→Linux (veth) | size | ratio np→L / L→L | ratio L→np / L→L |"
	print "|---|---|---|---|---|---|---|---|---|---|"
	for (i = 1; i <= nc; i++) {
		c = C[i]
		a = "cable" SUBSEP "A-B" SUBSEP c; b = "cable" SUBSEP "B-A" SUBSEP c
		t1 = "tap" SUBSEP "np-Linux" SUBSEP c; t2 = "tap" SUBSEP "Linux-np" SUBSEP c; l = "veth" SUBSEP "Linux-Linux" SUBSEP c
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", (c == "clean" ? "clean (no faults)" : c "%"), fmt(a), fmt(b), sz(a), fmt(t1), fmt(t2), fmt(l), sz(t1), ratio(t1, l), ratio(t2, l)
	}
	print ""
	print "| loss | cable runs | cable retrans / RTO per side | TAP runs | np→L retrans / RTO (netpath) | L→np retrans / RTO (Linux) | veth runs | L→L retrans / RTO | aborts | SHA-256 mismatches |"
	print "|---|---|---|---|---|---|---|---|---|---|"
	for (i = 1; i <= nc; i++) {
		c = C[i]
		a = "cable" SUBSEP "A-B" SUBSEP c
		t1 = "tap" SUBSEP "np-Linux" SUBSEP c; t2 = "tap" SUBSEP "Linux-np" SUBSEP c; l = "veth" SUBSEP "Linux-Linux" SUBSEP c
		printf "| %s | %d | %s | %d | %s | %s | %d | %s | %d | %d |\n", (c == "clean" ? "clean" : c "%"), n[a], retx(a), n[t1], retx(t1), retx(t2), n[l], retx(l), abcell[c] + 0, mm[c] + 0
	}
	printf "\n%d transfers, %d aborted, %d SHA-256 mismatches.\n", runs, aborts + 0, mism + 0
}
{ if ($12 == "MISMATCH") mm[$3]++ }
' "$TSV" >"$OUT"
{
	echo
	echo "Every run (raw: $(basename "$TSV")):"
	echo
	echo "| path | direction | loss | seed | MiB | seconds | MB/s | retrans | RTO | drops | aborted | SHA-256 | note |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 / 1048576, $6, $7, $8, $9, $10, $11, $12, $13 }' "$TSV"
} >>"$OUT"
echo
cat "$OUT"
echo
echo "# report written to $OUT (raw runs: $TSV), $T1 s"

# ==== verdict ====
mism=$(awk -F'\t' 'NR > 1 && $12 == "MISMATCH"' "$TSV" | wc -l)
if [ -s "$TMP/errors" ]; then
	cat "$TMP/errors" >&2
	echo "FAIL: soak: $(wc -l <"$TMP/errors") netpath processes did not exit cleanly" >&2
	exit 1
fi
bad_abort=$(awk -F'\t' 'NR > 1 && $11 == 1 { l = ($3 == "clean") ? 0 : $3 + 0; if (l < 10) print }' "$TSV" | wc -l)
nruns=$(($(wc -l <"$TSV") - 1))
[ "$nruns" -gt 0 ] || fail "no transfer ran"
if [ "$mism" -ne 0 ] || [ "$bad_abort" -ne 0 ]; then
	echo "FAIL: soak: $mism SHA-256 mismatches, $bad_abort aborted connections below 10% loss (see the table)" >&2
	exit 1
fi
echo "PASS: soak: $nruns transfers, every SHA-256 equal, no abort below 10% loss"
exit 0
