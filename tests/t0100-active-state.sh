#!/bin/sh
test_description='active: the store equals the events, computed independently; a rerun changes nothing'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to compute the expected results'
PY=${PYTHON3:-python3}
H=$top_srcdir/tests/helpers
start_broker --partitions 4

# Event time is set around now; the store's retention is wall-clock based.
NOW=$($PY -c 'import time; print(int(time.time() * 1000))')
MAX_TS=$((NOW + 300000))
# The same instant in ISO 8601, in UTC and at +02:00, written by Python, not by pingpong.
iso_now () {
	"$PY" -c "import datetime as d; t = d.datetime.fromtimestamp($NOW // 1000, d.timezone(d.timedelta(hours=$1)));
print(t.strftime('%Y-%m-%dT%H:%M:%S') + '.%03d' % ($NOW % 1000) + ('Z' if $1 == 0 else t.strftime('%z')[:3] + ':' + t.strftime('%z')[3:]))"
}
NOW_UTC=$(iso_now 0)
NOW_PLUS2=$(iso_now 2)

# "user last_seen count" from `query users`, sorted like expect.py's.
users_table () {
	pp query --store "$1" users | awk -F '\t' '{ print $1, $2, $3 }' | LC_ALL=C sort
}

test_expect_success 'produce 100,000 events of 10,000 users, stale, future and malformed ones among them' '
	"$PY" "$H/gen-events.py" --users 10000 --count 100000 --seed 3 --now $NOW \
		--stale 0.1 --dups 0.01 --malformed 7 --future 5 >events.jsonl &&
	pp produce --from events.jsonl 2>produce.err &&
	grep "100012 events to chat" produce.err
'

test_expect_success 'active consumes every event once' '
	pp active $GROUP_OPTS --store st --exit-at-end --every 0 --retain 1h 2>active.err &&
	grep "100012 events consumed" active.err &&
	grep "100000 applied, 12 rejected, 0 already applied" active.err
'

test_expect_success 'the active users at T equal the independent computation' '
	"$PY" "$H/expect.py" active events.jsonl --at $NOW --window 30000 --max-ts $MAX_TS >expected &&
	test_line_count -gt 1000 expected &&
	pp query --store st active --at $NOW --json >active.json &&
	"$PY" -c "import json; [print(u[\"user\"]) for u in json.load(open(\"active.json\"))[\"users\"]]" |
		LC_ALL=C sort >actual &&
	test_cmp expected actual
'

test_expect_success 'the text report lists the same users' '
	pp query --store st active --at $NOW >report &&
	sed -n "s/^Active Users: //p" report | tr "," "\n" | sed "s/^ //" | LC_ALL=C sort >actual.text &&
	test_cmp expected actual.text
'

test_expect_success "query --at takes ISO 8601 ($NOW_UTC, $NOW_PLUS2) as well as milliseconds" '
	pp query --store st active --at "$NOW_UTC" --json >utc.json &&
	test_cmp active.json utc.json &&
	pp query --store st active --at "$NOW_PLUS2" --json >plus2.json &&
	test_cmp active.json plus2.json
'

test_expect_success 'stale users are not active, though their history is kept' '
	"$PY" "$H/expect.py" users events.jsonl --max-ts $MAX_TS >expected.users &&
	awk -v t=$((NOW - 30000)) "\$2 <= t { print \$1 }" expected.users >stale &&
	test_line_count -gt 0 stale &&
	! grep -x -F -f stale actual
'

test_expect_success 'every user last_seen and event count equals the events' '
	users_table st >actual.users &&
	test_cmp expected.users actual.users
'

test_expect_success 'rejects hold the malformed and the future events' '
	test "$("$PY" "$H/expect.py" rejects events.jsonl --max-ts $MAX_TS)" = 12 &&
	pp query --store st rejects >rejects &&
	test_line_count = 12 rejects &&
	test "$(grep -c "in the future" rejects)" = 5
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
	users_table st >again.users &&
	test_cmp expected.users again.users &&
	pp query --store st offsets >again.offsets &&
	test_cmp expected.offsets again.offsets
'

test_expect_success 'a store of another group is refused, naming it' '
	test_expect_code 74 pp active --store st --group other --exit-at-end 2>other.err &&
	grep "belongs to group .pingpong-active." other.err
'

test_done
