#!/usr/bin/env python3
"""expect.py: what a store must hold after consuming a JSON-lines file of events.

Shares nothing with pingpong: it reads the file that was produced and computes, with
plain Python, the answers the tests compare the store's against. The rules are those of
notes/SEMANTICS.md for the active consumer without --retain-users:
  - every accepted event counts once for its user: count += 1,
    last_seen = max(last_seen, ts);
  - the user's email is the non-empty email of the greatest (ts, email bytes) among
    their events; an absent or empty email never replaces one (no email: null);
  - rejected: the lines that are not events (gen-events.py's {"_raw_hex", "_expect":
    "reject", "_reason"}, or `pingpong tail`'s lines with "error"), and the events
    stamped after --max-ts. A consumer rejects ts > now + max-skew, now being its clock
    when it applies the event: give --max-ts as the generator's --now plus --max-skew
    (gen-events.py leaves no event between that and 10 minutes later).
gen-events.py's {"_raw_hex", "_expect": "accept"} lines are events in odd encodings, or
JSON payloads; their user, email and ts are in _user_hex, _email_hex and _ts, and a JSON
payload's activity and message in _activity and _message_hex. Which encoding a payload
has changes nothing here: the rules are the same for both.

  expect.py active EVENTS --at MS [--window MS] [--max-ts MS] [--json | --text]
        users with last_seen in (at-window, at]: one per line, sorted (default); with
        --json `query active --json`'s "users" list (index order: by last_seen, then
        name bytes); with --text the line `query active` prints, its names escaped.
        When the events carry their partition (`pingpong tail`'s lines do), the store
        keeps each partition's last_seen apart: a user is active when the last_seen of
        any of its partitions is in the window, and is listed at the latest such time
  expect.py users EVENTS [--max-ts MS] [--json]
        "user last_seen count" lines, sorted; with --json one object per user as `query
        users --json` prints it ({"user","last_seen","count","email"}), in key order
  expect.py rejects EVENTS [--max-ts MS]
        the number of events that must be rejected
  expect.py counts EVENTS [--max-ts MS]
        "events E applied A rejected R users U": U is the number of distinct users
  expect.py compare EVENTS USERS [--max-ts MS] [--rejects FILE] [--max-skew MS]
                   [--offsets FILE]
        compares a store's users with the events. USERS is the output of `query users
        --json` (best: any name, the emails), of `query users` (tab-separated; names
        without tabs or newlines), or legacy "user last_seen count" lines (no emails).
        Prints "lost N double-applied M wrong-time K wrong-email E unknown-users U
        duplicate-rows D bad-rows B" (and with --rejects, " rejects-unmatched R"), the
        first differences on stderr, and exits 1 unless all are 0. --rejects FILE is
        `query rejects --json`: every expected reject must be there exactly once, a raw
        one with its first 64 payload bytes and the decoder's reason, a future one with
        the reason "ts T is D ms in the future (max skew S ms)". --offsets FILE is `query
        offsets` (partition<TAB>next): only the events of those partitions below those
        offsets are expected, what one member holds of the partitions it owns or has
        restored; the events must carry their partition and offset (`pingpong tail`).
  expect.py outbox EVENTS --window MS
        "user<TAB>message<TAB>recipient" lines: recipients of each chat message are the
        other users whose final last_seen is in (ts-window, ts] (with partitions, the
        final last_seen of any of their partitions)
"""
import argparse
import json
import re
import sys

REJECT_PAYLOAD_MAX = 64  # bytes of a reject's payload that the store keeps


def load(path, max_ts):
    """Returns (accepted events, expected rejects). An event is a dict with user, email
    (None for none), ts, and activity and message when known; a reject is
    ("raw", payload hex, reason), ("future", ts) or ("unknown",)."""
    good, bad = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            ev = json.loads(line)
            if "_raw_hex" in ev:
                if ev.get("_expect") != "accept":
                    bad.append(("raw", ev["_raw_hex"].lower(), ev.get("_reason")))
                    continue
                e = bytes.fromhex(ev.get("_email_hex", "")).decode("utf-8")
                raw = ev
                ev = {"user": bytes.fromhex(raw["_user_hex"]).decode("utf-8"),
                      "email": e or None, "ts": raw["_ts"]}
                # A JSON payload's line says its activity and message too.
                if "_activity" in raw:
                    ev["activity"] = raw["_activity"]
                if "_message_hex" in raw:
                    ev["message"] = bytes.fromhex(raw["_message_hex"]).decode("utf-8")
            elif "error" in ev:
                # `pingpong tail`'s line for an undecodable event.
                bad.append(("unknown",))
                continue
            else:
                ev = dict(ev)
                ev["email"] = ev.get("email") or None
            if max_ts is not None and ev["ts"] > max_ts:
                bad.append(("future", ev["ts"]))
            else:
                good.append(ev)
    return good, bad


def model(events, key=lambda ev: ev["user"]):
    """user -> [last_seen, count, email, email_ts]; with key, what the key gives ->
    the same, e.g. (partition, user) for each partition's record."""
    users = {}
    for ev in events:
        u, ts, email = key(ev), ev["ts"], ev["email"]
        st = users.get(u)
        if st is None:
            st = users[u] = [ts, 0, None, None]
        st[0] = max(st[0], ts)
        st[1] += 1
        if email and (st[2] is None or (ts, email.encode()) > (st[3], st[2].encode())):
            st[2], st[3] = email, ts
    return users


def key_order(u):
    return u.encode("utf-8")


def last_seens(events):
    """user -> the last_seen of each partition's record of that user (one partition
    when the events do not say theirs)."""
    seen = {}
    for (p, u), st in model(events, lambda ev: (ev.get("partition", 0), ev["user"])).items():
        seen.setdefault(u, []).append(st[0])
    return seen


def active(events, at, window):
    """[(last_seen, name bytes, user)] of the active users, in the index's order."""
    act = []
    for u, times in last_seens(events).items():
        inside = [ts for ts in times if at - window < ts <= at]
        if inside:
            act.append((max(inside), key_order(u), u))
    return sorted(act)


def below_offsets(events, path):
    """The events of the partitions in `query offsets`'s output, below their offsets."""
    nxt = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                p, n = line.split("\t")
                nxt[int(p)] = int(n)
    return [ev for ev in events if ev["offset"] < nxt.get(ev["partition"], 0)]


def read_store_users(path):
    """The rows of `query users` in any of its forms: a list of (user or None,
    last_seen, count, email, has_email), plus the number of unreadable rows."""
    rows, bad = [], 0
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            if line.startswith("{"):
                try:
                    o = json.loads(line)
                except ValueError:
                    bad += 1
                    continue
                if not isinstance(o.get("user"), str):
                    bad += 1
                    continue
                rows.append((o["user"], o.get("last_seen"), o.get("count"), o.get("email"), True))
            elif "\t" in line:
                f4 = line.rstrip("\n").split("\t")
                if len(f4) != 4:
                    bad += 1
                    continue
                rows.append((f4[0], int(f4[1]), int(f4[2]), f4[3] or None, True))
            elif line.strip():
                f3 = line.split()
                if len(f3) != 3:
                    bad += 1
                    continue
                rows.append((f3[0], int(f3[1]), int(f3[2]), None, False))
    return rows, bad


def show(u):
    return json.dumps(u, ensure_ascii=True)


def compare(a, events, bad):
    want = model(events)
    rows, bad_rows = read_store_users(a.users)
    got, dup = {}, 0
    for r in rows:
        if r[0] in got:
            dup += 1
            print("duplicate row for user %s" % show(r[0]), file=sys.stderr)
        got[r[0]] = r
    lost = double = wrong_ts = wrong_email = unknown = 0
    notes = []
    for u in set(want) | set(got):
        w = want.get(u)
        g = got.get(u)
        wn = w[1] if w else 0
        gn = g[2] if g else 0
        lost += max(0, wn - gn)
        double += max(0, gn - wn)
        if g and not w:
            unknown += 1
            notes.append("unknown user %s in the store: %r" % (show(u), g[1:4]))
        elif w and not g:
            notes.append("user %s missing from the store (%d events)" % (show(u), wn))
        else:
            if gn != wn:
                notes.append("user %s: count %d, expected %d" % (show(u), gn, wn))
            if g[1] != w[0]:
                wrong_ts += 1
                notes.append("user %s: last_seen %s, expected %d" % (show(u), g[1], w[0]))
            if g[4] and g[3] != w[2]:
                wrong_email += 1
                notes.append("user %s: email %s, expected %s" % (show(u), show(g[3]), show(w[2])))
    out = "lost %d double-applied %d wrong-time %d wrong-email %d unknown-users %d duplicate-rows %d bad-rows %d" % (
        lost, double, wrong_ts, wrong_email, unknown, dup, bad_rows)
    failed = lost or double or wrong_ts or wrong_email or unknown or dup or bad_rows
    if a.rejects:
        unmatched = compare_rejects(a.rejects, bad, a.max_skew, notes)
        out += " rejects-unmatched %d" % unmatched
        failed = failed or unmatched
    for n in sorted(notes)[:20]:
        print(n, file=sys.stderr)
    if len(notes) > 20:
        print("... and %d more" % (len(notes) - 20), file=sys.stderr)
    print(out)
    return 1 if failed else 0


def compare_rejects(path, bad, max_skew, notes):
    """Matches the store's rejects with the expected ones, one to one. Returns the
    number of either side left without a partner."""
    actual = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                actual.append(json.loads(line))
    future = re.compile(r"^ts (\d+) is (\d+) ms in the future \(max skew (\d+) ms\)$")
    left = list(actual)
    unmatched = 0
    for b in bad:
        hit = None
        for i, r in enumerate(left):
            if b[0] == "raw":
                if r["payload_hex"] == b[1][:2 * REJECT_PAYLOAD_MAX] and (b[2] is None or r["reason"] == b[2]):
                    hit = i
                    break
            elif b[0] == "future":
                m = future.match(r["reason"])
                if m and int(m.group(1)) == b[1] and int(m.group(3)) == max_skew and int(m.group(2)) > max_skew:
                    hit = i
                    break
            else:
                hit = i
                break
        if hit is None:
            unmatched += 1
            notes.append("expected reject not found: %r" % (b,))
        else:
            left.pop(hit)
    for r in left:
        unmatched += 1
        notes.append("unexpected reject: partition %d offset %d: %s (%s)" % (
            r["partition"], r["offset"], r["reason"], r["payload_hex"][:40]))
    return unmatched


def text_escape(s):
    """A field as pingpong's text output writes it (pingpong(1), TEXT OUTPUT): a backslash,
    newline, carriage return and tab as \\\\ \\n \\r \\t, other C0 controls and DEL as \\xHH, C1
    controls as \\uHHHH, anything else as it is."""
    out = []
    for ch in s:
        o = ord(ch)
        if ch in "\\\n\r\t":
            out.append({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}[ch])
        elif o < 0x20 or o == 0x7f:
            out.append("\\x%02x" % o)
        elif 0x80 <= o <= 0x9f:
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    return "".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["active", "users", "rejects", "counts", "outbox", "compare"])
    ap.add_argument("events")
    ap.add_argument("users", nargs="?")
    ap.add_argument("--at", type=int)
    ap.add_argument("--window", type=int, default=30000)
    ap.add_argument("--max-ts", type=int)
    ap.add_argument("--max-skew", type=int, default=300000)
    ap.add_argument("--rejects")
    ap.add_argument("--offsets")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--text", action="store_true")
    a = ap.parse_args()
    # Names are UTF-8 whatever the locale (the tests run under LC_ALL=C).
    sys.stdout.reconfigure(encoding="utf-8")
    events, bad = load(a.events, a.max_ts)
    out = sys.stdout
    if a.offsets:
        events = below_offsets(events, a.offsets)
    if a.what == "active":
        act = active(events, a.at, a.window)
        if a.json:
            out.write(json.dumps([{"user": u, "last_seen": ts} for ts, _, u in act],
                                 ensure_ascii=False, separators=(",", ":")) + "\n")
        elif a.text:
            out.write("Active Users: " + ", ".join(text_escape(u) for _, _, u in act) + "\n" if act
                      else "No Active Users...\n")
        else:
            for u in sorted((u for _, _, u in act), key=key_order):
                out.write(u + "\n")
    elif a.what == "users":
        users = model(events)
        for u in sorted(users, key=key_order):
            st = users[u]
            if a.json:
                out.write(json.dumps({"user": u, "last_seen": st[0], "count": st[1], "email": st[2]},
                                     ensure_ascii=False, separators=(",", ":")) + "\n")
            else:
                out.write("%s %d %d\n" % (u, st[0], st[1]))
    elif a.what == "compare":
        if not a.users:
            ap.error("compare needs the store's users file")
        sys.exit(compare(a, events, bad))
    elif a.what == "rejects":
        out.write("%d\n" % len(bad))
    elif a.what == "counts":
        out.write("events %d applied %d rejected %d users %d\n" % (
            len(events) + len(bad), len(events), len(bad), len(model(events))))
    else:
        seen = last_seens(events)
        rows = []
        for ev in events:
            if ev.get("activity") != "send-message":
                continue
            for r, times in seen.items():
                if r != ev["user"] and any(ev["ts"] - a.window < ts <= ev["ts"] for ts in times):
                    rows.append("%s\t%s\t%s" % (ev["user"], ev["message"], r))
        for row in sorted(rows):
            out.write(row + "\n")


if __name__ == "__main__":
    main()
