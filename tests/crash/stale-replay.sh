#!/bin/sh
test_description='crash: after downtime longer than the window, replayed events never count as active'
. "${top_srcdir:-$(dirname "$0")/../..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"
. "$top_srcdir/tests/crash/lib-crash.sh"

WINDOW_MS=2000
start_broker --partitions 3

# count_reports FILE: JSON reports that list at least one user.
count_reports () {
	grep -c '"count":[1-9]' "$1" 2>/dev/null || true
}

test_expect_success 'a live chat room runs while the consumer reports' '
	test_bg producer "$PP" produce --users 200 --rate 100 --heartbeats --duration 16s &&
	test_bg active1 "$PP" active $GROUP_OPTS --store st --window 2s --every 250ms --json &&
	wait_for 30 "test \$(count_reports active1.out) -ge 3"
'

test_expect_success 'the consumer dies and stays down longer than the window' '
	test_kill active1 KILL
	test $? = 137 &&
	down_until=$(( $(now_ms) + 2 * WINDOW_MS )) &&
	wait_for 10 "test \$(now_ms) -ge $down_until"
'

test_expect_success 'restarted, it catches up and reports again' '
	test_bg active2 "$PP" active $GROUP_OPTS --store st --window 2s --every 250ms --json &&
	wait_for 30 "grep -q \"first batch\\|assigned:\" active2.err" &&
	test_wait producer 60 &&
	wait_for 30 "test \$(count_reports active2.out) -ge 3" &&
	test_kill active2 TERM
'

test_expect_success 'every report lists only users whose last event is within the window of its time' '
	pp tail --from-beginning --exit-at-end -q >events.jsonl &&
	cat active1.out active2.out >reports.jsonl &&
	"$PY" - events.jsonl reports.jsonl <<-\EOF
	import json, sys
	seen = {}
	for line in open(sys.argv[1]):
	    ev = json.loads(line)
	    seen.setdefault(ev["user"], set()).add(ev["ts"])
	reports = [json.loads(l) for l in open(sys.argv[2])]
	assert reports, "no reports"
	bad = 0
	for r in reports:
	    for u in r["users"]:
	        ls = u["last_seen"]
	        if not (r["at"] - r["window_ms"] < ls <= r["at"]):
	            print("report at %d lists %s seen at %d, outside the window" % (r["at"], u["user"], ls))
	            bad += 1
	        if ls not in seen.get(u["user"], ()):
	            print("report at %d: %s last_seen %d is no event time of theirs" % (r["at"], u["user"], ls))
	            bad += 1
	print("%d reports, %d problems" % (len(reports), bad))
	sys.exit(1 if bad else 0)
	EOF
'

test_expect_success 'after catching up to the end, the store equals the events' '
	pp active $GROUP_OPTS --store st --window 2s --every 0 --exit-at-end &&
	verdict st events.jsonl
'

test_done
