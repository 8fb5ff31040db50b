#!/bin/sh
test_description='crash: the group walk-through with a store per member and --changelog: a partition moves with its state'
. "${top_srcdir:-$(dirname "$0")/../..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"
. "$top_srcdir/tests/crash/lib-crash.sh"

# The default changelog topic of each group: GROUP-active-changelog.
start_broker_changelogs 3 walk-active-changelog sb-active-changelog

ASSIGNOR="-X partition.assignment.strategy=cooperative-sticky"

# settled MEMBER...: the members hold every partition, none more than its share.
settled () {
	_total=0
	for _m in "$@"; do _total=$((_total + $(owned $_m))); done
	test $_total = 3 || return 1
	for _m in "$@"; do test $(owned $_m) -le $(( (3 + $# - 1) / $# )) || return 1; done
}

# librdkafka's fetch log (-X debug=fetch, shown with -vv) says at which offsets a member
# fetches: "Fetch topic chat [2] at offset 2981".
member () {
	_m=$1 _g=$2
	shift 2
	test_bg $_m "$PP" active $GROUP_OPTS $ASSIGNOR -g $_g --store st-$_m --every 0 --batch 100 --changelog \
		-X debug=fetch -vv "$@"
}

# first_fetch NAME PARTITION FROM: the lowest offset NAME fetched of chat[PARTITION], in
# its log from line FROM on.
first_fetch () {
	tail -n +$3 $1.err | sed -n "s/.*Fetch topic chat \[$2\] at offset \([0-9]*\).*/\1/p" | sort -n | head -n 1
}

# produced STORE: every change of the store is in the changelog.
produced () {
	pp store stat --store "$1" | grep -q "^pending: *0$"
}

# Unkeyed: a user's events spread over the partitions, so each store holds records of
# one user from several of them, which its queries merge.
test_expect_success 'produce 9,000 unkeyed events of 300 users' '
	pp produce --rate 0 --count 9000 --users 300 --key none -q
'

test_expect_success 'three members, a store each, hold a partition each; a fourth waits' '
	member m1 walk &&
	wait_for 30 "test \$(owned m1) = 3" &&
	member m2 walk &&
	wait_for 30 "settled m1 m2" &&
	member m3 walk &&
	wait_for 30 "settled m1 m2 m3 && test \$(owned m1) = 1 && test \$(owned m2) = 1" &&
	member m4 walk &&
	wait_for 30 "grep -q assigned: m4.err && settled m1 m2 m3 m4" &&
	wait_for 60 "at_end st-m1 st-m2 st-m3 st-m4"
'

# The first member read everything alone, and the others restored what they took from
# its changelog; more events now, which each owner applies and produces: every store
# that held a partition before is behind on it.
test_expect_success 'more events, applied by the owners and produced' '
	pp produce --rate 0 --count 3000 --users 300 --key none -q &&
	wait_for 60 "at_end st-m1 st-m2 st-m3 st-m4" &&
	wait_for 30 "produced st-m1 && produced st-m2 && produced st-m3 && produced st-m4"
'

# The victim holds one partition, p, with its changes all produced: the new owner (any
# live member: the assignor may move the others' partitions too) must
# resume p exactly where the victim's store stands, after restoring its state, and
# fetch nothing of p before (but the message before, which it compares with the one its
# store applied last).
test_expect_success 'kill -9 a member: the new owner of its partition restores it and resumes where it stood' '
	victim=$(for m in m1 m2 m3 m4; do test $(owned $m) = 1 && echo $m; done | head -n 1) &&
	p=$(holding $victim) &&
	stood=$(pp query --store st-$victim offsets | sed -n "s/^$p\t//p") &&
	test "$stood" -gt 0 &&
	live=$(for m in m1 m2 m3 m4; do test $m = $victim || printf "%s " $m; done) &&
	for m in $live; do echo $(($(wc -l <$m.err) + 1)) >$m.from || return 1; done &&
	test_kill $victim KILL
	wait_for 30 "settled $live" &&
	heir=$(for m in $live; do if holding $m | tr , "\n" | grep -qx $p; then echo $m; fi; done) &&
	test -n "$heir" &&
	from=$(cat $heir.from) &&
	wait_for 30 "test -n \"\$(resumed_at $heir $p $from)\"" &&
	say "killed $victim, which stood at chat[$p] offset $stood; $heir took it over and resumes at $(resumed_at $heir $p $from)" &&
	test "$(resumed_at $heir $p $from)" = "$stood" &&
	tail -n +$from $heir.err | grep "chat\[$p\]: restored [1-9][0-9]* records" &&
	wait_for 30 "test -n \"\$(first_fetch $heir $p $from)\"" &&
	say "$heir fetched chat[$p] from offset $(first_fetch $heir $p $from) on" &&
	test $(first_fetch $heir $p $from) -ge $((stood - 1)) &&
	echo "$live" >live
'

test_expect_success 'new events flow; every live store is exact for the partitions it holds' '
	pp produce --rate 0 --count 2000 --users 300 --key none -q &&
	pp tail --from-beginning --exit-at-end -q >consumed.jsonl &&
	wait_for 60 "at_end $(for m in $(cat live); do printf "st-%s " $m; done)" &&
	for m in $(cat live)
	do
		wait_for 30 "produced st-$m" && exact_restored st-$m consumed.jsonl || return 1
	done
'

test_expect_success 'members leave cleanly' '
	for m in $(cat live)
	do
		test_kill $m TERM || return 1
	done
'

# --standby: each member follows the changelog of the partitions it does not own.
test_expect_success 'two members with --standby: each store holds every partition' '
	member s1 sb --standby &&
	wait_for 30 "test \$(owned s1) = 3" &&
	member s2 sb --standby &&
	wait_for 30 "settled s1 s2" &&
	wait_for 60 "at_end st-s1 st-s2" &&
	log_ends >ends &&
	wait_for 30 "produced st-s1 && produced st-s2 &&
		pp query --store st-s1 offsets >s1.offsets && test_cmp ends s1.offsets &&
		pp query --store st-s2 offsets >s2.offsets && test_cmp ends s2.offsets"
'

test_expect_success 'kill -9 one: the other takes its partitions over and restores nothing' '
	victim=s1 heir=s2 &&
	test $(owned s1) -ge 1 || { victim=s2 heir=s1; } &&
	parts=$(holding $victim) &&
	lines=$(wc -l <$heir.err) &&
	test_kill $victim KILL
	wait_for 30 "test \$(owned $heir) = 3" &&
	tail -n +$((lines + 1)) $heir.err >takeover.err &&
	for p in $(echo $parts | tr , " ")
	do
		wait_for 30 "grep -q \"chat\[$p\]: the store is up to date\" takeover.err ||
			{ tail -n +$((lines + 1)) $heir.err >takeover.err; false; }" || return 1
		! grep "chat\[$p\]: restored" takeover.err || return 1
	done &&
	say "$heir took chat[$parts] over: $(grep -c "up to date" takeover.err) partition(s) up to date, nothing restored" &&
	echo $heir >sb.heir
'

test_expect_success 'the survivor goes on, exact' '
	heir=$(cat sb.heir) &&
	pp produce --rate 0 --count 1000 --users 300 --key none -q &&
	pp tail --from-beginning --exit-at-end -q >consumed.jsonl &&
	wait_for 60 "at_end st-$heir" &&
	wait_for 30 "produced st-$heir" &&
	exact_restored st-$heir consumed.jsonl &&
	test_kill $heir TERM
'

test_done
