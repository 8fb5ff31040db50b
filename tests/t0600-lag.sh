#!/bin/sh
test_description='lag: stored, committed and log-end offsets, and the lag, equal what kcat -Q and query offsets say, while a producer runs and after'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to compare the figures'
PY=${PYTHON3:-python3}
# kcat is the issue's reference (bootstrap installs it); without it the log ends come
# from reading the whole topic with pingpong tail, which only works once nothing moves.
command -v kcat >/dev/null 2>&1 && test_set_prereq KCAT

start_broker --partitions 3

# watermarks WHICH: "partition<TAB>offset" for partitions 0..2, from kcat -Q (-1: the log
# end, -2: the log start).
watermarks () {
	kcat -b "$PINGPONG_BROKERS" -Q -t chat:0:$1 -t chat:1:$1 -t chat:2:$1 |
		sed -n 's/^chat \[\([0-9]*\)\] offset \(-\{0,1\}[0-9]*\)$/\1	\2/p' | sort -n
}

# check_lag LAG.JSON STORED_BEFORE STORED_AFTER ENDS_BEFORE ENDS_AFTER [STARTS]: every
# figure of lag's JSON lies between what the others said before and after it, the lag
# of each partition is its end less its stored offset, and the total their sum. With
# equal before and after files, every figure must be exactly theirs.
check_lag () {
	"$PY" - "$@" <<-\EOF
	import json, sys
	def table(path):
	    return {int(l.split("\t")[0]): int(l.split("\t")[1]) for l in open(path) if l.strip()}
	objs = [json.loads(l) for l in open(sys.argv[1])]
	stored0, stored1, end0, end1 = (table(p) for p in sys.argv[2:6])
	starts = table(sys.argv[6]) if len(sys.argv) > 6 else None
	parts, total = objs[:-1], objs[-1]
	assert [o["partition"] for o in parts] == [0, 1, 2], parts
	assert total["total"] is True and total["partitions"] == 3, total
	for o in parts:
	    p = o["partition"]
	    assert o["topic"] == "chat" and o["group"] == "pingpong-active", o
	    assert end0[p] <= o["log_end"] <= end1[p], (o, end0[p], end1[p])
	    assert stored0.get(p, 0) <= o["stored"] <= stored1[p], (o, stored0.get(p), stored1[p])
	    assert o["lag"] == o["log_end"] - o["stored"], o
	    assert o["committed"] is None or o["committed"] <= stored1[p], o
	    assert o["out_of_range"] is False, o
	    if starts is not None:
	        assert o["log_start"] == starts[p], (o, starts[p])
	assert total["lag"] == sum(o["lag"] for o in parts), total
	print("lags " + " ".join(str(o["lag"]) for o in parts) + ", total %d" % total["lag"])
	EOF
}

test_expect_success 'a consumer reads 3,000 events and stops' '
	pp produce --rate 0 --count 3000 --users 100 -q &&
	pp active $GROUP_OPTS --store st --every 0 --exit-at-end -q
'

test_expect_success 'nothing left: every lag is 0, stored and committed equal the log ends' '
	pp lag --store st --json >lag.json &&
	pp query --store st offsets >stored &&
	log_ends >ends &&
	check_lag lag.json stored stored ends ends &&
	"$PY" -c "
import json, sys
for o in map(json.loads, open(\"lag.json\")):
    assert o[\"lag\"] == 0 and (o.get(\"total\") or o[\"committed\"] == o[\"stored\"]), o
"
'

test_expect_success KCAT 'kcat -Q gives the same log starts and ends' '
	watermarks -1 >kcat.ends &&
	test_cmp ends kcat.ends &&
	watermarks -2 >kcat.starts &&
	check_lag lag.json stored stored kcat.ends kcat.ends kcat.starts
'

test_expect_success 'the text output: a header, one line per partition, the total' '
	pp lag --store st >lag.txt &&
	test_line_count = 5 lag.txt &&
	head -n 1 lag.txt | grep "^TOPIC  *PARTITION  *STORED  *COMMITTED  *LOG-START  *LOG-END  *LAG$" &&
	grep "^chat  *1  *$(sed -n "2s/.*	//p" stored)  *$(sed -n "2s/.*	//p" stored)  *0  *$(sed -n "2s/.*	//p" ends)  *0$" lag.txt &&
	tail -n 1 lag.txt | grep "^total  *0$"
'

# A producer at 2,000 events/s, and the consumer committing at most once a second
# (--linger 1s): the log end runs ahead of the store by up to a second's events. Each
# sample of lag is taken between two readings of the store and of the log ends, and
# every figure must lie between them.
stored_sum () {
	pp query --store st offsets | awk -F '\t' '{ s += $2 } END { print s + 0 }'
}

test_expect_success 'a producer runs, and the consumer follows it' '
	test_bg producer "$PP" produce --rate 2000 --count 16000 --users 100 &&
	test_bg consumer "$PP" active $GROUP_OPTS --store st --every 0 --linger 1s --batch 100000 &&
	wait_for 30 "test \$(stored_sum) -gt 3000"
'

test_expect_success KCAT 'with the producer running: every figure lies between the readings taken around it' '
	(
		i=0
		while test $i -lt 5 && test_bg_running producer
		do
			pp query --store st offsets >stored.0 &&
			watermarks -1 >ends.0 &&
			pp lag --store st --json >lag.$i.json &&
			watermarks -1 >ends.1 &&
			pp query --store st offsets >stored.1 &&
			check_lag lag.$i.json stored.0 stored.1 ends.0 ends.1 >>samples || exit 1
			i=$((i + 1))
		done
		test $i -ge 2
	) &&
	cat samples &&
	grep -v "total 0$" samples
'

test_expect_success 'once the producer is done, the consumer catches up: --max-lag 0 holds' '
	test_wait producer 60 &&
	wait_for 60 "pp lag --store st --max-lag 0 -q >/dev/null" &&
	test_kill consumer &&
	pp lag --store st --json >lag.json &&
	pp query --store st offsets >stored &&
	log_ends >ends &&
	check_lag lag.json stored stored ends ends &&
	test "$(awk -F "\t" "{ s += \$2 } END { print s }" ends)" = 19000
'

test_expect_success 'a consumer stopped cleanly has mirrored its store: committed equals stored' '
	"$PY" -c "
import json
for o in map(json.loads, open(\"lag.json\")):
    assert o.get(\"total\") or o[\"committed\"] == o[\"stored\"], o
"
'

test_expect_success '100 new events unread: a lag of 100, and --max-lag says whether that is too much' '
	pp produce --rate 0 --count 100 --users 100 -q &&
	log_ends >ends.new &&
	pp lag --store st --json >lag.json &&
	check_lag lag.json stored stored ends.new ends.new &&
	test "$(tail -n 1 lag.json)" = "{\"topic\":\"chat\",\"group\":\"pingpong-active\",\"total\":true,\"partitions\":3,\"lag\":100}" &&
	test_expect_code 1 pp lag --store st --max-lag 99 >out 2>err &&
	grep "total lag 100 is above --max-lag 99" err &&
	tail -n 1 out | grep "^total  *100$" &&
	pp lag --store st --max-lag 100 >/dev/null
'

test_expect_success 'without a store: -g GROUP shows the committed offsets, and the lag from them' '
	pp lag -g pingpong-active --json >group.json &&
	"$PY" - group.json stored ends.new <<-\EOF
	import json, sys
	stored = {int(l.split()[0]): int(l.split()[1]) for l in open(sys.argv[2])}
	ends = {int(l.split()[0]): int(l.split()[1]) for l in open(sys.argv[3])}
	objs = [json.loads(l) for l in open(sys.argv[1])]
	for o in objs[:-1]:
	    p = o["partition"]
	    assert o["stored"] is None and o["committed"] == stored[p], o
	    assert o["log_end"] == ends[p] and o["lag"] == ends[p] - stored[p], o
	assert objs[-1]["lag"] == 100, objs[-1]
	EOF
'

test_expect_success 'a group that never committed counts from the log start' '
	pp lag -g nobody --json >nobody.json &&
	grep "\"committed\":null" nobody.json &&
	tail -n 1 nobody.json | grep "\"lag\":19100}"
'

test_expect_success KAFKA 'kafka-consumer-groups --describe gives the same committed offsets, ends and lags' '
	kafka_broker run-class "$TRASH/kafka" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand \
		--bootstrap-server @BOOTSTRAP@ --describe --group pingpong-active >describe.out &&
	awk "\$2 == \"chat\" { print \$3 \"\t\" \$4 \"\t\" \$5 \"\t\" \$6 }" describe.out | sort -n >kafka.rows &&
	"$PY" -c "
import json
for o in map(json.loads, open(\"group.json\")):
    if not o.get(\"total\"):
        print(\"%d\t%d\t%d\t%d\" % (o[\"partition\"], o[\"committed\"], o[\"log_end\"], o[\"lag\"]))
" >lag.rows &&
	test_cmp kafka.rows lag.rows
'

test_expect_success 'usage: neither --store nor -g' '
	test_expect_code 64 pp lag 2>err &&
	grep "give --store DIR, or -g GROUP" err
'

test_expect_success 'a store that does not exist: 74' '
	test_expect_code 74 pp lag --store nowhere 2>err &&
	grep "nowhere" err &&
	test_path_is_missing nowhere
'

test_expect_success 'a store of another topic than -t: 74' '
	test_expect_code 74 pp lag --store st -t other 2>err &&
	grep "belongs to topic .chat., not .other." err
'

test_expect_success 'no broker answers: 69 within --broker-timeout' '
	test_expect_code 69 pp lag --store st -b 127.0.0.1:1 --broker-timeout 1s 2>err &&
	grep "127.0.0.1:1" err
'

test_done
