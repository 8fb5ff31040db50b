#!/usr/bin/env python3
"""compare-users.py: do the consumers' users match what the events say?

  compare-users.py --expect tests/helpers/expect.py --events EVENTS [--max-ts MS]
                   NAME=USERS [NAME=USERS]...

EVENTS is a JSON-lines file of the events (`pingpong tail` of the topic, or a
gen-events.py file). tests/helpers/expect.py, which shares nothing with either consumer,
computes every user's last_seen and count from it (and the email, where that expect.py
gives it: `users --json`). Each USERS file is one JSON object per line, as `pingpong
query users --json` and `pingpong-kstreams query users` print them.

Prints one line per NAME:
  NAME: U users, lost L, double-applied D, wrong-time T, wrong-email E, unknown-users X
and, when the expectation has no emails, compares the emails of every NAME with the
first NAME's. Exits 1 unless every count is 0 for every NAME (--allow-double NAME
tolerates double-applied events of NAME, for at-least-once after a kill: they are still
counted and printed).
"""
import argparse
import json
import subprocess
import sys


def expected(expect, events, max_ts):
    """{user: (last_seen, count, email or None or ...)}; email is ... when unknown."""
    base = [sys.executable, expect, "users", events]
    if max_ts is not None:
        base += ["--max-ts", str(max_ts)]
    r = subprocess.run(base + ["--json"], capture_output=True)
    model = {}
    if r.returncode == 0:
        for line in r.stdout.decode("utf-8").splitlines():
            if line.strip():
                u = json.loads(line)
                model[u["user"]] = (u["last_seen"], u["count"], u.get("email"))
        return model
    # An expect.py without --json prints "user last_seen count" lines: names without
    # newlines (and any spaces stay in the name: the two numbers are split off the end).
    r = subprocess.run(base, capture_output=True, check=True)
    for line in r.stdout.decode("utf-8").splitlines():
        if line:
            name, ts, n = line.rsplit(" ", 2)
            model[name] = (int(ts), int(n), ...)
    return model


def load(path):
    got = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                u = json.loads(line)
                got[u["user"]] = (u["last_seen"], u["count"], u.get("email"))
    return got


def compare(model, got):
    lost = double = wrong_time = wrong_email = 0
    for u in set(model) | set(got):
        want = model.get(u, (None, 0, None))
        have = got.get(u, (None, 0, None))
        lost += max(0, want[1] - have[1])
        double += max(0, have[1] - want[1])
        if u in model and u in got:
            if want[0] != have[0]:
                wrong_time += 1
            if want[2] is not ... and want[2] != have[2]:
                wrong_email += 1
    unknown = sum(1 for u in got if u not in model)
    return lost, double, wrong_time, wrong_email, unknown


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--expect", required=True)
    ap.add_argument("--events", required=True)
    ap.add_argument("--max-ts", type=int)
    ap.add_argument("--allow-double", action="append", default=[])
    ap.add_argument("users", nargs="+", metavar="NAME=USERS")
    a = ap.parse_args()
    model = expected(a.expect, a.events, a.max_ts)
    emails_known = any(v[2] is not ... for v in model.values())
    ok = True
    first = None
    for spec in a.users:
        name, path = spec.split("=", 1)
        got = load(path)
        lost, double, wt, we, unknown = compare(model, got)
        line = "%s: %d users, lost %d, double-applied %d, wrong-time %d, wrong-email %d, unknown-users %d" % (
            name, len(got), lost, double, wt, we, unknown)
        if not emails_known:
            if first is None:
                first = (name, got)
            else:
                diff = sum(1 for u in set(got) | set(first[1])
                           if got.get(u, (0, 0, None))[2] != first[1].get(u, (0, 0, None))[2])
                line += ", emails differing from %s's %d" % (first[0], diff)
                ok = ok and diff == 0
        print(line)
        ok = ok and not (lost or wt or we or unknown) and (not double or name in a.allow_double)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
