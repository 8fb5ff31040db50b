/* event.c: the chat event: msgpack and JSON encode/decode, and validation.
 *
 * An event on the wire is a msgpack map with string keys: user, email (optional),
 * activity, message (required for send-message) and ts; or, as the original ping-pong
 * wrote it, a JSON object with the same keys: a payload that starts with '{' is JSON.
 * Unknown keys are skipped so that newer producers can add fields. Both decoders reduce
 * the payload to the same field values, and one function, fields_to_event(), turns them
 * into an event in one order of checks; one set of rules, event_validate(), then judges
 * every event, whether it was decoded, read from a --from line or built by the producer,
 * so that what the producer accepts the consumers accept too, with the same reasons.
 *
 * A msgpack event is decoded in one walk over its bytes, without an object tree:
 * walk_msgpack() reads each header (the root map's short strings and integers in a
 * straight line, the rest in a general step), checks that the payload is exactly one whole
 * object, and hands the root map's keys and values to root_element(), which keeps the
 * five fields' values; the strings point into the payload (zero-copy) and nothing is
 * allocated. msgpack-c is the encoder only. Its unpacker (msgpack_unpack, and the
 * streaming msgpack_unpacker) sizes a container's storage from the count in its header
 * before it has seen the elements, with no limit in its C API, so that a six-byte payload
 * could ask for 100 GB; a walk that consumes a byte at least per element is bounded by the
 * payload instead. The walk takes msgpack-c's view of the types (bin is not a string,
 * every integer format is an integer) and of the depth, and gives the reasons in the order
 * of the bytes: a payload that is not one whole object is refused as such before the
 * defects of its map are named. tests/check_event.c holds it to msgpack-c's reading.
 *
 * JSON goes through jansson, which copies the strings into its document: the decoder
 * keeps each JSON event's document until the struct event it was decoded into is
 * decoded into again (see event.h), so that a batch of events stays valid as a batch of
 * msgpack payloads does. The msgpack path never looks at that table: its cost is the
 * one byte that tells the encodings apart.
 */
#include "config.h"

#include <endian.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "util.h"

/* The deepest nesting accepted: msgpack-c's unpacker's fixed stack (MSGPACK_EMBED_STACK_SIZE,
 * 32), which this decoder replaced, so that what was accepted still is, with its reason. */
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

/* The names with their lengths, which the decoder compares on every event. */
#define NAMED(s) { s, sizeof(s) - 1 }
static const struct activity_name {
	const char *name;
	size_t len;
} activity_names[] = {
	[EVENT_SEND_MESSAGE] = NAMED("send-message"),
	[EVENT_HEART_BEAT] = NAMED("heart-beat"),
};
#undef NAMED

const char *event_activity_name(enum event_activity a)
{
	/* "unknown" rather than NULL, so that a log line about a bad event cannot crash. */
	if (a != EVENT_SEND_MESSAGE && a != EVENT_HEART_BEAT)
		return "unknown";
	return activity_names[a].name;
}

/* Returns 0 and sets *a if s[0..len) names an activity, else -1. */
static int activity_parse(const char *s, size_t len, enum event_activity *a)
{
	static const enum event_activity all[] = { EVENT_SEND_MESSAGE, EVENT_HEART_BEAT };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const struct activity_name *n = &activity_names[all[i]];
		if (n->len == len && memcmp(n->name, s, len) == 0) {
			*a = all[i];
			return 0;
		}
	}
	return -1;
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
	size_t n = 1; /* the fixmap header: at most five entries */

	n += str_size(strlen("user")) + str_size(ev->user_len);
	if (ev->email)
		n += str_size(strlen("email")) + str_size(ev->email_len);
	/* event_validate has ruled out an unknown activity by now. */
	n += str_size(strlen("activity")) + str_size(activity_names[ev->activity].len);
	if (ev->message)
		n += str_size(strlen("message")) + str_size(ev->message_len);
	n += str_size(strlen("ts")) + uint_size((uint64_t)ev->ts);
	return n;
}

/* The high bit of every byte of w that is zero; 0 when none is (the exact test: a
 * borrow only starts at a zero byte, and bytes with the high bit set are flagged by w's
 * own high bits anyway, which the callers test too). */
static inline uint64_t zero_bytes64(uint64_t w)
{
	return (w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL;
}

static inline uint32_t zero_bytes32(uint32_t w)
{
	return (w - 0x01010101U) & ~w & 0x80808080U;
}

/* Whether s[0..len) is plain ASCII, and has no NUL when no_nul: the usual string, which
 * is then valid UTF-8 without a NUL, found without utf8_valid()'s walk and a memchr().
 * Whole words, the last one overlapping the one before (a string of 4 to 7 bytes: two
 * overlapping 4-byte words); a string it does not pass (and any shorter than 4 bytes)
 * goes the full way. The checks of every field's strings were 6 % of active's
 * throughput on two cores (bench/README.md). */
static int plain_ascii(const char *s, size_t len, int no_nul)
{
	uint64_t w, bad = 0;
	uint32_t v, u;
	size_t i;

	if (len >= 8) {
		for (i = 0; i + 8 < len; i += 8) {
			memcpy(&w, s + i, 8);
			bad |= w | (no_nul ? zero_bytes64(w) : 0);
		}
		memcpy(&w, s + len - 8, 8);
		bad |= w | (no_nul ? zero_bytes64(w) : 0);
		return !(bad & 0x8080808080808080ULL);
	}
	if (len >= 4) {
		memcpy(&v, s, 4);
		memcpy(&u, s + len - 4, 4);
		v |= u | (no_nul ? zero_bytes32(v) | zero_bytes32(u) : 0);
		return !(v & 0x80808080U);
	}
	return 0;
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
	if (plain_ascii(s, len, max != 0))
		return 0;
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

/* The documents JSON events' strings point into, by the struct event each was decoded
 * into: an open-addressed table, which holds one document per struct event, so that a
 * batch's decoder keeps at most a batch of them. */
struct event_json_hold {
	const struct event *ev;
	json_t *doc;
};

void event_decoder_init(struct event_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

void event_decoder_release(struct event_decoder *d)
{
	size_t i;

	for (i = 0; i < d->capheld; i++)
		if (d->held[i].ev)
			json_decref(d->held[i].doc);
	free(d->held);
	d->held = NULL;
	d->nheld = d->capheld = 0;
}

/* A big-endian number of n = 0, 1, 2, 4 or 8 bytes: a header's length or count, or an
 * integer's body. */
static uint64_t load_be(const unsigned char *p, size_t n)
{
	uint16_t v16;
	uint32_t v32;
	uint64_t v64;

	switch (n) {
	case 0:
		return 0;
	case 1:
		return p[0];
	case 2:
		memcpy(&v16, p, 2);
		return be16toh(v16);
	case 4:
		memcpy(&v32, p, 4);
		return be32toh(v32);
	default:
		memcpy(&v64, p, 8);
		return be64toh(v64);
	}
}

/* What the msgpack header byte b says of what follows it: lenbytes of a big-endian
 * length or count, then body bytes; for a container, that it is one, and the elements a
 * fix header holds (*slots; a map's pairs count twice). Returns 0, or -1 for 0xc1, the
 * one byte that is never valid. */
static int header_of(unsigned char b, size_t *lenbytes, uint64_t *body, uint64_t *slots, bool *container)
{
	if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
		return 0; /* fixint, nil, bool */
	if (b <= 0x8f) {
		*container = true;
		*slots = 2 * (uint64_t)(b & 0x0f);
		return 0;
	}
	if (b <= 0x9f) {
		*container = true;
		*slots = b & 0x0f;
		return 0;
	}
	if (b <= 0xbf) {
		*body = b & 0x1f;
		return 0;
	}
	switch (b) {
	case 0xc4: case 0xd9: *lenbytes = 1; break;	/* bin8, str8 */
	case 0xc5: case 0xda: *lenbytes = 2; break;	/* bin16, str16 */
	case 0xc6: case 0xdb: *lenbytes = 4; break;	/* bin32, str32 */
	case 0xc7: *lenbytes = 1; *body = 1; break;	/* ext8 and its type */
	case 0xc8: *lenbytes = 2; *body = 1; break;
	case 0xc9: *lenbytes = 4; *body = 1; break;
	case 0xca: *body = 4; break;			/* float32 */
	case 0xcb: *body = 8; break;			/* float64 */
	case 0xcc: case 0xd0: *body = 1; break;		/* (u)int8 */
	case 0xcd: case 0xd1: *body = 2; break;
	case 0xce: case 0xd2: *body = 4; break;
	case 0xcf: case 0xd3: *body = 8; break;
	case 0xd4: *body = 2; break;			/* fixext: type + data */
	case 0xd5: *body = 3; break;
	case 0xd6: *body = 5; break;
	case 0xd7: *body = 9; break;
	case 0xd8: *body = 17; break;
	case 0xdc: case 0xde: *lenbytes = 2; *container = true; break;
	case 0xdd: case 0xdf: *lenbytes = 4; *container = true; break;
	default:
		return -1;
	}
	return 0;
}

/* A field's value as a decoder found it, msgpack or JSON, before the rules judge it. */
struct field_value {
	enum { V_ABSENT, V_STR, V_INT, V_INT_TOO_BIG, V_OTHER } type;
	const char *s;  /* V_STR: not NUL-terminated */
	size_t len;
	int64_t i;      /* V_INT */
	uint64_t u;     /* V_INT_TOO_BIG: a msgpack uint above INT64_MAX */
};

/* Fills ev from the fields' values, in one order for both encodings, so that an event
 * with several defects gets the same reason either way. The value rules are left to
 * event_validate. */
static int fields_to_event(const struct field_value v[FIELD_COUNT], struct event *ev, char *err, size_t errlen)
{
	static const int strings[] = { FIELD_USER, FIELD_EMAIL, FIELD_ACTIVITY, FIELD_MESSAGE };
	size_t i;

	for (i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
		int f = strings[i];
		if (v[f].type == V_ABSENT && f != FIELD_EMAIL && f != FIELD_MESSAGE)
			return set_err(-1, err, errlen, "missing field '%s'", field_names[f]);
		if (v[f].type != V_ABSENT && v[f].type != V_STR)
			return set_err(-1, err, errlen, "field '%s' is not a string", field_names[f]);
		if (f == FIELD_ACTIVITY && activity_parse(v[f].s, v[f].len, &ev->activity) < 0) {
			char q[160];
			quote_bytes(q, sizeof(q), v[f].s, v[f].len, 32);
			return set_err(-1, err, errlen, "unknown activity '%s'", q);
		}
	}
	ev->user = v[FIELD_USER].s;
	ev->user_len = v[FIELD_USER].len;
	ev->email = v[FIELD_EMAIL].type == V_STR ? v[FIELD_EMAIL].s : NULL;
	ev->email_len = v[FIELD_EMAIL].len;
	ev->message = v[FIELD_MESSAGE].type == V_STR ? v[FIELD_MESSAGE].s : NULL;
	ev->message_len = v[FIELD_MESSAGE].len;
	switch (v[FIELD_TS].type) {
	case V_ABSENT:
		return set_err(-1, err, errlen, "missing field 'ts'");
	case V_INT:
		ev->ts = v[FIELD_TS].i; /* event_validate names a sign */
		return 0;
	case V_INT_TOO_BIG:
		return set_err(-1, err, errlen, "field 'ts' is out of range (%" PRIu64 ")", v[FIELD_TS].u);
	default:
		return set_err(-1, err, errlen, "field 'ts' is not an integer");
	}
}

/* The field a key names, or FIELD_COUNT. The five names differ in length: the length
 * picks the one candidate, and a memcmp of a constant size, which the compiler inlines,
 * decides. */
static int field_of(const char *s, size_t n)
{
	switch (n) {
	case 2:
		return memcmp(s, "ts", 2) == 0 ? FIELD_TS : FIELD_COUNT;
	case 4:
		return memcmp(s, "user", 4) == 0 ? FIELD_USER : FIELD_COUNT;
	case 5:
		return memcmp(s, "email", 5) == 0 ? FIELD_EMAIL : FIELD_COUNT;
	case 7:
		return memcmp(s, "message", 7) == 0 ? FIELD_MESSAGE : FIELD_COUNT;
	case 8:
		return memcmp(s, "activity", 8) == 0 ? FIELD_ACTIVITY : FIELD_COUNT;
	default:
		return FIELD_COUNT;
	}
}

static bool is_str_header(unsigned char b)
{
	return (b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb);
}

/* The msgpack value whose header byte is b, as a field's value: q[0..n) is what follows
 * its length bytes, a string's bytes or an integer's big-endian body. The types are
 * msgpack-c's: bin is not a string, and an integer of any format is an integer. */
static void field_value_of(unsigned char b, const unsigned char *q, uint64_t n, struct field_value *v)
{
	uint64_t u;

	v->type = V_INT;
	if (is_str_header(b)) {
		v->type = V_STR;
		/* NULL means absent: an empty string needs a pointer all the same. */
		v->s = n ? (const char *)q : "";
		v->len = (size_t)n;
	} else if (b <= 0x7f || b >= 0xe0) {
		v->i = (int8_t)b; /* positive and negative fixint */
	} else if (b >= 0xcc && b <= 0xcf) {
		u = load_be(q, (size_t)n);
		if (u > INT64_MAX)
			v->type = V_INT_TOO_BIG;
		v->i = (int64_t)u;
		v->u = u;
	} else if (b >= 0xd0 && b <= 0xd3) {
		u = load_be(q, (size_t)n);
		v->i = n == 1 ? (int8_t)u : n == 2 ? (int16_t)u : n == 4 ? (int32_t)u : (int64_t)u;
	} else {
		v->type = V_OTHER;
	}
}

/* The root map's fields, as the walk meets its elements. Its defects are kept for the
 * end, because a payload that is not one whole object is refused as such first. */
struct root_map {
	bool is_map;
	struct field_value v[FIELD_COUNT];
	uint64_t started;	/* elements begun: keys at even counts, values at odd ones */
	int key;		/* the field the last key named; FIELD_COUNT to skip its value */
	enum { MAP_SOUND, MAP_KEY_NOT_STRING, MAP_DUPLICATE } defect; /* the first one */
	int dup;		/* the field of MAP_DUPLICATE */
};

/* One element of the root map, its header byte b, q[0..n) as for field_value_of. A key
 * must be a string, a field may appear once and unknown keys are skipped; only the first
 * defect counts, as when the map is read pair by pair. */
static inline void root_element(struct root_map *m, unsigned char b, const unsigned char *q, uint64_t n)
{
	if (m->started++ % 2) {
		if (m->key < FIELD_COUNT)
			field_value_of(b, q, n, &m->v[m->key]);
		return;
	}
	m->key = FIELD_COUNT;
	if (m->defect != MAP_SOUND)
		return;
	if (!is_str_header(b)) {
		m->defect = MAP_KEY_NOT_STRING;
		return;
	}
	m->key = field_of((const char *)q, (size_t)n);
	if (m->key < FIELD_COUNT && m->v[m->key].type != V_ABSENT) {
		m->defect = MAP_DUPLICATE;
		m->dup = m->key;
		m->key = FIELD_COUNT;
	}
}

/* Walks the msgpack object in p[0..len) once, without building it, and hands the root
 * map's elements to root_element. Fails unless the payload is exactly one whole object:
 * "truncated msgpack", "trailing bytes after event", "malformed msgpack" on the one byte
 * that is never valid (0xc1), or nesting deeper than EVENT_MAX_DEPTH. Each step consumes
 * a byte at least, so the walk is bounded by len whatever the headers claim. */
static int walk_msgpack(const unsigned char *p, size_t len, struct root_map *m, char *err, size_t errlen)
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

		/* The root map's usual elements, keys and values that are short strings or
		 * integers, in a straight line: each read as the general step below would read
		 * it (the same body, nothing opened), without its bookkeeping for containers.
		 * Any other element, or one that runs past the payload, is left to that step,
		 * which reads it again from its first byte and says what is wrong. */
		if (depth == 1 && m->is_map) {
			while (open[0] > 0 && off < len) {
				size_t hdr = 1;

				b = p[off];
				if (b >= 0xa0 && b <= 0xbf) {		/* fixstr */
					body = b & 0x1f;
				} else if (b == 0xd9) {			/* str8 */
					if (len - off < 2)
						break;
					hdr = 2;
					body = p[off + 1];
				} else if (b <= 0x7f || b >= 0xe0) {	/* fixint */
					body = 0;
				} else if (b >= 0xcc && b <= 0xd3) {	/* (u)int 8 to 64 */
					body = (uint64_t)1 << ((b - 0xcc) & 3);
				} else {
					break;
				}
				if (body > len - off - hdr)
					break;
				root_element(m, b, p + off + hdr, body);
				off += hdr + (size_t)body;
				owed--;
				open[0]--;
			}
			body = 0;
			if (open[0] == 0) {
				depth = 0; /* the map is read whole: the loop ends, owing nothing */
				continue;
			}
		}

		if (off >= len)
			goto truncated;
		b = p[off++];
		owed--;
		if (depth > 0)
			open[depth - 1]--;

		if (header_of(b, &lenbytes, &body, &slots, &container) < 0)
			return set_err(-1, err, errlen, "malformed msgpack");
		if (lenbytes) {
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
		if (depth == 0) /* the root, which no container holds */
			m->is_map = b >= 0x80 && (b <= 0x8f || b >= 0xde) && b <= 0xdf;
		else if (depth == 1 && m->is_map)
			root_element(m, b, p + off, body);
		off += (size_t)body;
		if (container) {
			/* msgpack-c checked its stack before it looked at the count, so an empty
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

/* Decodes a msgpack event in one walk over its bytes: the strings point into them. */
static int decode_msgpack(const unsigned char *p, size_t len, struct event *ev, char *err, size_t errlen)
{
	struct event tmp = { 0 };
	struct root_map m;

	memset(&m, 0, sizeof(m));
	if (walk_msgpack(p, len, &m, err, errlen) < 0)
		return -1;
	if (!m.is_map)
		return set_err(-1, err, errlen, "not a msgpack map");
	if (m.defect == MAP_KEY_NOT_STRING)
		return set_err(-1, err, errlen, "map key is not a string");
	if (m.defect == MAP_DUPLICATE)
		return set_err(-1, err, errlen, "duplicate field '%s'", field_names[m.dup]);
	if (fields_to_event(m.v, &tmp, err, errlen) < 0 || event_validate(&tmp, err, errlen) < 0)
		return -1;
	*ev = tmp;
	return 0;
}

/* A JSON member as a field's value. */
static void json_value(json_t *j, struct field_value *v)
{
	if (!j) {
		v->type = V_ABSENT;
	} else if (json_is_string(j)) {
		v->type = V_STR;
		v->s = json_string_value(j);
		v->len = json_string_length(j);
	} else if (json_is_integer(j)) {
		v->type = V_INT;
		v->i = json_integer_value(j);
	} else {
		v->type = V_OTHER;
	}
}

/* Fills ev from a JSON object; its strings point into obj. */
static int from_object(json_t *obj, struct event *ev, char *err, size_t errlen)
{
	struct field_value v[FIELD_COUNT];
	int f;

	memset(v, 0, sizeof(v));
	for (f = 0; f < FIELD_COUNT; f++)
		json_value(json_object_get(obj, field_names[f]), &v[f]);
	return fields_to_event(v, ev, err, errlen);
}

/* ---- JSON payloads ---------------------------------------------------------------- */

/* The field a top-level key of a JSON object names, or FIELD_COUNT for an unknown key.
 * The key is the raw text p[start..end) between its quotes; escaped, it holds escapes
 * ("us\u0065r" is "user"), which jansson undoes. */
static int key_field(const char *p, size_t start, size_t end, int escaped)
{
	const char *s = p + start;
	size_t n = end - start;
	json_t *k = NULL;
	int f;

	if (escaped) {
		k = json_loadb(p + start - 1, n + 2, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
		if (!json_is_string(k)) {
			json_decref(k);
			return FIELD_COUNT;
		}
		s = json_string_value(k);
		n = json_string_length(k);
	}
	for (f = 0; f < FIELD_COUNT; f++)
		if (strlen(field_names[f]) == n && memcmp(field_names[f], s, n) == 0)
			break;
	json_decref(k);
	return f;
}

/* Which known field is the first to appear twice among the top-level keys of the JSON
 * object in p[0..len), which jansson has parsed; -1 if none. jansson only says that some
 * key was repeated, and a key repeated inside an unknown field's value, or an unknown key
 * repeated, is no defect, as in msgpack. So the keys are walked here: strings and
 * nesting only, the text being known to be well formed. Only a payload with a repeated
 * key comes here. */
static int json_duplicate_field(const char *p, size_t len)
{
	int seen[FIELD_COUNT] = { 0 }, depth = 0, escaped, f;
	size_t i = 0, start, end;

	while (i < len) {
		char c = p[i++];

		if (c == '{' || c == '[') {
			depth++;
			continue;
		}
		if (c == '}' || c == ']') {
			depth--;
			continue;
		}
		if (c != '"')
			continue;
		escaped = 0;
		for (start = i; i < len && p[i] != '"'; i++) {
			if (p[i] == '\\') {
				escaped = 1;
				i++; /* the escaped character, which may be a quote */
			}
		}
		end = i++;
		if (depth != 1)
			continue;
		while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
			i++;
		if (i >= len || p[i] != ':')
			continue; /* a value, not a key */
		f = key_field(p, start, end, escaped);
		if (f < FIELD_COUNT && seen[f]++)
			return f;
	}
	return -1;
}

/* jansson's reason for refusing a JSON text, as the event's: "malformed JSON: '}'
 * expected near end of file (at byte 84)". Its text may quote the payload: anything but
 * printable ASCII is escaped, as in quote_bytes. */
static int json_refused(const json_error_t *jerr, char *err, size_t errlen)
{
	char text[2 * JSON_ERROR_TEXT_LENGTH];
	size_t i, o = 0;

	for (i = 0; jerr->text[i] && o + 5 < sizeof(text); i++) {
		unsigned char c = (unsigned char)jerr->text[i];
		if (c >= 0x20 && c < 0x7f) {
			text[o++] = (char)c;
		} else {
			text[o++] = '\\';
			text[o++] = 'x';
			hex_encode(&c, 1, text + o);
			o += 2;
		}
	}
	text[o] = '\0';
	return set_err(-1, err, errlen, "malformed JSON: %s (at byte %d)", text, jerr->position);
}

static size_t hold_slot(const struct event_json_hold *held, size_t cap, const struct event *ev)
{
	size_t i = (size_t)(((uintptr_t)ev >> 3) * 0x9E3779B97F4A7C15ULL) & (cap - 1);

	while (held[i].ev && held[i].ev != ev)
		i = (i + 1) & (cap - 1);
	return i;
}

/* Keeps doc for ev, releasing what ev held before. */
static void hold_doc(struct event_decoder *d, const struct event *ev, json_t *doc)
{
	size_t i;

	if (2 * (d->nheld + 1) > d->capheld) {
		struct event_json_hold *old = d->held;
		size_t oldcap = d->capheld;
		d->capheld = oldcap ? 2 * oldcap : 16;
		d->held = xcalloc(d->capheld, sizeof(*d->held));
		for (i = 0; i < oldcap; i++)
			if (old[i].ev)
				d->held[hold_slot(d->held, d->capheld, old[i].ev)] = old[i];
		free(old);
	}
	i = hold_slot(d->held, d->capheld, ev);
	if (d->held[i].ev)
		json_decref(d->held[i].doc);
	else
		d->nheld++;
	d->held[i].ev = ev;
	d->held[i].doc = doc;
}

/* Decodes a JSON event: the same fields, rules and reasons as msgpack's, the structure
 * judged by jansson ("malformed JSON: ..."). \u0000 is allowed in the text, so that a
 * message may hold a NUL as in msgpack, and a name with one gets the validator's reason. */
static int decode_json(struct event_decoder *d, const void *buf, size_t len, struct event *ev, char *err,
		       size_t errlen)
{
	struct event tmp = { 0 };
	json_error_t jerr;
	json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	int f;

	if (!doc && json_error_code(&jerr) == json_error_duplicate_key) {
		/* Well formed otherwise? Then only a repeated field of the event is a defect. */
		if ((doc = json_loadb(buf, len, JSON_ALLOW_NUL, &jerr)) && (f = json_duplicate_field(buf, len)) >= 0) {
			json_decref(doc);
			return set_err(-1, err, errlen, "duplicate field '%s'", field_names[f]);
		}
	}
	if (!doc)
		return json_refused(&jerr, err, errlen);
	if (from_object(doc, &tmp, err, errlen) < 0 || event_validate(&tmp, err, errlen) < 0) {
		json_decref(doc);
		return -1;
	}
	hold_doc(d, ev, doc);
	*ev = tmp;
	return 0;
}

int event_decode(struct event_decoder *d, const void *buf, size_t len, struct event *ev,
		 char *err, size_t errlen)
{
	if (len > EVENT_MAX_SIZE)
		return set_err(-1, err, errlen, "payload too large (%zu bytes, max %d)", len,
			       EVENT_MAX_SIZE);
	if (len == 0)
		return set_err(-1, err, errlen, "empty payload");
	if (event_is_json(buf, len))
		return decode_json(d, buf, len, ev, err, errlen);
	return decode_msgpack(buf, len, ev, err, errlen);
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

int event_encode_json(struct event_encoder *e, const struct event *ev, const void **out, size_t *outlen,
		      char *err, size_t errlen)
{
	json_t *obj = json_object();
	size_t n;

	/* Room for the largest payload and one byte more, so that one dump tells. */
	if (e->sbuf.alloc < EVENT_MAX_SIZE + 1) {
		e->sbuf.data = xrealloc(e->sbuf.data, EVENT_MAX_SIZE + 1);
		e->sbuf.alloc = EVENT_MAX_SIZE + 1;
	}
	event_to_json(ev, obj);
	n = json_dumpb(obj, e->sbuf.data, e->sbuf.alloc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(obj);
	if (n == 0)
		return set_err(-1, err, errlen, "json_dumpb: cannot encode the event");
	if (n > EVENT_MAX_SIZE)
		return set_err(-1, err, errlen, "event too large as JSON (%zu bytes, max %d)", n, EVENT_MAX_SIZE);
	e->sbuf.size = n;
	*out = e->sbuf.data;
	*outlen = n;
	return 0;
}

int event_from_json(json_t *obj, struct event *ev, char *err, size_t errlen)
{
	struct event tmp = { 0 };

	if (!json_is_object(obj))
		return set_err(-1, err, errlen, "not a JSON object");
	if (from_object(obj, &tmp, err, errlen) < 0 || event_validate(&tmp, err, errlen) < 0)
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
