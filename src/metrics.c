/* metrics.c: the metrics registry, its text rendering and its HTTP server (metrics.h).
 *
 * Values are doubles kept as their bits in _Atomic uint64_t: set is a store, add a
 * compare-and-swap loop. A histogram keeps one count per bucket (not cumulative) and the
 * sum; rendering adds the buckets up, so its "+Inf" bucket and _count are the same number
 * by construction, even while another thread observes. Families and series are appended
 * under the registry's mutex and never removed before metrics_free, so a series pointer
 * handed out stays valid, and rendering (under the mutex) sees whole entries.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <microhttpd.h>

#include "metrics.h"
#include "util.h"

struct metric_series {
	struct metric_series *next;
	const struct metric *f;    /* its family */
	char *values[METRIC_LABELS_MAX];
	_Atomic uint64_t value;    /* a double's bits: the value, or a histogram's sum */
	_Atomic uint64_t *buckets; /* histogram: nbounds + 1 counts, the last for +Inf */
};

struct metric {
	struct metric *next;
	struct metrics *m;
	char *name, *help;
	enum metric_type type;
	char *labels[METRIC_LABELS_MAX];
	size_t nlabels;
	double *bounds;
	size_t nbounds;
	struct metric_series *series, **tail; /* in order of making */
};

struct metrics {
	pthread_mutex_t lock;
	struct metric *families, **tail;
};

const double metrics_seconds_buckets[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
const size_t metrics_seconds_nbuckets = sizeof(metrics_seconds_buckets) / sizeof(metrics_seconds_buckets[0]);

static uint64_t bits_of(double v)
{
	uint64_t b;
	memcpy(&b, &v, sizeof(b));
	return b;
}

static double double_of(uint64_t b)
{
	double v;
	memcpy(&v, &b, sizeof(v));
	return v;
}

struct metrics *metrics_new(void)
{
	struct metrics *m = xcalloc(1, sizeof(*m));

	pthread_mutex_init(&m->lock, NULL);
	m->tail = &m->families;
	return m;
}

static void series_free(struct metric_series *s)
{
	size_t i;

	for (i = 0; i < METRIC_LABELS_MAX; i++)
		free(s->values[i]);
	free((void *)s->buckets);
	free(s);
}

void metrics_free(struct metrics *m)
{
	struct metric *f, *fn;
	struct metric_series *s, *sn;
	size_t i;

	if (!m)
		return;
	for (f = m->families; f; f = fn) {
		fn = f->next;
		for (s = f->series; s; s = sn) {
			sn = s->next;
			series_free(s);
		}
		for (i = 0; i < f->nlabels; i++)
			free(f->labels[i]);
		free(f->name);
		free(f->help);
		free(f->bounds);
		free(f);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static int name_ok(const char *s, int colon)
{
	size_t i;

	if (!s[0])
		return 0;
	for (i = 0; s[i]; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
		      (i && c >= '0' && c <= '9')))
			return 0;
	}
	return 1;
}

static struct metric_series *series_new(const struct metric *f, const char *const *values)
{
	struct metric_series *s = xcalloc(1, sizeof(*s));
	size_t i;

	s->f = f;
	for (i = 0; i < f->nlabels; i++)
		s->values[i] = xstrdup(values[i] ? values[i] : "");
	atomic_init(&s->value, bits_of(0.0));
	if (f->type == METRIC_HISTOGRAM) {
		s->buckets = xcalloc(f->nbounds + 1, sizeof(*s->buckets));
		for (i = 0; i <= f->nbounds; i++)
			atomic_init(&s->buckets[i], 0);
	}
	return s;
}

static struct metric *family_new(struct metrics *m, const char *name, const char *help, enum metric_type type,
				 const char *labels, const double *bounds, size_t nbounds, char *err,
				 size_t errlen)
{
	struct metric *f, *g;
	const char *p;
	size_t i;

	if (!name_ok(name, 1))
		return set_err(-1, err, errlen, "metric name '%s' is not [a-zA-Z_:][a-zA-Z0-9_:]*", name), NULL;
	for (i = 0; i + 1 < nbounds; i++)
		if (!(bounds[i] < bounds[i + 1]) || !isfinite(bounds[i]) || !isfinite(bounds[i + 1]))
			return set_err(-1, err, errlen, "histogram '%s': bounds must increase and be finite", name),
			       NULL;
	if (type == METRIC_HISTOGRAM && nbounds == 1 && !isfinite(bounds[0]))
		return set_err(-1, err, errlen, "histogram '%s': bounds must be finite", name), NULL;
	f = xcalloc(1, sizeof(*f));
	f->m = m;
	f->name = xstrdup(name);
	f->help = xstrdup(help ? help : "");
	f->type = type;
	f->tail = &f->series;
	for (p = labels; p && *p; ) {
		size_t len = strcspn(p, ",");
		char *label = xstrndup(p, len);
		if (f->nlabels == METRIC_LABELS_MAX || !name_ok(label, 0) || !strncmp(label, "__", 2) ||
		    (type == METRIC_HISTOGRAM && !strcmp(label, "le"))) {
			set_err(-1, err, errlen, "metric '%s': label '%s' is not allowed (at most %d labels, each "
				"[a-zA-Z_][a-zA-Z0-9_]*, not __*, not le in a histogram)", name, label,
				METRIC_LABELS_MAX);
			free(label);
			goto family_free;
		}
		f->labels[f->nlabels++] = label;
		p += len;
		if (*p == ',')
			p++;
	}
	if (type == METRIC_HISTOGRAM) {
		f->bounds = xmalloc((nbounds ? nbounds : 1) * sizeof(*f->bounds));
		memcpy(f->bounds, bounds, nbounds * sizeof(*bounds));
		f->nbounds = nbounds;
	}
	pthread_mutex_lock(&m->lock);
	for (g = m->families; g; g = g->next) {
		if (!strcmp(g->name, name)) {
			pthread_mutex_unlock(&m->lock);
			set_err(-1, err, errlen, "metric '%s' is registered already", name);
			goto family_free;
		}
	}
	if (!f->nlabels) {
		f->series = series_new(f, NULL);
		f->tail = &f->series->next;
	}
	*m->tail = f;
	m->tail = &f->next;
	pthread_mutex_unlock(&m->lock);
	return f;

family_free:
	for (i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	free(f->name);
	free(f->help);
	free(f);
	return NULL;
}

struct metric *metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels,
			       char *err, size_t errlen)
{
	return family_new(m, name, help, METRIC_COUNTER, labels, NULL, 0, err, errlen);
}

struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels,
			     char *err, size_t errlen)
{
	return family_new(m, name, help, METRIC_GAUGE, labels, NULL, 0, err, errlen);
}

struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help, const char *labels,
				 const double *bounds, size_t nbounds, char *err, size_t errlen)
{
	return family_new(m, name, help, METRIC_HISTOGRAM, labels, bounds, nbounds, err, errlen);
}

struct metric_series *metric_series(struct metric *f, const char *const *values)
{
	struct metric_series *s;
	size_t i;

	pthread_mutex_lock(&f->m->lock);
	for (s = f->series; s; s = s->next) {
		for (i = 0; i < f->nlabels && !strcmp(s->values[i], values[i] ? values[i] : ""); i++)
			;
		if (i == f->nlabels)
			break;
	}
	if (!s) {
		s = series_new(f, values);
		*f->tail = s;
		f->tail = &s->next;
	}
	pthread_mutex_unlock(&f->m->lock);
	return s;
}

struct metric_series *metric_with(struct metric *f, ...)
{
	const char *values[METRIC_LABELS_MAX];
	va_list ap;
	size_t i;

	va_start(ap, f);
	for (i = 0; i < f->nlabels; i++)
		values[i] = va_arg(ap, const char *);
	va_end(ap);
	return metric_series(f, values);
}

static void atomic_add_double(_Atomic uint64_t *a, double v)
{
	uint64_t old = atomic_load_explicit(a, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(a, &old, bits_of(double_of(old) + v), memory_order_relaxed,
						      memory_order_relaxed))
		;
}

void metric_add(struct metric_series *s, double v)
{
	if (s->f->type == METRIC_COUNTER && !(v >= 0))
		return; /* a counter never goes down; NaN fails the test too */
	atomic_add_double(&s->value, v);
}

void metric_inc(struct metric_series *s)
{
	atomic_add_double(&s->value, 1.0);
}

void metric_set(struct metric_series *s, double v)
{
	atomic_store_explicit(&s->value, bits_of(v), memory_order_relaxed);
}

/* "le" is an upper bound, inclusive: v goes to the first bucket whose bound is >= v. */
void metric_observe(struct metric_series *s, double v)
{
	const struct metric *f = s->f;
	size_t lo = 0, hi = f->nbounds;

	if (f->type != METRIC_HISTOGRAM)
		return;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v <= f->bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	atomic_fetch_add_explicit(&s->buckets[lo], 1, memory_order_relaxed);
	atomic_add_double(&s->value, v);
}

double metric_value(const struct metric_series *s)
{
	return double_of(atomic_load_explicit(&s->value, memory_order_relaxed));
}

uint64_t metric_count(const struct metric_series *s)
{
	uint64_t n = 0;
	size_t i;

	for (i = 0; s->buckets && i <= s->f->nbounds; i++)
		n += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
	return n;
}

/* ---- rendering ------------------------------------------------------------------------ */

/* A growing string. */
struct text {
	char *buf;
	size_t len, cap;
};

static void text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->buf = xrealloc(t->buf, t->cap);
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

/* Escapes backslash and newline (HELP), and the double quote too (label values). */
static void text_escaped(struct text *t, const char *s, int quote)
{
	for (; *s; s++) {
		if (*s == '\\')
			text_add(t, "\\\\", 2);
		else if (*s == '\n')
			text_add(t, "\\n", 2);
		else if (quote && *s == '"')
			text_add(t, "\\\"", 2);
		else
			text_add(t, s, 1);
	}
}

/* A value as Prometheus reads it: +Inf, -Inf, NaN, an integer without exponent below
 * 2^53, otherwise the shortest decimal that reads back as the same double. */
static void text_number(struct text *t, double v)
{
	char buf[64];
	int prec;

	if (isnan(v))
		snprintf(buf, sizeof(buf), "NaN");
	else if (isinf(v))
		snprintf(buf, sizeof(buf), v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 9007199254740992.0)
		snprintf(buf, sizeof(buf), "%.0f", v == 0 ? 0.0 : v); /* no "-0" */
	else
		for (prec = 15; prec <= 17; prec++) {
			snprintf(buf, sizeof(buf), "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
	text_str(t, buf);
}

/* name{a="x",b="y",le="0.5"} with the series' labels, and extra (le) if given. */
static void text_sample_name(struct text *t, const struct metric *f, const char *suffix,
			     const struct metric_series *s, const char *le)
{
	size_t i;

	text_str(t, f->name);
	text_str(t, suffix);
	if (!f->nlabels && !le)
		return;
	text_add(t, "{", 1);
	for (i = 0; i < f->nlabels; i++) {
		if (i)
			text_add(t, ",", 1);
		text_str(t, f->labels[i]);
		text_add(t, "=\"", 2);
		text_escaped(t, s->values[i], 1);
		text_add(t, "\"", 1);
	}
	if (le) {
		text_str(t, f->nlabels ? ",le=\"" : "le=\"");
		text_str(t, le);
		text_add(t, "\"", 1);
	}
	text_add(t, "}", 1);
}

static void render_histogram(struct text *t, const struct metric *f, const struct metric_series *s)
{
	uint64_t cumulative = 0;
	size_t i;

	for (i = 0; i <= f->nbounds; i++) {
		struct text le = { NULL, 0, 0 };
		cumulative += atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
		if (i < f->nbounds)
			text_number(&le, f->bounds[i]);
		else
			text_str(&le, "+Inf");
		text_sample_name(t, f, "_bucket", s, le.buf);
		text_add(t, " ", 1);
		text_number(t, (double)cumulative);
		text_add(t, "\n", 1);
		free(le.buf);
	}
	text_sample_name(t, f, "_sum", s, NULL);
	text_add(t, " ", 1);
	text_number(t, metric_value(s));
	text_add(t, "\n", 1);
	text_sample_name(t, f, "_count", s, NULL);
	text_add(t, " ", 1);
	text_number(t, (double)cumulative);
	text_add(t, "\n", 1);
}

char *metrics_render(struct metrics *m, size_t *len)
{
	static const char *const types[] = { "counter", "gauge", "histogram" };
	struct text t = { NULL, 0, 0 };
	const struct metric *f;
	const struct metric_series *s;

	text_add(&t, "", 0);
	pthread_mutex_lock(&m->lock);
	for (f = m->families; f; f = f->next) {
		text_str(&t, "# HELP ");
		text_str(&t, f->name);
		text_add(&t, " ", 1);
		text_escaped(&t, f->help, 0);
		text_str(&t, "\n# TYPE ");
		text_str(&t, f->name);
		text_add(&t, " ", 1);
		text_str(&t, types[f->type]);
		text_add(&t, "\n", 1);
		for (s = f->series; s; s = s->next) {
			if (f->type == METRIC_HISTOGRAM) {
				render_histogram(&t, f, s);
				continue;
			}
			text_sample_name(&t, f, "", s, NULL);
			text_add(&t, " ", 1);
			text_number(&t, metric_value(s));
			text_add(&t, "\n", 1);
		}
	}
	pthread_mutex_unlock(&m->lock);
	if (len)
		*len = t.len;
	return t.buf;
}

/* ---- HTTP ----------------------------------------------------------------------------- */

struct metrics_server {
	struct MHD_Daemon *daemon;
	struct metrics *m;
	int port;
};

static enum MHD_Result respond(struct MHD_Connection *c, unsigned int status, const char *type, char *body,
			       size_t len, const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

/* Runs in libmicrohttpd's thread. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
				  const char *version, const char *upload, size_t *upload_len, void **state)
{
	struct metrics_server *srv = cls;
	static int first_call;
	size_t len;
	char *body;

	(void)version;
	(void)upload;
	/* The first call per request only announces it (and a body's arrival); answer on the
	 * second, once any body has been read, as libmicrohttpd expects. */
	if (!*state) {
		*state = &first_call;
		return MHD_YES;
	}
	if (*upload_len) {
		*upload_len = 0; /* a body is read and ignored: the method is refused below */
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
		return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
			       xstrdup("only GET and HEAD\n"), strlen("only GET and HEAD\n"), "GET, HEAD");
	if (strcmp(url, "/metrics"))
		return respond(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8", xstrdup("not found: try /metrics\n"),
			       strlen("not found: try /metrics\n"), NULL);
	body = metrics_render(srv->m, &len);
	return respond(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", body, len, NULL);
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT" into a bound, listening socket. Returns it,
 * METRICS_EADDR for an address that does not parse or resolve, or METRICS_ESERVE when it
 * cannot be bound. */
static int listen_on(const char *addr, int *port, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	const char *colon = strrchr(addr, ':');
	char host[256], service[16];
	int fd = -1, rc, one = 1, save = 0;

	if (!colon || !colon[1] || strlen(colon + 1) >= sizeof(service) || (size_t)(colon - addr) >= sizeof(host))
		return set_err(METRICS_EADDR, err, errlen, "metrics address '%s' is not HOST:PORT", addr);
	snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
	snprintf(service, sizeof(service), "%s", colon + 1);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host[0] ? host : NULL, service, &hints, &res)) != 0)
		return set_err(METRICS_EADDR, err, errlen, "metrics address '%s': %s", addr, gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		if ((fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol)) < 0) {
			save = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 16) == 0)
			break;
		save = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return set_err(METRICS_ESERVE, err, errlen, "cannot serve metrics on '%s': %s", addr, strerror(save));
	{
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		*port = 0;
		if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
			*port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
				      ((struct sockaddr_in *)&ss)->sin_port);
	}
	return fd;
}

int metrics_serve(struct metrics *m, const char *addr, struct metrics_server **out, char *err, size_t errlen)
{
	struct metrics_server *srv = xcalloc(1, sizeof(*srv));
	int fd;

	srv->m = m;
	if ((fd = listen_on(addr, &srv->port, err, errlen)) < 0) {
		free(srv);
		return fd;
	}
	/* One thread of its own; slow or idle clients are dropped after 10 s, and at most 16
	 * are served at once. libmicrohttpd closes fd when it stops. */
	srv->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, srv,
				       MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				       MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_END);
	if (!srv->daemon) {
		close(fd);
		free(srv);
		return set_err(METRICS_ESERVE, err, errlen, "cannot serve metrics on '%s': MHD_start_daemon failed",
			       addr);
	}
	*out = srv;
	return 0;
}

int metrics_server_port(const struct metrics_server *srv)
{
	return srv->port;
}

void metrics_server_stop(struct metrics_server *srv)
{
	if (!srv)
		return;
	MHD_stop_daemon(srv->daemon);
	free(srv);
}
