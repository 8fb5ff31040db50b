/* json-out.c: machine-readable output, one JSON object per line.
 *
 * json_dumpf writes straight into the stdio buffer: no string is built per line.
 */
#include "config.h"

#include <stdlib.h>

#include "json-out.h"
#include "util.h"

#define JSON_LINE_FLAGS (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII)

int json_print_line(json_t *obj, FILE *out)
{
	int rc = json_dumpf(obj, out, JSON_LINE_FLAGS);

	if (rc == 0 && putc('\n', out) == EOF)
		rc = -1;
	json_decref(obj);
	return rc;
}

void json_set_hex(json_t *obj, const char *key, const void *buf, size_t len)
{
	char *hex = xmalloc(2 * len + 1);

	json_object_set_new(obj, key, json_stringn(hex_encode(buf, len, hex), 2 * len));
	free(hex);
}

void json_set_bytes(json_t *obj, const char *key, const char *hex_key, const void *buf, size_t len)
{
	if (utf8_valid(buf, len))
		json_object_set_new(obj, key, json_stringn(buf, len));
	else
		json_set_hex(obj, hex_key, buf, len);
}
