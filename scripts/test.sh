#!/usr/bin/env bash
# Installs what is missing (Debian), builds netpath twice (build/ normal,
# build-asan/ with AddressSanitizer + UndefinedBehaviorSanitizer) and runs
# every test on both: unit and scenario tests, then the interop tests
# against the Linux kernel, which need root and FAIL (never skip) without it.
# Exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

export DEBIAN_FRONTEND=noninteractive
np_install_missing "${NP_BUILD_PACKAGES[@]}" "${NP_TEST_PACKAGES[@]}" "${NP_FUZZ_PACKAGES[@]}"

if [ "$(id -u)" -ne 0 ]; then
	cat >&2 <<'MSG'
************************************************************************
* The interop tests need root: they create network namespaces and TAP  *
* devices and talk to the Linux kernel. Not root, so they WILL FAIL.   *
* Run: sudo ./scripts/test.sh                                          *
************************************************************************
MSG
fi

np_build build
np_build build-asan -DNP_SANITIZE=ON
# ThreadSanitizer for the tests where several threads drive stacks and sockets.
np_build build-tsan -DNP_TSAN=ON

status=0
jobs=$(nproc 2>/dev/null || echo 2)
for dir in build build-asan; do
	echo ">>> $dir: unit and scenario tests"
	ctest --test-dir "$dir" --output-on-failure -L unit -j "$jobs" || status=1
	echo ">>> $dir: interop tests (root, network namespaces)"
	ctest --test-dir "$dir" --output-on-failure -L interop || status=1
done

echo ">>> build-tsan: threaded tests under ThreadSanitizer"
# Any race report fails the test (TSan's exit code), as does a hang (ctest timeout).
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
	ctest --test-dir build-tsan --output-on-failure -R "$NP_THREADED_TESTS" || status=1

echo ">>> fuzz smoke: each libFuzzer target for 10 s (tests/fuzz/run.sh)"
FUZZ_BUILD=build-fuzz FUZZ_JOBS="$jobs" tests/fuzz/run.sh 10 || status=1

if [ $status -eq 0 ]; then
	echo ">>> all tests passed (build/ and build-asan/, threaded tests on build-tsan/)"
else
	echo ">>> SOME TESTS FAILED (see above)" >&2
fi
exit $status
