#!/bin/sh
test_description='offset mirror: a consumer with a store mirrors its offsets to Kafka at most every --mirror-interval, the last ones too while it runs, and all of them when it stops'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

start_broker --partitions 3

# committed_sum GROUP: the sum of the group's committed offsets in Kafka (a partition
# with none counts 0).
committed_sum () {
	pp lag -g "$1" --json | sed -n 's/.*"committed":\([0-9][0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }'
}

# stored_sum STORE: the sum of the store's next offsets.
stored_sum () {
	pp query --store "$1" offsets | awk -F '\t' '{ s += $2 } END { print s + 0 }'
}

test_expect_success '3,000 events in the topic' '
	pp produce --rate 0 --count 3000 --users 100 -q
'

# 30 batches of 100 in a fraction of a second: with the default 100 ms, the later ones
# are mirrored when the interval has passed, by the running consumer, not at its stop.
test_expect_success 'the default interval: the last batches are mirrored while the consumer runs' '
	test_bg consumer pp active $GROUP_OPTS -g g-default --store st-default --batch 100 --every 0 -v &&
	wait_for 60 "test \$(stored_sum st-default) = 3000" &&
	wait_for 10 "test \$(committed_sum g-default) = 3000" &&
	test_bg_running consumer &&
	test_kill consumer
'

# An interval longer than the test: the first batch is mirrored at once, the 29 after it
# wait, and a clean stop mirrors everything the store holds.
test_expect_success '--mirror-interval 1h: only the first batch is in Kafka while it runs' '
	test_bg consumer pp active $GROUP_OPTS -g g-hour --store st-hour --batch 100 --every 0 -v \
		--mirror-interval 1h &&
	wait_for 60 "test \$(stored_sum st-hour) = 3000" &&
	wait_for 10 "test \$(committed_sum g-hour) -gt 0" &&
	test "$(committed_sum g-hour)" = 100 &&
	test_bg_running consumer &&
	test "$(grep -c " assigned: " consumer.err)" = 1
'

test_expect_success '... and a clean stop mirrors all of it' '
	test_kill consumer &&
	test "$(committed_sum g-hour)" = 3000
'

# With 1h, as above, Kafka would hold only the first of the three batches (3,100).
test_expect_success '--mirror-interval 0: every batch, as a plain consumer commits' '
	pp produce --rate 0 --count 300 --users 100 -q &&
	test_bg consumer pp active $GROUP_OPTS -g g-hour --store st-hour --batch 100 --every 0 -v \
		--mirror-interval 0 &&
	wait_for 60 "test \$(stored_sum st-hour) = 3300" &&
	wait_for 10 "test \$(committed_sum g-hour) = 3300" &&
	test_bg_running consumer &&
	test_kill consumer
'

test_expect_success 'a bad --mirror-interval: 64' '
	test_expect_code 64 pp active --store st-bad --mirror-interval soon 2>err &&
	grep "mirror-interval" err &&
	test_path_is_missing st-bad
'

test_done
