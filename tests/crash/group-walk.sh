#!/bin/sh
test_description='crash: the consumer-group walk-through: members join and die, stores stay exact'
. "${top_srcdir:-$(dirname "$0")/../..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"
. "$top_srcdir/tests/crash/lib-crash.sh"

start_broker --partitions 3

# The cooperative-sticky assignor moves only what must move: a joining member takes
# partitions from others only if it would otherwise be left without while another has
# two, and a dead member's partitions go to the idle one. Its rebalance logs are
# incremental: "assigned:" adds partitions, "revoked:" removes them.
ASSIGNOR="-X partition.assignment.strategy=cooperative-sticky"

# settled MODE MEMBER...: the members hold every partition, each at most one or, with
# fewer members than partitions, all of them between them.
settled () {
	_mode=$1; shift
	_total=0
	for _m in "$@"; do _total=$((_total + $(owned $_mode-$_m))); done
	test $_total = 3 || return 1
	for _m in "$@"; do test $(owned $_mode-$_m) -le $(( (3 + $# - 1) / $# )) || return 1; done
}

# idle MODE MEMBER...: how many of the members hold nothing; idle_member: which.
idle () {
	_mode=$1; shift
	for _m in "$@"; do test $(owned $_mode-$_m) = 0 && echo $_m; done | grep -c . || true
}
idle_member () {
	_mode=$1; shift
	for _m in "$@"; do test $(owned $_mode-$_m) = 0 && echo $_m; done | head -n 1
}

test_expect_success 'keyed events: each user in one partition, in order' '
	pp produce --rate 0 --count 9000 --users 300 --key user -q &&
	pp tail --from-beginning --exit-at-end -q >events.jsonl &&
	"$PY" - events.jsonl <<-\EOF
	import json, sys
	where, last = {}, {}
	for line in open(sys.argv[1]):
	    ev = json.loads(line)
	    where.setdefault(ev["user"], set()).add(ev["partition"])
	    assert ev["offset"] > last.get((ev["user"], ev["partition"]), -1)
	    last[(ev["user"], ev["partition"])] = ev["offset"]
	assert all(len(p) == 1 for p in where.values()), "a user spans partitions"
	EOF
'

# The walk-through, once with one store shared by all members (one host), once with a
# store per member (one per simulated host). A cooperative rebalance comes in two
# phases, and the assignor may move a partition to the newcomer in the second: one
# member may already log its new assignment while another has not yet logged the
# revocation it got. So each wait is for the whole expected state, idle members
# included, not for a part of it to be checked after.
for mode in shared per-member
do
	store_of () { if test $mode = shared; then echo st-shared; else echo "st-$1"; fi; }
	g=walk-$mode

	test_expect_success "$mode: members join one at a time; with four, one is idle" '
		test_bg $mode-m1 "$PP" active $GROUP_OPTS $ASSIGNOR -g $g --store $(store_of m1) --every 0 --batch 100 &&
		wait_for 30 "test \$(owned $mode-m1) = 3" &&
		test_bg $mode-m2 "$PP" active $GROUP_OPTS $ASSIGNOR -g $g --store $(store_of m2) --every 0 --batch 100 &&
		wait_for 30 "settled $mode m1 m2" &&
		test_bg $mode-m3 "$PP" active $GROUP_OPTS $ASSIGNOR -g $g --store $(store_of m3) --every 0 --batch 100 &&
		wait_for 30 "settled $mode m1 m2 m3 && test \$(idle $mode m1 m2 m3) = 0" &&
		test_bg $mode-m4 "$PP" active $GROUP_OPTS $ASSIGNOR -g $g --store $(store_of m4) --every 0 --batch 100 &&
		wait_for 30 "grep -q \"assigned:\" $mode-m4.err && settled $mode m1 m2 m3 m4 &&
			test \$(idle $mode m1 m2 m3 m4) = 1" &&
		say "idle: $(idle_member $mode m1 m2 m3 m4) (the fourth to join: m4)"
	'

	# The assignor decides who takes what: cooperative-sticky usually gives the dead
	# member's partition to the idle one, but may reshuffle. Either way nobody stays idle.
	test_expect_success "$mode: kill -9 a member; the idle one takes a partition over" '
		was_idle=$(idle_member $mode m1 m2 m3 m4) &&
		victim=$(for m in m1 m2 m3 m4; do test $(owned $mode-$m) = 1 && echo $m; done | head -n 1) &&
		live=$(for m in m1 m2 m3 m4; do test $m = $victim || echo $m; done) &&
		test_kill $mode-$victim KILL
		wait_for 30 "settled $mode $live && test \$(idle $mode $live) = 0" &&
		say "killed $victim; $was_idle, idle before, now holds chat[$(holding $mode-$was_idle)]"
	'

	test_expect_success "$mode: new events flow; every member's store is exact" '
		pp produce --rate 0 --count 3000 --users 300 --key user -q &&
		pp tail --from-beginning --exit-at-end -q >events.jsonl &&
		if test $mode = shared
		then
			wait_for 60 "at_end st-shared" &&
			store_exact st-shared events.jsonl &&
			verdict st-shared events.jsonl
		else
			wait_for 60 "at_end st-m1 st-m2 st-m3 st-m4" &&
			for m in m1 m2 m3 m4
			do
				store_exact st-$m events.jsonl || return 1
			done
		fi
	'

	test_expect_success "$mode: members leave cleanly" '
		for m in $live
		do
			test_kill $mode-$m TERM || return 1
		done
	'
done

test_expect_success 'two groups each saw every event' '
	pp active $GROUP_OPTS -g walk-shared --store st-shared --every 0 --exit-at-end &&
	at_end st-shared && at_end st-m1 st-m2 st-m3 st-m4
'

# "latest" is the end when the consumer starts fetching, which comes a little after the
# assignment is logged: probes are produced until it has read some on every partition.
# The events that follow carry users of their own, so what it read is easy to tell apart.
test_expect_success 'a new group with --start latest sees only new events' '
	"$PY" "$H/gen-events.py" --prefix probe --users 30 --count 30 --seed 8 --now $(now_ms) >probe.jsonl &&
	"$PY" "$H/gen-events.py" --prefix final --users 100 --count 500 --seed 9 --now $(now_ms) >final.jsonl &&
	test_bg latest "$PP" active $GROUP_OPTS -g walk-latest --store st-latest --start latest --every 0 &&
	wait_for 30 "test \$(owned latest) = 3" &&
	wait_for 30 "pp produce --from probe.jsonl -q && test \$(pp query --store st-latest offsets | wc -l) = 3" &&
	pp produce --from final.jsonl -q &&
	wait_for 60 "at_end st-latest" &&
	test_kill latest TERM &&
	pp query --store st-latest --json users >latest.users &&
	"$PY" - latest.users <<-\EOF >actual.final &&
	import json, sys
	for line in open(sys.argv[1], "rb"):
	    u = json.loads(line)["user"]
	    assert u.startswith(("probe", "final")), "a user of neither: %r" % u
	    if u.startswith("final"):
	        sys.stdout.buffer.write(line)
	EOF
	"$PY" "$H/expect.py" compare final.jsonl actual.final
'

test_done
