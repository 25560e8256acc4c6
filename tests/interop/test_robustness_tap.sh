#!/usr/bin/env bash
# Interop run of the malformed-input and attack suite (tests/robustness/)
# through a real TAP: the same test_robustness binary and the same case
# table, but every frame is written by the Linux kernel's side (an AF_PACKET
# socket on the TAP's kernel end) and every reply is read back there.
# Inside a network namespace of its own (nprt-PID, TAP nprt0, no addresses:
# the kernel must stay silent on the link).
#   test_robustness --sendto--> kernel nprt0 --tun--> netpath tap_poll -> stack
#   test_robustness <-recvfrom- kernel nprt0 <-tun--- netpath tap_xmit <- stack
# Checks: exit status 0, "N cases via TAP, M in-process only" with N >= 45
# and N + M = the in-process run's case count, every TAP case passed, the
# TAP is gone afterwards, and without root the binary fails (never skips).
# Usage: test_robustness_tap.sh /path/to/netpath   (as root; the suite is
# BUILD/tests/test_robustness next to BUILD/netpath)
set -u

NP=${1:-}
NAME=test_robustness_tap

. "$(dirname "$0")/lib.sh"

[ -n "$NP" ] || fail "cannot run: give the netpath binary as the first argument"
[ -x "$NP" ] || fail "cannot run: $NP is not an executable"
BIN=$(cd "$(dirname "$NP")" && pwd)/tests/test_robustness
[ -x "$BIN" ] || fail "cannot run: $BIN is missing (cmake --build $(dirname "$NP") --target test_robustness)"
[ "$(id -u)" -eq 0 ] || fail "cannot run: needs root (it creates a network namespace and a TAP)"
for tool in ip setpriv grep sed date; do
	command -v "$tool" >/dev/null 2>&1 || fail "cannot run: '$tool' is missing (./scripts/test.sh installs it)"
done
[ -c /dev/net/tun ] || fail "cannot run: /dev/net/tun is missing"

NS=nprt-$$
TAP=nprt0
TMP=$(mktemp -d /tmp/nprt.XXXXXX) || fail "cannot run: mktemp failed"
CHECKS=0
FAILURES=0
cleanup() {
	ip netns del "$NS" 2>/dev/null
	keep_or_remove_tmp
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 1' INT TERM
ip netns add "$NS" || fail "cannot run: ip netns add $NS failed"

# The in-process run gives the number of cases (tests run minus all_cases_on_one_stack).
"$BIN" >"$TMP/inproc.log" 2>&1
expect "in-process run exit status" "$?" 0
total=$(sed -n 's/^\[=*\] \([0-9]*\) test(s) run\./\1/p' "$TMP/inproc.log")
total=$(( ${total:-1} - 1 ))

t0=$(date +%s%N)
ip netns exec "$NS" "$BIN" --tap "$TAP" >"$TMP/tap.log" 2>&1
rc=$?
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
expect "TAP run exit status" "$rc" 0
plan=$(grep -m1 'cases via TAP' "$TMP/tap.log")
echo "     $plan"
echo "     TAP run took $ms ms"
via=$(echo "$plan" | sed -n 's/^\([0-9]*\) cases via TAP, \([0-9]*\) in-process only.*/\1/p')
inproc=$(echo "$plan" | sed -n 's/^\([0-9]*\) cases via TAP, \([0-9]*\) in-process only.*/\2/p')
at_least "cases via TAP" "${via:-0}" 45
expect "cases via TAP + in-process only = all cases" "$(( ${via:-0} + ${inproc:-0} ))" "$total"
expect "TAP tests passed (cases + one-stack run)" \
	"$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$TMP/tap.log")" "$(( ${via:-0} + 1 ))"
expect "failed TAP tests" "$(grep -c '^\[  FAILED  \] [a-z]' "$TMP/tap.log")" 0
if ip netns exec "$NS" ip link show "$TAP" >/dev/null 2>&1; then
	bad "the TAP $TAP outlived the run"
else
	ok "the TAP $TAP was removed by the run"
fi

# Without privileges the TAP run must fail loudly, not skip.
ip netns exec "$NS" setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
	"$BIN" --tap "$TAP" >"$TMP/noroot.log" 2>&1
rc=$?
if [ "$rc" -ne 0 ] && grep -q 'FAIL: test_robustness via TAP cannot run' "$TMP/noroot.log"; then
	ok "unprivileged TAP run fails loudly (exit $rc)"
else
	bad "unprivileged TAP run: exit $rc, output: $(head -3 "$TMP/noroot.log")"
fi

if [ "$FAILURES" -ne 0 ]; then
	echo "--- test_robustness --tap $TAP (failures) ---" >&2
	grep -B2 -A6 -E 'ERROR|FAILED|FAIL:' "$TMP/tap.log" | head -80 >&2
fi
echo "# $NAME: $CHECKS checks, $FAILURES failed"
[ "$FAILURES" -eq 0 ] || exit 1
echo "PASS: $NAME"
exit 0
