#!/usr/bin/env python3
"""expect.py: what a store must hold after consuming a JSON-lines file of events.

Shares nothing with pingpong: it reads the file that was produced and computes, with
plain Python, the answers the tests compare the store's against.

  expect.py active EVENTS --at MS --window MS    users with last_seen in (at-window, at],
                                                 one per line, sorted
  expect.py users EVENTS [--max-ts MS]           "user last_seen count" lines, sorted;
                                                 events stamped after --max-ts are
                                                 rejected ones and do not count
  expect.py rejects EVENTS [--max-ts MS]         the number of events that must be rejected
  expect.py compare EVENTS USERS [--max-ts MS]   compares a store's "user last_seen count"
                                                 lines (USERS) with the events; prints
                                                 "lost N double-applied M wrong-time K" and
                                                 exits 1 unless all are 0
  expect.py outbox EVENTS --window MS            "user<TAB>message<TAB>recipient" lines:
                                                 recipients of each chat message are the
                                                 other users whose final last_seen is in
                                                 (ts-window, ts]
"""
import argparse
import json
import sys


def load(path, max_ts):
    good, bad = [], 0
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            ev = json.loads(line)
            # Either gen-events.py's lines or `pingpong tail`'s, whose undecodable
            # events carry "error".
            if "_raw_hex" in ev or "error" in ev or (max_ts is not None and ev["ts"] > max_ts):
                bad += 1
            else:
                good.append(ev)
    return good, bad


def last_seen(events):
    seen, count = {}, {}
    for ev in events:
        u = ev["user"]
        seen[u] = max(seen.get(u, ev["ts"]), ev["ts"])
        count[u] = count.get(u, 0) + 1
    return seen, count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["active", "users", "rejects", "outbox", "compare"])
    ap.add_argument("events")
    ap.add_argument("users", nargs="?")
    ap.add_argument("--at", type=int)
    ap.add_argument("--window", type=int, default=30000)
    ap.add_argument("--max-ts", type=int)
    a = ap.parse_args()
    events, bad = load(a.events, a.max_ts)
    seen, count = last_seen(events)
    out = sys.stdout
    if a.what == "active":
        for u in sorted(u for u, ts in seen.items() if a.at - a.window < ts <= a.at):
            out.write(u + "\n")
    elif a.what == "users":
        for u in sorted(seen):
            out.write("%s %d %d\n" % (u, seen[u], count[u]))
    elif a.what == "compare":
        actual = {}
        with open(a.users) as f:
            for line in f:
                u, ts, n = line.split()
                actual[u] = (int(ts), int(n))
        lost = double = wrong = 0
        for u in set(seen) | set(actual):
            want = count.get(u, 0)
            got_ts, got = actual.get(u, (None, 0))
            lost += max(0, want - got)
            double += max(0, got - want)
            if u in seen and u in actual and got_ts != seen[u]:
                wrong += 1
        out.write("lost %d double-applied %d wrong-time %d\n" % (lost, double, wrong))
        sys.exit(1 if lost or double or wrong else 0)
    elif a.what == "rejects":
        out.write("%d\n" % bad)
    else:
        rows = []
        for ev in events:
            if ev["activity"] != "send-message":
                continue
            for r, ts in seen.items():
                if r != ev["user"] and ev["ts"] - a.window < ts <= ev["ts"]:
                    rows.append("%s\t%s\t%s" % (ev["user"], ev["message"], r))
        for row in sorted(rows):
            out.write(row + "\n")


if __name__ == "__main__":
    main()
