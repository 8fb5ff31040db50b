#!/bin/sh
test_description='metrics over HTTP: GET /metrics is Prometheus text that an independent parser (and promtool, when installed) accepts, with the values set, while two threads update'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"

test_have_python3 || test_skip_all 'python3 is needed to scrape and parse the metrics'
PY=${PYTHON3:-python3}
SERVE=$top_builddir/tests/metrics-serve
test -x "$SERVE" || test_skip_all "tests/metrics-serve is not built (make check builds it)"
. "$top_srcdir/tests/lib-metrics.sh"

test_expect_success 'metrics-serve listens on a free port of 127.0.0.1' '
	test_bg serve env METRICS_STATS="$top_srcdir/tests/rdkafka-stats-2.0.2.json" "$SERVE" 127.0.0.1:0 &&
	wait_for 10 "grep -q \"^port [1-9]\" serve.out || ! test_bg_running serve" &&
	PORT=$(sed -n "s/^port //p" serve.out) &&
	test -n "$PORT"
'

test_expect_success 'GET /metrics: 200, the text format 0.0.4, and it parses' '
	http GET /metrics scrape1 &&
	printf "200\ttext/plain; version=0.0.4; charset=utf-8\tNone\n" >expected &&
	test_cmp expected scrape1.headers &&
	parse scrape1 >samples1 &&
	test $(wc -l <samples1) -gt 40
'

test_expect_success 'the values set are the values served, escapes undone' '
	test "$(sample samples1 pingpong_events_total result=applied partition=0)" = 1000.0 &&
	test "$(sample samples1 pingpong_events_total result=rejected partition=0)" = 3.0 &&
	test "$(sample samples1 pingpong_events_total result=already_applied partition=0)" = 7.0 &&
	test "$(sample samples1 pingpong_test_odd_total "value=$(printf "back\\\\slash \"quoted\"\nnext line")")" = 42.0 &&
	test "$(sample samples1 pingpong_info command=metrics-serve version=$(pp --version | cut -d" " -f2))" = 1.0 &&
	test "$(sample samples1 pingpong_store_map_size_bytes)" = 67108864.0 &&
	test "$(sample samples1 pingpong_rebalances_total kind=assign)" = 1.0 &&
	test "$(sample samples1 pingpong_gate_wait_seconds_total partition=0)" = 0.25
'

# The sample statistics: a consumer of chat[0..2] whose group committed 200, 352 and 100
# of logs ending at 263, 352 and 385 (check_metrics reads the same file).
test_expect_success 'the lag comes from librdkafka'"'"'s statistics' '
	test "$(sample samples1 pingpong_consumer_lag partition=0)" = 63.0 &&
	test "$(sample samples1 pingpong_consumer_lag partition=1)" = 0.0 &&
	test "$(sample samples1 pingpong_consumer_lag partition=2)" = 285.0 &&
	test "$(sample samples1 pingpong_log_end_offset partition=2)" = 385.0
'

test_expect_success 'scraped again while two threads count: counters only grow' '
	http GET /metrics scrape2 &&
	parse scrape2 >samples2 &&
	for p in 1 2
	do
		a=$(sample samples1 pingpong_events_total result=applied partition=$p) &&
		b=$(sample samples2 pingpong_events_total result=applied partition=$p) &&
		"$PY" -c "import sys; sys.exit(not (0 < $a < $b))" || return 1
	done
'

test_expect_success PROMTOOL 'promtool check metrics accepts it' '
	"$PROMTOOL" check metrics <scrape1 >promtool.out 2>&1 ||
		{ cat promtool.out; false; } &&
	"$PROMTOOL" check metrics <scrape2
'

test_expect_success 'HEAD: the headers alone; another path: 404; POST: 405 with Allow' '
	http HEAD /metrics head &&
	test_line_count = 0 head &&
	grep "^200	text/plain; version=0.0.4" head.headers &&
	http GET / root &&
	grep "^404	" root.headers &&
	echo "not found: try /metrics" >expected &&
	test_cmp expected root &&
	http POST /metrics post &&
	printf "405\ttext/plain; charset=utf-8\tGET, HEAD\n" >expected &&
	test_cmp expected post.headers &&
	echo "only GET and HEAD" >expected &&
	test_cmp expected post
'

test_expect_success 'an address in use, or not HOST:PORT: exit 1, saying which' '
	test_expect_code 1 "$SERVE" 127.0.0.1:$PORT 2>err &&
	grep "cannot serve metrics on .127.0.0.1:$PORT.: Address already in use" err &&
	test_expect_code 1 "$SERVE" nonsense 2>err &&
	grep "metrics address .nonsense. is not HOST:PORT" err
'

test_expect_success 'SIGTERM stops it cleanly' '
	test_kill serve TERM
'

test_done
