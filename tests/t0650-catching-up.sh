#!/bin/sh
test_description='catching up: while more than a batch behind, active reports say so (text and --json) and consumers show their progress (terminal, log, -q); once caught up, neither'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to read the reports and run on a terminal'
PY=${PYTHON3:-python3}
start_broker --partitions 3

# A backlog of 9,000 events, and consumers that commit (and fsync) every 4 events: a
# few thousand a second, so that they spend seconds catching up, and report every
# 100 ms meanwhile.
BACKLOG=9000
BATCH=4
ACTIVE="$PP active $GROUP_OPTS --batch $BATCH --every 100ms --retain 1h"

test_expect_success 'a backlog of 9,000 events' '
	pp produce --rate 0 --count $BACKLOG --users 100 -q
'

test_expect_success 'two consumers read it, one reporting in JSON, one in text (and -q)' '
	test_bg json env PINGPONG_PROGRESS_MS=200 $ACTIVE -g json --store st.json --json &&
	test_bg text $ACTIVE -g text --store st.text -q &&
	wait_for 90 "grep -q \"\\\"caught_up\\\":true\" json.out && grep -q \"^Active Users: \" text.out" &&
	wait_for 30 "grep -q \"caught up: \" json.err" &&
	test_kill json &&
	test_kill text
'

# The JSON reports: the first is marked; the marked ones with a known lag have a lag
# of more than the batch and no more than the backlog; after the first caught-up one,
# every one is caught up with nothing left; and there is one of each at least.
test_expect_success 'JSON: the first report is marked catching up, a later one is not, and the lags add up' '
	"$PY" - json.out $BACKLOG $BATCH <<-\EOF
	import json, sys
	reports = [json.loads(l) for l in open(sys.argv[1])]
	backlog, batch = int(sys.argv[2]), int(sys.argv[3])
	assert reports[0]["caught_up"] is False, reports[0]
	assert reports[0]["lag"] is None or reports[0]["lag"] > batch, reports[0]
	first_up = next(i for i, r in enumerate(reports) if r["caught_up"])
	behind = [r["lag"] for r in reports[:first_up] if r["lag"] is not None]
	assert all(r["caught_up"] is False for r in reports[:first_up])
	assert behind and all(batch < lag <= backlog for lag in behind), behind
	assert all(r["caught_up"] is True and r["lag"] == 0 for r in reports[first_up:]), reports[first_up:]
	assert reports[-1]["count"] == 100, reports[-1]
	print("%d reports marked (lags %s), then %d caught up" % (first_up, behind, len(reports) - first_up))
	EOF
'

test_expect_success 'text: the first report is marked, a later one is not' '
	head -n 1 text.out >first &&
	grep -E "^(No Active Users \(catching up, (lag not known yet|[0-9,]+ events behind)\)\.\.\.|Active Users \(catching up, (lag not known yet|[0-9,]+ events behind)\): )" first &&
	sed -n "s/^Active Users (catching up, \([0-9]\{1,3\}\(,[0-9]\{3\}\)*\) events behind): .*/\1/p" text.out |
		tr -d , >lags &&
	test -s lags &&
	while read lag; do test $lag -gt $BATCH && test $lag -le $BACKLOG || return 1; done <lags &&
	tail -n 1 text.out | grep "^Active Users: " &&
	! grep -v "^Active Users: \|^No Active Users\|(catching up, " text.out
'

# The log lines: every PINGPONG_PROGRESS_MS while behind, then one when caught up,
# whose count is the whole backlog.
test_expect_success 'not on a terminal: progress log lines while behind, then one line once caught up' '
	grep "^pingpong active: applied [0-9,]* events, [0-9,]* events/s, [0-9,]* left" json.err >lines &&
	test_line_count -ge 2 lines &&
	"$PY" - lines $BACKLOG $BATCH <<-\EOF &&
	import re, sys
	backlog, batch = int(sys.argv[2]), int(sys.argv[3])
	rows = [[int(x.replace(",", "")) for x in re.match(r".*applied ([0-9,]+) events, [0-9,]+ events/s, ([0-9,]+) left", l).groups()]
	        for l in open(sys.argv[1])]
	done = [d for d, _ in rows]
	assert done == sorted(done) and done[0] < done[-1], done
	assert all(d + left <= backlog and left > batch for d, left in rows), rows
	print(rows)
	EOF
	grep -x "pingpong active: caught up: 9,000 events applied, 0 behind" json.err &&
	! grep -q "$(printf "\r")" json.err
'

test_expect_success 'with -q: no progress and no caught-up line' '
	! grep "applied\|caught up" text.err
'

test_expect_success 'on a terminal: one line rewritten in place, cleared at the end' '
	PINGPONG_PROGRESS_MS=50 test_on_tty tty.out $ACTIVE -g tty --store st.tty --every 0 --exit-at-end &&
	grep -q "$(printf "\rpingpong active: applied [0-9,]* events, [0-9,]* events/s, [0-9,]* left")" tty.out &&
	"$PY" - tty.out <<-\EOF
	text = open("tty.out", "rb").read().decode()
	last = text.rindex("\r\x1b[K")
	# the line is cleared, and the log lines follow, each on a line of its own
	rest = text[last + 4:].split("\r\n")
	assert rest[-1] == "" and all(l.startswith("pingpong active: ") and "\r" not in l for l in rest[:-1]), rest
	assert "caught up: 9,000 events applied, 0 behind" in rest[0] or "9000 events consumed" in rest[-2], rest
	EOF
'

test_done
