#!/usr/bin/env bash
# Interop test of the netfilter tables: netpath on TAP devices as a host
# firewall against the Linux kernel's curl, ping and HTTP server, inside a
# network namespace of its own (npnf-PID, devices npnf0..npnf2, 10.82.x only).
#   curl -> npnf0 -> netpath run --serve http=DIR --rule 'INPUT -p tcp --dport 80 -j DROP' --trace
#     curl times out; ping still works; the rule's packet counter > 0 at exit and the
#     trace names "filter/INPUT rule 1"
#   curl -> npnf1 -> netpath run --serve http=DIR --rule '... -j REJECT --reject-with tcp-reset'
#     curl: connection refused, at once
#   npnf2: a stateful rule set (ESTABLISHED,RELATED accept; icmp accept; -P INPUT DROP):
#     netpath run: kernel ping works, kernel curl to it is blocked;
#     netpath get / netpath ping (same rules) from netpath to the kernel work (replies are ESTABLISHED)
# Usage: test_nf.sh /path/to/netpath   (as root; never skips: FAILs if it cannot run)
set -u

NP=${1:-}
NAME=test_nf

. "$(dirname "$0")/lib.sh"

[ -n "$NP" ] || fail "cannot run: give the netpath binary as the first argument"
[ -x "$NP" ] || fail "cannot run: $NP is not an executable"
[ "$(id -u)" -eq 0 ] || fail "cannot run: needs root (it creates a network namespace and TAP devices); run ./scripts/test.sh as root or with sudo"
for tool in ip python3 curl ping timeout awk grep sed; do
	command -v "$tool" >/dev/null 2>&1 || fail "cannot run: '$tool' is missing (./scripts/test.sh installs it)"
done
[ -c /dev/net/tun ] || fail "cannot run: /dev/net/tun is missing (modprobe tun)"

# The outer run creates the namespace and runs this same script inside it.
if [ -z "${NPNF_INSIDE:-}" ]; then
	NS=npnf-$$
	ip netns add "$NS" || fail "cannot run: ip netns add $NS failed"
	trap 'ip netns del "$NS" 2>/dev/null' EXIT
	trap 'exit 1' INT TERM
	NPNF_INSIDE=$NS ip netns exec "$NS" bash "$0" "$NP"
	exit $?
fi
NS=$NPNF_INSIDE

TMP=$(mktemp -d /tmp/npnf.XXXXXX) || fail "cannot run: mktemp failed"
NP_PID=
HTTP_PID=
CHECKS=0
FAILURES=0

cleanup() {
	stop_pid "$NP_PID" >/dev/null 2>&1
	stop_pid "$HTTP_PID" >/dev/null 2>&1
	keep_or_remove_tmp
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 1' INT TERM

# rule_pkts FILE CHAIN NUM: the packet count of rule NUM of CHAIN in the `iptables -L -v -n` block.
rule_pkts() {
	awk -v c="$2" -v n="$3" '
		/^Chain / { in_c = ($2 == c) && ($0 ~ /table filter/) }
		in_c && $1 == n { print $2; exit }' "$1"
}

ip link set lo up
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1

echo "# $NAME: namespace $NS, netpath $NP, logs in $TMP"
mkdir -p "$TMP/www"
echo "hello from netpath" >"$TMP/www/index.txt"

# ---- (a) DROP on TCP port 80: curl times out, the counters and the trace name the rule ----
"$NP" run --tap npnf0 --addr 10.82.0.2/24 --host-addr 10.82.0.1/24 --serve http="$TMP/www" --trace \
	--rule 'INPUT -p tcp --dport 80 -j DROP' >"$TMP/run0.out" 2>"$TMP/run0.err" &
NP_PID=$!
wait_ready "$TMP/run0.err" "netpath: npnf0 up" "$NP_PID" || fail "netpath run --rule did not come up on npnf0"
timeout 20 curl -s --max-time 3 -o /dev/null http://10.82.0.2/index.txt
st=$?
expect "curl to the dropped port 80 times out (curl exit 28)" "$st" 28
timeout 10 ping -c 2 -i 0.2 -W 2 10.82.0.2 >"$TMP/ping0.out" 2>&1 &&
	ok "ping still answered (only TCP port 80 is dropped)" || bad "ping: $(cat "$TMP/ping0.out")"
stop_pid "$NP_PID"
st=$?
NP_PID=
expect "netpath run exits 0 on SIGTERM" "$st" 0
at_least "rule 1 of INPUT counted the SYNs" "$(rule_pkts "$TMP/run0.out" INPUT 1)" 1
grep -q "filter/INPUT rule 1 DROP" "$TMP/run0.out" &&
	ok "the trace names the rule: $(grep -m1 -o 'ipt_do_table[^-]*filter/INPUT rule 1 DROP[^>]*' "$TMP/run0.out")" ||
	bad "no 'filter/INPUT rule 1 DROP' in the trace"
grep -q "NETFILTER_DROP" "$TMP/run0.out" && ok "drops counted as NETFILTER_DROP" || bad "no NETFILTER_DROP in the counters"

# ---- (b) REJECT --reject-with tcp-reset: connection refused at once ----
"$NP" run --tap npnf1 --addr 10.82.1.2/24 --host-addr 10.82.1.1/24 --serve http="$TMP/www" \
	--rule 'INPUT -p tcp --dport 80 -j REJECT --reject-with tcp-reset' \
	--rule 'INPUT -p udp --dport 9 -j REJECT' >"$TMP/run1.out" 2>"$TMP/run1.err" &
NP_PID=$!
wait_ready "$TMP/run1.err" "netpath: npnf1 up" "$NP_PID" || fail "netpath run did not come up on npnf1"
start=$(date +%s%N)
timeout 20 curl -s --max-time 5 -o /dev/null http://10.82.1.2/index.txt
st=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect "curl to a port rejected with tcp-reset: connection refused (curl exit 7)" "$st" 7
[ "$ms" -lt 2000 ] && ok "refused at once (${ms} ms)" || bad "refusal took ${ms} ms"
out=$(python3 - <<'PY' 2>&1
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(("10.82.1.2", 9))
s.send(b"x")
try:
    s.recv(10)
    print("reply?")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
PY
)
expect "UDP to a port with the default REJECT (icmp-port-unreachable): ECONNREFUSED" "$out" "refused"
stop_pid "$NP_PID"
NP_PID=
at_least "the tcp-reset rule counted" "$(rule_pkts "$TMP/run1.out" INPUT 1)" 1
at_least "TcpOutRsts" "$(awk '{ for (i = 1; i < NF; i++) if ($i == "TcpOutRsts") v = $(i + 1) } END { print v + 0 }' "$TMP/run1.out")" 1

# ---- (c) a stateful rule set: new incoming blocked, netpath's own connections work ----
cat >"$TMP/stateful.rules" <<'RULES'
# iptables-save style
*filter
:INPUT DROP [0:0]
-A INPUT -m state --state ESTABLISHED,RELATED -j ACCEPT
-A INPUT -p icmp -j ACCEPT
COMMIT
RULES
"$NP" run --tap npnf2 --addr 10.82.2.2/24 --host-addr 10.82.2.1/24 --serve http="$TMP/www" \
	--rules-file "$TMP/stateful.rules" >"$TMP/run2.out" 2>"$TMP/run2.err" &
NP_PID=$!
wait_ready "$TMP/run2.err" "netpath: npnf2 up" "$NP_PID" || fail "netpath run --rules-file did not come up on npnf2"
timeout 10 ping -c 2 -i 0.2 -W 2 10.82.2.2 >"$TMP/ping2.out" 2>&1 &&
	ok "kernel ping to the firewalled stack answered (-p icmp -j ACCEPT)" || bad "ping: $(cat "$TMP/ping2.out")"
timeout 20 curl -s --max-time 3 -o /dev/null http://10.82.2.2/index.txt
expect "a new incoming TCP connection is blocked by the policy (curl exit 28)" "$?" 28
stop_pid "$NP_PID"
NP_PID=
grep -q "Chain INPUT (policy DROP [1-9]" "$TMP/run2.out" && ok "the policy counted the dropped SYNs: $(grep 'Chain INPUT' "$TMP/run2.out")" ||
	bad "policy counter: $(grep 'Chain INPUT' "$TMP/run2.out")"

# netpath's own outgoing connection through the same rules: a kernel HTTP server on npnf2's host side.
# (bound to every address: npnf2 and its host address exist only while a netpath process holds the TAP)
python3 -m http.server 8082 --bind 0.0.0.0 --directory "$TMP/www" >"$TMP/http.log" 2>&1 &
HTTP_PID=$!
for _ in $(seq 50); do
	(exec 3<>/dev/tcp/127.0.0.1/8082) 2>/dev/null && break
	sleep 0.1
done
"$NP" get --tap npnf2 --addr 10.82.2.2/24 --host-addr 10.82.2.1/24 --rules-file "$TMP/stateful.rules" \
	--timeout 20 --counters http://10.82.2.1:8082/index.txt -o "$TMP/got.txt" >"$TMP/get.out" 2>&1
st=$?
expect "netpath get (stateful rules) fetches from the kernel: exit" "$st" 0
expect "netpath get body" "$(cat "$TMP/got.txt" 2>/dev/null)" "hello from netpath"
at_least "replies accepted as ESTABLISHED (rule 1)" "$(rule_pkts "$TMP/get.out" INPUT 1)" 2
stop_pid "$HTTP_PID"
HTTP_PID=
timeout 30 "$NP" ping --tap npnf2 --addr 10.82.2.2/24 --host-addr 10.82.2.1/24 \
	--rule '-P INPUT DROP' --rule 'INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT' \
	-c 2 -i 0.2 10.82.2.1 >"$TMP/npping.out" 2>&1
expect "netpath ping through '-P INPUT DROP' + ESTABLISHED: exit ($(grep -m1 'packets transmitted' "$TMP/npping.out"))" "$?" 0

# A bad rule is a usage error naming the token, before any device opens.
"$NP" run --tap npnf9 --rule 'INPUT -p tcp --dport eighty -j DROP' >"$TMP/bad.out" 2>&1
st=$?
expect "a bad --rule exits 2" "$st" 2
grep -q "'eighty'" "$TMP/bad.out" && ok "the error names the bad token: $(grep -m1 "eighty" "$TMP/bad.out")" ||
	bad "error: $(head -2 "$TMP/bad.out")"

echo "# $NAME: $CHECKS checks, $FAILURES failed"
[ "$FAILURES" -eq 0 ] || exit 1
echo "PASS: $NAME"
exit 0
