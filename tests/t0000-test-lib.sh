#!/bin/sh
test_description='the test library itself: assertions, waiting, background processes'
# By hand, from the source tree, top_srcdir may be unset.
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

# Sub-scripts run under the shell that runs this one, so that `dash t0000` and
# `bash t0000` each test the library under their own shell.
TEST_SHELL=$(readlink "/proc/$$/exe" 2>/dev/null) || TEST_SHELL='sh'

# write_sub NAME <SCRIPT: writes a test script sub-NAME/tests/NAME.sh that sources the
# library, then runs SCRIPT. It gets its own build dir, sub-NAME, so its trash
# directory is sub-NAME/tests/trash.NAME and its $PP is sub-NAME/src/pingpong.
write_sub () {
	mkdir -p "sub-$1/tests" &&
	{
		printf '#!/bin/sh\n'
		printf "test_description='sub-test %s'\n" "$1"
		printf '. "$top_srcdir/tests/test-lib.sh"\n'
		printf '. "$top_srcdir/tests/lib-broker.sh"\n'
		cat
	} >"sub-$1/tests/$1.sh"
}

# run_sub NAME: runs sub-script NAME, stdout to NAME.out and stderr to NAME.err, with
# the mock broker whatever broker this script itself runs with.
run_sub () {
	TEST_VERBOSE='' TEST_IMMEDIATE='' TEST_TRACE='' TEST_KEEP_TRASH='' \
	PINGPONG_TEST_BROKER=mock \
	top_builddir="$TRASH/sub-$1" "$TEST_SHELL" "$TRASH/sub-$1/tests/$1.sh" \
		>"$1.out" 2>"$1.err"
}

# write_fake_pingpong NAME: a stand-in for pingpong in sub-NAME. Its `broker` writes
# its arguments to broker.args and, like the real one, its bootstrap list atomically to
# --bootstrap-file, though only after half a second, so that a start_broker that does
# not wait for the file fails; then it waits for TERM, removes the file and exits 0.
# With FAKE_BROKER_FAIL set it prints an error and exits 69 instead. Its `brokers`
# prints $PINGPONG_BROKERS.
write_fake_pingpong () {
	mkdir -p "sub-$1/src" &&
	cat >"sub-$1/src/pingpong" <<-\EOF &&
	#!/bin/sh
	if test "$1" = brokers; then
		echo "$PINGPONG_BROKERS"
		exit 0
	fi
	test "$1" = broker || exit 64
	shift
	printf '%s\n' "$@" >broker.args
	file=
	while test $# -gt 0; do
		case $1 in --bootstrap-file) file=$2; shift ;; esac
		shift
	done
	if test -n "$FAKE_BROKER_FAIL"; then
		echo "fake broker: cannot listen: boom" >&2
		exit 69
	fi
	trap 'rm -f "$file"; exit 0' TERM
	echo 127.0.0.1:9092 && sleep 0.5 &&
		echo 127.0.0.1:9092 >"$file.tmp" && mv "$file.tmp" "$file"
	while :; do sleep 1 & wait $!; done
	EOF
	chmod +x "sub-$1/src/pingpong"
}

# write_fake_store_check NAME: a stand-in for pingpong in sub-NAME whose `store check
# --store DIR -q` logs DIR to checked.log (in the sub-script's trash directory) and fails
# with two problems if DIR holds a file named BROKEN. Anything else is a usage error.
write_fake_store_check () {
	mkdir -p "sub-$1/src" &&
	cat >"sub-$1/src/pingpong" <<-\EOF &&
	#!/bin/sh
	test "$1 $2 $3 $5" = "store check --store -q" && test $# = 5 || exit 64
	echo "$4" >>"$TRASH/checked.log"
	if test -f "$4/BROKEN"; then
		echo "by_time: entry at 1 for unknown user 'x'"
		echo "store check: 2 problem(s)"
		exit 1
	fi
	exit 0
	EOF
	chmod +x "sub-$1/src/pingpong"
}

test_expect_success 'test_must_fail accepts a command that fails' '
	test_must_fail false &&
	test_must_fail sh -c "exit 1" &&
	test_must_fail sh -c "exit 64"
'

test_expect_success 'test_must_fail rejects a command that succeeds' '
	! test_must_fail true 2>err &&
	grep "^test_must_fail: command succeeded: true$" err
'

test_expect_success 'test_must_fail rejects death by a signal' '
	! test_must_fail sh -c "kill -9 \$\$" 2>err &&
	grep "died by signal 9" err &&
	! test_must_fail sh -c "kill -TERM \$\$" 2>err &&
	grep "died by signal 15" err
'

test_expect_success 'test_must_fail rejects a command that is not found' '
	! test_must_fail pp-no-such-command 2>err &&
	grep "command not found: pp-no-such-command" err
'

test_expect_success 'test_expect_code checks the exact status' '
	test_expect_code 0 true &&
	test_expect_code 3 sh -c "exit 3" &&
	! test_expect_code 2 sh -c "exit 3" 2>err &&
	grep "exited with 3, we wanted 2" err
'

test_expect_success 'test_cmp passes on equal files, shows the diff otherwise' '
	printf "a\nb\n" >expect &&
	printf "a\nb\n" >same &&
	printf "a\nc\n" >actual &&
	test_cmp expect same &&
	! test_cmp expect actual >diff &&
	grep "^-b$" diff &&
	grep "^+c$" diff
'

test_expect_success 'test_line_count and test_path_is_*' '
	printf "1\n2\n3\n" >three &&
	test_line_count = 3 three &&
	test_line_count -ge 2 three &&
	test_line_count -le 3 three &&
	test_line_count -gt 2 three &&
	test_line_count -lt 4 three &&
	! test_line_count = 2 three 2>err &&
	grep "has 3 lines, not = 2" err &&
	test_path_is_file three &&
	! test_path_is_file nothing 2>/dev/null &&
	test_path_is_dir . &&
	test_path_is_missing nothing &&
	! test_path_is_missing three 2>/dev/null
'

test_expect_success 'a variable set in one test' '
	carried=42
'

test_expect_success 'is seen by the next' '
	test "$carried" = 42
'

test_expect_success 'test_when_finished queues commands' '
	test_when_finished "rm marker && echo first >>order" &&
	test_when_finished "echo second >>order" &&
	touch marker &&
	test_path_is_missing order
'

test_expect_success 'they ran after the body, the last queued first' '
	test_path_is_missing marker &&
	printf "second\nfirst\n" >expect &&
	test_cmp expect order
'

test_expect_success 'each test starts in the trash directory' '
	mkdir -p elsewhere &&
	cd elsewhere
'

test_expect_success 'and not where the last one left' '
	test "$(pwd)" = "$TRASH"
'

test_expect_success 'wait_for returns once the condition holds' '
	test_bg maker sh -c "sleep 0.2; touch ready" &&
	wait_for 5 "test -f ready" &&
	test_wait maker 5
'

test_expect_success 'wait_for times out on a condition that never holds' '
	! wait_for 1 false 2>err &&
	grep "^wait_for: timed out after 1s: false$" err
'

test_expect_success 'test_bg captures output, test_wait returns the exit status' '
	test_bg ex sh -c "echo out; echo err >&2; exit 5" &&
	test_expect_code 5 test_wait ex 5 &&
	echo out >expect &&
	test_cmp expect ex.out &&
	echo err >expect &&
	test_cmp expect ex.err &&
	! test_pid ex 2>/dev/null
'

test_expect_success 'test_kill signals, reaps and returns the exit status' '
	test_bg sleeper sleep 100 &&
	pid=$(test_pid sleeper) &&
	test_bg_running sleeper &&
	test_expect_code 143 test_kill sleeper &&
	! kill -0 "$pid" 2>/dev/null &&
	test_bg sleeper sleep 100 &&
	test_expect_code 137 test_kill sleeper 9 &&
	test_bg sleeper sleep 100 &&
	test_expect_code 137 test_kill sleeper SIGKILL
'

test_expect_success 'test_wait kills a process that does not exit in time' '
	test_bg stuck sleep 100 &&
	pid=$(test_pid stuck) &&
	test_expect_code 124 test_wait stuck 1 2>err &&
	grep "still running after 1s; killed it" err &&
	! kill -0 "$pid" 2>/dev/null
'

test_expect_success 'test_bg_running is false once the process exited' '
	test_bg quick true &&
	wait_for 5 "! test_bg_running quick" &&
	test_wait quick 5
'

test_expect_success 'all passing: exit 0, summary and plan, trash removed' '
	write_sub pass <<-\EOF &&
	test_expect_success "first" "true"
	test_expect_success "second" "echo hidden output"
	test_done
	EOF
	run_sub pass &&
	cat >expect <<-\EOF &&
	ok 1 - first
	ok 2 - second
	# passed 2 of 2
	1..2
	EOF
	test_cmp expect pass.out &&
	test_path_is_missing sub-pass/tests/trash.pass
'

test_expect_success 'a failing test: not ok, its body and output, exit 1, trash kept' '
	write_sub fail <<-\EOF &&
	test_expect_success "passes" "true"
	test_expect_success "fails" "
		test_when_finished \"touch cleaned\" &&
		echo some output &&
		false
	"
	test_bg sleeper sleep 100
	test_pid sleeper >../../sleeper.pid
	test_expect_success "passes again" "true"
	test_done
	EOF
	test_expect_code 1 run_sub fail &&
	grep "^ok 1 - passes$" fail.out &&
	grep "^not ok 2 - fails$" fail.out &&
	grep "^# echo some output &&$" fail.out &&
	grep "^# some output$" fail.out &&
	grep "^ok 3 - passes again$" fail.out &&
	grep "^# failed 1 among 3$" fail.out &&
	grep "^1\.\.3$" fail.out &&
	grep "^# trash directory kept: .*/sub-fail/tests/trash.fail$" fail.out &&
	test_path_is_file sub-fail/tests/trash.fail/cleaned &&
	read pid <sub-fail/sleeper.pid &&
	wait_for 5 "! kill -0 $pid 2>/dev/null"
'

test_expect_success 'a body that exits the script is a failure' '
	write_sub exits <<-\EOF &&
	test_expect_success "exits" "echo bye; exit 0"
	test_done
	EOF
	test_expect_code 1 run_sub exits &&
	grep "^not ok 1 - exits$" exits.out &&
	grep "^# FATAL: the test body exited the script with status 0$" exits.out &&
	grep "^# bye$" exits.out &&
	test_path_is_dir sub-exits/tests/trash.exits
'

test_expect_success 'test_skip_all prints a skip plan and exits 77' '
	write_sub skip <<-\EOF &&
	test_skip_all "no frobnicator"
	EOF
	test_expect_code 77 run_sub skip &&
	echo "1..0 # SKIP no frobnicator" >expect &&
	test_cmp expect skip.out &&
	test_path_is_missing sub-skip/tests/trash.skip
'

test_expect_success 'test_skip_all exits 0 into a pipe, as automake'"'"'s TAP driver wants' '
	{
		top_builddir="$TRASH/sub-skip" "$TEST_SHELL" sub-skip/tests/skip.sh
		echo $? >status
	} | cat >skip.out &&
	echo 0 >expect &&
	test_cmp expect status &&
	echo "1..0 # SKIP no frobnicator" >expect &&
	test_cmp expect skip.out
'

test_expect_success 'a test whose prerequisite is missing is skipped, its body not run' '
	write_sub prereq <<-\EOF &&
	test_set_prereq HAVE
	test_set_prereq ALSO
	test_expect_success HAVE "needs HAVE" "echo have >>../../ran"
	test_expect_success MISSING "needs MISSING" "echo missing >>../../ran"
	test_expect_success !MISSING "needs no MISSING" "echo not-missing >>../../ran"
	test_expect_success HAVE,ALSO "needs HAVE and ALSO" "echo both >>../../ran"
	test_expect_success HAVE,!ALSO,MISSING "needs HAVE, no ALSO, MISSING" "echo none >>../../ran"
	test_expect_success "no prerequisite" "test_have_prereq HAVE && ! test_have_prereq MISSING"
	test_done
	EOF
	run_sub prereq &&
	cat >expect <<-\EOF &&
	ok 1 - needs HAVE
	ok 2 # skip needs MISSING (missing MISSING)
	ok 3 - needs no MISSING
	ok 4 - needs HAVE and ALSO
	ok 5 # skip needs HAVE, no ALSO, MISSING (missing !ALSO,MISSING)
	ok 6 - no prerequisite
	# passed 4 of 6, 2 skipped
	1..6
	EOF
	test_cmp expect prereq.out &&
	printf "have\nnot-missing\nboth\n" >expect &&
	test_cmp expect sub-prereq/ran &&
	test_path_is_missing sub-prereq/tests/trash.prereq
'

test_expect_success 'a bad prerequisite name is a bug in the script' '
	write_sub badprereq <<-\EOF &&
	test_set_prereq "NO SPACES"
	test_done
	EOF
	test_expect_code 1 run_sub badprereq &&
	grep "bad prerequisite name" badprereq.err
'

test_expect_success 'lib-broker.sh declares MOCK or KAFKA from PINGPONG_TEST_BROKER, and refuses others' '
	write_sub kind <<-\EOF &&
	test_expect_success "kind" "
		if test_have_prereq MOCK; then echo is-mock; fi &&
		if test_have_prereq KAFKA; then echo is-kafka; fi
	"
	test_done
	EOF
	run_kind () {
		env "$@" TEST_VERBOSE=1 top_builddir="$TRASH/sub-kind" \
			"$TEST_SHELL" sub-kind/tests/kind.sh
	} &&
	run_kind -u PINGPONG_TEST_BROKER >unset.out &&
	grep "^is-mock$" unset.out && ! grep "^is-kafka$" unset.out &&
	run_kind PINGPONG_TEST_BROKER=mock >mock.out &&
	grep "^is-mock$" mock.out && ! grep "^is-kafka$" mock.out &&
	run_kind PINGPONG_TEST_BROKER=kafka >kafka.out &&
	grep "^is-kafka$" kafka.out && ! grep "^is-mock$" kafka.out &&
	test_expect_code 1 run_kind PINGPONG_TEST_BROKER=zookeeper >bad.out &&
	grep "^Bail out! .*PINGPONG_TEST_BROKER.*zookeeper" bad.out
'

test_expect_success 'TEST_VERBOSE shows the output of bodies' '
	write_sub verbose <<-\EOF &&
	test_expect_success "talks" "echo visible output"
	test_done
	EOF
	run_sub verbose &&
	! grep "visible output" verbose.out &&
	TEST_VERBOSE=1 top_builddir="$TRASH/sub-verbose" \
		"$TEST_SHELL" sub-verbose/tests/verbose.sh >verbose.out &&
	grep "^visible output$" verbose.out
'

test_expect_success 'a script killed with TERM kills its background processes' '
	write_sub term <<-\EOF &&
	test_bg sleeper sleep 100
	test_pid sleeper >../../sleeper.pid
	test_expect_success "blocks" "wait_for 60 false"
	test_done
	EOF
	test_bg term env top_builddir="$TRASH/sub-term" "$TEST_SHELL" sub-term/tests/term.sh &&
	wait_for 10 "test -s sub-term/sleeper.pid" &&
	read pid <sub-term/sleeper.pid &&
	test_expect_code 143 test_kill term &&
	wait_for 5 "! kill -0 $pid 2>/dev/null" &&
	grep "trash directory kept" term.out
'

test_expect_success 'test_done runs store check on every store left in the trash' '
	write_fake_store_check stores &&
	write_sub stores <<-\EOF &&
	mkdir -p st "nested/deep/it'"'"'s st" empty &&
	touch st/data.mdb "nested/deep/it'"'"'s st/data.mdb" nested/data.mdb.bak
	test_expect_success "passes" "true"
	test_done
	EOF
	run_sub stores &&
	cat >expect <<-\EOF &&
	ok 1 - passes
	ok 2 - store check of '"'"'nested/deep/it'"'"'s st'"'"'
	ok 3 - store check of '"'"'st'"'"'
	# passed 3 of 3
	1..3
	EOF
	test_cmp expect stores.out &&
	test_path_is_missing sub-stores/tests/trash.stores
'

test_expect_success 'a store that fails its check fails the script, naming the store' '
	test_when_finished "rm -rf sub-broken" &&
	write_fake_store_check broken &&
	write_sub broken <<-\EOF &&
	mkdir -p good bad &&
	touch good/data.mdb bad/data.mdb bad/BROKEN
	test_expect_success "passes" "true"
	test_done
	EOF
	test_expect_code 1 run_sub broken &&
	grep "^ok 1 - passes$" broken.out &&
	grep "^not ok 2 - store check of '"'"'bad'"'"'$" broken.out &&
	grep "^# by_time: entry at 1 for unknown user '"'"'x'"'"'$" broken.out &&
	grep "^# store check: 2 problem(s)$" broken.out &&
	grep "^ok 3 - store check of '"'"'good'"'"'$" broken.out &&
	grep "^# failed 1 among 3$" broken.out &&
	grep "^# trash directory kept: .*/sub-broken/tests/trash.broken$" broken.out &&
	printf "%s\n" bad good >expect &&
	test_cmp expect sub-broken/tests/trash.broken/checked.log
'

test_expect_success 'test_store_check_skip exempts a store broken on purpose' '
	write_fake_store_check skip-store &&
	write_sub skip-store <<-\EOF &&
	test_expect_success "breaks a store on purpose" "
		mkdir -p st &&
		test_store_check_skip st &&
		touch st/data.mdb st/BROKEN &&
		cd st &&
		test_store_check_skip ../later
	"
	mkdir -p later && touch later/data.mdb later/BROKEN
	test_done
	EOF
	run_sub skip-store &&
	cat >expect <<-\EOF &&
	ok 1 - breaks a store on purpose
	# store check skipped: '"'"'later'"'"' (test_store_check_skip)
	# store check skipped: '"'"'st'"'"' (test_store_check_skip)
	# passed 1 of 1
	1..1
	EOF
	test_cmp expect skip-store.out
'

test_expect_success 'start_broker waits for the bootstrap file, stop_broker stops it' '
	write_fake_pingpong broker &&
	write_sub broker <<-\EOF &&
	start_broker --partitions 3 --topic chat
	test_expect_success "brokers exported" "
		echo 127.0.0.1:9092 >expect &&
		pp brokers >actual &&
		test_cmp expect actual &&
		test_bg_running broker &&
		printf \"%s\n\" --partitions 3 --topic chat >expect &&
		tail -n 4 broker.args >actual &&
		test_cmp expect actual
	"
	test_expect_success "stop_broker" "
		stop_broker &&
		test_path_is_missing broker.bootstrap
	"
	test_expect_success "test_bg runs pp as \$PP itself, so test_kill reaches it" "
		test_bg other pp broker --bootstrap-file other.bootstrap &&
		wait_for 10 \"test -s other.bootstrap\" &&
		test_kill other &&
		test_path_is_missing other.bootstrap
	"
	test_done
	EOF
	run_sub broker &&
	grep "^ok 1 - brokers exported$" broker.out &&
	grep "^ok 2 - stop_broker$" broker.out &&
	grep "^ok 3 - test_bg runs pp as \$PP itself" broker.out
'

test_expect_success 'start_broker bails out, with its stderr, if the broker dies' '
	write_fake_pingpong brokerfail &&
	write_sub brokerfail <<-\EOF &&
	start_broker
	test_expect_success "never runs" "true"
	test_done
	EOF
	FAKE_BROKER_FAIL=1 &&
	export FAKE_BROKER_FAIL &&
	test_when_finished "unset FAKE_BROKER_FAIL" &&
	test_expect_code 1 run_sub brokerfail &&
	grep "^Bail out! start_broker: broker exited with status 69 before it listened$" brokerfail.out &&
	grep "boom" brokerfail.err &&
	! grep "never runs" brokerfail.out
'

test_expect_success 'start_broker bails out if pingpong is not built' '
	write_sub nobinary <<-\EOF &&
	start_broker
	test_done
	EOF
	test_expect_code 1 run_sub nobinary &&
	grep "^Bail out! start_broker: pingpong binary .* is not built$" nobinary.out
'

test_done
