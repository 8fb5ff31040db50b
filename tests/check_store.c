/* check_store.c: the Check suite for store.c: the LMDB store's records, index and invariants.
 *
 * Each test gets a fresh mkdtemp directory from a checked fixture; the store lives in its
 * subdirectory "st", which store_open must create. Everything goes through store.h, except
 * where a test has to reach under the API on purpose: to read the file modes, and to
 * corrupt the by_time index or the schema with raw LMDB, writing keys in the layout that
 * the top of store.c documents (so that store_check is judged against the format, not
 * against its own helpers). LMDB allows one environment per file per process, so those
 * tests close the store before the raw edit and reopen it after.
 *
 * Expected results are computed by the tests themselves (which users fall in a range,
 * which rows a key order puts first), never by asking store.c a second time.
 */
#include "config.h"

#include <check.h>
#include <endian.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "store.h"

static char tmp[64];   /* the test's mkdtemp directory */
static char dir[128];  /* tmp/st: the store */
static char err[1024];

static void setup(void)
{
	snprintf(tmp, sizeof(tmp), "/tmp/check_store.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(dir, sizeof(dir), "%s/st", tmp);
	err[0] = '\0';
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void teardown(void)
{
	nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers ------------------------------------------------------------------------ */

static struct store *open_opts(const struct store_options *o)
{
	struct store *s = NULL;
	int rc = store_open(&s, dir, o, err, sizeof(err));

	ck_assert_msg(rc == 0, "store_open: %d: %s", rc, err);
	ck_assert_ptr_nonnull(s);
	return s;
}

static struct store *open_rw(void)
{
	struct store_options o = { .no_sync = 1 }; /* no_sync: the tests never crash the machine */
	return open_opts(&o);
}

static struct store *open_ro(void)
{
	struct store_options o = { .read_only = 1 };
	return open_opts(&o);
}

static struct store_txn *begin(struct store *s, int write)
{
	struct store_txn *t = NULL;
	int rc = store_txn_begin(s, write, &t, err, sizeof(err));

	ck_assert_msg(rc == 0, "store_txn_begin: %d: %s", rc, err);
	return t;
}

static void commit(struct store_txn *t)
{
	int rc = store_txn_commit(t, err, sizeof(err));
	ck_assert_msg(rc == 0, "store_txn_commit: %d: %s", rc, err);
}

/* One event of user at ts in partition p, with an email (or NULL), as store_user_touch
 * takes it. The partition gets a position if it has none: records come with their
 * offsets, and store_check wants them so. */
static void touch_in(struct store_txn *t, int32_t p, const char *user, const char *email, int64_t ts,
		     int64_t floor)
{
	struct store_touch tc = { p, user, strlen(user), ts, 1, email, email ? strlen(email) : 0, ts };
	int64_t next;
	int rc = store_user_touch(t, &tc, floor, INT64_MIN, err, sizeof(err));

	ck_assert_msg(rc == 0, "store_user_touch(%s, %" PRId64 "): %d: %s", user, ts, rc, err);
	if (store_offset_get(t, p, &next, err, sizeof(err)) == STORE_NOTFOUND)
		ck_assert_int_eq(store_offset_put(t, p, 1, err, sizeof(err)), 0);
}

static void touch(struct store_txn *t, const char *user, const char *email, int64_t ts, int64_t floor)
{
	touch_in(t, 0, user, email, ts, floor);
}

/* Asserts the user exists with these values; email NULL means "has none". */
static void assert_user(struct store_txn *t, const char *user, int64_t last_seen, uint64_t count,
			const char *email)
{
	struct store_user u;
	int rc = store_user_get(t, user, strlen(user), &u, err, sizeof(err));

	ck_assert_msg(rc == 0, "store_user_get(%s): %d: %s", user, rc, err);
	ck_assert_int_eq(u.last_seen, last_seen);
	ck_assert_uint_eq(u.count, count);
	if (!email) {
		ck_assert_uint_eq(u.email_len, 0);
	} else {
		ck_assert_uint_eq(u.email_len, strlen(email));
		ck_assert(memcmp(u.email, email, u.email_len) == 0);
	}
}

static void assert_no_user(struct store_txn *t, const char *user)
{
	struct store_user u;
	int rc = store_user_get(t, user, strlen(user), &u, err, sizeof(err));
	ck_assert_msg(rc == STORE_NOTFOUND, "user %s: expected STORE_NOTFOUND, got %d", user, rc);
}

static struct store_stat stat_of(struct store_txn *t)
{
	struct store_stat st;
	int rc = store_stat(t, &st, err, sizeof(err));

	ck_assert_msg(rc == 0, "store_stat: %s", err);
	return st;
}

static int64_t offset_of(struct store_txn *t, int32_t p)
{
	int64_t next = -12345;
	int rc = store_offset_get(t, p, &next, err, sizeof(err));

	ck_assert_msg(rc == 0, "store_offset_get(%d): %d: %s", (int)p, rc, err);
	return next;
}

static int meta_is(struct store_txn *t, const char *key, const char *want)
{
	char buf[512];
	return store_meta_get(t, key, buf, sizeof(buf)) == 0 && strcmp(buf, want) == 0;
}

/* by_time entries seen by store_index_range, copied out of the map. */
#define MAXSEEN 64
struct seen {
	size_t n, total, stop_after; /* stop_after 0: never stop */
	char user[MAXSEEN][32];
	int64_t ts[MAXSEEN];
};

static int seen_add(void *arg, int32_t partition, const char *user, size_t len, int64_t ts)
{
	struct seen *s = arg;

	(void)partition;
	if (s->n < MAXSEEN) {
		snprintf(s->user[s->n], sizeof(s->user[0]), "%.*s", (int)len, user);
		s->ts[s->n] = ts;
		s->n++;
	}
	s->total++;
	return s->stop_after && s->total >= s->stop_after;
}

/* Sorts what range() saw by (time, name): within a second the index is in the order
 * it was written (store.h, schema 6), so the tests compare it in time order, keeping the
 * order of equal entries (a record's entries come in its time order: test_segment_order). */
static void seen_sort(struct seen *s)
{
	size_t i, j;

	for (i = 1; i < s->n; i++)
		for (j = i; j > 0 && (s->ts[j - 1] > s->ts[j] ||
				      (s->ts[j - 1] == s->ts[j] && strcmp(s->user[j - 1], s->user[j]) > 0)); j--) {
			char u[sizeof(s->user[0])];
			int64_t ts = s->ts[j];
			memcpy(u, s->user[j], sizeof(u));
			memcpy(s->user[j], s->user[j - 1], sizeof(u));
			memcpy(s->user[j - 1], u, sizeof(u));
			s->ts[j] = s->ts[j - 1];
			s->ts[j - 1] = ts;
		}
}

static void range(struct store_txn *t, int64_t from, int64_t to, struct seen *s)
{
	size_t stop_after = s->stop_after;
	int rc;

	memset(s, 0, sizeof(*s));
	s->stop_after = stop_after;
	rc = store_index_range(t, from, to, seen_add, s, err, sizeof(err));
	ck_assert_msg(rc == 0, "store_index_range: %d: %s", rc, err);
	seen_sort(s);
}

/* The whole index, as "user@ts" words in key order, against want ("" for none). */
static void assert_index(struct store_txn *t, const char *want)
{
	struct seen r = { 0 };
	char got[MAXSEEN * 48] = "";
	size_t i, len = 0;

	range(t, INT64_MIN, INT64_MAX, &r);
	for (i = 0; i < r.n; i++)
		len += (size_t)snprintf(got + len, sizeof(got) - len, "%s%s@%" PRId64, i ? " " : "", r.user[i], r.ts[i]);
	ck_assert_msg(r.total == r.n && !strcmp(got, want), "by_time holds '%s', not '%s'", got, want);
}

/* Problems reported by store_check. */
struct reports {
	int n;
	char msg[16][256];
};

static void report_add(void *arg, const char *problem)
{
	struct reports *r = arg;

	if (r->n < 16)
		snprintf(r->msg[r->n], sizeof(r->msg[0]), "%s", problem);
	r->n++;
}

/* Index of the one report containing both needles, failing unless exactly one does. */
static int report_find(const struct reports *r, const char *a, const char *b)
{
	int i, found = -1;

	for (i = 0; i < r->n && i < 16; i++) {
		if (strstr(r->msg[i], a) && (!b || strstr(r->msg[i], b))) {
			ck_assert_msg(found < 0, "two reports mention '%s': '%s' and '%s'", a, r->msg[found],
				      r->msg[i]);
			found = i;
		}
	}
	ck_assert_msg(found >= 0, "no report mentions '%s'%s%s", a, b ? " and " : "", b ? b : "");
	return found;
}

static int check(struct store_txn *t, int64_t floor, struct reports *r)
{
	int rc;

	memset(r, 0, sizeof(*r));
	rc = store_check_at(t, floor, report_add, r, err, sizeof(err));
	ck_assert_msg(rc >= 0, "store_check: %s", err);
	ck_assert_int_eq(rc, r->n);
	return rc;
}

/* In a read txn of its own: the whole index is want, and store_check finds nothing
 * wrong with it at floor. */
static void assert_index_checked(struct store *s, const char *want, int64_t floor)
{
	struct store_txn *t = begin(s, 0);
	struct reports rep;

	assert_index(t, want);
	ck_assert_int_eq(check(t, floor, &rep), 0);
	store_txn_abort(t);
}

/* ---- raw LMDB, for the tests that must get under the API ----------------------------- */

struct raw {
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
};

static void raw_open(struct raw *r, const char *db)
{
	int rc;

	ck_assert_int_eq(mdb_env_create(&r->env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(r->env, 10), 0);
	rc = mdb_env_open(r->env, dir, 0, 0600);
	ck_assert_msg(rc == 0, "mdb_env_open: %s", mdb_strerror(rc));
	ck_assert_int_eq(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
	rc = mdb_dbi_open(r->txn, db, 0, &r->dbi);
	ck_assert_msg(rc == 0, "mdb_dbi_open(%s): %s", db, mdb_strerror(rc));
}

static void raw_close(struct raw *r)
{
	ck_assert_int_eq(mdb_txn_commit(r->txn), 0);
	mdb_env_close(r->env);
}

/* A by_time key as store.c's header documents it: be64(ts) be32(partition) user, here
 * of partition 0. */
/* A by_time segment of schema 6 written by hand (store.c): its key, of the second of ts
 * and write number no, and its value, one entry of partition 0 at ts. */
static MDB_val raw_segment_key(unsigned char *buf, int64_t ts, uint64_t no)
{
	uint64_t be = htobe64((uint64_t)(ts - ts % 1000)), beno = htobe64(no);

	memcpy(buf, &be, 8);
	memcpy(buf + 8, &beno, 8);
	return (MDB_val){ 16, buf };
}

static MDB_val raw_segment_entry(unsigned char *buf, int64_t ts, const char *user)
{
	size_t len = strlen(user);
	uint64_t be = htobe64((uint64_t)ts);

	memset(buf, 0, 4);
	buf[4] = (unsigned char)len;
	memcpy(buf + 5, &be, 8);
	memcpy(buf + 13, user, len);
	return (MDB_val){ 13 + len, buf };
}

/* Deletes the by_time segment that holds user's entry (each segment here holds one). */
static void raw_delete_segment_of(struct raw *raw, const char *user)
{
	MDB_cursor *cur;
	MDB_val k, v;
	size_t len = strlen(user);
	int rc, found = 0;

	ck_assert_int_eq(mdb_cursor_open(raw->txn, raw->dbi, &cur), 0);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && !found; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if (v.mv_size == 13 + len && !memcmp((char *)v.mv_data + 13, user, len)) {
			ck_assert_int_eq(mdb_cursor_del(cur, 0), 0);
			found = 1;
		}
	mdb_cursor_close(cur);
	ck_assert_msg(found, "no segment of '%s'", user);
}

/* ---- open and bind ----------------------------------------------------------------- */

START_TEST(test_open_creates_private_files)
{
	mode_t old = umask(0); /* the modes must come from store_open, not from the umask */
	struct store *s = open_rw();
	char path[256];
	struct stat st;

	umask(old);
	ck_assert_str_eq(store_dir(s), dir);
	ck_assert_int_eq(stat(dir, &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0700);
	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	store_close(s);

	s = open_rw(); /* reopening an existing store */
	ck_assert_str_eq(store_dir(s), dir);
	store_close(s);
}
END_TEST

START_TEST(test_open_failures)
{
	struct store_options ro = { .read_only = 1 }, rw = { 0 };
	struct store *s = NULL;
	char path[256];
	FILE *f;

	/* read-only never creates */
	ck_assert_int_eq(store_open(&s, dir, &ro, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, dir) != NULL, "error does not name the store: %s", err);
	ck_assert_int_eq(access(dir, F_OK), -1);

	/* not a directory */
	snprintf(path, sizeof(path), "%s/file", tmp);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(store_open(&s, path, &rw, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a directory") != NULL, "%s", err);

	/* an empty directory is no store to read */
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(store_open(&s, dir, &ro, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, dir) != NULL, "%s", err);
}
END_TEST

/* ---- refusals: what a store must not be (issue 10) ---------------------------------- */

START_TEST(test_refuse_open_directory)
{
	struct store *s = NULL;

	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(chmod(dir, 0777), 0); /* made by someone else, for everyone */
	ck_assert_int_eq(store_open(&s, dir, &(struct store_options){ .no_sync = 1 }, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "written by others") && strstr(err, "chmod"), "%s", err);
	ck_assert_int_eq(store_open(&s, dir, &(struct store_options){ .read_only = 1 }, err, sizeof(err)), -1);
	ck_assert_int_eq(access(dir, F_OK), 0);
	ck_assert_int_eq(chmod(dir, 0755), 0); /* readable by others is the owner's choice */
	store_close(open_rw());
}
END_TEST

START_TEST(test_refuse_symlinks)
{
	char target[256], file[256];
	struct store *s = NULL;

	snprintf(target, sizeof(target), "%s/elsewhere", tmp);
	ck_assert_int_eq(mkdir(target, 0700), 0);
	ck_assert_int_eq(symlink(target, dir), 0);
	ck_assert_int_eq(store_open(&s, dir, &(struct store_options){ .no_sync = 1 }, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "symbolic link"), "%s", err);
	ck_assert_int_eq(unlink(dir), 0);
	/* a dangling link is refused the same way, not "File exists" */
	ck_assert_int_eq(symlink("/nonexistent/pp", dir), 0);
	ck_assert_int_eq(store_open(&s, dir, &(struct store_options){ .no_sync = 1 }, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "symbolic link"), "%s", err);
	ck_assert_int_eq(unlink(dir), 0);
	/* a file of the store that is a link */
	ck_assert_int_eq(mkdir(dir, 0700), 0);
	snprintf(file, sizeof(file), "%s/data.mdb", dir);
	snprintf(target, sizeof(target), "%s/elsewhere/data.mdb", tmp);
	ck_assert_int_eq(symlink(target, file), 0);
	ck_assert_int_eq(store_open(&s, dir, &(struct store_options){ .no_sync = 1 }, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "data.mdb is a symbolic link"), "%s", err);
	ck_assert_int_eq(access(target, F_OK), -1); /* nothing was written through it */
}
END_TEST

START_TEST(test_refuse_open_files)
{
	char file[256];

	store_close(open_rw());
	snprintf(file, sizeof(file), "%s/data.mdb", dir);
	ck_assert_int_eq(chmod(file, 0666), 0);
	{
		struct store *s = NULL;
		ck_assert_int_eq(store_open(&s, dir, &(struct store_options){ .no_sync = 1 }, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, "data.mdb has mode 0666") && strstr(err, "chmod 600"), "%s", err);
	}
	ck_assert_int_eq(chmod(file, 0600), 0);
	store_close(open_rw());
}
END_TEST

/* Another program's LMDB environment: refused, and left as it was. */
START_TEST(test_refuse_foreign_environment)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { 3, (void *)"key" }, v = { 3, (void *)"val" };
	struct store *s = NULL;
	struct stat before, after;
	char file[256];

	ck_assert_int_eq(mkdir(dir, 0700), 0);
	ck_assert_int_eq(mdb_env_create(&env), 0);
	ck_assert_int_eq(mdb_env_set_maxdbs(env, 2), 0);
	ck_assert_int_eq(mdb_env_open(env, dir, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "theirs", MDB_CREATE, &dbi), 0);
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
	snprintf(file, sizeof(file), "%s/data.mdb", dir);
	ck_assert_int_eq(stat(file, &before), 0);

	ck_assert_int_eq(store_open(&s, dir, &(struct store_options){ .no_sync = 1 }, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a pingpong store"), "%s", err);
	ck_assert_int_eq(store_open(&s, dir, &(struct store_options){ .read_only = 1 }, err, sizeof(err)), -1);
	ck_assert_int_eq(stat(file, &after), 0);
	ck_assert_int_eq(after.st_size, before.st_size); /* not grown to our map */
}
END_TEST

START_TEST(test_refuse_other_kind)
{
	struct store *s = open_opts(&(struct store_options){ .no_sync = 1, .kind = "notify" });

	store_close(s);
	ck_assert_int_eq(store_open(&s, dir, &(struct store_options){ .no_sync = 1, .kind = "active" }, err,
				    sizeof(err)), -1);
	ck_assert_msg(strstr(err, "notify") && strstr(err, "'active' cannot use it"), "%s", err);
	ck_assert_int_eq(store_open(&s, dir, &(struct store_options){ .read_only = 1, .kind = "active" }, err,
				    sizeof(err)), -1);
	store_close(open_opts(&(struct store_options){ .read_only = 1, .kind = "notify" }));
	store_close(open_opts(&(struct store_options){ .read_only = 1 })); /* queries read any */
}
END_TEST

/* Two members creating the same store at once: mkdir's EEXIST is the other's success. */
START_TEST(test_concurrent_create)
{
	int i;

	for (i = 0; i < 20; i++) {
		pid_t pid;
		int status;
		char sub[200];

		snprintf(sub, sizeof(sub), "%s/race%d", tmp, i);
		pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			struct store *s;
			_exit(store_open(&s, sub, &(struct store_options){ .no_sync = 1 }, err, sizeof(err)) == 0 ? 0 : 1);
		} else {
			struct store *s = NULL;
			int rc = store_open(&s, sub, &(struct store_options){ .no_sync = 1 }, err, sizeof(err));
			ck_assert_msg(rc == 0, "%s", err);
			store_close(s);
			ck_assert_int_eq(waitpid(pid, &status, 0), pid);
			ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the other member failed");
		}
	}
}
END_TEST

/* A truncated file is refused before any page is read (it would fault with SIGBUS). */
START_TEST(test_refuse_truncated)
{
	struct store *s = open_rw();
	struct store_txn *t = begin(s, 1);
	char name[32], file[256];
	int i;

	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "user%05d", i);
		touch(t, name, "someone@example.org", 1000 + i, 0);
	}
	commit(t);
	store_close(s);
	snprintf(file, sizeof(file), "%s/data.mdb", dir);
	ck_assert_int_eq(truncate(file, 100 * 1024), 0);
	ck_assert_int_eq(store_open(&s, dir, &(struct store_options){ .read_only = 1 }, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "damaged") && strstr(err, "truncated"), "%s", err);
}
END_TEST

/* Garbage pages: reading them must end the process with a message and status 74, never
 * by a signal. The reading is done in a child, which is what a command is. */
START_TEST(test_damaged_pages_exit_74)
{
	struct store *s = open_rw();
	struct store_txn *t = begin(s, 1);
	char name[32], file[256];
	unsigned char junk[4096];
	int i, status;
	pid_t pid;
	FILE *f;

	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "user%05d", i);
		touch(t, name, "someone@example.org", 1000 + i, 0);
	}
	commit(t);
	store_close(s);
	snprintf(file, sizeof(file), "%s/data.mdb", dir);
	f = fopen(file, "r+b");
	ck_assert_ptr_nonnull(f);
	for (i = 0; i < (int)sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 151 + 7);
	for (i = 3; i < 300; i += 7) { /* every 7th page from the 4th: tree pages, surely */
		ck_assert_int_eq(fseek(f, (long)i * 4096, SEEK_SET), 0);
		ck_assert_uint_eq(fwrite(junk, 1, sizeof(junk), f), sizeof(junk));
	}
	fclose(f);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct reports rep;
		int rc;
		if (store_open(&s, dir, &(struct store_options){ .read_only = 1 }, err, sizeof(err)) != 0)
			_exit(74); /* refused at open: also fine */
		t = begin(s, 0);
		memset(&rep, 0, sizeof(rep));
		rc = store_check_at(t, 0, report_add, &rep, err, sizeof(err));
		_exit(rc < 0 ? 74 : rc > 0 ? 1 : 0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(!WIFSIGNALED(status), "the reader died by signal %d", WTERMSIG(status));
	ck_assert_msg(WEXITSTATUS(status) == 74 || WEXITSTATUS(status) == 1, "exit status %d", WEXITSTATUS(status));
}
END_TEST

/* A file truncated under an open store: the next read past its end faults (SIGBUS), and
 * the fault handler turns that into a message and status 74. */
START_TEST(test_fault_handler_exit_74)
{
	struct store *s = open_rw();
	struct store_txn *t = begin(s, 1);
	char name[32], file[256];
	int i, status, errpipe[2];
	char msg[512] = "";
	ssize_t got;
	pid_t pid;

	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "user%05d", i);
		touch(t, name, "someone@example.org", 1000 + i, 0);
	}
	commit(t);
	store_close(s);
	snprintf(file, sizeof(file), "%s/data.mdb", dir);
	ck_assert_int_eq(pipe(errpipe), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(errpipe[1], STDERR_FILENO);
		if (store_open(&s, dir, &(struct store_options){ .read_only = 1 }, err, sizeof(err)) != 0)
			_exit(3);
		if (truncate(file, 8192) != 0)
			_exit(4);
		t = begin(s, 0);
		store_check_at(t, 0, NULL, NULL, err, sizeof(err));
		_exit(5); /* not reached: the walk faults */
	}
	close(errpipe[1]);
	{
		size_t have = 0;
		while (have < sizeof(msg) - 1 && (got = read(errpipe[0], msg + have, sizeof(msg) - 1 - have)) > 0)
			have += (size_t)got;
		msg[have] = '\0';
	}
	close(errpipe[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(!WIFSIGNALED(status), "died by signal %d", WTERMSIG(status));
	ck_assert_int_eq(WEXITSTATUS(status), 74);
	ck_assert_msg(strstr(msg, "is damaged: SIGBUS") && strstr(msg, "store check"), "%s", msg);
}
END_TEST

/* Deleting lock.mdb under a live writer: the writer stops at its next write txn, and a
 * new process refuses the store while that writer lives. */
START_TEST(test_lock_file_replaced)
{
	struct store *s = open_rw();
	struct store_txn *t;
	char lock[256];
	int up[2], down[2], status; /* child to parent, parent to child */
	pid_t pid;

	store_close(s);
	snprintf(lock, sizeof(lock), "%s/lock.mdb", dir);
	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(down), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) { /* the live writer */
		char c;
		s = open_rw();
		if (write(up[1], "o", 1) != 1 || read(down[0], &c, 1) != 1)
			_exit(2);
		/* the lock file is gone now: the next write txn must be refused */
		_exit(store_txn_begin(s, 1, &t, err, sizeof(err)) != 0 && strstr(err, "lock file") ? 0 : 1);
	}
	{
		char c;
		ck_assert_int_eq(read(up[0], &c, 1), 1);
	}
	ck_assert_int_eq(unlink(lock), 0);
	s = NULL;
	ck_assert_int_eq(store_open(&s, dir, &(struct store_options){ .no_sync = 1 }, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "lock file was replaced") && strstr(err, "stop process"), "%s", err);
	ck_assert_int_eq(write(down[1], "g", 1), 1);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the writer did not notice: %d", status);
	/* with the writer gone, the store opens again */
	store_close(open_rw());
	close(up[0]);
	close(up[1]);
	close(down[0]);
	close(down[1]);
}
END_TEST

START_TEST(test_bind)
{
	struct store *s = open_rw();
	struct store_txn *t;

	ck_assert_int_eq(store_bind(s, "chat", "grp", err, sizeof(err)), 0);
	t = begin(s, 0);
	ck_assert(meta_is(t, "topic", "chat"));
	ck_assert(meta_is(t, "group", "grp"));
	store_txn_abort(t);
	store_close(s);

	s = open_rw();
	ck_assert_int_eq(store_bind(s, "chat", "grp", err, sizeof(err)), 0);
	ck_assert_int_eq(store_bind(s, "chat", NULL, err, sizeof(err)), 0); /* group not checked */

	err[0] = '\0';
	ck_assert_int_eq(store_bind(s, "other", "grp", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "topic") && strstr(err, "'chat'") && strstr(err, "'other'"),
		      "message does not name the store's topic: %s", err);

	err[0] = '\0';
	ck_assert_int_eq(store_bind(s, "chat", "rival", err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "group") && strstr(err, "'grp'") && strstr(err, "'rival'"),
		      "message does not name the store's group: %s", err);

	/* the failures recorded nothing */
	t = begin(s, 0);
	ck_assert(meta_is(t, "topic", "chat"));
	ck_assert(meta_is(t, "group", "grp"));
	store_txn_abort(t);
	store_close(s);
}
END_TEST

START_TEST(test_bind_long_group_refused)
{
	char group[301];
	struct store *s;
	int rc;

	/* A name longer than the meta buffers could never be matched on reopen: refuse it. */
	memset(group, 'g', sizeof(group) - 1);
	group[sizeof(group) - 1] = '\0';
	s = open_rw();
	rc = store_bind(s, "chat", group, err, sizeof(err));
	store_close(s);
	ck_assert_int_eq(rc, -1);
	ck_assert_msg(strstr(err, "255 bytes") != NULL, "%s", err);

	/* 255 bytes is fine, and the same consumer restarting is let in. */
	group[255] = '\0';
	s = open_rw();
	ck_assert_int_eq(store_bind(s, "chat", group, err, sizeof(err)), 0);
	store_close(s);
	s = open_rw();
	rc = store_bind(s, "chat", group, err, sizeof(err));
	store_close(s);
	ck_assert_msg(rc == 0, "rebinding the same 255-byte group failed: %s", err);
}
END_TEST

START_TEST(test_read_only)
{
	struct store *s = open_rw();
	struct store_txn *t;

	ck_assert_int_eq(store_bind(s, "chat", "grp", err, sizeof(err)), 0);
	t = begin(s, 1);
	touch(t, "alice", "a@example.org", 1000, 0);
	ck_assert_int_eq(store_offset_put(t, 0, 17, err, sizeof(err)), 0);
	commit(t);
	store_close(s);

	s = open_ro();
	ck_assert_int_eq(store_bind(s, "chat", NULL, err, sizeof(err)), 0);
	ck_assert_int_eq(store_bind(s, "chat", "grp", err, sizeof(err)), 0);
	ck_assert_int_eq(store_txn_begin(s, 1, &t, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "read-only") != NULL, "%s", err);

	/* the named databases opened read-only stay usable after open */
	t = begin(s, 0);
	assert_user(t, "alice", 1000, 1, "a@example.org");
	ck_assert_int_eq(offset_of(t, 0), 17);
	ck_assert(meta_is(t, "schema", STORE_SCHEMA_VERSION));
	store_txn_abort(t);

	ck_assert_int_eq(store_bind(s, "other", NULL, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "'chat'") != NULL, "%s", err);
	store_close(s);
}
END_TEST

/* ---- users and the by_time index ---------------------------------------------------- */

START_TEST(test_touch_and_range)
{
	struct store *s = open_rw();
	struct store_txn *t = begin(s, 1);
	struct seen r = { 0 };

	touch(t, "alice", "alice@example.org", 1000, 0);
	touch(t, "bob", NULL, 2000, 0);
	touch(t, "dave", "dave@example.org", 3000, 0);
	touch(t, "carol", "carol@example.org", 3000, 0);
	touch(t, "erin", NULL, 4000, 0);
	commit(t);

	t = begin(s, 0);
	assert_user(t, "alice", 1000, 1, "alice@example.org");
	assert_user(t, "bob", 2000, 1, NULL);
	assert_user(t, "carol", 3000, 1, "carol@example.org");
	assert_no_user(t, "frank");
	assert_no_user(t, "alic");

	/* (1000, 3000]: from is excluded, to included; ties in name order */
	range(t, 1000, 3000, &r);
	ck_assert_uint_eq(r.n, 3);
	ck_assert_str_eq(r.user[0], "bob");
	ck_assert_int_eq(r.ts[0], 2000);
	ck_assert_str_eq(r.user[1], "carol");
	ck_assert_int_eq(r.ts[1], 3000);
	ck_assert_str_eq(r.user[2], "dave");
	ck_assert_int_eq(r.ts[2], 3000);

	range(t, 999, 1000, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq(r.user[0], "alice");

	range(t, 1000, 2999, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq(r.user[0], "bob");

	range(t, 3000, 3999, &r);
	ck_assert_uint_eq(r.n, 0);
	range(t, 4000, INT64_MAX, &r);
	ck_assert_uint_eq(r.n, 0);
	range(t, 3000, 2000, &r); /* empty interval */
	ck_assert_uint_eq(r.n, 0);

	range(t, INT64_MIN, INT64_MAX, &r);
	ck_assert_uint_eq(r.n, 5);
	ck_assert_str_eq(r.user[0], "alice");
	ck_assert_str_eq(r.user[4], "erin");

	r.stop_after = 2; /* fn's non-zero return stops the walk */
	range(t, 0, INT64_MAX, &r);
	ck_assert_uint_eq(r.total, 2);
	ck_assert_str_eq(r.user[1], "bob");
	store_txn_abort(t);
	store_close(s);
}
END_TEST

START_TEST(test_out_of_order_and_duplicates)
{
	struct store *s = open_rw();
	struct store_txn *t;
	struct reports rep;

	t = begin(s, 1);
	touch(t, "alice", "a1@example.org", 100, 0);
	commit(t);
	t = begin(s, 1);
	touch(t, "alice", NULL, 50, 0); /* late: count moves, last_seen does not */
	touch(t, "bob", NULL, 50, 0);
	commit(t);
	t = begin(s, 1);
	touch(t, "alice", NULL, 100, 0); /* duplicate time */
	touch(t, "bob", NULL, 120, 0);   /* the entry moves forward */
	touch(t, "bob", "b@example.org", 70, 0);
	commit(t);

	t = begin(s, 0);
	assert_user(t, "alice", 100, 3, "a1@example.org"); /* a NULL email keeps the old one */
	assert_user(t, "bob", 120, 3, "b@example.org");
	/* The index is append-only: bob's entry at 50 stays, stale, until pruned. */
	assert_index(t, "bob@50 alice@100 bob@120");
	ck_assert_uint_eq(stat_of(t).index, 3);
	ck_assert_uint_eq(stat_of(t).users, 2);
	ck_assert_int_eq(check(t, 0, &rep), 0);
	store_txn_abort(t);

	/* The email goes by event time, not by arrival: an older event's does not replace
	 * a newer one's, a newer one's does, and a tie goes to the greater bytes. */
	t = begin(s, 1);
	touch(t, "alice", "a2@example.org", 10, 0);
	commit(t);
	t = begin(s, 0);
	assert_user(t, "alice", 100, 4, "a1@example.org");
	store_txn_abort(t);
	t = begin(s, 1);
	touch(t, "alice", "a0@example.org", 100, 0); /* same time, smaller bytes */
	touch(t, "bob", "b@example.org.longer", 70, 0); /* same time, longer: greater */
	commit(t);
	t = begin(s, 0);
	assert_user(t, "alice", 100, 5, "a1@example.org");
	assert_user(t, "bob", 120, 4, "b@example.org.longer");
	store_txn_abort(t);
	t = begin(s, 1);
	touch(t, "alice", "z@x", 100, 0);  /* same time, greater bytes, another size */
	touch(t, "bob", "c@x", 71, 0);     /* newer, shorter */
	commit(t);
	t = begin(s, 0);
	assert_user(t, "alice", 100, 6, "z@x");
	assert_user(t, "bob", 120, 5, "c@x");
	ck_assert_int_eq(check(t, 0, &rep), 0);
	store_txn_abort(t);
	store_close(s);
}
END_TEST

/* The edges of store_user_touch()'s LMDB fast paths (see the comment above it in
 * store.c). MDB_CURRENT is taken only when a record keeps its size: here records keep
 * it, grow and shrink by one byte, lose their email and gain one, over enough users to
 * fill and split pages, with the expected records computed here. With the old
 * MDB_SET_KEY + MDB_CURRENT this corrupted the users database at once. */
#define NEDGE 3000
START_TEST(test_touch_record_size_edges)
{
	struct store *s = open_rw();
	struct store_txn *t;
	struct reports rep;
	char name[32], email[64];
	int i, round;
	static int elen[NEDGE]; /* the email's length each user must have; 0: none */

	t = begin(s, 1);
	for (i = 0; i < NEDGE; i++) {
		snprintf(name, sizeof(name), "user%05d", i);
		elen[i] = 20;
		snprintf(email, sizeof(email), "%-20.20s", name);
		touch(t, name, email, 1000, 0);
	}
	commit(t);
	/* Each round: the same size, one byte more, one less, none, and back, by user. */
	for (round = 1; round <= 6; round++) {
		t = begin(s, 1);
		for (i = 0; i < NEDGE; i++) {
			int want;
			snprintf(name, sizeof(name), "user%05d", i);
			switch ((i + round) % 5) {
			case 0: want = elen[i] ? elen[i] : 20; break; /* the same size */
			case 1: want = elen[i] ? elen[i] + 1 : 1; break;
			case 2: want = elen[i] > 1 ? elen[i] - 1 : 0; break;
			case 3: want = 0; break;                       /* no email: keeps the old */
			default: want = 40; break;
			}
			if (want) {
				memset(email, 'a' + round, (size_t)want);
				email[want] = '\0';
				elen[i] = want;
			}
			/* later each round, so the new email always wins */
			touch(t, name, want ? email : NULL, 1000 + round, 0);
		}
		commit(t);
		t = begin(s, 0);
		ck_assert_int_eq(check(t, 0, &rep), 0);
		ck_assert_uint_eq(stat_of(t).users, NEDGE);
		/* An entry per user per round: the older ones stale, left for pruning. */
		ck_assert_uint_eq(stat_of(t).index, (uint64_t)NEDGE * (uint64_t)(round + 1));
		for (i = 0; i < NEDGE; i++) {
			struct store_user u;
			snprintf(name, sizeof(name), "user%05d", i);
			ck_assert_int_eq(store_user_get(t, name, strlen(name), &u, err, sizeof(err)), 0);
			ck_assert_int_eq(u.last_seen, 1000 + round);
			ck_assert_uint_eq(u.count, (uint64_t)round + 1);
			ck_assert_uint_eq(u.email_len, (size_t)elen[i]);
		}
		store_txn_abort(t);
	}
	store_close(s);
}
END_TEST

/* A text dump of a store's records and index entries, to compare two stores. */
struct dump {
	char *buf;
	size_t len, cap;
};

static void dump_add(struct dump *d, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(d->buf + d->len, d->cap - d->len, fmt, ap);
		va_end(ap);
		ck_assert_int_ge(n, 0);
		if ((size_t)n < d->cap - d->len)
			break;
		d->cap = 2 * d->cap + (size_t)n + 1;
		d->buf = realloc(d->buf, d->cap);
		ck_assert_ptr_nonnull(d->buf);
	}
	d->len += (size_t)n;
}

static int dump_record(void *arg, int32_t partition, const char *user, size_t len, const struct store_user *u)
{
	dump_add(arg, "record %d %.*s %" PRId64 " %" PRIu64 " %" PRId64 " %.*s\n", (int)partition, (int)len, user,
		 u->last_seen, u->count, u->email_ts, u->email ? (int)u->email_len : 4,
		 u->email ? u->email : "none");
	return 0;
}

static int dump_entry(void *arg, int32_t partition, const char *user, size_t len, int64_t ts)
{
	dump_add(arg, "entry %" PRId64 " %d %.*s\n", ts, (int)partition, (int)len, user);
	return 0;
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The records, then the index entries sorted: within a second the index is in the order
 * it was written (store.h), which depends on how the touches were grouped. */
static char *dump_store(struct store_txn *t)
{
	struct dump d = { NULL, 0, 0 }, e = { NULL, 0, 0 };
	char **lines = NULL, *p;
	size_t n = 0, i;

	dump_add(&d, "%s", "");
	dump_add(&e, "%s", "");
	ck_assert_int_eq(store_records_each(t, dump_record, &d, err, sizeof(err)), 0);
	ck_assert_int_eq(store_index_range(t, INT64_MIN, INT64_MAX, dump_entry, &e, err, sizeof(err)), 0);
	for (p = strtok(e.buf, "\n"); p; p = strtok(NULL, "\n")) {
		lines = realloc(lines, (n + 1) * sizeof(*lines));
		ck_assert_ptr_nonnull(lines);
		lines[n++] = p;
	}
	if (n > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(lines, n, sizeof(*lines), line_cmp);
	for (i = 0; i < n; i++)
		dump_add(&d, "%s\n", lines[i]);
	free(lines);
	free(e.buf);
	return d.buf;
}

/* Asserts two dumps are the same, naming the first line where they differ. */
static void assert_same_dump(const char *a, const char *b)
{
	size_t i = 0, line = 0;

	while (a[i] && a[i] == b[i])
		i++;
	if (a[i] == b[i])
		return;
	while (i > 0 && a[i - 1] != '\n')
		i--;
	for (size_t k = 0; k < i; k++)
		line += a[k] == '\n';
	ck_assert_msg(0, "dumps differ at line %zu: '%.100s' against '%.100s'", line + 1, a + i, b + i);
}

/* store_users_touch() writes the records as it is given them and adds their index
 * entries afterwards, sorted by time (a radix sort over the bytes in which the times
 * differ): the store must come out as from the same touches one at a time. Times
 * straddle the sort's byte boundaries and repeat; users repeat within a batch, names
 * and partitions vary, emails come and go, some touches leave last_seen as it was or
 * fall below the floor, some users are forgotten. */
START_TEST(test_touch_batch_as_one_by_one)
{
	static const int64_t bases[] = { 1, 0xff, 0x100, 0xfff0, 0x10000, 0xffffff, 0x1000000,
					 (int64_t)1 << 40, ((int64_t)1 << 40) + 0xff00, INT64_MAX - 300 };
	static const char *const names[] = { "a", "bob", "Zoë", "user00001", "user00002", "user000010",
					     "ürsula-the-longest-name-in-this-test-xx", "carol", "dave", "émile" };
	struct store *sa, *sb;
	char dir_a[sizeof(dir)], dir_b[sizeof(dir)];
	unsigned seed = 7;
	int64_t floor = INT64_MIN;
	int round;

	snprintf(dir_a, sizeof(dir_a), "%s", dir);
	snprintf(dir_b, sizeof(dir_b), "%s/st-one", tmp);
	sa = open_rw();
	snprintf(dir, sizeof(dir), "%s", dir_b);
	sb = open_rw();
	snprintf(dir, sizeof(dir), "%s", dir_a);
	for (round = 0; round < 40; round++) {
		struct store_touch tcs[300];
		char emails[300][16];
		struct store_txn *ta = begin(sa, 1), *tb = begin(sb, 1);
		int64_t forget_below = round % 3 == 2 ? floor : INT64_MIN;
		struct reports rep;
		char *da, *db;
		size_t n = 1 + rand_r(&seed) % 300, i;
		int32_t p;

		for (i = 0; i < n; i++) {
			int64_t ts = bases[rand_r(&seed) % 10] + (int64_t)(rand_r(&seed) % 256) - 128;
			const char *name = names[rand_r(&seed) % 10];

			if (ts <= 0)
				ts = 1 + rand_r(&seed) % 3;
			snprintf(emails[i], sizeof(emails[i]), "e%u@x", rand_r(&seed) % 5);
			tcs[i] = (struct store_touch){ (int32_t)(rand_r(&seed) % 4), name, strlen(name), ts,
						       1 + rand_r(&seed) % 3, NULL, 0, ts };
			if (rand_r(&seed) % 2) {
				tcs[i].email = emails[i];
				tcs[i].email_len = strlen(emails[i]);
			}
		}
		ck_assert_int_eq(store_users_touch(ta, tcs, n, floor, forget_below, err, sizeof(err)), 0);
		for (i = 0; i < n; i++)
			ck_assert_int_eq(store_user_touch(tb, &tcs[i], floor, forget_below, err, sizeof(err)), 0);
		for (p = 0; p < 4; p++) {
			ck_assert_int_eq(store_offset_put(ta, p, round + 1, err, sizeof(err)), 0);
			ck_assert_int_eq(store_offset_put(tb, p, round + 1, err, sizeof(err)), 0);
		}
		commit(ta);
		commit(tb);
		ta = begin(sa, 0);
		tb = begin(sb, 0);
		da = dump_store(ta);
		db = dump_store(tb);
		assert_same_dump(da, db);
		ck_assert_int_eq(check(ta, floor, &rep), 0);
		free(da);
		free(db);
		store_txn_abort(ta);
		store_txn_abort(tb);
		if (round % 4 == 3) /* the floor moves up, past some of the times */
			floor = bases[round / 4] + 64;
	}
	store_close(sa);
	store_close(sb);
}
END_TEST

/* MDB_APPEND on by_time: a key after the last appends, one equal to or before it gets
 * MDB_KEYEXIST and goes in the ordinary way, in order. */
START_TEST(test_index_append_edges)
{
	struct store *s = open_rw();
	struct store_txn *t = begin(s, 1);
	struct seen r = { 0 };
	struct reports rep;

	touch(t, "mike", NULL, 500, 0);  /* the first entry */
	touch(t, "nina", NULL, 500, 0);  /* the same time, a greater name: after the last */
	touch(t, "alan", NULL, 500, 0);  /* the same time, a smaller name: before the last */
	touch(t, "zed", NULL, 400, 0);   /* an earlier time */
	touch(t, "omar", NULL, 600, 0);  /* a later time */
	touch(t, "omar", NULL, 600, 0);  /* the same key as the last */
	commit(t);
	t = begin(s, 0);
	range(t, INT64_MIN, INT64_MAX, &r);
	ck_assert_uint_eq(r.n, 5);
	ck_assert_str_eq(r.user[0], "zed");
	ck_assert_str_eq(r.user[1], "alan");
	ck_assert_str_eq(r.user[2], "mike");
	ck_assert_str_eq(r.user[3], "nina");
	ck_assert_str_eq(r.user[4], "omar");
	assert_user(t, "omar", 600, 2, NULL);
	ck_assert_int_eq(check(t, 0, &rep), 0);
	store_txn_abort(t);
	store_close(s);
}
END_TEST

START_TEST(test_index_floor)
{
	struct store *s = open_rw();
	struct store_txn *t = begin(s, 1);
	struct seen r = { 0 };
	struct reports rep;

	touch(t, "carol", "c@example.org", 10, 100);
	touch(t, "dan", NULL, 150, 100);
	commit(t);

	t = begin(s, 0);
	assert_user(t, "carol", 10, 1, "c@example.org");
	range(t, INT64_MIN, INT64_MAX, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq(r.user[0], "dan");
	ck_assert_uint_eq(stat_of(t).index, 1);
	ck_assert_int_eq(check(t, 100, &rep), 0);
	/* below the floor is what made it legal: a lower floor wants carol's entry */
	ck_assert_int_eq(check(t, 0, &rep), 1);
	report_find(&rep, "carol", NULL);
	store_txn_abort(t);

	t = begin(s, 1);
	touch(t, "carol", NULL, 200, 100); /* back within the floor: indexed again */
	commit(t);
	t = begin(s, 0);
	assert_user(t, "carol", 200, 2, "c@example.org");
	range(t, 150, 200, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq(r.user[0], "carol");
	ck_assert_int_eq(check(t, 0, &rep), 0);
	store_txn_abort(t);
	store_close(s);
}
END_TEST

/* LMDB's default order (mdb_cmp_memn), restated: the common bytes, then the shorter. */
static int default_order(const MDB_val *a, const MDB_val *b)
{
	size_t n = a->mv_size < b->mv_size ? a->mv_size : b->mv_size;
	int c = n ? memcmp(a->mv_data, b->mv_data, n) : 0;

	return c ? (c > 0) - (c < 0) : (a->mv_size > b->mv_size) - (a->mv_size < b->mv_size);
}

static uint64_t next_u64(uint64_t *r) /* xorshift64 */
{
	*r ^= *r << 13;
	*r ^= *r >> 7;
	*r ^= *r << 17;
	return *r;
}

static int sign_of(int c)
{
	return (c > 0) - (c < 0);
}

/* store.c gives the users and by_time trees a comparator of its own (store_key_cmp),
 * which lmdb.h allows only if every program that opens them uses the same one: it is
 * safe because its order is LMDB's default one. So it is held to that order at every
 * edge: keys of 0 to 40 bytes (each side of the 8-byte steps it compares by), equal
 * keys, prefixes, one byte changed at any place, bytes 0x00, 0x7f, 0x80 and 0xff. Then a
 * store written with it is read with LMDB's default: every user key in order, and found
 * by a lookup. */
START_TEST(test_key_order)
{
	static const unsigned char edge[] = { 0x00, 0x01, 0x7f, 0x80, 0x81, 0xfe, 0xff, 'a' };
	unsigned char a[48], b[48];
	uint64_t r = 0x2545f4914f6cdd1dULL;
	MDB_val ka = { 0, a }, kb = { 0, b }, k, v, prev;
	struct store *s;
	struct store_txn *t;
	struct raw raw;
	MDB_cursor *cur;
	char name[64];
	long i, users = 0;
	size_t j;

	for (i = 0; i < 400000; i++) {
		ka.mv_size = (size_t)(next_u64(&r) % 41);
		for (j = 0; j < ka.mv_size; j++)
			a[j] = (unsigned char)(next_u64(&r) % 2 ? edge[next_u64(&r) % sizeof(edge)] : next_u64(&r));
		memcpy(b, a, ka.mv_size);
		kb.mv_size = ka.mv_size;
		switch (next_u64(&r) % 5) {
		case 0: /* equal */
			break;
		case 1: /* one byte changed */
			if (ka.mv_size)
				b[next_u64(&r) % ka.mv_size] = edge[next_u64(&r) % sizeof(edge)];
			break;
		case 4: /* 2 to 4 bytes changed within one 8-byte block */
			if (ka.mv_size) {
				size_t base = (size_t)(next_u64(&r) % ((ka.mv_size + 7) / 8)) * 8, at;

				for (j = 2 + (size_t)(next_u64(&r) % 3); j > 0; j--)
					if ((at = base + (size_t)(next_u64(&r) % 8)) < ka.mv_size)
						b[at] = edge[next_u64(&r) % sizeof(edge)];
			}
			break;
		case 2: /* a prefix */
			kb.mv_size = ka.mv_size ? (size_t)(next_u64(&r) % ka.mv_size) : 0;
			break;
		default: /* longer, and maybe changed too */
			kb.mv_size = ka.mv_size + 1 + (size_t)(next_u64(&r) % 7);
			for (j = ka.mv_size; j < kb.mv_size; j++)
				b[j] = edge[next_u64(&r) % sizeof(edge)];
			if (ka.mv_size && next_u64(&r) % 2)
				b[next_u64(&r) % ka.mv_size] ^= (unsigned char)(1 + next_u64(&r) % 255);
		}
		ck_assert_msg(sign_of(store_key_cmp(&ka, &kb)) == default_order(&ka, &kb) &&
			      sign_of(store_key_cmp(&kb, &ka)) == default_order(&kb, &ka),
			      "store_key_cmp disagrees with LMDB's order on keys of %zu and %zu bytes (case %ld)",
			      ka.mv_size, kb.mv_size, i);
	}

	/* A store written with it, read with LMDB's default comparator. */
	s = open_rw();
	t = begin(s, 1);
	for (i = 0; i < 3000; i++) {
		size_t len = 1 + (size_t)(next_u64(&r) % 30);

		for (j = 0; j < len; j++)
			name[j] = (char)(next_u64(&r) % 2 ? "abcdefgh"[next_u64(&r) % 8] : 0x80 + (int)(next_u64(&r) % 0x7f));
		name[len] = 0;
		touch_in(t, (int32_t)(next_u64(&r) % 3), name, NULL, 1000 + (int64_t)(next_u64(&r) % 1000), 0);
	}
	commit(t);
	store_close(s);
	raw_open(&raw, "users");
	ck_assert_int_eq(mdb_cursor_open(raw.txn, raw.dbi, &cur), 0);
	for (i = mdb_cursor_get(cur, &k, &v, MDB_FIRST); i == 0; i = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		MDB_val found;

		ck_assert_msg(users == 0 || default_order(&prev, &k) < 0, "users key %ld is out of LMDB's order", users);
		ck_assert_msg(mdb_get(raw.txn, raw.dbi, &k, &found) == 0, "users key %ld not found by LMDB's default", users);
		prev = k;
		users++;
	}
	ck_assert_int_eq(i, MDB_NOTFOUND);
	ck_assert_int_gt(users, 2500);
	mdb_cursor_close(cur);
	raw_close(&raw);
}
END_TEST

START_TEST(test_user_name_limits)
{
	struct store *s = open_rw();
	struct store_txn *t = begin(s, 1);
	char name[600];
	struct store_user u;

	struct store_touch tc = { 0, name, 0, 1, 1, NULL, 0, 0 };

	memset(name, 'u', sizeof(name));
	ck_assert_int_eq(store_user_touch(t, &tc, 0, INT64_MIN, err, sizeof(err)), -1);
	tc.len = STORE_USER_KEY_MAX + 1;
	ck_assert_int_eq(store_user_touch(t, &tc, 0, INT64_MIN, err, sizeof(err)), -1);
	tc.len = STORE_USER_KEY_MAX;
	ck_assert_int_eq(store_user_touch(t, &tc, 0, INT64_MIN, err, sizeof(err)), 0);
	ck_assert_int_eq(store_user_get(t, name, STORE_USER_KEY_MAX, &u, err, sizeof(err)), 0);
	ck_assert_uint_eq(u.count, 1);
	ck_assert_int_eq(store_user_get(t, name, STORE_USER_KEY_MAX + 1, &u, err, sizeof(err)), STORE_NOTFOUND);
	/* an email longer than an event's is refused, not cut */
	tc.email = name;
	tc.email_len = STORE_EMAIL_MAX + 1;
	ck_assert_int_eq(store_user_touch(t, &tc, 0, INT64_MIN, err, sizeof(err)), -1);
	ck_assert_uint_eq(stat_of(t).users, 1);
	commit(t);
	store_close(s);
}
END_TEST

/* ---- offsets and transactions ------------------------------------------------------ */

struct offs {
	size_t n;
	int32_t p[16];
	int64_t next[16];
};

static int offs_add(void *arg, int32_t partition, int64_t next)
{
	struct offs *o = arg;

	if (o->n < 16) {
		o->p[o->n] = partition;
		o->next[o->n] = next;
	}
	o->n++;
	return 0;
}

START_TEST(test_offsets)
{
	struct store *s = open_rw();
	struct store_txn *t;
	struct offs o = { 0 };
	int64_t next = 99;
	static const int32_t want_p[] = { 0, 1, 3, 256 };
	static const int64_t want_next[] = { 5, 0, 30, 7000000000LL };
	size_t i;

	ck_assert_int_eq(store_bind(s, "chat", "grp", err, sizeof(err)), 0);
	t = begin(s, 1);
	ck_assert_int_eq(store_offset_get(t, 0, &next, err, sizeof(err)), STORE_NOTFOUND);
	ck_assert_int_eq(next, 99);
	ck_assert_int_eq(store_offset_put(t, 256, 7000000000LL, err, sizeof(err)), 0);
	ck_assert_int_eq(store_offset_put(t, 3, 30, err, sizeof(err)), 0);
	ck_assert_int_eq(store_offset_put(t, 0, 4, err, sizeof(err)), 0);
	ck_assert_int_eq(store_offset_put(t, 1, 0, err, sizeof(err)), 0);
	ck_assert_int_eq(store_offset_put(t, 0, 5, err, sizeof(err)), 0); /* overwrite */
	ck_assert_int_eq(offset_of(t, 0), 5);                          /* own writes are visible */
	commit(t);
	store_close(s);

	/* durable across close and reopen */
	s = open_rw();
	ck_assert_int_eq(store_bind(s, "chat", "grp", err, sizeof(err)), 0);
	t = begin(s, 0);
	ck_assert_int_eq(offset_of(t, 256), 7000000000LL);
	ck_assert_int_eq(offset_of(t, 3), 30);
	ck_assert_int_eq(offset_of(t, 0), 5);
	ck_assert_int_eq(offset_of(t, 1), 0);
	ck_assert_int_eq(store_offset_get(t, 2, &next, err, sizeof(err)), STORE_NOTFOUND);
	ck_assert_int_eq(store_offsets_each(t, offs_add, &o, err, sizeof(err)), 0);
	ck_assert_uint_eq(o.n, 4); /* in partition order, not insertion or byte-length order */
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(o.p[i], want_p[i]);
		ck_assert_int_eq(o.next[i], want_next[i]);
	}
	ck_assert_uint_eq(stat_of(t).offsets, 4);
	store_txn_abort(t);

	/* an aborted txn leaves nothing behind */
	t = begin(s, 1);
	ck_assert_int_eq(store_offset_put(t, 0, 1000, err, sizeof(err)), 0);
	ck_assert_int_eq(store_offset_put(t, 5, 50, err, sizeof(err)), 0);
	store_txn_abort(t);
	t = begin(s, 0);
	ck_assert_int_eq(offset_of(t, 0), 5);
	ck_assert_int_eq(store_offset_get(t, 5, &next, err, sizeof(err)), STORE_NOTFOUND);
	store_txn_abort(t);
	store_close(s);

	s = open_rw();
	ck_assert_int_eq(store_bind(s, "chat", "grp", err, sizeof(err)), 0);
	t = begin(s, 0);
	ck_assert_int_eq(offset_of(t, 0), 5);
	ck_assert_int_eq(store_offset_get(t, 5, &next, err, sizeof(err)), STORE_NOTFOUND);
	store_txn_abort(t);
	store_close(s);
}
END_TEST

START_TEST(test_batch_atomicity)
{
	struct store *s = open_rw();
	struct store_txn *t;
	struct seen r = { 0 };
	int64_t next;
	struct store_stat st;

	ck_assert_int_eq(store_bind(s, "chat", "grp", err, sizeof(err)), 0);
	t = begin(s, 1);
	touch(t, "alice", "a@example.org", 100, 0);
	touch(t, "bob", NULL, 200, 0);
	ck_assert_int_eq(store_offset_put(t, 0, 42, err, sizeof(err)), 0);
	store_txn_abort(t);

	t = begin(s, 0);
	assert_no_user(t, "alice");
	assert_no_user(t, "bob");
	ck_assert_int_eq(store_offset_get(t, 0, &next, err, sizeof(err)), STORE_NOTFOUND);
	range(t, INT64_MIN, INT64_MAX, &r);
	ck_assert_uint_eq(r.n, 0);
	st = stat_of(t);
	ck_assert_uint_eq(st.users, 0);
	ck_assert_uint_eq(st.index, 0);
	ck_assert_uint_eq(st.offsets, 0);
	store_txn_abort(t);

	t = begin(s, 1);
	touch(t, "alice", "a@example.org", 100, 0);
	touch(t, "bob", NULL, 200, 0);
	ck_assert_int_eq(store_offset_put(t, 0, 42, err, sizeof(err)), 0);
	commit(t);
	store_close(s);

	s = open_rw();
	ck_assert_int_eq(store_bind(s, "chat", "grp", err, sizeof(err)), 0);
	t = begin(s, 0);
	assert_user(t, "alice", 100, 1, "a@example.org");
	assert_user(t, "bob", 200, 1, NULL);
	ck_assert_int_eq(offset_of(t, 0), 42);
	range(t, INT64_MIN, INT64_MAX, &r);
	ck_assert_uint_eq(r.n, 2);
	store_txn_abort(t);
	store_close(s);
}
END_TEST

START_TEST(test_snapshot_isolation)
{
	struct store *s = open_rw();
	struct store_txn *w, *r1, *r2;
	struct seen r = { 0 };

	w = begin(s, 1);
	touch(w, "alice", NULL, 100, 0);
	commit(w);

	r1 = begin(s, 0);
	w = begin(s, 1);
	touch(w, "bob", NULL, 200, 0);
	touch(w, "alice", NULL, 300, 0);
	assert_no_user(r1, "bob"); /* not even before the commit */
	commit(w);

	assert_no_user(r1, "bob");
	assert_user(r1, "alice", 100, 1, NULL);
	range(r1, INT64_MIN, INT64_MAX, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.ts[0], 100);
	ck_assert_uint_eq(stat_of(r1).users, 1);

	r2 = begin(s, 0);
	assert_user(r2, "bob", 200, 1, NULL);
	assert_user(r2, "alice", 300, 2, NULL);
	assert_index(r2, "alice@100 bob@200 alice@300"); /* alice's entry at 100 stays, stale */
	store_txn_abort(r2);
	store_txn_abort(r1);
	store_close(s);
}
END_TEST

/* ---- pruning ----------------------------------------------------------------------- */

#define NPRUNE 10000

static void fill_prune(struct store *s)
{
	struct store_txn *t = begin(s, 1);
	char name[16];
	int i;

	for (i = 1; i <= NPRUNE; i++) {
		snprintf(name, sizeof(name), "u%d", i);
		touch(t, name, NULL, i + 999, 0); /* u1 at 1000: pruning goes by whole seconds */
	}
	commit(t);
}

START_TEST(test_prune_index)
{
	struct store *s = open_rw();
	struct store_txn *t;
	struct seen r = { 0 };
	struct reports rep;
	struct store_stat st;
	size_t pruned, total = 0;
	int rounds = 0;

	fill_prune(s);
	t = begin(s, 1);
	ck_assert_int_eq(store_prune(t, 6000, INT64_MIN, 1000, &pruned, err, sizeof(err)), 0);
	ck_assert_uint_eq(pruned, 1000);
	st = stat_of(t);
	ck_assert_uint_eq(st.index, NPRUNE - 1000);
	ck_assert_uint_eq(st.users, NPRUNE);
	range(t, 0, 1999, &r); /* the oldest went first */
	ck_assert_uint_eq(r.n, 0);
	r.stop_after = 1;
	range(t, INT64_MIN, INT64_MAX, &r);
	ck_assert_str_eq(r.user[0], "u1001");
	ck_assert_int_eq(r.ts[0], 2000);
	r.stop_after = 0;
	commit(t);

	total = 1000;
	do {
		t = begin(s, 1);
		ck_assert_int_eq(store_prune(t, 6000, INT64_MIN, 1000, &pruned, err, sizeof(err)), 0);
		ck_assert_uint_le(pruned, 1000);
		total += pruned;
		commit(t);
		ck_assert_int_lt(++rounds, 20);
	} while (pruned != 0);
	ck_assert_uint_eq(total, 5000);
	ck_assert_int_eq(rounds, 5); /* 4 rounds of 1000, then one that finds nothing */

	t = begin(s, 0);
	st = stat_of(t);
	ck_assert_uint_eq(st.index, 5000);
	ck_assert_uint_eq(st.users, NPRUNE); /* users_before = INT64_MIN keeps them all */
	assert_user(t, "u1", 1000, 1, NULL);
	assert_user(t, "u5000", 5999, 1, NULL);
	range(t, INT64_MIN, 5999, &r);
	ck_assert_uint_eq(r.n, 0);
	r.stop_after = 1;
	range(t, INT64_MIN, INT64_MAX, &r);
	ck_assert_str_eq(r.user[0], "u5001");
	ck_assert_int_eq(check(t, 6000, &rep), 0);
	/* the check is live: below the pruned floor every user lacks its entry */
	ck_assert_int_eq(check(t, 0, &rep), 5000);
	store_txn_abort(t);
	store_close(s);
}
END_TEST

START_TEST(test_prune_users)
{
	struct store *s = open_rw();
	struct store_txn *t;
	struct reports rep;
	struct store_stat st;
	size_t pruned, total = 0;
	int rounds = 0;

	fill_prune(s);
	do {
		t = begin(s, 1);
		ck_assert_int_eq(store_prune(t, 6000, 6000, 1000, &pruned, err, sizeof(err)), 0);
		total += pruned;
		commit(t);
		ck_assert_int_lt(++rounds, 20);
	} while (pruned != 0);
	ck_assert_uint_eq(total, 5000);

	t = begin(s, 0);
	st = stat_of(t);
	ck_assert_uint_eq(st.index, 5000);
	ck_assert_uint_eq(st.users, 5000);
	assert_no_user(t, "u1");
	assert_no_user(t, "u5000");
	assert_user(t, "u5001", 6000, 1, NULL);
	assert_user(t, "u10000", 10999, 1, NULL);
	ck_assert_int_eq(check(t, 6000, &rep), 0);
	ck_assert_int_eq(check(t, 0, &rep), 0); /* nothing left below the floor to miss */
	store_txn_abort(t);
	store_close(s);
}
END_TEST

/* store.h: with users_before, the users of the deleted entries older than it go too; a user
 * whose entry an earlier index-only prune removed is kept (it is no longer reachable). */
START_TEST(test_prune_users_after_index_prune)
{
	struct store *s = open_rw();
	struct store_txn *t;
	struct store_stat st;
	size_t pruned;
	int rounds = 0;

	fill_prune(s);
	do { /* index only, below 3000 */
		t = begin(s, 1);
		ck_assert_int_eq(store_prune(t, 3000, INT64_MIN, 1000, &pruned, err, sizeof(err)), 0);
		commit(t);
		ck_assert_int_lt(++rounds, 20);
	} while (pruned != 0);
	do { /* then users too, below 6000 */
		t = begin(s, 1);
		ck_assert_int_eq(store_prune(t, 6000, 6000, 1000, &pruned, err, sizeof(err)), 0);
		commit(t);
		ck_assert_int_lt(++rounds, 40);
	} while (pruned != 0);

	t = begin(s, 0);
	st = stat_of(t);
	assert_user(t, "u1000", 1999, 1, NULL); /* its entry went first: kept */
	ck_assert_int_eq(store_user_get(t, "u3000", 5, &(struct store_user){ 0 }, err, sizeof(err)),
			 STORE_NOTFOUND);
	store_txn_abort(t);
	store_close(s);
	ck_assert_uint_eq(st.index, 5000);
	ck_assert_uint_eq(st.users, 2000 + 5000);
}
END_TEST

/* ---- rejects, gaps, outbox --------------------------------------------------------- */

struct rows {
	size_t n;
	int32_t p[16];
	int64_t a[16], b[16]; /* offset, and gap end */
	char str[16][600];    /* reason or recipient */
	unsigned char bytes[16][128];
	size_t len[16];
};

static int rejects_add(void *arg, int32_t partition, int64_t offset, const char *reason,
		       const void *payload, size_t len)
{
	struct rows *r = arg;

	ck_assert_uint_lt(r->n, 16);
	ck_assert_uint_le(len, sizeof(r->bytes[0]));
	r->p[r->n] = partition;
	r->a[r->n] = offset;
	snprintf(r->str[r->n], sizeof(r->str[0]), "%s", reason);
	memcpy(r->bytes[r->n], payload, len);
	r->len[r->n] = len;
	r->n++;
	return 0;
}

START_TEST(test_rejects)
{
	struct store *s = open_rw();
	struct store_txn *t = begin(s, 1);
	unsigned char payload[100];
	struct rows r = { 0 };
	size_t i;

	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (unsigned char)(i * 7); /* includes NUL bytes */
	ck_assert_int_eq(store_reject_put(t, 1, 7, "bad msgpack", payload, sizeof(payload), err, sizeof(err)), 0);
	ck_assert_int_eq(store_reject_put(t, 0, 300, "ts in the future", payload + 1, 10, err, sizeof(err)), 0);
	ck_assert_int_eq(store_reject_put(t, 0, 3, "empty", NULL, 0, err, sizeof(err)), 0);
	ck_assert_int_eq(store_reject_put(t, 1, 2, "exact", payload, STORE_REJECT_PAYLOAD_MAX, err, sizeof(err)), 0);
	commit(t);

	t = begin(s, 0);
	ck_assert_int_eq(store_rejects_each(t, rejects_add, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 4);
	ck_assert_int_eq(r.p[0], 0);
	ck_assert_int_eq(r.a[0], 3);
	ck_assert_str_eq(r.str[0], "empty");
	ck_assert_uint_eq(r.len[0], 0);

	ck_assert_int_eq(r.p[1], 0);
	ck_assert_int_eq(r.a[1], 300);
	ck_assert_str_eq(r.str[1], "ts in the future");
	ck_assert_uint_eq(r.len[1], 10);
	ck_assert(memcmp(r.bytes[1], payload + 1, 10) == 0);

	ck_assert_int_eq(r.p[2], 1);
	ck_assert_int_eq(r.a[2], 2);
	ck_assert_uint_eq(r.len[2], STORE_REJECT_PAYLOAD_MAX);

	ck_assert_int_eq(r.p[3], 1);
	ck_assert_int_eq(r.a[3], 7);
	ck_assert_str_eq(r.str[3], "bad msgpack");
	ck_assert_uint_eq(r.len[3], STORE_REJECT_PAYLOAD_MAX); /* truncated */
	ck_assert(memcmp(r.bytes[3], payload, STORE_REJECT_PAYLOAD_MAX) == 0);
	ck_assert_uint_eq(stat_of(t).rejects, 4);
	store_txn_abort(t);
	store_close(s);
}
END_TEST

static int gaps_add(void *arg, int32_t partition, int64_t from, int64_t to)
{
	struct rows *r = arg;

	ck_assert_uint_lt(r->n, 16);
	r->p[r->n] = partition;
	r->a[r->n] = from;
	r->b[r->n] = to;
	r->n++;
	return 0;
}

START_TEST(test_gaps)
{
	struct store *s = open_rw();
	struct store_txn *t = begin(s, 1);
	struct rows r = { 0 };

	ck_assert_int_eq(store_gap_put(t, 2, 0, 1, err, sizeof(err)), 0);
	ck_assert_int_eq(store_gap_put(t, 0, 10, 20, err, sizeof(err)), 0);
	ck_assert_int_eq(store_gap_put(t, 0, 5, 7, err, sizeof(err)), 0);
	ck_assert_int_eq(store_gap_put(t, 0, 256, 5000000000LL, err, sizeof(err)), 0);
	commit(t);

	t = begin(s, 0);
	ck_assert_int_eq(store_gaps_each(t, gaps_add, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 4);
	ck_assert_int_eq(r.p[0], 0);
	ck_assert_int_eq(r.a[0], 5);
	ck_assert_int_eq(r.b[0], 7);
	ck_assert_int_eq(r.p[1], 0);
	ck_assert_int_eq(r.a[1], 10);
	ck_assert_int_eq(r.b[1], 20);
	ck_assert_int_eq(r.p[2], 0);
	ck_assert_int_eq(r.a[2], 256);
	ck_assert_int_eq(r.b[2], 5000000000LL);
	ck_assert_int_eq(r.p[3], 2);
	ck_assert_int_eq(r.a[3], 0);
	ck_assert_int_eq(r.b[3], 1);
	ck_assert_uint_eq(stat_of(t).gaps, 4);
	store_txn_abort(t);
	store_close(s);
}
END_TEST

/* The records with when and who: what each holds, read back whole. */
struct gap_rows {
	size_t n;
	struct store_gap g[8];
	char who[8][STORE_GAP_WHO_MAX + 1];
};

static int gap_records_add(void *arg, const struct store_gap *g)
{
	struct gap_rows *r = arg;

	ck_assert_uint_lt(r->n, 8);
	r->g[r->n] = *g;
	ck_assert_uint_le(g->who_len, STORE_GAP_WHO_MAX);
	memcpy(r->who[r->n], g->who ? g->who : "", g->who_len);
	r->who[r->n][g->who_len] = '\0';
	r->g[r->n].who = r->who[r->n];
	r->n++;
	return 0;
}

/* A skipped gap and resets, either way and from no position, twice from one offset: each
 * kept, with when (between the clock before and after) and who (this process). */
START_TEST(test_gap_records)
{
	struct store *s = open_rw();
	struct store_txn *t = begin(s, 1);
	struct gap_rows r = { 0 };
	struct reports rep;
	struct timespec ts;
	int64_t before, mid, after;
	char pid[32];
	size_t i;

	clock_gettime(CLOCK_REALTIME, &ts);
	before = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	ck_assert_int_eq(store_gap_put(t, 0, 10, 20, err, sizeof(err)), 0);
	ck_assert_int_eq(store_reset_put(t, 0, 20, 0, err, sizeof(err)), 0);
	ck_assert_int_eq(store_reset_put(t, 1, -1, 300, err, sizeof(err)), 0);
	commit(t);
	/* The same move again, a moment later: a second record, not the first one replaced.
	 * (Within one millisecond it would replace it: the time is the key's last part.) */
	clock_gettime(CLOCK_REALTIME, &ts);
	mid = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	do {
		clock_gettime(CLOCK_REALTIME, &ts);
		after = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	} while (after <= mid);
	t = begin(s, 1);
	ck_assert_int_eq(store_reset_put(t, 0, 20, 0, err, sizeof(err)), 0);
	commit(t);
	clock_gettime(CLOCK_REALTIME, &ts);
	after = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

	t = begin(s, 0);
	ck_assert_int_eq(store_gap_records_each(t, gap_records_add, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 4);
	ck_assert_uint_eq(stat_of(t).gaps, 4);
	/* key order: partition, from, then time */
	ck_assert_int_eq(r.g[0].partition, 0);
	ck_assert_int_eq(r.g[0].from, 10);
	ck_assert_int_eq(r.g[0].to, 20);
	ck_assert_int_eq(r.g[0].kind, STORE_GAP_SKIPPED);
	for (i = 1; i <= 2; i++) {
		ck_assert_int_eq(r.g[i].partition, 0);
		ck_assert_int_eq(r.g[i].from, 20);
		ck_assert_int_eq(r.g[i].to, 0);
		ck_assert_int_eq(r.g[i].kind, STORE_GAP_RESET);
	}
	ck_assert_int_lt(r.g[1].at_ms, r.g[2].at_ms);
	ck_assert_int_eq(r.g[3].partition, 1);
	ck_assert_int_eq(r.g[3].from, -1);
	ck_assert_int_eq(r.g[3].to, 300);
	ck_assert_int_eq(r.g[3].kind, STORE_GAP_RESET);
	snprintf(pid, sizeof(pid), " pid %ld: ", (long)getpid());
	for (i = 0; i < r.n; i++) {
		ck_assert_int_ge(r.g[i].at_ms, before);
		ck_assert_int_le(r.g[i].at_ms, after);
		ck_assert_msg(strchr(r.who[i], '@') && strstr(r.who[i], pid) && strstr(r.who[i], "check_store"),
			      "who: '%s'", r.who[i]);
	}
	ck_assert_int_eq(check(t, INT64_MIN, &rep), 0);
	store_txn_abort(t);
	store_close(s);
}
END_TEST

/* Records of schema 2 (key partition and from, value the end) read as skipped gaps of
 * unknown time and author; a malformed one is named by store check. */
START_TEST(test_gap_records_schema2)
{
	struct store *s = open_rw();
	struct raw raw;
	struct store_txn *t;
	struct gap_rows r = { 0 };
	struct reports rep;
	unsigned char key[12] = { 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 7 };
	unsigned char val[8] = { 0, 0, 0, 0, 0, 0, 0, 9 }, bad[5] = { 1, 2, 3, 4, 5 };
	MDB_val k = { sizeof(key), key }, v = { sizeof(val), val };

	store_close(s);
	raw_open(&raw, "gaps");
	ck_assert_int_eq(mdb_put(raw.txn, raw.dbi, &k, &v, 0), 0);
	raw_close(&raw);
	s = open_rw();
	t = begin(s, 0);
	ck_assert_int_eq(store_gap_records_each(t, gap_records_add, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(r.g[0].partition, 2);
	ck_assert_int_eq(r.g[0].from, 7);
	ck_assert_int_eq(r.g[0].to, 9);
	ck_assert_int_eq(r.g[0].kind, STORE_GAP_SKIPPED);
	ck_assert_int_eq(r.g[0].at_ms, -1);
	ck_assert_uint_eq(r.g[0].who_len, 0);
	ck_assert_int_eq(check(t, INT64_MIN, &rep), 0);
	store_txn_abort(t);
	store_close(s);

	raw_open(&raw, "gaps");
	key[11] = 8;
	v.mv_size = sizeof(bad);
	v.mv_data = bad;
	ck_assert_int_eq(mdb_put(raw.txn, raw.dbi, &k, &v, 0), 0);
	raw_close(&raw);
	s = open_ro();
	t = begin(s, 0);
	ck_assert_int_eq(check(t, INT64_MIN, &rep), 1);
	report_find(&rep, "gaps: malformed record", "value of 5");
	store_txn_abort(t);
	store_close(s);
}
END_TEST

static int outbox_add(void *arg, int32_t partition, int64_t offset, const char *recipient, size_t rlen,
		      const char *text, size_t tlen)
{
	struct rows *r = arg;

	ck_assert_uint_lt(r->n, 16);
	ck_assert_uint_lt(rlen, sizeof(r->str[0]));
	ck_assert_uint_le(tlen, sizeof(r->bytes[0]));
	r->p[r->n] = partition;
	r->a[r->n] = offset;
	memcpy(r->str[r->n], recipient, rlen);
	r->str[r->n][rlen] = '\0';
	memcpy(r->bytes[r->n], text, tlen);
	r->len[r->n] = tlen;
	r->n++;
	return 0;
}

static void outbox_put(struct store_txn *t, int32_t p, int64_t off, const char *rcpt, const char *text)
{
	int rc = store_outbox_put(t, p, off, rcpt, strlen(rcpt), text, strlen(text), err, sizeof(err));
	ck_assert_msg(rc == 0, "store_outbox_put: %s", err);
}

static void assert_row(const struct rows *r, size_t i, int32_t p, int64_t off, const char *rcpt,
		       const char *text)
{
	ck_assert_int_eq(r->p[i], p);
	ck_assert_int_eq(r->a[i], off);
	ck_assert_str_eq(r->str[i], rcpt);
	ck_assert_uint_eq(r->len[i], strlen(text));
	ck_assert(memcmp(r->bytes[i], text, r->len[i]) == 0);
}

START_TEST(test_outbox)
{
	struct store *s = open_rw();
	struct store_txn *t = begin(s, 1);
	struct rows r = { 0 };
	char big[520];

	outbox_put(t, 0, 6, "alice", "later");
	outbox_put(t, 0, 5, "bob", "hi bob");
	outbox_put(t, 0, 5, "alice", "hi alice");
	outbox_put(t, 1, 5, "alice", "other partition");
	outbox_put(t, 0, 4, "zed", "earlier");
	outbox_put(t, 0, 5, "a", ""); /* an empty text is still a row */
	memset(big, 'r', sizeof(big));
	ck_assert_int_eq(store_outbox_put(t, 0, 9, big, 500, "x", 1, err, sizeof(err)), -1);
	commit(t);

	t = begin(s, 0);
	ck_assert_int_eq(store_outbox_each(t, outbox_add, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 6);
	assert_row(&r, 0, 0, 4, "zed", "earlier");
	assert_row(&r, 1, 0, 5, "a", "");
	assert_row(&r, 2, 0, 5, "alice", "hi alice");
	assert_row(&r, 3, 0, 5, "bob", "hi bob");
	assert_row(&r, 4, 0, 6, "alice", "later");
	assert_row(&r, 5, 1, 5, "alice", "other partition");
	ck_assert_uint_eq(stat_of(t).outbox, 6);

	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(store_outbox_at(t, 0, 5, outbox_add, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 3);
	assert_row(&r, 0, 0, 5, "a", "");
	assert_row(&r, 1, 0, 5, "alice", "hi alice");
	assert_row(&r, 2, 0, 5, "bob", "hi bob");

	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(store_outbox_at(t, 1, 5, outbox_add, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 1);
	assert_row(&r, 0, 1, 5, "alice", "other partition");

	memset(&r, 0, sizeof(r));
	ck_assert_int_eq(store_outbox_at(t, 0, 7, outbox_add, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 0);
	ck_assert_int_eq(store_outbox_at(t, 2, 0, outbox_add, &r, err, sizeof(err)), 0);
	ck_assert_uint_eq(r.n, 0);
	store_txn_abort(t);
	store_close(s);
}
END_TEST

/* ---- map growth -------------------------------------------------------------------- */

#define NGROW 2000

START_TEST(test_map_full_grow_redo)
{
	struct store_options o = { .no_sync = 1, .map_size = 65536 };
	struct store *s = open_opts(&o);
	uint64_t size0 = store_map_size(s);
	char name[32], email[256];
	struct store_txn *t;
	int i, rc = 0, fulls = 0, attempts = 0;
	struct store_stat st;

	for (;;) {
		ck_assert_int_lt(++attempts, 30);
		t = begin(s, 1);
		for (i = 0; i < NGROW; i++) {
			snprintf(name, sizeof(name), "user%05d", i);
			snprintf(email, sizeof(email), "%s@%0190d.example.org", name, i);
			rc = store_user_touch(t, &(struct store_touch){ 0, name, strlen(name), 1000 + i, 1, email,
								   strlen(email), 1000 + i },
					      0, INT64_MIN, err, sizeof(err));
			if (rc != 0)
				break;
		}
		if (rc == 0) {
			rc = store_txn_commit(t, err, sizeof(err)); /* frees t either way */
			if (rc == 0)
				break;
		} else {
			store_txn_abort(t);
		}
		ck_assert_msg(rc == STORE_FULL, "expected STORE_FULL, got %d: %s", rc, err);
		ck_assert_msg(strstr(err, "MDB_MAP_FULL") != NULL, "%s", err);
		fulls++;
		ck_assert_int_eq(store_grow(s, err, sizeof(err)), 0);
	}
	ck_assert_int_gt(fulls, 0);
	ck_assert_uint_gt(store_map_size(s), size0);
	ck_assert_uint_ge(store_map_size(s), size0 << fulls);

	t = begin(s, 0);
	for (i = 0; i < NGROW; i++) {
		snprintf(name, sizeof(name), "user%05d", i);
		snprintf(email, sizeof(email), "%s@%0190d.example.org", name, i);
		assert_user(t, name, 1000 + i, 1, email); /* count 1: the failed tries left nothing */
	}
	st = stat_of(t);
	ck_assert_uint_eq(st.users, NGROW);
	ck_assert_uint_eq(st.index, NGROW);
	ck_assert_uint_eq(st.map_size, store_map_size(s));
	ck_assert_uint_le(st.used_bytes, st.map_size);
	store_txn_abort(t);
	store_close(s);
}
END_TEST

/* ---- store_check ------------------------------------------------------------------- */

START_TEST(test_check_catches_corrupt_index)
{
	struct store *s = open_rw();
	struct store_txn *t = begin(s, 1);
	struct reports rep;
	struct raw raw;
	unsigned char kb[64], vb[64];
	uint64_t writes = 1003;
	MDB_val k, v;
	int i;

	touch(t, "alice", NULL, 100, 0);
	touch(t, "bob", NULL, 200, 0);
	touch(t, "carol", NULL, 300, 0);
	touch(t, "dave", NULL, 400, 0);
	commit(t);
	t = begin(s, 0);
	ck_assert_int_eq(check(t, 0, &rep), 0); /* clean */
	store_txn_abort(t);
	store_close(s);

	raw_open(&raw, "by_time");
	raw_delete_segment_of(&raw, "bob"); /* bob loses his entry */
	k = raw_segment_key(kb, 250, 1001);
	v = raw_segment_entry(vb, 250, "ghost");
	ck_assert_int_eq(mdb_put(raw.txn, raw.dbi, &k, &v, 0), 0); /* nobody's entry */
	k = raw_segment_key(kb, 350, 1002);
	v = raw_segment_entry(vb, 350, "carol");
	ck_assert_int_eq(mdb_put(raw.txn, raw.dbi, &k, &v, 0), 0); /* a second, wrong time */
	k = raw_segment_key(kb, 299, 1003);
	v = raw_segment_entry(vb, 299, "carol");
	ck_assert_int_eq(mdb_put(raw.txn, raw.dbi, &k, &v, 0), 0); /* stale: allowed (schema 5 on) */
	raw_close(&raw);
	raw_open(&raw, "meta"); /* the count of writes, as a writer of those three would leave it */
	k = (MDB_val){ 12, (void *)"index_writes" };
	v = (MDB_val){ sizeof(writes), &writes };
	ck_assert_int_eq(mdb_put(raw.txn, raw.dbi, &k, &v, 0), 0);
	raw_close(&raw);

	s = open_rw();
	t = begin(s, 0);
	ck_assert_int_eq(check(t, 0, &rep), 3);
	report_find(&rep, "bob", NULL);
	report_find(&rep, "ghost", "250");
	i = report_find(&rep, "carol", "350");
	ck_assert_msg(strstr(rep.msg[i], "300") != NULL, "does not give carol's last_seen: %s", rep.msg[i]);
	for (i = 0; i < rep.n; i++)
		ck_assert_msg(!strstr(rep.msg[i], "alice") && !strstr(rep.msg[i], "dave"), "%s", rep.msg[i]);
	ck_assert_int_eq(store_check_at(t, 0, NULL, NULL, err, sizeof(err)), 3); /* report is optional */
	/* bob's hole is below a floor of 201 and no longer counts; the others still do */
	ck_assert_int_eq(check(t, 201, &rep), 2);
	/* below the floor an entry waits for pruning, whoever's it is: ghost at 250 */
	ck_assert_int_eq(check(t, 251, &rep), 1);
	report_find(&rep, "carol", "350");
	store_txn_abort(t);
	store_close(s);
}
END_TEST

START_TEST(test_check_offsets)
{
	struct store *s = open_rw();
	struct store_txn *t;
	struct reports rep;

	ck_assert_int_eq(store_bind(s, "chat", "grp", err, sizeof(err)), 0);
	t = begin(s, 1);
	ck_assert_int_eq(store_offset_put(t, 0, 10, err, sizeof(err)), 0);
	ck_assert_int_eq(store_offset_put(t, 1, -1, err, sizeof(err)), 0);
	ck_assert_int_eq(check(t, 0, &rep), 1);
	report_find(&rep, "offsets", "-1");
	store_txn_abort(t);
	store_close(s);
}
END_TEST

/* ---- per-partition records ----------------------------------------------------------- */

/* Records of all users, as store_users_each merges them, copied out. */
struct merged {
	size_t n;
	char user[16][32];
	struct { int64_t last_seen; uint64_t count; char email[64]; } u[16];
};

static int merged_add(void *arg, const char *user, size_t len, const struct store_user *u)
{
	struct merged *m = arg;

	if (m->n < 16) {
		snprintf(m->user[m->n], sizeof(m->user[0]), "%.*s", (int)len, user);
		m->u[m->n].last_seen = u->last_seen;
		m->u[m->n].count = u->count;
		snprintf(m->u[m->n].email, sizeof(m->u[0].email), "%.*s", (int)u->email_len, u->email ? u->email : "");
	}
	m->n++;
	return 0;
}

/* A user's events spread over partitions: one record per partition, merged by queries
 * (latest last_seen, summed count, the email of the greatest (email_ts, bytes)), an
 * index entry per record. */
START_TEST(test_partition_records_merge)
{
	struct store *s = open_rw();
	struct store_txn *t = begin(s, 1);
	struct store_user u;
	struct merged m = { 0 };
	struct reports rep;

	touch_in(t, 2, "alice", "a2@x", 300, 0);
	touch_in(t, 0, "alice", "a0@x", 100, 0);
	touch_in(t, 0, "alice", NULL, 500, 0);   /* latest time, no email */
	touch_in(t, 1, "alice", "a1@x", 300, 0); /* the same email time as partition 2's, smaller bytes */
	touch_in(t, 1, "bob", NULL, 200, 0);
	touch_in(t, 3, "carol", "c@x", 50, 0);
	touch_in(t, 0, "alicia", NULL, 400, 0);  /* a name that alice's seek passes by */
	commit(t);

	t = begin(s, 0);
	assert_user(t, "alice", 500, 4, "a2@x");
	assert_user(t, "bob", 200, 1, NULL);
	assert_no_user(t, "alic");
	ck_assert_int_eq(store_record_get(t, 1, "alice", 5, &u, err, sizeof(err)), 0);
	ck_assert_int_eq(u.last_seen, 300);
	ck_assert_uint_eq(u.count, 1);
	ck_assert_int_eq(store_record_get(t, 3, "alice", 5, &u, err, sizeof(err)), STORE_NOTFOUND);
	ck_assert_int_eq(store_users_each(t, merged_add, &m, err, sizeof(err)), 0);
	ck_assert_uint_eq(m.n, 4);
	ck_assert_str_eq(m.user[0], "alice");
	ck_assert_int_eq(m.u[0].last_seen, 500);
	ck_assert_uint_eq(m.u[0].count, 4);
	ck_assert_str_eq(m.u[0].email, "a2@x");
	ck_assert_str_eq(m.user[1], "alicia");
	ck_assert_str_eq(m.user[2], "bob");
	ck_assert_str_eq(m.user[3], "carol");
	ck_assert_uint_eq(stat_of(t).users, 4);
	ck_assert_uint_eq(stat_of(t).records, 6);
	ck_assert_uint_eq(stat_of(t).index, 7);
	/* An entry per record at its last_seen, alice three times, and partition 0's alice
	 * also at 100, stale (the index is append-only). */
	assert_index(t, "carol@50 alice@100 bob@200 alice@300 alice@300 alicia@400 alice@500");
	ck_assert_int_eq(check(t, 0, &rep), 0);
	store_txn_abort(t);
	store_close(s);
}
END_TEST

/* A restore writes records as they are and deletes them; dropping a partition takes its
 * records, entries, position, rejects, pending list and changelog position, and
 * nothing of the other partitions. */
START_TEST(test_record_put_and_partition_drop)
{
	struct store_options o = { .no_sync = 1, .changelog = 1 };
	struct store *s = open_opts(&o);
	struct store_txn *t = begin(s, 1);
	struct store_user u = { 700, 9, 650, "r@x", 3 };
	struct seen r = { 0 };
	struct reports rep;
	int64_t next;

	touch_in(t, 0, "alice", NULL, 100, 0);
	touch_in(t, 1, "alice", NULL, 200, 0);
	touch_in(t, 1, "bob", NULL, 250, 0);
	ck_assert_int_eq(store_reject_put(t, 1, 0, "bad", "x", 1, err, sizeof(err)), 0);
	ck_assert_int_eq(store_changelog_put(t, 1, 77, err, sizeof(err)), 0);
	ck_assert_int_eq(store_record_put(t, 1, "carol", 5, &u, 0, err, sizeof(err)), 0);
	u.last_seen = 50; /* below the floor of 60: a record without an entry */
	u.email_ts = 40;
	ck_assert_int_eq(store_record_put(t, 0, "dave", 4, &u, 60, err, sizeof(err)), 0);
	ck_assert_int_eq(store_record_put(t, 1, "bob", 3, NULL, 0, err, sizeof(err)), 0);
	commit(t);

	t = begin(s, 0);
	assert_user(t, "carol", 700, 9, "r@x");
	assert_no_user(t, "bob");
	ck_assert_uint_eq(stat_of(t).index, 3); /* alice twice, carol */
	ck_assert_int_eq(check(t, 60, &rep), 0);
	/* touches listed their records; a restore's writes did not */
	ck_assert_uint_eq(stat_of(t).pending, 3);
	store_txn_abort(t);

	t = begin(s, 1);
	ck_assert_int_eq(store_partition_drop(t, 1, err, sizeof(err)), 0);
	commit(t);
	t = begin(s, 0);
	assert_user(t, "alice", 100, 1, NULL);
	assert_no_user(t, "carol");
	ck_assert_int_eq(store_offset_get(t, 1, &next, err, sizeof(err)), STORE_NOTFOUND);
	ck_assert_int_eq(store_offset_get(t, 0, &next, err, sizeof(err)), 0);
	ck_assert_int_eq(store_changelog_get(t, 1, &next, err, sizeof(err)), STORE_NOTFOUND);
	ck_assert_uint_eq(stat_of(t).rejects, 0);
	ck_assert_uint_eq(stat_of(t).pending, 1);
	range(t, INT64_MIN, INT64_MAX, &r);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_int_eq(check(t, 60, &rep), 0);
	store_txn_abort(t);
	store_close(s);
}
END_TEST

/* Schema 5's stale entries, at each place that deletes from by_time: pruning keeps a
 * record whose pruned entry is stale, a restore that takes a record back in time (or
 * away) takes its entries after that time from the floor on, and dropping a partition
 * takes its stale entries at and above the floor too. */
START_TEST(test_stale_entries)
{
	struct store_options o = { .no_sync = 1 };
	struct store *s = open_opts(&o);
	struct store_txn *t = begin(s, 1);
	struct store_user u = { 150000, 1, 0, NULL, 0 };
	struct reports rep;
	int64_t floor;
	size_t pruned;

	touch_in(t, 0, "alice", NULL, 100000, 0);
	touch_in(t, 0, "bob", NULL, 110000, 0);
	touch_in(t, 1, "carol", NULL, 120000, 0);
	commit(t);
	t = begin(s, 1);
	touch_in(t, 0, "alice", NULL, 200000, 0);
	touch_in(t, 0, "bob", NULL, 210000, 0);
	touch_in(t, 1, "carol", NULL, 220000, 0);
	commit(t);
	t = begin(s, 1);
	touch_in(t, 0, "alice", NULL, 300000, 0);
	touch_in(t, 1, "carol", NULL, 320000, 0);
	commit(t);
	t = begin(s, 0);
	/* every time each was seen at */
	assert_index(t, "alice@100000 bob@110000 carol@120000 alice@200000 bob@210000 carol@220000 alice@300000 carol@320000");
	ck_assert_int_eq(check(t, 0, &rep), 0);
	store_txn_abort(t);

	/* Pruning below 201000 with its users: the entries at 100000, 110000 and 120000 are stale (each
	 * has a later one), so no record goes; below 211000, bob's 210000 is his last_seen. */
	t = begin(s, 1);
	ck_assert_int_eq(store_index_floor_raise(t, 201000, &floor, err, sizeof(err)), 0);
	ck_assert_int_eq(store_prune(t, 201000, 201000, 1000, &pruned, err, sizeof(err)), 0);
	ck_assert_uint_eq(pruned, 4); /* 100000, 110000, 120000 and alice's 200000 */
	commit(t);
	t = begin(s, 0);
	assert_user(t, "alice", 300000, 3, NULL);
	assert_user(t, "bob", 210000, 2, NULL);
	ck_assert_int_eq(check(t, 201000, &rep), 0);
	store_txn_abort(t);
	t = begin(s, 1);
	ck_assert_int_eq(store_index_floor_raise(t, 211000, &floor, err, sizeof(err)), 0);
	ck_assert_int_eq(store_prune(t, 211000, 211000, 1000, &pruned, err, sizeof(err)), 0);
	ck_assert_uint_eq(pruned, 1);
	commit(t);
	t = begin(s, 0);
	assert_no_user(t, "bob");
	assert_user(t, "carol", 320000, 3, NULL);
	ck_assert_int_eq(check(t, 211000, &rep), 0);
	store_txn_abort(t);

	/* A restore takes alice back to 150000: her entry at 300000 goes, and with the floor at
	 * 211000 nothing of hers is left above it; back to 250000 instead of away, carol keeps
	 * 220000 and loses 320. */
	t = begin(s, 1);
	ck_assert_int_eq(store_record_put(t, 0, "alice", 5, &u, 211000, err, sizeof(err)), 0);
	u.last_seen = 250000;
	ck_assert_int_eq(store_record_put(t, 1, "carol", 5, &u, 211000, err, sizeof(err)), 0);
	commit(t);
	assert_index_checked(s, "carol@220000 carol@250000", 211000); /* 220000: stale, before her new last_seen */

	/* A tombstone takes carol's entries from the floor on; dropping partition 0 takes
	 * alice's newer entries too. */
	t = begin(s, 1);
	touch_in(t, 0, "alice", NULL, 400000, 211000);
	touch_in(t, 0, "alice", NULL, 500000, 211000);
	ck_assert_int_eq(store_record_put(t, 1, "carol", 5, NULL, 211000, err, sizeof(err)), 0);
	commit(t);
	assert_index_checked(s, "alice@400000 alice@500000", 211000); /* 400000: stale */
	t = begin(s, 1);
	ck_assert_int_eq(store_partition_drop(t, 0, err, sizeof(err)), 0);
	commit(t);
	assert_index_checked(s, "", 211000);
	store_close(s);
}
END_TEST

/* index_add() appends only keys after the last one it knows of, and learns it once per
 * txn. Here pruning takes the index's last entry inside the txn, so what it knows goes
 * stale: a key before the stale last key goes to a plain put, one after it is appended
 * (which LMDB checks against the true last key), and each lands where it belongs. */
START_TEST(test_index_append_stale_last)
{
	struct store_options o = { .no_sync = 1 };
	struct store *s = open_opts(&o);
	struct store_txn *t = begin(s, 1);
	int64_t floor;
	size_t pruned;

	touch(t, "alice", NULL, 100000, 0);
	touch(t, "bob", NULL, 200000, 0); /* the last key known: bob@200000 */
	ck_assert_int_eq(store_index_floor_raise(t, 300000, &floor, err, sizeof(err)), 0);
	ck_assert_int_eq(store_prune(t, 300000, INT64_MIN, 1000, &pruned, err, sizeof(err)), 0);
	ck_assert_uint_eq(pruned, 2); /* the index is empty, and the last key known stale */
	touch(t, "carol", NULL, 150000, 0); /* before the stale last: a plain put */
	touch(t, "dave", NULL, 250000, 0);  /* after it: appended, after carol@150000 */
	touch(t, "erin", NULL, 120000, 0);  /* before both */
	touch(t, "frank", NULL, 260000, 0); /* after dave@250000: appended */
	commit(t);
	/* Below the floor now, but every entry written where it belongs. */
	assert_index_checked(s, "erin@120000 carol@150000 dave@250000 frank@260000", 300000);
	t = begin(s, 1);
	touch(t, "gina", NULL, 255000, 0); /* a new txn learns the last key again: before frank */
	touch(t, "hal", NULL, 400000, 0);
	commit(t);
	assert_index_checked(s, "erin@120000 carol@150000 dave@250000 gina@255000 frank@260000 hal@400000", 300000);
	store_close(s);
}
END_TEST

/* The index in its own order (store_index_range, not sorted), as "user@ts" words. */
static int raw_entry(void *arg, int32_t partition, const char *user, size_t len, int64_t ts)
{
	struct dump *d = arg;

	(void)partition;
	dump_add(d, "%s%.*s@%" PRId64, d->len ? " " : "", (int)len, user, ts);
	return 0;
}

static void assert_raw_index(struct store_txn *t, const char *want)
{
	struct dump d = { NULL, 0, 0 };

	dump_add(&d, "%s", "");
	ck_assert_int_eq(store_index_range(t, INT64_MIN, INT64_MAX, raw_entry, &d, err, sizeof(err)), 0);
	ck_assert_msg(!strcmp(d.buf, want), "by_time in its order holds '%s', not '%s'", d.buf, want);
	free(d.buf);
}

/* Segments (schema 6): within a second the index is in write order, across seconds in
 * time order, and a record's entries always in its own time order: touched again in the
 * same second, in a later txn or twice in one call, and taken back by a restore. */
START_TEST(test_segment_order)
{
	struct store *s = open_rw();
	struct store_txn *t = begin(s, 1);
	struct store_touch tcs[3] = {
		{ 0, "amy", 3, 5300, 1, NULL, 0, 0 },
		{ 0, "amy", 3, 5400, 1, NULL, 0, 0 },
		{ 0, "bob", 3, 6100, 1, NULL, 0, 0 },
	};
	struct store_user u = { 5350, 3, 0, NULL, 0 };
	struct reports rep;

	touch(t, "zoe", NULL, 5900, 0);
	touch(t, "amy", NULL, 5100, 0);
	commit(t);
	t = begin(s, 1);
	touch(t, "amy", NULL, 5200, 0); /* a later write, the same second */
	ck_assert_int_eq(store_users_touch(t, tcs, 3, 0, INT64_MIN, err, sizeof(err)), 0);
	commit(t);
	t = begin(s, 0);
	/* One segment per write and second: zoe and amy, amy, amy twice (one call), then
	 * bob's second. */
	assert_raw_index(t, "zoe@5900 amy@5100 amy@5200 amy@5300 amy@5400 bob@6100");
	ck_assert_int_eq(check(t, 0, &rep), 0);
	store_txn_abort(t);
	/* A restore takes amy back to 5350: her entries after it go, 5400 with them. */
	t = begin(s, 1);
	ck_assert_int_eq(store_record_put(t, 0, "amy", 3, &u, 0, err, sizeof(err)), 0);
	commit(t);
	t = begin(s, 0);
	assert_raw_index(t, "zoe@5900 amy@5100 amy@5200 amy@5300 amy@5350 bob@6100");
	ck_assert_int_eq(check(t, 0, &rep), 0);
	store_txn_abort(t);
	/* The same record again (a changelog read twice): its entry is there already. */
	t = begin(s, 1);
	ck_assert_int_eq(store_record_put(t, 0, "amy", 3, &u, 0, err, sizeof(err)), 0);
	commit(t);
	t = begin(s, 0);
	assert_raw_index(t, "zoe@5900 amy@5100 amy@5200 amy@5300 amy@5350 bob@6100");
	ck_assert_int_eq(check(t, 0, &rep), 0);
	store_txn_abort(t);
	store_close(s);
}
END_TEST

/* seg_write's edges: a segment of an earlier second than the index's last is put, not
 * appended; a number already taken (as a damaged count would leave it) is never
 * overwritten, the next one is; pruning takes whole seconds, so a floor inside a second
 * keeps all of it. */
START_TEST(test_segment_keys)
{
	struct store *s = open_rw();
	struct store_txn *t = begin(s, 1);
	struct reports rep;
	struct raw raw;
	unsigned char kb[64], vb[64];
	MDB_val k, v;
	size_t pruned;
	int64_t floor;

	touch(t, "zoe", NULL, 5100, 0);
	touch(t, "yan", NULL, 9100, 0);
	commit(t);
	t = begin(s, 1);
	touch(t, "xia", NULL, 7100, 0); /* before the last second: a plain put */
	commit(t);
	/* Three segments written: take the fourth number, in 5000's second, with a stale
	 * entry of zoe's, as a damaged count would leave it. */
	raw_open(&raw, "by_time");
	k = raw_segment_key(kb, 5000, 4);
	v = raw_segment_entry(vb, 5050, "zoe");
	ck_assert_int_eq(mdb_put(raw.txn, raw.dbi, &k, &v, 0), 0);
	raw_close(&raw);
	t = begin(s, 0);
	ck_assert_int_eq(check(t, 0, &rep), 1);
	report_find(&rep, "write 4", "past the store's count of 3");
	store_txn_abort(t);
	t = begin(s, 1);
	touch(t, "amy", NULL, 5200, 0); /* its number is taken: the next one */
	commit(t);
	t = begin(s, 0);
	assert_raw_index(t, "zoe@5100 zoe@5050 amy@5200 xia@7100 yan@9100");
	ck_assert_int_eq(check(t, 0, &rep), 0);
	store_txn_abort(t);
	/* A floor at 7100, inside 7000's second: 5000's segments go, 7000's stays whole. */
	t = begin(s, 1);
	ck_assert_int_eq(store_index_floor_raise(t, 7100, &floor, err, sizeof(err)), 0);
	ck_assert_int_eq(store_prune(t, 7100, INT64_MIN, 1000, &pruned, err, sizeof(err)), 0);
	ck_assert_uint_eq(pruned, 3);
	commit(t);
	t = begin(s, 0);
	assert_raw_index(t, "xia@7100 yan@9100");
	ck_assert_int_eq(check(t, 7100, &rep), 0);
	store_txn_abort(t);
	t = begin(s, 1);
	ck_assert_int_eq(store_prune(t, 7101, INT64_MIN, 1000, &pruned, err, sizeof(err)), 0);
	ck_assert_uint_eq(pruned, 0);
	ck_assert_int_eq(store_prune(t, 8000, INT64_MIN, 1000, &pruned, err, sizeof(err)), 0);
	ck_assert_uint_eq(pruned, 1);
	commit(t);
	store_close(s);
}
END_TEST

/* One store_index_compact() step in a txn of its own, committed. */
static void compact_step(struct store *s, int64_t from, size_t max, size_t want_examined, size_t want_deleted,
			 int want_ended)
{
	struct store_txn *t = begin(s, 1);
	size_t examined, deleted;
	int ended;

	ck_assert_int_eq(store_index_compact(t, from, max, &examined, &deleted, &ended, err, sizeof(err)), 0);
	ck_assert_uint_eq(examined, want_examined);
	ck_assert_uint_eq(deleted, want_deleted);
	ck_assert_int_eq(ended, want_ended);
	commit(t);
}

/* Compaction deletes exactly the stale entries at or after its start, in steps that go
 * on from where the last one stopped (across txns), and starts again from the floor once
 * a step reached the end (and says so: ended): at a step that ends on the last entry, on
 * a deleted one, and with a stored position the floor has passed. */
START_TEST(test_compact_index)
{
	struct store_options o = { .no_sync = 1 };
	struct store *s = open_opts(&o);
	struct store_txn *t = begin(s, 1);

	touch_in(t, 0, "alice", NULL, 100000, 0);
	touch_in(t, 0, "bob", NULL, 110000, 0);
	touch_in(t, 1, "carol", NULL, 120000, 0);
	touch_in(t, 0, "alice", NULL, 200000, 0);
	touch_in(t, 0, "bob", NULL, 210000, 0);
	touch_in(t, 0, "alice", NULL, 300000, 0);
	commit(t);
	t = begin(s, 0);
	assert_index(t, "alice@100000 bob@110000 carol@120000 alice@200000 bob@210000 alice@300000");
	store_txn_abort(t);

	/* From 105000: alice@100000 is never looked at. Two entries: bob@110000 goes, carol@120000 (her
	 * last_seen) stays; the next step goes on at alice@200000. */
	compact_step(s, 105000, 2, 2, 1, 0);
	t = begin(s, 0);
	assert_index(t, "alice@100000 carol@120000 alice@200000 bob@210000 alice@300000");
	store_txn_abort(t);
	/* alice@200000 goes; the step stops on it deleted, and goes on at bob@210000 */
	compact_step(s, 105000, 1, 1, 1, 0);
	/* bob@210000 and alice@300000 are latest: a step of exactly the rest ends the pass */
	compact_step(s, 105000, 2, 2, 0, 1);
	assert_index_checked(s, "alice@100000 carol@120000 bob@210000 alice@300000", 0);

	/* The next pass starts from `from` again: from 0 it takes alice@100000. */
	compact_step(s, 0, 10, 4, 1, 1);
	/* A position the floor has passed counts for nothing. */
	t = begin(s, 1);
	touch_in(t, 1, "carol", NULL, 400000, 0);
	touch_in(t, 0, "bob", NULL, 410000, 0);
	commit(t);
	compact_step(s, 0, 1, 1, 1, 0); /* carol@120000 goes; position: bob@210000 */
	compact_step(s, 300000, 5, 3, 0, 1); /* from 300000: alice@300000, carol@400000, bob@410000 */
	assert_index_checked(s, "bob@210000 alice@300000 carol@400000 bob@410000", 0);
	compact_step(s, 0, 5, 4, 1, 1); /* bob@210000 */
	assert_index_checked(s, "alice@300000 carol@400000 bob@410000", 0);
	t = begin(s, 0);
	assert_user(t, "alice", 300000, 3, NULL);
	store_txn_abort(t);
	/* An empty index: nothing to examine. */
	t = begin(s, 1);
	ck_assert_int_eq(store_partition_drop(t, 0, err, sizeof(err)), 0);
	ck_assert_int_eq(store_partition_drop(t, 1, err, sizeof(err)), 0);
	commit(t);
	compact_step(s, 0, 5, 0, 0, 1);
	store_close(s);
}
END_TEST

struct pend {
	size_t n;
	char what[16][40];
	uint64_t txn[16];
};

static int pend_add(void *arg, int32_t partition, const char *user, size_t len, uint64_t txn)
{
	struct pend *p = arg;

	if (p->n < 16) {
		snprintf(p->what[p->n], sizeof(p->what[0]), "%d:%.*s", (int)partition, (int)len, user);
		p->txn[p->n] = txn;
	}
	p->n++;
	return 0;
}

static struct pend pending_of(struct store_txn *t, int32_t partition)
{
	struct pend p = { 0 };

	ck_assert_int_eq(store_pending_each(t, partition, pend_add, &p, err, sizeof(err)), 0);
	return p;
}

static uint64_t pending_upto(struct store_txn *t)
{
	uint64_t upto = 0;

	ck_assert_int_eq(store_pending_upto(t, &upto, err, sizeof(err)), 0);
	return upto;
}

/* pending: a touch lists its record with its write's number; clearing up to a read txn's
 * number keeps what was changed after that read; the setting sticks to the store. */
START_TEST(test_pending)
{
	struct store_options o = { .no_sync = 1, .changelog = 1 };
	struct store *s = open_opts(&o);
	struct store_txn *t, *rd;
	struct pend p;
	uint64_t before, seen;
	int64_t next;

	t = begin(s, 0);
	before = pending_upto(t);
	store_txn_abort(t);
	t = begin(s, 1);
	touch_in(t, 0, "alice", NULL, 100, 0);
	touch_in(t, 1, "bob", NULL, 100, 0);
	commit(t);
	rd = begin(s, 0);
	seen = pending_upto(rd);
	ck_assert_uint_eq(seen, before + 1); /* one write, one number for all it lists */
	p = pending_of(rd, -1);
	ck_assert_uint_eq(p.n, 2);
	ck_assert_str_eq(p.what[0], "0:alice");
	ck_assert_str_eq(p.what[1], "1:bob");
	ck_assert_uint_eq(p.txn[0], seen);
	ck_assert_uint_eq(p.txn[1], seen);
	store_txn_abort(rd);
	t = begin(s, 1); /* a write that lists nothing takes no number */
	ck_assert_int_eq(store_changelog_put(t, 0, 1, err, sizeof(err)), 0);
	commit(t);
	t = begin(s, 0);
	ck_assert_uint_eq(pending_upto(t), seen);
	store_txn_abort(t);

	t = begin(s, 1);
	touch_in(t, 1, "bob", NULL, 200, 0);  /* changed again after the read */
	touch_in(t, 1, "carl", NULL, 200, 0);
	commit(t);
	t = begin(s, 1);
	ck_assert_int_eq(store_pending_clear(t, 1, seen, err, sizeof(err)), 0);
	ck_assert_int_eq(store_changelog_put(t, 1, 12, err, sizeof(err)), 0);
	commit(t);
	t = begin(s, 0);
	p = pending_of(t, 1);
	ck_assert_uint_eq(p.n, 2); /* bob (again) and carl stay */
	ck_assert_uint_gt(p.txn[0], seen);
	ck_assert_uint_eq(pending_of(t, 0).n, 1);
	ck_assert_int_eq(store_changelog_get(t, 1, &next, err, sizeof(err)), 0);
	ck_assert_int_eq(next, 12);
	store_txn_abort(t);
	store_close(s);

	/* Opened without the option, the store keeps listing: the changelog must not miss
	 * what a run without it changed. */
	s = open_rw();
	ck_assert(store_has_changelog(s));
	t = begin(s, 1);
	ck_assert_int_eq(store_pending_clear(t, 0, UINT64_MAX, err, sizeof(err)), 0);
	touch_in(t, 0, "dora", NULL, 300, 0);
	commit(t);
	t = begin(s, 0);
	p = pending_of(t, 0);
	ck_assert_uint_eq(p.n, 1);
	ck_assert_str_eq(p.what[0], "0:dora");
	store_txn_abort(t);
	store_close(s);
}
END_TEST

/* A store that turns the changelog on lists every record it has: the changelog starts
 * complete. Without it, nothing is listed. */
START_TEST(test_pending_first_changelog)
{
	struct store_options o = { .no_sync = 1, .changelog = 1 };
	struct store *s = open_rw();
	struct store_txn *t = begin(s, 1);

	ck_assert(!store_has_changelog(s));
	touch_in(t, 0, "alice", NULL, 100, 0);
	touch_in(t, 2, "bob", NULL, 100, 0);
	commit(t);
	t = begin(s, 0);
	ck_assert_uint_eq(pending_of(t, -1).n, 0);
	store_txn_abort(t);
	store_close(s);
	s = open_opts(&o);
	t = begin(s, 0);
	ck_assert_uint_eq(pending_of(t, -1).n, 2);
	ck_assert_uint_eq(pending_of(t, 2).n, 1);
	store_txn_abort(t);
	store_close(s);
}
END_TEST

/* A compacting copy (mdb_copy -c, here mdb_env_copy2 with MDB_CP_COMPACT) starts LMDB's
 * txn ids again at 1. pending numbers its entries with a count of its own, which the copy
 * keeps: the copy passes store check, its new writes number above its old entries, and a
 * changelog pass clears the old ones. With the txn id, the copy's entries were "later
 * than the store" and no pass after the copy cleared them. */
START_TEST(test_pending_compacting_copy)
{
	struct store_options o = { .no_sync = 1, .changelog = 1 };
	struct store *s = open_opts(&o);
	struct store_txn *t, *rd;
	struct reports rep;
	struct raw raw;
	struct pend p;
	char orig[sizeof(dir)], copy[sizeof(dir)], file[sizeof(dir) + 16];
	MDB_envinfo info;
	uint64_t old_upto, upto;
	int i;

	for (i = 0; i < 20; i++) {
		char name[16];
		snprintf(name, sizeof(name), "u%02d", i);
		t = begin(s, 1);
		touch_in(t, i % 3, name, i % 2 ? "u@example.com" : NULL, 100 + i, 0);
		commit(t);
	}
	t = begin(s, 0);
	old_upto = pending_upto(t);
	ck_assert_uint_eq(pending_of(t, -1).n, 20);
	store_txn_abort(t);
	store_close(s);

	snprintf(copy, sizeof(copy), "%s/copy", tmp);
	ck_assert_int_eq(mkdir(copy, 0700), 0);
	raw_open(&raw, "pending");
	ck_assert_int_eq(mdb_env_info(raw.env, &info), 0);
	ck_assert_uint_ge(info.me_last_txnid, old_upto);
	ck_assert_int_eq(mdb_env_copy2(raw.env, copy, MDB_CP_COMPACT), 0);
	raw_close(&raw);
	snprintf(file, sizeof(file), "%s/data.mdb", copy);
	ck_assert_int_eq(chmod(file, 0600), 0); /* the store refuses a file others can read */
	memcpy(orig, dir, sizeof(dir));
	memcpy(dir, copy, sizeof(dir));
	raw_open(&raw, "pending");
	ck_assert_int_eq(mdb_env_info(raw.env, &info), 0);
	ck_assert_uint_lt(info.me_last_txnid, old_upto); /* the copy's ids started again */
	raw_close(&raw);

	s = open_ro();
	t = begin(s, 0);
	ck_assert_int_eq(check(t, 0, &rep), 0);
	store_txn_abort(t);
	store_close(s);

	s = open_opts(&o);
	rd = begin(s, 0); /* a changelog pass's read, before the next batch */
	upto = pending_upto(rd);
	ck_assert_uint_eq(upto, old_upto);
	ck_assert_uint_eq(pending_of(rd, -1).n, 20);
	store_txn_abort(rd);
	t = begin(s, 1);
	touch_in(t, 1, "u01", NULL, 500, 0); /* changed again after that read */
	touch_in(t, 0, "zed", NULL, 500, 0);
	commit(t);
	t = begin(s, 1);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(store_pending_clear(t, i, upto, err, sizeof(err)), 0);
	commit(t);
	t = begin(s, 0);
	p = pending_of(t, -1);
	ck_assert_uint_eq(p.n, 2);
	ck_assert_str_eq(p.what[0], "0:zed");
	ck_assert_str_eq(p.what[1], "1:u01");
	ck_assert_uint_gt(p.txn[0], upto);
	ck_assert_int_eq(check(t, 0, &rep), 0);
	store_txn_abort(t);
	store_close(s);
	memcpy(dir, orig, sizeof(dir));
}
END_TEST

/* A store from before pending_writes numbered its entries by txn id, and one copied by
 * mdb_copy -c then holds entries above its txn id. A writer's open starts the count above
 * them all, so that the next pass clears them and the store passes check. */
START_TEST(test_pending_writes_start)
{
	struct store_options o = { .no_sync = 1, .changelog = 1 };
	struct store *s = open_opts(&o);
	struct store_txn *t;
	struct reports rep;
	struct raw raw;
	uint64_t big = 1000000, upto;
	unsigned char kb[8];
	MDB_val k = { 14, (void *)"pending_writes" }, v = { sizeof(big), &big };

	t = begin(s, 1);
	touch_in(t, 0, "alice", NULL, 100, 0);
	commit(t);
	store_close(s);
	raw_open(&raw, "meta");
	ck_assert_int_eq(mdb_del(raw.txn, raw.dbi, &k, NULL), 0);
	raw_close(&raw);
	raw_open(&raw, "pending");
	memcpy(kb, "\0\0\0\0bob", 7);
	k.mv_size = 7;
	k.mv_data = kb;
	ck_assert_int_eq(mdb_put(raw.txn, raw.dbi, &k, &v, 0), 0); /* as a copied store has it */
	raw_close(&raw);

	s = open_ro(); /* a reader leaves the store as it is, and judges by the txn id */
	t = begin(s, 0);
	ck_assert_int_eq(check(t, 0, &rep), 1);
	report_find(&rep, "pending", "later");
	store_txn_abort(t);
	store_close(s);

	s = open_opts(&o);
	t = begin(s, 0);
	upto = pending_upto(t);
	ck_assert_uint_eq(upto, big);
	ck_assert_uint_eq(pending_of(t, -1).n, 2);
	ck_assert_int_eq(check(t, 0, &rep), 0);
	store_txn_abort(t);
	t = begin(s, 1);
	ck_assert_int_eq(store_pending_clear(t, 0, upto, err, sizeof(err)), 0);
	touch_in(t, 0, "carl", NULL, 100, 0);
	commit(t);
	t = begin(s, 0);
	ck_assert_uint_eq(pending_of(t, -1).n, 1);
	ck_assert_uint_eq(pending_of(t, -1).txn[0], big + 1);
	store_txn_abort(t);
	store_close(s);

	/* A count of another size: store check names it, and a write that would list a
	 * record fails rather than guess a number. */
	raw_open(&raw, "meta");
	k.mv_size = 14;
	k.mv_data = (void *)"pending_writes";
	v.mv_size = 3;
	ck_assert_int_eq(mdb_put(raw.txn, raw.dbi, &k, &v, 0), 0);
	raw_close(&raw);
	s = open_opts(&o);
	t = begin(s, 0);
	ck_assert_int_ge(check(t, 0, &rep), 1);
	report_find(&rep, "meta: pending_writes has 3 bytes, not 8", NULL);
	store_txn_abort(t);
	t = begin(s, 1);
	{
		struct store_touch tc = { 0, "dora", 4, 100, 1, NULL, 0, 0 };
		ck_assert_int_eq(store_user_touch(t, &tc, 0, INT64_MIN, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, "pending_writes has 3 bytes"), "%s", err);
	}
	store_txn_abort(t);
	store_close(s);
}
END_TEST

/* store_check: a record of a partition without a position, a pending entry of a txn to
 * come, and a malformed users key are each named. */
START_TEST(test_check_partitions)
{
	struct store_options o = { .no_sync = 1, .changelog = 1 };
	struct store *s = open_opts(&o);
	struct store_txn *t = begin(s, 1);
	struct store_touch tc = { 5, "erin", 4, 100, 1, NULL, 0, 0 };
	struct reports rep;
	struct raw raw;
	unsigned char kb[16];
	uint64_t later = UINT64_MAX / 2;
	MDB_val k = { 7, kb }, v = { sizeof(later), &later };

	ck_assert_int_eq(store_user_touch(t, &tc, 0, INT64_MIN, err, sizeof(err)), 0);
	commit(t);
	t = begin(s, 0);
	ck_assert_int_eq(check(t, 0, &rep), 1);
	report_find(&rep, "erin", "partition 5");
	store_txn_abort(t);
	store_close(s);

	raw_open(&raw, "pending");
	memcpy(kb, "\0\0\0\5erin", 8);
	k.mv_size = 8;
	ck_assert_int_eq(mdb_put(raw.txn, raw.dbi, &k, &v, 0), 0);
	raw_close(&raw);
	raw_open(&raw, "users");
	k.mv_size = 3; /* shorter than a partition */
	ck_assert_int_eq(mdb_put(raw.txn, raw.dbi, &k, &v, 0), 0);
	raw_close(&raw);
	s = open_rw();
	t = begin(s, 0);
	ck_assert_int_eq(check(t, 0, &rep), 3);
	report_find(&rep, "pending", "later");
	report_find(&rep, "users: malformed key", NULL);
	assert_user(t, "erin", 100, 1, NULL);
	store_txn_abort(t);
	store_close(s);
}
END_TEST

/* ---- schema and meta --------------------------------------------------------------- */

START_TEST(test_meta_and_schema)
{
	struct store *s = open_rw();
	struct store_txn *t;
	char buf[8];

	t = begin(s, 1);
	ck_assert(meta_is(t, "schema", "6"));
	ck_assert_str_eq(STORE_SCHEMA_VERSION, "6");
	ck_assert_int_eq(store_meta_get(t, "retain_ms", buf, sizeof(buf)), STORE_NOTFOUND);
	ck_assert_int_eq(store_meta_put(t, "retain_ms", "3600000", err, sizeof(err)), 0);
	ck_assert(meta_is(t, "retain_ms", "3600000"));
	ck_assert_int_eq(store_meta_put(t, "retain_ms", "60000", err, sizeof(err)), 0);
	commit(t);
	store_close(s);

	s = open_rw();
	t = begin(s, 0);
	ck_assert(meta_is(t, "retain_ms", "60000"));
	ck_assert(meta_is(t, "schema", "6"));
	ck_assert_int_eq(store_meta_get(t, "retain_ms", buf, 4), 0); /* truncated, terminated */
	ck_assert_str_eq(buf, "600");
	store_txn_abort(t);
	store_close(s);
}
END_TEST

static void set_schema(const char *version)
{
	struct raw raw;
	MDB_val k = { 6, (void *)"schema" }, v = { strlen(version), (void *)version };

	raw_open(&raw, "meta");
	ck_assert_int_eq(mdb_put(raw.txn, raw.dbi, &k, &v, 0), 0);
	raw_close(&raw);
}

START_TEST(test_schema_mismatch_rw)
{
	struct store_options rw = { 0 };
	struct store *s = open_rw();

	store_close(s);
	set_schema("1"); /* a store of the first layout */
	s = NULL;
	ck_assert_int_eq(store_open(&s, dir, &rw, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "schema") && strstr(err, "version 1"), "%s", err);
}
END_TEST

/* A query reading records of a layout it does not know would report nonsense. */
START_TEST(test_schema_mismatch_ro)
{
	struct store_options ro = { .read_only = 1 };
	struct store *s = open_rw();
	int rc;

	store_close(s);
	set_schema("7");
	s = NULL;
	rc = store_open(&s, dir, &ro, err, sizeof(err));
	if (rc == 0)
		store_close(s);
	ck_assert_msg(rc == -1, "a read-only open accepted a store of schema version 7");
	ck_assert_msg(strstr(err, "schema") && strstr(err, "version 7"), "%s", err);
}
END_TEST

/* Makes the store look like one an older pingpong wrote: schema `version`, without the
 * databases of schema 4. */
static void set_old_schema(const char *version)
{
	struct raw raw;
	MDB_dbi dbi;

	set_schema(version);
	raw_open(&raw, "pending");
	ck_assert_int_eq(mdb_drop(raw.txn, raw.dbi, 1), 0);
	ck_assert_int_eq(mdb_dbi_open(raw.txn, "changelog", 0, &dbi), 0);
	ck_assert_int_eq(mdb_drop(raw.txn, dbi, 1), 0);
	raw_close(&raw);
}

/* A store of schema 2 or 3 without users records holds nothing that schema 6 reads
 * otherwise: a reader takes it as it is, a writer marks it 6. */
START_TEST(test_schema_upgrade)
{
	static const char *const versions[] = { "2", "3" };
	struct store *s;
	struct store_txn *t;
	struct reports rep;
	size_t i;

	for (i = 0; i < 2; i++) {
		s = open_rw();
		t = begin(s, 1);
		ck_assert_int_eq(store_offset_put(t, 0, 42, err, sizeof(err)), 0);
		commit(t);
		store_close(s);
		set_old_schema(versions[i]);
		s = open_ro();
		t = begin(s, 0);
		ck_assert(meta_is(t, "schema", versions[i]));
		ck_assert_int_eq(offset_of(t, 0), 42);
		ck_assert_uint_eq(stat_of(t).pending, 0);
		ck_assert_int_eq(check(t, 0, &rep), 0);
		store_txn_abort(t);
		store_close(s);
		s = open_rw();
		t = begin(s, 0);
		ck_assert(meta_is(t, "schema", "6"));
		ck_assert_int_eq(offset_of(t, 0), 42);
		store_txn_abort(t);
		store_close(s);
	}
}
END_TEST

/* by_time as schema 4 and 5 keep it: an entry per key be64(ts) be32(partition) name, no
 * value. */
static void set_old_index(const char *version, const int64_t *ts, const char *const *users, size_t n)
{
	struct raw raw;
	unsigned char kb[64];
	MDB_val k, empty = { 0, NULL };
	size_t i;

	raw_open(&raw, "by_time");
	ck_assert_int_eq(mdb_drop(raw.txn, raw.dbi, 0), 0);
	for (i = 0; i < n; i++) {
		uint64_t be = htobe64((uint64_t)ts[i]);
		size_t len = strlen(users[i]);
		memcpy(kb, &be, 8);
		memset(kb + 8, 0, 4);
		memcpy(kb + 12, users[i], len);
		k.mv_size = 12 + len;
		k.mv_data = kb;
		ck_assert_int_eq(mdb_put(raw.txn, raw.dbi, &k, &empty, 0), 0);
	}
	raw_close(&raw);
	set_schema(version);
}

/* A store of schema 4 or 5 keeps its index an entry per key: a reader cannot read it and
 * says how to upgrade; a writer rebuilds it in segments from the records (the stale
 * entry goes), marks the store 6, and goes on from there. */
START_TEST(test_schema5_upgrade)
{
	static const char *const versions[] = { "4", "5" };
	static const int64_t ts[] = { 50, 100, 200 };
	static const char *const users[] = { "alice", "alice", "bob" };
	struct store_options ro = { .read_only = 1 };
	struct reports rep;
	size_t i;

	for (i = 0; i < 2; i++) {
		struct store *s = open_rw();
		struct store_txn *t = begin(s, 1);

		touch(t, "alice", NULL, 100, 0);
		touch(t, "bob", NULL, 200, 0);
		commit(t);
		store_close(s);
		set_old_index(versions[i], ts, users, 3);
		s = NULL;
		ck_assert_int_eq(store_open(&s, dir, &ro, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, "schema ") && strstr(err, "run the consumer on it once"), "%s", err);
		s = open_rw();
		t = begin(s, 1);
		ck_assert(meta_is(t, "schema", "6"));
		assert_index(t, "alice@100 bob@200");
		touch(t, "alice", NULL, 300, 0);
		commit(t);
		t = begin(s, 0);
		assert_user(t, "alice", 300, 2, NULL);
		assert_index(t, "alice@100 bob@200 alice@300"); /* alice at 100: stale */
		ck_assert_int_eq(check(t, 0, &rep), 0);
		store_txn_abort(t);
		store_close(s);
		ck_assert_int_eq(store_open(&s, dir, &ro, err, sizeof(err)), 0);
		store_close(s);
		nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); /* the next version, a new store */
	}
}
END_TEST

/* One with users records cannot say which partition each came from: refused, by readers
 * and writers alike, with the way out. */
START_TEST(test_schema3_users_refused)
{
	struct store_options ro = { .read_only = 1 }, rw = { .no_sync = 1 };
	struct store *s = open_rw();
	struct store_txn *t = begin(s, 1);

	touch(t, "alice", NULL, 100, 0);
	commit(t);
	store_close(s);
	set_old_schema("3");
	s = NULL;
	ck_assert_int_eq(store_open(&s, dir, &ro, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "schema version 3") && strstr(err, "move the store aside"), "%s", err);
	ck_assert_int_eq(store_open(&s, dir, &rw, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "schema version 3") && strstr(err, "reads 6"), "%s", err);
}
END_TEST

/* The writer lock, across processes: a child opens the store as told and waits; the
 * parent tries its own open and store_writer_pid() meanwhile. */
static pid_t hold_store_opts(const struct store_options *o, int *release)
{
	int up[2], down[2];
	pid_t pid;
	char c;

	ck_assert_int_eq(pipe(up), 0);
	ck_assert_int_eq(pipe(down), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store *s;
		if (store_open(&s, dir, o, err, sizeof(err)) != 0 || write(up[1], "o", 1) != 1 ||
		    read(down[0], &c, 1) != 1)
			_exit(2);
		store_close(s);
		_exit(0);
	}
	close(up[1]);
	close(down[0]);
	ck_assert_int_eq(read(up[0], &c, 1), 1);
	close(up[0]);
	*release = down[1];
	return pid;
}

static pid_t hold_store(int exclusive, int *release)
{
	struct store_options o = { .no_sync = 1, .exclusive = exclusive };
	return hold_store_opts(&o, release);
}

static void release_store(pid_t pid, int release)
{
	int status;

	ck_assert_int_eq(write(release, "g", 1), 1);
	close(release);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "holder: status %d", status);
}

START_TEST(test_writer_lock)
{
	struct store_options excl = { .no_sync = 1, .exclusive = 1 }, rw = { .no_sync = 1 };
	struct store *s = open_rw(), *s2 = NULL;
	char pidstr[32];
	long holder;
	int release;
	pid_t pid;

	store_close(s);
	ck_assert_int_eq(store_writer_pid(dir, &holder, err, sizeof(err)), 0);

	/* a writer: another writer shares the store, an exclusive one is refused */
	pid = hold_store(0, &release);
	ck_assert_int_eq(store_writer_pid(dir, &holder, err, sizeof(err)), 1);
	ck_assert_int_eq(holder, pid);
	s = open_rw();
	store_close(s);
	ck_assert_int_eq(store_open(&s2, dir, &excl, err, sizeof(err)), -1);
	snprintf(pidstr, sizeof(pidstr), "process %ld ", (long)pid);
	ck_assert_msg(strstr(err, "is open for writing by") && strstr(err, pidstr) && strstr(err, "check_store") &&
		      strstr(err, "stop it first"), "%s", err);
	s = open_ro(); /* a reader is never refused */
	store_close(s);
	release_store(pid, release);
	ck_assert_int_eq(store_writer_pid(dir, &holder, err, sizeof(err)), 0);

	/* an exclusive writer: no other writer, but readers */
	pid = hold_store(1, &release);
	ck_assert_int_eq(store_writer_pid(dir, &holder, err, sizeof(err)), 1);
	ck_assert_int_eq(holder, pid);
	ck_assert_int_eq(store_open(&s2, dir, &rw, err, sizeof(err)), -1);
	snprintf(pidstr, sizeof(pidstr), "process %ld ", (long)pid);
	ck_assert_msg(strstr(err, "held alone by") && strstr(err, pidstr), "%s", err);
	s = open_ro();
	store_close(s);
	release_store(pid, release);

	/* with nobody holding it, an exclusive open works */
	s = open_opts(&excl);
	store_close(s);
}
END_TEST

/* One user seen at ts, in a batch of its own. */
static void way_touch(struct store *s, const char *user, int64_t ts)
{
	struct store_txn *t = begin(s, 1);

	touch(t, user, NULL, ts, INT64_MIN);
	commit(t);
}

/* While another process holds the store as `held`, a writer opened as `own` writes
 * through the map or not (`through_map`), and writes user at ts. */
static void join_writer(const struct store_options *held, const struct store_options *own, int through_map,
			const char *user, int64_t ts)
{
	int release;
	pid_t pid = hold_store_opts(held, &release);
	struct store *s = open_opts(own);

	ck_assert_int_eq(store_writes_through_map(s), through_map);
	way_touch(s, user, ts);
	store_close(s);
	release_store(pid, release);
}

/* MDB_WRITEMAP: a --no-sync writer writes through the map, a syncing one does not, and
 * a writer that joins others takes their way, whichever it asked for: lmdb.h, "Do not
 * mix processes with and without MDB_WRITEMAP on the same environment" (store.c,
 * choose_way()). Both ways write the same store. */
START_TEST(test_writer_way)
{
	static const char *const users[] = { "ann", "bob", "cid", "dee" };
	struct store_options nosync = { .no_sync = 1 }, sync = { 0 };
	struct store *s = open_opts(&nosync);
	struct store_txn *t;
	int i;

	/* alone: each its own way, and a reader none */
	ck_assert_int_eq(store_writes_through_map(s), 1);
	way_touch(s, users[0], 10);
	store_close(s);
	s = open_opts(&sync);
	ck_assert_int_eq(store_writes_through_map(s), 0);
	way_touch(s, users[1], 20);
	store_close(s);
	s = open_ro();
	ck_assert_int_eq(store_writes_through_map(s), 0);
	store_close(s);

	/* joining a --no-sync writer, a syncing one writes through the map too; and joining
	 * a syncing writer, a --no-sync one does not */
	join_writer(&nosync, &sync, 1, users[2], 30);
	join_writer(&sync, &nosync, 0, users[3], 40);

	/* alone again, its own way; and what each way wrote is there, checked */
	s = open_opts(&nosync);
	ck_assert_int_eq(store_writes_through_map(s), 1);
	store_close(s);
	s = open_ro();
	t = begin(s, 0);
	for (i = 0; i < 4; i++)
		assert_user(t, users[i], 10 * (i + 1), 1, NULL);
	store_txn_abort(t);
	assert_index_checked(s, "ann@10 bob@20 cid@30 dee@40", INT64_MIN);
	store_close(s);
}
END_TEST

/* One test case per area, so that CK_RUN_CASE=prune (say) runs just that area. */
static TCase *area(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	/* valgrind runs the 10,000-user prunes and the map growth far slower than 4 s */
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc;

	tc = area(s, "open");
	tcase_add_test(tc, test_open_creates_private_files);
	tcase_add_test(tc, test_open_failures);
	tcase_add_test(tc, test_refuse_open_directory);
	tcase_add_test(tc, test_refuse_symlinks);
	tcase_add_test(tc, test_refuse_open_files);
	tcase_add_test(tc, test_refuse_foreign_environment);
	tcase_add_test(tc, test_refuse_other_kind);
	tcase_add_test(tc, test_concurrent_create);
	tcase_add_test(tc, test_refuse_truncated);
	tcase_add_test(tc, test_damaged_pages_exit_74);
	tcase_add_test(tc, test_lock_file_replaced);
	tcase_add_test(tc, test_fault_handler_exit_74);
	tcase_add_test(tc, test_bind);
	tcase_add_test(tc, test_bind_long_group_refused);
	tcase_add_test(tc, test_read_only);
	tc = area(s, "users");
	tcase_add_test(tc, test_touch_and_range);
	tcase_add_test(tc, test_out_of_order_and_duplicates);
	tcase_add_test(tc, test_index_floor);
	tcase_add_test(tc, test_touch_record_size_edges);
	tcase_add_test(tc, test_index_append_edges);
	tcase_add_test(tc, test_touch_batch_as_one_by_one);
	tcase_add_test(tc, test_user_name_limits);
	tcase_add_test(tc, test_key_order);
	tc = area(s, "txn");
	tcase_add_test(tc, test_offsets);
	tcase_add_test(tc, test_batch_atomicity);
	tcase_add_test(tc, test_snapshot_isolation);
	tc = area(s, "prune");
	tcase_add_test(tc, test_prune_index);
	tcase_add_test(tc, test_prune_users);
	tcase_add_test(tc, test_prune_users_after_index_prune);
	tc = area(s, "records");
	tcase_add_test(tc, test_rejects);
	tcase_add_test(tc, test_gaps);
	tcase_add_test(tc, test_gap_records);
	tcase_add_test(tc, test_gap_records_schema2);
	tcase_add_test(tc, test_outbox);
	tc = area(s, "grow");
	tcase_add_test(tc, test_map_full_grow_redo);
	tc = area(s, "check");
	tcase_add_test(tc, test_check_catches_corrupt_index);
	tcase_add_test(tc, test_check_offsets);
	tc = area(s, "partitions");
	tcase_add_test(tc, test_partition_records_merge);
	tcase_add_test(tc, test_record_put_and_partition_drop);
	tcase_add_test(tc, test_stale_entries);
	tcase_add_test(tc, test_compact_index);
	tcase_add_test(tc, test_segment_order);
	tcase_add_test(tc, test_segment_keys);
	tcase_add_test(tc, test_index_append_stale_last);
	tcase_add_test(tc, test_pending);
	tcase_add_test(tc, test_pending_first_changelog);
	tcase_add_test(tc, test_pending_compacting_copy);
	tcase_add_test(tc, test_pending_writes_start);
	tcase_add_test(tc, test_check_partitions);
	tc = area(s, "schema");
	tcase_add_test(tc, test_meta_and_schema);
	tcase_add_test(tc, test_schema_mismatch_rw);
	tcase_add_test(tc, test_schema_mismatch_ro);
	tcase_add_test(tc, test_schema_upgrade);
	tcase_add_test(tc, test_schema5_upgrade);
	tcase_add_test(tc, test_schema3_users_refused);
	tcase_add_test(tc, test_writer_lock);
	tcase_add_test(tc, test_writer_way);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
