/* fuzz-event.c: libFuzzer harness for the event decoder (event_decode), msgpack and JSON.
 *
 * Any bytes may come from the topic. The decoder must never crash or read outside the
 * payload, must give a reason when it refuses, and what it accepts must survive a round
 * trip: encoded again as msgpack, it decodes to the same fields; encoding those gives the
 * same bytes; encoded as JSON (when it fits), it decodes to the same fields; and through
 * a JSON object (event_to_json, event_from_json) the same fields come back. A msgpack
 * event's strings point into the payload; a JSON event's into the decoder's document,
 * which must outlive a decode into another struct event. And msgpack-c, which event.c
 * does not use to decode, must read a payload that event_decode took for one whole
 * object as one too, with an accepted event's strings where event_decode found them.
 */
#include "config.h"

#include <string.h>

#include "event.h"
#include "fuzz.h"

static int within(const char *p, size_t n, const void *buf, size_t len)
{
	const char *b = buf;
	return n == 0 || (p >= b && p + n <= b + len);
}

static int same_string(const char *a, size_t alen, const char *b, size_t blen)
{
	if ((a == NULL) != (b == NULL))
		return 0;
	return !a || (alen == blen && memcmp(a, b, alen) == 0);
}

static int same_event(const struct event *a, const struct event *b)
{
	return same_string(a->user, a->user_len, b->user, b->user_len) &&
	       same_string(a->email, a->email_len, b->email, b->email_len) &&
	       a->activity == b->activity &&
	       same_string(a->message, a->message_len, b->message, b->message_len) &&
	       a->ts == b->ts;
}

/* The value of key name in msgpack-c's map, or NULL. */
static const msgpack_object *map_get(const msgpack_object *map, const char *name)
{
	uint32_t i;

	for (i = 0; i < map->via.map.size; i++) {
		const msgpack_object *k = &map->via.map.ptr[i].key;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(name) &&
		    memcmp(k->via.str.ptr, name, k->via.str.size) == 0)
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

static int same_str(const msgpack_object *o, const char *s, size_t len)
{
	if (!o)
		return s == NULL;
	return o->type == MSGPACK_OBJECT_STR && o->via.str.size == len && (len == 0 || o->via.str.ptr == s);
}

/* msgpack-c's reading of a payload that event_decode judged one whole object (it decoded,
 * or was refused for its fields, not its bytes): one whole object, and for an event
 * (ev not NULL) a map whose fields are ev's, in place. The payload is at most
 * EVENT_MAX_SIZE bytes and whole, which bounds what msgpack-c allocates. */
static void msgpack_c_agrees(const uint8_t *data, size_t size, const struct event *ev)
{
	static msgpack_zone zone;
	static int ready;
	msgpack_object obj;
	size_t off = 0;

	if (!ready)
		ready = msgpack_zone_init(&zone, MSGPACK_ZONE_CHUNK_SIZE);
	msgpack_zone_clear(&zone);
	FUZZ_CHECK(msgpack_unpack((const char *)data, size, &off, &zone, &obj) == MSGPACK_UNPACK_SUCCESS);
	if (!ev)
		return;
	FUZZ_CHECK(obj.type == MSGPACK_OBJECT_MAP);
	FUZZ_CHECK(same_str(map_get(&obj, "user"), ev->user, ev->user_len));
	FUZZ_CHECK(same_str(map_get(&obj, "email"), ev->email, ev->email_len));
	FUZZ_CHECK(same_str(map_get(&obj, "message"), ev->message, ev->message_len));
	FUZZ_CHECK(map_get(&obj, "ts") && map_get(&obj, "ts")->via.i64 == ev->ts);
}

static int refused_for_its_bytes(const char *err)
{
	static const char *const structural[] = { "empty payload", "payload too large", "truncated msgpack",
						  "trailing bytes after event", "malformed msgpack",
						  "msgpack nesting too deep" };
	size_t i;

	for (i = 0; i < sizeof(structural) / sizeof(structural[0]); i++)
		if (strncmp(err, structural[i], strlen(structural[i])) == 0)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Kept across inputs: reuse of the decoder and of the buffer is part of what runs. */
	static struct event_decoder dec, dec2;
	static struct event_encoder enc, enc2;
	static int ready;
	struct event ev, again, fromjson;
	const void *buf, *buf2;
	size_t len, len2;
	char err[256];
	json_t *obj;

	if (!ready) {
		event_decoder_init(&dec);
		event_decoder_init(&dec2);
		event_encoder_init(&enc);
		event_encoder_init(&enc2);
		ready = 1;
	}
	err[0] = '\0';
	if (event_decode(&dec, data, size, &ev, err, sizeof(err)) != 0) {
		FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
		if (!event_is_json(data, size) && !refused_for_its_bytes(err))
			msgpack_c_agrees(data, size, NULL);
		return 0;
	}
	/* msgpack is zero-copy: the strings point into the payload. */
	if (!event_is_json(data, size)) {
		msgpack_c_agrees(data, size, &ev);
		FUZZ_CHECK(ev.user && within(ev.user, ev.user_len, data, size));
		FUZZ_CHECK(!ev.email || within(ev.email, ev.email_len, data, size));
		FUZZ_CHECK(!ev.message || within(ev.message, ev.message_len, data, size));
	}
	FUZZ_CHECK(ev.user_len > 0 && !memchr(ev.user, '\0', ev.user_len));
	FUZZ_CHECK(!ev.email || !memchr(ev.email, '\0', ev.email_len));
	FUZZ_CHECK(ev.ts > 0);
	FUZZ_CHECK(event_validate(&ev, err, sizeof(err)) == 0);

	event_encode(&enc, &ev, &buf, &len);
	FUZZ_CHECK(len <= EVENT_MAX_SIZE);
	FUZZ_CHECK(event_decode(&dec2, buf, len, &again, err, sizeof(err)) == 0);
	FUZZ_CHECK(same_event(&ev, &again));
	event_encode(&enc2, &again, &buf2, &len2);
	FUZZ_CHECK(len == len2 && memcmp(buf, buf2, len) == 0);

	/* As JSON, through another decoder and another struct event: ev's document must
	 * stay whole meanwhile. */
	if (event_encode_json(&enc, &ev, &buf, &len, err, sizeof(err)) == 0) {
		FUZZ_CHECK(len <= EVENT_MAX_SIZE && event_is_json(buf, len));
		FUZZ_CHECK(event_decode(&dec, buf, len, &again, err, sizeof(err)) == 0);
		FUZZ_CHECK(same_event(&ev, &again));
	} else {
		FUZZ_CHECK(strstr(err, "event too large as JSON") != NULL);
	}

	obj = json_object();
	event_to_json(&ev, obj);
	FUZZ_CHECK(event_from_json(obj, &fromjson, err, sizeof(err)) == 0);
	FUZZ_CHECK(same_event(&ev, &fromjson));
	json_decref(obj);
	return 0;
}
