#!/bin/sh
test_description='active compacts its time index while caught up and while idle: the stale entries a touch leaves behind go, a window holds one entry per user again, and a crash inside a compaction loses nothing'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to read store stat --json'
PY=${PYTHON3:-python3}
start_broker --partitions 3

# "records index" of the store, from store stat --json (readable while active runs).
counts () {
	pp store stat --store "$1" --json |
	"$PY" -c 'import json, sys; s = json.load(sys.stdin); print(s["records"], s["index"])'
}

ACTIVE="$PP active $GROUP_OPTS --batch 100 --every 100ms --json --retain 1h"

# 20,000 events of 20 users: every batch of 100 moves most users' last_seen, and the
# index is append-only, so catching up leaves about 4,000 entries. Only the batches at
# the very end of the catch-up compact, 1,000 entries examined each: stale entries are
# left for what follows.
test_expect_success 'a backlog of 20,000 events of 20 users' '
	pp produce --rate 0 --count 20000 --users 20 -q
'

# c may reach its crash point at the end of its catch-up, before it reports.
test_expect_success 'two consumers catch up with batches of 100, one armed to crash in a compaction' '
	test_bg a $ACTIVE -g a --store st &&
	test_bg c env PINGPONG_CRASH=in-compact:1 $ACTIVE -g c --store st.c &&
	wait_for 60 "grep -q \"\\\"caught_up\\\":true\" a.out &&
		{ grep -q \"\\\"caught_up\\\":true\" c.out || grep -q \"crash point reached\" c.err; }"
'

# Compaction rides along with the batches of a caught-up consumer, each step going on
# where the last stopped; once no event comes, the engine goes on with steps of its own
# (engine.c, idle_upkeep) until it has been round the whole index: no new event needed.
test_expect_success 'caught up, then silence: the index comes down to one entry per record' '
	counts st >before &&
	read records index <before &&
	echo "caught up: $records records, $index index entries" &&
	test "$records" = 20 &&
	wait_for 30 "counts st >now && read records index <now && test \$records = 20 && test \$index = 20"
'

test_expect_success 'the reports still name all 20 users' '
	wait_for 10 "tail -n 1 a.out | grep -q \"\\\"count\\\":20\""
'

# c aborts at its first compaction: at the end of its catch-up or once it idles.
test_expect_success 'the armed one aborted inside its first compaction; restarted, it ends where the other is' '
	wait_for 60 "{ ! test_bg_running c || pp produce --rate 0 --count 40 --users 20 -q; } &&
		! test_bg_running c" &&
	test_expect_code 134 test_wait c 5 &&
	grep -q "crash point reached" c.err &&
	test_bg c2 $ACTIVE -g c --store st.c --every 0 --exit-at-end &&
	test_wait c2 60 &&
	wait_for 60 "pp lag --store st --max-lag 0 -q >/dev/null" &&
	test_kill a &&
	pp query --store st --json users >users.a &&
	pp query --store st.c --json users >users.c &&
	test_line_count = 20 users.a &&
	test_cmp users.a users.c
'

test_done
