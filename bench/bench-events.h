/* bench-events.h: the synthetic chat events of the benchmark programs.
 *
 * store-bench and redis-bench include this, so that both apply the same events, from
 * the users `pingpong produce` makes (src/chat.h): user k is the (k mod B)-th name of
 * data/users.txt (B names), with the suffix k / B when that is not 0 ("Alice", ...,
 * "Alice1", ...), and the email produce gives it. `store-bench users N` prints the first
 * N names. Each event is a send-message from a user drawn uniformly with chat.h's
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
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "chat.h"
#include "event.h"
#include "util.h"

/* The benchmark programs' option values: a whole number in [min, max], or a duration
 * with a unit; a bad one ends the program (64), saying which option of prog it was. */
static inline int64_t bench_opt_num(const char *prog, const char *name, const char *arg, int64_t min, int64_t max)
{
	int64_t v;

	if (parse_int(arg, min, max, &v) < 0) {
		fprintf(stderr, "%s: %s takes a number in [%" PRId64 ", %" PRId64 "], not '%s'\n", prog, name, min,
			max, arg);
		exit(EX_USAGE);
	}
	return v;
}

static inline int64_t bench_opt_ms(const char *prog, const char *name, const char *arg)
{
	int64_t v;

	if (parse_duration_ms(arg, &v) < 0) {
		fprintf(stderr, "%s: %s takes a duration with a unit, not '%s'\n", prog, name, arg);
		exit(EX_USAGE);
	}
	return v;
}

/* Reads users.txt and (msgs not NULL) messages.txt of dir, or ends prog (66). */
static inline void bench_load_data(const char *prog, const char *dir, struct chat_lines *names,
				   struct chat_lines *msgs)
{
	char err[512];

	if (chat_lines_load(names, dir, "users.txt", err, sizeof(err)) < 0 ||
	    (msgs && chat_lines_load(msgs, dir, "messages.txt", err, sizeof(err)) < 0)) {
		fprintf(stderr, "%s: %s (set --data or PINGPONG_DATADIR)\n", prog, err);
		exit(EX_NOINPUT);
	}
}

static inline int bench_cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Sets ev's email from the user's address in email (NUL-terminated, CHAT_EMAIL_MAX bytes): none,
 * empty, the address, or the address with a "+tag" before the '@', at most
 * EVENT_USER_MAX bytes in all. */
static inline void bench_event_email(uint64_t *rng, struct event *ev, char *email, size_t email_len)
{
	uint64_t r = chat_rng_next(rng) % 100;
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
	tag = 1 + (size_t)(chat_rng_next(rng) % 30);
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
 * name (CHAT_NAME_MAX bytes), email (CHAT_EMAIL_MAX bytes) and msgs. */
static inline void bench_event_next(uint64_t *rng, const struct chat_users *u, const struct chat_lines *msgs,
				    int64_t ts, struct event *ev, size_t *user, char *name, char *email)
{
	size_t m = (size_t)(chat_rng_next(rng) % msgs->n);
	size_t k = (size_t)(chat_rng_next(rng) % u->n);
	size_t email_len;

	memset(ev, 0, sizeof(*ev));
	chat_user(u, k, name, &ev->user_len, email, &email_len);
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
