/* fuzz-parse.c: libFuzzer harness for the option value parsers: parse_duration_ms and
 * parse_int, each given the same input as a C string.
 *
 * Beyond not crashing: a value that is accepted is in range, and written back as a
 * plain number (with the smallest unit) it parses to the same value; a duration is only
 * ever made of digits, dots and unit letters, so no NaN, infinity, sign or exponent gets
 * through.
 */
#include "config.h"

#include <inttypes.h>
#include <string.h>

#include "fuzz.h"
#include "util.h"

static void check_duration(const char *s)
{
	int64_t ms = -7, again = -7;
	char buf[64];

	if (parse_duration_ms(s, &ms) != 0) {
		FUZZ_CHECK(ms == -7); /* untouched on failure */
		return;
	}
	FUZZ_CHECK(ms >= 0 && ms <= INT64_MAX / 4);
	FUZZ_CHECK(strspn(s, "0123456789.mshd") == strlen(s));
	snprintf(buf, sizeof(buf), "%" PRId64 "ms", ms);
	FUZZ_CHECK(parse_duration_ms(buf, &again) == 0 && again == ms);
}

static void check_int(const char *s, int64_t min, int64_t max)
{
	int64_t v = 0, again = 0;
	char buf[32];

	if (parse_int(s, min, max, &v) != 0)
		return;
	FUZZ_CHECK(v >= min && v <= max);
	snprintf(buf, sizeof(buf), "%" PRId64, v);
	FUZZ_CHECK(parse_int(buf, min, max, &again) == 0 && again == v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	FUZZ_CHECK(s != NULL);
	memcpy(s, data, size);
	s[size] = '\0'; /* what the parsers see of an argv string: up to the first NUL */
	check_duration(s);
	check_int(s, 0, 100);
	check_int(s, 1, INT64_MAX);
	check_int(s, INT64_MIN, INT64_MAX);
	check_int(s, -5, 5);
	free(s);
	return 0;
}
