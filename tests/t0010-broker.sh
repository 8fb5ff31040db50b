#!/bin/sh
test_description='pingpong broker: bootstrap list, topics and partitions, clusters, stopping'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to read the JSON lines'

start_broker --partitions 4 --topic chat --topic other

# check_bootstrap FILE N: FILE holds one line of N comma-separated 127.0.0.1:PORT
# entries with distinct ports.
check_bootstrap () {
	test_line_count = 1 "$1" &&
	"$PYTHON3" - "$1" "$2" <<-\EOF
	import sys
	text = open(sys.argv[1]).read()
	assert text.endswith("\n"), repr(text)
	entries = text[:-1].split(",")
	assert len(entries) == int(sys.argv[2]), entries
	ports = []
	for e in entries:
	    host, _, port = e.partition(":")
	    assert host == "127.0.0.1", e
	    assert port.isdigit() and 0 < int(port) < 65536, e
	    ports.append(int(port))
	assert len(set(ports)) == len(ports), ports
	EOF
}

test_expect_success 'the bootstrap file holds 127.0.0.1:PORT' '
	check_bootstrap broker.bootstrap 1 &&
	echo "$PINGPONG_BROKERS" >expect &&
	test_cmp expect broker.bootstrap
'

test_expect_success 'the first line of stdout is the bootstrap list' '
	head -n 1 broker.out >actual &&
	test_cmp broker.bootstrap actual
'

test_expect_success 'the broker is still running' '
	test_bg_running broker
'

test_expect_success 'produce 100 events to a --topic and tail them back' '
	pp produce -t other --rate 0 --count 100 --seed 1 2>produce.err &&
	pp tail -t other --from-beginning --exit-at-end >tail.out 2>tail.err &&
	test_line_count = 100 tail.out
'

test_expect_success 'they use partitions of 0..3 only, partition 3 among them' '
	"$PYTHON3" - tail.out <<-\EOF
	import json, sys
	seen = {}
	for line in open(sys.argv[1]):
	    e = json.loads(line)
	    assert "error" not in e, e
	    assert e["key"] == e["user"], e
	    seen.setdefault(e["partition"], []).append(e["offset"])
	assert set(seen) <= {0, 1, 2, 3}, sorted(seen)
	# The default is 3 partitions: an event in partition 3 shows that --partitions 4
	# took effect. 100 events of 50 users from a fixed seed reach every partition.
	assert 3 in seen, sorted(seen)
	for p, offsets in seen.items():
	    assert sorted(offsets) == list(range(len(offsets))), (p, offsets)
	EOF
'

test_expect_success 'the other --topic exists from the start: tail of it ends at once, empty' '
	pp tail -t chat --from-beginning --exit-at-end >chat.out 2>chat.err &&
	test_line_count = 0 chat.out
'

# A consumer asks for no topic to be created (librdkafka's allow.auto.create.topics is
# false). Kafka honours that; the mock creates the topic all the same, with 4 partitions.
test_expect_success MOCK 'the mock creates a topic a consumer asks for: tail ends at once, empty' '
	pp tail -t never-produced --from-beginning --exit-at-end >none.out 2>none.err &&
	test_line_count = 0 none.out &&
	pp active -t never-produced --store st-none --every 0 --exit-at-end 2>active-none.err &&
	grep "assigned: never-produced\[0,1,2,3\]" active-none.err
'

test_expect_success KAFKA 'Kafka does not: tail and active of a topic that does not exist exit 69, naming it' '
	test_expect_code 69 pp tail -t never-produced --from-beginning --exit-at-end >none.out 2>none.err &&
	test_line_count = 0 none.out &&
	grep "topic .never-produced.: Broker: Unknown topic or partition" none.err &&
	test_expect_code 69 pp active -t never-produced --store st-none --every 0 --exit-at-end 2>active-none.err &&
	grep "never-produced" active-none.err
'

test_expect_success KAFKA 'kafka-broker.sh create-topic makes a topic of 5 partitions, with its config' '
	kafka_broker create-topic "$TRASH/kafka" five 5 retention.ms=3600000 >create.out &&
	grep "Created topic five" create.out &&
	pp produce -t five --rate 0 --count 100 --key none -q &&
	pp tail -t five --from-beginning --exit-at-end -q >five.out &&
	test_line_count = 100 five.out &&
	sed "s/.*\"partition\":\([0-9]*\).*/\1/" five.out | sort -u | tr "\n" " " >parts &&
	printf "0 1 2 3 4 " >expect &&
	test_cmp expect parts &&
	kafka_broker run-class "$TRASH/kafka" org.apache.kafka.tools.TopicCommand \
		--bootstrap-server @BOOTSTRAP@ --describe --topic five >describe.out &&
	grep "PartitionCount: 5" describe.out &&
	grep "retention.ms=3600000" describe.out
'

test_expect_success '--nodes 3 starts a cluster of 3, with 3 entries in its list' '
	test_bg cluster pp broker --nodes 3 --topic chat --bootstrap-file cluster.bootstrap &&
	wait_for 30 "test -s cluster.bootstrap || ! test_bg_running cluster" &&
	test_bg_running cluster &&
	check_bootstrap cluster.bootstrap 3 &&
	head -n 1 cluster.out >actual &&
	test_cmp cluster.bootstrap actual &&
	! grep -F "$PINGPONG_BROKERS" cluster.bootstrap
'

test_expect_success 'the 3-node cluster takes and serves events' '
	brokers=$(cat cluster.bootstrap) &&
	pp produce -b "$brokers" --rate 0 --count 20 2>produce3.err &&
	pp tail -b "$brokers" --from-beginning --exit-at-end >tail3.out 2>tail3.err &&
	test_line_count = 20 tail3.out
'

test_expect_success 'TERM stops the cluster: exit 0, its bootstrap file removed' '
	test_kill cluster TERM &&
	test_path_is_missing cluster.bootstrap
'

test_expect_success 'INT stops a broker too: exit 0, its bootstrap file removed' '
	test_bg int pp broker --bootstrap-file int.bootstrap &&
	wait_for 30 "test -s int.bootstrap || ! test_bg_running int" &&
	test_bg_running int &&
	test_kill int INT &&
	test_path_is_missing int.bootstrap
'

test_expect_success 'a bootstrap file that cannot be written: exit 73, named' '
	test_bg nodir pp broker --bootstrap-file no/such/dir/bootstrap &&
	test_expect_code 73 test_wait nodir &&
	grep "no/such/dir/bootstrap" nodir.err
'

test_expect_success 'stop_broker: exit 0 on TERM, the bootstrap file removed' '
	test_path_is_file broker.bootstrap &&
	stop_broker &&
	test_path_is_missing broker.bootstrap &&
	! test_bg_running broker 2>/dev/null
'

test_done
