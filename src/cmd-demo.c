/* cmd-demo.c: `pingpong demo`, the main job on the embedded broker, in one command.
 *
 * It runs the real commands as child processes, exactly as a user would start them by
 * hand: the broker, the chat-room producer, the messages consumer and the active-users
 * consumer. Their output shares this terminal. At the end it stops them in order
 * (producer, consumers, broker), checks the active store and prints a summary.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "cmd.h"
#include "store.h"
#include "util.h"

static const char demo_usage[] =
	"usage: pingpong demo [--duration D] [--users N] [--rate N] [--store DIR]\n"
	"                     [-b BROKERS] [-t TOPIC] [-X KEY=VALUE]... [-q] [-v]\n";

static const char demo_description[] =
	"Runs the chat room on the embedded broker: a producer, the messages consumer and\n"
	"the active-users consumer, for --duration; then stops them and prints a summary.\n"
	"With -b, or $PINGPONG_BROKERS, it uses that Kafka cluster instead; -t and -X reach\n"
	"every child.\n";

struct demo_opts {
	struct common_opts co;
	int64_t duration_ms, users, rate;
	const char *store;
};

#define OFF(field) offsetof(struct demo_opts, field)

/* The demo prints the children's output as it is: it takes no --json. */
static const struct option_spec demo_options[] = {
	OPTION_DURATION(0, "duration", OFF(duration_ms), "how long to run (default 30s)"),
	OPTION_INT(0, "users", "N", OFF(users), 1, 100000, "users in the room, each sending heart-beats (default 50)"),
	OPTION_INT(0, "rate", "N", OFF(rate), 1, 100000, "chat messages per second (default 3)"),
	OPTION_STRING(0, "store", "DIR", OFF(store),
		      "keep the active consumer's store in DIR (default: a temporary one)"),
	OPTION_GROUP(COMMON_HEADING, common_kafka_options, OFF(co)),
	OPTION_GROUP(COMMON_HEADING, common_log_options, OFF(co)),
	OPTION_END
};

struct child {
	const char *name;
	pid_t pid;
	int status;
};

/* A child's argument list, built up with args_push(). */
struct args {
	const char *v[96];
	int n;
};

static void args_push(struct args *a, const char *arg)
{
	if (arg && *arg && a->n < (int)(sizeof(a->v) / sizeof(a->v[0])) - 1)
		a->v[a->n++] = arg;
	a->v[a->n] = NULL;
}

/* Starts this same binary with argv (argv[0] is "pingpong"). */
static pid_t spawn(const struct args *a)
{
	const char *const *argv = a->v;
	pid_t pid = fork();

	if (pid == 0) {
		/* execv() takes char *const[] for historical reasons; it does not write. */
		execv("/proc/self/exe", (char *const *)(uintptr_t)argv);
		fprintf(stderr, "pingpong demo: cannot run %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	return pid;
}

/* Sends SIGTERM and waits for the child, up to 15 s, then SIGKILL. Returns its status. */
static int stop_child(struct child *c)
{
	int64_t deadline = clock_mono_ms() + 15000;
	struct timespec tick = { 0, 20 * 1000000 };

	if (c->pid <= 0)
		return c->status;
	kill(c->pid, SIGTERM);
	for (;;) {
		pid_t r = waitpid(c->pid, &c->status, WNOHANG);
		if (r == c->pid || (r < 0 && errno != EINTR))
			break;
		if (clock_mono_ms() > deadline) {
			log_warn("%s did not stop; killing it", c->name);
			kill(c->pid, SIGKILL);
			waitpid(c->pid, &c->status, 0);
			break;
		}
		nanosleep(&tick, NULL);
	}
	c->pid = 0;
	return c->status;
}

/* Waits until path exists and is not empty (the broker writes it atomically). */
static int wait_for_file(const char *path, struct child *c, int64_t timeout_ms)
{
	int64_t deadline = clock_mono_ms() + timeout_ms;
	struct timespec tick = { 0, 20 * 1000000 };
	struct stat st;

	while (clock_mono_ms() < deadline && !stop_requested) {
		if (stat(path, &st) == 0 && st.st_size > 0)
			return 0;
		if (waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
			c->pid = 0;
			return -1;
		}
		nanosleep(&tick, NULL);
	}
	return -1;
}

static int child_ok(const struct child *c)
{
	return WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0;
}

static void remove_tree(const char *dir)
{
	const char *files[] = { "data.mdb", "lock.mdb", "bootstrap", NULL };
	char path[4096];
	size_t i;

	for (i = 0; files[i]; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/store", dir);
	for (i = 0; i < 2; i++) {
		char p2[4200];
		snprintf(p2, sizeof(p2), "%s/%s", path, files[i]);
		unlink(p2);
	}
	rmdir(path);
	rmdir(dir);
}

static void report_problem(void *arg, const char *problem)
{
	(void)arg;
	log_error("store check: %s", problem);
}

/* Prints the closing summary from the active store. Returns 0 if its check passed. */
static int summarize(const char *store_dir, const char *topic, int kept)
{
	struct store_options so = { .read_only = 1 };
	struct store_stat st;
	struct store *s;
	struct store_txn *t;
	char err[512];
	int problems;

	if (store_open(&s, store_dir, &so, err, sizeof(err)) != 0 || store_bind(s, topic, NULL, err, sizeof(err)) ||
	    store_txn_begin(s, 0, &t, err, sizeof(err)) != 0) {
		log_error("%s", err);
		return -1;
	}
	store_stat(t, &st, err, sizeof(err));
	problems = store_check(t, report_problem, NULL, err, sizeof(err));
	store_txn_abort(t);
	store_close(s);
	printf("\nSummary: %" PRIu64 " users seen, %" PRIu64 " rejected events, store check %s%s%s\n",
	       st.users, st.rejects, problems == 0 ? "ok" : "FAILED", kept ? "; the store is in " : "",
	       kept ? store_dir : "");
	return problems == 0 ? 0 : -1;
}

static int demo_run(int argc, char **argv)
{
	struct demo_opts o = { .duration_ms = 30000, .users = 50, .rate = 3 };
	const char *brokers;
	char tmpdir[] = "/tmp/pingpong-demo.XXXXXX", bsfile[4096], store_dir[4096], bsbuf[1024];
	char users_s[32], rate_s[32], dur_s[32], verbosity[4];
	struct child broker = { "broker", 0, 0 }, producer = { "produce", 0, 0 };
	struct child messages = { "messages", 0, 0 }, active = { "active", 0, 0 };
	struct timespec tick = { 0, 100 * 1000000 };
	int64_t end;
	int rc;

	common_opts_init(&o.co);
	if ((rc = options_parse(&cmd_demo, argc, argv, &o, NULL)) != OPTIONS_CONTINUE)
		return rc;
	rc = EX_OK;
	log_init("demo", o.co.verbosity);
	snprintf(verbosity, sizeof(verbosity), "%s", o.co.verbosity < 0 ? "-q" : o.co.verbosity > 0 ? "-v" : "");
	if (!mkdtemp(tmpdir)) {
		log_error("cannot create a temporary directory: %s", strerror(errno));
		return EX_CANTCREAT;
	}
	signals_install();

	brokers = o.co.brokers && *o.co.brokers ? o.co.brokers : getenv("PINGPONG_BROKERS");
	if (!brokers || !*brokers) {
		struct args a = { .n = 0 };
		FILE *f;

		snprintf(bsfile, sizeof(bsfile), "%s/bootstrap", tmpdir);
		args_push(&a, "pingpong");
		args_push(&a, "broker");
		args_push(&a, "--partitions");
		args_push(&a, "3");
		args_push(&a, "-t");
		args_push(&a, o.co.topic);
		args_push(&a, "--bootstrap-file");
		args_push(&a, bsfile);
		args_push(&a, "-q");
		broker.pid = spawn(&a);
		if (broker.pid < 0 || wait_for_file(bsfile, &broker, 10000) != 0 || !(f = fopen(bsfile, "r"))) {
			log_error("the embedded broker did not start");
			rc = EX_UNAVAILABLE;
			goto stop_all;
		}
		if (!fgets(bsbuf, sizeof(bsbuf), f))
			bsbuf[0] = '\0';
		fclose(f);
		bsbuf[strcspn(bsbuf, "\n")] = '\0';
		brokers = bsbuf;
		log_info("embedded broker on %s", brokers);
	}
	if (o.store)
		snprintf(store_dir, sizeof(store_dir), "%s", o.store);
	else
		snprintf(store_dir, sizeof(store_dir), "%s/store", tmpdir);
	snprintf(users_s, sizeof(users_s), "%" PRId64, o.users);
	snprintf(rate_s, sizeof(rate_s), "%" PRId64, o.rate);
	snprintf(dur_s, sizeof(dur_s), "%" PRId64 "ms", o.duration_ms);

	{
		const char *const m_args[] = { "messages", "-b", brokers, "--linger", "50ms", verbosity, NULL };
		const char *const a_args[] = { "active", "-b", brokers, "--store", store_dir, "--every", "3s",
					       verbosity, NULL };
		const char *const p_args[] = { "produce", "-b", brokers, "--users", users_s, "--rate", rate_s,
					       "--heartbeats", "--duration", dur_s, verbosity, NULL };
		const char *const *lists[] = { m_args, a_args, p_args };
		struct child *children[] = { &messages, &active, &producer };
		size_t i, k;

		/* Consumers first, so they are in their group when the chat starts. */
		for (i = 0; i < 3; i++) {
			struct args a = { .n = 0 };
			args_push(&a, "pingpong");
			for (k = 0; lists[i][k]; k++)
				args_push(&a, lists[i][k]);
			/* -t and -X reach every child, e.g. a real cluster's security settings. */
			args_push(&a, "-t");
			args_push(&a, o.co.topic);
			for (k = 0; k < o.co.props.n && k < 32; k++) {
				args_push(&a, "-X");
				args_push(&a, o.co.props.v[k]);
			}
			children[i]->pid = spawn(&a);
		}
	}
	log_info("running for %s: chat lines below, and the active users every 3 s (Ctrl-C stops)", dur_s);

	end = clock_mono_ms() + o.duration_ms;
	while (!stop_requested && clock_mono_ms() < end) {
		struct child *all[] = { &messages, &active };
		size_t i;
		for (i = 0; i < 2; i++) {
			if (all[i]->pid > 0 && waitpid(all[i]->pid, &all[i]->status, WNOHANG) == all[i]->pid) {
				all[i]->pid = 0;
				log_error("%s stopped unexpectedly", all[i]->name);
				rc = EX_SOFTWARE;
				goto stop_all;
			}
		}
		nanosleep(&tick, NULL);
	}

stop_all:
	stop_child(&producer);
	/* Let the consumers take in the producer's last events before they stop. */
	if (rc == EX_OK && !stop_requested) {
		int64_t drain = clock_mono_ms() + 1000;
		while (clock_mono_ms() < drain)
			nanosleep(&tick, NULL);
	}
	stop_child(&messages);
	stop_child(&active);
	stop_child(&broker);
	if (rc == EX_OK && (!child_ok(&producer) || !child_ok(&messages) || !child_ok(&active))) {
		log_error("a child failed (exit status: produce %d, messages %d, active %d)",
			  WEXITSTATUS(producer.status), WEXITSTATUS(messages.status), WEXITSTATUS(active.status));
		rc = EX_SOFTWARE;
	}
	if (rc == EX_OK && summarize(store_dir, o.co.topic, o.store != NULL) != 0)
		rc = 1;
	if (!o.store)
		remove_tree(tmpdir);
	else
		rmdir(tmpdir), unlink(bsfile);
	options_release(&cmd_demo, &o);
	return rc;
}

const struct command cmd_demo = {
	"demo", "run the chat room on the embedded broker: producer and consumers",
	demo_usage, demo_description, demo_options, NULL, demo_run,
};
