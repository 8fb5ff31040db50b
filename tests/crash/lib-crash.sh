# lib-crash.sh: what every crash-recovery script shares: making events and the verdict,
# and reading who holds which partitions of a consumer group.
#
# The verdict compares a store with the events that were produced, computed by
# tests/helpers/expect.py, which shares no code with pingpong:
#   - `pingpong store check` passes;
#   - every user's last_seen, applied-event count and email equal the events' (a count
#     above the events' is an event applied twice; below, an event lost), and the store
#     has no other user and no user twice;
#   - the stored offsets equal the ends of the partitions;
#   - rejects hold exactly the malformed events and those stamped after $MAX_TS (set it
#     to the generator's --now plus the consumer's --max-skew), each with its reason.

PY=${PYTHON3:-python3}
H=$top_srcdir/tests/helpers
test_have_python3 || test_skip_all 'python3 is needed to compute the expected results'

now_ms () {
	"$PY" -c 'import time; print(int(time.time() * 1000))'
}

# random_delay SEED K: a reproducible delay in seconds, from 0.05 to $CRASH_MAX_DELAY.
random_delay () {
	"$PY" -c "import random; r = random.Random($1 * 1000 + $2); print('%.2f' % r.uniform(0.05, ${CRASH_MAX_DELAY:-0.8}))"
}

# store_users STORE: "user last_seen count" lines, sorted.
store_users () {
	pp query --store "$1" users | awk -F '\t' '{ print $1, $2, $3 }' | LC_ALL=C sort
}

# partition_ends [TOPIC]: "partition<TAB>end" for each non-empty partition, from tail.
partition_ends () {
	pp tail -t "${1:-chat}" --from-beginning --exit-at-end -q | "$PY" -c "
import json, sys
end = {}
for line in sys.stdin:
    m = json.loads(line)
    end[m['partition']] = max(end.get(m['partition'], 0), m['offset'] + 1)
for p in sorted(end):
    print('%d\t%d' % (p, end[p]))
"
}

# verdict STORE EVENTS: the four checks above; prints what it found, and the first
# differences when there are some.
verdict () {
	pp store check --store "$1" >check.out 2>&1 || { cat check.out; return 1; }
	pp query --store "$1" --json users >verdict.users &&
	pp query --store "$1" --json rejects >verdict.rejects &&
	"$PY" "$H/expect.py" compare "$2" verdict.users --rejects verdict.rejects \
		--max-ts "${MAX_TS:-9999999999999}" >verdict.cmp 2>verdict.diff
	cmp_status=$?
	say "verdict: $(cat verdict.cmp)"
	test $cmp_status = 0 || { cat verdict.diff; return 1; }
	partition_ends >verdict.ends.expected &&
	pp query --store "$1" offsets >verdict.ends.actual &&
	test_cmp verdict.ends.expected verdict.ends.actual
}

# holding NAME: the partitions of chat that NAME holds now, as "0,2" ("" for none), from
# the rebalance lines of NAME.err: "assigned:" adds partitions, "revoked:" removes them,
# which reads eager rebalances (all revoked, then a new set) and cooperative ones alike.
holding () {
	sed -n 's/.*\(assigned\|revoked\): chat\[\(.*\)\]$/\1 \2/p' "$1.err" | awk '
		{ n = split($2, p, ","); for (i = 1; i <= n; i++) held[p[i]] = ($1 == "assigned") }
		END { s = ""; for (k = 0; k < 64; k++) if (held[k]) s = s (s == "" ? "" : ",") k; print s }'
}

# owned NAME: how many partitions NAME holds now.
owned () {
	holding "$1" | tr ',' '\n' | grep -c . || true
}

# at_end STORE...: the stores' offsets, merged by taking each partition's highest,
# equal the partition ends.
at_end () {
	for s in "$@"; do pp query --store "$s" offsets; done |
		awk -F '\t' '$2 > m[$1] { m[$1] = $2 } END { for (p in m) print p "\t" m[p] }' |
		LC_ALL=C sort >merged.offsets &&
	partition_ends | LC_ALL=C sort >ends &&
	cmp -s merged.offsets ends
}

# store_exact STORE EVENTS: the store holds exactly the events of the partitions it has
# offsets for, below those offsets: nothing missing, nothing twice.
store_exact () {
	pp query --store "$1" offsets >"$1.offsets" &&
	store_users "$1" >"$1.users" &&
	"$PY" - "$2" "$1.offsets" "$1.users" <<-\EOF
	import json, sys
	nxt = dict(map(int, l.split("\t")) for l in open(sys.argv[2]))
	seen, count = {}, {}
	for line in open(sys.argv[1]):
	    ev = json.loads(line)
	    if "error" in ev or ev["offset"] >= nxt.get(ev["partition"], 0):
	        continue
	    u = ev["user"]
	    seen[u] = max(seen.get(u, ev["ts"]), ev["ts"])
	    count[u] = count.get(u, 0) + 1
	want = sorted("%s %d %d" % (u, seen[u], count[u]) for u in seen)
	got = sorted(l.strip() for l in open(sys.argv[3]))
	if want != got:
	    print("store %s differs: %d users expected, %d found" % (sys.argv[3], len(want), len(got)))
	    sys.exit(1)
	print("%s: %d users, partitions %s" % (sys.argv[3], len(got), sorted(nxt)))
	EOF
}

# start_broker_changelogs PARTITIONS TOPIC...: the broker with chat and the changelog
# topics, each of PARTITIONS partitions. The mock creates them at start; on Kafka they
# are created compacted, as pingpong-active(1) asks of a real cluster.
start_broker_changelogs () {
	_p=$1
	shift
	if test "${PINGPONG_TEST_BROKER:-mock}" = kafka
	then
		start_broker --partitions $_p || return 1
		for _t
		do
			kafka_broker create-topic "$TRASH/kafka" "$_t" $_p cleanup.policy=compact \
				>/dev/null || return 1
		done
	else
		start_broker --partitions $_p --topic chat $(for _t; do printf -- '--topic %s ' "$_t"; done)
	fi
}

# exact_restored STORE EVENTS: a store rebuilt from a changelog holds exactly the events
# of the partitions it has offsets for, below those offsets (expect.py compare
# --offsets: EVENTS must be `pingpong tail`'s, which say their partitions), and passes
# store check. Its rejects are not compared: a changelog carries the users records only.
exact_restored () {
	pp store check --store "$1" >check.out 2>&1 || { cat check.out; return 1; }
	pp query --store "$1" offsets >"$1.offsets" &&
	pp query --store "$1" --json users >"$1.users" &&
	"$PY" "$H/expect.py" compare "$2" "$1.users" --offsets "$1.offsets" >"$1.cmp" 2>"$1.diff"
	_st=$?
	say "$1: $(cat "$1.cmp")"
	test $_st = 0 || { head -20 "$1.diff"; return 1; }
}

# resumed_at NAME PARTITION [FROM]: the offset at which NAME's log (from its line FROM
# on, default 1) last says the source resumes on PARTITION after a look at the
# changelog ("" if it never said).
resumed_at () {
	tail -n +"${3:-1}" "$1.err" |
		sed -n "s/.*chat\[$2\]: .*; the source resumes at offset \([0-9]*\)$/\1/p" | tail -n 1
}
