/* cmd-broker.c: `pingpong broker`, librdkafka's mock cluster as a development broker.
 *
 * The mock cluster lives inside a librdkafka client handle; this process only keeps that
 * handle alive, prints the bootstrap list and waits for SIGINT or SIGTERM. Everything it
 * stores is in memory and is gone when it exits. See pingpong-broker(1) for its limits.
 */
#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "cmd.h"
#include "util.h"

static const char broker_usage[] =
	"usage: pingpong broker [--nodes N] [--partitions N] [--topic NAME]...\n"
	"                       [--bootstrap-file PATH] [-q] [-v]\n";

static const char broker_description[] =
	"Runs librdkafka's mock Kafka cluster on 127.0.0.1 until SIGINT or SIGTERM.\n"
	"Messages are kept in memory only. Prints the bootstrap list as the first line.\n";

struct broker_opts {
	struct common_opts co;
	int64_t nodes, partitions;
	struct option_list topics;
	const char *bootstrap_file;
};

#define OFF(field) offsetof(struct broker_opts, field)

/* The broker is no Kafka client: -b, -X and --json would mean nothing, and -t names the
 * topics to create. */
static const struct option_spec broker_options[] = {
	OPTION_INT(0, "nodes", "N", OFF(nodes), 1, 16, "brokers in the cluster (default 1)"),
	OPTION_INT(0, "partitions", "N", OFF(partitions), 1, 10000, "partitions of each --topic (default 3)"),
	OPTION_LIST('t', "topic", "NAME", OFF(topics), "topic created at start, repeatable (default: chat)"),
	OPTION_STRING(0, "bootstrap-file", "PATH", OFF(bootstrap_file),
		      "write the bootstrap list to PATH, atomically, once listening"),
	OPTION_GROUP(COMMON_HEADING, common_log_options, OFF(co)),
	OPTION_END
};

static int write_file_atomically(const char *path, const char *text, char *err, size_t errlen)
{
	size_t len = strlen(path) + 16;
	char *tmp = xmalloc(len);
	FILE *f;
	int rc = -1;

	snprintf(tmp, len, "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f) {
		set_err(-1, err, errlen, "cannot write '%s': %s", tmp, strerror(errno));
		goto tmp_free;
	}
	if (fprintf(f, "%s\n", text) < 0 || fclose(f) != 0) {
		set_err(-1, err, errlen, "cannot write '%s': %s", tmp, strerror(errno));
		unlink(tmp);
		goto tmp_free;
	}
	if (rename(tmp, path) != 0) {
		set_err(-1, err, errlen, "cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
		unlink(tmp);
		goto tmp_free;
	}
	rc = 0;
tmp_free:
	free(tmp);
	return rc;
}

static int broker_run(int argc, char **argv)
{
	struct broker_opts o = { .nodes = 1, .partitions = 3 };
	size_t i;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mcluster;
	char errstr[512];
	const char *bootstraps;
	sigset_t mask, old;
	int rc = EX_OK;

	common_opts_init(&o.co);
	if ((rc = options_parse(&cmd_broker, argc, argv, &o, NULL)) != OPTIONS_CONTINUE)
		return rc;
	rc = EX_OK;
	log_init("broker", o.co.verbosity);
	if (o.topics.n == 0) {
		o.topics.v = xrealloc(o.topics.v, sizeof(*o.topics.v));
		o.topics.v[o.topics.n++] = "chat";
	}

	/* Block the stop signals before the cluster's threads start, so that only this
	 * thread receives them, in sigsuspend() below. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &mask, &old);
	signals_install();

	conf = rd_kafka_conf_new();
	/* This handle only hosts the cluster; its own "no bootstrap.servers" warning is noise. */
	rd_kafka_conf_set(conf, "log_level", o.co.verbosity > 0 ? "7" : "3", NULL, 0);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		log_error("rd_kafka_new: %s", errstr);
		rc = EX_SOFTWARE;
		goto topics_free;
	}
	mcluster = rd_kafka_mock_cluster_new(rk, (int)o.nodes);
	if (!mcluster) {
		log_error("rd_kafka_mock_cluster_new: cannot start the mock cluster");
		rc = EX_UNAVAILABLE;
		goto rk_destroy;
	}
	for (i = 0; i < o.topics.n; i++) {
		rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mcluster, o.topics.v[i],
								   (int)o.partitions, 1);
		if (e) {
			log_error("rd_kafka_mock_topic_create '%s': %s", o.topics.v[i], rd_kafka_err2str(e));
			rc = EX_SOFTWARE;
			goto mock_destroy;
		}
	}
	bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
	printf("%s\n", bootstraps);
	fflush(stdout);
	if (o.bootstrap_file && write_file_atomically(o.bootstrap_file, bootstraps, errstr, sizeof(errstr)) < 0) {
		log_error("%s", errstr);
		rc = EX_CANTCREAT;
		goto mock_destroy;
	}
	log_verbose("mock cluster of %d node(s) on %s, %zu topic(s) of %d partitions",
		    (int)o.nodes, bootstraps, o.topics.n, (int)o.partitions);

	while (!stop_requested)
		sigsuspend(&old);
	log_verbose("stopping");
	if (o.bootstrap_file)
		unlink(o.bootstrap_file);

mock_destroy:
	rd_kafka_mock_cluster_destroy(mcluster);
rk_destroy:
	rd_kafka_destroy(rk);
topics_free:
	options_release(&cmd_broker, &o);
	return rc;
}

const struct command cmd_broker = {
	"broker", "run the embedded development broker (librdkafka's mock cluster)",
	broker_usage, broker_description, broker_options, NULL, broker_run,
};
