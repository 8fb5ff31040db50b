/* event.h: the chat event, its msgpack wire format and its JSON form. */
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

/* A decoded event. The strings are not NUL-terminated: they point into the buffer they
 * were decoded from (or into the JSON object) and are valid as long as it is. */
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

/* The decoder keeps one msgpack zone that is cleared, not freed, between events, so the
 * hot path does not allocate once warmed up. Pair init with release. */
struct event_decoder {
	msgpack_zone zone;
};

void event_decoder_init(struct event_decoder *d);
void event_decoder_release(struct event_decoder *d);

/* Decodes and validates one event. Returns 0, or -1 with a precise reason in err:
 * "payload too large (70000 bytes, max 65536)", "truncated msgpack", "trailing bytes
 * after event", "not a msgpack map", "missing field 'user'", "field 'ts' is not an
 * integer", "field 'user' is not valid UTF-8", "field 'user' contains a NUL byte", ...
 * The event's strings point into buf. A message may hold NUL bytes; a user or an email
 * may not. */
int event_decode(struct event_decoder *d, const void *buf, size_t len, struct event *ev,
		 char *err, size_t errlen);

/* The encoder owns one growable buffer reused for every event. */
struct event_encoder {
	msgpack_sbuffer sbuf;
	msgpack_packer pk;
};

void event_encoder_init(struct event_encoder *e);
void event_encoder_release(struct event_encoder *e);

/* Encodes ev; *out points into the encoder's buffer, valid until the next encode. */
void event_encode(struct event_encoder *e, const struct event *ev, const void **out, size_t *outlen);

/* Validates the fields of an event built by hand (the same rules as the decoder).
 * Returns 0 or -1 with the reason. */
int event_validate(const struct event *ev, char *err, size_t errlen);

/* "send-message" or "heart-beat". */
const char *event_activity_name(enum event_activity a);

/* Fills ev from a JSON object with the keys user, email, activity, message, ts; unknown
 * keys are ignored. The strings point into obj. Returns 0 or -1 with the reason. */
int event_from_json(json_t *obj, struct event *ev, char *err, size_t errlen);

/* Sets the event's fields on obj (user, email if any, activity, message if any, ts). */
void event_to_json(const struct event *ev, json_t *obj);

#endif
