#!/usr/bin/env bash
# Reduced fault-injection soak for CI (issue 7): tests/soak/run.sh --quick,
# i.e. 2 MiB each way at 0% and 5% loss (netpath's injector also reorders 5%,
# duplicates 1% and corrupts 0.1% both ways), one seed, on every path:
#   netpath <-> netpath over the in-process cable (soak/soak_cable, virtual clock)
#   netpath -> Linux (curl from netpath run --serve http) and Linux -> netpath
#   (netpath get from python3 -m http.server) over TAPs, iptables random drop
#   on the kernel's side, and the Linux -> Linux baseline over a veth pair.
# Asserts every transfer arrived with an equal SHA-256 and none aborted. The
# full grid (100 MiB, 3 seeds, 0/1/5/10%) is `tests/soak/run.sh` (see
# docs/robustness.md); no speed is asserted here.
# Usage: test_soak.sh /path/to/netpath   (as root; never skips: FAILs if it cannot run)
set -u

NP=${1:-}
HERE=$(cd "$(dirname "$0")" && pwd)
NAME=test_soak
. "$HERE/lib.sh"

[ -n "$NP" ] || fail "cannot run: give the netpath binary as the first argument"
[ -x "$NP" ] || fail "cannot run: $NP is not an executable"
CABLE=$(cd "$(dirname "$NP")" && pwd)/soak/soak_cable
[ -x "$CABLE" ] || fail "cannot run: $CABLE is missing (build the soak_cable target)"
[ "$(id -u)" -eq 0 ] || fail "cannot run: needs root (network namespaces, TAP devices, iptables); run ./scripts/test.sh as root"

TMP=$(mktemp -d /tmp/npsoak.XXXXXX) || fail "cannot run: mktemp failed"
trap 'rm -rf "$TMP"' EXIT
CHECKS=0
FAILURES=0

echo "# $NAME: netpath $NP, report in $TMP"
timeout 300 bash "$HERE/../soak/run.sh" --quick --netpath "$NP" --out "$TMP/soak.md" >"$TMP/run.log" 2>&1
st=$?
sed -n 's/^  \(cable\|tap\|veth\) /     \1 /p' "$TMP/run.log"
expect "tests/soak/run.sh --quick exits 0 (every SHA-256 equal, no abort)" "$st" 0
[ $st -eq 0 ] || tail -20 "$TMP/run.log" | sed 's/^/     /'
TSV=$TMP/soak.tsv
[ -f "$TSV" ] || fail "run.sh wrote no results ($TSV): $(tail -5 "$TMP/run.log")"
# 2 cells: the cable gives 2 directions, the TAPs 2, the veth baseline 1.
expect "transfers run" "$(awk 'NR > 1' "$TSV" | wc -l)" 10
for p in "cable A-B" "cable B-A" "tap np-Linux" "tap Linux-np" "veth Linux-Linux"; do
	set -- $p
	expect "$1 $2: transfers with an equal SHA-256 and no abort (of 2)" \
		"$(awk -F'\t' -v p="$1" -v d="$2" '$1 == p && $2 == d && $11 == 0 && $12 == "ok"' "$TSV" | wc -l)" 2
done
# The faults must really have acted: drops by netpath's injector and by iptables in the 5% cell.
for p in "cable A-B" "tap np-Linux" "tap Linux-np" "veth Linux-Linux"; do
	set -- $p
	at_least "$1 $2 at 5% loss: packets dropped" "$(awk -F'\t' -v p="$1" -v d="$2" '$1 == p && $2 == d && $3 == 5 { print $10 }' "$TSV")" 1
	at_least "$1 $2 at 5% loss: the sender retransmitted" "$(awk -F'\t' -v p="$1" -v d="$2" '$1 == p && $2 == d && $3 == 5 { print $8 }' "$TSV")" 1
done
grep -q "^| loss | cable A→B" "$TMP/soak.md" && ok "the markdown report has its table" || bad "no table in $TMP/soak.md"

echo "# $NAME: $CHECKS checks, $FAILURES failed"
[ "$FAILURES" -eq 0 ] || { cp -r "$TMP" "$TMP.kept" 2>/dev/null; echo "logs kept in $TMP.kept" >&2; exit 1; }
echo "PASS: $NAME"
exit 0
