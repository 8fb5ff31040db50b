/* check_options.c: durations, sizes, numbers, times, UTF-8 and the option parser. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "kafka.h"
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

/* Each of bad[] is refused, and the output is left alone. */
static void assert_durations_refused(const char *const *bad, size_t n)
{
	int64_t ms = 42;
	size_t i;

	for (i = 0; i < n; i++) {
		ck_assert_msg(parse_duration_ms(bad[i], &ms) < 0, "'%s' was accepted", bad[i]);
		ck_assert_int_eq(ms, 42);
	}
}

START_TEST(test_duration_rejects)
{
	static const char *const bad[] = {
		"", "30", "s", "-5s", "+5s", "5 s", "5sec", "5w", "1e30h", "ms", "1.s", ".s", "5.",
		"1e3s", "0x10s", "1m1m", "30s1m", "1s1h", "1h 30m", "1h-30m", "5s ", " 5s", "00",
		"99999999999999999999ms", "106751991167d",
	};

	assert_durations_refused(bad, sizeof(bad) / sizeof(bad[0]));
}
END_TEST

/* strtod reads all of these as NaN or infinity; a NaN compares false with every bound,
 * so "--max-skew nanms" once rejected every valid event as "in the future". */
START_TEST(test_duration_not_finite)
{
	static const char *const bad[] = {
		"nanms", "NaNms", "nan(123)s", "NAN(0x1)s", "-nans", "nans", "infs", "INFms",
		"infinitys", "Infinityh", "-infs", "+infs", "1mnans", "1mInfs", "1h.nanm",
	};

	assert_durations_refused(bad, sizeof(bad) / sizeof(bad[0]));
}
END_TEST

START_TEST(test_duration_compound)
{
	static const struct { const char *s; int64_t ms; } ok[] = {
		{ "1m30s", 90000 },
		{ "1h2m3s500ms", 3723500 },
		{ "2d", 172800000 },
		{ "1d12h", 129600000 },
		{ "1.5d", 129600000 },
		{ "1h0.5m", 3630000 },
		{ "0s", 0 },
		{ "0m0s", 0 },
		{ "007s", 7000 },
		{ "1.0005s", 1001 },
		{ "0.4ms", 0 },
		{ "2.5ms", 3 },
		{ "1.25m", 75000 },
		{ "106751991d", 9223372022400000LL },
		/* beyond 2^53 ms, where a double loses the last digits (found by fuzz-parse) */
		{ "99999995184h52s", 359999982662452000LL },
		{ "359999982662452001ms", 359999982662452001LL },
	};
	int64_t ms;
	size_t i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		ms = -1;
		ck_assert_msg(parse_duration_ms(ok[i].s, &ms) == 0, "'%s' was refused", ok[i].s);
		ck_assert_msg(ms == ok[i].ms, "'%s' gave %lld ms, not %lld", ok[i].s, (long long)ms,
			      (long long)ok[i].ms);
	}
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

START_TEST(test_hex)
{
	unsigned char all[256], back[256];
	char hex[2 * sizeof(all) + 1];
	size_t i;

	for (i = 0; i < sizeof(all); i++)
		all[i] = (unsigned char)(255 - i);
	ck_assert_ptr_eq(hex_encode(all, sizeof(all), hex), hex);
	ck_assert_uint_eq(strlen(hex), 2 * sizeof(all));
	ck_assert(!strncmp(hex, "fffefd", 6));
	ck_assert_str_eq(hex + 2 * 253, "020100");
	memset(back, 0xaa, sizeof(back));
	ck_assert_int_eq(hex_decode(hex, strlen(hex), back), 0);
	ck_assert(!memcmp(all, back, sizeof(all)));

	ck_assert_int_eq(hex_decode("C1aB", 4, back), 0); /* either case */
	ck_assert_uint_eq(back[0], 0xc1);
	ck_assert_uint_eq(back[1], 0xab);
	ck_assert_str_eq(hex_encode("", 0, hex), "");
	ck_assert_int_eq(hex_decode("", 0, back), 0);
	ck_assert_int_lt(hex_decode("abc", 3, back), 0);  /* odd */
	ck_assert_int_lt(hex_decode("0g", 2, back), 0);
	ck_assert_int_lt(hex_decode("g0", 2, back), 0);
	ck_assert_int_lt(hex_decode(" 0", 2, back), 0);
	ck_assert_int_lt(hex_decode("0x", 2, back), 0);
	ck_assert_int_lt(hex_decode("\0" "0", 2, back), 0); /* a NUL is not a digit */
}
END_TEST

/* A -X value may be a password: librdkafka's message may quote it, ours must not. */
START_TEST(test_x_value_not_echoed)
{
	static const char *props[] = {
		"session.timeout.ms=s3cr3t!", "compression.type=s3cr3t!", "debug=s3cr3t!",
		"statistics.interval.ms=-424242",
	};
	rd_kafka_conf_t *conf;
	char err[512], key[64];
	size_t i;

	for (i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
		struct kafka_opts ko = { "127.0.0.1:1", &props[i], 1 };
		err[0] = '\0';
		conf = kafka_conf_new(&ko, kafka_consumer_tuning, err, sizeof(err));
		ck_assert_msg(conf == NULL, "%s was accepted", props[i]);
		snprintf(key, sizeof(key), "-X %.*s: ", (int)strcspn(props[i], "="), props[i]);
		ck_assert_msg(!strncmp(err, key, strlen(key)), "'%s' does not name the key", err);
		ck_assert_msg(!strstr(err, "s3cr3t") && !strstr(err, "424242"), "'%s' shows the value",
			      err);
	}
}
END_TEST

/* fput_escaped() into a string; caller frees. */
static char *escaped(const char *s, size_t len)
{
	char *buf = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&buf, &size);

	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fput_escaped(s, len, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	return buf;
}

START_TEST(test_escape_cases)
{
	static const struct { const char *in; size_t len; const char *out; } cases[] = {
		{ "plain text", 10, "plain text" },
		{ "", 0, "" },
		{ "back\\slash", 10, "back\\\\slash" },
		{ "a\nb\rc\td", 7, "a\\nb\\rc\\td" },
		{ "\x1b[2J\x1b[H", 7, "\\x1b[2J\\x1b[H" },
		{ "x\0y", 3, "x\\x00y" },
		{ "bell\a", 5, "bell\\x07" },
		{ "del\x7f", 4, "del\\x7f" },
		{ "\x1f", 1, "\\x1f" },
		{ "c1 \xc2\x85 \xc2\x9b" "31m", 11, "c1 \\u0085 \\u009b31m" },
		{ "\xc2\x80\xc2\x9f", 4, "\\u0080\\u009f" },
		{ "nbsp\xc2\xa0", 6, "nbsp\xc2\xa0" },           /* U+00A0 is printable */
		{ "Zo\xc3\xab \xf0\x9f\x8f\x93", 9, "Zo\xc3\xab \xf0\x9f\x8f\x93" },
		{ "\xff", 1, "\\xff" },                        /* not UTF-8 */
		{ "\xc3", 1, "\\xc3" },                        /* cut short */
		{ "\xc0\xaf", 2, "\\xc0\\xaf" },                /* overlong */
		{ "\xed\xa0\x80", 3, "\\xed\\xa0\\x80" },        /* surrogate */
		{ "\xc2", 1, "\\xc2" },                        /* a C1 lead byte alone */
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = escaped(cases[i].in, cases[i].len);
		ck_assert_msg(!strcmp(got, cases[i].out), "case %zu: got '%s', want '%s'", i, got,
			      cases[i].out);
		free(got);
	}
}
END_TEST

/* Undoes the escaping, written from its documented rules alone. Returns the length. */
static size_t unescape(const char *s, char *out)
{
	size_t o = 0;
	unsigned v;

	while (*s) {
		if (*s != '\\') {
			out[o++] = *s++;
		} else if (s[1] == 'x') {
			ck_assert_int_eq(sscanf(s + 2, "%2x", &v), 1);
			out[o++] = (char)v;
			s += 4;
		} else if (s[1] == 'u') {
			ck_assert_int_eq(sscanf(s + 2, "%4x", &v), 1);
			ck_assert(v >= 0x80 && v <= 0x9f);
			out[o++] = (char)0xc2;
			out[o++] = (char)v;
			s += 6;
		} else {
			const char *from = "\\nrt", *to = "\\\n\r\t";
			const char *k = strchr(from, s[1]);
			ck_assert_msg(k && s[1], "bad escape '%.2s'", s);
			out[o++] = to[k - from];
			s += 2;
		}
	}
	return o;
}

/* Random bytes, weighted towards the interesting ones: the output holds no control
 * byte, no DEL, no C1 and no invalid UTF-8, and unescaping gives the input back. */
START_TEST(test_escape_round_trip)
{
	static const unsigned char pick[] = { 0, '\n', '\r', '\t', 0x1b, 0x7f, '\\', 'x', 'a',
					      0xc2, 0x85, 0x9b, 0xa0, 0xc3, 0xab, 0xff, 0xe2,
					      0x80, 0xf0, 0x9f };
	unsigned seed = 12345;
	int round;

	for (round = 0; round < 4000; round++) {
		char in[24], back[24];
		size_t len = (size_t)(rand_r(&seed) % 24), i;
		char *out;

		for (i = 0; i < len; i++)
			in[i] = (char)(rand_r(&seed) % 3 ? pick[rand_r(&seed) % sizeof(pick)]
							 : rand_r(&seed) % 256);
		out = escaped(in, len);
		for (i = 0; out[i]; i++) {
			unsigned char c = (unsigned char)out[i];
			ck_assert_msg(c >= 0x20 && c != 0x7f, "control byte 0x%02x in '%s'", c, out);
			ck_assert(!(c == 0xc2 && (unsigned char)out[i + 1] < 0xa0));
		}
		ck_assert(utf8_valid(out, strlen(out)));
		ck_assert_uint_eq(unescape(out, back), len);
		ck_assert(!memcmp(in, back, len));
		free(out);
	}
}
END_TEST

/* A command with an option of every kind, parsed for real. */
struct test_opts {
	struct common_opts co;
	int flag, choice;
	int64_t n, d, ts;
	const char *s;
	struct option_list list;
	int keyed;
};

static int parse_even(const char *arg, void *target)
{
	int64_t v;

	if (parse_int(arg, 0, 100, &v) < 0 || v % 2)
		return -1;
	*(int *)target = (int)v;
	return 0;
}

static const char *const test_choices[] = { "one", "two", "three", NULL };

#define OFF(field) offsetof(struct test_opts, field)

static const struct option_spec test_active_options[] = {
	OPTION_TIME(0, "at", OFF(ts), "a time"),
	OPTION_END
};

static const struct option_spec test_options[] = {
	OPTION_FLAG('f', "flag", OFF(flag), "a flag"),
	OPTION_INT('n', "number", "N", OFF(n), 1, 10, "a number"),
	OPTION_DURATION(0, "wait", OFF(d), "a duration"),
	OPTION_STRING(0, "name", "NAME", OFF(s), "a string"),
	OPTION_CHOICE(0, "pick", OFF(choice), test_choices, "a choice"),
	OPTION_LIST(0, "each", "X", OFF(list), "a list"),
	{ .kind = OPT_CALLBACK, .long_name = "even", .argname = "E", .offset = OFF(keyed), .parse = parse_even,
	  .expects = "an even number", .help = "a callback" },
	OPTION_GROUP_ONLY(NULL, test_active_options, 0, "active"),
	OPTION_GROUP(COMMON_HEADING, common_options, OFF(co)),
	OPTION_END
};

static const char *const test_subcommands[] = { "active", "other", NULL };

static const struct command cmd_test = {
	"test", "a test", "usage: pingpong test [options] active|other\n", NULL, test_options,
	test_subcommands, NULL,
};

static const struct command cmd_test_no_operands = {
	"test", "a test", "usage: pingpong test\n", NULL, test_options, NULL, NULL,
};

/* Parses the NULL-terminated words into *o, with stdout and stderr (the usage) thrown away. */
static int parse_words(const struct command *cmd, struct test_opts *o, int *argi, ...)
{
	char *argv[32];
	int argc = 0, rc, saved_out = dup(1), saved_err = dup(2), null = open("/dev/null", O_WRONLY);
	va_list ap;

	memset(o, 0, sizeof(*o));
	common_opts_init(&o->co);
	va_start(ap, argi);
	argv[argc++] = (char *)"test";
	while ((argv[argc] = va_arg(ap, char *)) != NULL)
		argc++;
	va_end(ap);
	fflush(stdout);
	dup2(null, 1);
	dup2(null, 2);
	rc = options_parse(cmd, argc, argv, o, argi);
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(null);
	close(saved_out);
	close(saved_err);
	return rc;
}

START_TEST(test_parse_kinds)
{
	struct test_opts o;
	int argi = -1;

	ck_assert_int_eq(parse_words(&cmd_test, &o, &argi, "-f", "-n", "7", "--wait", "1.5s", "--name", "Zoë",
				     "--pick", "three", "--each", "a", "--each", "b", "--even", "42", "-b", "h:1",
				     "-t", "t", "-X", "a=b", "-q", "--json", "other", NULL),
			 OPTIONS_CONTINUE);
	ck_assert_int_eq(o.flag, 1);
	ck_assert_int_eq(o.n, 7);
	ck_assert_int_eq(o.d, 1500);
	ck_assert_str_eq(o.s, "Zoë");
	ck_assert_int_eq(o.choice, 2);
	ck_assert_uint_eq(o.list.n, 2);
	ck_assert_str_eq(o.list.v[1], "b");
	ck_assert_int_eq(o.keyed, 42);
	ck_assert_str_eq(o.co.brokers, "h:1");
	ck_assert_str_eq(o.co.topic, "t");
	ck_assert_uint_eq(o.co.props.n, 1);
	ck_assert_int_eq(o.co.verbosity, -1);
	ck_assert_int_eq(o.co.json, 1);
	ck_assert_int_eq(argi, 24);
	options_release(&cmd_test, &o);
	ck_assert_ptr_null(o.list.v);

	/* Operands may stand between options (GNU getopt permutes); -v counts up. */
	ck_assert_int_eq(parse_words(&cmd_test, &o, &argi, "active", "-v", "--at", "1000", "-v", NULL),
			 OPTIONS_CONTINUE);
	ck_assert_int_eq(o.co.verbosity, 2);
	ck_assert_int_eq(o.ts, 1000);
	ck_assert_int_eq(argi, 5);
	ck_assert_int_eq(o.co.json, 0);
	ck_assert_str_eq(o.co.topic, "chat");
}
END_TEST

START_TEST(test_parse_refuses)
{
	static const char *const bad[][3] = {
		{ "--number", "0" }, { "--number", "11" }, { "-n", "x" }, { "--wait", "30" }, { "--pick", "four" },
		{ "--even", "3" }, { "-X", "novalue" }, { "-X", "=x" }, { "-t", "" }, { "--nosuch" }, { "-Z" },
		{ "--flag=1" }, { "--number" }, { "--e" }, { "--at", "yesterday" },
	};
	struct test_opts o;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse_words(&cmd_test, &o, NULL, bad[i][0], bad[i][1], bad[i][2], NULL) == EX_USAGE,
			      "'%s %s' was accepted", bad[i][0], bad[i][1] ? bad[i][1] : "");
	/* An option limited to a subcommand, with another one. */
	ck_assert_int_eq(parse_words(&cmd_test, &o, NULL, "--at", "1000", "other", NULL), EX_USAGE);
	/* A command without subcommands takes no operand. */
	ck_assert_int_eq(parse_words(&cmd_test_no_operands, &o, NULL, "-f", "extra", NULL), EX_USAGE);
	ck_assert_int_eq(parse_words(&cmd_test_no_operands, &o, NULL, "-f", NULL), OPTIONS_CONTINUE);
}
END_TEST

START_TEST(test_parse_help_first)
{
	struct test_opts o;

	/* --help and --version win over values that would not parse, and over unknown options. */
	ck_assert_int_eq(parse_words(&cmd_test, &o, NULL, "--number", "x", "--help", NULL), 0);
	ck_assert_int_eq(parse_words(&cmd_test, &o, NULL, "--nosuch", "-h", NULL), 0);
	ck_assert_int_eq(parse_words(&cmd_test, &o, NULL, "--wait", "x", "--version", NULL), 0);
	ck_assert_int_eq(parse_words(&cmd_test, &o, NULL, "-V", NULL), 0);
	/* ... but not an option's value that happens to read "--help". */
	ck_assert_int_eq(parse_words(&cmd_test, &o, NULL, "--name", "--help", NULL), OPTIONS_CONTINUE);
	ck_assert_str_eq(o.s, "--help");
}
END_TEST

START_TEST(test_time)
{
	static const char *const bad[] = {
		"", "x", "-5", "0", "2026-11-22", "2026-11-22T10:00:00", "2026-11-22 10:00:00Z", "2026-13-01T00:00Z",
		"2026-02-29T00:00Z", "2026-11-31T00:00Z", "2026-11-22T24:00Z", "2026-11-22T10:60Z",
		"2026-11-22T10:00:60Z", "2026-11-22T10:00:00.Z", "2026-11-22T10:00:00+2", "2026-11-22T10:00:00Zx",
		"1970-01-01T00:00:00Z", "1969-12-31T23:00:00Z", "26-11-22T10:00Z",
	};
	int64_t ms;
	size_t i;

	ck_assert_int_eq(parse_time_ms("1795320818148", &ms), 0);
	ck_assert_int_eq(ms, 1795320818148);
	/* date -u -d 2026-11-22T10:00:00Z +%s */
	ck_assert_int_eq(parse_time_ms("2026-11-22T10:00:00Z", &ms), 0);
	ck_assert_int_eq(ms, 1795341600000);
	ck_assert_int_eq(parse_time_ms("2026-11-22T10:00Z", &ms), 0);
	ck_assert_int_eq(ms, 1795341600000);
	ck_assert_int_eq(parse_time_ms("2026-11-22t10:00:00.25z", &ms), 0);
	ck_assert_int_eq(ms, 1795341600250);
	ck_assert_int_eq(parse_time_ms("2026-11-22T10:00:00.123456Z", &ms), 0);
	ck_assert_int_eq(ms, 1795341600123);
	ck_assert_int_eq(parse_time_ms("2026-11-22T11:30:00.5+01:30", &ms), 0);
	ck_assert_int_eq(ms, 1795341600500);
	ck_assert_int_eq(parse_time_ms("2026-11-22T05:00:00-0500", &ms), 0);
	ck_assert_int_eq(ms, 1795341600000);
	ck_assert_int_eq(parse_time_ms("2024-02-29T00:00:00+00", &ms), 0);
	ck_assert_int_eq(ms, 1709164800000);
	ck_assert_int_eq(parse_time_ms("2000-03-01T00:00:00Z", &ms), 0);
	ck_assert_int_eq(ms, 951868800000);
	ck_assert_int_eq(parse_time_ms("1970-01-01T00:00:00.001Z", &ms), 0);
	ck_assert_int_eq(ms, 1);
	ck_assert_int_eq(parse_time_ms("1969-12-31T23:00:00.001-01:00", &ms), 0);
	ck_assert_int_eq(ms, 1);
	ms = 42;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(parse_time_ms(bad[i], &ms) < 0, "'%s' was accepted", bad[i]);
	ck_assert_int_eq(ms, 42);
}
END_TEST

static Suite *options_suite(void)
{
	Suite *s = suite_create("options");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_duration_units);
	tcase_add_test(tc, test_duration_rejects);
	tcase_add_test(tc, test_duration_not_finite);
	tcase_add_test(tc, test_duration_compound);
	tcase_add_test(tc, test_int);
	tcase_add_test(tc, test_utf8);
	tcase_add_test(tc, test_hex);
	tcase_add_test(tc, test_escape_cases);
	tcase_add_test(tc, test_escape_round_trip);
	tcase_add_test(tc, test_x_value_not_echoed);
	tcase_add_test(tc, test_parse_kinds);
	tcase_add_test(tc, test_parse_refuses);
	tcase_add_test(tc, test_parse_help_first);
	tcase_add_test(tc, test_time);
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
