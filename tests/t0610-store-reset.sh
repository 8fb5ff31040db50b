#!/bin/sh
test_description='store reset: the plan, the moves and their gaps records; back applies again (counts twice), forward skips; never under a running consumer'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to compute the expected results'
PY=${PYTHON3:-python3}
H=$top_srcdir/tests/helpers
start_broker --partitions 3

now_ms () {
	"$PY" -c 'import time; print(int(time.time() * 1000))'
}

# store_is EVENTS: the store's users are exactly the model of EVENTS (expect.py).
store_is () {
	pp query --store st --json users >users.json &&
	"$PY" "$H/expect.py" compare "$1" users.json >cmp 2>cmp.diff || { cat cmp cmp.diff; return 1; }
}

test_expect_success 'a consumer reads 2,000 events' '
	pp produce --rate 0 --count 2000 --users 60 -q &&
	pp tail --from-beginning --exit-at-end -q >a.jsonl &&
	pp active $GROUP_OPTS --store st --every 0 --exit-at-end -q &&
	store_is a.jsonl &&
	log_ends >ends.a &&
	pp query --store st offsets >offsets.a &&
	test_cmp ends.a offsets.a
'

test_expect_success '--dry-run prints the plan of --to-earliest and changes nothing' '
	pp store reset --store st --to-earliest --dry-run >plan 2>plan.err &&
	test_line_count = 4 plan &&
	while read p end
	do
		grep -x "chat\[$p\]: $end -> 0: $end events will be applied again (offsets 0 to $((end - 1)))" plan ||
			return 1
	done <offsets.a &&
	tail -n 1 plan | grep -x "dry run: nothing changed" &&
	grep "2000 events will be applied again, and counted again" plan.err &&
	pp query --store st offsets >offsets &&
	test_cmp offsets.a offsets &&
	pp query --store st gaps >gaps &&
	test_line_count = 0 gaps
'

test_expect_success 'while a consumer has the store open, reset is refused, naming it; the dry run warns' '
	test_bg consumer "$PP" active $GROUP_OPTS --store st --every 0 &&
	wait_for 30 "pp store reset --store st --to-earliest --dry-run 2>&1 >/dev/null | grep -q \"process $(test_pid consumer) has the store open\"" &&
	test_expect_code 74 pp store reset --store st --to-earliest >out 2>err &&
	grep "store .st. is open for writing by process $(test_pid consumer) (.*pingpong active .*--store st.*): stop it first" err &&
	test_line_count = 0 out &&
	test_kill consumer &&
	pp query --store st offsets >offsets &&
	test_cmp offsets.a offsets &&
	pp query --store st gaps >gaps &&
	test_line_count = 0 gaps
'

test_expect_success '--to-latest skips 300 new events: moved forward, recorded, never applied' '
	pp produce --rate 0 --count 300 --users 60 -q &&
	pp tail --from-beginning --exit-at-end -q >ab.jsonl &&
	log_ends >ends.ab &&
	pp store reset --store st --to-latest >plan &&
	paste offsets.a ends.ab | while read p from q to
	do
		grep -x "chat\[$p\]: $from -> $to: $((to - from)) events will be skipped, never processed (offsets $from to $((to - 1)))" plan ||
			exit 1
	done &&
	grep -x "store reset: 3 partition(s) moved; see pingpong query --store st gaps" plan &&
	pp query --store st offsets >offsets &&
	test_cmp ends.ab offsets &&
	pp active $GROUP_OPTS --store st --every 0 --exit-at-end 2>active.err &&
	grep "0 events consumed" active.err &&
	store_is a.jsonl
'

test_expect_success 'query gaps shows the three moves: kind, when and who' '
	pp query --store st gaps >gaps &&
	test_line_count = 3 gaps &&
	paste offsets.a ends.ab | while read p from q to
	do
		grep "^$p	$from	$to	reset	[0-9]\{13\}	[^	]*@[^ ]* pid [0-9]*: [^	]*pingpong store reset --store st --to-latest$" gaps ||
			exit 1
	done &&
	pp query --store st --json gaps >gaps.json &&
	grep -c "\"kind\":\"reset\",\"at\":[0-9]*,\"who\":\"[^\"]*pingpong store reset --store st --to-latest\"}" gaps.json >n &&
	echo 3 >three &&
	test_cmp three n
'

# Back to the start: every event of the topic is read again. The first 2,000 were
# applied before, so they count twice; the 300 skipped ones are applied now, once.
# last_seen and emails are the latest of all 2,300: exact.
test_expect_success '--to-earliest then a restart reads the topic again: counts of what was applied before are doubled, the rest exact' '
	pp store reset --store st --to-earliest >plan &&
	pp query --store st offsets >offsets &&
	printf "0\t0\n1\t0\n2\t0\n" >zeros &&
	test_cmp zeros offsets &&
	pp active $GROUP_OPTS --store st --every 0 --exit-at-end 2>active.err &&
	grep "2300 events consumed" active.err &&
	pp query --store st offsets >offsets &&
	test_cmp ends.ab offsets &&
	pp query --store st --json users >users.json &&
	"$PY" "$H/expect.py" users a.jsonl --json >model.a &&
	"$PY" "$H/expect.py" users ab.jsonl --json >model.ab &&
	"$PY" - model.a model.ab users.json <<-\EOF
	import json, sys
	a = {u["user"]: u for u in map(json.loads, open(sys.argv[1], "rb"))}
	ab = {u["user"]: u for u in map(json.loads, open(sys.argv[2], "rb"))}
	got = {u["user"]: u for u in map(json.loads, open(sys.argv[3], "rb"))}
	assert set(got) == set(ab), set(got) ^ set(ab)
	for name, want in ab.items():
	    g = got[name]
	    assert g["last_seen"] == want["last_seen"] and g["email"] == want["email"], (g, want)
	    again = a[name]["count"] if name in a else 0
	    assert g["count"] == want["count"] + again, (g, want, again)
	print("%d users: counts doubled for %d events read again" % (len(got), sum(u["count"] for u in a.values())))
	EOF
'

test_expect_success 'the gaps now hold the move back too' '
	pp query --store st gaps >gaps &&
	test_line_count = 6 gaps &&
	while read p end
	do
		grep "^$p	$end	0	reset	.*pingpong store reset --store st --to-earliest$" gaps || return 1
	done <ends.ab
'

test_expect_success '--to-offset and --shift-by: exact targets; beyond the log, brought to its end' '
	pp store reset --store st --to-offset 0:5 --to-offset 2:999999 >plan &&
	end2=$(sed -n "3s/.*	//p" ends.ab) &&
	grep -x "chat\[2\]: $end2 -> $end2: unchanged \[brought inside the log 0..$end2\]" plan &&
	pp store reset --store st --shift-by -3 >plan &&
	pp query --store st offsets >offsets &&
	printf "0\t2\n1\t%s\n2\t%s\n" $(($(sed -n "2s/.*	//p" ends.ab) - 3)) $((end2 - 3)) >expected &&
	test_cmp expected offsets &&
	pp store reset --store st --shift-by -100000 -q >plan &&
	pp query --store st offsets >offsets &&
	test_cmp zeros offsets
'

test_expect_success 'without a broker, --to-offset and --shift-by go where they are told' '
	pp store reset --store st --to-offset 1:77777 -b "" 2>err &&
	PINGPONG_BROKERS= pp store reset --store st --to-offset 1:88888 &&
	pp query --store st offsets >offsets &&
	grep -x "1	88888" offsets &&
	pp lag --store st --max-lag 1000000 >lag 2>lag.err
	test $? = 1 &&
	grep "chat\[1\]: stored offset 88888 is beyond the log end" lag.err &&
	pp store reset --store st --to-latest -q >/dev/null
'

test_expect_success MOCK '--to-time on the mock: it cannot look offsets up by time; 69 and nothing moved' '
	pp query --store st offsets >before &&
	test_expect_code 69 pp store reset --store st --to-time 2020-01-01T00:00:00Z >out 2>err &&
	grep "cannot look offsets up by time" err &&
	pp query --store st offsets >after &&
	test_cmp before after
'

# Kafka stamps each message with the time it was produced: a time taken between two
# batches separates them.
test_expect_success KAFKA '--to-time on Kafka: to the first message at or after the time' '
	log_ends >ends.before &&
	t=$(($(now_ms) + 1)) &&
	wait_for 5 "test \$(now_ms) -gt $t" &&
	pp produce --rate 0 --count 200 --users 60 -q &&
	pp store reset --store st --to-time $t >plan &&
	pp query --store st offsets >offsets &&
	test_cmp ends.before offsets &&
	pp store reset --store st --to-time $(($(now_ms) + 3600000)) &&
	log_ends >ends.after &&
	pp query --store st offsets >offsets &&
	test_cmp ends.after offsets
'

test_expect_success 'usage: exactly one move; a partition the topic lacks, or twice; no brokers' '
	test_expect_code 64 pp store reset --store st 2>err &&
	grep "reset takes one of --to-earliest" err &&
	test_expect_code 64 pp store reset --store st --to-earliest --to-latest 2>err &&
	grep "reset takes one of" err &&
	test_expect_code 64 pp store reset --store st --to-offset 0:x 2>err &&
	grep "PARTITION:OFFSET" err &&
	test_expect_code 64 pp store reset --store st --to-offset 7:1 2>err &&
	grep "topic .chat. has 3 partitions" err &&
	test_expect_code 64 pp store reset --store st --to-offset 1:1 --to-offset 1:2 2>err &&
	grep "partition 1 is given twice" err &&
	test_expect_code 64 env PINGPONG_BROKERS= "$PP" store reset --store st --to-earliest 2>err &&
	grep "no brokers" err &&
	test_expect_code 64 pp store check --store st --to-earliest 2>err &&
	grep "goes only with .pingpong store reset." err
'

test_expect_success 'a store that does not exist is not created; one of another topic is refused' '
	test_expect_code 74 pp store reset --store nowhere --to-earliest 2>err &&
	test_path_is_missing nowhere &&
	test_expect_code 74 pp store reset --store st -t other --to-earliest 2>err &&
	grep "belongs to topic .chat., not .other." err
'

test_expect_success 'no broker answers: 69, nothing moved' '
	pp query --store st offsets >before &&
	test_expect_code 69 pp store reset --store st --to-earliest -b 127.0.0.1:1 --broker-timeout 1s 2>err &&
	pp query --store st offsets >after &&
	test_cmp before after
'

# The issue's own words: on the embedded broker, with a producer running, reset
# --to-earliest and a restart read the topic again, and the gaps say so.
test_expect_success 'with a producer running: --to-earliest, and a restart reads everything again' '
	pp query --store st offsets >before &&
	pp query --store st gaps >gaps.before &&
	test_bg producer pp produce --rate 1000 --count 4000 --users 60 &&
	wait_for 30 "log_ends >ends.p && test \$(awk -F \"\t\" \"{ s += \\\$2 } END { print s }\" ends.p) -gt 3000" &&
	pp store reset --store st --to-earliest >plan &&
	pp query --store st offsets >offsets &&
	test_cmp zeros offsets &&
	pp query --store st gaps >gaps &&
	while read p from
	do
		grep "^$p	$from	0	reset	.*pingpong store reset --store st --to-earliest$" gaps || return 1
	done <before &&
	test $(wc -l <gaps) = $(($(wc -l <gaps.before) + 3)) &&
	pp active $GROUP_OPTS --store st --every 0 --exit-at-end 2>active.err &&
	consumed=$(sed -n "s/.* \([0-9]*\) events consumed.*/\1/p" active.err) &&
	test $consumed -ge $(awk -F "\t" "{ s += \$2 } END { print s }" ends.p) &&
	test_wait producer 60 &&
	pp active $GROUP_OPTS --store st --every 0 --exit-at-end -q &&
	log_ends >ends.final &&
	pp query --store st offsets >offsets &&
	test_cmp ends.final offsets
'

test_done
