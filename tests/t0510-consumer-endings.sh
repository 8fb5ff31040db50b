#!/bin/sh
test_description='how consumers end: SIGHUP like SIGTERM'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"
. "$top_srcdir/tests/crash/lib-crash.sh"

start_broker --partitions 2

test_expect_success 'produce a few chat messages' '
	"$PY" "$H/gen-events.py" --users 5 --count 60 --seed 9 --now $(now_ms) >events.jsonl &&
	pp produce --from events.jsonl -q &&
	grep -c send-message events.jsonl >nmessages &&
	test $(cat nmessages) -gt 5
'

# SIGHUP used to kill a consumer outright: no summary, and the group had to wait for its
# session to time out.
test_expect_success 'SIGHUP ends a consumer like SIGTERM: its summary, the group left, status 0' '
	test_bg hup pp messages $GROUP_OPTS -g hup --store hup.st &&
	wait_for 30 "test \$(wc -l <hup.out) -ge $(cat nmessages)" &&
	test_expect_code 0 test_kill hup HUP &&
	grep "^pingpong messages: 60 events consumed" hup.err &&
	grep "^pingpong messages: revoked: chat\[" hup.err &&
	pp store check --store hup.st
'

test_expect_success 'SIGHUP ends tail with its summary and status 0' '
	test_bg hup-tail pp tail $GROUP_OPTS -g hup-tail -v --from-beginning &&
	wait_for 30 "grep -q \"assigned: chat\" hup-tail.err" &&
	test_expect_code 0 test_kill hup-tail HUP &&
	grep "^pingpong tail: [0-9]* events in " hup-tail.err
'

# sig_disposition PID: "ignored", "caught" or "default" for SIGHUP, from the masks in
# /proc/PID/status (SIGHUP is signal 1, the lowest bit).
sig_disposition () {
	"$PY" - "$1" <<-\EOF
	import sys
	masks = dict(l.split(":\t") for l in open("/proc/%s/status" % sys.argv[1]) if l.startswith("Sig"))
	print("ignored" if int(masks["SigIgn"], 16) & 1 else "caught" if int(masks["SigCgt"], 16) & 1 else "default")
	EOF
}

# nohup ignores SIGHUP so that a command outlives its terminal: a consumer started that
# way keeps ignoring it. Read from the kernel's masks, not from a wait for nothing to
# happen.
test_expect_success 'under nohup (SIGHUP ignored at start) a consumer keeps ignoring SIGHUP' '
	test -r /proc/self/status &&
	test_bg nohup sh -c "trap \"\" HUP; exec \"\$PP\" messages $GROUP_OPTS -g nohup" &&
	test_bg caught pp messages $GROUP_OPTS -g caught &&
	wait_for 30 "test \$(wc -l <nohup.out) -ge $(cat nmessages)" &&
	wait_for 30 "test \$(wc -l <caught.out) -ge $(cat nmessages)" &&
	test "$(sig_disposition $(test_pid nohup))" = ignored &&
	test "$(sig_disposition $(test_pid caught))" = caught &&
	test_expect_code 0 test_kill nohup TERM &&
	test_expect_code 0 test_kill caught TERM &&
	grep "^pingpong messages: 60 events consumed" nohup.err
'

test_done
