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

#include "chat.h"
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
	"                        [--ts-offset D] [--from FILE] [--format msgpack|json]\n"
	"                        [-H NAME=VALUE]... [-q] [-v]\n";

static const char produce_description[] =
	"Produces chat events: users from data/users.txt send lines of data/messages.txt.\n";

enum key_mode { KEY_USER, KEY_NONE, KEY_FIXED };

/* --format: the encoding of the events' payloads. */
enum format { FORMAT_MSGPACK, FORMAT_JSON };
static const char *const format_choices[] = { "msgpack", "json", NULL };

struct produce_opts {
	struct common_opts co;
	int64_t rate, count, duration_ms, users, seed, ts_offset_ms; /* seed -1: none given */
	int heartbeats;
	int format;                 /* enum format */
	enum key_mode key_mode;
	const char *fixed_key;
	const char *from;
	struct option_list headers; /* -H NAME=VALUE, in order */
};

/* -H: NAME=VALUE with a name. */
static int check_header(const char *arg, void *target)
{
	(void)target;
	return arg[0] && arg[0] != '=' && strchr(arg, '=') ? 0 : -1;
}

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
	OPTION_INT(0, "users", "N", OFF(users), 1, 10000000,
		   "simulate N users, named from data/users.txt: Alice, ..., then Alice1, ... (default 50)"),
	OPTION_INT(0, "seed", "N", OFF(seed), 0, INT64_MAX, "the same seed gives the same users, messages and order"),
	{ .kind = OPT_CALLBACK, .long_name = "key", .argname = "user|none|fixed:K", .offset = 0, .parse = parse_key,
	  .expects = "user, none or fixed:K",
	  .help = "message key: 'user' (default) keeps a user's events in order in one partition; 'none' "
		  "spreads them; 'fixed:K' keys every event with K" },
	OPTION_DURATION(0, "ts-offset", OFF(ts_offset_ms), "stamp events D in the past"),
	OPTION_CHOICE(0, "format", OFF(format), format_choices,
		      "the events' encoding: msgpack (the default) or json, the original ping-pong's"),
	{ .kind = OPT_LIST, .short_name = 'H', .long_name = "header", .argname = "NAME=VALUE", .offset = OFF(headers),
	  .parse = check_header, .expects = "NAME=VALUE",
	  .help = "add the header NAME with VALUE to every message, repeatable (kcat's -H)" },
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

/* Where the messages go: the producer, the topic and the -H headers, as a list of
 * produceva() arguments built once, whose key and value change per message. */
struct sender {
	rd_kafka_t *rk;
	rd_kafka_vu_t *vu;
	size_t nvu;
};

#define VU_KEY 2
#define VU_VALUE 3

static void sender_init(struct sender *s, rd_kafka_t *rk, const char *topic, const struct option_list *headers)
{
	size_t i;

	s->rk = rk;
	s->nvu = 4 + headers->n;
	s->vu = xcalloc(s->nvu, sizeof(*s->vu));
	s->vu[0].vtype = RD_KAFKA_VTYPE_TOPIC;
	s->vu[0].u.cstr = topic;
	s->vu[1].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
	s->vu[1].u.i = RD_KAFKA_MSG_F_COPY;
	s->vu[VU_KEY].vtype = RD_KAFKA_VTYPE_KEY;
	s->vu[VU_VALUE].vtype = RD_KAFKA_VTYPE_VALUE;
	for (i = 0; i < headers->n; i++) {
		const char *h = headers->v[i], *eq = strchr(h, '=');
		rd_kafka_vu_t *v = &s->vu[4 + i];
		/* The name is a C string to librdkafka: the header's own copy, up to the '='. */
		v->vtype = RD_KAFKA_VTYPE_HEADER;
		v->u.header.name = xstrndup(h, (size_t)(eq - h));
		v->u.header.val = eq + 1;
		v->u.header.size = (ssize_t)strlen(eq + 1);
	}
}

static void sender_release(struct sender *s)
{
	size_t i;

	for (i = 4; i < s->nvu; i++)
		free((char *)(uintptr_t)s->vu[i].u.header.name);
	free(s->vu);
}

/* Hands one payload to librdkafka, waiting while its queue is full. Returns 0 or -1.
 * The message timestamp is the time of producing, not the event's ts: Kafka refuses a
 * message stamped too far from its clock (4.x: over an hour ahead), and with it the
 * whole batch, good events included. */
static int produce_one(struct sender *s, const void *key, size_t keylen, const void *payload, size_t len,
		       char *err, size_t errlen)
{
	rd_kafka_error_t *error;

	s->vu[VU_KEY].u.mem.ptr = (void *)(uintptr_t)key;
	s->vu[VU_KEY].u.mem.size = keylen;
	s->vu[VU_VALUE].u.mem.ptr = (void *)(uintptr_t)payload;
	s->vu[VU_VALUE].u.mem.size = len;
	while ((error = rd_kafka_produceva(s->rk, s->vu, s->nvu)) &&
	       rd_kafka_error_code(error) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
		rd_kafka_error_destroy(error);
		rd_kafka_poll(s->rk, 50);
	}
	if (error) {
		set_err(-1, err, errlen, "rd_kafka_produceva: %s", rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
		return -1;
	}
	return 0;
}

/* Encodes ev in --format; *out as for event_encode. Returns 0, or -1 with the reason
 * (an event too large as JSON). */
static int encode(const struct produce_opts *o, struct event_encoder *enc, const struct event *ev,
		  const void **out, size_t *len, char *err, size_t errlen)
{
	if (o->format == FORMAT_JSON)
		return event_encode_json(enc, ev, out, len, err, errlen);
	event_encode(enc, ev, out, len);
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
			if (encode(o, &enc, &fl.ev, &payload, &plen, err, sizeof(err)) < 0) {
				log_error("%s:%ld: %s", name, lineno, err);
				bad++;
				break;
			}
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
static int from_produce(const struct from_queue *q, struct sender *snd, int64_t *produced,
			struct progress *pr)
{
	char err[256];
	size_t i;

	for (i = 0; i < q->n && !stop_requested; i++) {
		const struct from_msg *m = &q->msgs[i];
		const char *key = q->bytes + m->off;

		if (produce_one(snd, m->keylen ? key : NULL, m->keylen, key + m->keylen, m->len, err, sizeof(err)) < 0) {
			log_error("%s", err);
			return EX_UNAVAILABLE;
		}
		(*produced)++;
		progress_update(pr, *produced, (int64_t)q->n - *produced);
		rd_kafka_poll(snd->rk, 0);
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

/* The simulated room: its users and lines, the random numbers, and when each user's
 * next heart-beat is due. */
struct room {
	struct chat_lines names, lines;
	struct chat_users users;
	uint64_t rng;
	struct beat *beats;
	size_t nbeats;
	int64_t start, next_msg, msgs; /* monotonic ms; the next send-message is due at next_msg */
	char name[CHAT_NAME_MAX], email[CHAT_EMAIL_MAX];
};

static int64_t beat_interval_ms(struct room *r)
{
	return 1000 + (int64_t)(chat_rng_next(&r->rng) % 6001);
}

/* Reads the data files and sets the room up. Returns an exit code. */
static int room_open(struct room *r, const struct produce_opts *o)
{
	char err[512];
	size_t i;

	memset(r, 0, sizeof(*r));
	if (chat_lines_load(&r->names, NULL, "users.txt", err, sizeof(err)) < 0 ||
	    chat_lines_load(&r->lines, NULL, "messages.txt", err, sizeof(err)) < 0) {
		log_error("%s", err);
		return EX_NOINPUT;
	}
	chat_users_init(&r->users, &r->names, (size_t)o->users);
	r->rng = o->seed >= 0 ? chat_rng_seed((uint64_t)o->seed) : chat_rng_seed((uint64_t)time(NULL) ^ 0x5DEECE66DULL);
	r->start = r->next_msg = clock_mono_ms();
	if (o->heartbeats) {
		r->beats = xmalloc((size_t)o->users * sizeof(*r->beats));
		for (i = 0; i < (size_t)o->users; i++)
			heap_push(r->beats, &r->nbeats, (struct beat){ r->start + beat_interval_ms(r), i });
	}
	return EX_OK;
}

static void room_close(struct room *r)
{
	free(r->beats);
	chat_lines_release(&r->names);
	chat_lines_release(&r->lines);
}

/* The room's next event at monotonic time now: a heart-beat that is due, else a chat
 * message that is due (or any, at --rate 0). Returns 1 with ev filled (its strings point
 * into r), or 0 with *due the time to wait for. */
static int room_next(struct room *r, const struct produce_opts *o, int64_t now, struct event *ev, int64_t *due)
{
	size_t u;

	memset(ev, 0, sizeof(*ev));
	if (r->nbeats && r->beats[0].due <= now && (o->rate == 0 || r->beats[0].due <= r->next_msg)) {
		struct beat b = heap_pop(r->beats, &r->nbeats);
		u = b.user;
		ev->activity = EVENT_HEART_BEAT;
		heap_push(r->beats, &r->nbeats, (struct beat){ now + beat_interval_ms(r), u });
	} else if (o->rate == 0 || r->next_msg <= now) {
		size_t m = (size_t)(chat_rng_next(&r->rng) % r->lines.n);
		u = (size_t)(chat_rng_next(&r->rng) % r->users.n);
		ev->activity = EVENT_SEND_MESSAGE;
		ev->message = r->lines.v[m];
		ev->message_len = strlen(r->lines.v[m]);
		r->msgs++;
		if (o->rate > 0)
			r->next_msg = r->start + r->msgs * 1000 / o->rate;
	} else {
		*due = o->rate > 0 ? r->next_msg : now + 100;
		if (r->nbeats && r->beats[0].due < *due)
			*due = r->beats[0].due;
		if (o->duration_ms && r->start + o->duration_ms < *due)
			*due = r->start + o->duration_ms;
		return 0;
	}
	chat_user(&r->users, u, r->name, &ev->user_len, r->email, &ev->email_len);
	ev->user = r->name;
	ev->email = r->email;
	ev->ts = clock_now_ms() - o->ts_offset_ms;
	return 1;
}

static void sleep_until_mono(rd_kafka_t *rk, int64_t t_ms)
{
	int64_t now = clock_mono_ms();
	/* Serving delivery reports while waiting keeps the producer's queue moving. */
	if (t_ms > now)
		rd_kafka_poll(rk, (int)(t_ms - now > 100 ? 100 : t_ms - now));
}

static int simulate(const struct produce_opts *o, struct sender *snd, int64_t *produced,
		    struct progress *pr)
{
	struct event_encoder enc;
	struct room room;
	char err[256];
	int rc;

	if ((rc = room_open(&room, o)) != EX_OK)
		goto room_close;
	event_encoder_init(&enc);
	while (!stop_requested && (o->count == 0 || *produced < o->count)) {
		int64_t now = clock_mono_ms(), due;
		const void *payload, *key;
		size_t plen, keylen;
		struct event ev;

		if (o->duration_ms && now - room.start >= o->duration_ms)
			break;
		if (!room_next(&room, o, now, &ev, &due)) {
			sleep_until_mono(snd->rk, due);
			continue;
		}
		if (encode(o, &enc, &ev, &payload, &plen, err, sizeof(err)) < 0) {
			log_error("%s", err);
			rc = EX_DATAERR;
			break;
		}
		event_key(o, &ev, &key, &keylen);
		if (produce_one(snd, key, keylen, payload, plen, err, sizeof(err)) < 0) {
			log_error("%s", err);
			rc = EX_UNAVAILABLE;
			break;
		}
		(*produced)++;
		if (o->count)
			progress_update(pr, *produced, o->count - *produced);
		rd_kafka_poll(snd->rk, 0);
	}
	event_encoder_release(&enc);
room_close:
	room_close(&room);
	return rc;
}

/* Logs what was delivered, per partition, and what was not, once every delivery report
 * is in. Returns rc, or EX_UNAVAILABLE if a delivery failed. */
static int delivery_summary(const struct delivery *d, const char *topic, int64_t produced, int64_t elapsed,
			    int rc)
{
	char parts[4096];
	size_t off = 0;
	int i;

	for (i = 0; i < d->npartitions && off < sizeof(parts); i++)
		off += (size_t)snprintf(parts + off, sizeof(parts) - off, " %d=%" PRId64, i, d->per_partition[i]);
	if (off == 0)
		snprintf(parts, sizeof(parts), " none");
	log_info("%" PRId64 " events to %s in %.2fs (%.0f events/s); per partition:%s", d->delivered, topic,
		 (double)elapsed / 1000, elapsed > 0 ? (double)d->delivered * 1000 / (double)elapsed : 0.0, parts);
	if (d->failed) {
		log_error("%" PRId64 " of %" PRId64 " events were not delivered: %s", d->failed, produced,
			  d->first_error);
		if (rc == EX_OK)
			rc = EX_UNAVAILABLE;
	}
	return rc;
}

static int produce_run(int argc, char **argv)
{
	struct produce_opts o = { .rate = 10, .users = 50, .seed = -1 };
	struct from_queue q = { 0 };
	struct progress pr;
	struct sender snd;
	struct delivery d;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	const char *brokers;
	struct kafka_opts ko;
	char err[512];
	int64_t produced = 0, t0;
	int rc;

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
	sender_init(&snd, rk, o.co.topic, &o.headers);
	/* Progress only where there is an end to go to: --count, or a file. */
	progress_init(&pr, "produce", "produced", "events", o.count || o.from ? o.co.verbosity : -1);
	t0 = clock_mono_ms();
	rc = o.from ? from_produce(&q, &snd, &produced, &pr) : simulate(&o, &snd, &produced, &pr);
	progress_done(&pr);
	sender_release(&snd);

	/* Wait for every delivery report; a broker that never answers fails them at
	 * message.timeout.ms, so this ends. */
	while (rd_kafka_outq_len(rk) > 0)
		rd_kafka_poll(rk, 100);
	rc = delivery_summary(&d, o.co.topic, produced, clock_mono_ms() - t0, rc);
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
