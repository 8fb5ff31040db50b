/* store-bench.c: the store alone, without Kafka: apply rates, query stores, recovery time.
 *
 * `apply` feeds events to the store as `pingpong active` does, minus Kafka: each batch's
 * events are first encoded (not timed), then the timed part runs the engine's own path:
 * batch_add() decodes each one, and batch_commit() (src/batch.c) applies them with the
 * real active_apply() of src/active.c in one write txn with the offsets.
 *
 * `decode` times event_decode() alone over the same kind of events, so that the decoder's
 * cost (callgrind: --toggle-collect='*bench_timed_decode*') is seen without the store.
 *
 * `lmdb` is LMDB alone, the floor under any store built on it: the same users' keys put
 * with mdb_put(), one put per user per batch, in key order, no decoding, no index, no
 * offsets, and a value smaller than a user record. What LMDB alone cannot do, the store
 * cannot (bench/README.md: the bounds).
 *
 * Output is one line of key=value pairs on stdout, for bench/run.sh.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <sysexits.h>

#include <lmdb.h>

#include "active.h"
#include "bench-events.h"
#include "batch.h"
#include "event.h"
#include "store.h"
#include "util.h"

#define BENCH_TOPIC "bench"
#define BENCH_GROUP "store-bench"

static const char usage[] =
	"usage: store-bench users N [--data DIR]\n"
	"       store-bench apply --store DIR [--events N] [--users N] [--batch N] [--no-sync]\n"
	"                         [--retain D] [--rate N] [--event-clock] [--upkeep] [--partitions N]\n"
	"                         [--seed N] [--data DIR]\n"
	"       store-bench query-store --store DIR --users N --active N --at TS [--window D]\n"
	"                               [--seen N] [--compact] [--data DIR]\n"
	"       store-bench recover --store DIR [--partitions N]\n"
	"       store-bench decode [--events N] [--users N] [--seed N] [--data DIR]\n"
	"       store-bench lmdb --store DIR [--events N] [--users N] [--batch N] [--no-sync]\n"
	"                        [--partitions N] [--seed N] [--data DIR]\n"
	"\n"
	"  users        print the first N user names of the benchmarks, one a line\n"
	"  apply        apply N events (default 1000000) of --users users (default 10000) in\n"
	"               batches of --batch (default 1000), as `pingpong active` applies them;\n"
	"               event times as if produced at --rate events/s (default 1000000),\n"
	"               the last one now; the time index is kept for --retain (default 24h);\n"
	"               --event-clock applies each batch at its last event's time instead of\n"
	"               now (a steady state: the index holds --retain of events, pruned as\n"
	"               it goes); --upkeep compacts the index in every batch, as `pingpong\n"
	"               active` does while caught up\n"
	"  query-store  write --users users, all of them in the time index, of whom the last\n"
	"               --active were seen in the --window (default 30s) that ends at TS, each\n"
	"               --seen times (default 1), 1 ms apart; --compact then compacts the\n"
	"               index from the window's start, as `pingpong active` does while caught\n"
	"               up, in steps of 1,000 entries, until a step reaches the end\n"
	"  recover      time opening the store and reading each partition's offset, as a\n"
	"               restarting consumer does, from the start of main()\n"
	"  decode       decode N events (default 1000000) of --users users with event_decode()\n"
	"               alone, from a pool of 10,000 encoded events\n"
	"  lmdb         LMDB alone: the users' keys of `apply`'s events put with mdb_put() in\n"
	"               a new environment opened as the store opens its own, one put of a\n"
	"               24-byte value per user per batch, in key order; nothing else\n";

struct bench_apply {
	struct store *store;
	struct active_apply apply;  /* the settings of `pingpong active` */
	int64_t commits, grows;
};

/* CPU time of this thread: what a batch costs, whatever else the machine is doing. */
static int64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Page faults of this process so far, minor and major: a store larger than the page
 * cache can hold, or pages touched for the first time, show here. */
static void faults(int64_t *minflt, int64_t *majflt)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*minflt = ru.ru_minflt;
	*majflt = ru.ru_majflt;
}

/* The apply hook of `pingpong active` (cmd-active.c), as of the wall clock. */
static int bench_apply_hook(void *ctx, struct store_txn *t, struct batch_msg *msgs, size_t n, int64_t now,
			    char *err, size_t errlen)
{
	struct bench_apply *a = ctx;
	return active_apply(&a->apply, t, msgs, n, now, err, errlen);
}

static int bench_upkeep_hook(void *ctx, struct store_txn *t, size_t nlive, char *err, size_t errlen)
{
	struct bench_apply *a = ctx;
	return active_upkeep(&a->apply, t, nlive, err, errlen);
}

/* The timed part of a batch: decode each event, then the batch's txn. Never inlined, so
 * that a profiler can look at it alone:
 *   valgrind --tool=callgrind --toggle-collect=bench_timed_batch bench/store-bench apply ... */
static __attribute__((noinline)) int bench_timed_batch(struct bench_apply *a, struct batch *b,
							const struct batch_msg *in, size_t n, int64_t now, char *err,
							size_t errlen)
{
	size_t i;

	batch_clear(b);
	for (i = 0; i < n; i++)
		if (batch_add(b, in[i].partition, in[i].offset, in[i].payload, in[i].len, NULL)->reject)
			return set_err(-1, err, errlen, "rejected: %s", b->msgs[i].reject);
	if (batch_commit(b, a->store, bench_apply_hook, a, now ? now : clock_now_ms(), err, errlen) != 0)
		return -1;
	if (b->rejected || b->skipped)
		return set_err(-1, err, errlen, "%" PRIu64 " events rejected, %" PRIu64 " skipped", b->rejected,
			       b->skipped);
	a->commits++;
	a->grows += (int64_t)b->grows;
	return 0;
}

static uint32_t fnv1a(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 16777619u;
	return h;
}

/* Binds the store and records the retention, as `pingpong active` does. */
static int bench_bind(struct store *s, int64_t retain_ms, char *err, size_t errlen)
{
	int rc;

	if ((rc = store_bind(s, BENCH_TOPIC, BENCH_GROUP, err, errlen)) != 0)
		return rc;
	return active_record_retention(s, retain_ms, err, errlen);
}

/* Each partition's next offset in the store: 0 in a new one; in a store an earlier run
 * filled, where it stopped, so that a second run (a profile of a big store) applies new
 * events instead of skipping them all. */
static int bench_resume(struct store *s, int64_t *offsets, int64_t nparts, char *err, size_t errlen)
{
	struct store_txn *t;
	int64_t next;
	int32_t p;

	if (store_txn_begin(s, 0, &t, err, errlen) != 0)
		return -1;
	for (p = 0; p < nparts; p++)
		if (store_offset_get(t, p, &next, err, errlen) == 0)
			offsets[p] = next;
	store_txn_abort(t);
	return 0;
}

/* run_apply's flags */
#define APPLY_NO_SYNC 1
#define APPLY_EVENT_CLOCK 2 /* each batch applied at its last event's time */
#define APPLY_UPKEEP 4      /* every batch compacts the index, as if caught up */

static int run_apply(const char *dir, int64_t events, int64_t nusers, int64_t batch, int flags,
		     int64_t retain_ms, int64_t rate, int64_t nparts, int64_t seed, const char *data)
{
	struct store_options so = { .no_sync = (flags & APPLY_NO_SYNC) != 0 };
	struct chat_lines names, msgs;
	struct chat_users users;
	struct bench_apply a;
	struct event_encoder enc;
	struct batch b;
	struct batch_msg *batchv;
	unsigned char *arena, *drawn; /* drawn: a bit per user, for the run's check */
	size_t arena_cap, longest = 0, i;
	int64_t *offsets, done = 0, now0, timed_ns = 0, cpu_ns = 0, wall0 = clock_mono_ns(), distinct = 0;
	int64_t minflt = 0, majflt = 0; /* in the timed part */
	uint64_t rng = chat_rng_seed((uint64_t)seed);
	char err[1024];
	int rc = EX_OK;

	bench_load_data("store-bench", data, &names, &msgs);
	chat_users_init(&users, &names, (size_t)nusers);
	memset(&a, 0, sizeof(a));
	a.apply.retain_ms = retain_ms;
	a.apply.max_skew_ms = 300000;
	offsets = xcalloc((size_t)nparts, sizeof(*offsets));
	drawn = xcalloc((size_t)(nusers + 7) / 8, 1);
	batchv = xcalloc((size_t)batch, sizeof(*batchv));
	/* An event's encoding is its strings plus less than 128 bytes of keys and headers. */
	/* Names are at most 255 bytes, emails 300. */
	longest = 600;
	arena_cap = 0;
	for (i = 0; i < msgs.n; i++)
		if (strlen(msgs.v[i]) > arena_cap)
			arena_cap = strlen(msgs.v[i]);
	arena_cap = (size_t)batch * (arena_cap + longest + 128);
	arena = xmalloc(arena_cap);
	event_encoder_init(&enc);
	batch_init(&b, (size_t)batch);
	if (flags & APPLY_UPKEEP)
		b.upkeep = bench_upkeep_hook;

	if (store_open(&a.store, dir, &so, err, sizeof(err)) != 0 || bench_bind(a.store, retain_ms, err, sizeof(err)) != 0 ||
	    bench_resume(a.store, offsets, nparts, err, sizeof(err)) != 0) {
		fprintf(stderr, "store-bench: %s\n", err);
		rc = EX_IOERR;
		goto release;
	}
	now0 = clock_now_ms();
	while (done < events) {
		size_t n = (size_t)(events - done < batch ? events - done : batch), used = 0;
		int64_t t0, c0, min0, maj0, min1, maj1, last_ts = 0;

		/* Not timed: what the producer and Kafka do. */
		for (i = 0; i < n; i++) {
			struct batch_msg *m = &batchv[i];
			struct event ev;
			const void *buf;
			char name[CHAT_NAME_MAX], email[CHAT_EMAIL_MAX];
			size_t len, k;

			last_ts = bench_event_ts(now0, (uint64_t)(done + (int64_t)i), (uint64_t)events, (uint64_t)rate);
			bench_event_next(&rng, &users, &msgs, last_ts, &ev, &k, name, email);
			if (!(drawn[k / 8] & (1u << (k % 8)))) {
				drawn[k / 8] |= (unsigned char)(1u << (k % 8));
				distinct++;
			}
			event_encode(&enc, &ev, &buf, &len);
			if (used + len > arena_cap) {
				fprintf(stderr, "store-bench: event of %zu bytes overflows the batch arena\n", len);
				rc = EX_SOFTWARE;
				goto store_close;
			}
			memcpy(arena + used, buf, len);
			m->payload = arena + used;
			m->len = len;
			used += len;
			m->partition = (int32_t)(fnv1a(ev.user, ev.user_len) % (uint32_t)nparts);
			m->offset = offsets[m->partition]++;
		}

		faults(&min0, &maj0);
		t0 = clock_mono_ns();
		c0 = thread_cpu_ns();
		if (bench_timed_batch(&a, &b, batchv, n, flags & APPLY_EVENT_CLOCK ? last_ts : 0, err, sizeof(err)) != 0) {
			fprintf(stderr, "store-bench: store '%s': %s\n", dir, err);
			rc = EX_IOERR;
			goto store_close;
		}
		timed_ns += clock_mono_ns() - t0;
		cpu_ns += thread_cpu_ns() - c0;
		faults(&min1, &maj1);
		minflt += min1 - min0;
		majflt += maj1 - maj0;
		done += (int64_t)n;
	}
	printf("events=%" PRId64 " users=%" PRId64 " distinct_users=%" PRId64 " partitions=%" PRId64 " batch=%" PRId64
	       " sync=%d clock=%s upkeep=%d seconds=%.3f events_per_s=%.0f cpu_events_per_s=%.0f"
	       " commits=%" PRId64 " map_grows=%" PRId64 " wall_seconds=%.3f map_mib=%" PRIu64
	       " hwm_kib=%ld rss_anon_kib=%ld rss_file_kib=%ld minflt=%" PRId64 " majflt=%" PRId64 "\n",
	       done, nusers, distinct, nparts, batch, !(flags & APPLY_NO_SYNC), flags & APPLY_EVENT_CLOCK ? "event" : "wall",
	       (flags & APPLY_UPKEEP) != 0, (double)timed_ns / 1e9,
	       timed_ns ? (double)done * 1e9 / (double)timed_ns : 0.0,
	       cpu_ns ? (double)done * 1e9 / (double)cpu_ns : 0.0, a.commits, a.grows,
	       (double)(clock_mono_ns() - wall0) / 1e9, store_map_size(a.store) >> 20, bench_status_kib("VmHWM"),
	       bench_status_kib("RssAnon"), bench_status_kib("RssFile"), minflt, majflt);

store_close:
	store_close(a.store);
release:
	batch_release(&b);
	event_encoder_release(&enc);
	free(arena);
	free(drawn);
	free(batchv);
	active_apply_release(&a.apply);
	free(offsets);
	chat_lines_release(&names);
	chat_lines_release(&msgs);
	return rc;
}

/* A key of `lmdb`: as store.c's users keys, the partition (big-endian) and the name. */
struct bare_key {
	unsigned char b[4 + STORE_USER_KEY_MAX];
	size_t len;
};

/* LMDB's default order (mdb_cmp_memn): the bytes, then the shorter first. */
static int bare_key_cmp(const void *x, const void *y)
{
	const struct bare_key *a = x, *b = y;
	int c = memcmp(a->b, b->b, a->len < b->len ? a->len : b->len);

	return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* LMDB alone (`lmdb`): each batch's keys drawn and sorted, and equal ones folded, untimed,
 * as active's fold does; then timed, one write txn with an mdb_put() per key. The
 * environment is opened as the store's only writer opens its own (store.c, choose_way()
 * and env_open()): with --no-sync, MDB_WRITEMAP | MDB_NOSYNC | MDB_MAPASYNC, else none of
 * them. Checked at the end: the tree holds one entry per user drawn. */
static int run_lmdb(const char *dir, int64_t events, int64_t nusers, int64_t batch, int flags, int64_t nparts,
		    int64_t seed, const char *data)
{
	struct chat_lines names, msgs;
	struct chat_users users;
	struct bare_key *keys = xcalloc((size_t)batch, sizeof(*keys));
	unsigned char *drawn = xcalloc((size_t)(nusers + 7) / 8, 1);
	unsigned char val[24];
	uint64_t rng = chat_rng_seed((uint64_t)seed);
	int64_t done = 0, distinct = 0, timed_ns = 0, cpu_ns = 0, puts = 0, now0 = clock_now_ms();
	unsigned int envflags = flags & APPLY_NO_SYNC ? MDB_WRITEMAP | MDB_NOSYNC | MDB_MAPASYNC : 0;
	MDB_env *env = NULL;
	MDB_dbi dbi;
	MDB_stat st;
	MDB_txn *txn;
	const char *call = NULL;
	int rc = 0;

	bench_load_data("store-bench", data, &names, &msgs);
	chat_users_init(&users, &names, (size_t)nusers);
	memset(val, 0, sizeof(val));
	if (mkdir(dir, 0700) != 0) {
		fprintf(stderr, "store-bench: cannot create '%s': %s\n", dir, strerror(errno));
		rc = EX_CANTCREAT;
		goto release;
	}
	/* Room for every user's page and a batch's copies, as the store grows its own. */
	if ((rc = mdb_env_create(&env)) != 0 || (rc = mdb_env_set_mapsize(env, (size_t)(nusers * 512 + (256 << 20)))) != 0 ||
	    (rc = mdb_env_open(env, dir, envflags, 0600)) != 0) {
		call = "mdb_env_open";
		goto fail;
	}
	while (done < events) {
		size_t n = (size_t)(events - done < batch ? events - done : batch), i, j;
		int64_t t0, c0;

		for (i = 0; i < n; i++) {
			struct event ev;
			char name[CHAT_NAME_MAX], email[CHAT_EMAIL_MAX];
			size_t k;
			uint32_t p;

			bench_event_next(&rng, &users, &msgs, now0, &ev, &k, name, email);
			if (!(drawn[k / 8] & (1u << (k % 8)))) {
				drawn[k / 8] |= (unsigned char)(1u << (k % 8));
				distinct++;
			}
			p = fnv1a(ev.user, ev.user_len) % (uint32_t)nparts;
			keys[i].b[0] = (unsigned char)(p >> 24);
			keys[i].b[1] = (unsigned char)(p >> 16);
			keys[i].b[2] = (unsigned char)(p >> 8);
			keys[i].b[3] = (unsigned char)p;
			memcpy(keys[i].b + 4, ev.user, ev.user_len);
			keys[i].len = 4 + ev.user_len;
		}
		qsort(keys, n, sizeof(*keys), bare_key_cmp);
		for (i = j = 0; i < n; i++)
			if (!j || bare_key_cmp(&keys[j - 1], &keys[i]) != 0)
				keys[j++] = keys[i];

		t0 = clock_mono_ns();
		c0 = thread_cpu_ns();
		if ((rc = mdb_txn_begin(env, NULL, 0, &txn)) != 0) {
			call = "mdb_txn_begin";
			goto fail;
		}
		if ((rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0) {
			mdb_txn_abort(txn);
			call = "mdb_dbi_open";
			goto fail;
		}
		for (i = 0; i < j; i++) {
			MDB_val k = { keys[i].len, keys[i].b }, v = { sizeof(val), val };

			memcpy(val, &done, sizeof(done));
			if ((rc = mdb_put(txn, dbi, &k, &v, 0)) != 0) {
				mdb_txn_abort(txn);
				call = "mdb_put";
				goto fail;
			}
		}
		if ((rc = mdb_txn_commit(txn)) != 0) {
			call = "mdb_txn_commit";
			goto fail;
		}
		timed_ns += clock_mono_ns() - t0;
		cpu_ns += thread_cpu_ns() - c0;
		puts += (int64_t)j;
		done += (int64_t)n;
	}
	if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0 || (rc = mdb_dbi_open(txn, NULL, 0, &dbi)) != 0 ||
	    (rc = mdb_stat(txn, dbi, &st)) != 0) {
		call = "mdb_stat";
		goto fail;
	}
	mdb_txn_abort(txn);
	printf("events=%" PRId64 " users=%" PRId64 " distinct_users=%" PRId64 " entries=%zu puts=%" PRId64
	       " batch=%" PRId64 " sync=%d seconds=%.3f events_per_s=%.0f cpu_events_per_s=%.0f\n",
	       done, nusers, distinct, st.ms_entries, puts, batch, !(flags & APPLY_NO_SYNC), (double)timed_ns / 1e9,
	       timed_ns ? (double)done * 1e9 / (double)timed_ns : 0.0,
	       cpu_ns ? (double)done * 1e9 / (double)cpu_ns : 0.0);
	rc = EX_OK;
	goto release;
fail:
	fprintf(stderr, "store-bench: '%s': %s: %s\n", dir, call ? call : "mdb_env_create", mdb_strerror(rc));
	rc = EX_IOERR;
release:
	if (env)
		mdb_env_close(env);
	free(keys);
	free(drawn);
	chat_lines_release(&names);
	chat_lines_release(&msgs);
	return rc;
}

/* Compacts the index from `from` to its end (store_index_compact()), in txns of 1,000
 * entries examined, as active's upkeep steps (active.c) while caught up. */
static int compact_all(struct store *s, int64_t from, uint64_t *deleted, char *err, size_t errlen)
{
	size_t examined, del, step = 1000;
	struct store_txn *t;
	int rc, ended;

	*deleted = 0;
	do {
		if ((rc = store_txn_begin(s, 1, &t, err, errlen)) != 0)
			return rc;
		if ((rc = store_index_compact(t, from, step, &examined, &del, &ended, err, errlen)) != 0) {
			store_txn_abort(t);
			return rc;
		}
		if ((rc = store_txn_commit(t, err, errlen)) != 0)
			return rc;
		*deleted += del;
	} while (!ended);
	return 0;
}

static int run_query_store(const char *dir, int64_t nusers, int64_t nactive, int64_t seen, int64_t at,
			   int64_t window_ms, int compact, const char *data)
{
	uint64_t compacted = 0;
	struct store_options so = { .no_sync = 1 };
	struct chat_lines names;
	struct chat_users users;
	struct store *s;
	struct store_txn *t = NULL;
	char err[1024];
	int64_t k;
	int rc = EX_OK;

	bench_load_data("store-bench", data, &names, NULL);
	chat_users_init(&users, &names, (size_t)nusers);
	if (store_open(&s, dir, &so, err, sizeof(err)) != 0 || store_bind(s, BENCH_TOPIC, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "store-bench: %s\n", err);
		rc = EX_IOERR;
		goto release;
	}
	for (k = 0; k < nusers; k++) {
		int64_t ts = bench_query_ts((uint64_t)k, (uint64_t)nusers, (uint64_t)nactive, at, window_ms);
		char name[CHAT_NAME_MAX], email[CHAT_EMAIL_MAX];
		struct store_touch tc = { 0, name, 0, ts, 1, email, 0, ts };
		int64_t j = k < nusers - nactive ? 0 : seen - 1;
		int r = 0;

		chat_user(&users, (size_t)k, name, &tc.len, email, &tc.email_len);
		if (!t && store_txn_begin(s, 1, &t, err, sizeof(err)) != 0)
			goto fail;
		/* An active user seen `seen` times, 1 ms apart, the last at ts: an index entry
		 * each (schema 5), the older ones stale. */
		for (; j >= 0 && r == 0; j--) {
			tc.ts = tc.email_ts = ts - j;
			r = store_user_touch(t, &tc, INT64_MIN, INT64_MIN, err, sizeof(err));
		}
		if (r == STORE_FULL) {
			/* Redo this chunk after growing the map. */
			store_txn_abort(t);
			t = NULL;
			if (store_grow(s, err, sizeof(err)) != 0)
				goto fail;
			k -= k % 10000 + 1;
			continue;
		}
		if (r != 0)
			goto fail;
		if (k % 10000 == 9999 || k == nusers - 1) {
			/* Records come with their offsets (store check): as if the users' events
			 * were read from partition 0, in order. */
			int64_t act = k + 1 > nusers - nactive ? k + 1 - (nusers - nactive) : 0;
			if (store_offset_put(t, 0, k + 1 + act * (seen - 1), err, sizeof(err)) != 0)
				goto fail;
			r = store_txn_commit(t, err, sizeof(err));
			t = NULL;
			if (r == STORE_FULL) {
				if (store_grow(s, err, sizeof(err)) != 0)
					goto fail;
				k -= k % 10000 + 1;
				continue;
			}
			if (r != 0)
				goto fail;
		}
	}
	if (compact && compact_all(s, at - window_ms, &compacted, err, sizeof(err)) != 0)
		goto fail;
	printf("users=%" PRId64 " active=%" PRId64 " seen=%" PRId64 " events=%" PRId64 " at=%" PRId64 " window_ms=%" PRId64
	       " compacted=%" PRIu64 "\n", nusers, nactive, seen, nusers + nactive * (seen - 1), at, window_ms, compacted);
	goto store_close;
fail:
	if (t)
		store_txn_abort(t);
	fprintf(stderr, "store-bench: store '%s': %s\n", dir, err);
	rc = EX_IOERR;
store_close:
	store_close(s);
release:
	chat_lines_release(&names);
	return rc;
}

#define DECODE_POOL 10000

/* The timed part of `decode`: n events of the pool, in turn. Never inlined, for callgrind. */
static __attribute__((noinline)) int bench_timed_decode(struct event_decoder *d, const struct batch_msg *pool,
							 int64_t n, int64_t *bytes, char *err, size_t errlen)
{
	struct event ev;
	int64_t i;

	for (i = 0; i < n; i++) {
		const struct batch_msg *m = &pool[i % DECODE_POOL];
		if (event_decode(d, m->payload, m->len, &ev, err, errlen) != 0)
			return -1;
		*bytes += (int64_t)ev.user_len;
	}
	return 0;
}

static int run_decode(int64_t events, int64_t nusers, int64_t seed, const char *data)
{
	struct chat_lines names, msgs;
	struct chat_users users;
	struct event_encoder enc;
	struct event_decoder dec;
	struct batch_msg *pool = xcalloc(DECODE_POOL, sizeof(*pool));
	unsigned char *arena = NULL;
	size_t used = 0;
	uint64_t rng = chat_rng_seed((uint64_t)seed);
	int64_t now = clock_now_ms(), t0, c0, wall_ns, cpu_ns, bytes = 0, payload = 0;
	char err[1024];
	size_t i;
	int rc = EX_OK;

	bench_load_data("store-bench", data, &names, &msgs);
	chat_users_init(&users, &names, (size_t)nusers);
	event_encoder_init(&enc);
	event_decoder_init(&dec);
	for (i = 0; i < DECODE_POOL; i++) {
		char name[CHAT_NAME_MAX], email[CHAT_EMAIL_MAX];
		struct event ev;
		const void *buf;
		size_t k;

		bench_event_next(&rng, &users, &msgs, now - (int64_t)(DECODE_POOL - i), &ev, &k, name, email);
		event_encode(&enc, &ev, &buf, &pool[i].len);
		arena = xrealloc(arena, used + pool[i].len);
		memcpy(arena + used, buf, pool[i].len);
		pool[i].offset = (int64_t)used; /* the payload's place until the arena stops moving */
		used += pool[i].len;
	}
	for (i = 0; i < DECODE_POOL; i++)
		pool[i].payload = arena + pool[i].offset;
	payload = (int64_t)used;
	t0 = clock_mono_ns();
	c0 = thread_cpu_ns();
	if (bench_timed_decode(&dec, pool, events, &bytes, err, sizeof(err)) != 0) {
		fprintf(stderr, "store-bench: decode: %s\n", err);
		rc = EX_SOFTWARE;
		goto release;
	}
	cpu_ns = thread_cpu_ns() - c0;
	wall_ns = clock_mono_ns() - t0;
	printf("events=%" PRId64 " users=%" PRId64 " mean_payload=%.1f ns_per_event=%.1f cpu_ns_per_event=%.1f"
	       " events_per_s=%.0f cpu_events_per_s=%.0f\n",
	       events, nusers, (double)payload / DECODE_POOL, (double)wall_ns / (double)events,
	       (double)cpu_ns / (double)events, wall_ns ? (double)events * 1e9 / (double)wall_ns : 0.0,
	       cpu_ns ? (double)events * 1e9 / (double)cpu_ns : 0.0);
release:
	free(arena);
	free(pool);
	event_decoder_release(&dec);
	event_encoder_release(&enc);
	chat_lines_release(&names);
	chat_lines_release(&msgs);
	return rc;
}

/* What a restarting `pingpong active` does before it can fetch: consumer_open()'s
 * store_open() and store_bind(), then position_partitions()'s offset reads. */
static int run_recover(const char *dir, int64_t nparts, int64_t t_main)
{
	struct store_options so = { 0 };
	struct store *s;
	struct store_txn *t;
	struct store_stat st;
	struct stat sb;
	char err[1024], path[4096];
	int64_t t_open, t_done, next;
	int32_t p;
	int positioned = 0;

	if (store_open(&s, dir, &so, err, sizeof(err)) != 0 || store_bind(s, BENCH_TOPIC, BENCH_GROUP, err, sizeof(err)) != 0)
		goto fail;
	t_open = clock_mono_ns();
	if (store_txn_begin(s, 0, &t, err, sizeof(err)) != 0)
		goto fail;
	for (p = 0; p < nparts; p++)
		if (store_offset_get(t, p, &next, err, sizeof(err)) == 0)
			positioned++;
	store_txn_abort(t);
	t_done = clock_mono_ns();

	/* Not timed: what the store holds, for the report. */
	if (store_txn_begin(s, 0, &t, err, sizeof(err)) != 0 || store_stat(t, &st, err, sizeof(err)) != 0)
		goto fail;
	store_txn_abort(t);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	printf("open_us=%.1f positioned_us=%.1f partitions=%d users=%" PRIu64 " file_mib=%.1f\n",
	       (double)(t_open - t_main) / 1e3, (double)(t_done - t_main) / 1e3, positioned, st.users,
	       stat(path, &sb) == 0 ? (double)sb.st_size / 1048576 : -1.0);
	store_close(s);
	return EX_OK;
fail:
	fprintf(stderr, "store-bench: %s\n", err);
	return EX_IOERR;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "store", required_argument, NULL, 's' },
		{ "events", required_argument, NULL, 'e' },
		{ "users", required_argument, NULL, 'u' },
		{ "batch", required_argument, NULL, 'B' },
		{ "no-sync", no_argument, NULL, 'n' },
		{ "event-clock", no_argument, NULL, 'E' },
		{ "retain", required_argument, NULL, 'r' },
		{ "rate", required_argument, NULL, 'R' },
		{ "partitions", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 'S' },
		{ "data", required_argument, NULL, 'd' },
		{ "active", required_argument, NULL, 'a' },
		{ "seen", required_argument, NULL, 'k' },
		{ "at", required_argument, NULL, 'T' },
		{ "window", required_argument, NULL, 'w' },
		{ "compact", no_argument, NULL, 'C' },
		{ "upkeep", no_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t t_main = clock_mono_ns();
	int64_t events = 1000000, nusers = 10000, batch = 1000, retain_ms = 24 * 3600 * 1000LL, rate = 1000000;
	int64_t nparts = 12, seed = 1, nactive = -1, seen = 1, at = 0, window_ms = 30000;
	const char *dir = NULL, *data = NULL, *mode;
	int flags = 0, compact = 0, c;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? EX_USAGE : EX_OK;
	}
	mode = argv[1];
	if (!strcmp(mode, "users")) {
		struct chat_lines names;
		struct chat_users users;
		int64_t n, k;

		if (argc < 3)
			goto usage_error;
		n = bench_opt_num("store-bench", "users", argv[2], 1, 100000000);
		optind = 3;
		while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
			if (c != 'd')
				goto usage_error;
			data = optarg;
		}
		bench_load_data("store-bench", bench_data_dir(data), &names, NULL);
		chat_users_init(&users, &names, (size_t)n);
		for (k = 0; k < n; k++) {
			char name[CHAT_NAME_MAX], email[CHAT_EMAIL_MAX];
			size_t nlen, elen;
			chat_user(&users, (size_t)k, name, &nlen, email, &elen);
			printf("%s\n", name);
		}
		chat_lines_release(&names);
		return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
	}

	optind = 2;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's': dir = optarg; break;
		case 'e': events = bench_opt_num("store-bench", "--events", optarg, 1, INT64_MAX / 1000); break;
		case 'u': nusers = bench_opt_num("store-bench", "--users", optarg, 1, 100000000); break;
		case 'B': batch = bench_opt_num("store-bench", "--batch", optarg, 1, 1000000); break;
		case 'n': flags |= APPLY_NO_SYNC; break;
		case 'E': flags |= APPLY_EVENT_CLOCK; break;
		case 'r': retain_ms = bench_opt_ms("store-bench", "--retain", optarg); break;
		case 'R': rate = bench_opt_num("store-bench", "--rate", optarg, 1, 1000000000); break;
		case 'p': nparts = bench_opt_num("store-bench", "--partitions", optarg, 1, 100000); break;
		case 'S': seed = bench_opt_num("store-bench", "--seed", optarg, 0, INT64_MAX); break;
		case 'd': data = optarg; break;
		case 'a': nactive = bench_opt_num("store-bench", "--active", optarg, 0, 100000000); break;
		case 'k': seen = bench_opt_num("store-bench", "--seen", optarg, 1, 1000); break;
		case 'T': at = bench_opt_num("store-bench", "--at", optarg, 1, INT64_MAX); break;
		case 'w': window_ms = bench_opt_ms("store-bench", "--window", optarg); break;
		case 'C': compact = 1; break;
		case 'U': flags |= APPLY_UPKEEP; break;
		default: goto usage_error;
		}
	}
	if (optind < argc || (!dir && strcmp(mode, "decode") != 0))
		goto usage_error;
	data = bench_data_dir(data);
	if (!strcmp(mode, "decode"))
		return run_decode(events, nusers, seed, data);
	if (!strcmp(mode, "apply"))
		return run_apply(dir, events, nusers, batch, flags, retain_ms, rate, nparts, seed, data);
	if (!strcmp(mode, "query-store")) {
		if (nactive < 0 || nactive > nusers || !at || window_ms < 2)
			goto usage_error;
		return run_query_store(dir, nusers, nactive, seen, at, window_ms, compact, data);
	}
	if (!strcmp(mode, "recover"))
		return run_recover(dir, nparts, t_main);
	if (!strcmp(mode, "lmdb"))
		return run_lmdb(dir, events, nusers, batch, flags, nparts, seed, data);

usage_error:
	fputs(usage, stderr);
	return EX_USAGE;
}
