/* util.h: small helpers shared by every module: memory, numbers, time, logging. */
#ifndef PP_UTIL_H
#define PP_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>

/* Allocation wrappers: they abort when memory runs out, so callers need no NULL check. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Parses a duration: decimal numbers, each followed by a unit (ms, s, m, h, d), the units
 * in decreasing order: "250ms", "1.5s", "1m30s", "1h2m3s500ms", "2d"; "0" alone is
 * allowed. No sign, no exponent, no NaN or infinity. Returns 0 and stores milliseconds
 * (rounded to the nearest), or -1 on a malformed or overflowing value. */
int parse_duration_ms(const char *s, int64_t *ms);

/* Parses a whole decimal number in [min, max]. Returns 0 or -1. */
int parse_int(const char *s, int64_t min, int64_t max, int64_t *out);

/* Formats a duration in milliseconds as "1.5s", "250ms"; buf must hold 32 bytes. */
const char *format_duration(int64_t ms, char *buf, size_t len);

/* Wall-clock milliseconds since the epoch (event time lives in this clock). */
int64_t clock_now_ms(void);
/* Monotonic milliseconds, for timers and rates. */
int64_t clock_mono_ms(void);
/* Monotonic nanoseconds, for latency measurements. */
int64_t clock_mono_ns(void);

/* Logging to stderr, prefixed with "pingpong CMD: ". Verbosity: -1 quiet, 0 normal, 1+ verbose. */
void log_init(const char *command, int verbosity);
int log_verbosity(void);
/* A progress line is up on the terminal (1), or not any more (0): the next log line
 * clears it first, rather than run on from its end (progress.c). */
void log_progress_line(int shown);
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_verbose(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Writes into err (errlen bytes) like snprintf; returns rc so callers can `return set_err(...)`. */
int set_err(int rc, char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Writes buf[0..len) as 2 * len lowercase hex digits and a NUL into out, which holds
 * 2 * len + 1 bytes. Returns out. */
char *hex_encode(const void *buf, size_t len, char *out);

/* Shows bytes that may be anything in a message: printable ASCII as it is (but ' and \),
 * the rest as \xNN; at most max bytes of p, then "..." when cut. Writes a NUL-terminated
 * string into out (outlen bytes) and returns out. */
char *quote_bytes(char *out, size_t outlen, const void *p, size_t len, size_t max);

/* Decodes hexlen hex digits (either case) into hexlen / 2 bytes of out, in one pass.
 * Returns 0, or -1 (out partly written) if hexlen is odd or a character is not a hex
 * digit. */
int hex_decode(const char *hex, size_t hexlen, void *out);

/* Returns 1 if s[0..len) is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int utf8_valid(const char *s, size_t len);

/* Writes s[0..len) to out as a field of text output, escaped so that it can neither end
 * the line nor reach a terminal as a control sequence, and so that the escaping can be
 * undone: a backslash becomes \\, a newline \n, a carriage return \r, a tab \t; any other
 * C0 control byte (NUL and ESC among them), DEL, and a byte that is not part of valid
 * UTF-8 becomes \xHH; a C1 control (U+0080..U+009F) becomes \uHHHH. Printable ASCII and
 * valid UTF-8 from U+00A0 up are written as they are. Every printer of names and
 * messages in text uses it (JSON output has its own escaping). Returns 0, or EOF on a
 * write error. */
int fput_escaped(const char *s, size_t len, FILE *out);

/* Finds a data file of pingpong's (users.txt, messages.txt): in $PINGPONG_DATADIR if it
 * is set, and only there; else in the installed $(pkgdatadir), found relative to the
 * running binary, so in its own prefix; else, for a binary in a build tree
 * (src/pingpong beside config.status), in that tree's data/. No path of the machine
 * that built it is compiled in. Returns a path the caller frees, or NULL with the
 * reason, which names where it looked. */
char *data_path(const char *name, char *err, size_t errlen);

/* The command line of process pid ("pingpong active --store st"): its arguments joined
 * by spaces, cut to fit len (which must be > 0); "" when it cannot be read (no such
 * process, or not ours to see). The bytes are the process's own: escape them to print.
 * Returns buf. */
const char *process_cmdline(long pid, char *buf, size_t len);

/* A message's fingerprint: 64-bit FNV-1a over the key's length, the key and the payload.
 * Never 0 (which means "unknown" where it is stored). Not a cryptographic hash: it tells
 * a replaced log from the one a store was built from, not an attacker's forgery. */
uint64_t fingerprint64(const void *key, size_t keylen, const void *payload, size_t len);

/* An element of sort_keyed(): a key, and what it stands for. */
struct keyed {
	uint64_t key;
	const void *what;
};

/* Sorts a[0..n) by key, keeping the order of equal keys: an LSD radix sort over the bytes
 * in which some of the keys differ (two or three of eight for times of one batch or one
 * window), with spare as room for n. Returns where the sorted array is: a or spare. */
struct keyed *sort_keyed(struct keyed *a, struct keyed *spare, size_t n);

#endif
