/* cmd-produce.c: `pingpong produce`, the chat-room simulator.
 *
 * Users send messages at --rate per second and, with --heartbeats, a heart-beat every
 * 1 to 7 s each. Every event is stamped with its event time (ts). Each message's fate
 * comes back in a delivery report; the command waits for all of them and fails if any
 * delivery failed, so nothing is dropped silently.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cmd.h"
#include "event.h"
#include "from-line.h"
#include "kafka.h"
#include "progress.h"
#include "util.h"

static const char produce_usage[] =
	"usage: pingpong produce [-b BROKERS] [-t TOPIC] [-X KEY=VALUE]...\n"
	"                        [--rate N] [--heartbeats] [--count N | --duration D]\n"
	"                        [--users N] [--seed N] [--key user|none|fixed:K]\n"
	"                        [--ts-offset D] [--from FILE] [-q] [-v]\n";

static const char produce_description[] =
	"Produces chat events: users from data/users.txt send lines of data/messages.txt.\n";

enum key_mode { KEY_USER, KEY_NONE, KEY_FIXED };

struct produce_opts {
	struct common_opts co;
	int64_t rate, count, duration_ms, users, seed, ts_offset_ms; /* seed -1: none given */
	int heartbeats;
	enum key_mode key_mode;
	const char *fixed_key;
	const char *from;
};

static int parse_key(const char *arg, void *target)
{
	struct produce_opts *o = target;

	if (!strcmp(arg, "user"))
		o->key_mode = KEY_USER;
	else if (!strcmp(arg, "none"))
		o->key_mode = KEY_NONE;
	else if (!strncmp(arg, "fixed:", 6) && arg[6]) {
		o->key_mode = KEY_FIXED;
		o->fixed_key = arg + 6;
	} else
		return -1;
	return 0;
}

#define OFF(field) offsetof(struct produce_opts, field)

static const struct option_spec produce_options[] = {
	OPTION_INT(0, "rate", "N", OFF(rate), 0, 100000000,
		   "send-message events per second; 0 is as fast as possible (default 10)"),
	OPTION_FLAG(0, "heartbeats", OFF(heartbeats), "every user also sends a heart-beat every 1 to 7 s"),
	OPTION_INT(0, "count", "N", OFF(count), 1, INT64_MAX, "stop after N events in all"),
	OPTION_DURATION(0, "duration", OFF(duration_ms),
			"stop after D (e.g. 30s); without --count or --duration, run until SIGINT or SIGTERM"),
	OPTION_INT(0, "users", "N", OFF(users), 1, 10000000, "use the first N names of data/users.txt (default 50)"),
	OPTION_INT(0, "seed", "N", OFF(seed), 0, INT64_MAX, "the same seed gives the same users, messages and order"),
	{ .kind = OPT_CALLBACK, .long_name = "key", .argname = "user|none|fixed:K", .offset = 0, .parse = parse_key,
	  .expects = "user, none or fixed:K",
	  .help = "message key: 'user' (default) keeps a user's events in order in one partition; 'none' "
		  "spreads them; 'fixed:K' keys every event with K" },
	OPTION_DURATION(0, "ts-offset", OFF(ts_offset_ms), "stamp events D in the past"),
	OPTION_STRING(0, "from", "FILE", OFF(from),
		      "produce the events of a JSON-lines file instead of simulating; '-' reads standard input"),
	OPTION_GROUP(COMMON_HEADING, common_kafka_options, OFF(co)),
	OPTION_GROUP(COMMON_HEADING, common_log_options, OFF(co)),
	OPTION_END
};

/* Delivery-report bookkeeping, updated from rd_kafka_poll() on this thread. */
struct delivery {
	int64_t delivered, failed;
	int64_t *per_partition;
	int npartitions;
	char first_error[256];
};

struct lines {
	char **v;
	size_t n;
};

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	/* xorshift64*: small, fast, and reproducible from --seed. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static int load_lines(const char *name, struct lines *out, char *err, size_t errlen)
{
	char *path = data_path(name);
	char buf[1024];
	FILE *f;

	out->v = NULL;
	out->n = 0;
	if (!path)
		return set_err(-1, err, errlen, "cannot find data file '%s' (set PINGPONG_DATADIR)", name);
	f = fopen(path, "r");
	if (!f) {
		set_err(-1, err, errlen, "cannot open '%s': %s", path, strerror(errno));
		free(path);
		return -1;
	}
	while (fgets(buf, sizeof(buf), f)) {
		size_t len = strcspn(buf, "\r\n");
		if (len == 0 || buf[0] == '#')
			continue;
		out->v = xrealloc(out->v, (out->n + 1) * sizeof(*out->v));
		out->v[out->n++] = xstrndup(buf, len);
	}
	fclose(f);
	free(path);
	if (out->n == 0)
		return set_err(-1, err, errlen, "data file '%s' is empty", name);
	return 0;
}

static void lines_release(struct lines *l)
{
	size_t i;
	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	struct delivery *d = opaque;

	(void)rk;
	if (m->err) {
		if (d->failed++ == 0)
			snprintf(d->first_error, sizeof(d->first_error), "%s", rd_kafka_err2str(m->err));
		return;
	}
	d->delivered++;
	if (m->partition >= d->npartitions) {
		int n = m->partition + 1;
		d->per_partition = xrealloc(d->per_partition, (size_t)n * sizeof(*d->per_partition));
		memset(d->per_partition + d->npartitions, 0,
		       (size_t)(n - d->npartitions) * sizeof(*d->per_partition));
		d->npartitions = n;
	}
	d->per_partition[m->partition]++;
}

/* Hands one payload to librdkafka, waiting while its queue is full. Returns 0 or -1.
 * The message timestamp is the time of producing, not the event's ts: Kafka refuses a
 * message stamped too far from its clock (4.x: over an hour ahead), and with it the
 * whole batch, good events included. */
static int produce_one(rd_kafka_t *rk, const char *topic, const void *key, size_t keylen,
		       const void *payload, size_t len, char *err, size_t errlen)
{
	rd_kafka_resp_err_t e;

	for (;;) {
		e = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
				      RD_KAFKA_V_KEY(key, keylen),
				      RD_KAFKA_V_VALUE((void *)payload, len), RD_KAFKA_V_END);
		if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
			break;
		rd_kafka_poll(rk, 50);
	}
	if (e)
		return set_err(-1, err, errlen, "rd_kafka_producev: %s", rd_kafka_err2str(e));
	return 0;
}

static void event_key(const struct produce_opts *o, const struct event *ev, const void **key, size_t *keylen)
{
	*key = NULL;
	*keylen = 0;
	switch (o->key_mode) {
	case KEY_USER:
		*key = ev->user;
		*keylen = ev->user_len;
		break;
	case KEY_NONE:
		break;
	case KEY_FIXED:
		*key = o->fixed_key;
		*keylen = strlen(o->fixed_key);
		break;
	}
}

/* The events of a --from file, validated and encoded, ready to produce: one buffer of
 * key and payload bytes, and where each message's are. */
struct from_queue {
	char *bytes;
	size_t len, cap;
	struct from_msg {
		size_t off;      /* key bytes, then payload bytes */
		size_t keylen;   /* 0: no key */
		size_t len;      /* payload bytes */
	} *msgs;
	size_t n, ncap;
};

static void queue_add(struct from_queue *q, const void *key, size_t keylen, const void *payload,
		      size_t len)
{
	struct from_msg *m;

	if (q->len + keylen + len > q->cap) {
		q->cap = (q->len + keylen + len) * 2;
		q->bytes = xrealloc(q->bytes, q->cap);
	}
	if (q->n == q->ncap) {
		q->ncap = q->ncap ? q->ncap * 2 : 1024;
		q->msgs = xrealloc(q->msgs, q->ncap * sizeof(*q->msgs));
	}
	m = &q->msgs[q->n++];
	m->off = q->len;
	m->keylen = keylen;
	m->len = len;
	if (keylen)
		memcpy(q->bytes + q->len, key, keylen);
	memcpy(q->bytes + q->len + keylen, payload, len);
	q->len += keylen + len;
}

static void queue_release(struct from_queue *q)
{
	free(q->bytes);
	free(q->msgs);
	memset(q, 0, sizeof(*q));
}

/* Reads the --from file ("-" is standard input) once, validating and encoding every
 * line into q, before anything is produced: a bad file produces nothing, and a pipe,
 * which cannot be read twice, works. Returns an exit code. */
static int from_load(const struct produce_opts *o, struct from_queue *q)
{
	int use_stdin = !strcmp(o->from, "-");
	const char *name = use_stdin ? "(standard input)" : o->from;
	FILE *f = use_stdin ? stdin : fopen(o->from, "r");
	struct event_encoder enc;
	struct from_line fl;
	char *line = NULL, err[256];
	size_t cap = 0;
	ssize_t len;
	long lineno = 0, bad = 0;
	int rc = EX_OK;

	if (!f) {
		log_error("cannot open '%s': %s", o->from, strerror(errno));
		return EX_NOINPUT;
	}
	event_encoder_init(&enc);
	from_line_init(&fl);
	while ((len = getline(&line, &cap, f)) != -1) {
		const void *payload, *key;
		size_t plen, keylen;

		lineno++;
		if (from_line_parse(&fl, line, (size_t)len, err, sizeof(err)) < 0) {
			log_error("%s:%ld: %s", name, lineno, err);
			bad++;
			continue;
		}
		switch (fl.kind) {
		case FROM_LINE_BLANK:
			break;
		case FROM_LINE_RAW:
			queue_add(q, NULL, 0, fl.raw, fl.raw_len);
			break;
		case FROM_LINE_EVENT:
			event_encode(&enc, &fl.ev, &payload, &plen);
			event_key(o, &fl.ev, &key, &keylen);
			queue_add(q, key, keylen, payload, plen);
			break;
		}
	}
	if (ferror(f)) {
		log_error("cannot read '%s': %s", name, strerror(errno));
		rc = EX_IOERR;
	} else if (bad) {
		log_error("%s: %ld bad line(s); nothing produced", name, bad);
		rc = EX_DATAERR;
	}
	free(line);
	from_line_release(&fl);
	event_encoder_release(&enc);
	if (!use_stdin)
		fclose(f);
	return rc;
}

/* Produces what from_load() queued, in order. Returns an exit code. */
static int from_produce(const struct from_queue *q, rd_kafka_t *rk, const char *topic,
			int64_t *produced, struct progress *pr)
{
	char err[256];
	size_t i;

	for (i = 0; i < q->n && !stop_requested; i++) {
		const struct from_msg *m = &q->msgs[i];
		const char *key = q->bytes + m->off;

		if (produce_one(rk, topic, m->keylen ? key : NULL, m->keylen, key + m->keylen, m->len, err,
				sizeof(err)) < 0) {
			log_error("%s", err);
			return EX_UNAVAILABLE;
		}
		(*produced)++;
		progress_update(pr, *produced, (int64_t)q->n - *produced);
		rd_kafka_poll(rk, 0);
	}
	return EX_OK;
}

/* A min-heap of (due time, user) for heart-beats. */
struct beat {
	int64_t due;
	size_t user;
};

static void heap_push(struct beat *h, size_t *n, struct beat b)
{
	size_t i = (*n)++;
	while (i > 0 && h[(i - 1) / 2].due > b.due) {
		h[i] = h[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h[i] = b;
}

static struct beat heap_pop(struct beat *h, size_t *n)
{
	struct beat top = h[0], last = h[--(*n)];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= *n)
			break;
		if (c + 1 < *n && h[c + 1].due < h[c].due)
			c++;
		if (last.due <= h[c].due)
			break;
		h[i] = h[c];
		i = c;
	}
	if (*n)
		h[i] = last;
	return top;
}

static int64_t beat_interval_ms(void)
{
	return 1000 + (int64_t)(rng_next() % 6001);
}

static void sleep_until_mono(rd_kafka_t *rk, int64_t t_ms)
{
	int64_t now = clock_mono_ms();
	/* Serving delivery reports while waiting keeps the producer's queue moving. */
	if (t_ms > now)
		rd_kafka_poll(rk, (int)(t_ms - now > 100 ? 100 : t_ms - now));
}

static int simulate(const struct produce_opts *o, rd_kafka_t *rk, const char *topic, int64_t *produced,
		    struct progress *pr)
{
	struct lines users, messages;
	struct event_encoder enc;
	struct beat *beats = NULL;
	size_t nbeats = 0, nusers, i;
	char **emails;
	char err[256];
	int64_t start = clock_mono_ms(), next_msg = start, msgs = 0;
	int rc = EX_OK;
	static const char *const domains[] = { "example.com", "example.org", "example.net", "chat.test" };

	if (load_lines("users.txt", &users, err, sizeof(err)) < 0 ||
	    load_lines("messages.txt", &messages, err, sizeof(err)) < 0) {
		log_error("%s", err);
		return EX_NOINPUT;
	}
	nusers = o->users < (int64_t)users.n ? (size_t)o->users : users.n;
	if ((int64_t)nusers < o->users)
		log_warn("only %zu users in users.txt", users.n);
	/* A stable email per user: the lower-cased name at a domain chosen by the name. */
	emails = xcalloc(nusers, sizeof(*emails));
	for (i = 0; i < nusers; i++) {
		size_t len = strlen(users.v[i]), k, h = 0;
		char *e = xmalloc(len + 32);
		for (k = 0; k < len; k++) {
			e[k] = (char)(users.v[i][k] >= 'A' && users.v[i][k] <= 'Z' ? users.v[i][k] + 32 : users.v[i][k]);
			h = h * 31 + (unsigned char)e[k];
		}
		snprintf(e + len, 32, "@%s", domains[h % 4]);
		emails[i] = e;
	}
	if (o->heartbeats) {
		beats = xmalloc(nusers * sizeof(*beats));
		for (i = 0; i < nusers; i++)
			heap_push(beats, &nbeats, (struct beat){ start + beat_interval_ms(), i });
	}
	event_encoder_init(&enc);

	while (!stop_requested && (o->count == 0 || *produced < o->count)) {
		int64_t now = clock_mono_ms(), due;
		struct event ev;
		size_t u;
		const void *payload, *key;
		size_t plen, keylen;

		if (o->duration_ms && now - start >= o->duration_ms)
			break;
		memset(&ev, 0, sizeof(ev));
		if (o->heartbeats && nbeats && beats[0].due <= now &&
		    (o->rate == 0 ? 1 : beats[0].due <= next_msg)) {
			struct beat b = heap_pop(beats, &nbeats);
			u = b.user;
			ev.activity = EVENT_HEART_BEAT;
			heap_push(beats, &nbeats, (struct beat){ now + beat_interval_ms(), u });
		} else if (o->rate == 0 || next_msg <= now) {
			size_t m = (size_t)(rng_next() % messages.n);
			u = (size_t)(rng_next() % nusers);
			ev.activity = EVENT_SEND_MESSAGE;
			ev.message = messages.v[m];
			ev.message_len = strlen(messages.v[m]);
			msgs++;
			if (o->rate > 0)
				next_msg = start + msgs * 1000 / o->rate;
		} else {
			due = o->rate > 0 ? next_msg : now + 100;
			if (o->heartbeats && nbeats && beats[0].due < due)
				due = beats[0].due;
			if (o->duration_ms && start + o->duration_ms < due)
				due = start + o->duration_ms;
			sleep_until_mono(rk, due);
			continue;
		}
		ev.user = users.v[u];
		ev.user_len = strlen(users.v[u]);
		ev.email = emails[u];
		ev.email_len = strlen(emails[u]);
		ev.ts = clock_now_ms() - o->ts_offset_ms;
		event_encode(&enc, &ev, &payload, &plen);
		event_key(o, &ev, &key, &keylen);
		if (produce_one(rk, topic, key, keylen, payload, plen, err, sizeof(err)) < 0) {
			log_error("%s", err);
			rc = EX_UNAVAILABLE;
			break;
		}
		(*produced)++;
		if (o->count)
			progress_update(pr, *produced, o->count - *produced);
		rd_kafka_poll(rk, 0);
	}

	event_encoder_release(&enc);
	free(beats);
	for (i = 0; i < nusers; i++)
		free(emails[i]);
	free(emails);
	lines_release(&users);
	lines_release(&messages);
	return rc;
}

static int produce_run(int argc, char **argv)
{
	struct produce_opts o = { .rate = 10, .users = 50, .seed = -1 };
	struct from_queue q = { 0 };
	struct progress pr;
	struct delivery d;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	const char *brokers;
	struct kafka_opts ko;
	char err[512], parts[4096];
	int64_t produced = 0, t0, elapsed;
	size_t off = 0;
	int i, rc;

	common_opts_init(&o.co);
	if ((rc = options_parse(&cmd_produce, argc, argv, &o, NULL)) != OPTIONS_CONTINUE)
		return rc;
	if (o.from && (o.heartbeats || o.duration_ms || o.count)) {
		rc = usage_error(&cmd_produce, "--from cannot be combined with --heartbeats, --count or --duration");
		goto opts_release;
	}
	log_init("produce", o.co.verbosity);
	brokers = common_brokers(&o.co);
	if (!brokers) {
		rc = EX_USAGE;
		goto opts_release;
	}
	rng_state = o.seed >= 0 ? (uint64_t)o.seed * 0x9E3779B97F4A7C15ULL + 1 : (uint64_t)time(NULL) ^ 0x5DEECE66DULL;
	if (!rng_state)
		rng_state = 1;

	/* Validate a file before connecting, so that a bad one produces nothing. */
	if (o.from && (rc = from_load(&o, &q)) != EX_OK)
		goto queue_release;

	memset(&d, 0, sizeof(d));
	ko = common_kafka_opts(&o.co, brokers);
	conf = kafka_conf_new(&ko, kafka_producer_tuning, err, sizeof(err));
	if (!conf) {
		log_error("%s", err);
		rc = EX_USAGE;
		goto queue_release;
	}
	/* Unkeyed events go to a random partition per message, not in sticky runs: --key
	 * none promises to spread them. -X still has the last word. */
	if (o.key_mode == KEY_NONE &&
	    (kafka_conf_set(conf, "sticky.partitioning.linger.ms", "0", err, sizeof(err)) < 0 ||
	     kafka_conf_user_props(conf, &ko, err, sizeof(err)) < 0)) {
		log_error("%s", err);
		rd_kafka_conf_destroy(conf);
		rc = EX_USAGE;
		goto queue_release;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
	rd_kafka_conf_set_opaque(conf, &d);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
	if (!rk) {
		log_error("rd_kafka_new: %s", err);
		rc = EX_SOFTWARE;
		goto queue_release;
	}
	signals_install();
	/* Progress only where there is an end to go to: --count, or a file. */
	progress_init(&pr, "produce", "produced", "events", o.count || o.from ? o.co.verbosity : -1);
	t0 = clock_mono_ms();
	rc = o.from ? from_produce(&q, rk, o.co.topic, &produced, &pr) :
		      simulate(&o, rk, o.co.topic, &produced, &pr);
	progress_done(&pr);

	/* Wait for every delivery report; a broker that never answers fails them at
	 * message.timeout.ms, so this ends. */
	while (rd_kafka_outq_len(rk) > 0)
		rd_kafka_poll(rk, 100);
	elapsed = clock_mono_ms() - t0;

	for (i = 0; i < d.npartitions && off < sizeof(parts); i++)
		off += (size_t)snprintf(parts + off, sizeof(parts) - off, " %d=%" PRId64, i, d.per_partition[i]);
	if (off == 0)
		snprintf(parts, sizeof(parts), " none");
	log_info("%" PRId64 " events to %s in %.2fs (%.0f events/s); per partition:%s",
		 d.delivered, o.co.topic, (double)elapsed / 1000,
		 elapsed > 0 ? (double)d.delivered * 1000 / (double)elapsed : 0.0, parts);
	if (d.failed) {
		log_error("%" PRId64 " of %" PRId64 " events were not delivered: %s", d.failed, produced,
			  d.first_error);
		if (rc == EX_OK)
			rc = EX_UNAVAILABLE;
	}
	rd_kafka_destroy(rk);
	free(d.per_partition);
queue_release:
	queue_release(&q);
opts_release:
	options_release(&cmd_produce, &o);
	return rc;
}

const struct command cmd_produce = {
	"produce", "simulate the chat room: produce messages and heart-beats",
	produce_usage, produce_description, produce_options, NULL, produce_run,
};
