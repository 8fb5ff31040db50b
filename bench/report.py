#!/usr/bin/env python3
"""report.py: the table of `make bench`, and bench/results.json, from bench/run.sh's samples.

The samples file has one line per measurement: key, round, value (tab-separated). A
figure is the median of its samples over the rounds. A ratio is computed within each
round, from the two figures of that round, and its median is shown: "every ratio
measured in the same run".
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import defaultdict


def load(path):
    by_key = defaultdict(dict)
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or not parts[2]:
                continue
            key, rnd, value = parts
            try:
                by_key[key][int(rnd)] = float(value)
            except ValueError:
                print("report.py: bad sample %r" % line, file=sys.stderr)
    return by_key


def median(xs):
    return statistics.median(xs) if xs else None


class Report:
    def __init__(self, samples):
        self.s = samples
        self.rows = []

    def values(self, key):
        return [v for _, v in sorted(self.s.get(key, {}).items())]

    def ratio_samples(self, num, den, scale=1.0):
        a, b = self.s.get(num, {}), self.s.get(den, {})
        return [a[r] / b[r] * scale for r in sorted(a) if r in b and b[r]]

    def add(self, fid, label, samples, unit, goal=None, beside=None, fmt="{:,.0f}", note=None):
        """goal: (op, threshold, text) with op one of '>=', '<'."""
        value = median(samples)
        ok = None
        if goal and value is not None:
            op, thr, _ = goal
            ok = value >= thr if op == ">=" else value < thr
        self.rows.append({
            "figure": fid,
            "label": label,
            "value": value,
            "unit": unit,
            "samples": samples,
            "runs": len(samples),
            "goal": goal[2] if goal else None,
            "pass": ok,
            "beside": beside,
            "note": note,
            "fmt": fmt,
        })

    def table(self, out):
        w = max(len(r["label"]) for r in self.rows) + 2
        head = "%-4s %-*s %18s  %-16s %-6s %s" % ("fig", w, "figure", "median", "goal", "", "beside it")
        print(head, file=out)
        print("-" * len(head), file=out)
        for r in self.rows:
            if r["value"] is None:
                val = "n/a"
            else:
                val = r["fmt"].format(r["value"]) + (" " + r["unit"] if r["unit"] else "")
            verdict = "" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL")
            print("%-4s %-*s %18s  %-16s %-6s %s" % (r["figure"], w, r["label"], val, r["goal"] or "",
                                                    verdict, r["beside"] or ""), file=out)


def fmt_eps(v):
    return "n/a" if v is None else "{:,.0f}/s".format(v)


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    commit = os.environ.get("BENCH_COMMIT", "")
    if not commit:
        try:
            commit = subprocess.run(["git", "-C", os.path.dirname(os.path.abspath(__file__)), "describe",
                                     "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
        except OSError:
            pass
    return {"cpus": os.cpu_count(), "cpu": model, "kernel": platform.release(), "commit": commit,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def build(s, session_ms):
    r = Report(s)
    v = r.values

    r.add("1", "produce: 1,000,000 events, 10,000 users", v("produce.eps"), "ev/s")
    r.add("2", "raw ceiling: tail --null", v("raw.eps"), "ev/s")
    for sync, what in (("sync", "fsync per batch"), ("nosync", "--no-sync")):
        for b in (100, 1000, 10000):
            key = "active.%s.b%d" % (sync, b)
            goal = None
            if b == 1000:
                goal = (">=", 0.5, ">= 0.5 x raw") if sync == "sync" else (">=", 0.8, ">= 0.8 x raw")
            r.add("3", "active %s, batch %d / raw" % (what, b), r.ratio_samples(key + ".eps", "raw.eps"), "x raw",
                  goal=goal, fmt="{:.2f}", beside=fmt_eps(median(v(key + ".eps"))))
    for where in ("disk", "shm"):
        for sync in ("sync", "nosync"):
            for b in (1, 10, 100, 1000, 10000):
                key = "store.%s.%s.b%d.eps" % (where, sync, b)
                if key not in s:
                    continue
                goal = (">=", 1e6, ">= 1,000,000/s") if b == 1000 and sync == "nosync" else None
                r.add("4", "store alone, %s, %s, batch %d" % ("build dir" if where == "disk" else "/dev/shm",
                                                            "fsync" if sync == "sync" else "no-sync", b),
                      v(key), "ev/s", goal=goal)
    if "redis.rtt.eps" in s:
        r.add("5", "redis ZADD, one round trip per event", v("redis.rtt.eps"), "ev/s")
        r.add("5", "redis ZADD, pipelined by 1,000", v("redis.pipe.eps"), "ev/s")
        r.add("5", "active (fsync, batch 1000) / redis 1 rtt", r.ratio_samples("active.sync.b1000.eps", "redis.rtt.eps"),
              "x", goal=(">=", 30, ">= 30 x"), fmt="{:.1f}",
              beside="no-sync: %.1f x" % (median(r.ratio_samples("active.nosync.b1000.eps", "redis.rtt.eps")) or 0))
        r.add("5", "active (fsync, batch 1000) / redis pipelined",
              r.ratio_samples("active.sync.b1000.eps", "redis.pipe.eps"), "x", goal=(">=", 1, ">= 1 x"), fmt="{:.2f}",
              beside="no-sync: %.2f x" % (median(r.ratio_samples("active.nosync.b1000.eps", "redis.pipe.eps")) or 0))
    rq = ""
    if "redis.query.p99_us" in s:
        rq = "redis ZRANGEBYSCORE: p50 %.0f us, p99 %.0f us (%d users, round trip)" % (
            median(v("redis.query.p50_us")), median(v("redis.query.p99_us")), median(v("redis.query.users")))
    users = median(v("query.users"))
    r.add("6", "query active, 100,000 users, p50", v("query.p50_us"), "us", fmt="{:.1f}",
          beside="%s users returned" % ("?" if users is None else "%d" % users))
    r.add("6", "query active, 100,000 users, p99", v("query.p99_us"), "us", goal=("<", 100, "< 100 us"),
          fmt="{:.1f}", beside=rq)
    for size, label in (("small", "10,000"), ("big", "1,000,000")):
        u, mib = median(v("recovery.local.%s.users" % size)), median(v("recovery.local.%s.file_mib" % size))
        r.add("7", "recovery, local: %s users" % label, v("recovery.local.%s.ms" % size), "ms",
              goal=("<", 10, "< 10 ms"), fmt="{:.2f}",
              beside="" if u is None else "%d users, %.0f MiB store" % (u, mib))
    for how, label in (("kill9", "kill -9"), ("kill9-static", "kill -9, --instance-id"),
                       ("term", "clean stop (TERM)")):
        g, o = median(v("recovery.e2e.%s.group_ms" % how)), median(v("recovery.e2e.%s.ours_ms" % how))
        r.add("7", "recovery, end to end: %s" % label, v("recovery.e2e.%s.total_ms" % how), "ms", fmt="{:,.0f}",
              beside="" if g is None else "to assignment %.0f ms, assignment to commit %.0f ms; session %d ms"
              % (g, o, session_ms))
    rss = [x / 1024 for x in v("active.sync.b1000.rss_kib")]
    allrss = [x / 1024 for k in s if k.startswith("active.") and k.endswith(".rss_kib") for x in v(k)]
    r.add("8", "memory: active peak RSS, 1,000,000 events", rss, "MiB", goal=("<", 64, "< 64 MiB"), fmt="{:.0f}",
          beside="fsync, batch 1000; all configurations: %.0f-%.0f MiB" % (min(allrss), max(allrss)) if allrss else "")
    anon, fil = median(v("memory.store.anon_kib")), median(v("memory.store.file_kib"))
    r.add("8", "memory: store program, 10M events, 1M users", [x / 1024 for x in v("memory.store.hwm_kib")], "MiB",
          fmt="{:.0f}", beside="" if anon is None else "peak; at the end %.0f MiB anonymous + %.0f MiB of mapped store; "
          "%s" % (anon / 1024, fil / 1024, fmt_eps(median(v("memory.store.eps")))))
    r.add("9", "gate: notify --after-store / ungated", r.ratio_samples("notify.gated.eps", "notify.ungated.eps"), "x",
          goal=(">=", 0.7, ">= 0.7 x"), fmt="{:.2f}",
          beside="gated %s, ungated %s" % (fmt_eps(median(v("notify.gated.eps"))),
                                          fmt_eps(median(v("notify.ungated.eps")))))
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", required=True)
    ap.add_argument("--json", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--session-ms", type=int, default=4500)
    a = ap.parse_args()
    r = build(load(a.samples), a.session_ms)
    r.table(sys.stdout)
    goals = [x for x in r.rows if x["pass"] is not None]
    met = sum(1 for x in goals if x["pass"])
    print("\n%d of %d goals met (median of %d runs; ratios within each run)" % (met, len(goals), a.runs))
    rows = [{k: x[k] for k in x if k != "fmt"} for x in r.rows]
    with open(a.json, "w") as f:
        json.dump({"machine": machine(), "runs": a.runs, "goals_met": met, "goals": len(goals), "figures": rows}, f,
                  indent=1)
        f.write("\n")
    print("wrote %s" % a.json)


if __name__ == "__main__":
    main()
