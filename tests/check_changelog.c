/* check_changelog.c: the Check suite for changelog.c's messages: the records and
 * markers byte for byte as pingpong-active(1), CHANGELOG, lays them out, and what a
 * reader refuses.
 *
 * The expected bytes are written out here from the man page's layout (big-endian
 * integers), never by asking changelog.c to encode again.
 */
#include "config.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "changelog.h"

/* The layout, restated: a big-endian integer of n bytes at p. */
static void be(unsigned char *p, uint64_t v, int n)
{
	int i;

	for (i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)v;
}

START_TEST(test_record_layout)
{
	struct store_user u = { 1795320802898, 7, 1795320801000, "a@example.org", 13 }, d;
	unsigned char buf[CHANGELOG_VALUE_MAX], want[64];
	int64_t src = -1;
	size_t n = changelog_record_encode(buf, 4567, &u);

	want[0] = 1;
	be(want + 1, 4567, 8);
	be(want + 9, 1795320802898, 8);
	be(want + 17, 7, 8);
	be(want + 25, 1795320801000, 8);
	be(want + 33, 13, 2);
	memcpy(want + 35, "a@example.org", 13);
	ck_assert_uint_eq(n, 48);
	ck_assert(memcmp(buf, want, n) == 0);
	ck_assert_int_eq(changelog_record_decode(want, n, &src, &d), 0);
	ck_assert_int_eq(src, 4567);
	ck_assert_int_eq(d.last_seen, u.last_seen);
	ck_assert_uint_eq(d.count, 7);
	ck_assert_int_eq(d.email_ts, u.email_ts);
	ck_assert_uint_eq(d.email_len, 13);
	ck_assert(memcmp(d.email, "a@example.org", 13) == 0);

	/* No email: the length 0, nothing after it. */
	u.email = NULL;
	u.email_len = 0;
	ck_assert_uint_eq(changelog_record_encode(buf, 0, &u), CHANGELOG_RECORD_HEAD);
	ck_assert_int_eq(changelog_record_decode(buf, CHANGELOG_RECORD_HEAD, &src, &d), 0);
	ck_assert_ptr_null(d.email);
}
END_TEST

/* What a reader refuses: another version, a length that disagrees, no value, a count of
 * 0, an email with a NUL or not UTF-8, a negative source offset. */
START_TEST(test_record_refused)
{
	struct store_user u = { 100, 1, 90, "e@x", 3 }, d;
	unsigned char buf[CHANGELOG_VALUE_MAX], bad[CHANGELOG_VALUE_MAX];
	int64_t src;
	size_t n = changelog_record_encode(buf, 10, &u);

	ck_assert_int_eq(changelog_record_decode(NULL, 0, &src, &d), -1);
	ck_assert_int_eq(changelog_record_decode(buf, n - 1, &src, &d), -1);
	ck_assert_int_eq(changelog_record_decode(buf, CHANGELOG_RECORD_HEAD - 1, &src, &d), -1);
	memcpy(bad, buf, n);
	bad[0] = 2;
	ck_assert_int_eq(changelog_record_decode(bad, n, &src, &d), -1);
	memcpy(bad, buf, n);
	be(bad + 17, 0, 8);
	ck_assert_int_eq(changelog_record_decode(bad, n, &src, &d), -1);
	memcpy(bad, buf, n);
	bad[36] = '\0';
	ck_assert_int_eq(changelog_record_decode(bad, n, &src, &d), -1);
	bad[36] = (char)0xff;
	ck_assert_int_eq(changelog_record_decode(bad, n, &src, &d), -1);
	memcpy(bad, buf, n);
	be(bad + 1, (uint64_t)-1, 8);
	ck_assert_int_eq(changelog_record_decode(bad, n, &src, &d), -1);
}
END_TEST

START_TEST(test_marker)
{
	struct store_position pos = { 98402, 1795320802898, 0x0123456789abcdefULL }, d;
	unsigned char buf[CHANGELOG_MARKER_SIZE], want[CHANGELOG_MARKER_SIZE];

	ck_assert_uint_eq(changelog_marker_encode(buf, &pos), 25);
	want[0] = 1;
	be(want + 1, 98402, 8);
	be(want + 9, 1795320802898, 8);
	be(want + 17, 0x0123456789abcdefULL, 8);
	ck_assert(memcmp(buf, want, 25) == 0);
	ck_assert_int_eq(changelog_marker_decode(want, 25, &d), 0);
	ck_assert_int_eq(d.next, 98402);
	ck_assert_int_eq(d.last_ts, 1795320802898);
	ck_assert(d.last_hash == 0x0123456789abcdefULL);
	ck_assert_int_eq(changelog_marker_decode(want, 24, &d), -1);
	ck_assert_int_eq(changelog_marker_decode(NULL, 0, &d), -1);
	want[0] = 0;
	ck_assert_int_eq(changelog_marker_decode(want, 25, &d), -1);
	/* Its key: one NUL byte, which no user name can be. */
	ck_assert(changelog_is_marker("", 1));
	ck_assert(!changelog_is_marker("", 0));
	ck_assert(!changelog_is_marker("a", 1));
	ck_assert(!changelog_is_marker("\0\0", 2));
}
END_TEST

static Suite *changelog_suite(void)
{
	Suite *s = suite_create("changelog");
	TCase *tc = tcase_create("messages");

	tcase_add_test(tc, test_record_layout);
	tcase_add_test(tc, test_record_refused);
	tcase_add_test(tc, test_marker);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(changelog_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
