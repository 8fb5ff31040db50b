/* progress.h: a progress line for long work, on standard error.
 *
 * On a terminal, one line rewritten in place (\r) a few times a second; otherwise (a log
 * file, a pipe, a supervisor's journal) a log line every 10 s; with -q nothing. The line
 * says how much is done, the rate, and, when the caller knows how much is left, that and
 * the time it will take at the rate it is shrinking:
 *
 *   pingpong produce: produced 120,000 events, 41,250 events/s, 880,000 left, about 22s to go
 *
 * "Left" may shrink more slowly than "done" grows: a consumer catching up applies events
 * while producers add new ones. So the estimate divides what is left by the rate at which
 * it shrinks, not by the rate of work, and says "not catching up" when it does not shrink.
 * Rates are smoothed over the last intervals. Nothing here allocates after init; an
 * update costs one clock read, so it may be called per event.
 */
#ifndef PP_PROGRESS_H
#define PP_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

enum progress_mode {
	PROGRESS_OFF,      /* -q */
	PROGRESS_TERMINAL, /* stderr is a terminal: a line rewritten in place */
	PROGRESS_LOG,      /* otherwise: a log line every PROGRESS_LOG_MS */
};

#define PROGRESS_TERMINAL_MS 250
#define PROGRESS_LOG_MS 10000

struct progress {
	char label[64];       /* "pingpong produce" */
	const char *verb;     /* "produced", "checked", "applied" */
	const char *unit;     /* "events", "records" */
	enum progress_mode mode;
	int fd;               /* where lines go: standard error */
	int64_t interval_ms;  /* between two lines */
	int64_t start_ms;     /* monotonic: the first update */
	int64_t last_ms;      /* the last line (or the start) */
	int64_t last_done, last_left;
	int64_t done, left;   /* as of the last update; left -1: unknown */
	double rate;          /* done per second, smoothed; < 0 until measured */
	double drain;         /* left's decrease per second, smoothed, once drained is set */
	int drained;
	int shown;            /* a terminal line is up */
};

/* Sets p up for `command` (the log prefix's name), what the work does to what ("produced",
 * "events"), with the command's verbosity: off with -q (verbosity < 0), else a terminal
 * line when standard error is a terminal, log lines otherwise. $PINGPONG_PROGRESS_MS, a
 * whole number of ms, replaces the interval between lines. verb and unit must live as
 * long as p. Pair with progress_done(). */
void progress_init(struct progress *p, const char *command, const char *verb, const char *unit,
		   int verbosity);

/* The same with the mode and the descriptor given, for tests. */
void progress_init_mode(struct progress *p, const char *command, const char *verb, const char *unit,
			enum progress_mode mode, int fd);

/* done so far, and left (-1: unknown; a caller with a total gives total - done). Prints a
 * line when one is due. */
void progress_update(struct progress *p, int64_t done, int64_t left);

/* The same at a given monotonic time in ms, for tests and for callers that have it. */
void progress_update_at(struct progress *p, int64_t now_ms, int64_t done, int64_t left);

/* Ends it: a terminal line is cleared, so that the command's own closing log line takes
 * its place. No release needed beyond this. */
void progress_done(struct progress *p);

/* The line as it would be printed now, without the label: "produced 120,000 events, ...".
 * Returns buf. */
const char *progress_format(const struct progress *p, char *buf, size_t len);

/* 1234567 as "1,234,567" into buf (32 bytes). Returns buf. */
const char *progress_count(int64_t n, char *buf, size_t len);

/* A duration to go, coarse: "45s", "3m20s", "2h05m", "3d4h". Returns buf. */
const char *progress_eta(double seconds, char *buf, size_t len);

#endif
