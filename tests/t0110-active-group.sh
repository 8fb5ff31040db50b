#!/bin/sh
test_description='active in a group: static membership, a killed member, the first join, a refused session timeout'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"
. "$top_srcdir/tests/crash/lib-crash.sh"

# Where the mock and Kafka differ, each says what it does (tests/kafka/README.md).
start_broker --partitions 4

# settled A B: A and B hold every partition between them, each some, none twice.
settled () {
	_a=$(holding "$1") && _b=$(holding "$2") &&
	test -n "$_a" && test -n "$_b" &&
	test "$(printf '%s,%s\n' "$_a" "$_b" | tr ',' '\n' | sort -n | tr '\n' ' ')" = "0 1 2 3 "
}

test_expect_success 'produce 4,000 events of 200 users' '
	pp produce --rate 0 --count 4000 --users 200 -q &&
	pp tail --from-beginning --exit-at-end -q >events.jsonl &&
	test_line_count = 4000 events.jsonl
'

# With --instance-id, a restarted process is the same member of the group, if it comes
# back within its session timeout. Kafka then hands it its partitions at once and the
# other members see nothing; the mock treats it as a new member and rebalances the
# group, twice, about 3 s.
test_expect_success 'two static members, a and b, share the partitions' '
	test_bg a "$PP" active $GROUP_OPTS -g static --instance-id a --store st-a --every 0 &&
	test_bg b "$PP" active $GROUP_OPTS -g static --instance-id b --store st-b --every 0 &&
	wait_for 60 "settled a b"
'

test_expect_success 'b killed with -9 and restarted with its --instance-id has its partitions again' '
	held_b=$(holding b) &&
	lines_a=$(wc -l <a.err) &&
	test_kill b KILL
	test $? = 137 &&
	restart=$(now_ms) &&
	test_bg b2 "$PP" active $GROUP_OPTS -g static --instance-id b --store st-b --every 0 &&
	wait_for 30 "settled a b2" &&
	say "b was back $(( $(now_ms) - restart )) ms after its restart, with chat[$(holding b2)]"
'

test_expect_success KAFKA 'on Kafka it is the same member: its partitions at once, no rebalance for a' '
	test "$(holding b2)" = "$held_b" &&
	test "$(grep -c "assigned: chat" b2.err)" = 1 &&
	test $(wc -l <a.err) = $lines_a
'

test_expect_success 'new events flow to both; each store is exact' '
	pp produce --rate 0 --count 1000 --users 200 -q &&
	pp tail --from-beginning --exit-at-end -q >events.jsonl &&
	wait_for 60 "at_end st-a st-b" &&
	store_exact st-a events.jsonl &&
	store_exact st-b events.jsonl
'

# A static member does not leave the group when it stops (librdkafka sends no
# LeaveGroup for it), so that a restart finds its partitions waiting: on both brokers
# the others take them over only once its session has timed out.
test_expect_success 'b stopped cleanly: a takes its partitions over once b'"'"'s session timed out' '
	test_kill b2 TERM &&
	stopped=$(now_ms) &&
	wait_for 30 "test \$(owned a) = 4" &&
	handover=$(( $(now_ms) - stopped )) &&
	say "a held every partition $handover ms after b stopped (session timeout $GROUP_SESSION_MS ms)" &&
	test $handover -ge $((GROUP_SESSION_MS - 1000)) &&
	test_kill a TERM
'

# Kafka times each member out by its own session timeout. The mock applies the timeout
# of the last member to join to the whole group: here the 45 s of librdkafka's default.
test_expect_success KAFKA 'on Kafka a member killed -9 loses its partitions after its own session timeout' '
	test_bg k1 "$PP" active $GROUP_OPTS -g own-timeout --store st-k1 --every 0 &&
	wait_for 30 "test \$(owned k1) = 4" &&
	test_bg k2 "$PP" active -X heartbeat.interval.ms=500 -g own-timeout --store st-k2 --every 0 &&
	wait_for 30 "settled k1 k2" &&
	test_kill k1 KILL
	test $? = 137 &&
	killed=$(now_ms) &&
	wait_for 30 "test \$(owned k2) = 4" &&
	say "k2 (session timeout 45 s) held every partition $(( $(now_ms) - killed )) ms after k1 (6 s) was killed" &&
	test_kill k2 TERM
'

# A new group's first member: the mock waits 3 s before the first rebalance, as Kafka
# does by default (group.initial.rebalance.delay.ms); the test broker is set not to.
test_expect_success 'the first member of a new group gets every partition' '
	start=$(now_ms) &&
	test_bg first "$PP" active $GROUP_OPTS -g first-join --store st-first --every 0 &&
	wait_for 30 "test \$(owned first) = 4" &&
	first_join=$(( $(now_ms) - start )) &&
	say "first join: $first_join ms" &&
	test_kill first TERM
'

test_expect_success MOCK 'on the mock that takes 3 s' '
	test $first_join -ge 2900
'

test_expect_success KAFKA 'on Kafka, with group.initial.rebalance.delay.ms=0, less' '
	test $first_join -lt 2900
'

# Kafka accepts session timeouts from group.min.session.timeout.ms (6 s) to
# group.max.session.timeout.ms (30 min) and refuses the JoinGroup of any other, for
# good. (The mock takes any, but at 1 s its members never get partitions.)
test_expect_success KAFKA 'on Kafka a refused session timeout ends the consumer: exit 69, the reason named' '
	test_bg refused "$PP" active -X session.timeout.ms=1000 -g refused --store st-refused \
		--every 0 --exit-at-end &&
	test_expect_code 69 test_wait refused 30 &&
	grep "Invalid session timeout" refused.err
'

test_done
