#!/bin/sh
test_description='install: an installed pingpong finds its data in its own prefix, from anywhere, never in the source tree'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"

# `make install DESTDIR=...` of this build, into the trash directory. The binary finds
# its data relative to itself, so the staged tree works where it lies, as the real
# prefix would, and as a copy of it moved elsewhere.
DEST=$TRASH/dest

if test -z "${top_builddir:-}" || ! test -f "$top_builddir/Makefile"; then
	test_skip_all 'needs the build tree (run by make check)'
fi

test_expect_success 'make install DESTDIR=... installs the binary, data, pages, docs and the unit' '
	MAKEFLAGS= ${MAKE:-make} -C "$top_builddir" install DESTDIR="$DEST" >install.log 2>&1 ||
		{ cat install.log; false; } &&
	find "$DEST" -path "*/bin/pingpong" -type f >bin &&
	test_line_count = 1 bin &&
	BIN=$(cat bin) &&
	PREFIX=$(dirname "$(dirname "$BIN")") &&
	test -x "$BIN" &&
	test_path_is_file "$PREFIX/share/pingpong/users.txt" &&
	test_path_is_file "$PREFIX/share/pingpong/messages.txt" &&
	test_path_is_file "$PREFIX/share/man/man1/pingpong-tail.1" &&
	find "$DEST" -path "*/doc/pingpong/README.md" >doc &&
	test_line_count = 1 doc &&
	DOC=$(dirname "$(cat doc)") &&
	test_path_is_file "$DOC/NEWS" &&
	grep "MIT License" "$DOC/LICENSE" &&
	test_path_is_file "$DOC/examples/pingpong-active@.service" &&
	find "$DEST" -path "*/completions/pingpong" >completion &&
	test_line_count = 1 completion
'

# The unit runs the binary where it is installed: $(bindir), without the DESTDIR.
test_expect_success 'the example unit runs the installed binary' '
	bindir=$(dirname "${BIN#$DEST}") &&
	grep "^ExecStart=$bindir/pingpong active --store \${STATE_DIRECTORY} " \
		"$DOC/examples/pingpong-active@.service" &&
	! grep "@[a-z]*@" "$DOC/examples/pingpong-active@.service"
'

if command -v systemd-analyze >/dev/null 2>&1; then
	test_set_prereq SYSTEMD_ANALYZE
fi

# systemd's own checks: no unknown key, no bad value, the binary there. The unit as
# installed, with its ExecStart pointed at the staged binary (the one systemd would run
# is not there yet). The template is checked as an instance, as systemd would load it.
test_expect_success SYSTEMD_ANALYZE 'systemd-analyze verify finds nothing to say of the unit, and it is hardened' '
	mkdir units &&
	sed "s|^ExecStart=[^ ]*/pingpong |ExecStart=$BIN |" "$DOC/examples/pingpong-active@.service" \
		>"units/pingpong-active@.service" &&
	systemd-analyze verify --man=no "$PWD/units/pingpong-active@chat.service" >verify.out 2>&1 ||
		{ cat verify.out; false; } &&
	test_line_count = 0 verify.out &&
	for key in DynamicUser=yes StateDirectory=pingpong/%i ProtectSystem=strict ProtectHome=yes \
		PrivateTmp=yes NoNewPrivileges=yes "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"
	do
		grep -x "$key" units/pingpong-active@.service || return 1
	done &&
	systemd-analyze security --offline=true --threshold=25 --no-pager \
		"$PWD/units/pingpong-active@chat.service" >security.out 2>&1 ||
		{ cat security.out; false; } &&
	grep "Overall exposure level" security.out
'

if command -v strings >/dev/null 2>&1; then
	test_set_prereq STRINGS
fi

test_expect_success STRINGS 'no path of the source or build tree is in the installed binary' '
	strings -a "$BIN" >strings.out &&
	test_line_count -gt 100 strings.out &&
	! grep -F "$top_srcdir" strings.out &&
	! grep -F "$top_builddir" strings.out
'

# The installed data are told apart from the source tree's: one user only.
test_expect_success 'the installed users.txt is the one the installed binary reads' '
	echo InstalledOnly >"$PREFIX/share/pingpong/users.txt"
'

test_expect_success 'the installed broker starts' '
	test_bg broker "$BIN" broker --partitions 2 --bootstrap-file "$TRASH/bs" &&
	wait_for 30 "test -s \"$TRASH/bs\" || ! test_bg_running broker" &&
	test_bg_running broker &&
	BROKERS=$(cat "$TRASH/bs")
'

test_expect_success 'produce, run from / without PINGPONG_DATADIR, reads the installed data' '
	env -C / -u PINGPONG_DATADIR "$BIN" produce -b "$BROKERS" --count 20 --rate 0 --users 3 2>produce.err &&
	grep "^pingpong produce: 20 events to chat" produce.err &&
	env -C / -u PINGPONG_DATADIR "$BIN" tail -b "$BROKERS" -o beginning --exit-at-end >tail.out &&
	test_line_count = 20 tail.out &&
	sed -n "s/.*\"user\":\"\([^\"]*\)\".*/\1/p" tail.out | sort -u >users &&
	printf "InstalledOnly\nInstalledOnly1\nInstalledOnly2\n" >expect &&
	test_cmp expect users
'

test_expect_success 'a copy of the installed tree moved elsewhere finds its own data' '
	cp -R "$PREFIX" moved &&
	echo MovedOnly >moved/share/pingpong/users.txt &&
	env -C / -u PINGPONG_DATADIR "$TRASH/moved/bin/pingpong" produce -b "$BROKERS" -t moved \
		--count 5 --rate 0 --users 1 -q &&
	"$BIN" tail -b "$BROKERS" -t moved -o beginning --exit-at-end >moved.out &&
	test_line_count = 5 moved.out &&
	! grep -v "\"user\":\"MovedOnly\"" moved.out
'

# The source tree holds data/messages.txt all along: an installed binary that lost its
# own must fail, saying where it looked, rather than read the source tree's.
test_expect_success 'without its installed data, the installed produce fails (66), naming its prefix' '
	rm "$PREFIX/share/pingpong/messages.txt" &&
	test_path_is_file "$top_srcdir/data/messages.txt" &&
	test_expect_code 66 env -C / -u PINGPONG_DATADIR "$BIN" produce -b "$BROKERS" --count 1 2>missing.err &&
	grep "cannot find the data file .messages.txt. in .$PREFIX/bin/../share/pingpong., where it is installed" \
		missing.err
'

test_expect_success 'PINGPONG_DATADIR, when set, is where the data are, and only there' '
	mkdir elsewhere &&
	test_expect_code 66 env PINGPONG_DATADIR="$TRASH/elsewhere" "$BIN" produce -b "$BROKERS" --count 1 2>env.err &&
	grep "no data file .users.txt. in .$TRASH/elsewhere. (\$PINGPONG_DATADIR)" env.err
'

test_expect_success 'make uninstall removes what install put there' '
	MAKEFLAGS= ${MAKE:-make} -C "$top_builddir" uninstall DESTDIR="$DEST" >uninstall.log 2>&1 ||
		{ cat uninstall.log; false; } &&
	find "$DEST" -type f >left &&
	test_line_count = 0 left
'

test_done
