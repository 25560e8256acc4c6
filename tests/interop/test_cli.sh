#!/usr/bin/env bash
# The `netpath` command itself: the demo (two stacks on a virtual cable, no
# privileges), help, version, sysctl, and clear errors with non-zero exits
# for bad options, bad addresses and a missing privilege.
# Usage: test_cli.sh /path/to/netpath
set -u

NP=${1:-}
NAME=test_cli
. "$(dirname "$0")/lib.sh"
[ -n "$NP" ] || fail "cannot run: give the netpath binary as the first argument"
[ -x "$NP" ] || fail "cannot run: $NP is not an executable"

TMP=$(mktemp -d /tmp/npcli.XXXXXX) || fail "cannot run: mktemp failed"
CHECKS=0
FAILURES=0
trap '[ "$FAILURES" -eq 0 ] && rm -rf "$TMP" || echo "logs kept in $TMP" >&2' EXIT

# run_expect DESC STATUS PATTERN -- CMD...: CMD exits with STATUS and its output matches PATTERN (grep -E).
run_expect() {
	local desc=$1 want=$2 pat=$3
	shift 4
	"$@" >"$TMP/out" 2>&1
	local st=$?
	if [ "$st" -ne "$want" ]; then
		bad "$desc: exit $st, expected $want; output: $(head -5 "$TMP/out")"
	elif ! grep -Eq -- "$pat" "$TMP/out"; then
		bad "$desc: output lacks /$pat/: $(head -5 "$TMP/out")"
	else
		ok "$desc"
	fi
}

# ---- the demo ----
timeout 60 "$NP" demo --pcap "$TMP/demo.pcap" >"$TMP/demo.out" 2>"$TMP/demo.err"
st=$?
[ $st -eq 0 ] && ok "netpath demo exits 0" || bad "netpath demo exit $st: $(tail -5 "$TMP/demo.out") $(cat "$TMP/demo.err")"
n=$(grep -c "bytes from 10.0.0.2: icmp_seq=" "$TMP/demo.out")
[ "$n" -eq 5 ] && ok "demo: 5 replies alice -> bob" || bad "demo: $n replies from 10.0.0.2, expected 5"
n=$(grep -c "bytes from 10.0.0.1: icmp_seq=" "$TMP/demo.out")
[ "$n" -eq 3 ] && ok "demo: 3 replies bob -> alice" || bad "demo: $n replies from 10.0.0.1, expected 3"
for pat in "Neighbour tables before" "Neighbour tables after" "took ==" "Counters of alice" "Counters of bob" \
	"all 8 pings answered" "ip_rcv" "arp_rcv" "icmp_rcv" "dev_queue_xmit" "netif_receive_skb"; do
	grep -q -- "$pat" "$TMP/demo.out" && ok "demo output shows '$pat'" || bad "demo output lacks '$pat'"
done
grep -Eq '^ +1\. ' "$TMP/demo.out" && ok "demo prints numbered stages" || bad "demo prints no numbered stages"
[ -s "$TMP/demo.pcap" ] && ok "demo --pcap wrote a capture" || bad "demo --pcap wrote nothing"
if command -v tshark >/dev/null 2>&1; then
	n=$(tshark -n -r "$TMP/demo.pcap" -Y "icmp.type == 8 || icmp.type == 0" 2>/dev/null | wc -l)
	[ "$n" -eq 16 ] && ok "demo pcap holds 16 ICMP echo frames" || bad "demo pcap holds $n echo frames, expected 16"
fi
# Deterministic: the virtual clock and fixed seeds give the same output twice.
timeout 60 "$NP" demo >"$TMP/demo2.out" 2>&1
timeout 60 "$NP" demo >"$TMP/demo3.out" 2>&1
cmp -s "$TMP/demo2.out" "$TMP/demo3.out" && ok "demo output is deterministic" ||
	bad "demo output differs between runs: $(diff "$TMP/demo2.out" "$TMP/demo3.out" | head -5)"
timeout 60 "$NP" demo --trace >"$TMP/trace.out" 2>&1
st=$?
[ $st -eq 0 ] && [ "$(wc -l <"$TMP/trace.out")" -gt "$(wc -l <"$TMP/demo2.out")" ] &&
	ok "demo --trace exits 0 and prints more" || bad "demo --trace: exit $st, $(wc -l <"$TMP/trace.out") lines"
run_expect "demo --faults loss=100% fails (exit 1): no replies" 1 "pings answered" -- \
	timeout 60 "$NP" demo --faults loss=100%,seed=1
run_expect "demo --faults with a bad key is a usage error" 2 "bogus" -- "$NP" demo --faults bogus=1

# ---- help, version, sysctl ----
run_expect "netpath --help" 0 "usage: netpath" -- "$NP" --help
run_expect "netpath help run" 0 "--host-addr" -- "$NP" help run
run_expect "netpath help ping" 0 "-c COUNT" -- "$NP" help ping
run_expect "netpath run --help" 0 "usage: netpath run" -- "$NP" run --help
run_expect "netpath help nosuch" 2 "no such command" -- "$NP" help nosuch
run_expect "netpath version" 0 "^netpath [0-9]" -- "$NP" version
run_expect "netpath with no command" 2 "usage: netpath" -- "$NP"
run_expect "netpath nosuch" 2 "no such command" -- "$NP" nosuch
run_expect "netpath sysctl" 0 "net.ipv4.ip_default_ttl = 64" -- "$NP" sysctl
run_expect "netpath sysctl NAME" 0 "^net.ipv4.ip_default_ttl = 64$" -- "$NP" sysctl net.ipv4.ip_default_ttl
run_expect "netpath drop-reasons" 0 "^IP_CSUM +IPv4 header checksum error" -- "$NP" drop-reasons

# ---- clear errors ----
run_expect "run: unknown option prints usage" 2 "unknown option --bogus.*|usage: netpath run" -- \
	"$NP" run --tap npcli0 --bogus
run_expect "run: bad address" 2 "bad address '10.0.0.300/24'" -- "$NP" run --tap npcli0 --addr 10.0.0.300/24
run_expect "run: address without prefix length" 2 "bad address '10.0.0.2'" -- "$NP" run --tap npcli0 --addr 10.0.0.2
run_expect "run: no device" 2 "give a device with --tap" -- "$NP" run
run_expect "run: --addr before --tap" 2 "give --tap IFNAME before it" -- "$NP" run --addr 10.0.0.2/24
run_expect "run: bad gateway" 2 "bad gateway" -- "$NP" run --tap npcli0 --gateway 1.2.3
run_expect "run: --busy-poll without an app" 2 "--busy-poll is for the apps' sockets" -- "$NP" run --tap npcli0 --busy-poll
run_expect "netpath sysctl lists the busy-poll tunables" 0 "^net.core.busy_poll_handback_us = 1000$" -- "$NP" sysctl net.core.busy_poll_handback_us
run_expect "ping: no destination" 2 "give a destination" -- "$NP" ping -c 1
run_expect "ping: bad count" 2 "bad value 'x' for -c" -- "$NP" ping -c x 127.0.0.1
run_expect "ping 127.0.0.1 over the stack's own loopback" 0 \
	"2 packets transmitted, 2 received, 0% packet loss" -- timeout 30 "$NP" ping -c 2 -i 0.1 127.0.0.1
run_expect "ping: no route without a device" 2 "unreachable" -- timeout 30 "$NP" ping -c 1 -W 1 10.99.0.1

# Without privilege, opening a TAP fails with a hint.
if [ "$(id -u)" -eq 0 ]; then
	if command -v setpriv >/dev/null 2>&1; then
		run_expect "run without CAP_NET_ADMIN says what to do" 1 \
			"cannot open TAP npcli0: .*\(run as root or with CAP_NET_ADMIN\)" -- \
			setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$NP" run --tap npcli0 --addr 10.0.0.2/24
	else
		bad "cannot check the unprivileged error: setpriv (util-linux) is missing"
	fi
else
	run_expect "run without CAP_NET_ADMIN says what to do" 1 \
		"cannot open TAP npcli0: .*\(run as root or with CAP_NET_ADMIN\)" -- \
		"$NP" run --tap npcli0 --addr 10.0.0.2/24
fi

echo "# $NAME: $CHECKS checks, $FAILURES failed"
[ "$FAILURES" -eq 0 ] || exit 1
echo "PASS: $NAME"
