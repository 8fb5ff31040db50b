/* metrics-serve.c: serves a metrics registry over HTTP for tests/t0630-metrics-http.sh.
 *
 *   metrics-serve [ADDR]     (default 127.0.0.1:0)
 *
 * Registers the consumers' metrics (consumer-metrics.c) and a few fixed series whose
 * values the test knows: pingpong_events_total of partition 0 at 1000 applied, 3
 * rejected, 7 already applied; a batch commit histogram of 0.003 and 0.02 s; the lag
 * from tests/rdkafka-stats-2.0.2.json when its path is in $METRICS_STATS; a counter
 * whose label holds a backslash, a double quote and a newline. Then two threads update
 * pingpong_events_total of partitions 1 and 2 and the commit histogram without pause, so
 * that scrapes meet updates. Prints "port N" on standard output once it serves, and runs
 * until SIGTERM or SIGINT; exits 1 (with the reason on stderr) if it cannot serve.
 */
#include "config.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer-metrics.h"
#include "metrics.h"

static atomic_int stopping;

struct worker {
	struct consumer_metrics *cm;
	int32_t partition;
};

static void *work(void *arg)
{
	struct worker *w = arg;

	while (!atomic_load(&stopping)) {
		consumer_metrics_events(w->cm, w->partition, 10, 1, 0);
		consumer_metrics_batch(w->cm, 0.001 * w->partition);
	}
	return NULL;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n)
		*len = (size_t)n;
	fclose(f);
	return buf;
}

int main(int argc, char **argv)
{
	const char *addr = argc > 1 ? argv[1] : "127.0.0.1:0";
	struct metrics *m = metrics_new();
	struct metrics_server *srv;
	struct consumer_metrics cm;
	struct worker w1, w2;
	pthread_t t1, t2;
	struct metric *odd;
	const char *stats = getenv("METRICS_STATS");
	char err[512];
	sigset_t set;
	int sig;

	/* Signals are taken by sigwait below, in this thread only. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (consumer_metrics_init(&cm, m, "metrics-serve", err, sizeof(err)) != 0 ||
	    !(odd = metrics_counter(m, "pingpong_test_odd_total", "A label value with \\, \" and a newline.",
				    "value", err, sizeof(err)))) {
		fprintf(stderr, "metrics-serve: %s\n", err);
		return 1;
	}
	consumer_metrics_events(&cm, 0, 1000, 3, 7);
	consumer_metrics_batch(&cm, 0.003);
	consumer_metrics_batch(&cm, 0.02);
	consumer_metrics_store(&cm, 64 << 20, 1253376);
	consumer_metrics_rebalance(&cm, "assign");
	consumer_metrics_gate_wait(&cm, 0, 0.25);
	metric_add(metric_with(odd, "back\\slash \"quoted\"\nnext line"), 42);
	if (stats) {
		size_t len = 0;
		char *json = slurp(stats, &len);
		if (!json || consumer_metrics_stats(&cm, json, len, "chat", err, sizeof(err)) != 0) {
			fprintf(stderr, "metrics-serve: %s: %s\n", stats, json ? err : "cannot read");
			return 1;
		}
		free(json);
	}
	if (metrics_serve(m, addr, &srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "metrics-serve: %s\n", err);
		metrics_free(m);
		return 1;
	}
	w1.cm = w2.cm = &cm;
	w1.partition = 1;
	w2.partition = 2;
	pthread_create(&t1, NULL, work, &w1);
	pthread_create(&t2, NULL, work, &w2);
	printf("port %d\n", metrics_server_port(srv));
	fflush(stdout);

	sigwait(&set, &sig);
	atomic_store(&stopping, 1);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	metrics_server_stop(srv);
	metrics_free(m);
	return 0;
}
