#!/bin/sh
test_description='tail prints malformed events with their reason and payload, and goes on'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to build msgpack and read JSON lines'

# One partition: the topic then holds the events in the order of the file, keyed or not.
start_broker --partitions 1 --topic raw

# Writes input.jsonl, for produce --from, and expect.jsonl, what tail should print for
# each of its lines: {"event": {...}} for one that decodes, {"error": PHRASE, "hex": HEX}
# for one that does not. The msgpack is encoded here by hand, sharing nothing with
# event.c.
cat >make-input.py <<\EOF
import json

def mp_str(s):
    b = s.encode("utf-8")
    if len(b) < 32:
        return bytes([0xa0 | len(b)]) + b
    if len(b) < 256:
        return b"\xd9" + bytes([len(b)]) + b
    return b"\xda" + len(b).to_bytes(2, "big") + b

def mp_uint(v):
    # the widest form on purpose: a decoder must not care which one the encoder chose
    return b"\xcf" + v.to_bytes(8, "big")

def mp_map(pairs):
    out = bytes([0x80 | len(pairs)])
    for k, v in pairs:
        out += (mp_uint(k) if isinstance(k, int) else mp_str(k))
        out += (mp_uint(v) if isinstance(v, int) else mp_str(v))
    return out

def event(user, activity, ts, message=None, email=None):
    e = {"user": user, "activity": activity, "ts": ts}
    if message is not None:
        e["message"] = message
    if email is not None:
        e["email"] = email
    return e

good1 = event("Ann", "send-message", 1700000000001, "first", "ann@example.com")
good2 = event("Bob", "heart-beat", 1700000000002)
good3 = event("Zo\u00eb", "send-message", 1700000000003, "last one, after the bad ones")
raw_good = event("Raw", "send-message", 1700000000004, "encoded by the test")
raw_good_bytes = mp_map([("user", "Raw"), ("activity", "send-message"),
                         ("message", "encoded by the test"), ("ts", 1700000000004)])
raw_extra_bytes = mp_map([("room", "lobby"), ("user", "Extra"), ("activity", "heart-beat"),
                          ("ts", 1700000000005), ("version", 2)])
raw_extra = event("Extra", "heart-beat", 1700000000005)
no_ts = mp_map([("user", "ann"), ("activity", "heart-beat")])
int_key = mp_map([(1, 2)])
bad_activity = mp_map([("user", "ann"), ("activity", "dance"), ("ts", 5)])

bad = [
    ("c1", "malformed msgpack"),
    ("93010203", "not a msgpack map"),
    (no_ts.hex(), "missing field 'ts'"),
    (raw_good_bytes[:-3].hex(), "truncated"),
    ((raw_good_bytes + b"\xc0").hex(), "trailing bytes"),
    ((raw_good_bytes + b"\x01\x02\x03").hex(), "trailing bytes"),
    ("", "empty payload"),
    (int_key.hex(), "map key is not a string"),
    (bad_activity.hex(), "unknown activity 'dance'"),
    ("a5616263", "truncated"),
]

lines = []   # (input object, expected object)
lines.append((good1, {"event": good1, "key": "Ann"}))
for hexstr, phrase in bad[:3]:
    lines.append(({"_raw_hex": hexstr}, {"error": phrase, "hex": hexstr}))
lines.append(({"_raw_hex": raw_good_bytes.hex()}, {"event": raw_good, "key": None}))
for hexstr, phrase in bad[3:6]:
    lines.append(({"_raw_hex": hexstr}, {"error": phrase, "hex": hexstr}))
lines.append((good2, {"event": good2, "key": "Bob"}))
for hexstr, phrase in bad[6:]:
    lines.append(({"_raw_hex": hexstr}, {"error": phrase, "hex": hexstr}))
lines.append(({"_raw_hex": raw_extra_bytes.hex()}, {"event": raw_extra, "key": None}))
lines.append((good3, {"event": good3, "key": "Zo\u00eb"}))

with open("input.jsonl", "w", encoding="utf-8") as f:
    for inp, _ in lines:
        f.write(json.dumps(inp, ensure_ascii=False) + "\n")
with open("expect.jsonl", "w", encoding="utf-8") as f:
    for _, exp in lines:
        f.write(json.dumps(exp) + "\n")
EOF

# Compares tail's output, argv[1], with expect.jsonl line by line: offsets 0..n-1 in
# partition 0 of raw, with a producer's timestamp and no headers; a good event has
# exactly its fields back and no error; a bad one has its reason and payload_hex, no key
# and no event fields.
cat >check.py <<\EOF
import json, sys
ENVELOPE = ("topic", "partition", "offset", "timestamp", "timestamp_type", "key", "headers", "encoding")
got = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
want = [json.loads(l) for l in open("expect.jsonl", encoding="utf-8")]
assert len(got) == len(want), (len(got), len(want))
for i, (g, w) in enumerate(zip(got, want)):
    where = "line %d: %r" % (i + 1, g)
    assert list(g)[:len(ENVELOPE)] == list(ENVELOPE), where
    assert g["topic"] == "raw" and g["partition"] == 0 and g["offset"] == i, where
    assert g["timestamp_type"] == "create" and g["timestamp"] > 1700000000000, where
    assert g["headers"] == [] and g["encoding"] == "msgpack", where
    if "event" in w:
        assert "error" not in g and "payload_hex" not in g, where
        assert g["key"] == w["key"], where
        fields = {k: v for k, v in g.items() if k not in ENVELOPE}
        assert fields == w["event"], (where, w["event"])
    else:
        assert w["error"] in g.get("error", ""), (where, w["error"])
        assert g.get("payload_hex") == w["hex"], (where, w["hex"])
        assert g["key"] is None, where
        assert set(g) == set(ENVELOPE) | {"error", "payload_hex"}, where
print(len(got))
EOF

test_expect_success 'produce good events and malformed payloads with --from' '
	"$PYTHON3" make-input.py &&
	test_line_count = 15 input.jsonl &&
	pp produce -t raw --from input.jsonl 2>produce.err &&
	grep "^pingpong produce: 15 events to raw " produce.err
'

test_expect_success 'tail prints a line for each, and exits 0 at the end' '
	pp tail -t raw --from-beginning --exit-at-end >tail.out 2>tail.err &&
	test_line_count = 15 tail.out &&
	grep "^pingpong tail: 15 events" tail.err
'

test_expect_success 'each malformed one has its reason and payload_hex; good ones decode' '
	"$PYTHON3" check.py tail.out >checked &&
	echo 15 >expect &&
	test_cmp expect checked
'

test_expect_success 'the reasons name what is wrong' '
	grep "\"error\":\"malformed msgpack\",\"payload_hex\":\"c1\"" tail.out &&
	grep "\"error\":\"not a msgpack map\",\"payload_hex\":\"93010203\"" tail.out &&
	grep "\"error\":\"missing field '"'"'ts'"'"'\"" tail.out &&
	grep "\"error\":\"truncated msgpack\"" tail.out &&
	grep "\"error\":\"trailing bytes after event (1 bytes)\"" tail.out &&
	grep "\"error\":\"trailing bytes after event (3 bytes)\"" tail.out
'

test_expect_success 'tail --count stops after N, malformed ones counted' '
	pp tail -t raw --from-beginning --exit-at-end --count 3 >count.out 2>count.err &&
	test_line_count = 3 count.out &&
	head -n 3 tail.out >expect &&
	test_cmp expect count.out
'

test_done
