/* from-line.h: one line of a `produce --from` file: a JSON event, or raw bytes. */
#ifndef PP_FROM_LINE_H
#define PP_FROM_LINE_H

#include <stddef.h>

#include <jansson.h>

#include "event.h"

enum from_line_kind {
	FROM_LINE_BLANK, /* an empty line: skipped */
	FROM_LINE_EVENT, /* a JSON object with the event's keys */
	FROM_LINE_RAW,   /* {"_raw_hex": "..."}: bytes to produce as they are */
};

/* A parsed line. What it points to is owned by the struct and valid until the next
 * parse or the release, so one struct serves a whole file without an allocation per
 * line once its buffer has grown. Pair init with release. */
struct from_line {
	enum from_line_kind kind;
	struct event ev;          /* FROM_LINE_EVENT: its strings point into obj */
	const unsigned char *raw; /* FROM_LINE_RAW: the decoded bytes */
	size_t raw_len;
	json_t *obj;              /* the parsed line */
	unsigned char *buf;       /* room for the raw bytes */
	size_t cap;
};

void from_line_init(struct from_line *l);
void from_line_release(struct from_line *l);

/* Parses line[0..len), which may end with a newline, by the rules of event_validate()
 * (what it accepts, every consumer accepts) or as {"_raw_hex": HEX}, which is how a test
 * puts malformed events on a topic. Returns 0, or -1 with the reason in err: jansson's
 * message for bad JSON, "not a JSON object", "_raw_hex is not a hex string", or the
 * event's own reason ("missing field 'ts'", ...). */
int from_line_parse(struct from_line *l, const char *line, size_t len, char *err,
		    size_t errlen);

#endif
