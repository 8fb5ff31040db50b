#!/bin/sh
test_description='store faults: a full disk, a damaged store, a replaced lock file, stores that are not ours: a message and an exit status, never a signal, nothing lost'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"
. "$top_srcdir/tests/crash/lib-crash.sh"

start_broker --partitions 2

test_expect_success 'produce events over the whole domain' '
	"$PY" "$H/gen-events.py" --users 3000 --count 30000 --seed 17 --now $(now_ms) >events.jsonl &&
	pp produce --from events.jsonl -q
'

# exits_with N CMD...: CMD exits with status N, and said why on stderr; a death by a
# signal (status > 128) never passes. Its stderr is in last.err.
exits_with () {
	want=$1
	shift
	"$@" >last.out 2>last.err
	got=$?
	if test $got != "$want"; then
		say "exit status $got, expected $want: $*"
		sed 's/^/# /' last.err >&7
		return 1
	fi
	test -s last.err
}

test_expect_success 'a consumer builds a store to damage' '
	pp active $GROUP_OPTS --store good --every 0 --exit-at-end &&
	pp store check --store good
'

# A failed commit ends the consumer with nothing of its batch stored, and nothing after
# it either: the writer thread has the next batches queued by then (engine.c), and one
# of them committed would carry the partitions' offsets past the failed batch's
# messages, which would be lost. Batches of 10, so that the 20th fails with several queued.
test_expect_success 'a failed commit: exit 74, no later batch committed, a restart loses nothing' '
	(
		PINGPONG_CRASH=before-commit:20:fail &&
		export PINGPONG_CRASH &&
		exits_with 74 pp active $GROUP_OPTS --store failed --every 0 --batch 10 --exit-at-end
	) &&
	grep "the commit failed on purpose" last.err &&
	grep "the batch was not committed and no offset advanced" last.err &&
	pp store check --store failed &&
	pp query --store failed offsets >failed.offsets &&
	awk "{ n += \$2 } END { exit !(n > 0 && n <= 190) }" failed.offsets &&
	pp active $GROUP_OPTS --store failed --every 0 --exit-at-end &&
	verdict failed events.jsonl
'

test_expect_success 'a truncated store: check and query say it is damaged and exit 74' '
	cp -r good trunc &&
	test_store_check_skip trunc &&
	truncate -s 100K trunc/data.mdb &&
	exits_with 74 pp store check --store trunc &&
	grep "is damaged" last.err &&
	exits_with 74 pp query --store trunc users &&
	grep "is damaged" last.err &&
	exits_with 74 pp active $GROUP_OPTS --store trunc --every 0 --exit-at-end &&
	grep "is damaged" last.err
'

test_expect_success 'garbage pages: store check and query end with 74 or 1, never by a signal' '
	cp -r good junk &&
	test_store_check_skip junk &&
	"$PY" - junk/data.mdb <<-\EOF &&
	import os, sys
	f = open(sys.argv[1], "r+b")
	pages = os.path.getsize(sys.argv[1]) // 4096
	for pg in range(3, min(pages, 400), 5):
	    f.seek(pg * 4096)
	    f.write(bytes((i * 151 + pg) & 255 for i in range(4096)))
	EOF
	for cmd in "store check --store junk" "query --store junk users" "query --store junk active" \
		"query --store junk offsets"
	do
		pp $cmd >/dev/null 2>junk.err
		status=$?
		test $status -lt 128 || { say "pingpong $cmd died by signal $((status - 128))"; return 1; }
		test $status = 74 || test $status = 1 || test $status = 0 ||
			{ say "pingpong $cmd: exit $status"; return 1; }
	done
'

test_expect_success 'a store directory writable by others is refused, with the fix' '
	mkdir open && chmod 0777 open &&
	exits_with 74 pp active $GROUP_OPTS --store open --every 0 --exit-at-end &&
	grep "chmod go-w" last.err &&
	test_path_is_missing open/data.mdb
'

test_expect_success 'a store that is a symbolic link is refused, even a dangling one' '
	ln -s good link &&
	exits_with 74 pp active $GROUP_OPTS --store link --every 0 --exit-at-end &&
	grep "symbolic link" last.err &&
	ln -s nowhere dangling &&
	exits_with 74 pp active $GROUP_OPTS --store dangling --every 0 --exit-at-end &&
	grep "symbolic link" last.err
'

test_expect_success 'another program'"'"'s LMDB environment is refused and left as it was' '
	mkdir -m 700 foreign &&
	printf "VERSION=3\nformat=bytevalue\ntype=btree\nHEADER=END\n 6b6579\n 76616c\nDATA=END\n" |
		mdb_load foreign &&
	chmod 600 foreign/data.mdb foreign/lock.mdb &&
	test_store_check_skip foreign &&
	size=$(wc -c <foreign/data.mdb) &&
	exits_with 74 pp active $GROUP_OPTS --store foreign --every 0 --exit-at-end &&
	grep "not a pingpong store" last.err &&
	test $(wc -c <foreign/data.mdb) = $size
'

test_expect_success 'a store made by another consumer is refused' '
	exits_with 74 pp notify $GROUP_OPTS --store good --active-store good --exit-at-end &&
	grep "give each consumer its own store" last.err &&
	exits_with 74 pp active $GROUP_OPTS -g pingpong-notify --store good --every 0 --exit-at-end &&
	grep "group" last.err
'

test_expect_success 'two members starting at once on a missing store directory both start' '
	i=1 &&
	while test $i -le 10
	do
		test_bg race-a$i "$PP" active $GROUP_OPTS -g race$i --store race$i --every 0 --exit-at-end &&
		test_bg race-b$i "$PP" active $GROUP_OPTS -g race$i --store race$i --every 0 --exit-at-end &&
		test_wait race-a$i 60 && test_wait race-b$i 60 || return 1
		i=$((i + 1))
	done
'

# LMDB cannot survive its lock file being deleted under a live writer: a second process
# would take a write lock of its own. The running one stops at its next write (a batch,
# or the step it takes while idle: it is held stopped meanwhile); a new one refuses the
# store while the old one lives.
test_expect_success 'the lock file deleted under a running consumer: it stops, and no second one starts' '
	test_bg live "$PP" active $GROUP_OPTS --store live --every 0 --batch 10 -v &&
	partition_ends >ends &&
	wait_for 60 "pp query --store live offsets 2>/dev/null | cmp -s - ends" &&
	kill -STOP $(test_pid live) &&
	rm live/lock.mdb &&
	"$PY" "$H/gen-events.py" --users 50 --count 500 --seed 18 --now $(now_ms) >more.jsonl &&
	exits_with 74 pp active $GROUP_OPTS --store live --every 0 --exit-at-end &&
	grep "lock file was replaced while process" last.err &&
	kill -CONT $(test_pid live) &&
	pp produce --from more.jsonl -q &&
	test_wait live 60
	test $? = 74 &&
	grep "store .live.: its lock file was deleted or replaced" live.err &&
	! grep "store .live.: store" live.err
'

test_expect_success 'with the writer gone, the store opens again and catches up exactly' '
	pp active $GROUP_OPTS --store live --every 0 --exit-at-end &&
	cat events.jsonl more.jsonl >all.jsonl &&
	verdict live all.jsonl
'

# A full disk used to kill the consumer with SIGBUS: the store's writable map extended its
# file sparsely, and a page that found no block faulted. Now the map's blocks are
# reserved (posix_fallocate) when the store opens and before the map grows: no space is
# an error then, and a restart with space resumes exactly. Here the store is copied
# sparse onto a small tmpfs that a filler then leaves without room for its map.
if test "$(id -u)" = 0 && command -v mountpoint >/dev/null; then
	test_set_prereq ROOT
fi

test_expect_success ROOT 'a full disk: exit 74 naming the store and the free space, nothing lost' '
	mkdir small &&
	mount -t tmpfs -o size=80m tmpfs small &&
	test_when_finished "umount \"$TRASH/small\"" &&
	chmod 700 small &&
	cp -r --sparse=always live small/st &&
	fallocate -l $(($(df --output=avail -B1 small | tail -n 1) - 4096)) small/filler &&
	exits_with 74 pp active $GROUP_OPTS --store small/st --every 0 --exit-at-end &&
	grep "store .small/st.: cannot reserve 64 MiB" last.err &&
	! grep "store .small/st.: store" last.err &&
	grep "MiB free" last.err &&
	rm small/filler &&
	pp produce --from more.jsonl -q &&
	pp active $GROUP_OPTS --store small/st --every 0 --exit-at-end &&
	cat all.jsonl more.jsonl >all2.jsonl &&
	verdict small/st all2.jsonl
'

test_done
