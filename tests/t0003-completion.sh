#!/bin/sh
test_description='bash completion: the script offers the words of the option tables'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"

command -v bash >/dev/null 2>&1 || test_skip_all 'bash is needed to run the completion script'
SCRIPT=$top_srcdir/data/bash-completion/pingpong

# offers WORD...: what the script offers to complete the last WORD of the command line
# "pingpong WORD...", one a line, sorted. (A loop in a test body leaves it with `exit 1`
# from a subshell, as in t0001.)
offers () {
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _pingpong;
		 printf "%s\n" "${COMPREPLY[@]}"' offers "$SCRIPT" "$PP" "$@" | sed "/^$/d" | LC_ALL=C sort
}

test_expect_success 'the script registers itself for pingpong' '
	bash -c ". \"$SCRIPT\"; complete -p pingpong" >out &&
	grep -e "-F _pingpong pingpong" out
'

test_expect_success 'the commands, and help' '
	offers "" >actual &&
	(for c in broker produce tail active messages notify query store demo help --help --version; do
		grep -qx -e "$c" actual || { echo "$c not offered"; cat actual; exit 1; }
	done) &&
	offers ac >actual &&
	echo active >expect &&
	test_cmp expect actual &&
	offers help st >actual &&
	echo store >expect &&
	test_cmp expect actual
'

test_expect_success 'a command'"'"'s long options: all of them, from its own table' '
	offers active -- >actual &&
	pp active --help | sed -n "s/^  \(-., \)\{0,1\}\(--[a-z-]*\).*/\2/p" | LC_ALL=C sort >expect &&
	test_line_count -gt 20 expect &&
	test_cmp expect actual &&
	offers active --ba >actual &&
	echo --batch >expect &&
	test_cmp expect actual &&
	offers broker -- >actual &&
	grep -x -e --bootstrap-file actual &&
	! grep -x -e --json actual &&
	! grep -x -e --brokers actual
'

test_expect_success 'short options without a long name: -X and -V' '
	offers produce - >actual &&
	grep -x -e -X actual &&
	grep -x -e -V actual
'

test_expect_success 'the choices of an option, and nothing for a number' '
	offers active --start "" >actual &&
	printf "earliest\nlatest\n" >expect &&
	test_cmp expect actual &&
	offers active --on-gap s >actual &&
	echo skip >expect &&
	test_cmp expect actual &&
	offers produce --rate "" >actual &&
	test_line_count = 0 actual
'

test_expect_success 'a DIR completes as a directory, a FILE as a file' '
	mkdir somedir &&
	>somefile &&
	offers active --store some >actual &&
	echo somedir >expect &&
	test_cmp expect actual &&
	offers produce --from some >actual &&
	printf "somedir\nsomefile\n" >expect &&
	test_cmp expect actual
'

test_expect_success 'subcommands: the queries, store check and stat' '
	offers query --store somedir "" >actual &&
	(for q in active user users offsets rejects gaps outbox --json --at; do
		grep -qx -e "$q" actual || { echo "$q not offered"; cat actual; exit 1; }
	done) &&
	offers store --store somedir s >actual &&
	echo stat >expect &&
	test_cmp expect actual
'

test_done
