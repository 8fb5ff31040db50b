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

test_expect_success '-X without = exits 64, for every command' '
	(for c in $commands; do
		test_expect_code 64 pp $c -X novalue >out 2>err &&
		test_line_count = 0 out &&
		grep -q "KEY=VALUE.*novalue" err ||
		{ echo "pingpong $c -X novalue:"; cat out err; exit 1; }
	done)
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
