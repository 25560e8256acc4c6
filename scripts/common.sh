#!/usr/bin/env bash
# Shared by scripts/demo.sh and scripts/test.sh (sourced, not run):
# installs missing Debian packages and builds netpath.

# Runs a command as root: directly when root, else through sudo.
np_as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		echo "error: need root to run: $* (install sudo or run as root)" >&2
		return 1
	fi
}

# Installs the Debian packages given that are not installed yet; does nothing when all are.
np_install_missing() {
	local missing=() p
	for p in "$@"; do
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
			missing+=("$p")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "error: missing packages (${missing[*]}) and no apt-get; install them by hand" >&2
		return 1
	fi
	echo ">>> installing: ${missing[*]}"
	# tshark asks whether non-root users may capture; answer no without a prompt.
	echo "wireshark-common wireshark-common/install-setuid boolean false" |
		np_as_root debconf-set-selections 2>/dev/null || true
	np_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	np_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
		-o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}"
}

# np_build DIR [cmake args...]: configures and builds netpath into DIR.
np_build() {
	local dir=$1
	shift
	echo ">>> building $dir $*"
	cmake -S . -B "$dir" "$@" >/dev/null
	cmake --build "$dir" -j "$(nproc 2>/dev/null || echo 2)"
}

NP_BUILD_PACKAGES=(cmake gcc make pkg-config libpcap-dev libcmocka-dev)
NP_TEST_PACKAGES=(iproute2 iputils-ping iputils-arping tshark socat netcat-openbsd iptables python3 python3-scapy curl traceroute ethtool util-linux)

# clang and its libFuzzer runtime: tests/fuzz/run.sh (the fuzz smoke in scripts/test.sh).
NP_FUZZ_PACKAGES=(clang libclang-rt-14-dev)

# Tests in which several threads drive stacks and sockets; test.sh runs them under ThreadSanitizer.
NP_THREADED_TESTS='^(test_socket_threads|test_cable_ping|test_udp_sockets|test_tcp_threads|test_event_loop|test_busy_poll)$'
