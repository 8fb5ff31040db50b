/* cmd-demo.c: `pingpong demo`, the main job on the embedded broker, in one command.
 *
 * It runs the real commands as child processes, exactly as a user would start them by
 * hand: the broker, the chat-room producer, the messages consumer and the active-users
 * consumer. Their output shares this terminal. At the end it stops them in order
 * (producer, consumers, broker), checks the active store and prints a summary.
 */
#include "config.h"

#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdint.h>
#include <signal.h>
#include <spawn.h>
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

/* Starts this same binary with argv (argv[0] is "pingpong"). Returns its pid, or -1
 * with the reason logged. */
static pid_t spawn(const struct args *a)
{
	pid_t pid;
	/* posix_spawn() takes char *const[] for historical reasons; it does not write. */
	int rc = posix_spawn(&pid, "/proc/self/exe", NULL, NULL, (char *const *)(uintptr_t)a->v, environ);

	if (rc != 0) {
		log_error("cannot run pingpong %s: %s", a->v[1], strerror(rc));
		return -1;
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

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)type;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		log_warn("cannot remove '%s': %s", path, strerror(errno));
	return 0;
}

/* Removes the demo's temporary directory and everything in it (the store, the bootstrap
 * file), depth first and without following links. */
static void remove_tree(const char *dir)
{
	if (nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
		log_warn("cannot remove '%s': %s", dir, strerror(errno));
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

/* A demo run: its children, its temporary directory and the broker list. */
struct demo {
	struct child broker, producer, messages, active;
	char tmpdir[4096];
	char bsfile[4200], store_dir[4200], brokers[1024];
	char verbosity[4];
};

/* Starts the embedded broker in d->tmpdir and reads its bootstrap list into d->brokers.
 * Returns 0, or -1 with the reason logged. */
static int demo_broker_start(struct demo *d, const struct demo_opts *o)
{
	struct args a = { .n = 0 };
	FILE *f;

	snprintf(d->bsfile, sizeof(d->bsfile), "%s/bootstrap", d->tmpdir);
	args_push(&a, "pingpong");
	args_push(&a, "broker");
	args_push(&a, "--partitions");
	args_push(&a, "3");
	args_push(&a, "-t");
	args_push(&a, o->co.topic);
	args_push(&a, "--bootstrap-file");
	args_push(&a, d->bsfile);
	args_push(&a, "-q");
	d->broker.pid = spawn(&a);
	if (d->broker.pid < 0 || wait_for_file(d->bsfile, &d->broker, 10000) != 0 ||
	    !(f = fopen(d->bsfile, "r"))) {
		log_error("the embedded broker did not start");
		return -1;
	}
	if (!fgets(d->brokers, sizeof(d->brokers), f))
		d->brokers[0] = '\0';
	fclose(f);
	d->brokers[strcspn(d->brokers, "\n")] = '\0';
	log_info("embedded broker on %s", d->brokers);
	return 0;
}

/* Starts the consumers, then the producer, so that the consumers are in their group
 * when the chat starts. -t and -X reach every child (e.g. a real cluster's security
 * settings). Returns 0, or -1 if one could not be started. */
static int demo_children_start(struct demo *d, const struct demo_opts *o, const char *brokers)
{
	char users[32], rate[32], duration[32];
	const char *const m_args[] = { "messages", "-b", brokers, "--linger", "50ms", d->verbosity, NULL };
	const char *const a_args[] = { "active", "-b", brokers, "--store", d->store_dir, "--every", "3s",
				       d->verbosity, NULL };
	const char *const p_args[] = { "produce", "-b", brokers, "--users", users, "--rate", rate,
				       "--heartbeats", "--duration", duration, d->verbosity, NULL };
	const char *const *lists[] = { m_args, a_args, p_args };
	struct child *children[] = { &d->messages, &d->active, &d->producer };
	size_t i, k;

	snprintf(users, sizeof(users), "%" PRId64, o->users);
	snprintf(rate, sizeof(rate), "%" PRId64, o->rate);
	snprintf(duration, sizeof(duration), "%" PRId64 "ms", o->duration_ms);
	for (i = 0; i < 3; i++) {
		struct args a = { .n = 0 };
		args_push(&a, "pingpong");
		for (k = 0; lists[i][k]; k++)
			args_push(&a, lists[i][k]);
		args_push(&a, "-t");
		args_push(&a, o->co.topic);
		for (k = 0; k < o->co.props.n && k < 32; k++) {
			args_push(&a, "-X");
			args_push(&a, o->co.props.v[k]);
		}
		if ((children[i]->pid = spawn(&a)) < 0)
			return -1;
	}
	log_info("running for %s: chat lines below, and the active users every 3 s (Ctrl-C stops)", duration);
	return 0;
}

/* Waits until end (monotonic ms) or a signal. Returns 0, or -1 if a consumer stopped. */
static int demo_wait(struct demo *d, int64_t end)
{
	struct timespec tick = { 0, 100 * 1000000 };
	struct child *consumers[] = { &d->messages, &d->active };
	size_t i;

	while (!stop_requested && clock_mono_ms() < end) {
		for (i = 0; i < 2; i++) {
			struct child *c = consumers[i];
			if (c->pid > 0 && waitpid(c->pid, &c->status, WNOHANG) == c->pid) {
				c->pid = 0;
				log_error("%s stopped unexpectedly", c->name);
				return -1;
			}
		}
		nanosleep(&tick, NULL);
	}
	return 0;
}

/* Stops the children in order: the producer, then (after a second for its last events,
 * unless the run failed or was interrupted) the consumers, then the broker. Returns rc,
 * or EX_SOFTWARE if a child failed. */
static int demo_stop(struct demo *d, int rc)
{
	struct timespec tick = { 0, 100 * 1000000 };

	stop_child(&d->producer);
	if (rc == EX_OK && !stop_requested) {
		int64_t drain = clock_mono_ms() + 1000;
		while (clock_mono_ms() < drain)
			nanosleep(&tick, NULL);
	}
	stop_child(&d->messages);
	stop_child(&d->active);
	stop_child(&d->broker);
	if (rc == EX_OK && (!child_ok(&d->producer) || !child_ok(&d->messages) || !child_ok(&d->active))) {
		log_error("a child failed (exit status: produce %d, messages %d, active %d)",
			  WEXITSTATUS(d->producer.status), WEXITSTATUS(d->messages.status),
			  WEXITSTATUS(d->active.status));
		rc = EX_SOFTWARE;
	}
	return rc;
}

static int demo_run(int argc, char **argv)
{
	struct demo_opts o = { .duration_ms = 30000, .users = 50, .rate = 3 };
	struct demo d = { .broker = { "broker", 0, 0 }, .producer = { "produce", 0, 0 },
			  .messages = { "messages", 0, 0 }, .active = { "active", 0, 0 } };
	const char *brokers, *tmp = getenv("TMPDIR");
	int rc;

	common_opts_init(&o.co);
	if ((rc = options_parse(&cmd_demo, argc, argv, &o, NULL)) != OPTIONS_CONTINUE)
		return rc;
	rc = EX_OK;
	log_init("demo", o.co.verbosity);
	snprintf(d.verbosity, sizeof(d.verbosity), "%s", o.co.verbosity < 0 ? "-q" : o.co.verbosity > 0 ? "-v" : "");
	snprintf(d.tmpdir, sizeof(d.tmpdir), "%s/pingpong-demo.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(d.tmpdir)) {
		log_error("cannot create a temporary directory: %s", strerror(errno));
		rc = EX_CANTCREAT;
		goto opts_release;
	}
	signals_install();
	brokers = o.co.brokers && *o.co.brokers ? o.co.brokers : getenv("PINGPONG_BROKERS");
	if (!brokers || !*brokers) {
		if (demo_broker_start(&d, &o) != 0) {
			rc = EX_UNAVAILABLE;
			goto stop_all;
		}
		brokers = d.brokers;
	}
	if (o.store)
		snprintf(d.store_dir, sizeof(d.store_dir), "%s", o.store);
	else
		snprintf(d.store_dir, sizeof(d.store_dir), "%s/store", d.tmpdir);
	if (demo_children_start(&d, &o, brokers) != 0 || demo_wait(&d, clock_mono_ms() + o.duration_ms) != 0)
		rc = EX_SOFTWARE;
stop_all:
	rc = demo_stop(&d, rc);
	if (rc == EX_OK && summarize(d.store_dir, o.co.topic, o.store != NULL) != 0)
		rc = 1;
	if (!o.store) {
		remove_tree(d.tmpdir);
	} else {
		/* The store is the user's: only the broker's file and the directory go. */
		if (*d.bsfile)
			unlink(d.bsfile);
		rmdir(d.tmpdir);
	}
opts_release:
	options_release(&cmd_demo, &o);
	return rc;
}

const struct command cmd_demo = {
	"demo", "run the chat room on the embedded broker: producer and consumers",
	demo_usage, demo_description, demo_options, NULL, demo_run,
};
