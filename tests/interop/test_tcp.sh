#!/usr/bin/env bash
# Interop test of TCP and the TCP apps: netpath on TAP devices against the
# Linux kernel's TCP, inside a network namespace of its own (npt-PID,
# devices npt0..npt3, addresses 10.79.x only).
#   curl -> npt0 -> netpath run --serve http=DIR --serve echo --serve discard --pcap
#     1 KiB and 1 MiB by SHA-256, HEAD, keep-alive, pipelining, 400/403/404/405/414/505,
#     directories, nc through TCP echo and discard, RST from a closed port (curl exit 7),
#     tshark: no malformed segment and no bad checksum in what netpath sent
#   curl -> npt1 -> netpath run --serve http=DIR --serve echo
#     the big file (100 MiB by default), 200 concurrent downloads, 10 MiB through echo with nc
#   curl -> npt2 -> netpath run --faults-rx delay=20ms,loss=2% (+ the kernel drops 2% with iptables)
#   netpath get -> npt3 -> python3 -m http.server (and tcp_http.py: chunked, close-delimited),
#     the same sizes, then under the same loss; examples/http_client
#   examples/tcp_echo_server, http_server on npt0/npt1 afterwards, and all three without a TAP
# Environment: NP_TCP_BIG_MB (default 100) sizes the big file; NP_TCP_LOSSY_MB (default 4)
# adds a file of that many MiB to the runs under loss (0: only 1 KiB and 1 MiB). Under loss
# netpath's TCP moves about 0.5-1 MB/s (no SACK: losses cost timeouts; 20 ms delay), so 100 MiB there would
# take minutes.
# Usage: test_tcp.sh /path/to/netpath   (as root; never skips: FAILs if it cannot run)
set -u

NP=${1:-}
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=test_tcp
BIG_MB=${NP_TCP_BIG_MB:-100}
LOSSY_MB=${NP_TCP_LOSSY_MB:-4}

. "$(dirname "$0")/lib.sh"

# ---- can this run at all? Say so loudly and fail, never skip. ----
[ -n "$NP" ] || fail "cannot run: give the netpath binary as the first argument"
[ -x "$NP" ] || fail "cannot run: $NP is not an executable"
EX=$(cd "$(dirname "$NP")" && pwd)/examples
for ex in tcp_echo_server http_server http_client; do
	[ -x "$EX/$ex" ] || fail "cannot run: $EX/$ex is missing (build the examples: cmake --build BUILD)"
done
[ "$(id -u)" -eq 0 ] || fail "cannot run: needs root (it creates a network namespace and TAP devices); run ./scripts/test.sh as root or with sudo"
for tool in ip python3 curl nc socat tshark iptables sha256sum xargs timeout awk grep sed head; do
	command -v "$tool" >/dev/null 2>&1 || fail "cannot run: '$tool' is missing (./scripts/test.sh installs it)"
done
[ -c /dev/net/tun ] || fail "cannot run: /dev/net/tun is missing (modprobe tun)"
case "$BIG_MB$LOSSY_MB" in *[!0-9]*) fail "cannot run: NP_TCP_BIG_MB and NP_TCP_LOSSY_MB must be numbers of MiB" ;; esac

# The outer run creates the namespace and runs this same script inside it,
# so every process the test starts is its own child and cleanup cannot miss.
if [ -z "${NPT_INSIDE:-}" ]; then
	NS=npt-$$
	ip netns add "$NS" || fail "cannot run: ip netns add $NS failed"
	trap 'ip netns del "$NS" 2>/dev/null' EXIT
	trap 'exit 1' INT TERM
	NPT_INSIDE=$NS ip netns exec "$NS" bash "$0" "$NP"
	exit $?
fi
NS=$NPT_INSIDE

TMP=$(mktemp -d /tmp/npt.XXXXXX) || fail "cannot run: mktemp failed"
DATA=$TMP/data
HTTP="python3 $HERE/tcp_http.py"
CURL=(curl -sS --noproxy '*' --max-time 120)
# Under 2% loss each way and 20 ms delay, without SACK yet, a download runs at ~0.5-1 MB/s.
CURL_LOSSY=(curl -sS --noproxy '*' --max-time $((120 + 6 * LOSSY_MB)))
NP_PID=
PY_PID=
PY2_PID=
EX_PID=
CHECKS=0
FAILURES=0
T0=$(date +%s.%N)

# stop_pid PID: SIGTERM, wait up to 20 s, then SIGKILL; returns the process's exit status.
stop_pid() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 200); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "pid $pid ignored SIGTERM for 20 s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
}

cleanup() {
	for p in "$NP_PID" "$PY_PID" "$PY2_PID" "$EX_PID"; do
		stop_pid "$p" >/dev/null 2>&1
	done
	if [ "$FAILURES" -ne 0 ] || [ "${KEEP_TMP:-0}" = 1 ]; then
		rm -f "$DATA/big"   # the logs and captures stay; the big file does not
		echo "logs kept in $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 1' INT TERM

elapsed() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
sha() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }

# wait_ready FILE PATTERN PID: waits until FILE holds PATTERN; fails if PID exits first or after 20 s.
wait_ready() {
	local file=$1 pat=$2 pid=$3
	for _ in $(seq 200); do
		grep -q -- "$pat" "$file" 2>/dev/null && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "--- $file (process exited) ---" >&2; cat "$file" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "--- $file (no '$pat' after 20 s) ---" >&2; cat "$file" >&2
	return 1
}

# curl_get DESC URL FILE WANT_SHA: downloads with curl, checks the SHA-256, prints the rate.
curl_get() {
	local desc=$1 url=$2 out=$3 want=$4 st w
	local -a c=("${CURL[@]}")
	case $desc in lossy*) c=("${CURL_LOSSY[@]}") ;; esac
	w=$("${c[@]}" -o "$out" -w '%{http_code} %{size_download} %{time_total} %{speed_download}' "$url" 2>"$out.err")
	st=$?
	if [ $st -eq 0 ] && [ "$(sha "$out")" = "$want" ]; then
		ok "$desc: SHA-256 matches ($(echo "$w" | awk '{ printf "HTTP %s, %s bytes in %.3f s, %.1f MB/s", $1, $2, $3, $4 / 1e6 }'))"
	else
		bad "$desc: curl exit $st, '$w', sha $(sha "$out") want $want: $(head -c 300 "$out.err")"
	fi
	rm -f "$out"
}

# np_get DESC URL FILE WANT_SHA [netpath get options...]: downloads with netpath get on npt3.
np_get() {
	local desc=$1 url=$2 out=$3 want=$4 st
	shift 4
	timeout 180 "$NP" get --tap npt3 --addr 10.79.3.2/24 "$@" "$url" -o "$out" >"$out.log" 2>&1
	st=$?
	if [ $st -eq 0 ] && [ "$(sha "$out")" = "$want" ]; then
		ok "$desc: SHA-256 matches ($(grep -m1 ' bytes in ' "$out.log"); $(grep -m1 '^TCP:' "$out.log" | sed 's/ (TcpRetransSegs)//; s/ (TCPTimeouts)//'))"
	else
		bad "$desc: netpath get exit $st, sha $(sha "$out") want $want: $(grep -v ' up, ' "$out.log" | head -5)"
	fi
	rm -f "$out"
}

# tshark_clean DESC PCAP MAC: no frame netpath sent is malformed or has a bad checksum, and
# every TCP segment it sent has a checksum tshark verified as good. TCP reassembly is off:
# captured at the sender, a segment the kernel later dropped is in the file, so its
# retransmission would "overlap old data" of an HTTP body tshark already reassembled (a
# reassembly error about the capture point, not about the segment). The HTTP dissector is
# off too: without reassembly it parses each body segment as a message, and a random body
# segment that happens to start with CR LF is flagged "malformed" (seen once per ~70,000).
# Every TCP payload is decoded as plain data for the same reason: random body bytes once
# looked enough like Apache Thrift for its heuristic dissector to claim a segment and call
# it malformed. What is checked is netpath's headers and checksums, not what it carries.
TS="tshark -n -o ip.check_checksum:TRUE -o tcp.check_checksum:TRUE -o udp.check_checksum:TRUE -o tcp.desegment_tcp_streams:FALSE --disable-protocol http -d tcp.port==1-65535,data"
BADF='_ws.malformed || _ws.expert.severity >= error || ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || udp.checksum.status == "Bad"'
tshark_clean() {
	local desc=$1 pcap=$2 mac=$3 total good badn
	total=$($TS -r "$pcap" -Y "tcp && eth.src == $mac" -T fields -e frame.number 2>"$pcap.err" | wc -l)
	at_least "$desc: TCP segments netpath sent in the capture" "$total" 500
	good=$($TS -r "$pcap" -Y "tcp && eth.src == $mac && tcp.checksum.status == \"Good\"" -T fields -e frame.number 2>/dev/null | wc -l)
	expect "$desc: TCP segments netpath sent whose checksum tshark verified good" "$good" "$total"
	badn=$($TS -r "$pcap" -Y "eth.src == $mac && ($BADF)" 2>/dev/null | tee "$pcap.bad" | wc -l)
	expect "$desc: segments netpath sent that tshark finds malformed or with bad checksums" "$badn" 0
	[ "$badn" -eq 0 ] || head -5 "$pcap.bad" | sed 's/^/     /'
}

ip link set lo up
sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 >/dev/null 2>&1

echo "# $NAME: namespace $NS, netpath $NP, examples $EX, logs in $TMP, big file $BIG_MB MiB, lossy extra $LOSSY_MB MiB"

# ---- the files served, from /dev/urandom ----
mkdir -p "$DATA/sub" || fail "cannot run: mkdir $DATA"
head -c 1024 /dev/urandom >"$DATA/1K"
head -c 1M /dev/urandom >"$DATA/1M"
head -c 64K /dev/urandom >"$DATA/64K"
head -c "${BIG_MB}M" /dev/urandom >"$DATA/big"
[ "$LOSSY_MB" -gt 0 ] && head -c "${LOSSY_MB}M" /dev/urandom >"$DATA/lossy"
head -c 10M /dev/urandom >"$TMP/10M"
echo "a file in a directory" >"$DATA/sub/file.txt"
ln -s /etc "$DATA/etc-link"           # a symbolic link out of the served directory
S1K=$(sha "$DATA/1K"); S1M=$(sha "$DATA/1M"); S64K=$(sha "$DATA/64K"); SBIG=$(sha "$DATA/big")
[ "$LOSSY_MB" -gt 0 ] && SLOSSY=$(sha "$DATA/lossy")
[ "$(stat -c %s "$DATA/big")" -eq $((BIG_MB * 1048576)) ] || fail "cannot run: could not write the ${BIG_MB} MiB file in $DATA"

# ==== (a) npt0: the HTTP server's behaviour, echo, discard, RST, and the capture ====
"$NP" run --tap npt0 --addr 10.79.0.2/24 --host-addr 10.79.0.1/24 --pcap "$TMP/np0.pcap" \
	--serve http="$DATA" --serve echo --serve discard >"$TMP/run0.out" 2>"$TMP/run0.err" &
NP_PID=$!
wait_ready "$TMP/run0.err" "netpath: npt0 up" "$NP_PID" || fail "netpath run --serve http did not come up on npt0"
MAC0=$(sed -n 's/.*npt0 up, .*mac \([0-9a-f:]*\).*/\1/p' "$TMP/run0.err")
line=$(grep "netpath: serving" "$TMP/run0.err")
for svc in "udp echo on port 7, udp discard on port 9" "tcp http on port 80 (files under" "tcp echo on port 7" "tcp discard on port 9"; do
	case "$line" in *"$svc"*) ok "announced: '$svc'" ;; *) bad "the serving line lacks '$svc': $line" ;; esac
done

curl_get "curl GET /1K from netpath" http://10.79.0.2/1K "$TMP/c1K" "$S1K"
curl_get "curl GET /1M from netpath" http://10.79.0.2/1M "$TMP/c1M" "$S1M"
head=$("${CURL[@]}" -I http://10.79.0.2/1M 2>&1 | tr -d '\r')
echo "$head" | grep -q "^HTTP/1.1 200 OK" && echo "$head" | grep -qi "^Content-Length: 1048576$" &&
	ok "HEAD /1M: 200 with Content-Length: 1048576 and no body" || bad "HEAD /1M: $head"
out=$("${CURL[@]}" -v -o /dev/null -o /dev/null http://10.79.0.2/1K http://10.79.0.2/64K 2>&1)
echo "$out" | grep -q "Re-using existing connection" && ok "keep-alive: curl's second request re-used the connection" ||
	bad "keep-alive: curl did not re-use the connection: $(echo "$out" | grep -i -E 'connect|close' | head -5)"
out=$(timeout 30 $HTTP pipeline 10.79.0.2 80 2>&1)
st=$?
expect "pipelining: $out" "$st" 0

code() { "${CURL[@]}" -o /dev/null -w '%{http_code}' "$@" 2>/dev/null; }
expect "GET /missing: 404" "$(code http://10.79.0.2/missing)" 404
expect "GET /../../etc/passwd (curl --path-as-is): 403, never a file outside DIR" \
	"$(code --path-as-is http://10.79.0.2/../../etc/passwd)" 403
expect "GET /%2e%2e/etc/passwd (an encoded ..): 403" "$(code 'http://10.79.0.2/%2e%2e/etc/passwd')" 403
expect "GET /etc-link/passwd (a symbolic link out of DIR): 403" "$(code http://10.79.0.2/etc-link/passwd)" 403
expect "POST /1K: 405" "$(code -X POST -d x http://10.79.0.2/1K)" 405
"${CURL[@]}" -i -X DELETE http://10.79.0.2/1K 2>/dev/null | tr -d '\r' | grep -qi "^Allow: GET, HEAD$" &&
	ok "405 says Allow: GET, HEAD" || bad "405 without 'Allow: GET, HEAD'"
expect "a 10,000-byte request target: 414" "$(code "http://10.79.0.2/$(head -c 10000 /dev/zero | tr '\0' a)")" 414
expect "a malformed request line: 400" "$(timeout 20 $HTTP raw 10.79.0.2 80 'GARBAGE\r\n\r\n')" "HTTP/1.1 400 Bad Request"
expect "HTTP/1.1 without Host: 400" "$(timeout 20 $HTTP raw 10.79.0.2 80 'GET /1K HTTP/1.1\r\n\r\n')" "HTTP/1.1 400 Bad Request"
expect "HTTP/2.0 in the request line: 505" "$(timeout 20 $HTTP raw 10.79.0.2 80 'GET /1K HTTP/2.0\r\nHost: x\r\n\r\n')" \
	"HTTP/1.1 505 HTTP Version Not Supported"
expect "HTTP/1.0 without Host: 200" "$(timeout 20 $HTTP raw 10.79.0.2 80 'GET /1K HTTP/1.0\r\n\r\n')" "HTTP/1.1 200 OK"
loc=$("${CURL[@]}" -o /dev/null -w '%{http_code} %{redirect_url}' http://10.79.0.2/sub 2>/dev/null)
expect "GET /sub (a directory): 301 to /sub/" "$loc" "301 http://10.79.0.2/sub/"
"${CURL[@]}" http://10.79.0.2/sub/ 2>/dev/null | grep -q 'href="file.txt"' && ok "GET /sub/: a listing with file.txt" ||
	bad "GET /sub/: no listing of file.txt"

# TCP echo and discard (RFC 862, 863) with the kernel's nc, and UDP echo still there.
timeout 60 nc -N 10.79.0.2 7 <"$DATA/1M" >"$TMP/echo1M" 2>"$TMP/nc.err"
st=$?
expect "nc through TCP echo (port 7): 1 MiB back with the same SHA-256 (nc exit $st)" "$(sha "$TMP/echo1M")" "$S1M"
timeout 60 nc -N 10.79.0.2 9 <"$DATA/1M" >"$TMP/discard.out" 2>&1
st=$?
expect "nc into TCP discard (port 9): 1 MiB sent, the server closed, nothing came back" "$st:$(stat -c %s "$TMP/discard.out")" "0:0"
out=$(echo "udp still echoes" | timeout 10 socat -t 2 - UDP4:10.79.0.2:7 2>&1)
expect "socat: UDP echo on port 7 answers beside TCP echo" "$out" "udp still echoes"

# A closed port: the SYN is answered with an RST; curl says "Connection refused" and exits 7.
out=$("${CURL[@]}" -v http://10.79.0.2:81/ 2>&1)
st=$?
if [ $st -eq 7 ] && echo "$out" | grep -q "Connection refused"; then
	ok "curl to closed port 81: exit 7, Connection refused"
else
	bad "curl to closed port 81: exit $st: $(echo "$out" | grep -i -E 'connect|refused' | head -3)"
fi

stop_pid "$NP_PID"
st=$?
NP_PID=
expect "netpath run (npt0) exits 0 on SIGTERM" "$st" 0
sed -n 's/^serve /     serve /p' "$TMP/run0.out"
reqs=$(sed -n 's/^serve http (tcp port 80): .* \([0-9]*\) requests.*/\1/p' "$TMP/run0.out")
at_least "serve http counted the requests" "${reqs:-0}" 20
echoed=$(sed -n 's/^serve echo (tcp port 7): .*, \([0-9]*\) bytes echoed.*/\1/p' "$TMP/run0.out")
expect "serve echo (tcp) echoed the 1 MiB" "${echoed:-0}" 1048576
discarded=$(sed -n 's/^serve discard (tcp port 9): .*, \([0-9]*\) bytes discarded.*/\1/p' "$TMP/run0.out")
expect "serve discard (tcp) threw away the 1 MiB" "${discarded:-0}" 1048576
at_least "TcpPassiveOpens" "$(counter TcpPassiveOpens "$TMP/run0.out")" 15
at_least "TcpOutRsts (the RST to port 81)" "$(counter TcpOutRsts "$TMP/run0.out")" 1
expect "TcpInCsumErrors" "$(counter TcpInCsumErrors "$TMP/run0.out")" 0
expect "TcpInErrs" "$(counter TcpInErrs "$TMP/run0.out")" 0
rst=$($TS -r "$TMP/np0.pcap" -Y "eth.src == $MAC0 && tcp.flags.reset == 1 && tcp.srcport == 81" 2>/dev/null | wc -l)
at_least "the capture holds netpath's RST from port 81" "$rst" 1
tshark_clean "npt0 capture" "$TMP/np0.pcap" "$MAC0"

# ==== (b) npt1: the big file, 200 downloads at once, 10 MiB through echo ====
"$NP" run --tap npt1 --addr 10.79.1.2/24 --host-addr 10.79.1.1/24 --serve http="$DATA" --serve echo \
	>"$TMP/run1.out" 2>"$TMP/run1.err" &
NP_PID=$!
wait_ready "$TMP/run1.err" "netpath: npt1 up" "$NP_PID" || fail "netpath run --serve http did not come up on npt1"
curl_get "curl GET the ${BIG_MB} MiB file from netpath" http://10.79.1.2/big "$TMP/cbig" "$SBIG"

mkdir -p "$TMP/par"
urls=()
for i in $(seq 200); do urls+=(-o "$TMP/par/$i" http://10.79.1.2/64K); done
start=$(date +%s.%N)
"${CURL[@]}" --parallel --parallel-immediate --parallel-max 200 "${urls[@]}" >"$TMP/par.log" 2>&1
st=$?
n=$(for f in "$TMP"/par/*; do sha "$f"; done | grep -c "^$S64K$")
expect "200 concurrent curl downloads of 64 KiB (curl --parallel --parallel-max 200, exit $st, $(elapsed "$start") s): intact" "$n" 200
rm -rf "$TMP/par"

start=$(date +%s.%N)
timeout 120 nc -N 10.79.1.2 7 <"$TMP/10M" >"$TMP/echo10M" 2>"$TMP/nc10.err"
st=$?
expect "nc: 10 MiB through TCP echo and back, same SHA-256 (nc exit $st, $(elapsed "$start") s)" "$(sha "$TMP/echo10M")" "$(sha "$TMP/10M")"
rm -f "$TMP/echo10M"

stop_pid "$NP_PID"
st=$?
NP_PID=
expect "netpath run (npt1) exits 0 on SIGTERM" "$st" 0
sed -n 's/^serve /     serve /p' "$TMP/run1.out"
conns=$(sed -n 's/^serve http (tcp port 80): \([0-9]*\) connections.*/\1/p' "$TMP/run1.out")
at_least "serve http accepted the 201 connections" "${conns:-0}" 201
expect "serve http: every response 2xx" "$(sed -n 's/^serve http.*requests (\([0-9]*\) 2xx.*/\1/p' "$TMP/run1.out")" "$conns"
grep -q "not served" "$TMP/run1.out" && bad "some connections were not served: $(grep 'not served' "$TMP/run1.out")" ||
	ok "no connection refused by the server for lack of threads"

# ==== (c) npt2: curl under 2% loss each way and 20 ms delay ====
iptables -A INPUT -i npt2 -m statistic --mode random --probability 0.02 -j DROP ||
	fail "iptables -m statistic failed (the kernel's side of the loss)"
"$NP" run --tap npt2 --addr 10.79.2.2/24 --host-addr 10.79.2.1/24 --faults-rx delay=20ms,loss=2%,seed=7 \
	--pcap "$TMP/np2.pcap" --serve http="$DATA" >"$TMP/run2.out" 2>"$TMP/run2.err" &
NP_PID=$!
wait_ready "$TMP/run2.err" "netpath: npt2 up" "$NP_PID" || fail "netpath run with faults did not come up on npt2"
MAC2=$(sed -n 's/.*npt2 up, .*mac \([0-9a-f:]*\).*/\1/p' "$TMP/run2.err")
curl_get "lossy: curl GET /1K" http://10.79.2.2/1K "$TMP/l1K" "$S1K"
curl_get "lossy: curl GET /1M" http://10.79.2.2/1M "$TMP/l1M" "$S1M"
[ "$LOSSY_MB" -gt 0 ] && curl_get "lossy: curl GET the ${LOSSY_MB} MiB file" http://10.79.2.2/lossy "$TMP/llossy" "$SLOSSY"
stop_pid "$NP_PID"
st=$?
NP_PID=
expect "netpath run (npt2) exits 0 on SIGTERM" "$st" 0
dropped_k=$(iptables -L INPUT -v -n -x | awk '$3 == "DROP" && $6 == "npt2" { print $1 }')
at_least "the kernel dropped segments from netpath (iptables)" "${dropped_k:-0}" 1
at_least "netpath's fault injection dropped segments from the kernel" "$(counter FAULT_INJECTED_LOSS "$TMP/run2.out")" 1
at_least "TcpRetransSegs (netpath repaired the kernel's drops)" "$(counter TcpRetransSegs "$TMP/run2.out")" 1
echo "     (netpath: TcpRetransSegs $(counter TcpRetransSegs "$TMP/run2.out"), TCPFastRetrans $(counter TcpExtTCPFastRetrans "$TMP/run2.out"), TCPTimeouts $(counter TcpExtTCPTimeouts "$TMP/run2.out"))"
tshark_clean "npt2 capture (under loss)" "$TMP/np2.pcap" "$MAC2"

# ==== (d) npt3: netpath get from the kernel's python3 -m http.server ====
# The TAP is made here and kept, so the servers can bind 10.79.3.1 while no netpath runs.
ip tuntap add dev npt3 mode tap && ip addr add 10.79.3.1/24 dev npt3 && ip link set npt3 up ||
	fail "cannot create the TAP npt3"
python3 -m http.server --bind 10.79.3.1 --directory "$DATA" 8000 >"$TMP/pyhttp.log" 2>&1 &
PY_PID=$!
$HTTP serve 10.79.3.1 8001 "$DATA" >"$TMP/pyframe.log" 2>&1 &
PY2_PID=$!
wait_ready "$TMP/pyframe.log" "ready" "$PY2_PID" || fail "tcp_http.py serve did not start"
for _ in $(seq 50); do
	python3 -c 'import socket; socket.create_connection(("10.79.3.1", 8000), 1)' 2>/dev/null && break
	sleep 0.1
done
np_get "netpath get /1K from python http.server" http://10.79.3.1:8000/1K "$TMP/g1K" "$S1K"
np_get "netpath get /1M from python http.server" http://10.79.3.1:8000/1M "$TMP/g1M" "$S1M"
np_get "netpath get the ${BIG_MB} MiB file from python http.server" http://10.79.3.1:8000/big "$TMP/gbig" "$SBIG"
np_get "netpath get /1M, chunked (RFC 9112 7.1)" http://10.79.3.1:8001/chunked/1M "$TMP/gch" "$S1M"
np_get "netpath get /1M, delimited by the server's close" http://10.79.3.1:8001/close/1M "$TMP/gcl" "$S1M"
timeout 60 "$NP" get --tap npt3 --addr 10.79.3.2/24 http://10.79.3.1:8009/ -o "$TMP/gno" >"$TMP/gno.log" 2>&1
st=$?
if [ $st -eq 1 ] && grep -q "Connection refused" "$TMP/gno.log"; then
	ok "netpath get from a closed kernel port: exit 1, Connection refused"
else
	bad "netpath get from a closed kernel port: exit $st: $(grep -v ' up, ' "$TMP/gno.log")"
fi
timeout 60 "$NP" get --tap npt3 --addr 10.79.3.2/24 http://10.79.3.1:8000/missing -o "$TMP/g404" >"$TMP/g404.log" 2>&1
st=$?
[ $st -eq 1 ] && grep -q "answered 404" "$TMP/g404.log" && ok "netpath get of a missing file: exit 1, 404" ||
	bad "netpath get of a missing file: exit $st: $(grep -v ' up, ' "$TMP/g404.log")"

timeout 120 "$EX/http_client" --tap npt3 --addr 10.79.3.2/24 -o "$TMP/hc1M" http://10.79.3.1:8000/1M >"$TMP/hc.log" 2>&1
st=$?
expect "examples/http_client: /1M from python http.server (exit $st)" "$(sha "$TMP/hc1M")" "$S1M"

# The same under loss: the kernel drops 2% of what netpath sends, netpath 2% of what it receives.
iptables -A INPUT -i npt3 -m statistic --mode random --probability 0.02 -j DROP ||
	fail "iptables -m statistic failed (the kernel's side of the loss)"
np_get "lossy: netpath get /1K" http://10.79.3.1:8000/1K "$TMP/lg1K" "$S1K" --faults-rx delay=20ms,loss=2%,seed=11
np_get "lossy: netpath get /1M" http://10.79.3.1:8000/1M "$TMP/lg1M" "$S1M" --faults-rx delay=20ms,loss=2%,seed=12
[ "$LOSSY_MB" -gt 0 ] && np_get "lossy: netpath get the ${LOSSY_MB} MiB file" http://10.79.3.1:8000/lossy "$TMP/lglossy" \
	"$SLOSSY" --faults-rx delay=20ms,loss=2%,seed=13 --counters
np_get "lossy: netpath get /1M, chunked" http://10.79.3.1:8001/chunked/1M "$TMP/lgch" "$S1M" --faults-rx delay=20ms,loss=2%,seed=14
dropped_k=$(iptables -L INPUT -v -n -x | awk '$3 == "DROP" && $6 == "npt3" { print $1 }')
at_least "the kernel dropped segments from netpath get (iptables)" "${dropped_k:-0}" 1
stop_pid "$PY_PID"
PY_PID=
stop_pid "$PY2_PID"
PY2_PID=

# ==== (e) the example programs ====
"$EX/tcp_echo_server" --tap npt0 --addr 10.79.0.2/24 --host-addr 10.79.0.1/24 >"$TMP/tes.out" 2>"$TMP/tes.err" &
EX_PID=$!
wait_ready "$TMP/tes.err" "npt0 up" "$EX_PID" || fail "examples/tcp_echo_server did not come up on npt0"
timeout 60 nc -N 10.79.0.2 7 <"$DATA/1M" >"$TMP/tes1M" 2>&1
expect "examples/tcp_echo_server: 1 MiB through echo with nc" "$(sha "$TMP/tes1M")" "$S1M"
timeout 60 nc -N 10.79.0.2 9 <"$DATA/1M" >/dev/null 2>&1
expect "examples/tcp_echo_server: nc into discard ends when the server closes" "$?" 0
stop_pid "$EX_PID"
st=$?
EX_PID=
expect "examples/tcp_echo_server exits 0 on SIGTERM ($(cat "$TMP/tes.out"))" "$st" 0
grep -q "1048576 bytes echoed, 1048576 bytes discarded" "$TMP/tes.out" && ok "tcp_echo_server counted the bytes" ||
	bad "tcp_echo_server summary: $(cat "$TMP/tes.out")"

"$EX/http_server" --tap npt1 --addr 10.79.1.2/24 --host-addr 10.79.1.1/24 "$DATA" >"$TMP/hs.out" 2>"$TMP/hs.err" &
EX_PID=$!
wait_ready "$TMP/hs.err" "npt1 up" "$EX_PID" || fail "examples/http_server did not come up on npt1"
curl_get "examples/http_server: curl GET /1M" http://10.79.1.2/1M "$TMP/hs1M" "$S1M"
expect "examples/http_server: GET /missing" "$(code http://10.79.1.2/missing)" 404
expect "examples/http_server: GET /../etc/passwd" "$(code --path-as-is http://10.79.1.2/../etc/passwd)" 403
stop_pid "$EX_PID"
st=$?
EX_PID=
expect "examples/http_server exits 0 on SIGTERM" "$st" 0

for ex in tcp_echo_server http_server http_client; do
	timeout 120 "$EX/$ex" >"$TMP/$ex.inproc" 2>&1
	st=$?
	expect "examples/$ex without a TAP (two stacks in one process): $(tail -1 "$TMP/$ex.inproc")" "$st" 0
done

echo "# $NAME: $CHECKS checks, $FAILURES failed, $(elapsed "$T0") s"
[ "$FAILURES" -eq 0 ] || exit 1
echo "PASS: $NAME"
exit 0
