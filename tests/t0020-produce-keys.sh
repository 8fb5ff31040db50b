#!/bin/sh
test_description='produce --key user|none|fixed:K: partitions, keys, order, summary, --seed'
. "${top_srcdir:-$(dirname "$0")/..}/tests/test-lib.sh"
. "$top_srcdir/tests/lib-broker.sh"

test_have_python3 || test_skip_all 'python3 is needed to read the JSON lines'

# Topics made at start: an auto-created one would get the mock's default partition count.
start_broker --partitions 3 --topic keys-user --topic keys-none --topic keys-fixed \
	--topic seed-a --topic seed-b --topic seed-c

# produce_and_tail NAME PRODUCE-ARGS...: produces 10,000 events of 200 users with seed 7
# to topic keys-NAME, stderr to NAME.err, then tails the topic into NAME.out.
produce_and_tail () {
	_name=$1
	shift
	pp produce -t "keys-$_name" --rate 0 --count 10000 --users 200 --seed 7 "$@" \
		2>"$_name.err" &&
	pp tail -t "keys-$_name" --from-beginning --exit-at-end >"$_name.out" 2>"$_name.tail.err" &&
	test_line_count = 10000 "$_name.out"
}

# check_events FILE: every line of FILE is a decoded send-message of one of the first
# 200 names of users.txt, with a line of messages.txt, the email the simulator derives
# from the name, and offsets 0..n-1 in each partition.
check_events () {
	"$PYTHON3" - "$1" "$PINGPONG_DATADIR" <<-\EOF
	import json, os, sys
	def names(f):
	    with open(os.path.join(sys.argv[2], f), encoding="utf-8") as fh:
	        return [l.rstrip("\r\n") for l in fh if l.strip() and not l.startswith("#")]
	users = set(names("users.txt")[:200])
	messages = set(names("messages.txt"))
	domains = {"example.com", "example.org", "example.net", "chat.test"}
	offsets, email = {}, {}
	for line in open(sys.argv[1], encoding="utf-8"):
	    e = json.loads(line)
	    assert "error" not in e, e
	    assert e["user"] in users, e
	    assert e["activity"] == "send-message", e
	    assert e["message"] in messages, e
	    local, _, domain = e["email"].partition("@")
	    assert local == e["user"].lower() and domain in domains, e
	    assert email.setdefault(e["user"], e["email"]) == e["email"], e
	    assert isinstance(e["ts"], int) and e["ts"] > 0, e
	    offsets.setdefault(e["partition"], []).append(e["offset"])
	for p, o in offsets.items():
	    assert sorted(o) == list(range(len(o))), p
	EOF
}

# partition_counts FILE: prints "PARTITION=COUNT" for each partition of tail's FILE.
partition_counts () {
	"$PYTHON3" -c '
import collections, json, sys
c = collections.Counter(json.loads(l)["partition"] for l in open(sys.argv[1]))
for p in sorted(c):
    print("%d=%d" % (p, c[p]))
' "$1"
}

# check_summary NAME: produce's summary line in NAME.err says 10000 events to keys-NAME,
# and its per-partition counts, leaving out zeros, sum to 10000 and are tail's.
check_summary () {
	grep "^pingpong produce: .* events to keys-$1 " "$1.err" >summary &&
	test_line_count = 1 summary &&
	grep "^pingpong produce: 10000 events to keys-$1 in .*; per partition: [0-9]" summary &&
	sed "s/.*per partition: //" summary | tr " " "\n" | grep -v "=0$" >summary.parts &&
	awk -F= "{ n += \$2 } END { print n }" summary.parts >sum &&
	echo 10000 >expect &&
	test_cmp expect sum &&
	partition_counts "$1.out" >tail.parts &&
	test_cmp tail.parts summary.parts
}

test_expect_success '--key user: produce 10,000 events and tail them back' '
	produce_and_tail user --key user &&
	check_events user.out
'

test_expect_success '--key user: each user in one partition, keyed by the user' '
	"$PYTHON3" - user.out <<-\EOF
	import json, sys
	part = {}
	for line in open(sys.argv[1], encoding="utf-8"):
	    e = json.loads(line)
	    assert e["key"] == e["user"], e
	    assert part.setdefault(e["user"], e["partition"]) == e["partition"], e
	# 200 users over 3 partitions: a partitioner that ignored the key would not keep
	# them apart; one that put every key in one partition would not spread them.
	assert len(set(part.values())) == 3, set(part.values())
	assert len(part) > 150, len(part)
	EOF
'

test_expect_success '--key user: a user'"'"'s events are in ts order by offset' '
	"$PYTHON3" - user.out <<-\EOF
	import json, sys
	events = {}
	for line in open(sys.argv[1], encoding="utf-8"):
	    e = json.loads(line)
	    events.setdefault(e["user"], []).append((e["offset"], e["ts"]))
	for user, evs in events.items():
	    evs.sort()
	    ts = [t for _, t in evs]
	    assert ts == sorted(ts), (user, evs)
	EOF
'

test_expect_success '--key user: the summary matches tail' '
	check_summary user
'

# Without a key librdkafka's sticky partitioner would put a whole fast run in one
# partition; produce --key none turns stickiness off so that events really spread.
test_expect_success '--key none: produce 10,000 events and tail them back' '
	produce_and_tail none --key none &&
	check_events none.out
'

test_expect_success '--key none: no key, and all 3 partitions used' '
	"$PYTHON3" - none.out <<-\EOF
	import json, sys
	parts = set()
	for line in open(sys.argv[1], encoding="utf-8"):
	    e = json.loads(line)
	    assert e["key"] is None, e
	    parts.add(e["partition"])
	assert parts == {0, 1, 2}, parts
	EOF
'

test_expect_success '--key none: the summary matches tail' '
	check_summary none
'

test_expect_success '--key fixed:room: produce 10,000 events and tail them back' '
	produce_and_tail fixed --key fixed:room &&
	check_events fixed.out
'

test_expect_success '--key fixed:room: key "room", one partition' '
	"$PYTHON3" - fixed.out <<-\EOF
	import json, sys
	parts = set()
	for line in open(sys.argv[1], encoding="utf-8"):
	    e = json.loads(line)
	    assert e["key"] == "room", e
	    parts.add(e["partition"])
	assert len(parts) == 1, parts
	EOF
'

test_expect_success '--key fixed:room: the summary matches tail' '
	check_summary fixed
'

# seq_of FILE: prints (user, activity, message) of each event of tail's FILE, in offset
# order. Every event has the same key, so it is in one partition in produce order.
seq_of () {
	"$PYTHON3" -c '
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
assert len({e["partition"] for e in evs}) == 1
for e in sorted(evs, key=lambda e: e["offset"]):
    print(json.dumps([e["user"], e["activity"], e.get("message")]))
' "$1"
}

produce_seed () {
	pp produce -t "$1" --key fixed:s --rate 0 --count 2000 --users 200 --seed "$2" 2>"$1.err" &&
	pp tail -t "$1" --from-beginning --exit-at-end >"$1.out" 2>"$1.tail.err" &&
	test_line_count = 2000 "$1.out" &&
	seq_of "$1.out" >"$1.seq"
}

test_expect_success 'the same --seed twice gives the same users, activities and messages' '
	produce_seed seed-a 7 &&
	produce_seed seed-b 7 &&
	test_line_count = 2000 seed-a.seq &&
	test_cmp seed-a.seq seed-b.seq
'

test_expect_success 'another --seed gives another sequence' '
	produce_seed seed-c 8 &&
	! cmp -s seed-a.seq seed-c.seq
'

test_done
