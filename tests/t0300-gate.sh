#!/bin/sh
test_description='gate: notify processes nothing its dependencies have not committed past'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"
. "$top_srcdir/tests/crash/lib-crash.sh"

start_broker --partitions 3

# Two halves of a chat, 60 s of event time apart (more than the 30 s window) and with
# different users, so that who is active at a message's time is the same whether the
# active consumer has read only the first half or everything.
# --simple: the outbox is compared as lines of text, which names with tabs or newlines
# would make ambiguous; the active consumer's tests cover the whole domain.
NOW=$(now_ms)
"$PY" "$H/gen-events.py" --simple --prefix a --users 300 --count 3000 --seed 1 --now $((NOW - 120000)) >half1.jsonl
"$PY" "$H/gen-events.py" --simple --prefix b --users 300 --count 3000 --seed 2 --now $NOW >half2.jsonl
cat half1.jsonl half2.jsonl >all.jsonl

# offsets STORE: "p<TAB>next" lines.
offsets () { pp query --store "$1" offsets; }

# not_ahead DEPENDANT DEPENDENCY: records a violation if the dependant's next offset is
# beyond the dependency's on any partition; always succeeds (it is a sampler).
not_ahead () {
	offsets "$1" >sample.dep 2>/dev/null
	offsets "$2" >sample.of 2>/dev/null
	awk -F '\t' -v who="$1" 'NR == FNR { d[$1] = $2; next } ($2 > d[$1] + 0) { print who " ahead on " $1 ": " $2 " > " d[$1] + 0 }' \
		sample.of sample.dep >>violations
	return 0
}

# same_offsets A B: the stores' offsets are equal.
same_offsets () {
	offsets "$1" >same.a && offsets "$2" >same.b && test -s same.a && cmp -s same.a same.b
}

NOTIFY="$PP notify $GROUP_OPTS --active-store act --json --after-poll 100ms"

test_expect_success 'the dependency processes the first half, then stops' '
	pp produce --from half1.jsonl -q &&
	pp active $GROUP_OPTS --store act --retain 1h --every 0 --exit-at-end &&
	pp messages $GROUP_OPTS --store msg --exit-at-end >/dev/null &&
	cp -r act act-half &&
	pp produce --from half2.jsonl -q &&
	: >violations
'

test_expect_success 'gate holds: notify catches up to the dependency and no further (Kafka offsets and store)' '
	test_bg nk $NOTIFY -g notify-k --store nk --after pingpong-active &&
	test_bg ns $NOTIFY -g notify-s --store ns --after-store act &&
	wait_for 60 "not_ahead nk act; not_ahead ns act; same_offsets nk act && same_offsets ns act" &&
	wait_for 30 "not_ahead nk act; not_ahead ns act; grep -q \"waiting for pingpong-active on chat\" nk.err &&
		grep -q \"waiting for act on chat\" ns.err" &&
	same_offsets nk act && same_offsets ns act &&
	test_must_fail test -s violations
'

test_expect_success 'the off-by-one: committed at exactly o, the message at o waits' '
	while read p next
	do
		wait_for 15 "grep -q \"waiting for pingpong-active on chat\[$p\]: committed $next, need > $next\" nk.err" ||
			return 1
	done <same.a &&
	same_offsets nk act
'

test_expect_success 'a rebalance of notify while it waits keeps the gate' '
	test_bg nk2 $NOTIFY -g notify-k --store nk --after pingpong-active &&
	wait_for 30 "grep -q \"assigned: chat\" nk2.err" &&
	wait_for 30 "not_ahead nk act; grep -q \"waiting for pingpong-active\" nk2.err" &&
	same_offsets nk act &&
	test_must_fail test -s violations
'

test_expect_success 'kill -9 notify while it waits' '
	test_kill nk2 KILL
	test $? = 137
'

test_expect_success 'gate releases: the dependency restarts and notify catches up, in order' '
	pp active $GROUP_OPTS --store act --retain 1h --every 0 --exit-at-end &&
	partition_ends >ends &&
	wait_for 60 "offsets nk | cmp -s - ends && offsets ns | cmp -s - ends" &&
	test_kill nk TERM && test_kill ns TERM &&
	cat nk.out nk2.out | "$PY" -c "
import json, sys
last = {}
for line in sys.stdin:
    n = json.loads(line)
    assert n[\"offset\"] >= last.get(n[\"partition\"], -1), n
    last[n[\"partition\"]] = n[\"offset\"]
"
'

test_expect_success 'kill -9 notify while it writes, then restart it' '
	test_expect_code 134 env PINGPONG_CRASH=mid-batch:3 $NOTIFY -g notify-c --store nc --after-store act \
		--batch 20 --exit-at-end >/dev/null 2>crash.err &&
	grep "crash point reached" crash.err &&
	$NOTIFY -g notify-c --store nc --after-store act --exit-at-end >/dev/null
'

# outbox_rows STORE: "recipient<TAB>user: message" for every row, sorted.
outbox_rows () {
	pp query --store "$1" --json outbox | "$PY" -c "
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(r[\"recipient\"] + \"\t\" + r[\"text\"])
" | LC_ALL=C sort
}

# Who is active at a message's time is read from the active store as it is when notify
# processes the message: the gate guarantees the message's own partition has been
# applied there, not how far the other partitions have got. nc ran after the active
# consumer had read everything, so its recipients are exactly those of the final state,
# for every message. nk and ns ran while the active consumer caught up with the second
# half: for the first half (its users' last events came long before) they are exact too;
# for the second half a recipient is whoever had the last_seen of one of their events,
# within the window, in the store at that moment.
test_expect_success 'each outbox has exactly one row per message and recipient' '
	"$PY" "$H/expect.py" outbox all.jsonl --window 30000 |
		awk -F "\t" "{ print \$3 \"\t\" \$1 \": \" \$2 }" | LC_ALL=C sort >expected.outbox &&
	test_line_count -gt 100 expected.outbox &&
	outbox_rows nc >nc.outbox &&
	test_cmp expected.outbox nc.outbox &&
	grep "	a[0-9]*: " expected.outbox >expected.half1 &&
	test_line_count -gt 100 expected.half1 &&
	for s in nk ns
	do
		outbox_rows $s >$s.outbox &&
		grep "	a[0-9]*: " $s.outbox >$s.half1 &&
		test_cmp expected.half1 $s.half1 &&
		grep "	b[0-9]*: " $s.outbox >$s.half2 &&
		"$PY" - half2.jsonl $s.half2 <<-\EOF || return 1
		import json, sys
		window = 30000
		events = [json.loads(l) for l in open(sys.argv[1])]
		seen = {}
		for e in events:
		    seen.setdefault(e["user"], set()).add(e["ts"])
		msgs = {}
		for e in events:
		    if e["activity"] == "send-message":
		        msgs.setdefault(e["user"] + ": " + e["message"], []).append(e["ts"])
		bad = 0
		for line in open(sys.argv[2]):
		    recipient, text = line.rstrip("\n").split("\t", 1)
		    sender = text.split(": ", 1)[0]
		    ok = recipient != sender and any(
		        ts - window < t <= ts for ts in msgs.get(text, []) for t in seen.get(recipient, ()))
		    bad += not ok
		    if not ok and bad <= 5:
		        print("not a possible recipient: %r of %r" % (recipient, text))
		sys.exit(1 if bad else 0)
		EOF
	done
'

test_expect_success 'query outbox --recipient shows one recipient' '
	r=$(head -n 1 expected.outbox | cut -f 1) &&
	pp query --store nk outbox --recipient "$r" >one &&
	test "$(wc -l <one)" = "$(grep -c "^$r	" expected.outbox)" &&
	! grep -v "^-> $r: " one
'

test_expect_success 'two dependencies: the slower one decides' '
	pp messages $GROUP_OPTS --store msg --exit-at-end >/dev/null &&
	partition_ends >ends &&
	offsets msg | cmp - ends &&
	test_bg n2 $NOTIFY -g notify-two --store n2 --after-store act-half --after pingpong-messages &&
	wait_for 60 "same_offsets n2 act-half" &&
	wait_for 30 "grep -q \"waiting for act-half on chat\" n2.err" &&
	same_offsets n2 act-half &&
	! grep "waiting for pingpong-messages" n2.err &&
	test_kill n2 TERM
'

test_done
