/* util.c: memory wrappers, number and duration parsing, clocks, logging, UTF-8. */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "util.h"

static void out_of_memory(size_t n)
{
	fprintf(stderr, "pingpong: out of memory allocating %zu bytes\n", n);
	abort();
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		out_of_memory(n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		out_of_memory(n * size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		out_of_memory(n);
	return p;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* The largest duration accepted: far beyond any sensible setting, and small enough that
 * callers may add two of them, or one to a clock, without overflow. */
#define DURATION_MAX_MS (INT64_MAX / 4)

/* Reads a unit at *p, one of ms s m h d: returns its milliseconds and moves *p past
 * it, or returns 0 (no unit). "ms" is tried before "m". */
static int64_t duration_unit(const char **p)
{
	static const struct { const char *name; int64_t ms; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 }, { "d", 86400000 },
	};
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		size_t n = strlen(units[i].name);
		if (!strncmp(*p, units[i].name, n)) {
			*p += n;
			return units[i].ms;
		}
	}
	return 0;
}

/* Digits only, never strtod: strtod also reads "nan", "inf", "0x1p4" and "1e3", and a
 * NaN compares false with every bound, so it would slip through as any value. */
int parse_duration_ms(const char *s, int64_t *ms)
{
	const char *p = s;
	int64_t total = 0, last_unit = INT64_MAX;

	if (!s || !*s)
		return -1;
	if (!strcmp(s, "0")) {
		*ms = 0;
		return 0;
	}
	while (*p) {
		int64_t whole = 0, unit, part;
		double frac = 0, scale = 1;
		int digits = 0;

		for (; *p >= '0' && *p <= '9'; p++, digits++) {
			if (whole > (DURATION_MAX_MS - 9) / 10)
				return -1;
			whole = whole * 10 + (*p - '0');
		}
		if (*p == '.') {
			int fdigits = 0;
			for (p++; *p >= '0' && *p <= '9'; p++, fdigits++) {
				/* Beyond a nanosecond of a day the digits change nothing. */
				if (fdigits < 15) {
					scale /= 10;
					frac += (*p - '0') * scale;
				}
			}
			if (!fdigits)
				return -1;
			digits += fdigits;
		}
		if (!digits)
			return -1;
		/* Units in decreasing order, each once: 1h30m, not 30m1h or 1m1m. */
		unit = duration_unit(&p);
		if (!unit || unit >= last_unit)
			return -1;
		last_unit = unit;
		/* Whole units in integers, exact; only the fraction, less than one unit, in
		 * floating point. DURATION_MAX_MS leaves room for that unit. */
		if (whole > DURATION_MAX_MS / unit)
			return -1;
		part = whole * unit + (int64_t)(frac * (double)unit + 0.5);
		if (part > DURATION_MAX_MS - total)
			return -1;
		total += part;
	}
	*ms = total;
	return 0;
}

const char *format_duration(int64_t ms, char *buf, size_t len)
{
	if (ms < 1000)
		snprintf(buf, len, "%" PRId64 "ms", ms);
	else if (ms < 60000)
		snprintf(buf, len, "%.1fs", (double)ms / 1000);
	else
		snprintf(buf, len, "%.1fm", (double)ms / 60000);
	return buf;
}

int64_t clock_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_mono_ms(void)
{
	return clock_mono_ns() / 1000000;
}

int64_t clock_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static const char *log_command = "pingpong";
static int log_level;
static atomic_int log_over_line; /* a progress line is up on the terminal */

void log_init(const char *command, int verbosity)
{
	static char prefix[64];

	snprintf(prefix, sizeof(prefix), "pingpong %s", command);
	log_command = prefix;
	log_level = verbosity;
}

int log_verbosity(void)
{
	return log_level;
}

void log_progress_line(int shown)
{
	atomic_store(&log_over_line, shown);
}

static void log_write(const char *kind, const char *fmt, va_list ap)
{
	char line[4096];
	int n;

	/* One write per line, so lines of several processes sharing stderr do not interleave;
	 * over a progress line, it is cleared first (\r, and \033[K to the end). */
	n = snprintf(line, sizeof(line), "%s%s: %s", atomic_exchange(&log_over_line, 0) ? "\r\033[K" : "",
		     log_command, kind);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0) {
		/* nowhere left to report it */
	}
}

void log_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_write("error: ", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;
	if (log_level < 0)
		return;
	va_start(ap, fmt);
	log_write("warning: ", fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	if (log_level < 0)
		return;
	va_start(ap, fmt);
	log_write("", fmt, ap);
	va_end(ap);
}

void log_verbose(const char *fmt, ...)
{
	va_list ap;
	if (log_level < 1)
		return;
	va_start(ap, fmt);
	log_write("", fmt, ap);
	va_end(ap);
}

int set_err(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

static const char hex_digits[] = "0123456789abcdef";

char *hex_encode(const void *buf, size_t len, char *out)
{
	const unsigned char *b = buf;
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex_digits[b[i] >> 4];
		out[2 * i + 1] = hex_digits[b[i] & 0xf];
	}
	out[2 * len] = '\0';
	return out;
}

char *quote_bytes(char *out, size_t outlen, const void *p, size_t len, size_t max)
{
	const unsigned char *b = p;
	size_t i, o = 0;

	for (i = 0; i < len && i < max && o + 5 < outlen; i++) {
		if (b[i] >= 0x20 && b[i] < 0x7f && b[i] != '\'' && b[i] != '\\') {
			out[o++] = (char)b[i];
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			hex_encode(&b[i], 1, out + o);
			o += 2;
		}
	}
	if (i < len && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* The value of a hex digit, or -1. */
static int hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int hex_decode(const char *hex, size_t hexlen, void *out)
{
	unsigned char *b = out;
	size_t i;

	if (hexlen % 2)
		return -1;
	for (i = 0; i < hexlen; i += 2) {
		int hi = hex_value((unsigned char)hex[i]), lo = hex_value((unsigned char)hex[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		b[i / 2] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* The length of the UTF-8 character at s[0..len), 1 to 4, or 0 if the bytes there are
 * not one (overlong, a surrogate, beyond U+10FFFF, cut short or a stray byte). */
static size_t utf8_char_len(const unsigned char *s, size_t len)
{
	unsigned char c = s[0];
	uint32_t cp;
	size_t n, k;

	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0) {
		n = 1;
		cp = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		n = 2;
		cp = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		n = 3;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len <= n)
		return 0;
	for (k = 1; k <= n; k++) {
		if ((s[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[k] & 0x3f);
	}
	if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n + 1;
}

int utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		size_t n;

		/* Names and messages are mostly ASCII: skip it eight bytes at a time. */
		while (i + 8 <= len) {
			uint64_t w;
			memcpy(&w, s + i, 8);
			if (w & 0x8080808080808080ULL)
				break;
			i += 8;
		}
		if (i >= len)
			break;
		if (s[i] < 0x80) { /* the last few bytes, or ASCII after a longer character */
			i++;
			continue;
		}
		if (!(n = utf8_char_len(s + i, len - i)))
			return 0;
		i += n;
	}
	return 1;
}

int fput_escaped(const char *str, size_t len, FILE *out)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0;

	while (i < len) {
		unsigned char c = s[i];
		char esc[8];
		size_t n = 1;

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			i++;
			continue;
		}
		if (c >= 0x80 && (n = utf8_char_len(s + i, len - i)) > 0) {
			/* U+0080..U+009F is C2 80..C2 9F: C1 controls, such as CSI (U+009B). */
			if (!(c == 0xc2 && s[i + 1] < 0xa0)) {
				i += n;
				continue;
			}
			snprintf(esc, sizeof(esc), "\\u%04x", s[i + 1]);
		} else if (c == '\\') {
			strcpy(esc, "\\\\");
		} else if (c == '\n') {
			strcpy(esc, "\\n");
		} else if (c == '\r') {
			strcpy(esc, "\\r");
		} else if (c == '\t') {
			strcpy(esc, "\\t");
		} else {
			/* other C0 controls, DEL, and a byte that is not UTF-8 */
			n = 1;
			esc[0] = '\\';
			esc[1] = 'x';
			hex_encode(&c, 1, esc + 2);
		}
		if (i > run && fwrite(s + run, 1, i - run, out) != i - run)
			return EOF;
		if (fputs(esc, out) == EOF)
			return EOF;
		i += n;
		run = i;
	}
	if (i > run && fwrite(s + run, 1, i - run, out) != i - run)
		return EOF;
	return 0;
}

static int file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The directory of the running binary (/proc/self/exe, links resolved) into buf, or ""
 * if it cannot be told. */
static void exe_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	char *slash;

	if (n <= 0 || (size_t)n >= len - 1) {
		buf[0] = '\0';
		return;
	}
	buf[n] = '\0';
	if ((slash = strrchr(buf, '/')))
		*(slash == buf ? slash + 1 : slash) = '\0';
	else
		buf[0] = '\0';
}

/* path = dir/name when that is a file; frees nothing, allocates path. */
static char *file_in(const char *dir, const char *sub, const char *name)
{
	size_t len = strlen(dir) + strlen(sub) + strlen(name) + 3;
	char *path = xmalloc(len);

	snprintf(path, len, "%s/%s%s%s", dir, sub, *sub ? "/" : "", name);
	if (file_exists(path))
		return path;
	free(path);
	return NULL;
}

char *data_path(const char *name, char *err, size_t errlen)
{
	const char *env = getenv("PINGPONG_DATADIR");
	char dir[4096], tree[4200];
	char *path;

	/* An explicit choice, and nothing else: a wrong one must not be papered over. */
	if (env && *env) {
		if ((path = file_in(env, "", name)))
			return path;
		set_err(-1, err, errlen, "no data file '%s' in '%s' ($PINGPONG_DATADIR)", name, env);
		return NULL;
	}
	exe_dir(dir, sizeof(dir));
	if (!*dir) {
		set_err(-1, err, errlen, "cannot find the data file '%s': the binary's own directory is unknown "
			"(no /proc?); set PINGPONG_DATADIR", name);
		return NULL;
	}
	/* Installed: $(pkgdatadir), relative to $(bindir) (configure.ac). */
	if ((path = file_in(dir, PP_DATADIR_FROM_BINDIR, name)))
		return path;
	/* A build tree: src/pingpong beside the configured tree's data/. */
	snprintf(tree, sizeof(tree), "%s/../config.status", dir);
	if (file_exists(tree) && (path = file_in(dir, "../data", name)))
		return path;
	set_err(-1, err, errlen, "cannot find the data file '%s' in '%s/%s', where it is installed; set "
		"PINGPONG_DATADIR to the directory that holds it", name, dir, PP_DATADIR_FROM_BINDIR);
	return NULL;
}

static uint64_t fnv1a64(uint64_t h, const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h;
}

uint64_t fingerprint64(const void *key, size_t keylen, const void *payload, size_t len)
{
	uint64_t n = keylen, h = 14695981039346656037ULL;

	h = fnv1a64(h, &n, sizeof(n));
	h = fnv1a64(h, key, key ? keylen : 0);
	h = fnv1a64(h, payload, len);
	return h ? h : 1;
}

const char *process_cmdline(long pid, char *buf, size_t len)
{
	char path[64];
	size_t n = 0, i;
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	if (!(f = fopen(path, "r")))
		return buf;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	buf[n] = '\0';
	return buf;
}

struct keyed *sort_keyed(struct keyed *a, struct keyed *spare, size_t n)
{
	uint64_t all = ~(uint64_t)0, any = 0;
	unsigned shift;
	size_t i;

	for (i = 0; i < n; i++) {
		all &= a[i].key;
		any |= a[i].key;
	}
	for (shift = 0; shift < 64; shift += 8) {
		size_t count[256] = { 0 }, at = 0, c;
		struct keyed *swap;
		unsigned d;

		if (!(((all ^ any) >> shift) & 0xff))
			continue; /* every key has the same byte here */
		for (i = 0; i < n; i++)
			count[(a[i].key >> shift) & 0xff]++;
		for (d = 0; d < 256; d++) {
			c = count[d];
			count[d] = at;
			at += c;
		}
		for (i = 0; i < n; i++)
			spare[count[(a[i].key >> shift) & 0xff]++] = a[i];
		swap = a;
		a = spare;
		spare = swap;
	}
	return a;
}
