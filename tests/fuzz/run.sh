#!/bin/sh
# run.sh: the driver of `make fuzz`; see tests/fuzz/README.md.
#
#   run.sh --check-cc              can $FUZZ_CC build a libFuzzer harness? If not, says
#                                  what is missing and exits 1
#   run.sh --run HARNESS...        runs each built harness for $FUZZ_SECONDS seconds on a
#                                  work copy of its seed corpus; prints one line each,
#                                  with its execution count, and exits 1 if one crashed
#
# Environment: FUZZ_CC (default clang), FUZZ_SECONDS (default 10), FUZZ_SRCDIR (the
# source tree: the seeds are in $FUZZ_SRCDIR/tests/fuzz/corpus/HARNESS), FUZZ_WORKDIR
# (default fuzz-work: new inputs and crash artifacts go to $FUZZ_WORKDIR/HARNESS).
set -u

cc=${FUZZ_CC:-clang}
seconds=${FUZZ_SECONDS:-10}
srcdir=${FUZZ_SRCDIR:-.}
workdir=${FUZZ_WORKDIR:-fuzz-work}

check_cc () {
	if ! command -v "$cc" >/dev/null 2>&1; then
		echo "make fuzz: '$cc' not found: the harnesses need clang with libFuzzer;" >&2
		echo "make fuzz: on Debian 12: apt-get install clang libclang-rt-14-dev" >&2
		echo "make fuzz: (or set FUZZ_CC to a clang that has libFuzzer)" >&2
		exit 1
	fi
	tmp=$(mktemp -d) || exit 1
	printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
		'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
		>"$tmp/t.c"
	if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$tmp/t" "$tmp/t.c" >"$tmp/err" 2>&1; then
		echo "make fuzz: '$cc' cannot link a libFuzzer harness with ASan and UBSan:" >&2
		sed 's/^/make fuzz:   /' "$tmp/err" | head -5 >&2
		echo "make fuzz: on Debian 12 the runtime is in libclang-rt-14-dev" \
			"(apt-get install libclang-rt-14-dev)" >&2
		rm -rf "$tmp"
		exit 1
	fi
	rm -rf "$tmp"
}

# run_one HARNESS: prints "HARNESS: N executions in S s, no crash" or why it failed.
run_one () {
	h=$1
	name=$(basename "$h")
	seeds="$srcdir/tests/fuzz/corpus/$name"
	work="$workdir/$name"
	mkdir -p "$work/corpus" || return 1
	if ! test -d "$seeds"; then
		echo "$name: no seed corpus at $seeds" >&2
		return 1
	fi
	# The first directory collects new inputs; the seeds are only read.
	"$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$work/" "$work/corpus" "$seeds" >"$work/log" 2>&1
	status=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
	if test "$status" != 0; then
		echo "$name: FAILED (exit status $status) after ${runs:-?} executions; the end of $work/log:"
		tail -n 40 "$work/log" | sed 's/^/  /'
		ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* 2>/dev/null | sed 's/^/  input: /'
		return 1
	fi
	echo "$name: $runs executions in ${seconds} s, no crash"
}

case ${1:-} in
--check-cc)
	check_cc
	;;
--run)
	shift
	failed=0
	for h in "$@"; do
		run_one "$h" || failed=$((failed + 1))
	done
	test "$failed" = 0
	;;
*)
	echo "usage: run.sh --check-cc | --run HARNESS..." >&2
	exit 64
	;;
esac
