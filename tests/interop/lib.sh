# Shared by the interop tests (sourced): reporting, waiting and reading
# netpath's counters. Each test sets NAME before sourcing and CHECKS=0
# FAILURES=0 before its first check.

fail() { echo "FAIL: $NAME: $*" >&2; exit 1; }
ok() { CHECKS=$((CHECKS + 1)); echo "ok   - $*"; }
bad() { CHECKS=$((CHECKS + 1)); FAILURES=$((FAILURES + 1)); echo "FAIL - $*"; }
# At exit: $TMP stays (and says where) when a check failed or KEEP_TMP=1, else it goes.
keep_or_remove_tmp() {
	if [ "$FAILURES" -ne 0 ] || [ "${KEEP_TMP:-0}" = 1 ]; then
		echo "logs kept in $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
expect() { if [ "$2" = "$3" ]; then ok "$1 ($2)"; else bad "$1: got '$2', expected '$3'"; fi; }
at_least() { if [ "$2" -ge "$3" ] 2>/dev/null; then ok "$1 ($2 >= $3)"; else bad "$1: got '$2', expected >= $3"; fi; }
# stop_pid PID: SIGTERM, wait up to 10 s, then SIGKILL; returns the process's exit status.
stop_pid() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "pid $pid ignored SIGTERM for 10 s; killing it" >&2
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
}

# wait_ready FILE PATTERN PID: waits until FILE holds PATTERN; fails if PID exits first or after 10 s.
wait_ready() {
	local file=$1 pat=$2 pid=$3
	for _ in $(seq 100); do
		grep -q -- "$pat" "$file" 2>/dev/null && return 0
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "--- $file (process exited) ---" >&2; cat "$file" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "--- $file (no '$pat' after 10 s) ---" >&2; cat "$file" >&2
	return 1
}

# Value of a counter in netpath's counters output ("IpReasmOKs 3", "drop DUP_FRAG 1"); 0 if absent.
counter() {
	awk -v n="$1" '{ for (i = 1; i < NF; i++) if ($i == n) v = $(i + 1) } END { print (v == "" ? 0 : v) }' "$2"
}

