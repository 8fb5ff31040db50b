# test-lib.sh: a small git-style TAP library for pingpong's shell tests.
#
# A test script sets test_description, sources this file, runs test_expect_success once
# per test and ends with test_done. It runs under any POSIX sh (dash, bash).
#
# Each script gets its own trash directory, $top_builddir/tests/trash.<script>, made
# afresh and used as the working directory. It is removed when every test passed, and
# kept (and its path printed) when one failed, when the script died, or when
# TEST_KEEP_TRASH is set.
#
# Test bodies are eval'd in this shell, not in a subshell, as git does: a variable set by
# one test is seen by the next. The working directory is reset to the trash directory
# before each test. A body's stdout and stderr go to $TRASH/.test-lib/<N>.out; a failing
# test prints its body and the end of that file as TAP comments.
#
# Invariants:
# - TAP lines go to fd 7, a copy of the script's stdout taken at start-up, so they never
#   land in a body's captured output (bash keeps a function's redirections while an
#   EXIT trap runs). fd 8 is the original stderr.
# - test_bg closes fds 7 and 8 in the child, so a background process cannot hold the
#   harness's pipe open.
# - Every process started with test_bg has $TRASH/.test-lib/bg/<name>.pid until it is
#   reaped; a library may put there the pid of a process it started otherwise. The
#   EXIT trap, which also runs on INT, TERM and HUP, KILLs and reaps every one left,
#   whether the tests passed or not.
# - Tests wait for conditions (wait_for, test_wait), never for a fixed time.
# - `pingpong store check` is the invariant of record, so no test has to remember it:
#   test_done finds every LMDB store (a directory holding data.mdb) under the trash
#   directory and runs `$PP store check --store DIR -q` on each, as one more test per
#   store ("store check of 'DIR'"): a store that fails its check fails the script. A
#   test that breaks a store on purpose says so with test_store_check_skip DIR, which
#   test_done reports as a TAP comment instead of checking the store.
#
# Prerequisites, as git has them: `test_set_prereq NAME` declares one, and a test that
# needs one names it first, `test_expect_success MOCK 'desc' 'body'`, or several,
# comma-separated, `!NAME` for one that must be missing. A test whose prerequisites
# are not met is not run and shows as "ok N # skip DESC (missing NAME)". lib-broker.sh
# declares MOCK or KAFKA, for the broker the tests run against.
#
# Functions:
#   test_expect_success [PREREQ] DESC BODY                      test_set_prereq NAME
#   test_have_prereq PREREQ           test_must_fail CMD...      test_expect_code N CMD...
#   test_when_finished CMD            test_cmp EXPECTED ACTUAL   test_line_count OP N FILE
#   test_path_is_file/_dir/_missing PATH
#   wait_for SECONDS CONDITION        test_bg NAME CMD...        test_pid NAME
#   test_bg_running NAME              test_kill NAME [SIGNAL]    test_wait NAME [SECONDS]
#   test_done   test_skip_all REASON  test_bail_out REASON       say TEXT
#   test_have_python3                 pp ARGS... (runs $PP, the built binary)
#   test_on_tty OUT CMD...            (CMD's stderr on a pseudo-terminal; python3)
#   test_store_check_skip DIR         (a store broken on purpose: test_done skips it)
#
# Options, or the environment variable in parentheses:
#   -v, --verbose    (TEST_VERBOSE)     show each body and its output as it runs
#   -i, --immediate  (TEST_IMMEDIATE)   stop at the first failing test
#   -x, --trace      (TEST_TRACE)       run bodies under set -x
#   -d, --debug      (TEST_KEEP_TRASH)  keep the trash directory even when all passed

for _test_arg in "$@"; do
	case $_test_arg in
	-v|--verbose) TEST_VERBOSE=1 ;;
	-i|--immediate) TEST_IMMEDIATE=1 ;;
	-x|--trace) TEST_TRACE=1 ;;
	-d|--debug) TEST_KEEP_TRASH=1 ;;
	-h|--help)
		printf 'usage: %s [-v] [-i] [-x] [-d]\n' "$0"
		printf '%s\n' "${test_description:-}"
		exit 0
		;;
	*)
		printf "error: unknown test option '%s'\n" "$_test_arg" >&2
		exit 1
		;;
	esac
done

# Run by hand from the source tree (sh tests/t0001-foo.sh, sh tests/crash/foo.sh), both
# default to the directory that holds tests/test-lib.sh, above the script's own.
_test_up=$(cd "$(dirname "$0")/.." && pwd) || exit 1
test -f "$_test_up/tests/test-lib.sh" || _test_up=$(cd "$_test_up/.." && pwd) || exit 1
top_srcdir=$(cd "${top_srcdir:-$_test_up}" && pwd) || exit 1
top_builddir=$(cd "${top_builddir:-$_test_up}" && pwd) || exit 1
: "${PINGPONG_DATADIR:=$top_srcdir/data}"
export top_srcdir top_builddir PINGPONG_DATADIR

# Same output everywhere, and nothing from the developer's shell: no test uses an
# outside Kafka, and CDPATH would make cd print.
LC_ALL=C LANG=C TZ=UTC
export LC_ALL LANG TZ
unset CDPATH PINGPONG_BROKERS

PP="$top_builddir/src/pingpong"
export PP

_test_name=$(basename "$0" .sh)
TRASH="$top_builddir/tests/trash.$_test_name"
export TRASH

_test_count=0
_test_failed=0
_test_stores_checked=
_test_skipped=0
_test_prereqs=' '
_test_missing=
_test_finished=
_test_reported=
_test_in_body=
_test_desc=
_test_body=
_test_out=
_test_wait_interval=0.1

# automake's plain harness takes 77 for a skip, but its TAP driver, which reads our
# stdout through a pipe, reports any non-zero status as an error and takes the skip
# from "1..0 # SKIP" alone.
if test -p /dev/stdout; then
	_test_skip_status=0
else
	_test_skip_status=77
fi

# Runs the built binary. test_bg runs "$PP" itself instead of this function, so that
# its pid is pingpong's own.
pp () {
	"$PP" "$@"
}

# Prints TEXT as a TAP comment.
say () {
	printf '%s\n' "$*" | sed 's/^/# /'
}

_test_bug () {
	printf 'error: bug in the test script: %s\n' "$*" >&2
	exit 1
}

# Prints "Bail out!" (TAP: stop the whole run) and exits 1, keeping the trash.
test_bail_out () {
	printf 'Bail out! %s\n' "$*" >&7
	_test_reported=1
	exit 1
}

# Prints the current test's body and, unless it was shown live, the end of its output.
_test_dump () {
	printf '# failed test body:\n'
	printf '%s\n' "$_test_body" | sed 's/^/# /'
	if test -z "$TEST_VERBOSE" && test -s "$_test_out"; then
		printf '# last 30 lines of output:\n'
		tail -n 30 "$_test_out" | sed 's/^/# /'
	fi
}

# A function of its own, so that "return N" in a body ends the body with status N.
_test_eval_body () {
	eval "$_test_body"
}

_test_run_body () {
	_test_in_body=1
	if test -n "$TEST_TRACE"; then
		set -x
	fi
	_test_eval_body
	_test_ret=$?
	if test -n "$TEST_TRACE"; then
		{ set +x; } 2>/dev/null
	fi
	eval "$_test_cleanup"
	_test_in_body=
}

# test_set_prereq NAME: declares the prerequisite NAME satisfied.
test_set_prereq () {
	case $1 in
	''|*[!A-Za-z0-9_]*) _test_bug "bad prerequisite name '$1'" ;;
	esac
	_test_prereqs="$_test_prereqs$1 "
}

# test_have_prereq LIST: true if every prerequisite of the comma-separated LIST is met;
# !NAME is met if NAME is not. Sets _test_missing to those that are not.
test_have_prereq () {
	_test_missing=
	_test_ifs=$IFS
	IFS=,
	set -- $1
	IFS=$_test_ifs
	for _test_p in "$@"; do
		case $_test_p in
		!*) case $_test_prereqs in *" ${_test_p#!} "*) ;; *) continue ;; esac ;;
		*) case $_test_prereqs in *" $_test_p "*) continue ;; esac ;;
		esac
		_test_missing="$_test_missing${_test_missing:+,}$_test_p"
	done
	test -z "$_test_missing"
}

# test_expect_success [PREREQ] DESC BODY: evals BODY in this shell and prints the TAP
# result; skips it if PREREQ is not met.
test_expect_success () {
	test $# = 3 || test $# = 2 ||
		_test_bug "test_expect_success wants [prereq] description body, got $# arguments"
	_test_count=$((_test_count + 1))
	if test $# = 3; then
		if ! test_have_prereq "$1"; then
			_test_skipped=$((_test_skipped + 1))
			printf 'ok %d # skip %s (missing %s)\n' "$_test_count" "$2" "$_test_missing" >&7
			return 0
		fi
		shift
	fi
	_test_desc=$1
	_test_body=$2
	_test_out="$TRASH/.test-lib/$_test_count.out"
	_test_cleanup=:
	cd "$TRASH" || _test_bug "cannot cd to '$TRASH'"
	if test -n "$TEST_VERBOSE"; then
		printf '# test %d: %s\n' "$_test_count" "$_test_desc" >&7
		printf '%s\n' "$_test_body" | sed 's/^/# /' >&7
		_test_run_body </dev/null
	else
		_test_run_body </dev/null >"$_test_out" 2>&1
	fi
	cd "$TRASH" || _test_bug "cannot cd to '$TRASH'"
	if test "$_test_ret" = 0; then
		printf 'ok %d - %s\n' "$_test_count" "$_test_desc" >&7
	else
		_test_failed=$((_test_failed + 1))
		printf 'not ok %d - %s\n' "$_test_count" "$_test_desc" >&7
		_test_dump >&7
		if test -n "$TEST_IMMEDIATE"; then
			say "stopping at the first failure (-i)" >&7
			test_done
		fi
	fi
}

# test_when_finished CMD: queues CMD to run after the current test's body, whether it
# passed or not; the last queued runs first. A failing CMD fails the test. Call it from
# the body itself: from a subshell it is lost.
test_when_finished () {
	test -n "$_test_in_body" || _test_bug "test_when_finished outside a test"
	_test_cleanup="{ $*
} || _test_ret=\$?; $_test_cleanup"
}

# Prints DIR as an absolute path with no symbolic links; DIR itself need not exist yet,
# its parent must.
_test_abs_dir () {
	if test -d "$1"; then
		(cd "$1" && pwd -P)
	else
		printf '%s/%s\n' "$(cd "$(dirname "$1")" && pwd -P)" "$(basename "$1")"
	fi
}

# test_store_check_skip DIR: exempts the store in DIR from test_done's store check; for
# a test that damages a store on purpose. DIR need not exist yet (its parent must).
test_store_check_skip () {
	test $# = 1 || _test_bug "test_store_check_skip wants one directory, got $# arguments"
	_test_abs_dir "$1" >>"$TRASH/.test-lib/store-check-skip"
}

# Runs `store check` on every store under the trash directory but the exempted ones,
# each as a test of its own.
_test_check_stores () {
	_test_stores_checked=1
	cd "$TRASH" || _test_bug "cannot cd to '$TRASH'"
	find . -name data.mdb -type f | LC_ALL=C sort >.test-lib/stores
	touch .test-lib/store-check-skip
	while read -r _test_store; do
		_test_store=${_test_store%/data.mdb}
		_test_store=${_test_store#./}
		if grep -q -x -F "$(_test_abs_dir "$_test_store")" .test-lib/store-check-skip; then
			say "store check skipped: '$_test_store' (test_store_check_skip)" >&7
			continue
		fi
		_test_q=$(printf '%s' "$_test_store" | sed "s/'/'\\\\''/g")
		test_expect_success "store check of '$_test_store'" "
			\"\$PP\" store check --store '$_test_q' -q
		"
	done <.test-lib/stores
}

# test_done: checks the stores left behind, prints the summary and the plan, cleans up,
# exits 0 if all passed, else 1.
test_done () {
	if test -z "$_test_stores_checked"; then
		_test_check_stores
	fi
	_test_finished=1
	if test "$_test_failed" = 0 && test "$_test_skipped" = 0; then
		printf '# passed %d of %d\n' "$_test_count" "$_test_count" >&7
	elif test "$_test_failed" = 0; then
		printf '# passed %d of %d, %d skipped\n' $((_test_count - _test_skipped)) \
			"$_test_count" "$_test_skipped" >&7
	else
		printf '# failed %d among %d\n' "$_test_failed" "$_test_count" >&7
	fi
	printf '1..%d\n' "$_test_count" >&7
	if test "$_test_failed" = 0; then
		exit 0
	fi
	exit 1
}

# test_skip_all REASON: skips the whole script; call it before any test.
test_skip_all () {
	test "$_test_count" = 0 || _test_bug "test_skip_all after $_test_count tests"
	printf '1..0 # SKIP %s\n' "$*" >&7
	_test_finished=1
	exit "$_test_skip_status"
}

# Runs at every exit: reports a body that exited, kills leftover background processes
# and removes or keeps the trash directory.
_test_on_exit () {
	_test_exit=$1
	trap - EXIT
	exec 1>&7 2>&8
	if test -n "$_test_in_body"; then
		_test_in_body=
		_test_reported=1
		_test_failed=$((_test_failed + 1))
		printf 'not ok %d - %s\n' "$_test_count" "$_test_desc"
		say "FATAL: the test body exited the script with status $_test_exit"
		_test_dump
	fi
	if test -z "$_test_finished"; then
		test -n "$_test_reported" ||
			say "FATAL: the script exited with status $_test_exit before test_done"
		test "$_test_exit" != 0 || _test_exit=1
	fi
	_test_kill_all 2>/dev/null
	cd "$top_builddir" || cd /
	if test -n "$_test_finished" && test "$_test_failed" = 0 && test -z "$TEST_KEEP_TRASH"; then
		rm -rf "$TRASH" 2>/dev/null || { chmod -R u+w "$TRASH"; rm -rf "$TRASH"; }
	elif test -d "$TRASH"; then
		say "trash directory kept: $TRASH"
	fi
	exit "$_test_exit"
}

_test_kill_all () {
	for _test_f in "$TRASH"/.test-lib/bg/*.pid; do
		test -f "$_test_f" || continue
		read -r _test_p <"$_test_f"
		kill -s KILL "$_test_p"
		wait "$_test_p"
		# One that is not this shell's child (lib-broker.sh's Kafka broker) is not
		# reaped by wait: let it go before its files are removed.
		_test_poll 10 "! _test_pid_alive $_test_p"
		rm -f "$_test_f"
	done
}

# test_must_fail CMD...: succeeds if CMD fails by itself: not by a signal, and not
# because it could not be found or run.
test_must_fail () {
	"$@"
	_test_mf=$?
	if test "$_test_mf" = 0; then
		printf 'test_must_fail: command succeeded: %s\n' "$*" >&2
		return 1
	elif test "$_test_mf" -gt 128 && test "$_test_mf" -le 192; then
		printf 'test_must_fail: died by signal %d: %s\n' $((_test_mf - 128)) "$*" >&2
		return 1
	elif test "$_test_mf" = 127; then
		printf 'test_must_fail: command not found: %s\n' "$*" >&2
		return 1
	elif test "$_test_mf" = 126; then
		printf 'test_must_fail: cannot execute: %s\n' "$*" >&2
		return 1
	fi
	return 0
}

# test_expect_code N CMD...: succeeds if CMD exits with status N.
test_expect_code () {
	_test_ec_want=$1
	shift
	"$@"
	_test_ec=$?
	test "$_test_ec" = "$_test_ec_want" && return 0
	printf 'test_expect_code: command exited with %d, we wanted %d: %s\n' \
		"$_test_ec" "$_test_ec_want" "$*" >&2
	return 1
}

# test_cmp EXPECTED ACTUAL: succeeds if the files are equal, else prints the diff.
test_cmp () {
	test $# = 2 || _test_bug "test_cmp wants 2 files, got $# arguments"
	diff -u "$1" "$2"
}

test_path_is_file () {
	test -f "$1" && return 0
	printf "test_path_is_file: file '%s' does not exist\n" "$1" >&2
	return 1
}

test_path_is_dir () {
	test -d "$1" && return 0
	printf "test_path_is_dir: directory '%s' does not exist\n" "$1" >&2
	return 1
}

test_path_is_missing () {
	test -e "$1" || test -L "$1" || return 0
	printf "test_path_is_missing: path '%s' exists\n" "$1" >&2
	return 1
}

# test_line_count OP N FILE: succeeds if FILE's line count OP N holds; OP is one of
# =, -eq, -ne, -ge, -le, -gt, -lt.
test_line_count () {
	test $# = 3 || _test_bug "test_line_count wants OP N FILE, got $# arguments"
	case $1 in
	=) _test_lc_op=-eq ;;
	-eq|-ne|-ge|-le|-gt|-lt) _test_lc_op=$1 ;;
	*) _test_bug "test_line_count: bad operator '$1'" ;;
	esac
	if ! test -f "$3"; then
		printf "test_line_count: file '%s' does not exist\n" "$3" >&2
		return 1
	fi
	_test_lc=$(wc -l <"$3" | tr -d ' ')
	test "$_test_lc" "$_test_lc_op" "$2" && return 0
	printf "test_line_count: '%s' has %s lines, not %s %s:\n" "$3" "$_test_lc" "$1" "$2" >&2
	cat "$3" >&2
	return 1
}

# Evaluates CONDITION every $_test_wait_interval until it holds (0) or more than
# SECONDS (a whole number) have passed (1). Silent.
_test_poll () {
	case $1 in
	''|*[!0-9]*) _test_bug "timeout must be a whole number of seconds, got '$1'" ;;
	esac
	_test_poll_start=$(date +%s)
	while :; do
		eval "$2" && return 0
		_test_poll_now=$(date +%s)
		test $((_test_poll_now - _test_poll_start)) -gt "$1" && return 1
		sleep "$_test_wait_interval"
	done
}

# wait_for SECONDS CONDITION: waits until the shell condition holds; fails with a
# message if it still does not after SECONDS.
wait_for () {
	test $# = 2 || _test_bug "wait_for wants a timeout and a condition, got $# arguments"
	_test_poll "$1" "$2" && return 0
	printf 'wait_for: timed out after %ss: %s\n' "$1" "$2" >&2
	return 1
}

# True if PID runs. A child that exited but that the shell has not reaped yet is a
# zombie, which kill -0 still finds, so look at its state too.
_test_pid_alive () {
	kill -0 "$1" 2>/dev/null || return 1
	if test -r "/proc/$1/stat"; then
		_test_state=$(sed -n 's/.*) \([A-Za-z]\).*/\1/p' "/proc/$1/stat" 2>/dev/null)
	else
		_test_state=$(ps -o stat= -p "$1" 2>/dev/null)
	fi
	case $_test_state in
	Z*|X*) return 1 ;;
	esac
	return 0
}

_test_bg_pidfile () {
	case $1 in
	''|*[!A-Za-z0-9._-]*) _test_bug "bad background process name '$1'" ;;
	esac
	_test_pidfile="$TRASH/.test-lib/bg/$1.pid"
}

# Sets _test_pid_v to NAME's pid, or prints why not and fails.
_test_read_pid () {
	_test_bg_pidfile "$1"
	if test -f "$_test_pidfile" && read -r _test_pid_v <"$_test_pidfile"; then
		return 0
	fi
	printf "%s: no background process '%s'\n" "${2:-test_pid}" "$1" >&2
	return 1
}

# test_bg NAME CMD...: starts CMD in the background, stdout to $TRASH/NAME.out and
# stderr to $TRASH/NAME.err, stdin from /dev/null. Call it from the test's own shell,
# not from a subshell: only this shell can wait for its children.
#
# CMD should be a program, not a shell function: a function would run in a forked
# subshell, and test_kill's signal would stop that subshell but not the program. So
# "pp" is replaced by "$PP". As for any background job of a non-interactive shell,
# SIGINT and SIGQUIT are ignored in CMD unless it installs its own handler.
test_bg () {
	test $# -ge 2 || _test_bug "test_bg wants a name and a command"
	_test_bg_name=$1
	shift
	_test_bg_pidfile "$_test_bg_name"
	if test_bg_running "$_test_bg_name" 2>/dev/null; then
		printf "test_bg: '%s' is already running\n" "$_test_bg_name" >&2
		return 1
	fi
	if test "$1" = pp; then
		shift
		set -- "$PP" "$@"
	fi
	"$@" </dev/null >"$TRASH/$_test_bg_name.out" 2>"$TRASH/$_test_bg_name.err" 7>&- 8>&- &
	echo "$!" >"$TRASH/.test-lib/bg/$_test_bg_name.pid"
}

# test_pid NAME: prints the pid of the process test_bg started as NAME.
test_pid () {
	_test_read_pid "$1" test_pid || return 1
	echo "$_test_pid_v"
}

# test_bg_running NAME: true if NAME is still running.
test_bg_running () {
	_test_read_pid "$1" test_bg_running && _test_pid_alive "$_test_pid_v"
}

# Waits up to $3 seconds for $1 (pid $2) to end, KILLs it if it does not (status 124),
# and returns its exit status. Forgets it either way.
_test_reap () {
	if _test_poll "$3" "! _test_pid_alive $2"; then
		wait "$2"
		_test_reap_ret=$?
	else
		kill -s KILL "$2"
		wait "$2"
		printf "%s: '%s' still running after %ss; killed it\n" "$4" "$1" "$3" >&2
		_test_reap_ret=124
	fi
	rm -f "$TRASH/.test-lib/bg/$1.pid"
	return "$_test_reap_ret"
}

# test_wait NAME [SECONDS]: waits for NAME to exit by itself, 30 seconds at most, and
# returns its exit status; on time-out KILLs it and returns 124.
test_wait () {
	_test_read_pid "$1" test_wait || return 1
	_test_reap "$1" "$_test_pid_v" "${2:-30}" test_wait
}

# test_kill NAME [SIGNAL]: sends SIGNAL (default TERM; a name or a number) to NAME,
# waits for it and returns its exit status (143 for a default TERM). If it is still
# running after 30 seconds, KILLs it and returns 124.
test_kill () {
	_test_read_pid "$1" test_kill || return 1
	_test_kill_sig=${2:-TERM}
	_test_kill_sig=${_test_kill_sig#SIG}
	if _test_pid_alive "$_test_pid_v"; then
		case $_test_kill_sig in
		*[!0-9]*) kill -s "$_test_kill_sig" "$_test_pid_v" ;;
		*) kill -"$_test_kill_sig" "$_test_pid_v" ;;
		esac
	fi
	_test_reap "$1" "$_test_pid_v" 30 test_kill
}

# test_have_python3: true if $PYTHON3 (default python3) runs Python 3; then exports
# PYTHON3 for the tests.
test_have_python3 () {
	_test_py=${PYTHON3:-python3}
	"$_test_py" -c 'import sys; sys.exit(sys.version_info[0] != 3)' >/dev/null 2>&1 ||
		return 1
	PYTHON3=$_test_py
	export PYTHON3
}

# test_on_tty OUT CMD...: runs CMD with its standard error on a pseudo-terminal, as a
# user at a terminal sees it, and writes what the terminal got to OUT, CMD's standard
# output to OUT.stdout; returns CMD's status. Needs test_have_python3.
test_on_tty () {
	_test_tty_out=$1
	shift
	"$PYTHON3" - "$_test_tty_out" "$@" <<-\EOF
	import os, pty, subprocess, sys
	master, slave = os.openpty()
	with open(sys.argv[1] + ".stdout", "wb") as out:
	    p = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=out, stderr=slave)
	os.close(slave)
	got = b""
	while True:
	    try:
	        chunk = os.read(master, 65536)
	    except OSError:  # EIO: the last writer closed the terminal
	        break
	    if not chunk:
	        break
	    got += chunk
	open(sys.argv[1], "wb").write(got)
	sys.exit(p.wait())
	EOF
}

exec 7>&1 8>&2
trap '_test_on_exit $?' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

rm -rf "$TRASH" 2>/dev/null || { chmod -R u+w "$TRASH"; rm -rf "$TRASH"; }
if ! mkdir -p "$TRASH/.test-lib/bg" || ! cd "$TRASH"; then
	test_bail_out "cannot create trash directory '$TRASH'"
fi
