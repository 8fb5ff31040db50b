/* json-out.h: machine-readable output, one JSON object per line. */
#ifndef PP_JSON_OUT_H
#define PP_JSON_OUT_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

/* Writes obj to out as one line of compact JSON, its keys in the order they were set,
 * and releases obj (it takes the reference). Every --json output and tail go through
 * it, so they all read alike: non-ASCII is written as \u escapes, so that no control
 * character of a name (C1 ones included) reaches a terminal raw. Returns 0, or -1 if
 * jansson could not serialise obj or out could not take it (ferror(out) tells which). */
int json_print_line(json_t *obj, FILE *out);

/* Sets obj[key] to the bytes buf[0..len) in lowercase hex. */
void json_set_hex(json_t *obj, const char *key, const void *buf, size_t len);

/* Sets obj[key] to buf[0..len) as a string when it is valid UTF-8, else obj[hex_key] to
 * its bytes in hex: what came off the wire (a message's key, a header) may be either. */
void json_set_bytes(json_t *obj, const char *key, const char *hex_key, const void *buf, size_t len);

#endif
