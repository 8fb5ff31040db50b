/* from-line.c: one line of a `produce --from` file: a JSON event, or raw bytes.
 *
 * The parser stands apart from the command so that the fuzzer (tests/fuzz/) and the
 * command run the same code. It holds no state across lines but its buffers.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "from-line.h"
#include "util.h"

void from_line_init(struct from_line *l)
{
	memset(l, 0, sizeof(*l));
}

void from_line_release(struct from_line *l)
{
	json_decref(l->obj);
	free(l->buf);
	memset(l, 0, sizeof(*l));
}

/* Decodes the hex string into l->buf, growing it. */
static int raw_decode(struct from_line *l, json_t *raw, char *err, size_t errlen)
{
	size_t n;

	if (!json_is_string(raw))
		return set_err(-1, err, errlen, "_raw_hex is not a hex string");
	n = json_string_length(raw) / 2;
	if (n + 1 > l->cap) {
		l->cap = n + 1;
		l->buf = xrealloc(l->buf, l->cap);
	}
	if (hex_decode(json_string_value(raw), json_string_length(raw), l->buf) < 0)
		return set_err(-1, err, errlen, "_raw_hex is not a hex string");
	l->raw = l->buf;
	l->raw_len = n;
	return 0;
}

int from_line_parse(struct from_line *l, const char *line, size_t len, char *err,
		    size_t errlen)
{
	json_error_t jerr;
	json_t *raw;

	json_decref(l->obj);
	l->obj = NULL;
	l->raw = NULL;
	l->raw_len = 0;
	memset(&l->ev, 0, sizeof(l->ev));
	l->kind = FROM_LINE_BLANK;
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return 0;
	/* \u0000 is allowed: a message may hold a NUL, and a name with one gets the
	 * validator's precise reason rather than the JSON parser's. */
	l->obj = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	if (!l->obj)
		return set_err(-1, err, errlen, "%s", jerr.text);
	if (!json_is_object(l->obj))
		return set_err(-1, err, errlen, "not a JSON object");
	raw = json_object_get(l->obj, "_raw_hex");
	if (raw) {
		if (raw_decode(l, raw, err, errlen) < 0)
			return -1;
		l->kind = FROM_LINE_RAW;
		return 0;
	}
	if (event_from_json(l->obj, &l->ev, err, errlen) < 0)
		return -1;
	l->kind = FROM_LINE_EVENT;
	return 0;
}
