#!/bin/sh
test_description='crash: offsets outside the log are reported, never papered over; --on-gap skip records them'
. "${top_srcdir:-$(dirname "$0")/../..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"
. "$top_srcdir/tests/crash/lib-crash.sh"

start_broker --partitions 1 --topic gaps
T="-t gaps"

test_expect_success 'a consumer reads the first events' '
	pp produce $T --rate 0 --count 10 --users 5 -q &&
	pp active $GROUP_OPTS $T --store st --every 0 --exit-at-end &&
	test "$(pp query $T --store st offsets)" = "$(printf "0\t10")"
'

# While the consumer is stopped, the log start moves past what it read. The mock keeps
# at most 5 MiB per partition: 120 events of 48 KiB of incompressible text, produced
# uncompressed, push the first ones out. Kafka keeps all until its retention deletes
# whole segments, on its own schedule; an administrator's DeleteRecords moves the log
# start exactly, at once, as retention would.
test_expect_success MOCK 'while it is stopped, the mock'"'"'s 5 MiB cap deletes events it never read' '
	"$PY" -c "
import base64, json, os
for i in range(120):
    msg = base64.b64encode(os.urandom(36 * 1024)).decode()
    print(json.dumps({\"user\": \"big%d\" % (i % 7), \"activity\": \"send-message\", \"message\": msg, \"ts\": 1700000000000 + i}))
" >big.jsonl &&
	pp produce $T --from big.jsonl -X compression.type=none -q
'

test_expect_success KAFKA 'while it is stopped, DeleteRecords deletes events it never read' '
	pp produce $T --rate 0 --count 100 --users 5 -q &&
	echo "{\"version\": 1, \"partitions\": [{\"topic\": \"gaps\", \"partition\": 0, \"offset\": 60}]}" >delete.json &&
	kafka_broker run-class "$TRASH/kafka" org.apache.kafka.tools.DeleteRecordsCommand \
		--bootstrap-server @BOOTSTRAP@ --offset-json-file delete.json >delete.out &&
	grep "low_watermark: 60" delete.out
'

test_expect_success 'the log now starts past what the consumer read' '
	pp tail $T --from-beginning --exit-at-end -q >after.jsonl &&
	first=$(head -n 1 after.jsonl | sed "s/.*\"offset\":\([0-9]*\).*/\1/") &&
	say "the log now starts at offset $first" &&
	test $first -gt 10
'

test_expect_success 'the consumer stops with a message naming the loss, and exit 65' '
	test_expect_code 65 pp active $GROUP_OPTS $T --store st --every 0 --exit-at-end 2>gap.err &&
	grep "gaps\[0\]: stored offset 10 is below the log start $first" gap.err &&
	grep -- "--on-gap skip" gap.err &&
	test "$(pp query $T --store st offsets)" = "$(printf "0\t10")"
'

test_expect_success 'with --on-gap skip it records the gap and goes on from the log start' '
	pp active $GROUP_OPTS $T --store st --every 0 --exit-at-end --on-gap skip 2>skip.err &&
	grep "skipped the gap from offset 10 to $first" skip.err &&
	pp query $T --store st gaps >gaps.out &&
	test "$(cut -f 1-4 gaps.out)" = "$(printf "0\t10\t$first\tskipped")" &&
	grep "$(printf "\t[0-9]\{13\}\t[^\t]*@[^\t]* pid [0-9]*: ")[^	]*pingpong active .*--on-gap skip" gaps.out &&
	pp query $T --store st --json gaps | grep "\"from\":10,\"to\":$first,\"kind\":\"skipped\",\"at\":[0-9]*,\"who\":\".*pingpong active" &&
	end=$((first + $(wc -l <after.jsonl))) &&
	test "$(pp query $T --store st offsets)" = "$(printf "0\t$end")" &&
	pp store check --store st
'

test_expect_success 'the broker loses its log: the consumer stops rather than read again' '
	stop_broker &&
	start_broker --partitions 1 --topic gaps &&
	pp produce $T --rate 0 --count 3 --users 2 -q &&
	test_expect_code 65 pp active $GROUP_OPTS $T --store st --every 0 --exit-at-end 2>lost.err &&
	grep "gaps\[0\]: stored offset $end is beyond the log end 3" lost.err
'

test_expect_success 'with --on-gap skip it records that too and reads the new log from its start' '
	pp active $GROUP_OPTS $T --store st --every 0 --exit-at-end --on-gap skip &&
	pp query $T --store st gaps >gaps.out &&
	test_line_count = 2 gaps.out &&
	grep "$(printf "^0\t$end\t0\tskipped\t")" gaps.out &&
	test "$(pp query $T --store st offsets)" = "$(printf "0\t3")"
'

# A new broker whose log is longer than the stored offsets: reading on from them would
# look fine and skip what the new log holds before them. The store keeps the
# fingerprint of the last message it applied, and the message before the stored offset
# must be that one.
test_expect_success 'the broker comes back with another, longer log: the fingerprint tells' '
	stop_broker &&
	start_broker --partitions 1 --topic gaps &&
	pp produce $T --rate 0 --count 50 --users 9 -q &&
	test_expect_code 65 pp active $GROUP_OPTS $T --store st --every 0 --exit-at-end 2>replaced.err &&
	grep "gaps\[0\]: the message at offset 2 is not the one this store applied there" replaced.err &&
	grep -- "--on-gap skip" replaced.err &&
	test "$(pp query $T --store st offsets)" = "$(printf "0\t3")"
'

test_expect_success 'with --on-gap skip it records the gap and reads the new log from its start' '
	pp active $GROUP_OPTS $T --store st --every 0 --exit-at-end --on-gap skip 2>replaced-skip.err &&
	grep "skipped the gap from offset 3 to 0" replaced-skip.err &&
	pp query $T --store st gaps >gaps.out &&
	test_line_count = 3 gaps.out &&
	grep "$(printf "^0\t3\t0\tskipped\t")" gaps.out &&
	test "$(pp query $T --store st offsets)" = "$(printf "0\t50")"
'

test_expect_success 'the same log, read again after a restart, is verified and goes on' '
	pp produce $T --rate 0 --count 5 --users 9 -q &&
	pp active $GROUP_OPTS $T --store st --every 0 --exit-at-end -v 2>again.err &&
	! grep "not the one this store applied" again.err &&
	test "$(pp query $T --store st offsets)" = "$(printf "0\t55")"
'

test_done
