#!/bin/sh
test_description='crash: abort at every named crash point, restart, and check nothing was lost or applied twice'
. "${top_srcdir:-$(dirname "$0")/../..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"
. "$top_srcdir/tests/crash/lib-crash.sh"

# point:N pairs. in-assign is reached once per run, so only its first time can crash.
POINTS=${CRASH_POINTS:-"before-commit:1 before-commit:3 after-commit:1 after-commit:3 mid-batch:1 mid-batch:4 in-assign:1 in-prune:1 in-prune:5"}
start_broker --partitions 3

# A window of 1 s and events stamped from 1 s ago to 7 s ahead, in random order:
# entries enter the time index while fresh and age out as the run goes on, so nearly
# every batch also prunes (in-prune). Stamped from now on, they age only once the run is
# a second or more past producing: on the mock its 3 s first join saw to that; on Kafka,
# which has no such delay, nine consumers at once were once through before enough had
# aged, and in-prune:5 was never reached.
test_expect_success 'produce 20,000 events, some malformed' '
	now=$(now_ms) &&
	"$PY" "$H/gen-events.py" --users 2000 --count 20000 --seed 11 --now $((now + 7000)) --spread 8000 \
		--dups 0.02 --malformed 5 >events.jsonl &&
	pp produce --from events.jsonl -q
'

# Each point gets its own group and store; they run side by side.
name_of () { echo "$1" | tr ':' '-'; }

test_expect_success 'every crash point aborts the consumer where it should' '
	for pt in $POINTS
	do
		n=$(name_of $pt) &&
		test_bg crash-$n env PINGPONG_CRASH=$pt "$PP" active $GROUP_OPTS --group g-$n --store st-$n \
			--every 0 --batch 100 --window 1s || return 1
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
