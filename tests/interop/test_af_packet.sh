#!/usr/bin/env bash
# Interop test of the AF_PACKET driver (src/drivers/af_packet.c): netpath
# attached to one end of a veth pair with --af-packet, no TAP, inside a
# network namespace of its own (npap-PID, devices npap0/npap1, 10.84.0.x only).
#   kernel (npap0, 10.84.0.1/24) <-veth-> npap1 <- AF_PACKET TPACKET_V3 ring -> netpath (10.84.0.2/24)
#   (a) veth offloads as created: the kernel's TCP/UDP leave checksums to
#       "hardware" (TP_STATUS_CSUMNOTREADY), which the driver completes:
#       ping 100/100, 1,000 UDP datagrams echoed byte for byte, a curl download
#       from --serve http=DIR with matching SHA-256
#   (b) tx checksumming, TSO, GSO off on npap0 and GRO off on npap1 (ethtool -K):
#       the same UDP flood and download again with complete checksums
#   plus: no checksum errors in netpath's counters; unknown interface -> ENODEV;
#   without CAP_NET_RAW -> EPERM.
# Usage: test_af_packet.sh /path/to/netpath   (as root; never skips: FAILs if it cannot run)
set -u

NP=${1:-}
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=test_af_packet

. "$(dirname "$0")/lib.sh"

[ -n "$NP" ] || fail "cannot run: give the netpath binary as the first argument"
[ -x "$NP" ] || fail "cannot run: $NP is not an executable"
NP=$(cd "$(dirname "$NP")" && pwd)/$(basename "$NP")
[ "$(id -u)" -eq 0 ] || fail "cannot run: needs root (it creates a network namespace and a veth pair)"
for tool in ip ping python3 curl sha256sum setpriv timeout awk grep sed head; do
	command -v "$tool" >/dev/null 2>&1 || fail "cannot run: '$tool' is missing (./scripts/test.sh installs it)"
done

# Run the body inside a fresh namespace as this script's own child (see test_udp.sh).
if [ -z "${NPAP_INSIDE:-}" ]; then
	NS=npap-$$
	ip netns add "$NS" || fail "cannot run: ip netns add $NS failed"
	trap 'ip netns del "$NS" 2>/dev/null' EXIT
	trap 'exit 1' INT TERM
	NPAP_INSIDE=$NS ip netns exec "$NS" bash "$0" "$NP"
	exit $?
fi
NS=$NPAP_INSIDE

TMP=$(mktemp -d /tmp/npap.XXXXXX) || fail "cannot run: mktemp failed"
PEER="python3 $HERE/udp_peer.py"
CURL=(curl -sS --noproxy '*' --max-time 120)
NP_PID=
CHECKS=0
FAILURES=0

cleanup() {
	stop_pid "$NP_PID" >/dev/null 2>&1
	keep_or_remove_tmp
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 1' INT TERM

# offload IFNAME FEATURE [on|off]: ethtool -K (or -k to read). FEATURE: tx tso gso gro.
# ethtool if installed, else the same legacy SIOCETHTOOL ioctls from Python.
offload() {
	if command -v ethtool >/dev/null 2>&1; then
		if [ $# -eq 3 ]; then
			ethtool -K "$1" "$2" "$3" >/dev/null 2>&1
		else
			local long
			case $2 in tx) long=tx-checksumming ;; tso) long=tcp-segmentation-offload ;;
			gso) long=generic-segmentation-offload ;; gro) long=generic-receive-offload ;; esac
			ethtool -k "$1" | sed -n "s/^$long: \(on\|off\).*/\1/p"
		fi
		return
	fi
	python3 - "$@" <<'EOF'
import ctypes, fcntl, socket, struct, sys
GET = {"tx": 0x16, "tso": 0x1e, "gso": 0x23, "gro": 0x2b}   # ETHTOOL_G* (linux/ethtool.h)
ifname, feat = sys.argv[1], sys.argv[2]
cmd = GET[feat] + (1 if len(sys.argv) > 3 else 0)              # ETHTOOL_S* = G* + 1
val = ctypes.create_string_buffer(struct.pack("II", cmd, 1 if sys.argv[3:] == ["on"] else 0))
ifr = struct.pack("16sP", ifname.encode(), ctypes.addressof(val)) + bytes(16)
fcntl.ioctl(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), 0x8946, ifr)   # SIOCETHTOOL
if len(sys.argv) == 3:
    print("on" if struct.unpack("II", val.raw[:8])[1] else "off")
EOF
}

ip link set lo up
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1
ip link add npap0 type veth peer name npap1 || fail "cannot run: ip link add veth failed"
ip addr add 10.84.0.1/24 dev npap0
ip link set npap0 up
ip link set npap1 up

echo "# $NAME: namespace $NS, netpath $NP, logs in $TMP"
command -v ethtool >/dev/null 2>&1 || echo "# ethtool is not installed: using SIOCETHTOOL from python3 instead"

DATA=$TMP/data
mkdir -p "$DATA"
head -c 3145728 /dev/urandom >"$DATA/3M"
head -c 1000 /dev/urandom >"$DATA/1K"
S3M=$(sha256sum <"$DATA/3M" | cut -d' ' -f1)
S1K=$(sha256sum <"$DATA/1K" | cut -d' ' -f1)

# curl_get DESC URL WANT_SHA
curl_get() {
	local out=$TMP/got st sum
	rm -f "$out"
	"${CURL[@]}" -o "$out" "$2" 2>"$out.err"
	st=$?
	sum=$(sha256sum <"$out" 2>/dev/null | cut -d' ' -f1)
	if [ $st -eq 0 ] && [ "$sum" = "$3" ]; then
		ok "$1: SHA-256 matches"
	else
		bad "$1: curl exit $st, sha $sum want $3: $(head -c 300 "$out.err")"
	fi
}

# flood DESC: 1,000 datagrams of 1..1472 bytes to the echo service, byte for byte.
flood() {
	timeout 120 $PEER flood 10.84.0.2 7 --count 1000 --max-size 1472 --window 16 >"$TMP/flood.out" 2>&1
	local st=$?
	sed 's/^/     /' "$TMP/flood.out"
	expect "$1: 1,000 datagrams to the echo service: exit" "$st" 0
	expect "$1: datagrams echoed back byte for byte" \
		"$(sed -n 's/.* \([0-9]*\) echoed intact.*/\1/p' "$TMP/flood.out")" 1000
}

# ---- errors: an unknown interface, and no CAP_NET_RAW ----
out=$("$NP" run --af-packet npapnone --addr 10.84.9.2/24 2>&1)
st=$?
if [ $st -eq 1 ] && echo "$out" | grep -q "No such device"; then
	ok "--af-packet on an unknown interface: exit 1, ENODEV"
else
	bad "--af-packet on an unknown interface: exit $st: $out"
fi
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all \
	"$NP" run --af-packet npap1 --addr 10.84.0.2/24 2>&1)
st=$?
if [ $st -eq 1 ] && echo "$out" | grep -q "Operation not permitted"; then
	ok "--af-packet without CAP_NET_RAW: exit 1, EPERM"
else
	bad "--af-packet without CAP_NET_RAW: exit $st: $out"
fi
out=$("$NP" run --af-packet npap1 --addr 10.84.0.2/24 --host-addr 10.84.0.1/24 2>&1)
expect "--host-addr with --af-packet is a usage error: exit" "$?" 2

# ---- (a) netpath on npap1, veth offloads as created ----
expect "npap0 starts with tx checksum offload on (so frames arrive CSUMNOTREADY)" "$(offload npap0 tx)" on
"$NP" run --af-packet npap1 --addr 10.84.0.2/24 --serve echo --serve http="$DATA" \
	>"$TMP/run.out" 2>"$TMP/run.err" &
NP_PID=$!
wait_ready "$TMP/run.err" "netpath: npap1 up" "$NP_PID" || fail "netpath run --af-packet did not come up on npap1"
ok "$(grep 'npap1 up' "$TMP/run.err")"

out=$(ping -c 100 -i 0.01 -W 2 10.84.0.2 2>&1)
expect "(a) ping -c 100 10.84.0.2: $(echo "$out" | grep 'packet loss')" \
	"$(echo "$out" | sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1\/\2/p')" 100/100
out=$(ping -c 5 -s 1472 -M do -i 0.05 -W 2 10.84.0.2 2>&1)
expect "(a) ping -s 1472 (a full 1500-byte frame)" \
	"$(echo "$out" | sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1\/\2/p')" 5/5
flood "(a)"
curl_get "(a) curl GET /1K from --serve http" http://10.84.0.2/1K "$S1K"
curl_get "(a) curl GET /3M from --serve http" http://10.84.0.2/3M "$S3M"

# ---- (b) offloads off: complete checksums, no segmentation offload ----
offload npap0 tx off
offload npap0 tso off
offload npap0 gso off
offload npap1 gro off
expect "npap0 tx checksum offload now" "$(offload npap0 tx)" off
expect "npap0 TSO now" "$(offload npap0 tso)" off
flood "(b)"
curl_get "(b) curl GET /3M from --serve http" http://10.84.0.2/3M "$S3M"
out=$(ping -c 20 -i 0.01 -W 2 10.84.0.2 2>&1)
expect "(b) ping -c 20" "$(echo "$out" | sed -n 's/^\([0-9]*\) packets transmitted, \([0-9]*\) received.*/\1\/\2/p')" 20/20

# ---- stop; the counters ----
stop_pid "$NP_PID"
st=$?
NP_PID=
expect "netpath run --af-packet exits 0 on SIGTERM" "$st" 0
at_least "UdpInDatagrams" "$(counter UdpInDatagrams "$TMP/run.out")" 2000
expect "UdpInCsumErrors (partial checksums completed by the driver)" "$(counter UdpInCsumErrors "$TMP/run.out")" 0
expect "TcpInCsumErrors" "$(counter TcpInCsumErrors "$TMP/run.out")" 0
at_least "IcmpInEchos" "$(counter IcmpInEchos "$TMP/run.out")" 125
expect "drop PKT_TOO_BIG (no super-frames reached the ring)" "$(counter PKT_TOO_BIG "$TMP/run.out")" 0

echo "# $NAME: $CHECKS checks, $FAILURES failed"
[ "$FAILURES" -eq 0 ] || exit 1
echo "PASS: $NAME"
exit 0
