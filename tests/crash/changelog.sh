#!/bin/sh
test_description='crash: the changelog: crashes between a commit and its changelog, restores on a new store, exact'
. "${top_srcdir:-$(dirname "$0")/../..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"
. "$top_srcdir/tests/crash/lib-crash.sh"

# point:N, and who comes back: "same" restarts the crashed consumer on its store, then a
# member with a new store restores from the changelog; "new" lets the new member take
# over first (the changelog then ends with the crashed pass's records and no marker),
# and the crashed store comes back after it, behind another member's batches.
#  - before-changelog: a batch committed in the store, none of its changes produced;
#  - in-changelog: records produced (and flushed), their marker not;
#  - after-commit: the engine's own point, for comparison.
CASES=${CHANGELOG_CASES:-"before-changelog:2:same in-changelog:2:same in-changelog:3:new after-commit:3:same"}
name_of () { echo "$1" | tr ':' '-'; }
point_of () { echo "${1%:*}"; }
who_of () { echo "${1##*:}"; }

start_broker_changelogs 3 $(for c in $CASES; do echo cl-$(name_of $c); done)

test_expect_success 'produce 20,000 events, unkeyed: users in every partition, malformed ones among them' '
	"$PY" "$H/gen-events.py" --users 1500 --count 20000 --seed 17 --now $(now_ms) \
		--dups 0.02 --malformed 45 --raw-valid 20 >events.jsonl &&
	pp produce --from events.jsonl -q &&
	pp tail --from-beginning --exit-at-end -q >consumed.jsonl &&
	test $(wc -l <consumed.jsonl) = $(wc -l <events.jsonl)
'

# active NAME STORE CASE [ARGS...]: the case's consumer in the background.
active () {
	_n=$1 _s=$2 _c=$3
	shift 3
	test_bg $_n "$PP" active $GROUP_OPTS --group g-$(name_of $_c) --store $_s --every 0 --batch 100 \
		--changelog --changelog-topic cl-$(name_of $_c) "$@"
}

test_expect_success 'each consumer aborts at its crash point' '
	for c in $CASES
	do
		n=$(name_of $c) &&
		PINGPONG_CRASH=$(point_of $c) active crash-$n st-$n $c || return 1
	done &&
	for c in $CASES
	do
		n=$(name_of $c)
		test_wait crash-$n 60
		status=$?
		test $status = 134 || { say "$c: exit $status, expected SIGABRT (134)"; return 1; }
		grep -q "crash point reached" crash-$n.err || return 1
	done
'

# Who comes first: the crashed store, or a new one that takes the partitions over.
first_of () { if test $(who_of $1) = same; then echo st-$(name_of $1); else echo new-$(name_of $1); fi; }
then_of () { if test $(who_of $1) = same; then echo new-$(name_of $1); else echo st-$(name_of $1); fi; }

test_expect_success 'the first to come back reads to the end' '
	for c in $CASES
	do
		active first-$(name_of $c) $(first_of $c) $c --exit-at-end || return 1
	done &&
	for c in $CASES
	do
		test_wait first-$(name_of $c) 90 || return 1
	done
'

test_expect_success 'then the other reads to the end, after restoring from the changelog' '
	for c in $CASES
	do
		active then-$(name_of $c) $(then_of $c) $c --exit-at-end || return 1
	done &&
	for c in $CASES
	do
		test_wait then-$(name_of $c) 90 || return 1
	done
'

for c in $CASES
do
	n=$(name_of $c)
	test_expect_success "$c: both stores exact, the second without reading the source again" "
		exact_restored $(first_of $c) consumed.jsonl &&
		exact_restored $(then_of $c) consumed.jsonl &&
		log_ends >ends &&
		pp query --store $(then_of $c) offsets >then.offsets &&
		test_cmp ends then.offsets &&
		grep -q '^pingpong active: 0 events consumed' then-$n.err &&
		for p in 0 1 2
		do
			at=\$(resumed_at then-$n \$p) &&
			test \"\$at\" = \"\$(sed -n \"s/^\$p\t//p\" ends)\" || { say \"chat[\$p] resumed at '\$at'\"; return 1; }
		done
	"
done

# The new member of "new" found a changelog that ended with records and no marker; the
# crashed store, back after it, had changes it never produced, behind the new member's
# batches: it dropped its partitions and restored them from the start.
test_expect_success 'in-changelog, taken over: the crashed store restored from the start' '
	for c in $CASES
	do
		test $(who_of $c) = new || continue
		grep -q "restored from the start" then-$(name_of $c).err || return 1
	done
'

test_done
