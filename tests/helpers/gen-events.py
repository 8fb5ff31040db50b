#!/usr/bin/env python3
"""gen-events.py: write a JSON-lines file of chat events for the tests.

Independent of pingpong's code: the tests produce this file with `pingpong produce --from`
and compute what the store must hold from the same file with expect.py. It generates the
whole domain that the consumers accept, not the shape that `pingpong produce` writes,
plus malformed events of every kind the decoder (src/event.c) rejects.

  gen-events.py --users N --count N --now MS [--seed S] [--spread MS] [--prefix P]
                [--stale F] [--dups F] [--malformed N] [--future N] [--near-future N]
                [--raw-valid N] [--no-email F] [--empty-email F] [--email-change F]
                [--ties F] [--max-skew MS] [--window MS] [--stale-min MS] [--stale-max MS]
                [--with-nul] [--json-share F] [--simple] > events.jsonl

Same arguments, same file: every choice comes from one random.Random(--seed).

Normal events (one per line, the keys `pingpong produce --from` reads):
  - --count events, each user's first event first, then users drawn at random; event
    times are within --spread ms before --now, in random order (so a user's events
    arrive out of order); a few sit exactly on the window's edges (--now, --now -
    --window, and 1 ms either side);
  - --stale of them are stamped --stale-min to --stale-max ms before --now (older than
    the index retention);
  - --dups of them repeat an earlier event exactly; --ties of them repeat an earlier
    event's user and time with another email (the tie-break on the email's bytes);
  - email: absent in --no-email of the events (default 0.1), empty in --empty-email
    (0.02), and otherwise the user's address or, in --email-change of the events (0.3),
    a variant of another length (a "+tag" of 1 to 60 bytes, another domain, non-ASCII,
    up to 255 bytes);
  - user names (every one starts with --prefix, so that users of two files never mix):
    PREFIX00042, and for some users PREFIX00042 followed by 2-, 3- and 4-byte UTF-8,
    long names up to 255 bytes, names of exactly 255 bytes that end in a multi-byte
    character, names with spaces, commas, quotes, backslashes, tabs, newlines, "%s",
    combining and invisible characters and U+10FFFF, and very short names (PREFIX
    alone, PREFIX and one character);
  - 30% are send-message events (messages may be empty, non-ASCII, or long), the rest
    heart-beats, some of which carry a message too.

Extra events, inserted at random positions:
  - --future N: stamped 10 minutes to 2 hours after --now + --max-skew: every consumer
    that processes them within 10 minutes of --now rejects them;
  - --near-future N: stamped up to --max-skew after --now (the edge included): accepted
    by a consumer whose clock is at --now or later;
  - --raw-valid N: valid events in encodings `pingpong produce` never writes (keys in
    another order, unknown keys holding maps, arrays, floats, bin and ext values, wide
    string and map headers, ts as uint64 or int64, an empty email, a heart-beat with a
    message, a payload of exactly 64 KiB, unknown values nested to the depth limit).
    Written as {"_raw_hex": HEX, "_expect": "accept", "_user_hex": ...,
    "_email_hex": ... (absent when the event has none), "_ts": ...};
  - --malformed N: payloads the decoder must reject, one kind after another (so N >= 45
    gives every kind): not msgpack, empty, truncated, trailing bytes, JSON text, not a
    map, keys that are not strings, duplicate and missing fields, fields of the wrong
    type, empty and too long names and emails, invalid UTF-8 of every sort, ts zero,
    negative, out of range or not an integer, unknown activities, send-message without
    a message, nesting too deep, a payload over 64 KiB. Written as {"_raw_hex": HEX,
    "_expect": "reject", "_reason": REASON}, REASON being the decoder's exact words.
    `pingpong produce --from` writes the bytes of _raw_hex as they are, without a key,
    and ignores the line's other keys. With --with-nul, names and emails with a NUL
    byte are among the rejected kinds (they need event.c's NUL rule).

--json-share F writes a share F of the normal events as JSON payloads, the original
ping-pong's encoding, which the consumers take beside msgpack on one topic: the fields in
a random order, unknown keys of any JSON type among them (a repeated one too), strings
escaped every way JSON allows. Written as {"_raw_hex": HEX, "_expect": "accept",
"_json": true, "_user_hex", "_email_hex" (absent when none or empty), "_ts",
"_activity", "_message_hex" (absent when none)}. With --malformed, JSON payloads the
decoder must reject join the kinds: missing and repeated fields (a key written with
escapes too), wrong types, bad values, and text that is not JSON (cut short, trailing
bytes, an integer too big, a byte that is not UTF-8, a lone surrogate), each with the
decoder's exact reason.

--simple writes the old shape (names PREFIX00042, every event with the email
PREFIX00042@example.com, no raw valid events; --no-email still applies), for tests that
compare outputs which are only defined for printable names.
"""
import argparse
import json
import random
import struct
import sys

USER_MAX = 255          # EVENT_USER_MAX: bytes of a name or an email
PAYLOAD_MAX = 64 * 1024  # EVENT_MAX_SIZE
MAX_DEPTH = 32          # containers nested deeper are rejected

# Characters by the width of their UTF-8 encoding.
WIDE = {
    1: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
    2: "\u00e9\u00fc\u00df\u00f1\u00e7\u00f8\u00e5\u00e6\u0153\u03b1\u03b2\u03b3\u0436\u0449\u044e\u05d0\u0627",
    3: "\u4e2d\u6587\u5b57\u65e5\u672c\u8a9e\ud55c\uad6d\uc5b4\u20ac\u2026\u2603\uffff\ufeff\u200d",
    4: "\U0001f600\U0001f389\U0001f680\U0001d11e\U00010348\U0001f004\U0010ffff",
}
SPECIAL = [" ", ", ", ",", "'", '"', "\\", "\t", "\n", "\r", "%s", "%n", "\u0301",
           "\u202e", "\u200b", "\ufeff", "\x7f", "\x01", "/", "{}", "::", "@", "\U0010ffff"]
DOMAINS = ["example.com", "ex.io", "mail.example.org", "chat.test",
           "a-much-longer-subdomain.of.an.example.net", "xn--bcher-kva.example",
           "\u4f8b\u3048.\u30c6\u30b9\u30c8"]


def blen(s):
    return len(s.encode("utf-8"))


# ---- msgpack, written here from the specification (no code shared with pingpong) -------

FORMS = {"8": ">B", "16": ">H", "32": ">I", "64": ">Q", "i32": ">i", "i64": ">q"}


def mp_str(b, form=None):
    n = len(b)
    if form is None:
        form = "fix" if n < 32 else "8" if n < 256 else "16" if n < 65536 else "32"
    if form == "fix":
        assert n < 32
        return bytes([0xa0 | n]) + b
    return {"8": b"\xd9", "16": b"\xda", "32": b"\xdb"}[form] + struct.pack(FORMS[form], n) + b


def mp_uint(v, form=None):
    """v as a msgpack integer: the smallest form, or the one asked for (a signed one too)."""
    if form is None:
        form = "fix" if v < 128 else "8" if v < 256 else "16" if v < 65536 else \
            "32" if v < 2 ** 32 else "64"
    if form == "fix":
        return bytes([v])
    tag = {"8": b"\xcc", "16": b"\xcd", "32": b"\xce", "64": b"\xcf", "i32": b"\xd2", "i64": b"\xd3"}[form]
    return tag + struct.pack(FORMS[form], v)


def mp_int(v):
    if v >= 0:
        return mp_uint(v)
    if v >= -32:
        return bytes([0xe0 | (v & 0x1f)])
    if v >= -128:
        return b"\xd0" + struct.pack(">b", v)
    if v >= -32768:
        return b"\xd1" + struct.pack(">h", v)
    if v >= -2 ** 31:
        return b"\xd2" + struct.pack(">i", v)
    return b"\xd3" + struct.pack(">q", v)


def mp_container(fix, tag16, tag32, n, form):
    if form is None:
        form = "fix" if n < 16 else "16"
    if form == "fix":
        assert n < 16
        return bytes([fix | n])
    return (tag16 if form == "16" else tag32) + struct.pack(FORMS[form], n)


def mp_map(pairs, form=None):
    return mp_container(0x80, b"\xde", b"\xdf", len(pairs), form) + b"".join(k + v for k, v in pairs)


def mp_array(items, form=None):
    return mp_container(0x90, b"\xdc", b"\xdd", len(items), form) + b"".join(items)


def mp_nested(depth, leaf=b"\xc0"):
    """depth arrays, one inside the other, around leaf."""
    return b"\x91" * depth + leaf


NIL, TRUE, FALSE = b"\xc0", b"\xc3", b"\xc2"
F64 = b"\xcb" + struct.pack(">d", 1.5)
F32 = b"\xca" + struct.pack(">f", 2.5)
BIN = b"\xc4\x03abc"
EXT = b"\xd4\x01\x00"


def k(name):
    return mp_str(name.encode())


def event_pairs(user, email, activity, message, ts):
    """The fields of an event as (key, value) msgpack pairs; user, email, message are
    bytes (email, message None when absent), activity a str, ts an int."""
    pairs = [(k("user"), mp_str(user))]
    if email is not None:
        pairs.append((k("email"), mp_str(email)))
    pairs.append((k("activity"), mp_str(activity.encode())))
    if message is not None:
        pairs.append((k("message"), mp_str(message)))
    pairs.append((k("ts"), mp_int(ts)))
    return pairs


def quote(b):
    """The decoder's rendering of bytes in a reason: printable ASCII but ' and \\ as it
    is, the rest \\xNN, the first 32 bytes, then "..."."""
    out = "".join(chr(c) if 0x20 <= c < 0x7f and c not in (0x27, 0x5c) else "\\x%02x" % c
                  for c in b[:32])
    return out + ("..." if len(b) > 32 else "")


# ---- names, emails, messages --------------------------------------------------------

def rand_chars(rng, nbytes, widths=(1, 2, 3, 4)):
    """Random characters of exactly nbytes UTF-8 bytes."""
    out = []
    while nbytes > 0:
        w = rng.choice([w for w in widths if w <= nbytes] or [1])
        out.append(rng.choice(WIDE[w]))
        nbytes -= w
    return "".join(out)


def make_name(rng, base, prefix):
    r = rng.random()
    if r < 0.55:
        return base
    if r < 0.70:
        return base + "-" + "".join(rng.choice(WIDE[rng.choice((2, 3))]) for _ in range(rng.randint(1, 8)))
    if r < 0.78:
        return base + "-" + "".join(rng.choice(WIDE[4]) for _ in range(rng.randint(1, 6)))
    if r < 0.86:
        # Long: up to the limit, any mix of widths.
        return base + "-" + rand_chars(rng, rng.randint(100, USER_MAX) - blen(base) - 1)
    if r < 0.92:
        # Exactly at the byte limit, ending in a multi-byte character.
        w = rng.choice((2, 3, 4))
        head = base + "-"
        return head + rand_chars(rng, USER_MAX - blen(head) - w) + rng.choice(WIDE[w])
    if r < 0.97:
        return base + "".join(rng.choice(SPECIAL) for _ in range(rng.randint(1, 3)))
    # Very short: the prefix alone, or the prefix and one character (never a digit, so
    # never another user's PREFIXnnnnn).
    return prefix + rng.choice(["", rng.choice(WIDE[1][:52]), rng.choice(WIDE[2]),
                                rng.choice(WIDE[3]), rng.choice(WIDE[4])])


def fit(s, limit=USER_MAX):
    """s cut to at most limit UTF-8 bytes, on a character boundary."""
    while blen(s) > limit:
        s = s[:-1]
    return s


def make_email(rng, local, variant):
    """The user's address (variant False) or a variant of another length."""
    if not variant:
        return fit(local + "@example.com")
    r = rng.random()
    if r < 0.15:
        # As long as it may be.
        tag = rand_chars(rng, USER_MAX)
        return fit(local + "+" + tag + "@x.io")
    tag = rand_chars(rng, rng.randint(1, 60), (1,) if r < 0.7 else (1, 2, 3, 4))
    return fit(local + "+" + tag + "@" + rng.choice(DOMAINS))


def make_message(rng, i):
    r = rng.random()
    if r < 0.05:
        return ""
    if r < 0.15:
        return "h\u00e9llo \U0001f600 %d \u4e2d" % i
    if r < 0.17:
        return "long " + "x" * rng.randint(200, 4000)
    return "hello %d" % i


# ---- malformed payloads: (bytes, the decoder's reason) ------------------------------

def malformed_kinds(with_nul):
    """Builders of rejected payloads; each takes (rng, user bytes, ts)."""
    # The email is short and plain, so that no other field's defect comes first.
    def ev(u, ts):
        return mp_map(event_pairs(u, b"someone@example.com", "heart-beat", None, ts))

    def fields(u, ts, drop=(), replace=None, extra=()):
        pairs = [(k("user"), mp_str(u)), (k("email"), mp_str(b"someone@example.com")),
                 (k("activity"), mp_str(b"send-message")), (k("message"), mp_str(b"hi")),
                 (k("ts"), mp_int(ts))]
        names = ["user", "email", "activity", "message", "ts"]
        out = []
        for n, p in zip(names, pairs):
            if n in drop:
                continue
            if replace and n in replace:
                p = (p[0], replace[n])
            out.append(p)
        return mp_map(out + list(extra))

    bad_utf8 = [b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"abc\xe2\x82", b"\xf4\x90\x80\x80",
                b"\x80", b"\xe0\x80\x80", b"\xf8\x88\x80\x80\x80", b"a\xc3"]

    kinds = [
        lambda r, u, ts: (b"\xc1", "malformed msgpack"),
        lambda r, u, ts: (b"", "empty payload"),
        lambda r, u, ts: (lambda p: (p[:r.randrange(1, len(p))], "truncated msgpack"))(ev(u, ts)),
        lambda r, u, ts: (lambda n: (ev(u, ts) + bytes(r.randrange(256) for _ in range(n)),
                                     "trailing bytes after event (%d bytes)" % n))(r.randint(1, 9)),
        # JSON text after a space: not JSON (its first byte is not '{'), but msgpack's
        # fixint 32 followed by the rest.
        lambda r, u, ts: (lambda j: (b" " + j, "trailing bytes after event (%d bytes)" % len(j)))(
            json.dumps({"user": u.decode(), "activity": "heart-beat", "ts": ts}).encode()),
        lambda r, u, ts: (mp_array([mp_str(u), mp_str(b"heart-beat"), mp_int(ts)]), "not a msgpack map"),
        lambda r, u, ts: (mp_str(u), "not a msgpack map"),
        lambda r, u, ts: (mp_int(ts), "not a msgpack map"),
        lambda r, u, ts: (fields(u, ts, extra=[(mp_int(1), mp_int(2))]), "map key is not a string"),
        lambda r, u, ts: (fields(u, ts, extra=[(BIN, NIL)]), "map key is not a string"),
        lambda r, u, ts: (fields(u, ts, extra=[(k("user"), mp_str(u))]), "duplicate field 'user'"),
        lambda r, u, ts: (fields(u, ts, extra=[(k("ts"), mp_int(ts))]), "duplicate field 'ts'"),
        lambda r, u, ts: (fields(u, ts, drop=("user",)), "missing field 'user'"),
        lambda r, u, ts: (fields(u, ts, drop=("activity",)), "missing field 'activity'"),
        lambda r, u, ts: (fields(u, ts, drop=("ts",)), "missing field 'ts'"),
        lambda r, u, ts: (fields(u, ts, drop=("message",)),
                          "missing field 'message' (required for send-message)"),
        lambda r, u, ts: (mp_map([]), "missing field 'user'"),
        lambda r, u, ts: (fields(u, ts, replace={"user": r.choice([mp_int(7), NIL, BIN, mp_array([])])}),
                          "field 'user' is not a string"),
        lambda r, u, ts: (fields(u, ts, replace={"email": r.choice([NIL, mp_int(0), FALSE, EXT])}),
                          "field 'email' is not a string"),
        lambda r, u, ts: (fields(u, ts, replace={"activity": r.choice([mp_int(1), NIL, TRUE])}),
                          "field 'activity' is not a string"),
        lambda r, u, ts: (fields(u, ts, replace={"message": r.choice([NIL, mp_int(3), BIN])}),
                          "field 'message' is not a string"),
        lambda r, u, ts: (fields(u, ts, replace={"ts": r.choice([F64, F32, mp_str(b"%d" % ts), NIL])}),
                          "field 'ts' is not an integer"),
        lambda r, u, ts: (lambda v: (fields(u, ts, replace={"ts": mp_uint(v, "64")}),
                                     "field 'ts' is out of range (%d)" % v))(r.choice([2 ** 63, 2 ** 64 - 1])),
        lambda r, u, ts: (fields(u, ts, replace={"ts": mp_int(0)}), "field 'ts' must be positive (got 0)"),
        lambda r, u, ts: (lambda v: (fields(u, ts, replace={"ts": mp_int(v)}),
                                     "field 'ts' must be positive (got %d)" % v))(r.choice([-1, -ts, -2 ** 63])),
        lambda r, u, ts: (lambda a: (fields(u, ts, replace={"activity": mp_str(a)}),
                                     "unknown activity '%s'" % quote(a)))(
            r.choice([b"login", b"HEART-BEAT", b"", b"send-message ", b"it's \\ \xc3\xa9\t",
                      b"heart-beat-but-much-longer-than-thirty-two-bytes"])),
        lambda r, u, ts: (fields(u, ts, replace={"user": mp_str(b"")}), "field 'user' is empty"),
        lambda r, u, ts: (lambda n: (fields(u, ts, replace={"user": mp_str(n)}),
                                     "field 'user' is too long (%d bytes, max 255)" % len(n)))(
            rand_chars(r, r.choice([256, 257, 300, 1000])).encode()),
        lambda r, u, ts: (lambda n: (fields(u, ts, replace={"email": mp_str(n)}),
                                     "field 'email' is too long (%d bytes, max 255)" % len(n)))(
            (rand_chars(r, 250) + "@example.com").encode()),
        lambda r, u, ts: (fields(u, ts, replace={"user": mp_str(b"ab" + r.choice(bad_utf8) + b"cd")}),
                          "field 'user' is not valid UTF-8"),
        lambda r, u, ts: (fields(u, ts, replace={"user": mp_str(r.choice(bad_utf8))}),
                          "field 'user' is not valid UTF-8"),
        lambda r, u, ts: (fields(u, ts, replace={"email": mp_str(r.choice(bad_utf8) + b"@example.com")}),
                          "field 'email' is not valid UTF-8"),
        lambda r, u, ts: (fields(u, ts, replace={"message": mp_str(b"hi " + r.choice(bad_utf8))}),
                          "field 'message' is not valid UTF-8"),
        lambda r, u, ts: (fields(u, ts, extra=[(k("x"), mp_nested(40))]), "msgpack nesting too deep (max 32)"),
        lambda r, u, ts: (mp_nested(MAX_DEPTH + 1), "msgpack nesting too deep (max 32)"),
        lambda r, u, ts: (lambda n: (mp_str(b"x" * n, "32"),
                                     "payload too large (%d bytes, max 65536)" % (n + 5)))(PAYLOAD_MAX),
        lambda r, u, ts: (b"\xdf\xff\xff\xff\xff" + k("user"), "truncated msgpack"),
        lambda r, u, ts: (b"\x81\xa4user\xdb\x7f\xff\xff\xff", "truncated msgpack"),
        lambda r, u, ts: (fields(u, ts, extra=[(k("x"), b"\xc1")]), "malformed msgpack"),
        lambda r, u, ts: (fields(u, ts)[:-1], "truncated msgpack"),
        lambda r, u, ts: (b"\x00", "not a msgpack map"),
        lambda r, u, ts: (fields(u, ts, replace={"user": EXT}), "field 'user' is not a string"),
        lambda r, u, ts: (fields(u, ts, replace={"activity": mp_str(b"")}), "unknown activity ''"),
        lambda r, u, ts: (b"\x93\x01\x02", "truncated msgpack"),
        lambda r, u, ts: (fields(u, ts, replace={"ts": mp_str(b"")}), "field 'ts' is not an integer"),
    ]
    if with_nul:
        kinds += [
            lambda r, u, ts: (fields(u, ts, replace={"user": mp_str(b"ab\x00" + u[:50].decode("utf-8", "ignore").encode())}),
                              "field 'user' contains a NUL byte"),
            lambda r, u, ts: (fields(u, ts, replace={"email": mp_str(b"a\x00@example.com")}),
                              "field 'email' contains a NUL byte"),
        ]
    return kinds


# ---- JSON payloads, as the original ping-pong's producers wrote them ----------------

JSON_SHORT = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}


def js_str(rng, s):
    """s as a JSON string literal, escaped now one way, now another (a decoder must take
    them all): quotes and backslashes always, control characters as \\n or \\u000a,
    and now and then any other character as \\uXXXX (a surrogate pair beyond U+FFFF)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif o < 0x20:
            out.append(JSON_SHORT[ch] if ch in JSON_SHORT and rng.random() < 0.5 else "\\u%04x" % o)
        elif rng is not None and rng.random() < 0.08:
            if o > 0xffff:
                o -= 0x10000
                out.append("\\u%04x\\u%04X" % (0xd800 + (o >> 10), 0xdc00 + (o & 0x3ff)))
            else:
                out.append(("\\u%04X" if rng.random() < 0.5 else "\\u%04x") % o)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


class Plain:
    """A random source that never chooses: js_str(PLAIN, s) escapes only what must be."""
    def random(self):
        return 1.0


PLAIN = Plain()


def js_any(rng, depth=2):
    """Any JSON value, as an unknown field may hold one."""
    r = rng.randrange(9 if depth > 0 else 7)
    if r == 0:
        return rng.choice(["null", "true", "false"])
    if r == 1:
        return str(rng.randint(-2 ** 63, 2 ** 63 - 1))
    if r == 2:
        return rng.choice(["1.5", "-0.0", "1e3", "2.5E-7", "1700000000000.0"])
    if r in (3, 4):
        return js_str(rng, rand_chars(rng, rng.randint(0, 12)))
    if r == 5:
        return '"ts"'
    if r == 6:
        return "[]"
    if r == 7:
        return "[" + ",".join(js_any(rng, depth - 1) for _ in range(rng.randint(1, 3))) + "]"
    # An object whose keys may repeat, and be the event's own: inside an unknown field's
    # value that is no defect.
    keys = [rng.choice(["user", "ts", "k", "k", "\u00e9"]) for _ in range(rng.randint(1, 3))]
    return "{" + ",".join(js_str(rng, k) + ":" + js_any(rng, depth - 1) for k in keys) + "}"


def json_text(rng, pairs):
    """The object of (key, value text) pairs, the keys in their order, with spaces, tabs
    and newlines between the tokens now and then. The first byte is always '{'."""
    def ws():
        return rng.choice(["", "", "", " ", "\n", "\t ", "\r\n  "])
    body = ("," + ws()).join(ws() + js_str(rng, k) + ws() + ":" + ws() + v + ws() for k, v in pairs)
    return ("{" + body + "}").encode("utf-8")


def json_event(rng, ev):
    """A valid event (a dict as gen_full makes them) as a JSON payload: its fields in a
    random order, unknown keys among them (one of them maybe twice), escapes of every
    kind. Returns the line that says what the consumers must take from it."""
    pairs = [(k, js_str(rng, ev[k]) if k != "ts" else str(ev[k]))
             for k in ("user", "email", "activity", "message", "ts") if k in ev]
    for _ in range(rng.choice([0, 0, 1, 2])):
        pairs.append((rng.choice(["client", "room", "User", "ts ", "v", ""]), js_any(rng)))
    if rng.random() < 0.1:
        pairs += [("x", js_any(rng)), ("x", js_any(rng))]
    rng.shuffle(pairs)
    line = {"_raw_hex": json_text(rng, pairs).hex(), "_expect": "accept", "_json": True,
            "_user_hex": ev["user"].encode().hex(), "_ts": ev["ts"], "_activity": ev["activity"]}
    if ev.get("email"):
        line["_email_hex"] = ev["email"].encode().hex()
    if "message" in ev:
        line["_message_hex"] = ev["message"].encode().hex()
    return line


def json_bad_kinds(with_nul):
    """Builders of JSON payloads the decoder rejects; each takes (rng, user bytes, ts) and
    returns (bytes, the decoder's reason). The fields' reasons are msgpack's; the text's
    are jansson's, which say where (the bytes read when it stopped)."""
    def fields(u, ts, drop=(), replace=None, extra=()):
        vals = {"user": js_str(PLAIN, u.decode()), "email": '"someone@example.com"',
                "activity": '"send-message"', "message": '"hi"', "ts": str(ts)}
        vals.update(replace or {})
        return [(k, vals[k]) for k in ("user", "email", "activity", "message", "ts") if k not in drop] + \
            list(extra)

    def text(pairs):
        return ("{" + ",".join(js_str(PLAIN, k) + ":" + v for k, v in pairs) + "}").encode()

    def raw_text(items):
        """For keys written with escapes: items are the key literals as they are."""
        return ("{" + ",".join(k + ":" + v for k, v in items) + "}").encode()

    def truncated(r, u, ts):
        t = text(fields(u, ts))[:-1]
        return t, "malformed JSON: '}' expected near end of file (at byte %d)" % len(t)

    def trailing(r, u, ts):
        t = text(fields(u, ts)) + b"x"
        return t, "malformed JSON: end of file expected near 'x' (at byte %d)" % len(t)

    def big_ts(r, u, ts):
        t = text(fields(u, ts, replace={"ts": "9223372036854775808"}))
        end = t.index(b"9223372036854775808") + 19
        return t, "malformed JSON: too big integer near '9223372036854775808' (at byte %d)" % end

    def bad_byte(r, u, ts):
        t = text(fields(u, ts, drop=("user",))).replace(b"{", b'{"user":"\xff",', 1)
        return t, "malformed JSON: unable to decode byte 0xff near '\"' (at byte %d)" % t.index(b"\xff")

    def surrogate(r, u, ts):
        t = text(fields(u, ts, replace={"user": '"\\ud800"'}))
        end = t.index(b'"\\ud800"') + 8
        return t, "malformed JSON: invalid Unicode '\\uD800' near '\"\\ud800\"' (at byte %d)" % end

    def escaped_dup(r, u, ts):
        items = [(js_str(PLAIN, k), v) for k, v in fields(u, ts)] + [('"us\\u0065r"', js_str(PLAIN, "x"))]
        return raw_text(items), "duplicate field 'user'"

    kinds = [
        lambda r, u, ts: (text(fields(u, ts, drop=("user",))), "missing field 'user'"),
        lambda r, u, ts: (text(fields(u, ts, drop=("activity",))), "missing field 'activity'"),
        lambda r, u, ts: (text(fields(u, ts, drop=("ts",))), "missing field 'ts'"),
        lambda r, u, ts: (text(fields(u, ts, drop=("message",))),
                          "missing field 'message' (required for send-message)"),
        lambda r, u, ts: (b"{}", "missing field 'user'"),
        lambda r, u, ts: (text(fields(u, ts, replace={"user": r.choice(["7", "null", "true", "[]", "{}"])})),
                          "field 'user' is not a string"),
        lambda r, u, ts: (text(fields(u, ts, replace={"email": r.choice(["null", "0", "false", "[\"a\"]"])})),
                          "field 'email' is not a string"),
        lambda r, u, ts: (text(fields(u, ts, replace={"activity": r.choice(["1", "null", "true"])})),
                          "field 'activity' is not a string"),
        lambda r, u, ts: (text(fields(u, ts, replace={"message": r.choice(["null", "3", "{\"a\":1}"])})),
                          "field 'message' is not a string"),
        lambda r, u, ts: (text(fields(u, ts, replace={"ts": r.choice(["1.5", "\"%d\"" % ts, "null", "1e3",
                                                                       "[%d]" % ts, "true"])})),
                          "field 'ts' is not an integer"),
        lambda r, u, ts: (lambda v: (text(fields(u, ts, replace={"ts": str(v)})),
                                     "field 'ts' must be positive (got %d)" % v))(r.choice([0, -1, -ts, -2 ** 63])),
        lambda r, u, ts: (lambda a: (text(fields(u, ts, replace={"activity": js_str(r, a.decode())})),
                                     "unknown activity '%s'" % quote(a)))(
            r.choice([b"login", b"HEART-BEAT", b"", b"send-message ", b"it's \\ \xc3\xa9\t",
                      b"heart-beat-but-much-longer-than-thirty-two-bytes"])),
        lambda r, u, ts: (text(fields(u, ts, replace={"user": '""'})), "field 'user' is empty"),
        lambda r, u, ts: (lambda n: (text(fields(u, ts, replace={"user": js_str(r, n)})),
                                     "field 'user' is too long (%d bytes, max 255)" % blen(n)))(
            rand_chars(r, r.choice([256, 300, 1000]))),
        lambda r, u, ts: (lambda n: (text(fields(u, ts, replace={"email": js_str(r, n)})),
                                     "field 'email' is too long (%d bytes, max 255)" % blen(n)))(
            rand_chars(r, 250) + "@example.com"),
        lambda r, u, ts: (text(fields(u, ts, extra=[("ts", str(ts))])), "duplicate field 'ts'"),
        escaped_dup,
        truncated,
        trailing,
        big_ts,
        bad_byte,
        surrogate,
    ]
    if with_nul:
        kinds += [
            lambda r, u, ts: (text(fields(u, ts, replace={"user": '"ab\\u0000c"'})),
                              "field 'user' contains a NUL byte"),
            lambda r, u, ts: (text(fields(u, ts, replace={"email": '"a\\u0000@example.com"'})),
                              "field 'email' contains a NUL byte"),
        ]
    return kinds


# ---- valid events that `pingpong produce` would never write: (bytes) ----------------

def raw_valid(rng, j, user, email, ts):
    """A valid event of user (bytes), email (bytes or None) and ts, in the j-th odd
    encoding. Returns (payload, the email the consumer sees: None if absent or empty)."""
    kind = j % 10
    msg = b"odd %d" % j
    if kind == 0:
        # Keys shuffled, unknown keys of every type among them.
        pairs = event_pairs(user, email, "send-message", msg, ts)
        pairs += [(k("extra"), v) for v in (NIL, TRUE, F64, F32, BIN, EXT, mp_int(-5),
                                            mp_map([(k("a"), mp_array([NIL, mp_str(b"x")]))]))]
        pairs += [(k("User"), mp_str(b"not-the-user")), (k("ts "), mp_int(1))]
        rng.shuffle(pairs)
        return mp_map(pairs, "16"), email
    if kind == 1:
        # Wide string headers.
        pairs = [(mp_str(b"user", "8"), mp_str(user, "16")), (mp_str(b"activity", "32"), mp_str(b"heart-beat", "8")),
                 (k("ts"), mp_uint(ts, "64"))]
        if email is not None:
            pairs.insert(1, (mp_str(b"email", "16"), mp_str(email, "32")))
        return mp_map(pairs, "32"), email
    if kind == 2:
        # ts as a signed 64-bit integer, activity before user.
        pairs = [(k("activity"), mp_str(b"heart-beat")), (k("ts"), mp_uint(ts, "i64")), (k("user"), mp_str(user))]
        if email is not None:
            pairs.append((k("email"), mp_str(email)))
        return mp_map(pairs), email
    if kind == 3:
        # An empty email: the same as none.
        return mp_map(event_pairs(user, b"", "heart-beat", None, ts)), None
    if kind == 4:
        # A heart-beat that carries a message, with NUL bytes in it.
        return mp_map(event_pairs(user, email, "heart-beat", b"a\x00b \xe2\x82\xac", ts)), email
    if kind == 5:
        # An empty message.
        return mp_map(event_pairs(user, email, "send-message", b"", ts)), email
    if kind == 6:
        # A payload of exactly 64 KiB: the largest accepted.
        base = mp_map(event_pairs(user, email, "send-message", b"", ts))
        # The message grows from a fixstr (1 byte header) to a str16 (3 bytes).
        n = PAYLOAD_MAX - len(base) - 2
        p = mp_map(event_pairs(user, email, "send-message", b"m" * n, ts))
        assert len(p) == PAYLOAD_MAX, len(p)
        return p, email
    if kind == 7:
        # Unknown values nested to the limit: the root map and 31 arrays.
        pairs = event_pairs(user, email, "heart-beat", None, ts) + [(k("deep"), mp_nested(MAX_DEPTH - 1))]
        return mp_map(pairs), email
    if kind == 8:
        # A map16 of few entries, ts as uint32 if it fits, else as a wide uint64.
        pairs = event_pairs(user, email, "heart-beat", None, ts)
        pairs[-1] = (k("ts"), mp_uint(ts, "32" if ts < 2 ** 32 else "64"))
        return mp_map(pairs, "16"), email
    # A send-message with an unknown key before every field.
    pairs = []
    for p in event_pairs(user, email, "send-message", msg, ts):
        pairs += [(k("_%d" % len(pairs)), mp_array([])), p]
    return mp_map(pairs, "16"), email


def gen_simple(a, rng):
    """The old shape: PREFIX00042 names, one email each, in every event."""
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
            ts = a.now - rng.randrange(a.stale_min, a.stale_max)
        ev = {"user": u, "email": u + "@example.com", "ts": ts}
        if a.no_email and rng.random() < a.no_email:
            del ev["email"]
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
    return events


def gen_full(a, rng):
    names, seen = [], set()
    for i in range(a.users):
        base = "%s%05d" % (a.prefix, i)
        n = make_name(rng, base, a.prefix)
        if n in seen or not n or blen(n) > USER_MAX:
            n = base
        seen.add(n)
        names.append(n)
    # An address per user: ASCII for most, non-ASCII for some.
    locals_ = []
    for i in range(a.users):
        local = ("%s%05d" % (a.prefix, i)).lower()
        if rng.random() < 0.1:
            local += "." + rand_chars(rng, rng.randint(2, 12), (2, 3))
        locals_.append(local)

    def pick_email(u):
        r = rng.random()
        if r < a.no_email:
            return None
        if r < a.no_email + a.empty_email:
            return ""
        return make_email(rng, locals_[u], rng.random() < a.email_change)

    def event(u, ts, i):
        ev = {"user": names[u]}
        email = pick_email(u)
        if email is not None:
            ev["email"] = email
        if rng.random() < 0.3:
            ev["activity"] = "send-message"
            ev["message"] = make_message(rng, i)
        else:
            ev["activity"] = "heart-beat"
            if rng.random() < 0.05:
                ev["message"] = make_message(rng, i)
        ev["ts"] = ts
        return ev

    edges = [a.now, a.now - 1, a.now - a.window, a.now - a.window + 1, a.now - a.window - 1]
    events, owner = [], []  # owner[i]: the user of events[i]
    for i in range(a.count):
        r = rng.random()
        if events and r < a.dups:
            j = rng.randrange(len(events))
            events.append(events[j])
            owner.append(owner[j])
            continue
        if events and r < a.dups + a.ties:
            j = rng.randrange(len(events))
            ev = event(owner[j], events[j]["ts"], i)
            ev["email"] = make_email(rng, locals_[owner[j]], True)
            events.append(ev)
            owner.append(owner[j])
            continue
        u = rng.randrange(a.users) if i >= a.users else i
        ts = a.now - rng.randrange(a.spread)
        r = rng.random()
        if r < a.stale:
            ts = a.now - rng.randrange(a.stale_min, a.stale_max)
        elif r < a.stale + 0.002:
            ts = rng.choice(edges)
        events.append(event(u, ts, i))
        owner.append(u)

    extra = []
    for i in range(a.near_future):
        # Inside --max-skew of any clock at or after --now; the edge itself sometimes.
        ts = a.now + (a.max_skew if i % 5 == 0 else rng.randint(1, a.max_skew))
        extra.append(event(rng.randrange(a.users), ts, i))
    for i in range(a.future):
        # Beyond --max-skew of any clock less than 10 minutes after --now.
        ts = a.now + a.max_skew + 600000 + rng.randrange(6600000)
        extra.append(event(rng.randrange(a.users), ts, i))
    for j in range(a.raw_valid):
        u = rng.randrange(a.users)
        email = pick_email(u)
        ts = a.now - rng.randrange(a.spread)
        ub = names[u].encode()
        eb = None if email is None else email.encode()
        payload, seen_email = raw_valid(rng, j, ub, eb, ts)
        line = {"_raw_hex": payload.hex(), "_expect": "accept", "_user_hex": ub.hex(), "_ts": ts}
        if seen_email:
            line["_email_hex"] = seen_email.hex()
        extra.append(line)
    kinds = malformed_kinds(a.with_nul)
    if a.json_share:
        kinds += json_bad_kinds(a.with_nul)
    for j in range(a.malformed):
        u = rng.randrange(a.users)
        payload, reason = kinds[j % len(kinds)](rng, names[u].encode(), a.now - rng.randrange(a.spread))
        extra.append({"_raw_hex": payload.hex(), "_expect": "reject", "_reason": reason})
    for ev in extra:
        events.insert(rng.randrange(len(events) + 1), ev)
    return events


def share(s):
    v = float(s)
    if not 0 <= v <= 1:
        raise argparse.ArgumentTypeError("a share is between 0 and 1, not %s" % s)
    return v


def main():
    ap = argparse.ArgumentParser(description="write chat events as JSON lines (see the source's docstring)")
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--count", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--now", type=int, required=True, help="ms since the epoch")
    ap.add_argument("--spread", type=int, default=60000, help="ms before --now (default 60000)")
    ap.add_argument("--stale", type=share, default=0.0)
    ap.add_argument("--stale-min", type=int, default=120000)
    ap.add_argument("--stale-max", type=int, default=600000)
    ap.add_argument("--dups", type=share, default=0.0)
    ap.add_argument("--ties", type=share, default=0.01)
    ap.add_argument("--malformed", type=int, default=0)
    ap.add_argument("--future", type=int, default=0)
    ap.add_argument("--near-future", type=int, default=0)
    ap.add_argument("--raw-valid", type=int, default=0)
    ap.add_argument("--no-email", type=share, default=None, help="default 0.1 (0 with --simple)")
    ap.add_argument("--empty-email", type=share, default=0.02)
    ap.add_argument("--email-change", type=share, default=0.3)
    ap.add_argument("--max-skew", type=int, default=300000)
    ap.add_argument("--window", type=int, default=30000)
    ap.add_argument("--with-nul", action="store_true")
    ap.add_argument("--json-share", type=share, default=0.0)
    ap.add_argument("--simple", action="store_true")
    ap.add_argument("--prefix", default="u", help="user names start with PREFIX00000, ...")
    a = ap.parse_args()
    if a.users < 1 or a.count < 0 or a.spread < 1 or a.stale_max <= a.stale_min:
        ap.error("need --users >= 1, --count >= 0, --spread >= 1, --stale-max > --stale-min")
    if a.no_email is None:
        a.no_email = 0.0 if a.simple else 0.1
    rng = random.Random(a.seed)
    events = gen_simple(a, rng) if a.simple else gen_full(a, rng)
    if a.json_share:
        # A share of the events as JSON payloads, on the same topic as the msgpack ones.
        jrng = random.Random(a.seed * 7919 + 1)
        events = [json_event(jrng, ev) if "_raw_hex" not in ev and jrng.random() < a.json_share else ev
                  for ev in events]
    out = sys.stdout
    for ev in events:
        out.write(json.dumps(ev, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
