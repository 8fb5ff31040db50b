/* redis-bench.c: the design pingpong replaces, measured: the same events into a Redis
 * sorted set.
 *
 * The original consumer keeps `ZADD sorted:users <ts> <user::email>` per event and asks
 * `ZRANGEBYSCORE sorted:users <now - window> <now>` for the active users. `apply` sends the
 * events that `store-bench apply` applies (bench-events.h, same seed), decoding each one
 * with event_decode() first as the consumer would: one round trip per event (`--pipeline
 * 1`, as the original consumer does), or --pipeline N commands per round trip. `query`
 * loads the users of `store-bench query-store` and times ZRANGEBYSCORE, round trip
 * included. Redis needs hiredis (Debian: libhiredis-dev); bench/run.sh installs it.
 *
 * Output is one line of key=value pairs on stdout, for bench/run.sh.
 */
#include "config.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include <hiredis/hiredis.h>

#include "bench-events.h"
#include "event.h"
#include "util.h"

#define CHUNK 1000 /* events generated (not timed) before each timed stretch */

static const char usage[] =
	"usage: redis-bench apply --port P [--events N] [--users N] [--pipeline N] [--rate N]\n"
	"                         [--seed N] [--data DIR]\n"
	"       redis-bench query --port P --users N --active N --at TS [--window D]\n"
	"                         [--repeat N] [--data DIR]\n";

static redisContext *connect_or_die(int port)
{
	redisContext *c = redisConnect("127.0.0.1", port);

	if (!c || c->err) {
		fprintf(stderr, "redis-bench: cannot connect to 127.0.0.1:%d: %s\n", port, c ? c->errstr : "out of memory");
		exit(EX_UNAVAILABLE);
	}
	return c;
}

/* Runs one command and checks its reply is not an error. */
static int command_ok(redisContext *c, const char *what, redisReply *r)
{
	if (!r) {
		fprintf(stderr, "redis-bench: %s: %s\n", what, c->errstr);
		return -1;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		fprintf(stderr, "redis-bench: %s: %s\n", what, r->str);
		freeReplyObject(r);
		return -1;
	}
	freeReplyObject(r);
	return 0;
}

/* Reads the replies of n pipelined commands. */
static int drain(redisContext *c, size_t n)
{
	redisReply *r;

	while (n--) {
		if (redisGetReply(c, (void **)&r) != REDIS_OK || command_ok(c, "ZADD", r) != 0)
			return -1;
	}
	return 0;
}

static int run_apply(int port, int64_t events, int64_t nusers, int64_t pipeline, int64_t rate, int64_t seed,
		     const char *data)
{
	struct chat_lines names, msgs;
	struct chat_users users;
	struct event_encoder enc;
	struct event_decoder dec;
	uint64_t rng = chat_rng_seed((uint64_t)seed);
	unsigned char *arena = xmalloc(CHUNK * 1024);
	size_t offs[CHUNK], lens[CHUNK], pending = 0;
	int64_t done = 0, now0, timed_ns = 0, rtts = 0;
	redisContext *c = connect_or_die(port);
	char member[640], err[256];
	int rc = EX_OK;

	bench_load_data("redis-bench", data, &names, &msgs);
	chat_users_init(&users, &names, (size_t)nusers);
	event_encoder_init(&enc);
	event_decoder_init(&dec);
	if (command_ok(c, "DEL", redisCommand(c, "DEL sorted:users")) != 0) {
		rc = EX_UNAVAILABLE;
		goto release;
	}
	now0 = clock_now_ms();
	while (done < events) {
		size_t n = (size_t)(events - done < CHUNK ? events - done : CHUNK), i, used = 0;
		int64_t t0;

		for (i = 0; i < n; i++) {
			struct event ev;
			const void *buf;
			char name[CHAT_NAME_MAX], email[CHAT_EMAIL_MAX];
			size_t len, k;

			bench_event_next(&rng, &users, &msgs,
					 bench_event_ts(now0, (uint64_t)(done + (int64_t)i), (uint64_t)events, (uint64_t)rate),
					 &ev, &k, name, email);
			event_encode(&enc, &ev, &buf, &len);
			if (used + len > CHUNK * 1024) {
				fprintf(stderr, "redis-bench: event of %zu bytes overflows the chunk\n", len);
				rc = EX_SOFTWARE;
				goto release;
			}
			memcpy(arena + used, buf, len);
			offs[i] = used;
			lens[i] = len;
			used += len;
		}

		t0 = clock_mono_ns();
		for (i = 0; i < n; i++) {
			struct event ev;
			int mlen;

			if (event_decode(&dec, arena + offs[i], lens[i], &ev, err, sizeof(err)) != 0) {
				fprintf(stderr, "redis-bench: event_decode: %s\n", err);
				rc = EX_SOFTWARE;
				goto release;
			}
			mlen = snprintf(member, sizeof(member), "%.*s::%.*s", (int)ev.user_len, ev.user,
					(int)ev.email_len, ev.email ? ev.email : "");
			if (pipeline == 1) {
				rtts++;
				if (command_ok(c, "ZADD", redisCommand(c, "ZADD sorted:users %lld %b", (long long)ev.ts,
									  member, (size_t)mlen)) != 0) {
					rc = EX_UNAVAILABLE;
					goto release;
				}
				continue;
			}
			redisAppendCommand(c, "ZADD sorted:users %lld %b", (long long)ev.ts, member, (size_t)mlen);
			if (++pending == (size_t)pipeline) {
				rtts++;
				if (drain(c, pending) != 0) {
					rc = EX_UNAVAILABLE;
					goto release;
				}
				pending = 0;
			}
		}
		if (done + (int64_t)n == events && pending) {
			rtts++;
			if (drain(c, pending) != 0) {
				rc = EX_UNAVAILABLE;
				goto release;
			}
			pending = 0;
		}
		timed_ns += clock_mono_ns() - t0;
		done += (int64_t)n;
	}
	printf("events=%" PRId64 " users=%" PRId64 " pipeline=%" PRId64 " round_trips=%" PRId64
	       " seconds=%.3f events_per_s=%.0f\n",
	       done, nusers, pipeline, rtts, (double)timed_ns / 1e9,
	       timed_ns ? (double)done * 1e9 / (double)timed_ns : 0.0);

release:
	redisFree(c);
	event_decoder_release(&dec);
	event_encoder_release(&enc);
	free(arena);
	chat_lines_release(&names);
	chat_lines_release(&msgs);
	return rc;
}

static int run_query(int port, int64_t nusers, int64_t nactive, int64_t at, int64_t window_ms, int64_t repeat,
		     const char *data)
{
	struct chat_lines names;
	struct chat_users users;
	redisContext *c = connect_or_die(port);
	int64_t *lat = xmalloc((size_t)repeat * sizeof(*lat)), k;
	size_t pending = 0, members = 0;
	char member[640], lo[32], hi[32];
	int rc = EX_OK;

	bench_load_data("redis-bench", data, &names, NULL);
	chat_users_init(&users, &names, (size_t)nusers);
	if (command_ok(c, "DEL", redisCommand(c, "DEL sorted:users")) != 0) {
		rc = EX_UNAVAILABLE;
		goto release;
	}
	for (k = 0; k < nusers; k++) {
		char name[CHAT_NAME_MAX], email[CHAT_EMAIL_MAX];
		size_t nlen, elen;
		int mlen;
		long long ts = bench_query_ts((uint64_t)k, (uint64_t)nusers, (uint64_t)nactive, at, window_ms);

		chat_user(&users, (size_t)k, name, &nlen, email, &elen);
		mlen = snprintf(member, sizeof(member), "%s::%s", name, email);
		redisAppendCommand(c, "ZADD sorted:users %lld %b", ts, member, (size_t)mlen);
		if (++pending == 1000 || k == nusers - 1) {
			if (drain(c, pending) != 0) {
				rc = EX_UNAVAILABLE;
				goto release;
			}
			pending = 0;
		}
	}
	/* The window (at - window, at], as `pingpong query active` reads it. */
	snprintf(lo, sizeof(lo), "(%" PRId64, at - window_ms);
	snprintf(hi, sizeof(hi), "%" PRId64, at);
	for (k = 0; k < repeat; k++) {
		int64_t t0 = clock_mono_ns();
		redisReply *r = redisCommand(c, "ZRANGEBYSCORE sorted:users %s %s", lo, hi);

		lat[k] = clock_mono_ns() - t0;
		if (!r || r->type != REDIS_REPLY_ARRAY) {
			command_ok(c, "ZRANGEBYSCORE", r);
			rc = EX_UNAVAILABLE;
			goto release;
		}
		members = r->elements;
		freeReplyObject(r);
	}
	qsort(lat, (size_t)repeat, sizeof(*lat), bench_cmp_i64);
	printf("runs=%" PRId64 " users=%zu p50_us=%.1f p99_us=%.1f\n", repeat, members,
	       (double)lat[repeat / 2] / 1000, (double)lat[(repeat * 99) / 100] / 1000);

release:
	redisFree(c);
	free(lat);
	chat_lines_release(&names);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'P' },
		{ "events", required_argument, NULL, 'e' },
		{ "users", required_argument, NULL, 'u' },
		{ "pipeline", required_argument, NULL, 'p' },
		{ "rate", required_argument, NULL, 'R' },
		{ "seed", required_argument, NULL, 'S' },
		{ "data", required_argument, NULL, 'd' },
		{ "active", required_argument, NULL, 'a' },
		{ "at", required_argument, NULL, 'T' },
		{ "window", required_argument, NULL, 'w' },
		{ "repeat", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	int64_t port = 0, events = 1000000, nusers = 10000, pipeline = 1, rate = 1000000, seed = 1;
	int64_t nactive = -1, at = 0, window_ms = 30000, repeat = 10000;
	const char *data = NULL, *mode;
	int c;

	if (argc < 2)
		goto usage_error;
	mode = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'P': port = bench_opt_num("redis-bench", "--port", optarg, 1, 65535); break;
		case 'e': events = bench_opt_num("redis-bench", "--events", optarg, 1, INT64_MAX / 1000); break;
		case 'u': nusers = bench_opt_num("redis-bench", "--users", optarg, 1, 100000000); break;
		case 'p': pipeline = bench_opt_num("redis-bench", "--pipeline", optarg, 1, 1000000); break;
		case 'R': rate = bench_opt_num("redis-bench", "--rate", optarg, 1, 1000000000); break;
		case 'S': seed = bench_opt_num("redis-bench", "--seed", optarg, 0, INT64_MAX); break;
		case 'd': data = optarg; break;
		case 'a': nactive = bench_opt_num("redis-bench", "--active", optarg, 0, 100000000); break;
		case 'T': at = bench_opt_num("redis-bench", "--at", optarg, 1, INT64_MAX); break;
		case 'w':
			if (parse_duration_ms(optarg, &window_ms) < 0 || window_ms < 2)
				goto usage_error;
			break;
		case 'r': repeat = bench_opt_num("redis-bench", "--repeat", optarg, 1, 100000000); break;
		default: goto usage_error;
		}
	}
	if (optind < argc || !port)
		goto usage_error;
	data = bench_data_dir(data);
	if (!strcmp(mode, "apply"))
		return run_apply((int)port, events, nusers, pipeline, rate, seed, data);
	if (!strcmp(mode, "query") && nactive >= 0 && nactive <= nusers && at)
		return run_query((int)port, nusers, nactive, at, window_ms, repeat, data);

usage_error:
	fputs(usage, stderr);
	return EX_USAGE;
}
