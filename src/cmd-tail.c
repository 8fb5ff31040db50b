/* cmd-tail.c: `pingpong tail`, the raw reader (like kcat -C or kafka-console-consumer).
 *
 * Without --group it assigns every partition itself, at the position -o names, and
 * commits nothing, so reading never disturbs a consumer group. Each message is one JSON
 * line, flushed at once, so that a pipe or a file sees it while tail runs. With --null
 * it does not even decode: that is the ceiling of raw consumption that the benchmarks
 * compare the real consumers against.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "event.h"
#include "json-out.h"
#include "kafka.h"
#include "util.h"

static const char tail_usage[] =
	"usage: pingpong tail [-b BROKERS] [-t TOPIC] [-X KEY=VALUE]... [-o OFFSET | --from-beginning]\n"
	"                     [--exit-at-end] [-c N] [-g GROUP] [--null] [-q] [-v]\n"
	"                     [--broker-timeout D]\n";

static const char tail_description[] =
	"Prints each message of the topic as one JSON line: topic, partition, offset, timestamp,\n"
	"key, headers, the payload's encoding (msgpack or json) and the event's fields. An\n"
	"event that does not decode is printed with its reason and its payload in hex.\n";

/* Where reading starts (-o). */
enum tail_from {
	FROM_DEFAULT,   /* the end, or with --group the committed offsets */
	FROM_BEGINNING,
	FROM_END,
	FROM_OFFSET,    /* an absolute offset, in every partition */
	FROM_TAIL,      /* N messages before each partition's end */
	FROM_TIME,      /* the first message stamped at or after a time */
};

struct tail_start {
	enum tail_from from;
	int64_t value;  /* FROM_OFFSET: the offset; FROM_TAIL: N; FROM_TIME: ms since the epoch */
};

struct tail_opts {
	struct common_opts co;
	int from_beginning, exit_at_end, discard;
	struct tail_start start;
	int64_t count;
	int64_t broker_timeout_ms; /* -1 until given */
	const char *group;
};

/* -o: beginning, end, OFFSET, -N or s@TS (ms since the epoch, or ISO 8601). */
static int parse_start(const char *arg, void *target)
{
	struct tail_start *s = target;

	if (!strcmp(arg, "beginning"))
		s->from = FROM_BEGINNING;
	else if (!strcmp(arg, "end"))
		s->from = FROM_END;
	else if (arg[0] == '-' && parse_int(arg + 1, 1, INT64_MAX / 2, &s->value) == 0)
		s->from = FROM_TAIL;
	else if (!strncmp(arg, "s@", 2) &&
		 (parse_int(arg + 2, 0, INT64_MAX / 2, &s->value) == 0 || parse_time_ms(arg + 2, &s->value) == 0))
		s->from = FROM_TIME; /* s@0 too: every message */
	else if (parse_int(arg, 0, INT64_MAX, &s->value) == 0)
		s->from = FROM_OFFSET;
	else
		return -1;
	return 0;
}

#define OFF(field) offsetof(struct tail_opts, field)

/* tail prints JSON and nothing else: it takes no --json. */
static const struct option_spec tail_options[] = {
	{ .kind = OPT_CALLBACK, .short_name = 'o', .long_name = "offset", .argname = "OFFSET",
	  .offset = OFF(start), .parse = parse_start, .expects = "beginning, end, an offset, -N or s@TS",
	  .help = "start at: beginning, end (the default), an offset, -N (N before the end) or s@TS (the "
		  "first message stamped at or after TS, ms or ISO 8601; not on the mock broker), in every "
		  "partition" },
	OPTION_FLAG(0, "from-beginning", OFF(from_beginning), "the same as -o beginning"),
	OPTION_FLAG(0, "exit-at-end", OFF(exit_at_end), "stop once every partition has been read to its end"),
	OPTION_INT('c', "count", "N", OFF(count), 1, INT64_MAX, "stop after N messages"),
	OPTION_STRING('g', "group", "G", OFF(group),
		      "read as a member of consumer group G and commit what was printed; without it, tail "
		      "reads every partition and commits nothing"),
	OPTION_FLAG(0, "null", OFF(discard), "consume and discard: no decoding, no output but the summary"),
	OPTION_DURATION(0, "broker-timeout", OFF(broker_timeout_ms),
			"exit 69 when no broker has answered for D (default: 30s with --exit-at-end, "
			"else never; 0 is never)"),
	OPTION_GROUP(COMMON_HEADING, common_kafka_options, OFF(co)),
	OPTION_GROUP(COMMON_HEADING, common_log_options, OFF(co)),
	OPTION_END
};

struct tail_state {
	int exit_at_end;
	int fatal;           /* an exit code that ends the loop, or 0 */
	struct kafka_watch watch; /* does any broker answer? (--broker-timeout) */
	char *at_end;        /* per partition: reached its end since the last message */
	char *assigned;      /* per partition: currently ours */
	int nparts;
	struct kafka_flow flow; /* keeps the small local queue flowing (kafka.c) */
};

static void tail_grow(struct tail_state *t, int partition)
{
	if (partition < t->nparts)
		return;
	t->at_end = xrealloc(t->at_end, (size_t)partition + 1);
	t->assigned = xrealloc(t->assigned, (size_t)partition + 1);
	memset(t->at_end + t->nparts, 0, (size_t)(partition + 1 - t->nparts));
	memset(t->assigned + t->nparts, 0, (size_t)(partition + 1 - t->nparts));
	t->nparts = partition + 1;
}

static int tail_all_at_end(const struct tail_state *t)
{
	int p, any = 0;

	for (p = 0; p < t->nparts; p++) {
		if (!t->assigned[p])
			continue;
		any = 1;
		if (!t->at_end[p])
			return 0;
	}
	return any;
}

static void tail_mark(struct tail_state *t, const rd_kafka_topic_partition_list_t *parts, int on)
{
	int i;

	for (i = 0; i < parts->cnt; i++) {
		tail_grow(t, parts->elems[i].partition);
		t->assigned[parts->elems[i].partition] = (char)on;
		t->at_end[parts->elems[i].partition] = 0;
	}
}

/* As a group member (-g): takes what the group assigns and gives up what it revokes, in
 * the group's protocol. A refused assignment ends tail (70): it would wait for nothing. */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
			 void *opaque)
{
	struct tail_state *t = opaque;
	int assign = err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS;
	const char *what = assign ? "take" : "give up";
	char buf[1024], reason[512];

	/* Ends the kafka_poll() that runs this: what it returns was polled before. */
	rd_kafka_yield(rk);
	kafka_watch_contact(&t->watch); /* the group's coordinator answered */
	log_verbose("%s: %s", assign ? "assigned" : "revoked", kafka_format_partitions(parts, buf, sizeof(buf)));
	tail_mark(t, parts, assign);
	if (kafka_rebalance_apply(rk, parts, assign, reason, sizeof(reason)) == 0)
		return;
	log_error("cannot %s %s: %s", what, buf, reason);
	if (assign)
		t->fatal = EX_SOFTWARE;
}

/* The message's Kafka side: topic, partition, offset, timestamp, key and headers. */
static void envelope(json_t *obj, const rd_kafka_message_t *m)
{
	static const char *const ts_types[] = {
		[RD_KAFKA_TIMESTAMP_NOT_AVAILABLE] = NULL,
		[RD_KAFKA_TIMESTAMP_CREATE_TIME] = "create",
		[RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME] = "log-append",
	};
	rd_kafka_timestamp_type_t tstype;
	int64_t ts = rd_kafka_message_timestamp(m, &tstype);
	rd_kafka_headers_t *hdrs = NULL;
	json_t *headers = json_array();
	const char *name;
	const void *value;
	size_t i, len;

	json_object_set_new(obj, "topic", json_string(rd_kafka_topic_name(m->rkt)));
	json_object_set_new(obj, "partition", json_integer(m->partition));
	json_object_set_new(obj, "offset", json_integer(m->offset));
	json_object_set_new(obj, "timestamp", ts_types[tstype] ? json_integer(ts) : json_null());
	json_object_set_new(obj, "timestamp_type", ts_types[tstype] ? json_string(ts_types[tstype]) : json_null());
	if (m->key)
		json_set_bytes(obj, "key", "key_hex", m->key, m->key_len);
	else
		json_object_set_new(obj, "key", json_null());
	if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
		for (i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &len) == 0; i++) {
			json_t *h = json_object();
			json_set_bytes(h, "name", "name_hex", name, strlen(name));
			if (value)
				json_set_bytes(h, "value", "value_hex", value, len);
			else
				json_object_set_new(h, "value", json_null());
			json_array_append_new(headers, h);
		}
	}
	json_object_set_new(obj, "headers", headers);
}

/* Prints one message as a JSON line and flushes it. Returns 0, or -1 if standard output
 * cannot take it. */
static int print_message(struct event_decoder *dec, const rd_kafka_message_t *m)
{
	json_t *obj = json_object();
	struct event ev;
	char err[256];

	envelope(obj, m);
	json_object_set_new(obj, "encoding", json_string(event_is_json(m->payload, m->len) ? "json" : "msgpack"));
	if (event_decode(dec, m->payload, m->len, &ev, err, sizeof(err)) == 0) {
		event_to_json(&ev, obj);
	} else {
		json_object_set_new(obj, "error", json_string(err));
		json_set_hex(obj, "payload_hex", m->payload, m->len);
	}
	if (json_print_line(obj, stdout) != 0 || fflush(stdout) != 0)
		return -1;
	return 0;
}

/* With -o s@TS: sets each partition's offset in parts to that of its first message
 * stamped at or after TS (its end if there is none). A broker that cannot look offsets
 * up by time answers -1 (the end) for every partition, even for TS 0 where a partition
 * holds messages: then tail says so rather than wait at the end. Returns 0, or an exit
 * code with the reason logged. */
static int offsets_by_time(rd_kafka_t *rk, rd_kafka_topic_partition_list_t *parts, const char *brokers,
			   int64_t ts, int timeout_ms)
{
	rd_kafka_topic_partition_list_t *probe;
	rd_kafka_resp_err_t e;
	int i, found = 0, rc = 0;

	for (i = 0; i < parts->cnt; i++)
		parts->elems[i].offset = ts;
	if ((e = rd_kafka_offsets_for_times(rk, parts, timeout_ms)) != 0) {
		log_error("cannot look up the offsets at %" PRId64 " in '%s': %s", ts, brokers, rd_kafka_err2str(e));
		return EX_UNAVAILABLE;
	}
	for (i = 0; i < parts->cnt; i++) {
		if (parts->elems[i].err) {
			log_error("cannot look up the offset at %" PRId64 " of %s[%d]: %s", ts, parts->elems[i].topic,
				  (int)parts->elems[i].partition, rd_kafka_err2str(parts->elems[i].err));
			return EX_UNAVAILABLE;
		}
		if (parts->elems[i].offset >= 0)
			found = 1;
		else
			parts->elems[i].offset = RD_KAFKA_OFFSET_END;
	}
	if (found)
		return 0;
	/* Nothing at or after ts. Is that so, or can the broker not tell? Asked for time 0,
	 * it must name an offset in every partition that holds a message. */
	probe = rd_kafka_topic_partition_list_copy(parts);
	for (i = 0; i < probe->cnt; i++)
		probe->elems[i].offset = 0;
	if (rd_kafka_offsets_for_times(rk, probe, timeout_ms) == 0) {
		for (i = 0; i < probe->cnt && rc == 0; i++) {
			int64_t low, high;
			if (probe->elems[i].err == 0 && probe->elems[i].offset < 0 &&
			    rd_kafka_query_watermark_offsets(rk, probe->elems[i].topic, probe->elems[i].partition,
							     &low, &high, timeout_ms) == 0 && high > low) {
				log_error("the broker of '%s' cannot look offsets up by time (librdkafka's mock "
					  "broker, pingpong broker, cannot): use -o beginning, end, an offset or -N",
					  brokers);
				rc = EX_UNAVAILABLE;
			}
		}
	}
	rd_kafka_topic_partition_list_destroy(probe);
	return rc;
}

/* Without a group: assigns every partition of the topic at the position -o names,
 * waiting up to timeout_ms for the topic's metadata. Returns 0, or an exit code with the
 * reason logged. */
static int assign_all(rd_kafka_t *rk, struct tail_state *t, const char *topic, const char *brokers,
		      const struct tail_start *start, int64_t timeout_ms)
{
	rd_kafka_topic_partition_list_t *parts;
	rd_kafka_resp_err_t e;
	char err[512];
	int n, p, rc = 0;

	n = kafka_partition_count(rk, topic, (int)timeout_ms, err, sizeof(err));
	if (n < 0) {
		log_error("cannot read the partitions of '%s' from '%s': %s", topic, brokers, err);
		return EX_UNAVAILABLE;
	}
	kafka_watch_contact(&t->watch);
	parts = rd_kafka_topic_partition_list_new(n);
	for (p = 0; p < n; p++)
		rd_kafka_topic_partition_list_add(parts, topic, p)->offset =
			start->from == FROM_BEGINNING ? RD_KAFKA_OFFSET_BEGINNING :
			start->from == FROM_OFFSET ? start->value :
			start->from == FROM_TAIL ? RD_KAFKA_OFFSET_TAIL(start->value) : RD_KAFKA_OFFSET_END;
	if (start->from == FROM_TIME)
		rc = offsets_by_time(rk, parts, brokers, start->value, (int)timeout_ms);
	if (rc == 0 && (e = rd_kafka_assign(rk, parts)) != 0) {
		log_error("rd_kafka_assign: %s", rd_kafka_err2str(e));
		rc = EX_SOFTWARE;
	}
	if (rc == 0)
		tail_mark(t, parts, 1);
	rd_kafka_topic_partition_list_destroy(parts);
	return rc;
}

/* The consumer's configuration: pingpong's tuning, then tail's own settings, then -X.
 * Returns NULL with the reason logged. */
static rd_kafka_conf_t *tail_conf_new(struct tail_opts *o, const char *brokers, struct tail_state *t)
{
	rd_kafka_conf_t *conf;
	struct kafka_opts ko = common_kafka_opts(&o->co, brokers);
	char err[512], anon[64];
	int earliest = o->start.from == FROM_BEGINNING;

	/* Without a group, librdkafka still wants a group.id for assign(); this one never
	 * joins a group (assign, not subscribe) and never commits. With one, tail commits
	 * what it printed, with librdkafka's automatic commit: offsets are stored by hand,
	 * once printed (tail_take), not when polled. */
	snprintf(anon, sizeof(anon), "pingpong-tail-%ld", (long)getpid());
	conf = kafka_conf_new(&ko, kafka_consumer_tuning, err, sizeof(err));
	if (!conf ||
	    kafka_conf_set(conf, "enable.partition.eof", t->exit_at_end ? "true" : "false", err, sizeof(err)) < 0 ||
	    kafka_conf_set(conf, "auto.offset.reset", earliest ? "earliest" : "latest", err, sizeof(err)) < 0 ||
	    kafka_conf_set(conf, "group.id", o->group ? o->group : anon, err, sizeof(err)) < 0 ||
	    (o->group && kafka_conf_set(conf, "enable.auto.commit", "true", err, sizeof(err)) < 0)) {
		log_error("%s", err);
		if (conf)
			rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_opaque(conf, t);
	if (o->group)
		rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
	return conf;
}

/* Subscribes as a member of -g's group, or assigns every partition. Returns 0, or an
 * exit code with the reason logged. */
static int tail_start(rd_kafka_t *rk, struct tail_state *t, const struct tail_opts *o, const char *brokers)
{
	rd_kafka_topic_partition_list_t *sub;
	rd_kafka_resp_err_t e;

	if (!o->group)
		return assign_all(rk, t, o->co.topic, brokers, &o->start,
				  o->broker_timeout_ms ? o->broker_timeout_ms : 10000);
	sub = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(sub, o->co.topic, RD_KAFKA_PARTITION_UA);
	e = rd_kafka_subscribe(rk, sub);
	rd_kafka_topic_partition_list_destroy(sub);
	if (e) {
		log_error("rd_kafka_subscribe: %s", rd_kafka_err2str(e));
		return EX_UNAVAILABLE;
	}
	return 0;
}

/* Handles a polled message that carries an error or a partition's end. Returns 0 to go
 * on, 1 to stop (at the end with --exit-at-end), or an exit code. Destroys m. */
static int tail_event(struct tail_state *t, rd_kafka_message_t *m)
{
	int rc = 0;

	if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
		kafka_watch_contact(&t->watch);
		tail_grow(t, m->partition);
		t->at_end[m->partition] = 1;
		if (t->exit_at_end && tail_all_at_end(t))
			rc = 1;
	} else {
		log_error("%s", rd_kafka_message_errstr(m));
		if (m->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC || m->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
			rc = EX_UNAVAILABLE;
	}
	rd_kafka_message_destroy(m);
	return rc;
}

/* Flow control (kafka.c): the partitions that are fetching, when the queue runs low. */
static void tail_flow(rd_kafka_t *rk, struct tail_state *t, const char *topic)
{
	rd_kafka_topic_partition_list_t *l;
	int p;

	if (!kafka_flow_due(&t->flow))
		return;
	l = rd_kafka_topic_partition_list_new(t->nparts ? t->nparts : 1);
	for (p = 0; p < t->nparts; p++)
		if (t->assigned[p] && !t->at_end[p])
			rd_kafka_topic_partition_list_add(l, topic, p);
	kafka_flow_nudge(&t->flow, rk, l);
	rd_kafka_topic_partition_list_destroy(l);
}

/* Takes one polled message: prints it (unless --null) and, as a group member, stores its
 * offset for the next automatic commit, only once printed. Returns 0, 1 at the end
 * (--exit-at-end) or an exit code. Destroys m. */
static int tail_take(struct tail_state *t, const struct tail_opts *o, struct event_decoder *dec,
		     rd_kafka_message_t *m, int64_t *seen)
{
	int rc;

	if (m->err)
		return tail_event(t, m);
	tail_grow(t, m->partition);
	if (!t->assigned[m->partition]) {
		/* Polled before a rebalance took it away: its new owner prints it. */
		rd_kafka_message_destroy(m);
		return 0;
	}
	t->at_end[m->partition] = 0;
	(*seen)++;
	rc = o->discard ? 0 : print_message(dec, m);
	if (rc == 0 && o->group)
		rd_kafka_offset_store(m->rkt, m->partition, m->offset);
	rd_kafka_message_destroy(m);
	if (rc != 0) {
		log_error("cannot write to standard output");
		return EX_IOERR;
	}
	return 0;
}

/* Reads until the end (--exit-at-end), --count messages, a signal or an error. Returns
 * an exit code; *seen counts the messages. */
static int tail_loop(rd_kafka_t *rk, struct tail_state *t, const struct tail_opts *o, const char *brokers,
		     int64_t *seen)
{
	rd_kafka_message_t *msgs[KAFKA_POLL_MAX];
	struct event_decoder dec;
	char err[512];
	int rc = EX_OK;

	event_decoder_init(&dec);
	while (rc == EX_OK && !stop_requested && !t->fatal && (o->count == 0 || *seen < o->count)) {
		/* No more than --count asks for, nor than the flow control lets pass unseen. */
		size_t max = o->count && (uint64_t)(o->count - *seen) < t->flow.every ? (size_t)(o->count - *seen) :
			     t->flow.every;
		size_t n = kafka_poll(rk, t->flow.queue, 100, msgs, max), i;

		tail_flow(rk, t, o->co.topic);
		if (n == 0) {
			if (t->exit_at_end && tail_all_at_end(t))
				break;
			if (kafka_watch_expired(&t->watch, rk, brokers, err, sizeof(err))) {
				log_error("%s", err);
				rc = EX_UNAVAILABLE;
			}
			continue;
		}
		for (i = 0; i < n; i++) {
			if (rc != EX_OK) {
				rd_kafka_message_destroy(msgs[i]);
				continue;
			}
			if (!msgs[i]->err)
				kafka_watch_contact(&t->watch);
			rc = tail_take(t, o, &dec, msgs[i], seen);
		}
	}
	event_decoder_release(&dec);
	if (rc == 1)
		rc = EX_OK; /* the end */
	return rc == EX_OK && t->fatal ? t->fatal : rc;
}

static int tail_run(int argc, char **argv)
{
	struct tail_opts o = { .count = 0, .broker_timeout_ms = -1 };
	struct tail_state t;
	int64_t seen = 0, t0, elapsed;
	const char *brokers;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	char err[512];
	int rc;

	memset(&t, 0, sizeof(t));
	common_opts_init(&o.co);
	if ((rc = options_parse(&cmd_tail, argc, argv, &o, NULL)) != OPTIONS_CONTINUE)
		return rc;
	if (o.from_beginning && o.start.from != FROM_DEFAULT)
		rc = usage_error(&cmd_tail, "--from-beginning and -o cannot be combined");
	else if (o.group && o.start.from != FROM_DEFAULT && o.start.from != FROM_BEGINNING &&
		 o.start.from != FROM_END)
		rc = usage_error(&cmd_tail, "with -g, -o takes beginning or end: the group's offsets decide the rest");
	if (rc != OPTIONS_CONTINUE)
		goto opts_release;
	if (o.from_beginning)
		o.start.from = FROM_BEGINNING;
	t.exit_at_end = o.exit_at_end;
	log_init("tail", o.co.verbosity);
	rc = EX_USAGE;
	if (!(brokers = common_brokers(&o.co)) || !(conf = tail_conf_new(&o, brokers, &t)))
		goto opts_release;
	if (!(rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err)))) {
		log_error("rd_kafka_new: %s", err);
		rc = EX_SOFTWARE;
		goto opts_release;
	}
	rd_kafka_poll_set_consumer(rk);
	kafka_flow_init(&t.flow, rk);
	signals_install();
	/* As for the consumers: only a tail that is to stop at the end gives up by default. */
	if (o.broker_timeout_ms < 0)
		o.broker_timeout_ms = t.exit_at_end ? 30000 : 0;
	kafka_watch_init(&t.watch, o.broker_timeout_ms);
	t0 = clock_mono_ms();
	if ((rc = tail_start(rk, &t, &o, brokers)) == 0) {
		rc = tail_loop(rk, &t, &o, brokers, &seen);
		elapsed = clock_mono_ms() - t0;
		log_info("%" PRId64 " events in %.2fs (%.0f events/s)", seen, (double)elapsed / 1000,
			 elapsed > 0 ? (double)seen * 1000 / (double)elapsed : 0.0);
		log_verbose("flow control: %" PRId64 " nudges", t.flow.nudges);
	}
	rd_kafka_consumer_close(rk);
	kafka_flow_release(&t.flow);
	rd_kafka_destroy(rk);
opts_release:
	free(t.at_end);
	free(t.assigned);
	options_release(&cmd_tail, &o);
	return rc;
}

const struct command cmd_tail = {
	"tail", "print the topic's messages as JSON lines (the raw reader)",
	tail_usage, tail_description, tail_options, NULL, tail_run,
};
