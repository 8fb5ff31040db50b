/* metrics.h: counters, gauges and histograms with labels, in Prometheus' text format,
 * served over HTTP at GET /metrics (libmicrohttpd).
 *
 * A registry (struct metrics) holds families (struct metric): a name, a help text, a
 * type and label names. A family's series (struct metric_series) are its members, one
 * per tuple of label values, made on first use and kept until the registry is freed:
 * callers look a series up once and keep the pointer. Updates are lock-free (C11
 * atomics), so any thread may update while another renders; registering a family or
 * making a series takes the registry's mutex, as rendering does.
 *
 * Rendering follows the text exposition format 0.0.4: per family "# HELP" (backslash and
 * newline escaped) and "# TYPE", then one line per series with its labels (backslash,
 * double quote and newline escaped); a histogram has cumulative _bucket lines with "le"
 * up to "+Inf", then _sum and _count. A family without labels has its one series from
 * the start (a counter reads 0 before its first event); one with labels has none until
 * the first update, and shows only its HELP and TYPE.
 */
#ifndef PP_METRICS_H
#define PP_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct metrics;
struct metric;
struct metric_series;
struct metrics_server;

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

#define METRIC_LABELS_MAX 4

/* Pair new with free (after metrics_server_stop()). */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* A family. labels: its label names, comma-separated ("result,partition"), or NULL for
 * none. Names follow Prometheus: [a-zA-Z_:][a-zA-Z0-9_:]* for a family, and for a label
 * [a-zA-Z_][a-zA-Z0-9_]*, not starting with "__", and not "le" in a histogram. Returns
 * NULL with the reason in err for a name that breaks them or is taken, or for more than
 * METRIC_LABELS_MAX labels. The help text is copied. */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels,
			       char *err, size_t errlen);
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels,
			     char *err, size_t errlen);
/* bounds: the buckets' upper bounds, increasing and finite; the "+Inf" bucket is added. */
struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help, const char *labels,
				 const double *bounds, size_t nbounds, char *err, size_t errlen);

/* Latency buckets in seconds, 0.5 ms to 10 s, for *_seconds histograms. */
extern const double metrics_seconds_buckets[];
extern const size_t metrics_seconds_nbuckets;

/* The series of the label values (one per label name, in their order; UTF-8, copied),
 * made on first use. NULL values for a family without labels. Valid until metrics_free. */
struct metric_series *metric_series(struct metric *f, const char *const *values);
/* The same with the values as arguments: metric_with(events, "applied", "0"). */
struct metric_series *metric_with(struct metric *f, ...);

/* Updates, from any thread. A counter only goes up: add ignores a negative or NaN v. */
void metric_add(struct metric_series *s, double v); /* counter, gauge */
void metric_inc(struct metric_series *s);           /* counter, gauge: + 1 */
void metric_set(struct metric_series *s, double v); /* gauge */
void metric_observe(struct metric_series *s, double v); /* histogram */

/* The value of a counter or gauge series, or a histogram's sum; a histogram's count. */
double metric_value(const struct metric_series *s);
uint64_t metric_count(const struct metric_series *s);

/* The whole registry in the text format, into a string the caller frees; *len gets its
 * length. */
char *metrics_render(struct metrics *m, size_t *len);

#define METRICS_EADDR (-1)  /* the address does not parse, or does not resolve */
#define METRICS_ESERVE (-2) /* it cannot be served: bind's error (in use, not ours) */

/* Serves GET /metrics (and HEAD) from a thread of its own, on addr: "HOST:PORT",
 * "[IPV6]:PORT", or ":PORT" for every interface; port 0 takes a free one (see
 * metrics_server_port). Other paths get 404, other methods 405. Returns 0, or
 * METRICS_EADDR or METRICS_ESERVE with the reason (the address, and the error) in err. */
int metrics_serve(struct metrics *m, const char *addr, struct metrics_server **out, char *err, size_t errlen);
/* The port it listens on. */
int metrics_server_port(const struct metrics_server *srv);
/* Stops serving (waits for a request being answered) and frees srv. NULL is fine. */
void metrics_server_stop(struct metrics_server *srv);

#endif
