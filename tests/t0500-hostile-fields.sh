#!/bin/sh
test_description='hostile names and messages: NUL bytes in identifiers are rejected'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to build msgpack and read the outputs'

start_broker --partitions 2 --topic nul

# The msgpack is built here by hand, sharing nothing with event.c, so that a producer
# that never went through pingpong's validation can be imitated.
cat >mp.py <<\EOF
def mp_str(b):
    if isinstance(b, str):
        b = b.encode("utf-8")
    if len(b) < 32:
        return bytes([0xa0 | len(b)]) + b
    if len(b) < 256:
        return b"\xd9" + bytes([len(b)]) + b
    return b"\xda" + len(b).to_bytes(2, "big") + b

def mp_event(**fields):
    out = bytes([0x80 | len(fields)])
    for k, v in fields.items():
        out += mp_str(k)
        out += (b"\xcf" + v.to_bytes(8, "big")) if isinstance(v, int) else mp_str(v)
    return out
EOF

# Eve\0a and Eve\0b were once both "Eve" to the store and to notify: two users merged
# into one, and each notified of the other's messages as if they were their own.
test_expect_success 'events whose user or email holds a NUL byte, written raw' '
	"$PYTHON3" - >nul.jsonl <<-\EOF &&
	import json, time
	from mp import mp_event
	ts = int(time.time() * 1000) - 1000
	raw = [
	    mp_event(user=b"Eve\0a", activity="heart-beat", ts=ts),
	    mp_event(user=b"Eve\0b", activity="send-message", message="hi, it is b", ts=ts),
	    mp_event(user="Eve", email=b"eve@example.org\0", activity="heart-beat", ts=ts),
	    mp_event(user=b"\0", activity="heart-beat", ts=ts),
	    mp_event(user="Eve", activity="send-message", message=b"NUL \0 in a message is fine", ts=ts),
	]
	for r in raw:
	    print(json.dumps({"_raw_hex": r.hex()}))
	EOF
	pp produce -t nul --from nul.jsonl 2>produce.err &&
	grep "5 events to nul" produce.err
'

test_expect_success 'active records each in rejects with its own reason; only the real Eve is a user' '
	pp active $GROUP_OPTS -t nul -g nul --store st --exit-at-end --every 0 2>active.err &&
	grep "5 events consumed" active.err &&
	grep "1 applied, 4 rejected" active.err &&
	pp query -t nul --store st rejects >rejects &&
	test_line_count = 4 rejects &&
	test $(grep -c "	field '"'"'user'"'"' contains a NUL byte	" rejects) = 3 &&
	test $(grep -c "	field '"'"'email'"'"' contains a NUL byte	" rejects) = 1 &&
	pp query -t nul --store st --json users >users &&
	test_line_count = 1 users &&
	"$PYTHON3" -c "
import json
u = json.load(open(\"users\"))
assert u[\"user\"] == \"Eve\" and u[\"count\"] == 1, u
" &&
	pp store check --store st
'

test_expect_success 'messages skips them with the reason, and prints the message with a NUL' '
	pp messages $GROUP_OPTS -t nul -g nul-messages --json --exit-at-end >messages.json 2>messages.err &&
	test $(grep -c "skipped: field '"'"'user'"'"' contains a NUL byte" messages.err) = 3 &&
	test $(grep -c "skipped: field '"'"'email'"'"' contains a NUL byte" messages.err) = 1 &&
	test_line_count = 1 messages.json &&
	"$PYTHON3" -c "
import json
m = json.load(open(\"messages.json\"))
assert m[\"user\"] == \"Eve\" and m[\"message\"] == \"NUL \\0 in a message is fine\", m
"
'

test_expect_success 'produce --from refuses a NUL in a user or an email, naming the line; a message may hold one' '
	cat >nul-json.jsonl <<-\EOF &&
	{"user": "Ann", "activity": "send-message", "message": "a \u0000 b", "ts": 5}
	{"user": "Eve\u0000a", "activity": "heart-beat", "ts": 5}
	{"user": "Bob", "email": "bob\u0000@example.org", "activity": "heart-beat", "ts": 5}
	EOF
	test_expect_code 65 pp produce -t nul --from nul-json.jsonl 2>err &&
	grep "nul-json.jsonl:2: field '"'"'user'"'"' contains a NUL byte" err &&
	grep "nul-json.jsonl:3: field '"'"'email'"'"' contains a NUL byte" err &&
	! grep "nul-json.jsonl:1:" err
'

test_done
