#!/usr/bin/env python3
"""gen-events.py: write a JSON-lines file of chat events for the tests.

Independent of pingpong's code: the tests produce this file with `pingpong produce --from`
and compute what the store must hold from the same file with expect.py.

  gen-events.py --users N --count N --seed S --now MS [--stale F] [--dups F]
                [--malformed N] [--future N] [--spread MS] > events.jsonl

Events are stamped within --spread ms before --now, in random order (so a user's events
arrive out of order); --stale of them are 2 to 10 minutes older; --dups of them repeat an
earlier event exactly; --malformed lines are raw bytes that are not valid events
({"_raw_hex": ...}); --future events are stamped an hour after --now.
"""
import argparse
import json
import random


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--now", type=int, required=True)
    ap.add_argument("--spread", type=int, default=60000)
    ap.add_argument("--stale", type=float, default=0.0)
    ap.add_argument("--dups", type=float, default=0.0)
    ap.add_argument("--malformed", type=int, default=0)
    ap.add_argument("--future", type=int, default=0)
    ap.add_argument("--prefix", default="u", help="user names are PREFIX00000, ...")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    users = ["%s%05d" % (a.prefix, i) for i in range(a.users)]
    malformed = ["c1", "93010203", "81a475736572a3626f62", "82a475736572", "a3626f62c0"]
    events = []
    for i in range(a.count):
        if events and rng.random() < a.dups:
            events.append(events[rng.randrange(len(events))])
            continue
        u = users[rng.randrange(len(users))] if i >= len(users) else users[i]
        ts = a.now - rng.randrange(a.spread)
        if rng.random() < a.stale:
            ts = a.now - rng.randrange(120000, 600000)
        ev = {"user": u, "email": u + "@example.com", "ts": ts}
        if rng.random() < 0.3:
            ev["activity"] = "send-message"
            ev["message"] = "hello %d" % i
        else:
            ev["activity"] = "heart-beat"
        events.append(ev)
    for i in range(a.future):
        pos = rng.randrange(len(events) + 1)
        events.insert(pos, {"user": users[i % len(users)], "activity": "heart-beat",
                            "ts": a.now + 3600000})
    for i in range(a.malformed):
        pos = rng.randrange(len(events) + 1)
        events.insert(pos, {"_raw_hex": malformed[i % len(malformed)]})
    for ev in events:
        print(json.dumps(ev, separators=(",", ":")))


if __name__ == "__main__":
    main()
