/* fuzz-from-line.c: libFuzzer harness for the line parser of `produce --from`
 * (from_line_parse).
 *
 * A line is whatever a user's file holds. The parser must never crash, must give a
 * reason when it refuses, and what it accepts must be what the consumers accept: an
 * event that validates and survives encoding and decoding, or raw bytes whose hex is the
 * line's _raw_hex.
 */
#include "config.h"

#include <ctype.h>
#include <string.h>

#include "event.h"
#include "from-line.h"
#include "fuzz.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Kept across inputs, as produce keeps one for a whole file. */
	static struct from_line fl;
	static struct event_encoder enc;
	static struct event_decoder dec;
	static int ready;
	const void *buf;
	struct event back;
	size_t len, i;
	char err[256];

	if (!ready) {
		from_line_init(&fl);
		event_encoder_init(&enc);
		event_decoder_init(&dec);
		ready = 1;
	}
	err[0] = '\0';
	if (from_line_parse(&fl, (const char *)data, size, err, sizeof(err)) != 0) {
		FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof(err)) != NULL);
		return 0;
	}
	switch (fl.kind) {
	case FROM_LINE_BLANK:
		/* Only an empty line, with its end of line, is blank. */
		FUZZ_CHECK(size <= 2);
		for (i = 0; i < size; i++)
			FUZZ_CHECK(data[i] == '\n' || data[i] == '\r');
		break;
	case FROM_LINE_RAW: {
		const char *hex = json_string_value(json_object_get(fl.obj, "_raw_hex"));
		char *again = malloc(2 * fl.raw_len + 1);

		FUZZ_CHECK(hex && again);
		FUZZ_CHECK(strlen(hex) == 2 * fl.raw_len);
		hex_encode(fl.raw, fl.raw_len, again);
		for (i = 0; i < 2 * fl.raw_len; i++)
			FUZZ_CHECK(again[i] == tolower((unsigned char)hex[i]));
		free(again);
		break;
	}
	case FROM_LINE_EVENT:
		FUZZ_CHECK(event_validate(&fl.ev, err, sizeof(err)) == 0);
		event_encode(&enc, &fl.ev, &buf, &len);
		FUZZ_CHECK(event_decode(&dec, buf, len, &back, err, sizeof(err)) == 0);
		FUZZ_CHECK(back.user_len == fl.ev.user_len &&
			   !memcmp(back.user, fl.ev.user, back.user_len));
		FUZZ_CHECK((back.email == NULL) == (fl.ev.email == NULL));
		FUZZ_CHECK(!back.email || (back.email_len == fl.ev.email_len &&
					   !memcmp(back.email, fl.ev.email, back.email_len)));
		FUZZ_CHECK((back.message == NULL) == (fl.ev.message == NULL));
		FUZZ_CHECK(!back.message || (back.message_len == fl.ev.message_len &&
					     !memcmp(back.message, fl.ev.message, back.message_len)));
		FUZZ_CHECK(back.activity == fl.ev.activity && back.ts == fl.ev.ts);
		break;
	default:
		FUZZ_CHECK(!"a kind from_line_parse does not return");
	}
	return 0;
}
