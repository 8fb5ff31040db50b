#!/bin/sh
test_description='--exit-at-end with no broker to answer: exit 69 after --broker-timeout, naming the brokers and the last error'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to find a closed port'

# A port nobody listens on: the kernel hands out a free one, which is closed again at
# once. Connecting to it is refused.
DEAD=127.0.0.1:$("$PYTHON3" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
')

# expect_gave_up NAME: NAME (started with test_bg) exits by itself with status 69, and
# its error names the broker list and librdkafka's last error.
expect_gave_up () {
	test_expect_code 69 test_wait $1 60 &&
	grep "error: no broker of '$DEAD' answered within .* (--broker-timeout); last error: .*Connection refused" $1.err
}

# Every one of them used to retry for ever.
test_expect_success 'active, messages, notify, tail -g and tail give up after --broker-timeout 2s' '
	test_bg active pp active -b $DEAD --store active.st --exit-at-end --broker-timeout 2s &&
	test_bg messages pp messages -b $DEAD --exit-at-end --broker-timeout 2s &&
	test_bg tail-g pp tail -b $DEAD -g tg --exit-at-end --broker-timeout 2s &&
	test_bg tail pp tail -b $DEAD --exit-at-end --broker-timeout 2s &&
	expect_gave_up active &&
	expect_gave_up messages &&
	expect_gave_up tail-g &&
	test_expect_code 69 test_wait tail 60 &&
	grep "error: cannot read the partitions of '"'"'chat'"'"' from '"'"'$DEAD'"'"': .*transport failure" tail.err &&
	test_bg notify pp notify -b $DEAD --store notify.st --active-store active.st --exit-at-end \
		--broker-timeout 2s &&
	expect_gave_up notify
'

test_expect_success 'with --exit-at-end the default is 30s' '
	test_bg default pp messages -b $DEAD --exit-at-end &&
	expect_gave_up default &&
	grep "within 30.0s" default.err
'

# The bound is on hearing from no broker at all, not on the work: a group's first join
# takes 3 s on the mock, longer than this timeout, and it must not count.
test_expect_success 'a reachable broker is not given up on, even with a timeout shorter than the join' '
	start_broker --partitions 2 &&
	printf "%s\n" "{\"user\":\"u\",\"activity\":\"send-message\",\"message\":\"hi\",\"ts\":5}" >one.jsonl &&
	pp produce --from one.jsonl -q &&
	pp messages $GROUP_OPTS -g live --exit-at-end --broker-timeout 1s >out 2>err &&
	echo "u: hi" >expect &&
	test_cmp expect out &&
	pp tail -g live-tail $GROUP_OPTS --from-beginning --exit-at-end --broker-timeout 1s >tail.out &&
	test_line_count = 1 tail.out
'

test_expect_success '--broker-timeout takes a duration' '
	test_expect_code 64 pp messages -b $DEAD --broker-timeout soon 2>err &&
	grep -e "--broker-timeout .*soon" err &&
	test_expect_code 64 pp tail -b $DEAD --broker-timeout nanms 2>err &&
	grep -e "--broker-timeout .*nanms" err
'

test_done
