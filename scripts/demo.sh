#!/usr/bin/env bash
# Installs what is missing (Debian), builds netpath into build/ and runs the demo:
# two stacks joined by a virtual cable, ARP, pings and each packet's path.
# Extra arguments go to `netpath demo` (e.g. --trace, --pcap demo.pcap).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

export DEBIAN_FRONTEND=noninteractive
np_install_missing "${NP_BUILD_PACKAGES[@]}"
np_build build
exec build/netpath demo "$@"
