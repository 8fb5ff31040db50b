#!/bin/sh
test_description='hostile names and messages: NUL bytes in identifiers are rejected; text output escapes controls'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to build msgpack and read the outputs'

start_broker --partitions 2 --topic nul --topic hostile

# The msgpack is built by tests/helpers/gen-events.py's encoder, written from the
# specification and sharing nothing with event.c, so that a producer that never went
# through pingpong's validation can be imitated; the escaping of text output comes from
# expect.py, written from pingpong(1)'s TEXT OUTPUT section alone.
cat >helpers.py <<EOF
import importlib.util, sys
sys.path.insert(0, "$top_srcdir/tests/helpers")
spec = importlib.util.spec_from_file_location("gen_events", "$top_srcdir/tests/helpers/gen-events.py")
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)
from expect import text_escape as esc

def mp_event(user, activity, ts, email=None, message=None):
    return gen.mp_map(gen.event_pairs(user, email, activity, message, ts))
EOF

# Eve\0a and Eve\0b were once both "Eve" to the store and to notify: two users merged
# into one, and each notified of the other's messages as if they were their own.
test_expect_success 'events whose user or email holds a NUL byte, written raw' '
	"$PYTHON3" - >nul.jsonl <<-\EOF &&
	import json, time
	from helpers import mp_event
	ts = int(time.time() * 1000) - 1000
	raw = [
	    mp_event(b"Eve\0a", "heart-beat", ts),
	    mp_event(b"Eve\0b", "send-message", ts, message=b"hi, it is b"),
	    mp_event(b"Eve", "heart-beat", ts, email=b"eve@example.org\0"),
	    mp_event(b"\0", "heart-beat", ts),
	    mp_event(b"Eve", "send-message", ts, message=b"NUL \0 in a message is fine"),
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

# An output may hold no control character but the newline that ends each line (and,
# in a tab-separated listing, the tabs between columns): no C0, no DEL, no C1; and it
# must be UTF-8. check_clean returns its lines.
cat >>helpers.py <<\EOF

def check_clean(path, tabs=False):
    text = open(path, "rb").read().decode("utf-8")
    for i, ch in enumerate(text):
        o = ord(ch)
        assert ch == "\n" or (tabs and ch == "\t") or \
            not (o < 0x20 or o == 0x7f or 0x80 <= o <= 0x9f), \
            "%s: control U+%04X at %d: %r" % (path, o, i, text[max(0, i - 20):i + 20])
    assert not text or text.endswith("\n"), path
    return text.split("\n")[:-1]
EOF

# Terminal escapes that clear the screen, set the title or switch colours (C0 ESC and C1
# CSI, U+009B), newlines that forge a whole report line, tabs that shift columns, a
# backslash that could fake an escape, DEL, a bell, a NUL inside a message; and a plain
# non-ASCII name that must come out as it is.
test_expect_success 'events whose names and messages hold controls' '
	"$PYTHON3" - >hostile.jsonl <<-\EOF &&
	import json, time
	now = int(time.time() * 1000)
	users = ["Eve\x1b[2J\x1b[H", "Mal\nActive Users: Nobody", "Tab\tCR\rBS\\x1b",
	         "C1\u0085\u009b31m", "Del\x7f", "Zo\u00eb \U0001F3D3", "Bell\x07\x1b]0;pwned\x07"]
	messages = ["hi \x1b]0;title\x07", "line1\nline2\r\n", "nul \x00 byte", "c1 \u0085 next",
	            "tab\tand \\ backslash", "plain"]
	for i, u in enumerate(users):
	    e = {"user": u, "email": u + "@example.org", "activity": "send-message",
	         "message": messages[i % len(messages)], "ts": now - 10000 + 1000 * i}
	    print(json.dumps(e))
	EOF
	pp produce -t hostile --from hostile.jsonl 2>produce.err &&
	grep "7 events to hostile" produce.err
'

test_expect_success 'messages: one line per message, its fields escaped' '
	pp messages $GROUP_OPTS -t hostile -g hostile-messages --exit-at-end >messages.out &&
	"$PYTHON3" - <<-\EOF
	import json
	from helpers import esc, check_clean
	want = sorted("%s: %s" % (esc(e["user"]), esc(e["message"]))
	              for e in map(json.loads, open("hostile.jsonl")))
	got = sorted(check_clean("messages.out"))
	assert got == want, (got, want)
	EOF
'

test_expect_success 'active: every report is one line, and none is forged' '
	pp active $GROUP_OPTS -t hostile -g hostile-active --store st.hostile --exit-at-end \
		--every 10ms --window 1h >active.out &&
	"$PYTHON3" - <<-\EOF
	import re
	from helpers import check_clean
	lines = check_clean("active.out")
	assert lines, "no report"
	# a report printed while catching up says so, in a mark of a fixed form
	mark = r"( \(catching up, ([0-9,]+ events behind|lag not known yet)\))?"
	for l in lines:
	    assert re.match(r"No Active Users%s\.\.\.$|Active Users%s: " % (mark, mark), l), l
	    assert not re.match(r"Active Users%s: Nobody$" % mark, l), l
	EOF
'

test_expect_success 'query active, users and user: escaped, one line per record or field' '
	pp query -t hostile --store st.hostile active --window 1h >query-active.out &&
	pp query -t hostile --store st.hostile users >query-users.out &&
	pp query -t hostile --store st.hostile user "$(printf "Mal\nActive Users: Nobody")" >query-user.out &&
	"$PYTHON3" - <<-\EOF
	import json
	from helpers import esc, check_clean
	events = [json.loads(l) for l in open("hostile.jsonl")]
	# oldest first, as the report lists them
	want = "Active Users: " + ", ".join(esc(e["user"]) for e in sorted(events, key=lambda e: e["ts"]))
	got = check_clean("query-active.out")
	assert got == [want], (got, want)
	# users in key order: the bytes of the name
	want = ["%s\t%d\t1\t%s" % (esc(e["user"]), e["ts"], esc(e["email"]))
	        for e in sorted(events, key=lambda e: e["user"].encode())]
	got = check_clean("query-users.out", tabs=True)
	assert got == want, (got, want)
	mal = [e for e in events if e["user"].startswith("Mal")][0]
	want = ["user: " + esc(mal["user"]), "email: " + esc(mal["email"]),
	        "last_seen: %d" % mal["ts"], "events: 1"]
	got = check_clean("query-user.out")
	assert got == want, (got, want)
	EOF
'

test_expect_success 'notify and query outbox: one line per notification, escaped' '
	pp notify $GROUP_OPTS -t hostile -g hostile-notify --store st.notify --active-store st.hostile \
		--after-store st.hostile --window 1h --exit-at-end >notify.out &&
	pp query -t hostile --store st.notify outbox >outbox.out &&
	"$PYTHON3" - <<-\EOF
	import json
	from helpers import esc, check_clean
	events = [json.loads(l) for l in open("hostile.jsonl")]
	want = []
	for m in events:
	    for r in events:
	        # active in (ts - 1h, ts], the sender left out
	        if r["user"] != m["user"] and m["ts"] - 3600000 < r["ts"] <= m["ts"]:
	            want.append("-> %s: %s" % (esc(r["user"]), esc(m["user"] + ": " + m["message"])))
	want.sort()
	assert len(want) == 21, len(want)
	got = sorted(check_clean("notify.out"))
	assert got == want, (got, want)
	assert sorted(check_clean("outbox.out")) == want
	EOF
'

# A group name is the operator's, but any string: store stat prints the one a store
# records.
test_expect_success 'query rejects and store stat: no raw control either' '
	group=$(printf "grp\033[2J\nusers:     0") &&
	pp messages $GROUP_OPTS -t hostile -g "$group" --store st.group --exit-at-end >/dev/null &&
	pp store stat --store st.group >stat.out &&
	pp query -t nul --store st rejects >rejects.out &&
	"$PYTHON3" -c "
from helpers import check_clean
assert len(check_clean(\"rejects.out\", tabs=True)) == 4
lines = check_clean(\"stat.out\")
assert len(lines) == 13, lines
assert lines[1] == \"group:     grp\\\\x1b[2J\\\\nusers:     0\", lines[1]
"
'

test_done
