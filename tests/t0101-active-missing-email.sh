#!/bin/sh
test_description='active: issue 9 as reported: 20,000 events of 2,000 users, out of order within five minutes, one in ten without an email'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to compute the expected results'
PY=${PYTHON3:-python3}
H=$top_srcdir/tests/helpers
start_broker --partitions 4

# The report's recipe exactly: the names and the one address per user that `pingpong
# produce` would write (--simple), the address left out of about 10 % of the events.
# A user whose first event comes without an address gets one later: its record grows.
NOW=$($PY -c 'import time; print(int(time.time() * 1000))')
MAX_TS=$((NOW + 300000))
SEED=${PINGPONG_SEED:-9}
say "seed $SEED: replay with PINGPONG_SEED=$SEED"

test_expect_success 'produce 20,000 events of 2,000 users, ~10% without email, with pingpong produce --from' '
	"$PY" "$H/gen-events.py" --simple --users 2000 --count 20000 --seed $SEED --now $NOW \
		--spread 300000 --no-email 0.1 >events.jsonl &&
	"$PY" - events.jsonl <<-\EOF &&
	import json, sys
	evs = [json.loads(l) for l in open(sys.argv[1])]
	users = {e["user"] for e in evs}
	without = sum("email" not in e for e in evs)
	ts = [e["ts"] for e in evs]
	late = sum(1 for a, b in zip(ts, ts[1:]) if b < a)
	print("%d events, %d users, %d without email, %d out of order" % (len(evs), len(users), without, late))
	assert len(evs) == 20000 and len(users) == 2000
	assert 1600 <= without <= 2400, "not about 10 % without email"
	assert late > 5000 and max(ts) - min(ts) <= 300000
	EOF
	pp produce --from events.jsonl 2>produce.err &&
	grep "20000 events to chat" produce.err
'

test_expect_success 'pingpong active --exit-at-end applies every event once' '
	pp active $GROUP_OPTS --store st --exit-at-end --every 0 2>active.err &&
	grep "20000 events consumed" active.err &&
	grep "20000 applied, 0 rejected, 0 already applied" active.err
'

test_expect_success 'store check: ok' '
	pp store check --store st >check.out &&
	echo "store check: ok" >expect &&
	test_cmp expect check.out
'

test_expect_success 'store stat counts one user per distinct name' '
	"$PY" "$H/expect.py" counts events.jsonl --max-ts $MAX_TS >counts &&
	sed -n "s/.* users \([0-9]*\)$/\1/p" counts >expect &&
	echo 2000 >expect.2000 &&
	test_cmp expect.2000 expect &&
	pp store stat --store st --json >stat.json &&
	"$PY" -c "import json; print(json.load(open(\"stat.json\"))[\"users\"])" >actual &&
	test_cmp expect actual
'

test_expect_success 'query users --json equals the events: no duplicate, raw-byte or nameless rows, every email its own' '
	pp query --store st --json users >users.json &&
	"$PY" "$H/expect.py" compare events.jsonl users.json --max-ts $MAX_TS >cmp 2>cmp.diff ||
		{ cat cmp cmp.diff; false; } &&
	cat cmp &&
	"$PY" "$H/expect.py" users events.jsonl --max-ts $MAX_TS --json >expected.json &&
	"$PY" - expected.json users.json <<-\EOF
	import json, sys
	want = [json.loads(l) for l in open(sys.argv[1], "rb")]
	got = [json.loads(l) for l in open(sys.argv[2], "rb")]
	assert got == want, "query users --json differs from the expectation"
	# A user never carries the address of another: that of uNNNNN is uNNNNN@example.com.
	assert all(u["email"] in (None, u["user"] + "@example.com") for u in got)
	EOF
'

# query active reads the by_time index, query user the users records: the two must tell
# the same story. Every user listed active is checked, and a sample of the others. The
# index keeps only the window (the default --retain) before the consumer's clock, so the
# query asks about now, after the consumer ran, not about the generator's --now.
test_expect_success 'query active and query user agree' '
	pp query --store st active --json >active.json &&
	at=$(sed -n "s/^{\"at\":\([0-9]*\),.*/\1/p" active.json) &&
	"$PY" "$H/expect.py" active events.jsonl --at $at --max-ts $MAX_TS --json >expected.active &&
	"$PY" - "$PP" active.json expected.active users.json $at 30000 $SEED <<-\EOF
	import json, random, subprocess, sys
	pp, act, exp, users, at, window, seed = sys.argv[1:8]
	at, window = int(at), int(window)
	listed = json.load(open(act, "rb"))["users"]
	same = listed == json.load(open(exp, "rb"))
	names = {u["user"] for u in listed}
	everyone = sorted({json.loads(l).get("user") for l in open(users, "rb")} - {None})
	sample = random.Random(int(seed)).sample([u for u in everyone if u not in names], 200)
	bad = 0
	for name in sorted(names) + sample:
	    if "\0" in name:
	        print("%r: a NUL in a name, which no event has" % name)
	        bad += 1
	        continue
	    r = subprocess.run([pp, "query", "--store", "st", "--json", "user", name],
	                       capture_output=True, text=True)
	    if r.returncode != 0:
	        print("query user %r: exit %d: %s" % (name, r.returncode, r.stderr.strip()))
	        bad += 1
	        continue
	    ls = json.loads(r.stdout)["last_seen"]
	    if (at - window < ls <= at) != (name in names):
	        print("%r: last_seen %d, %s by query active" % (name, ls, "listed" if name in names else "not listed"))
	        bad += 1
	print("%d active users and %d others asked, %d disagree" % (len(names), len(sample), bad), flush=True)
	assert same, "query active differs from the expectation"
	assert len(names) > 100 and bad == 0
	EOF
'

test_done
