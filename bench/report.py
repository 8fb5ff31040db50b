#!/usr/bin/env python3
"""report.py: the tables of `make bench`, and bench/results.json, from bench/run.sh's samples.

The samples file has one line per measurement: key, round, value (tab-separated). A
figure is the median of its samples over the rounds. A ratio is computed within each
round, from the two figures of that round, and its median is shown: "every ratio
measured in the same run".

results.json holds one part per broker, {"brokers": {"mock": {...}, "kafka": {...}}}:
a run replaces its broker's part and keeps the other's. Each part has the machine and
commit it ran on, its figures (each with a stable "key"), and with PEERS its "peers"
table. Once both parts are there, the figures are also printed side by side:

  report.py --samples FILE --broker mock|kafka [--peers kstreams] --json RESULTS
  report.py --both --json RESULTS       only the side-by-side table of RESULTS
  report.py --scale --samples FILE --json SCALE   the scale table (make bench-scale)
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
    def __init__(self, samples, skip_empty=False):
        self.s = samples
        self.rows = []
        # On Kafka the figures without a broker are not measured: leave them out.
        self.skip_empty = skip_empty

    def values(self, key):
        return [v for _, v in sorted(self.s.get(key, {}).items())]

    def ratio_samples(self, num, den, scale=1.0):
        a, b = self.s.get(num, {}), self.s.get(den, {})
        return [a[r] / b[r] * scale for r in sorted(a) if r in b and b[r]]

    def add(self, fid, label, samples, unit, goal=None, beside=None, fmt="{:,.0f}", note=None, key=None):
        """goal: (op, threshold, text) with op one of '>=', '<'. key: the figure's name in
        results.json, the same on both brokers (default: the label)."""
        if self.skip_empty and not samples:
            return
        value = median(samples)
        ok = None
        if goal and value is not None:
            op, thr, _ = goal
            ok = value >= thr if op == ">=" else value < thr
        self.rows.append({
            "key": key or label,
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


def build(s, session_ms, broker="mock"):
    r = Report(s, skip_empty=broker != "mock")
    v = r.values

    r.add("1", "produce: 1,000,000 events, 10,000 users", v("produce.eps"), "ev/s", key="produce")
    r.add("2", "raw ceiling: tail --null", v("raw.eps"), "ev/s", key="raw")
    for sync, what in (("sync", "fsync per batch"), ("nosync", "--no-sync")):
        for b in (100, 1000, 10000):
            key = "active.%s.b%d" % (sync, b)
            goal = None
            if b == 1000:
                goal = (">=", 0.5, ">= 0.5 x raw") if sync == "sync" else (">=", 0.8, ">= 0.8 x raw")
            r.add("3", "active %s, batch %d / raw" % (what, b), r.ratio_samples(key + ".eps", "raw.eps"), "x raw",
                  goal=goal, fmt="{:.2f}", beside=fmt_eps(median(v(key + ".eps"))), key=key + "/raw")
    # What bounds the two goals above, each within a round (bench/README.md, "The
    # bounds"). --no-sync: two cores run active at most at 2 / its CPU per event, as
    # this build spends it (the whole process, its start and group join included); tail's
    # is shown beside. fsync: no store on LMDB commits faster than LMDB alone, putting
    # only the users' keys.
    raw, cpu = s.get("raw.eps", {}), s.get("active.nosync.b1000.cpu_ns", {})
    cpu_bound = [2e9 / cpu[k] / raw[k] for k in sorted(raw) if k in cpu and raw[k] and cpu[k]]
    if cpu_bound:
        r.add("3", "bound, --no-sync: 2 cores / active's CPU per event / raw", cpu_bound, "x raw", fmt="{:.2f}",
              key="bound.nosync", beside="active %.0f ns of CPU per event, tail %.0f ns" % (
                  median(v("active.nosync.b1000.cpu_ns")), median(v("raw.cpu_ns")) or 0))
    if "bound.lmdb.sync.eps" in s:
        r.add("3", "bound, fsync: LMDB alone, fsync, batch 1000 / raw",
              r.ratio_samples("bound.lmdb.sync.eps", "raw.eps"), "x raw", fmt="{:.2f}", key="bound.sync",
              beside=fmt_eps(median(v("bound.lmdb.sync.eps"))))
    for where in ("disk", "shm"):
        for sync in ("sync", "nosync"):
            for b in (1, 10, 100, 1000, 10000):
                key = "store.%s.%s.b%d.eps" % (where, sync, b)
                if key not in s:
                    continue
                goal = (">=", 1e6, ">= 1,000,000/s") if b == 1000 and sync == "nosync" else None
                r.add("4", "store alone, %s, %s, batch %d" % ("build dir" if where == "disk" else "/dev/shm",
                                                            "fsync" if sync == "sync" else "no-sync", b),
                      v(key), "ev/s", goal=goal, key=key[:-4])
    if "redis.rtt.eps" in s:
        r.add("5", "redis ZADD, one round trip per event", v("redis.rtt.eps"), "ev/s", key="redis.rtt")
        r.add("5", "redis ZADD, pipelined by 1,000", v("redis.pipe.eps"), "ev/s", key="redis.pipe")
        r.add("5", "active (fsync, batch 1000) / redis 1 rtt", r.ratio_samples("active.sync.b1000.eps", "redis.rtt.eps"),
              "x", goal=(">=", 30, ">= 30 x"), fmt="{:.1f}", key="active/redis.rtt",
              beside="no-sync: %.1f x" % (median(r.ratio_samples("active.nosync.b1000.eps", "redis.rtt.eps")) or 0))
        r.add("5", "active (fsync, batch 1000) / redis pipelined",
              r.ratio_samples("active.sync.b1000.eps", "redis.pipe.eps"), "x", goal=(">=", 1, ">= 1 x"), fmt="{:.2f}",
              key="active/redis.pipe",
              beside="no-sync: %.2f x" % (median(r.ratio_samples("active.nosync.b1000.eps", "redis.pipe.eps")) or 0))
    rq = ""
    if "redis.query.p99_us" in s:
        rq = "redis ZRANGEBYSCORE: p50 %.0f us, p99 %.0f us (%d users, round trip)" % (
            median(v("redis.query.p50_us")), median(v("redis.query.p99_us")), median(v("redis.query.users")))
    users = median(v("query.users"))
    r.add("6", "query active, 100,000 users, p50", v("query.p50_us"), "us", fmt="{:.1f}", key="query.p50",
          beside="%s users returned" % ("?" if users is None else "%d" % users))
    r.add("6", "query active, 100,000 users, p99", v("query.p99_us"), "us", goal=("<", 100, "< 100 us"),
          fmt="{:.1f}", beside=rq, key="query.p99")
    if "query10c.p99_us" in s:
        r.add("6", "query, the 1,000 seen 10 times each, compacted (caught up), p50", v("query10c.p50_us"), "us",
              fmt="{:.1f}", key="query10c.p50",
              beside="%d users returned; one index entry per user, as active leaves it while caught up"
              % (median(v("query10c.users")) or 0))
        r.add("6", "query, the 1,000 seen 10 times each, compacted (caught up), p99", v("query10c.p99_us"), "us",
              goal=("<", 100, "< 100 us"), fmt="{:.1f}", key="query10c.p99")
    if "query10.p99_us" in s:
        r.add("6", "query, the same not compacted yet (catching up), p50", v("query10.p50_us"), "us", fmt="{:.1f}",
              key="query10.p50", beside="10,000 index entries in the window: one per time seen")
        r.add("6", "query, the same not compacted yet (catching up), p99", v("query10.p99_us"), "us",
              fmt="{:.1f}", key="query10.p99")
    for size, label in (("small", "10,000"), ("big", "1,000,000")):
        u, mib = median(v("recovery.local.%s.users" % size)), median(v("recovery.local.%s.file_mib" % size))
        r.add("7", "recovery, local: %s users" % label, v("recovery.local.%s.ms" % size), "ms",
              goal=("<", 10, "< 10 ms"), fmt="{:.2f}", key="recovery.local." + size,
              beside="" if u is None else "%d users, %.0f MiB store" % (u, mib))
    for how, label in (("kill9", "kill -9"), ("kill9-static", "kill -9, --instance-id"),
                       ("term", "clean stop (TERM)")):
        g, o = median(v("recovery.e2e.%s.group_ms" % how)), median(v("recovery.e2e.%s.ours_ms" % how))
        r.add("7", "recovery, end to end: %s" % label, v("recovery.e2e.%s.total_ms" % how), "ms", fmt="{:,.0f}",
              key="recovery.e2e." + how,
              beside="" if g is None else "to assignment %.0f ms, assignment to commit %.0f ms; session %d ms"
              % (g, o, session_ms))
    # The goal is about the consumer's own memory (librdkafka's queue, the batches), the
    # mapped store aside, as issue 13 has it: the store's pages are page cache, and an
    # index kept for 24 h (ACTIVE_OPTS) holds an entry per event of the run.
    anon = [x / 1024 for x in v("active.sync.b1000.anon_kib")]
    rss, fil = median(v("active.sync.b1000.rss_kib")), median(v("active.sync.b1000.file_kib"))
    allanon = [x / 1024 for k in s if k.startswith("active.") and k.endswith(".anon_kib") for x in v(k)]
    r.add("8", "memory: active peak anonymous RSS, 1,000,000 events", anon, "MiB", goal=("<", 64, "< 64 MiB"),
          fmt="{:.0f}", key="memory.active",
          beside="fsync, batch 1000; all configurations: %.0f-%.0f MiB; peak RSS %.0f MiB with %.0f MiB of mapped store"
          % (min(allanon), max(allanon), (rss or 0) / 1024, (fil or 0) / 1024) if allanon else "")
    anon, fil = median(v("memory.store.anon_kib")), median(v("memory.store.file_kib"))
    r.add("8", "memory: store program, 10M events, 1M users", [x / 1024 for x in v("memory.store.hwm_kib")], "MiB",
          fmt="{:.0f}", key="memory.store", beside="" if anon is None else "peak; at the end %.0f MiB anonymous + %.0f MiB of mapped store; "
          "%s" % (anon / 1024, fil / 1024, fmt_eps(median(v("memory.store.eps")))))
    r.add("9", "gate: notify --after-store / ungated", r.ratio_samples("notify.gated.eps", "notify.ungated.eps"), "x",
          goal=(">=", 0.7, ">= 0.7 x"), fmt="{:.2f}", key="gate",
          beside="gated %s, ungated %s" % (fmt_eps(median(v("notify.gated.eps"))),
                                          fmt_eps(median(v("notify.ungated.eps")))))
    return r


def text_of(r):
    if r["value"] is None:
        return "n/a"
    return r["fmt"].format(r["value"]) + (" " + r["unit"] if r["unit"] else "")


PEER_COLUMNS = (("pingpong", "pingpong active"), ("kstreams.eos", "kstreams EOS v2"),
                ("kstreams.alos", "kstreams ALOS"))


def build_peers(s):
    """pingpong and Kafka Streams side by side: rows of cells, one per column."""
    def v(k):
        return [x for _, x in sorted(s.get(k, {}).items())]

    rows = []

    def ratio(num, den):
        a, b = s.get(num, {}), s.get(den, {})
        return [a[r] / b[r] for r in sorted(a) if r in b and b[r]]

    def row(key, label, unit, cells, fmt="{:,.0f}", note=""):
        out = {}
        for col, samples in cells.items():
            med = median(samples)
            out[col] = {"value": med, "samples": samples,
                        "text": "" if med is None else fmt.format(med) + (" " + unit if unit else "")}
        rows.append({"key": key, "label": label, "unit": unit, "cells": out, "note": note})

    def check(key, label, cells, note=""):
        out = {}
        for col, samples in cells.items():
            if samples:
                ok = min(samples) == 1
                out[col] = {"value": ok, "samples": samples, "text": "yes" if ok else "NO"}
        rows.append({"key": key, "label": label, "unit": "", "cells": out, "note": note})

    nosync = median(v("active.nosync.b1000.eps"))
    row("eps", "events/s, 1,000,000 events, empty state", "ev/s",
        {"pingpong": v("active.sync.b1000.eps"), "kstreams.eos": v("kstreams.eos.eps"),
         "kstreams.alos": v("kstreams.alos.eps")},
        note="pingpong: fsync per batch of 1000 (--no-sync: %s); kstreams: first record to the end committed "
             "(last record to commit: %s ms)" % (fmt_eps(nosync), " / ".join(
                 "?" if median(v("kstreams.%s.tail_ms" % g)) is None else "%.0f" % median(v("kstreams.%s.tail_ms" % g))
                 for g in ("eos", "alos"))))
    row("eps.ratio", "pingpong (fsync) / kstreams, same round", "x",
        {"kstreams.eos": ratio("active.sync.b1000.eps", "kstreams.eos.eps"),
         "kstreams.alos": ratio("active.sync.b1000.eps", "kstreams.alos.eps")}, fmt="{:.1f}",
        note="no-sync: %s" % ", ".join("%.1f x" % (median(ratio("active.nosync.b1000.eps", "kstreams.%s.eps" % g)) or 0)
                                       for g in ("eos", "alos")))
    row("rss", "peak RSS", "MiB",
        {"pingpong": [x / 1024 for x in v("active.sync.b1000.rss_kib")],
         "kstreams.eos": [x / 1024 for x in v("kstreams.eos.rss_kib")],
         "kstreams.alos": [x / 1024 for x in v("kstreams.alos.rss_kib")]},
        note="kstreams: VmHWM of the JVM at the end of the topic")
    row("restart.first", "restart after kill -9: to first record", "ms",
        {"pingpong": v("recovery.e2e.kill9.total_ms"), "kstreams.eos": v("recovery.ks.eos.first_ms"),
         "kstreams.alos": v("recovery.ks.alos.first_ms")},
        note="2,000 events/s; pingpong: to its first batch committed; kstreams: a topic of its own, "
             "200,000 events first")
    def ms(key):
        m = median(v(key))
        return "?" if m is None else "{:,.0f}".format(m)

    def steps(g):
        return "process start %s, restore %s to %s ms, %s records" % (
            ms("recovery.ks.%s.start_ms" % g), ms("recovery.ks.%s.restore_start_ms" % g),
            ms("recovery.ks.%s.running_ms" % g), ms("recovery.ks.%s.restored" % g))

    row("restart.running", "  to every store restored (RUNNING)", "ms",
        {"kstreams.eos": v("recovery.ks.eos.running_ms"), "kstreams.alos": v("recovery.ks.alos.running_ms")},
        note="after the kill: eos: %s; alos: %s" % (steps("eos"), steps("alos")))
    row("restart.caught", "  to the backlog processed and committed", "ms",
        {"kstreams.eos": v("recovery.ks.eos.caught_ms"), "kstreams.alos": v("recovery.ks.alos.caught_ms")},
        note="what was in its topic when the new process started")
    row("restart.static", "restart after kill -9, --instance-id", "ms",
        {"pingpong": v("recovery.e2e.kill9-static.total_ms"), "kstreams.eos": v("recovery.ks.eos-static.first_ms")},
        note="to first record (pingpong: first commit); kstreams EOS: %s, RUNNING %s ms" % (
            steps("eos-static"), ms("recovery.ks.eos-static.running_ms")))
    users = median(v("peer.query.pingpong.users"))
    row("query.p50", "30 s window query, p50", "us",
        {"pingpong": v("peer.query.pingpong.p50_us"), "kstreams.eos": v("peer.query.kstreams.p50_us")}, fmt="{:,.1f}",
        note="%s users in the window; in process: pingpong query, kstreams' interactive query" % (
            "?" if users is None else "{:,.0f}".format(users)))
    row("query.p99", "30 s window query, p99", "us",
        {"pingpong": v("peer.query.pingpong.p99_us"), "kstreams.eos": v("peer.query.kstreams.p99_us")}, fmt="{:,.1f}")
    unkeyed = [x for g in ("eos", "alos") for x in v("kstreams.%s.unkeyed" % g)]
    check("check.users", "users = expect.py's, 'bench'",
          {"pingpong": v("check.users.pingpong"), "kstreams.eos": v("check.users.kstreams.eos"),
           "kstreams.alos": v("check.users.kstreams.alos")},
          note="last_seen, count, email; kstreams events keyed by another user: %s" % (
              "?" if not unkeyed else "%d" % max(unkeyed)))
    check("check.query", "window query: the same answer", {"kstreams.eos": v("check.query.same")},
          note="JSON output byte for byte")
    check("check.domain", "users and refusals, whole domain", {"pingpong": v("check.domain.pingpong"),
                                                               "kstreams.eos": v("check.domain.kstreams")},
          note="%s events of gen-events.py; kstreams with --repartition" % (
              "?" if not v("check.domain.events") else "{:,.0f}".format(v("check.domain.events")[0])))
    crash = {}
    for g in ("eos", "alos"):
        # exactly_once_v2's column answers for its static-membership run too.
        lost = v("check.crash.%s.lost" % g) + v("check.crash.%s-static.lost" % g)
        double = v("check.crash.%s.double" % g) + v("check.crash.%s-static.double" % g)
        if lost:
            crash["kstreams." + g] = {"value": {"lost": max(lost), "double": max(double or [0])},
                                      "samples": list(zip(lost, double)),
                                      "text": "%d / %d" % (max(lost), max(double or [0]))}
    rows.append({"key": "check.crash", "label": "after kill -9: lost / double-applied", "unit": "",
                 "cells": crash, "note": "its topic's events against expect.py; at-least-once may apply some twice"})
    correct = {}
    for col, _ in PEER_COLUMNS:
        oks = [r["cells"][col]["value"] for r in rows if r["key"].startswith("check.") and r["key"] != "check.crash"
               and col in r["cells"]]
        if col != "pingpong" and "check.crash" in [r["key"] for r in rows]:
            c = crash.get(col)
            if c is not None:
                oks.append(c["value"]["lost"] == 0 and (col.endswith("alos") or c["value"]["double"] == 0))
        correct[col] = bool(oks) and all(oks)
    return {"columns": [c for c, _ in PEER_COLUMNS], "rows": rows, "correct": correct}


def peers_table(p, out):
    cols = PEER_COLUMNS
    w = max(len(r["label"]) for r in p["rows"]) + 2
    head = "%-*s" % (w, "pingpong and Kafka Streams, same topic") + "".join("%18s" % c[1] for c in cols) + "  note"
    print(head, file=out)
    print("-" * len(head), file=out)
    for r in p["rows"]:
        cells = "".join("%18s" % r["cells"].get(c, {}).get("text", "") for c, _ in cols)
        print("%-*s%s  %s" % (w, r["label"], cells, r["note"] or ""), file=out)
    print("", file=out)
    for c, name in cols:
        print("%s: %s" % (name, "correct: its figures count" if p["correct"].get(c)
                          else "NOT shown correct: its figures do not count"), file=out)


def both_table(parts, out):
    """The figures of the mock and Kafka parts side by side, by key."""
    mock = {r["key"]: r for r in parts.get("mock", {}).get("figures", [])}
    kafka = {r["key"]: r for r in parts.get("kafka", {}).get("figures", [])}
    keys = [r["key"] for r in parts.get("mock", {}).get("figures", [])]
    keys += [k for k in kafka if k not in mock]
    rows = [mock.get(k) or kafka.get(k) for k in keys]
    w = max(len(r["label"]) for r in rows) + 2
    head = "%-4s %-*s %18s %18s  %-16s %s" % ("fig", w, "figure", "mock", "Kafka 4.4", "goal", "mock / Kafka")
    print(head, file=out)
    print("-" * len(head), file=out)

    def cell(r):
        if r is None:
            return "(no broker)", ""
        return r.get("text") or "n/a", "" if r["pass"] is None else ("PASS" if r["pass"] else "FAIL")

    for k, r in zip(keys, rows):
        mt, mv = cell(mock.get(k))
        kt, kv = cell(kafka.get(k))
        verdict = "" if not (mv or kv) else "%s / %s" % (mv or "-", kv or "-")
        print("%-4s %-*s %18s %18s  %-16s %s" % (r["figure"], w, r["label"], mt, kt, r["goal"] or "", verdict),
              file=out)
    for b in ("mock", "kafka"):
        m = parts.get(b, {}).get("machine", {})
        if m:
            print("%s: commit %s, %s, %s runs" % (b, m.get("commit", "?"), m.get("date", "?"), parts[b].get("runs")),
                  file=out)


def load_results(path):
    try:
        with open(path) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return {}
    if "brokers" in old:
        return old["brokers"]
    # A results.json from before there were two brokers: the mock's.
    return {"mock": old} if "figures" in old else {}


SCALE_STORE = ((10000, 1000000), (100000, 1000000), (1000000, 1000000), (10000, 10000000), (1000000, 10000000))
SCALE_ACTIVE = (10000, 1000000)
SCALE_LMDB = (10000, 100000, 1000000)


def build_scale(s):
    """The scale table: one row per size, its rate against the 10,000-user rate of the
    same kind and round, and its memory: anonymous, and the mapped store apart."""
    def v(k):
        return [x for _, x in sorted(s.get(k, {}).items())]

    def ratio(num, den):
        a, b = s.get(num, {}), s.get(den, {})
        return [a[r] / b[r] for r in sorted(a) if r in b and b[r]]

    def mib(k):
        m = median(v(k))
        return None if m is None else m / 1024

    rows = []
    for users, events in SCALE_STORE:
        k = "scale.store.u%d.e%d" % (users, events)
        base = "scale.store.u10000.e%d" % events
        flt = median(v(k + ".minflt"))
        rows.append({
            "key": k, "label": "store alone, {:,} users, {:,} events".format(users, events),
            "eps": median(v(k + ".events_per_s")), "cpu_eps": median(v(k + ".cpu_events_per_s")),
            "vs_10k": median(ratio(k + ".cpu_events_per_s", base + ".cpu_events_per_s")) if users != 10000 else None,
            "hwm_mib": mib(k + ".hwm_kib"), "anon_mib": mib(k + ".rss_anon_kib"), "file_mib": mib(k + ".rss_file_kib"),
            "faults_per_kev": None if flt is None else flt * 1000 / events,
            "depth": "/".join("%d" % d for d in (median(v(k + ".depth.users")), median(v(k + ".depth.by_time")))
                              if d is not None)})
    for users in SCALE_ACTIVE:
        k = "scale.active.u%d" % users
        rows.append({
            "key": k, "label": "active --no-sync, {:,} users, 1,000,000 events".format(users),
            "eps": median(v(k + ".eps")), "cpu_eps": None,
            "vs_10k": median(ratio(k + ".eps", "scale.active.u10000.eps")) if users != 10000 else None,
            "hwm_mib": mib(k + ".hwm_kib"), "anon_mib": mib(k + ".anon_kib"), "file_mib": mib(k + ".file_kib"),
            "faults_per_kev": None, "depth": ""})
    # LMDB alone: the floor under the store's rows, no goal of its own.
    for users in SCALE_LMDB:
        k = "scale.lmdb.u%d" % users
        rows.append({
            "key": k, "label": "LMDB alone, {:,} users, 1,000,000 events".format(users),
            "eps": median(v(k + ".events_per_s")), "cpu_eps": median(v(k + ".cpu_events_per_s")),
            "vs_10k": median(ratio(k + ".cpu_events_per_s", "scale.lmdb.u10000.cpu_events_per_s"))
            if users != 10000 else None,
            "hwm_mib": None, "anon_mib": None, "file_mib": None, "faults_per_kev": None, "depth": "",
            "bound": True})
    for r in rows:
        if r.get("bound"):
            r["rate_goal"] = r["rss_goal"] = None
            continue
        r["rate_goal"] = None if r["vs_10k"] is None else r["vs_10k"] >= 0.8
        r["rss_goal"] = None if r["anon_mib"] is None else r["anon_mib"] < 64
    return rows


def scale_table(rows, out):
    def f(x, fmt):
        return "-" if x is None else fmt.format(x)

    w = max(len(r["label"]) for r in rows) + 2
    head = "%-*s %12s %12s %10s %9s %9s %9s %9s %7s" % (
        w, "scale", "events/s", "CPU ev/s", "vs 10k", "peak RSS", "anon", "mapped", "faults/k", "depth")
    print(head, file=out)
    print("-" * len(head), file=out)
    for r in rows:
        vs = f(r["vs_10k"], "{:.2f} x")
        if r["rate_goal"] is not None:
            vs += " " + ("ok" if r["rate_goal"] else "LOW")
        print("%-*s %12s %12s %10s %9s %9s %9s %9s %7s" % (
            w, r["label"], f(r["eps"], "{:,.0f}"), f(r["cpu_eps"], "{:,.0f}"), vs, f(r["hwm_mib"], "{:.0f} MiB"),
            f(r["anon_mib"], "{:.1f}") + ("" if r["rss_goal"] is not False else "!"), f(r["file_mib"], "{:.0f}"),
            f(r["faults_per_kev"], "{:.1f}"), r["depth"]), file=out)
    print("\ngoals: the rate at 1,000,000 users within 20 % of 10,000 users' (vs 10k >= 0.80 x; the store's "
          "CPU rate, active's from assignment to the end), anonymous RSS < 64 MiB at every size (! where not); "
          "LMDB alone (store-bench lmdb: one mdb_put per user per batch, nothing else) is the floor under "
          "the store's rows, without a goal",
          file=out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples")
    ap.add_argument("--json", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--session-ms", type=int, default=4500)
    ap.add_argument("--broker", choices=("mock", "kafka"), default="mock")
    ap.add_argument("--peers", default="")
    ap.add_argument("--both", action="store_true", help="print the side-by-side table of --json and exit")
    ap.add_argument("--scale", action="store_true", help="the scale table of make bench-scale, into --json")
    a = ap.parse_args()
    if a.scale:
        s = load(a.samples)
        rows = build_scale(s)
        scale_table(rows, sys.stdout)
        checked = int(max(s.get("checks.passed", {0: 0}).values()))
        print("%d runs checked their own result first (median of %d rounds)" % (checked, a.runs))
        with open(a.json, "w") as f:
            json.dump({"machine": machine(), "runs": a.runs, "runs_checked": checked, "rows": rows}, f, indent=1)
            f.write("\n")
        print("wrote %s" % a.json)
        return
    parts = load_results(a.json)
    if a.both:
        both_table(parts, sys.stdout)
        return
    if not a.samples:
        ap.error("--samples is required")
    s = load(a.samples)
    r = build(s, a.session_ms, a.broker)
    print("%s broker" % ("embedded (mock)" if a.broker == "mock" else "Apache Kafka 4.4"))
    r.table(sys.stdout)
    goals = [x for x in r.rows if x["pass"] is not None]
    met = sum(1 for x in goals if x["pass"])
    print("\n%d of %d goals met (median of %d runs; ratios within each run)" % (met, len(goals), a.runs))
    checked = int(max(r.values("checks.passed") or [0]))
    print("%d runs checked their own result before their figures counted: store check, the users and events "
          "as produced, the offsets at the partitions' ends" % checked)
    rows = []
    for x in r.rows:
        row = {k: x[k] for k in x if k != "fmt"}
        row["text"] = text_of(x)
        rows.append(row)
    part = {"machine": machine(), "runs": a.runs, "goals_met": met, "goals": len(goals), "runs_checked": checked,
            "figures": rows}
    if "kstreams" in a.peers.split():
        p = build_peers(s)
        print()
        peers_table(p, sys.stdout)
        part["peers"] = {"kstreams": p}
    parts[a.broker] = part
    with open(a.json, "w") as f:
        json.dump({"brokers": parts}, f, indent=1)
        f.write("\n")
    print("wrote %s (%s)" % (a.json, " and ".join(sorted(parts))))
    if "mock" in parts and "kafka" in parts:
        print()
        both_table(parts, sys.stdout)


if __name__ == "__main__":
    main()
