/* active.c: the active-users report: who was seen in the window that ends at a time.
 *
 * It reads only the by_time index, whose key already holds the time and the name, so a
 * report costs one range scan and no lookup per user.
 */
#include "config.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "active.h"
#include "util.h"

void active_set_init(struct active_set *a)
{
	memset(a, 0, sizeof(*a));
}

void active_set_release(struct active_set *a)
{
	free(a->names);
	free(a->offs);
	free(a->ts);
	memset(a, 0, sizeof(*a));
}

static int add_active(void *arg, const char *user, size_t len, int64_t ts)
{
	struct active_set *a = arg;

	if (a->len + len + 1 > a->cap) {
		a->cap = (a->cap + len + 1) * 2;
		a->names = xrealloc(a->names, a->cap);
	}
	if (a->n == a->ncap) {
		a->ncap = a->ncap ? a->ncap * 2 : 64;
		a->offs = xrealloc(a->offs, a->ncap * sizeof(*a->offs));
		a->ts = xrealloc(a->ts, a->ncap * sizeof(*a->ts));
	}
	a->offs[a->n] = a->len;
	a->ts[a->n] = ts;
	memcpy(a->names + a->len, user, len);
	a->names[a->len + len] = '\0';
	a->len += len + 1;
	a->n++;
	return 0;
}

int active_collect(struct store_txn *t, int64_t at, int64_t window, struct active_set *a, char *err,
		   size_t errlen)
{
	a->n = 0;
	a->len = 0;
	return store_index_range(t, at - window, at, add_active, a, err, errlen);
}

int active_contains(const struct active_set *a, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < a->n; i++) {
		const char *s = a->names + a->offs[i];
		if (strlen(s) == len && !memcmp(s, name, len))
			return 1;
	}
	return 0;
}

void active_print(const struct active_set *a, int64_t at, int64_t window, int json, FILE *out)
{
	size_t i;

	if (json) {
		json_t *obj = json_object(), *users = json_array();
		char *line;

		for (i = 0; i < a->n; i++) {
			json_t *u = json_object();
			json_object_set_new(u, "user", json_string(a->names + a->offs[i]));
			json_object_set_new(u, "last_seen", json_integer(a->ts[i]));
			json_array_append_new(users, u);
		}
		json_object_set_new(obj, "at", json_integer(at));
		json_object_set_new(obj, "window_ms", json_integer(window));
		json_object_set_new(obj, "count", json_integer((json_int_t)a->n));
		json_object_set_new(obj, "users", users);
		line = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
		fprintf(out, "%s\n", line);
		free(line);
		json_decref(obj);
	} else if (a->n == 0) {
		fputs("No Active Users...\n", out);
	} else {
		fputs("Active Users: ", out);
		for (i = 0; i < a->n; i++)
			fprintf(out, "%s%s", i ? ", " : "", a->names + a->offs[i]);
		fputc('\n', out);
	}
	fflush(out);
}
