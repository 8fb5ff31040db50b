# lib-metrics.sh: scraping and reading Prometheus metrics in tests; source after
# test-lib.sh, with $PY set to python3.
#
#   PROMTOOL                 promtool's path, and the prerequisite PROMTOOL, when found
#   http METHOD PATH OUT     asks http://127.0.0.1:$PORT/PATH; the body to OUT, and
#                            "STATUS<TAB>CONTENT-TYPE<TAB>ALLOW" to OUT.headers
#   parse FILE               checks FILE against the text exposition format 0.0.4 and
#                            prints its samples, one JSON line each: [name, labels, value]
#   sample FILE NAME [LABEL=VALUE]...   the value of the one sample of parse's output
#                            FILE with exactly those labels
#   scrape OUT               http GET /metrics OUT, then parse's output into OUT.samples
#
# The parser is written from the format's description and shares nothing with
# src/metrics.c.

# promtool comes with Debian's prometheus package; bootstrap fetches it alone into
# tests/tools with BOOTSTRAP_PROMTOOL=1 (as .ci/run does), without the server.
PROMTOOL=$(command -v promtool 2>/dev/null) ||
	for PROMTOOL in "$top_builddir/tests/tools/promtool" "$top_srcdir/tests/tools/promtool" ""; do
		test -x "$PROMTOOL" && break
	done
test -n "$PROMTOOL" && test_set_prereq PROMTOOL

# http METHOD PATH OUT: writes "STATUS<TAB>CONTENT-TYPE<TAB>ALLOW" to OUT.headers and the
# body to OUT.
http () {
	"$PY" - "$PORT" "$@" <<-\EOF
	import sys, urllib.request, urllib.error
	port, method, path, out = sys.argv[1:5]
	req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path), method=method,
	                             data=b"x=1" if method == "POST" else None)
	try:
	    r = urllib.request.urlopen(req, timeout=10)
	except urllib.error.HTTPError as e:
	    r = e
	body = r.read()
	open(out, "wb").write(body)
	open(out + ".headers", "w").write("%d\t%s\t%s\n" % (r.status, r.headers.get("Content-Type"), r.headers.get("Allow")))
	EOF
}

# parse FILE: checks FILE against the text exposition format (0.0.4), written from its
# description and sharing nothing with metrics.c, and prints one JSON line per sample:
# [name, labels, value].
parse () {
	"$PY" - "$1" <<-\EOF
	import json, math, re, sys
	NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
	LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
	def value(s):
	    return {"+Inf": math.inf, "-Inf": -math.inf, "NaN": math.nan}.get(s) if s in ("+Inf", "-Inf", "NaN") else float(s)
	def labels(s):
	    out, i = {}, 0
	    while i < len(s):
	        m = re.match(r"(%s)=\"" % LABEL, s[i:])
	        assert m, "bad label at %r" % s[i:]
	        key, i, v = m.group(1), i + m.end(), ""
	        while s[i] != '"':
	            if s[i] == "\\":
	                v += {"\\": "\\", '"': '"', "n": "\n"}[s[i + 1]]
	                i += 2
	            else:
	                v += s[i]
	                i += 1
	        assert key not in out, "label %s twice" % key
	        out[key] = v
	        i += 1
	        if i < len(s):
	            assert s[i] == ",", "no comma at %r" % s[i:]
	            i += 1
	    return out
	types, helps, samples, family = {}, {}, [], None
	text = open(sys.argv[1], encoding="utf-8").read()
	assert text.endswith("\n"), "no final newline"
	for line in text[:-1].split("\n"):
	    m = re.match(r"# (HELP|TYPE) (%s) (.*)$" % NAME, line)
	    if m:
	        kind, name, rest = m.groups()
	        table = helps if kind == "HELP" else types
	        assert name not in table, "%s %s twice" % (kind, name)
	        if kind == "TYPE":
	            assert rest in ("counter", "gauge", "histogram", "summary", "untyped"), rest
	            assert not any(s[0] == name or s[0].startswith(name + "_") and family == name for s in samples), name
	        table[name] = rest
	        family = name
	        continue
	    m = re.match(r"(%s)(?:\{(.*)\})? (\S+)$" % NAME, line)
	    assert m, "bad line %r" % line
	    name, lab, v = m.group(1), labels(m.group(2) or ""), value(m.group(3))
	    base = name
	    if types.get(family) == "histogram":
	        assert re.match(re.escape(family) + r"_(bucket|sum|count)$", name), "%s in histogram %s" % (name, family)
	        base = family
	    assert base == family, "%s outside its family %s" % (name, family)
	    if types[family] == "counter":
	        assert v >= 0, line
	    samples.append((name, lab, v))
	# histograms: le increasing to +Inf, counts cumulative, _count the +Inf bucket
	for fam, t in types.items():
	    if t != "histogram":
	        continue
	    series = {}
	    for name, lab, v in samples:
	        if name == fam + "_bucket":
	            rest = tuple(sorted((k, x) for k, x in lab.items() if k != "le"))
	            series.setdefault(rest, []).append((value(lab["le"]), v))
	    for rest, buckets in series.items():
	        les = [le for le, _ in buckets]
	        counts = [c for _, c in buckets]
	        assert les == sorted(les) and les[-1] == math.inf, (fam, les)
	        assert counts == sorted(counts), (fam, counts)
	        count = [v for n, l, v in samples if n == fam + "_count" and tuple(sorted(l.items())) == rest]
	        assert count == [counts[-1]], (fam, count, counts)
	for name, lab, v in samples:
	    print(json.dumps([name, lab, v]))
	EOF
}

# sample FILE NAME [LABEL=VALUE]...: the value of that sample in parse's output.
sample () {
	"$PY" - "$@" <<-\EOF
	import json, sys
	want = dict(a.split("=", 1) for a in sys.argv[3:])
	found = [v for n, l, v in map(json.loads, open(sys.argv[1])) if n == sys.argv[2] and l == want]
	assert len(found) == 1, found
	print(found[0])
	EOF
}

scrape () {
	http GET /metrics "$1" && parse "$1" >"$1.samples"
}
