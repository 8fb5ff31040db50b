# run.sh: `make bench`, pingpong's benchmarks (bench/README.md).
#
# BROKER=mock (the default): on the embedded broker. Starts `pingpong broker` with
# 12-partition topics, produces 1,000,000 events from 10,000 users, then measures every
# figure of bench/README.md BENCH_RUNS times (3; 1 with BENCH_QUICK=1). A round measures
# the raw ceiling, active's six configurations, Redis and the gate one after the other,
# so each ratio compares figures of the same round; the table shows the median over
# rounds of each figure and of each ratio. bench/report.py prints the table and writes
# the broker's part of bench/results.json from the samples.
#
# BROKER=kafka: the same figures that involve a broker (produce, raw ceiling, active's
# ratios and memory, the gate, recovery end to end), against Apache Kafka 4.4 started by
# tests/kafka/kafka-broker.sh on free 127.0.0.1 ports, with the topics made at start with
# 12 partitions. The figures without a broker (the store alone, Redis, the query, local
# recovery, the store's memory) are the mock run's: results.json keeps both parts, and
# report.py prints them side by side once both are there.
#
# PEERS=kstreams (with BROKER=kafka): Kafka Streams beside pingpong on the same job
# (bench/peers/kstreams, built here with Maven): first a correctness check of both on
# events of the whole domain, then in each round its events/s and peak RSS on the same
# topic, exactly_once_v2 and at_least_once, the users of both compared with expect.py's
# and with each other, the 30 s window query through its interactive query and through
# `pingpong query`, and its restart after kill -9 on a live stream (then, once the
# streams have stopped, its users after the kill against the events).
#
# Redis (redis-server, redis-tools) and hiredis (libhiredis-dev) are benchmark-only
# dependencies: installed with apt-get when missing; our redis-server runs on a free
# port of 127.0.0.1 without persistence and is stopped at the end, with every other
# process this script started (by pid). Runs under any POSIX sh with GNU date.
#
# BENCH_SCALE=1 (`make bench-scale`): the scale table instead (bench/README.md): the
# store alone at 10,000, 100,000 and 1,000,000 users and at 10,000,000 events, and the
# active consumer at 10,000 and 1,000,000 users, with its memory split into anonymous
# memory and the mapped store; on the embedded broker. It writes bench/scale.json.
#
# Environment: BROKER=mock|kafka, PEERS=kstreams, BENCH_QUICK=1 (one round),
# BENCH_RUNS=N, BENCH_KEEP=1 (keep the work directory, bench/work.PID under the build
# directory), BENCH_NO_INSTALL=1 (never call apt-get: the Redis figures are then
# skipped if Redis is missing), KSTREAMS_JVM_OPTS (default -Xmx512m), KSTREAMS_THREADS
# (default 1), KSTREAMS_QUERY_REPEAT (default 100).

set -u

top_srcdir=$(cd "${top_srcdir:-$(dirname "$0")/..}" && pwd) || exit 1
top_builddir=$(cd "${top_builddir:-.}" && pwd) || exit 1
PYTHON3=${PYTHON3:-python3}
MAKE=${MAKE:-make}
PP="$top_builddir/src/pingpong"
SB="$top_builddir/bench/store-bench"
RB="$top_builddir/bench/redis-bench"
SRCDATA="$top_srcdir/data"
LC_ALL=C
export LC_ALL
unset PINGPONG_BROKERS CDPATH

if test -n "${BENCH_RUNS:-}"; then
	RUNS=$BENCH_RUNS
elif test -n "${BENCH_QUICK:-}"; then
	RUNS=1
else
	RUNS=3
fi
BROKER=${BROKER:-mock}
PEERS=${PEERS:-}
case $BROKER in
mock|kafka) ;;
*) echo "bench: BROKER must be mock or kafka, not '$BROKER'" >&2; exit 64 ;;
esac
for peer in $PEERS; do
	case $peer in
	kstreams) ;;
	*) echo "bench: unknown peer '$peer' (known: kstreams)" >&2; exit 64 ;;
	esac
done
SCALE=${BENCH_SCALE:-}
if test -n "$SCALE" && { test "$BROKER" != mock || test -n "$PEERS"; }; then
	echo "bench: BENCH_SCALE runs on the embedded broker, without peers" >&2
	exit 64
fi
if test -n "$PEERS" && test "$BROKER" != kafka; then
	echo "bench: PEERS=$PEERS runs against Kafka: use BROKER=kafka" >&2
	exit 64
fi
EVENTS=1000000
USERS=10000
PARTITIONS=12
# The group settings of the shell tests (tests/lib-broker.sh): the mock broker applies
# the last member's session timeout to the whole group; Kafka refuses one under 6 s.
if test "$BROKER" = kafka; then
	SESSION_MS=6000
else
	SESSION_MS=4500
fi
GROUP_OPTS="-X session.timeout.ms=$SESSION_MS -X heartbeat.interval.ms=500"
KSTREAMS_JVM_OPTS=${KSTREAMS_JVM_OPTS:--Xmx512m}
KSTREAMS_THREADS=${KSTREAMS_THREADS:-1}
KSTREAMS_QUERY_REPEAT=${KSTREAMS_QUERY_REPEAT:-100}
# kstreams: the configurations measured (guarantee, and -static for --instance-id).
KS_RATE_CONFIGS="eos alos"
KS_RESTART_CONFIGS="eos alos eos-static"
# Event times are when the topic was produced: keep every one in the time index, so
# every run does the same index work whenever it runs.
ACTIVE_OPTS="--every 0 --retain 24h"

W="$top_builddir/bench/work.$$"
SAMPLES="$W/samples.tsv"
PIDS=""
BROKER_PID=""
KAFKA_DIR=""
REDIS_PID=""
REDIS_PORT=""

say () {
	printf 'bench: %s\n' "$*" >&2
}

die () {
	say "error: $*"
	exit 1
}

# Every process started here is remembered by pid, and killed at exit unless reaped and
# forgotten first (a reaped pid could be reused).
remember () {
	PIDS="$PIDS $1"
}

forget () {
	_keep=""
	for _p in $PIDS; do
		test "$_p" = "$1" || _keep="$_keep $_p"
	done
	PIDS=$_keep
}

# reap PID [SIGNAL]: signals (default TERM) and waits for a process started here.
reap () {
	kill "-${2:-TERM}" "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	forget "$1"
}

cleanup () {
	# A consumer started behind a pipe wrote its pid into a .pid file, removed once it ended.
	for f in "$W"/*.pid; do
		test -f "$f" && kill -KILL "$(cat "$f")" 2>/dev/null
	done
	for p in $PIDS; do
		kill -KILL "$p" 2>/dev/null
	done
	for p in $PIDS; do
		wait "$p" 2>/dev/null
	done
	# Kafka is no child of ours (kafka-broker.sh started it); its watchdog would stop it
	# too once this shell is gone.
	if test -n "$KAFKA_DIR" && test -f "$KAFKA_DIR/kafka.pid"; then
		"$top_srcdir/tests/kafka/kafka-broker.sh" stop "$KAFKA_DIR" >/dev/null 2>&1
	fi
	if test -z "${BENCH_KEEP:-}"; then
		rm -rf "$W" /dev/shm/pingpong-bench.$$
	else
		say "work directory kept: $W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# wait_for SECONDS CONDITION: polls CONDITION (eval'd) every 50 ms.
wait_for () {
	_end=$(( $(date +%s) + $1 ))
	while ! eval "$2"; do
		test "$(date +%s)" -lt "$_end" || return 1
		sleep 0.05
	done
}

now_ns () {
	date +%s%N
}

# Prefixes each line with the time it was read, in ns since the epoch.
stamp () {
	while IFS= read -r _line; do
		printf '%s %s\n' "$(date +%s%N)" "$_line"
	done
}

# sample KEY VALUE: one measurement of this round.
sample () {
	if test -n "$2"; then
		printf '%s\t%s\t%s\n' "$1" "$ROUND" "$2" >>"$SAMPLES"
	else
		say "no value for $1 in round $ROUND"
	fi
}

# kv FILE KEY: the value of KEY=value in FILE's first line that has it.
kv () {
	sed -n "s/.*\\<$2=\\([^ ]*\\).*/\\1/p" "$1" | head -n 1
}

# Events per second between the first line matching FROM and the last matching TO of a
# stamped log, for N events.
rate_between () {
	awk -v n="$4" -v from="$2" -v to="$3" '
		$0 ~ from && !a { a = $1 }
		$0 ~ to { b = $1 }
		END { if (a && b > a) printf "%.0f", n * 1e9 / (b - a) }' "$1"
}

# ms between the first line matching FROM (or the number FROM) and the first matching TO.
ms_between () {
	awk -v from="$2" -v to="$3" '
		BEGIN { if (from ~ /^[0-9]+$/) a = from }
		$0 ~ from && !a { a = $1 }
		$0 ~ to && !b { b = $1 }
		END { if (a && b >= a) printf "%.1f", (b - a) / 1e6 }' "$1"
}

free_port () {
	"$PYTHON3" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# consumed LOG: the event count of a consumer's closing summary.
consumed () {
	sed -n 's/.*: \([0-9]*\) events consumed in.*/\1/p' "$1" | tail -n 1
}

# run_consumer LOG RSSFILE CMD...: runs a consumer to its end, stderr stamped into LOG,
# its peak RSS (KiB) into RSSFILE. Returns its exit status.
run_consumer () {
	_log=$1 _rss=$2
	shift 2
	{ /usr/bin/time -f %M -o "$_rss" "$@" 2>&1 >/dev/null; echo "exit $?"; } | stamp >"$_log"
	_rc=$(sed -n 's/^[0-9]* exit \([0-9]*\)$/\1/p' "$_log")
	if test "${_rc:-1}" != 0; then
		say "failed (exit ${_rc:-?}): $*"
		sed 's/^/	/' "$_log" >&2
		return 1
	fi
}

# alive PID: PID runs (a zombie does not count: it has ended).
alive () {
	kill -0 "$1" 2>/dev/null || return 1
	case $(sed -n 's/.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) in
	Z|X) return 1 ;;
	esac
	return 0
}

# ---- every run checks its own result before its figure counts ------------------------
# A figure bought with a wrong store is not a figure: after each run that leaves a store,
# `store check` passes, the store holds every user the events held and their counts add
# up to the events produced, nothing was refused, and its offsets are where the events
# end (for a consumer, the partitions' ends: `pingpong lag`). Otherwise the run dies.
CHECKED=0

# topic_truth TOPIC: "EVENTS USERS" of TOPIC, read back with tail and counted here,
# apart from any store.
topic_truth () {
	"$PP" tail -t "$1" --from-beginning --exit-at-end -q | "$PYTHON3" -c '
import json, sys
users, n = set(), 0
for line in sys.stdin:
    n += 1
    users.add(json.loads(line)["user"])
print(n, len(users))'
}

# check_store WHAT STORE TOPIC EVENTS USERS: store check, then USERS users whose counts
# add up to EVENTS, and no reject. A check of the store alone when EVENTS is "-".
check_store () {
	"$PP" store check -q --store "$2" >"$W/check.out" 2>&1 ||
		die "$1: store check failed on '$2': $(cat "$W/check.out")"
	CHECKED=$((CHECKED + 1))
	test "$4" = - && return 0
	_got=$("$PP" query -t "$3" --store "$2" --json users | "$PYTHON3" -c '
import json, sys
n = total = 0
for line in sys.stdin:
    n += 1
    total += json.loads(line)["count"]
print(total, n)') || die "$1: cannot read the users of '$2'"
	test "$_got" = "$4 $5" || die "$1: the store holds $_got (events users), not $4 $5 as produced"
	_rejects=$("$PP" store stat --store "$2" --json | "$PYTHON3" -c 'import json, sys; print(json.load(sys.stdin)["rejects"])')
	test "$_rejects" = 0 || die "$1: $_rejects events refused in '$2'"
}

# check_consumer WHAT STORE TOPIC EVENTS USERS: check_store, and the stored offsets are
# the partitions' ends.
check_consumer () {
	check_store "$@"
	"$PP" lag --store "$2" --max-lag 0 >"$W/lag.out" 2>&1 ||
		die "$1: the offsets of '$2' are not the partitions' ends: $(cat "$W/lag.out")"
}

# check_bench WHAT STORE OUTPUT: a store of store-bench apply, against what it says it
# generated (OUTPUT: its line): the users drawn, the events, and the next offsets, which
# add up to the events over its partitions.
check_bench () {
	check_store "$1" "$2" bench "$(kv "$3" events)" "$(kv "$3" distinct_users)"
	_offs=$("$PP" query -t bench --store "$2" --json offsets | "$PYTHON3" -c '
import json, sys
o = [json.loads(l)["next_offset"] for l in sys.stdin]
print(sum(o), len(o))')
	test "$_offs" = "$(kv "$3" events) $(kv "$3" partitions)" ||
		die "$1: the offsets of '$2' add up to $_offs (events partitions), not $(kv "$3" events) $(kv "$3" partitions)"
}

# check_lmdb WHAT OUTPUT: a store-bench lmdb run's tree holds one entry per user it drew.
check_lmdb () {
	test "$(kv "$2" events)" -gt 0 && test "$(kv "$2" entries)" = "$(kv "$2" distinct_users)" ||
		die "$1: $(kv "$2" entries) entries for $(kv "$2" distinct_users) users drawn ($(kv "$2" events) events)"
	CHECKED=$((CHECKED + 1))
}

# ---- the Kafka Streams peer (PEERS=kstreams) --------------------------------------
KS_TARGET="$top_builddir/bench/peers/kstreams/target"
KS_JAR="$KS_TARGET/pingpong-kstreams.jar"
# Its time index kept as long as active's (ACTIVE_OPTS).
KS_OPTS="--retain 24h"
# Events in each restart test's topic before its live stream starts: 10,000 users.
KS_PREFILL=200000

# ks_start LOG ARGS...: starts pingpong-kstreams run in the background; java itself is
# the child, its pid in KS_PID. Its log lines carry their own time (t=, in ms).
ks_start () {
	_log=$1
	shift
	# shellcheck disable=SC2086 # options lists
	java $KSTREAMS_JVM_OPTS -jar "$KS_JAR" run --threads "$KSTREAMS_THREADS" $KS_OPTS $GROUP_OPTS "$@" \
		</dev/null >/dev/null 2>"$_log" &
	KS_PID=$!
	remember "$KS_PID"
}

# ks_wait LOG WHAT SECONDS: waits for a line with WHAT in LOG while the app runs.
ks_wait () {
	wait_for "$3" "grep -q '$2' '$1' || ! alive $KS_PID" && grep -q "$2" "$1"
}

# ks_t LOG WHAT: the t= (ms) of its first line with WHAT (not Kafka's log lines).
ks_t () {
	sed -n "/^kstreams: t=[0-9]* .*$2/{s/^kstreams: t=\([0-9]*\) .*/\1/p;q;}" "$1"
}

# ks_hwm PID: the process's peak RSS so far (VmHWM, KiB).
ks_hwm () {
	sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB$/\1/p' "/proc/$1/status"
}

ks_fail () {
	say "kstreams: $1 (its log below)"
	grep -v '^[[:space:]]*at ' "$2" | tail -n 30 | sed 's/^/	/' >&2
}

# ks_guarantee CONFIG: the --guarantee of a configuration name (eos*, alos*).
ks_guarantee () {
	case $1 in
	eos*) printf '%s' "--guarantee exactly_once_v2" ;;
	alos*) printf '%s' "--guarantee at_least_once" ;;
	esac
}

# peer_round: in round $ROUND, Kafka Streams on the topic `bench` from an empty state in
# each configuration of KS_RATE_CONFIGS: events/s from its first record to the end of the
# topic processed and committed, peak RSS; the users of each and of pingpong (this round's
# active, fsync, batch 1000) against what expect.py computes from the events; and the
# 30 s window query through the interactive query and through `pingpong query`, at the
# latest last-seen time, so that the window holds every user.
peer_round () {
	_pp_store=$DISK/active.sync.b1000.$ROUND
	"$PP" query -t bench --store "$_pp_store" --json users >"$W/peer.pingpong.users.$ROUND" ||
		die "query users of '$_pp_store' failed"
	_at=$("$PYTHON3" -c 'import json, sys
print(max(json.loads(l)["last_seen"] for l in open(sys.argv[1])))' "$W/peer.pingpong.users.$ROUND")
	_compare="pingpong=$W/peer.pingpong.users.$ROUND"
	for cfg in $KS_RATE_CONFIGS; do
		key=kstreams.$cfg
		log=$W/$key.$ROUND.log
		say "kstreams $cfg on 'bench'"
		# shellcheck disable=SC2046 # the guarantee's options
		ks_start "$log" -t bench --application-id "bench-ks-$cfg-$ROUND-$$" --state-dir "$DISK/$key.$ROUND" \
			$(ks_guarantee "$cfg") --http-file "$W/$key.$ROUND.http"
		if ! ks_wait "$log" "end reached" 1800; then
			ks_fail "$cfg did not reach the end of 'bench'" "$log"
			reap "$KS_PID" KILL
			rm -rf "$DISK/$key.$ROUND"
			continue
		fi
		hwm=$(ks_hwm "$KS_PID")
		t1=$(ks_t "$log" "first record processed")
		t2=$(ks_t "$log" "end reached")
		tl=$(sed -n 's/.* end reached: .*last record processed at t=\([0-9]*\).*/\1/p' "$log")
		n=$(sed -n 's/.* end reached: \([0-9]*\) events applied.*/\1/p' "$log")
		test "$n" = "$EVENTS" || say "kstreams $cfg applied $n events, not $EVENTS"
		sample "$key.eps" "$(awk -v n="$n" -v a="$t1" -v b="$t2" 'BEGIN { if (b > a) printf "%.0f", n * 1000 / (b - a) }')"
		sample "$key.rss_kib" "$hwm"
		sample "$key.tail_ms" "$((t2 - tl))"
		sample "$key.unkeyed" "$(sed -n 's/.* refused .*, \([0-9]*\) unkeyed;.*/\1/p' "$log")"
		if test "$cfg" = eos; then
			say "the 30 s window query: pingpong query and kstreams' interactive query"
			"$PP" query -t bench --store "$_pp_store" --json active --at "$_at" --repeat "$KSTREAMS_QUERY_REPEAT" \
				--timing >"$W/peer.pingpong.query.$ROUND" 2>"$W/peer.pingpong.query.$ROUND.err" ||
				say "pingpong query failed: $(cat "$W/peer.pingpong.query.$ROUND.err")"
			# 10 runs first, untimed, for the JIT: the app has run for a while before.
			java -jar "$KS_JAR" query --http "$W/$key.$ROUND.http" --json active --at "$_at" \
				--repeat "$KSTREAMS_QUERY_REPEAT" --warmup 10 --timing >"$W/peer.kstreams.query.$ROUND" \
				2>"$W/peer.kstreams.query.$ROUND.err" ||
				say "kstreams query failed: $(cat "$W/peer.kstreams.query.$ROUND.err")"
			for who in pingpong kstreams; do
				f=$W/peer.$who.query.$ROUND.err
				sample "peer.query.$who.users" "$(sed -n 's/.* runs, \([0-9]*\) users:.*/\1/p' "$f")"
				sample "peer.query.$who.p50_us" "$(sed -n 's/.*p50 \([0-9.]*\) us.*/\1/p' "$f")"
				sample "peer.query.$who.p99_us" "$(sed -n 's/.*p99 \([0-9.]*\) us.*/\1/p' "$f")"
			done
			same=0
			test -s "$W/peer.pingpong.query.$ROUND" &&
				cmp -s "$W/peer.pingpong.query.$ROUND" "$W/peer.kstreams.query.$ROUND" && same=1
			sample check.query.same "$same"
		fi
		java -jar "$KS_JAR" query --http "$W/$key.$ROUND.http" users >"$W/peer.$key.users.$ROUND" 2>>"$log" ||
			say "kstreams users query failed"
		_compare="$_compare $key=$W/peer.$key.users.$ROUND"
		reap "$KS_PID" TERM
		rm -rf "$DISK/$key.$ROUND"
	done
	# shellcheck disable=SC2086 # NAME=FILE arguments
	"$PYTHON3" "$top_srcdir/bench/peers/compare-users.py" --expect "$top_srcdir/tests/helpers/expect.py" \
		--events "$W/bench.events" $_compare >"$W/peer.compare.$ROUND" 2>&1
	sed 's/^/bench:   /' "$W/peer.compare.$ROUND" >&2
	for name in pingpong $(for c in $KS_RATE_CONFIGS; do printf 'kstreams.%s ' "$c"; done); do
		ok=0
		users_ok "$W/peer.compare.$ROUND" "$name" && ok=1
		sample "check.users.$name" "$ok"
	done
}

# peer_restarts: in round $ROUND, each configuration of KS_RESTART_CONFIGS on a topic of
# its own, so that each restores a state of the same size: KS_PREFILL events from the
# 10,000 users, then a live stream of 2,000 events/s while the test runs. From an empty
# state, once the app has caught up with the topic and run a second more: kill -9, and
# start again at once. Times from the kill to: the new process's first line, its first
# record processed, RUNNING (every store restored), and the end of the backlog it found
# at start, processed and committed. Under exactly_once_v2 a task killed uncleanly wipes
# its stores and restores them from the changelog from scratch.
KS_CRASHED=""
peer_restarts () {
	for cfg in $KS_RESTART_CONFIGS; do
		tag=rec-ks-$cfg-$ROUND-$$
		inst=""
		case $cfg in
		*-static) inst="--instance-id $tag" ;;
		esac
		say "kstreams restart after kill -9: $cfg, round $ROUND"
		"$top_srcdir/tests/kafka/kafka-broker.sh" create-topic "$KAFKA_DIR" "$tag" "$PARTITIONS" \
			>"$W/$tag.topic" 2>&1 || die "cannot create topic '$tag': $(cat "$W/$tag.topic")"
		PINGPONG_DATADIR="$SRCDATA" "$PP" produce -t "$tag" --rate 0 --count "$KS_PREFILL" --users "$USERS" \
			--seed "$ROUND" -q 2>"$W/$tag.produce" || die "produce failed: $(cat "$W/$tag.produce")"
		PINGPONG_DATADIR="$SRCDATA" "$PP" produce -t "$tag" --rate 2000 --users "$USERS" -q 2>>"$W/$tag.produce" &
		live=$!
		remember "$live"
		# shellcheck disable=SC2046,SC2086 # option lists
		set -- -t "$tag" --application-id "$tag" --state-dir "$DISK/$tag" $(ks_guarantee "$cfg") $inst
		ks_start "$W/$tag.first" "$@"
		if ! ks_wait "$W/$tag.first" "end reached" 600; then
			ks_fail "$cfg never caught up with '$tag'" "$W/$tag.first"
			reap "$KS_PID" KILL
			reap "$live"
			continue
		fi
		sleep 1 # a few commits more: the kill lands in a running stream
		t_stop=$(($(now_ns) / 1000000))
		reap "$KS_PID" KILL
		ks_start "$W/$tag.second" "$@"
		if ! ks_wait "$W/$tag.second" "end reached" 600; then
			ks_fail "$cfg did not catch up after its restart" "$W/$tag.second"
			reap "$KS_PID" KILL
			reap "$live"
			continue
		fi
		for what in "starting:start" "restore started:restore_start" "first record processed:first" \
			"-> RUNNING:running" "end reached:caught"; do
			t=$(ks_t "$W/$tag.second" "${what%:*}")
			test -n "$t" && sample "recovery.ks.$cfg.${what#*:}_ms" "$((t - t_stop))"
		done
		sample "recovery.ks.$cfg.restored" \
			"$(sed -n 's/.* -> RUNNING: restored \([0-9]*\) records.*/\1/p' "$W/$tag.second" | head -n 1)"
		sample "recovery.ks.$cfg.restore_ms" \
			"$(sed -n 's/.* -> RUNNING: restored [0-9]* records in \([0-9]*\) ms.*/\1/p' "$W/$tag.second" | head -n 1)"
		reap "$KS_PID" TERM
		reap "$live"
		KS_CRASHED="$KS_CRASHED $tag:$cfg:$ROUND"
	done
}

# peer_crash_check: each instance of peer_restarts, once its live stream has stopped,
# runs once more to the end of its topic and dumps its users, compared with what
# expect.py computes from the topic's events: exactly_once_v2 must have lost and
# double-applied nothing across its kill -9; at_least_once may have applied some events
# twice (counted), never lost one.
peer_crash_check () {
	test -n "$KS_CRASHED" || return 0
	for item in $KS_CRASHED; do
		tag=${item%%:*}
		cfg=${item#*:}
		ROUND=${cfg#*:}
		cfg=${cfg%:*}
		say "kstreams $cfg after kill -9: its users against the events of '$tag'"
		"$PP" tail -t "$tag" --from-beginning --exit-at-end >"$W/$tag.events" 2>"$W/$tag.tail.err" ||
			die "tail of '$tag' failed: $(cat "$W/$tag.tail.err")"
		inst=""
		case $cfg in
		*-static) inst="--instance-id $tag" ;;
		esac
		# shellcheck disable=SC2046,SC2086 # option lists
		ks_start "$W/$tag.check" -t "$tag" --application-id "$tag" --state-dir "$DISK/$tag" $(ks_guarantee "$cfg") \
			$inst --exit-at-end --dump "$W/$tag.users"
		wait "$KS_PID"
		rc=$?
		forget "$KS_PID"
		if test "$rc" != 0; then
			ks_fail "exit $rc reading '$tag' to its end" "$W/$tag.check"
			continue
		fi
		allow=""
		case $cfg in
		alos*) allow="--allow-double kstreams.$cfg" ;;
		esac
		# shellcheck disable=SC2086
		"$PYTHON3" "$top_srcdir/bench/peers/compare-users.py" --expect "$top_srcdir/tests/helpers/expect.py" \
			--events "$W/$tag.events" $allow "kstreams.$cfg=$W/$tag.users" >"$W/$tag.compare" 2>&1
		ok=$((1 - $?))
		sed 's/^/bench:   /' "$W/$tag.compare" >&2
		sample "check.crash.$cfg.ok" "$ok"
		sample "check.crash.$cfg.lost" "$(sed -n 's/.* lost \([0-9]*\),.*/\1/p' "$W/$tag.compare")"
		sample "check.crash.$cfg.double" "$(sed -n 's/.* double-applied \([0-9]*\),.*/\1/p' "$W/$tag.compare")"
		rm -rf "$DISK/$tag" "$W/$tag.events"
	done
}

# users_ok FILE NAME: compare-users.py found NAME exact in FILE.
users_ok () {
	grep -q "^$2: .* lost 0, double-applied 0, wrong-time 0, wrong-email 0, unknown-users 0\(, emails differing from .*'s 0\)\{0,1\}\$" "$1"
}

# ---- set-up ----------------------------------------------------------------------
test -x "$PP" || die "'$PP' is not built (run make)"
test -x "$SB" || die "'$SB' is not built (make bench builds it)"
test -x /usr/bin/time || die "/usr/bin/time is missing (Debian: apt-get install time)"
DISK="$W/disk"
SHM=/dev/shm/pingpong-bench.$$
mkdir -p "$DISK" "$SHM" || exit 1
: >"$SAMPLES"

# Redis and hiredis, for figures 5 and 6 only: not on Kafka, where those figures are the
# mock run's.
HAVE_REDIS=1
test "$BROKER" = mock || HAVE_REDIS=
test -z "$SCALE" || HAVE_REDIS=
need=""
command -v redis-server >/dev/null 2>&1 || need="redis-server"
command -v redis-cli >/dev/null 2>&1 || need="$need redis-tools"
test -f /usr/include/hiredis/hiredis.h || need="$need libhiredis-dev"
if test -n "$need" && test -n "$HAVE_REDIS"; then
	if test -n "${BENCH_NO_INSTALL:-}"; then
		say "missing $need and BENCH_NO_INSTALL is set: skipping the Redis figures"
		HAVE_REDIS=
	else
		sudo=""
		test "$(id -u)" = 0 || sudo=sudo
		say "installing the benchmark-only packages:$need"
		# shellcheck disable=SC2086 # $need is a list of packages
		if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >"$W/apt.log" 2>&1; then
			$sudo apt-get update -q >>"$W/apt.log" 2>&1
			$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q $need >>"$W/apt.log" 2>&1 || {
				say "apt-get install$need failed (see below): skipping the Redis figures"
				tail -n 5 "$W/apt.log" >&2
				HAVE_REDIS=
			}
		fi
	fi
fi
if test -n "$HAVE_REDIS" && ! (cd "$top_builddir" && $MAKE bench/redis-bench >"$W/make.log" 2>&1); then
	say "cannot build bench/redis-bench: skipping the Redis figures"
	sed 's/^/	/' "$W/make.log" >&2
	HAVE_REDIS=
fi

# The topic's users are the benchmark programs' first $USERS: produce and
# bench-events.h make them alike from the same data files (src/chat.h).

# The Kafka Streams peer: Java, Maven, and its jar built in the build tree.
if test -n "$PEERS"; then
	"$top_srcdir/tests/kafka/kafka-broker.sh" deps || die "Java and Maven are needed for PEERS=$PEERS"
	say "building bench/peers/kstreams with Maven"
	mvn -q -B -Dstyle.color=never -f "$top_srcdir/bench/peers/kstreams/pom.xml" \
		-Dkstreams.target="$KS_TARGET" package >"$W/mvn.log" 2>&1 ||
		die "mvn package of bench/peers/kstreams failed: $(tail -n 20 "$W/mvn.log")"
	test -f "$KS_JAR" || die "mvn built no '$KS_JAR'"
fi

TOPICS="bench bench-2 bench-3 live"
test -n "$PEERS" && TOPICS="$TOPICS peer-check"
test -n "$SCALE" && TOPICS="scale-10k scale-1m"
if test "$BROKER" = kafka; then
	say "starting Kafka 4.4 (tests/kafka/kafka-broker.sh): $PARTITIONS partitions"
	KAFKA_DIR="$W/kafka"
	# The JVM's own defaults (G1, C2) for a broker under load, not the tests' fast start.
	# shellcheck disable=SC2046 # one --topic per topic
	PINGPONG_KAFKA_JVM_OPTS="" PINGPONG_KAFKA_HEAP=${PINGPONG_KAFKA_HEAP:-1g} \
		"$top_srcdir/tests/kafka/kafka-broker.sh" start "$KAFKA_DIR" --partitions "$PARTITIONS" \
		$(for t in $TOPICS; do printf ' --topic %s' "$t"; done) --bootstrap-file "$W/broker.bootstrap" \
		--owner $$ >"$W/broker.out" 2>"$W/broker.err" ||
		die "kafka-broker.sh start failed: $(tail -n 20 "$W/broker.err")"
	BROKER_PID=$(cat "$KAFKA_DIR/kafka.pid")
else
	say "starting the broker: $PARTITIONS partitions"
	# shellcheck disable=SC2046 # one --topic per topic
	"$PP" broker --partitions "$PARTITIONS" $(for t in $TOPICS; do printf ' --topic %s' "$t"; done) \
		--bootstrap-file "$W/broker.bootstrap" >"$W/broker.out" 2>"$W/broker.err" &
	BROKER_PID=$!
	remember "$BROKER_PID"
	wait_for 30 'test -s "$W/broker.bootstrap" || ! kill -0 $BROKER_PID 2>/dev/null' &&
		test -s "$W/broker.bootstrap" || die "the broker did not start: $(cat "$W/broker.err")"
fi
PINGPONG_BROKERS=$(cat "$W/broker.bootstrap")
export PINGPONG_BROKERS

stop_broker () {
	if test "$BROKER" = kafka; then
		"$top_srcdir/tests/kafka/kafka-broker.sh" stop "$KAFKA_DIR" >/dev/null 2>&1
	else
		reap "$BROKER_PID"
	fi
}

if test -n "$HAVE_REDIS"; then
	REDIS_PORT=$(free_port)
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--daemonize no --dir "$W" >"$W/redis.log" 2>&1 &
	REDIS_PID=$!
	remember "$REDIS_PID"
	if ! wait_for 10 'redis-cli -p $REDIS_PORT ping 2>/dev/null | grep -q PONG'; then
		say "redis-server did not start: skipping the Redis figures"
		HAVE_REDIS=
	fi
fi

# ---- make bench-scale ------------------------------------------------------------------
# The store alone (users:events, batch 1,000, no-sync, on the build directory's disk) and
# the active consumer (users; 1,000,000 events, --no-sync, batch 1,000) at each size, every
# run checked as in make bench; LMDB alone (users; 1,000,000 events) under them. The
# stores' B-tree depths (mdb_stat) once.
SCALE_STORE="10000:1000000 100000:1000000 1000000:1000000 10000:10000000 1000000:10000000"
SCALE_ACTIVE="10000 1000000"
SCALE_LMDB="10000 100000 1000000"

scale_topic () {
	case $1 in
	10000) echo scale-10k ;;
	1000000) echo scale-1m ;;
	esac
}

# scale_produce: each active size's topic, produced and read back (its truth).
scale_produce () {
	for u in $SCALE_ACTIVE; do
		t=$(scale_topic "$u")
		say "produce: $EVENTS events from $u users to '$t'"
		PINGPONG_DATADIR="$SRCDATA" "$PP" produce -t "$t" --rate 0 --count "$EVENTS" --users "$u" --seed 1 \
			2>"$W/produce.$t.err" || die "produce failed: $(cat "$W/produce.$t.err")"
		set -- $(topic_truth "$t")
		test "${1:-0}" = "$EVENTS" || die "tail read ${1:-0} events of '$t', not $EVENTS: the retention cap dropped some"
		eval "TRUTH_$u=\"\$1 \$2\""
	done
}

# scale_store USERS EVENTS: one store-bench run of round $ROUND.
scale_store () {
	key=scale.store.u$1.e$2
	say "store alone: $2 events from $1 users"
	"$SB" apply --store "$DISK/$key" --events "$2" --users "$1" --batch 1000 --no-sync --data "$SRCDATA" \
		>"$W/$key.$ROUND" || die "store-bench apply failed"
	check_bench "$key" "$DISK/$key" "$W/$key.$ROUND"
	for f in events_per_s cpu_events_per_s hwm_kib rss_anon_kib rss_file_kib minflt majflt; do
		sample "$key.$f" "$(kv "$W/$key.$ROUND" "$f")"
	done
	if test "$ROUND" = 1 && command -v mdb_stat >/dev/null 2>&1; then
		mdb_stat -a "$DISK/$key" >"$W/$key.mdb_stat" 2>&1
		for db in users by_time; do
			sample "$key.depth.$db" "$(awk -v db="$db" '/^Status of / { cur = $3 } cur == db && /Tree depth:/ { print $3 }' "$W/$key.mdb_stat")"
		done
	fi
	rm -rf "$DISK/$key"
}

# scale_lmdb USERS: LMDB alone (store-bench lmdb), 1,000,000 events of USERS users, batch
# 1,000, no-sync: the floor under the store's rows (bench/README.md, "The bounds").
scale_lmdb () {
	key=scale.lmdb.u$1
	say "LMDB alone: $EVENTS events from $1 users"
	"$SB" lmdb --store "$DISK/$key" --events "$EVENTS" --users "$1" --batch 1000 --no-sync --data "$SRCDATA" \
		>"$W/$key.$ROUND" || die "store-bench lmdb failed"
	check_lmdb "$key" "$W/$key.$ROUND"
	for f in events_per_s cpu_events_per_s; do
		sample "$key.$f" "$(kv "$W/$key.$ROUND" "$f")"
	done
	rm -rf "$DISK/$key"
}

# scale_active USERS: one active run of round $ROUND on that size's topic.
scale_active () {
	t=$(scale_topic "$1")
	key=scale.active.u$1
	store=$DISK/$key
	say "active --no-sync --batch 1000 on '$t' ($1 users)"
	# shellcheck disable=SC2086
	run_consumer "$W/$key.$ROUND.log" "$W/$key.$ROUND.rss" "$PYTHON3" "$top_srcdir/bench/peak-rss.py" \
		"$W/$key.$ROUND.mem" "$PP" active -v -t "$t" --store "$store" -g "bench-$key-$ROUND-$$" --batch 1000 \
		--no-sync --exit-at-end $ACTIVE_OPTS $GROUP_OPTS || die "active failed on '$t'"
	n=$(consumed "$W/$key.$ROUND.log")
	test "$n" = "$EVENTS" || die "$key: consumed $n events, not $EVENTS"
	eval "set -- \$TRUTH_$1"
	check_consumer "$key" "$store" "$t" "$1" "$2"
	sample "$key.eps" "$(rate_between "$W/$key.$ROUND.log" ' assigned: ' ' revoked: ' "$n")"
	for f in hwm_kib anon_kib file_kib; do
		sample "$key.$f" "$(kv "$W/$key.$ROUND.mem" "$f")"
	done
	rm -rf "$store"
}

if test -n "$SCALE"; then
	scale_produce
	ROUND=1
	while test "$ROUND" -le "$RUNS"; do
		say "scale, round $ROUND of $RUNS"
		for cfg in $SCALE_STORE; do
			scale_store "${cfg%:*}" "${cfg#*:}"
		done
		for u in $SCALE_ACTIVE; do
			scale_active "$u"
		done
		for u in $SCALE_LMDB; do
			scale_lmdb "$u"
		done
		ROUND=$((ROUND + 1))
	done
	ROUND=1
	sample checks.passed "$CHECKED"
	stop_broker
	"$PYTHON3" "$top_srcdir/bench/report.py" --scale --samples "$SAMPLES" --runs "$RUNS" \
		--json "$top_builddir/bench/scale.json"
	exit
fi

# ---- the peers' correctness check, before any figure counts ------------------------
# Both consumers on events of the whole domain that tests/helpers/gen-events.py makes
# (duplicates, stale, future and malformed events, raw encodings where it has them),
# compared with what tests/helpers/expect.py computes from the same file. The raw events
# carry no key: kstreams reads them through its repartition topic (--repartition).
ROUND=1
if test -n "$PEERS"; then
	say "correctness check: pingpong and kstreams on events of the whole domain"
	NOW=$(($(date +%s) * 1000))
	MAX_SKEW_MS=300000
	"$PYTHON3" "$top_srcdir/tests/helpers/gen-events.py" --users 500 --count 20000 --seed 11 --now "$NOW" \
		--stale 0.05 --dups 0.05 --malformed 60 --future 20 >"$W/check.events" || die "gen-events.py failed"
	"$PP" produce -t peer-check --from "$W/check.events" -q 2>"$W/check.produce.err" ||
		die "produce --from failed: $(cat "$W/check.produce.err")"
	# shellcheck disable=SC2086
	run_consumer "$W/check.pp.log" "$W/check.pp.rss" "$PP" active -v -t peer-check --store "$DISK/check.pp" \
		-g "bench-check-$$" --exit-at-end --no-sync $ACTIVE_OPTS $GROUP_OPTS || die "active failed on peer-check"
	"$PP" query -t peer-check --store "$DISK/check.pp" --json users >"$W/check.pp.users" || die "query users failed"
	ks_start "$W/check.ks.log" -t peer-check --application-id "bench-ks-check-$$" --state-dir "$DISK/check.ks" \
		--repartition --exit-at-end --dump "$W/check.ks.users"
	wait "$KS_PID"
	rc=$?
	forget "$KS_PID"
	test "$rc" = 0 || { ks_fail "exit $rc on peer-check" "$W/check.ks.log"; die "kstreams failed on peer-check"; }
	"$PYTHON3" "$top_srcdir/bench/peers/compare-users.py" --expect "$top_srcdir/tests/helpers/expect.py" \
		--events "$W/check.events" --max-ts $((NOW + MAX_SKEW_MS)) pingpong="$W/check.pp.users" \
		kstreams="$W/check.ks.users" >"$W/check.compare" 2>&1
	want=$("$PYTHON3" "$top_srcdir/tests/helpers/expect.py" rejects "$W/check.events" --max-ts $((NOW + MAX_SKEW_MS)))
	pp_refused=$(sed -n 's/.* \([0-9]*\) rejected, .*/\1/p' "$W/check.pp.log" | tail -n 1)
	ks_refused=$(sed -n 's/.* end reached: [0-9]* events applied, \([0-9]*\) refused.*/\1/p' "$W/check.ks.log")
	sed 's/^/bench:   /' "$W/check.compare" >&2
	say "  refused: expected $want, pingpong $pp_refused, kstreams $ks_refused"
	ok=0
	users_ok "$W/check.compare" pingpong && test "$pp_refused" = "$want" && ok=1
	sample check.domain.pingpong "$ok"
	ok=0
	users_ok "$W/check.compare" kstreams && test "$ks_refused" = "$want" && ok=1
	sample check.domain.kstreams "$ok"
	sample check.domain.events "$(wc -l <"$W/check.events")"
	rm -rf "$DISK/check.pp" "$DISK/check.ks"
fi

# ---- 1. produce ------------------------------------------------------------------
# One topic per run: the broker's retention cap would not hold three runs in one.
ROUND=1
for topic in bench bench-2 bench-3; do
	test "$ROUND" -le "$RUNS" || break
	say "produce: $EVENTS events from $USERS users to '$topic'"
	PINGPONG_DATADIR="$SRCDATA" "$PP" produce -t "$topic" --rate 0 --count "$EVENTS" --users "$USERS" \
		--seed "$ROUND" 2>"$W/produce.$ROUND.err" || die "produce failed: $(cat "$W/produce.$ROUND.err")"
	sample produce.eps "$(sed -n 's/.* events to .* (\([0-9]*\) events\/s).*/\1/p' "$W/produce.$ROUND.err")"
	ROUND=$((ROUND + 1))
done

# What every consumer's store is checked against: the events of `bench`, read back.
say "the events of 'bench', read back and counted: what each consumer's store must hold"
set -- $(topic_truth bench)
TRUTH_EVENTS=${1:-0} TRUTH_USERS=${2:-0}
test "$TRUTH_EVENTS" = "$EVENTS" || die "tail read $TRUTH_EVENTS events of 'bench', not the $EVENTS produced"

# What expect.py reads: the events of `bench` as `pingpong tail` prints them.
if test -n "$PEERS"; then
	"$PP" tail -t bench --from-beginning --exit-at-end >"$W/bench.events" 2>"$W/bench.tail.err" ||
		die "tail of 'bench' failed: $(cat "$W/bench.tail.err")"
fi

# An empty store bound to the topic, for notify's --active-store: no one is active at any
# message's time, so notify writes no notification and the gate's cost stands out.
"$SB" query-store --store "$W/nobody" --users 1 --active 0 --at 1000000000000 --data "$SRCDATA" >/dev/null ||
	die "store-bench query-store failed"
check_store "the store of no one" "$W/nobody" bench 1 1

# ---- the rounds: figures 2, 3, 4, 5, 9 and the active consumer's memory -----------
ROUND=1
while test "$ROUND" -le "$RUNS"; do
	say "round $ROUND of $RUNS"

	# 2. raw ceiling, and its CPU per event (user and system, the whole process) for the bound below
	/usr/bin/time -f '%U %S' -o "$W/tail.$ROUND.time" "$PP" tail -t bench --null --from-beginning --exit-at-end \
		2>"$W/tail.$ROUND.err" >/dev/null || die "tail failed: $(cat "$W/tail.$ROUND.err")"
	n=$(sed -n 's/.*: \([0-9]*\) events in .*/\1/p' "$W/tail.$ROUND.err")
	test "$n" = "$EVENTS" || die "tail read $n events, not $EVENTS: the broker's retention cap dropped some"
	sample raw.eps "$(sed -n 's/.* events in .* (\([0-9]*\) events\/s).*/\1/p' "$W/tail.$ROUND.err")"
	sample raw.cpu_ns "$(awk -v n="$n" '{ printf "%.0f", ($1 + $2) * 1e9 / n }' "$W/tail.$ROUND.time")"

	# The bound of figure 3's fsync goal, in the same round as the ceiling it is set
	# against (bench/README.md, "The bounds"): LMDB alone, fsync per batch of 1,000.
	say "bound: LMDB alone, fsync per batch of 1000"
	"$SB" lmdb --store "$DISK/bound.lmdb.$ROUND" --events "$EVENTS" --users "$USERS" --batch 1000 \
		--data "$SRCDATA" >"$W/bound.lmdb.$ROUND" || die "store-bench lmdb failed"
	check_lmdb "LMDB alone, fsync (bound)" "$W/bound.lmdb.$ROUND"
	sample bound.lmdb.sync.eps "$(kv "$W/bound.lmdb.$ROUND" events_per_s)"
	rm -rf "$DISK/bound.lmdb.$ROUND"

	# 3. active end to end, from an empty store each time
	for sync in sync nosync; do
		for batch in 100 1000 10000; do
			key=active.$sync.b$batch
			flag=""
			test "$sync" = nosync && flag=--no-sync
			say "active --batch $batch $flag"
			store="$DISK/$key.$ROUND"
			# shellcheck disable=SC2086
			run_consumer "$W/$key.$ROUND.log" "$W/$key.$ROUND.rss" "$PYTHON3" "$top_srcdir/bench/peak-rss.py" \
				"$W/$key.$ROUND.mem" "$PP" active -v -t bench \
				--store "$store" -g "bench-$key-$ROUND-$$" --batch "$batch" $flag --exit-at-end \
				$ACTIVE_OPTS $GROUP_OPTS || continue
			n=$(consumed "$W/$key.$ROUND.log")
			test "$n" = "$EVENTS" || die "$key: consumed $n events, not $EVENTS"
			check_consumer "$key" "$store" bench "$TRUTH_EVENTS" "$TRUTH_USERS"
			sample "$key.eps" "$(rate_between "$W/$key.$ROUND.log" ' assigned: ' ' revoked: ' "$n")"
			sample "$key.rss_kib" "$(cat "$W/$key.$ROUND.rss")"
			for f in anon_kib file_kib; do
				sample "$key.$f" "$(kv "$W/$key.$ROUND.mem" "$f")"
			done
			sample "$key.cpu_ns" "$(awk -v n="$n" -v s="$(kv "$W/$key.$ROUND.mem" cpu_s)" \
				'BEGIN { printf "%.0f", s * 1e9 / n }')"
			test "$key" = active.sync.b1000 || rm -rf "$store"
		done
	done

	# Kafka Streams on the same topic, and both checked against the events
	test -n "$PEERS" && peer_round

	# 5. Redis: one round trip per event (fewer events: 50 s each otherwise), and pipelined
	if test -n "$HAVE_REDIS"; then
		say "redis: one round trip per event"
		"$RB" apply --port "$REDIS_PORT" --events $((EVENTS / 5)) --users "$USERS" --pipeline 1 \
			--data "$SRCDATA" >"$W/redis.rtt.$ROUND" || die "redis-bench failed"
		sample redis.rtt.eps "$(kv "$W/redis.rtt.$ROUND" events_per_s)"
		say "redis: pipelined by 1000"
		"$RB" apply --port "$REDIS_PORT" --events "$EVENTS" --users "$USERS" --pipeline 1000 \
			--data "$SRCDATA" >"$W/redis.pipe.$ROUND" || die "redis-bench failed"
		sample redis.pipe.eps "$(kv "$W/redis.pipe.$ROUND" events_per_s)"
	fi

	# 9. the gate: notify behind active's finished store, and ungated
	for gate in ungated gated; do
		key=notify.$gate
		after=""
		test "$gate" = gated && after="--after-store $DISK/active.sync.b1000.$ROUND"
		say "notify, $gate"
		# shellcheck disable=SC2086
		run_consumer "$W/$key.$ROUND.log" "$W/$key.$ROUND.rss" "$PP" notify -v -t bench \
			--store "$DISK/$key.$ROUND" --active-store "$W/nobody" $after -g "bench-$key-$ROUND-$$" \
			--exit-at-end $GROUP_OPTS || continue
		test "$(consumed "$W/$key.$ROUND.log")" = "$EVENTS" ||
			die "$key: consumed $(consumed "$W/$key.$ROUND.log") events, not $EVENTS"
		check_consumer "$key" "$DISK/$key.$ROUND" bench - -
		sample "$key.eps" "$(rate_between "$W/$key.$ROUND.log" ' assigned: ' ' revoked: ' "$(consumed "$W/$key.$ROUND.log")")"
		rm -rf "$DISK/$key.$ROUND"
	done
	rm -rf "$DISK/active.sync.b1000.$ROUND"

	# 4. the store alone, on the disk under the build directory and on /dev/shm; no
	# broker: the mock run's figures stand for both
	test "$BROKER" = mock || { ROUND=$((ROUND + 1)); continue; }
	for where in disk shm; do
		dir=$DISK
		test "$where" = shm && dir=$SHM
		for sync in sync nosync; do
			for batch in 1 100 1000 10000; do
				key=store.$where.$sync.b$batch
				flag=""
				test "$sync" = nosync && flag=--no-sync
				# Batches of 1 and 100 commit too often for a million events in time.
				case $batch in
				1) n=20000 ;;
				100) n=200000 ;;
				*) n=$EVENTS ;;
				esac
				say "store alone, $where, --batch $batch $flag"
				"$SB" apply --store "$dir/$key.$ROUND" --events "$n" --users "$USERS" --batch "$batch" $flag \
					--data "$SRCDATA" >"$W/$key.$ROUND" || die "store-bench apply failed"
				check_bench "$key" "$dir/$key.$ROUND" "$W/$key.$ROUND"
				sample "$key.eps" "$(kv "$W/$key.$ROUND" events_per_s)"
				test "$key.$ROUND" = store.disk.sync.b1000.1 || rm -rf "$dir/$key.$ROUND"
			done
		done
	done
	ROUND=$((ROUND + 1))
done

# ---- 6. query, 8. memory of the store, 7. local recovery: no broker, mock run only ----
if test "$BROKER" = mock; then
AT=$(($(date +%s) * 1000))
"$SB" query-store --store "$W/query" --users 100000 --active 1000 --at "$AT" --data "$SRCDATA" >/dev/null ||
	die "store-bench query-store failed"
check_store "the query store" "$W/query" bench 100000 100000
# The same, each active user seen 10 times in the window (a heartbeat every 3 s): with
# the append-only index (schema 5) a window holds an entry per time a user was seen.
"$SB" query-store --store "$W/query10" --users 100000 --active 1000 --seen 10 --at "$AT" --data "$SRCDATA" \
	>/dev/null || die "store-bench query-store --seen 10 failed"
check_store "the query store, seen 10 times" "$W/query10" bench 109000 100000
# And compacted, as `pingpong active` leaves its index while caught up (store_index_compact):
# the stale entries of the window are gone, one entry per user is left.
"$SB" query-store --store "$W/query10c" --users 100000 --active 1000 --seen 10 --at "$AT" --compact \
	--data "$SRCDATA" >"$W/query10c.built" || die "store-bench query-store --seen 10 --compact failed"
check_store "the query store, seen 10 times, compacted" "$W/query10c" bench 109000 100000
test "$(kv "$W/query10c.built" compacted)" -gt 0 || die "the query store was not compacted"
ROUND=1
while test "$ROUND" -le "$RUNS"; do
	say "query, round $ROUND"
	"$PP" query -t bench --store "$W/query" active --at "$AT" --repeat 100000 --timing \
		>/dev/null 2>"$W/query.$ROUND" || die "query failed: $(cat "$W/query.$ROUND")"
	sample query.users "$(sed -n 's/.* runs, \([0-9]*\) users:.*/\1/p' "$W/query.$ROUND")"
	sample query.p50_us "$(sed -n 's/.*p50 \([0-9.]*\) us.*/\1/p' "$W/query.$ROUND")"
	sample query.p99_us "$(sed -n 's/.*p99 \([0-9.]*\) us.*/\1/p' "$W/query.$ROUND")"
	"$PP" query -t bench --store "$W/query10" active --at "$AT" --repeat 20000 --timing \
		>/dev/null 2>"$W/query10.$ROUND" || die "query failed: $(cat "$W/query10.$ROUND")"
	sample query10.p50_us "$(sed -n 's/.*p50 \([0-9.]*\) us.*/\1/p' "$W/query10.$ROUND")"
	sample query10.p99_us "$(sed -n 's/.*p99 \([0-9.]*\) us.*/\1/p' "$W/query10.$ROUND")"
	"$PP" query -t bench --store "$W/query10c" active --at "$AT" --repeat 100000 --timing \
		>/dev/null 2>"$W/query10c.$ROUND" || die "query failed: $(cat "$W/query10c.$ROUND")"
	sample query10c.users "$(sed -n 's/.* runs, \([0-9]*\) users:.*/\1/p' "$W/query10c.$ROUND")"
	sample query10c.p50_us "$(sed -n 's/.*p50 \([0-9.]*\) us.*/\1/p' "$W/query10c.$ROUND")"
	sample query10c.p99_us "$(sed -n 's/.*p99 \([0-9.]*\) us.*/\1/p' "$W/query10c.$ROUND")"
	if test -n "$HAVE_REDIS"; then
		"$RB" query --port "$REDIS_PORT" --users 100000 --active 1000 --at "$AT" --repeat 10000 \
			--data "$SRCDATA" >"$W/rquery.$ROUND" || die "redis-bench query failed"
		sample redis.query.users "$(kv "$W/rquery.$ROUND" users)"
		sample redis.query.p50_us "$(kv "$W/rquery.$ROUND" p50_us)"
		sample redis.query.p99_us "$(kv "$W/rquery.$ROUND" p99_us)"
	fi
	ROUND=$((ROUND + 1))
done
if test -n "$HAVE_REDIS"; then
	reap "$REDIS_PID"
	say "redis-server stopped"
fi

# ---- 8. the store's memory, and 7. local recovery at 10,000 and 1,000,000 users ------
# One run: 10,000,000 events take one to two minutes here.
say "store alone: 10,000,000 events from 1,000,000 users (one or two minutes)"
ROUND=1
"$SB" apply --store "$DISK/big" --events $((EVENTS * 10)) --users 1000000 --batch 1000 --no-sync \
	--data "$SRCDATA" >"$W/big" || die "store-bench apply failed"
check_bench "store alone, 10,000,000 events" "$DISK/big" "$W/big"
sample memory.store.hwm_kib "$(kv "$W/big" hwm_kib)"
sample memory.store.anon_kib "$(kv "$W/big" rss_anon_kib)"
sample memory.store.file_kib "$(kv "$W/big" rss_file_kib)"
sample memory.store.eps "$(kv "$W/big" events_per_s)"
# The big run leaves a lot of written-back pages: let the disk settle first.
sync
while test "$ROUND" -le "$RUNS"; do
	for size in small big; do
		store=$DISK/big
		test "$size" = small && store=$DISK/store.disk.sync.b1000.1
		# A millisecond figure on a shared machine: the median of 5 processes per round.
		for i in 1 2 3 4 5; do
			"$SB" recover --store "$store" >"$W/recover.$size.$ROUND.$i" || die "store-bench recover failed"
		done
		sample "recovery.local.$size.ms" "$(cat "$W/recover.$size.$ROUND".? |
			sed -n 's/.*positioned_us=\([0-9.]*\).*/\1/p' | sort -n | sed -n 3p |
			awk '{ printf "%.3f", $1 / 1000 }')"
		sample "recovery.local.$size.users" "$(kv "$W/recover.$size.$ROUND.1" users)"
		sample "recovery.local.$size.file_mib" "$(kv "$W/recover.$size.$ROUND.1" file_mib)"
	done
	ROUND=$((ROUND + 1))
done

fi

# ---- 7. recovery end to end ----------------------------------------------------------
# A live stream: without new events there is no batch to commit after a restart.
PINGPONG_DATADIR="$SRCDATA" "$PP" produce -t live --rate 2000 --users "$USERS" -q 2>"$W/live.err" &
LIVE_PID=$!
remember "$LIVE_PID"
ROUND=1
while test "$ROUND" -le "$RUNS"; do
	for how in kill9 kill9-static term; do
		say "recovery end to end: $how, round $ROUND"
		tag=rec-$how-$ROUND-$$
		store=$DISK/$tag
		inst=""
		test "$how" = kill9-static && inst="--instance-id $tag"
		log1=$W/$tag.first log2=$W/$tag.second
		# shellcheck disable=SC2086
		"$PP" active -v -t live --store "$store" -g "$tag" $inst $ACTIVE_OPTS $GROUP_OPTS \
			>/dev/null 2>"$log1" &
		pid=$!
		remember "$pid"
		wait_for 60 'grep -q "first batch committed" "$log1"' || die "active never committed: $(cat "$log1")"
		sleep 1 # a few batches more: the kill lands in a running stream
		if test "$how" = term; then
			reap "$pid" TERM
			t_stop=$(now_ns)
		else
			t_stop=$(now_ns)
			reap "$pid" KILL
		fi
		# shellcheck disable=SC2016,SC2086
		{ sh -c 'echo $$ >"$1"; shift; exec "$@"' sh "$W/$tag.pid" "$PP" active -v -t live --store "$store" \
			-g "$tag" $inst $ACTIVE_OPTS $GROUP_OPTS 2>&1 >/dev/null; } | stamp >"$log2" &
		pipe=$!
		remember "$pipe"
		wait_for 60 'grep -q "first batch committed" "$log2"' || die "active never committed after the restart: $(cat "$log2")"
		kill -TERM "$(cat "$W/$tag.pid")"
		wait "$pipe" 2>/dev/null # stamp reads to the end: the consumer has exited
		forget "$pipe"
		rm -f "$W/$tag.pid"
		# A live topic: no totals to compare with, but the store must be sound.
		check_store "recovery, $how" "$store" live -
		sample "recovery.e2e.$how.total_ms" "$(ms_between "$log2" "$t_stop" 'first batch committed')"
		sample "recovery.e2e.$how.group_ms" "$(ms_between "$log2" "$t_stop" ' assigned: ')"
		sample "recovery.e2e.$how.ours_ms" "$(ms_between "$log2" ' assigned: ' 'first batch committed')"
		rm -rf "$store"
	done
	test -n "$PEERS" && peer_restarts
	ROUND=$((ROUND + 1))
done
reap "$LIVE_PID"
test -n "$PEERS" && peer_crash_check

# ---- the table ------------------------------------------------------------------------
ROUND=1
sample checks.passed "$CHECKED"
stop_broker
"$PYTHON3" "$top_srcdir/bench/report.py" --samples "$SAMPLES" --runs "$RUNS" --session-ms "$SESSION_MS" \
	--broker "$BROKER" ${PEERS:+--peers "$PEERS"} --json "$top_builddir/bench/results.json"
