/* progress.c: the progress line of long work (see progress.h). */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"
#include "util.h"

void progress_init_mode(struct progress *p, const char *command, const char *verb, const char *unit,
			enum progress_mode mode, int fd)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->label, sizeof(p->label), "pingpong %s", command);
	p->verb = verb;
	p->unit = unit;
	p->mode = mode;
	p->fd = fd;
	p->interval_ms = mode == PROGRESS_TERMINAL ? PROGRESS_TERMINAL_MS : PROGRESS_LOG_MS;
	p->start_ms = -1;
	p->left = p->last_left = -1;
	p->rate = -1;
}

void progress_init(struct progress *p, const char *command, const char *verb, const char *unit,
		   int verbosity)
{
	enum progress_mode mode = verbosity < 0 ? PROGRESS_OFF :
				  isatty(STDERR_FILENO) ? PROGRESS_TERMINAL : PROGRESS_LOG;

	const char *every = getenv("PINGPONG_PROGRESS_MS");
	int64_t ms;

	progress_init_mode(p, command, verb, unit, mode, STDERR_FILENO);
	if (every && parse_int(every, 0, INT64_MAX, &ms) == 0)
		p->interval_ms = ms;
}

const char *progress_count(int64_t n, char *buf, size_t len)
{
	char digits[32];
	size_t nd, i, o = 0;
	int neg = n < 0;

	snprintf(digits, sizeof(digits), "%" PRIu64, neg ? (uint64_t)0 - (uint64_t)n : (uint64_t)n);
	nd = strlen(digits);
	if (neg && o + 1 < len)
		buf[o++] = '-';
	for (i = 0; i < nd && o + 1 < len; i++) {
		if (i && (nd - i) % 3 == 0 && o + 2 < len)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

const char *progress_eta(double seconds, char *buf, size_t len)
{
	uint64_t s = seconds <= 0 ? 0 : seconds >= 1e12 ? (uint64_t)1e12 : (uint64_t)(seconds + 0.999);

	if (s < 60)
		snprintf(buf, len, "%" PRIu64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s / 60 % 60);
	else
		snprintf(buf, len, "%" PRIu64 "d%" PRIu64 "h", s / 86400, s / 3600 % 24);
	return buf;
}

const char *progress_format(const struct progress *p, char *buf, size_t len)
{
	char done[32], rate[32], left[32], eta[32];
	int n;

	n = snprintf(buf, len, "%s %s %s", p->verb, progress_count(p->done, done, sizeof(done)), p->unit);
	if (n >= 0 && (size_t)n < len && p->rate >= 0)
		n += snprintf(buf + n, len - (size_t)n, ", %s %s/s", progress_count((int64_t)(p->rate + 0.5), rate,
										   sizeof(rate)), p->unit);
	if (n >= 0 && (size_t)n < len && p->left >= 0) {
		n += snprintf(buf + n, len - (size_t)n, ", %s left", progress_count(p->left, left, sizeof(left)));
		if (n >= 0 && (size_t)n < len && p->left > 0 && p->drained && p->drain > 0)
			snprintf(buf + n, len - (size_t)n, ", about %s to go",
				 progress_eta((double)p->left / p->drain, eta, sizeof(eta)));
		else if (n >= 0 && (size_t)n < len && p->left > 0 && p->drained)
			snprintf(buf + n, len - (size_t)n, ", not catching up");
	}
	return buf;
}

/* One write per line, so that lines of processes sharing stderr do not interleave. */
static void emit(struct progress *p)
{
	char line[512], text[400];
	size_t n;

	progress_format(p, text, sizeof(text));
	if (p->mode == PROGRESS_TERMINAL) {
		/* \r, the line, and a clear to its end (\033[K) for a shorter one than before. */
		snprintf(line, sizeof(line), "\r%s: %s\033[K", p->label, text);
		p->shown = 1;
		log_progress_line(1);
	} else {
		snprintf(line, sizeof(line), "%s: %s\n", p->label, text);
	}
	n = strlen(line);
	if (write(p->fd, line, n) < 0) {
		/* nowhere to say it */
	}
}

/* An exponential average over the intervals: the estimate follows a change of pace
 * within a few lines, and one slow interval does not swing it. */
static double smooth(double old, double now)
{
	return old < 0 ? now : 0.5 * old + 0.5 * now;
}

void progress_update_at(struct progress *p, int64_t now_ms, int64_t done, int64_t left)
{
	double dt;

	p->done = done;
	p->left = left;
	if (p->mode == PROGRESS_OFF)
		return;
	if (p->start_ms < 0) {
		p->start_ms = p->last_ms = now_ms;
		p->last_done = done;
		p->last_left = left;
		return;
	}
	if (now_ms - p->last_ms < p->interval_ms)
		return;
	/* At least a millisecond: with PINGPONG_PROGRESS_MS=0 two lines may share one. */
	dt = (double)(now_ms - p->last_ms > 0 ? now_ms - p->last_ms : 1) / 1000;
	p->rate = smooth(p->rate, (double)(done - p->last_done) / dt);
	if (left >= 0 && p->last_left >= 0) {
		double d = (double)(p->last_left - left) / dt;
		p->drain = p->drained ? 0.5 * p->drain + 0.5 * d : d;
		p->drained = 1;
	}
	p->last_ms = now_ms;
	p->last_done = done;
	p->last_left = left;
	emit(p);
}

void progress_update(struct progress *p, int64_t done, int64_t left)
{
	if (p->mode == PROGRESS_OFF) {
		p->done = done;
		p->left = left;
		return;
	}
	progress_update_at(p, clock_mono_ms(), done, left);
}

void progress_done(struct progress *p)
{
	if (p->mode == PROGRESS_TERMINAL && p->shown) {
		if (write(p->fd, "\r\033[K", 4) < 0) {
			/* nowhere to say it */
		}
		p->shown = 0;
		log_progress_line(0);
	}
}
