#!/bin/sh
test_description='messages: user: message for every chat message, offsets in Kafka or in a store'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"
. "$top_srcdir/tests/crash/lib-crash.sh"

start_broker --partitions 3

# --simple: the expectations below are lines of text, which names with newlines, and
# messages that repeat, would make ambiguous; the active consumer's tests cover the
# whole domain.
test_expect_success 'produce chat messages and heart-beats' '
	"$PY" "$H/gen-events.py" --simple --users 50 --count 2000 --seed 5 --now $(now_ms) >events.jsonl &&
	pp produce --from events.jsonl -q &&
	"$PY" -c "
import json
for line in open(\"events.jsonl\"):
    ev = json.loads(line)
    if ev[\"activity\"] == \"send-message\":
        print(\"%s: %s\" % (ev[\"user\"], ev[\"message\"]))
" | LC_ALL=C sort >expected &&
	test_line_count -gt 100 expected
'

test_expect_success 'without a store: every message once, heart-beats skipped' '
	pp messages $GROUP_OPTS -g plain --exit-at-end >out 2>err &&
	LC_ALL=C sort out >actual &&
	test_cmp expected actual
'

test_expect_success 'without a store: offsets were committed to Kafka, so a rerun prints nothing' '
	pp messages $GROUP_OPTS -g plain --exit-at-end >again &&
	test_line_count = 0 again
'

test_expect_success 'with a store: the same lines, offsets in LMDB; a rerun prints nothing' '
	pp messages $GROUP_OPTS -g stored --store st --exit-at-end >out.st &&
	LC_ALL=C sort out.st >actual.st &&
	test_cmp expected actual.st &&
	partition_ends >ends &&
	pp query --store st offsets >offsets &&
	test_cmp ends offsets &&
	pp messages $GROUP_OPTS -g stored --store st --exit-at-end >again.st &&
	test_line_count = 0 again.st
'

test_expect_success '--json: one object per message with its partition and offset' '
	pp messages $GROUP_OPTS -g json --json --exit-at-end >out.json &&
	"$PY" -c "
import json
for line in open(\"out.json\"):
    m = json.loads(line)
    assert m[\"activity\"] == \"send-message\" and m[\"offset\"] >= 0 and 0 <= m[\"partition\"] < 3
    print(\"%s: %s\" % (m[\"user\"], m[\"message\"]))
" | LC_ALL=C sort >actual.json &&
	test_cmp expected actual.json
'

test_expect_success 'a crash before the commit prints lines again, never loses one (at least once)' '
	test_expect_code 134 env PINGPONG_CRASH=before-commit:2 "$PP" messages $GROUP_OPTS -g crash --store cr \
		--batch 100 --exit-at-end >crash.out 2>crash.err &&
	pp messages $GROUP_OPTS -g crash --store cr --exit-at-end >resume.out &&
	cat crash.out resume.out | LC_ALL=C sort -u >actual.crash &&
	test_cmp expected actual.crash &&
	test $(cat crash.out resume.out | wc -l) -gt $(wc -l <expected)
'

test_done
