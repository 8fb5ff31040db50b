# lib-broker.sh: a throwaway broker for one test script; source after test-lib.sh.
#
# PINGPONG_TEST_BROKER picks the broker, so that every test is written once:
#   mock   (the default) `pingpong broker`, librdkafka's mock cluster, in memory, run
#          with test_bg; `make check`.
#   kafka  Apache Kafka 4.4, one node in KRaft mode, assembled from Maven Central and
#          started by tests/kafka/kafka-broker.sh in $TRASH/kafka; `make check-kafka`.
# Both listen on ephemeral 127.0.0.1 ports and write their bootstrap list atomically to
# $TRASH/broker.bootstrap once they serve metadata, so a non-empty file holds the whole
# list. No test needs an outside Kafka. test-lib.sh kills the broker when the script
# ends, so a script need not call stop_broker.
#
# The prerequisite MOCK or KAFKA is declared accordingly: a test that relies on what
# only one of them does names it (test_expect_success MOCK 'desc' 'body'), and
# tests/kafka/README.md says why.
#
#   start_broker [--partitions N] [--topic NAME]...
#                            start it: each --topic (default: chat) is created with N
#                            partitions (default 3), as are topics created on first
#                            use by the Kafka broker; exports PINGPONG_BROKERS. Output
#                            in $TRASH/broker.out and broker.err. With mock, any other
#                            `pingpong broker` argument is passed on.
#   stop_broker              stop it and return its exit status
#   kafka_broker ARGS...     tests/kafka/kafka-broker.sh ARGS (KAFKA only), e.g.
#                            kafka_broker create-topic "$TRASH/kafka" TOPIC N
#   log_ends [N]             "partition<TAB>end" of partitions 0..N-1 (default 3) of
#                            chat, from reading every message with pingpong tail: the
#                            offset of the last one + 1, 0 for an empty partition
#                            (python3)

_broker_file="$TRASH/broker.bootstrap"
_broker_kind=${PINGPONG_TEST_BROKER:-mock}
case $_broker_kind in
mock) test_set_prereq MOCK ;;
kafka) test_set_prereq KAFKA ;;
*) test_bail_out "PINGPONG_TEST_BROKER must be mock or kafka, not '$_broker_kind'" ;;
esac

# Reports why the broker did not start, with its stderr. At the top of a script
# nothing after can work, so bail out; inside a test, fail that test.
_broker_fail () {
	{
		printf 'start_broker: %s\n' "$1"
		if test -s "$TRASH/broker.err"; then
			printf 'start_broker: broker.err:\n'
			sed 's/^/	/' "$TRASH/broker.err"
		elif test -f "$TRASH/broker.err"; then
			printf 'start_broker: broker.err is empty\n'
		fi
	} | sed 's/^/# /' >&2
	if test_bg_running broker 2>/dev/null; then
		test_kill broker KILL >/dev/null 2>&1
	fi
	if test -z "$_test_in_body"; then
		test_bail_out "start_broker: $1"
	fi
	return 1
}

kafka_broker () {
	"$top_srcdir/tests/kafka/kafka-broker.sh" "$@"
}

# The mock: `pingpong broker` under test_bg.
_start_mock () {
	if ! test_bg broker "$PP" broker --bootstrap-file "$_broker_file" "$@"; then
		_broker_fail "cannot start the broker"
		return 1
	fi
	if ! wait_for 30 'test -s "$_broker_file" || ! test_bg_running broker' 2>/dev/null; then
		_broker_fail "broker wrote no '$_broker_file' within 30s"
		return 1
	fi
	if ! test_bg_running broker 2>/dev/null; then
		test_wait broker 1 2>/dev/null
		_broker_fail "broker exited with status $? before it listened"
		return 1
	fi
}

# Kafka: kafka-broker.sh starts it, formatted afresh in $TRASH/kafka, and returns once
# it answers metadata. It is no child of this shell, so its pid goes where test-lib.sh
# finds it: test_bg_running works, and the EXIT trap KILLs it. --owner: its watchdog
# stops it even if this script is killed -9.
_start_kafka () {
	if ! kafka_broker start "$TRASH/kafka" --bootstrap-file "$_broker_file" --owner $$ "$@" \
		>"$TRASH/broker.out" 2>"$TRASH/broker.err"; then
		_broker_fail "kafka-broker.sh start failed"
		return 1
	fi
	cp "$TRASH/kafka/kafka.pid" "$TRASH/.test-lib/bg/broker.pid"
}

# start_broker [ARGS...]: starts the broker, waits for its bootstrap file and exports
# PINGPONG_BROKERS.
start_broker () {
	if ! test -x "$PP"; then
		_broker_fail "pingpong binary '$PP' is not built"
		return 1
	fi
	rm -f "$_broker_file"
	"_start_$_broker_kind" "$@" || return 1
	PINGPONG_BROKERS=$(cat "$_broker_file") || return 1
	export PINGPONG_BROKERS
}

# stop_broker: stops the broker, waits for it and returns its exit status: the mock's
# on TERM, or kafka-broker.sh stop's.
stop_broker () {
	if test "$_broker_kind" = kafka; then
		kafka_broker stop "$TRASH/kafka" || return 1
		rm -f "$TRASH/.test-lib/bg/broker.pid"
		return 0
	fi
	test_kill broker TERM
}

# Group settings for consumers in tests. librdkafka's default session timeout, 45 s, is
# how long a member killed with kill -9 keeps its partitions, on the mock and on Kafka
# alike: tests that kill members and start others would wait that long each time.
# - The mock applies the session timeout of the last member to join to the whole group,
#   and at 1 s no member ever got partitions; 4.5 s with 0.5 s heartbeats works.
# - Kafka refuses a session timeout below its group.min.session.timeout.ms, 6 s by
#   default: 6 s it is.
# Use as: pp active $GROUP_OPTS ...; GROUP_SESSION_MS is its session timeout.
if test "$_broker_kind" = kafka; then
	GROUP_SESSION_MS=6000
else
	GROUP_SESSION_MS=4500
fi
GROUP_OPTS="-X session.timeout.ms=$GROUP_SESSION_MS -X heartbeat.interval.ms=500"

log_ends () {
	pp tail --from-beginning --exit-at-end -q | "${PYTHON3:-python3}" -c "
import json, sys
end = dict((p, 0) for p in range(${1:-3}))
for line in sys.stdin:
    m = json.loads(line)
    end[m['partition']] = max(end[m['partition']], m['offset'] + 1)
for p in sorted(end):
    print('%d\t%d' % (p, end[p]))
"
}
