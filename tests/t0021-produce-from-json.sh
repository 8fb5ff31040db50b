#!/bin/sh
test_description='produce --from FILE: JSON lines in, the same events out; bad files produce nothing'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to write and read the JSON lines'

start_broker --partitions 3 --topic json --topic json-bad --topic json-missing \
	--topic json-pipe --topic json-dash
# json-big takes a 2 MiB message: Kafka refuses one over its 1 MiB default
# (message.max.bytes) unless the topic says otherwise; the mock takes any.
if test_have_prereq KAFKA; then
	kafka_broker create-topic "$TRASH/kafka" json-big 3 max.message.bytes=10000000 >/dev/null ||
		test_bail_out "cannot create the topic json-big"
fi

# normalise [--tail] FILE: prints FILE's events as JSON with sorted keys, one a line,
# grouped by message key and in order within a key. The input's key is its user (the
# default --key user); tail's events are put in offset order, which within a key (one
# partition) is produce order. Fields absent stay absent.
cat >normalise.py <<\EOF
import json, sys
tail = sys.argv[1] == "--tail"
events = [json.loads(l) for l in open(sys.argv[-1], encoding="utf-8") if l.strip()]
if tail:
    parts = {}
    for e in events:
        assert "error" not in e, e
        assert parts.setdefault(e["key"], e["partition"]) == e["partition"], e
    events.sort(key=lambda e: (e["key"], e["offset"]))
else:
    for e in events:
        e["key"] = e["user"]
    events.sort(key=lambda e: e["key"])  # stable: input order within a key
fields = ("key", "user", "email", "activity", "message", "ts")
for e in events:
    print(json.dumps({f: e[f] for f in fields if f in e}, sort_keys=True, ensure_ascii=False))
EOF

test_expect_success 'write 50 events as JSON lines' '
	"$PYTHON3" - >events.jsonl <<-\EOF &&
	import json, sys
	users = ["Zo\u00eb", "\u674e\u96f7", "Ann", "Bob O'"'"'Neil", "\u00dcnal \u00d6zt\u00fcrk",
	         "Ren\u00e9e \"Quotes\" Back\\slash", "Emoji \U0001F3D3"]
	messages = ["hello", "caf\u00e9 cr\u00e8me", "\u4f60\u597d\uff0c\u4e16\u754c", "",
	            "tab\there, newline\nthere", "ping \U0001F3D3 pong", "x" * 300,
	            "quote \" and backslash \\"]
	out = sys.stdout.buffer
	for i in range(50):
	    u = users[(i * 3) % len(users)]
	    e = {"user": u}
	    if i % 3:
	        e["email"] = "user%d@example.com" % (i % 7) if i % 5 else u + "@\u4f8b\u3048.jp"
	    if i % 4 == 3:
	        e["activity"] = "heart-beat"
	    else:
	        e["activity"] = "send-message"
	        e["message"] = messages[i % len(messages)]
	    # ts values of every msgpack integer width, not in order
	    e["ts"] = [1, 200, 65535, 4294967295, 1700000000000 + 7 * i,
	               9007199254740993, 2 ** 62 + i][i % 7]
	    # some lines raw UTF-8, some \u-escaped; keys in any order
	    line = json.dumps(e, ensure_ascii=bool(i % 2), sort_keys=bool(i % 3 == 1))
	    out.write(line.encode("utf-8") + b"\n")
	EOF
	test_line_count = 50 events.jsonl &&
	grep "Zo" events.jsonl &&
	grep "heart-beat" events.jsonl
'

test_expect_success 'produce --from FILE exits 0 and reports 50 events' '
	pp produce -t json --from events.jsonl 2>produce.err &&
	grep "^pingpong produce: 50 events to json " produce.err
'

test_expect_success 'tail gives back the same events, in order within each key' '
	pp tail -t json --from-beginning --exit-at-end >tail.out 2>tail.err &&
	test_line_count = 50 tail.out &&
	"$PYTHON3" normalise.py events.jsonl >expect &&
	"$PYTHON3" normalise.py --tail tail.out >actual &&
	test_line_count = 50 expect &&
	test_cmp expect actual
'

# The file was read twice, once to validate and once to produce: from a pipe the second
# read found nothing, and produce exited 0 having produced nothing.
test_expect_success 'produce --from /dev/stdin reads a pipe once and produces all of it' '
	cat events.jsonl | pp produce -t json-pipe --from /dev/stdin 2>pipe.err &&
	grep "^pingpong produce: 50 events to json-pipe " pipe.err &&
	pp tail -t json-pipe --from-beginning --exit-at-end >tail-pipe.out &&
	"$PYTHON3" normalise.py --tail tail-pipe.out >actual-pipe &&
	test_cmp expect actual-pipe
'

test_expect_success 'produce --from - reads standard input' '
	cat events.jsonl | pp produce -t json-dash --from - 2>dash.err &&
	grep "^pingpong produce: 50 events to json-dash " dash.err &&
	pp tail -t json-dash --from-beginning --exit-at-end >tail-dash.out &&
	"$PYTHON3" normalise.py --tail tail-dash.out >actual-dash &&
	test_cmp expect actual-dash
'

test_expect_success 'the key of each event is its user, in raw UTF-8' '
	"$PYTHON3" - tail.out <<-\EOF
	import json, sys
	keys = set()
	for line in open(sys.argv[1], encoding="utf-8"):
	    e = json.loads(line)
	    assert e["key"] == e["user"], e
	    keys.add(e["key"])
	assert "Zo\u00eb" in keys and "\u674e\u96f7" in keys, keys
	EOF
'

test_expect_success 'a file with bad lines: exit 65, each named FILE:LINE:' '
	"$PYTHON3" - >bad.jsonl <<-\EOF &&
	import json
	good = {"user": "Ann", "activity": "heart-beat", "ts": 1700000000000}
	lines = [
	    json.dumps(good),                                               # 1
	    json.dumps(dict(good, user="Bob")),                             # 2
	    json.dumps({"user": "Carol", "activity": "heart-beat"}),        # 3: no ts
	    json.dumps(dict(good, user="Dave")),                            # 4
	    "{\"user\": \"Eve\", \"activity\": ",                          # 5: not JSON
	    json.dumps(dict(good, user="Fay")),                             # 6
	    "[1, 2, 3]",                                                    # 7: not an object
	    json.dumps(dict(good, activity="dance")),                       # 8: no such activity
	    json.dumps(dict(good, user="Gus")),                             # 9
	]
	print("\n".join(lines))
	EOF
	test_line_count = 9 bad.jsonl &&
	test_expect_code 65 pp produce -t json-bad --from bad.jsonl >out 2>err &&
	test_line_count = 0 out &&
	grep "bad.jsonl:3: .*ts" err &&
	grep "bad.jsonl:5: " err &&
	grep "bad.jsonl:7: " err &&
	grep "bad.jsonl:8: .*dance" err &&
	grep -c "bad.jsonl:[0-9]*: " err >count &&
	echo 4 >expect &&
	test_cmp expect count
'

test_expect_success 'and nothing of it was produced' '
	pp tail -t json-bad --from-beginning --exit-at-end >tail-bad.out 2>tail-bad.err &&
	test_line_count = 0 tail-bad.out &&
	grep "^pingpong tail: 0 events" tail-bad.err
'

test_expect_success 'a bad file on standard input: exit 65, lines named, nothing produced' '
	cat bad.jsonl | test_expect_code 65 pp produce -t json-bad --from - >out 2>err &&
	test_line_count = 0 out &&
	grep "(standard input):3: .*ts" err &&
	grep "(standard input):8: .*dance" err &&
	grep "(standard input): 4 bad line(s); nothing produced" err &&
	pp tail -t json-bad --from-beginning --exit-at-end >tail-bad2.out 2>/dev/null &&
	test_line_count = 0 tail-bad2.out
'

test_expect_success 'a missing file: exit 66, named' '
	test_expect_code 66 pp produce -t json-missing --from no-such-file.jsonl >out 2>err &&
	test_line_count = 0 out &&
	grep "no-such-file.jsonl" err &&
	pp tail -t json-missing --from-beginning --exit-at-end >tail-missing.out 2>/dev/null &&
	test_line_count = 0 tail-missing.out
'

# _raw_hex was decoded with one sscanf per byte, each of which measured the rest of the
# string, and the file was decoded twice: quadratic. Here a 4 MiB line (2 MiB of payload)
# took over a minute; linear, it takes well under a second. The bound is generous: it
# only has to tell linear from quadratic. The payload is over EVENT_MAX_SIZE, so tail
# reports it as too large, with every byte in payload_hex. Kafka refuses a message over
# 1 MiB unless its topic allows more (max.message.bytes, and segments large enough to
# hold it: the test broker keeps them small); the mock takes any size.
if test_have_prereq KAFKA; then
	kafka_broker create-topic "$TRASH/kafka" json-big-kafka 1 max.message.bytes=10000000 \
		segment.bytes=16777216 >/dev/null &&
	BIG_TOPIC=json-big-kafka
else
	BIG_TOPIC=json-big
fi
test_expect_success 'a 4 MiB _raw_hex line is produced in bounded time, byte for byte' '
	"$PYTHON3" -c "
import os
print(\"{\\\"_raw_hex\\\":\\\"%s\\\"}\" % os.urandom(2 * 1024 * 1024).hex().upper())
" >big.jsonl &&
	test $(wc -c <big.jsonl) -gt 4194304 &&
	test_bg produce-big pp produce -t $BIG_TOPIC -X message.max.bytes=10000000 --from big.jsonl &&
	test_wait produce-big 20 &&
	grep "^pingpong produce: 1 events to $BIG_TOPIC " produce-big.err &&
	pp tail -t $BIG_TOPIC --from-beginning --exit-at-end -X fetch.message.max.bytes=10000000 \
		>tail-big.out 2>tail-big.err &&
	test_line_count = 1 tail-big.out &&
	"$PYTHON3" -c "
import json, sys
want = json.load(open(\"big.jsonl\"))[\"_raw_hex\"].lower()
got = json.load(open(\"tail-big.out\"))
assert got[\"payload_hex\"] == want, (len(got[\"payload_hex\"]), len(want))
assert got[\"error\"].startswith(\"payload too large (2097152 bytes\"), got[\"error\"]
"
'

test_expect_success '_raw_hex that is not hex, or of odd length, is a bad line' '
	printf "%s\n" "{\"_raw_hex\":\"c1\"}" "{\"_raw_hex\":\"c1f\"}" "{\"_raw_hex\":\"zz\"}" \
		"{\"_raw_hex\":12}" >badhex.jsonl &&
	test_expect_code 65 pp produce -t json-bad --from badhex.jsonl 2>err &&
	grep "badhex.jsonl:2: _raw_hex is not a hex string" err &&
	grep "badhex.jsonl:3: _raw_hex is not a hex string" err &&
	grep "badhex.jsonl:4: _raw_hex is not a hex string" err &&
	! grep "badhex.jsonl:1:" err
'

test_done
