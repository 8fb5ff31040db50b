/* check_progress.c: the Check suite for progress.c: the lines, their cadence and their
 * figures, at given times, written to a pipe that the test reads back.
 *
 * The expected lines are written out by hand from the inputs: the rate is the work of
 * the interval over its length (then averaged with the one before), the estimate what is
 * left over the rate at which it shrank.
 */
#include "config.h"

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"
#include "util.h"

static int fds[2];

static void setup(void)
{
	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(fcntl(fds[0], F_SETFL, O_NONBLOCK), 0);
}

static void teardown(void)
{
	close(fds[0]);
	close(fds[1]);
}

/* Everything written since the last call. */
static const char *written(void)
{
	static char buf[8192];
	ssize_t n = read(fds[0], buf, sizeof(buf) - 1);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

START_TEST(test_count_and_eta)
{
	char buf[64];

	ck_assert_str_eq(progress_count(0, buf, sizeof(buf)), "0");
	ck_assert_str_eq(progress_count(999, buf, sizeof(buf)), "999");
	ck_assert_str_eq(progress_count(1000, buf, sizeof(buf)), "1,000");
	ck_assert_str_eq(progress_count(12345, buf, sizeof(buf)), "12,345");
	ck_assert_str_eq(progress_count(1234567, buf, sizeof(buf)), "1,234,567");
	ck_assert_str_eq(progress_count(-1234567, buf, sizeof(buf)), "-1,234,567");
	ck_assert_str_eq(progress_count(INT64_MAX, buf, sizeof(buf)), "9,223,372,036,854,775,807");
	ck_assert_str_eq(progress_count(INT64_MIN, buf, sizeof(buf)), "-9,223,372,036,854,775,808");
	ck_assert_str_eq(progress_eta(0, buf, sizeof(buf)), "0s");
	ck_assert_str_eq(progress_eta(0.2, buf, sizeof(buf)), "1s"); /* up: never "0s" while some is left */
	ck_assert_str_eq(progress_eta(59, buf, sizeof(buf)), "59s");
	ck_assert_str_eq(progress_eta(60, buf, sizeof(buf)), "1m00s");
	ck_assert_str_eq(progress_eta(200, buf, sizeof(buf)), "3m20s");
	ck_assert_str_eq(progress_eta(7500, buf, sizeof(buf)), "2h05m");
	ck_assert_str_eq(progress_eta(3 * 86400 + 4 * 3600 + 5, buf, sizeof(buf)), "3d4h");
	ck_assert_str_eq(progress_eta(1e300, buf, sizeof(buf)), "11574074d1h");
}
END_TEST

/* Not a terminal: a log line every 10 s, none before; the first counts from the first
 * update. */
START_TEST(test_log_lines)
{
	struct progress p;

	progress_init_mode(&p, "produce", "produced", "events", PROGRESS_LOG, fds[1]);
	progress_update_at(&p, 1000, 0, 100000);
	progress_update_at(&p, 5000, 40000, 60000);
	progress_update_at(&p, 10999, 50000, 50000);
	ck_assert_str_eq(written(), "");
	progress_update_at(&p, 11000, 50000, 50000);
	ck_assert_str_eq(written(), "pingpong produce: produced 50,000 events, 5,000 events/s, 50,000 left, "
				    "about 10s to go\n");
	progress_update_at(&p, 20999, 90000, 10000);
	ck_assert_str_eq(written(), "");
	/* 40,000 in 10 s: 4,000/s, averaged with 5,000: 4,500/s; 10,000 left at 4,500/s. */
	progress_update_at(&p, 21000, 90000, 10000);
	ck_assert_str_eq(written(), "pingpong produce: produced 90,000 events, 4,500 events/s, 10,000 left, "
				    "about 3s to go\n");
	progress_done(&p);
	ck_assert_str_eq(written(), "");
}
END_TEST

/* A terminal: one line, rewritten in place every 250 ms, cleared at the end. */
START_TEST(test_terminal_line)
{
	struct progress p;

	progress_init_mode(&p, "store", "checked", "records", PROGRESS_TERMINAL, fds[1]);
	progress_update_at(&p, 0, 0, 1000000);
	progress_update_at(&p, 249, 100000, 900000);
	ck_assert_str_eq(written(), "");
	progress_update_at(&p, 250, 125000, 875000);
	ck_assert_str_eq(written(), "\rpingpong store: checked 125,000 records, 500,000 records/s, 875,000 left, "
				    "about 2s to go\033[K");
	progress_update_at(&p, 500, 250000, 750000);
	ck_assert_str_eq(written(), "\rpingpong store: checked 250,000 records, 500,000 records/s, 750,000 left, "
				    "about 2s to go\033[K");
	progress_done(&p);
	ck_assert_str_eq(written(), "\r\033[K");
	progress_done(&p); /* nothing up any more */
	ck_assert_str_eq(written(), "");
}
END_TEST

/* A log line while a terminal line is up clears it first, and only that once. The log
 * writes to standard error, which the test points at its pipe for the while. */
START_TEST(test_log_over_line)
{
	struct progress p;
	int saved = dup(STDERR_FILENO);

	ck_assert_int_ge(saved, 0);
	ck_assert_int_eq(dup2(fds[1], STDERR_FILENO), STDERR_FILENO);
	log_init("active", 0);
	progress_init_mode(&p, "active", "applied", "events", PROGRESS_TERMINAL, fds[1]);
	progress_update_at(&p, 0, 0, 1000);
	progress_update_at(&p, 250, 500, 500);
	ck_assert_str_eq(written(), "\rpingpong active: applied 500 events, 2,000 events/s, 500 left, about 1s to go"
				    "\033[K");
	log_info("revoked: %s", "chat[0]");
	log_info("assigned: %s", "chat[0]");
	ck_assert_str_eq(written(), "\r\033[Kpingpong active: revoked: chat[0]\npingpong active: assigned: chat[0]\n");
	progress_update_at(&p, 500, 1000, 0);
	progress_done(&p);
	log_info("caught up");
	ck_assert_str_eq(written(), "\rpingpong active: applied 1,000 events, 2,000 events/s, 0 left\033[K\r\033[K"
				    "pingpong active: caught up\n");
	ck_assert_int_eq(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
}
END_TEST

/* A consumer catching up: what is left shrinks more slowly than the work grows, or not at
 * all while producers keep up with it. */
START_TEST(test_catching_up)
{
	struct progress p;

	progress_init_mode(&p, "active", "applied", "events", PROGRESS_LOG, fds[1]);
	progress_update_at(&p, 0, 0, 120000);
	/* 100,000 applied in 10 s, but the lag only went from 120,000 to 100,000: it shrinks
	 * by 2,000/s, so 50 s to go, not 10. */
	progress_update_at(&p, 10000, 100000, 100000);
	ck_assert_str_eq(written(), "pingpong active: applied 100,000 events, 10,000 events/s, 100,000 left, "
				    "about 50s to go\n");
	/* The next 10 s the lag grew by 2,000/s: the average of +2,000 and -2,000 is 0. */
	progress_update_at(&p, 20000, 200000, 120000);
	ck_assert_str_eq(written(), "pingpong active: applied 200,000 events, 10,000 events/s, 120,000 left, "
				    "not catching up\n");
	/* Caught up: nothing left, no estimate. */
	progress_update_at(&p, 30000, 320000, 0);
	ck_assert_str_eq(written(), "pingpong active: applied 320,000 events, 11,000 events/s, 0 left\n");
}
END_TEST

/* Without anything left to know, the rate alone; with -q, nothing at all. */
START_TEST(test_unknown_left_and_off)
{
	struct progress p;

	progress_init_mode(&p, "produce", "produced", "events", PROGRESS_LOG, fds[1]);
	progress_update_at(&p, 0, 0, -1);
	progress_update_at(&p, 10000, 12345, -1);
	ck_assert_str_eq(written(), "pingpong produce: produced 12,345 events, 1,235 events/s\n");

	progress_init_mode(&p, "produce", "produced", "events", PROGRESS_OFF, fds[1]);
	progress_update_at(&p, 0, 0, 100);
	progress_update_at(&p, 60000, 50, 50);
	progress_done(&p);
	ck_assert_str_eq(written(), "");
	ck_assert_int_eq(p.done, 50); /* the figures are kept all the same */
	ck_assert_int_eq(p.left, 50);
}
END_TEST

/* progress_init: -q is off whatever stderr is; $PINGPONG_PROGRESS_MS sets the interval. */
START_TEST(test_init)
{
	struct progress p;

	progress_init(&p, "produce", "produced", "events", -1);
	ck_assert_int_eq(p.mode, PROGRESS_OFF);
	setenv("PINGPONG_PROGRESS_MS", "1500", 1);
	progress_init(&p, "produce", "produced", "events", 0);
	ck_assert_int_ne(p.mode, PROGRESS_OFF);
	ck_assert_int_eq(p.interval_ms, 1500);
	setenv("PINGPONG_PROGRESS_MS", "soon", 1);
	progress_init(&p, "produce", "produced", "events", 0);
	ck_assert_int_eq(p.interval_ms, isatty(STDERR_FILENO) ? PROGRESS_TERMINAL_MS : PROGRESS_LOG_MS);
	unsetenv("PINGPONG_PROGRESS_MS");
}
END_TEST

/* PINGPONG_PROGRESS_MS=0: two updates in the same millisecond give a finite rate (as if a
 * millisecond apart), never a division by zero. */
START_TEST(test_same_millisecond)
{
	struct progress p;

	progress_init_mode(&p, "store", "checked", "records", PROGRESS_LOG, fds[1]);
	p.interval_ms = 0;
	progress_update_at(&p, 1000, 0, 12000);
	progress_update_at(&p, 1000, 8192, 3808);
	ck_assert_str_eq(written(), "pingpong store: checked 8,192 records, 8,192,000 records/s, 3,808 left, "
				    "about 0s to go\n");
	progress_done(&p);
}
END_TEST

static Suite *progress_suite(void)
{
	Suite *s = suite_create("progress");
	TCase *tc = tcase_create("progress");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_count_and_eta);
	tcase_add_test(tc, test_log_lines);
	tcase_add_test(tc, test_terminal_line);
	tcase_add_test(tc, test_log_over_line);
	tcase_add_test(tc, test_catching_up);
	tcase_add_test(tc, test_unknown_left_and_off);
	tcase_add_test(tc, test_init);
	tcase_add_test(tc, test_same_millisecond);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(progress_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
