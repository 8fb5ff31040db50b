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
	"                       [--bootstrap-file PATH] [-q] [-v]\n"
	"\n"
	"Runs librdkafka's mock Kafka cluster on 127.0.0.1 until SIGINT or SIGTERM.\n"
	"Messages are kept in memory only. Prints the bootstrap list as the first line.\n"
	"\n"
	"  --nodes N              brokers in the cluster (default 1)\n"
	"  --partitions N         partitions of each --topic (default 3)\n"
	"  -t, --topic NAME       topic created at start, repeatable (default: chat)\n"
	"  --bootstrap-file PATH  write the bootstrap list to PATH, atomically, once listening\n"
	"  -q, --quiet            log only errors\n"
	"  -v, --verbose          log more\n";

enum { OPT_NODES = OPT_FIRST_COMMAND_OPTION, OPT_PARTITIONS, OPT_BOOTSTRAP_FILE };

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
	static const struct option longopts[] = {
		COMMON_LONGOPTS,
		{ "nodes", required_argument, NULL, OPT_NODES },
		{ "partitions", required_argument, NULL, OPT_PARTITIONS },
		{ "bootstrap-file", required_argument, NULL, OPT_BOOTSTRAP_FILE },
		{ NULL, 0, NULL, 0 },
	};
	struct common_opts co;
	const char **topics = NULL;
	size_t ntopics = 0, i;
	int64_t nodes = 1, partitions = 3;
	const char *bootstrap_file = NULL;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mcluster;
	char errstr[512];
	const char *bootstraps;
	sigset_t mask, old;
	int c, rc = EX_OK;

	common_opts_init(&co);
	while ((c = getopt_long(argc, argv, COMMON_SHORTOPTS, longopts, NULL)) != -1) {
		switch (c) {
		case OPT_NODES:
			if (opt_int(&cmd_broker, "--nodes", optarg, 1, 16, &nodes) < 0)
				return EX_USAGE;
			break;
		case OPT_PARTITIONS:
			if (opt_int(&cmd_broker, "--partitions", optarg, 1, 10000, &partitions) < 0)
				return EX_USAGE;
			break;
		case OPT_BOOTSTRAP_FILE:
			bootstrap_file = optarg;
			break;
		case 't':
			topics = xrealloc(topics, (ntopics + 1) * sizeof(*topics));
			topics[ntopics++] = optarg;
			break;
		default:
			switch (common_option(&co, c, optarg)) {
			case 1:
				break;
			case 0:
				return usage_error(&cmd_broker, "unknown option");
			default:
				return EX_USAGE;
			}
		}
	}
	if (co.help)
		return usage_help(&cmd_broker);
	if (optind < argc)
		return usage_error(&cmd_broker, "unexpected argument '%s'", argv[optind]);
	log_init("broker", co.verbosity);
	if (ntopics == 0) {
		topics = xrealloc(topics, sizeof(*topics));
		topics[ntopics++] = "chat";
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
	rd_kafka_conf_set(conf, "log_level", co.verbosity > 0 ? "7" : "3", NULL, 0);
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		log_error("rd_kafka_new: %s", errstr);
		rc = EX_SOFTWARE;
		goto topics_free;
	}
	mcluster = rd_kafka_mock_cluster_new(rk, (int)nodes);
	if (!mcluster) {
		log_error("rd_kafka_mock_cluster_new: cannot start the mock cluster");
		rc = EX_UNAVAILABLE;
		goto rk_destroy;
	}
	for (i = 0; i < ntopics; i++) {
		rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mcluster, topics[i],
								   (int)partitions, 1);
		if (e) {
			log_error("rd_kafka_mock_topic_create '%s': %s", topics[i], rd_kafka_err2str(e));
			rc = EX_SOFTWARE;
			goto mock_destroy;
		}
	}
	bootstraps = rd_kafka_mock_cluster_bootstraps(mcluster);
	printf("%s\n", bootstraps);
	fflush(stdout);
	if (bootstrap_file && write_file_atomically(bootstrap_file, bootstraps, errstr, sizeof(errstr)) < 0) {
		log_error("%s", errstr);
		rc = EX_CANTCREAT;
		goto mock_destroy;
	}
	log_verbose("mock cluster of %d node(s) on %s, %zu topic(s) of %d partitions",
		    (int)nodes, bootstraps, ntopics, (int)partitions);

	while (!stop_requested)
		sigsuspend(&old);
	log_verbose("stopping");
	if (bootstrap_file)
		unlink(bootstrap_file);

mock_destroy:
	rd_kafka_mock_cluster_destroy(mcluster);
rk_destroy:
	rd_kafka_destroy(rk);
topics_free:
	free(topics);
	common_opts_release(&co);
	return rc;
}

const struct command cmd_broker = {
	"broker", "run the embedded development broker (librdkafka's mock cluster)",
	broker_usage, broker_run,
};
