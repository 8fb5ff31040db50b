#!/bin/sh
# kafka-broker.sh: a single-node Apache Kafka broker (KRaft) on 127.0.0.1, for tests.
#
# The broker is Apache Kafka as Maven Central publishes it (tests/kafka/pom.xml): the
# jars are copied once into the build tree by `assemble`, and nothing else is ever
# downloaded. Each `start` gets a directory of its own: storage formatted afresh with a
# new cluster id, a server.properties, the broker's log (server.log), its pid
# (kafka.pid) and its bootstrap list (bootstrap, or --bootstrap-file). One node is both
# broker and controller, with settings for tests: no initial rebalance delay, 1 MiB
# segments, replication factor 1 everywhere, topics created on first use.
#
# `start` returns once the broker answers a Metadata request that lists the --topic
# topics with all their partitions led: a real request over the wire, never a sleep.
# `stop` sends TERM to the pid and waits for the process to end.
#
# Environment:
#   PINGPONG_KAFKA_LIB  where the jars are (default $top_builddir/tests/kafka/lib, and
#                       top_builddir defaults to the directory above tests/)
#   PINGPONG_KAFKA_HEAP the broker's heap (default 512m)
#   PINGPONG_KAFKA_JVM_OPTS  the broker's other JVM options (default: the serial
#                       collector and the C1 compiler only, which start faster; the
#                       benchmark sets it empty for the JVM's defaults)
#   PYTHON3             the Python that runs the readiness probe (default python3)
set -u

usage () {
	cat <<-EOF
	usage: kafka-broker.sh deps
	       kafka-broker.sh assemble
	       kafka-broker.sh start DIR [--partitions N] [--topic NAME]... [--bootstrap-file PATH]
	                                 [--owner PID]
	       kafka-broker.sh stop DIR
	       kafka-broker.sh create-topic DIR|BOOTSTRAP TOPIC PARTITIONS [CONFIG=VALUE]...
	       kafka-broker.sh run-class DIR|BOOTSTRAP CLASS [ARGS]...

	  deps          install Java 17 and Maven with apt-get if they are missing
	  assemble      copy the Kafka jars into \$PINGPONG_KAFKA_LIB once (Maven)
	  start         format DIR afresh, start the broker, wait until it answers metadata
	                  --partitions N   partitions of each --topic and of topics created
	                                   on first use (default 3)
	                  --topic NAME     topic created at start, repeatable (default: chat)
	                  --bootstrap-file PATH  where to write the bootstrap list once ready
	                                   (default DIR/bootstrap)
	                  --owner PID      stop the broker when process PID ends
	  stop          TERM the broker of DIR and wait for it to end (KILL after 60 s)
	  create-topic  create TOPIC with PARTITIONS partitions (Kafka's TopicCommand)
	  run-class     run a Kafka tool class; a literal @BOOTSTRAP@ in ARGS is replaced by
	                the bootstrap list
	EOF
}

die () {
	printf 'kafka-broker.sh: %s\n' "$*" >&2
	exit 1
}

here=$(cd "$(dirname "$0")" && pwd) || exit 1
top_builddir=${top_builddir:-$(cd "$here/../.." && pwd)}
lib=${PINGPONG_KAFKA_LIB:-$top_builddir/tests/kafka/lib}
python=${PYTHON3:-python3}
pom=$here/pom.xml

# Java 17 and Maven: only the Kafka tier needs them, so `make check` does not.
deps () {
	command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1 && return 0
	if test "$(id -u)" = 0; then
		sudo=
	elif command -v sudo >/dev/null 2>&1; then
		sudo=sudo
	else
		die "Java and Maven are missing; as root: apt-get install -y maven openjdk-17-jre-headless"
	fi
	echo "kafka-broker.sh: installing maven and openjdk-17-jre-headless" >&2
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		maven openjdk-17-jre-headless >&2 ||
		die "cannot install maven and openjdk-17-jre-headless"
	command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1 ||
		die "Java or Maven still missing after apt-get install"
}

# The stamp holds pom.xml's checksum: a changed pom assembles again.
assemble () {
	stamp=$lib/.assembled
	sum=$(cksum <"$pom") || die "cannot read '$pom'"
	if test -f "$stamp" && test "$(cat "$stamp")" = "$sum"; then
		return 0
	fi
	deps
	mkdir -p "$(dirname "$lib")" || die "cannot create '$(dirname "$lib")'"
	tmp=$(mktemp -d "$lib.tmp.XXXXXX") || die "cannot create a directory beside '$lib'"
	echo "kafka-broker.sh: assembling Apache Kafka with Maven into $lib" >&2
	if ! mvn -q -B -f "$pom" dependency:copy-dependencies -DincludeScope=runtime \
		-DoutputDirectory="$tmp" >"$tmp.log" 2>&1; then
		cat "$tmp.log" >&2
		rm -rf "$tmp" "$tmp.log"
		die "mvn dependency:copy-dependencies failed (is Maven Central reachable?)"
	fi
	rm -f "$tmp.log"
	ls "$tmp"/kafka_2.13-*.jar >/dev/null 2>&1 || die "no kafka_2.13 jar in what Maven copied"
	# The tools (StorageTool, TopicCommand, ...) log warnings and errors to stderr only.
	cat >"$tmp/tools-log4j2.properties" <<-EOF
	status = error
	appender.err.type = Console
	appender.err.name = STDERR
	appender.err.target = SYSTEM_ERR
	appender.err.layout.type = PatternLayout
	appender.err.layout.pattern = %p %m (%c)%n
	rootLogger.level = WARN
	rootLogger.appenderRef.err.ref = STDERR
	EOF
	echo "$sum" >"$tmp/.assembled"
	# Another assemble may have finished first: then keep its copy.
	if test -f "$stamp" && test "$(cat "$stamp")" = "$sum"; then
		rm -rf "$tmp"
		return 0
	fi
	rm -rf "$lib.old"
	if test -d "$lib"; then
		mv "$lib" "$lib.old" || die "cannot move '$lib' aside"
	fi
	mv "$tmp" "$lib" || die "cannot move '$tmp' to '$lib'"
	rm -rf "$lib.old"
}

# java_tool CLASS ARGS...: runs a Kafka class in a short-lived JVM.
java_tool () {
	test -f "$lib/.assembled" || die "Kafka is not assembled: run '$0 assemble' first"
	java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$lib/tools-log4j2.properties" -cp "$lib/*" "$@"
}

# free_ports N: prints N distinct ports that were free on 127.0.0.1 a moment ago. The
# kernel does not hand a port out again soon, and start retries if a bind fails anyway.
free_ports () {
	"$python" -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
' "$1"
}

# probe BOOTSTRAP PARTITIONS TOPIC...: see metadata-probe.py.
probe () {
	"$python" "$here/metadata-probe.py" "$@"
}

# pid_alive PID: PID runs (a zombie does not count).
pid_alive () {
	kill -0 "$1" 2>/dev/null || return 1
	case $(sed -n 's/.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null) in
	Z|X) return 1 ;;
	esac
	return 0
}

# bootstrap_of DIR|LIST: the bootstrap list of a broker directory, or LIST itself.
bootstrap_of () {
	if test -d "$1"; then
		test -s "$1/bootstrap.list" || die "no broker started in '$1'"
		cat "$1/bootstrap.list"
	else
		echo "$1"
	fi
}

# write_config DIR PORT CONTROLLER-PORT PARTITIONS
write_config () {
	cat >"$1/server.properties" <<-EOF
	process.roles=broker,controller
	node.id=1
	controller.quorum.voters=1@127.0.0.1:$3
	listeners=PLAINTEXT://127.0.0.1:$2,CONTROLLER://127.0.0.1:$3
	advertised.listeners=PLAINTEXT://127.0.0.1:$2
	controller.listener.names=CONTROLLER
	inter.broker.listener.name=PLAINTEXT
	listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
	log.dirs=$1/data
	# Tests: topics on first use, one replica of everything, no wait for a group's
	# first members, small segments so that retention can act on small logs.
	auto.create.topics.enable=true
	num.partitions=$4
	default.replication.factor=1
	min.insync.replicas=1
	offsets.topic.replication.factor=1
	offsets.topic.num.partitions=3
	transaction.state.log.replication.factor=1
	transaction.state.log.min.isr=1
	transaction.state.log.num.partitions=3
	share.coordinator.state.topic.replication.factor=1
	share.coordinator.state.topic.min.isr=1
	group.initial.rebalance.delay.ms=0
	log.segment.bytes=1048576
	log.retention.check.interval.ms=1000
	# A machine of 2 cores runs several of these at once.
	num.network.threads=2
	num.io.threads=2
	background.threads=2
	num.recovery.threads.per.data.dir=1
	log.cleaner.threads=1
	EOF
	cat >"$1/log4j2.properties" <<-EOF
	status = error
	appender.file.type = File
	appender.file.name = FILE
	appender.file.fileName = $1/server.log
	appender.file.layout.type = PatternLayout
	appender.file.layout.pattern = [%d] %p %m (%c)%n
	rootLogger.level = INFO
	rootLogger.appenderRef.file.ref = FILE
	logger.kafka.name = kafka
	logger.kafka.level = INFO
	logger.state.name = state.change.logger
	logger.state.level = WARN
	EOF
}

start () {
	test $# -ge 1 || { usage >&2; exit 64; }
	dir=$1
	shift
	partitions=3 topics= bootstrap_file= owner=
	while test $# -gt 0; do
		case $1 in
		--partitions) partitions=${2:?--partitions wants a number}; shift ;;
		--partitions=*) partitions=${1#*=} ;;
		-t|--topic) topics="$topics ${2:?--topic wants a name}"; shift ;;
		--topic=*) topics="$topics ${1#*=}" ;;
		--bootstrap-file) bootstrap_file=${2:?--bootstrap-file wants a path}; shift ;;
		--owner) owner=${2:?--owner wants a pid}; shift ;;
		-q|--quiet|-v|--verbose) ;;
		*) usage >&2; exit 64 ;;
		esac
		shift
	done
	case $partitions in
	''|0|*[!0-9]*) die "--partitions must be a positive number, not '$partitions'" ;;
	esac
	test -n "$topics" || topics=chat
	assemble
	if test -f "$dir/kafka.pid" && pid_alive "$(cat "$dir/kafka.pid")"; then
		die "a broker already runs in '$dir' (pid $(cat "$dir/kafka.pid"))"
	fi
	# A fresh start each time, but never over a directory that is not a broker's.
	if test -d "$dir" && test -n "$(ls -A "$dir")" && ! test -f "$dir/server.properties"; then
		die "'$dir' is not empty and holds no broker: not removing it"
	fi
	rm -rf "$dir"
	mkdir -p "$dir" || die "cannot create '$dir'"
	dir=$(cd "$dir" && pwd)
	test -n "$bootstrap_file" || bootstrap_file=$dir/bootstrap
	echo "$bootstrap_file" >"$dir/bootstrap-file"
	t0=$(date +%s%N)
	# What kafka-storage random-uuid prints (16 random bytes, URL-safe base64), without
	# a JVM of its own for it.
	cluster_id=$("$python" -c '
import base64, os
while True:
    u = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not u.startswith("-"):
        print(u)
        break
') || die "cannot make a cluster id"

	# A port taken between free_ports and the bind makes the broker exit at once:
	# then try other ports.
	for attempt in 1 2 3; do
		set -- $(free_ports 2)
		port=$1 cport=$2
		rm -rf "$dir/data" "$dir/server.log"
		write_config "$dir" "$port" "$cport" "$partitions"
		java_tool kafka.tools.StorageTool format --ignore-formatted \
			-t "$cluster_id" -c "$dir/server.properties" >"$dir/format.out" 2>&1 ||
			{ cat "$dir/format.out" >&2; die "kafka.tools.StorageTool format failed"; }
		# The broker gets none of our descriptors: fds 3-9 may be a test harness's pipes.
		java -Xmx"${PINGPONG_KAFKA_HEAP:-512m}" -Xms"${PINGPONG_KAFKA_HEAP:-512m}" \
			${PINGPONG_KAFKA_JVM_OPTS--XX:+UseSerialGC -XX:TieredStopAtLevel=1} \
			-XX:-UsePerfData -Djava.awt.headless=true \
			-Dlog4j2.configurationFile="$dir/log4j2.properties" \
			-cp "$lib/*" kafka.Kafka "$dir/server.properties" \
			</dev/null >"$dir/stdout" 2>"$dir/stderr" \
			3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
		pid=$!
		echo "$pid" >"$dir/kafka.pid"
		if test -n "$owner"; then
			# A watchdog: the broker must not outlive whoever started it, even one
			# killed with -9, nor a start that is interrupted.
			(
				trap '' HUP INT
				while pid_alive "$owner" && pid_alive "$pid"; do sleep 1; done
				pid_alive "$pid" && kill "$pid"
			) </dev/null >/dev/null 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
		fi
		echo "127.0.0.1:$port" >"$dir/bootstrap.list"
		# Wait for metadata: at most 60 s, every 0.2 s.
		deadline=$(($(date +%s) + 60))
		why=
		while pid_alive "$pid"; do
			why=$(probe "127.0.0.1:$port" "$partitions" $topics)
			case $? in
			0) break ;;
			2) kill "$pid"; die "$why" ;;
			esac
			if test "$(date +%s)" -gt "$deadline"; then
				kill -9 "$pid"
				tail -n 20 "$dir/server.log" >&2
				die "the broker did not answer metadata within 60 s: $why"
			fi
			sleep 0.2
		done
		pid_alive "$pid" && break
		wait "$pid"
		if grep -q "Address already in use" "$dir/server.log" "$dir/stdout" "$dir/stderr" 2>/dev/null &&
			test $attempt -lt 3; then
			continue
		fi
		tail -n 20 "$dir/server.log" "$dir/stderr" >&2 2>/dev/null
		die "the broker exited before it answered metadata (see $dir/server.log)"
	done
	printf '%s\n' "127.0.0.1:$port" >"$bootstrap_file.tmp" &&
		mv "$bootstrap_file.tmp" "$bootstrap_file" || die "cannot write '$bootstrap_file'"
	t1=$(date +%s%N)
	printf 'kafka-broker.sh: Kafka at 127.0.0.1:%s (pid %s), ready in %d ms\n' \
		"$port" "$pid" $(((t1 - t0) / 1000000)) >&2
	echo "127.0.0.1:$port"
}

stop () {
	test $# = 1 || { usage >&2; exit 64; }
	dir=$1
	test -f "$dir/kafka.pid" || die "no broker pid in '$dir'"
	pid=$(cat "$dir/kafka.pid")
	if pid_alive "$pid"; then
		kill "$pid"
		deadline=$(($(date +%s) + 60))
		while pid_alive "$pid"; do
			if test "$(date +%s)" -gt "$deadline"; then
				echo "kafka-broker.sh: pid $pid still running after 60 s; killing it" >&2
				kill -9 "$pid"
				break
			fi
			sleep 0.1
		done
	fi
	rm -f "$dir/kafka.pid"
	test -f "$dir/bootstrap-file" && rm -f "$(cat "$dir/bootstrap-file")"
	return 0
}

create_topic () {
	test $# -ge 3 || { usage >&2; exit 64; }
	bs=$(bootstrap_of "$1") || exit 1
	topic=$2 n=$3
	shift 3
	set -- --bootstrap-server "$bs" --create --if-not-exists --topic "$topic" \
		--partitions "$n" --replication-factor 1 $(for c in "$@"; do printf ' --config %s' "$c"; done)
	java_tool org.apache.kafka.tools.TopicCommand "$@"
}

run_class () {
	test $# -ge 2 || { usage >&2; exit 64; }
	bs=$(bootstrap_of "$1") || exit 1
	class=$2
	shift 2
	for a in "$@"; do
		shift
		case $a in @BOOTSTRAP@) a=$bs ;; esac
		set -- "$@" "$a"
	done
	java_tool "$class" "$@"
}

test $# -ge 1 || { usage >&2; exit 64; }
cmd=$1
shift
case $cmd in
deps) deps ;;
assemble) assemble ;;
start) start "$@" ;;
stop) stop "$@" ;;
create-topic) create_topic "$@" ;;
run-class) run_class "$@" ;;
-h|--help) usage ;;
*) usage >&2; exit 64 ;;
esac
