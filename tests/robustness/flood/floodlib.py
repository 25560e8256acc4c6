#!/usr/bin/env python3
# Helpers of the memory-under-flood runs (tests/robustness/flood/run.sh and
# tests/interop/test_floods.sh), one subcommand each:
#   rss PID CSV             samples the process's VmRSS every 100 ms until it exits
#   legit HOST PORT SECS CSV [RATE]
#                           the legitimate client during a SYN flood: kernel sockets
#                           connect, exchange 16 bytes, close; success and connect
#                           latency per second
#   gauges NPOUT CSV        turns netpath's periodic counter prints (--counters-interval)
#                           into one CSV row per print and prints each column's peak
#   window CSV T0 T1        baseline (median before T0), peak (T0..T1+tail), end (last
#                           samples) of an rss CSV, as key=value lines
#   table DIR               the summary table of every DIR/*.kv (one per flood)
import os
import signal
import socket
import statistics
import sys
import threading
import time


def rss(pid, path):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    tick = os.sysconf("SC_CLK_TCK")
    with open(path, "w") as out:
        out.write("t,rss_kb,cpu_ms\n")
        while not stop:
            try:
                with open(f"/proc/{pid}/status") as f:
                    kb = next((int(l.split()[1]) for l in f if l.startswith("VmRSS:")), None)
                with open(f"/proc/{pid}/stat") as f:
                    st = f.read().rsplit(")", 1)[1].split()
                cpu = (int(st[11]) + int(st[12])) * 1000 // tick    # utime + stime
            except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
                break
            if kb is None:
                break
            out.write(f"{time.time():.3f},{kb},{cpu}\n")
            out.flush()
            time.sleep(0.1)


def legit(host, port, secs, path, rate=50.0):
    """Paced attempts from 4 threads; each attempt is a full open/echo/close."""
    lock = threading.Lock()
    rows = {}          # second -> [attempts, ok, latencies_ms]
    t0 = time.time()
    deadline = t0 + secs
    nthreads = 4
    period = nthreads / rate

    def worker(k):
        nxt = t0 + k * period / nthreads
        while True:
            now = time.time()
            if now >= deadline:
                return
            if now < nxt:
                time.sleep(nxt - now)
            nxt += period
            start = time.time()
            sec = int(start - t0)
            ok, lat = False, None
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(5)
            try:
                s.connect((host, port))
                lat = (time.time() - start) * 1000
                s.sendall(b"legitimate-hello")
                got = b""
                while len(got) < 16:
                    d = s.recv(16 - len(got))
                    if not d:
                        break
                    got += d
                ok = got == b"legitimate-hello"
            except OSError:
                pass
            finally:
                s.close()
            with lock:
                r = rows.setdefault(sec, [0, 0, []])
                r[0] += 1
                r[1] += ok
                if ok and lat is not None:
                    r[2].append(lat)

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(nthreads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    allat, att, okc = [], 0, 0
    with open(path, "w") as out:
        out.write("second,attempts,ok,p50_ms,p99_ms,max_ms\n")
        for sec in sorted(rows):
            a, o, l = rows[sec]
            att += a
            okc += o
            allat += l
            out.write(f"{sec},{a},{o},{pct(l, 50):.2f},{pct(l, 99):.2f},{max(l) if l else 0:.2f}\n")
    print(f"legit_attempts={att}")
    print(f"legit_ok={okc}")
    print(f"legit_pct={100.0 * okc / att if att else 0:.1f}")
    print(f"legit_p50_ms={pct(allat, 50):.2f}")
    print(f"legit_p99_ms={pct(allat, 99):.2f}")


def pct(v, p):
    if not v:
        return 0.0
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


COUNTERS = ["TcpExtListenOverflows", "TcpExtListenDrops", "TcpExtTCPReqQFullDrop",
            "TcpExtTCPReqQFullDoCookies", "TcpExtSyncookiesSent", "TcpExtSyncookiesRecv",
            "TcpExtSyncookiesFailed", "TcpPassiveOpens", "IpReasmReqds", "IpReasmFails",
            "IpReasmTimeout", "TcpExtTCPOFOQueue", "TcpExtTCPOFODrop", "TcpExtOfoPruned",
            "ArpCacheAllocs", "TcpExtTCPTimeWaitOverflow", "IpInReceives"]
DROPS = ["IP_FRAG_MEM_LIMIT", "TCP_OFO_DROP", "TCP_OFO_QUEUE_PRUNE", "TCP_REQQFULLDROP",
         "TCP_LISTEN_OVERFLOW", "FRAG_REASM_TIMEOUT", "NEIGH_FAILED", "ARP_UNSOLICITED"]


def gauges(npout, path):
    """One row per '--- counters after T s ---' block of netpath's stdout."""
    rows, cur, fresh = [], None, False
    with open(npout, errors="replace") as f:
        for line in f:
            w = line.split()
            if line.startswith("--- counters after"):
                if cur:
                    rows.append(cur)
                cur = {"t": float(w[3])}
                fresh = True
                continue
            if line.startswith("Devices of"):
                # The print at exit has no '---' line: it closes the series (its apps have stopped).
                if not fresh and cur:
                    rows.append(cur)
                    cur = None
                fresh = False
                continue
            if cur is None or not w:
                continue
            if len(w) >= 3 and w[0].endswith(":") and w[1].endswith(":") and w[2] == "mtu":
                cur["_dev"] = w[1].rstrip(":")
            elif w[0] == "RX:" and cur.get("_dev") not in (None, "lo"):
                cur["rx_packets"] = cur.get("rx_packets", 0) + int(w[4])
            elif w[0] in ("TCP:", "UDP:", "FRAG:", "ARP:", "SKB:"):
                p = w[0].rstrip(":").lower()
                for i in range(1, len(w) - 1, 2):
                    cur[f"{p}_{w[i]}"] = int(w[i + 1])
            elif w[0] in COUNTERS:
                cur[w[0]] = int(w[1])
            elif w[0] == "drop" and len(w) > 2 and w[1] in DROPS:
                cur["drop_" + w[1]] = int(w[2])
    if cur:
        rows.append(cur)
    cols = ["t", "rx_packets"]
    for r in rows:
        r.pop("_dev", None)
        for k in r:
            if k not in cols:
                cols.append(k)
    with open(path, "w") as out:
        out.write(",".join(cols) + "\n")
        for r in rows:
            out.write(",".join(str(r.get(c, 0)) for c in cols) + "\n")
    # Peaks of the gauges, last values of the counters, the receive rate's spread.
    for c in cols[1:]:
        vals = [r.get(c, 0) for r in rows]
        print(f"peak_{c}={max(vals) if vals else 0}")
        print(f"last_{c}={vals[-1] if vals else 0}")
    rates = [b.get("rx_packets", 0) - a.get("rx_packets", 0) for a, b in zip(rows, rows[1:])]
    busy = [x for x in rates if x > 0.5 * max(rates)] if rates and max(rates) > 0 else []
    if busy:
        print(f"rx_rate_max={max(busy)}")
        print(f"rx_rate_median={int(statistics.median(busy))}")
        print(f"rx_rate_min_busy={min(busy)}")


def window(path, t0, t1, sent="0"):
    """RSS before/during/after the flood; netpath's CPU per offered frame in each half of it
    (frames are offered at a constant rate, so equal halves mean a constant per-frame cost)."""
    t0, t1, sent = float(t0), float(t1), int(sent or 0)
    samples = []
    with open(path) as f:
        next(f)
        for line in f:
            t, kb, cpu = line.strip().split(",")
            samples.append((float(t), int(kb), int(cpu)))
    before = [kb for t, kb, _ in samples if t < t0] or [samples[0][1]]
    during = [kb for t, kb, _ in samples if t >= t0] or [0]
    print(f"rss_base_kb={int(statistics.median(before))}")
    print(f"rss_peak_kb={max(during)}")
    print(f"rss_end_kb={samples[-1][1]}")
    print(f"rss_samples={len(samples)}")

    def cpu_at(t):
        return next((c for ts, _, c in samples if ts >= t), samples[-1][2])
    mid = (t0 + t1) / 2
    if sent > 0:
        h1, h2 = cpu_at(mid) - cpu_at(t0), cpu_at(t1) - cpu_at(mid)
        print(f"cpu_ms_flood={h1 + h2}")
        print(f"cpu_us_per_frame_h1={1000.0 * h1 / (sent / 2):.2f}")
        print(f"cpu_us_per_frame_h2={1000.0 * h2 / (sent / 2):.2f}")


def table(d):
    rows = []
    for name in sorted(os.listdir(d)):
        if not name.endswith(".kv"):
            continue
        kv = {}
        with open(os.path.join(d, name)) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    kv[k] = v
        rows.append(kv)
    hdr = ["flood", "target/s", "achieved/s", "netpath rx/s", "secs", "RSS base MiB", "RSS peak MiB",
           "RSS end MiB", "CPU us/frame (1st/2nd half)", "bound (peak / limit)", "legit client"]
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    mib = lambda k: f"{int(k) / 1024:.1f}" if k not in (None, "") else "-"
    for kv in sorted(rows, key=lambda r: r.get("order", "9")):
        print("| " + " | ".join([kv.get("flood", "?"), kv.get("target_rate", "-"), kv.get("achieved_rate", "-"),
                                  kv.get("rx_rate_median", "-"), kv.get("duration", "-"),
                                  mib(kv.get("rss_base_kb")), mib(kv.get("rss_peak_kb")), mib(kv.get("rss_end_kb")),
                                  f"{kv['cpu_us_per_frame_h1']} / {kv['cpu_us_per_frame_h2']}"
                                  if "cpu_us_per_frame_h1" in kv else "-",
                                  kv.get("bound", "-"), kv.get("legit", "-")]) + " |")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "rss":
        rss(int(args[0]), args[1])
    elif cmd == "legit":
        legit(args[0], int(args[1]), float(args[2]), args[3], *(float(a) for a in args[4:5]))
    elif cmd == "gauges":
        gauges(args[0], args[1])
    elif cmd == "window":
        window(*args)
    elif cmd == "table":
        table(args[0])
    else:
        sys.exit(f"unknown subcommand {cmd}")
