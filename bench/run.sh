# run.sh: `make bench`, pingpong's benchmarks on the embedded broker (bench/README.md).
#
# Starts `pingpong broker` with 12-partition topics, produces 1,000,000 events from
# 10,000 users, then measures every figure of bench/README.md BENCH_RUNS times (3; 1
# with BENCH_QUICK=1). A round measures the raw ceiling, active's six configurations,
# Redis and the gate one after the other, so each ratio compares figures of the same
# round; the table shows the median over rounds of each figure and of each ratio.
# bench/report.py prints the table and writes bench/results.json from the samples.
#
# Redis (redis-server, redis-tools) and hiredis (libhiredis-dev) are benchmark-only
# dependencies: installed with apt-get when missing; our redis-server runs on a free
# port of 127.0.0.1 without persistence and is stopped at the end, with every other
# process this script started (by pid). Runs under any POSIX sh with GNU date.
#
# Environment: BENCH_QUICK=1 (one round), BENCH_RUNS=N, BENCH_KEEP=1 (keep the work
# directory, bench/work.PID under the build directory), BENCH_NO_INSTALL=1 (never call
# apt-get: the Redis figures are then skipped if Redis is missing).

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
EVENTS=1000000
USERS=10000
PARTITIONS=12
# The group settings of the shell tests (tests/lib-broker.sh): the mock broker applies
# the last member's session timeout to the whole group.
SESSION_MS=4500
GROUP_OPTS="-X session.timeout.ms=$SESSION_MS -X heartbeat.interval.ms=500"
# Event times are when the topic was produced: keep every one in the time index, so
# every run does the same index work whenever it runs.
ACTIVE_OPTS="--every 0 --retain 24h"

W="$top_builddir/bench/work.$$"
SAMPLES="$W/samples.tsv"
PIDS=""
BROKER_PID=""
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

# ---- set-up ----------------------------------------------------------------------
test -x "$PP" || die "'$PP' is not built (run make)"
test -x "$SB" || die "'$SB' is not built (make bench builds it)"
test -x /usr/bin/time || die "/usr/bin/time is missing (Debian: apt-get install time)"
: >"$SAMPLES"
DISK="$W/disk"
SHM=/dev/shm/pingpong-bench.$$
mkdir -p "$DISK" "$SHM" || exit 1

# Redis and hiredis, for figures 5 and 6 only.
HAVE_REDIS=1
need=""
command -v redis-server >/dev/null 2>&1 || need="redis-server"
command -v redis-cli >/dev/null 2>&1 || need="$need redis-tools"
test -f /usr/include/hiredis/hiredis.h || need="$need libhiredis-dev"
if test -n "$need"; then
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
say "starting the broker: $PARTITIONS partitions"
"$PP" broker --partitions "$PARTITIONS" --topic bench --topic bench-2 --topic bench-3 --topic live \
	--bootstrap-file "$W/broker.bootstrap" >"$W/broker.out" 2>"$W/broker.err" &
BROKER_PID=$!
remember "$BROKER_PID"
wait_for 30 'test -s "$W/broker.bootstrap" || ! kill -0 $BROKER_PID 2>/dev/null' &&
	test -s "$W/broker.bootstrap" || die "the broker did not start: $(cat "$W/broker.err")"
PINGPONG_BROKERS=$(cat "$W/broker.bootstrap")
export PINGPONG_BROKERS

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

# An empty store bound to the topic, for notify's --active-store: no one is active at any
# message's time, so notify writes no notification and the gate's cost stands out.
"$SB" query-store --store "$W/nobody" --users 1 --active 0 --at 1000000000000 --data "$SRCDATA" >/dev/null ||
	die "store-bench query-store failed"

# ---- the rounds: figures 2, 3, 4, 5, 9 and the active consumer's memory -----------
ROUND=1
while test "$ROUND" -le "$RUNS"; do
	say "round $ROUND of $RUNS"

	# 2. raw ceiling
	"$PP" tail -t bench --null --from-beginning --exit-at-end 2>"$W/tail.$ROUND.err" >/dev/null ||
		die "tail failed: $(cat "$W/tail.$ROUND.err")"
	n=$(sed -n 's/.*: \([0-9]*\) events in .*/\1/p' "$W/tail.$ROUND.err")
	test "$n" = "$EVENTS" || die "tail read $n events, not $EVENTS: the broker's retention cap dropped some"
	sample raw.eps "$(sed -n 's/.* events in .* (\([0-9]*\) events\/s).*/\1/p' "$W/tail.$ROUND.err")"

	# 3. active end to end, from an empty store each time
	for sync in sync nosync; do
		for batch in 100 1000 10000; do
			key=active.$sync.b$batch
			flag=""
			test "$sync" = nosync && flag=--no-sync
			say "active --batch $batch $flag"
			store="$DISK/$key.$ROUND"
			# shellcheck disable=SC2086
			run_consumer "$W/$key.$ROUND.log" "$W/$key.$ROUND.rss" "$PP" active -v -t bench \
				--store "$store" -g "bench-$key-$ROUND-$$" --batch "$batch" $flag --exit-at-end \
				$ACTIVE_OPTS $GROUP_OPTS || continue
			n=$(consumed "$W/$key.$ROUND.log")
			test "$n" = "$EVENTS" || say "$key: consumed $n events, not $EVENTS"
			sample "$key.eps" "$(rate_between "$W/$key.$ROUND.log" ' assigned: ' ' revoked: ' "$n")"
			sample "$key.rss_kib" "$(cat "$W/$key.$ROUND.rss")"
			test "$key" = active.sync.b1000 || rm -rf "$store"
		done
	done

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
		sample "$key.eps" "$(rate_between "$W/$key.$ROUND.log" ' assigned: ' ' revoked: ' "$(consumed "$W/$key.$ROUND.log")")"
		rm -rf "$DISK/$key.$ROUND"
	done
	rm -rf "$DISK/active.sync.b1000.$ROUND"

	# 4. the store alone, on the disk under the build directory and on /dev/shm
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
				sample "$key.eps" "$(kv "$W/$key.$ROUND" events_per_s)"
				test "$key.$ROUND" = store.disk.sync.b1000.1 || rm -rf "$dir/$key.$ROUND"
			done
		done
	done
	ROUND=$((ROUND + 1))
done

# ---- 6. query ----------------------------------------------------------------------
AT=$(($(date +%s) * 1000))
"$SB" query-store --store "$W/query" --users 100000 --active 1000 --at "$AT" --data "$SRCDATA" >/dev/null ||
	die "store-bench query-store failed"
ROUND=1
while test "$ROUND" -le "$RUNS"; do
	say "query, round $ROUND"
	"$PP" query -t bench --store "$W/query" active --at "$AT" --repeat 100000 --timing \
		>/dev/null 2>"$W/query.$ROUND" || die "query failed: $(cat "$W/query.$ROUND")"
	sample query.users "$(sed -n 's/.* runs, \([0-9]*\) users:.*/\1/p' "$W/query.$ROUND")"
	sample query.p50_us "$(sed -n 's/.*p50 \([0-9.]*\) us.*/\1/p' "$W/query.$ROUND")"
	sample query.p99_us "$(sed -n 's/.*p99 \([0-9.]*\) us.*/\1/p' "$W/query.$ROUND")"
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
		sample "recovery.e2e.$how.total_ms" "$(ms_between "$log2" "$t_stop" 'first batch committed')"
		sample "recovery.e2e.$how.group_ms" "$(ms_between "$log2" "$t_stop" ' assigned: ')"
		sample "recovery.e2e.$how.ours_ms" "$(ms_between "$log2" ' assigned: ' 'first batch committed')"
		rm -rf "$store"
	done
	ROUND=$((ROUND + 1))
done
reap "$LIVE_PID"

# ---- the table ------------------------------------------------------------------------
reap "$BROKER_PID"
"$PYTHON3" "$top_srcdir/bench/report.py" --samples "$SAMPLES" --runs "$RUNS" --session-ms "$SESSION_MS" \
	--json "$top_builddir/bench/results.json"
