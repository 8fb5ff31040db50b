/* event.c: the chat event: msgpack encode/decode and validation.
 *
 * An event on the wire is a msgpack map with string keys: user, email (optional),
 * activity, message (required for send-message) and ts. Unknown keys are skipped so that
 * newer producers can add fields. One set of rules, event_validate(), judges every event,
 * whether it was decoded, read from JSON or built by the producer, so that what the
 * producer accepts the consumers accept too.
 *
 * Decoding is zero-copy: msgpack-c's string objects point into the payload, and the
 * struct event keeps those pointers. The decoder's zone holds only the object tree; it is
 * cleared, not freed, per event, and its first chunk is kept, so a warm decoder does not
 * allocate. msgpack-c sizes a container's storage from the count in its header before it
 * has seen the elements, so a six-byte payload could ask for 100 GB. scan_object() walks
 * the bytes first without building anything, and only a payload holding exactly one whole
 * object reaches msgpack_unpack: every element of a whole object takes a byte at least,
 * which bounds the tree by the payload size (24 bytes of objects per payload byte).
 */
#include "config.h"

#include <endian.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

/* msgpack-c fails containers nested deeper than its fixed stack (MSGPACK_EMBED_STACK_SIZE,
 * 32, in a header it does not include for us) with NOMEM; we refuse them ourselves first,
 * to name the reason. check_event pins the two limits together. */
#define EVENT_MAX_DEPTH 32

enum event_field {
	FIELD_USER,
	FIELD_EMAIL,
	FIELD_ACTIVITY,
	FIELD_MESSAGE,
	FIELD_TS,
	FIELD_COUNT,
};

static const char *const field_names[FIELD_COUNT] = {
	"user", "email", "activity", "message", "ts",
};

static const char *const activity_names[] = {
	[EVENT_SEND_MESSAGE] = "send-message",
	[EVENT_HEART_BEAT] = "heart-beat",
};

const char *event_activity_name(enum event_activity a)
{
	/* "unknown" rather than NULL, so that a log line about a bad event cannot crash. */
	if (a != EVENT_SEND_MESSAGE && a != EVENT_HEART_BEAT)
		return "unknown";
	return activity_names[a];
}

/* Returns 0 and sets *a if s[0..len) names an activity, else -1. */
static int activity_parse(const char *s, size_t len, enum event_activity *a)
{
	static const enum event_activity all[] = { EVENT_SEND_MESSAGE, EVENT_HEART_BEAT };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const char *name = activity_names[all[i]];
		if (strlen(name) == len && memcmp(name, s, len) == 0) {
			*a = all[i];
			return 0;
		}
	}
	return -1;
}

/* Copies s[0..len) into out for an error message: the bytes come from the network, so
 * anything but printable ASCII is escaped and a long value is cut short. */
static void quote_bytes(char *out, size_t outlen, const char *s, size_t len)
{
	size_t i, o = 0, shown = len > 32 ? 32 : len;

	for (i = 0; i < shown && o + 5 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
			out[o++] = (char)c;
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			hex_encode(&c, 1, out + o);
			o += 2;
		}
	}
	if (i < len && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* The size of a msgpack str header for n bytes, as msgpack_pack_str writes it. */
static size_t str_header_size(size_t n)
{
	if (n < 32)
		return 1;
	if (n < 256)
		return 2;
	if (n < 65536)
		return 3;
	return 5;
}

/* The size of ts (> 0) as msgpack_pack_int64 writes it: the smallest unsigned form. */
static size_t uint_size(uint64_t v)
{
	if (v < 128)
		return 1;
	if (v < 256)
		return 2;
	if (v < 65536)
		return 3;
	if (v <= UINT32_MAX)
		return 5;
	return 9;
}

static size_t str_size(size_t len)
{
	return str_header_size(len) + len;
}

/* The exact size of event_encode's output. The caller has bounded every length by
 * EVENT_MAX_SIZE, so the sum cannot overflow. */
static size_t encoded_size(const struct event *ev)
{
	const char *act = event_activity_name(ev->activity);
	size_t n = 1; /* the fixmap header: at most five entries */

	n += str_size(strlen("user")) + str_size(ev->user_len);
	if (ev->email)
		n += str_size(strlen("email")) + str_size(ev->email_len);
	n += str_size(strlen("activity")) + str_size(strlen(act));
	if (ev->message)
		n += str_size(strlen("message")) + str_size(ev->message_len);
	n += str_size(strlen("ts")) + uint_size((uint64_t)ev->ts);
	return n;
}

/* Checks a string field's length (max 0: no limit of its own), then its UTF-8. A user
 * name or an email (the fields with a max) may not hold a NUL either, though UTF-8 allows
 * U+0000: they become store keys and records that `store check` requires without one,
 * and C strings downstream (the active report's NUL-separated names, notify's sender). */
static int check_string(enum event_field f, const char *s, size_t len, size_t max, char *err,
			size_t errlen)
{
	if (max && len > max)
		return set_err(-1, err, errlen, "field '%s' is too long (%zu bytes, max %zu)",
			       field_names[f], len, max);
	if (!utf8_valid(s, len))
		return set_err(-1, err, errlen, "field '%s' is not valid UTF-8", field_names[f]);
	if (max && memchr(s, '\0', len))
		return set_err(-1, err, errlen, "field '%s' contains a NUL byte", field_names[f]);
	return 0;
}

int event_validate(const struct event *ev, char *err, size_t errlen)
{
	size_t size;

	if (!ev->user)
		return set_err(-1, err, errlen, "missing field 'user'");
	if (ev->user_len == 0)
		return set_err(-1, err, errlen, "field 'user' is empty");
	if (check_string(FIELD_USER, ev->user, ev->user_len, EVENT_USER_MAX, err, errlen) < 0)
		return -1;
	if (ev->email &&
	    check_string(FIELD_EMAIL, ev->email, ev->email_len, EVENT_USER_MAX, err, errlen) < 0)
		return -1;
	if (ev->activity != EVENT_SEND_MESSAGE && ev->activity != EVENT_HEART_BEAT)
		return set_err(-1, err, errlen, "unknown activity (%d)", (int)ev->activity);
	if (ev->activity == EVENT_SEND_MESSAGE && !ev->message)
		return set_err(-1, err, errlen,
			       "missing field 'message' (required for send-message)");
	/* A heart-beat's message is ignored but still has to be sound UTF-8: whoever reads
	 * the raw event may print it. The size check below bounds its length. */
	if (ev->message && ev->message_len > EVENT_MAX_SIZE)
		return set_err(-1, err, errlen, "event too large (message of %zu bytes, max %d)",
			       ev->message_len, EVENT_MAX_SIZE);
	if (ev->message && check_string(FIELD_MESSAGE, ev->message, ev->message_len, 0, err,
					 errlen) < 0)
		return -1;
	if (ev->ts <= 0)
		return set_err(-1, err, errlen, "field 'ts' must be positive (got %" PRId64 ")",
			       ev->ts);
	/* What the producer accepts must fit through the decoder's size limit. */
	size = encoded_size(ev);
	if (size > EVENT_MAX_SIZE)
		return set_err(-1, err, errlen, "event too large (%zu bytes encoded, max %d)", size,
			       EVENT_MAX_SIZE);
	return 0;
}

void event_decoder_init(struct event_decoder *d)
{
	/* Out of memory: abort, as xmalloc does, so that callers need no check. */
	if (!msgpack_zone_init(&d->zone, MSGPACK_ZONE_CHUNK_SIZE))
		abort();
}

void event_decoder_release(struct event_decoder *d)
{
	msgpack_zone_destroy(&d->zone);
}

/* A length or count of a msgpack header: n = 1, 2 or 4 bytes, big-endian; 0 for none. */
static uint64_t load_be(const unsigned char *p, size_t n)
{
	uint16_t v16;
	uint32_t v32;

	switch (n) {
	case 0:
		return 0;
	case 1:
		return p[0];
	case 2:
		memcpy(&v16, p, 2);
		return be16toh(v16);
	default:
		memcpy(&v32, p, 4);
		return be32toh(v32);
	}
}

/* Walks the msgpack object in p[0..len) without building it, and fails unless the
 * payload is exactly one whole object: "truncated msgpack", "trailing bytes after event",
 * "malformed msgpack" on the one byte that is never valid (0xc1), or nesting deeper than
 * EVENT_MAX_DEPTH. Each step consumes a byte at least, so the walk is bounded by len
 * whatever the headers claim. */
static int scan_object(const unsigned char *p, size_t len, char *err, size_t errlen)
{
	uint64_t open[EVENT_MAX_DEPTH]; /* slots not yet started in each open container */
	uint64_t owed = 1;		/* elements not yet started, the root included */
	int depth = 0;
	size_t off = 0;

	while (owed > 0) {
		unsigned char b;
		size_t lenbytes = 0;	/* bytes of the length or count after b */
		uint64_t body = 0;	/* bytes of payload after those */
		uint64_t slots = 0;	/* elements a container holds */
		bool container = false;

		if (off >= len)
			goto truncated;
		b = p[off++];
		owed--;
		if (depth > 0)
			open[depth - 1]--;

		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
			/* fixint, nil, bool */
		} else if (b <= 0x8f) {
			container = true;
			slots = 2 * (uint64_t)(b & 0x0f);
		} else if (b <= 0x9f) {
			container = true;
			slots = b & 0x0f;
		} else if (b <= 0xbf) {
			body = b & 0x1f;
		} else {
			switch (b) {
			case 0xc4: case 0xd9: lenbytes = 1; break;	/* bin8, str8 */
			case 0xc5: case 0xda: lenbytes = 2; break;	/* bin16, str16 */
			case 0xc6: case 0xdb: lenbytes = 4; break;	/* bin32, str32 */
			case 0xc7: lenbytes = 1; body = 1; break;	/* ext8 and its type */
			case 0xc8: lenbytes = 2; body = 1; break;
			case 0xc9: lenbytes = 4; body = 1; break;
			case 0xca: body = 4; break;			/* float32 */
			case 0xcb: body = 8; break;			/* float64 */
			case 0xcc: case 0xd0: body = 1; break;	/* (u)int8 */
			case 0xcd: case 0xd1: body = 2; break;
			case 0xce: case 0xd2: body = 4; break;
			case 0xcf: case 0xd3: body = 8; break;
			case 0xd4: body = 2; break;			/* fixext: type + data */
			case 0xd5: body = 3; break;
			case 0xd6: body = 5; break;
			case 0xd7: body = 9; break;
			case 0xd8: body = 17; break;
			case 0xdc: case 0xde: lenbytes = 2; container = true; break;
			case 0xdd: case 0xdf: lenbytes = 4; container = true; break;
			default:
				return set_err(-1, err, errlen, "malformed msgpack");
			}
			if (len - off < lenbytes)
				goto truncated;
			if (container)
				slots = load_be(p + off, lenbytes) * (b >= 0xde ? 2 : 1);
			else
				body += load_be(p + off, lenbytes);
			off += lenbytes;
		}

		if (body > len - off)
			goto truncated;
		off += (size_t)body;
		if (container) {
			/* msgpack-c checks its stack before it looks at the count, so an empty
			 * container counts against the depth as well. */
			if (depth == EVENT_MAX_DEPTH)
				return set_err(-1, err, errlen, "msgpack nesting too deep (max %d)",
					       EVENT_MAX_DEPTH);
			if (slots > 0) {
				owed += slots;
				open[depth++] = slots;
			}
		}
		/* Close the containers whose last element has just been read whole. */
		while (depth > 0 && open[depth - 1] == 0)
			depth--;
	}
	if (off < len)
		return set_err(-1, err, errlen, "trailing bytes after event (%zu bytes)",
			       len - off);
	return 0;

truncated:
	return set_err(-1, err, errlen, "truncated msgpack");
}

/* Sets *s and *len from a string field, or fails naming the field. */
static int get_string(const msgpack_object *o, enum event_field f, const char **s, size_t *len,
		      char *err, size_t errlen)
{
	if (o->type != MSGPACK_OBJECT_STR)
		return set_err(-1, err, errlen, "field '%s' is not a string", field_names[f]);
	/* NULL means absent, so an empty string must not rely on msgpack-c giving it a
	 * pointer. */
	*s = o->via.str.size ? o->via.str.ptr : "";
	*len = o->via.str.size;
	return 0;
}

/* Fills ev from the decoded map; the value rules are left to event_validate. */
static int from_map(const msgpack_object_map *map, struct event *ev, char *err, size_t errlen)
{
	const msgpack_object *val[FIELD_COUNT] = { NULL };
	const char *act = NULL;
	size_t act_len = 0;
	uint32_t i;
	int f;

	for (i = 0; i < map->size; i++) {
		const msgpack_object *k = &map->ptr[i].key;

		if (k->type != MSGPACK_OBJECT_STR)
			return set_err(-1, err, errlen, "map key is not a string");
		for (f = 0; f < FIELD_COUNT; f++)
			if (strlen(field_names[f]) == k->via.str.size &&
			    memcmp(field_names[f], k->via.str.ptr, k->via.str.size) == 0)
				break;
		if (f == FIELD_COUNT)
			continue;
		if (val[f])
			return set_err(-1, err, errlen, "duplicate field '%s'", field_names[f]);
		val[f] = &map->ptr[i].val;
	}

	if (!val[FIELD_USER])
		return set_err(-1, err, errlen, "missing field 'user'");
	if (get_string(val[FIELD_USER], FIELD_USER, &ev->user, &ev->user_len, err, errlen) < 0)
		return -1;
	if (val[FIELD_EMAIL] &&
	    get_string(val[FIELD_EMAIL], FIELD_EMAIL, &ev->email, &ev->email_len, err, errlen) < 0)
		return -1;
	if (!val[FIELD_ACTIVITY])
		return set_err(-1, err, errlen, "missing field 'activity'");
	if (get_string(val[FIELD_ACTIVITY], FIELD_ACTIVITY, &act, &act_len, err, errlen) < 0)
		return -1;
	if (activity_parse(act, act_len, &ev->activity) < 0) {
		char q[160];
		quote_bytes(q, sizeof(q), act, act_len);
		return set_err(-1, err, errlen, "unknown activity '%s'", q);
	}
	if (val[FIELD_MESSAGE] && get_string(val[FIELD_MESSAGE], FIELD_MESSAGE, &ev->message,
					     &ev->message_len, err, errlen) < 0)
		return -1;
	if (!val[FIELD_TS])
		return set_err(-1, err, errlen, "missing field 'ts'");
	switch (val[FIELD_TS]->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (val[FIELD_TS]->via.u64 > INT64_MAX)
			return set_err(-1, err, errlen, "field 'ts' is out of range (%" PRIu64 ")",
				       val[FIELD_TS]->via.u64);
		ev->ts = (int64_t)val[FIELD_TS]->via.u64;
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		ev->ts = val[FIELD_TS]->via.i64; /* event_validate names the sign */
		break;
	default:
		return set_err(-1, err, errlen, "field 'ts' is not an integer");
	}
	return 0;
}

int event_decode(struct event_decoder *d, const void *buf, size_t len, struct event *ev,
		 char *err, size_t errlen)
{
	struct event tmp = { 0 };
	msgpack_object obj;
	size_t off = 0;

	if (len > EVENT_MAX_SIZE)
		return set_err(-1, err, errlen, "payload too large (%zu bytes, max %d)", len,
			       EVENT_MAX_SIZE);
	if (len == 0)
		return set_err(-1, err, errlen, "empty payload");
	msgpack_zone_clear(&d->zone);
	if (scan_object(buf, len, err, errlen) < 0)
		return -1;

	switch (msgpack_unpack(buf, len, &off, &d->zone, &obj)) {
	case MSGPACK_UNPACK_SUCCESS:
		break;
	/* scan_object has ruled these out; they stay named in case the two ever disagree. */
	case MSGPACK_UNPACK_EXTRA_BYTES:
		return set_err(-1, err, errlen, "trailing bytes after event (%zu bytes)",
			       len - off);
	case MSGPACK_UNPACK_CONTINUE:
		return set_err(-1, err, errlen, "truncated msgpack");
	case MSGPACK_UNPACK_NOMEM_ERROR:
		return set_err(-1, err, errlen, "msgpack_unpack: out of memory");
	case MSGPACK_UNPACK_PARSE_ERROR:
	default:
		return set_err(-1, err, errlen, "malformed msgpack");
	}
	if (obj.type != MSGPACK_OBJECT_MAP)
		return set_err(-1, err, errlen, "not a msgpack map");
	if (from_map(&obj.via.map, &tmp, err, errlen) < 0 || event_validate(&tmp, err, errlen) < 0)
		return -1;
	*ev = tmp;
	return 0;
}

/* The packer's writer: msgpack_sbuffer_write, but out of memory aborts like xrealloc,
 * because event_encode has no way to report it. */
static int encoder_write(void *data, const char *buf, size_t len)
{
	msgpack_sbuffer *sb = data;

	if (sb->alloc - sb->size < len) {
		size_t n = sb->alloc ? sb->alloc : MSGPACK_SBUFFER_INIT_SIZE;
		while (n - sb->size < len)
			n = n <= SIZE_MAX / 2 ? n * 2 : sb->size + len;
		sb->data = xrealloc(sb->data, n);
		sb->alloc = n;
	}
	memcpy(sb->data + sb->size, buf, len);
	sb->size += len;
	return 0;
}

void event_encoder_init(struct event_encoder *e)
{
	msgpack_sbuffer_init(&e->sbuf);
	msgpack_packer_init(&e->pk, &e->sbuf, encoder_write);
}

void event_encoder_release(struct event_encoder *e)
{
	msgpack_sbuffer_destroy(&e->sbuf);
}

static void pack_string(msgpack_packer *pk, const char *s, size_t len)
{
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

static void pack_field(msgpack_packer *pk, enum event_field f, const char *s, size_t len)
{
	pack_string(pk, field_names[f], strlen(field_names[f]));
	pack_string(pk, s, len);
}

void event_encode(struct event_encoder *e, const struct event *ev, const void **out, size_t *outlen)
{
	const char *act = event_activity_name(ev->activity);

	e->sbuf.size = 0;
	msgpack_pack_map(&e->pk, 3 + (ev->email != NULL) + (ev->message != NULL));
	pack_field(&e->pk, FIELD_USER, ev->user, ev->user_len);
	if (ev->email)
		pack_field(&e->pk, FIELD_EMAIL, ev->email, ev->email_len);
	pack_field(&e->pk, FIELD_ACTIVITY, act, strlen(act));
	if (ev->message)
		pack_field(&e->pk, FIELD_MESSAGE, ev->message, ev->message_len);
	pack_string(&e->pk, field_names[FIELD_TS], strlen(field_names[FIELD_TS]));
	msgpack_pack_int64(&e->pk, ev->ts);
	*out = e->sbuf.data;
	*outlen = e->sbuf.size;
}

/* Sets *s and *len from an optional JSON string member; absent leaves them alone. */
static int json_get_string(json_t *obj, enum event_field f, const char **s, size_t *len,
			   char *err, size_t errlen)
{
	json_t *v = json_object_get(obj, field_names[f]);

	if (!v)
		return 0;
	if (!json_is_string(v))
		return set_err(-1, err, errlen, "field '%s' is not a string", field_names[f]);
	*s = json_string_value(v);
	*len = json_string_length(v);
	return 0;
}

int event_from_json(json_t *obj, struct event *ev, char *err, size_t errlen)
{
	struct event tmp = { 0 };
	const char *act = NULL;
	size_t act_len = 0;
	json_t *ts;

	if (!json_is_object(obj))
		return set_err(-1, err, errlen, "not a JSON object");
	if (json_get_string(obj, FIELD_USER, &tmp.user, &tmp.user_len, err, errlen) < 0 ||
	    json_get_string(obj, FIELD_EMAIL, &tmp.email, &tmp.email_len, err, errlen) < 0 ||
	    json_get_string(obj, FIELD_ACTIVITY, &act, &act_len, err, errlen) < 0 ||
	    json_get_string(obj, FIELD_MESSAGE, &tmp.message, &tmp.message_len, err, errlen) < 0)
		return -1;
	if (!tmp.user)
		return set_err(-1, err, errlen, "missing field 'user'");
	if (!act)
		return set_err(-1, err, errlen, "missing field 'activity'");
	if (activity_parse(act, act_len, &tmp.activity) < 0) {
		char q[160];
		quote_bytes(q, sizeof(q), act, act_len);
		return set_err(-1, err, errlen, "unknown activity '%s'", q);
	}
	ts = json_object_get(obj, "ts");
	if (!ts)
		return set_err(-1, err, errlen, "missing field 'ts'");
	if (!json_is_integer(ts))
		return set_err(-1, err, errlen, "field 'ts' is not an integer");
	tmp.ts = json_integer_value(ts);
	if (event_validate(&tmp, err, errlen) < 0)
		return -1;
	*ev = tmp;
	return 0;
}

void event_to_json(const struct event *ev, json_t *obj)
{
	const char *act = event_activity_name(ev->activity);

	json_object_set_new(obj, "user", json_stringn(ev->user, ev->user_len));
	/* Deleting an absent field keeps a reused object from showing the last event's. */
	if (ev->email)
		json_object_set_new(obj, "email", json_stringn(ev->email, ev->email_len));
	else
		json_object_del(obj, "email");
	json_object_set_new(obj, "activity", json_stringn(act, strlen(act)));
	if (ev->message)
		json_object_set_new(obj, "message", json_stringn(ev->message, ev->message_len));
	else
		json_object_del(obj, "message");
	json_object_set_new(obj, "ts", json_integer(ev->ts));
}
