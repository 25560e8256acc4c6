#!/usr/bin/env bash
# Interop test of forwarding (RFC 1812): netpath as the router between two
# Linux kernel hosts, each in a network namespace of its own.
#   nprt-a-PID (kernel host A, 10.81.1.2) rt0 == TAP == netpath run --forward == TAP == rt1 (kernel host B, 10.81.2.2) nprt-b-PID
# netpath runs in nprt-r-PID and opens the TAPs rt0 and rt1 there; each TAP's
# kernel side is then moved into its host's namespace (`ip link set rt0
# netns ...`), so netpath is the only path between A and B.
# Checks: ping both ways through netpath (TTL 63), curl of a 2 MB file from
# python3 -m http.server on B, traceroute from A shows netpath's hop, TTL 1
# gets time exceeded, no route gets net unreachable; then with netpath's
# link to A at MTU 576, B's kernel learns the path MTU from netpath's
# fragmentation needed (RFC 1191) and the download still completes.
# Last, netpath as a NAT router (-t nat -A POSTROUTING -o rt1 -j MASQUERADE)
# while B has no route back to A's network: A's ping, a TCP connection and
# curl still reach B, B sees them come from netpath's rt1 address 10.81.2.1,
# and the MASQUERADE rule's counter and the conntrack table show the binding.
# Usage: test_router.sh /path/to/netpath   (as root; never skips: FAILs if it cannot run)
set -u

NP=${1:-}
NAME=test_router

. "$(dirname "$0")/lib.sh"

# ---- can this run at all? Say so loudly and fail, never skip. ----
[ -n "$NP" ] || fail "cannot run: give the netpath binary as the first argument"
[ -x "$NP" ] || fail "cannot run: $NP is not an executable"
[ "$(id -u)" -eq 0 ] || fail "cannot run: needs root (it creates network namespaces and TAP devices); run ./scripts/test.sh as root or with sudo"
for tool in ip ping curl traceroute python3 sha256sum timeout awk grep sed head; do
	command -v "$tool" >/dev/null 2>&1 || fail "cannot run: '$tool' is missing (./scripts/test.sh installs it)"
done
[ -c /dev/net/tun ] || fail "cannot run: /dev/net/tun is missing (modprobe tun)"

# The outer run creates the three namespaces and runs this same script inside
# the router's, so netpath is this script's own child; cleanup deletes all three.
if [ -z "${NPRT_INSIDE:-}" ]; then
	TAG=$$
	NSR=nprt-r-$TAG NSA=nprt-a-$TAG NSB=nprt-b-$TAG
	trap 'ip netns del "$NSR" 2>/dev/null; ip netns del "$NSA" 2>/dev/null; ip netns del "$NSB" 2>/dev/null' EXIT
	trap 'exit 1' INT TERM
	for ns in "$NSR" "$NSA" "$NSB"; do
		ip netns add "$ns" || fail "cannot run: ip netns add $ns failed"
	done
	NPRT_INSIDE=$TAG ip netns exec "$NSR" bash "$0" "$NP"
	exit $?
fi
TAG=$NPRT_INSIDE
NSR=nprt-r-$TAG NSA=nprt-a-$TAG NSB=nprt-b-$TAG
A="ip netns exec $NSA"
B="ip netns exec $NSB"

TMP=$(mktemp -d /tmp/nprt.XXXXXX) || fail "cannot run: mktemp failed"
NP_PID=
HTTP_PID=
WHOAMI_PID=
CHECKS=0
FAILURES=0

cleanup() {
	stop_pid "$HTTP_PID" >/dev/null 2>&1
	stop_pid "$WHOAMI_PID" >/dev/null 2>&1
	stop_pid "$NP_PID" >/dev/null 2>&1
	keep_or_remove_tmp
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 1' INT TERM

# nat_rule_pkts FILE CHAIN NUM: the packet count of rule NUM of nat CHAIN in netpath's `iptables -L -v -n` block.
nat_rule_pkts() {
	awk -v c="$2" -v n="$3" '
		/^Chain / { in_c = ($2 == c) && ($0 ~ /table nat/) }
		in_c && $1 == n { print $2; exit }' "$1"
}

# No IPv6 anywhere: keeps router solicitations and MLD off the TAPs.
for ns in "$NSA" "$NSB"; do
	ip netns exec "$ns" ip link set lo up
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1
done
ip link set lo up
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1

# start_router TAG EXTRA...: netpath run --forward on rt0/rt1, then each TAP's
# kernel side moves to its host, which gets its address and a default route via netpath.
start_router() {
	local tag=$1
	shift
	"$NP" run --forward --tap rt0 --addr 10.81.1.1/24 "$@" --tap rt1 --addr 10.81.2.1/24 \
		>"$TMP/run-$tag.out" 2>"$TMP/run-$tag.err" &
	NP_PID=$!
	wait_ready "$TMP/run-$tag.err" "netpath: rt1 up" "$NP_PID" || fail "netpath run --forward did not come up"
	ip link set rt0 netns "$NSA" || fail "cannot move TAP rt0 into $NSA"
	ip link set rt1 netns "$NSB" || fail "cannot move TAP rt1 into $NSB"
	$A ip addr add 10.81.1.2/24 dev rt0 && $A ip link set rt0 up && $A ip route add default via 10.81.1.1 ||
		fail "cannot configure host A"
	$B ip addr add 10.81.2.2/24 dev rt1 && $B ip link set rt1 up && $B ip route add default via 10.81.2.1 ||
		fail "cannot configure host B"
}

echo "# $NAME: namespaces $NSA, $NSR (netpath), $NSB; netpath $NP; logs in $TMP"

# ---- (a) netpath routes between the two kernel hosts ----
start_router plain
grep -q "netpath: forwarding on" "$TMP/run-plain.err" && ok "netpath says forwarding is on" ||
	bad "no 'forwarding on' line: $(cat "$TMP/run-plain.err")"

out=$($A ping -c 3 -i 0.2 -W 2 10.81.1.1 2>&1)
echo "$out" | grep -q "3 received" && ok "A pings netpath's own address 10.81.1.1" || bad "A -> 10.81.1.1: $out"
out=$($A ping -c 3 -i 0.2 -W 2 10.81.2.2 2>&1)
echo "$out" | grep -q "3 received" && ok "A pings B through netpath" || bad "A -> B: $out"
echo "$out" | grep -q "ttl=63" && ok "B's replies arrive with TTL 63 (netpath decremented it)" ||
	bad "no ttl=63 in: $out"
out=$($B ping -c 3 -i 0.2 -W 2 10.81.1.2 2>&1)
echo "$out" | grep -q "3 received" && ok "B pings A through netpath" || bad "B -> A: $out"
out=$($A ping -c 2 -i 0.2 -s 1472 -M do -W 2 10.81.2.2 2>&1)
echo "$out" | grep -q "2 received" && ok "1500-byte DF pings cross at MTU 1500" || bad "ping -s 1472 -M do: $out"

# curl a 2 MB file from python's HTTP server on B.
mkdir -p "$TMP/www"
head -c 2097152 /dev/urandom >"$TMP/www/blob"
$B python3 -m http.server 8080 --bind 10.81.2.2 --directory "$TMP/www" >"$TMP/http.log" 2>&1 &
HTTP_PID=$!
for _ in $(seq 50); do
	$A timeout 2 curl -s -o /dev/null "http://10.81.2.2:8080/" 2>/dev/null && break
	sleep 0.2
done
$A timeout 60 curl -s -o "$TMP/got-plain" "http://10.81.2.2:8080/blob"
st=$?
expect "curl on A fetches 2 MB from B's http.server through netpath: exit" "$st" 0
expect "the file arrives intact (sha256)" "$(sha256sum <"$TMP/got-plain" | cut -d' ' -f1)" \
	"$(sha256sum <"$TMP/www/blob" | cut -d' ' -f1)"

# traceroute (UDP probes): hop 1 is netpath (time exceeded), hop 2 is B (port unreachable).
out=$($A timeout 30 traceroute -n -q 1 -w 2 -m 5 10.81.2.2 2>&1)
echo "$out" | sed 's/^/     /'
echo "$out" | grep -Eq "^ *1 +10\.81\.1\.1 " && ok "traceroute shows netpath (10.81.1.1) as hop 1" ||
	bad "no hop 1 10.81.1.1"
echo "$out" | grep -Eq "^ *2 +10\.81\.2\.2 " && ok "traceroute reaches B (10.81.2.2) at hop 2" ||
	bad "no hop 2 10.81.2.2"
out=$($A timeout 30 traceroute -I -n -q 1 -w 2 -m 5 10.81.2.2 2>&1)
echo "$out" | grep -Eq "^ *1 +10\.81\.1\.1 " && echo "$out" | grep -Eq "^ *2 +10\.81\.2\.2 " &&
	ok "traceroute -I (ICMP echo probes) shows the same two hops" || bad "traceroute -I: $out"

# TTL 1 dies at netpath; a destination with no route gets net unreachable.
out=$($A ping -c 1 -t 1 -W 2 10.81.2.2 2>&1)
echo "$out" | grep -q "From 10.81.1.1 icmp_seq=1 Time to live exceeded" &&
	ok "ping -t 1: Time to live exceeded from netpath" || bad "ping -t 1: $out"
out=$($A ping -c 1 -W 2 10.81.9.9 2>&1)
echo "$out" | grep -q "From 10.81.1.1 icmp_seq=1 Destination Net Unreachable" &&
	ok "ping to an unrouted net: Destination Net Unreachable from netpath" || bad "ping 10.81.9.9: $out"

stop_pid "$HTTP_PID"
HTTP_PID=
stop_pid "$NP_PID"
st=$?
NP_PID=
expect "netpath run --forward exits 0 on SIGTERM" "$st" 0
# GRO on the TAPs merges the data segments and a super-packet counts once, as on Linux: fewer than the wire frames.
at_least "IpForwDatagrams" "$(counter IpForwDatagrams "$TMP/run-plain.out")" 500
at_least "IcmpOutTimeExcds (traceroute hop 1 and ping -t 1)" "$(counter IcmpOutTimeExcds "$TMP/run-plain.out")" 3
at_least "IpExtInNoRoutes (10.81.9.9)" "$(counter IpExtInNoRoutes "$TMP/run-plain.out")" 1
at_least "drop IP_INNOROUTES" "$(counter IP_INNOROUTES "$TMP/run-plain.out")" 1

# ---- (b) path MTU discovery through netpath: its link to A is at MTU 576 ----
# The TAPs went away with netpath; bring a new router up with --mtu 576 on rt0.
# A's kernel keeps MTU 1500 (and advertises MSS 1460): only netpath knows the link is smaller.
start_router pmtu --mtu 576
out=$($B ping -c 1 -s 1000 -M do -W 2 10.81.1.2 2>&1)
echo "$out" | grep -Eq "[Ff]rag needed and DF set \(mtu = 576\)|mtu = 576|Message too long, mtu=576" &&
	ok "B's 1028-byte DF ping gets fragmentation needed (mtu 576) from netpath" || bad "ping -s 1000 -M do: $out"
# Forget what the ping taught B: the TCP transfer must learn it again by itself.
$B ip route flush cache 2>/dev/null
$B python3 -m http.server 8080 --bind 10.81.2.2 --directory "$TMP/www" >"$TMP/http2.log" 2>&1 &
HTTP_PID=$!
for _ in $(seq 50); do
	$A timeout 2 curl -s -o /dev/null "http://10.81.2.2:8080/" 2>/dev/null && break
	sleep 0.2
done
$A timeout 60 curl -s -o "$TMP/got-pmtu" "http://10.81.2.2:8080/blob"
st=$?
expect "curl across the 576-byte link: exit" "$st" 0
expect "the file arrives intact across the 576-byte link (sha256)" "$(sha256sum <"$TMP/got-pmtu" | cut -d' ' -f1)" \
	"$(sha256sum <"$TMP/www/blob" | cut -d' ' -f1)"
out=$($B ip route get 10.81.1.2 2>&1)
echo "$out" | grep -q "mtu 576" && ok "B's kernel cached path MTU 576 toward A: $(echo "$out" | tr -s ' \n' ' ')" ||
	bad "no cached mtu 576 in: $out"
stop_pid "$HTTP_PID"
HTTP_PID=
stop_pid "$NP_PID"
st=$?
NP_PID=
expect "netpath run --forward --mtu 576 exits 0 on SIGTERM" "$st" 0
at_least "IcmpOutDestUnreachs (fragmentation needed)" "$(counter IcmpOutDestUnreachs "$TMP/run-pmtu.out")" 1
at_least "drop PKT_TOO_BIG (the ping, then TCP segments over 576 bytes)" "$(counter PKT_TOO_BIG "$TMP/run-pmtu.out")" 2
at_least "IpForwDatagrams" "$(counter IpForwDatagrams "$TMP/run-pmtu.out")" 1000

# ---- (c) masquerade: A's network is private, B has no route back to it ----
# netpath rewrites the source of everything leaving rt1 to its own 10.81.2.1;
# B answers 10.81.2.1 on-link and netpath maps the replies back to A.
start_router masq --rule '-t nat -A POSTROUTING -o rt1 -j MASQUERADE'
$B ip route del default via 10.81.2.1 || fail "cannot remove B's default route"
out=$($B ip route get 10.81.1.2 2>&1)
[ $? -ne 0 ] && echo "$out" | grep -qi "unreachable" &&
	ok "B has no route back to A's network 10.81.1.0/24 ($(echo "$out" | head -1))" ||
	bad "B still has a route to A: $out"
out=$($A ping -c 3 -i 0.2 -W 2 10.81.2.2 2>&1)
echo "$out" | grep -q "3 received" && ok "A pings B through netpath's masquerade" || bad "A -> B (masquerade): $out"

# A TCP server on B that answers with the peer address it saw; A connects from a fixed port.
$B python3 -u -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.81.2.2", 7070))
s.listen(8)
print("ready")
while True:
    c, a = s.accept()
    c.sendall(("%s %d\n" % a).encode())
    c.close()
' >"$TMP/whoami.log" 2>&1 &
WHOAMI_PID=$!
wait_ready "$TMP/whoami.log" "ready" "$WHOAMI_PID" || fail "the peer-address server on B did not start"
out=$($A timeout 10 python3 -c '
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.81.1.2", 40404))
s.settimeout(5)
s.connect(("10.81.2.2", 7070))
print(s.makefile().readline().strip())
' 2>&1)
expect "B sees A's TCP connection from netpath's rt1 address, source port kept" "$out" "10.81.2.1 40404"
stop_pid "$WHOAMI_PID"
WHOAMI_PID=

echo "hello through netpath's masquerade" >"$TMP/www/masq.txt"
$B python3 -m http.server 8080 --bind 10.81.2.2 --directory "$TMP/www" >"$TMP/http3.log" 2>&1 &
HTTP_PID=$!
# Wait for the server from B itself, so a broken NAT fails the curl below at once instead of this loop.
for _ in $(seq 50); do
	$B timeout 2 curl -s -o /dev/null "http://10.81.2.2:8080/" 2>/dev/null && break
	sleep 0.1
done
out=$($A timeout 20 curl -s --max-time 10 "http://10.81.2.2:8080/masq.txt")
st=$?
expect "curl on A through the masquerade: exit" "$st" 0
expect "curl on A through the masquerade: content" "$out" "hello through netpath's masquerade"
if [ "$st" -eq 0 ]; then
	$A timeout 60 curl -s -o "$TMP/got-masq" "http://10.81.2.2:8080/blob"
	expect "2 MB through the masquerade arrives intact (sha256)" "$(sha256sum <"$TMP/got-masq" | cut -d' ' -f1)" \
		"$(sha256sum <"$TMP/www/blob" | cut -d' ' -f1)"
else
	bad "2 MB through the masquerade: not tried (the small file failed)"
fi
stop_pid "$HTTP_PID"
HTTP_PID=
grep -q '^10\.81\.2\.1 .*"GET /masq.txt ' "$TMP/http3.log" &&
	ok "B's http.server logged the request from 10.81.2.1: $(grep -m1 'GET /masq.txt' "$TMP/http3.log")" ||
	bad "no GET /masq.txt from 10.81.2.1 in B's access log: $(cat "$TMP/http3.log")"
grep -q '^10\.81\.1\.' "$TMP/http3.log" && bad "B's http.server saw A's own address: $(grep -m1 '^10\.81\.1\.' "$TMP/http3.log")" ||
	ok "B's http.server never saw an address of A's network"
stop_pid "$NP_PID"
st=$?
NP_PID=
expect "netpath run --forward with MASQUERADE exits 0 on SIGTERM" "$st" 0
# The nat chains see only a flow's first packet: the ping, the TCP connection and the two curls.
at_least "nat POSTROUTING rule 1 (MASQUERADE) matched" "$(nat_rule_pkts "$TMP/run-masq.out" POSTROUTING 1)" 4
grep -Eq "src=10\.81\.1\.2 dst=10\.81\.2\.2 sport=40404 dport=7070 .*src=10\.81\.2\.2 dst=10\.81\.2\.1 sport=7070 dport=40404" \
	"$TMP/run-masq.out" && ok "conntrack shows the binding: reply tuple to 10.81.2.1:40404" ||
	bad "no masqueraded flow 10.81.1.2:40404 -> 10.81.2.2:7070 in the conntrack table: $(grep -A20 '^conntrack:' "$TMP/run-masq.out")"
at_least "IpForwDatagrams" "$(counter IpForwDatagrams "$TMP/run-masq.out")" 500

echo "# $NAME: $CHECKS checks, $FAILURES failed"
[ "$FAILURES" -eq 0 ] || exit 1
echo "PASS: $NAME"
exit 0
