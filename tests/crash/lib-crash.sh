# lib-crash.sh: what every crash-recovery script shares: making events and the verdict.
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
