#!/usr/bin/env bash
# Interop test of segmentation and checksum offloads over a TAP with a
# virtio-net header (netpath run/get --offload on), against the Linux
# kernel's TCP, in a network namespace of its own (npo-PID, devices npo0 and
# npo1, addresses 10.81.x only).
#   curl -> npo0 -> netpath run --offload on --serve http=DIR --pcap: 1 KiB and
#     8 MiB by SHA-256; netpath's capture holds TCP segments longer than the
#     MSS (TSO super-packets handed to the kernel whole); no vnet-header drop
#   netpath get --offload on -> npo1 -> python3 -m http.server: 1 KiB and 8 MiB
#     by SHA-256; netpath's capture holds frames from the kernel longer than
#     the MTU (the kernel's TSO super-frames, taken whole)
#   the same two transfers with --offload off still work (the default path)
#     (GRO on: the capture holds merged frames longer than the MTU), and with
#     --gro off too (then no frame longer than the MTU)
# Usage: test_offload.sh /path/to/netpath   (as root; never skips: FAILs if it cannot run)
set -u

NP=${1:-}
NAME=test_offload
. "$(dirname "$0")/lib.sh"

[ -n "$NP" ] || fail "cannot run: give the netpath binary as the first argument"
[ -x "$NP" ] || fail "cannot run: $NP is not an executable"
[ "$(id -u)" -eq 0 ] || fail "cannot run: needs root (it creates a network namespace and TAP devices)"
for tool in ip python3 curl tshark sha256sum timeout awk grep sed head; do
	command -v "$tool" >/dev/null 2>&1 || fail "cannot run: '$tool' is missing (./scripts/test.sh installs it)"
done
[ -c /dev/net/tun ] || fail "cannot run: /dev/net/tun is missing (modprobe tun)"

if [ -z "${NPO_INSIDE:-}" ]; then
	NS=npo-$$
	ip netns add "$NS" || fail "cannot run: ip netns add $NS failed"
	trap 'ip netns del "$NS" 2>/dev/null' EXIT
	trap 'exit 1' INT TERM
	NPO_INSIDE=$NS ip netns exec "$NS" bash "$0" "$NP"
	exit $?
fi

TMP=$(mktemp -d /tmp/npo.XXXXXX) || fail "cannot run: mktemp failed"
DATA=$TMP/data
NP_PID=
PY_PID=
CHECKS=0
FAILURES=0
cleanup() {
	stop_pid "$NP_PID" >/dev/null 2>&1
	stop_pid "$PY_PID" >/dev/null 2>&1
	keep_or_remove_tmp
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 1' INT TERM
sha() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }
TS="tshark -n -o tcp.desegment_tcp_streams:FALSE --disable-protocol http"

ip link set lo up
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1
mkdir -p "$DATA" || fail "cannot run: mkdir $DATA"
head -c 1024 /dev/urandom >"$DATA/1K"
head -c 8M /dev/urandom >"$DATA/8M"
S1K=$(sha "$DATA/1K")
S8M=$(sha "$DATA/8M")

curl_get() {
	local desc=$1 url=$2 want=$3 out=$TMP/curl.out st
	curl -sS --noproxy '*' --max-time 120 -o "$out" "$url" 2>"$out.err"
	st=$?
	if [ $st -eq 0 ] && [ "$(sha "$out")" = "$want" ]; then ok "$desc: SHA-256 matches"; else
		bad "$desc: curl exit $st, sha $(sha "$out") want $want: $(head -c 300 "$out.err")"; fi
	rm -f "$out"
}

# ==== (a) curl from the kernel to netpath's HTTP server, offloads on, then off ====
for mode in on off; do
	"$NP" run --tap npo0 --offload $mode --addr 10.81.0.2/24 --host-addr 10.81.0.1/24 --pcap "$TMP/run-$mode.pcap" \
		--serve http="$DATA" >"$TMP/run-$mode.out" 2>"$TMP/run-$mode.err" &
	NP_PID=$!
	wait_ready "$TMP/run-$mode.err" "netpath: npo0 up" "$NP_PID" || fail "netpath run --offload $mode did not come up"
	curl_get "curl /1K from netpath (offload $mode)" http://10.81.0.2/1K "$S1K"
	curl_get "curl /8M from netpath (offload $mode)" http://10.81.0.2/8M "$S8M"
	stop_pid "$NP_PID"
	st=$?
	NP_PID=
	expect "netpath run --offload $mode exits 0 on SIGTERM" "$st" 0
	for r in VNET_HDR_BAD_GSO VNET_HDR_BAD_LEN VNET_HDR_BAD_CSUM SKB_GSO_SEG; do
		expect "offload $mode: no $r drop" "$(counter "$r" "$TMP/run-$mode.out")" 0
	done
	mac=$(sed -n 's/.*npo0 up.*mac \([0-9a-f:]*\).*/\1/p' "$TMP/run-$mode.err" | head -1)
	[ -n "$mac" ] || bad "no MAC in netpath's start line: $(head -2 "$TMP/run-$mode.err")"
	big=$($TS -r "$TMP/run-$mode.pcap" -Y "tcp && eth.src == $mac && tcp.len > 1460" -T fields -e frame.number 2>/dev/null | wc -l)
	if [ $mode = on ]; then
		at_least "offload on: TCP segments netpath sent longer than the MSS (TSO)" "$big" 1
	else
		expect "offload off: no TCP segment longer than the MSS" "$big" 0
	fi
done

# ==== (b) netpath get from python's http.server through a TAP made here, offloads on, then off ====
ip tuntap add dev npo1 mode tap && ip addr add 10.81.1.1/24 dev npo1 && ip link set npo1 up ||
	fail "cannot create the TAP npo1"
python3 -m http.server --bind 10.81.1.1 --directory "$DATA" 8000 >"$TMP/pyhttp.log" 2>&1 &
PY_PID=$!
for _ in $(seq 50); do
	python3 -c 'import socket; socket.create_connection(("10.81.1.1", 8000), 1)' 2>/dev/null && break
	sleep 0.1
done
# off: plain frames, GRO on (the default); nogro: plain frames, --gro off.
for mode in on off nogro; do
	opts=(--offload "$mode")
	[ $mode = nogro ] && opts=(--offload off --gro off)
	for f in 1K 8M; do
		want=$S1K
		[ $f = 8M ] && want=$S8M
		timeout 120 "$NP" get --tap npo1 "${opts[@]}" --addr 10.81.1.2/24 --pcap "$TMP/get-$mode-$f.pcap" \
			http://10.81.1.1:8000/$f -o "$TMP/g$f" >"$TMP/get-$mode-$f.log" 2>&1
		st=$?
		if [ $st -eq 0 ] && [ "$(sha "$TMP/g$f")" = "$want" ]; then
			ok "netpath get /$f from python http.server (offload $mode): SHA-256 matches"
		else
			bad "netpath get /$f (offload $mode): exit $st, sha $(sha "$TMP/g$f"): $(head -5 "$TMP/get-$mode-$f.log")"
		fi
		rm -f "$TMP/g$f"
	done
	kmac=$(cat /sys/class/net/npo1/address)
	big=$($TS -r "$TMP/get-$mode-8M.pcap" -Y "eth.src == $kmac && frame.len > 1514" -T fields -e frame.number 2>/dev/null | wc -l)
	if [ $mode = on ]; then
		at_least "offload on: frames from the kernel longer than the MTU, taken whole (GRO's effect)" "$big" 1
	elif [ $mode = off ]; then
		# The capture sees what the stack received, after GRO, as tcpdump does on Linux.
		at_least "offload off, GRO on: netpath's GRO merged the kernel's plain frames past the MTU" "$big" 1
	else
		expect "offload off, GRO off: no frame from the kernel longer than the MTU" "$big" 0
	fi
done

echo "# $NAME: $CHECKS checks, $FAILURES failed"
[ "$FAILURES" -eq 0 ] || exit 1
echo "PASS: $NAME"
exit 0
