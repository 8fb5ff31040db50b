#!/bin/sh
test_description='demo: the main job runs on its own embedded broker and ends cleanly'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"

test_expect_success 'demo runs the chat room and stops everything' '
	pp demo --duration 6s --users 20 --rate 5 --store st >out 2>err &&
	grep -q "^[A-Z][a-z]*: " out &&
	grep -q "^Active Users: \|^No Active Users\.\.\." out &&
	grep "^Summary: [1-9][0-9]* users seen, 0 rejected events, store check ok" out &&
	grep "events to chat" err
'

test_expect_success 'the store it kept passes its check and has every user it saw' '
	pp store check --store st &&
	test "$(pp query --store st users | wc -l)" = \
		"$(sed -n "s/^Summary: \([0-9]*\) users seen.*/\1/p" out)"
'

test_expect_success 'without --store, its temporary directory (store, bootstrap file) is removed' '
	mkdir tmp &&
	TMPDIR=$PWD/tmp pp demo --duration 3s --users 5 --rate 5 -q >out2 &&
	grep "^Summary: [1-9][0-9]* users seen, 0 rejected events, store check ok$" out2 &&
	ls -A tmp >left &&
	test_line_count = 0 left
'

test_expect_success 'no process of the demo is left behind' '
	! pgrep -f "pingpong-demo\." >/dev/null
'

test_done
