#!/usr/bin/env bash
# Builds the libFuzzer targets in tests/fuzz with clang (fuzzer + ASan +
# UBSan) straight from the library sources, then runs each one.
#   tests/fuzz/run.sh            CI smoke: each target for 10 s
#   tests/fuzz/run.sh 600        each target for 600 s (make fuzz: FUZZ_SECONDS, default 300)
#   tests/fuzz/run.sh 60 fuzz_frame fuzz_tcp_session   only these targets
#   FUZZ_BUILD=/tmp/fz  FUZZ_JOBS=2  FUZZ_CC=clang-14   (overrides)
# Targets run one after another (one core each); the last lines print, per
# target, the executions, the coverage (libFuzzer's cov: edges and ft:
# features), the corpus size and the crashes found.
# Needs clang and its libFuzzer runtime (Debian: clang, libclang-rt-14-dev),
# libpcap-dev. The seed corpus of each target is tests/fuzz/corpus/<target>;
# what a run finds goes to $FUZZ_BUILD/corpus/<target> (not the tree), and a
# crash leaves its reproducer in $FUZZ_BUILD/crashes/ and fails the script.
# Reproduce one: $FUZZ_BUILD/<target> path/to/crash-file
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SECS=${1:-10}
# libFuzzer reads -max_total_time=0 as "forever": refuse it.
[[ "$SECS" =~ ^[1-9][0-9]*$ ]] || { echo "error: seconds must be a positive integer, got '$SECS'" >&2; exit 2; }
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(fuzz_frame fuzz_tcp_options fuzz_ipv4_reasm fuzz_tcp_session fuzz_socket_api)
CC=${FUZZ_CC:-clang}
OUT=${FUZZ_BUILD:-$ROOT/build-fuzz}
# Absolute, because each target runs from inside $OUT/crashes.
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
JOBS=${FUZZ_JOBS:-2}

command -v "$CC" >/dev/null || { echo "error: $CC not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }

CFLAGS=(-g -O1 -std=gnu11 -fno-omit-frame-pointer -fno-strict-aliasing -D_GNU_SOURCE
	-I"$ROOT/include" -I"$ROOT/src" -I"$ROOT/tests"
	-fsanitize=address,undefined -fno-sanitize-recover=undefined)
mkdir -p "$OUT/obj" "$OUT/corpus" "$OUT/crashes"

# The library, once, instrumented for coverage but without libFuzzer's main.
echo ">>> fuzz: compiling the library with $CC into $OUT"
# A header newer than the last build invalidates every object (struct layouts change).
if [ -f "$OUT/obj/.stamp" ] && [ -n "$(find "$ROOT/src" "$ROOT/include" -name '*.h' -newer "$OUT/obj/.stamp" | head -1)" ]; then
	rm -f "$OUT"/obj/*.o
fi
objs=()
todo=()
while IFS= read -r src; do
	rel=${src#"$ROOT/src/"}
	obj="$OUT/obj/${rel//\//_}.o"
	objs+=("$obj")
	if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ]; then
		todo+=("$src")
	fi
done < <(find "$ROOT/src" -name '*.c' | sort)
compile_one() {
	local src=$1 rel=${1#"$ROOT/src/"}
	"$CC" "${CFLAGS[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$OUT/obj/${rel//\//_}.o"
}
# A file that fails to compile fails the script here, not later as an undefined symbol.
running=0
failed=0
for src in "${todo[@]}"; do
	compile_one "$src" &
	running=$((running + 1))
	if [ "$running" -ge "$JOBS" ]; then
		wait -n || failed=1
		running=$((running - 1))
	fi
done
while [ "$running" -gt 0 ]; do
	wait -n || failed=1
	running=$((running - 1))
done
[ "$failed" = 0 ] || { echo "error: the library did not compile with $CC" >&2; exit 1; }
touch "$OUT/obj/.stamp"

for t in "${TARGETS[@]}"; do
	echo ">>> fuzz: linking $t"
	"$CC" "${CFLAGS[@]}" -Wall -Wextra -Wshadow -Wstrict-prototypes -Werror -fsanitize=fuzzer "$HERE/$t.c" \
		"${objs[@]}" -lpcap -lpthread -o "$OUT/$t"
done

status=0
summary=()
for t in "${TARGETS[@]}"; do
	mkdir -p "$OUT/corpus/$t"
	seeds=()
	[ -d "$HERE/corpus/$t" ] && seeds=("$HERE/corpus/$t")
	touch "$OUT/.start-$t"
	echo ">>> fuzz: running $t for $SECS s"
	if ! (cd "$OUT/crashes" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
		"$OUT/$t" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$OUT/crashes/$t-" "$OUT/corpus/$t" "${seeds[@]}" 2>&1 | tee "$OUT/$t.log" | grep -aE "^#[0-9]+[[:space:]]+(INITED|DONE)|ERROR|SUMMARY|stat::number_of_executed_units|stat::peak_rss|cov:" | tail -5
		exit "${PIPESTATUS[0]}"); then
		echo "!!! fuzz: $t FAILED (log $OUT/$t.log, reproducers in $OUT/crashes)" >&2
		status=1
	fi
	# The numbers libFuzzer printed last: executions, edges (cov), features (ft), corpus entries.
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$t.log" | tail -1)
	last=$(grep -aE '^#[0-9]+[[:space:]]' "$OUT/$t.log" | tail -1 || true)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
	# Reproducers (crash-, leak-, timeout-, oom-) this run wrote.
	crashes=$(find "$OUT/crashes" -name "$t-*" -newer "$OUT/.start-$t" | wc -l)
	summary+=("$(printf '%-18s %5ss %12s %8s %8s %8s %8s' "$t" "$SECS" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$crashes")")
done
echo ">>> fuzz: summary"
printf '%-18s %6s %12s %8s %8s %8s %8s\n' target time executions cov ft corpus crashes
printf '%s\n' "${summary[@]}"
exit $status
