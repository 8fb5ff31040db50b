#!/bin/sh
test_description='consumer metrics: active, messages and notify serve GET /metrics with --metrics; the figures equal what was produced (computed apart), the log ends, the store and the logs; promtool accepts the text'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to scrape and compute the expected figures'
PY=${PYTHON3:-python3}
H=$top_srcdir/tests/helpers
. "$top_srcdir/tests/lib-metrics.sh"
command -v kcat >/dev/null 2>&1 && test_set_prereq KCAT

start_broker --partitions 3

NOW=$("$PY" -c 'import time; print(int(time.time() * 1000))')
MAX_TS=$((NOW + 300000))

# port_of NAME: the port that NAME's log says it serves its metrics on.
port_of () {
	sed -n 's/^pingpong [a-z]*: serving metrics on 127\.0\.0\.1:\([0-9][0-9]*\): GET \/metrics$/\1/p' "$1.err"
}

# serving NAME: NAME has said where it serves; sets PORT.
serving () {
	PORT=$(port_of "$1") && test -n "$PORT"
}

# ends FILE: "partition<TAB>log end" of chat's partitions, from kcat -Q when there is
# kcat, else from reading the whole topic with pingpong tail.
ends () {
	if test_have_prereq KCAT; then
		kcat -b "$PINGPONG_BROKERS" -Q -t chat:0:-1 -t chat:1:-1 -t chat:2:-1 |
			sed -n 's/^chat \[\([0-9]*\)\] offset \([0-9]*\)$/\1	\2/p' | sort -n >"$1"
	else
		log_ends >"$1"
	fi
}

# figures SAMPLES ENDS APPLIED REJECTED: the events of each partition, applied or
# rejected, add up to its log end; in all, to APPLIED and REJECTED; none is counted as
# already applied. Prints the figures.
figures () {
	"$PY" - "$@" <<-\EOF
	import json, sys
	samples = [json.loads(l) for l in open(sys.argv[1])]
	ends = {l.split("\t")[0]: int(l.split("\t")[1]) for l in open(sys.argv[2]) if l.strip()}
	applied, rejected = int(sys.argv[3]), int(sys.argv[4])
	ev = {}
	for n, lab, v in samples:
	    if n == "pingpong_events_total":
	        ev[(lab["result"], lab["partition"])] = v
	for p, end in ends.items():
	    got = ev.get(("applied", p), 0) + ev.get(("rejected", p), 0)
	    assert got == end, ("partition", p, got, end)
	    assert ev.get(("already_applied", p), 0) == 0, ev
	total = lambda r: sum(v for (res, p), v in ev.items() if res == r)
	assert (total("applied"), total("rejected")) == (applied, rejected), (ev, applied, rejected)
	print("applied %d, rejected %d, by partition %s" % (total("applied"), total("rejected"), sorted(ev.items())))
	EOF
}

# lag_is SAMPLES ENDS LAG: librdkafka's figures: each partition's log end is ENDS's,
# and its lag LAG.
lag_is () {
	"$PY" - "$@" <<-\EOF
	import json, sys
	samples = [json.loads(l) for l in open(sys.argv[1])]
	ends = {l.split("\t")[0]: int(l.split("\t")[1]) for l in open(sys.argv[2]) if l.strip()}
	lag = {lab["partition"]: v for n, lab, v in samples if n == "pingpong_consumer_lag"}
	end = {lab["partition"]: v for n, lab, v in samples if n == "pingpong_log_end_offset"}
	sys.exit(not (end == ends and lag == {p: int(sys.argv[3]) for p in ends}))
	EOF
}

# store_is SAMPLES STAT.JSON: the store's gauges are store stat's figures.
store_is () {
	"$PY" - "$@" <<-\EOF
	import json, sys
	g = {n: v for n, lab, v in map(json.loads, open(sys.argv[1])) if n.startswith("pingpong_store_")}
	st = json.load(open(sys.argv[2]))
	print(g, st["map_size"], st["used_bytes"])
	sys.exit(not (g == {"pingpong_store_map_size_bytes": st["map_size"],
	                    "pingpong_store_used_bytes": st["used_bytes"]} and st["used_bytes"] > 0))
	EOF
}

test_expect_success 'events of the whole domain, malformed ones and some from the future among them' '
	"$PY" "$H/gen-events.py" --users 300 --count 4000 --seed 14 --now $NOW --dups 0.02 \
		--malformed 60 --future 6 --raw-valid 20 >events.jsonl &&
	pp produce --from events.jsonl -q &&
	"$PY" "$H/expect.py" counts events.jsonl --max-ts $MAX_TS >counts &&
	read _ total _ applied _ rejected _ users <counts &&
	test $rejected -gt 60 &&
	ends ends
'

test_expect_success 'active --metrics: it says where, and serves while it runs' '
	test_bg active pp active $GROUP_OPTS --store act --every 0 --retain 1h --metrics 127.0.0.1:0 &&
	wait_for 30 "serving active || ! test_bg_running active" &&
	scrape first &&
	test "$(sample first.samples pingpong_info command=active version=$(pp --version | cut -d" " -f2))" = 1.0
'

# Readiness: scraped until every event is counted, then every figure is checked.
test_expect_success 'every event counted under its partition: the log ends, and the totals computed apart' '
	wait_for 60 "scrape m && figures m.samples ends $applied $rejected >figures.out" &&
	cat figures.out
'

test_expect_success 'librdkafka'"'"'s statistics: each partition'"'"'s log end, and a lag of 0 once caught up' '
	wait_for 30 "scrape m && lag_is m.samples ends 0" &&
	pp lag --store act --max-lag 0 -q
'

# The consumer is idle: its gauges, set every second, come to what store stat says.
test_expect_success 'the store'"'"'s map and the bytes it uses, as store stat says' '
	wait_for 10 "pp store stat --store act --json >stat.json && scrape m && store_is m.samples stat.json"
'

test_expect_success 'promtool check metrics accepts what active serves' '
	if test_have_prereq PROMTOOL
	then
		"$PROMTOOL" check metrics <m >promtool.out 2>&1 || { cat promtool.out; false; }
	else
		say "no promtool: BOOTSTRAP_PROMTOOL=1 ./bootstrap fetches it"
	fi
'

test_expect_success 'stopped: the batches, commits and assignments counted are those of its log' '
	scrape last &&
	test_kill active &&
	batches=$(sed -n "s/.* in \([0-9]*\) batches$/\1/p" active.err) &&
	test "$(sample last.samples pingpong_batches_total)" = "$batches.0" &&
	test "$(sample last.samples pingpong_batch_commit_seconds_count)" = "$batches.0" &&
	test $batches -ge $((total / 1000)) &&
	"$PY" -c "import sys; sys.exit(not float(sys.argv[1]) > 0)" \
		"$(sample last.samples pingpong_batch_commit_seconds_sum)" &&
	test "$(sample last.samples pingpong_rebalances_total kind=assign)" = \
		"$(grep -c "assigned: chat" active.err).0" &&
	! test_bg_running active
'

# messages rejects only what does not decode; it has no clock to judge the future by.
test_expect_success 'messages --metrics, without a store: every event counted, no store figures; its port taken: 71' '
	test_bg msg pp messages $GROUP_OPTS --metrics 127.0.0.1:0 &&
	wait_for 30 "serving msg || ! test_bg_running msg" &&
	undecodable=$("$PY" -c "
import json, sys
print(sum(json.loads(l).get(\"_expect\") == \"reject\" for l in open(\"events.jsonl\")))
") &&
	test $undecodable = 60 &&
	wait_for 60 "scrape msg && figures msg.samples ends $((total - undecodable)) $undecodable >figures.out" &&
	test "$(sample msg.samples pingpong_store_map_size_bytes)" = 0.0 &&
	test "$(sample msg.samples pingpong_info command=messages version=$(pp --version | cut -d" " -f2))" = 1.0 &&
	test_expect_code 71 pp messages $GROUP_OPTS -g other --metrics 127.0.0.1:$PORT 2>err &&
	grep "cannot serve metrics on .127.0.0.1:$PORT.: Address already in use" err &&
	test_kill msg
'

# notify runs ahead of active: it holds each partition's first message past active's
# store until active has processed it.
test_expect_success 'notify --metrics: the gate'"'"'s waits for the active store, per partition' '
	"$PY" "$H/gen-events.py" --simple --users 50 --count 600 --seed 15 --now $NOW --prefix b >more.jsonl &&
	pp produce --from more.jsonl -q &&
	test_bg notify pp notify $GROUP_OPTS --store ntf --active-store act --after-store act \
		--after-poll 50ms --metrics 127.0.0.1:0 &&
	wait_for 30 "serving notify || ! test_bg_running notify" &&
	wait_for 60 "grep -q \"waiting for act on chat\" notify.err" &&
	scrape held &&
	now=$(date +%s.%N) &&
	grep "waiting for act on chat\[" notify.err | sed "s/.*chat\[\([0-9]*\)\].*/\1/" | sort -u >held.parts &&
	"$PY" - held.samples held.parts $now <<-\EOF &&
	import json, sys
	s = [json.loads(l) for l in open(sys.argv[1])]
	held, now = open(sys.argv[2]).read().split(), float(sys.argv[3])
	since = {l["partition"]: v for n, l, v in s if n == "pingpong_gate_waiting_since_seconds"}
	print(since, held)
	# a wait logged has lasted 5 s at least (the gate logs it then), and is a time of
	# this run, not 0 or a monotonic clock
	assert held and all(now - 120 <= since.get(p, 0) <= now - 4.9 for p in held), (since, held, now)
	EOF
	pp active $GROUP_OPTS --store act --every 0 --retain 1h --exit-at-end -q &&
	ends ends2 &&
	pp query --store act offsets >act.offsets &&
	test_cmp ends2 act.offsets &&
	wait_for 60 "pp query --store ntf offsets >ntf.offsets && cmp -s ntf.offsets act.offsets" &&
	scrape n &&
	grep "waiting for act on chat\[" notify.err | sed "s/.*chat\[\([0-9]*\)\].*/\1/" | sort -u >waited &&
	"$PY" - n.samples waited <<-\EOF &&
	import json, sys
	s = [json.loads(l) for l in open(sys.argv[1])]
	waited = open(sys.argv[2]).read().split()
	waits = {l["partition"]: v for n, l, v in s if n == "pingpong_gate_waits_total"}
	secs = {l["partition"]: v for n, l, v in s if n == "pingpong_gate_wait_seconds_total"}
	print(waits, secs, waited)
	assert set(waits) == set(secs) and all(w >= 1 for w in waits.values()), (waits, secs)
	assert all(secs[p] > 0 for p in secs), secs
	# the gate logs a wait once it has lasted 5 s
	assert waited and all(p in waits and secs[p] >= 5 for p in waited), (waited, secs)
	# nothing is held back any more
	since = {l["partition"]: v for n, l, v in s if n == "pingpong_gate_waiting_since_seconds"}
	assert set(since) == set(waits) and all(v == 0 for v in since.values()), since
	EOF
	if test_have_prereq PROMTOOL; then "$PROMTOOL" check metrics <n; fi &&
	test_kill notify
'

test_expect_success '-X statistics.interval.ms without --metrics: the lag is logged' '
	test_bg stats pp messages $GROUP_OPTS -g stats-log -X statistics.interval.ms=200 &&
	wait_for 30 "grep -q \"^pingpong messages: librdkafka statistics: lag chat\[[0-9]\] [0-9]*, chat\[[0-9]\] [0-9]*, chat\[[0-9]\] [0-9]* (total [0-9]*)$\" stats.err" &&
	test_kill stats
'

test_expect_success 'a --metrics that is not HOST:PORT: 64, and no store made' '
	test_expect_code 64 pp active --store bad --metrics nonsense 2>err &&
	grep "metrics address .nonsense. is not HOST:PORT" err &&
	test_path_is_missing bad &&
	test_expect_code 64 pp messages --metrics 127.0.0.1: 2>err &&
	grep "metrics address .127.0.0.1:. is not HOST:PORT" err
'

test_done
