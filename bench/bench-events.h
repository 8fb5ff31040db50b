/* bench-events.h: the synthetic chat events of the benchmark programs.
 *
 * store-bench and redis-bench include this, so that both apply the same events: user k
 * is the (k mod B)-th name of data/users.txt (B names), with the suffix k / B when that
 * is not 0 ("Alice", ..., "Alice1", ...), and the email `pingpong produce` gives a name
 * (the lower-cased name at a domain chosen by its hash). `store-bench users N` prints the
 * first N names: bench/run.sh gives them to `pingpong produce`, so that the topic holds
 * the same users too. Each event is a send-message from a user drawn uniformly with
 * xorshift64* (as produce draws them), with a line of data/messages.txt. The email is
 * what consumers meet, not only what produce writes: absent from 10 % of the events,
 * empty in 2 %, and in 28 % the address with a "+tag" of 1 to 30 bytes, so that a
 * user's record changes size from one event to the next (bench_event_email).
 *
 * Everything here is static inline: each program uses a part of it.
 */
#ifndef PP_BENCH_EVENTS_H
#define PP_BENCH_EVENTS_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

struct bench_lines {
	char **v;
	size_t n;
};

/* Reads the non-empty, non-comment lines of dir/name. Returns 0, or -1 with the reason. */
static inline int bench_lines_load(struct bench_lines *l, const char *dir, const char *name, char *err,
				   size_t errlen)
{
	char path[4096], buf[1024];
	FILE *f;

	l->v = NULL;
	l->n = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "r")))
		return set_err(-1, err, errlen, "cannot open '%s': %s", path, strerror(errno));
	while (fgets(buf, sizeof(buf), f)) {
		size_t len = strcspn(buf, "\r\n");
		if (len == 0 || buf[0] == '#')
			continue;
		l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
		l->v[l->n++] = xstrndup(buf, len);
	}
	fclose(f);
	if (l->n == 0)
		return set_err(-1, err, errlen, "'%s' is empty", path);
	return 0;
}

static inline void bench_lines_release(struct bench_lines *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* The users of a benchmark. Names and emails are computed when asked for, so that a
 * million users cost the benchmark programs no memory: what they measure is the store's. */
struct bench_users {
	const struct bench_lines *base;
	size_t n;
};

/* User k: fills name and email (NUL-terminated, 300 bytes each). */
static inline void bench_user(const struct bench_users *u, size_t k, char *name, size_t *name_len, char *email,
			      size_t *email_len)
{
	static const char *const domains[] = { "example.com", "example.org", "example.net", "chat.test" };
	const char *b = u->base->v[k % u->base->n];
	size_t i, h = 0, len;

	if (k / u->base->n)
		snprintf(name, 256, "%.200s%zu", b, k / u->base->n);
	else
		snprintf(name, 256, "%.200s", b);
	len = strlen(name);
	/* As cmd-produce.c's simulate() derives it. */
	for (i = 0; i < len; i++) {
		email[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
		h = h * 31 + (unsigned char)email[i];
	}
	snprintf(email + len, 300 - len, "@%s", domains[h % 4]);
	*name_len = len;
	*email_len = strlen(email);
}

static inline void bench_users_init(struct bench_users *u, const struct bench_lines *base, size_t n)
{
	u->base = base;
	u->n = n;
}

/* xorshift64*, as cmd-produce.c uses it. */
static inline uint64_t bench_rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

static inline uint64_t bench_rng_seed(uint64_t seed)
{
	uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
	return s ? s : 1;
}

/* Sets ev's email from the user's address in email (NUL-terminated, 300 bytes): none,
 * empty, the address, or the address with a "+tag" before the '@', at most
 * EVENT_USER_MAX bytes in all. */
static inline void bench_event_email(uint64_t *rng, struct event *ev, char *email, size_t email_len)
{
	uint64_t r = bench_rng_next(rng) % 100;
	char *at = strchr(email, '@');
	size_t tag, i;

	if (r < 10) {
		ev->email = NULL;
		ev->email_len = 0;
		return;
	}
	ev->email = email;
	ev->email_len = r < 12 ? 0 : email_len;
	if (r < 72 || !at)
		return;
	tag = 1 + (size_t)(bench_rng_next(rng) % 30);
	if (email_len + 1 + tag > EVENT_USER_MAX)
		tag = EVENT_USER_MAX > email_len + 1 ? EVENT_USER_MAX - email_len - 1 : 0;
	if (tag == 0)
		return;
	memmove(at + 1 + tag, at, email_len - (size_t)(at - email) + 1);
	at[0] = '+';
	for (i = 1; i <= tag; i++)
		at[i] = (char)('a' + (r + i) % 26);
	ev->email_len = email_len + 1 + tag;
}

/* Fills ev with the next event: a send-message from a random user at ts, its email as
 * bench_event_email() makes it. *user gets the user's index. The strings point into
 * name and email (300 bytes each) and msgs. */
static inline void bench_event_next(uint64_t *rng, const struct bench_users *u, const struct bench_lines *msgs,
				    int64_t ts, struct event *ev, size_t *user, char *name, char *email)
{
	size_t m = (size_t)(bench_rng_next(rng) % msgs->n);
	size_t k = (size_t)(bench_rng_next(rng) % u->n);
	size_t email_len;

	memset(ev, 0, sizeof(*ev));
	bench_user(u, k, name, &ev->user_len, email, &email_len);
	bench_event_email(rng, ev, email, email_len);
	ev->user = name;
	ev->activity = EVENT_SEND_MESSAGE;
	ev->message = msgs->v[m];
	ev->message_len = strlen(msgs->v[m]);
	ev->ts = ts;
	*user = k;
}

/* The event time of event i of n, as if produced at rate events/s and the last one now. */
static inline int64_t bench_event_ts(int64_t now_ms, uint64_t i, uint64_t n, uint64_t rate)
{
	return now_ms - (int64_t)((n - i) * 1000 / rate);
}

/* The last_seen of user k of n in a query store: the last `active` users in the window
 * (at - window, at], spread over it; the others an hour and more before it. */
static inline int64_t bench_query_ts(uint64_t k, uint64_t n, uint64_t active, int64_t at, int64_t window)
{
	if (k < n - active)
		return at - window - 3600000 - (int64_t)k;
	return at - window + 1 + (int64_t)((k - (n - active)) * (uint64_t)(window - 1) / active);
}

/* The data directory: $PINGPONG_DATADIR, else "data". */
static inline const char *bench_data_dir(const char *opt)
{
	const char *env = getenv("PINGPONG_DATADIR");

	if (opt)
		return opt;
	return env && *env ? env : "data";
}

/* Reads a field of /proc/self/status in KiB ("VmHWM", "RssAnon", ...), or -1. */
static inline long bench_status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	size_t n = strlen(field);
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

#endif
