#!/usr/bin/env bash
# Runs packetdrill scripts against netpath through the shared-object adapter
# (build/libnetpath-packetdrill.so). A manual tool: packetdrill is not part
# of netpath and is not packaged by Debian, so build it yourself first (see
# docs/packetdrill.md) and put it on PATH or in $NP_PACKETDRILL.
#
#   tools/packetdrill/run-scripts.sh [options] SCRIPT.pkt...
#     --packetdrill PATH   the packetdrill binary ($NP_PACKETDRILL, else PATH)
#     --so PATH            the adapter (default: build/libnetpath-packetdrill.so)
#     --local-ip A.B.C.D   the stack's address (default 192.168.0.2)
#     --flags "K=V ..."    more adapter flags (see docs/packetdrill.md)
#     --allow-shell        keep the scripts' `shell commands` (they run on the HOST)
#     -v                   pass -v to packetdrill
#     -- ARGS              pass the remaining ARGS to packetdrill
#
# Scripts often start with `../common/defaults.sh` or `sysctl ...` lines:
# in shared-object mode those would reconfigure the host's kernel, not
# netpath, so by default they are commented out (line numbers are kept).
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
pd="${NP_PACKETDRILL:-}"
so="$root/build/libnetpath-packetdrill.so"
local_ip=192.168.0.2
flags=""
allow_shell=0
verbose=()
extra=()
scripts=()

die() { echo "run-scripts: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
	case "$1" in
	--packetdrill) pd="$2"; shift 2 ;;
	--so) so="$2"; shift 2 ;;
	--local-ip) local_ip="$2"; shift 2 ;;
	--flags) flags="$2"; shift 2 ;;
	--allow-shell) allow_shell=1; shift ;;
	-v) verbose=(-v); shift ;;
	-h|--help) sed -n '2,20p' "$0"; exit 0 ;;
	--) shift; extra=("$@"); break ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) scripts+=("$1"); shift ;;
	esac
done

[ ${#scripts[@]} -gt 0 ] || die "no scripts given (see --help)"
if [ -z "$pd" ]; then
	pd="$(command -v packetdrill || true)"
fi
if [ -z "$pd" ] || [ ! -x "$pd" ]; then
	die "FAIL: packetdrill not found. Build it outside this repository (docs/packetdrill.md) and
  put it on PATH, set NP_PACKETDRILL=/path/to/packetdrill, or pass --packetdrill PATH."
fi
[ -f "$so" ] || die "FAIL: adapter $so not found: cmake --build build --target netpath_packetdrill
  (configure without -DNP_SANITIZE=ON: packetdrill loads it with RTLD_DEEPBIND, which ASan refuses)"
[ "$(id -u)" = 0 ] || echo "run-scripts: warning: packetdrill locks its memory (mlockall) and may need root" >&2

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Comments out `shell command` events (one line or a multi-line block), keeping line numbers.
strip_shell() {
	awk '
	function ticks(s,   n, i) { n = 0; for (i = 1; i <= length(s); i++) if (substr(s, i, 1) == "`") n++; return n }
	{
		if (open) {
			print "// [run-scripts: host command removed] " $0
			if (ticks($0) % 2 == 1) open = 0
			next
		}
		if ($0 ~ /^[ \t]*([-+*.0-9~]+[ \t]+)?`/) {
			print "// [run-scripts: host command removed] " $0
			if (ticks($0) % 2 == 1) open = 1
			removed++
			next
		}
		print
	}
	END { if (removed) printf("run-scripts: %s: %d host command(s) commented out\n", FILENAME, removed) > "/dev/stderr" }
	' "$1"
}

pass=0
fail=0
failed=()
for s in "${scripts[@]}"; do
	[ -f "$s" ] || { echo "run-scripts: $s: no such file" >&2; fail=$((fail + 1)); failed+=("$s"); continue; }
	run="$s"
	if [ "$allow_shell" = 0 ]; then
		# Keep the script's directory layout relative to nothing: packetdrill only reads the file.
		run="$tmp/$(basename "$s")"
		strip_shell "$s" > "$run"
	fi
	start=$(date +%s.%N)
	if "$pd" "${verbose[@]}" --ip_version=ipv4 --local_ip="$local_ip" \
		--so_filename="$so" --so_flags="local_ip=$local_ip $flags" "${extra[@]}" "$run"; then
		res=PASS
		pass=$((pass + 1))
	else
		res=FAIL
		fail=$((fail + 1))
		failed+=("$s")
	fi
	printf '%s  %s  (%ss)\n' "$res" "$s" "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')"
done

echo "run-scripts: $pass passed, $fail failed"
for f in "${failed[@]}"; do
	echo "  failed: $f"
done
[ "$fail" = 0 ]
