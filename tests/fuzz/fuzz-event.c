/* fuzz-event.c: libFuzzer harness for the event decoder (event_decode), msgpack and JSON.
 *
 * Any bytes may come from the topic. The decoder must never crash or read outside the
 * payload, must give a reason when it refuses, and what it accepts must survive a round
 * trip: encoded again as msgpack, it decodes to the same fields; encoding those gives the
 * same bytes; encoded as JSON (when it fits), it decodes to the same fields; and through
 * a JSON object (event_to_json, event_from_json) the same fields come back. A msgpack
 * event's strings point into the payload; a JSON event's into the decoder's document,
 * which must outlive a decode into another struct event.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Kept across inputs: reuse of the zone and of the buffer is part of what runs. */
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
		return 0;
	}
	/* msgpack is zero-copy: the strings point into the payload. */
	if (!event_is_json(data, size)) {
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
