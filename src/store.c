/* store.c: the LMDB store, where a consumer's state and its offsets live together.
 *
 * One environment (a directory) per consumer application, with named databases:
 *   meta      string settings: schema version, topic, group, retain_ms
 *   offsets   topic NUL be32(partition) -> int64 next offset to read, and the fingerprint
 *             of the message before it: int64 Kafka timestamp, uint64 hash
 *   users     be32(partition) user -> { int64 last_seen, uint64 count, int64 email_ts,
 *             uint16 email_len, email }: what one source partition's events add up to
 *             for a user; queries merge a user's records
 *   by_time   be64(second) be64(write) -> entries, each be32(partition)
 *             u8(name length) be64(ts) user: the time-ordered index (the Redis sorted
 *             set's job) in segments, one per write and second (see seg_write)
 *   rejects   be32(partition) be64(offset) -> reason NUL payload's first bytes
 *   gaps      be32(partition) be64(from) be64(at_ms) -> be64(to) u8(kind) who: a skipped
 *             gap or a reset, when and by whom (schema 2: be32(partition) be64(from) ->
 *             be64(to), a skipped gap; read as it is)
 *   outbox    be32(partition) be64(offset) recipient -> notification text
 *   pending   be32(partition) user -> uint64 write: records changed and not yet produced
 *             to the changelog, by the number of the txn's write (meta "pending_writes",
 *             store.h)
 *   changelog be32(partition) -> int64: how far the partition's records reflect the
 *             changelog topic
 *
 * What is in one transaction, and why: the engine applies a whole batch of messages and
 * writes the next offset of every partition in it inside ONE write txn. LMDB commits all
 * of it or none of it, so after a crash the offsets say exactly which events the state
 * holds: nothing lost, nothing applied twice. The pending entries of the batch's changes
 * are in the same txn, so a crash before they reach the changelog loses none. Invariant:
 * by_time holds an entry per record at that record's last_seen (unless pruned for being
 * older than the retention), and its stale entries, older, until compaction or pruning.
 * Keeping each partition's records apart lets a store drop one partition's state and
 * restore it alone (changelog.c), since every record knows the partition it came from.
 *
 * Big-endian keys make LMDB's byte order the numeric order, so by_time scans in time (by
 * the second) and a partition's records are one key range. users and by_time compare
 * keys with store_key_cmp(), LMDB's default order done faster (see there).
 */
#include "config.h"

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <lmdb.h>

#include "crash.h"
#include "store.h"
#include "util.h"

#define STORE_DEFAULT_MAP (64ULL << 20)
#define STORE_MAX_KEY 511 /* LMDB's default mdb_env_get_maxkeysize() */
#define STORE_MAGIC "pingpong store" /* meta "magic": this environment is ours */
#define STORE_MAX_DBS 10

struct store {
	MDB_env *env;
	char *dir;
	int read_only;
	uint64_t lock_dev, lock_ino; /* lock.mdb as this process opened it */
	/* Held shared by every txn of this process, exclusive by a change of the map size:
	 * mdb_env_set_mapsize "may be called at later times if no transactions are active
	 * in this process" (lmdb.h), and the engine commits in a thread of its own while
	 * the main thread reads. */
	pthread_rwlock_t map_lock;
	int writer_fd;               /* lock.mdb, holding the writer lock; -1 for a reader */
	int writemap;                /* written through the map (MDB_WRITEMAP): see choose_way() */
	char topic[256];
	int changelog;               /* list changed records in pending */
	int has_v4_dbs;              /* pending and changelog exist (not in an older store) */
	MDB_dbi meta, offsets, users, by_time, rejects, gaps, outbox, pending, changelog_db;
};

struct store_txn {
	struct store *s;
	MDB_txn *txn;
	MDB_cursor *users_cur, *index_cur; /* reused by every touch of the txn; NULL until then */
	unsigned char key[STORE_MAX_KEY + 1]; /* scratch for building keys */
	unsigned char ukey[4 + STORE_USER_KEY_MAX]; /* scratch for a users key */
	unsigned char val[1024];              /* scratch for building values */
	unsigned char last[STORE_MAX_KEY];    /* by_time's last key as seg_write() knows it */
	size_t last_len;                      /* 0: not known yet */
	uint64_t index_writes;                /* meta "index_writes" as this txn left it; 0: not read yet */
	uint64_t pending_write;               /* this txn's number in pending; 0: none yet */
};

static int pending_put(struct store_txn *t, const MDB_val *k, char *err, size_t errlen);

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be64(unsigned char *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

static uint64_t get_be64(const unsigned char *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* LMDB's default order of keys (mdb_cmp_memn: the bytes, then a prefix first), 8 bytes
 * at a time. The users and by_time trees compare about 17 keys of 12 to 30 bytes per
 * event, and through memcmp() that was a fifth of the writer thread's time; the order is
 * the default's, byte for byte (check_store's test_key_order compares the two at every
 * edge: equal keys, prefixes, lengths on both sides of the 8-byte steps, bytes 0x00, 0x7f,
 * 0x80 and 0xff). */
static int key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
	const unsigned char *x = a, *y = b;
	size_t n = alen < blen ? alen : blen;

	for (; n >= 8; x += 8, y += 8, n -= 8) {
		uint64_t u, v;

		memcpy(&u, x, 8);
		memcpy(&v, y, 8);
		if (u != v)
			return be64toh(u) < be64toh(v) ? -1 : 1;
	}
	for (; n; x++, y++, n--)
		if (*x != *y)
			return *x < *y ? -1 : 1;
	return (alen > blen) - (alen < blen);
}

/* The comparator of the users and by_time trees (mdb_set_compare). lmdb.h's conditions:
 * it "must be called before any data access functions are used", which open_txn does
 * right after mdb_dbi_open; and "the same comparison function must be used by every
 * program accessing the database, every time the database is used". A tree's layout
 * depends only on the order its comparator gives, and this one gives LMDB's default
 * order, so a program that opens the trees without it (mdb_dump, mdb_load, mdb_stat, a
 * pingpong from before it) reads and writes the very same trees. */
int store_key_cmp(const MDB_val *a, const MDB_val *b)
{
	return key_cmp(a->mv_data, a->mv_size, b->mv_data, b->mv_size);
}

/* Names an LMDB failure the house way: "mdb_put: MDB_MAP_FULL: ...". Maps MAP_FULL to
 * STORE_FULL so the caller can grow the map and retry. */
static int mdb_fail(int rc, const char *call, char *err, size_t errlen)
{
	set_err(-1, err, errlen, "%s: %s", call, mdb_strerror(rc));
	return rc == MDB_MAP_FULL ? STORE_FULL : -1;
}

/* The errors of store_open() name the store, and its callers print them as they are;
 * those of an open store do not, and its callers name it ("store 'DIR': ..."). This
 * names it in err, for an error of an open store's that store_open() passes on. */
static void name_store(const char *dir, char *err, size_t errlen)
{
	char *was = xstrdup(err);

	snprintf(err, errlen, "store '%s': %s", dir, was);
	free(was);
}

/* A damaged store must never kill a command by a signal: LMDB has no page checksums, so a
 * truncated file or a garbage page faults (SIGBUS, SIGSEGV) or trips one of LMDB's
 * assertions deep in a read. While a txn is open, a fault is taken for the store's: the
 * handler says so, naming the store, and exits 74. Outside a txn the signal keeps its
 * default action, so that a bug elsewhere still crashes as a bug. */
static _Thread_local const char *volatile fault_dir;  /* the store of this thread's txn, or NULL */
static _Thread_local const char *volatile fault_what; /* what was being done, or NULL */

static void fault_say(const char *what, const char *detail)
{
	const char *dir = fault_dir ? fault_dir : "?";
	const char *parts[] = { "pingpong: store '", dir, "' is damaged: ", what, detail ? ": " : "",
				detail ? detail : "", fault_what ? " while " : "", fault_what ? fault_what : "",
				"; run 'pingpong store check --store ", dir, "'\n" };
	size_t i;

	/* write(2) only: this runs in a signal handler. */
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if (write(STDERR_FILENO, parts[i], strlen(parts[i])) < 0)
			break;
}

static void on_fault(int sig)
{
	if (!fault_dir) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	fault_say(sig == SIGBUS ? "SIGBUS" : "SIGSEGV", NULL);
	_exit(74); /* EX_IOERR */
}

static void on_lmdb_assert(MDB_env *env, const char *msg)
{
	(void)env;
	fault_say("LMDB assertion failed", msg);
	_exit(74);
}

static void fault_guard_install(void)
{
	static int installed;
	struct sigaction sa;

	if (installed)
		return;
	installed = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fault;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
}

static int stat_lock(const struct store *s, struct stat *st)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/lock.mdb", s->dir);
	return stat(path, st);
}

/* The directory, made private if we create it, and refused if it is not ours to write
 * (or, for anyone, a symbolic link or group- or world-writable): a store holds users'
 * emails, and whoever can write its directory can swap its files. Returns an open fd of
 * it, or -1 with the reason. */
static int open_dir(const char *dir, int read_only, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	/* mkdir first, stat never: two members starting at once on a missing store both
	 * try, and EEXIST means the other one won. */
	if (!read_only && mkdir(dir, 0700) != 0 && errno != EEXIST)
		return set_err(-1, err, errlen, "cannot create store '%s': %s", dir, strerror(errno));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP || (lstat(dir, &st) == 0 && S_ISLNK(st.st_mode)))
			return set_err(-1, err, errlen, "store '%s' is a symbolic link: give the directory it "
				       "points to", dir);
		if (errno == ENOTDIR)
			return set_err(-1, err, errlen, "cannot open store '%s': not a directory", dir);
		return set_err(-1, err, errlen, "cannot open store '%s': %s", dir, strerror(errno));
	}
	if (fstat(fd, &st) != 0) {
		set_err(-1, err, errlen, "cannot open store '%s': fstat: %s", dir, strerror(errno));
		goto fd_close;
	}
	if (!read_only && st.st_uid != geteuid()) {
		set_err(-1, err, errlen, "store '%s' belongs to uid %u, not to this user (uid %u): use a "
			"store of your own, or chown it", dir, (unsigned)st.st_uid, (unsigned)geteuid());
		goto fd_close;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		set_err(-1, err, errlen, "store '%s' can be written by others (mode %04o): chmod go-w '%s'", dir,
			(unsigned)(st.st_mode & 07777), dir);
		goto fd_close;
	}
	return fd;
fd_close:
	close(fd);
	return -1;
}

/* The files LMDB will open by name: no symbolic link, a regular file, and for a writer
 * ours and private. A missing one is fine: LMDB creates it 0600. */
static int check_file(int dirfd, const char *dir, const char *name, int read_only, char *err, size_t errlen)
{
	struct stat st;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK), rc = -1;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno == ELOOP)
			return set_err(-1, err, errlen, "store '%s': %s is a symbolic link: refused", dir, name);
		return set_err(-1, err, errlen, "store '%s': cannot open %s: %s", dir, name, strerror(errno));
	}
	if (fstat(fd, &st) != 0)
		set_err(-1, err, errlen, "store '%s': fstat %s: %s", dir, name, strerror(errno));
	else if (!S_ISREG(st.st_mode))
		set_err(-1, err, errlen, "store '%s': %s is not a regular file", dir, name);
	else if (!read_only && st.st_uid != geteuid())
		set_err(-1, err, errlen, "store '%s': %s belongs to uid %u, not to this user (uid %u): chown it",
			dir, name, (unsigned)st.st_uid, (unsigned)geteuid());
	else if (!read_only && (st.st_mode & 077))
		set_err(-1, err, errlen, "store '%s': %s has mode %04o, readable by others: chmod 600 '%s/%s'",
			dir, name, (unsigned)(st.st_mode & 07777), dir, name);
	else
		rc = 0;
	close(fd);
	return rc;
}

/* The start time of process pid (in clock ticks since boot), from /proc: with the pid, it
 * names a process even after its pid is reused. 0 if there is no such process. */
static uint64_t process_start(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	FILE *f;
	int field;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (!(f = fopen(path, "r")))
		return 0;
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	/* comm, the second field, may hold spaces and parentheses: count from its end */
	if (!p || !(p = strrchr(buf, ')')))
		return 0;
	for (field = 2; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	if (sscanf(p, "%llu", &start) != 1)
		return 0;
	return start;
}

/* meta "writer": the pid, process start time and lock file inode of the last process
 * that opened the store for writing. */
struct writer_rec {
	int64_t pid;
	uint64_t start;
	uint64_t lock_dev, lock_ino;
};

/* LMDB cannot survive its lock file being replaced under a live process: two processes
 * would then each take a write lock of their own. A starting writer refuses a store
 * whose last writer still runs with another lock file, then records itself. */
static int check_writer(struct store *s, MDB_txn *txn, char *err, size_t errlen)
{
	MDB_val k = { 6, (void *)"writer" }, v;
	struct writer_rec w;

	if (mdb_get(txn, s->meta, &k, &v) != 0 || v.mv_size != sizeof(w))
		return 0;
	memcpy(&w, v.mv_data, sizeof(w));
	if (w.pid == getpid() || (w.lock_dev == s->lock_dev && w.lock_ino == s->lock_ino))
		return 0;
	if (w.start && process_start((pid_t)w.pid) == w.start)
		return set_err(-1, err, errlen, "store '%s': its lock file was replaced while process %" PRId64
			       " still uses the store; LMDB cannot keep two writers apart then: stop "
			       "process %" PRId64 " before opening the store", s->dir, w.pid, w.pid);
	return 0;
}

/* The writer lock (store.h): an fcntl lock on one byte of lock.mdb, far from byte 0,
 * which LMDB locks itself. Shared for a writer, exclusive for the exclusive writer. The
 * kernel drops it when the process ends, however it ends: a lock held is a live process,
 * and F_GETLK names it. It is a POSIX record lock, which a process loses when it closes
 * ANY descriptor of the file: the store opens lock.mdb only before taking it (check_file,
 * check_existing), and releases it after mdb_env_close. */
#define WRITER_LOCK_AT ((off_t)1 << 30)

/* The pid of a process other than this one that holds byte `at` of lock.mdb in a way
 * that conflicts with `type`, or 0; -1 on error. */
static long lock_holder(int fd, short type, off_t at)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = at, .l_len = 1 };

	if (fcntl(fd, F_GETLK, &fl) != 0)
		return -1;
	return fl.l_type == F_UNLCK ? 0 : (long)fl.l_pid;
}

/* Locks (F_RDLCK, F_WRLCK) or unlocks (F_UNLCK) byte `at` of lock.mdb; `wait`: F_SETLKW. */
static int lock_byte(int fd, short type, off_t at, int wait)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET, .l_start = at, .l_len = 1 };

	while (fcntl(fd, wait ? F_SETLKW : F_SETLK, &fl) != 0)
		if (errno != EINTR)
			return -1;
	return 0;
}

/*
 * MDB_WRITEMAP, chosen by each writer, one way per store at a time. Writing through the
 * map saves LMDB a copy of every dirty page into the file: the store alone, --no-sync,
 * 1.10-1.22 M events/s against 0.90-0.96 M without (bench/README.md). But it slows a
 * commit that syncs: msync() leaves every page it wrote clean and write-protected, and
 * the next txn takes a page fault (ext4_page_mkwrite) on each page it writes again. With
 * fsync per batch of 1,000 the store alone ran at 253-296 k events/s through the map,
 * 335-347 k with LMDB's own writes. So a --no-sync writer writes through the map, and a
 * syncing one does not.
 *
 * lmdb.h's condition for MDB_WRITEMAP: "Do not mix processes with and without
 * MDB_WRITEMAP on the same environment." Writers may share a store (members of one group
 * on one host), so a writer takes the way of the writers already there: each holds a
 * shared lock on one of two bytes of lock.mdb, one per way, and decides, and takes its
 * byte, while it holds a third byte alone, so two writers that start together decide one
 * after the other. Readers (MDB_RDONLY) write nothing and take no part. The bytes are
 * past the writer lock's, far from those LMDB locks itself. Opens s->writer_fd (with
 * lock.mdb itself, for a new store: LMDB opens the file it finds, and initializes it
 * when it is the first to hold it).
 */
#define WAY_DECIDE_AT (WRITER_LOCK_AT + 1)
#define WAY_MAP_AT (WRITER_LOCK_AT + 2)
#define WAY_PLAIN_AT (WRITER_LOCK_AT + 3)

static int choose_way(struct store *s, int no_sync, char *err, size_t errlen)
{
	char path[4096];
	long other;
	int map = no_sync, rc;

	snprintf(path, sizeof(path), "%s/lock.mdb", s->dir);
	if ((s->writer_fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600)) < 0)
		return set_err(-1, err, errlen, "cannot open store '%s': lock.mdb: %s", s->dir, strerror(errno));
	if (lock_byte(s->writer_fd, F_WRLCK, WAY_DECIDE_AT, 1) != 0)
		return set_err(-1, err, errlen, "cannot open store '%s': fcntl F_SETLKW lock.mdb: %s", s->dir,
			       strerror(errno));
	if ((other = lock_holder(s->writer_fd, F_WRLCK, map ? WAY_PLAIN_AT : WAY_MAP_AT)) > 0)
		map = !map;
	rc = other < 0 ? -1 : lock_byte(s->writer_fd, F_RDLCK, map ? WAY_MAP_AT : WAY_PLAIN_AT, 0);
	if (rc != 0)
		set_err(-1, err, errlen, "cannot open store '%s': fcntl lock.mdb: %s", s->dir, strerror(errno));
	lock_byte(s->writer_fd, F_UNLCK, WAY_DECIDE_AT, 0);
	s->writemap = map;
	return rc;
}

int store_writes_through_map(const struct store *s)
{
	return s->writemap;
}

static int writer_lock(struct store *s, int exclusive, char *err, size_t errlen)
{
	char cmd[200];
	long pid;

	if (lock_byte(s->writer_fd, exclusive ? F_WRLCK : F_RDLCK, WRITER_LOCK_AT, 0) == 0)
		return 0;
	if (errno != EACCES && errno != EAGAIN)
		return set_err(-1, err, errlen, "cannot open store '%s': fcntl F_SETLK lock.mdb: %s", s->dir,
			       strerror(errno));
	pid = lock_holder(s->writer_fd, F_WRLCK, WRITER_LOCK_AT);
	if (pid <= 0)
		return set_err(-1, err, errlen, "store '%s' was %s by a process that has just ended: try again",
			       s->dir, exclusive ? "open for writing" : "being reset");
	process_cmdline(pid, cmd, sizeof(cmd));
	if (exclusive)
		return set_err(-1, err, errlen, "store '%s' is open for writing by process %ld%s%s%s: stop it "
			       "first", s->dir, pid, cmd[0] ? " (" : "", cmd, cmd[0] ? ")" : "");
	return set_err(-1, err, errlen, "store '%s' is held alone by process %ld%s%s%s (a store reset): "
		       "wait for it to end", s->dir, pid, cmd[0] ? " (" : "", cmd, cmd[0] ? ")" : "");
}

int store_writer_pid(const char *dir, long *pid, char *err, size_t errlen)
{
	char path[4096];
	int fd;

	*pid = 0;
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	/* Read-only is enough to ask: F_GETLK tests without locking. */
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		if (errno == ENOENT)
			return 0;
		return set_err(-1, err, errlen, "store '%s': cannot open lock.mdb: %s", dir, strerror(errno));
	}
	*pid = lock_holder(fd, F_WRLCK, WRITER_LOCK_AT);
	close(fd);
	if (*pid < 0) {
		*pid = 0;
		return set_err(-1, err, errlen, "store '%s': fcntl F_GETLK lock.mdb: %s", dir, strerror(errno));
	}
	return *pid > 0;
}

/* Refuses an environment that another program made: a non-empty one without our mark.
 * Returns 1 for a new (empty) environment, 0 for one of ours, -1 otherwise. */
static int check_ours(MDB_txn *txn, const char *dir, char *err, size_t errlen)
{
	MDB_dbi main_dbi, meta;
	MDB_stat ms;
	MDB_val k = { 5, (void *)"magic" }, v;
	int rc;

	if ((rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) != 0 || (rc = mdb_stat(txn, main_dbi, &ms)) != 0)
		return set_err(-1, err, errlen, "cannot open store '%s': %s", dir, mdb_strerror(rc));
	if (ms.ms_entries == 0)
		return 1;
	if (mdb_dbi_open(txn, "meta", 0, &meta) != 0)
		return set_err(-1, err, errlen, "'%s' holds an LMDB environment that is not a pingpong store: "
			       "refused", dir);
	if (mdb_get(txn, meta, &k, &v) == 0 && v.mv_size == strlen(STORE_MAGIC) &&
	    !memcmp(v.mv_data, STORE_MAGIC, v.mv_size))
		return 0;
	/* A store of the first schema had no mark, but a version: say that instead. */
	k.mv_size = 6;
	k.mv_data = (void *)"schema";
	if (mdb_get(txn, meta, &k, &v) == 0)
		return 0;
	return set_err(-1, err, errlen, "'%s' holds an LMDB environment that is not a pingpong store: refused",
		       dir);
}

static int has_data(const char *dir)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof(path), "%s/data.mdb", dir);
	return stat(path, &st) == 0 && st.st_size > 0;
}

/* A truncated data.mdb would fault (SIGBUS) at the first read past its end: compare the
 * file with the page count that LMDB's own meta page gives, before any page is read. */
static int check_size(MDB_env *env, const char *dir, char *err, size_t errlen)
{
	MDB_envinfo info;
	MDB_stat ms;
	mdb_filehandle_t fd;
	struct stat st;

	if (mdb_env_get_fd(env, &fd) != 0 || fstat(fd, &st) != 0)
		return 0;
	mdb_env_info(env, &info);
	mdb_env_stat(env, &ms);
	if ((uint64_t)st.st_size < ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize)
		return set_err(-1, err, errlen, "store '%s' is damaged: data.mdb has %lld bytes, but its "
			       "pages run to %" PRIu64 " (truncated?); run pingpong store check", dir,
			       (long long)st.st_size, ((uint64_t)info.me_last_pgno + 1) * ms.ms_psize);
	return 0;
}

/* An existing environment, judged read-only before a writer opens it: MDB_WRITEMAP
 * would extend its file to the map at once, which hides a truncation under zeros and
 * grows another program's file. check_size() and check_ours(). */
static int check_existing(const char *dir, char *err, size_t errlen)
{
	MDB_env *env;
	MDB_txn *txn;
	int rc;

	if ((rc = mdb_env_create(&env)) != 0)
		return mdb_fail(rc, "mdb_env_create", err, errlen);
	mdb_env_set_maxdbs(env, STORE_MAX_DBS);
	if ((rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600)) != 0) {
		mdb_env_close(env);
		return 0; /* the real open says what is wrong */
	}
	if ((rc = check_size(env, dir, err, errlen)) == 0 && mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0) {
		rc = check_ours(txn, dir, err, errlen) < 0 ? -1 : 0;
		mdb_txn_abort(txn);
	}
	mdb_env_close(env);
	return rc;
}

/* Checks a meta setting of the store's identity, or records it (when absent and
 * writing). */
static int identity(struct store *s, MDB_txn *txn, const char *key, const char *label, const char *want,
		    const char *what, char *err, size_t errlen)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	int rc = mdb_get(txn, s->meta, &k, &v);

	if (rc == MDB_NOTFOUND) {
		if (s->read_only)
			return 0;
		v.mv_size = strlen(want);
		v.mv_data = (void *)want;
		if ((rc = mdb_put(txn, s->meta, &k, &v, 0)) != 0)
			return mdb_fail(rc, "mdb_put", err, errlen);
		return 0;
	}
	if (rc != 0)
		return mdb_fail(rc, "mdb_get", err, errlen);
	if (v.mv_size != strlen(want) || memcmp(v.mv_data, want, v.mv_size))
		return set_err(-1, err, errlen, "store '%s' has %s %.*s; %s", s->dir, label, (int)v.mv_size,
			       (const char *)v.mv_data, what);
	return 0;
}

static int rebuild_index(struct store *s, MDB_txn *txn, char *err, size_t errlen);

/* A store of schema 2 or 3 without users records differs from schema 4 only in what it
 * lacks (the gaps' when and who, pending, changelog), and schema 4 from 5 only in that
 * its index has no stale entry, which schema 5 allows but does not need. Schema 6 keeps
 * the index in segments (by_time, below): a writer rebuilds the index of a store of
 * schema 4 or 5 from its records and marks it 6, and marks one of 2 or 3 without users
 * 6; a reader reads one whose index is empty as it is, and refuses one whose index it
 * cannot read, saying how to upgrade it. One of 2 or 3 with users records cannot tell
 * their source partitions, so it is left to identity(), which refuses it. Returns 1 for
 * a store read or marked so, 0 for any other, STORE_FULL or -1. */
static int schema_upgrade(struct store *s, MDB_txn *txn, char *err, size_t errlen)
{
	MDB_val k = { 6, (void *)"schema" }, v;
	MDB_stat ms;
	char have;
	int rc;

	if (mdb_get(txn, s->meta, &k, &v) != 0 || v.mv_size != 1)
		return 0;
	have = *(const char *)v.mv_data;
	if (have != '4' && have != '5' &&
	    ((have != '2' && have != '3') || mdb_stat(txn, s->users, &ms) != 0 || ms.ms_entries != 0))
		return 0;
	if (s->read_only) {
		if (mdb_stat(txn, s->by_time, &ms) == 0 && ms.ms_entries == 0)
			return 1;
		return set_err(-1, err, errlen, "store '%s' is of schema %c, whose time index this pingpong (schema %s) "
			       "reads only once a writer has rebuilt it: run the consumer on it once (pingpong active "
			       "--store %s ...)", s->dir, have, STORE_SCHEMA_VERSION, s->dir);
	}
	if ((have == '4' || have == '5') && (rc = rebuild_index(s, txn, err, errlen)) != 0)
		return rc;
	v.mv_size = strlen(STORE_SCHEMA_VERSION);
	v.mv_data = (void *)STORE_SCHEMA_VERSION;
	if ((rc = mdb_put(txn, s->meta, &k, &v, 0)) != 0)
		return mdb_fail(rc, "mdb_put", err, errlen);
	return 1;
}

/* meta "pending_writes": the number of the last write txn that listed records in pending,
 * uint64 in host order, which an entry of pending holds as the write that last listed it.
 * A counter of our own rather than LMDB's txn id, which a compacting copy (mdb_copy -c)
 * starts again at 1: the copy's new writes would then sort before its old entries. A
 * store from before it (absent) numbered its entries by txn id; a writer's open carries
 * the count on from the largest of the two (open_changelog_dbs). */
static const MDB_val pending_writes_key = { 14, (void *)"pending_writes" };

/* A number of meta, 8 bytes in host order (like every number in the store), into *n; absent,
 * *n = absent. Returns 0, or -1 for a value of another size. */
static int meta_number_get(MDB_txn *txn, const struct store *s, const MDB_val *key, uint64_t absent, uint64_t *n,
			   char *err, size_t errlen)
{
	MDB_val v;
	int rc;

	*n = absent;
	if ((rc = mdb_get(txn, s->meta, (MDB_val *)key, &v)) == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return mdb_fail(rc, "mdb_get", err, errlen);
	if (v.mv_size != sizeof(*n))
		return set_err(-1, err, errlen, "meta: %.*s has %zu bytes, not 8", (int)key->mv_size,
			       (const char *)key->mv_data, v.mv_size);
	memcpy(n, v.mv_data, sizeof(*n));
	return 0;
}

/* The count in txn's snapshot; absent, the txn's id, which is at least every entry of a
 * store from before the count (the txn's own id for a write txn). */
static int pending_writes_get(MDB_txn *txn, const struct store *s, uint64_t *n, char *err, size_t errlen)
{
	return meta_number_get(txn, s, &pending_writes_key, (uint64_t)mdb_txn_id(txn), n, err, errlen);
}

/* A writer's open of a store whose pending has no count yet: the count starts above every
 * entry, so that clearing up to a later read's count clears them all, even in a copy made
 * by mdb_copy -c before this count existed, where they are above the txn id. */
static int pending_writes_start(struct store *s, MDB_txn *txn, char *err, size_t errlen)
{
	uint64_t n = (uint64_t)mdb_txn_id(txn), id;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_get(txn, s->meta, (MDB_val *)&pending_writes_key, &v)) != MDB_NOTFOUND)
		return rc ? mdb_fail(rc, "mdb_get", err, errlen) : 0;
	if ((rc = mdb_cursor_open(txn, s->pending, &cur)) != 0)
		return mdb_fail(rc, "mdb_cursor_open", err, errlen);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (v.mv_size != sizeof(id))
			continue; /* store check names it */
		memcpy(&id, v.mv_data, sizeof(id));
		if (id > n)
			n = id;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND)
		return mdb_fail(rc, "mdb_cursor_get", err, errlen);
	v.mv_size = sizeof(n);
	v.mv_data = &n;
	if ((rc = mdb_put(txn, s->meta, (MDB_val *)&pending_writes_key, &v, 0)) != 0)
		return mdb_fail(rc, "mdb_put", err, errlen);
	return 0;
}

/* The databases of schema 4, and the changelog setting (store_options.changelog): a
 * writer creates them; a reader of an older store (schema_upgrade) finds none, and reads
 * them as empty. */
static int open_changelog_dbs(struct store *s, MDB_txn *txn, const struct store_options *opts, char *err,
			      size_t errlen)
{
	MDB_val k = { 9, (void *)"changelog" }, v = { 1, (void *)"1" };
	int rc, create = opts->read_only ? 0 : MDB_CREATE;

	if ((rc = mdb_dbi_open(txn, "pending", create, &s->pending)) != 0 ||
	    (rc = mdb_dbi_open(txn, "changelog", create, &s->changelog_db)) != 0) {
		if (rc == MDB_NOTFOUND && opts->read_only)
			return 0;
		return mdb_fail(rc, "mdb_dbi_open", err, errlen);
	}
	s->has_v4_dbs = 1;
	s->changelog = mdb_get(txn, s->meta, &k, &v) == 0;
	if (!opts->read_only && (rc = pending_writes_start(s, txn, err, errlen)) != 0)
		return rc;
	if (!opts->changelog || opts->read_only || s->changelog)
		return 0;
	/* Turned on now: what the store holds is not in the changelog yet. */
	s->changelog = 1;
	v.mv_size = 1;
	v.mv_data = (void *)"1";
	if ((rc = mdb_put(txn, s->meta, &k, &v, 0)) != 0)
		return mdb_fail(rc, "mdb_put", err, errlen);
	{
		struct store_txn all = { .s = s, .txn = txn };
		return store_pending_add_all(&all, -1, err, errlen);
	}
}

/* Reserves the map's bytes on disk. With MDB_WRITEMAP, LMDB extends the file to the map
 * size with ftruncate and writes pages through the map, so on a full file system a page
 * of that sparse file faults (SIGBUS) instead of failing a write. Allocating the blocks
 * first turns a full disk into an error here. */
static int reserve(struct store *s, uint64_t size, char *err, size_t errlen)
{
	mdb_filehandle_t fd;
	int rc;

	if (s->read_only || mdb_env_get_fd(s->env, &fd) != 0)
		return 0;
	if ((rc = posix_fallocate(fd, 0, (off_t)size)) == 0)
		return 0;
	{
		struct statvfs fs;
		unsigned long long avail = 0;
		if (fstatvfs(fd, &fs) == 0)
			avail = (unsigned long long)fs.f_bavail * fs.f_frsize;
		return set_err(-1, err, errlen, "cannot reserve %" PRIu64 " MiB for its map: %s (%llu MiB "
			       "free); free space, or move the store", size >> 20, strerror(rc), avail >> 20);
	}
}

/* store_open()'s first txn: the databases, the store's identity and the writer's record.
 * Returns 0, STORE_FULL (grow the map and call again) or -1. */
static int open_txn(struct store *s, const struct store_options *opts, char *err, size_t errlen)
{
	const char *dir = s->dir;
	int rc, fresh, create = opts->read_only ? 0 : MDB_CREATE;
	MDB_txn *txn;

	if ((rc = mdb_txn_begin(s->env, NULL, opts->read_only ? MDB_RDONLY : 0, &txn)) != 0)
		return set_err(-1, err, errlen, "cannot open store '%s': mdb_txn_begin: %s", dir, mdb_strerror(rc));
	rc = -1;
	if ((fresh = check_ours(txn, dir, err, errlen)) < 0)
		goto txn_abort;
	if ((rc = mdb_dbi_open(txn, "meta", create, &s->meta)) != 0 ||
	    (rc = mdb_dbi_open(txn, "offsets", create, &s->offsets)) != 0 ||
	    (rc = mdb_dbi_open(txn, "users", create, &s->users)) != 0 ||
	    (rc = mdb_dbi_open(txn, "by_time", create, &s->by_time)) != 0 ||
	    (rc = mdb_dbi_open(txn, "rejects", create, &s->rejects)) != 0 ||
	    (rc = mdb_dbi_open(txn, "gaps", create, &s->gaps)) != 0 ||
	    (rc = mdb_dbi_open(txn, "outbox", create, &s->outbox)) != 0) {
		if (rc == MDB_NOTFOUND)
			rc = set_err(-1, err, errlen, "'%s' is not a pingpong store (or was never written)", dir);
		else
			rc = mdb_fail(rc, "mdb_dbi_open", err, errlen);
		goto txn_abort;
	}
	mdb_set_compare(txn, s->users, store_key_cmp);
	mdb_set_compare(txn, s->by_time, store_key_cmp);
	{
		char what[128];
		snprintf(what, sizeof(what), "this pingpong reads %s (move the store aside: a new one is "
			 "rebuilt from the topic)", STORE_SCHEMA_VERSION);
		if ((rc = schema_upgrade(s, txn, err, errlen)) < 0 ||
		    (rc == 0 && (rc = identity(s, txn, "schema", "schema version", STORE_SCHEMA_VERSION, what, err,
						errlen)) != 0) ||
		    (fresh && (rc = identity(s, txn, "magic", "mark", STORE_MAGIC, "", err, errlen)) != 0))
			goto txn_abort;
		if (opts->kind) {
			snprintf(what, sizeof(what), "'%s' cannot use it: give each consumer its own store",
				 opts->kind);
			if ((rc = identity(s, txn, "kind", "the state of", opts->kind, what, err, errlen)) != 0)
				goto txn_abort;
		}
	}
	if ((rc = open_changelog_dbs(s, txn, opts, err, errlen)) != 0)
		goto txn_abort;
	if (!opts->read_only) {
		MDB_val k = { 6, (void *)"writer" }, v;
		struct writer_rec w = { getpid(), process_start(getpid()), s->lock_dev, s->lock_ino };
		if ((rc = check_writer(s, txn, err, errlen)) != 0)
			goto txn_abort;
		v.mv_size = sizeof(w);
		v.mv_data = &w;
		if ((rc = mdb_put(txn, s->meta, &k, &v, 0)) != 0) {
			rc = mdb_fail(rc, "mdb_put", err, errlen);
			goto txn_abort;
		}
	}
	/* Even read-only, commit: an aborted txn would close the handles it opened. */
	if ((rc = mdb_txn_commit(txn)) != 0)
		return mdb_fail(rc, "mdb_txn_commit", err, errlen);
	return 0;

txn_abort:
	mdb_txn_abort(txn);
	return rc;
}

/* What must hold before LMDB touches dir: the directory and its files are ours and
 * private (open_dir, check_file), and an existing environment is a pingpong store. */
static int store_precheck(const char *dir, int read_only, char *err, size_t errlen)
{
	int rc, dirfd;

	if ((dirfd = open_dir(dir, read_only, err, errlen)) < 0)
		return -1;
	rc = check_file(dirfd, dir, "data.mdb", read_only, err, errlen);
	if (rc == 0)
		rc = check_file(dirfd, dir, "lock.mdb", read_only, err, errlen);
	close(dirfd);
	if (rc != 0)
		return -1;
	/* With MDB_WRITEMAP, mdb_env_open extends the file to the map at once: judge an
	 * existing environment read-only first. */
	if (!read_only && has_data(dir) && check_existing(dir, err, errlen) != 0)
		return -1;
	return 0;
}

/* Opens s's LMDB environment and notes its lock file's identity (lock_intact()).
 * Returns 0, or -1 with the reason; s->env, when set, is for the caller to close. */
static int env_open(struct store *s, const struct store_options *opts, char *err, size_t errlen)
{
	unsigned int flags = MDB_NOTLS;
	struct stat st;
	int rc;

	if ((rc = mdb_env_create(&s->env)) != 0) {
		s->env = NULL;
		mdb_fail(rc, "mdb_env_create", err, errlen);
		return -1;
	}
	mdb_env_set_maxdbs(s->env, STORE_MAX_DBS);
	mdb_env_set_mapsize(s->env, opts->map_size ? opts->map_size : STORE_DEFAULT_MAP);
	if (opts->read_only)
		flags |= MDB_RDONLY;
	/* Through the map or not, as choose_way() decided; the copy-on-write tree makes a
	 * commit all-or-nothing either way. lmdb.h's other condition for MDB_WRITEMAP: no
	 * nested transactions (we have none). A full disk is dealt with by reserve(). */
	if (s->writemap)
		flags |= MDB_WRITEMAP;
	if (opts->no_sync)
		flags |= MDB_NOSYNC | MDB_MAPASYNC;
	if ((rc = mdb_env_open(s->env, s->dir, flags, 0600)) != 0) {
		if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH || rc == MDB_CORRUPTED)
			return set_err(-1, err, errlen, "store '%s' is damaged or not an LMDB environment: "
				       "mdb_env_open: %s", s->dir, mdb_strerror(rc));
		return set_err(-1, err, errlen, "cannot open store '%s': mdb_env_open: %s", s->dir, mdb_strerror(rc));
	}
	if (check_size(s->env, s->dir, err, errlen) != 0)
		return -1;
	if (stat_lock(s, &st) != 0)
		return set_err(-1, err, errlen, "cannot open store '%s': lock.mdb: %s", s->dir, strerror(errno));
	s->lock_dev = (uint64_t)st.st_dev;
	s->lock_ino = (uint64_t)st.st_ino;
	return 0;
}

int store_open(struct store **out, const char *dir, const struct store_options *opts, char *err,
	       size_t errlen)
{
	struct store *s = xcalloc(1, sizeof(*s));
	int rc;

	pthread_rwlock_init(&s->map_lock, NULL);
	s->dir = xstrdup(dir);
	s->read_only = opts->read_only;
	s->writer_fd = -1;
	if (store_precheck(dir, opts->read_only, err, errlen) != 0)
		goto s_free;
	if (!opts->read_only && choose_way(s, opts->no_sync, err, errlen) != 0)
		goto env_close;
	if (env_open(s, opts, err, errlen) != 0)
		goto env_close;
	/* Before the first write txn: an exclusive writer's record must not be overwritten. */
	if (!opts->read_only && writer_lock(s, opts->exclusive, err, errlen) != 0)
		goto env_close;
	fault_guard_install();
	mdb_env_set_assert(s->env, on_lmdb_assert);
	fault_dir = s->dir;
	fault_what = "opening it";
	while ((rc = open_txn(s, opts, err, errlen)) == STORE_FULL) {
		/* A full map (the writer's record did not fit): grow it, as a batch would. */
		if (store_grow(s, err, errlen) != 0)
			goto env_close;
	}
	fault_dir = NULL;
	fault_what = NULL;
	if (rc != 0)
		goto env_close;
	if (reserve(s, store_map_size(s), err, errlen) != 0) {
		name_store(s->dir, err, errlen); /* as every error of store_open */
		goto env_close;
	}
	*out = s;
	return 0;

env_close:
	fault_dir = NULL;
	if (s->env)
		mdb_env_close(s->env);
	if (s->writer_fd >= 0)
		close(s->writer_fd); /* after LMDB's own descriptor: see writer_lock() */
s_free:
	pthread_rwlock_destroy(&s->map_lock);
	free(s->dir);
	free(s);
	return -1;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	mdb_env_close(s->env);
	if (s->writer_fd >= 0)
		close(s->writer_fd); /* after LMDB's own descriptor: see writer_lock() */
	pthread_rwlock_destroy(&s->map_lock);
	free(s->dir);
	free(s);
}

const char *store_dir(const struct store *s)
{
	return s->dir;
}

uint64_t store_map_size(const struct store *s)
{
	MDB_envinfo info;
	mdb_env_info(s->env, &info);
	return info.me_mapsize;
}

/* Sets the map size (0: adopt the one in the file) once no other txn of this process is
 * open. The caller has none. */
static int set_mapsize(struct store *s, uint64_t size)
{
	int rc;

	pthread_rwlock_wrlock(&s->map_lock);
	rc = mdb_env_set_mapsize(s->env, size);
	pthread_rwlock_unlock(&s->map_lock);
	return rc;
}

int store_grow(struct store *s, char *err, size_t errlen)
{
	uint64_t size = store_map_size(s) * 2;
	int rc;

	/* The blocks first: if the disk is full, the map stays as it was. */
	if (reserve(s, size, err, errlen) != 0)
		return -1;
	if ((rc = set_mapsize(s, size)) != 0)
		return mdb_fail(rc, "mdb_env_set_mapsize", err, errlen);
	return 0;
}

int store_reserve(struct store *s, uint64_t bytes, char *err, size_t errlen)
{
	MDB_envinfo info;
	MDB_stat ms;

	for (;;) {
		mdb_env_info(s->env, &info);
		mdb_env_stat(s->env, &ms);
		if ((uint64_t)info.me_mapsize >= (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize + bytes)
			return 0;
		if (store_grow(s, err, errlen) != 0)
			return -1;
	}
}

/* Is lock.mdb still the file this process opened? See check_writer(). */
static int lock_intact(const struct store *s, char *err, size_t errlen)
{
	struct stat st;

	if (stat_lock(s, &st) == 0 && (uint64_t)st.st_dev == s->lock_dev && (uint64_t)st.st_ino == s->lock_ino)
		return 0;
	return set_err(-1, err, errlen, "its lock file was deleted or replaced while this process had it "
		       "open; LMDB cannot keep writers apart any more, so this process stops here (restart every "
		       "process of the store)");
}

int store_txn_begin(struct store *s, int write, struct store_txn **out, char *err, size_t errlen)
{
	MDB_txn *txn;
	int rc;

	if (write && s->read_only)
		return set_err(-1, err, errlen, "the store is open read-only");
	/* A stat per write txn, once per batch: cheap next to the commit. */
	if (write && lock_intact(s, err, errlen) != 0)
		return -1;
	pthread_rwlock_rdlock(&s->map_lock);
	rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &txn);
	if (rc == MDB_MAP_RESIZED) {
		/* Another process sharing this store grew the map (and reserved its blocks):
		 * adopt its size. */
		pthread_rwlock_unlock(&s->map_lock);
		set_mapsize(s, 0);
		pthread_rwlock_rdlock(&s->map_lock);
		rc = mdb_txn_begin(s->env, NULL, write ? 0 : MDB_RDONLY, &txn);
	}
	if (rc != 0) {
		pthread_rwlock_unlock(&s->map_lock);
		return mdb_fail(rc, "mdb_txn_begin", err, errlen);
	}
	*out = xcalloc(1, sizeof(**out));
	(*out)->s = s;
	(*out)->txn = txn;
	fault_dir = s->dir;
	return 0;
}

/* A write txn's cursors must be closed before it ends. */
static void close_cursors(struct store_txn *t)
{
	if (t->users_cur)
		mdb_cursor_close(t->users_cur);
	if (t->index_cur)
		mdb_cursor_close(t->index_cur);
	t->users_cur = t->index_cur = NULL;
}

int store_txn_commit(struct store_txn *t, char *err, size_t errlen)
{
	int rc;

	close_cursors(t);
	rc = mdb_txn_commit(t->txn);
	pthread_rwlock_unlock(&t->s->map_lock);
	fault_dir = NULL;
	free(t);
	if (rc != 0)
		return mdb_fail(rc, "mdb_txn_commit", err, errlen);
	return 0;
}

void store_txn_abort(struct store_txn *t)
{
	if (!t)
		return;
	close_cursors(t);
	mdb_txn_abort(t->txn);
	pthread_rwlock_unlock(&t->s->map_lock);
	fault_dir = NULL;
	free(t);
}

int store_meta_get(struct store_txn *t, const char *key, char *buf, size_t len)
{
	MDB_val k = { strlen(key), (void *)key }, v;
	int rc = mdb_get(t->txn, t->s->meta, &k, &v);

	if (rc == MDB_NOTFOUND)
		return STORE_NOTFOUND;
	if (rc != 0)
		return -1;
	snprintf(buf, len, "%.*s", (int)v.mv_size, (const char *)v.mv_data);
	return 0;
}

int store_meta_put(struct store_txn *t, const char *key, const char *value, char *err, size_t errlen)
{
	MDB_val k = { strlen(key), (void *)key }, v = { strlen(value), (void *)value };
	int rc = mdb_put(t->txn, t->s->meta, &k, &v, 0);

	if (rc != 0)
		return mdb_fail(rc, "mdb_put", err, errlen);
	return 0;
}

/* Checks or records one meta setting of the store's identity. */
static int bind_one(struct store_txn *t, const char *key, const char *want, char *err, size_t errlen)
{
	char have[256];
	int rc = store_meta_get(t, key, have, sizeof(have));

	if (rc == STORE_NOTFOUND)
		return store_meta_put(t, key, want, err, errlen);
	if (rc < 0)
		return set_err(-1, err, errlen, "cannot read the store's %s", key);
	if (strcmp(have, want) != 0)
		return set_err(-1, err, errlen, "store '%s' belongs to %s '%s', not '%s'", t->s->dir, key,
			       have, want);
	return 0;
}

int store_bind(struct store *s, const char *topic, const char *group, char *err, size_t errlen)
{
	struct store_txn *t;
	int rc;

	/* Meta values are read back into 256-byte buffers: longer names could never match. */
	if (!topic || strlen(topic) >= sizeof(s->topic))
		return set_err(-1, err, errlen, "topic name missing or longer than 255 bytes");
	if (group && strlen(group) >= 256)
		return set_err(-1, err, errlen, "group name longer than 255 bytes");
	snprintf(s->topic, sizeof(s->topic), "%s", topic);
	if (s->read_only) {
		/* Queries only check what they are told; they never record anything. */
		char have[256];
		if ((rc = store_txn_begin(s, 0, &t, err, errlen)) != 0)
			return rc;
		if (store_meta_get(t, "topic", have, sizeof(have)) == 0 && topic && strcmp(have, topic)) {
			store_txn_abort(t);
			return set_err(-1, err, errlen, "store '%s' belongs to topic '%s', not '%s'", s->dir,
				       have, topic);
		}
		store_txn_abort(t);
		return 0;
	}
	if ((rc = store_txn_begin(s, 1, &t, err, errlen)) != 0)
		return rc;
	if ((rc = bind_one(t, "topic", topic, err, errlen)) != 0 ||
	    (group && (rc = bind_one(t, "group", group, err, errlen)) != 0)) {
		store_txn_abort(t);
		return rc;
	}
	return store_txn_commit(t, err, errlen);
}

static size_t offset_key(struct store_txn *t, int32_t partition)
{
	size_t n = strlen(t->s->topic);

	memcpy(t->key, t->s->topic, n);
	t->key[n] = '\0';
	put_be32(t->key + n + 1, (uint32_t)partition);
	return n + 5;
}

/* An offsets record: the store_position, three int64 in host order. */
#define POSITION_SIZE 24

int store_position_get(struct store_txn *t, int32_t partition, struct store_position *pos, char *err,
		       size_t errlen)
{
	MDB_val k = { offset_key(t, partition), t->key }, v;
	int rc = mdb_get(t->txn, t->s->offsets, &k, &v);

	if (rc == MDB_NOTFOUND)
		return STORE_NOTFOUND;
	if (rc != 0)
		return mdb_fail(rc, "mdb_get", err, errlen);
	if (v.mv_size != POSITION_SIZE)
		return set_err(-1, err, errlen, "offset record of partition %d is corrupt", (int)partition);
	memcpy(&pos->next, v.mv_data, 8);
	memcpy(&pos->last_ts, (const char *)v.mv_data + 8, 8);
	memcpy(&pos->last_hash, (const char *)v.mv_data + 16, 8);
	return 0;
}

int store_position_put(struct store_txn *t, int32_t partition, const struct store_position *pos, char *err,
		       size_t errlen)
{
	unsigned char buf[POSITION_SIZE];
	MDB_val k = { offset_key(t, partition), t->key }, v = { sizeof(buf), buf };
	int rc;

	memcpy(buf, &pos->next, 8);
	memcpy(buf + 8, &pos->last_ts, 8);
	memcpy(buf + 16, &pos->last_hash, 8);
	if ((rc = mdb_put(t->txn, t->s->offsets, &k, &v, 0)) != 0)
		return mdb_fail(rc, "mdb_put", err, errlen);
	return 0;
}

int store_offset_get(struct store_txn *t, int32_t partition, int64_t *next, char *err, size_t errlen)
{
	struct store_position pos;
	int rc = store_position_get(t, partition, &pos, err, errlen);

	if (rc == 0)
		*next = pos.next;
	return rc;
}

int store_offset_put(struct store_txn *t, int32_t partition, int64_t next, char *err, size_t errlen)
{
	struct store_position pos = { next, -1, 0 };
	return store_position_put(t, partition, &pos, err, errlen);
}

/* For messages: "reading by_time". */
static const char *dbi_name(const struct store *s, MDB_dbi dbi)
{
	if (dbi == s->users)
		return "reading users";
	if (dbi == s->by_time)
		return "reading by_time";
	if (dbi == s->offsets)
		return "reading offsets";
	if (dbi == s->rejects)
		return "reading rejects";
	if (dbi == s->gaps)
		return "reading gaps";
	if (dbi == s->outbox)
		return "reading outbox";
	if (s->has_v4_dbs && dbi == s->pending)
		return "reading pending";
	if (s->has_v4_dbs && dbi == s->changelog_db)
		return "reading changelog";
	return "reading meta";
}

/* Walks a whole database in key order, calling fn(arg, key, val); stops when fn returns
 * non-zero and returns that value. */
typedef int (*walk_fn)(void *arg, const MDB_val *k, const MDB_val *v);

static int walk(struct store_txn *t, MDB_dbi dbi, const MDB_val *from, walk_fn fn, void *arg, char *err,
		size_t errlen)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc, stop = 0;

	if ((rc = mdb_cursor_open(t->txn, dbi, &cur)) != 0)
		return mdb_fail(rc, "mdb_cursor_open", err, errlen);
	fault_what = dbi_name(t->s, dbi);
	if (from) {
		k = *from;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	} else {
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	}
	while (rc == 0 && !(stop = fn(arg, &k, &v)))
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	mdb_cursor_close(cur);
	fault_what = NULL;
	if (rc != 0 && rc != MDB_NOTFOUND) {
		set_err(-1, err, errlen, "mdb_cursor_get: %s, %s", mdb_strerror(rc), dbi_name(t->s, dbi));
		return rc == MDB_MAP_FULL ? STORE_FULL : -1;
	}
	return stop;
}

struct offsets_walk {
	struct store_txn *t;
	store_offset_fn fn;
	void *arg;
};

static int offsets_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct offsets_walk *w = arg;
	size_t n = strlen(w->t->s->topic);
	int64_t next;

	if (k->mv_size != n + 5 || memcmp(k->mv_data, w->t->s->topic, n) || v->mv_size != POSITION_SIZE)
		return 0; /* another topic's, or not ours to judge here */
	memcpy(&next, v->mv_data, sizeof(next));
	return w->fn(w->arg, (int32_t)get_be32((const unsigned char *)k->mv_data + n + 1), next);
}

int store_offsets_each(struct store_txn *t, store_offset_fn fn, void *arg, char *err, size_t errlen)
{
	struct offsets_walk w = { t, fn, arg };
	return walk(t, t->s->offsets, NULL, offsets_step, &w, err, errlen);
}

struct offsets_load {
	int64_t *next;
	int32_t n;
};

static int offsets_load_one(void *arg, int32_t partition, int64_t next)
{
	struct offsets_load *l = arg;

	if (partition < 0)
		return 0; /* store_check names it */
	if (partition >= l->n) {
		l->next = xrealloc(l->next, ((size_t)partition + 1) * sizeof(*l->next));
		while (l->n <= partition)
			l->next[l->n++] = -1;
	}
	l->next[partition] = next;
	return 0;
}

int store_offsets_load(struct store_txn *t, int64_t **next, int32_t *n, char *err, size_t errlen)
{
	struct offsets_load l = { NULL, 0 };
	int rc = store_offsets_each(t, offsets_load_one, &l, err, errlen);

	if (rc < 0) {
		free(l.next);
		l.next = NULL;
		l.n = 0;
	}
	*next = l.next;
	*n = l.n;
	return rc < 0 ? rc : 0;
}

/* The users record: int64 last_seen, uint64 count, int64 email_ts, uint16 email_len,
 * email. email_ts is the event time of the event the email came from. */
#define USER_HEAD 26

static int user_decode(const MDB_val *v, struct store_user *u)
{
	uint16_t elen;

	if (v->mv_size < USER_HEAD)
		return -1;
	memcpy(&u->last_seen, v->mv_data, 8);
	memcpy(&u->count, (const char *)v->mv_data + 8, 8);
	memcpy(&u->email_ts, (const char *)v->mv_data + 16, 8);
	memcpy(&elen, (const char *)v->mv_data + 24, 2);
	if (v->mv_size != USER_HEAD + (size_t)elen)
		return -1;
	u->email = elen ? (const char *)v->mv_data + USER_HEAD : NULL;
	u->email_len = elen;
	return 0;
}

/* Writes u into buf (USER_HEAD + u->email_len bytes); returns the size. */
static size_t user_encode(unsigned char *buf, const struct store_user *u)
{
	uint16_t elen = (uint16_t)u->email_len;

	memcpy(buf, &u->last_seen, 8);
	memcpy(buf + 8, &u->count, 8);
	memcpy(buf + 16, &u->email_ts, 8);
	memcpy(buf + 24, &elen, 2);
	/* memmove: the email may lie in buf already (a record read into it earlier). */
	if (elen)
		memmove(buf + USER_HEAD, u->email, elen);
	return USER_HEAD + elen;
}

/* A users (and pending) key: be32(partition) user. Returns its size. */
static size_t user_key(unsigned char *buf, int32_t partition, const char *user, size_t len)
{
	put_be32(buf, (uint32_t)partition);
	memcpy(buf + 4, user, len);
	return len + 4;
}

/*
 * by_time (schema 6) holds segments: each write of index entries (the entries one
 * store_users_touch() adds, or one store_record_put()'s) is stored as one LMDB value per
 * second of event time its entries fall in, keyed be64(bucket) be64(write): the second's
 * first millisecond, and the segment's number, from a counter in meta ("index_writes")
 * that only grows and travels with the store (a txn id would not: a compacting copy,
 * mdb_copy -c, starts it again at 1). So a batch's entries cost one put, not one each,
 * and the segments of fresh events append at the tree's end. The value is the entries
 * one after the other, each be32(partition) u8(name length) be64(ts) name.
 *
 * Within a second the index is in write order, not in time order; across seconds it is
 * in time order. A record's entries are in its time order either way: a touch adds an
 * entry only when last_seen moves forward, in a later write, and a record that goes back
 * (store_record_put) first loses its entries from there on. So its latest entry is its
 * last_seen, as in schema 5.
 */
#define INDEX_BUCKET_MS 1000
#define SEG_KEY 16       /* be64(bucket) be64(write) */
#define SEG_ENTRY_HEAD 13 /* be32(partition) u8(name length) be64(ts) */
#define SEG_ENTRY_MAX (SEG_ENTRY_HEAD + STORE_USER_KEY_MAX)
#define REBUILT_SEGMENT 1024 /* entries at most per segment of a rebuilt index */

/* meta "index_compact_at": the by_time key where the next store_index_compact() goes on;
 * absent: from the floor. meta "index_writes": the number of the last segment written,
 * uint64 in host order (like every number in the store); absent: none. */
static const MDB_val compact_at_key = { 16, (void *)"index_compact_at" };
static const MDB_val index_writes_key = { 12, (void *)"index_writes" };

/* The first millisecond of ts's second: its segments' bucket. Event times are > 0
 * (event.c); anything before the epoch sorts first. */
static int64_t bucket_of(int64_t ts)
{
	return ts > 0 ? ts - ts % INDEX_BUCKET_MS : 0;
}

/* One entry of a segment. */
struct seg_entry {
	int32_t partition;
	const char *user; /* points into the segment */
	size_t len;
	int64_t ts;
};

/* Reads the entry at *at of segment v: 1 with *at moved past it, 0 at the segment's end,
 * -1 when what is there is not an entry (store_check names it). */
static int seg_next(const MDB_val *v, size_t *at, struct seg_entry *e)
{
	const unsigned char *p = (const unsigned char *)v->mv_data + *at;
	size_t left = v->mv_size - *at;

	if (left == 0)
		return 0;
	if (left < SEG_ENTRY_HEAD || p[4] == 0 || left - SEG_ENTRY_HEAD < p[4])
		return -1;
	e->partition = (int32_t)get_be32(p);
	e->len = p[4];
	e->ts = (int64_t)get_be64(p + 5);
	e->user = (const char *)p + SEG_ENTRY_HEAD;
	*at += SEG_ENTRY_HEAD + e->len;
	return 1;
}

/* Writes an entry at buf (room for SEG_ENTRY_MAX bytes); returns its size. */
static size_t seg_entry_put(unsigned char *buf, int32_t partition, const char *user, size_t len, int64_t ts)
{
	put_be32(buf, (uint32_t)partition);
	buf[4] = (unsigned char)len;
	put_be64(buf + 5, (uint64_t)ts);
	memcpy(buf + SEG_ENTRY_HEAD, user, len);
	return SEG_ENTRY_HEAD + len;
}

/* The number of entries of segment v (up to the first malformed one). */
static size_t seg_count(const MDB_val *v)
{
	struct seg_entry e;
	size_t at = 0, n = 0;

	while (seg_next(v, &at, &e) > 0)
		n++;
	return n;
}

int store_record_get(struct store_txn *t, int32_t partition, const char *user, size_t len, struct store_user *u,
		     char *err, size_t errlen)
{
	MDB_val k, v;
	int rc;

	if (len == 0 || len > STORE_USER_KEY_MAX)
		return STORE_NOTFOUND;
	k.mv_size = user_key(t->ukey, partition, user, len);
	k.mv_data = t->ukey;
	rc = mdb_get(t->txn, t->s->users, &k, &v);
	if (rc == MDB_NOTFOUND)
		return STORE_NOTFOUND;
	if (rc != 0)
		return mdb_fail(rc, "mdb_get", err, errlen);
	if (user_decode(&v, u) < 0)
		return set_err(-1, err, errlen, "user record of '%.*s' in partition %d is corrupt", (int)len, user,
			       (int)partition);
	return 0;
}

/* 1 if (ts, email) comes after (old_ts, old): the later event time wins, and between
 * two emails of the same time the greater bytes, so that the result does not depend
 * on the order in which events arrive. */
static int email_newer(int64_t ts, const char *email, size_t len, int64_t old_ts, const char *old,
		       size_t old_len)
{
	int c;

	if (!old)
		return 1;
	if (ts != old_ts)
		return ts > old_ts;
	c = memcmp(email, old, len < old_len ? len : old_len);
	return c > 0 || (c == 0 && len > old_len);
}

/* Folds one partition's record r into a user's merged state m (first: m holds nothing
 * yet). The same rules as applying events, so the merge of the records is the record
 * that all the events together would have made. */
static void user_merge(struct store_user *m, const struct store_user *r, int first)
{
	if (first) {
		*m = *r;
		return;
	}
	if (r->last_seen > m->last_seen)
		m->last_seen = r->last_seen;
	m->count += r->count;
	if (r->email && email_newer(r->email_ts, r->email, r->email_len, m->email_ts, m->email, m->email_len)) {
		m->email = r->email;
		m->email_len = r->email_len;
		m->email_ts = r->email_ts;
	}
}

int store_user_get(struct store_txn *t, const char *user, size_t len, struct store_user *u, char *err,
		   size_t errlen)
{
	MDB_cursor *cur;
	MDB_val k, v;
	struct store_user r;
	uint32_t p = 0, q;
	int rc, n = 0, corrupt = 0;

	if (len == 0 || len > STORE_USER_KEY_MAX)
		return STORE_NOTFOUND;
	if ((rc = mdb_cursor_open(t->txn, t->s->users, &cur)) != 0)
		return mdb_fail(rc, "mdb_cursor_open", err, errlen);
	/* A seek per partition that has records: to (p, user), which lands on the user's
	 * record or past it, in p or in the next partition that has records. */
	for (;;) {
		k.mv_size = user_key(t->ukey, (int32_t)p, user, len);
		k.mv_data = t->ukey;
		if ((rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) != 0 || k.mv_size < 4)
			break; /* a shorter key is malformed: store_check names it */
		q = get_be32(k.mv_data);
		if (q > p) {
			p = q;
			continue;
		}
		if (k.mv_size == len + 4 && !memcmp((const char *)k.mv_data + 4, user, len)) {
			if (user_decode(&v, &r) < 0) {
				corrupt = 1;
				break;
			}
			user_merge(u, &r, n++ == 0);
		}
		if (q >= INT32_MAX)
			break;
		p = q + 1;
	}
	mdb_cursor_close(cur);
	if (corrupt)
		return set_err(-1, err, errlen, "user record of '%.*s' is corrupt", (int)len, user);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mdb_fail(rc, "mdb_cursor_get", err, errlen);
	return n ? 0 : STORE_NOTFOUND;
}

/* Lists (t->ukey, k) in pending, as changed by this txn: the txn's first listing takes
 * the next number of meta "pending_writes". */
static int pending_put(struct store_txn *t, const MDB_val *k, char *err, size_t errlen)
{
	MDB_val key = *k, v;
	int rc;

	if (!t->pending_write) {
		if ((rc = pending_writes_get(t->txn, t->s, &t->pending_write, err, errlen)) != 0)
			return rc;
		t->pending_write++;
		v.mv_size = sizeof(t->pending_write);
		v.mv_data = &t->pending_write;
		if ((rc = mdb_put(t->txn, t->s->meta, (MDB_val *)&pending_writes_key, &v, 0)) != 0)
			return mdb_fail(rc, "mdb_put", err, errlen);
	}
	v.mv_size = sizeof(t->pending_write);
	v.mv_data = &t->pending_write;
	rc = mdb_put(t->txn, t->s->pending, &key, &v, 0);
	return rc ? mdb_fail(rc, "mdb_put", err, errlen) : 0;
}

/* Opens the txn's reused cursors, once. */
static int touch_cursors(struct store_txn *t, char *err, size_t errlen)
{
	int rc;

	if (!t->users_cur && (rc = mdb_cursor_open(t->txn, t->s->users, &t->users_cur)) != 0)
		return mdb_fail(rc, "mdb_cursor_open", err, errlen);
	if (!t->index_cur && (rc = mdb_cursor_open(t->txn, t->s->by_time, &t->index_cur)) != 0)
		return mdb_fail(rc, "mdb_cursor_open", err, errlen);
	return 0;
}

/* The record after tc: a user forgotten below forget_below (--retain-users) starts
 * afresh; last_seen is the latest time, the count grows, the email is the newest by
 * (ts, bytes). nu may point into old's email, which is in the map: encode it before
 * any write. */
static void touch_merge(struct store_user *nu, const struct store_user *old, int exists,
			const struct store_touch *tc, int64_t forget_below)
{
	*nu = *old;
	if (exists && old->last_seen < forget_below) {
		/* Forgotten: a new user, whether or not pruning has reached the old record yet. */
		nu->last_seen = tc->ts;
		nu->count = 0;
		nu->email = NULL;
		nu->email_len = 0;
		nu->email_ts = 0;
	}
	if (!exists || tc->ts > nu->last_seen)
		nu->last_seen = tc->ts;
	nu->count += tc->events;
	if (tc->email && email_newer(tc->email_ts, tc->email, tc->email_len, nu->email_ts, nu->email, nu->email_len)) {
		nu->email = tc->email;
		nu->email_len = tc->email_len;
		nu->email_ts = tc->email_ts;
	}
}

/* Stores entries buf[0..size), all of one bucket, as a new segment of this write txn.
 * Fresh events' segments land at the index's end: appending skips the search. But a
 * refused append costs LMDB a walk to the last page first (mdb_cursor_put looks at the
 * last key, then compares), so a key that does not sort after the last one we know of
 * goes straight to a plain put. LMDB checks each append itself: a guess that has gone
 * stale (pruning took the last segment) costs only that walk, never an entry. */
static int seg_write(struct store_txn *t, int64_t bucket, const void *buf, size_t size, char *err, size_t errlen)
{
	unsigned char key[SEG_KEY];
	MDB_val k = { SEG_KEY, key }, v;
	int rc, after;

	if (!t->last_len) {
		MDB_val lk, lv;
		if ((rc = mdb_cursor_get(t->index_cur, &lk, &lv, MDB_LAST)) == 0 && lk.mv_size <= sizeof(t->last)) {
			memcpy(t->last, lk.mv_data, lk.mv_size);
			t->last_len = lk.mv_size;
		} else if (rc != 0 && rc != MDB_NOTFOUND) {
			return mdb_fail(rc, "mdb_cursor_get", err, errlen);
		}
	}
	if (!t->index_writes) {
		MDB_val w;
		if ((rc = mdb_get(t->txn, t->s->meta, (MDB_val *)&index_writes_key, &w)) == 0 &&
		    w.mv_size == sizeof(t->index_writes))
			memcpy(&t->index_writes, w.mv_data, sizeof(t->index_writes));
		else if (rc != 0 && rc != MDB_NOTFOUND)
			return mdb_fail(rc, "mdb_get", err, errlen);
	}
	do {
		/* A number is never used twice, but a store whose meta was damaged could hold
		 * a segment of it already: never overwritten, the next one. */
		put_be64(key, (uint64_t)bucket);
		put_be64(key + 8, ++t->index_writes);
		v.mv_size = size;
		v.mv_data = (void *)buf;
		after = !t->last_len || key_cmp(key, SEG_KEY, t->last, t->last_len) > 0;
		rc = after ? mdb_cursor_put(t->index_cur, &k, &v, MDB_APPEND) : MDB_KEYEXIST;
		if (rc == MDB_KEYEXIST)
			rc = mdb_cursor_put(t->index_cur, &k, &v, MDB_NOOVERWRITE);
	} while (rc == MDB_KEYEXIST);
	if (rc != 0)
		return mdb_fail(rc, "mdb_cursor_put", err, errlen);
	v.mv_size = sizeof(t->index_writes);
	v.mv_data = &t->index_writes;
	if ((rc = mdb_put(t->txn, t->s->meta, (MDB_val *)&index_writes_key, &v, 0)) != 0)
		return mdb_fail(rc, "mdb_put", err, errlen);
	if (after) {
		memcpy(t->last, key, SEG_KEY);
		t->last_len = SEG_KEY;
	}
	return 0;
}

/* Adds the by_time entry of (partition, user) at ts, unless ts is below the floor: a
 * segment of its own (store_record_put). The index is append-only: the entry at the
 * old last_seen stays, stale, for compaction or pruning. */
static int index_add(struct store_txn *t, int32_t partition, const char *user, size_t len, int64_t ts,
		     int64_t index_floor, char *err, size_t errlen)
{
	unsigned char buf[SEG_ENTRY_MAX];

	if (ts < index_floor)
		return 0;
	return seg_write(t, bucket_of(ts), buf, seg_entry_put(buf, partition, user, len, ts), err, errlen);
}

/*
 * LMDB fast paths in store_users_touch() (touch_record, seg_write), each with the
 * condition under which lmdb.h (0.9.24) makes it safe; tests/check_store.c and
 * tests/check_model.c exercise each edge.
 *
 *  - A reused cursor (users_cur, index_cur), opened once per write txn and closed
 *    before it ends: "A cursor in a write-transaction can be closed before its
 *    transaction ends, and will otherwise be closed when its transaction ends" -- we
 *    close them ourselves in close_cursors(), always before commit or abort.
 *  - MDB_SET, not MDB_SET_KEY: only MDB_SET_KEY rewrites the caller's key to point into
 *    the page, and "values returned from the database are valid only until a subsequent
 *    update operation, or the end of the transaction" (mdb_get). The key we pass to the
 *    put below is always our own buffer. Likewise the old record is decoded and copied
 *    into t->val before the first write; nothing read from the map is used after it.
 *  - MDB_CURRENT only when the new record has exactly the size of the old one: lmdb.h
 *    says MDB_CURRENT "is intended to be used when the new data is the same size as the
 *    old. Otherwise it will simply perform a delete of the old record followed by an
 *    insert" (ITS#7828: it "must not change the data size"). Any other size goes through
 *    a plain put, which searches again. The put comes right after the MDB_SET, before
 *    any other write of the txn, so the cursor still sits on the record it found.
 *  - No delete in by_time on a touch (schema 5 on): the old entry stays for pruning, so
 *    the index cursor is only ever appended to or put with, never positioned on an old
 *    key.
 *  - MDB_APPEND on by_time, which "will cause a MDB_KEYEXIST error" for a key that does
 *    not sort after the last one: mdb_cursor_put returns that before it changes
 *    anything (mdb.c, mdb_cursor_put: the MDB_APPEND branch compares with the last key
 *    and returns), and we then put the key the ordinary way, with MDB_NOOVERWRITE, which
 *    "will return MDB_KEYEXIST if the key already appears in the database" and writes
 *    nothing. A segment's key holds the next number of the store's counter of writes,
 *    above every earlier segment's, so a segment of a second that is the index's last is
 *    an append; check_store's test_segment_keys tries the edges (an earlier second, a
 *    key taken).
 *  - MDB_WRITEMAP, when choose_way() took it: pages are written in place in the map,
 *    which the copy-on-write tree keeps all-or-nothing per commit; see env_open.
 */

/* Writes tc's record; sets *index_ts to the time of the by_time entry it needs, or to
 * INT64_MIN for none (last_seen did not change, or is below the floor). */
static int touch_record(struct store_txn *t, const struct store_touch *tc, int64_t index_floor,
			int64_t forget_below, int64_t *index_ts, char *err, size_t errlen)
{
	MDB_val k, v;
	struct store_user old = { 0, 0, 0, NULL, 0 }, nu;
	size_t email_len = tc->email_len, old_size = 0, new_size;
	int rc, exists;

	*index_ts = INT64_MIN;
	if (tc->len == 0 || tc->len > STORE_USER_KEY_MAX)
		return set_err(-1, err, errlen, "user name of %zu bytes does not fit a key", tc->len);
	if (email_len > STORE_EMAIL_MAX)
		return set_err(-1, err, errlen, "email of %zu bytes is longer than %d", email_len,
			       STORE_EMAIL_MAX);
	k.mv_size = user_key(t->ukey, tc->partition, tc->user, tc->len);
	k.mv_data = t->ukey;
	rc = mdb_cursor_get(t->users_cur, &k, &v, MDB_SET);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mdb_fail(rc, "mdb_cursor_get", err, errlen);
	exists = rc == 0;
	if (exists) {
		if (user_decode(&v, &old) < 0)
			return set_err(-1, err, errlen, "user record of '%.*s' is corrupt", (int)tc->len,
				       tc->user);
		old_size = v.mv_size;
	}
	touch_merge(&nu, &old, exists, tc, forget_below);
	/* Copy out of the map now: the write below invalidates old.email. */
	new_size = user_encode(t->val, &nu);
	v.mv_size = new_size;
	v.mv_data = t->val;
	rc = mdb_cursor_put(t->users_cur, &k, &v, exists && new_size == old_size ? MDB_CURRENT : 0);
	if (rc != 0)
		return mdb_fail(rc, "mdb_cursor_put", err, errlen);
	if (t->s->changelog && (rc = pending_put(t, &k, err, errlen)) != 0)
		return rc;
	crash_point("in-touch"); /* the user written, its index entry not yet added */

	/* Unchanged: its entry is there already (or below the floor). */
	if (!(exists && nu.last_seen == old.last_seen) && nu.last_seen >= index_floor)
		*index_ts = nu.last_seen;
	return 0;
}

/* Writes the entries e[0..n) (keyed by time, each what a struct store_touch), in time
 * order, as one segment per second they fall in. */
static int index_write(struct store_txn *t, const struct keyed *e, size_t n, int64_t index_floor, char *err,
		       size_t errlen)
{
	unsigned char *buf;
	size_t i, size = 0;
	int64_t bucket = 0;
	int rc = 0;

	if (n == 0)
		return 0;
	/* Room for them all, and no more: a batch's 1,000 entries of short names take some
	 * 25 KiB, where 1,000 of the longest would take 268. */
	for (i = 0; i < n; i++)
		size += SEG_ENTRY_HEAD + ((const struct store_touch *)e[i].what)->len;
	buf = xmalloc(size);
	size = 0;
	for (i = 0; i < n && rc == 0; i++) {
		const struct store_touch *tc = e[i].what;
		int64_t ts = (int64_t)e[i].key;

		if (ts < index_floor)
			continue; /* it would be pruned at once */
		if (size && bucket_of(ts) != bucket) {
			rc = seg_write(t, bucket, buf, size, err, errlen);
			size = 0;
		}
		bucket = bucket_of(ts);
		size += seg_entry_put(buf + size, tc->partition, tc->user, tc->len, ts);
	}
	if (rc == 0 && size)
		rc = seg_write(t, bucket, buf, size, err, errlen);
	free(buf);
	return rc;
}

int store_users_touch(struct store_txn *t, const struct store_touch *tcs, size_t n, int64_t index_floor,
		      int64_t forget_below, char *err, size_t errlen)
{
	struct keyed one[2], *adds = one, *sorted; /* the entries to add, by time */
	size_t i, nadd = 0;
	int rc;

	if ((rc = touch_cursors(t, err, errlen)) != 0)
		return rc;
	if (n > 1)
		adds = xmalloc(2 * n * sizeof(*adds));
	for (i = 0; i < n; i++) {
		int64_t ts;

		if ((rc = touch_record(t, &tcs[i], index_floor, forget_below, &ts, err, errlen)) != 0)
			goto out;
		if (ts != INT64_MIN)
			adds[nadd++] = (struct keyed){ (uint64_t)ts, &tcs[i] };
	}
	/* Grouped by second, each group one segment: sorted by time, which keeps the
	 * records' order among equal times, and a record touched twice in this call has its
	 * later entry last. */
	sorted = sort_keyed(adds, adds + n, nadd);
	rc = index_write(t, sorted, nadd, index_floor, err, errlen);
out:
	if (adds != one)
		free(adds);
	return rc;
}

/* One entry of a rebuilt index: its time, and where rebuild_index() encoded it. */
struct rebuilt {
	int64_t ts;
	size_t off, size;
};

static int rebuilt_cmp(const void *a, const void *b)
{
	const struct rebuilt *x = a, *y = b;
	return (x->ts > y->ts) - (x->ts < y->ts);
}

/* Rebuilds by_time in segments (schema 6) from the users records, in the txn that marks
 * the store 6: one entry per record at its last_seen, below the floor too, which pruning
 * then takes with the record's retention as before. Stale entries are not kept. */
static int rebuild_index(struct store *s, MDB_txn *txn, char *err, size_t errlen)
{
	struct store_txn t = { .s = s, .txn = txn };
	struct rebuilt *r = NULL;
	unsigned char *ents = NULL, *seg = NULL;
	size_t n = 0, cap = 0, used = 0, ecap = 0, i, j, size;
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_drop(txn, s->by_time, 0)) != 0)
		return mdb_fail(rc, "mdb_drop", err, errlen);
	if ((rc = mdb_del(txn, s->meta, (MDB_val *)&compact_at_key, NULL)) != 0 && rc != MDB_NOTFOUND)
		return mdb_fail(rc, "mdb_del", err, errlen);
	if ((rc = mdb_cursor_open(txn, s->users, &cur)) != 0)
		return mdb_fail(rc, "mdb_cursor_open", err, errlen);
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct store_user u;

		if (k.mv_size <= 4 || k.mv_size > 4 + STORE_USER_KEY_MAX || user_decode(&v, &u) < 0 || u.last_seen <= 0)
			continue; /* store_check names it */
		if (n == cap) {
			cap = cap ? 2 * cap : 1024;
			r = xrealloc(r, cap * sizeof(*r));
		}
		if (used + SEG_ENTRY_MAX > ecap) {
			ecap = 2 * (used + SEG_ENTRY_MAX);
			ents = xrealloc(ents, ecap);
		}
		r[n].ts = u.last_seen;
		r[n].off = used;
		r[n].size = seg_entry_put(ents + used, (int32_t)get_be32(k.mv_data), (const char *)k.mv_data + 4,
					  k.mv_size - 4, u.last_seen);
		used += r[n++].size;
	}
	mdb_cursor_close(cur);
	if (rc != MDB_NOTFOUND) {
		rc = mdb_fail(rc, "mdb_cursor_get", err, errlen);
		goto out;
	}
	rc = 0;
	if (n > 1) /* qsort(NULL, 0, ...) is undefined */
		qsort(r, n, sizeof(*r), rebuilt_cmp);
	seg = xmalloc(REBUILT_SEGMENT * SEG_ENTRY_MAX);
	if ((rc = touch_cursors(&t, err, errlen)) != 0)
		goto out;
	/* A segment per second, of at most REBUILT_SEGMENT entries. */
	for (i = 0; i < n && rc == 0; i = j) {
		for (j = i, size = 0; j < n && j - i < REBUILT_SEGMENT && bucket_of(r[j].ts) == bucket_of(r[i].ts); j++) {
			memcpy(seg + size, ents + r[j].off, r[j].size);
			size += r[j].size;
		}
		rc = seg_write(&t, bucket_of(r[i].ts), seg, size, err, errlen);
	}
out:
	close_cursors(&t);
	free(r);
	free(ents);
	free(seg);
	return rc;
}

int store_user_touch(struct store_txn *t, const struct store_touch *tc, int64_t index_floor,
		     int64_t forget_below, char *err, size_t errlen)
{
	return store_users_touch(t, tc, 1, index_floor, forget_below, err, errlen);
}

/* Which entries of a segment seg_filter() leaves out. */
typedef int (*entry_pred_fn)(void *arg, const struct seg_entry *e);

/* Copies the entries of segment v that drop() keeps into *buf (grown to fit; v points
 * into the map and is read before any write), their size into *kept. Returns how many it
 * left out, or -1 for a segment that is not one (it stays as it is: store_check's to
 * name). */
static long seg_filter(const MDB_val *v, entry_pred_fn drop, void *arg, unsigned char **buf, size_t *cap,
		       size_t *kept)
{
	struct seg_entry e;
	size_t at = 0, from = 0;
	long dropped = 0;
	int rc;

	if (v->mv_size > *cap) {
		*cap = v->mv_size;
		*buf = xrealloc(*buf, *cap);
	}
	*kept = 0;
	while ((rc = seg_next(v, &at, &e)) > 0) {
		if (drop(arg, &e)) {
			dropped++;
		} else {
			memcpy(*buf + *kept, (const char *)v->mv_data + from, at - from);
			*kept += at - from;
		}
		from = at;
	}
	return rc < 0 ? -1 : dropped;
}

/* Writes the segment at key (our own copy) as buf[0..size), or deletes it when size is
 * 0, then moves cur to the first segment after it. */
static int seg_rewrite(struct store_txn *t, MDB_cursor *cur, const unsigned char *key, const void *buf,
		       size_t size, MDB_val *k, MDB_val *v)
{
	MDB_val nk = { SEG_KEY, (void *)key }, nv = { size, (void *)buf };
	int rc = size ? mdb_put(t->txn, t->s->by_time, &nk, &nv, 0) : mdb_del(t->txn, t->s->by_time, &nk, NULL);

	if (rc != 0)
		return rc;
	/* Found again from our copy of the key: lmdb.h does not say where a write through
	 * the txn leaves another cursor. */
	k->mv_size = SEG_KEY;
	k->mv_data = (void *)key;
	rc = mdb_cursor_get(cur, k, v, MDB_SET_RANGE);
	if (rc == 0 && k->mv_size == SEG_KEY && !memcmp(k->mv_data, key, SEG_KEY))
		rc = mdb_cursor_get(cur, k, v, MDB_NEXT);
	return rc;
}

/* The entries unindex_range() removes: in [from, to], and picked by match. */
typedef int (*entry_match_fn)(const void *arg, const struct seg_entry *e);
struct unindex_pick {
	int64_t from, to;
	entry_match_fn match;
	const void *arg;
};

static int unindex_pred(void *arg, const struct seg_entry *e)
{
	const struct unindex_pick *u = arg;
	return e->ts >= u->from && e->ts <= u->to && u->match(u->arg, e);
}

/* Deletes the by_time entries in [from, to] for which match(arg, entry) is true: one scan
 * of the segments of those seconds, each that loses an entry written again without it,
 * for what goes back in time, which is rare. */
static int unindex_range(struct store_txn *t, int64_t from, int64_t to, entry_match_fn match, const void *arg,
			 char *err, size_t errlen)
{
	struct unindex_pick pick = { from, to, match, arg };
	unsigned char pos[SEG_KEY], *buf = NULL;
	size_t cap = 0, kept;
	MDB_cursor *cur;
	MDB_val k = { 8, pos }, v;
	int rc;

	if (from > to)
		return 0;
	put_be64(pos, (uint64_t)bucket_of(from));
	if ((rc = mdb_cursor_open(t->txn, t->s->by_time, &cur)) != 0)
		return mdb_fail(rc, "mdb_cursor_open", err, errlen);
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= 8 && (int64_t)get_be64(k.mv_data) <= to) {
		if (k.mv_size == SEG_KEY && seg_filter(&v, unindex_pred, &pick, &buf, &cap, &kept) > 0) {
			memcpy(pos, k.mv_data, SEG_KEY);
			rc = seg_rewrite(t, cur, pos, buf, kept, &k, &v);
		} else {
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
	}
	mdb_cursor_close(cur);
	free(buf);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mdb_fail(rc, "store_unindex", err, errlen);
	return 0;
}

/* The entries of the record whose users key arg points to. */
static int entry_of_record(const void *arg, const struct seg_entry *e)
{
	const MDB_val *rk = arg;
	return rk->mv_size == 4 + e->len && (int32_t)get_be32(rk->mv_data) == e->partition &&
	       !memcmp((const char *)rk->mv_data + 4, e->user, e->len);
}

/* Deletes the by_time entries of the record that v holds (into the map: decoded before
 * any write) that a record at new_last_seen (INT64_MIN: none) must not have at or above
 * the floor: its entry at the old last_seen, and when it goes back in time its stale
 * entries between. */
static int record_unindex(struct store_txn *t, const MDB_val *v, int32_t partition, const char *user, size_t len,
			  int64_t new_last_seen, char *err, size_t errlen)
{
	struct store_user old;
	unsigned char rkey[4 + STORE_USER_KEY_MAX];
	MDB_val rk = { 0, rkey };
	int64_t floor, from;
	int rc;

	if (user_decode(v, &old) < 0)
		return set_err(-1, err, errlen, "user record of '%.*s' is corrupt", (int)len, user);
	if (old.last_seen == new_last_seen || old.last_seen <= 0)
		return 0; /* its entry stays; or it never had one (event times are > 0) */
	rk.mv_size = user_key(rkey, partition, user, len);
	from = old.last_seen; /* forward: only its entry at the old last_seen goes; stale ones stay */
	if (new_last_seen < old.last_seen) {
		if ((rc = store_index_floor_get(t, &floor, err, errlen)) != 0)
			return rc;
		if ((new_last_seen < floor ? floor : new_last_seen + 1) < from)
			from = new_last_seen < floor ? floor : new_last_seen + 1;
	}
	return unindex_range(t, from, old.last_seen, entry_of_record, &rk, err, errlen);
}

/*
 * A restore writes mostly new records, and mostly in time order. Two fast paths:
 *  - MDB_NOOVERWRITE, which puts a new record with one search; for a key that exists
 *    it writes nothing, returns MDB_KEYEXIST, and "the data parameter will be set to
 *    point to the existing item" (lmdb.h): decoded at once, before any other write, as
 *    map data is "valid only until a subsequent update operation";
 *  - MDB_APPEND on by_time, as in store_user_touch() (see there).
 */
int store_record_put(struct store_txn *t, int32_t partition, const char *user, size_t len,
		     const struct store_user *u, int64_t index_floor, char *err, size_t errlen)
{
	MDB_val k, v;
	size_t size;
	int rc, unchanged = 0;

	if (len == 0 || len > STORE_USER_KEY_MAX)
		return set_err(-1, err, errlen, "user name of %zu bytes does not fit a key", len);
	if (u && u->email_len > STORE_EMAIL_MAX)
		return set_err(-1, err, errlen, "email of %zu bytes is longer than %d", u->email_len,
			       STORE_EMAIL_MAX);
	if ((rc = touch_cursors(t, err, errlen)) != 0)
		return rc;
	k.mv_size = user_key(t->ukey, partition, user, len);
	k.mv_data = t->ukey;
	if (!u) {
		if ((rc = mdb_get(t->txn, t->s->users, &k, &v)) == MDB_NOTFOUND)
			return 0;
		if (rc != 0)
			return mdb_fail(rc, "mdb_get", err, errlen);
		if ((rc = record_unindex(t, &v, partition, user, len, INT64_MIN, err, errlen)) != 0)
			return rc;
		return (rc = mdb_del(t->txn, t->s->users, &k, NULL)) ? mdb_fail(rc, "mdb_del", err, errlen) : 0;
	}
	v.mv_size = size = user_encode(t->val, u);
	v.mv_data = t->val;
	rc = mdb_put(t->txn, t->s->users, &k, &v, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		struct store_user old;
		if (user_decode(&v, &old) == 0 && old.last_seen == u->last_seen)
			unchanged = 1; /* its entry is there already (or below the floor) */
		if ((rc = record_unindex(t, &v, partition, user, len, u->last_seen, err, errlen)) != 0)
			return rc;
		v.mv_size = size;
		v.mv_data = t->val;
		rc = mdb_put(t->txn, t->s->users, &k, &v, 0);
	}
	if (rc != 0)
		return mdb_fail(rc, "mdb_put", err, errlen);
	return unchanged ? 0 : index_add(t, partition, user, len, u->last_seen, index_floor, err, errlen);
}

/* Deletes every key of dbi that starts with prefix (plen 0: all). */
static int del_prefix(struct store_txn *t, MDB_dbi dbi, const unsigned char *prefix, size_t plen, char *err,
		      size_t errlen)
{
	MDB_cursor *cur;
	MDB_val k, v;
	int rc;

	if ((rc = mdb_cursor_open(t->txn, dbi, &cur)) != 0)
		return mdb_fail(rc, "mdb_cursor_open", err, errlen);
	for (;;) {
		/* From the prefix again after each delete: a fresh search, no cursor subtlety. */
		k.mv_size = plen;
		k.mv_data = (void *)prefix;
		rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
		if (rc != 0 || k.mv_size < plen || memcmp(k.mv_data, prefix, plen))
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mdb_fail(rc, "mdb_cursor_del", err, errlen);
	return 0;
}

/* An index entry of the partition arg points to. */
static int entry_of_partition(const void *arg, const struct seg_entry *e)
{
	return e->partition == *(const int32_t *)arg;
}

/* The records of a partition and their entries at or above the floor; older entries
 * are left to pruning, which keeps no record for them. */
static int drop_records(struct store_txn *t, int32_t partition, char *err, size_t errlen)
{
	unsigned char prefix[4];
	int64_t floor;
	int rc;

	put_be32(prefix, (uint32_t)partition);
	if ((rc = store_index_floor_get(t, &floor, err, errlen)) != 0 ||
	    (rc = unindex_range(t, floor, INT64_MAX, entry_of_partition, &partition, err, errlen)) != 0)
		return rc;
	return del_prefix(t, t->s->users, prefix, 4, err, errlen);
}

int store_partition_drop(struct store_txn *t, int32_t partition, char *err, size_t errlen)
{
	unsigned char prefix[4];
	MDB_val k;
	int rc;

	put_be32(prefix, (uint32_t)partition);
	if ((rc = drop_records(t, partition, err, errlen)) != 0 ||
	    (rc = del_prefix(t, t->s->rejects, prefix, 4, err, errlen)) != 0)
		return rc;
	if (t->s->has_v4_dbs && ((rc = del_prefix(t, t->s->pending, prefix, 4, err, errlen)) != 0 ||
				 (rc = del_prefix(t, t->s->changelog_db, prefix, 4, err, errlen)) != 0))
		return rc;
	k.mv_size = offset_key(t, partition);
	k.mv_data = t->key;
	if ((rc = mdb_del(t->txn, t->s->offsets, &k, NULL)) != 0 && rc != MDB_NOTFOUND)
		return mdb_fail(rc, "mdb_del", err, errlen);
	return 0;
}

/* ---- the merged walk over users: one cursor per partition, the least name first ---- */

struct merge_src {
	MDB_cursor *cur;
	uint32_t partition;
	MDB_val k, v;   /* its current record; valid while nothing is written */
	int live;
};

/* Moves src to its next record (first: to its first), or marks it done at the end of
 * its partition. */
static int merge_next(struct merge_src *src, int first)
{
	unsigned char prefix[4];
	int rc;

	if (first) {
		put_be32(prefix, src->partition);
		src->k.mv_size = 4;
		src->k.mv_data = prefix;
	}
	do {
		rc = mdb_cursor_get(src->cur, &src->k, &src->v, first ? MDB_SET_RANGE : MDB_NEXT);
		first = 0;
		/* A key without a name is malformed (store_check names it): passed over. */
	} while (rc == 0 && src->k.mv_size == 4);
	src->live = rc == 0 && src->k.mv_size > 4 && get_be32(src->k.mv_data) == src->partition;
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* A cursor at the first record of each partition that has records. Caller closes them
 * (merge_close). */
static int merge_open(struct store_txn *t, struct merge_src **out, size_t *n, char *err, size_t errlen)
{
	struct merge_src *m = NULL;
	MDB_cursor *scan;
	MDB_val k, v;
	unsigned char prefix[4];
	size_t cap = 0;
	uint32_t p = 0;
	int rc;

	*n = 0;
	*out = NULL;
	if ((rc = mdb_cursor_open(t->txn, t->s->users, &scan)) != 0)
		return mdb_fail(rc, "mdb_cursor_open", err, errlen);
	for (;;) {
		put_be32(prefix, p);
		k.mv_size = 4;
		k.mv_data = prefix;
		if ((rc = mdb_cursor_get(scan, &k, &v, MDB_SET_RANGE)) != 0 || k.mv_size < 4)
			break;
		p = get_be32(k.mv_data);
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			m = xrealloc(m, cap * sizeof(*m));
		}
		m[*n].partition = p;
		if ((rc = mdb_cursor_open(t->txn, t->s->users, &m[*n].cur)) != 0)
			break;
		(*n)++;
		if ((rc = merge_next(&m[*n - 1], 1)) != 0 || p >= INT32_MAX)
			break;
		p++;
	}
	mdb_cursor_close(scan);
	*out = m;
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mdb_fail(rc, "mdb_cursor_get", err, errlen);
	return 0;
}

static void merge_close(struct merge_src *m, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		mdb_cursor_close(m[i].cur);
	free(m);
}

/* LMDB's order of the names: bytes, then the shorter first. */
static int name_cmp(const MDB_val *k, const char *name, size_t len)
{
	size_t klen = k->mv_size - 4;
	int c = memcmp((const char *)k->mv_data + 4, name, klen < len ? klen : len);

	return c ? c : klen < len ? -1 : klen > len;
}

/* Calls fn for each user once, with its records merged; stops when fn returns non-zero. */
static int merge_walk(struct store_txn *t, store_user_fn fn, void *arg, char *err, size_t errlen)
{
	struct merge_src *m = NULL;
	struct store_user u = { 0, 0, 0, NULL, 0 }, r;
	const char *name;
	size_t n, i, len;
	int rc, stop = 0, first;

	if ((rc = merge_open(t, &m, &n, err, errlen)) != 0)
		goto sources_close;
	fault_what = "reading users";
	while (!stop) {
		const MDB_val *least = NULL;
		for (i = 0; i < n; i++)
			if (m[i].live && (!least || name_cmp(&m[i].k, (const char *)least->mv_data + 4,
							    least->mv_size - 4) < 0))
				least = &m[i].k;
		if (!least)
			break;
		/* Into the map, which a read does not move: valid after the cursors go on. */
		name = (const char *)least->mv_data + 4;
		len = least->mv_size - 4;
		for (i = 0, first = 1; i < n; i++) {
			if (!m[i].live || name_cmp(&m[i].k, name, len) != 0)
				continue;
			if (user_decode(&m[i].v, &r) < 0)
				memset(&r, 0, sizeof(r)); /* store_check reports it; a listing shows zeros */
			user_merge(&u, &r, first);
			first = 0;
			if ((rc = merge_next(&m[i], 0)) != 0) {
				rc = mdb_fail(rc, "mdb_cursor_get", err, errlen);
				goto sources_close;
			}
		}
		stop = fn(arg, name, len, &u);
	}
	rc = stop;
sources_close:
	fault_what = NULL;
	merge_close(m, n);
	return rc;
}

int store_users_each(struct store_txn *t, store_user_fn fn, void *arg, char *err, size_t errlen)
{
	return merge_walk(t, fn, arg, err, errlen);
}

struct records_walk {
	store_record_fn fn;
	void *arg;
};

static int records_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct records_walk *w = arg;
	struct store_user u;

	if (k->mv_size <= 4)
		return 0; /* store_check names it */
	if (user_decode(v, &u) < 0)
		memset(&u, 0, sizeof(u));
	return w->fn(w->arg, (int32_t)get_be32(k->mv_data), (const char *)k->mv_data + 4, k->mv_size - 4, &u);
}

int store_records_each(struct store_txn *t, store_record_fn fn, void *arg, char *err, size_t errlen)
{
	struct records_walk w = { fn, arg };
	return walk(t, t->s->users, NULL, records_step, &w, err, errlen);
}

struct index_walk {
	int64_t from, to;
	store_index_fn fn;
	void *arg;
};

static int index_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct index_walk *w = arg;
	struct seg_entry e;
	size_t at = 0;
	int rc;

	if (k->mv_size != SEG_KEY)
		return 0; /* not a segment: store_check names it */
	if ((int64_t)get_be64(k->mv_data) > w->to)
		return 1;
	while (seg_next(v, &at, &e) > 0)
		if (e.ts > w->from && e.ts <= w->to && (rc = w->fn(w->arg, e.partition, e.user, e.len, e.ts)) != 0)
			return rc;
	return 0;
}

int store_index_range(struct store_txn *t, int64_t from, int64_t to, store_index_fn fn, void *arg,
		      char *err, size_t errlen)
{
	struct index_walk w = { from, to, fn, arg };
	unsigned char start[8];
	MDB_val k = { 8, start };
	int rc;

	/* (from, to]: start at the segments of from + 1 ms's second. */
	put_be64(start, (uint64_t)bucket_of(from < INT64_MAX ? from + 1 : from));
	rc = walk(t, t->s->by_time, from < 0 ? NULL : &k, index_step, &w, err, errlen);
	return rc < 0 ? rc : 0;
}

/* Deletes the record uk when the entry at ts being pruned is its last_seen, not a stale
 * one. Returns 0 (deleted), MDB_NOTFOUND (kept, or none) or an LMDB error. */
static int prune_record(struct store_txn *t, const MDB_val *uk, int64_t ts)
{
	struct store_user u;
	MDB_val k = *uk, v;
	int rc = mdb_get(t->txn, t->s->users, &k, &v);

	if (rc != 0)
		return rc;
	if (user_decode(&v, &u) < 0 || u.last_seen != ts)
		return MDB_NOTFOUND; /* stale (a corrupt record is store_check's to name) */
	k = *uk;
	return mdb_del(t->txn, t->s->users, &k, NULL);
}

/* The records whose last_seen is an entry of segment v older than users_before: deleted
 * (listed in pending, with a changelog). v is copied first: the deletes are writes. */
static int prune_records(struct store_txn *t, const MDB_val *v, int64_t users_before, char *err, size_t errlen)
{
	MDB_val copy = { v->mv_size, xmalloc(v->mv_size ? v->mv_size : 1) }, uk;
	struct seg_entry e;
	size_t at = 0;
	int rc = 0;

	memcpy(copy.mv_data, v->mv_data, v->mv_size);
	while (rc == 0 && seg_next(&copy, &at, &e) > 0) {
		if (e.ts >= users_before)
			continue;
		uk.mv_size = user_key(t->ukey, e.partition, e.user, e.len);
		uk.mv_data = t->ukey;
		rc = prune_record(t, &uk, e.ts);
		if (rc == 0 && t->s->changelog)
			rc = pending_put(t, &uk, err, errlen);
		else if (rc == MDB_NOTFOUND)
			rc = 0;
		else if (rc != 0)
			rc = mdb_fail(rc, "store_prune", err, errlen);
	}
	free(copy.mv_data);
	return rc;
}

int store_prune(struct store_txn *t, int64_t index_before, int64_t users_before, size_t max,
		size_t *pruned, char *err, size_t errlen)
{
	MDB_cursor *cur;
	MDB_val k, v;
	size_t n = 0, segs = 0;
	int rc, prc;

	*pruned = 0;
	if ((rc = mdb_cursor_open(t->txn, t->s->by_time, &cur)) != 0)
		return mdb_fail(rc, "mdb_cursor_open", err, errlen);
	rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0 && n < max) {
		int64_t bucket;

		if (k.mv_size != SEG_KEY)
			break; /* not a segment: store_check names it */
		/* Whole segments only: every entry of its second older than index_before. */
		bucket = (int64_t)get_be64(k.mv_data);
		if (bucket >= index_before || index_before - bucket < INDEX_BUCKET_MS)
			break;
		n += seg_count(&v);
		if (users_before > INT64_MIN && (prc = prune_records(t, &v, users_before, err, errlen)) != 0) {
			mdb_cursor_close(cur);
			*pruned = n;
			return prc; /* the txn's to abort */
		}
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			goto cursor_close;
		if (segs++ == 0)
			crash_point("in-prune"); /* deleted, more to go, nothing committed */
		/* Always from the front: the oldest remaining segment is the next candidate. */
		rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
cursor_close:
	mdb_cursor_close(cur);
	*pruned = n;
	if (rc != 0)
		return mdb_fail(rc, "store_prune", err, errlen);
	return 0;
}


/* The record of index entry e, decoded into u: 0, MDB_NOTFOUND, -2 for a corrupt
 * record (store_check names it), or an LMDB error. */
static int entry_record(struct store_txn *t, const struct seg_entry *e, struct store_user *u)
{
	MDB_val uk, uv;
	int rc;

	uk.mv_size = user_key(t->ukey, e->partition, e->user, e->len);
	uk.mv_data = t->ukey;
	if ((rc = mdb_get(t->txn, t->s->users, &uk, &uv)) != 0)
		return rc;
	return user_decode(&uv, u) < 0 ? -2 : 0;
}

/* What compaction leaves out: an entry at or after `from` whose record's last_seen is
 * later (stale). A record not found, or corrupt, is store_check's to name: its entry
 * stays. */
struct compact_pick {
	struct store_txn *t;
	int64_t from;
};

static int compact_pred(void *arg, const struct seg_entry *e)
{
	struct compact_pick *c = arg;
	struct store_user u;

	return e->ts >= c->from && entry_record(c->t, e, &u) == 0 && u.last_seen > e->ts;
}

int store_index_compact_at(struct store_txn *t, store_segment_fn fn, void *arg, char *err, size_t errlen)
{
	MDB_val at;
	const unsigned char *kp;
	int rc = mdb_get(t->txn, t->s->meta, (MDB_val *)&compact_at_key, &at);

	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0)
		return mdb_fail(rc, "mdb_get", err, errlen);
	if (at.mv_size != SEG_KEY)
		return set_err(-1, err, errlen, "meta: index_compact_at has %zu bytes", at.mv_size);
	kp = at.mv_data;
	fn(arg, (int64_t)get_be64(kp), get_be64(kp + 8));
	return 1;
}

int store_index_compact(struct store_txn *t, int64_t from, size_t max, size_t *examined, size_t *deleted,
			int *ended, char *err, size_t errlen)
{
	struct compact_pick pick = { t, from };
	MDB_cursor *cur;
	MDB_val k, v, at;
	unsigned char pos[SEG_KEY], *buf = NULL; /* pos: where to go on, our own copy of a key */
	size_t plen = 0, n = 0, del = 0, cap = 0, kept;
	int rc;

	*examined = *deleted = 0;
	*ended = 0;
	if (from >= 0) {
		put_be64(pos, (uint64_t)bucket_of(from));
		plen = 8;
	}
	rc = mdb_get(t->txn, t->s->meta, (MDB_val *)&compact_at_key, &at);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mdb_fail(rc, "mdb_get", err, errlen);
	if (rc == 0 && at.mv_size == SEG_KEY && key_cmp(at.mv_data, at.mv_size, pos, plen) > 0) {
		memcpy(pos, at.mv_data, at.mv_size);
		plen = at.mv_size;
	}
	if ((rc = mdb_cursor_open(t->txn, t->s->by_time, &cur)) != 0)
		return mdb_fail(rc, "mdb_cursor_open", err, errlen);
	k.mv_size = plen;
	k.mv_data = pos;
	rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
	/* Whole segments: their entries count towards max. */
	while (rc == 0 && n < max) {
		long dropped;

		if (k.mv_size != SEG_KEY || (dropped = seg_filter(&v, compact_pred, &pick, &buf, &cap, &kept)) <= 0) {
			n += k.mv_size == SEG_KEY ? seg_count(&v) + (v.mv_size == 0) : 1;
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
			continue;
		}
		n += seg_count(&v);
		memcpy(pos, k.mv_data, SEG_KEY);
		if ((rc = seg_rewrite(t, cur, pos, buf, kept, &k, &v)) != 0 && rc != MDB_NOTFOUND)
			break;
		if (del == 0)
			crash_point("in-compact"); /* rewritten, more to go, nothing committed */
		del += (size_t)dropped;
	}
	if (rc == 0) {
		/* Out of budget: go on from the first segment not examined. */
		memcpy(pos, k.mv_data, k.mv_size < SEG_KEY ? k.mv_size : SEG_KEY);
		at.mv_size = k.mv_size < SEG_KEY ? k.mv_size : SEG_KEY;
		at.mv_data = pos;
		rc = mdb_put(t->txn, t->s->meta, (MDB_val *)&compact_at_key, &at, 0);
	} else if (rc == MDB_NOTFOUND) {
		/* The end of the index: the next pass starts from the floor. */
		rc = mdb_del(t->txn, t->s->meta, (MDB_val *)&compact_at_key, NULL);
		if (rc == MDB_NOTFOUND)
			rc = 0;
		*ended = rc == 0;
	}
	mdb_cursor_close(cur);
	free(buf);
	*examined = n;
	*deleted = del;
	return rc ? mdb_fail(rc, "store_index_compact", err, errlen) : 0;
}

/* ---- pending and changelog positions ---------------------------------------------- */

int store_pending_add(struct store_txn *t, int32_t partition, const char *user, size_t len, char *err,
		      size_t errlen)
{
	MDB_val k;

	if (len == 0 || len > STORE_USER_KEY_MAX)
		return set_err(-1, err, errlen, "user name of %zu bytes does not fit a key", len);
	k.mv_size = user_key(t->ukey, partition, user, len);
	k.mv_data = t->ukey;
	return pending_put(t, &k, err, errlen);
}

int store_pending_add_all(struct store_txn *t, int32_t partition, char *err, size_t errlen)
{
	unsigned char prefix[4];
	size_t plen = partition < 0 ? 0 : 4;
	MDB_cursor *cur;
	MDB_val k, v, uk;
	int rc;

	put_be32(prefix, (uint32_t)partition);
	if ((rc = mdb_cursor_open(t->txn, t->s->users, &cur)) != 0)
		return mdb_fail(rc, "mdb_cursor_open", err, errlen);
	k.mv_size = plen;
	k.mv_data = prefix;
	rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
	while (rc == 0 && k.mv_size >= plen && !memcmp(k.mv_data, prefix, plen)) {
		/* A write to pending leaves the users cursor where it is; the key is copied. */
		uk.mv_size = k.mv_size < sizeof(t->ukey) ? k.mv_size : sizeof(t->ukey);
		uk.mv_data = t->ukey;
		memcpy(t->ukey, k.mv_data, uk.mv_size);
		if ((rc = pending_put(t, &uk, err, errlen)) != 0) {
			mdb_cursor_close(cur);
			return rc;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mdb_fail(rc, "mdb_cursor_get", err, errlen);
	return 0;
}

struct pending_walk {
	const unsigned char *prefix;
	size_t plen;
	store_pending_fn fn;
	void *arg;
};

static int pending_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct pending_walk *w = arg;
	uint64_t id;

	if (k->mv_size < w->plen || memcmp(k->mv_data, w->prefix, w->plen))
		return 1;
	if (k->mv_size <= 4 || v->mv_size != sizeof(id))
		return 0; /* store_check names it */
	memcpy(&id, v->mv_data, sizeof(id));
	return w->fn(w->arg, (int32_t)get_be32(k->mv_data), (const char *)k->mv_data + 4, k->mv_size - 4, id);
}

int store_pending_each(struct store_txn *t, int32_t partition, store_pending_fn fn, void *arg, char *err,
		       size_t errlen)
{
	unsigned char prefix[4];
	struct pending_walk w = { prefix, partition < 0 ? 0 : 4, fn, arg };
	MDB_val from = { 4, prefix };
	int rc;

	if (!t->s->has_v4_dbs)
		return 0;
	put_be32(prefix, (uint32_t)partition);
	rc = walk(t, t->s->pending, partition < 0 ? NULL : &from, pending_step, &w, err, errlen);
	return rc < 0 ? rc : 0;
}

int store_pending_clear(struct store_txn *t, int32_t partition, uint64_t upto, char *err, size_t errlen)
{
	unsigned char prefix[4];
	MDB_cursor *cur;
	MDB_val k, v;
	uint64_t id;
	int rc;

	put_be32(prefix, (uint32_t)partition);
	if ((rc = mdb_cursor_open(t->txn, t->s->pending, &cur)) != 0)
		return mdb_fail(rc, "mdb_cursor_open", err, errlen);
	k.mv_size = 4;
	k.mv_data = prefix;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= 4 && !memcmp(k.mv_data, prefix, 4)) {
		if (v.mv_size == sizeof(id))
			memcpy(&id, v.mv_data, sizeof(id));
		if (v.mv_size != sizeof(id) || id > upto) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
			continue;
		}
		/* Deleted, then sought again from its own (copied) key: lands on the next. */
		memcpy(t->ukey, k.mv_data, k.mv_size < sizeof(t->ukey) ? k.mv_size : sizeof(t->ukey));
		k.mv_size = k.mv_size < sizeof(t->ukey) ? k.mv_size : sizeof(t->ukey);
		k.mv_data = t->ukey;
		if ((rc = mdb_cursor_del(cur, 0)) == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	}
	mdb_cursor_close(cur);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return mdb_fail(rc, "mdb_cursor_del", err, errlen);
	return 0;
}

int store_pending_upto(struct store_txn *t, uint64_t *upto, char *err, size_t errlen)
{
	return pending_writes_get(t->txn, t->s, upto, err, errlen);
}

int store_has_changelog(const struct store *s)
{
	return s->changelog;
}

int store_changelog_get(struct store_txn *t, int32_t partition, int64_t *next, char *err, size_t errlen)
{
	unsigned char key[4];
	MDB_val k = { 4, key }, v;
	int rc;

	if (!t->s->has_v4_dbs)
		return STORE_NOTFOUND;
	put_be32(key, (uint32_t)partition);
	rc = mdb_get(t->txn, t->s->changelog_db, &k, &v);
	if (rc == MDB_NOTFOUND)
		return STORE_NOTFOUND;
	if (rc != 0)
		return mdb_fail(rc, "mdb_get", err, errlen);
	if (v.mv_size != sizeof(*next))
		return set_err(-1, err, errlen, "changelog position of partition %d is corrupt", (int)partition);
	memcpy(next, v.mv_data, sizeof(*next));
	return 0;
}

int store_changelog_put(struct store_txn *t, int32_t partition, int64_t next, char *err, size_t errlen)
{
	unsigned char key[4];
	MDB_val k = { 4, key }, v = { sizeof(next), &next };
	int rc;

	put_be32(key, (uint32_t)partition);
	if ((rc = mdb_put(t->txn, t->s->changelog_db, &k, &v, 0)) != 0)
		return mdb_fail(rc, "mdb_put", err, errlen);
	return 0;
}

static size_t pos_key(unsigned char *buf, int32_t partition, int64_t offset)
{
	put_be32(buf, (uint32_t)partition);
	put_be64(buf + 4, (uint64_t)offset);
	return 12;
}

int store_reject_put(struct store_txn *t, int32_t partition, int64_t offset, const char *reason,
		     const void *payload, size_t len, char *err, size_t errlen)
{
	size_t rlen = strlen(reason);
	MDB_val k = { pos_key(t->key, partition, offset), t->key }, v;
	int rc;

	if (rlen > 512)
		rlen = 512;
	if (len > STORE_REJECT_PAYLOAD_MAX)
		len = STORE_REJECT_PAYLOAD_MAX;
	memcpy(t->val, reason, rlen);
	t->val[rlen] = '\0';
	if (len)
		memcpy(t->val + rlen + 1, payload, len);
	v.mv_size = rlen + 1 + len;
	v.mv_data = t->val;
	if ((rc = mdb_put(t->txn, t->s->rejects, &k, &v, 0)) != 0)
		return mdb_fail(rc, "mdb_put", err, errlen);
	return 0;
}

struct rejects_walk {
	store_reject_fn fn;
	void *arg;
};

static int rejects_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct rejects_walk *w = arg;
	const char *reason = v->mv_data;
	size_t rlen = strnlen(reason, v->mv_size);

	if (k->mv_size != 12 || rlen == v->mv_size)
		return 0;
	return w->fn(w->arg, (int32_t)get_be32(k->mv_data), (int64_t)get_be64((const unsigned char *)k->mv_data + 4),
		     reason, reason + rlen + 1, v->mv_size - rlen - 1);
}

int store_rejects_each(struct store_txn *t, store_reject_fn fn, void *arg, char *err, size_t errlen)
{
	struct rejects_walk w = { fn, arg };
	return walk(t, t->s->rejects, NULL, rejects_step, &w, err, errlen);
}

/* Who this process is, for a gaps record: "user@host pid N: command line", cut to
 * STORE_GAP_WHO_MAX bytes. Returns its length. */
static size_t who_am_i(char *buf, size_t len)
{
	struct passwd *pw = getpwuid(geteuid());
	char host[256] = "", cmd[STORE_GAP_WHO_MAX + 1];
	int n;

	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	process_cmdline((long)getpid(), cmd, sizeof(cmd));
	if (pw)
		n = snprintf(buf, len, "%s@%s pid %ld: %s", pw->pw_name, host, (long)getpid(), cmd);
	else
		n = snprintf(buf, len, "uid %u@%s pid %ld: %s", (unsigned)geteuid(), host, (long)getpid(), cmd);
	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

/* A gaps record of schema 3: key be32(partition) be64(from) be64(at_ms), value be64(to)
 * u8(kind) who. The time in the key keeps two records from the same offset apart. */
#define GAP_KEY 20
#define GAP_HEAD 9

static int gap_record_put(struct store_txn *t, int32_t partition, int64_t from, int64_t to, int kind,
			  char *err, size_t errlen)
{
	unsigned char val[GAP_HEAD + STORE_GAP_WHO_MAX + 1];
	MDB_val k = { GAP_KEY, t->key }, v = { 0, val };
	int rc;

	pos_key(t->key, partition, from);
	put_be64(t->key + 12, (uint64_t)clock_now_ms());
	put_be64(val, (uint64_t)to);
	val[8] = (unsigned char)kind;
	v.mv_size = GAP_HEAD + who_am_i((char *)val + GAP_HEAD, sizeof(val) - GAP_HEAD);
	if ((rc = mdb_put(t->txn, t->s->gaps, &k, &v, 0)) != 0)
		return mdb_fail(rc, "mdb_put", err, errlen);
	return 0;
}

int store_gap_put(struct store_txn *t, int32_t partition, int64_t from, int64_t to, char *err,
		  size_t errlen)
{
	return gap_record_put(t, partition, from, to, STORE_GAP_SKIPPED, err, errlen);
}

int store_reset_put(struct store_txn *t, int32_t partition, int64_t from, int64_t to, char *err,
		    size_t errlen)
{
	return gap_record_put(t, partition, from, to, STORE_GAP_RESET, err, errlen);
}

/* Decodes a gaps record of either schema; -1 if it is malformed. */
static int gap_decode(const MDB_val *k, const MDB_val *v, struct store_gap *g)
{
	const unsigned char *kp = k->mv_data, *vp = v->mv_data;

	memset(g, 0, sizeof(*g));
	if (k->mv_size == 12 && v->mv_size == 8) {
		g->kind = STORE_GAP_SKIPPED;
		g->at_ms = -1;
	} else if (k->mv_size == GAP_KEY && v->mv_size >= GAP_HEAD && v->mv_size <= GAP_HEAD + STORE_GAP_WHO_MAX &&
		   vp[8] <= STORE_GAP_RESET) {
		g->kind = vp[8];
		g->at_ms = (int64_t)get_be64(kp + 12);
		g->who = (const char *)vp + GAP_HEAD;
		g->who_len = v->mv_size - GAP_HEAD;
	} else {
		return -1;
	}
	g->partition = (int32_t)get_be32(kp);
	g->from = (int64_t)get_be64(kp + 4);
	g->to = (int64_t)get_be64(vp);
	return 0;
}

struct gaps_walk {
	store_gap_fn fn;
	store_gap_record_fn record_fn;
	void *arg;
};

static int gaps_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct gaps_walk *w = arg;
	struct store_gap g;

	if (gap_decode(k, v, &g) < 0)
		return 0; /* store_check names it */
	return w->fn ? w->fn(w->arg, g.partition, g.from, g.to) : w->record_fn(w->arg, &g);
}

int store_gaps_each(struct store_txn *t, store_gap_fn fn, void *arg, char *err, size_t errlen)
{
	struct gaps_walk w = { fn, NULL, arg };
	return walk(t, t->s->gaps, NULL, gaps_step, &w, err, errlen);
}

int store_gap_records_each(struct store_txn *t, store_gap_record_fn fn, void *arg, char *err, size_t errlen)
{
	struct gaps_walk w = { NULL, fn, arg };
	return walk(t, t->s->gaps, NULL, gaps_step, &w, err, errlen);
}

int store_outbox_put(struct store_txn *t, int32_t partition, int64_t offset, const char *recipient,
		     size_t rlen, const char *text, size_t tlen, char *err, size_t errlen)
{
	MDB_val k, v = { tlen, (void *)text };
	int rc;

	if (rlen + 12 > STORE_MAX_KEY)
		return set_err(-1, err, errlen, "recipient name too long");
	k.mv_size = pos_key(t->key, partition, offset) + rlen;
	memcpy(t->key + 12, recipient, rlen);
	k.mv_data = t->key;
	if ((rc = mdb_put(t->txn, t->s->outbox, &k, &v, 0)) != 0)
		return mdb_fail(rc, "mdb_put", err, errlen);
	return 0;
}

struct outbox_walk {
	store_outbox_fn fn;
	void *arg;
	const unsigned char *prefix; /* stop at the first key without it; NULL for all */
};

static int outbox_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct outbox_walk *w = arg;

	if (k->mv_size < 12)
		return 0;
	if (w->prefix && memcmp(k->mv_data, w->prefix, 12))
		return 1;
	return w->fn(w->arg, (int32_t)get_be32(k->mv_data), (int64_t)get_be64((const unsigned char *)k->mv_data + 4),
		     (const char *)k->mv_data + 12, k->mv_size - 12, v->mv_data, v->mv_size);
}

int store_outbox_each(struct store_txn *t, store_outbox_fn fn, void *arg, char *err, size_t errlen)
{
	struct outbox_walk w = { fn, arg, NULL };
	return walk(t, t->s->outbox, NULL, outbox_step, &w, err, errlen);
}

int store_outbox_at(struct store_txn *t, int32_t partition, int64_t offset, store_outbox_fn fn, void *arg,
		    char *err, size_t errlen)
{
	unsigned char prefix[12];
	struct outbox_walk w = { fn, arg, prefix };
	MDB_val from = { pos_key(prefix, partition, offset), prefix };
	int rc = walk(t, t->s->outbox, &from, outbox_step, &w, err, errlen);

	return rc < 0 ? rc : 0;
}

static int count_user(void *arg, const char *user, size_t len, const struct store_user *u)
{
	(void)user;
	(void)len;
	(void)u;
	(*(uint64_t *)arg)++;
	return 0;
}

static int count_entries(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct store_stat *st = arg;

	st->segments++;
	if (k->mv_size == SEG_KEY)
		st->index += seg_count(v);
	return 0;
}

/* The databases' entries, the index's entries (a walk of its segments), and the distinct
 * users: a merged walk over the records. */
int store_stat(struct store_txn *t, struct store_stat *st, char *err, size_t errlen)
{
	const struct { MDB_dbi dbi; uint64_t *n; } dbs[] = {
		{ t->s->users, &st->records }, { t->s->offsets, &st->offsets }, { t->s->rejects, &st->rejects },
		{ t->s->gaps, &st->gaps }, { t->s->outbox, &st->outbox }, { t->s->pending, &st->pending },
	};
	size_t i, ndbs = sizeof(dbs) / sizeof(dbs[0]) - !t->s->has_v4_dbs;
	MDB_envinfo info;
	MDB_stat ms;
	int rc;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < ndbs; i++) {
		if ((rc = mdb_stat(t->txn, dbs[i].dbi, &ms)) != 0)
			return mdb_fail(rc, "mdb_stat", err, errlen);
		*dbs[i].n = ms.ms_entries;
	}
	if ((rc = walk(t, t->s->by_time, NULL, count_entries, st, err, errlen)) < 0)
		return rc;
	if (st->records && (rc = merge_walk(t, count_user, &st->users, err, errlen)) < 0)
		return rc;
	mdb_env_info(t->s->env, &info);
	mdb_env_stat(t->s->env, &ms);
	st->map_size = info.me_mapsize;
	st->page_size = ms.ms_psize;
	st->used_bytes = (uint64_t)(info.me_last_pgno + 1) * ms.ms_psize;
	return 0;
}

/* meta "index_floor": int64; absent, none. */
int store_index_floor_get(struct store_txn *t, int64_t *floor, char *err, size_t errlen)
{
	static const MDB_val k = { 11, (void *)"index_floor" };
	uint64_t n;
	int rc = meta_number_get(t->txn, t->s, &k, (uint64_t)INT64_MIN, &n, err, errlen);

	*floor = (int64_t)n;
	return rc;
}

int store_index_floor_raise(struct store_txn *t, int64_t candidate, int64_t *floor, char *err, size_t errlen)
{
	MDB_val k = { 11, (void *)"index_floor" }, v = { sizeof(*floor), floor };
	int rc;

	if ((rc = store_index_floor_get(t, floor, err, errlen)) != 0)
		return rc;
	if (candidate <= *floor)
		return 0;
	*floor = candidate;
	if ((rc = mdb_put(t->txn, t->s->meta, &k, &v, 0)) != 0)
		return mdb_fail(rc, "mdb_put", err, errlen);
	return 0;
}

struct check_state {
	struct store_txn *t;
	int64_t index_floor;
	store_report_fn report;
	void *arg;
	int problems;
	int64_t *next;  /* stored next offset per partition, -1 none; for the rejects */
	int32_t nnext;
	store_progress_fn progress; /* or NULL */
	void *parg;
	uint64_t done, total;       /* records read, and to read */
	uint64_t at_last_seen;      /* index entries at or above the floor at their record's last_seen */
	uint64_t need_entry;        /* records at or above the floor, each of which needs one */
	uint64_t index_writes;      /* meta "index_writes": no segment has a later number */
	uint64_t pending_writes;    /* meta "pending_writes": no pending entry has a later one */
};

static void problem(struct check_state *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct check_state *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	c->problems++;
	if (c->report)
		c->report(c->arg, msg);
}

/* A user name or an email as store_check accepts it: valid UTF-8 without NUL. */
static int name_valid(const void *p, size_t len, size_t max)
{
	return len > 0 && len <= max && !memchr(p, '\0', len) && utf8_valid(p, len);
}

/* A segment: its key, then each entry. An entry at or above the floor must belong to a
 * record whose last_seen is at or after it (after: stale, waiting for compaction or
 * pruning); below the floor it waits for pruning and need only be well formed. The
 * entries at their record's last_seen are counted: check_run() compares them with the
 * records that need one. */
static int check_index_entry(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct check_state *c = arg;
	struct store_user u;
	struct seg_entry e;
	char buf[600];
	int64_t bucket;
	uint64_t no;
	size_t at = 0;
	int rc;

	bucket = k->mv_size == SEG_KEY ? (int64_t)get_be64(k->mv_data) : -1;
	if (bucket < 0 || bucket % INDEX_BUCKET_MS != 0) {
		problem(c, "by_time: malformed key '%s'", quote_bytes(buf, sizeof(buf), k->mv_data, k->mv_size, 64));
		return 0;
	}
	no = get_be64((const unsigned char *)k->mv_data + 8);
	if (no == 0 || no > c->index_writes)
		problem(c, "by_time: the segment of second %" PRId64 " is write %" PRIu64 ", past the store's count "
			"of %" PRIu64, bucket, no, c->index_writes);
	while ((rc = seg_next(v, &at, &e)) > 0) {
		if (!name_valid(e.user, e.len, STORE_USER_KEY_MAX) || e.partition < 0 || e.ts <= 0 ||
		    bucket_of(e.ts) != bucket) {
			problem(c, "by_time: malformed entry (%" PRId64 ", %d, '%s') in the segment of second %" PRId64,
				e.ts, (int)e.partition, quote_bytes(buf, sizeof(buf), e.user, e.len, 64), bucket);
			continue;
		}
		if (e.ts < c->index_floor)
			continue;
		rc = entry_record(c->t, &e, &u);
		if (rc == MDB_NOTFOUND)
			problem(c, "by_time: entry at %" PRId64 " for unknown user '%.*s' of partition %d", e.ts,
				(int)e.len, e.user, (int)e.partition);
		else if (rc == -2)
			; /* check_user reports it */
		else if (rc != 0)
			problem(c, "users: mdb_get: %s", mdb_strerror(rc));
		else if (u.last_seen < e.ts)
			problem(c, "by_time: entry at %" PRId64 " for '%.*s' of partition %d, whose last_seen is earlier, %"
				PRId64, e.ts, (int)e.len, e.user, (int)e.partition, u.last_seen);
		else if (u.last_seen == e.ts)
			c->at_last_seen++;
	}
	if (rc < 0 || v->mv_size == 0)
		problem(c, "by_time: the segment of second %" PRId64 " (write %" PRIu64 ") is malformed at byte %zu of "
			"%zu", bucket, no, at, v->mv_size);
	return 0;
}

/* When the entries at last_seen and the records that need one do not add up: which
 * records have none, and which have two. The keys of the records found at their
 * last_seen, sorted, against a walk of the records. */
struct entry_keys {
	struct check_state *c;
	MDB_val *keys;
	size_t n, cap, at;
};

static int collect_at_last_seen(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct entry_keys *w = arg;
	struct store_user u;
	struct seg_entry e;
	size_t at = 0;

	if (k->mv_size != SEG_KEY)
		return 0;
	while (seg_next(v, &at, &e) > 0) {
		if (e.ts < w->c->index_floor || e.len == 0 || entry_record(w->c->t, &e, &u) != 0 || u.last_seen != e.ts)
			continue;
		if (w->n == w->cap) {
			w->cap = w->cap ? 2 * w->cap : 256;
			w->keys = xrealloc(w->keys, w->cap * sizeof(*w->keys));
		}
		w->keys[w->n].mv_size = user_key(w->c->t->ukey, e.partition, e.user, e.len);
		w->keys[w->n].mv_data = xmalloc(w->keys[w->n].mv_size);
		memcpy(w->keys[w->n].mv_data, w->c->t->ukey, w->keys[w->n].mv_size);
		w->n++;
	}
	return 0;
}

static int val_cmp(const void *a, const void *b)
{
	return store_key_cmp(a, b);
}

static int name_missing(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct entry_keys *w = arg;
	struct store_user u;
	int c = 1;

	if (k->mv_size <= 4 || user_decode(v, &u) < 0 || u.last_seen < w->c->index_floor)
		return 0;
	/* Both in key order: a merge. */
	while (w->at < w->n && (c = store_key_cmp(&w->keys[w->at], k)) < 0)
		w->at++;
	if (c != 0 || w->at == w->n)
		problem(w->c, "by_time: no entry for '%.*s' of partition %d at its last_seen %" PRId64,
			(int)k->mv_size - 4, (const char *)k->mv_data + 4, (int)get_be32(k->mv_data), u.last_seen);
	return 0;
}

static int check_entries_add_up(struct check_state *c, char *err, size_t errlen)
{
	struct entry_keys w = { c, NULL, 0, 0, 0 };
	size_t i;
	int rc;

	if (c->at_last_seen == c->need_entry)
		return 0;
	if ((rc = walk(c->t, c->t->s->by_time, NULL, collect_at_last_seen, &w, err, errlen)) >= 0) {
		if (w.n > 1) /* qsort(NULL, 0, ...) is undefined */
			qsort(w.keys, w.n, sizeof(*w.keys), val_cmp);
		for (i = 1; i < w.n; i++)
			if (!store_key_cmp(&w.keys[i - 1], &w.keys[i]))
				problem(c, "by_time: two entries for '%.*s' of partition %d at its last_seen",
					(int)w.keys[i].mv_size - 4, (const char *)w.keys[i].mv_data + 4,
					(int)get_be32(w.keys[i].mv_data));
		rc = walk(c->t, c->t->s->users, NULL, name_missing, &w, err, errlen);
	}
	for (i = 0; i < w.n; i++)
		free(w.keys[i].mv_data);
	free(w.keys);
	return rc < 0 ? rc : 0;
}

/* Every record must decode, belong to a partition with a stored position, and one at
 * or above the floor must have its index entry at its last_seen (the latest of its
 * entries: check_index_entry allows none after it). */
static int check_user(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct check_state *c = arg;
	const char *name = (const char *)k->mv_data + 4;
	int nlen = (int)k->mv_size - 4;
	struct store_user u;
	char buf[600];
	int32_t p;

	if (k->mv_size <= 4 || !name_valid(name, k->mv_size - 4, STORE_USER_KEY_MAX)) {
		problem(c, "users: malformed key '%s'", quote_bytes(buf, sizeof(buf), k->mv_data, k->mv_size, 64));
		return 0;
	}
	p = (int32_t)get_be32(k->mv_data);
	if (user_decode(v, &u) < 0) {
		problem(c, "users: record of '%.*s' in partition %d is corrupt (%zu bytes)", nlen, name, (int)p,
			v->mv_size);
		return 0;
	}
	if (p < 0 || p >= c->nnext || c->next[p] < 0)
		problem(c, "users: '%.*s' has a record of partition %d, which has no stored position", nlen, name,
			(int)p);
	if (u.count == 0)
		problem(c, "users: '%.*s' has an event count of 0 in partition %d", nlen, name, (int)p);
	if (u.email && !name_valid(u.email, u.email_len, STORE_EMAIL_MAX))
		problem(c, "users: '%.*s' has a malformed email '%s'", nlen, name,
			quote_bytes(buf, sizeof(buf), u.email, u.email_len, 64));
	if (u.email && u.email_ts > u.last_seen)
		problem(c, "users: '%.*s' has an email of %" PRId64 ", after its last_seen %" PRId64, nlen, name,
			u.email_ts, u.last_seen);
	if (u.last_seen >= c->index_floor)
		c->need_entry++;
	return 0;
}

/* A pending entry names a valid user and a write that has been (or is being) committed. */
static int check_pending(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct check_state *c = arg;
	char buf[600];
	uint64_t id;

	if (k->mv_size <= 4 || !name_valid((const char *)k->mv_data + 4, k->mv_size - 4, STORE_USER_KEY_MAX) ||
	    v->mv_size != sizeof(id)) {
		problem(c, "pending: malformed entry '%s' (value of %zu bytes)",
			quote_bytes(buf, sizeof(buf), k->mv_data, k->mv_size, 64), v->mv_size);
		return 0;
	}
	memcpy(&id, v->mv_data, sizeof(id));
	if (id == 0 || id > c->pending_writes)
		problem(c, "pending: '%.*s' of partition %d names write %" PRIu64 ", later than the store's %" PRIu64,
			(int)k->mv_size - 4, (const char *)k->mv_data + 4, (int)get_be32(k->mv_data), id,
			c->pending_writes);
	return 0;
}

/* A changelog position: a partition, an offset. */
static int check_changelog(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct check_state *c = arg;
	int64_t next;

	if (k->mv_size != 4 || v->mv_size != sizeof(next)) {
		problem(c, "changelog: malformed record (key of %zu bytes, value of %zu)", k->mv_size, v->mv_size);
		return 0;
	}
	memcpy(&next, v->mv_data, sizeof(next));
	if ((int32_t)get_be32(k->mv_data) < 0 || next < 0)
		problem(c, "changelog: partition %d has position %" PRId64, (int)get_be32(k->mv_data), next);
	return 0;
}

/* Offsets: every key is the bound topic's "topic NUL be32(partition)"; an LMDB key is
 * unique, so that is one entry per partition. */
static int check_offset(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct check_state *c = arg;
	size_t n = strlen(c->t->s->topic);
	char buf[600];
	int32_t p;
	int64_t next;

	if (k->mv_size != n + 5 || memcmp(k->mv_data, c->t->s->topic, n) || ((const char *)k->mv_data)[n]) {
		problem(c, "offsets: key '%s' is not a partition of topic '%s'",
			quote_bytes(buf, sizeof(buf), k->mv_data, k->mv_size, 64), c->t->s->topic);
		return 0;
	}
	p = (int32_t)get_be32((const unsigned char *)k->mv_data + n + 1);
	if (v->mv_size != POSITION_SIZE) {
		problem(c, "offsets: partition %d has a record of %zu bytes", (int)p, v->mv_size);
		return 0;
	}
	memcpy(&next, v->mv_data, sizeof(next));
	if (p < 0 || next < 0) {
		problem(c, "offsets: partition %d has next offset %" PRId64, (int)p, next);
		return 0;
	}
	if (p >= c->nnext) {
		c->next = xrealloc(c->next, ((size_t)p + 1) * sizeof(*c->next));
		while (c->nnext <= p)
			c->next[c->nnext++] = -1;
	}
	c->next[p] = next;
	return 0;
}

/* A reject is a message the consumer has passed: below its partition's next offset. */
static int check_reject(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct check_state *c = arg;
	size_t rlen = v->mv_size ? strnlen(v->mv_data, v->mv_size) : 0;
	int32_t p;
	int64_t off;

	if (k->mv_size != 12 || rlen == 0 || rlen == v->mv_size || rlen + 1 + STORE_REJECT_PAYLOAD_MAX < v->mv_size) {
		problem(c, "rejects: malformed record (key of %zu bytes, value of %zu)", k->mv_size, v->mv_size);
		return 0;
	}
	p = (int32_t)get_be32(k->mv_data);
	off = (int64_t)get_be64((const unsigned char *)k->mv_data + 4);
	if (p < 0 || off < 0 || p >= c->nnext || off >= c->next[p])
		problem(c, "rejects: offset %" PRId64 " of partition %d is not below its stored offset", off,
			(int)p);
	return 0;
}

/* A gaps record of either schema (gap_decode); a reset's from is -1 when the partition
 * had no position. */
static int check_gap(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct check_state *c = arg;
	struct store_gap g;

	if (gap_decode(k, v, &g) < 0) {
		problem(c, "gaps: malformed record (key of %zu bytes, value of %zu)", k->mv_size, v->mv_size);
		return 0;
	}
	if (g.partition < 0 || g.to < 0 || g.from < (g.kind == STORE_GAP_RESET ? -1 : 0) ||
	    (g.who && memchr(g.who, '\0', g.who_len)))
		problem(c, "gaps: record of partition %d from %" PRId64 " to %" PRId64 " is out of range",
			(int)g.partition, g.from, g.to);
	return 0;
}

/* Walks one database for the check, counting the records for the progress callback. */
struct check_walk {
	struct check_state *c;
	walk_fn fn;
};

static int check_step(void *arg, const MDB_val *k, const MDB_val *v)
{
	struct check_walk *w = arg;
	struct check_state *c = w->c;

	if (c->progress && (++c->done & 4095) == 0)
		c->progress(c->parg, c->done, c->total);
	return w->fn(c, k, v);
}

static int check_db(struct check_state *c, MDB_dbi dbi, walk_fn fn, char *err, size_t errlen)
{
	struct check_walk w = { c, fn };
	return walk(c->t, dbi, NULL, check_step, &w, err, errlen);
}

static int check_run(struct check_state *c, char *err, size_t errlen)
{
	struct store *s = c->t->s;
	/* Offsets first: check_user and check_reject judge by them. */
	MDB_dbi dbs[] = { s->offsets, s->by_time, s->users, s->rejects, s->gaps, s->pending, s->changelog_db };
	walk_fn fns[] = { check_offset, check_index_entry, check_user, check_reject, check_gap, check_pending,
			  check_changelog };
	size_t i, ndbs = sizeof(dbs) / sizeof(dbs[0]) - (s->has_v4_dbs ? 0 : 2);
	MDB_stat ms;
	MDB_val w;
	char why[256];
	int rc = -1;

	for (i = 0; c->progress && i < ndbs; i++)
		if (mdb_stat(c->t->txn, dbs[i], &ms) == 0)
			c->total += ms.ms_entries;
	if (mdb_get(c->t->txn, s->meta, (MDB_val *)&index_writes_key, &w) == 0 && w.mv_size == sizeof(c->index_writes))
		memcpy(&c->index_writes, w.mv_data, sizeof(c->index_writes));
	else if (mdb_stat(c->t->txn, s->by_time, &ms) == 0 && ms.ms_entries)
		problem(c, "meta: index_writes is missing or malformed, and by_time holds %zu segments",
			(size_t)ms.ms_entries);
	if (s->has_v4_dbs && pending_writes_get(c->t->txn, s, &c->pending_writes, why, sizeof(why)) != 0)
		problem(c, "%s", why); /* its entries then judged by the txn id */
	for (i = 0; i < ndbs; i++)
		if (check_db(c, dbs[i], fns[i], err, errlen) < 0)
			goto out;
	if (check_entries_add_up(c, err, errlen) < 0)
		goto out;
	rc = c->problems;
out:
	free(c->next);
	return rc;
}

int store_check_at(struct store_txn *t, int64_t index_floor, store_report_fn report, void *arg, char *err,
		   size_t errlen)
{
	struct check_state c = { .t = t, .index_floor = index_floor, .report = report, .arg = arg };
	return check_run(&c, err, errlen);
}

int store_check_progress(struct store_txn *t, store_report_fn report, void *arg, store_progress_fn progress,
			 void *parg, char *err, size_t errlen)
{
	struct check_state c = { .t = t, .report = report, .arg = arg, .progress = progress, .parg = parg };

	if (store_index_floor_get(t, &c.index_floor, err, errlen) != 0)
		return -1;
	return check_run(&c, err, errlen);
}

int store_check(struct store_txn *t, store_report_fn report, void *arg, char *err, size_t errlen)
{
	return store_check_progress(t, report, arg, NULL, NULL, err, errlen);
}
