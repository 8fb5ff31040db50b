#!/bin/sh
test_description='how consumers end: SIGHUP like SIGTERM; a closed stdout is an ordinary end'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"
. "$top_srcdir/tests/crash/lib-crash.sh"

start_broker --partitions 2 --topic pipe-plain --topic pipe-store

test_expect_success 'produce a few chat messages' '
	"$PY" "$H/gen-events.py" --users 5 --count 60 --seed 9 --now $(now_ms) >events.jsonl &&
	pp produce --from events.jsonl -q &&
	grep -c send-message events.jsonl >nmessages &&
	test $(cat nmessages) -gt 5
'

# A command started with SIGHUP ignored keeps ignoring it (nohup's promise), and a
# test suite may itself run under nohup, whose children all inherit that. sh cannot
# undo an ignore it inherited, so "$PY" sighup-default.py CMD... starts CMD (in its own
# process: the pid test_bg records is CMD's) with SIGHUP back to its default.
cat >sighup-default.py <<\EOF
import os, signal, sys
signal.signal(signal.SIGHUP, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])
EOF

# SIGHUP used to kill a consumer outright: no summary, and the group had to wait for its
# session to time out.
test_expect_success 'SIGHUP ends a consumer like SIGTERM: its summary, the group left, status 0' '
	test_bg hup "$PY" sighup-default.py "$PP" messages $GROUP_OPTS -g hup --store hup.st &&
	wait_for 30 "test \$(wc -l <hup.out) -ge $(cat nmessages)" &&
	test_expect_code 0 test_kill hup HUP &&
	grep "^pingpong messages: 60 events consumed" hup.err &&
	grep "^pingpong messages: revoked: chat\[" hup.err &&
	pp store check --store hup.st
'

test_expect_success 'SIGHUP ends tail with its summary and status 0' '
	test_bg hup-tail "$PY" sighup-default.py "$PP" tail $GROUP_OPTS -g hup-tail -v --from-beginning &&
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
	test_bg caught "$PY" sighup-default.py "$PP" messages $GROUP_OPTS -g caught &&
	wait_for 30 "test \$(wc -l <nohup.out) -ge $(cat nmessages)" &&
	wait_for 30 "test \$(wc -l <caught.out) -ge $(cat nmessages)" &&
	test "$(sig_disposition $(test_pid nohup))" = ignored &&
	test "$(sig_disposition $(test_pid caught))" = caught &&
	test_expect_code 0 test_kill nohup TERM &&
	test_expect_code 0 test_kill caught TERM &&
	grep "^pingpong messages: 60 events consumed" nohup.err
'

# messages_file FILE FIRST N: N chat messages "m<FIRST>" ... as JSON lines, for produce.
messages_file () {
	"$PY" - "$@" <<-\EOF
	import json, sys
	name, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
	with open(name, "w") as f:
	    for i in range(first, first + n):
	        f.write(json.dumps({"user": "u", "activity": "send-message", "message": "m%d" % i,
	                            "ts": 1700000000000 + i}) + "\n")
	EOF
}

# closed_stdout TOPIC [OPTIONS]: a consumer writes into a fifo that `head -n 1` reads.
# Batch A, one message, goes out in one write (the engine hands a batch to the hook in
# two halves, so a batch of more could be two writes); head prints it and exits, which
# closes the pipe. Only then is batch B (3 more) produced, so the consumer's next write
# is certain to find the pipe closed. It must end by itself, quietly, with status 0,
# having committed A but not B: a rerun of the same group prints exactly B.
closed_stdout () {
	topic=$1
	shift
	rm -f fifo &&
	mkfifo fifo &&
	messages_file a.jsonl 1 1 &&
	messages_file b.jsonl 2 3 &&
	pp produce -t $topic --from a.jsonl -q &&
	test_bg reader head -n 1 fifo &&
	test_bg consumer sh -c "exec \"\$PP\" messages $GROUP_OPTS -t $topic -g $topic $* >fifo" &&
	test_wait reader 30 &&
	echo "u: m1" >expect.first &&
	test_cmp expect.first reader.out &&
	pp produce -t $topic --from b.jsonl -q &&
	test_expect_code 0 test_wait consumer 30 &&
	! grep -e "error" -e "warning" -e "-[0-9.]* *s from" consumer.err &&
	pp messages $GROUP_OPTS -t $topic -g $topic --exit-at-end "$@" >rest 2>rest.err &&
	printf "u: m%d\n" 2 3 4 >expect.rest &&
	test_cmp expect.rest rest
}

# It used to exit 70 ("cannot write to standard output") with a summary of -2028 s from
# the first event without a store, and with one, exit 74 blaming the store.
test_expect_success 'a closed stdout without a store: a quiet end, status 0, the unprinted batch not committed' '
	closed_stdout pipe-plain
'

test_expect_success 'a closed stdout with a store: the same, and the store is sound' '
	closed_stdout pipe-store --store pipe.st &&
	pp store check --store pipe.st
'

test_done
