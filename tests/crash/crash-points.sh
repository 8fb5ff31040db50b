#!/bin/sh
test_description='crash: abort at every named crash point, restart, and check nothing was lost or applied twice'
. "${top_srcdir:-$(dirname "$0")/../..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"
. "$top_srcdir/tests/crash/lib-crash.sh"

# point:N pairs. in-assign is reached once per run, so only its first time can crash.
POINTS=${CRASH_POINTS:-"before-commit:1 before-commit:3 after-commit:1 after-commit:3 mid-batch:1 mid-batch:4 in-assign:1 in-prune:1 in-prune:2"}
start_broker --partitions 3

# A window of 1 s and events stamped from 2 s before to 14 s after now: the consumers
# start after the events are made and produced and the group's first join (3 s), 4 to
# 8 s from now depending on the load, and then, while they read, entries enter the
# time index while fresh and age out, so batches also prune (in-prune). The whole
# domain but future events, which this clock-ahead stream cannot tell apart from near
# ones.
test_expect_success 'produce 20,000 events, valid ones in odd encodings and malformed ones among them' '
	now=$(now_ms) &&
	"$PY" "$H/gen-events.py" --users 2000 --count 20000 --seed 11 --now $((now + 14000)) --spread 16000 \
		--dups 0.02 --malformed 45 --raw-valid 20 >events.jsonl &&
	pp produce --from events.jsonl -q
'

# Each point gets its own group and store; they run side by side.
name_of () { echo "$1" | tr ':' '-'; }

# in-prune needs batches after index entries have aged past the 1 s window, and pruning
# takes whole seconds of the index (pingpong-store(1)), so about one batch a second finds
# something to prune. A broker without a slow first join (Kafka) delivers the whole
# stream at once, and a fast run can end before two such batches: batches of 5, each
# synced, make the consumers of in-prune run for seconds instead.
batch_of () { case $1 in in-prune*) echo 5 ;; *) echo 100 ;; esac; }

test_expect_success 'every crash point aborts the consumer where it should' '
	for pt in $POINTS
	do
		n=$(name_of $pt) &&
		test_bg crash-$n env PINGPONG_CRASH=$pt "$PP" active $GROUP_OPTS --group g-$n --store st-$n \
			--every 0 --batch $(batch_of $pt) --window 1s || return 1
	done &&
	for pt in $POINTS
	do
		n=$(name_of $pt)
		test_wait crash-$n 60
		status=$?
		test $status = 134 || { say "$pt: exit $status, expected SIGABRT (134)"; return 1; }
		grep -q "crash point reached" crash-$n.err || return 1
	done
'

test_expect_success 'restarted, each consumer reads to the end' '
	for pt in $POINTS
	do
		n=$(name_of $pt) &&
		test_bg resume-$n "$PP" active $GROUP_OPTS --group g-$n --store st-$n --every 0 --window 1s \
			--exit-at-end || return 1
	done &&
	for pt in $POINTS
	do
		test_wait resume-$(name_of $pt) 90 || return 1
	done
'

for pt in $POINTS
do
	test_expect_success "verdict after $pt: nothing lost, nothing applied twice" "
		verdict st-$(name_of $pt) events.jsonl
	"
done

test_done
