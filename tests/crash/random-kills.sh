#!/bin/sh
test_description='crash: kill -9 the active consumer at random moments; nothing lost, nothing twice'
. "${top_srcdir:-$(dirname "$0")/../..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"
. "$top_srcdir/tests/crash/lib-crash.sh"

EVENTS=${CRASH_EVENTS:-30000}
USERS=${CRASH_USERS:-1500}
KILLS=${CRASH_KILLS:-5}
# Small batches keep the consumer busy (an fsync per batch), so that kills land mid-stream.
BATCH=${CRASH_BATCH:-5}
CRASH_MAX_DELAY=${CRASH_MAX_DELAY:-1.5}
SEED=${CRASH_SEED:-$(date +%s)}
say "seed $SEED: replay this run with CRASH_SEED=$SEED"
start_broker --partitions 3

# The whole domain (gen-events.py): missing, empty and changing emails, long and
# non-ASCII names, duplicates, disorder, stale events, future ones inside and beyond the
# default --max-skew, valid events in odd encodings and every kind of malformed one.
NOW=$(now_ms)
MAX_TS=$((NOW + 300000))
test_expect_success "produce $EVENTS events of $USERS users over the whole domain" '
	"$PY" "$H/gen-events.py" --users $USERS --count $EVENTS --seed $SEED --now $NOW \
		--stale 0.05 --dups 0.02 --malformed 60 --future 5 --near-future 10 --raw-valid 30 \
		>events.jsonl &&
	pp produce --from events.jsonl -q
'

kills=0
test_expect_success "kill -9 the consumer $KILLS times at random moments, restarting it each time" '
	k=1 &&
	while test $k -le $KILLS
	do
		test_bg active$k "$PP" active $GROUP_OPTS --store st --every 0 --batch $BATCH -v &&
		wait_for 30 "grep -q \"assigned:\" active$k.err" &&
		delay=$(random_delay $SEED $k) &&
		sleep "$delay" &&
		test_kill active$k KILL
		test $? = 137 || test $? = 0 || return 1
		say "kill $k after ${delay}s: $(grep -c . active$k.err) log lines"
		kills=$k
		k=$((k + 1))
	done
'

test_expect_success 'a last run reads to the end' '
	pp active $GROUP_OPTS --store st --every 0 --exit-at-end -v 2>last.err
'

test_expect_success 'verdict: the store equals the events applied exactly once' '
	verdict st events.jsonl
'

# One summary row for crash-soak: kills, restarts, events, lost, double-applied, resume.
resume=$(cat active*.err last.err 2>/dev/null | sed -n "s/.*first batch committed \([0-9]*\) ms after start/\1/p" |
	sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }')
say "summary: kills $kills restarts $((kills + 1)) events $EVENTS $(cat verdict.cmp 2>/dev/null) median-ms-to-first-commit $resume"
test_done
