#!/bin/sh
test_description='active: the store equals the events, computed independently; a rerun changes nothing'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to compute the expected results'
PY=${PYTHON3:-python3}
H=$top_srcdir/tests/helpers
start_broker --partitions 4

# Event time is set around now; the store's retention is wall-clock based. Events
# stamped after MAX_TS are beyond the default --max-skew of the consumer's clock.
NOW=$($PY -c 'import time; print(int(time.time() * 1000))')
MAX_TS=$((NOW + 300000))
# The same instant in ISO 8601, in UTC and at +02:00, written by Python, not by pingpong.
iso_now () {
	"$PY" -c "import datetime as d; t = d.datetime.fromtimestamp($NOW // 1000, d.timezone(d.timedelta(hours=$1)));
print(t.strftime('%Y-%m-%dT%H:%M:%S') + '.%03d' % ($NOW % 1000) + ('Z' if $1 == 0 else t.strftime('%z')[:3] + ':' + t.strftime('%z')[3:]))"
}
NOW_UTC=$(iso_now 0)
NOW_PLUS2=$(iso_now 2)
SEED=${PINGPONG_SEED:-3}
say "seed $SEED: replay with PINGPONG_SEED=$SEED"

# The whole domain the consumer accepts (gen-events.py): missing, empty and changing
# emails, long and non-ASCII names, duplicates, disorder, events older than the 1 h
# retention, future events inside and beyond --max-skew, valid events in odd encodings,
# and every kind of malformed payload twice.
test_expect_success 'produce 100,000 events of 10,000 users over the whole domain' '
	"$PY" "$H/gen-events.py" --users 10000 --count 100000 --seed $SEED --now $NOW \
		--stale 0.1 --stale-max 7200000 --dups 0.01 --malformed 90 --future 5 \
		--near-future 10 --raw-valid 40 >events.jsonl &&
	"$PY" "$H/expect.py" counts events.jsonl --max-ts $MAX_TS >counts &&
	cat counts &&
	read _ total _ applied _ rejected _ users <counts &&
	pp produce --from events.jsonl 2>produce.err &&
	grep "$total events to chat" produce.err
'

test_expect_success 'active consumes every event once' '
	pp active $GROUP_OPTS --store st --exit-at-end --every 0 --retain 1h 2>active.err &&
	grep "$total events consumed" active.err &&
	grep "$applied applied, $rejected rejected, 0 already applied" active.err
'

# The store keeps each partition's last_seen apart: the expectation needs to know where
# each event went, which the consumed topic says.
test_expect_success 'the active users at T equal the independent computation' '
	pp tail --from-beginning --exit-at-end -q >consumed.jsonl &&
	"$PY" "$H/expect.py" active consumed.jsonl --at $NOW --window 30000 --max-ts $MAX_TS --json >expected &&
	pp query --store st active --at $NOW --json >active.json &&
	"$PY" - expected active.json <<-\EOF
	import json, sys
	want = json.load(open(sys.argv[1], "rb"))
	got = json.load(open(sys.argv[2], "rb"))["users"]
	print("%d active users expected, %d listed" % (len(want), len(got)))
	assert len(want) > 1000 and got == want
	EOF
'

test_expect_success 'the text report lists the same users, in the same order' '
	"$PY" "$H/expect.py" active consumed.jsonl --at $NOW --window 30000 --max-ts $MAX_TS --text >expected.text &&
	pp query --store st active --at $NOW >report &&
	test_cmp expected.text report
'

test_expect_success "query --at takes ISO 8601 ($NOW_UTC, $NOW_PLUS2) as well as milliseconds" '
	pp query --store st active --at "$NOW_UTC" --json >utc.json &&
	test_cmp active.json utc.json &&
	pp query --store st active --at "$NOW_PLUS2" --json >plus2.json &&
	test_cmp active.json plus2.json
'

# The consumer kept its index for --retain 1h before its own clock: a window reaching
# further back may miss users, and query says so; a window within it is quiet.
test_expect_success 'query active warns when its window starts before the index floor' '
	pp query --store st active --at $NOW --json 2>quiet.err >/dev/null &&
	test_line_count = 0 quiet.err &&
	pp query --store st active --at $NOW --window 2h --json 2>floor.err >/dev/null &&
	grep "warning: the window starts at $((NOW - 7200000 + 1)), before the index floor" floor.err
'

test_expect_success 'stale users are not active, though their history is kept' '
	"$PY" "$H/expect.py" users events.jsonl --max-ts $MAX_TS --json >expected.users &&
	"$PY" - expected.users active.json $NOW <<-\EOF
	import json, sys
	users = [json.loads(l) for l in open(sys.argv[1], "rb")]
	listed = {u["user"] for u in json.load(open(sys.argv[2], "rb"))["users"]}
	stale = [u["user"] for u in users if u["last_seen"] <= int(sys.argv[3]) - 30000]
	print("%d stale users" % len(stale))
	assert stale and not listed.intersection(stale)
	EOF
'

test_expect_success 'every user: last_seen, event count and email equal the events; rejects are the malformed and future ones, with their reasons' '
	pp query --store st --json users >actual.users &&
	pp query --store st --json rejects >actual.rejects &&
	"$PY" "$H/expect.py" compare events.jsonl actual.users --rejects actual.rejects --max-ts $MAX_TS >cmp 2>cmp.diff ||
		{ cat cmp cmp.diff; false; } &&
	cat cmp &&
	test "$(wc -l <actual.users)" = $users &&
	test "$(wc -l <actual.rejects)" = $rejected &&
	test "$(grep -c "in the future" actual.rejects)" = 5
'

# Filters end quietly when their reader goes: query, like the consumers, exits 0 (it was
# killed by SIGPIPE). 10,000 users are far more than a pipe holds, so the write that
# finds it closed is certain.
test_expect_success 'query users into a closed pipe ends quietly with status 0' '
	{ pp query --store st users 2>query.err; echo $? >query.status; } | head -n 1 >first &&
	test_line_count = 1 first &&
	echo 0 >expect.status &&
	test_cmp expect.status query.status &&
	test_line_count = 0 query.err
'

test_expect_success 'stored offsets equal the ends of the partitions' '
	pp tail --from-beginning --exit-at-end -q |
		"$PY" -c "
import json, sys
end = {}
for line in sys.stdin:
    m = json.loads(line)
    end[m[\"partition\"]] = max(end.get(m[\"partition\"], 0), m[\"offset\"] + 1)
for p in sorted(end):
    print(\"%d\t%d\" % (p, end[p]))
" >expected.offsets &&
	pp query --store st offsets >actual.offsets &&
	test_cmp expected.offsets actual.offsets
'

test_expect_success 'store check passes' '
	pp store check --store st
'

test_expect_success 'a second run over the same topic is a no-op' '
	pp active $GROUP_OPTS --store st --exit-at-end --every 0 --retain 1h 2>rerun.err &&
	grep "0 events consumed" rerun.err &&
	pp query --store st --json users >again.users &&
	test_cmp actual.users again.users &&
	pp query --store st offsets >again.offsets &&
	test_cmp expected.offsets again.offsets
'

# A local queue of 1,000 messages: the fetcher stops at it and kafka_flow wakes it by
# asking the leaders for the log ends, which must lose and repeat nothing.
test_expect_success 'a small local queue: the fetcher stops and is woken; the same store' '
	pp active -v $GROUP_OPTS --store st2 --group flow --exit-at-end --every 0 --retain 1h \
		-X queued.min.messages=1000 2>flow.err &&
	grep "$applied applied, $rejected rejected, 0 already applied" flow.err &&
	test "$(sed -n "s/.*flow control: \([0-9]*\) nudges.*/\1/p" flow.err)" -gt 0 &&
	pp query --store st2 --json users >flow.users &&
	test_cmp actual.users flow.users &&
	pp query --store st2 --json rejects >flow.rejects &&
	future="s/is [0-9]* ms in the future/is N ms in the future/" &&
	sed "$future" actual.rejects >expect.rejects &&
	sed "$future" flow.rejects >actual.flow.rejects &&
	test_cmp expect.rejects actual.flow.rejects &&
	pp query --store st2 offsets >flow.offsets &&
	test_cmp expected.offsets flow.offsets
'

test_expect_success 'a store of another group is refused, naming it' '
	test_expect_code 74 pp active --store st --group other --exit-at-end 2>other.err &&
	grep "belongs to group .pingpong-active." other.err
'

test_done
