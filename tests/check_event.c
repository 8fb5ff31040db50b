/* check_event.c: the Check suite for event.c: wire formats, validation and JSON.
 *
 * Bad inputs are built with msgpack-c's own packer (or as raw bytes where no packer
 * would write them), never with event_encode, so that an encoder bug cannot hide a
 * decoder bug. Each rejection reason has its own loop iteration and is matched on a key
 * phrase of its message.
 */
#include "config.h"

#include <check.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"

#define TS 1700000000123LL

/* A test's own msgpack buffer, written with msgpack_sbuffer_write as any producer would. */
struct pkbuf {
	msgpack_sbuffer sbuf;
	msgpack_packer pk;
};

static void pkbuf_init(struct pkbuf *b)
{
	msgpack_sbuffer_init(&b->sbuf);
	msgpack_packer_init(&b->pk, &b->sbuf, msgpack_sbuffer_write);
}

static void pkbuf_release(struct pkbuf *b)
{
	msgpack_sbuffer_destroy(&b->sbuf);
}

static void raw(msgpack_packer *pk, const void *bytes, size_t len)
{
	msgpack_sbuffer_write(pk->data, bytes, len);
}

static void str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void kv_str(msgpack_packer *pk, const char *k, const char *v)
{
	str(pk, k);
	str(pk, v);
}

/* A string of n bytes: "x" repeated. */
static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	ck_assert_ptr_nonnull(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* Packs a valid send-message map without the field named by omit, with room for extra
 * entries that the caller packs after it. */
static void base(msgpack_packer *pk, const char *omit, int extra)
{
	msgpack_pack_map(pk, (size_t)(4 - (omit != NULL) + extra));
	if (!omit || strcmp(omit, "user") != 0)
		kv_str(pk, "user", "alice");
	if (!omit || strcmp(omit, "activity") != 0)
		kv_str(pk, "activity", "send-message");
	if (!omit || strcmp(omit, "message") != 0)
		kv_str(pk, "message", "hello");
	if (!omit || strcmp(omit, "ts") != 0) {
		str(pk, "ts");
		msgpack_pack_int64(pk, TS);
	}
}

static struct event sample_event(void)
{
	struct event ev = {
		.user = "alice", .user_len = 5,
		.email = "alice@example.org", .email_len = 17,
		.activity = EVENT_SEND_MESSAGE,
		.message = "hello, world", .message_len = 12,
		.ts = TS,
	};
	return ev;
}

static void assert_event_eq(const struct event *a, const struct event *b)
{
	ck_assert_uint_eq(a->user_len, b->user_len);
	ck_assert_mem_eq(a->user, b->user, a->user_len);
	ck_assert_int_eq(a->email != NULL, b->email != NULL);
	if (a->email) {
		ck_assert_uint_eq(a->email_len, b->email_len);
		ck_assert_mem_eq(a->email, b->email, a->email_len);
	}
	ck_assert_int_eq(a->activity, b->activity);
	ck_assert_int_eq(a->message != NULL, b->message != NULL);
	if (a->message) {
		ck_assert_uint_eq(a->message_len, b->message_len);
		ck_assert_mem_eq(a->message, b->message, a->message_len);
	}
	ck_assert_int_eq(a->ts, b->ts);
}

/* An empty string's pointer is not required to point anywhere in particular. */
static int within(const void *p, size_t n, const void *buf, size_t len)
{
	const char *c = p, *b = buf;
	return n == 0 || (c >= b && c + n <= b + len);
}

/* Encodes ev, decodes the bytes and checks that the same event comes back, its strings
 * pointing into the encoded buffer. */
static void round_trip(const struct event *ev)
{
	struct event_encoder enc;
	struct event_decoder dec;
	struct event out;
	const void *buf;
	size_t len;
	char err[256] = "";

	ck_assert_msg(event_validate(ev, err, sizeof(err)) == 0, "validate: %s", err);
	event_encoder_init(&enc);
	event_decoder_init(&dec);
	event_encode(&enc, ev, &buf, &len);
	ck_assert_msg(event_decode(&dec, buf, len, &out, err, sizeof(err)) == 0, "decode: %s", err);
	assert_event_eq(ev, &out);
	ck_assert(within(out.user, out.user_len, buf, len));
	if (out.email)
		ck_assert(within(out.email, out.email_len, buf, len));
	if (out.message)
		ck_assert(within(out.message, out.message_len, buf, len));
	event_decoder_release(&dec);
	event_encoder_release(&enc);
}

START_TEST(test_round_trip_full)
{
	struct event ev = sample_event();
	round_trip(&ev);
}
END_TEST

START_TEST(test_round_trip_minimal)
{
	struct event ev = { .user = "bob", .user_len = 3, .activity = EVENT_HEART_BEAT, .ts = 1 };
	round_trip(&ev);
}
END_TEST

START_TEST(test_round_trip_variants)
{
	struct event ev = sample_event();

	ev.email = NULL;
	round_trip(&ev);
	ev = sample_event();
	ev.activity = EVENT_HEART_BEAT;
	ev.message = NULL;
	round_trip(&ev);
	/* A heart-beat may carry a message; it is kept, not dropped. */
	ev = sample_event();
	ev.activity = EVENT_HEART_BEAT;
	round_trip(&ev);
	/* Present but empty is not absent. */
	ev = sample_event();
	ev.email = "";
	ev.email_len = 0;
	ev.message = "";
	ev.message_len = 0;
	round_trip(&ev);
}
END_TEST

START_TEST(test_round_trip_unicode)
{
	struct event ev = sample_event();

	ev.user = "Zoë 日本語 🙂";
	ev.user_len = strlen(ev.user);
	ev.email = "zoë@exämple.org";
	ev.email_len = strlen(ev.email);
	ev.message = "こんにちは, мир! \xf4\x8f\xbf\xbf";
	ev.message_len = strlen(ev.message);
	round_trip(&ev);
}
END_TEST

/* A message may hold NUL bytes (only names and emails may not): they survive a round
 * trip, and through JSON too. */
START_TEST(test_round_trip_message_nul)
{
	struct event ev = sample_event();
	json_t *in;
	json_error_t jerr;
	struct event jev;
	char err[256] = "";

	ev.message = "a\0b\0";
	ev.message_len = 4;
	round_trip(&ev);
	in = json_loads("{\"user\":\"alice\",\"activity\":\"send-message\",\"message\":\"x\\u0000y\","
			"\"ts\":5}", JSON_ALLOW_NUL, &jerr);
	ck_assert_msg(in != NULL, "%s", jerr.text);
	ck_assert_msg(event_from_json(in, &jev, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(jev.message_len, 3);
	ck_assert_mem_eq(jev.message, "x\0y", 3);
	json_decref(in);
	in = json_loads("{\"user\":\"Eve\\u0000a\",\"activity\":\"heart-beat\",\"ts\":5}",
			JSON_ALLOW_NUL, &jerr);
	ck_assert_msg(in != NULL, "%s", jerr.text);
	ck_assert_int_eq(event_from_json(in, &jev, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "field 'user' contains a NUL byte");
	json_decref(in);
}
END_TEST

START_TEST(test_round_trip_limits)
{
	struct event ev = sample_event();
	char user[EVENT_USER_MAX + 1] = "";
	char *email = repeat('e', EVENT_USER_MAX);
	int i;

	/* 85 three-byte characters: exactly the limit, in bytes not characters. */
	for (i = 0; i < 85; i++)
		strcat(user, "€");
	ck_assert_uint_eq(strlen(user), EVENT_USER_MAX);
	ev.user = user;
	ev.user_len = EVENT_USER_MAX;
	ev.email = email;
	ev.email_len = EVENT_USER_MAX;
	ev.ts = INT64_MAX;
	round_trip(&ev);
	ev.ts = 1;
	round_trip(&ev);
	free(email);
}
END_TEST

START_TEST(test_encode_key_order)
{
	static const char *const want[] = { "user", "email", "activity", "message", "ts" };
	struct event_encoder enc;
	struct event ev = sample_event();
	msgpack_zone zone;
	msgpack_object obj;
	const void *buf;
	size_t len, off = 0, i;

	event_encoder_init(&enc);
	event_encode(&enc, &ev, &buf, &len);
	msgpack_zone_init(&zone, 1024);
	ck_assert_int_eq(msgpack_unpack(buf, len, &off, &zone, &obj), MSGPACK_UNPACK_SUCCESS);
	ck_assert_int_eq(obj.type, MSGPACK_OBJECT_MAP);
	ck_assert_uint_eq(obj.via.map.size, 5);
	for (i = 0; i < 5; i++) {
		const msgpack_object *k = &obj.via.map.ptr[i].key;
		ck_assert_int_eq(k->type, MSGPACK_OBJECT_STR);
		ck_assert_uint_eq(k->via.str.size, strlen(want[i]));
		ck_assert_mem_eq(k->via.str.ptr, want[i], k->via.str.size);
	}
	msgpack_zone_destroy(&zone);
	event_encoder_release(&enc);
}
END_TEST

/* The encoder reuses its buffer: a smaller event after a larger one needs no new memory. */
START_TEST(test_encoder_reuses_buffer)
{
	struct event_encoder enc;
	struct event ev = sample_event();
	char *big = repeat('m', 20000);
	const void *first, *second;
	size_t len1, len2;

	event_encoder_init(&enc);
	ev.message = big;
	ev.message_len = 20000;
	event_encode(&enc, &ev, &first, &len1);
	ev = sample_event();
	event_encode(&enc, &ev, &second, &len2);
	ck_assert_ptr_eq(first, second);
	ck_assert_uint_lt(len2, len1);
	event_encoder_release(&enc);
	free(big);
}
END_TEST

/* event_validate must accept exactly what fits through the decoder: an event encoding
 * to EVENT_MAX_SIZE bytes passes, one byte more fails both. The size is computed, not
 * measured, so the loop crosses each width of msgpack's integer and string headers. */
START_TEST(test_size_boundary)
{
	static const int64_t tss[] = { 1, 127, 128, 255, 256, 65535, 65536, 4294967295LL,
				       4294967296LL, INT64_MAX };
	static const size_t users[] = { 1, 31, 32, 255 };
	static const int emails[] = { -1, 0, 31, 32, 255 }; /* -1: absent */
	struct event_encoder enc;
	struct event_decoder dec;
	char *msg = repeat('m', EVENT_MAX_SIZE);
	char *user = repeat('u', EVENT_USER_MAX);
	char *email = repeat('e', EVENT_USER_MAX);
	char err[256];
	const size_t nt = sizeof(tss) / sizeof(tss[0]), nu = sizeof(users) / sizeof(users[0]);
	const size_t ne = sizeof(emails) / sizeof(emails[0]);
	size_t k;

	event_encoder_init(&enc);
	event_decoder_init(&dec);
	for (k = 0; k < nt * nu * ne; k++) {
		size_t t = k / (nu * ne), u = k / ne % nu, e = k % ne;
		struct event ev = sample_event(), out;
		const void *buf;
		size_t len;

		ev.ts = tss[t];
		ev.user = user;
		ev.user_len = users[u];
		ev.email = emails[e] < 0 ? NULL : email;
		ev.email_len = emails[e] < 0 ? 0 : (size_t)emails[e];
		ev.message = msg;
		ev.message_len = 60000;
		event_encode(&enc, &ev, &buf, &len);
		ev.message_len += EVENT_MAX_SIZE - len;

		event_encode(&enc, &ev, &buf, &len);
		ck_assert_uint_eq(len, EVENT_MAX_SIZE);
		ck_assert_msg(event_validate(&ev, err, sizeof(err)) == 0, "ts %lld: %s",
			      (long long)tss[t], err);
		ck_assert_msg(event_decode(&dec, buf, len, &out, err, sizeof(err)) == 0,
			      "ts %lld: %s", (long long)tss[t], err);

		ev.message_len++;
		event_encode(&enc, &ev, &buf, &len);
		ck_assert_uint_eq(len, EVENT_MAX_SIZE + 1);
		ck_assert_int_eq(event_validate(&ev, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, "event too large"), "%s", err);
		ck_assert_int_eq(event_decode(&dec, buf, len, &out, err, sizeof(err)), -1);
		ck_assert_msg(strstr(err, "payload too large (65537 bytes, max 65536)"), "%s", err);
	}
	event_decoder_release(&dec);
	event_encoder_release(&enc);
	free(email);
	free(user);
	free(msg);
}
END_TEST

/* Bad payloads, one per rejection reason. */

static void b_too_large_valid(msgpack_packer *pk)
{
	char *m = repeat('m', EVENT_MAX_SIZE);
	base(pk, "message", 1);
	kv_str(pk, "message", m);
	free(m);
}

/* Bytes that would be malformed if parsed: the size is checked first. */
static void b_too_large_garbage(msgpack_packer *pk)
{
	char *junk = repeat('\xc1', 70000);
	raw(pk, junk, 70000);
	free(junk);
}

static void b_empty(msgpack_packer *pk)
{
	(void)pk;
}

static void b_array(msgpack_packer *pk)
{
	msgpack_pack_array(pk, 2);
	msgpack_pack_int(pk, 1);
	msgpack_pack_int(pk, 2);
}

static void b_string(msgpack_packer *pk)
{
	str(pk, "hello");
}

static void b_no_user(msgpack_packer *pk) { base(pk, "user", 0); }
static void b_no_activity(msgpack_packer *pk) { base(pk, "activity", 0); }
static void b_no_ts(msgpack_packer *pk) { base(pk, "ts", 0); }
static void b_no_message(msgpack_packer *pk) { base(pk, "message", 0); }

static void b_user_int(msgpack_packer *pk)
{
	base(pk, "user", 1);
	str(pk, "user");
	msgpack_pack_int(pk, 42);
}

static void b_email_nil(msgpack_packer *pk)
{
	base(pk, NULL, 1);
	str(pk, "email");
	msgpack_pack_nil(pk);
}

static void b_activity_int(msgpack_packer *pk)
{
	base(pk, "activity", 1);
	str(pk, "activity");
	msgpack_pack_int(pk, 1);
}

static void b_message_bin(msgpack_packer *pk)
{
	base(pk, "message", 1);
	str(pk, "message");
	msgpack_pack_bin_with_body(pk, "hi", 2);
}

static void b_ts_str(msgpack_packer *pk)
{
	base(pk, "ts", 1);
	kv_str(pk, "ts", "1700000000123");
}

static void b_ts_float(msgpack_packer *pk)
{
	base(pk, "ts", 1);
	str(pk, "ts");
	msgpack_pack_double(pk, 1700000000123.0);
}

static void b_ts_zero(msgpack_packer *pk)
{
	base(pk, "ts", 1);
	str(pk, "ts");
	msgpack_pack_int64(pk, 0);
}

static void b_ts_negative(msgpack_packer *pk)
{
	base(pk, "ts", 1);
	str(pk, "ts");
	msgpack_pack_int64(pk, -5);
}

static void b_ts_too_big(msgpack_packer *pk)
{
	base(pk, "ts", 1);
	str(pk, "ts");
	msgpack_pack_uint64(pk, (uint64_t)INT64_MAX + 1);
}

static void b_user_utf8(msgpack_packer *pk)
{
	base(pk, "user", 1);
	kv_str(pk, "user", "al\xffice");
}

/* U+0000 is valid UTF-8, but not in a user name or an email. */
static void b_user_nul(msgpack_packer *pk)
{
	base(pk, "user", 1);
	str(pk, "user");
	msgpack_pack_str_with_body(pk, "al\0ice", 6);
}

static void b_email_nul(msgpack_packer *pk)
{
	base(pk, NULL, 1);
	str(pk, "email");
	msgpack_pack_str_with_body(pk, "\0", 1);
}

static void b_email_overlong(msgpack_packer *pk)
{
	base(pk, NULL, 1);
	kv_str(pk, "email", "a\xc0\xaf@example.org");
}

static void b_message_surrogate(msgpack_packer *pk)
{
	base(pk, "message", 1);
	kv_str(pk, "message", "hi \xed\xa0\x80");
}

/* Ignored for a heart-beat, but still validated. */
static void b_heartbeat_message_utf8(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 4);
	kv_str(pk, "user", "alice");
	kv_str(pk, "activity", "heart-beat");
	kv_str(pk, "message", "\x80");
	str(pk, "ts");
	msgpack_pack_int64(pk, TS);
}

/* A name that is a NUL and nothing else. */
static void b_user_nul_alone(msgpack_packer *pk)
{
	base(pk, "user", 1);
	str(pk, "user");
	msgpack_pack_str_with_body(pk, "\0", 1);
}

static void b_user_empty(msgpack_packer *pk)
{
	base(pk, "user", 1);
	kv_str(pk, "user", "");
}

static void b_user_long(msgpack_packer *pk)
{
	char *u = repeat('u', EVENT_USER_MAX + 1);
	base(pk, "user", 1);
	kv_str(pk, "user", u);
	free(u);
}

static void b_email_long(msgpack_packer *pk)
{
	char *e = repeat('e', EVENT_USER_MAX + 1);
	base(pk, NULL, 1);
	kv_str(pk, "email", e);
	free(e);
}

static void b_activity_dance(msgpack_packer *pk)
{
	base(pk, "activity", 1);
	kv_str(pk, "activity", "dance");
}

/* An unknown activity is quoted with its control bytes escaped. */
static void b_activity_control(msgpack_packer *pk)
{
	base(pk, "activity", 1);
	kv_str(pk, "activity", "x\n");
}

static void b_truncated(msgpack_packer *pk)
{
	base(pk, NULL, 0);
	((msgpack_sbuffer *)pk->data)->size--;
}

static void b_truncated_header(msgpack_packer *pk)
{
	raw(pk, "\x81\xa4user\xda\x01", 8);
}

/* A six-byte value claiming four billion elements: refused before msgpack-c sizes it. */
static void b_huge_array(msgpack_packer *pk)
{
	base(pk, NULL, 1);
	str(pk, "junk");
	raw(pk, "\xdd\xff\xff\xff\xff", 5);
}

static void b_huge_map(msgpack_packer *pk)
{
	raw(pk, "\xdf\xff\xff\xff\xff", 5);
}

/* Containers whose elements run past the end: caught by walking, not by a count. */
static void b_owed_elements(msgpack_packer *pk)
{
	int i;
	for (i = 0; i < 20; i++)
		raw(pk, "\x9f", 1);
}

static void b_trailing(msgpack_packer *pk)
{
	base(pk, NULL, 0);
	msgpack_pack_nil(pk);
}

static void b_two_events(msgpack_packer *pk)
{
	base(pk, NULL, 0);
	base(pk, NULL, 0);
}

static void b_malformed(msgpack_packer *pk)
{
	raw(pk, "\xc1", 1);
}

static void b_malformed_value(msgpack_packer *pk)
{
	base(pk, NULL, 1);
	str(pk, "junk");
	raw(pk, "\xc1", 1);
}

static void b_key_int(msgpack_packer *pk)
{
	base(pk, NULL, 1);
	msgpack_pack_int(pk, 7);
	str(pk, "seven");
}

static void b_key_nil(msgpack_packer *pk)
{
	msgpack_pack_map(pk, 1);
	msgpack_pack_nil(pk);
	msgpack_pack_nil(pk);
}

static void b_dup_user(msgpack_packer *pk)
{
	base(pk, NULL, 1);
	kv_str(pk, "user", "mallory");
}

static void b_dup_ts(msgpack_packer *pk)
{
	base(pk, NULL, 1);
	str(pk, "ts");
	msgpack_pack_int64(pk, TS);
}

static void b_too_deep(msgpack_packer *pk)
{
	int i;
	base(pk, NULL, 1);
	str(pk, "junk");
	for (i = 0; i < 32; i++)
		msgpack_pack_array(pk, 1);
	msgpack_pack_int(pk, 1);
}

static const struct bad_case {
	const char *name;
	void (*build)(msgpack_packer *pk);
	const char *phrase;
} bad_cases[] = {
	{ "too large", b_too_large_valid, "payload too large" },
	{ "too large garbage", b_too_large_garbage, "payload too large (70000 bytes, max 65536)" },
	{ "empty", b_empty, "empty payload" },
	{ "array", b_array, "not a msgpack map" },
	{ "string", b_string, "not a msgpack map" },
	{ "no user", b_no_user, "missing field 'user'" },
	{ "no activity", b_no_activity, "missing field 'activity'" },
	{ "no ts", b_no_ts, "missing field 'ts'" },
	{ "send-message without message", b_no_message, "missing field 'message'" },
	{ "user int", b_user_int, "field 'user' is not a string" },
	{ "email nil", b_email_nil, "field 'email' is not a string" },
	{ "activity int", b_activity_int, "field 'activity' is not a string" },
	{ "message bin", b_message_bin, "field 'message' is not a string" },
	{ "ts str", b_ts_str, "field 'ts' is not an integer" },
	{ "ts float", b_ts_float, "field 'ts' is not an integer" },
	{ "ts zero", b_ts_zero, "field 'ts' must be positive (got 0)" },
	{ "ts negative", b_ts_negative, "field 'ts' must be positive (got -5)" },
	{ "ts above int64", b_ts_too_big, "field 'ts' is out of range" },
	{ "user utf8", b_user_utf8, "field 'user' is not valid UTF-8" },
	{ "user NUL", b_user_nul, "field 'user' contains a NUL byte" },
	{ "email NUL", b_email_nul, "field 'email' contains a NUL byte" },
	{ "email overlong", b_email_overlong, "field 'email' is not valid UTF-8" },
	{ "message surrogate", b_message_surrogate, "field 'message' is not valid UTF-8" },
	{ "heart-beat message utf8", b_heartbeat_message_utf8,
	  "field 'message' is not valid UTF-8" },
	{ "user NUL alone", b_user_nul_alone, "field 'user' contains a NUL byte" },
	{ "user empty", b_user_empty, "field 'user' is empty" },
	{ "user long", b_user_long, "field 'user' is too long (256 bytes, max 255)" },
	{ "email long", b_email_long, "field 'email' is too long" },
	{ "activity dance", b_activity_dance, "unknown activity 'dance'" },
	{ "activity control", b_activity_control, "unknown activity 'x\\x0a'" },
	{ "truncated", b_truncated, "truncated msgpack" },
	{ "truncated header", b_truncated_header, "truncated msgpack" },
	{ "huge array", b_huge_array, "truncated msgpack" },
	{ "huge map", b_huge_map, "truncated msgpack" },
	{ "owed elements", b_owed_elements, "truncated msgpack" },
	{ "trailing", b_trailing, "trailing bytes after event" },
	{ "two events", b_two_events, "trailing bytes after event" },
	{ "malformed", b_malformed, "malformed msgpack" },
	{ "malformed value", b_malformed_value, "malformed msgpack" },
	{ "key int", b_key_int, "map key is not a string" },
	{ "key nil", b_key_nil, "map key is not a string" },
	{ "duplicate user", b_dup_user, "duplicate field 'user'" },
	{ "duplicate ts", b_dup_ts, "duplicate field 'ts'" },
	{ "too deep", b_too_deep, "msgpack nesting too deep" },
};

#define NBAD ((int)(sizeof(bad_cases) / sizeof(bad_cases[0])))

START_TEST(test_decode_rejects)
{
	const struct bad_case *c = &bad_cases[_i];
	struct event_decoder dec;
	struct event ev, untouched;
	struct pkbuf b;
	char err[256] = "";
	int rc;

	pkbuf_init(&b);
	c->build(&b.pk);
	event_decoder_init(&dec);
	memset(&ev, 0xa5, sizeof(ev));
	untouched = ev;
	rc = event_decode(&dec, b.sbuf.data, b.sbuf.size, &ev, err, sizeof(err));
	ck_assert_msg(rc == -1 && strstr(err, c->phrase), "%s: rc %d, err '%s', want '%s'",
		      c->name, rc, err, c->phrase);
	ck_assert_msg(memcmp(&ev, &untouched, sizeof(ev)) == 0, "%s: event written", c->name);
	event_decoder_release(&dec);
	pkbuf_release(&b);
}
END_TEST

/* A string field's checks read plain ASCII a word at a time (event.c, plain_ascii): at
 * every length from 1 to 40 and every position, one byte that is not plain ASCII (a NUL,
 * 0x80 alone, 0xff, a 2-byte character) is judged as by the byte-wise rules: a NUL refused
 * in a user or an email and kept in a message, an invalid byte refused, a character kept;
 * and the edge bytes of ASCII (0x01, 0x7f) are plain. */
START_TEST(test_string_every_position)
{
	static const char *const fields[] = { "user", "email", "message" };
	static const struct { const char *bytes; size_t len; const char *refused_as; int nul; } kinds[] = {
		{ "\0", 1, "contains a NUL byte", 1 },
		{ "\x80", 1, "is not valid UTF-8", 0 },
		{ "\xff", 1, "is not valid UTF-8", 0 },
		{ "\xc3\xa9", 2, NULL, 0 },
		{ "\x01", 1, NULL, 0 },
		{ "\x7f", 1, NULL, 0 },
	};
	struct event_decoder dec;
	char s[64], err[256];
	size_t f, k, len, at;

	event_decoder_init(&dec);
	for (f = 0; f < 3; f++)
		for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
			for (len = 1; len <= 40; len++)
				for (at = 0; at + kinds[k].len <= len; at++) {
					struct pkbuf b;
					struct event ev;
					const char *want = kinds[k].refused_as;
					const char *got;
					size_t got_len;
					int rc;

					if (kinds[k].nul && f == 2)
						want = NULL; /* a message may hold U+0000 */
					memset(s, 'a', len);
					memcpy(s + at, kinds[k].bytes, kinds[k].len);
					pkbuf_init(&b);
					base(&b.pk, f == 0 ? "user" : f == 2 ? "message" : NULL, 1);
					str(&b.pk, fields[f]);
					msgpack_pack_str_with_body(&b.pk, s, len);
					err[0] = '\0';
					rc = event_decode(&dec, b.sbuf.data, b.sbuf.size, &ev, err, sizeof(err));
					if (want) {
						ck_assert_msg(rc == -1 && strstr(err, want) && strstr(err, fields[f]),
							      "%s of %zu bytes, kind %zu at %zu: rc %d, '%s'", fields[f],
							      len, k, at, rc, err);
					} else {
						ck_assert_msg(rc == 0, "%s of %zu bytes, kind %zu at %zu: '%s'", fields[f],
							      len, k, at, err);
						got = f == 0 ? ev.user : f == 1 ? ev.email : ev.message;
						got_len = f == 0 ? ev.user_len : f == 1 ? ev.email_len : ev.message_len;
						ck_assert_uint_eq(got_len, len);
						ck_assert(memcmp(got, s, len) == 0);
					}
					pkbuf_release(&b);
				}
	event_decoder_release(&dec);
}
END_TEST

/* Unknown keys are skipped whatever their values hold, including maps whose keys are not
 * strings and nesting up to msgpack-c's limit. */
START_TEST(test_unknown_keys_ignored)
{
	struct event_decoder dec;
	struct event ev, want = sample_event();
	struct pkbuf b;
	char err[256] = "";
	int i;

	want.email = NULL;
	want.message = "hello";
	want.message_len = 5;
	pkbuf_init(&b);
	base(&b.pk, NULL, 11);
	str(&b.pk, "nil");
	msgpack_pack_nil(&b.pk);
	str(&b.pk, "bool");
	msgpack_pack_true(&b.pk);
	str(&b.pk, "neg");
	msgpack_pack_int64(&b.pk, INT64_MIN);
	str(&b.pk, "float");
	msgpack_pack_float(&b.pk, 1.5f);
	str(&b.pk, "bin");
	msgpack_pack_bin_with_body(&b.pk, "\x00\xff", 2);
	str(&b.pk, "ext");
	msgpack_pack_ext_with_body(&b.pk, "abcdefgh", 8, 5);
	str(&b.pk, "map");
	msgpack_pack_map(&b.pk, 3);
	msgpack_pack_int(&b.pk, 1);
	str(&b.pk, "x");
	kv_str(&b.pk, "user", "mallory");
	msgpack_pack_nil(&b.pk);
	msgpack_pack_array(&b.pk, 0);
	str(&b.pk, "array");
	msgpack_pack_array(&b.pk, 3);
	msgpack_pack_map(&b.pk, 0);
	str(&b.pk, "x");
	msgpack_pack_array(&b.pk, 1);
	msgpack_pack_int(&b.pk, 2);
	/* The root map and 31 arrays: as deep as msgpack-c goes. */
	str(&b.pk, "deep");
	for (i = 0; i < 31; i++)
		msgpack_pack_array(&b.pk, 1);
	msgpack_pack_nil(&b.pk);
	/* Not valid UTF-8, but not ours to judge. */
	str(&b.pk, "\xff\xfe");
	str(&b.pk, "\xff");
	/* Near-misses of known keys. */
	kv_str(&b.pk, "User", "mallory");

	event_decoder_init(&dec);
	ck_assert_msg(event_decode(&dec, b.sbuf.data, b.sbuf.size, &ev, err, sizeof(err)) == 0,
		      "%s", err);
	assert_event_eq(&want, &ev);
	event_decoder_release(&dec);
	pkbuf_release(&b);
}
END_TEST

/* Every msgpack format, as an unknown key's value at the end of an event. The payload
 * bytes are 0xc1, never valid as a header, so a decoder that misjudges a format's length
 * reads one as a header, or runs past the end, and fails. Cut short by a byte, each must
 * read as truncated. */
static const struct format_case {
	const char *name;
	const char *bytes;
	size_t len;
} format_cases[] = {
#define F(name, lit) { name, lit, sizeof(lit) - 1 }
	F("positive fixint", "\x05"),
	F("negative fixint", "\xff"),
	F("fixmap", "\x81\xc0\xc0"),
	F("fixarray", "\x92\xc0\xc0"),
	F("fixstr", "\xa2\xc1\xc1"),
	F("nil", "\xc0"),
	F("false", "\xc2"),
	F("true", "\xc3"),
	F("bin8", "\xc4\x02\xc1\xc1"),
	F("bin16", "\xc5\x00\x02\xc1\xc1"),
	F("bin32", "\xc6\x00\x00\x00\x02\xc1\xc1"),
	F("ext8", "\xc7\x02\x05\xc1\xc1"),
	F("ext16", "\xc8\x00\x02\x05\xc1\xc1"),
	F("ext32", "\xc9\x00\x00\x00\x02\x05\xc1\xc1"),
	F("float32", "\xca\xc1\xc1\xc1\xc1"),
	F("float64", "\xcb\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1"),
	F("uint8", "\xcc\xc1"),
	F("uint16", "\xcd\xc1\xc1"),
	F("uint32", "\xce\xc1\xc1\xc1\xc1"),
	F("uint64", "\xcf\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1"),
	F("int8", "\xd0\xc1"),
	F("int16", "\xd1\xc1\xc1"),
	F("int32", "\xd2\xc1\xc1\xc1\xc1"),
	F("int64", "\xd3\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1"),
	F("fixext1", "\xd4\x05\xc1"),
	F("fixext2", "\xd5\x05\xc1\xc1"),
	F("fixext4", "\xd6\x05\xc1\xc1\xc1\xc1"),
	F("fixext8", "\xd7\x05\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1"),
	F("fixext16", "\xd8\x05\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1\xc1"),
	F("str8", "\xd9\x02\xc1\xc1"),
	F("str16", "\xda\x00\x02\xc1\xc1"),
	F("str32", "\xdb\x00\x00\x00\x02\xc1\xc1"),
	F("array16", "\xdc\x00\x02\xc0\xc0"),
	F("array32", "\xdd\x00\x00\x00\x02\xc0\xc0"),
	F("map16", "\xde\x00\x01\xc0\xc0"),
	F("map32", "\xdf\x00\x00\x00\x01\xc0\xc0"),
	F("empty array16", "\xdc\x00\x00"),
	F("empty map32", "\xdf\x00\x00\x00\x00"),
#undef F
};

#define NFORMATS ((int)(sizeof(format_cases) / sizeof(format_cases[0])))

START_TEST(test_unknown_value_formats)
{
	const struct format_case *c = &format_cases[_i];
	struct event_decoder dec;
	struct event ev;
	struct pkbuf b;
	char err[256] = "";
	int rc;

	pkbuf_init(&b);
	base(&b.pk, NULL, 1);
	str(&b.pk, "x");
	raw(&b.pk, c->bytes, c->len);
	event_decoder_init(&dec);
	rc = event_decode(&dec, b.sbuf.data, b.sbuf.size, &ev, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s: %s", c->name, err);
	rc = event_decode(&dec, b.sbuf.data, b.sbuf.size - 1, &ev, err, sizeof(err));
	ck_assert_msg(rc == -1 && strstr(err, "truncated msgpack"), "%s cut short: rc %d, '%s'",
		      c->name, rc, err);
	event_decoder_release(&dec);
	pkbuf_release(&b);
}
END_TEST

/* One decoder over many events, good and bad: every result is right. */
/* walk_msgpack() reads the root map's short strings and integers in a straight line and
 * leaves anything else, or an element that runs past the end, to its general step. An
 * event whose map holds each format the straight line reads, as keys' values and as keys,
 * next to one it does not (a float): whole it decodes, and cut anywhere, inside a header,
 * a length byte or a body, it reads as truncated, as the general step says. */
START_TEST(test_straight_line_prefixes)
{
	static const char tail[] =
		"\xa1" "a" "\x05"				/* positive fixint */
		"\xa1" "b" "\xe0"				/* negative fixint */
		"\xa1" "c" "\xcc\xff"			/* uint8 */
		"\xa1" "d" "\xcd\xff\xff"			/* uint16 */
		"\xa1" "e" "\xce\x00\x00\x00\x01"		/* uint32 */
		"\xa1" "f" "\xcf\x00\x00\x00\x00\x00\x00\x00\x01" /* uint64 */
		"\xa1" "g" "\xd0\x80"			/* int8 */
		"\xa1" "h" "\xd1\x80\x00"			/* int16 */
		"\xa1" "i" "\xd2\x80\x00\x00\x00"		/* int32 */
		"\xa1" "j" "\xd3\x80\x00\x00\x00\x00\x00\x00\x00" /* int64 */
		"\xa1" "k" "\xca\x00\x00\x00\x00"		/* float32: the general step's */
		"\xd9\x01" "l" "\xa0"			/* a str8 key, an empty fixstr */
		"\x07" "\xa1" "m"				/* an integer key: refused at the end */
		;
	struct event_decoder dec;
	struct event ev;
	struct pkbuf b;
	char *email = repeat('e', 200), err[256] = "";
	size_t n;
	int rc;

	pkbuf_init(&b);
	base(&b.pk, NULL, 14);
	kv_str(&b.pk, "email", email); /* str8, 200 bytes */
	raw(&b.pk, tail, sizeof(tail) - 1);
	event_decoder_init(&dec);
	rc = event_decode(&dec, b.sbuf.data, b.sbuf.size, &ev, err, sizeof(err));
	ck_assert_msg(rc == -1 && !strcmp(err, "map key is not a string"), "whole: rc %d, '%s'", rc, err);
	for (n = 1; n < b.sbuf.size; n++) {
		/* Each cut in a buffer of its own size: a read past it is the sanitizers' to see. */
		char *cut = malloc(n);

		memcpy(cut, b.sbuf.data, n);
		rc = event_decode(&dec, cut, n, &ev, err, sizeof(err));
		ck_assert_msg(rc == -1 && !strcmp(err, "truncated msgpack"), "cut at %zu of %zu: rc %d, '%s'", n,
			      b.sbuf.size, rc, err);
		free(cut);
	}
	/* Without the integer key, it decodes, and the fields are the ones the map holds. */
	pkbuf_release(&b);
	pkbuf_init(&b);
	base(&b.pk, NULL, 13);
	kv_str(&b.pk, "email", email);
	raw(&b.pk, tail, sizeof(tail) - 1 - 3);
	rc = event_decode(&dec, b.sbuf.data, b.sbuf.size, &ev, err, sizeof(err));
	ck_assert_msg(rc == 0, "%s", err);
	ck_assert(ev.user_len == 5 && !memcmp(ev.user, "alice", 5) && ev.email_len == 200 && ev.ts == TS);
	event_decoder_release(&dec);
	pkbuf_release(&b);
	free(email);
}
END_TEST

START_TEST(test_decoder_reuse)
{
	struct event_encoder enc;
	struct event_decoder dec;
	struct event evs[3] = { sample_event(), sample_event(), sample_event() };
	unsigned char *bufs[3];
	size_t lens[3];
	char err[256];
	int i;

	evs[1].user = "bob";
	evs[1].user_len = 3;
	evs[1].email = NULL;
	evs[1].activity = EVENT_HEART_BEAT;
	evs[1].message = NULL;
	evs[1].ts = 42;
	evs[2].message = "¿qué tal?";
	evs[2].message_len = strlen(evs[2].message);
	evs[2].ts = INT64_MAX;

	event_encoder_init(&enc);
	for (i = 0; i < 3; i++) {
		const void *p;
		event_encode(&enc, &evs[i], &p, &lens[i]);
		bufs[i] = malloc(lens[i]);
		ck_assert_ptr_nonnull(bufs[i]);
		memcpy(bufs[i], p, lens[i]);
	}
	event_encoder_release(&enc);

	event_decoder_init(&dec);
	for (i = 0; i < 10000; i++) {
		struct event ev;
		int k = i % 3;

		if (i % 100 == 99) {
			ck_assert_int_eq(event_decode(&dec, bufs[k], lens[k] - 1, &ev, err,
						      sizeof(err)), -1);
			ck_assert_msg(strstr(err, "truncated msgpack"), "%s", err);
			continue;
		}
		ck_assert_msg(event_decode(&dec, bufs[k], lens[k], &ev, err, sizeof(err)) == 0,
			      "decode %d: %s", i, err);
		assert_event_eq(&evs[k], &ev);
	}
	event_decoder_release(&dec);
	for (i = 0; i < 3; i++)
		free(bufs[i]);
}
END_TEST

/* A payload of many small objects: one walk over it, whatever their number, and the next
 * event decodes as well. */
START_TEST(test_decoder_big_tree)
{
	struct event_decoder dec;
	struct event ev;
	struct pkbuf b;
	char err[256] = "";
	int i;

	pkbuf_init(&b);
	base(&b.pk, NULL, 1);
	str(&b.pk, "junk");
	msgpack_pack_array(&b.pk, 60000);
	for (i = 0; i < 60000; i++)
		msgpack_pack_nil(&b.pk);
	event_decoder_init(&dec);
	ck_assert_msg(event_decode(&dec, b.sbuf.data, b.sbuf.size, &ev, err, sizeof(err)) == 0,
		      "%s", err);
	pkbuf_release(&b);

	pkbuf_init(&b);
	base(&b.pk, NULL, 0);
	ck_assert_msg(event_decode(&dec, b.sbuf.data, b.sbuf.size, &ev, err, sizeof(err)) == 0,
		      "%s", err);
	event_decoder_release(&dec);
	pkbuf_release(&b);
}
END_TEST

/* ---- event_decode against msgpack-c ------------------------------------------------
 *
 * event_decode walks the bytes itself. Here random payloads, close to events and not,
 * go through msgpack-c's msgpack_unpack as well, and a judge written apart from event.c
 * reads its object tree by the rules of event.h: the two must agree on every payload, to
 * the reason's text and the strings' addresses. The payloads' containers are small, so
 * that msgpack-c, which sizes a container by its header, never allocates much. */

static uint64_t mp_rng;

static unsigned mp_rand(unsigned n)
{
	mp_rng ^= mp_rng << 13;
	mp_rng ^= mp_rng >> 7;
	mp_rng ^= mp_rng << 17;
	return (unsigned)(mp_rng % n);
}

static void mp_be(msgpack_packer *pk, unsigned char head, uint64_t v, int n)
{
	unsigned char b[9];
	int i;

	b[0] = head;
	for (i = 0; i < n; i++)
		b[1 + i] = (unsigned char)(v >> (8 * (n - 1 - i)));
	raw(pk, b, (size_t)n + 1);
}

/* A string in any of msgpack's four string formats, or now and then as bin. */
static void mp_str(msgpack_packer *pk, const char *s, size_t n)
{
	switch (mp_rand(8)) {
	case 0: mp_be(pk, 0xd9, n, 1); break;
	case 1: mp_be(pk, 0xda, n, 2); break;
	case 2: mp_be(pk, 0xdb, n, 4); break;
	case 3: mp_be(pk, 0xc4, n, 1); break; /* bin8: not a string */
	default: msgpack_pack_str(pk, n); break;
	}
	raw(pk, s, n);
}

/* An integer in any of msgpack's integer formats, its value cut to the format. */
static void mp_int(msgpack_packer *pk)
{
	static const uint64_t vals[] = { 0, 1, 127, 128, 255, (uint64_t)-1, (uint64_t)-32, (uint64_t)-33,
					 65536, (uint64_t)TS, (uint64_t)-TS, (uint64_t)INT64_MAX,
					 (uint64_t)INT64_MAX + 1, UINT64_MAX };
	uint64_t v = vals[mp_rand(sizeof(vals) / sizeof(vals[0]))];
	unsigned f = mp_rand(9);

	if (f == 8) {
		msgpack_pack_int64(pk, (int64_t)v);
		return;
	}
	mp_be(pk, (unsigned char)((f < 4 ? 0xcc : 0xd0) + f % 4), v, 1 << (f % 4));
}

static void mp_value(msgpack_packer *pk, int depth)
{
	static const char *const strs[] = { "alice", "", "send-message", "heart-beat", "dance",
					    "al\xffice", "\xc3\xa9t\xc3\xa9", "bob@example.org" };
	const char *s;
	unsigned i, n;

	switch (mp_rand(depth > 3 ? 6 : 9)) {
	case 0: case 1:
		s = strs[mp_rand(sizeof(strs) / sizeof(strs[0]))];
		mp_str(pk, s, strlen(s));
		break;
	case 2: mp_int(pk); break;
	case 3: msgpack_pack_nil(pk); break;
	case 4: msgpack_pack_double(pk, 1.5); break;
	case 5: msgpack_pack_ext_with_body(pk, "ab", 2, 7); break;
	case 6: case 7:
		n = mp_rand(4);
		msgpack_pack_array(pk, n);
		for (i = 0; i < n; i++)
			mp_value(pk, depth + 1);
		break;
	default:
		n = mp_rand(3);
		msgpack_pack_map(pk, n);
		for (i = 0; i < 2 * n; i++)
			mp_value(pk, depth + 1);
		break;
	}
}

/* The value a key of the event mostly gets: a fitting one, else anything. */
static void mp_field_value(msgpack_packer *pk, unsigned k)
{
	static const char *const fit[] = { "alice", "bob@example.org", NULL, "hello", NULL };
	const char *s = k < 5 ? fit[k] : NULL;

	if (mp_rand(8) == 0 || k >= 5) {
		mp_value(pk, 1);
	} else if (k == 4) {
		if (mp_rand(2))
			msgpack_pack_int64(pk, TS);
		else
			mp_int(pk);
	} else {
		if (k == 2)
			s = mp_rand(4) ? "send-message" : "heart-beat";
		mp_str(pk, s, strlen(s));
	}
}

/* A map: the event's five keys in any order, each present or not, or a few random
 * keys, unknown ones between; then maybe cut short or followed by a byte; or, now and
 * then, not a map at all. */
static void mp_payload(struct pkbuf *b)
{
	static const char *const keys[] = { "user", "email", "activity", "message", "ts",
					    "junk", "User", "tss" };
	unsigned order[8], n = 0, i;

	if (mp_rand(20) == 0) {
		mp_value(&b->pk, 0);
		return;
	}
	if (mp_rand(2)) {
		for (i = 0; i < 5; i++)
			if (mp_rand(8))
				order[n++] = i;
		while (n < 8 && mp_rand(3) == 0)
			order[n++] = 5 + mp_rand(5); /* 8 and 9: a key that is not a string */
		for (i = n; i > 1; i--) {
			unsigned j = mp_rand(i), t = order[i - 1];
			order[i - 1] = order[j];
			order[j] = t;
		}
	} else {
		for (n = mp_rand(8), i = 0; i < n; i++)
			order[i] = mp_rand(10);
	}
	msgpack_pack_map(&b->pk, n);
	for (i = 0; i < n; i++) {
		if (order[i] >= 8)
			mp_value(&b->pk, 1);
		else
			mp_str(&b->pk, keys[order[i]], strlen(keys[order[i]]));
		mp_field_value(&b->pk, order[i]);
	}
	if (mp_rand(10) == 0)
		b->sbuf.size = mp_rand((unsigned)b->sbuf.size);
	else if (mp_rand(20) == 0)
		raw(&b->pk, "\xc0", 1);
}

/* As event.h's reasons quote a value: its first 32 bytes, escaped. */
static void judge_quote(char *q, size_t qlen, const char *p, size_t n)
{
	size_t c;

	*q = '\0';
	for (c = 0; c < n && c < 32; c++) {
		unsigned char u = (unsigned char)p[c];
		if (u >= 0x20 && u < 0x7f && u != '\'' && u != '\\')
			snprintf(q + strlen(q), qlen - strlen(q), "%c", u);
		else
			snprintf(q + strlen(q), qlen - strlen(q), "\\x%02x", u);
	}
	if (n > 32)
		snprintf(q + strlen(q), qlen - strlen(q), "...");
}

/* The judge: the reason for the map o, or "" with *ev filled. */
static void judge_map(const msgpack_object *o, struct event *ev, char *why, size_t whylen)
{
	static const char *const names[] = { "user", "email", "activity", "message", "ts" };
	const msgpack_object *val[5] = { NULL };
	uint32_t i;
	int f;

	if (o->type != MSGPACK_OBJECT_MAP) {
		snprintf(why, whylen, "not a msgpack map");
		return;
	}
	for (i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key;
		if (k->type != MSGPACK_OBJECT_STR) {
			snprintf(why, whylen, "map key is not a string");
			return;
		}
		for (f = 0; f < 5; f++)
			if (strlen(names[f]) == k->via.str.size && !memcmp(names[f], k->via.str.ptr, k->via.str.size))
				break;
		if (f < 5 && val[f]) {
			snprintf(why, whylen, "duplicate field '%s'", names[f]);
			return;
		}
		if (f < 5)
			val[f] = &o->via.map.ptr[i].val;
	}
	memset(ev, 0, sizeof(*ev));
	for (f = 0; f < 4; f++) {
		const char *p;
		size_t n;

		if (!val[f] && (f == 0 || f == 2)) {
			snprintf(why, whylen, "missing field '%s'", names[f]);
			return;
		}
		if (!val[f])
			continue;
		if (val[f]->type != MSGPACK_OBJECT_STR) {
			snprintf(why, whylen, "field '%s' is not a string", names[f]);
			return;
		}
		p = val[f]->via.str.size ? val[f]->via.str.ptr : "";
		n = val[f]->via.str.size;
		if (f == 0) {
			ev->user = p;
			ev->user_len = n;
		} else if (f == 1) {
			ev->email = p;
			ev->email_len = n;
		} else if (f == 3) {
			ev->message = p;
			ev->message_len = n;
		} else if (n == 12 && !memcmp(p, "send-message", 12)) {
			ev->activity = EVENT_SEND_MESSAGE;
		} else if (n == 10 && !memcmp(p, "heart-beat", 10)) {
			ev->activity = EVENT_HEART_BEAT;
		} else {
			char q[160];
			judge_quote(q, sizeof(q), p, n);
			snprintf(why, whylen, "unknown activity '%s'", q);
			return;
		}
	}
	if (!val[4])
		snprintf(why, whylen, "missing field 'ts'");
	else if (val[4]->type == MSGPACK_OBJECT_POSITIVE_INTEGER && val[4]->via.u64 > INT64_MAX)
		snprintf(why, whylen, "field 'ts' is out of range (%" PRIu64 ")", val[4]->via.u64);
	else if (val[4]->type == MSGPACK_OBJECT_POSITIVE_INTEGER || val[4]->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
		ev->ts = val[4]->via.i64; /* the same bits either way */
	else
		snprintf(why, whylen, "field 'ts' is not an integer");
	if (!*why && event_validate(ev, why, whylen) == 0)
		*why = '\0';
}

START_TEST(test_decode_as_msgpack_c)
{
	struct event_decoder dec;
	int i, accepted = 0, reasons = 0;

	mp_rng = 0x9e3779b97f4a7c15ULL;
	event_decoder_init(&dec);
	for (i = 0; i < 20000; i++) {
		struct pkbuf b;
		struct event ev, want;
		msgpack_zone zone;
		msgpack_object obj;
		char err[256] = "", why[256] = "";
		size_t off = 0;
		int rc;

		pkbuf_init(&b);
		mp_payload(&b);
		msgpack_zone_init(&zone, 2048);
		switch (b.sbuf.size ? msgpack_unpack(b.sbuf.data, b.sbuf.size, &off, &zone, &obj) : -9) {
		case MSGPACK_UNPACK_SUCCESS:
			judge_map(&obj, &want, why, sizeof(why));
			break;
		case MSGPACK_UNPACK_EXTRA_BYTES:
			snprintf(why, sizeof(why), "trailing bytes after event (%zu bytes)", b.sbuf.size - off);
			break;
		case MSGPACK_UNPACK_CONTINUE:
			snprintf(why, sizeof(why), "truncated msgpack");
			break;
		default:
			snprintf(why, sizeof(why), b.sbuf.size ? "msgpack_unpack failed" : "empty payload");
			break;
		}
		rc = event_decode(&dec, b.sbuf.data, b.sbuf.size, &ev, err, sizeof(err));
		ck_assert_msg(rc == (*why ? -1 : 0) && (rc == 0 || !strcmp(err, why)),
			      "payload %d: event_decode %d '%s', msgpack-c's judge '%s'", i, rc, err, why);
		if (rc == 0) {
			assert_event_eq(&want, &ev);
			/* The strings point into the payload; an empty one may be any "" (under ASan,
			 * string literals of two files are not merged). */
			ck_assert(ev.user == want.user && (!want.email_len || ev.email == want.email) &&
				  (!want.message_len || ev.message == want.message));
			accepted++;
		} else if (strcmp(err, "truncated msgpack") != 0) {
			reasons++;
		}
		msgpack_zone_destroy(&zone);
		pkbuf_release(&b);
	}
	/* The generator reaches both sides. */
	ck_assert_int_gt(accepted, 500);
	ck_assert_int_gt(reasons, 5000);
	event_decoder_release(&dec);
}
END_TEST

START_TEST(test_validate)
{
	struct event ev = sample_event();
	char err[256] = "";
	char *big = repeat('m', EVENT_MAX_SIZE + 1);

	ck_assert_msg(event_validate(&ev, err, sizeof(err)) == 0, "%s", err);

#define REJECT(field_change, phrase)                                                    \
	do {                                                                              \
		ev = sample_event();                                                      \
		field_change;                                                             \
		err[0] = '\0';                                                            \
		ck_assert_msg(event_validate(&ev, err, sizeof(err)) == -1 &&               \
				      strstr(err, phrase),                                \
			      "%s: got '%s'", #field_change, err);                       \
	} while (0)

	REJECT(ev.user = NULL, "missing field 'user'");
	REJECT(ev.user_len = 0, "field 'user' is empty");
	REJECT(ev.user_len = 300, "field 'user' is too long (300 bytes, max 255)");
	REJECT(ev.user = "\xc3(xxx", "field 'user' is not valid UTF-8");
	REJECT((ev.email = "\xe2\x82", ev.email_len = 2), "field 'email' is not valid UTF-8");
	REJECT((ev.user = "a\0", ev.user_len = 2), "field 'user' contains a NUL byte");
	REJECT((ev.email = "x\0@y", ev.email_len = 4), "field 'email' contains a NUL byte");
	REJECT(ev.email_len = 256, "field 'email' is too long");
	REJECT((ev.user = "Eve\0b", ev.user_len = 5), "field 'user' contains a NUL byte");
	REJECT((ev.email = "\0", ev.email_len = 1), "field 'email' contains a NUL byte");
	REJECT(ev.activity = 0, "unknown activity (0)");
	REJECT(ev.activity = 7, "unknown activity (7)");
	REJECT(ev.message = NULL, "missing field 'message'");
	REJECT((ev.activity = EVENT_HEART_BEAT, ev.message = "\xf5\x80\x80\x80",
		ev.message_len = 4),
	       "field 'message' is not valid UTF-8");
	REJECT((ev.message = big, ev.message_len = EVENT_MAX_SIZE + 1), "event too large");
	REJECT((ev.message = big, ev.message_len = SIZE_MAX), "event too large");
	REJECT(ev.ts = 0, "field 'ts' must be positive (got 0)");
	REJECT(ev.ts = INT64_MIN, "field 'ts' must be positive");
#undef REJECT

	/* err may be too small, or absent. */
	ev = sample_event();
	ev.ts = 0;
	ck_assert_int_eq(event_validate(&ev, err, 4), -1);
	ck_assert_str_eq(err, "fie");
	ck_assert_int_eq(event_validate(&ev, NULL, 0), -1);
	free(big);
}
END_TEST

START_TEST(test_activity_name)
{
	ck_assert_str_eq(event_activity_name(EVENT_SEND_MESSAGE), "send-message");
	ck_assert_str_eq(event_activity_name(EVENT_HEART_BEAT), "heart-beat");
	ck_assert_str_eq(event_activity_name((enum event_activity)0), "unknown");
	ck_assert_str_eq(event_activity_name((enum event_activity)99), "unknown");
}
END_TEST

static const char *const json_good[] = {
	"{\"user\": \"alice\", \"email\": \"alice@example.org\", \"activity\": \"send-message\","
	" \"message\": \"hello\", \"ts\": 1700000000123}",
	"{\"user\": \"bob\", \"activity\": \"heart-beat\", \"ts\": 1}",
	"{\"user\": \"bob\", \"activity\": \"heart-beat\", \"message\": \"still here\","
	" \"ts\": 9223372036854775807}",
	"{\"user\": \"Zo\\u00eb \\ud83d\\ude42\", \"activity\": \"send-message\","
	" \"message\": \"日本語\", \"ts\": 1700000000123}",
	"{\"user\": \"carol\", \"email\": \"\", \"activity\": \"send-message\", \"message\": \"\","
	" \"ts\": 5}",
};

/* JSON -> event -> msgpack -> event -> JSON gives back the same object. */
START_TEST(test_json_round_trip)
{
	struct event_encoder enc;
	struct event_decoder dec;
	struct event ev, out;
	json_error_t jerr;
	json_t *in, *back;
	const void *buf;
	size_t len;
	char err[256] = "";

	in = json_loads(json_good[_i], 0, &jerr);
	ck_assert_msg(in != NULL, "%s", jerr.text);
	ck_assert_msg(event_from_json(in, &ev, err, sizeof(err)) == 0, "%s", err);
	event_encoder_init(&enc);
	event_decoder_init(&dec);
	event_encode(&enc, &ev, &buf, &len);
	ck_assert_msg(event_decode(&dec, buf, len, &out, err, sizeof(err)) == 0, "%s", err);
	back = json_object();
	event_to_json(&out, back);
	ck_assert_msg(json_equal(in, back), "%s", json_good[_i]);
	json_decref(back);
	event_decoder_release(&dec);
	event_encoder_release(&enc);
	json_decref(in);
}
END_TEST

START_TEST(test_json_unknown_keys)
{
	json_t *in = json_loads("{\"user\": \"alice\", \"activity\": \"heart-beat\", \"ts\": 7,"
				" \"client\": {\"ts\": \"x\"}, \"tags\": [1, null], \"x\": 1.5}",
				0, NULL);
	struct event ev;
	char err[256] = "";

	ck_assert_ptr_nonnull(in);
	ck_assert_msg(event_from_json(in, &ev, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(ev.user_len, 5);
	ck_assert_mem_eq(ev.user, "alice", 5);
	ck_assert_ptr_null(ev.email);
	ck_assert_ptr_null(ev.message);
	ck_assert_int_eq(ev.activity, EVENT_HEART_BEAT);
	ck_assert_int_eq(ev.ts, 7);
	json_decref(in);
}
END_TEST

static const struct json_bad {
	const char *json;
	const char *phrase;
} json_bad[] = {
	{ "[1, 2]", "not a JSON object" },
	{ "{\"activity\": \"heart-beat\", \"ts\": 1}", "missing field 'user'" },
	{ "{\"user\": \"a\", \"ts\": 1}", "missing field 'activity'" },
	{ "{\"user\": \"a\", \"activity\": \"heart-beat\"}", "missing field 'ts'" },
	{ "{\"user\": \"a\", \"activity\": \"send-message\", \"ts\": 1}",
	  "missing field 'message'" },
	{ "{\"user\": 1, \"activity\": \"heart-beat\", \"ts\": 1}",
	  "field 'user' is not a string" },
	{ "{\"user\": \"a\", \"email\": null, \"activity\": \"heart-beat\", \"ts\": 1}",
	  "field 'email' is not a string" },
	{ "{\"user\": \"a\", \"activity\": [], \"ts\": 1}", "field 'activity' is not a string" },
	{ "{\"user\": \"a\", \"activity\": \"heart-beat\", \"message\": 5, \"ts\": 1}",
	  "field 'message' is not a string" },
	{ "{\"user\": \"a\", \"activity\": \"heart-beat\", \"ts\": 1.5}",
	  "field 'ts' is not an integer" },
	{ "{\"user\": \"a\", \"activity\": \"heart-beat\", \"ts\": \"1\"}",
	  "field 'ts' is not an integer" },
	{ "{\"user\": \"a\", \"activity\": \"heart-beat\", \"ts\": 0}",
	  "field 'ts' must be positive (got 0)" },
	{ "{\"user\": \"a\", \"activity\": \"heart-beat\", \"ts\": -1}",
	  "field 'ts' must be positive (got -1)" },
	{ "{\"user\": \"\", \"activity\": \"heart-beat\", \"ts\": 1}", "field 'user' is empty" },
	{ "{\"user\": \"a\", \"activity\": \"dance\", \"ts\": 1}", "unknown activity 'dance'" },
};

#define NJSONBAD ((int)(sizeof(json_bad) / sizeof(json_bad[0])))

START_TEST(test_json_rejects)
{
	json_error_t jerr;
	json_t *in = json_loads(json_bad[_i].json, 0, &jerr);
	struct event ev;
	char err[256] = "";
	int rc;

	ck_assert_msg(in != NULL, "%s", jerr.text);
	rc = event_from_json(in, &ev, err, sizeof(err));
	ck_assert_msg(rc == -1 && strstr(err, json_bad[_i].phrase), "%s: rc %d, err '%s'",
		      json_bad[_i].json, rc, err);
	json_decref(in);
}
END_TEST

/* Limits and UTF-8 that JSON text cannot get wrong but a built object can. */
START_TEST(test_json_rejects_built)
{
	json_t *in = json_pack("{s:s, s:I, s:s}", "activity", "heart-beat", "ts", (json_int_t)1,
			       "user", "x");
	char *longuser = repeat('u', EVENT_USER_MAX + 1);
	struct event ev;
	char err[256] = "";

	ck_assert_ptr_nonnull(in);
	json_object_set_new(in, "user", json_string(longuser));
	ck_assert_int_eq(event_from_json(in, &ev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "field 'user' is too long"), "%s", err);
	json_object_set_new(in, "user", json_stringn_nocheck("\xff", 1));
	ck_assert_int_eq(event_from_json(in, &ev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "field 'user' is not valid UTF-8"), "%s", err);
	ck_assert_int_eq(event_from_json(NULL, &ev, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a JSON object"), "%s", err);
	json_decref(in);
	free(longuser);
}
END_TEST

/* ---- JSON payloads: the original ping-pong's encoding, decided by the first byte ---- */

/* Encodes ev as JSON, decodes the payload and checks that the same event comes back. */
static void json_payload_round_trip(const struct event *ev)
{
	struct event_encoder enc;
	struct event_decoder dec;
	struct event out;
	const void *buf;
	size_t len;
	char err[256] = "";

	event_encoder_init(&enc);
	event_decoder_init(&dec);
	ck_assert_msg(event_encode_json(&enc, ev, &buf, &len, err, sizeof(err)) == 0, "%s", err);
	ck_assert(event_is_json(buf, len));
	ck_assert_msg(event_decode(&dec, buf, len, &out, err, sizeof(err)) == 0, "decode: %s", err);
	assert_event_eq(ev, &out);
	event_decoder_release(&dec);
	event_encoder_release(&enc);
}

START_TEST(test_json_payload_round_trip)
{
	struct event ev = sample_event(), bare = { .user = "bob", .user_len = 3, .activity = EVENT_HEART_BEAT,
						   .ts = 1 };
	char *longest = repeat('e', EVENT_USER_MAX);

	json_payload_round_trip(&ev);
	json_payload_round_trip(&bare);
	ev.user = "Zo\xc3\xab \"quoted\" back\\slash\ttab \xf0\x9f\x99\x82";
	ev.user_len = strlen(ev.user);
	ev.message = "a\0b\n\x01";
	ev.message_len = 5;
	json_payload_round_trip(&ev);
	ev.email = longest;
	ev.email_len = EVENT_USER_MAX;
	ev.ts = INT64_MAX;
	json_payload_round_trip(&ev);
	free(longest);
}
END_TEST

/* JSON's escapes make a text longer than msgpack's bytes: the encoder refuses what the
 * decoder would. */
START_TEST(test_json_encode_too_large)
{
	struct event_encoder enc;
	struct event ev = sample_event();
	char *ctl = repeat('\x01', 20000);
	const void *buf;
	size_t len;
	char err[256] = "";

	event_encoder_init(&enc);
	ev.message = ctl;
	ev.message_len = 20000;
	ck_assert_int_eq(event_validate(&ev, err, sizeof(err)), 0);
	ck_assert_int_eq(event_encode_json(&enc, &ev, &buf, &len, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "event too large as JSON ("), "%s", err);
	ev.message_len = 100;
	ck_assert_msg(event_encode_json(&enc, &ev, &buf, &len, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_lt(len, 1000);
	event_encoder_release(&enc);
	free(ctl);
}
END_TEST

/* JSON payloads and the decoder's exact reasons: the same as msgpack's for the fields,
 * jansson's for the text. NULL: accepted. */
static const struct json_payload {
	const char *text;
	const char *reason;
} json_payloads[] = {
	{ "{\"user\":\"a\",\"activity\":\"heart-beat\",\"ts\":1}", NULL },
	/* One byte decides: this is msgpack, a fixint 32 and trailing bytes. */
	{ " {\"user\":\"a\",\"activity\":\"heart-beat\",\"ts\":1}", "trailing bytes after event (43 bytes)" },
	{ "{}", "missing field 'user'" },
	{ "{\"activity\":\"heart-beat\",\"ts\":1}", "missing field 'user'" },
	{ "{\"user\":\"a\",\"ts\":1}", "missing field 'activity'" },
	{ "{\"user\":\"a\",\"activity\":\"heart-beat\"}", "missing field 'ts'" },
	{ "{\"user\":\"a\",\"activity\":\"send-message\",\"ts\":1}",
	  "missing field 'message' (required for send-message)" },
	{ "{\"user\":7,\"activity\":\"heart-beat\",\"ts\":1}", "field 'user' is not a string" },
	{ "{\"user\":\"a\",\"email\":null,\"activity\":\"heart-beat\",\"ts\":1}", "field 'email' is not a string" },
	{ "{\"user\":\"a\",\"activity\":true,\"ts\":1}", "field 'activity' is not a string" },
	{ "{\"user\":\"a\",\"activity\":\"heart-beat\",\"message\":[],\"ts\":1}", "field 'message' is not a string" },
	{ "{\"user\":\"a\",\"activity\":\"heart-beat\",\"ts\":1.0}", "field 'ts' is not an integer" },
	{ "{\"user\":\"a\",\"activity\":\"heart-beat\",\"ts\":\"1\"}", "field 'ts' is not an integer" },
	{ "{\"user\":\"a\",\"activity\":\"heart-beat\",\"ts\":0}", "field 'ts' must be positive (got 0)" },
	{ "{\"user\":\"a\",\"activity\":\"heart-beat\",\"ts\":-5}", "field 'ts' must be positive (got -5)" },
	{ "{\"user\":\"\",\"activity\":\"heart-beat\",\"ts\":1}", "field 'user' is empty" },
	{ "{\"user\":\"a\",\"activity\":\"Heart-Beat\",\"ts\":1}", "unknown activity 'Heart-Beat'" },
	{ "{\"user\":\"a\",\"activity\":\"it's\",\"ts\":1}", "unknown activity 'it\\x27s'" },
	/* Missing comes before wrong, in the order of the fields, as in msgpack. */
	{ "{\"email\":1,\"activity\":2}", "missing field 'user'" },
	{ "{\"user\":\"a\",\"email\":1,\"message\":2}", "field 'email' is not a string" },
	/* \u0000: a message may hold it, a name or an email may not. */
	{ "{\"user\":\"a\",\"activity\":\"heart-beat\",\"message\":\"x\\u0000y\",\"ts\":1}", NULL },
	{ "{\"user\":\"a\\u0000b\",\"activity\":\"heart-beat\",\"ts\":1}", "field 'user' contains a NUL byte" },
	{ "{\"user\":\"a\",\"email\":\"\\u0000@x\",\"activity\":\"heart-beat\",\"ts\":1}",
	  "field 'email' contains a NUL byte" },
	/* A field twice is a defect, however its key is written; another key twice, or a
	 * key twice inside an unknown field's value, is not. */
	{ "{\"user\":\"a\",\"activity\":\"heart-beat\",\"ts\":1,\"user\":\"b\"}", "duplicate field 'user'" },
	{ "{\"user\":\"a\",\"activity\":\"heart-beat\",\"ts\":1,\"t\\u0073\":2}", "duplicate field 'ts'" },
	{ "{\"x\":1,\"x\":2,\"user\":\"a\",\"activity\":\"heart-beat\",\"ts\":1,\"email\":\"e\",\"email\":\"f\"}",
	  "duplicate field 'email'" },
	{ "{\"user\":\"a\",\"activity\":\"heart-beat\",\"ts\":1,\"x\":1,\"x\":2}", NULL },
	{ "{\"user\":\"a\",\"activity\":\"heart-beat\",\"ts\":1,\"x\":{\"user\":1,\"user\":2}}", NULL },
	{ "{\"user\":\"a\",\"activity\":\"heart-beat\",\"ts\":1,\"x\":\"\\\"user\\\":1\",\"x\":\"\\\\\"}", NULL },
	/* The text first: a repeated field in a text that is malformed anyway. */
	{ "{\"user\":\"a\",\"user\":\"b\",\"activity\":\"heart-beat\",\"ts\":1",
	  "malformed JSON: '}' expected near end of file (at byte 53)" },
	{ "{", "malformed JSON: string or '}' expected near end of file (at byte 1)" },
	{ "{\"user\":\"a\"", "malformed JSON: '}' expected near end of file (at byte 11)" },
	{ "{\"user\":\"a\",\"activity\":\"heart-beat\",\"ts\":1}x",
	  "malformed JSON: end of file expected near 'x' (at byte 44)" },
	{ "{\"user\":\"\xff\",\"activity\":\"heart-beat\",\"ts\":1}",
	  "malformed JSON: unable to decode byte 0xff near '\"' (at byte 9)" },
	{ "{\"user\":\"\\ud800\",\"activity\":\"heart-beat\",\"ts\":1}",
	  "malformed JSON: invalid Unicode '\\uD800' near '\"\\ud800\"' (at byte 16)" },
	{ "{\"user\":\"a\",\"activity\":\"heart-beat\",\"ts\":9223372036854775808}",
	  "malformed JSON: too big integer near '9223372036854775808' (at byte 60)" },
	{ "{\"a\\u0000\":1}", "malformed JSON: NUL byte in object key not supported near '\"a\\u0000\"' (at byte 10)" },
	{ "{'user':'a'}", "malformed JSON: string or '}' expected near ''' (at byte 2)" },
};

#define NJSONPAYLOADS ((int)(sizeof(json_payloads) / sizeof(json_payloads[0])))

START_TEST(test_json_payloads)
{
	const struct json_payload *jp = &json_payloads[_i];
	struct event_decoder dec;
	struct event ev;
	char err[256] = "";
	int rc;

	event_decoder_init(&dec);
	rc = event_decode(&dec, jp->text, strlen(jp->text), &ev, err, sizeof(err));
	if (!jp->reason)
		ck_assert_msg(rc == 0 && ev.user_len == 1 && ev.user[0] == 'a' && ev.ts == 1, "%s: %s", jp->text,
			      err);
	else
		ck_assert_msg(rc == -1 && !strcmp(err, jp->reason), "%s: rc %d, '%s', not '%s'", jp->text, rc, err,
			      jp->reason);
	event_decoder_release(&dec);
}
END_TEST

/* The size limit holds for JSON too, and comes first. */
START_TEST(test_json_payload_too_large)
{
	struct event_decoder dec;
	char *text = repeat(' ', EVENT_MAX_SIZE + 10);
	struct event ev;
	char err[256] = "";

	memcpy(text, "{\"user\":\"a\",\"activity\":\"heart-beat\",\"ts\":1}", 43);
	event_decoder_init(&dec);
	ck_assert_int_eq(event_decode(&dec, text, EVENT_MAX_SIZE + 1, &ev, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "payload too large (65537 bytes, max 65536)");
	/* Whitespace is JSON's: at the limit, the same text is an event. */
	ck_assert_msg(event_decode(&dec, text, EVENT_MAX_SIZE, &ev, err, sizeof(err)) == 0, "%s", err);
	event_decoder_release(&dec);
	free(text);
}
END_TEST

/* A JSON event's strings live as long as its struct event is not decoded into again, so
 * that a batch of events, each in a slot of its own, stays whole; msgpack and JSON
 * decodes in between change nothing. Under valgrind or ASan a use after free shows. */
START_TEST(test_json_decoder_lifetime)
{
	static const char *const texts[] = {
		"{\"user\":\"first\",\"activity\":\"heart-beat\",\"ts\":11}",
		"{\"user\":\"second\",\"email\":\"s@x\",\"activity\":\"send-message\",\"message\":\"m2\",\"ts\":12}",
		"{\"user\":\"third\",\"activity\":\"heart-beat\",\"ts\":13}",
	};
	struct event_decoder dec;
	struct event_encoder enc;
	struct event slots[64], mp, copy;
	const void *buf;
	size_t len, i;
	char err[256] = "", text[96];

	event_decoder_init(&dec);
	event_encoder_init(&enc);
	for (i = 0; i < 64; i++)
		ck_assert_msg(event_decode(&dec, texts[i % 3], strlen(texts[i % 3]), &slots[i], err, sizeof(err)) == 0,
			      "%s", err);
	copy = slots[1];
	mp = sample_event();
	event_encode(&enc, &mp, &buf, &len);
	ck_assert_int_eq(event_decode(&dec, buf, len, &mp, err, sizeof(err)), 0);
	/* A failed decode into a slot leaves what it held alone. */
	ck_assert_int_eq(event_decode(&dec, "{", 1, &slots[2], err, sizeof(err)), -1);
	for (i = 0; i < 64; i++) {
		const char *want = i % 3 == 0 ? "first" : i % 3 == 1 ? "second" : "third";
		ck_assert_uint_eq(slots[i].user_len, strlen(want));
		ck_assert_mem_eq(slots[i].user, want, strlen(want));
		ck_assert_int_eq(slots[i].ts, 11 + (int64_t)(i % 3));
	}
	ck_assert_mem_eq(copy.email, "s@x", 3);
	ck_assert_mem_eq(copy.message, "m2", 2);
	/* Decoded into again, a slot holds the new event; the others keep theirs. */
	for (i = 0; i < 64; i += 2) {
		snprintf(text, sizeof(text), "{\"user\":\"n%zu\",\"activity\":\"heart-beat\",\"ts\":7}", i);
		ck_assert_int_eq(event_decode(&dec, text, strlen(text), &slots[i], err, sizeof(err)), 0);
	}
	for (i = 1; i < 64; i += 2) {
		const char *want = i % 3 == 0 ? "first" : i % 3 == 1 ? "second" : "third";
		ck_assert_mem_eq(slots[i].user, want, strlen(want));
	}
	ck_assert_mem_eq(slots[10].user, "n10", 3);
	event_encoder_release(&enc);
	event_decoder_release(&dec);
}
END_TEST

/* event_to_json on a reused object drops the previous event's optional fields. */
START_TEST(test_to_json_reused_object)
{
	struct event full = sample_event();
	struct event bare = { .user = "bob", .user_len = 3, .activity = EVENT_HEART_BEAT, .ts = 2 };
	json_t *obj = json_object();
	json_t *want = json_pack("{s:s, s:s, s:I}", "user", "bob", "activity", "heart-beat", "ts",
				 (json_int_t)2);

	event_to_json(&full, obj);
	ck_assert_str_eq(json_string_value(json_object_get(obj, "email")), "alice@example.org");
	ck_assert_int_eq(json_integer_value(json_object_get(obj, "ts")), TS);
	event_to_json(&bare, obj);
	ck_assert(json_equal(obj, want));
	json_decref(obj);
	json_decref(want);
}
END_TEST

static Suite *event_suite(void)
{
	Suite *s = suite_create("event");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_round_trip_full);
	tcase_add_test(tc, test_round_trip_message_nul);
	tcase_add_test(tc, test_round_trip_minimal);
	tcase_add_test(tc, test_round_trip_variants);
	tcase_add_test(tc, test_round_trip_unicode);
	tcase_add_test(tc, test_round_trip_limits);
	tcase_add_test(tc, test_encode_key_order);
	tcase_add_test(tc, test_encoder_reuses_buffer);
	tcase_add_test(tc, test_size_boundary);
	tcase_add_loop_test(tc, test_decode_rejects, 0, NBAD);
	tcase_add_test(tc, test_string_every_position);
	tcase_add_test(tc, test_unknown_keys_ignored);
	tcase_add_loop_test(tc, test_unknown_value_formats, 0, NFORMATS);
	tcase_add_test(tc, test_straight_line_prefixes);
	tcase_add_test(tc, test_decoder_reuse);
	tcase_add_test(tc, test_decoder_big_tree);
	tcase_add_test(tc, test_decode_as_msgpack_c);
	tcase_add_test(tc, test_validate);
	tcase_add_test(tc, test_activity_name);
	tcase_add_loop_test(tc, test_json_round_trip, 0,
			    (int)(sizeof(json_good) / sizeof(json_good[0])));
	tcase_add_test(tc, test_json_unknown_keys);
	tcase_add_loop_test(tc, test_json_rejects, 0, NJSONBAD);
	tcase_add_test(tc, test_json_rejects_built);
	tcase_add_test(tc, test_to_json_reused_object);
	tcase_add_test(tc, test_json_payload_round_trip);
	tcase_add_test(tc, test_json_encode_too_large);
	tcase_add_loop_test(tc, test_json_payloads, 0, NJSONPAYLOADS);
	tcase_add_test(tc, test_json_payload_too_large);
	tcase_add_test(tc, test_json_decoder_lifetime);
	/* valgrind runs the 10,000 decodes far slower than Check's 4 s default. */
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(event_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
