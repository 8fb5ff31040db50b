#!/bin/sh
test_description='tail as kcat reads: lines flushed at once, -o positions, -c, the envelope'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to read JSON lines'
PY=$PYTHON3

# Two partitions, each with 5 events: keyed a or d, which librdkafka's default
# partitioner (CRC-32 of the key, modulo the partitions) puts in partitions 1 and 0.
start_broker --partitions 2 --topic pos --topic live --topic hdr --topic flow

# offsets FILE: "partition:offset" of each line, sorted.
offsets () {
	"$PY" -c 'import json, sys
print("\n".join(sorted("%d:%d" % (e["partition"], e["offset"]) for e in map(json.loads, open(sys.argv[1])))))' "$1"
}

test_expect_success 'five events in each partition of pos' '
	pp produce -t pos --count 5 --rate 0 --key fixed:a -q &&
	pp produce -t pos --count 5 --rate 0 --key fixed:d -q &&
	pp tail -t pos -o beginning --exit-at-end >all.out &&
	test_line_count = 10 all.out &&
	offsets all.out | sed "s/:.*//" | uniq -c | awk "{print \$1}" >counts &&
	printf "5\n5\n" >expect &&
	test_cmp expect counts
'

test_expect_success '-o beginning and --from-beginning read all; -o end nothing' '
	offsets all.out >all.offsets &&
	pp tail -t pos --from-beginning --exit-at-end >fb.out &&
	offsets fb.out >actual &&
	test_cmp all.offsets actual &&
	pp tail -t pos -o end --exit-at-end >end.out &&
	test_line_count = 0 end.out
'

test_expect_success '-o OFFSET starts there in every partition' '
	pp tail -t pos -o 3 --exit-at-end >abs.out &&
	offsets abs.out >actual &&
	printf "0:3\n0:4\n1:3\n1:4\n" >expect &&
	test_cmp expect actual
'

test_expect_success '-o -N: the last N of each partition' '
	pp tail -t pos -o -1 --exit-at-end >rel.out &&
	offsets rel.out >actual &&
	printf "0:4\n1:4\n" >expect &&
	test_cmp expect actual &&
	pp tail -t pos --offset=-4 --exit-at-end >rel4.out &&
	test_line_count = 8 rel4.out
'

test_expect_success '-c N is --count N: N of the 10 messages, then tail ends' '
	pp tail -t pos -o beginning -c 3 >c.out 2>c.err &&
	test_line_count = 3 c.out &&
	grep "^pingpong tail: 3 events" c.err &&
	pp tail -t pos -o beginning --count 7 >count.out &&
	test_line_count = 7 count.out
'

test_expect_success '-o is refused when it means nothing: with -g (but beginning, end), with --from-beginning' '
	test_expect_code 64 pp tail -t pos -g g1 -o 3 2>err &&
	grep "with -g, -o takes beginning or end" err &&
	test_expect_code 64 pp tail -t pos -o 3 --from-beginning 2>err &&
	grep "cannot be combined" err &&
	test_expect_code 64 pp tail -t pos -o yesterday 2>err &&
	grep "^pingpong tail: --offset takes beginning, end, an offset, -N or s@TS, not .yesterday.$" err
'

test_expect_success 'the envelope: topic, partition, offset, timestamp and its type, key, headers' '
	before=$("$PY" -c "import time; print(int(time.time() * 1000))") &&
	pp produce -t hdr --count 2 --rate 0 --key fixed:k -H trace=abc -H empty= -H "bin=$(printf "\377")" -q &&
	pp produce -t hdr --count 1 --rate 0 --key "fixed:$(printf "k\377")" -q &&
	pp tail -t hdr -o beginning --exit-at-end >hdr.out &&
	test_line_count = 3 hdr.out &&
	"$PY" - hdr.out $before <<-\EOF
	import json, sys, time
	lines = [json.loads(l) for l in open(sys.argv[1])]
	before, now = int(sys.argv[2]), int(time.time() * 1000)
	for e in lines:
	    assert list(e)[:8] == ["topic", "partition", "offset", "timestamp", "timestamp_type",
	                           "key" if "key" in e else "key_hex", "headers", "encoding"], e
	    assert e["topic"] == "hdr" and e["timestamp_type"] == "create", e
	    assert before <= e["timestamp"] <= now, (before, e["timestamp"], now)
	    assert e["user"] and e["activity"] in ("send-message", "heart-beat") and e["ts"] > 0, e
	with_headers = [e for e in lines if e["headers"]]
	assert len(with_headers) == 2, lines
	for e in with_headers:
	    assert e["key"] == "k", e
	    assert e["headers"] == [{"name": "trace", "value": "abc"}, {"name": "empty", "value": ""},
	                            {"name": "bin", "value_hex": "ff"}], e["headers"]
	odd = [e for e in lines if not e["headers"]]
	assert len(odd) == 1 and odd[0]["key_hex"] == "6bff" and "key" not in odd[0], odd
	EOF
'

# The file fills while tail runs: every line is flushed as it is printed (without that,
# stdio would hold these few lines until tail exits).
test_expect_success 'tail > file: each line is in the file while tail still runs' '
	test_bg tail pp tail -t live -o beginning &&
	pp produce -t live --count 3 --rate 0 -q &&
	wait_for 30 "test \$(wc -l <\"$TRASH/tail.out\") -ge 3" &&
	test_bg_running tail &&
	test_line_count = 3 "$TRASH/tail.out" &&
	pp produce -t live --count 2 --rate 0 -q &&
	wait_for 30 "test \$(wc -l <\"$TRASH/tail.out\") -ge 5" &&
	test_bg_running tail &&
	test_kill tail &&
	test_line_count = 5 "$TRASH/tail.out"
'

test_expect_success 'a standard output that cannot be written ends tail with 74' '
	test_expect_code 74 pp tail -t pos -o beginning --exit-at-end >/dev/full 2>err &&
	grep "cannot write to standard output" err
'

# s@TS: the first message stamped at or after TS. Kafka looks it up (ListOffsets by
# timestamp); the mock cannot, and tail must say so instead of waiting at the end.
test_expect_success MOCK '-o s@TS on the mock: refused, and why, with 69' '
	test_expect_code 69 pp tail -t pos -o s@0 --exit-at-end >ts.out 2>err &&
	grep "cannot look offsets up by time" err &&
	test_line_count = 0 ts.out
'

test_expect_success KAFKA '-o s@TS on Kafka: from the first message stamped at or after TS' '
	pp tail -t pos -o s@0 --exit-at-end >ts0.out &&
	offsets ts0.out >actual &&
	test_cmp all.offsets actual &&
	ms () { "$PY" -c "import time; print(int(time.time() * 1000))"; } &&
	at=$(($(ms) + 1)) &&
	wait_for 5 "test \$(ms) -gt $at" &&
	pp produce -t pos --count 3 --rate 0 --key fixed:a -q &&
	pp tail -t pos -o "s@$at" --exit-at-end >ts.out &&
	offsets ts.out >actual &&
	grep -c . actual >n &&
	echo 3 >expect &&
	test_cmp expect n &&
	"$PY" -c "import json, sys
assert all(json.loads(l)[\"timestamp\"] >= $at for l in open(\"ts.out\"))" &&
	iso=$("$PY" -c "import datetime as d; t = d.datetime.fromtimestamp($at // 1000, d.timezone.utc)
print(t.strftime(\"%Y-%m-%dT%H:%M:%S\") + \".%03dZ\" % ($at % 1000))") &&
	pp tail -t pos -o "s@$iso" --exit-at-end >iso.out &&
	offsets iso.out >iso.offsets &&
	test_cmp actual iso.offsets &&
	pp tail -t pos -o "s@$(($(ms) + 3600000))" --exit-at-end >later.out &&
	test_line_count = 0 later.out
'

# A local queue of 1,000 messages: the fetcher stops at it and kafka_flow wakes it by
# asking the leaders for the log ends, which must lose and repeat nothing.
test_expect_success 'a small local queue: the fetcher stops and is woken; every message once' '
	pp produce -t flow --count 30000 --rate 0 -q &&
	pp tail -v -t flow --from-beginning --exit-at-end -X queued.min.messages=1000 >flow.out 2>flow.err &&
	test_line_count = 30000 flow.out &&
	offsets flow.out | awk -F: "seen[\$0]++ { bad = 1 } { n[\$1]++; if (\$2 > m[\$1]) m[\$1] = \$2 }
		END { for (p in n) if (n[p] != m[p] + 1) bad = 1; exit bad }" &&
	sed -n "s/.*flow control: \([0-9]*\) nudges.*/\1/p" flow.err >nudges &&
	test "$(cat nudges)" -gt 0
'

test_expect_success 'tail -g commits what it printed: -c 1000, then the rest (-o beginning where nothing was committed)' '
	pp tail -t flow -g printed $GROUP_OPTS -o beginning -c 1000 >first.out &&
	test_line_count = 1000 first.out &&
	pp tail -t flow -g printed $GROUP_OPTS -o beginning --exit-at-end >rest.out &&
	test_line_count = 29000 rest.out &&
	cat first.out rest.out >both.out &&
	offsets both.out >both.offsets &&
	offsets flow.out >expect &&
	test_cmp expect both.offsets
'

test_expect_success 'tail -g commits nothing it could not write: after a full disk, the same messages again' '
	test_expect_code 74 pp tail -t flow -g full $GROUP_OPTS -o beginning >/dev/full 2>full.err &&
	grep "cannot write to standard output" full.err &&
	pp tail -t flow -g full $GROUP_OPTS -o beginning -c 1000 >again.out &&
	test_line_count = 1000 again.out &&
	offsets again.out | awk -F: "!(\$1 in lo) { lo[\$1] = \$2 } END { for (p in lo) if (lo[p] != 0) exit 1 }"
'

test_done
