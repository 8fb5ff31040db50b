#!/bin/sh
test_description='active --changelog: its options, its topic, a store that turns it on, and a topic that is not a changelog'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"
. "$top_srcdir/tests/crash/lib-crash.sh"
. "$top_srcdir/tests/lib-metrics.sh"

start_broker_changelogs 3 g-active-changelog other-changelog

# A topic of 2 partitions, too few for chat. The mock makes all its topics alike: a
# second one makes it, and creates chat there on first use, with 4.
test_expect_success MOCK 'the mock: a broker with a topic of 2 partitions' '
	test_bg small "$PP" broker --partitions 2 --topic small --bootstrap-file small.bs &&
	wait_for 30 "test -s small.bs" &&
	echo "-b $(cat small.bs)" >small.opts
'
test_expect_success KAFKA 'Kafka: a topic of 2 partitions' '
	kafka_broker create-topic "$TRASH/kafka" small 2 cleanup.policy=compact >/dev/null &&
	: >small.opts
'

test_expect_success '--standby and --changelog-topic need --changelog: exit 64' '
	test_expect_code 64 pp active --store st-u --standby 2>err &&
	grep -- "--standby needs --changelog" err &&
	test_expect_code 64 pp active --store st-u --changelog-topic x 2>err &&
	grep -- "--changelog-topic needs --changelog" err
'

# The mock creates any topic on a first metadata request, even a consumer's.
test_expect_success KAFKA 'a changelog topic that does not exist: exit 69, saying how to make it' '
	test_expect_code 69 pp active --store st-m --changelog --changelog-topic missing --exit-at-end 2>err &&
	grep "missing" err && grep "compacted, with as many partitions as .chat." err
'

test_expect_success 'a changelog topic with fewer partitions than the source: exit 69' '
	test_expect_code 69 pp active $(cat small.opts) --store st-s --changelog --changelog-topic small \
		--exit-at-end 2>err &&
	grep "has 2 partitions, fewer than the [34] of .chat." err
'

test_expect_success 'produce 6,000 events of 400 users, unkeyed' '
	pp produce --rate 0 --count 6000 --users 400 --key none -q &&
	pp tail --from-beginning --exit-at-end -q >consumed.jsonl
'

# A store that has run without the changelog turns it on: all its records go out, and a
# new store restores them without reading the source.
test_expect_success 'a store that turns --changelog on produces all it holds' '
	pp active $GROUP_OPTS -g g --store st-a --every 0 --exit-at-end &&
	pp store stat --store st-a >stat.before &&
	grep "^pending: *0$" stat.before &&
	pp active $GROUP_OPTS -g g --store st-a --every 0 --exit-at-end --changelog 2>a.err &&
	grep "^pingpong active: 0 events consumed" a.err &&
	pp store stat --store st-a >stat.after &&
	grep "^pending: *0$" stat.after &&
	pp active $GROUP_OPTS -g g --store st-b --every 0 --exit-at-end --changelog 2>b.err &&
	grep "^pingpong active: 0 events consumed" b.err &&
	grep -c "restored [1-9][0-9]* records" b.err >n &&
	test $(cat n) = 3 &&
	exact_restored st-b consumed.jsonl &&
	pp query --store st-a users >a.users &&
	pp query --store st-b users >b.users &&
	test_cmp a.users b.users
'

# --metrics: a restore's records and time, next to the consumer's own figures.
test_expect_success 'with --metrics, a restore is counted per partition, as its log lines say' '
	test_bg mx pp active $GROUP_OPTS -g g --store st-mx --every 0 --changelog --metrics 127.0.0.1:0 &&
	wait_for 30 "grep -q \"serving metrics on\" mx.err || ! test_bg_running mx" &&
	PORT=$(sed -n "s/^pingpong active: serving metrics on 127\.0\.0\.1:\([0-9]*\): .*/\1/p" mx.err) &&
	test -n "$PORT" &&
	wait_for 60 "test \$(grep -c \"restored [0-9]* records\" mx.err) -ge 3 || ! test_bg_running mx" &&
	scrape mx.metrics &&
	test_kill mx &&
	for p in $(sed -n "s/.*\[\([0-9]*\)\]: restored [0-9]* records.*/\1/p" mx.err | sort -u); do
		logged=$(sed -n "s/.*\[$p\]: restored \([0-9]*\) records.*/\1/p" mx.err |
			awk "{ s += \$1 } END { print s }") &&
		test "$(sample mx.metrics.samples pingpong_changelog_restored_records_total partition=$p)" = "$logged.0" ||
			return 1
	done &&
	n=$(grep -c "restored [0-9]* records" mx.err) &&
	test "$(sample mx.metrics.samples pingpong_changelog_restore_seconds_count)" = "$n.0" &&
	sample mx.metrics.samples pingpong_changelog_produced_total >/dev/null &&
	exact_restored st-mx consumed.jsonl
'

# cl_ends FILE: "partition end" of the changelog g-active-changelog, read from the topic
# itself (pingpong tail's offsets), apart from what pingpong lag asks the broker.
cl_ends () {
	pp tail -t g-active-changelog --from-beginning --exit-at-end -q >"$1.jsonl" &&
	"$PY" -c "
import json, sys
ends = {}
for line in open(sys.argv[1]):
    m = json.loads(line)
    ends[m[\"partition\"]] = max(ends.get(m[\"partition\"], 0), m[\"offset\"] + 1)
for p in sorted(ends):
    print(p, ends[p])
" "$1.jsonl" >"$1"
}

# lag_vs LAG ENDS: every partition of pingpong lag --json's LAG stands where its
# changelog ends say (the store that wrote last stands at the end; a store that
# restored, then stopped, stays where it was while the others write on): changelog_end is the end, changelog_behind is end - changelog_next;
# prints the sum of what is behind.
lag_vs () {
	"$PY" -c "
import json, sys
ends = dict(map(int, l.split()) for l in open(sys.argv[2]))
behind = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get(\"total\"):
        continue
    p = r[\"partition\"]
    assert r[\"changelog\"] == \"g-active-changelog\", r
    assert r[\"changelog_end\"] == ends.get(p, 0), (r, ends)
    nxt = r[\"changelog_next\"]
    assert r[\"changelog_behind\"] == ends.get(p, 0) - (nxt if nxt is not None else 0), r
    behind += r[\"changelog_behind\"]
print(behind)
" "$1" "$2"
}

test_expect_success 'pingpong lag --store: where the store stands in its changelog, and what a restore would read' '
	pp lag --store st-mx --json >mx.lag &&
	pp lag --store st-b --json >b.lag &&
	cl_ends ends1 &&
	test "$(lag_vs mx.lag ends1)" = 0 &&
	behind1=$(lag_vs b.lag ends1) &&
	pp produce --rate 0 --count 600 --users 50 --key none -q &&
	pp active $GROUP_OPTS -g g --store st-mx --every 0 --exit-at-end --changelog 2>mx2.err &&
	pp lag --store st-b --json >b2.lag &&
	pp lag --store st-mx --json >mx2.lag &&
	cl_ends ends2 &&
	behind=$(lag_vs b2.lag ends2) &&
	test "$behind" -gt "$behind1" &&
	test "$(lag_vs mx2.lag ends2)" = 0 &&
	pp lag --store st-b >b2.txt &&
	grep "^CHANGELOG g-active-changelog$" b2.txt &&
	sed -n "/^PARTITION/,\$p" b2.txt | awk "NR > 1 { s += \$4 } END { print s }" >sum &&
	test "$(cat sum)" = "$behind"
'

# A compacting copy (mdb_copy -c) starts LMDB's transaction ids again at 1; the records
# a batch changed and the changelog has not had yet are numbered apart from them.
test_expect_success 'a copy by mdb_copy -c with changes pending passes store check, and produces them' '
	pp produce --rate 0 --count 600 --users 50 --key none -q &&
	test_expect_code 134 env PINGPONG_CRASH=before-changelog:2 "$PP" active $GROUP_OPTS -g g --store st-mx \
		--every 0 --exit-at-end --changelog 2>crash.err &&
	pp store stat --store st-mx >crash.stat &&
	! grep "^pending: *0$" crash.stat &&
	mkdir st-cp &&
	mdb_copy -c st-mx st-cp &&
	chmod 600 st-cp/data.mdb &&
	pp store check --store st-cp &&
	pp active $GROUP_OPTS -g g --store st-cp --every 0 --exit-at-end --changelog 2>cp.err &&
	pp store stat --store st-cp >cp.stat &&
	grep "^pending: *0$" cp.stat &&
	pp store check --store st-cp
'

# Another program's messages in the topic: a restore refuses them rather than guess.
test_expect_success 'a topic that is not a changelog: a restore stops, exit 65' '
	pp produce -t other-changelog --count 10 -q &&
	test_expect_code 65 pp active $GROUP_OPTS -g o --store st-o --every 0 --exit-at-end --changelog \
		--changelog-topic other-changelog 2>err &&
	grep "other-changelog.*is the topic written by anything but pingpong active --changelog" err
'

test_done
