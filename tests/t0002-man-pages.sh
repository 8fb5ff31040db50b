#!/bin/sh
test_description='man pages: one per command, rendering cleanly, with the SYNOPSIS and the OPTIONS of --help'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"

command -v groff >/dev/null 2>&1 || test_skip_all 'groff is needed to render the pages'
test_have_python3 || test_skip_all 'python3 is needed to compare the synopses'
PY=${PYTHON3:-python3}
MAN=$top_srcdir/man

commands=$(pp --help | sed -n 's/^   \([a-z][a-z-]*\)  .*/\1/p')

test_expect_success 'pingpong --help lists the commands' '
	test -n "$commands" && test $(echo $commands | wc -w) -ge 9
'

for c in $commands
do
	test_expect_success "pingpong-$c(1) exists and has EXAMPLES, EXIT STATUS and ENVIRONMENT" '
		test_path_is_file "$MAN/pingpong-$c.1" &&
		grep -q "^\.SH EXAMPLES" "$MAN/pingpong-$c.1" &&
		grep -q "^\.SH \"\{0,1\}EXIT STATUS" "$MAN/pingpong-$c.1" &&
		grep -q "^\.SH ENVIRONMENT" "$MAN/pingpong-$c.1"
	'

	test_expect_success "pingpong-$c(1) renders without warnings and its SYNOPSIS is --help's" '
		groff -ww -man -Tutf8 "$MAN/pingpong-$c.1" >/dev/null 2>warnings &&
		test_line_count = 0 warnings &&
		pp $c --help >help &&
		groff -man -Tascii -rLL=250n -P-cbou "$MAN/pingpong-$c.1" 2>/dev/null >page &&
		"$PY" - help page <<-\EOF
		import re, sys
		usage = []
		for line in open(sys.argv[1]).read().split("\n"):
		    if line.startswith("usage: "):
		        usage.append(line[7:])
		    elif usage and line.startswith("       ") and line.strip():
		        usage.append(line[7:])
		    elif usage:
		        break
		page = open(sys.argv[2]).read()
		m = re.search(r"\nSYNOPSIS\n(.*?)\n\n", page, re.S)
		synopsis = [l[7:] for l in m.group(1).split("\n")]
		if synopsis != usage:
		    print("--help:  ", usage)
		    print("SYNOPSIS:", synopsis)
		    sys.exit(1)
		EOF
	'

	test_expect_success "pingpong-$c(1) OPTIONS has every option of --help, and no other" '
		pp $c --help >help &&
		pp --completion-words $c >words &&
		"$PY" - help "$MAN/pingpong-$c.1" words <<-\EOF
		import re, sys
		def names(text):
		    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*|-[A-Za-z])(?![\w-])", text))
		# The left column of --help: "  -g, --group G   help".
		helped = set()
		for line in open(sys.argv[1]):
		    m = re.match(r"  (-\S.*?)(?:\s\s|$)", line.rstrip("\n"))
		    if m:
		        helped |= names(m.group(1))
		# The tag of every item of the page OPTIONS section, its subsections included.
		roff = open(sys.argv[2]).read()
		lines = roff.split("\n.SH OPTIONS\n", 1)[1].split("\n.SH ", 1)[0].split("\n")
		paged = set()
		for prev, line in zip(lines, lines[1:]):
		    if prev.startswith(".TP"):
		        paged |= names(re.sub(r"\\f[BIRP]", "", line.replace("\\-", "-")))
		# Completion offers the long names, and the short ones of options without one.
		words = set(w for w in open(sys.argv[3]).read().split() if w.startswith("-"))
		ok = True
		for what, missing in (("in --help, not in OPTIONS", helped - paged),
		                      ("in OPTIONS, not in --help", paged - helped),
		                      ("completed, not in --help", words - helped),
		                      ("in --help, not completed", set(n for n in helped if n.startswith("--")) - words)):
		    if missing:
		        print(what + ":", " ".join(sorted(missing)))
		        ok = False
		if len(helped) < 5:
		    print("too few options in --help:", helped)
		    ok = False
		sys.exit(0 if ok else 1)
		EOF
	'
done

test_expect_success 'pingpong(1) renders without warnings' '
	groff -ww -man -Tutf8 "$MAN/pingpong.1" >/dev/null 2>warnings &&
	test_line_count = 0 warnings
'

test_done
