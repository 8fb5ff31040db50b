#!/bin/sh
test_description='JSON and msgpack events on one topic: the store equals the events, computed independently'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to compute the expected results'
PY=${PYTHON3:-python3}
H=$top_srcdir/tests/helpers
start_broker --partitions 3 --topic chat --topic big

NOW=$($PY -c 'import time; print(int(time.time() * 1000))')
MAX_TS=$((NOW + 300000))
SEED=${PINGPONG_SEED:-12}
say "seed $SEED: replay with PINGPONG_SEED=$SEED"

# The whole domain, a share of it as the original ping-pong's JSON (fields in any
# order, unknown keys of every JSON type, every escape), and malformed payloads of both
# encodings, each with its reason. Then another room whose every event produce writes
# as JSON. Both go to one topic.
test_expect_success 'produce a mixed topic: msgpack, JSON, malformed of both' '
	"$PY" "$H/gen-events.py" --users 1500 --count 15000 --seed $SEED --now $NOW --prefix m \
		--stale 0.05 --dups 0.02 --malformed 160 --future 8 --near-future 8 --raw-valid 30 \
		--with-nul --json-share 0.4 >mixed.jsonl &&
	"$PY" "$H/gen-events.py" --users 300 --count 3000 --seed $((SEED + 1)) --now $NOW --prefix j \
		--dups 0.02 >json.jsonl &&
	cat mixed.jsonl json.jsonl >all.jsonl &&
	grep -c "\"_json\":true" mixed.jsonl >n.json &&
	test $(cat n.json) -gt 5000 &&
	pp produce --from mixed.jsonl -q &&
	pp produce --from json.jsonl --format json -q
'

test_expect_success 'tail sees each payload in its encoding' '
	pp tail -o beginning --exit-at-end >tail.out &&
	"$PY" - tail.out mixed.jsonl json.jsonl <<-\EOF
	import json, sys
	enc = {"json": 0, "msgpack": 0}
	for l in open(sys.argv[1]):
	    enc[json.loads(l)["encoding"]] += 1
	mixed = [json.loads(l) for l in open(sys.argv[2])]
	# JSON: the --json-share payloads, malformed JSON ones, and the second room whole.
	want_json = sum(1 for e in mixed if "_raw_hex" in e and bytes.fromhex(e["_raw_hex"])[:1] == b"{")
	want_json += sum(1 for l in open(sys.argv[3]))
	print(enc, want_json)
	assert enc["json"] == want_json, (enc, want_json)
	assert enc["msgpack"] == len(mixed) + sum(1 for l in open(sys.argv[3])) - want_json, enc
	EOF
'

test_expect_success 'active consumes every event once' '
	"$PY" "$H/expect.py" counts all.jsonl --max-ts $MAX_TS >counts &&
	cat counts &&
	read _ total _ applied _ rejected _ users <counts &&
	pp active $GROUP_OPTS --store st --exit-at-end --every 0 --retain 1h 2>active.err &&
	grep "$total events consumed" active.err &&
	grep "$applied applied, $rejected rejected, 0 already applied" active.err
'

test_expect_success 'users, emails and rejects (reasons, payloads) equal the independent computation' '
	pp query --store st --json users >users.json &&
	pp query --store st --json rejects >rejects.json &&
	"$PY" "$H/expect.py" compare all.jsonl users.json --max-ts $MAX_TS --rejects rejects.json \
		>cmp 2>cmp.diff || { cat cmp cmp.diff; false; } &&
	cat cmp &&
	grep -c "malformed JSON: " rejects.json >n.malformed &&
	test $(cat n.malformed) -ge 8
'

test_expect_success 'the active users at NOW equal the independent computation' '
	"$PY" "$H/expect.py" active tail.out --at $NOW --window 30000 --max-ts $MAX_TS --json >expected &&
	pp query --store st active --at $NOW --json >active.json &&
	"$PY" - expected active.json <<-\EOF
	import json, sys
	want = json.load(open(sys.argv[1], "rb"))
	got = json.load(open(sys.argv[2], "rb"))["users"]
	print("%d active users expected, %d listed" % (len(want), len(got)))
	assert len(want) > 500 and got == want
	EOF
'

# messages prints what it decodes: a JSON message with escapes comes out as the text.
test_expect_success 'messages --json prints every chat message of both encodings' '
	pp messages $GROUP_OPTS -g msgs --json --exit-at-end >messages.json &&
	"$PY" - all.jsonl messages.json <<-\EOF
	import collections, json, sys
	want = collections.Counter()
	for l in open(sys.argv[1], encoding="utf-8"):
	    e = json.loads(l)
	    if "_raw_hex" in e:
	        if e.get("_activity") != "send-message":
	            continue  # a malformed payload, a valid msgpack one in an odd encoding or a heart-beat
	        e = {"user": bytes.fromhex(e["_user_hex"]).decode(), "message": bytes.fromhex(e["_message_hex"]).decode()}
	    elif e["activity"] != "send-message":
	        continue
	    want[(e["user"], e["message"])] += 1
	got = collections.Counter((m["user"], m["message"]) for m in map(json.loads, open(sys.argv[2], encoding="utf-8")))
	# raw-valid send-messages (odd msgpack) print too: they are in got, not in want.
	extra = got - want
	assert not (want - got), list((want - got).items())[:5]
	assert sum(extra.values()) <= 30, list(extra.items())[:5]
	print(sum(want.values()), "messages")
	EOF
'

test_expect_success 'produce --format json refuses an event too large as JSON, and produces nothing' '
	"$PY" -c "import json; print(json.dumps({\"user\": \"big\", \"activity\": \"send-message\", \"ts\": 5,
	                                       \"message\": \"\\x01\" * 20000}))" >big.jsonl &&
	pp produce -t big --from big.jsonl -q &&
	test_expect_code 65 pp produce -t big --from big.jsonl --format json 2>err &&
	grep "big.jsonl:1: event too large as JSON (120" err &&
	pp tail -t big -o beginning --exit-at-end >big.out &&
	test_line_count = 1 big.out
'

test_done
