#!/bin/sh
test_description='metrics over HTTP: GET /metrics is Prometheus text that an independent parser (and promtool, when installed) accepts, with the values set, while two threads update'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"

test_have_python3 || test_skip_all 'python3 is needed to scrape and parse the metrics'
PY=${PYTHON3:-python3}
SERVE=$top_builddir/tests/metrics-serve
test -x "$SERVE" || test_skip_all "tests/metrics-serve is not built (make check builds it)"
# promtool comes with Debian's prometheus package; bootstrap fetches it alone into
# tests/tools with BOOTSTRAP_PROMTOOL=1 (as .ci/run does), without the server.
PROMTOOL=$(command -v promtool 2>/dev/null) ||
	for PROMTOOL in "$top_builddir/tests/tools/promtool" "$top_srcdir/tests/tools/promtool" ""; do
		test -x "$PROMTOOL" && break
	done
test -n "$PROMTOOL" && test_set_prereq PROMTOOL

# http METHOD PATH OUT: writes "STATUS<TAB>CONTENT-TYPE<TAB>ALLOW" to OUT.headers and the
# body to OUT.
http () {
	"$PY" - "$PORT" "$@" <<-\EOF
	import sys, urllib.request, urllib.error
	port, method, path, out = sys.argv[1:5]
	req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), method=method,
	                             data=b"x=1" if method == "POST" else None)
	try:
	    r = urllib.request.urlopen(req, timeout=10)
	except urllib.error.HTTPError as e:
	    r = e
	body = r.read()
	open(out, "wb").write(body)
	open(out + ".headers", "w").write("%d\t%s\t%s\n" % (r.status, r.headers.get("Content-Type"), r.headers.get("Allow")))
	EOF
}

# parse FILE: checks FILE against the text exposition format (0.0.4), written from its
# description and sharing nothing with metrics.c, and prints one JSON line per sample:
# [name, labels, value].
parse () {
	"$PY" - "$1" <<-\EOF
	import json, math, re, sys
	NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
	LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
	def value(s):
	    return {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}.get(s) if s in ("+Inf", "-Inf", "NaN") else float(s)
	def labels(s):
	    out, i = {}, 0
	    while i < len(s):
	        m = re.match(r"(%s)=\"" % LABEL, s[i:])
	        assert m, "bad label at %r" % s[i:]
	        key, i, v = m.group(1), i + m.end(), ""
	        while s[i] != '"':
	            if s[i] == "\\":
	                v += {"\\": "\\", '"': '"', "n": "\n"}[s[i + 1]]
	                i += 2
	            else:
	                v += s[i]
	                i += 1
	        assert key not in out, "label %s twice" % key
	        out[key] = v
	        i += 1
	        if i < len(s):
	            assert s[i] == ",", "no comma at %r" % s[i:]
	            i += 1
	    return out
	types, helps, samples, family = {}, {}, [], None
	text = open(sys.argv[1], encoding="utf-8").read()
	assert text.endswith("\n"), "no final newline"
	for line in text[:-1].split("\n"):
	    m = re.match(r"# (HELP|TYPE) (%s) (.*)$" % NAME, line)
	    if m:
	        kind, name, rest = m.groups()
	        table = helps if kind == "HELP" else types
	        assert name not in table, "%s %s twice" % (kind, name)
	        if kind == "TYPE":
	            assert rest in ("counter", "gauge", "histogram", "summary", "untyped"), rest
	            assert not any(s[0] == name or s[0].startswith(name + "_") and family == name for s in samples), name
	        table[name] = rest
	        family = name
	        continue
	    m = re.match(r"(%s)(?:\{(.*)\})? (\S+)$" % NAME, line)
	    assert m, "bad line %r" % line
	    name, lab, v = m.group(1), labels(m.group(2) or ""), value(m.group(3))
	    base = name
	    if types.get(family) == "histogram":
	        assert re.match(re.escape(family) + r"_(bucket|sum|count)$", name), "%s in histogram %s" % (name, family)
	        base = family
	    assert base == family, "%s outside its family %s" % (name, family)
	    if types[family] == "counter":
	        assert v >= 0, line
	    samples.append((name, lab, v))
	# histograms: le increasing to +Inf, counts cumulative, _count the +Inf bucket
	for fam, t in types.items():
	    if t != "histogram":
	        continue
	    series = {}
	    for name, lab, v in samples:
	        if name == fam + "_bucket":
	            rest = tuple(sorted((k, x) for k, x in lab.items() if k != "le"))
	            series.setdefault(rest, []).append((value(lab["le"]), v))
	    for rest, buckets in series.items():
	        les = [le for le, _ in buckets]
	        counts = [c for _, c in buckets]
	        assert les == sorted(les) and les[-1] == math.inf, (fam, les)
	        assert counts == sorted(counts), (fam, counts)
	        count = [v for n, l, v in samples if n == fam + "_count" and tuple(sorted(l.items())) == rest]
	        assert count == [counts[-1]], (fam, count, counts)
	for name, lab, v in samples:
	    print(json.dumps([name, lab, v]))
	EOF
}

# sample FILE NAME [LABEL=VALUE]...: the value of that sample in parse's output.
sample () {
	"$PY" - "$@" <<-\EOF
	import json, sys
	want = dict(a.split("=", 1) for a in sys.argv[3:])
	found = [v for n, l, v in map(json.loads, open(sys.argv[1])) if n == sys.argv[2] and l == want]
	assert len(found) == 1, found
	print(found[0])
	EOF
}

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
