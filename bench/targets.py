#!/usr/bin/env python3
"""Issue 6's targets against a bench run: reads the JSON bench/run.sh wrote
and prints, as a Markdown table, each target, the figure's value, what it
is compared with, and whether this run met it. The targets are ratios
within one run (or absolute bytes/connections), so they can be judged on a
noisy machine; run.sh never fails on them.

usage: bench/targets.py [RESULTS.json]   (default bench/results.json)
"""
import json
import sys

# (figure id, what is compared, kind, threshold, text of the target)
#   kind "peer": netpath / peer >= threshold
#   kind "ceiling": netpath / ceiling >= threshold
#   kind "max": netpath <= threshold (lower is better)
#   kind "min": netpath >= threshold
TARGETS = [
    ("tcp_stream_cable_offload", "peer", 1.0, "in-process cable TCP >= 1.0x the kernel's loopback TCP, one core"),
    ("tcp_stream_tap_rx_plain", "ceiling", 0.9, "kernel -> netpath over TAP, plain frames >= 0.9x the raw TAP read ceiling"),
    ("tcp_stream_tap_rx_offload", "peer", 0.7, "kernel -> netpath over TAP with offloads >= 0.7x kernel-to-kernel veth"),
    ("tcp_stream_tap_tx_offload", "peer", 1.0, "netpath -> kernel over TAP with GSO >= 1.0x kernel-to-kernel veth"),
    ("udp_echo_64_tap", "ceiling", 0.8, "64-byte UDP echo >= 0.8x the raw TAP read+write ceiling (threaded)"),
    ("udp_echo_64_tap_evloop", "ceiling", 0.8, "64-byte UDP echo >= 0.8x the raw TAP read+write ceiling (event loop)"),
    ("udp_echo_64_tap_busypoll", "ceiling", 0.8, "64-byte UDP echo >= 0.8x the raw TAP read+write ceiling (threaded, busy poll)"),
    ("tcp_rr_1_tap_2core", "peer", 1.0, "1-byte request/response >= 1.0x the kernel over veth, two cores (threaded)"),
    ("tcp_rr_1_tap_2core_evloop", "peer", 1.0, "1-byte request/response >= 1.0x the kernel over veth, two cores (event loop)"),
    ("tcp_rr_1_tap_2core_busypoll", "peer", 1.0, "1-byte request/response >= 1.0x the kernel over veth, two cores (threaded, busy poll)"),
    ("tcp_rr_1_tap_1core", "peer", 1.0, "1-byte request/response >= 1.0x the kernel over veth, one core (threaded)"),
    ("tcp_rr_1_tap_1core_evloop", "peer", 1.0, "1-byte request/response >= 1.0x the kernel over veth, one core (event loop)"),
    ("tcp_rr_1_tap_1core_busypoll", "peer", 1.0, "1-byte request/response >= 1.0x the kernel over veth, one core (threaded, busy poll)"),
    ("tcp_crr_tap", "peer", 1.0, "connection rate >= 1.0x the kernel over veth (threaded)"),
    ("tcp_crr_tap_evloop", "peer", 1.0, "connection rate >= 1.0x the kernel over veth (event loop)"),
    ("tcp_crr_tap_busypoll", "peer", 1.0, "connection rate >= 1.0x the kernel over veth (threaded, busy poll)"),
    ("tcp_conn_mem_nofd", "max", 1024, "<= 1 KiB per idle established connection (end)"),
    ("tcp_conn_max_1gib_cable", "min", 1000000, "1,000,000 concurrent connections within 1 GiB (two stacks)"),
    ("tcp_rr_10k_vs_1", "peer", 0.8, "10,000-connection request/response rate >= 0.8x the one-connection rate"),
]


def fmt(v):
    if v is None:
        return "-"
    if v >= 100000:
        return f"{v / 1000:.0f}k"
    if v >= 100:
        return f"{v:.0f}"
    return f"{v:.2f}"


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "bench/results.json"
    with open(path) as f:
        data = json.load(f)
    figs = {f["id"]: f for f in data["figures"]}
    print("| target | netpath | compared with | ratio | met |")
    print("|---|---|---|---|---|")
    for fid, kind, thr, text in TARGETS:
        f = figs.get(fid)
        np_med = ((f or {}).get("netpath") or {}).get("median")
        if f is None or np_med is None:
            print(f"| {text} | not measured | - | - | - |")
            continue
        if kind in ("peer", "ceiling"):
            other = (f.get(kind) or {}).get("median")
            if not other:
                print(f"| {text} | {fmt(np_med)} | no {kind} | - | - |")
                continue
            ratio = np_med / other
            met = ratio >= thr
            print(f"| {text} | {fmt(np_med)} | {kind} {fmt(other)} | {ratio:.2f} | {'yes' if met else 'no'} |")
        elif kind == "max":
            met = np_med <= thr
            print(f"| {text} | {fmt(np_med)} B | {thr} B | - | {'yes' if met else 'no'} |")
        else:
            met = np_med >= thr
            print(f"| {text} | {fmt(np_med)} | {fmt(thr)} | {np_med / thr:.2f} | {'yes' if met else 'no'} |")


if __name__ == "__main__":
    main()
