#!/usr/bin/env python3
"""Turns bench/run.sh's records into the table it prints and the JSON it writes.

    report.py RECORDS.jsonl OUT.json [--runs N] [--duration SEC]

RECORDS holds three kinds of lines: {"series": id, "label": ...} names a
measured thing, {"series": id, "run": i, "value": v, "cpu_ns": c} is one
run of it, and {"figure": id, "netpath": series, "peer": series,
"ceiling": series, ...} says how a figure is made of series. Each series
is summarised by the median of its runs; a figure's ratio is
netpath / peer (read it with "higher" to know which way is better).
A fourth kind, {"lwip_figure": id, "lwip": series, "lwip_note": ...},
gives a figure its lwIP column (value, netpath / lwIP), or says why not.
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def summarise(runs):
    vals = [r["value"] for r in runs if r.get("value") is not None]
    cpus = [r["cpu_ns"] for r in runs if r.get("cpu_ns") is not None]
    out = {
        "median": statistics.median(vals) if vals else None,
        "min": min(vals) if vals else None,
        "max": max(vals) if vals else None,
        "runs": [r.get("value") for r in runs],
        "cpu_ns_per_pkt": statistics.median(cpus) if cpus else None,
        "failed_runs": sum(1 for r in runs if r.get("failed")),
    }
    extra = {}
    for r in runs:
        for k, v in r.items():
            if k not in ("series", "run", "value", "cpu_ns", "failed") and isinstance(v, (int, float)):
                extra.setdefault(k, []).append(v)
    for k, v in extra.items():
        out[k] = statistics.median(v)
    return out


def fmt(v, unit):
    if v is None:
        return "-"
    if unit in ("pkt/s", "trans/s", "conn/s", "conns"):
        return f"{v / 1e3:.0f}k" if v >= 1e4 else f"{v:.0f}"
    if unit == "Gbit/s":
        return f"{v:.2f}"
    return f"{v:.0f}"


def add_lwip(entry, col, runs, labels):
    """The lwIP column of a figure (bench/run.sh lwip_column): lwIP's summary
    and ratio = netpath / lwIP, or a note saying why it has none."""
    entry["lwip"] = None
    entry["ratio_lwip"] = None
    entry["lwip_note"] = (col.get("lwip_note") or None) if col else None
    sid = col and col.get("lwip")
    if sid and sid in runs:
        entry["lwip"] = dict(series=sid, label=labels.get(sid, sid), **summarise(runs[sid]))
        np_, lw = entry["netpath"], entry["lwip"]
        if np_ and np_["median"] and lw["median"]:
            entry["ratio_lwip"] = np_["median"] / lw["median"]


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    rec_path, out_path = args[0], args[1]
    opts = dict(zip(args[2::2], args[3::2]))
    labels, runs, figures, lwip_cols = {}, {}, [], {}
    with open(rec_path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line)
            if "figure" in r:
                figures.append(r)
            elif "lwip_figure" in r:
                lwip_cols[r["lwip_figure"]] = r
            elif "label" in r:
                labels[r["series"]] = r["label"]
            else:
                runs.setdefault(r["series"], []).append(r)

    result = {
        "machine": machine(),
        "runs_per_figure": int(opts.get("--runs", 0)) or None,
        "seconds_per_run": float(opts.get("--duration", 0)) or None,
        "figures": [],
    }
    rows = []
    for fg in figures:
        entry = {
            "id": fg["figure"],
            "title": fg["title"],
            "unit": fg["unit"],
            "higher_is_better": bool(fg["higher"]),
            "status": fg["status"],
            "pinning": fg["pinning"],
            "note": fg["note"],
        }
        for role in ("netpath", "peer", "ceiling"):
            sid = fg[role]
            if sid and sid in runs:
                entry[role] = dict(series=sid, label=labels.get(sid, sid), **summarise(runs[sid]))
            else:
                entry[role] = None
        np_, peer, ceil = entry["netpath"], entry["peer"], entry["ceiling"]
        ratio = None
        if np_ and peer and np_["median"] and peer["median"]:
            ratio = np_["median"] / peer["median"]
        entry["ratio"] = ratio
        add_lwip(entry, lwip_cols.get(entry["id"]), runs, labels)
        if np_ and ceil and np_["median"] and ceil["median"]:
            entry["fraction_of_ceiling"] = np_["median"] / ceil["median"]
        result["figures"].append(entry)
        if entry["status"] != "ok":
            rows.append([entry["id"], entry["status"], "", "", "", "", "", "", "", "", ""])
            continue
        u = entry["unit"]
        cpu = lambda e: "-" if not e or e["cpu_ns_per_pkt"] is None else f"{e['cpu_ns_per_pkt']:.0f}"
        rows.append([
            entry["id"] + f" ({u})",
            fmt(np_ and np_["median"], u),
            fmt(peer and peer["median"], u),
            "-" if ratio is None else f"{ratio:.2f}" + ("" if entry["higher_is_better"] else " (lower better)"),
            fmt(entry["lwip"] and entry["lwip"]["median"], u),
            "-" if entry["ratio_lwip"] is None else f"{entry['ratio_lwip']:.2f}",
            fmt(ceil and ceil["median"], u),
            cpu(np_),
            cpu(peer),
            cpu(entry["lwip"]),
            cpu(ceil),
        ])

    head = ["figure", "netpath", "peer", "ratio", "lwip", "np/lwip", "ceiling", "cpu ns/pkt np", "peer", "lwip", "ceiling"]
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    m = result["machine"]
    print()
    print(f"netpath benchmarks: {m['cpu_model']}, {m['nproc']} CPUs, Linux {m['kernel']}, {m['date']}")
    print(f"median of {result['runs_per_figure']} runs; ratio = netpath / peer; np/lwip = netpath / lwIP")
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths)))
    print(line)
    print("-" * len(line))
    for r in rows:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print()
    for e in result["figures"]:
        if e["status"] != "ok":
            print(f"{e['id']}: {e['note']}")
            continue
        print(f"{e['id']}: {e['title']}; pinning: {e['pinning']}; {e['note']}")
        for role in ("netpath", "peer", "lwip", "ceiling"):
            if e.get(role):
                spread = ""
                if e[role]["min"] is not None:
                    spread = f" [runs {fmt(e[role]['min'], e['unit'])}..{fmt(e[role]['max'], e['unit'])}]"
                print(f"    {role:8} {e[role]['label']}{spread}")

    ok = [e for e in result["figures"] if e["status"] == "ok" and not e.get("lwip")]
    lwip_notes = [e for e in ok if e.get("lwip_note")]
    if ok:
        print()
        for e in lwip_notes:
            print(f"lwip '-' in {e['id']}: {e['lwip_note']}")
        rest = [e["id"] for e in ok if not e.get("lwip_note")]
        if rest:
            print(f"lwip '-' in {', '.join(rest)}: not measured with lwIP (lwIP serves only the TAP figures it can)")

    d = os.path.dirname(out_path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(out_path, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print(f"\nwritten: {out_path}")


if __name__ == "__main__":
    main()
