#!/bin/sh
test_description='command line: help, version, usage errors and their exit codes'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

# No broker: every test here fails before pingpong connects anywhere. test-lib.sh has
# unset PINGPONG_BROKERS.

# Loops over commands run in a subshell and leave it with `exit 1` at the first failure:
# a `return` in a body would leave test-lib.sh's body runner before it records the
# status.

# The commands pingpong must have; demo is checked only if it exists.
commands='broker produce tail active messages notify query store'
# The commands that are Kafka clients, and so take -b and -X.
kafka_commands='produce tail active messages notify demo'

# The command names that `pingpong --help` lists: the indented lines of its
# "Commands:" section, which ends at the first empty line.
help_commands () {
	awk '/^Commands:$/ { on = 1; next } on && /^$/ { exit } on { print $1 }' "$1"
}

test_expect_success '--help lists every command, and exits 0' '
	pp --help >out 2>err &&
	test_line_count = 0 err &&
	grep "^usage: pingpong " out &&
	help_commands out >listed &&
	(for c in $commands; do
		grep -qx "$c" listed || { echo "--help does not list $c"; exit 1; }
	done)
'

test_expect_success 'CMD --help prints its usage to stdout and exits 0, for every command' '
	(for c in $commands; do
		pp $c --help >out 2>err &&
		test_line_count = 0 err &&
		grep -q "^usage: pingpong $c\( \|$\)" out ||
		{ echo "pingpong $c --help:"; cat out err; exit 1; }
	done)
'

test_expect_success 'every command --help lists works, demo included if it exists' '
	pp --help >out &&
	help_commands out >listed &&
	test_line_count -ge 8 listed &&
	(while read c; do
		pp $c --help >cmd.out 2>cmd.err &&
		grep -q "^usage: pingpong $c\( \|$\)" cmd.out ||
		{ echo "listed command $c has no working --help:"; cat cmd.out cmd.err; exit 1; }
	done <listed) &&
	if pp demo --help >demo.out 2>demo.err; then
		grep "^usage: pingpong demo" demo.out &&
		grep -x demo listed
	else
		# Not written yet: then it must be unknown, and not listed.
		grep "is not a pingpong command" demo.err &&
		! grep -x demo listed
	fi
'

test_expect_success '--version prints "pingpong VERSION"' '
	pp --version >out &&
	grep -E "^pingpong [0-9]+(\.[0-9]+)+[^ ]*$" out &&
	test_line_count = 1 out
'

test_expect_success '--version matches the version configure knows' '
	version=$(sed -n "s/^#define PACKAGE_VERSION \"\(.*\)\"$/\1/p" "$top_builddir/config.h") &&
	test -n "$version" &&
	echo "pingpong $version" >expect &&
	pp --version >actual &&
	test_cmp expect actual
'

test_expect_success '--version and -V work after any command' '
	pp --version >expect &&
	(for c in $commands demo; do
		pp $c --version >actual 2>err &&
		test_cmp expect actual &&
		test_line_count = 0 err &&
		pp $c --store x -V >actual.V &&
		head -n 1 actual.V >first &&
		test_cmp expect first ||
		{ echo "pingpong $c --version / -V:"; cat actual actual.V err; exit 1; }
	done)
'

test_expect_success '-V also names the librdkafka, LMDB, msgpack-c and jansson it runs with' '
	pp -V >out &&
	grep -E "^pingpong [0-9]" out &&
	grep -E "^librdkafka [0-9]+\.[0-9]+" out &&
	grep -E "^LMDB [0-9]+\.[0-9]+" out &&
	grep -E "^msgpack-c [0-9]+\.[0-9]+" out &&
	grep -E "^jansson [0-9]+\.[0-9]+" out &&
	pp active -V >active.out &&
	test_cmp out active.out
'

test_expect_success 'help COMMAND prints its usage; help for no such command exits 64' '
	pp help active >out &&
	pp active --help >expect &&
	test_cmp expect out &&
	test_expect_code 64 pp help nosuch >out 2>err &&
	test_line_count = 0 out &&
	grep "'"'"'nosuch'"'"' is not a pingpong command" err &&
	test_expect_code 64 pp help active store 2>err &&
	grep "^usage: pingpong " err
'

test_expect_success '--help is honoured before option values are checked' '
	pp active --batch x --help >out 2>err &&
	test_line_count = 0 err &&
	grep "^usage: pingpong active" out &&
	pp produce --rate abc --no-such-option -h >out 2>err &&
	test_line_count = 0 err &&
	grep "^usage: pingpong produce" out &&
	# A value that reads --help is a value.
	test_expect_code 64 pp active -t --help --store x --batch 0 2>err &&
	grep -e "--batch takes" err
'

test_expect_success 'no command: usage on stderr, exit 64' '
	test_expect_code 64 pp >out 2>err &&
	test_line_count = 0 out &&
	grep "^usage: pingpong " err
'

test_expect_success 'an unknown command exits 64 and says so' '
	test_expect_code 64 pp frobnicate >out 2>err &&
	test_line_count = 0 out &&
	grep "'"'"'frobnicate'"'"' is not a pingpong command" err &&
	grep "^usage: pingpong " err
'

test_expect_success 'an unknown option exits 64 and prints the usage, for every command' '
	(for c in $commands; do
		test_expect_code 64 pp $c --no-such-option >out 2>err &&
		test_line_count = 0 out &&
		grep -q "^usage: pingpong $c" err ||
		{ echo "pingpong $c --no-such-option:"; cat out err; exit 1; }
	done)
'

test_expect_success 'an unknown option is one line of error, then the usage' '
	(for c in $commands demo; do
		test_expect_code 64 pp $c --no-such-option 2>err &&
		echo "pingpong $c: unknown option '"'"'--no-such-option'"'"'" >expect &&
		echo >>expect &&
		pp $c --help >>expect &&
		test_cmp expect err || exit 1
	done) &&
	test_expect_code 64 pp tail -Z 2>err &&
	head -n 2 err >actual &&
	printf "pingpong tail: unknown option '"'"'-Z'"'"'\n\n" >expect &&
	test_cmp expect actual
'

test_expect_success 'a bad value is one line that says what the option takes' '
	test_expect_code 64 pp active --store x --batch x 2>err &&
	head -n 2 err >actual &&
	printf "pingpong active: --batch takes a number in [1, 1000000], not '"'"'x'"'"'\n\n" >expect &&
	test_cmp expect actual &&
	test_expect_code 64 pp active --store x --batch 2>err &&
	grep "^pingpong active: --batch needs a value$" err &&
	test_expect_code 64 pp active --store x --json=1 2>err &&
	grep "^pingpong active: --json takes no value$" err &&
	test_expect_code 64 pp active --store x --af y 2>err &&
	grep "^pingpong active: ambiguous option .--af. (--after, --after-store, --after-poll)$" err &&
	test_expect_code 64 pp query --store x active --at yesterday 2>err &&
	grep "^pingpong query: --at takes milliseconds since the epoch or an ISO 8601 time" err &&
	test_expect_code 64 pp produce -t "" 2>err &&
	grep "^pingpong produce: --topic takes a topic name, not '"'"''"'"'$" err
'

# refused CMD...: CMD exits 64 with one line naming the option it refuses. Each command
# line below ends in a bad value, so that a command that took the option would stop too,
# with another message, instead of running.
refused () {
	test_expect_code 64 pp "$@" >out 2>err &&
	test_line_count = 0 out &&
	head -n 1 err >first &&
	grep -e "unknown option\|goes only with" first &&
	grep "^usage: pingpong $1" err
}

test_expect_success 'a command refuses an option it would ignore' '
	refused broker --json --nodes 0 &&
	refused broker -b 127.0.0.1:1 --nodes 0 &&
	refused broker -X a=b --nodes 0 &&
	refused produce -b 127.0.0.1:1 --json --count 0 &&
	refused tail -b 127.0.0.1:1 --json --count 0 &&
	refused demo --json --users 0 &&
	refused store check --store x --json &&
	refused store stat --store x --at 1 &&
	refused store check --store x -b 127.0.0.1:1 &&
	refused store check --store x -X a=b &&
	refused store check --store x -t chat &&
	refused query --store x users -b 127.0.0.1:1 &&
	refused query --store x users -X a=b &&
	refused query --store x users --at 1 &&
	refused query --store x users --recipient bob &&
	refused query --store x outbox --window 1s
'

test_expect_success 'an unknown option after a subcommand exits 64 too' '
	test_expect_code 64 pp store check --store x --no-such-option 2>err &&
	grep "^usage: pingpong store" err &&
	test_expect_code 64 pp query --store x active --no-such-option 2>err &&
	grep "^usage: pingpong query" err
'

# expect_usage_error PATTERN CMD...: CMD exits 64, prints nothing on stdout, and its
# stderr matches PATTERN and holds the command's usage.
expect_usage_error () {
	_pat=$1
	shift
	test_expect_code 64 pp "$@" >out 2>err &&
	test_line_count = 0 out &&
	grep -e "$_pat" err &&
	grep "^usage: pingpong $1" err
}

test_expect_success 'produce --rate abc' '
	expect_usage_error "--rate .*abc" produce -b 127.0.0.1:1 --rate abc
'

test_expect_success 'produce --duration without a unit' '
	expect_usage_error "--duration .*30" produce -b 127.0.0.1:1 --duration 30
'

test_expect_success 'produce --key bogus' '
	expect_usage_error "--key .*bogus" produce -b 127.0.0.1:1 --key bogus &&
	expect_usage_error "--key .*fixed:" produce -b 127.0.0.1:1 --key fixed:
'

test_expect_success 'active --window 5x' '
	expect_usage_error "--window .*5x" active --store x --window 5x
'

test_expect_success 'a duration that is not a finite number is refused (NaN, infinity)' '
	expect_usage_error "--max-skew .*nanms" active --store x --max-skew nanms &&
	expect_usage_error "--every .*NaNms" active --store x --every NaNms &&
	expect_usage_error "--window .*nan(123)s" active --store x --window "nan(123)s" &&
	expect_usage_error "--linger .*infs" messages --linger infs &&
	expect_usage_error "--duration .*infinityh" produce -b 127.0.0.1:1 --duration infinityh
'

test_expect_success 'compound durations and days are accepted; garbage after them is not' '
	expect_usage_error "--retain must be at least the window" \
		active --store x --window 1d1s --every 1h2m3s500ms --retain 1d &&
	expect_usage_error "--retain must be at least the window" \
		active --store x --window 1m30s --retain 89999ms &&
	test_expect_code 64 pp active --store x --window 1m30s --retain 1m30s 2>err &&
	grep "no brokers" err &&
	expect_usage_error "--window .*1m30" active --store x --window 1m30 &&
	expect_usage_error "--window .*30s1m" active --store x --window 30s1m
'

test_expect_success 'active --start middle' '
	expect_usage_error "--start .*middle" active --store x --start middle
'

test_expect_success 'active --on-gap maybe' '
	expect_usage_error "--on-gap .*maybe" active --store x --on-gap maybe
'

test_expect_success 'tail --count 0' '
	expect_usage_error "--count .*0" tail -b 127.0.0.1:1 --count 0
'

test_expect_success 'broker --partitions 0' '
	expect_usage_error "--partitions .*0" broker --partitions 0 &&
	test_path_is_missing broker.bootstrap
'

test_expect_success '-X without = exits 64, for every command that takes -X' '
	(for c in $kafka_commands; do
		test_expect_code 64 pp $c -X novalue >out 2>err &&
		test_line_count = 0 out &&
		grep -q "KEY=VALUE.*novalue" err ||
		{ echo "pingpong $c -X novalue:"; cat out err; exit 1; }
	done)
'

# A -X value may be a password: an error names the key, and never shows the value.
test_expect_success 'a refused -X value is not echoed, only its key, for every command' '
	long_key=$(printf "k%.0s" $(seq 300)) &&
	(for c in produce tail messages; do
		for x in session.timeout.ms=Hunter2secret compression.type=Hunter2secret \
			statistics.interval.ms=-777777 =Hunter2secret "$long_key=Hunter2secret"; do
			test_expect_code 64 pp $c -b 127.0.0.1:1 -X "$x" >out 2>err &&
			test_line_count = 0 out &&
			test -s err &&
			! grep -e Hunter2secret -e 777777 err ||
			{ echo "pingpong $c -X $x:"; cat err; exit 1; }
		done
	done) &&
	pp tail -b 127.0.0.1:1 -X compression.type=Hunter2secret 2>err;
	grep "^pingpong tail: error: -X compression.type: Invalid value \"...\"" err
'

test_expect_success 'produce without brokers points at pingpong broker, exit 64' '
	test -z "$PINGPONG_BROKERS" &&
	test_expect_code 64 pp produce --count 1 >out 2>err &&
	test_line_count = 0 out &&
	grep "pingpong broker" err
'

test_expect_success 'an empty PINGPONG_BROKERS counts as none' '
	test_expect_code 64 env PINGPONG_BROKERS= "$PP" tail --count 1 2>err &&
	grep "pingpong broker" err
'

test_expect_success 'active without --store exits 64' '
	test_expect_code 64 pp active -b 127.0.0.1:1 >out 2>err &&
	test_line_count = 0 out &&
	grep -e "--store" err &&
	grep "^usage: pingpong active" err
'

test_expect_success 'an unknown librdkafka property: librdkafka'"'"'s message, non-zero exit' '
	(for c in produce tail; do
		test_must_fail pp $c -b 127.0.0.1:1 -X no.such.property=1 >out 2>err &&
		test_line_count = 0 out &&
		grep -q "No such configuration property.*no.such.property" err ||
		{ echo "pingpong $c -X no.such.property=1:"; cat out err; exit 1; }
	done)
'

test_done
