#!/bin/sh
# bench/changelog.sh: the changelog's figures (bench/README.md, "The changelog"), on the
# embedded broker: the rate at which a new store restores about a million users from
# the changelog, what producing the changelog costs a consumer, and a takeover after
# kill -9, without and with a standby.
#
#   bench/changelog.sh            (or: make bench-changelog)
#   BENCH_CL_EVENTS=1000000       events produced (keyed by user)
#   BENCH_CL_USERS=10000000       the pool they are drawn from: about 950,000 distinct
#   BENCH_KEEP=1                  keep the work directory
#
# Not part of make check. Needs python3.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top_builddir=${top_builddir:-$(cd "$here/.." && pwd)}
PP=$top_builddir/src/pingpong
EVENTS=${BENCH_CL_EVENTS:-1000000}
USERS=${BENCH_CL_USERS:-10000000}
PARTS=12
X="-X session.timeout.ms=4500 -X heartbeat.interval.ms=500"
mkdir -p "$top_builddir/bench"
W=$(mktemp -d "$top_builddir/bench/work.changelog.XXXXXX")
pids=

cleanup () {
	for p in $pids; do kill -9 "$p" 2>/dev/null || :; done
	wait 2>/dev/null || :
	if test -n "${BENCH_KEEP:-}"; then echo "work directory: $W" >&2; else rm -rf "$W"; fi
}
trap cleanup EXIT INT TERM

now_ms () { python3 -c 'import time; print(int(time.monotonic() * 1000))'; }

# wait_until SECONDS CONDITION
wait_until () {
	_end=$(($(date +%s) + $1))
	until eval "$2"; do
		test "$(date +%s)" -lt "$_end" || { echo "timed out: $2" >&2; exit 1; }
		sleep 0.1
	done
}

# bg NAME ARGS...: pingpong ARGS in the background, its stderr lines stamped with the
# monotonic ms they arrived at (NAME.log); its pid in NAME.pid.
bg () {
	_n=$1
	shift
	mkfifo "$W/$_n.fifo"
	python3 -u -c '
import sys, time
for line in sys.stdin:
    sys.stdout.write("%d %s" % (time.monotonic() * 1000, line))
' <"$W/$_n.fifo" >"$W/$_n.log" &
	pids="$pids $!"
	"$PP" "$@" 2>"$W/$_n.fifo" >/dev/null &
	echo $! >"$W/$_n.pid"
	pids="$pids $!"
}

pending_of () { "$PP" store stat --store "$1" | sed -n 's/^pending: *//p'; }
# caught_up STORE [all]: every partition the store holds (with all: every partition) is
# at its end, and all its changes are produced.
caught_up () {
	"$PP" query --store "$1" offsets | sort >"$W/$1.offsets"
	if test "${2:-}" = all; then cmp -s "$W/$1.offsets" "$W/ends"; else
		test -s "$W/$1.offsets" && test -z "$(comm -23 "$W/$1.offsets" "$W/ends")"; fi &&
	test "$(pending_of "$1")" = 0
}

cd "$W"
"$PP" broker --partitions $PARTS --topic chat --topic bench-active-changelog --topic ns-active-changelog \
	--topic sb-active-changelog --bootstrap-file bs >/dev/null 2>broker.err &
pids="$pids $!"
wait_until 30 'test -s bs'
PINGPONG_BROKERS=$(cat bs)
export PINGPONG_BROKERS

echo "producing $EVENTS events of a pool of $USERS users, keyed by user ..." >&2
"$PP" produce --rate 0 --count "$EVENTS" --users "$USERS" --key user -q --seed 1
"$PP" tail --from-beginning --exit-at-end -q | python3 -c '
import json, sys
end = {}
for line in sys.stdin:
    m = json.loads(line)
    end[m["partition"]] = max(end.get(m["partition"], 0), m["offset"] + 1)
print("\n".join("%d\t%d" % (p, end[p]) for p in sorted(end)))' | sort >ends
test "$(awk -F '\t' '{ s += $2 } END { print s }' ends)" = "$EVENTS" ||
	{ echo "the mock kept fewer than $EVENTS events" >&2; exit 1; }

rate_of () { sed -n 's/.*(\([0-9]*\) events\/s).*/\1/p' "$1"; }

echo "active without and with --changelog ..." >&2
"$PP" active $X -g plain --store plain --every 0 --exit-at-end 2>plain.err
"$PP" active $X -g bench --store a --every 0 --exit-at-end --changelog 2>a.err
plain=$(rate_of plain.err) with=$(rate_of a.err)

echo "a new store restores ..." >&2
"$PP" active $X -g bench --store b --every 0 --exit-at-end --changelog 2>b.err
summary=$(grep "changelog: .* partition(s) restored" b.err)
records=$(echo "$summary" | sed -n 's/.* restored, \([0-9]*\) records in .*/\1/p')
seconds=$(echo "$summary" | sed -n 's/.* records in \([0-9.]*\)s;.*/\1/p')
users=$("$PP" store stat --store b | sed -n 's/^users: *//p')

# takeover GROUP [--standby]: the first member reads everything, the second joins and
# takes half; once both are caught up the first is killed. Prints the records the
# heir restored for the partitions it took over, the seconds its restores took, and the
# time from the kill to the last of those partitions ready.
takeover () {
	_g=$1
	shift
	bg $_g-1 active $X -g $_g --store $_g-1 --every 0 --changelog "$@"
	wait_until 120 "caught_up $_g-1 all"
	bg $_g-2 active $X -g $_g --store $_g-2 --every 0 --changelog "$@"
	wait_until 60 "grep -q 'assigned:' $_g-2.log && grep -q 'revoked:' $_g-1.log"
	wait_until 120 "caught_up $_g-1 && caught_up $_g-2"
	# A standby holds every partition: it is ready once it has read them all.
	if test "${1:-}" = --standby; then wait_until 120 "caught_up $_g-2 all"; fi
	_lines=$(wc -l <$_g-2.log)
	_t0=$(now_ms)
	kill -9 "$(cat $_g-1.pid)"
	wait_until 60 "tail -n +$((_lines + 1)) $_g-2.log | grep -q 'assigned:'"
	wait_until 60 "tail -n +$((_lines + 1)) $_g-2.log | grep -q 'the source resumes'"
	sleep 1
	tail -n +$((_lines + 1)) $_g-2.log | python3 -c '
import re, sys
t0 = int(sys.argv[1])
rec = secs = 0
assigned = last = None
for line in sys.stdin:
    t = int(line.split()[0])
    m = re.match(r"\d+ .*: restored (\d+) records .* in ([0-9.]+)s;", line)
    if assigned is None and "assigned:" in line:
        assigned = t
    if m:
        rec += int(m.group(1)); secs = max(secs, float(m.group(2))); last = t
    elif "up to date" in line:
        last = t
print(rec, "%.2f" % secs, "%.2f" % ((assigned - t0) / 1000.0), "%.2f" % ((last - assigned) / 1000.0))' "$_t0"
	kill "$(cat $_g-2.pid)"
}

echo "a takeover without a standby ..." >&2
set -- $(takeover ns)
ns_rec=$1 ns_secs=$2 ns_group=$3 ns_ours=$4
echo "a takeover with a standby ..." >&2
set -- $(takeover sb --standby)
sb_rec=$1 sb_secs=$2 sb_group=$3 sb_ours=$4

python3 - "$records" "$seconds" "$users" "$plain" "$with" "$ns_rec" "$ns_secs" "$ns_group" "$ns_ours" \
	"$sb_rec" "$sb_secs" "$sb_group" "$sb_ours" "$EVENTS" <<-\EOF
import sys
rec, secs, users, plain, withcl, nsr, nss, nsg, nso, sbr, sbs, sbg, sbo, events = sys.argv[1:]
rate = int(rec) / max(float(secs), 0.001)
print("changelog figures, %s events (the embedded broker, 12 partitions)" % events)
print("  restore by a new store: %s records (%s users) in %s s: %.0f records/s (goal >= 500,000: %s)" % (
    rec, users, secs, rate, "pass" if rate >= 500000 else "FAIL"))
print("  active without --changelog: %s events/s; with: %s events/s (%.2f x)" % (
    plain, withcl, int(withcl) / max(int(plain), 1)))
print("  takeover after kill -9, no standby: %s records restored (%s s); kill to assignment %s s, "
      "assignment to ready %s s" % (nsr, nss, nsg, nso))
print("  takeover after kill -9, --standby:  %s records restored (%s s); kill to assignment %s s, "
      "assignment to ready %s s" % (sbr, sbs, sbg, sbo))
print("  (kill to assignment is the group's: the session timeout, 4.5 s, and a rebalance)")
EOF
