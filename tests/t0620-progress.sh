#!/bin/sh
test_description='progress: produce --count and store check show it on stderr: a line rewritten in place on a terminal, a log line every 10 s otherwise, nothing with -q'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to run pingpong on a terminal'
PY=${PYTHON3:-python3}
H=$top_srcdir/tests/helpers
start_broker --partitions 3

# lines_add_up FILE TOTAL: every progress line of FILE says N events done and M left with
# N + M = TOTAL, N grows from line to line, and there are at least two.
lines_add_up () {
	"$PY" - "$1" "$2" <<-\EOF
	import re, sys
	text = open(sys.argv[1], "rb").read().decode()
	total = int(sys.argv[2])
	found = re.findall(r"produced ([0-9,]+) events, ([0-9,]+) events/s, ([0-9,]+) left", text)
	done = [int(d.replace(",", "")) for d, _, _ in found]
	for d, r, l in found:
	    assert int(d.replace(",", "")) + int(l.replace(",", "")) == total, (d, l)
	assert len(done) >= 2 and done == sorted(done) and done[0] < done[-1], done
	print("%d lines: %s" % (len(done), done))
	EOF
}

test_expect_success 'on a terminal, produce --count rewrites one line in place, and clears it at the end' '
	test_on_tty tty.out "$PP" produce --count 12000 --rate 8000 &&
	lines_add_up tty.out 12000 &&
	grep -q "$(printf "\rpingpong produce: produced ")" tty.out &&
	"$PY" - tty.out <<-\EOF
	import sys
	text = open(sys.argv[1], "rb").read().decode()
	last = text.rindex("\r\x1b[K")
	# the line is cleared, then the closing log line follows on a line of its own
	assert text[last + 4:].startswith("pingpong produce: 12000 events to chat"), repr(text[last - 80:])
	assert "\n" not in text[:last].replace("\r\n", ""), "a progress line ended a line"
	EOF
'

test_expect_success 'with -q, nothing on the terminal' '
	test_on_tty quiet.out "$PP" produce --count 3000 --rate 6000 -q &&
	! test -s quiet.out
'

# The log line comes every 10 s: 25 events at 2 a second take 12.5 s, so exactly one.
test_expect_success 'not on a terminal, a log line every 10 s' '
	pp produce --count 25 --rate 2 2>log.err &&
	grep "^pingpong produce: produced [0-9]* events, [0-9]* events/s, [0-9]* left, about [0-9]*s to go$" log.err >lines &&
	test_line_count = 1 lines &&
	read _ _ _ done _ _ _ left _ <lines &&
	test $((done + left)) = 25 &&
	test $done -ge 18 && test $done -le 22 &&
	! grep -q "$(printf "\r")" log.err
'

test_expect_success 'a store of more than 8,192 records' '
	"$PY" "$H/gen-events.py" --users 9000 --count 9000 --seed 5 --simple \
		--now $("$PY" -c "import time; print(int(time.time() * 1000))") >events.jsonl &&
	pp produce --from events.jsonl -q &&
	pp active $GROUP_OPTS --store st --every 0 --exit-at-end --retain 100000d -q &&
	pp store stat --store st --json >stat.json &&
	total=$("$PY" -c "
import json
s = json.load(open(\"stat.json\"))
print(s[\"users\"] + s[\"segments\"] + s[\"offsets\"] + s[\"rejects\"] + s[\"gaps\"])
") &&
	test $total -gt 8192
'

# store check reports every 4,096 records read; PINGPONG_PROGRESS_MS=0 prints each report.
test_expect_success 'store check: the records checked and left, on a terminal and in a log' '
	PINGPONG_PROGRESS_MS=0 test_on_tty check.tty "$PP" store check --store st &&
	grep -q "$(printf "\rpingpong store: checked 8,192 records, [0-9,]* records/s, ")" check.tty &&
	left=$(sed -n "s/.*checked 8,192 records, [0-9,]* records\/s, \([0-9,]*\) left.*/\1/p" check.tty | tr -d ,) &&
	test $((8192 + left)) = $total &&
	PINGPONG_PROGRESS_MS=0 pp store check --store st 2>check.err >check.out &&
	grep "^pingpong store: checked 8,192 records, [0-9,]* records/s, [0-9,]* left" check.err &&
	test "$(cat check.out)" = "store check: ok" &&
	PINGPONG_PROGRESS_MS=0 test_on_tty check.quiet "$PP" store check --store st -q &&
	! test -s check.quiet
'

test_done
