/* active.c: the active-users report: who was seen in the window that ends at a time.
 *
 * It reads only the by_time index, whose entries already hold the time and the name, so
 * a report costs one range scan, from the window's start to the index's end (the entries
 * after the window are few: events at most max-skew ahead), and no lookup per user. The
 * index is append-only (store.h, schema 5 on): a record's latest entry is its last_seen,
 * and its older entries, stale, are skipped here (resolve_users). Within a second the
 * index is in write order (schema 6), so the users found are sorted by time here.
 */
#include "config.h"

#include <endian.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "active.h"
#include "json-out.h"
#include "progress.h"
#include "util.h"

/* Index entries pruned at most per call: PRUNE_CHUNK, or twice the events, which may add
 * as many entries (the index is append-only), so that pruning outruns them. */
#define PRUNE_CHUNK 1000

/* One event to fold: the sort key of its user's LMDB key (store.c's user_key(): be32
 * partition, then the name), then where it is in the batch. */
struct active_fold {
	uint64_t prefix;    /* the name's first 8 bytes, big-endian, zero-padded */
	uint32_t partition; /* as user_key() writes it: unsigned */
	uint32_t i;         /* the message's index in the batch (--batch is at most 1,000,000) */
};

static uint64_t name_prefix(const char *s, size_t len)
{
	uint64_t v = 0;

	memcpy(&v, s, len < 8 ? len : 8);
	return be64toh(v);
}

/* The names of two events whose prefixes are equal, in LMDB's order (memcmp, then the
 * shorter first). A name holds no NUL (event.c refuses it), so with equal zero-padded
 * prefixes either both names are the same one of at most 8 bytes, or both have 8 or
 * more and only their tails after the prefix can differ. */
static int tail_cmp(const struct event *x, const struct event *y)
{
	size_t lx = x->user_len, ly = y->user_len, n = lx < ly ? lx : ly;
	int c = n > 8 ? memcmp(x->user + 8, y->user + 8, n - 8) : 0;

	return c ? c : (lx > ly) - (lx < ly);
}

/* tail_cmp() of two struct active_fold of a run of equal keys; arg: the batch's msgs. */
static int run_cmp(const void *x, const void *y, void *arg)
{
	const struct batch_msg *msgs = arg;

	return tail_cmp(&msgs[((const struct active_fold *)x)->i].ev, &msgs[((const struct active_fold *)y)->i].ev);
}

/* The radix sort's byte d (0 the least significant) of f's key: partition above prefix. */
static unsigned fold_digit(const struct active_fold *f, unsigned d)
{
	return d < 8 ? (unsigned)(f->prefix >> (8 * d)) & 0xff : (f->partition >> (8 * (d - 8))) & 0xff;
}

#define FOLD_DIGITS 12

/* Sorts a->fold[0..n) into the order of the users' LMDB keys: partition, then name. That
 * groups the events of a user in one partition, for folding, and gives LMDB its keys in
 * order. Which event of a user comes first does not matter: what they add up to does
 * not depend on their order.
 *
 * It was qsort() with a comparison of the prefixes, then the names: 8 % of the store's
 * instructions per event, on the writer thread. This is a least-significant-digit radix
 * sort of the 12-byte key (partition, prefix), by the bytes in which keys of the batch
 * differ only (not a partition's high bytes, mostly), then a qsort() by the names'
 * tails of each run of equal keys: a user's events, and the users whose names are longer
 * than 8 bytes and share their first 8. Returns where the sorted array is: a->fold or
 * a->spare. */
static struct active_fold *fold_sort(struct active_apply *a, const struct batch_msg *msgs, size_t n)
{
	uint32_t count[FOLD_DIGITS][256]; /* n is at most --batch's 1,000,000 */
	uint64_t prefix_and = ~(uint64_t)0, prefix_or = 0;
	uint32_t part_and = ~(uint32_t)0, part_or = 0;
	unsigned digits[FOLD_DIGITS], nd = 0, d;
	size_t i, j, k;
	struct active_fold *from = a->fold, *to = a->spare, *swap;

	/* The bytes in which some keys differ: the only ones to sort by. */
	for (i = 0; i < n; i++) {
		prefix_and &= from[i].prefix;
		prefix_or |= from[i].prefix;
		part_and &= from[i].partition;
		part_or |= from[i].partition;
	}
	for (d = 0; d < FOLD_DIGITS; d++) {
		struct active_fold f = { prefix_and ^ prefix_or, part_and ^ part_or, 0 };

		if (fold_digit(&f, d))
			digits[nd++] = d;
	}
	memset(count, 0, nd * sizeof(count[0]));
	for (i = 0; i < n; i++)
		for (d = 0; d < nd; d++)
			count[d][fold_digit(&from[i], digits[d])]++;
	for (d = 0; d < nd; d++) {
		uint32_t at = 0, c;

		for (j = 0; j < 256; j++) {
			c = count[d][j];
			count[d][j] = at;
			at += c;
		}
		for (i = 0; i < n; i++)
			to[count[d][fold_digit(&from[i], digits[d])]++] = from[i];
		swap = from;
		from = to;
		to = swap;
	}
	/* Runs of equal keys: ordered by the rest of their names. */
	for (i = 0; i < n; i = k) {
		for (k = i + 1; k < n && from[k].prefix == from[i].prefix && from[k].partition == from[i].partition; k++)
			;
		if (k - i > 1)
			qsort_r(from + i, k - i, sizeof(*from), run_cmp, (void *)msgs);
	}
	return from;
}

/* Room in a's arrays for the sort of n events. */
static void fold_reserve(struct active_apply *a, size_t n)
{
	if (n > a->cap) {
		a->cap = n;
		a->fold = xrealloc(a->fold, n * sizeof(*a->fold));
		a->spare = xrealloc(a->spare, n * sizeof(*a->spare));
		a->touches = xrealloc(a->touches, n * sizeof(*a->touches));
	}
}

static void fold_set(struct active_fold *f, const struct batch_msg *msgs, size_t i)
{
	f->prefix = name_prefix(msgs[i].ev.user, msgs[i].ev.user_len);
	f->partition = (uint32_t)msgs[i].partition;
	f->i = (uint32_t)i;
}

void active_fold_order(struct active_apply *a, const struct batch_msg *msgs, size_t n, uint32_t *order)
{
	struct active_fold *fold;
	size_t i;

	fold_reserve(a, n);
	for (i = 0; i < n; i++)
		fold_set(&a->fold[i], msgs, i);
	fold = n > 1 ? fold_sort(a, msgs, n) : a->fold;
	for (i = 0; i < n; i++)
		order[i] = fold[i].i;
}

/* Adds one event to what a batch's events of one user add up to. An empty email is no
 * email: the store cannot tell it from none. */
static void fold_event(struct store_touch *tc, const struct event *ev)
{
	if (tc->events++ == 0 || ev->ts > tc->ts)
		tc->ts = ev->ts;
	if (!ev->email || ev->email_len == 0)
		return;
	if (tc->email) {
		size_t n = ev->email_len < tc->email_len ? ev->email_len : tc->email_len;
		int c = memcmp(ev->email, tc->email, n);
		/* The same order as the store's: later time, then greater bytes. */
		if (ev->ts < tc->email_ts ||
		    (ev->ts == tc->email_ts && (c < 0 || (c == 0 && ev->email_len <= tc->email_len))))
			return;
	}
	tc->email = ev->email;
	tc->email_len = ev->email_len;
	tc->email_ts = ev->ts;
}

int active_apply(struct active_apply *a, struct store_txn *t, struct batch_msg *msgs, size_t n,
		 int64_t now, char *err, size_t errlen)
{
	int64_t floor, forget_below;
	struct active_fold *fold;
	size_t i, k, nfold = 0, ntouch = 0, pruned;
	int rc;

	/* The floor only moves forward, even if the clock does not. */
	if ((rc = store_index_floor_raise(t, now - a->retain_ms, &floor, err, errlen)) != 0)
		return rc;
	/* With --retain-users the index keeps as long as the users (cmd-active.c), so one
	 * floor serves both: a user older than it is forgotten. */
	forget_below = a->retain_users_ms ? floor : INT64_MIN;
	fold_reserve(a, n);
	for (i = 0; i < n; i++) {
		struct batch_msg *m = &msgs[i];

		if (m->ev.ts > now + a->max_skew_ms) {
			/* It would stay "active" until its time comes: batch_commit records it. */
			snprintf(m->reason, BATCH_REASON_LEN,
				 "ts %" PRId64 " is %" PRId64 " ms in the future (max skew %" PRId64 " ms)",
				 m->ev.ts, m->ev.ts - now, a->max_skew_ms);
			m->reject = m->reason;
		} else if (m->ev.ts < forget_below) {
			m->ignored = 1; /* older than --retain-users: it would be forgotten at once */
		} else {
			fold_set(&a->fold[nfold++], msgs, i);
		}
	}
	fold = nfold > 1 ? fold_sort(a, msgs, nfold) : a->fold;
	for (i = 0; i < nfold; i = k) {
		const struct batch_msg *m = &msgs[fold[i].i];
		const struct event *first = &m->ev;
		struct store_touch *tc = &a->touches[ntouch++];

		*tc = (struct store_touch){ m->partition, first->user, first->user_len, 0, 0, NULL, 0, 0 };
		for (k = i; k < nfold && fold[k].prefix == fold[i].prefix && fold[k].partition == fold[i].partition &&
			    !tail_cmp(&msgs[fold[k].i].ev, first); k++)
			fold_event(tc, &msgs[fold[k].i].ev);
	}
	if ((rc = store_users_touch(t, a->touches, ntouch, floor, forget_below, err, errlen)) != 0)
		return rc;
	/* Retention rides along in the batch txn, in bounded chunks: no separate pass. */
	return store_prune(t, floor, forget_below, 2 * n > PRUNE_CHUNK ? 2 * n : PRUNE_CHUNK, &pruned, err, errlen);
}

/* Index entries examined at most per upkeep: UPKEEP_CHUNK, or four times the batch's
 * events, which may leave as many stale entries, so that compacting outruns them. */
#define UPKEEP_CHUNK 1000

int active_upkeep(const struct active_apply *a, struct store_txn *t, size_t nlive, char *err, size_t errlen)
{
	size_t chunk = a->upkeep_chunk ? a->upkeep_chunk : UPKEEP_CHUNK, examined, deleted;
	int64_t floor;
	int rc, ended;

	if ((rc = store_index_floor_get(t, &floor, err, errlen)) != 0 ||
	    (rc = store_index_compact(t, floor, 4 * nlive > chunk ? 4 * nlive : chunk, &examined, &deleted, &ended,
				      err, errlen)) != 0)
		return rc;
	return ended;
}

int active_record_retention(struct store *s, int64_t retain_ms, char *err, size_t errlen)
{
	struct store_txn *t;
	char buf[32];
	int rc;

	snprintf(buf, sizeof(buf), "%" PRId64, retain_ms);
	if ((rc = store_txn_begin(s, 1, &t, err, errlen)) != 0)
		return rc;
	if ((rc = store_meta_put(t, "retain_ms", buf, err, errlen)) != 0) {
		store_txn_abort(t);
		return rc;
	}
	return store_txn_commit(t, err, errlen);
}

void active_apply_release(struct active_apply *a)
{
	free(a->fold);
	free(a->spare);
	free(a->touches);
	a->fold = NULL;
	a->spare = NULL;
	a->touches = NULL;
	a->cap = 0;
}

void active_set_init(struct active_set *a)
{
	memset(a, 0, sizeof(*a));
}

void active_set_release(struct active_set *a)
{
	free(a->names);
	free(a->offs);
	free(a->ts);
	free(a->part);
	free(a->slots);
	memset(a, 0, sizeof(*a));
}

static int add_active(void *arg, int32_t partition, const char *user, size_t len, int64_t ts)
{
	struct active_set *a = arg;

	if (a->len + len + 1 > a->cap) {
		a->cap = (a->cap + len + 1) * 2;
		a->names = xrealloc(a->names, a->cap);
	}
	if (a->n == a->ncap) {
		a->ncap = a->ncap ? a->ncap * 2 : 64;
		a->offs = xrealloc(a->offs, a->ncap * sizeof(*a->offs));
		a->ts = xrealloc(a->ts, a->ncap * sizeof(*a->ts));
		a->part = xrealloc(a->part, a->ncap * sizeof(*a->part));
	}
	if (a->n == 0)
		a->partition = partition;
	else if (partition != a->partition)
		a->partitions = 2;
	a->offs[a->n] = a->len;
	a->ts[a->n] = ts;
	a->part[a->n] = partition;
	memcpy(a->names + a->len, user, len);
	a->names[a->len + len] = '\0';
	a->len += len + 1;
	a->n++;
	return 0;
}

/* Entry i's name: names are stored one after the other, each with its NUL. */
static size_t name_len(const struct active_set *a, size_t i)
{
	return (i + 1 < a->n ? a->offs[i + 1] : a->len) - a->offs[i] - 1;
}

/* A quick hash of a name and a partition, for the sets below (not stored anywhere). */
static uint64_t name_hash(const char *s, size_t len, int32_t p)
{
	uint64_t h = ((uint64_t)(uint32_t)p + len) * 0x9e3779b97f4a7c15ULL, w;

	for (; len >= 8; s += 8, len -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdULL;
	}
	w = 0;
	memcpy(&w, s, len);
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
	return h ^ (h >> 29);
}

/* Entry i's key in a hash set of entries (slots hold index + 1, 0 empty), by name and,
 * with by_partition, by partition too: 1 if an equal key is there, else 0 after adding
 * it. */
static int seen_before(const struct active_set *a, size_t *slots, size_t nslots, size_t i, int by_partition)
{
	const char *name = a->names + a->offs[i];
	size_t len = name_len(a, i), k;
	int32_t p = by_partition ? a->part[i] : 0;

	for (k = name_hash(name, len, p) & (nslots - 1); slots[k]; k = (k + 1) & (nslots - 1)) {
		size_t j = slots[k] - 1;
		if ((!by_partition || a->part[j] == p) && name_len(a, j) == len &&
		    !memcmp(a->names + a->offs[j], name, len))
			return 1;
	}
	slots[k] = i + 1;
	return 0;
}

/* Two entries' names (what: the entry's index in the set): the order of equal times. */
static int by_name(const void *x, const void *y, void *arg)
{
	const struct active_set *a = arg;
	size_t i = (size_t)((const struct keyed *)x)->what, j = (size_t)((const struct keyed *)y)->what;

	return strcmp(a->names + a->offs[i], a->names + a->offs[j]);
}

/* The entries from the window's start on, in index order, down to the users seen in the
 * window: a record's entries come in its time order (store.h), so walking backwards the
 * first entry of a record is its last_seen, the one that counts, and the others are
 * stale; a record whose last_seen is after `to` is out. The records kept are sorted by
 * (time, name): within a second the index is in write order. A user with records of
 * several partitions in the window is kept once, at its latest time. Two hash sets:
 * records seen, and users kept. */
static void resolve_users(struct active_set *a, int64_t to)
{
	size_t i, k, nslots = 16, kept = 0, *records, *users, nsets = a->partitions > 1 ? 2 : 1;
	struct keyed *one = xmalloc(2 * (a->n ? a->n : 1) * sizeof(*one)), *sorted;

	while (nslots < a->n * 2)
		nslots *= 2;
	if (2 * nslots > a->nslots) {
		a->slots = xrealloc(a->slots, 2 * nslots * sizeof(*a->slots));
		a->nslots = 2 * nslots;
	}
	records = a->slots;
	users = a->slots + nslots;
	memset(a->slots, 0, nsets * nslots * sizeof(*a->slots));
	for (i = a->n; i-- > 0;) {
		if (seen_before(a, records, nslots, i, 1) || a->ts[i] > to)
			continue; /* stale, or last seen after the window */
		/* Times in the index are > 0 (event.c): as unsigned, in their order. */
		one[kept++] = (struct keyed){ (uint64_t)a->ts[i], (const void *)i };
	}
	/* By time, then by name among equal times: a radix sort, then each run of equal
	 * times (a qsort() of the whole was half of a report's time). */
	sorted = sort_keyed(one, one + a->n, kept);
	for (i = 0; i < kept; i = k) {
		for (k = i + 1; k < kept && sorted[k].key == sorted[i].key; k++)
			;
		if (k - i > 1)
			qsort_r(sorted + i, k - i, sizeof(*sorted), by_name, a);
	}
	if (a->partitions > 1) {
		/* From the latest down, a user's first record is the one kept. */
		size_t n = kept;
		for (i = n; i-- > 0;)
			if (seen_before(a, users, nslots, (size_t)sorted[i].what, 0))
				sorted[i].what = (const void *)SIZE_MAX;
		for (i = 0, kept = 0; i < n; i++)
			if ((size_t)sorted[i].what != SIZE_MAX)
				sorted[kept++] = sorted[i];
	}
	/* Copied out first: entry i of the set may be another's source. */
	for (i = 0; i < kept; i++) {
		size_t j = (size_t)sorted[i].what;
		sorted[i].key = (uint64_t)a->ts[j];
		sorted[i].what = (const void *)a->offs[j];
	}
	for (i = 0; i < kept; i++) {
		a->ts[i] = (int64_t)sorted[i].key;
		a->offs[i] = (size_t)sorted[i].what;
	}
	a->n = kept;
	free(one);
}

int active_collect(struct store_txn *t, int64_t at, int64_t window, struct active_set *a, char *err,
		   size_t errlen)
{
	int rc;

	a->n = 0;
	a->len = 0;
	a->partitions = 1;
	/* To the index's end: a record seen after `at` has its last_seen there. */
	if ((rc = store_index_range(t, at - window, INT64_MAX, add_active, a, err, errlen)) == 0)
		resolve_users(a, at);
	return rc;
}

/* " (catching up, 12,345 events behind)" into buf, or "" when there is nothing to say. */
static const char *catching_up(const struct active_lag *lag, char *buf, size_t len)
{
	char n[32];

	if (!lag || lag->caught_up)
		snprintf(buf, len, "%s", "");
	else if (lag->lag < 0)
		snprintf(buf, len, " (catching up, lag not known yet)");
	else
		snprintf(buf, len, " (catching up, %s events behind)", progress_count(lag->lag, n, sizeof(n)));
	return buf;
}

int active_print(const struct active_set *a, int64_t at, int64_t window, const struct active_lag *lag, int json,
		 FILE *out)
{
	char mark[96];
	size_t i;
	int rc = 0;

	if (json) {
		json_t *obj = json_object(), *users = json_array();

		for (i = 0; i < a->n; i++) {
			json_t *u = json_object();
			json_object_set_new(u, "user", json_string(a->names + a->offs[i]));
			json_object_set_new(u, "last_seen", json_integer(a->ts[i]));
			json_array_append_new(users, u);
		}
		json_object_set_new(obj, "at", json_integer(at));
		json_object_set_new(obj, "window_ms", json_integer(window));
		if (lag) {
			json_object_set_new(obj, "caught_up", json_boolean(lag->caught_up));
			json_object_set_new(obj, "lag", lag->lag < 0 ? json_null() : json_integer(lag->lag));
		}
		json_object_set_new(obj, "count", json_integer((json_int_t)a->n));
		json_object_set_new(obj, "users", users);
		rc = json_print_line(obj, out);
	} else if (a->n == 0) {
		fprintf(out, "No Active Users%s...\n", catching_up(lag, mark, sizeof(mark)));
	} else {
		fprintf(out, "Active Users%s: ", catching_up(lag, mark, sizeof(mark)));
		for (i = 0; i < a->n; i++) {
			const char *name = a->names + a->offs[i];
			if (i)
				fputs(", ", out);
			/* A name may hold a newline or terminal controls: escaped. */
			fput_escaped(name, strlen(name), out);
		}
		fputc('\n', out);
	}
	if (fflush(out) != 0 || ferror(out))
		rc = -1;
	return rc;
}

void notification_print(int32_t partition, int64_t offset, const char *recipient, size_t rlen, const char *text,
			size_t tlen, int json, FILE *out)
{
	if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "partition", json_integer(partition));
		json_object_set_new(o, "offset", json_integer(offset));
		json_object_set_new(o, "recipient", json_stringn(recipient, rlen));
		json_object_set_new(o, "text", json_stringn(text, tlen));
		json_print_line(o, out);
		return;
	}
	/* Escaped: names and messages may hold newlines and terminal controls. */
	fputs("-> ", out);
	fput_escaped(recipient, rlen, out);
	fputs(": ", out);
	fput_escaped(text, tlen, out);
	putc('\n', out);
}
