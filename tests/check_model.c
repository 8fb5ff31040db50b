/* check_model.c: a model-based random test of the active consumer's store.
 *
 * Random streams of messages (partition, offset, payload bytes) go through the real apply
 * path -- batch_commit() of src/batch.c, with active_apply() of src/active.c as its hook --
 * and through a model written here, from the rules alone, that shares no code with store.c
 * or active.c. After every batch applied in this process, after every crash and at the end
 * of every stream, everything the store holds is read back through store.h and compared
 * with the model: every user's last_seen, count, email and email_ts, the by_time index,
 * the index floor, the offsets, the rejects (reason and payload prefix), the gaps, and
 * store_check().
 *
 * The rules the model implements (the active store's semantics), per batch applied at
 * wall-clock time `now`:
 *  1. floor = max(stored floor, now - retain); it never moves back.
 *  2. Each message, in batch order: below its partition's stored next offset it is skipped;
 *     otherwise next = offset + 1, and an undecodable payload is rejected with the
 *     decoder's reason, an event with ts > now + max_skew is rejected as "in the future",
 *     with retain_users an event older than the floor is ignored, and any other event is
 *     applied to its user.
 *  3. Applying: with retain_users a user last seen below the floor starts afresh; count
 *     += 1; last_seen = max; a non-empty email replaces the stored one when (ts, bytes) is
 *     greater than (email_ts, stored bytes); an empty or absent one never does.
 *  4. by_time is append-only (schema 5 on): after a batch (each of its two hook calls),
 *     each record the batch applied events to gets an entry at its last_seen when that
 *     changed (or the record is new, or was forgotten) and is at or above the floor; no
 *     entry is deleted but by pruning, which deletes only entries below the floor. So at
 *     and above the floor by_time holds exactly the entries the model added there; below
 *     it, a subset of them. Every entry is at or before its record's last_seen. In segments
 *     (schema 6): a call's entries of one second are one segment, after the second's
 *     earlier ones; the index reads by the second, each record's entries in its time
 *     order.
 *  5. A batch applied while the consumer is caught up also compacts by_time (active_upkeep):
 *     from where the last compaction stopped, or the floor's second if later, it examines
 *     whole segments in key order until max(chunk, 4 x the batch's live messages) entries
 *     or more, and deletes those at or above the floor older than their record's
 *     last_seen; the next goes on from the first segment not examined, or from the floor
 *     once one reached the end. So rule 4's "exactly" becomes "exactly those added and not
 *     compacted away".
 *
 * The generator writes msgpack itself (msgpack-c's packer plus raw headers), so that key
 * order, unknown keys, string and integer header widths and map header forms vary, and it
 * builds every rejection reason the decoder has on purpose: the model knows the reason it
 * expects without decoding anything (the strings are restated from event.c). A share of
 * the payloads, from none to all per stream, is JSON instead, as the original ping-pong
 * wrote it, written here by hand: members in any order, unknown keys of every JSON type,
 * repeated unknown keys, whitespace, every escape (\u0000 in a NUL kind), a repeated
 * field's key escaped too. A JSON payload of a kind only msgpack can have is never
 * drawn; where the JSON text itself is wrong (cut short, trailing bytes, an integer too
 * big, bytes that are not UTF-8) the model restates jansson's reason and the byte it
 * gives. Three of
 * event_validate's reasons cannot come out of a decoded payload and are left to
 * check_event: "unknown activity (N)" (the decoder only yields known activities), and
 * both "event too large" (a payload is never smaller than the canonical encoding that
 * rule measures, and it is bounded first).
 *
 * Crashes: a few batches run in a forked child with PINGPONG_CRASH=any:N, which abort()s
 * at the Nth crash point inside a transaction. The parent reopens the store, tells from
 * the stored offsets whether the batch in flight committed (where they cannot tell, by the
 * index floor, or by the store matching the model with the batch and not without it, which
 * a caught-up batch's compaction alone can cause), compares, and goes on like a
 * restarted consumer: every partition is re-delivered from its stored next offset. In this
 * process, the hook fails at a random call (the txn is aborted, nothing committed) and the
 * batch is retried.
 *
 * Seeds: every stream has its own seed and a stream is a function of it alone.
 * PINGPONG_SEED=S replays stream S alone; PINGPONG_MODEL_STREAMS=N runs N streams (500 by
 * default) from a base seed printed on stderr (PINGPONG_MODEL_BASE=B picks it).
 */
#include "config.h"

#include <check.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include "active.h"
#include "batch.h"
#include "crash.h"
#include "store.h"
#include "util.h"

/* The decoder's limits, restated (event.c): the model does not take them from the code. */
#define NAME_MAX_BYTES 255     /* user and email */
#define PAYLOAD_LIMIT 65536
#define NEST_LIMIT 32
#define REASON_MAX 160         /* batch.h: a reason longer than this would be cut */
#define PREFIX_MAX 64          /* the payload bytes a reject keeps */

#define MAX_BATCH 300
#define MAX_SEGMENT 8          /* batches planned (and run in one child) at a time */
#define MAX_PARTS 4
#define STREAMS_PER_LOOP 10
#define TOPIC "model-topic"

/* ---- what the streams covered, shared with the forked test processes ------------------ */

enum bad_kind {
	B_TOO_LARGE, B_EMPTY, B_TRUNCATED, B_C1, B_DEEP, B_TRAILING, B_NOT_MAP, B_KEY_NOT_STR,
	B_DUP, B_NO_USER, B_USER_TYPE, B_EMAIL_TYPE, B_NO_ACT, B_ACT_TYPE, B_ACT_UNKNOWN,
	B_MSG_TYPE, B_NO_TS, B_TS_RANGE, B_TS_TYPE, B_USER_EMPTY, B_USER_LONG, B_USER_UTF8,
	B_EMAIL_LONG, B_EMAIL_UTF8, B_NO_MSG, B_MSG_UTF8, B_TS_NONPOS, B_USER_NUL, B_EMAIL_NUL,
	NBAD
};

static const char *const bad_names[NBAD] = {
	"payload too large", "empty payload", "truncated", "0xc1", "nesting too deep",
	"trailing bytes", "not a map", "key not a string", "duplicate field", "no user",
	"user not a string", "email not a string", "no activity", "activity not a string",
	"unknown activity", "message not a string", "no ts", "ts out of range",
	"ts not an integer", "user empty", "user too long", "user not UTF-8", "email too long",
	"email not UTF-8", "no message", "message not UTF-8", "ts not positive", "NUL in user",
	"NUL in email",
};

enum ts_edge {
	T_WINDOW, T_FLOOR, T_FLOOR_M1, T_FLOOR_P1, T_RETAIN, T_RETAIN_M1, T_NOW, T_SKEW,
	T_SKEW_P1, T_FUTURE_IN, T_FUTURE_OUT, T_OLD, T_TIE, T_NEAR, T_ONE, T_MAX, T_OOO,
	NTS
};

static const char *const ts_names[NTS] = {
	"in window", "== floor", "floor - 1", "floor + 1", "== now - retain", "now - retain - 1",
	"== now", "== now + skew", "now + skew + 1", "future within skew", "future beyond skew",
	"older than retention", "tie with user's last", "near user's last", "ts 1", "INT64_MAX",
	"out of order",
};

enum { F_FIX, F_8, F_16, F_32, NFORMS }; /* string and map header forms */
enum { I_FIXINT, I_U8, I_U16, I_U32, I_U64, I_I8, I_I16, I_I32, I_I64, NINTS };

struct stats {
	uint64_t streams, batches, messages, applied_events, skipped, rejects, future, gaps,
		 zombies, crashes, crash_committed, crash_unreached, injected, grows, compares,
		 retain_users_streams, small_maps, max_users, now_back, sync_streams;
	uint64_t bad[NBAD], ts[NTS], str_form[NFORMS], map_form[NFORMS], int_form[NINTS];
	uint64_t no_email, empty_email, email_len_change, name_255_multibyte, name_1,
		 dup_payload, exact_size, nest_edge, unknown_keys;
	uint64_t rec_same_size, rec_resized, index_not_last;
	uint64_t upkeeps, compacted, compact_resumed, compact_passes, crash_told_by_compaction, idle_steps;
	uint64_t json_payloads, json_escapes, json_bad[NBAD];
	int failed;
};

static struct stats *stats; /* MAP_SHARED: the forked tests add to it */
static int tracing;          /* PINGPONG_MODEL_TRACE: every batch and what the model made of it */

/* ---- random numbers (splitmix64: one seed, one stream) ------------------------------ */

struct rng {
	uint64_t s;
};

static uint64_t rng_u64(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* [0, n) */
static uint64_t rnd(struct rng *r, uint64_t n)
{
	return n ? rng_u64(r) % n : 0;
}

/* [lo, hi] */
static int64_t rnd_in(struct rng *r, int64_t lo, int64_t hi)
{
	return hi <= lo ? lo : lo + (int64_t)rnd(r, (uint64_t)(hi - lo) + 1);
}

static int chance(struct rng *r, unsigned pct)
{
	return rnd(r, 100) < pct;
}

/* ---- the stream: its messages, its model, its store ------------------------------- */

/* A message of a partition's log. A partition's offsets only grow, with holes where the
 * topic was compacted. */
struct lmsg {
	int64_t offset;
	unsigned char *payload;
	size_t len;
	char *reason;          /* the decoder rejects it with exactly this; NULL: an event */
	int user;              /* the event's: index into the pool */
	int64_t ts;
	unsigned char *email;  /* non-empty email, or NULL (absent or empty) */
	size_t email_len;
};

struct plog {
	struct lmsg *m;
	size_t n, cap;
	size_t pos;            /* the consumer's position: next message it will be given */
	int64_t gen_next;      /* the next offset a new message may take */
	int64_t plan_next;     /* what the stored next offset will be after the planned batches */
};

struct pname {
	unsigned char name[NAME_MAX_BYTES];
	size_t len;
	int64_t last_ts;       /* of its latest generated event, for ties */
	unsigned char email[NAME_MAX_BYTES];
	size_t email_len;
};

struct mref {
	int32_t p;
	uint32_t i;            /* index into logs[p].m */
};

struct op {
	int gap;               /* batch_record_gap(p, from, to) instead of a batch */
	int32_t p;
	int64_t from, to;
	int64_t now;
	int fail_at;           /* in this process: the hook call that fails, 0 none */
	int idle;              /* the consumer is caught up: active_upkeep() runs in the txn */
	unsigned long no;      /* the batch number the failure messages give */
	size_t n;
	struct mref refs[MAX_BATCH];
};

/* The model: one record per (source partition, user), as the rules apply each
 * partition's events apart. */
struct muser {
	int32_t p;
	unsigned char name[NAME_MAX_BYTES];
	size_t len;
	int64_t last_seen;
	uint64_t count;
	int has_email;
	unsigned char email[NAME_MAX_BYTES];
	size_t email_len;
	int64_t email_ts;
	unsigned long batch;   /* the last batch that applied events to it, and before it: */
	uint64_t count_before;
	int64_t last_seen_before;
};

/* A by_time entry the model added, and the segment it is in (store.h, schema 6): the
 * second of its time, and the write that added it, counted here (the store's txn id and
 * seq sort the same way). */
struct mentry {
	int64_t ts;
	const struct muser *u;
	int64_t second;
	uint64_t write;
};

struct mreject {
	int32_t p;
	int64_t off;
	char reason[REASON_MAX];
	unsigned char prefix[PREFIX_MAX];
	size_t plen;
};

struct mgap {
	int32_t p;
	int64_t from, to;
};

struct model {
	struct muser **users;  /* sorted by (partition, name), as LMDB sorts the keys */
	size_t nusers, capusers;
	int64_t next[MAX_PARTS]; /* -1: none stored */
	uint64_t fp[MAX_PARTS];  /* the fingerprint of the message before next; 0: unknown */
	int64_t floor;           /* INT64_MIN: none stored */
	struct mreject *rej;     /* sorted by (partition, offset) */
	size_t nrej, caprej;
	struct mgap *gaps;
	size_t ngaps, capgaps;
	struct mentry *entries;  /* by_time as added, in (time, record) order */
	size_t nentries, capentries;
	uint64_t writes;         /* segments written */
	struct mentry compact_at; /* where the next compaction goes on, its second and write;
				   * u NULL: the floor */
	int pass_ended;           /* the last compaction reached the index's end */
	struct muser **touched;  /* the records the batch being applied applied events to */
	size_t ntouched, captouched;
	unsigned long batches;   /* batches applied, for muser.batch */
};

/* A message's fingerprint as pingpong-store(1) describes it, written again here: 64-bit
 * FNV-1a over the key's length (8 bytes, host order), the key (none here) and the
 * payload; 0 becomes 1. */
static uint64_t model_fingerprint(const void *payload, size_t len)
{
	const unsigned char *b = payload;
	uint64_t h = 0xcbf29ce484222325ULL, zero = 0;
	size_t i;

	for (i = 0; i < sizeof(zero); i++)
		h = (h ^ ((const unsigned char *)&zero)[i]) * 0x100000001b3ULL;
	for (i = 0; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h ? h : 1;
}

/* What a crash child and its parent share. */
struct child_report {
	volatile int done;     /* batches of the segment committed and returned */
	char err[600];
};

struct hook_ctx {
	struct active_apply apply;
	int64_t now;
	int calls, fail_at;
};

struct stream {
	uint64_t seed;
	struct rng r;
	/* the profile */
	int nparts, npool, nops, retain_users;
	int64_t retain, skew, base;
	uint64_t map_size;
	int sync;              /* fsync each commit: LMDB writes its own pages (no MDB_WRITEMAP) */
	unsigned bad_pct, dup_pct, zombie_pct, crash_pct, gap_pct, fail_pct, json_pct, idle_pct;
	size_t upkeep_chunk;
	/* the generator */
	struct pname *pool;
	struct plog logs[MAX_PARTS];
	int64_t plan_now, plan_floor;
	int64_t max_ts;        /* the latest event time applied */
	unsigned long planned;
	struct op seg[MAX_SEGMENT];
	size_t nseg;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	unsigned char sbuf[4][4096]; /* scratch strings of the payload being built */
	/* the model */
	struct model md;
	/* the code under test */
	char dir[128];
	struct store *s;
	struct batch b;
	struct hook_ctx ctx;
	struct child_report *report;
	/* the comparison's scratch */
	struct suser { int32_t p; const unsigned char *name; size_t len; struct store_user u; int64_t seen; } *su;
	size_t nsu, capsu;
	struct sentry { int32_t p; const unsigned char *name; size_t len; int64_t ts; } *se;
	size_t nse, capse;
	struct suser *mu;        /* the users merged, by the model's merge of su[] */
	size_t nmu, capmu;
	struct suser **order;    /* scratch: su[] by (name, partition) */
	size_t caporder;
	struct active_set act;   /* active_collect()'s answer */
	struct sreject { int32_t p; int64_t off; const char *reason; const unsigned char *pay; size_t plen; } *sr;
	size_t nsr, capsr;
	struct mgap *sg;
	size_t nsg, capsg;
	int64_t soff[MAX_PARTS];
	int soff_bad;
	char problem[600];
	int problems;
	char fail[2048];
};

static void *xrealloc_or_die(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q)
		abort();
	return q;
}

#define GROW(arr, n, cap) do { \
	if ((n) == (cap)) { \
		(cap) = (cap) ? 2 * (cap) : 64; \
		(arr) = xrealloc_or_die((arr), (cap) * sizeof(*(arr))); \
	} \
} while (0)

static void *memdup_or_null(const void *p, size_t n)
{
	void *q;

	if (!p)
		return NULL;
	q = xrealloc_or_die(NULL, n);
	memcpy(q, p, n);
	return q;
}

/* Shows bytes for a failure message (util.c's quote_bytes), and a long one's length. */
static const char *show(char *buf, size_t buflen, const void *p, size_t len)
{
	size_t o;

	quote_bytes(buf, buflen, p, len, 40);
	o = strlen(buf);
	if (len > 40 && o < buflen)
		snprintf(buf + o, buflen - o, "(%zu bytes)", len);
	return buf;
}

/* LMDB's default key order: memcmp, then the shorter first. */
static int keycmp(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* The order of a users key, be32(partition) then the name: partitions are never
 * negative, so the number's order. */
static int reccmp(int32_t ap, const unsigned char *a, size_t alen, int32_t bp, const unsigned char *b, size_t blen)
{
	if (ap != bp)
		return ap < bp ? -1 : 1;
	return keycmp(a, alen, b, blen);
}

static int mismatch(struct stream *st, unsigned long no, const char *when, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int mismatch(struct stream *st, unsigned long no, const char *when, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(st->fail, sizeof(st->fail),
			 "seed %" PRIu64 " (replay: PINGPONG_SEED=%" PRIu64 " tests/check_model), batch #%lu, %s: ",
			 st->seed, st->seed, no, when);

	va_start(ap, fmt);
	vsnprintf(st->fail + n, sizeof(st->fail) - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- UTF-8, written from the standard (RFC 3629), not from util.c ------------------ */

static size_t put_cp(unsigned char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* A code point that takes `width` bytes, never NUL or a surrogate; often an edge. */
static uint32_t rand_cp(struct rng *r, int width)
{
	static const uint32_t lo[] = { 0, 0x01, 0x80, 0x800, 0x10000 };
	static const uint32_t hi[] = { 0, 0x7f, 0x7ff, 0xffff, 0x10ffff };
	static const uint32_t edges3[] = { 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x20ac };
	uint32_t cp;

	if (width == 1)
		return chance(r, 92) ? (uint32_t)rnd_in(r, 0x20, 0x7e) : (uint32_t)rnd_in(r, 0x01, 0x7f);
	if (chance(r, 15)) {
		if (width == 3)
			return edges3[rnd(r, 6)];
		return chance(r, 50) ? lo[width] : hi[width];
	}
	do
		cp = (uint32_t)rnd_in(r, lo[width], hi[width]);
	while (cp >= 0xd800 && cp <= 0xdfff);
	return cp;
}

/* Fills out with exactly len bytes of valid UTF-8 without NUL. mix: percent of multi-byte
 * characters. last > 1: the last character takes `last` bytes (len >= last). */
static void rand_utf8(struct rng *r, unsigned char *out, size_t len, unsigned mix, int last)
{
	size_t o = 0, end = last > 1 ? len - (size_t)last : len;

	while (o < end) {
		int w = 1;

		if (chance(r, mix))
			w = (int)rnd_in(r, 2, 4);
		if ((size_t)w > end - o)
			w = (int)(end - o);
		o += put_cp(out + o, rand_cp(r, w));
	}
	if (last > 1)
		put_cp(out + o, rand_cp(r, last));
}

/* Sequences no valid UTF-8 contains where a character starts. */
static const struct { const char *b; size_t n; } bad_utf8[] = {
	{ "\x80", 1 }, { "\xbf", 1 }, { "\xc0\x80", 2 }, { "\xc1\xbf", 2 }, { "\xe0\x80\x80", 3 },
	{ "\xe0\x9f\xbf", 3 }, { "\xed\xa0\x80", 3 }, { "\xed\xbf\xbf", 3 }, { "\xf0\x80\x80\x80", 4 },
	{ "\xf0\x8f\xbf\xbf", 4 }, { "\xf4\x90\x80\x80", 4 }, { "\xf5\x80\x80\x80", 4 },
	{ "\xf8\x88\x80\x80\x80", 5 }, { "\xfe", 1 }, { "\xff", 1 }, { "\xc3\x41", 2 }, { "\xe2\x82", 2 },
	{ "\xc3", 1 }, { "\xf0\x9f\x98", 3 },
};

/* len bytes (>= 5) of UTF-8 with one invalid sequence at a character boundary. */
static void rand_bad_utf8(struct rng *r, unsigned char *out, size_t len)
{
	size_t k = rnd(r, sizeof(bad_utf8) / sizeof(bad_utf8[0]));
	size_t n = bad_utf8[k].n, at = rnd(r, len - n + 1);

	rand_utf8(r, out, at, 30, 0);
	memcpy(out + at, bad_utf8[k].b, n);
	rand_utf8(r, out + at + n, len - at - n, 30, 0);
}

/* ---- msgpack, written by hand ------------------------------------------------------ */

static void raw(struct stream *st, const void *p, size_t n)
{
	msgpack_sbuffer_write(&st->sb, p, n);
}

/* tag, then v in nbytes = 1, 2 or 4 bytes, big-endian. */
static void raw_be(struct stream *st, unsigned char tag, uint64_t v, int nbytes)
{
	unsigned char b[5];
	uint16_t v16 = htobe16((uint16_t)v);
	uint32_t v32 = htobe32((uint32_t)v);

	b[0] = tag;
	if (nbytes == 1)
		b[1] = (unsigned char)v;
	else if (nbytes == 2)
		memcpy(b + 1, &v16, 2);
	else
		memcpy(b + 1, &v32, 4);
	raw(st, b, 1 + (size_t)nbytes);
}

/* A str header of a random form that holds len (fixstr only when len < 32). */
static void put_str(struct stream *st, const void *s, size_t len)
{
	unsigned f = (unsigned)rnd(&st->r, 20);

	if (f < 11) {
		msgpack_pack_str(&st->pk, len); /* the smallest form */
		stats->str_form[len < 32 ? F_FIX : len < 256 ? F_8 : len < 65536 ? F_16 : F_32]++;
	} else if (f < 15 && len < 256) {
		raw_be(st, 0xd9, len, 1);
		stats->str_form[F_8]++;
	} else if (f < 18 && len < 65536) {
		raw_be(st, 0xda, len, 2);
		stats->str_form[F_16]++;
	} else {
		raw_be(st, 0xdb, len, 4);
		stats->str_form[F_32]++;
	}
	if (len)
		msgpack_pack_str_body(&st->pk, s, len);
}

static void put_map_header(struct stream *st, size_t n)
{
	unsigned f = (unsigned)rnd(&st->r, 10);

	if (f < 7 || n >= 65536) {
		msgpack_pack_map(&st->pk, n);
		stats->map_form[n < 16 ? F_FIX : F_16]++;
	} else if (f < 9) {
		raw_be(st, 0xde, n, 2);
		stats->map_form[F_16]++;
	} else {
		raw_be(st, 0xdf, n, 4);
		stats->map_form[F_32]++;
	}
}

/* An integer in any header the value fits. */
static void put_int(struct stream *st, int64_t v)
{
	int forms[NINTS], n = 0, f;

	if (v >= 0 && v < 128)
		forms[n++] = I_FIXINT;
	if (v >= 0) {
		if (v < 256)
			forms[n++] = I_U8;
		if (v < 65536)
			forms[n++] = I_U16;
		if (v <= (int64_t)UINT32_MAX)
			forms[n++] = I_U32;
		forms[n++] = I_U64;
	}
	if (v >= -32 && v < 0)
		forms[n++] = I_FIXINT;
	if (v >= INT8_MIN && v <= INT8_MAX)
		forms[n++] = I_I8;
	if (v >= INT16_MIN && v <= INT16_MAX)
		forms[n++] = I_I16;
	if (v >= INT32_MIN && v <= INT32_MAX)
		forms[n++] = I_I32;
	forms[n++] = I_I64;
	f = forms[rnd(&st->r, (uint64_t)n)];
	stats->int_form[f]++;
	switch (f) {
	case I_FIXINT: msgpack_pack_int64(&st->pk, v); break; /* the smallest: a fixint */
	case I_U8: msgpack_pack_fix_uint8(&st->pk, (uint8_t)v); break;
	case I_U16: msgpack_pack_fix_uint16(&st->pk, (uint16_t)v); break;
	case I_U32: msgpack_pack_fix_uint32(&st->pk, (uint32_t)v); break;
	case I_U64: msgpack_pack_fix_uint64(&st->pk, (uint64_t)v); break;
	case I_I8: msgpack_pack_fix_int8(&st->pk, (int8_t)v); break;
	case I_I16: msgpack_pack_fix_int16(&st->pk, (int16_t)v); break;
	case I_I32: msgpack_pack_fix_int32(&st->pk, (int32_t)v); break;
	default: msgpack_pack_fix_int64(&st->pk, v); break;
	}
}

/* Any well-formed msgpack value, nested at most depth more levels. */
static void put_any(struct stream *st, int depth)
{
	unsigned char junk[48];
	size_t i, n;

	switch (rnd(&st->r, depth > 0 ? 14 : 11)) {
	case 0: msgpack_pack_nil(&st->pk); break;
	case 1: msgpack_pack_true(&st->pk); break;
	case 2: msgpack_pack_false(&st->pk); break;
	case 3: put_int(st, (int64_t)rnd(&st->r, 1ULL << rnd(&st->r, 63))); break;
	case 4: put_int(st, -(int64_t)rnd(&st->r, 1ULL << rnd(&st->r, 63)) - 1); break;
	case 5: msgpack_pack_float(&st->pk, 1.5f); break;
	case 6: msgpack_pack_double(&st->pk, 1700000000000.0); break;
	case 7: /* any bytes: an unknown field's string is not checked */
		n = rnd(&st->r, sizeof(junk));
		for (i = 0; i < n; i++)
			junk[i] = (unsigned char)rnd(&st->r, 256);
		put_str(st, junk, n);
		break;
	case 8:
		n = rnd(&st->r, sizeof(junk));
		memset(junk, 0xc1, n); /* 0xc1 inside a body is just a byte */
		msgpack_pack_bin(&st->pk, n);
		msgpack_pack_bin_body(&st->pk, junk, n);
		break;
	case 9: {
		static const size_t ext_len[] = { 1, 2, 4, 8, 16, 3, 40 };
		n = ext_len[rnd(&st->r, 7)];
		memset(junk, 7, n);
		msgpack_pack_ext(&st->pk, n, (int8_t)rnd(&st->r, 128));
		msgpack_pack_ext_body(&st->pk, junk, n);
		break;
	}
	case 10: {
		static const char s[] = "\xf0\x9f\x8f\x93 ping";
		put_str(st, s, sizeof(s) - 1);
		break;
	}
	case 11:
	case 12:
		n = rnd(&st->r, 4);
		msgpack_pack_array(&st->pk, n);
		for (i = 0; i < n; i++)
			put_any(st, depth - 1);
		break;
	default:
		n = rnd(&st->r, 3);
		msgpack_pack_map(&st->pk, n);
		for (i = 0; i < n; i++) {
			put_any(st, depth - 1); /* keys of a nested map may be anything */
			put_any(st, depth - 1);
		}
		break;
	}
}

/* A value that is not a string (the decoder: "field 'x' is not a string"). */
static void put_nonstr(struct stream *st)
{
	static const unsigned char fake[] = "user";

	switch (rnd(&st->r, 11)) {
	case 0: msgpack_pack_nil(&st->pk); break;
	case 1: msgpack_pack_true(&st->pk); break;
	case 2: msgpack_pack_false(&st->pk); break;
	case 3: put_int(st, (int64_t)rnd(&st->r, 100000)); break;
	case 4: put_int(st, -1 - (int64_t)rnd(&st->r, 100000)); break;
	case 5: msgpack_pack_float(&st->pk, 2.0f); break;
	case 6: msgpack_pack_double(&st->pk, 3.0); break;
	case 7: /* the bytes of a string, typed as bin */
		msgpack_pack_bin(&st->pk, 4);
		msgpack_pack_bin_body(&st->pk, fake, 4);
		break;
	case 8:
		msgpack_pack_array(&st->pk, 1);
		put_str(st, fake, 4);
		break;
	case 9:
		msgpack_pack_map(&st->pk, 0);
		break;
	default:
		msgpack_pack_ext(&st->pk, 4, 1);
		msgpack_pack_ext_body(&st->pk, fake, 4);
		break;
	}
}

/* A value that is not an integer (the decoder: "field 'ts' is not an integer"). */
static void put_nonint(struct stream *st)
{
	static const char digits[] = "1700000000000";

	switch (rnd(&st->r, 8)) {
	case 0: msgpack_pack_nil(&st->pk); break;
	case 1: msgpack_pack_true(&st->pk); break;
	case 2: msgpack_pack_float(&st->pk, 1700000000.0f); break;
	case 3: msgpack_pack_double(&st->pk, 1700000000000.0); break;
	case 4: put_str(st, digits, sizeof(digits) - 1); break;
	case 5:
		msgpack_pack_bin(&st->pk, 8);
		msgpack_pack_bin_body(&st->pk, "\0\0\1\x8b\xcf\xe5\x68\0", 8);
		break;
	case 6:
		msgpack_pack_array(&st->pk, 1);
		put_int(st, 1700000000000LL);
		break;
	default:
		msgpack_pack_ext(&st->pk, 8, -1); /* the timestamp extension is not an integer */
		msgpack_pack_ext_body(&st->pk, "\0\0\0\0\x65\x5b\x00\x00", 8);
		break;
	}
}

/* ---- events: a spec of the map, then its bytes ------------------------------------ */

enum { F_USER, F_EMAIL, F_ACT, F_MSG, F_TS, NF };
static const char *const fname[NF] = { "user", "email", "activity", "message", "ts" };

enum vt { VT_ABSENT, VT_STR, VT_NONSTR, VT_INT, VT_UINT };

struct spec {
	enum vt type[NF];      /* ts: VT_INT, VT_UINT or VT_NONSTR (not an integer) */
	const unsigned char *s[NF];
	size_t len[NF];
	int64_t ts;
	uint64_t tsu;
	int dup;               /* a field written twice, or -1 */
	int nonstr_key, c1, deep, nextra;
	size_t pad_to;         /* pad the payload to exactly this size, or 0 */
	int jbad;              /* JSON: the field whose string starts with bytes that are not
				* UTF-8 (jbad_seq), or -1 */
	const unsigned char *jbad_seq;
	size_t jbad_len;
};

/* Unknown keys the decoder must skip: near misses of the field names among them. */
static const struct { const char *s; size_t n; } extra_keys[] = {
	{ "room", 4 }, { "client", 6 }, { "v", 1 }, { "", 0 }, { "User", 4 }, { "TS", 2 },
	{ "tss", 3 }, { "emai", 4 }, { "emails", 6 }, { "message ", 8 }, { "ts\0", 3 },
	{ "\xc3\xa9t\xc3\xa9", 6 }, { "activit", 7 }, { "\xff\xfe", 2 },
	{ "a_key_that_is_longer_than_thirty_one_bytes", 42 },
};

static void put_field(struct stream *st, const struct spec *sp, int f)
{
	put_str(st, fname[f], strlen(fname[f]));
	switch (sp->type[f]) {
	case VT_STR:
		put_str(st, sp->s[f], sp->len[f]);
		break;
	case VT_INT:
		put_int(st, sp->ts);
		break;
	case VT_UINT:
		if (chance(&st->r, 50))
			msgpack_pack_uint64(&st->pk, sp->tsu);
		else
			msgpack_pack_fix_uint64(&st->pk, sp->tsu);
		break;
	default:
		if (f == F_TS)
			put_nonint(st);
		else
			put_nonstr(st);
		break;
	}
}

/* The members of sp's payload into order[] (NF + 16 slots), shuffled: its fields (a
 * repeated one twice), its unknown keys (100 + i), with msgpack the kinds only msgpack can
 * have (200: a key that is not a string, 201: 0xc1), and a nesting too deep (202). Both
 * encodings draw them alike. Returns how many. */
static int member_order(struct stream *st, const struct spec *sp, int msgpack, int *order)
{
	int n = 0, i;

	for (i = 0; i < NF; i++)
		if (sp->type[i] != VT_ABSENT)
			order[n++] = i;
	if (sp->dup >= 0)
		order[n++] = sp->dup;
	for (i = 0; i < sp->nextra; i++)
		order[n++] = 100 + i;
	if (msgpack && sp->nonstr_key)
		order[n++] = 200;
	if (msgpack && sp->c1)
		order[n++] = 201;
	if (sp->deep)
		order[n++] = 202;
	for (i = n - 1; i > 0; i--) {
		int j = (int)rnd(&st->r, (uint64_t)i + 1), t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	return n;
}

/* Writes the payload of sp into st->sb (emptied first). */
static void build(struct stream *st, const struct spec *sp)
{
	int order[NF + 16], n, i, k;

	st->sb.size = 0;
	n = member_order(st, sp, 1, order);
	put_map_header(st, (size_t)n + (sp->pad_to != 0));
	for (i = 0; i < n; i++) {
		if (order[i] < NF) {
			put_field(st, sp, order[i]);
		} else if (order[i] < 200) {
			k = (int)rnd(&st->r, sizeof(extra_keys) / sizeof(extra_keys[0]));
			put_str(st, extra_keys[k].s, extra_keys[k].n);
			put_any(st, 3);
			stats->unknown_keys++;
		} else if (order[i] == 200) {
			put_nonstr(st);
			put_any(st, 1);
		} else if (order[i] == 201) {
			put_str(st, "x", 1);
			raw(st, "\xc1", 1);
		} else {
			put_str(st, "deep", 4);
			for (k = 0; k < sp->deep; k++) {
				if (chance(&st->r, 70)) {
					msgpack_pack_array(&st->pk, 1);
				} else {
					msgpack_pack_map(&st->pk, 1);
					put_int(st, k); /* a nested map's key need not be a string */
				}
			}
			put_any(st, 0);
		}
	}
	if (sp->pad_to) {
		/* The last entry, so its size is known: key "pad" (4 bytes), str16 or str32. */
		size_t need = sp->pad_to - st->sb.size - 4, body;
		static unsigned char pad[PAYLOAD_LIMIT + 8192];

		raw(st, "\xa3pad", 4);
		if (need - 3 < 65536) {
			body = need - 3;
			raw_be(st, 0xda, body, 2);
		} else {
			body = need - 5;
			raw_be(st, 0xdb, body, 4);
		}
		memset(pad, 'p', body);
		raw(st, pad, body);
		ck_assert_uint_eq(st->sb.size, sp->pad_to);
	}
}

/* ---- JSON, written by hand (RFC 8259), as the original ping-pong's producers wrote it -- */

/* The code point of the UTF-8 character at s (valid: from rand_utf8, or a NUL a bad kind
 * put there), and its width in *w. */
static uint32_t get_cp(const unsigned char *s, size_t *w)
{
	if (s[0] < 0x80) {
		*w = 1;
		return s[0];
	}
	if (s[0] < 0xe0) {
		*w = 2;
		return (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
	}
	if (s[0] < 0xf0) {
		*w = 3;
		return (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
	}
	*w = 4;
	return (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 | (uint32_t)(s[2] & 0x3f) << 6 |
	       (s[3] & 0x3f);
}

static void jraw(struct stream *st, const char *s)
{
	raw(st, s, strlen(s));
}

/* Whitespace between two tokens, now and then. */
static void jws(struct stream *st)
{
	static const char *const ws[] = { " ", "\n", "\t ", "\r\n  " };

	if (chance(&st->r, 15))
		jraw(st, ws[rnd(&st->r, 4)]);
}

/* s[0..len) (valid UTF-8) as a JSON string: quotes, backslashes and control characters
 * escaped (\n or \u000a), any other character now and then as \uXXXX (a surrogate pair
 * beyond U+FFFF), every way a decoder must take. */
static void jstr(struct stream *st, const void *str, size_t len)
{
	const unsigned char *s = str;
	char esc[16];
	size_t i = 0, w;

	raw(st, "\"", 1);
	while (i < len) {
		uint32_t cp = get_cp(s + i, &w);
		const char *two = cp == '\n' ? "\\n" : cp == '\t' ? "\\t" : cp == '\r' ? "\\r" : cp == '\b' ? "\\b" :
				  cp == '\f' ? "\\f" : cp == '"' ? "\\\"" : cp == '\\' ? "\\\\" : NULL;

		if (two && (cp == '"' || cp == '\\' || chance(&st->r, 50))) {
			jraw(st, two);
		} else if (cp < 0x20 || chance(&st->r, 5)) {
			if (cp > 0xffff)
				snprintf(esc, sizeof(esc), "\\u%04x\\u%04X", (unsigned)(0xd800 + ((cp - 0x10000) >> 10)),
					 (unsigned)(0xdc00 + ((cp - 0x10000) & 0x3ff)));
			else
				snprintf(esc, sizeof(esc), chance(&st->r, 50) ? "\\u%04x" : "\\u%04X", (unsigned)cp);
			jraw(st, esc);
			stats->json_escapes++;
		} else {
			raw(st, s + i, w);
		}
		i += w;
	}
	raw(st, "\"", 1);
}

/* Any JSON value, as an unknown field may hold one, nested at most depth more levels. */
static void jany(struct stream *st, int depth)
{
	static const char *const atoms[] = {
		"null", "true", "false", "0", "-1", "1.5", "-0.0", "1e3", "2.5E-7", "9223372036854775807",
		"-9223372036854775808", "1700000000000.0", "\"ts\"", "\"\"", "[]", "{}",
	};
	unsigned char text[24];
	char num[32];
	size_t i, n;

	switch (rnd(&st->r, depth > 0 ? 5 : 3)) {
	case 0:
		jraw(st, atoms[rnd(&st->r, sizeof(atoms) / sizeof(atoms[0]))]);
		break;
	case 1:
		n = rnd(&st->r, sizeof(text));
		rand_utf8(&st->r, text, n, 30, 0);
		jstr(st, text, n);
		break;
	case 2:
		snprintf(num, sizeof(num), "%" PRId64, (int64_t)rng_u64(&st->r));
		jraw(st, num);
		break;
	case 3:
		n = rnd(&st->r, 4);
		raw(st, "[", 1);
		for (i = 0; i < n; i++) {
			if (i)
				raw(st, ",", 1);
			jws(st);
			jany(st, depth - 1);
		}
		raw(st, "]", 1);
		break;
	default:
		/* Keys that repeat, and the event's own: no defect inside an unknown field. */
		n = rnd(&st->r, 4);
		raw(st, "{", 1);
		for (i = 0; i < n; i++) {
			const char *k = fname[rnd(&st->r, 2)];
			if (i)
				raw(st, ",", 1);
			jstr(st, k, strlen(k));
			raw(st, ":", 1);
			jany(st, depth - 1);
		}
		raw(st, "}", 1);
		break;
	}
}

/* A value that is not a string, or (ts) not an integer. */
static void jnon(struct stream *st, int ts)
{
	static const char *const nonstr[] = { "null", "true", "false", "7", "-3", "2.0", "[]", "[\"user\"]", "{}",
					      "{\"a\":1}" };
	static const char *const nonint[] = { "1.5", "1700000000000.0", "1e3", "-2E2", "\"1700000000000\"",
					      "null", "true", "false", "[1700000000000]", "{}" };

	if (ts)
		jraw(st, nonint[rnd(&st->r, sizeof(nonint) / sizeof(nonint[0]))]);
	else
		jraw(st, nonstr[rnd(&st->r, sizeof(nonstr) / sizeof(nonstr[0]))]);
}

/* A field's key; the second of a repeated field now and then with an escape, as
 * "\u0075ser": the same key to a decoder. */
static void jkey(struct stream *st, int f, int again)
{
	char key[16];

	if (again && chance(&st->r, 50)) {
		snprintf(key, sizeof(key), "\"\\u%04x%s\"", (unsigned)fname[f][0], fname[f] + 1);
		jraw(st, key);
	} else {
		jstr(st, fname[f], strlen(fname[f]));
	}
}

/* Where build_json() put what a JSON reason points at. */
struct json_marks {
	size_t ts_end;  /* the end of the ts value */
	size_t bad_at;  /* the invalid UTF-8 of sp->jbad */
};

/* Writes the payload of sp as a JSON object into st->sb (emptied first): the same members
 * as build() writes, in a random order, with whitespace now and then. A field jbad's
 * string starts with the bytes jbad_seq, which are not UTF-8. */
static void build_json(struct stream *st, const struct spec *sp, struct json_marks *mk)
{
	int order[NF + 16], seen[NF] = { 0 }, n, i, k;

	st->sb.size = 0;
	n = member_order(st, sp, 0, order);
	raw(st, "{", 1);
	for (i = 0; i < n; i++) {
		int f = order[i];
		if (i)
			raw(st, ",", 1);
		jws(st);
		if (f < NF) {
			char num[32];
			jkey(st, f, seen[f]++);
			jws(st);
			raw(st, ":", 1);
			jws(st);
			if (sp->type[f] == VT_STR && f == sp->jbad) {
				raw(st, "\"", 1);
				mk->bad_at = st->sb.size;
				raw(st, sp->jbad_seq, sp->jbad_len);
				jstr(st, sp->s[f], sp->len[f]); /* its own quotes: after the bad bytes, no matter */
			} else if (sp->type[f] == VT_STR) {
				jstr(st, sp->s[f], sp->len[f]);
			} else if (sp->type[f] == VT_INT || sp->type[f] == VT_UINT) {
				if (sp->type[f] == VT_INT)
					snprintf(num, sizeof(num), "%" PRId64, sp->ts);
				else
					snprintf(num, sizeof(num), "%" PRIu64, sp->tsu);
				jraw(st, num);
				mk->ts_end = st->sb.size;
			} else {
				jnon(st, f == F_TS);
			}
		} else if (f < 200) {
			/* JSON keys are text: the extra keys that are not (a NUL, no UTF-8) stay out. */
			do
				k = (int)rnd(&st->r, sizeof(extra_keys) / sizeof(extra_keys[0]));
			while (memchr(extra_keys[k].s, '\0', extra_keys[k].n) || extra_keys[k].s[0] == '\xff');
			jstr(st, extra_keys[k].s, extra_keys[k].n);
			raw(st, ":", 1);
			jws(st);
			jany(st, 3);
			stats->unknown_keys++;
		} else {
			char closes[64];
			jraw(st, "\"deep\":");
			for (k = 0; k < sp->deep; k++) {
				int array = chance(&st->r, 70);
				jraw(st, array ? "[" : "{\"k\":");
				closes[k] = array ? ']' : '}';
			}
			jany(st, 0);
			while (k-- > 0)
				raw(st, &closes[k], 1);
		}
		jws(st);
	}
	if (sp->pad_to) {
		/* The last member, so its size is known: ,"pad":"ppp..." then the brace. */
		static char pad[PAYLOAD_LIMIT + 8192];
		size_t body = sp->pad_to - st->sb.size - strlen(",\"pad\":\"") - strlen("\"}");
		jraw(st, ",\"pad\":\""); /* n > 0: the user is always there */
		memset(pad, 'p', body);
		raw(st, pad, body);
		raw(st, "\"", 1);
	}
	raw(st, "}", 1);
	if (sp->pad_to)
		ck_assert_uint_eq(st->sb.size, sp->pad_to);
	stats->json_payloads++;
}

/* ---- the generator ---------------------------------------------------------------- */

static void gen_name(struct stream *st, struct pname *pn)
{
	struct rng *r = &st->r;
	size_t len;
	int i, dup;

	do {
		unsigned k = (unsigned)rnd(r, 100);

		if (k < 8) {
			len = 1;
			rand_utf8(r, pn->name, 1, 0, 0);
			stats->name_1++;
		} else if (k < 40) {
			len = (size_t)rnd_in(r, 2, 16);
			rand_utf8(r, pn->name, len, 0, 0);
		} else if (k < 60) {
			len = (size_t)rnd_in(r, 1, 60);
			rand_utf8(r, pn->name, len, 60, 0);
		} else if (k < 66) {
			len = NAME_MAX_BYTES;
			rand_utf8(r, pn->name, len, 0, 0);
		} else if (k < 78) {
			/* The longest name, ending in a multi-byte character right at the limit. */
			int w = (int)rnd_in(r, 2, 4);
			len = NAME_MAX_BYTES;
			rand_utf8(r, pn->name, len, (unsigned)rnd(r, 80), w);
			stats->name_255_multibyte++;
		} else if (k < 88) {
			len = (size_t)rnd_in(r, 100, NAME_MAX_BYTES);
			rand_utf8(r, pn->name, len, 50, 0);
		} else if (pn != st->pool) {
			/* A prefix of another name, or another name extended: neighbours in LMDB. */
			const struct pname *o = &st->pool[rnd(r, (uint64_t)(pn - st->pool))];
			len = o->len;
			memcpy(pn->name, o->name, len);
			if (chance(r, 50) && len > 1) {
				len = (size_t)rnd_in(r, 1, (int64_t)len - 1);
				while (len > 0 && (pn->name[len] & 0xc0) == 0x80)
					len--; /* cut at a character boundary */
				if (len == 0)
					len = o->len; /* one character: the same name, redrawn below */
			} else if (len < NAME_MAX_BYTES) {
				size_t add = (size_t)rnd_in(r, 1, (int64_t)(NAME_MAX_BYTES - len));
				rand_utf8(r, pn->name + len, add, 20, 0);
				len += add;
			}
		} else {
			len = (size_t)rnd_in(r, 1, 8);
			rand_utf8(r, pn->name, len, 0, 0);
		}
		dup = 0;
		for (i = 0; &st->pool[i] != pn; i++)
			if (st->pool[i].len == len && !memcmp(st->pool[i].name, pn->name, len))
				dup = 1;
	} while (dup);
	pn->len = len;
	pn->last_ts = 0;
	pn->email_len = 0;
}

/* The next email of user u: the same, another, longer or shorter, or the limit. */
static void gen_email(struct stream *st, struct pname *u)
{
	struct rng *r = &st->r;
	unsigned k = (unsigned)rnd(r, 100);
	size_t old = u->email_len, len;

	if (k < 25 && old) {
		return;
	} else if (k < 45 && old) {
		/* A prefix or an extension of the current one: only the length changes. */
		if (chance(r, 50) && old > 1) {
			len = (size_t)rnd_in(r, 1, (int64_t)old - 1);
			while (len > 0 && (u->email[len] & 0xc0) == 0x80)
				len--; /* cut at a character boundary */
			if (len == 0)
				len = old;
		} else if (old < NAME_MAX_BYTES) {
			size_t add = (size_t)rnd_in(r, 1, (int64_t)(NAME_MAX_BYTES - old));
			rand_utf8(r, u->email + old, add, 20, 0);
			len = old + add;
		} else {
			len = old;
		}
	} else if (k < 55) {
		/* Another user's (or, if it has none, a short new one). */
		const struct pname *o = &st->pool[rnd(r, (uint64_t)st->npool)];
		len = o->email_len ? o->email_len : 7;
		if (o->email_len)
			memcpy(u->email, o->email, len);
		else
			rand_utf8(r, u->email, len, 15, 0);
	} else if (k < 62) {
		len = NAME_MAX_BYTES;
		rand_utf8(r, u->email, len, (unsigned)rnd(r, 60), chance(r, 50) ? (int)rnd_in(r, 2, 4) : 0);
	} else if (k < 70) {
		len = 1;
		rand_utf8(r, u->email, len, 0, 0);
	} else {
		len = (size_t)rnd_in(r, 3, 40);
		rand_utf8(r, u->email, len, 15, 0);
	}
	if (len != old)
		stats->email_len_change++;
	u->email_len = len;
}

/* A valid event's timestamp, as of the batch at now with floor fl. */
static int64_t gen_ts(struct stream *st, const struct pname *u, int64_t now, int64_t fl)
{
	struct rng *r = &st->r;
	int e;
	int64_t ts;

	for (;;) {
		unsigned k = (unsigned)rnd(r, 100);

		e = k < 28 ? T_WINDOW : k < 33 ? T_FLOOR : k < 37 ? T_FLOOR_M1 : k < 40 ? T_FLOOR_P1 :
		    k < 44 ? T_RETAIN : k < 47 ? T_RETAIN_M1 : k < 51 ? T_NOW : k < 55 ? T_SKEW :
		    k < 59 ? T_SKEW_P1 : k < 63 ? T_FUTURE_IN : k < 66 ? T_FUTURE_OUT : k < 74 ? T_OLD :
		    k < 82 ? T_TIE : k < 88 ? T_NEAR : k < 89 ? T_ONE : k < 90 ? T_MAX : T_OOO;
		switch (e) {
		case T_WINDOW: ts = now - rnd_in(r, 0, st->retain); break;
		case T_FLOOR: ts = fl; break;
		case T_FLOOR_M1: ts = fl - 1; break;
		case T_FLOOR_P1: ts = fl + 1; break;
		case T_RETAIN: ts = now - st->retain; break;
		case T_RETAIN_M1: ts = now - st->retain - 1; break;
		case T_NOW: ts = now; break;
		case T_SKEW: ts = now + st->skew; break;
		case T_SKEW_P1: ts = now + st->skew + 1; break;
		case T_FUTURE_IN: ts = now + rnd_in(r, 0, st->skew); break;
		case T_FUTURE_OUT: ts = now + st->skew + rnd_in(r, 2, 10 * st->retain + 2); break;
		case T_OLD: ts = fl - rnd_in(r, 2, 5 * st->retain + 2); break;
		case T_TIE: ts = u->last_ts; break;
		case T_NEAR: {
			int64_t d = rnd_in(r, -3, 3);
			/* Past INT64_MAX (a user last seen at T_MAX) is out of range like any ts
			 * <= 0: drawn again. Wrapping there was undefined (UBSan). */
			ts = d > 0 && u->last_ts > INT64_MAX - d ? -1 : u->last_ts + d;
			break;
		}
		case T_ONE: ts = 1; break;
		case T_MAX: ts = INT64_MAX; break;
		default: ts = now - rnd_in(r, 0, 3 * st->retain); break;
		}
		if (ts > 0 && (e != T_TIE && e != T_NEAR ? 1 : u->last_ts > 0))
			break;
	}
	stats->ts[e]++;
	return ts;
}

/* A valid event of user u: fills sp (its strings in st->sbuf) and the model's view. */
static void base_spec(struct stream *st, struct spec *sp, int u, int64_t ts)
{
	struct rng *r = &st->r;
	int send = chance(r, 50);

	memset(sp, 0, sizeof(*sp));
	sp->dup = -1;
	sp->jbad = -1;
	sp->type[F_USER] = VT_STR;
	sp->s[F_USER] = st->pool[u].name;
	sp->len[F_USER] = st->pool[u].len;
	sp->type[F_ACT] = VT_STR;
	sp->s[F_ACT] = (const unsigned char *)(send ? "send-message" : "heart-beat");
	sp->len[F_ACT] = strlen((const char *)sp->s[F_ACT]);
	if (send || chance(r, 30)) {
		size_t len = chance(r, 3) ? (size_t)rnd_in(r, 200, sizeof(st->sbuf[1])) : rnd(r, 80);
		rand_utf8(r, st->sbuf[1], len, 20, 0);
		sp->type[F_MSG] = VT_STR;
		sp->s[F_MSG] = st->sbuf[1];
		sp->len[F_MSG] = len;
	}
	sp->type[F_TS] = VT_INT;
	sp->ts = ts;
	if (chance(r, 35))
		sp->nextra = (int)rnd_in(r, 1, 3);
	if (chance(r, 2)) {
		sp->deep = NEST_LIMIT - 1; /* with the map itself: exactly the limit */
		stats->nest_edge++;
	}
}

static void set_reason(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_reason(char *out, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, REASON_MAX, fmt, ap);
	va_end(ap);
	ck_assert_msg(n > 0 && n < REASON_MAX, "a reason of %d bytes would be cut", n);
}

/* The decoder's quoting of an unknown activity: 32 bytes at most, printable ASCII as it
 * is except ' and \, the rest \xNN, "..." when cut. */
static void quote(char *out, const unsigned char *s, size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < len && i < 32; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'' && s[i] != '\\')
			out[o++] = (char)s[i];
		else
			o += (size_t)sprintf(out + o, "\\x%02x", s[i]);
	}
	if (len > 32)
		o += (size_t)sprintf(out + o, "...");
	out[o] = '\0';
}

/* A payload the decoder rejects, of kind k, built from a valid event of user u. */
static void gen_bad(struct stream *st, struct lmsg *m, int k, int u, int64_t ts)
{
	struct rng *r = &st->r;
	struct spec sp;
	char reason[REASON_MAX], q[200];
	size_t len, cut = 0, trail = 0;
	int f;
	/* As JSON, but for the kinds that only msgpack can be: the same reason for the
	 * fields, jansson's (restated below) where the text itself is wrong. */
	int json = k != B_EMPTY && k != B_C1 && k != B_DEEP && k != B_NOT_MAP && k != B_KEY_NOT_STR &&
		   chance(r, st->json_pct);

	base_spec(st, &sp, u, ts);
	sp.deep = 0;
	if (chance(r, 50) && st->pool[u].email_len) {
		sp.type[F_EMAIL] = VT_STR;
		sp.s[F_EMAIL] = st->pool[u].email;
		sp.len[F_EMAIL] = st->pool[u].email_len;
	}
	reason[0] = '\0';
	switch (k) {
	case B_TOO_LARGE:
		sp.pad_to = PAYLOAD_LIMIT + 1 + (size_t)(chance(r, 50) ? 0 : rnd(r, 3000));
		set_reason(reason, "payload too large (%zu bytes, max %d)", sp.pad_to, PAYLOAD_LIMIT);
		break;
	case B_EMPTY:
		set_reason(reason, "empty payload");
		break;
	case B_TRUNCATED:
		cut = 1;
		set_reason(reason, "truncated msgpack");
		break;
	case B_C1:
		sp.c1 = 1;
		set_reason(reason, "malformed msgpack");
		break;
	case B_DEEP:
		sp.deep = NEST_LIMIT + (int)rnd(r, 3);
		set_reason(reason, "msgpack nesting too deep (max %d)", NEST_LIMIT);
		break;
	case B_TRAILING:
		trail = (size_t)rnd_in(r, 1, 12);
		set_reason(reason, "trailing bytes after event (%zu bytes)", trail);
		break;
	case B_NOT_MAP:
		set_reason(reason, "not a msgpack map");
		break;
	case B_KEY_NOT_STR:
		sp.nonstr_key = 1;
		set_reason(reason, "map key is not a string");
		break;
	case B_DUP:
		f = (int)rnd(r, NF);
		if (sp.type[f] == VT_ABSENT) {
			sp.type[f] = VT_STR;
			sp.s[f] = (const unsigned char *)"x@example.org";
			sp.len[f] = 13;
		}
		sp.dup = f;
		set_reason(reason, "duplicate field '%s'", fname[f]);
		break;
	case B_NO_USER:
	case B_NO_ACT:
	case B_NO_TS:
		f = k == B_NO_USER ? F_USER : k == B_NO_ACT ? F_ACT : F_TS;
		sp.type[f] = VT_ABSENT;
		set_reason(reason, "missing field '%s'", fname[f]);
		break;
	case B_USER_TYPE:
	case B_EMAIL_TYPE:
	case B_ACT_TYPE:
	case B_MSG_TYPE:
		f = k == B_USER_TYPE ? F_USER : k == B_EMAIL_TYPE ? F_EMAIL : k == B_ACT_TYPE ? F_ACT : F_MSG;
		sp.type[f] = VT_NONSTR;
		set_reason(reason, "field '%s' is not a string", fname[f]);
		break;
	case B_ACT_UNKNOWN: {
		static const char *const near[] = { "Send-Message", "heart-beat ", "heartbeat", "",
						    "send-message\n", "HEART-BEAT", "send_message" };
		unsigned char *a = st->sbuf[2];
		do {
			if (chance(r, 50)) {
				const char *s = near[rnd(r, sizeof(near) / sizeof(near[0]))];
				len = strlen(s);
				memcpy(a, s, len);
			} else if (json) {
				len = (size_t)rnd_in(r, 1, 60); /* text: any UTF-8 but no NUL */
				rand_utf8(r, a, len, 30, 0);
			} else {
				size_t i;
				len = (size_t)rnd_in(r, 1, 60); /* longer than 32: the quote is cut */
				for (i = 0; i < len; i++)
					a[i] = chance(r, 70) ? (unsigned char)rnd_in(r, 0x20, 0x7e) :
							      (unsigned char)rnd(r, 256);
			}
		} while ((len == 10 && !memcmp(a, "heart-beat", 10)) || (len == 12 && !memcmp(a, "send-message", 12)));
		sp.s[F_ACT] = a;
		sp.len[F_ACT] = len;
		quote(q, a, len);
		set_reason(reason, "unknown activity '%s'", q);
		break;
	}
	case B_TS_RANGE:
		sp.type[F_TS] = VT_UINT;
		sp.tsu = (uint64_t)INT64_MAX + 1 + rnd(r, 1ULL << 62);
		set_reason(reason, "field 'ts' is out of range (%" PRIu64 ")", sp.tsu);
		break;
	case B_TS_TYPE:
		sp.type[F_TS] = VT_NONSTR;
		set_reason(reason, "field 'ts' is not an integer");
		break;
	case B_USER_EMPTY:
		sp.len[F_USER] = 0;
		set_reason(reason, "field 'user' is empty");
		break;
	case B_USER_LONG:
	case B_EMAIL_LONG:
		f = k == B_USER_LONG ? F_USER : F_EMAIL;
		len = NAME_MAX_BYTES + 1 + (size_t)(chance(r, 50) ? 0 : rnd(r, 700));
		if (json || chance(r, 80))
			rand_utf8(r, st->sbuf[0], len, 30, 0);
		else
			rand_bad_utf8(r, st->sbuf[0], len); /* the length is judged first */
		sp.type[f] = VT_STR;
		sp.s[f] = st->sbuf[0];
		sp.len[f] = len;
		set_reason(reason, "field '%s' is too long (%zu bytes, max %d)", fname[f], len, NAME_MAX_BYTES);
		break;
	case B_USER_UTF8:
	case B_EMAIL_UTF8:
	case B_MSG_UTF8:
		f = k == B_USER_UTF8 ? F_USER : k == B_EMAIL_UTF8 ? F_EMAIL : F_MSG;
		len = (size_t)rnd_in(r, 5, f == F_MSG ? 400 : NAME_MAX_BYTES);
		if (json) {
			/* JSON text is UTF-8 or no text: jansson stops at the first bad byte. */
			size_t b = rnd(r, sizeof(bad_utf8) / sizeof(bad_utf8[0]));
			rand_utf8(r, st->sbuf[0], len, 30, 0);
			sp.jbad = f;
			sp.jbad_seq = (const unsigned char *)bad_utf8[b].b;
			sp.jbad_len = bad_utf8[b].n;
		} else {
			rand_bad_utf8(r, st->sbuf[0], len);
		}
		sp.type[f] = VT_STR;
		sp.s[f] = st->sbuf[0];
		sp.len[f] = len;
		set_reason(reason, "field '%s' is not valid UTF-8", fname[f]);
		break;
	case B_USER_NUL:
	case B_EMAIL_NUL: {
		/* U+0000 is valid UTF-8, but a name or an email may not hold it. */
		size_t at;
		f = k == B_USER_NUL ? F_USER : F_EMAIL;
		len = (size_t)rnd_in(r, 1, NAME_MAX_BYTES);
		at = rnd(r, len);
		rand_utf8(r, st->sbuf[0], at, 20, 0);
		st->sbuf[0][at] = '\0';
		rand_utf8(r, st->sbuf[0] + at + 1, len - at - 1, 20, 0);
		sp.type[f] = VT_STR;
		sp.s[f] = st->sbuf[0];
		sp.len[f] = len;
		set_reason(reason, "field '%s' contains a NUL byte", fname[f]);
		break;
	}
	case B_NO_MSG:
		sp.s[F_ACT] = (const unsigned char *)"send-message";
		sp.len[F_ACT] = 12;
		sp.type[F_MSG] = VT_ABSENT;
		set_reason(reason, "missing field 'message' (required for send-message)");
		break;
	default: /* B_TS_NONPOS */
		sp.ts = chance(r, 30) ? 0 : -(int64_t)rnd_in(r, 1, chance(r, 50) ? 40 : INT64_MAX);
		set_reason(reason, "field 'ts' must be positive (got %" PRId64 ")", sp.ts);
		break;
	}
	if (k == B_EMPTY) {
		st->sb.size = 0;
	} else if (k == B_NOT_MAP) {
		st->sb.size = 0;
		if (chance(r, 20)) {
			put_str(st, "{\"user\":\"a\"}", 12);
		} else {
			do {
				st->sb.size = 0;
				put_any(st, 2);
			} while (((unsigned char)st->sb.data[0] >= 0x80 && (unsigned char)st->sb.data[0] <= 0x8f) ||
				 st->sb.data[0] == '{');
			/* a fixmap, the only map put_any writes at the top, was redrawn; and the
			 * integer 123, whose byte 0x7b ('{') makes the payload JSON (event_is_json) */
		}
	} else if (json) {
		struct json_marks mk = { 0, 0 };
		build_json(st, &sp, &mk);
		/* Where the text is wrong, jansson says so, and how many bytes it had read. */
		if (k == B_TRUNCATED) {
			st->sb.size--; /* the closing brace */
			set_reason(reason, "malformed JSON: '}' expected near end of file (at byte %zu)", st->sb.size);
		} else if (k == B_TRAILING) {
			raw(st, "x", 1);
			set_reason(reason, "malformed JSON: end of file expected near 'x' (at byte %zu)", st->sb.size);
		} else if (k == B_TS_RANGE) {
			set_reason(reason, "malformed JSON: too big integer near '%" PRIu64 "' (at byte %zu)", sp.tsu,
				   mk.ts_end);
		} else if (sp.jbad >= 0) {
			set_reason(reason, "malformed JSON: unable to decode byte 0x%02x near '\"' (at byte %zu)",
				   sp.jbad_seq[0], mk.bad_at);
		}
		stats->json_bad[k]++;
	} else {
		build(st, &sp);
		if (cut)
			st->sb.size = (size_t)rnd_in(r, 1, (int64_t)st->sb.size - 1);
		if (trail) {
			size_t i;
			for (i = 0; i < trail; i++) {
				unsigned char c = (unsigned char)rnd(r, 256);
				raw(st, &c, 1);
			}
		}
	}
	stats->bad[k]++;
	m->reason = strdup(reason);
	m->payload = memdup_or_null(st->sb.size ? st->sb.data : "", st->sb.size ? st->sb.size : 1);
	m->len = st->sb.size;
	m->user = -1;
}

/* A new message of the stream, for a batch at now with floor fl. */
static void gen_message(struct stream *st, struct lmsg *m, int64_t now, int64_t fl)
{
	struct rng *r = &st->r;
	int u = (int)(chance(r, 40) ? rnd(r, (uint64_t)(st->npool < 4 ? st->npool : 4)) : rnd(r, (uint64_t)st->npool));
	struct pname *pn = &st->pool[u];
	int64_t ts = gen_ts(st, pn, now, fl);
	struct spec sp;
	unsigned k;

	m->reason = NULL;
	m->email = NULL;
	m->email_len = 0;
	if (chance(r, st->bad_pct)) {
		gen_bad(st, m, (int)rnd(r, NBAD), u, ts);
		return;
	}
	base_spec(st, &sp, u, ts);
	k = (unsigned)rnd(r, 100);
	if (k < 25) {
		stats->no_email++;
	} else if (k < 35) {
		sp.type[F_EMAIL] = VT_STR; /* present but empty: no email */
		sp.s[F_EMAIL] = (const unsigned char *)"";
		sp.len[F_EMAIL] = 0;
		stats->empty_email++;
	} else {
		gen_email(st, pn);
		sp.type[F_EMAIL] = VT_STR;
		sp.s[F_EMAIL] = pn->email;
		sp.len[F_EMAIL] = pn->email_len;
		m->email = memdup_or_null(pn->email, pn->email_len);
		m->email_len = pn->email_len;
	}
	if (chance(r, 1)) {
		sp.pad_to = PAYLOAD_LIMIT; /* the largest payload the decoder takes */
		stats->exact_size++;
	}
	if (chance(r, st->json_pct)) {
		struct json_marks mk;
		build_json(st, &sp, &mk);
	} else {
		build(st, &sp);
	}
	m->payload = memdup_or_null(st->sb.data, st->sb.size);
	m->len = st->sb.size;
	m->user = u;
	m->ts = ts;
	pn->last_ts = ts;
}

static struct lmsg *log_append(struct plog *lg)
{
	GROW(lg->m, lg->n, lg->cap);
	memset(&lg->m[lg->n], 0, sizeof(lg->m[0]));
	return &lg->m[lg->n++];
}

/* Plans a batch: fresh messages, or what the consumer was not given yet, or (a zombie)
 * older offsets again, alone or followed by new ones. */
static void plan_batch(struct stream *st, struct op *op)
{
	struct rng *r = &st->r;
	size_t cursor[MAX_PARTS], n, i;
	unsigned k = (unsigned)rnd(r, 100);
	int zombie = -1, p;

	op->gap = 0;
	op->fail_at = chance(r, st->fail_pct) ? (int)rnd_in(r, 1, 3) : 0;
	op->idle = chance(r, st->idle_pct);
	/* The clock: mostly forward in small steps, sometimes a jump past the retention, and
	 * sometimes back (the floor must stay). */
	if (k < 8) {
		st->plan_now -= rnd_in(r, 1, st->retain + 1);
		stats->now_back++;
	} else if (k < 13) {
		st->plan_now += rnd_in(r, 3 * st->retain, 10 * st->retain + 10);
	} else if (k < 25) {
		st->plan_now += rnd_in(r, st->retain / 2, 2 * st->retain + 1);
	} else if (k > 90) {
		/* unchanged */
	} else {
		st->plan_now += rnd_in(r, 0, st->retain / 4 + 1);
	}
	if (st->plan_now < 1)
		st->plan_now = 1;
	op->now = st->plan_now;
	if (op->now - st->retain > st->plan_floor)
		st->plan_floor = op->now - st->retain;

	k = (unsigned)rnd(r, 100);
	n = k < 35 ? (size_t)rnd_in(r, 1, 5) : k < 70 ? (size_t)rnd_in(r, 6, 40) :
	    k < 92 ? (size_t)rnd_in(r, 41, 150) : (size_t)rnd_in(r, 151, MAX_BATCH);
	/* The engine's idle step: a batch of nothing, for its upkeep (engine.c). */
	if (op->idle && chance(r, 15)) {
		n = 0;
		stats->idle_steps++;
	}
	for (p = 0; p < st->nparts; p++)
		cursor[p] = st->logs[p].pos;
	if (chance(r, st->zombie_pct)) {
		zombie = (int)rnd(r, (uint64_t)st->nparts);
		if (st->logs[zombie].pos > 0) {
			cursor[zombie] = rnd(r, st->logs[zombie].pos);
			stats->zombies++;
		}
	}
	op->n = 0;
	for (i = 0; i < n; i++) {
		struct plog *lg;

		p = zombie >= 0 && chance(r, 60) ? zombie : (int)rnd(r, (uint64_t)st->nparts);
		lg = &st->logs[p];
		if (cursor[p] == lg->n) {
			struct lmsg *m;

			if (chance(r, st->dup_pct) && lg->n > 0) {
				/* An exact duplicate: an earlier payload again, at a new offset. */
				size_t from = rnd(r, lg->n);
				const struct lmsg *o;

				m = log_append(lg); /* may move the log: o is taken after */
				o = &lg->m[from];
				*m = *o;
				m->payload = memdup_or_null(o->payload, o->len ? o->len : 1);
				m->reason = o->reason ? strdup(o->reason) : NULL;
				m->email = memdup_or_null(o->email, o->email_len);
				stats->dup_payload++;
			} else {
				m = log_append(lg);
				gen_message(st, m, op->now, st->plan_floor);
			}
			/* Compaction leaves holes in the offsets. */
			m->offset = lg->gen_next + (chance(r, 6) ? rnd_in(r, 1, 5) : 0);
			lg->gen_next = m->offset + 1;
		}
		op->refs[op->n].p = p;
		op->refs[op->n].i = (uint32_t)cursor[p]++;
		if (lg->m[cursor[p] - 1].offset + 1 > lg->plan_next)
			lg->plan_next = lg->m[cursor[p] - 1].offset + 1;
		op->n++;
	}
	for (p = 0; p < st->nparts; p++)
		if (cursor[p] > st->logs[p].pos)
			st->logs[p].pos = cursor[p];
}

/* Plans a gap: the offsets from the consumer's next one up to `to` will never be read. */
static void plan_gap(struct stream *st, struct op *op)
{
	int p = (int)rnd(&st->r, (uint64_t)st->nparts);
	struct plog *lg = &st->logs[p];

	op->gap = 1;
	op->p = p;
	op->from = lg->plan_next < 0 ? 0 : lg->plan_next;
	op->to = op->from + rnd_in(&st->r, 1, 20);
	op->now = st->plan_now;
	op->n = 0;
	lg->plan_next = op->to;
	while (lg->pos < lg->n && lg->m[lg->pos].offset < op->to)
		lg->pos++;
	if (lg->gen_next < op->to)
		lg->gen_next = op->to;
}

static void plan_segment(struct stream *st, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		struct op *op = &st->seg[i];

		if (chance(&st->r, st->gap_pct))
			plan_gap(st, op);
		else
			plan_batch(st, op);
		op->no = ++st->planned;
	}
	st->nseg = n;
}

/* After a crash: the consumer restarts from the stored offsets (the model's, by now). */
static void reposition(struct stream *st)
{
	int p;

	for (p = 0; p < st->nparts; p++) {
		struct plog *lg = &st->logs[p];
		int64_t next = st->md.next[p];

		lg->plan_next = next;
		lg->pos = 0;
		while (lg->pos < lg->n && lg->m[lg->pos].offset < next)
			lg->pos++;
	}
	st->plan_floor = st->md.floor;
}

/* ---- the model ---------------------------------------------------------------------- */

static struct muser *model_user(struct model *md, int32_t p, const unsigned char *name, size_t len, int create)
{
	size_t lo = 0, hi = md->nusers;
	struct muser *u;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = reccmp(md->users[mid]->p, md->users[mid]->name, md->users[mid]->len, p, name, len);

		if (c == 0)
			return md->users[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!create)
		return NULL;
	GROW(md->users, md->nusers, md->capusers);
	memmove(md->users + lo + 1, md->users + lo, (md->nusers - lo) * sizeof(*md->users));
	u = xrealloc_or_die(NULL, sizeof(*u));
	memset(u, 0, sizeof(*u));
	u->p = p;
	memcpy(u->name, name, len);
	u->len = len;
	md->users[lo] = u;
	md->nusers++;
	return u;
}

static void model_reject(struct model *md, int32_t p, int64_t off, const char *reason,
			 const unsigned char *payload, size_t len)
{
	size_t at = md->nrej;
	struct mreject *x;

	/* Offsets only grow within a partition: the place is after the last of p. */
	while (at > 0 && (md->rej[at - 1].p > p || (md->rej[at - 1].p == p && md->rej[at - 1].off > off)))
		at--;
	GROW(md->rej, md->nrej, md->caprej);
	memmove(md->rej + at + 1, md->rej + at, (md->nrej - at) * sizeof(*md->rej));
	x = &md->rej[at];
	x->p = p;
	x->off = off;
	snprintf(x->reason, sizeof(x->reason), "%s", reason);
	x->plen = len < PREFIX_MAX ? len : PREFIX_MAX;
	memcpy(x->prefix, payload, x->plen);
	md->nrej++;
}

static void model_event(struct stream *st, int32_t p, const struct lmsg *m, int64_t fl)
{
	const struct pname *pn = &st->pool[m->user];
	struct muser *u = model_user(&st->md, p, pn->name, pn->len, 1);
	size_t old_size = u->has_email ? u->email_len : 0;
	int existed = u->count > 0;

	if (u->batch != st->md.batches) {
		/* The batch's first event of this record: what it was before the batch. */
		u->batch = st->md.batches;
		u->count_before = u->count;
		u->last_seen_before = u->last_seen;
		GROW(st->md.touched, st->md.ntouched, st->md.captouched);
		st->md.touched[st->md.ntouched++] = u;
	}

	if (u->count == 0 || (st->retain_users && u->last_seen < fl)) {
		/* New, or forgotten (--retain-users): it starts afresh. */
		u->count = 0;
		u->last_seen = m->ts;
		u->has_email = 0;
	}
	u->count++;
	if (m->ts > u->last_seen)
		u->last_seen = m->ts;
	if (m->email && (!u->has_email || m->ts > u->email_ts ||
			 (m->ts == u->email_ts && keycmp(m->email, m->email_len, u->email, u->email_len) > 0))) {
		memcpy(u->email, m->email, m->email_len);
		u->email_len = m->email_len;
		u->email_ts = m->ts;
		u->has_email = 1;
	}
	/* The LMDB edges store.c's fast paths depend on: a record rewritten at the same size
	 * (MDB_CURRENT) or another (a plain put), and an index key that does not sort last
	 * (MDB_APPEND refused). Counted per event, a fair proxy for per touch. */
	if (existed && (u->has_email ? u->email_len : 0) == old_size)
		stats->rec_same_size++;
	else if (existed)
		stats->rec_resized++;
	if (m->ts < st->max_ts)
		stats->index_not_last++;
	else
		st->max_ts = m->ts;
	stats->applied_events++;
}

/* The second a time falls in: its segments' (store.c, bucket_of). */
static int64_t second_of(int64_t ts)
{
	return ts > 0 ? ts - ts % 1000 : 0;
}

/* Rule 4: the entry a batch adds for record u, in (time, record) order; the same one
 * twice cannot happen, as last_seen never comes back to a time. */
static void model_add_entry(struct model *md, const struct muser *u, uint64_t write)
{
	size_t lo = 0, hi = md->nentries;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct mentry *e = &md->entries[mid];
		int c = e->ts != u->last_seen ? (e->ts < u->last_seen ? -1 : 1) :
			reccmp(e->u->p, e->u->name, e->u->len, u->p, u->name, u->len);

		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	GROW(md->entries, md->nentries, md->capentries);
	memmove(md->entries + lo + 1, md->entries + lo, (md->nentries - lo) * sizeof(*md->entries));
	md->entries[lo].ts = u->last_seen;
	md->entries[lo].u = u;
	md->entries[lo].second = second_of(u->last_seen);
	md->entries[lo].write = write;
	md->nentries++;
}

static int int64_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* After a batch (a call of the hook): an entry for each record whose last_seen the batch
 * changed, or that it made (new, or afresh after being forgotten), at or above the floor;
 * one segment per second they fall in, written in the order of the seconds. */
static void model_add_entries(struct stream *st)
{
	struct model *md = &st->md;
	int64_t *seconds = malloc((md->ntouched + 1) * sizeof(*seconds));
	size_t i, k, n = 0;

	ck_assert_ptr_nonnull(seconds);
	for (i = 0; i < md->ntouched; i++) {
		const struct muser *u = md->touched[i];
		int fresh = u->count_before == 0 || (st->retain_users && u->last_seen_before < md->floor);

		if ((fresh || u->last_seen != u->last_seen_before) && u->last_seen >= md->floor)
			seconds[n++] = second_of(u->last_seen);
	}
	qsort(seconds, n, sizeof(*seconds), int64_cmp);
	for (k = 0; k < n; k++) {
		if (k > 0 && seconds[k] == seconds[k - 1])
			continue;
		md->writes++;
		for (i = 0; i < md->ntouched; i++) {
			const struct muser *u = md->touched[i];
			int fresh = u->count_before == 0 || (st->retain_users && u->last_seen_before < md->floor);

			if ((fresh || u->last_seen != u->last_seen_before) && u->last_seen >= md->floor &&
			    second_of(u->last_seen) == seconds[k])
				model_add_entry(md, u, md->writes);
		}
	}
	free(seconds);
	md->ntouched = 0;
}

/* The order of two segments: second, then write. */
static int segment_cmp(int64_t as, uint64_t aw, int64_t bs, uint64_t bw)
{
	if (as != bs)
		return as < bs ? -1 : 1;
	return (aw > bw) - (aw < bw);
}

static int mentry_segment_cmp(const void *a, const void *b)
{
	const struct mentry *x = *(const struct mentry *const *)a, *y = *(const struct mentry *const *)b;
	return segment_cmp(x->second, x->write, y->second, y->write);
}

/* Rule 5, in a batch the consumer applied while caught up (active_upkeep): from where the
 * last compaction stopped, or the second of the floor if that is later, whole segments
 * are examined in key order until max(chunk, 4 x the live messages) entries or more have
 * been, and their entries at or above the floor older than their record's last_seen are
 * deleted; the next one goes on from the first segment not examined, or from the floor
 * when this one reached the index's end. */
static void model_compact(struct stream *st, size_t nlive)
{
	struct model *md = &st->md;
	size_t chunk = st->upkeep_chunk ? st->upkeep_chunk : 1000, most = 4 * nlive > chunk ? 4 * nlive : chunk;
	size_t i = 0, j, k, n = 0, kept = 0;
	int64_t start = md->floor >= 0 ? second_of(md->floor) : INT64_MIN;
	struct mentry **seg = malloc((md->nentries + 1) * sizeof(*seg));
	char *gone = calloc(md->nentries + 1, 1);

	ck_assert(seg && gone);
	stats->upkeeps++;
	if (tracing)
		fprintf(stderr, "#   compaction: at most %zu entries from %s\n", most, md->compact_at.u ? "where it stopped" : "the floor");
	for (j = 0; j < md->nentries; j++)
		seg[j] = &md->entries[j];
	qsort(seg, md->nentries, sizeof(*seg), mentry_segment_cmp);
	while (i < md->nentries && seg[i]->second < start)
		i++;
	if (md->compact_at.u && md->compact_at.second >= start) {
		stats->compact_resumed++;
		while (i < md->nentries &&
		       segment_cmp(seg[i]->second, seg[i]->write, md->compact_at.second, md->compact_at.write) < 0)
			i++;
	}
	while (i < md->nentries && n < most) {
		for (k = i; k < md->nentries && seg[k]->second == seg[i]->second && seg[k]->write == seg[i]->write; k++) {
			n++;
			if (seg[k]->ts >= md->floor && seg[k]->ts < seg[k]->u->last_seen) {
				if (tracing)
					fprintf(stderr, "#   compaction deletes (%" PRId64 ", %d, %zu bytes)\n", seg[k]->ts,
						(int)seg[k]->u->p, seg[k]->u->len);
				gone[seg[k] - md->entries] = 1;
				stats->compacted++;
			}
		}
		i = k;
	}
	md->pass_ended = i >= md->nentries;
	if (i < md->nentries) {
		md->compact_at = *seg[i];
	} else {
		md->compact_at.u = NULL;
		stats->compact_passes++;
	}
	for (j = 0; j < md->nentries; j++)
		if (!gone[j])
			md->entries[kept++] = md->entries[j];
	md->nentries = kept;
	free(seg);
	free(gone);
}

static void model_apply(struct stream *st, const struct op *op)
{
	struct model *md = &st->md;
	char reason[REASON_MAX];
	int64_t nx[MAX_PARTS];
	size_t i, nlive = 0, live = 0;

	if (tracing)
		fprintf(stderr, "# batch #%lu: %s now %" PRId64 ", %zu messages\n", op->no,
			op->gap ? "gap" : "batch", op->now, op->n);
	if (op->gap) {
		if (tracing)
			fprintf(stderr, "#   gap: partition %d [%" PRId64 ", %" PRId64 ")\n", (int)op->p, op->from, op->to);
		size_t at = md->ngaps;

		/* Kept in key order, (partition, from), as the store lists them. */
		while (at > 0 && (md->gaps[at - 1].p > op->p || (md->gaps[at - 1].p == op->p && md->gaps[at - 1].from > op->from)))
			at--;
		GROW(md->gaps, md->ngaps, md->capgaps);
		memmove(md->gaps + at + 1, md->gaps + at, (md->ngaps - at) * sizeof(*md->gaps));
		md->gaps[at].p = op->p;
		md->gaps[at].from = op->from;
		md->gaps[at].to = op->to;
		md->ngaps++;
		md->next[op->p] = op->to;
		md->fp[op->p] = 0;
		stats->gaps++;
		return;
	}
	if (op->now - st->retain > md->floor)
		md->floor = op->now - st->retain;
	/* batch_commit() calls the hook twice, on the first and the second half of the live
	 * messages (neither skipped nor undecodable), and each call adds its own entries. */
	memcpy(nx, md->next, sizeof(nx));
	for (i = 0; i < op->n; i++) {
		const struct lmsg *m = &st->logs[op->refs[i].p].m[op->refs[i].i];
		if (m->offset >= nx[op->refs[i].p]) {
			nx[op->refs[i].p] = m->offset + 1;
			nlive += !m->reason;
		}
	}
	md->batches++;
	md->ntouched = 0;
	for (i = 0; i < op->n; i++) {
		const struct lmsg *m = &st->logs[op->refs[i].p].m[op->refs[i].i];
		int32_t p = op->refs[i].p;

		if (m->offset >= md->next[p] && !m->reason && live++ == nlive / 2) {
			model_add_entries(st); /* the first call's */
			md->batches++;
		}

		if (tracing) {
			char nm[256];
			if (m->reason)
				fprintf(stderr, "#   %d:%" PRId64 "%s rejected: %s\n", (int)p, m->offset,
					m->offset < md->next[p] ? " (applied before)" : "", m->reason);
			else
				fprintf(stderr, "#   %d:%" PRId64 "%s '%s' ts %" PRId64 " email %zu bytes\n", (int)p, m->offset,
					m->offset < md->next[p] ? " (applied before)" : "",
					show(nm, sizeof(nm), st->pool[m->user].name, st->pool[m->user].len), m->ts,
					m->email_len);
		}
		if (m->offset < md->next[p]) {
			stats->skipped++;
			continue;
		}
		md->next[p] = m->offset + 1;
		md->fp[p] = model_fingerprint(m->payload, m->len);
		if (m->reason) {
			model_reject(md, p, m->offset, m->reason, m->payload, m->len);
			stats->rejects++;
		} else if (m->ts > op->now + st->skew) {
			set_reason(reason, "ts %" PRId64 " is %" PRId64 " ms in the future (max skew %" PRId64 " ms)",
				   m->ts, m->ts - op->now, st->skew);
			model_reject(md, p, m->offset, reason, m->payload, m->len);
			stats->future++;
		} else if (st->retain_users && m->ts < md->floor) {
			/* ignored: older than the users are kept */
		} else {
			model_event(st, p, m, md->floor);
		}
	}
	model_add_entries(st);
	if (op->idle)
		model_compact(st, nlive);
	stats->batches++;
	stats->messages += op->n;
	if (md->nusers > stats->max_users)
		stats->max_users = md->nusers;
}

/* The offsets the model would hold after op, without applying it. */
static void model_offsets_after(const struct stream *st, const struct op *op, int64_t *next)
{
	size_t i;

	memcpy(next, st->md.next, sizeof(st->md.next));
	if (op->gap) {
		next[op->p] = op->to;
		return;
	}
	for (i = 0; i < op->n; i++) {
		const struct lmsg *m = &st->logs[op->refs[i].p].m[op->refs[i].i];
		if (m->offset >= next[op->refs[i].p])
			next[op->refs[i].p] = m->offset + 1;
	}
}

/* ---- reading the store back and comparing --------------------------------------------- */

static int collect_user(void *arg, int32_t partition, const char *user, size_t len, const struct store_user *u)
{
	struct stream *st = arg;

	GROW(st->su, st->nsu, st->capsu);
	st->su[st->nsu].p = partition;
	st->su[st->nsu].name = (const unsigned char *)user;
	st->su[st->nsu].len = len;
	st->su[st->nsu].u = *u;
	st->su[st->nsu].seen = INT64_MIN; /* its latest entry so far in the index's order */
	st->nsu++;
	return 0;
}

static int collect_entry(void *arg, int32_t partition, const char *user, size_t len, int64_t ts)
{
	struct stream *st = arg;

	GROW(st->se, st->nse, st->capse);
	st->se[st->nse].p = partition;
	st->se[st->nse].name = (const unsigned char *)user;
	st->se[st->nse].len = len;
	st->se[st->nse].ts = ts;
	st->nse++;
	return 0;
}

static int collect_offset(void *arg, int32_t partition, int64_t next)
{
	struct stream *st = arg;

	if (partition < 0 || partition >= st->nparts)
		st->soff_bad = 1;
	else
		st->soff[partition] = next;
	return 0;
}

static int collect_reject(void *arg, int32_t partition, int64_t offset, const char *reason,
			  const void *payload, size_t len)
{
	struct stream *st = arg;

	GROW(st->sr, st->nsr, st->capsr);
	st->sr[st->nsr].p = partition;
	st->sr[st->nsr].off = offset;
	st->sr[st->nsr].reason = reason;
	st->sr[st->nsr].pay = payload;
	st->sr[st->nsr].plen = len;
	st->nsr++;
	return 0;
}

static int collect_gap(void *arg, int32_t partition, int64_t from, int64_t to)
{
	struct stream *st = arg;

	GROW(st->sg, st->nsg, st->capsg);
	st->sg[st->nsg].p = partition;
	st->sg[st->nsg].from = from;
	st->sg[st->nsg].to = to;
	st->nsg++;
	return 0;
}

static void collect_problem(void *arg, const char *problem)
{
	struct stream *st = arg;

	if (st->problems++ == 0)
		snprintf(st->problem, sizeof(st->problem), "%s", problem);
}

static const char *show_user(char *buf, size_t buflen, int64_t last_seen, uint64_t count, int has_email,
			     const void *email, size_t email_len, int64_t email_ts)
{
	char e[256];

	if (has_email)
		snprintf(buf, buflen, "last_seen %" PRId64 " count %" PRIu64 " email '%s' (ts %" PRId64 ")",
			 last_seen, count, show(e, sizeof(e), email, email_len), email_ts);
	else
		snprintf(buf, buflen, "last_seen %" PRId64 " count %" PRIu64 " no email", last_seen, count);
	return buf;
}

static struct suser *stored_user(struct stream *st, int32_t p, const unsigned char *name, size_t len)
{
	size_t lo = 0, hi = st->nsu;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = reccmp(st->su[mid].p, st->su[mid].name, st->su[mid].len, p, name, len);

		if (c == 0)
			return &st->su[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The order of a by_time key: be64(ts), then the record's key. */
static int entry_cmp(int64_t ats, int32_t ap, const unsigned char *a, size_t alen, int64_t bts, int32_t bp,
		     const unsigned char *b, size_t blen)
{
	if (ats != bts)
		return ats < bts ? -1 : 1;
	return reccmp(ap, a, alen, bp, b, blen);
}

static int has_entry(struct stream *st, int64_t ts, int32_t p, const unsigned char *name, size_t len)
{
	size_t lo = 0, hi = st->nse;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = entry_cmp(st->se[mid].ts, st->se[mid].p, st->se[mid].name, st->se[mid].len, ts, p, name, len);

		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/* ---- the merged views: users and the active set -------------------------------------- */

static int by_name_then_partition(const void *a, const void *b)
{
	const struct suser *x = *(const struct suser *const *)a, *y = *(const struct suser *const *)b;
	int c = keycmp(x->name, x->len, y->name, y->len);

	return c ? c : x->p < y->p ? -1 : x->p > y->p;
}

/* The rules of a user's merged state, written again here: the latest last_seen, the
 * summed count, the non-empty email of the greatest (email_ts, bytes). */
static void model_merge(struct store_user *m, const struct store_user *r, int first)
{
	if (first) {
		*m = *r;
		return;
	}
	if (r->last_seen > m->last_seen)
		m->last_seen = r->last_seen;
	m->count += r->count;
	if (r->email && (!m->email || r->email_ts > m->email_ts ||
			 (r->email_ts == m->email_ts &&
			  keycmp((const unsigned char *)r->email, r->email_len, (const unsigned char *)m->email,
				 m->email_len) > 0))) {
		m->email = r->email;
		m->email_len = r->email_len;
		m->email_ts = r->email_ts;
	}
}

static int same_user(const struct store_user *a, const struct store_user *b)
{
	return a->last_seen == b->last_seen && a->count == b->count && (a->email != NULL) == (b->email != NULL) &&
	       (!a->email || (a->email_len == b->email_len && a->email_ts == b->email_ts &&
			      !memcmp(a->email, b->email, a->email_len)));
}

struct merged_cmp {
	struct stream *st;
	size_t i;
	char what[1200];
};

static int merged_step(void *arg, const char *user, size_t len, const struct store_user *u)
{
	struct merged_cmp *mc = arg;
	struct stream *st = mc->st;
	char n1[256], n2[256], a[400], b[400];
	const struct suser *m = mc->i < st->nmu ? &st->mu[mc->i] : NULL;

	if (!m || keycmp(m->name, m->len, (const unsigned char *)user, len) || !same_user(&m->u, u)) {
		snprintf(mc->what, sizeof(mc->what), "store_users_each: #%zu is '%s' (%s); the merge of its "
			 "records gives '%s' (%s)", mc->i, show(n1, sizeof(n1), user, len),
			 show_user(a, sizeof(a), u->last_seen, u->count, u->email != NULL, u->email, u->email_len,
				   u->email_ts),
			 m ? show(n2, sizeof(n2), m->name, m->len) : "none",
			 m ? show_user(b, sizeof(b), m->u.last_seen, m->u.count, m->u.email != NULL, m->u.email,
				       m->u.email_len, m->u.email_ts) : "-");
		return 1;
	}
	mc->i++;
	return 0;
}

/* store_users_each and store_user_get against the model's merge of the records read
 * (which compare_txn has just found equal to the model's). */
static int compare_merged(struct stream *st, struct store_txn *t, unsigned long no, const char *when)
{
	struct merged_cmp mc = { st, 0, "" };
	struct store_user u;
	char err[512], n1[256];
	size_t i, k;
	int rc;

	if (st->nsu > st->caporder) {
		st->caporder = st->nsu;
		st->order = xrealloc_or_die(st->order, st->caporder * sizeof(*st->order));
	}
	for (i = 0; i < st->nsu; i++)
		st->order[i] = &st->su[i];
	if (st->nsu) /* qsort(NULL, 0, ...) is undefined */
		qsort(st->order, st->nsu, sizeof(*st->order), by_name_then_partition);
	st->nmu = 0;
	for (i = 0; i < st->nsu; i = k) {
		GROW(st->mu, st->nmu, st->capmu);
		st->mu[st->nmu] = *st->order[i];
		for (k = i + 1; k < st->nsu && !keycmp(st->order[k]->name, st->order[k]->len, st->order[i]->name,
						       st->order[i]->len); k++)
			model_merge(&st->mu[st->nmu].u, &st->order[k]->u, 0);
		st->nmu++;
	}
	if ((rc = store_users_each(t, merged_step, &mc, err, sizeof(err))) < 0)
		return mismatch(st, no, when, "store_users_each: %s", err);
	if (rc > 0 || mc.i != st->nmu)
		return mismatch(st, no, when, "%s", rc > 0 ? mc.what : "store_users_each: fewer users than merged");
	for (i = 0; i < st->nmu; i++) {
		rc = store_user_get(t, (const char *)st->mu[i].name, st->mu[i].len, &u, err, sizeof(err));
		if (rc != 0 || !same_user(&u, &st->mu[i].u))
			return mismatch(st, no, when, "store_user_get('%s'): %d, not the merge of its records",
				    show(n1, sizeof(n1), st->mu[i].name, st->mu[i].len), rc);
	}
	return 0;
}

struct act_one {
	int64_t ts;
	const unsigned char *name;
	size_t len;
};

static int act_by_name_latest(const void *a, const void *b)
{
	const struct act_one *x = a, *y = b;
	int c = keycmp(x->name, x->len, y->name, y->len);

	return c ? c : x->ts > y->ts ? -1 : x->ts < y->ts;
}

static int act_by_time_name(const void *a, const void *b)
{
	const struct act_one *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	return keycmp(x->name, x->len, y->name, y->len);
}

/* active_collect() over a window at or above the floor, where the model's records are
 * exact: each user with a record last seen in the window, once, at the latest such
 * time, by (time, name). The window's length is drawn from the batch number, not from
 * the stream's generator, which must not depend on how often this runs. */
static int compare_active(struct stream *st, struct store_txn *t, unsigned long no, const char *when)
{
	struct model *md = &st->md;
	int64_t at = md->floor + st->retain, w = 1 + (int64_t)((no * 7919) % (uint64_t)st->retain);
	struct act_one *want = NULL;
	size_t n = 0, cap = 0, i, k;
	char err[512], n1[256];
	int rc = 0;

	if (md->floor == INT64_MIN)
		return 0;
	for (i = 0; i < md->nusers; i++) {
		const struct muser *u = md->users[i];
		if (u->last_seen > at - w && u->last_seen <= at) {
			GROW(want, n, cap);
			want[n].ts = u->last_seen;
			want[n].name = u->name;
			want[n++].len = u->len;
		}
	}
	if (n)
		qsort(want, n, sizeof(*want), act_by_name_latest);
	for (i = 0, k = 0; i < n; i++)
		if (k == 0 || keycmp(want[k - 1].name, want[k - 1].len, want[i].name, want[i].len))
			want[k++] = want[i];
	n = k;
	if (n)
		qsort(want, n, sizeof(*want), act_by_time_name);
	if (active_collect(t, at, w, &st->act, err, sizeof(err)) != 0) {
		rc = mismatch(st, no, when, "active_collect: %s", err);
		goto want_free;
	}
	for (i = 0; i < n || i < st->act.n; i++) {
		const char *got = i < st->act.n ? st->act.names + st->act.offs[i] : NULL;
		if (i >= n || !got || keycmp(want[i].name, want[i].len, (const unsigned char *)got, strlen(got)) ||
		    want[i].ts != st->act.ts[i]) {
			rc = mismatch(st, no, when, "active_collect(%" PRId64 ", %" PRId64 "): #%zu is '%s' at %" PRId64
				      "; expected %zu users, this one '%s' at %" PRId64, at, w, i,
				      got ? got : "none", got ? st->act.ts[i] : 0, n,
				      i < n ? show(n1, sizeof(n1), want[i].name, want[i].len) : "none",
				      i < n ? want[i].ts : 0);
			break;
		}
	}
want_free:
	free(want);
	return rc;
}

/* Compares everything the store holds with the model. Returns 0 or -1 (st->fail says). */
/* The stored position of the next compaction: a segment's key, compared whole. The
 * model numbers its writes as the store's counter does (one per hook call and second),
 * so the write must match too: a compaction that moved on within one second and deleted
 * nothing, in a batch of nothing that crashed after its commit, shows nowhere else. */
struct stored_at {
	int found;
	int64_t second;
	uint64_t write;
};

static void collect_compact_at(void *arg, int64_t second, uint64_t write)
{
	struct stored_at *at = arg;

	at->found = 1;
	at->second = second;
	at->write = write;
}

static int sentry_cmp(const void *a, const void *b)
{
	const struct sentry *x = a, *y = b;
	return entry_cmp(x->ts, x->p, x->name, x->len, y->ts, y->p, y->name, y->len);
}

static int compare_txn(struct stream *st, struct store_txn *t, unsigned long no, const char *when)
{
	struct stored_at at = { 0 };
	struct model *md = &st->md;
	char err[512], a[400], b[400], n1[256];
	struct store_stat ss;
	int64_t floor;
	size_t i, j;
	int p, rc;

	stats->compares++;
	st->nsu = st->nse = st->nsr = st->nsg = 0;
	st->problems = 0;
	st->soff_bad = 0;
	for (p = 0; p < MAX_PARTS; p++)
		st->soff[p] = -1;
	if (store_index_floor_get(t, &floor, err, sizeof(err)) != 0 ||
	    store_records_each(t, collect_user, st, err, sizeof(err)) < 0 ||
	    store_index_range(t, INT64_MIN, INT64_MAX, collect_entry, st, err, sizeof(err)) != 0 ||
	    store_offsets_each(t, collect_offset, st, err, sizeof(err)) < 0 ||
	    store_rejects_each(t, collect_reject, st, err, sizeof(err)) < 0 ||
	    store_gaps_each(t, collect_gap, st, err, sizeof(err)) < 0 ||
	    store_stat(t, &ss, err, sizeof(err)) != 0 ||
	    store_index_compact_at(t, collect_compact_at, &at, err, sizeof(err)) < 0)
		return mismatch(st, no, when, "reading the store: %s", err);

	/* Rule 5's position: where the next compaction goes on. */
	if (at.found != (md->compact_at.u != NULL) ||
	    (at.found && (at.second != md->compact_at.second || at.write != md->compact_at.write))) {
		snprintf(a, sizeof(a), "the segment (second %" PRId64 ", write %" PRIu64 ")", at.second, at.write);
		snprintf(b, sizeof(b), "the segment (second %" PRId64 ", write %" PRIu64 ")", md->compact_at.second,
			 md->compact_at.write);
		return mismatch(st, no, when, "compaction position: expected %s, stored %s",
				md->compact_at.u ? b : "the floor", at.found ? a : "the floor");
	}

	/* The index's own order (store.h, schema 6): by the second, and each record's
	 * entries in its time order, so that its last one is its last_seen. Then the
	 * entries are compared in (time, record) order. */
	for (i = 0; i < st->nse; i++) {
		const struct sentry *e = &st->se[i];
		struct suser *s = (struct suser *)stored_user(st, e->p, e->name, e->len);

		if (i > 0 && e->ts - e->ts % 1000 < st->se[i - 1].ts - st->se[i - 1].ts % 1000)
			return mismatch(st, no, when, "by_time: entry (%" PRId64 ", '%s') in an earlier second than "
				    "the one before it", e->ts, show(n1, sizeof(n1), e->name, e->len));
		if (s && e->ts <= s->seen)
			return mismatch(st, no, when, "by_time: entry (%" PRId64 ", %d, '%s') after one of %" PRId64
				    " of the same record", e->ts, (int)e->p, show(n1, sizeof(n1), e->name, e->len),
				    s->seen);
		if (s)
			s->seen = e->ts;
	}
	if (st->nse > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(st->se, st->nse, sizeof(*st->se), sentry_cmp);

	if (floor != md->floor)
		return mismatch(st, no, when, "index floor: expected %" PRId64 ", stored %" PRId64, md->floor, floor);

	if (st->soff_bad)
		return mismatch(st, no, when, "offsets: an entry for a partition the stream does not have");
	for (p = 0; p < st->nparts; p++)
		if (st->soff[p] != md->next[p])
			return mismatch(st, no, when, "offsets: partition %d: expected next %" PRId64 ", stored %" PRId64
				    " (-1: none)", p, md->next[p], st->soff[p]);
	/* Each position's fingerprint: of the last message that moved it (no key, no Kafka
	 * timestamp here), unknown after a gap. */
	for (p = 0; p < st->nparts; p++) {
		struct store_position pos;
		if (md->next[p] < 0)
			continue;
		if (store_position_get(t, p, &pos, err, sizeof(err)) != 0)
			return mismatch(st, no, when, "position of partition %d: %s", p, err);
		if (pos.last_hash != md->fp[p] || pos.last_ts != -1)
			return mismatch(st, no, when, "position of partition %d: expected fingerprint %016" PRIx64
				    " and no timestamp, stored %016" PRIx64 " at %" PRId64, p, md->fp[p],
				    pos.last_hash, pos.last_ts);
	}

	/* Records, in key order: the first that differs. */
	for (i = 0, j = 0; i < st->nsu || j < md->nusers;) {
		const struct suser *s = i < st->nsu ? &st->su[i] : NULL;
		const struct muser *m = j < md->nusers ? md->users[j] : NULL;
		int c = s && m ? reccmp(s->p, s->name, s->len, m->p, m->name, m->len) : s ? -1 : 1;

		if (c < 0)
			return mismatch(st, no, when, "users: '%s' of partition %d is stored (%s) but was never "
				    "applied", show(n1, sizeof(n1), s->name, s->len), (int)s->p,
				    show_user(b, sizeof(b), s->u.last_seen, s->u.count, s->u.email != NULL,
					      s->u.email, s->u.email_len, s->u.email_ts));
		if (c > 0) {
			if (!(st->retain_users && m->last_seen < md->floor))
				return mismatch(st, no, when, "users: '%s' of partition %d is missing; expected %s "
					    "(floor %" PRId64 ")", show(n1, sizeof(n1), m->name, m->len), (int)m->p,
					    show_user(a, sizeof(a), m->last_seen, m->count, m->has_email, m->email,
						      m->email_len, m->email_ts), md->floor);
			j++; /* forgotten and pruned: allowed below the floor */
			continue;
		}
		if (s->u.last_seen != m->last_seen || s->u.count != m->count ||
		    (s->u.email != NULL) != m->has_email ||
		    (m->has_email && (s->u.email_len != m->email_len || memcmp(s->u.email, m->email, m->email_len) ||
				      s->u.email_ts != m->email_ts)))
			return mismatch(st, no, when, "user '%s' of partition %d: expected %s, stored %s (floor %"
				    PRId64 ")", show(n1, sizeof(n1), m->name, m->len), (int)m->p,
				    show_user(a, sizeof(a), m->last_seen, m->count, m->has_email, m->email,
					      m->email_len, m->email_ts),
				    show_user(b, sizeof(b), s->u.last_seen, s->u.count, s->u.email != NULL,
					      s->u.email, s->u.email_len, s->u.email_ts), md->floor);
		i++;
		j++;
	}

	/* by_time (rule 4): every entry at or before its stored record's last_seen; every
	 * user at or above the floor has its entry; and the entries are the model's. */
	for (i = 0; i < st->nse; i++) {
		const struct sentry *e = &st->se[i];
		const struct suser *s = stored_user(st, e->p, e->name, e->len);

		if (!s)
			return mismatch(st, no, when, "by_time: entry (%" PRId64 ", %d, '%s') for a record not stored",
				    e->ts, (int)e->p, show(n1, sizeof(n1), e->name, e->len));
		if (s->u.last_seen < e->ts)
			return mismatch(st, no, when, "by_time: entry (%" PRId64 ", %d, '%s'), but its last_seen is %"
				    PRId64, e->ts, (int)e->p, show(n1, sizeof(n1), e->name, e->len), s->u.last_seen);
		if (i > 0 && entry_cmp(st->se[i - 1].ts, st->se[i - 1].p, st->se[i - 1].name, st->se[i - 1].len,
				       e->ts, e->p, e->name, e->len) >= 0)
			return mismatch(st, no, when, "by_time: entry (%" PRId64 ", '%s') out of order", e->ts,
				    show(n1, sizeof(n1), e->name, e->len));
	}
	for (i = 0; i < st->nsu; i++) {
		const struct suser *s = &st->su[i];

		if (s->u.last_seen >= md->floor && !has_entry(st, s->u.last_seen, s->p, s->name, s->len))
			return mismatch(st, no, when, "by_time: no entry for '%s' at its last_seen %" PRId64
				    " (floor %" PRId64 ")", show(n1, sizeof(n1), s->name, s->len),
				    s->u.last_seen, md->floor);
	}
	for (i = 0, j = 0; i < st->nse || j < md->nentries;) {
		const struct sentry *e = i < st->nse ? &st->se[i] : NULL;
		const struct mentry *m = j < md->nentries ? &md->entries[j] : NULL;
		int c = e && m ? entry_cmp(e->ts, e->p, e->name, e->len, m->ts, m->u->p, m->u->name, m->u->len) :
			e ? -1 : 1;

		if (c < 0)
			return mismatch(st, no, when, "by_time: entry (%" PRId64 ", %d, '%s') was never added (floor %"
				    PRId64 ")", e->ts, (int)e->p, show(n1, sizeof(n1), e->name, e->len), md->floor);
		if (c > 0 && m->ts >= md->floor)
			return mismatch(st, no, when, "by_time: entry (%" PRId64 ", %d, '%s') is missing (floor %"
				    PRId64 ")", m->ts, (int)m->u->p, show(n1, sizeof(n1), m->u->name, m->u->len),
				    md->floor);
		i += c <= 0;
		j++; /* below the floor, a model entry not stored was pruned */
	}

	/* Rejects, in key order: reason and payload prefix exact. */
	for (i = 0; i < st->nsr || i < md->nrej; i++) {
		const struct sreject *s = i < st->nsr ? &st->sr[i] : NULL;
		const struct mreject *m = i < md->nrej ? &md->rej[i] : NULL;

		if (!s || (m && (m->p < s->p || (m->p == s->p && m->off < s->off))))
			return mismatch(st, no, when, "rejects: missing (partition %d, offset %" PRId64 ") '%s'",
				    (int)m->p, m->off, m->reason);
		if (!m || s->p != m->p || s->off != m->off)
			return mismatch(st, no, when, "rejects: unexpected (partition %d, offset %" PRId64 ") '%s'",
				    (int)s->p, s->off, s->reason);
		if (strcmp(s->reason, m->reason) != 0)
			return mismatch(st, no, when, "rejects: (partition %d, offset %" PRId64 "): expected reason '%s', "
				    "stored '%s'", (int)m->p, m->off, m->reason, s->reason);
		if (s->plen != m->plen || memcmp(s->pay, m->prefix, m->plen) != 0)
			return mismatch(st, no, when, "rejects: (partition %d, offset %" PRId64 "): expected payload "
				    "prefix '%s', stored '%s'", (int)m->p, m->off, show(a, sizeof(a), m->prefix, m->plen),
				    show(b, sizeof(b), s->pay, s->plen));
	}

	/* Gaps: exactly those recorded. */
	if (st->nsg != md->ngaps)
		return mismatch(st, no, when, "gaps: expected %zu, stored %zu", md->ngaps, st->nsg);
	for (i = 0; i < st->nsg; i++) {
		const struct mgap *s = &st->sg[i], *m = &md->gaps[i];

		if (s->p != m->p || s->from != m->from || s->to != m->to)
			return mismatch(st, no, when, "gaps: #%zu: expected partition %d [%" PRId64 ", %" PRId64
				    "), stored partition %d [%" PRId64 ", %" PRId64 ")", i, (int)m->p, m->from, m->to,
				    (int)s->p, s->from, s->to);
	}

	if (compare_merged(st, t, no, when) != 0 || compare_active(st, t, no, when) != 0)
		return -1;
	if (ss.records != st->nsu || ss.users != st->nmu || ss.index != st->nse || ss.rejects != st->nsr ||
	    ss.gaps != st->nsg)
		return mismatch(st, no, when, "store_stat: %" PRIu64 " records, %" PRIu64 " users, %" PRIu64
			    " index entries, %" PRIu64 " rejects, %" PRIu64 " gaps; the walks found %zu, %zu, %zu, "
			    "%zu, %zu", ss.records, ss.users, ss.index, ss.rejects, ss.gaps, st->nsu, st->nmu, st->nse,
			    st->nsr, st->nsg);
	/* Last, so that a failure names the model's first difference when there is one. */
	if ((rc = store_check(t, collect_problem, st, err, sizeof(err))) != 0)
		return mismatch(st, no, when, "store_check: %d problem(s), the first: %s", rc,
				rc < 0 ? err : st->problem);
	return 0;
}

static int compare(struct stream *st, unsigned long no, const char *when)
{
	struct store_txn *t;
	char err[512];
	int rc;

	if (store_txn_begin(st->s, 0, &t, err, sizeof(err)) != 0)
		return mismatch(st, no, when, "store_txn_begin: %s", err);
	rc = compare_txn(st, t, no, when);
	store_txn_abort(t);
	return rc;
}

/* ---- running the code under test ----------------------------------------------------- */

#define INJECTED "injected failure"

/* The batch_apply_fn: active_apply() at the batch's now, failing once where told. Every
 * call of one batch, redone or not, must be given the batch's now. */
static int model_hook(void *arg, struct store_txn *t, struct batch_msg *msgs, size_t n, int64_t now,
		      char *err, size_t errlen)
{
	struct hook_ctx *c = arg;

	if (now != c->now) {
		snprintf(err, errlen, "the hook was given now %" PRId64 ", not the batch's %" PRId64, now, c->now);
		return -1;
	}
	if (++c->calls == c->fail_at) {
		snprintf(err, errlen, INJECTED);
		return -1;
	}
	return active_apply(&c->apply, t, msgs, n, now, err, errlen);
}

/* The batch_upkeep_fn of a batch applied while caught up: active_upkeep(), failing when
 * told, as the third call. */
static int model_upkeep(void *arg, struct store_txn *t, size_t nlive, char *err, size_t errlen)
{
	struct hook_ctx *c = arg;

	if (++c->calls == c->fail_at) {
		snprintf(err, errlen, INJECTED);
		return -1;
	}
	return active_upkeep(&c->apply, t, nlive, err, errlen);
}

static int store_up(struct stream *st, char *err, size_t errlen)
{
	struct store_options o = { .no_sync = !st->sync, .map_size = st->map_size, .kind = "active" };

	if (store_open(&st->s, st->dir, &o, err, errlen) != 0)
		return -1;
	/* The store's only writer takes its own way (store.c, choose_way()). */
	if (store_writes_through_map(st->s) == st->sync) {
		snprintf(err, errlen, "a %s writer alone writes %s the map", st->sync ? "syncing" : "--no-sync",
			 st->sync ? "through" : "around");
		store_close(st->s);
		st->s = NULL;
		return -1;
	}
	if (store_bind(st->s, TOPIC, "model-group", err, errlen) != 0) {
		store_close(st->s);
		st->s = NULL;
		return -1;
	}
	return 0;
}

static int exec_op(struct stream *st, const struct op *op, int fail_at, char *err, size_t errlen)
{
	static const unsigned char none[1];
	size_t i;
	int rc;

	if (op->gap)
		return batch_record_gap(st->s, op->p, op->from, op->to, err, errlen);
	batch_clear(&st->b);
	for (i = 0; i < op->n; i++) {
		const struct lmsg *m = &st->logs[op->refs[i].p].m[op->refs[i].i];
		batch_add(&st->b, op->refs[i].p, m->offset, m->len ? m->payload : none, m->len, NULL);
	}
	st->ctx.now = op->now;
	st->ctx.calls = 0;
	st->ctx.fail_at = fail_at;
	st->b.upkeep = op->idle ? model_upkeep : NULL;
	rc = batch_commit(&st->b, st->s, model_hook, &st->ctx, op->now, err, errlen);
	stats->grows += st->b.grows;
	return rc;
}

/* Runs the segment in this process, comparing after every batch. */
static int run_here(struct stream *st)
{
	char err[512];
	size_t i;

	for (i = 0; i < st->nseg; i++) {
		const struct op *op = &st->seg[i];

		if (op->fail_at && !op->gap) {
			if (exec_op(st, op, op->fail_at, err, sizeof(err)) == 0)
				goto applied; /* the hook was called fewer times */
			if (strcmp(err, INJECTED) != 0)
				return mismatch(st, op->no, "batch_commit", "%s", err);
			stats->injected++;
			if (compare(st, op->no, "after an injected hook failure (nothing may be committed)") != 0)
				return -1;
		}
		if (exec_op(st, op, 0, err, sizeof(err)) != 0)
			return mismatch(st, op->no, op->gap ? "batch_record_gap" : "batch_commit", "%s", err);
applied:
		model_apply(st, op);
		if (compare(st, op->no, "after the batch") != 0)
			return -1;
		if (!op->gap && op->idle && st->b.upkeep_ended != st->md.pass_ended)
			return mismatch(st, op->no, "batch_commit", "the upkeep says a pass %s, the model that it %s",
					st->b.upkeep_ended ? "ended" : "goes on", st->md.pass_ended ? "ended" : "goes on");
	}
	return 0;
}

/* The child: opens the store, runs the segment armed to abort at the Nth crash point. */
static void __attribute__((noreturn)) child_run(struct stream *st, long n)
{
	struct rlimit none = { 0, 0 };
	char spec[64], err[512];
	size_t i;
	int fd;

	setrlimit(RLIMIT_CORE, &none);
	if ((fd = open("/dev/null", O_WRONLY)) >= 0)
		dup2(fd, STDERR_FILENO); /* "crash point reached, aborting" */
	snprintf(spec, sizeof(spec), "any:%ld", n);
	setenv("PINGPONG_CRASH", spec, 1);
	if (crash_init() != 0) {
		snprintf(st->report->err, sizeof(st->report->err), "crash_init refused '%s'", spec);
		_exit(3);
	}
	if (store_up(st, err, sizeof(err)) != 0) {
		snprintf(st->report->err, sizeof(st->report->err), "reopening the store: %s", err);
		_exit(3);
	}
	for (i = 0; i < st->nseg; i++) {
		if (exec_op(st, &st->seg[i], 0, err, sizeof(err)) != 0) {
			snprintf(st->report->err, sizeof(st->report->err), "batch #%lu: %s", st->seg[i].no, err);
			_exit(3);
		}
		st->report->done = (int)i + 1;
	}
	store_close(st->s);
	_exit(0);
}

/* Runs the segment in a child that aborts at a random crash point, then brings the model
 * to what the store committed and repositions the consumer at the stored offsets. */
static int run_crashing(struct stream *st)
{
	char err[512];
	int64_t after[MAX_PARTS];
	long points = 0, n;
	size_t i;
	pid_t pid;
	int status, done, p, committed;

	/* Points per batch: mid-batch, one per user touched, in-prune, in-compact when caught
	 * up, before- and after-commit;
	 * fewer users are touched than messages given (replays, rejects, one user's events). */
	for (i = 0; i < st->nseg; i++)
		points += st->seg[i].gap ? 0 : 3 + st->seg[i].idle + (long)(st->seg[i].n < (size_t)st->npool ? st->seg[i].n : (size_t)st->npool) / 2;
	n = (long)rnd_in(&st->r, 1, points > 0 ? points : 1);
	store_close(st->s); /* LMDB: no environment across fork() */
	st->s = NULL;
	st->report->done = 0;
	st->report->err[0] = '\0';
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		child_run(st, n);
	while (waitpid(pid, &status, 0) < 0)
		ck_assert_int_eq(errno, EINTR);
	if (store_up(st, err, sizeof(err)) != 0)
		return mismatch(st, st->seg[0].no, "reopening after the child", "%s", err);
	done = st->report->done;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		ck_assert_int_eq(done, (int)st->nseg);
		stats->crash_unreached++;
	} else if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT) {
		return mismatch(st, st->seg[done < (int)st->nseg ? done : 0].no, "in the crash child",
			    "it ended with status %#x, not at a crash point: %s", status, st->report->err);
	}
	for (i = 0; i < (size_t)done; i++)
		model_apply(st, &st->seg[i]);
	if (done < (int)st->nseg) {
		const struct op *op = &st->seg[done];
		struct store_txn *t;
		int same_before = 1, same_after = 1;

		/* Did the batch in flight commit (a crash after the commit)? Its offsets say. */
		stats->crashes++;
		model_offsets_after(st, op, after);
		if (store_txn_begin(st->s, 0, &t, err, sizeof(err)) != 0)
			return mismatch(st, op->no, "after the crash", "store_txn_begin: %s", err);
		for (p = 0; p < MAX_PARTS; p++)
			st->soff[p] = -1;
		st->soff_bad = 0;
		if (store_offsets_each(t, collect_offset, st, err, sizeof(err)) < 0) {
			store_txn_abort(t);
			return mismatch(st, op->no, "after the crash", "store_offsets_each: %s", err);
		}
		store_txn_abort(t);
		for (p = 0; p < st->nparts; p++) {
			same_before &= st->soff[p] == st->md.next[p];
			same_after &= st->soff[p] == after[p];
		}
		committed = same_after && !same_before;
		if (!same_before && !same_after)
			return mismatch(st, op->no, "after a crash in it",
				    "the stored offsets are neither those before the batch nor those after it "
				    "(partition 0: stored %" PRId64 ", before %" PRId64 ", after %" PRId64 ")",
				    st->soff[0], st->md.next[0], after[0]);
		if (same_before && same_after) {
			/* Nothing new in it: only the floor can tell, if it moved; or, in a batch
			 * applied caught up, its compaction: the store equals the model either
			 * without the batch or with it. */
			int64_t fl;
			if (store_txn_begin(st->s, 0, &t, err, sizeof(err)) != 0)
				return mismatch(st, op->no, "after the crash", "store_txn_begin: %s", err);
			store_index_floor_get(t, &fl, err, sizeof(err));
			store_txn_abort(t);
			committed = !op->gap && fl != st->md.floor && fl == op->now - st->retain;
			if (!committed && !op->gap && op->idle &&
			    compare(st, op->no, "after a crash inside it (nothing of it may be committed)") != 0) {
				committed = 1;
				stats->crash_told_by_compaction++;
			}
		}
		if (committed) {
			model_apply(st, op);
			stats->crash_committed++;
		}
		if (compare(st, op->no, committed ? "after a crash that followed its commit" :
			    "after a crash inside it (nothing of it may be committed)") != 0)
			return -1;
		reposition(st);
		return 0;
	}
	return compare(st, st->seg[st->nseg - 1].no, "after a child that was never stopped");
}

/* ---- a stream ------------------------------------------------------------------------- */

static void pick_profile(struct stream *st)
{
	struct rng *r = &st->r;
	unsigned k;

	st->nparts = (int)rnd_in(r, 1, MAX_PARTS);
	k = (unsigned)rnd(r, 100);
	st->npool = k < 5 ? 1 : k < 35 ? (int)rnd_in(r, 2, 10) : k < 80 ? (int)rnd_in(r, 11, 80) :
		    (int)rnd_in(r, 81, 250);
	k = (unsigned)rnd(r, 100);
	st->retain = k < 55 ? 30000 : k < 80 ? rnd_in(r, 1, 2000) : rnd_in(r, 2000, 600000);
	k = (unsigned)rnd(r, 100);
	st->skew = k < 50 ? 300000 : k < 65 ? 0 : rnd_in(r, 1, 5000);
	k = (unsigned)rnd(r, 100);
	/* Times of today, small ones (a fixint to a uint16 ts) and ones around 2^32 (uint32
	 * or uint64 ts); the model does not care, the headers do. */
	st->base = k < 60 ? rnd_in(r, 1600000000000LL, 1800000000000LL) : k < 80 ? rnd_in(r, 1, 70000) :
		   (int64_t)UINT32_MAX + rnd_in(r, -3 * st->retain, st->retain);
	st->retain_users = chance(r, 25);
	st->map_size = chance(r, 40) ? 64 * 1024 : chance(r, 50) ? 0 : 1024 * 1024;
	st->nops = (int)rnd_in(r, 8, 50);
	st->bad_pct = chance(r, 10) ? 0 : (unsigned)rnd_in(r, 1, 30);
	st->dup_pct = (unsigned)rnd(r, 9);
	st->zombie_pct = (unsigned)rnd(r, 16);
	st->crash_pct = (unsigned)rnd(r, 31);
	st->gap_pct = (unsigned)rnd(r, 7);
	st->fail_pct = (unsigned)rnd(r, 11);
	/* The original ping-pong's JSON beside msgpack: none, some, most or all. */
	k = (unsigned)rnd(r, 100);
	st->json_pct = k < 30 ? 0 : k < 60 ? (unsigned)rnd_in(r, 1, 30) : k < 90 ? (unsigned)rnd_in(r, 31, 99) : 100;
	/* Caught up (compacting) never, sometimes or always; in steps small enough to stop
	 * inside the index, or active's own. */
	k = (unsigned)rnd(r, 100);
	st->idle_pct = k < 20 ? 0 : k < 80 ? (unsigned)rnd_in(r, 1, 99) : 100;
	st->upkeep_chunk = chance(r, 80) ? (size_t)rnd_in(r, 1, 40) : 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static const char *scratch_root(void)
{
	struct stat sb;

	return stat("/dev/shm", &sb) == 0 && S_ISDIR(sb.st_mode) && access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

static void stream_free(struct stream *st)
{
	size_t i;
	int p;

	for (p = 0; p < MAX_PARTS; p++) {
		for (i = 0; i < st->logs[p].n; i++) {
			free(st->logs[p].m[i].payload);
			free(st->logs[p].m[i].reason);
			free(st->logs[p].m[i].email);
		}
		free(st->logs[p].m);
	}
	for (i = 0; i < st->md.nusers; i++)
		free(st->md.users[i]);
	free(st->md.users);
	free(st->md.rej);
	free(st->md.gaps);
	free(st->md.entries);
	free(st->md.touched);
	free(st->pool);
	free(st->su);
	free(st->se);
	free(st->mu);
	free(st->order);
	active_set_release(&st->act);
	free(st->sr);
	free(st->sg);
	msgpack_sbuffer_destroy(&st->sb);
	batch_release(&st->b);
	active_apply_release(&st->ctx.apply);
}

/* Runs one stream; on a mismatch fails the test with a message that names the seed. */
static void run_stream(uint64_t seed, struct child_report *report)
{
	struct stream *st = xrealloc_or_die(NULL, sizeof(*st));
	char err[512], tmpl[64];
	int i, p, rc = 0;

	memset(st, 0, sizeof(*st));
	st->seed = seed;
	st->r.s = seed;
	st->report = report;
	pick_profile(st);
	st->pool = xrealloc_or_die(NULL, (size_t)st->npool * sizeof(*st->pool));
	for (i = 0; i < st->npool; i++)
		gen_name(st, &st->pool[i]);
	for (p = 0; p < MAX_PARTS; p++) {
		st->md.next[p] = -1;
		st->logs[p].plan_next = -1;
		st->logs[p].gen_next = chance(&st->r, 30) ? rnd_in(&st->r, 1, 1000) : 0;
	}
	st->md.floor = INT64_MIN;
	st->plan_now = st->base;
	st->plan_floor = INT64_MIN;
	msgpack_sbuffer_init(&st->sb);
	msgpack_packer_init(&st->pk, &st->sb, msgpack_sbuffer_write);
	batch_init(&st->b, MAX_BATCH);
	st->ctx.apply.max_skew_ms = st->skew;
	st->ctx.apply.retain_ms = st->retain;
	st->ctx.apply.retain_users_ms = st->retain_users ? st->retain : 0;
	st->ctx.apply.upkeep_chunk = st->upkeep_chunk;
	/* A third of the streams sync each commit: their stores are written by LMDB's own
	 * writes, the others' through the map (store.c, choose_way()). From the seed, not
	 * the generator, so that every stream's events stay what they were. */
	st->sync = seed % 3 == 0;

	snprintf(tmpl, sizeof(tmpl), "%s/check_model.XXXXXX", scratch_root());
	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	snprintf(st->dir, sizeof(st->dir), "%s/st", tmpl);
	if (store_up(st, err, sizeof(err)) != 0 || active_record_retention(st->s, st->retain, err, sizeof(err)) != 0)
		ck_abort_msg("seed %" PRIu64 ": opening the store: %s", seed, err);
	stats->streams++;
	stats->retain_users_streams += st->retain_users;
	stats->small_maps += st->map_size == 64 * 1024;
	stats->sync_streams += st->sync;

	while (rc == 0 && st->planned < (unsigned long)st->nops) {
		int crash = chance(&st->r, st->crash_pct);
		size_t n = crash ? (size_t)rnd_in(&st->r, 1, MAX_SEGMENT) : (size_t)rnd_in(&st->r, 1, 3);

		plan_segment(st, n);
		rc = crash ? run_crashing(st) : run_here(st);
	}
	if (rc == 0) {
		/* A restart at the end: what was committed is what a new process reads. */
		store_close(st->s);
		if (store_up(st, err, sizeof(err)) != 0)
			rc = mismatch(st, st->planned, "reopening at the end", "%s", err);
		else
			rc = compare(st, st->planned, "at the end, after a reopen");
	}
	if (st->s)
		store_close(st->s);
	if (rc != 0) {
		stats->failed++;
		fprintf(stderr, "# FAIL %s\n# store kept in %s\n", st->fail, st->dir);
		ck_abort_msg("%s", st->fail);
	}
	nftw(tmpl, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	stream_free(st);
	free(st);
}

/* ---- the suite ------------------------------------------------------------------------- */

static uint64_t base_seed, replay_seed;
static int replaying;
static long nstreams = 500;
static struct child_report *report; /* MAP_SHARED, for the crash children */

/* ---- the fold's order ------------------------------------------------------------------ */

/* The users keys' order as LMDB has it (store.h): be32 partition, then the name's bytes,
 * a name before the longer names it starts. Written from that rule, not from active.c. */
static int users_key_cmp(const struct batch_msg *x, const struct batch_msg *y)
{
	uint32_t px = (uint32_t)x->partition, py = (uint32_t)y->partition;
	size_t lx = x->ev.user_len, ly = y->ev.user_len;
	int c;

	if (px != py)
		return px < py ? -1 : 1;
	c = memcmp(x->ev.user, y->ev.user, lx < ly ? lx : ly);
	return c ? c : (lx > ly) - (lx < ly);
}

/* A name for the fold test: a stem from a small pool (so that names share their first 8
 * bytes, or all of a shorter name), then a tail of 0 to 40 bytes, ASCII or multi-byte; at
 * most 255 bytes, as event.c allows. */
static size_t fold_name(struct rng *r, unsigned char stems[][24], const size_t *stem_len, int nstems,
			unsigned char *out)
{
	int k = (int)rnd(r, (uint64_t)nstems);
	size_t len = stem_len[k], tail = chance(r, 30) ? 0 : (size_t)rnd_in(r, 1, chance(r, 5) ? 231 : 12);

	memcpy(out, stems[k], len);
	if (tail)
		rand_utf8(r, out + len, tail, chance(r, 20) ? 40 : 0, 0);
	return len + tail;
}

/* active_apply() folds a batch's events in the order of their users' keys, which groups a
 * user's events (its fold) and hands LMDB its keys in order. The order is a radix sort
 * of a key prefix with the ties sorted apart (active.c), so it is compared here with a
 * plain sort by users_key_cmp() over batches of every size up to 3,000, partitions whose
 * high bytes differ or not, and names that share 0 to 23 leading bytes. */
START_TEST(test_fold_order)
{
	static const int32_t parts[] = { 0, 1, 2, 255, 256, 65535, 65536, 0x00ff0000, 0x01000000, 0x7fffffff };
	struct rng r = { base_seed ^ 0x5eedf01dULL };
	struct active_apply a = { 0 };
	struct batch_msg *msgs = xcalloc(3000, sizeof(*msgs));
	unsigned char (*names)[256] = xcalloc(3000, sizeof(*names));
	unsigned char stems[40][24];
	size_t stem_len[40];
	uint32_t *order = xcalloc(3000, sizeof(*order));
	char *seen = xcalloc(3000, 1);
	int round, k;

	for (round = 0; round < 400; round++) {
		int nstems = (int)rnd_in(&r, 1, 40), nparts = (int)rnd_in(&r, 1, 10);
		size_t n = round < 10 ? (size_t)round : (size_t)rnd_in(&r, 1, chance(&r, 20) ? 3000 : 300), i;

		for (k = 0; k < nstems; k++) {
			stem_len[k] = (size_t)rnd_in(&r, 1, 23);
			rand_utf8(&r, stems[k], stem_len[k], chance(&r, 30) ? 50 : 0, 0);
		}
		for (i = 0; i < n; i++) {
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].partition = parts[rnd(&r, (uint64_t)nparts)];
			msgs[i].ev.user_len = fold_name(&r, stems, stem_len, nstems, names[i]);
			msgs[i].ev.user = (const char *)names[i];
		}
		active_fold_order(&a, msgs, n, order);
		memset(seen, 0, n);
		for (i = 0; i < n; i++) {
			ck_assert_msg(order[i] < n && !seen[order[i]], "seed %" PRIu64 " round %d: order is not a permutation at %zu", base_seed, round, i);
			seen[order[i]] = 1;
			ck_assert_msg(i == 0 || users_key_cmp(&msgs[order[i - 1]], &msgs[order[i]]) <= 0,
				      "seed %" PRIu64 " round %d: event %zu of %zu ('%.*s' in %d) folds after '%.*s' in %d",
				      base_seed, round, i, n,
				      (int)msgs[order[i]].ev.user_len, msgs[order[i]].ev.user, msgs[order[i]].partition,
				      (int)msgs[order[i - 1]].ev.user_len, msgs[order[i - 1]].ev.user,
				      msgs[order[i - 1]].partition);
		}
	}
	active_apply_release(&a);
	free(msgs);
	free(names);
	free(order);
	free(seen);
}
END_TEST

START_TEST(test_streams)
{
	long i, first = (long)_i * STREAMS_PER_LOOP;

	if (replaying) {
		if (_i == 0) {
			fprintf(stderr, "# seed %" PRIu64 " (replay of one stream)\n", replay_seed);
			run_stream(replay_seed, report);
		}
		return;
	}
	for (i = first; i < first + STREAMS_PER_LOOP && i < nstreams; i++)
		run_stream(base_seed + (uint64_t)i, report);
}
END_TEST

/* The generator itself can fail: over enough streams every kind of input must appear. */
START_TEST(test_coverage)
{
	int k;

	if (replaying || nstreams < 200 || stats->failed)
		return;
	for (k = 0; k < NBAD; k++)
		ck_assert_msg(stats->bad[k] > 0, "no payload of kind '%s' was generated", bad_names[k]);
	for (k = 0; k < NTS; k++)
		ck_assert_msg(stats->ts[k] > 0, "no timestamp '%s' was generated", ts_names[k]);
	for (k = 0; k < NFORMS; k++)
		ck_assert_msg(stats->str_form[k] > 0 && (k == F_8 || stats->map_form[k] > 0), /* no map8 */
			      "header form %d never written", k);
	for (k = 0; k < NINTS; k++)
		ck_assert_msg(stats->int_form[k] > 0, "integer form %d never written", k);
	ck_assert(stats->crashes > 0 && stats->crash_committed > 0 && stats->injected > 0);
	ck_assert(stats->grows > 0 && stats->gaps > 0 && stats->zombies > 0 && stats->skipped > 0);
	ck_assert(stats->future > 0 && stats->now_back > 0 && stats->dup_payload > 0);
	ck_assert(stats->no_email > 0 && stats->empty_email > 0 && stats->email_len_change > 0);
	ck_assert(stats->name_255_multibyte > 0 && stats->name_1 > 0 && stats->exact_size > 0);
	ck_assert(stats->nest_edge > 0 && stats->unknown_keys > 0 && stats->retain_users_streams > 0);
	ck_assert(stats->sync_streams > 0 && stats->sync_streams < stats->streams);
	ck_assert(stats->rec_same_size > 0 && stats->rec_resized > 0 && stats->index_not_last > 0);
	ck_assert(stats->json_payloads > 0 && stats->json_escapes > 0);
	ck_assert(stats->upkeeps > 0 && stats->compacted > 0 && stats->compact_resumed > 0 && stats->compact_passes > 0 &&
		  stats->idle_steps > 0);
	for (k = 0; k < NBAD; k++)
		ck_assert_msg(stats->json_bad[k] > 0 || k == B_EMPTY || k == B_C1 || k == B_DEEP || k == B_NOT_MAP ||
			      k == B_KEY_NOT_STR, "no JSON payload of kind '%s' was generated", bad_names[k]);
}
END_TEST

static Suite *model_suite(void)
{
	Suite *s = suite_create("model");
	TCase *tc = tcase_create("streams");
	long loops = replaying ? 1 : (nstreams + STREAMS_PER_LOOP - 1) / STREAMS_PER_LOOP;

	tcase_add_loop_test(tc, test_streams, 0, (int)loops);
	tcase_add_test(tc, test_coverage);
	tcase_set_timeout(tc, 600);
	suite_add_tcase(s, tc);
	tc = tcase_create("fold order");
	tcase_add_test(tc, test_fold_order);
	suite_add_tcase(s, tc);
	return s;
}

static uint64_t env_u64(const char *name, int *set)
{
	const char *v = getenv(name);
	char *end;
	uint64_t n;

	*set = 0;
	if (!v || !*v)
		return 0;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end) {
		fprintf(stderr, "check_model: %s must be a number, not '%s'\n", name, v);
		exit(2);
	}
	*set = 1;
	return n;
}

int main(void)
{
	struct timespec t0, t1;
	SRunner *sr;
	double secs;
	int failed, set;
	uint64_t n;

	stats = mmap(NULL, sizeof(*stats), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	report = mmap(NULL, sizeof(*report), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (stats == MAP_FAILED || report == MAP_FAILED) {
		perror("check_model: mmap");
		return 2;
	}
	memset(stats, 0, sizeof(*stats));
	replay_seed = env_u64("PINGPONG_SEED", &replaying);
	tracing = getenv("PINGPONG_MODEL_TRACE") != NULL;
	n = env_u64("PINGPONG_MODEL_STREAMS", &set);
	if (set)
		nstreams = (long)n;
	base_seed = env_u64("PINGPONG_MODEL_BASE", &set);
	if (!set) {
		clock_gettime(CLOCK_REALTIME, &t0);
		base_seed = ((uint64_t)t0.tv_sec * 1000003u ^ (uint64_t)t0.tv_nsec ^ (uint64_t)getpid() << 20) % 1000000000000ULL;
	}
	if (!replaying)
		fprintf(stderr, "# seed %" PRIu64 ": %ld streams, seeds %" PRIu64 "..%" PRIu64
			" (PINGPONG_SEED=S tests/check_model replays stream S; PINGPONG_MODEL_BASE=%" PRIu64
			" replays them all)\n", base_seed, nstreams, base_seed, base_seed + (uint64_t)nstreams - 1,
			base_seed);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	sr = srunner_create(model_suite());
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr, "# model: %" PRIu64 " streams (%" PRIu64 " syncing each commit) in %.1f s (%.1f streams/s): %"
		PRIu64 " batches, %" PRIu64
		" messages (%" PRIu64 " events applied, %" PRIu64 " skipped as applied before, %" PRIu64
		" rejected undecodable, %" PRIu64 " in the future), %" PRIu64 " gaps, %" PRIu64 " zombie batches, %"
		PRIu64 " crashes (%" PRIu64 " after the commit, %" PRIu64 " children not stopped), %" PRIu64
		" injected hook failures, %" PRIu64 " map grows, %" PRIu64 " comparisons, up to %" PRIu64
		" users; %s\n",
		stats->streams, stats->sync_streams, secs, secs > 0 ? (double)stats->streams / secs : 0.0, stats->batches,
		stats->messages, stats->applied_events, stats->skipped, stats->rejects, stats->future, stats->gaps,
		stats->zombies, stats->crashes, stats->crash_committed, stats->crash_unreached, stats->injected,
		stats->grows, stats->compares, stats->max_users, failed ? "FAILED" : "all equal to the model");
	if (stats->streams > 0) {
		int k;

		fprintf(stderr, "# coverage: rejects by kind:");
		for (k = 0; k < NBAD; k++)
			fprintf(stderr, "%s %s %" PRIu64, k ? "," : "", bad_names[k], stats->bad[k]);
		fprintf(stderr, "\n# coverage: timestamps:");
		for (k = 0; k < NTS; k++)
			fprintf(stderr, "%s %s %" PRIu64, k ? "," : "", ts_names[k], stats->ts[k]);
		fprintf(stderr, "\n# coverage: no email %" PRIu64 ", empty email %" PRIu64 ", email length changed %" PRIu64
			", 255-byte names ending multi-byte %" PRIu64 ", exact duplicates %" PRIu64 ", 65536-byte events %"
			PRIu64 ", nesting at the limit %" PRIu64 ", records rewritten same size %" PRIu64 " / resized %"
			PRIu64 ", index keys not last %" PRIu64 "\n", stats->no_email, stats->empty_email,
			stats->email_len_change, stats->name_255_multibyte, stats->dup_payload, stats->exact_size,
			stats->nest_edge, stats->rec_same_size, stats->rec_resized, stats->index_not_last);
		fprintf(stderr, "# coverage: compactions %" PRIu64 " (%" PRIu64 " going on from where one stopped, %" PRIu64
			" reaching the end, %" PRIu64 " in batches of nothing), stale entries deleted %" PRIu64
			", crashes after a commit only its compaction told %" PRIu64 "\n", stats->upkeeps,
			stats->compact_resumed, stats->compact_passes, stats->idle_steps, stats->compacted,
			stats->crash_told_by_compaction);
		fprintf(stderr, "# coverage: JSON payloads %" PRIu64 " (%" PRIu64 " escapes); JSON rejects by kind:",
			stats->json_payloads, stats->json_escapes);
		for (k = 0; k < NBAD; k++)
			if (stats->json_bad[k])
				fprintf(stderr, " %s %" PRIu64 ",", bad_names[k], stats->json_bad[k]);
		fputc('\n', stderr);
	}
	return failed ? 1 : 0;
}
