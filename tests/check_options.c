/* check_options.c: durations, sizes, numbers, UTF-8 and the common options. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "util.h"

START_TEST(test_duration_units)
{
	int64_t ms;

	ck_assert_int_eq(parse_duration_ms("250ms", &ms), 0);
	ck_assert_int_eq(ms, 250);
	ck_assert_int_eq(parse_duration_ms("30s", &ms), 0);
	ck_assert_int_eq(ms, 30000);
	ck_assert_int_eq(parse_duration_ms("1.5s", &ms), 0);
	ck_assert_int_eq(ms, 1500);
	ck_assert_int_eq(parse_duration_ms("5m", &ms), 0);
	ck_assert_int_eq(ms, 300000);
	ck_assert_int_eq(parse_duration_ms("2h", &ms), 0);
	ck_assert_int_eq(ms, 7200000);
	ck_assert_int_eq(parse_duration_ms("0", &ms), 0);
	ck_assert_int_eq(ms, 0);
}
END_TEST

START_TEST(test_duration_rejects)
{
	static const char *const bad[] = { "", "30", "s", "-5s", "+5s", "5 s", "5sec", "5d", "1e30h", "ms" };
	int64_t ms = 42;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(parse_duration_ms(bad[i], &ms) < 0, "'%s' was accepted", bad[i]);
		ck_assert_int_eq(ms, 42);
	}
}
END_TEST

START_TEST(test_size)
{
	uint64_t b;

	ck_assert_int_eq(parse_size("4096", &b), 0);
	ck_assert_uint_eq(b, 4096);
	ck_assert_int_eq(parse_size("64MiB", &b), 0);
	ck_assert_uint_eq(b, 64ULL << 20);
	ck_assert_int_eq(parse_size("1GiB", &b), 0);
	ck_assert_uint_eq(b, 1ULL << 30);
	ck_assert_int_lt(parse_size("64MB", &b), 0);
	ck_assert_int_lt(parse_size("-1", &b), 0);
	ck_assert_int_lt(parse_size("99999999999999TiB", &b), 0);
}
END_TEST

START_TEST(test_int)
{
	int64_t v;

	ck_assert_int_eq(parse_int("12", 0, 100, &v), 0);
	ck_assert_int_eq(v, 12);
	ck_assert_int_lt(parse_int("101", 0, 100, &v), 0);
	ck_assert_int_lt(parse_int("-1", 0, 100, &v), 0);
	ck_assert_int_lt(parse_int("12x", 0, 100, &v), 0);
	ck_assert_int_lt(parse_int("", 0, 100, &v), 0);
	ck_assert_int_lt(parse_int("99999999999999999999", 0, INT64_MAX, &v), 0);
}
END_TEST

START_TEST(test_utf8)
{
	ck_assert(utf8_valid("Zoë", strlen("Zoë")));
	ck_assert(utf8_valid("\xf0\x9f\x98\x80", 4));     /* U+1F600 */
	ck_assert(!utf8_valid("\xc3", 1));                /* truncated */
	ck_assert(!utf8_valid("\xc0\xaf", 2));            /* overlong '/' */
	ck_assert(!utf8_valid("\xed\xa0\x80", 3));        /* surrogate */
	ck_assert(!utf8_valid("\xf4\x90\x80\x80", 4));    /* > U+10FFFF */
	ck_assert(!utf8_valid("\xff", 1));
	ck_assert(!utf8_valid("a\x80", 2));
}
END_TEST

START_TEST(test_common_options)
{
	struct common_opts co;

	common_opts_init(&co);
	ck_assert_str_eq(co.topic, "chat");
	ck_assert_int_eq(common_option(&co, 'b', "127.0.0.1:9092"), 1);
	ck_assert_str_eq(co.brokers, "127.0.0.1:9092");
	ck_assert_int_eq(common_option(&co, 'X', "linger.ms=1"), 1);
	ck_assert_int_eq(common_option(&co, 'X', "acks=all"), 1);
	ck_assert_uint_eq(co.nprops, 2);
	ck_assert_str_eq(co.props[1], "acks=all");
	ck_assert_int_eq(common_option(&co, 'X', "novalue"), -1);
	ck_assert_int_eq(common_option(&co, 'X', "=x"), -1);
	ck_assert_int_eq(common_option(&co, 'v', NULL), 1);
	ck_assert_int_eq(common_option(&co, 'v', NULL), 1);
	ck_assert_int_eq(co.verbosity, 2);
	ck_assert_int_eq(common_option(&co, 'q', NULL), 1);
	ck_assert_int_eq(co.verbosity, -1);
	ck_assert_int_eq(common_option(&co, 'Z', NULL), 0);
	common_opts_release(&co);
}
END_TEST

static Suite *options_suite(void)
{
	Suite *s = suite_create("options");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_duration_units);
	tcase_add_test(tc, test_duration_rejects);
	tcase_add_test(tc, test_size);
	tcase_add_test(tc, test_int);
	tcase_add_test(tc, test_utf8);
	tcase_add_test(tc, test_common_options);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(options_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
