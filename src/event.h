/* event.h: the chat event, its wire formats (msgpack, and the original ping-pong's
 * JSON) and its JSON form. */
#ifndef PP_EVENT_H
#define PP_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>
#include <jansson.h>

#define EVENT_MAX_SIZE (64 * 1024) /* a larger payload is rejected before parsing */
#define EVENT_USER_MAX 255

enum event_activity {
	EVENT_SEND_MESSAGE = 1,
	EVENT_HEART_BEAT = 2,
};

/* A decoded event. The strings are not NUL-terminated: they point into the msgpack
 * payload they were decoded from, or into the JSON document the decoder keeps for a JSON
 * payload (see event_decode), or into the JSON object of event_from_json. */
struct event {
	const char *user;
	size_t user_len;
	const char *email; /* NULL when absent */
	size_t email_len;
	enum event_activity activity;
	const char *message; /* NULL when absent (always set for send-message) */
	size_t message_len;
	int64_t ts; /* milliseconds since the epoch, > 0 */
};

/* The decoder: a msgpack event needs nothing from it (one walk over the payload, no
 * allocation); it keeps the parsed document of the last JSON event decoded into each
 * struct event. Pair init with release. */
struct event_json_hold;

struct event_decoder {
	struct event_json_hold *held; /* capheld slots, nheld used (event.c) */
	size_t nheld, capheld;
};

void event_decoder_init(struct event_decoder *d);
void event_decoder_release(struct event_decoder *d);

/* A payload that starts with '{' is JSON (the original ping-pong's events); any other is
 * msgpack, in which 0x7b is the integer 123, never an event. One byte decides. */
static inline int event_is_json(const void *buf, size_t len)
{
	return len > 0 && *(const unsigned char *)buf == '{';
}

/* Decodes and validates one event, msgpack or JSON as event_is_json() says, with the
 * same fields, rules and reasons for both. Returns 0, or -1 with a precise reason in
 * err: "payload too large (70000 bytes, max 65536)", "truncated msgpack", "trailing
 * bytes after event", "not a msgpack map", "malformed JSON: ... (at byte N)", "missing
 * field 'user'", "duplicate field 'ts'", "field 'ts' is not an integer", "field 'user'
 * is not valid UTF-8", "field 'user' contains a NUL byte", ... A message may hold NUL
 * bytes (\u0000 in JSON); a user or an email may not.
 * Ownership: a msgpack event's strings point into buf. A JSON event's strings point
 * into its parsed document, which the decoder keeps for ev: it lives until the next
 * event_decode() into the same struct event, or event_decoder_release(); copies of *ev
 * stay valid as long. So a batch (batch.c), which decodes each message into a slot of
 * its own and reuses the slot only after batch_clear(), keeps every event of the batch
 * valid, as it keeps the msgpack payloads. */
int event_decode(struct event_decoder *d, const void *buf, size_t len, struct event *ev,
		 char *err, size_t errlen);

/* The encoder owns one growable buffer reused for every event. */
struct event_encoder {
	msgpack_sbuffer sbuf;
	msgpack_packer pk;
};

void event_encoder_init(struct event_encoder *e);
void event_encoder_release(struct event_encoder *e);

/* Encodes ev as msgpack; *out points into the encoder's buffer, valid until the next
 * encode. */
void event_encode(struct event_encoder *e, const struct event *ev, const void **out, size_t *outlen);

/* Encodes ev as a JSON object, the original ping-pong's encoding: {"user":..,
 * "email":.., "activity":.., "message":.., "ts":..}, compact, UTF-8 as it is. *out as
 * for event_encode. Returns 0, or -1 when the text would pass EVENT_MAX_SIZE (escapes
 * make JSON longer than msgpack: a message of control characters, say). */
int event_encode_json(struct event_encoder *e, const struct event *ev, const void **out, size_t *outlen,
		      char *err, size_t errlen);

/* Validates the fields of an event built by hand (the same rules as the decoder).
 * Returns 0 or -1 with the reason. */
int event_validate(const struct event *ev, char *err, size_t errlen);

/* "send-message" or "heart-beat". */
const char *event_activity_name(enum event_activity a);

/* Fills ev from a JSON object with the keys user, email, activity, message, ts, by the
 * rules of event_decode (an object's keys are unique already); unknown keys are ignored.
 * The strings point into obj. Returns 0 or -1 with the reason. */
int event_from_json(json_t *obj, struct event *ev, char *err, size_t errlen);

/* Sets the event's fields on obj (user, email if any, activity, message if any, ts). */
void event_to_json(const struct event *ev, json_t *obj);

#endif
