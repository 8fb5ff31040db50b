# lib-broker.sh: a throwaway pingpong broker for one test script; source after test-lib.sh.
#
# start_broker runs `pingpong broker` (librdkafka's mock cluster, on ephemeral ports) in
# the background with test_bg and waits for its bootstrap file. The broker writes that
# file atomically once it listens, so a non-empty file holds the whole list. No test
# needs an outside Kafka. test-lib.sh kills the broker when the script ends, so a
# script need not call stop_broker.
#
#   start_broker [ARGS...]   start it (ARGS go to `pingpong broker`), export
#                            PINGPONG_BROKERS; its output is in $TRASH/broker.out/.err
#   stop_broker              TERM it and return its exit status

_broker_file="$TRASH/broker.bootstrap"

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

# start_broker [ARGS...]: starts the broker, waits up to 30 seconds for its bootstrap
# file and exports PINGPONG_BROKERS.
start_broker () {
	if ! test -x "$PP"; then
		_broker_fail "pingpong binary '$PP' is not built"
		return 1
	fi
	rm -f "$_broker_file"
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
	PINGPONG_BROKERS=$(cat "$_broker_file") || return 1
	export PINGPONG_BROKERS
}

# stop_broker: TERMs the broker, waits for it and returns its exit status.
stop_broker () {
	test_kill broker TERM
}

# Group settings for consumers in tests. The mock broker waits for the session timeout of
# the last member (less 1 s) before a group can rebalance again, and a member killed with
# kill -9 holds its partitions that long: librdkafka's 45 s default would make every
# rejoin slow. Use as: pp active $GROUP_OPTS ...
GROUP_OPTS="-X session.timeout.ms=4500 -X heartbeat.interval.ms=500"
