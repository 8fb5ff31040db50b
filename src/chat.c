/* chat.c: the simulated chat room's users, lines and random numbers. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat.h"
#include "util.h"

static int load_file(struct chat_lines *l, const char *path, char *err, size_t errlen)
{
	char buf[1024];
	FILE *f;

	if (!(f = fopen(path, "r")))
		return set_err(-1, err, errlen, "cannot open '%s': %s", path, strerror(errno));
	while (fgets(buf, sizeof(buf), f)) {
		size_t len = strcspn(buf, "\r\n");
		if (len == 0 || buf[0] == '#')
			continue;
		l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
		l->v[l->n++] = xstrndup(buf, len);
	}
	if (ferror(f)) {
		fclose(f);
		return set_err(-1, err, errlen, "cannot read '%s': %s", path, strerror(errno));
	}
	fclose(f);
	if (l->n == 0)
		return set_err(-1, err, errlen, "data file '%s' is empty", path);
	return 0;
}

int chat_lines_load(struct chat_lines *l, const char *dir, const char *name, char *err, size_t errlen)
{
	char *path;
	int rc;

	l->v = NULL;
	l->n = 0;
	if (dir) {
		size_t len = strlen(dir) + strlen(name) + 2;
		path = xmalloc(len);
		snprintf(path, len, "%s/%s", dir, name);
	} else if (!(path = data_path(name, err, errlen))) {
		return -1;
	}
	rc = load_file(l, path, err, errlen);
	free(path);
	return rc;
}

void chat_lines_release(struct chat_lines *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void chat_users_init(struct chat_users *u, const struct chat_lines *names, size_t n)
{
	u->names = names;
	u->n = n;
}

void chat_user(const struct chat_users *u, size_t k, char *name, size_t *name_len, char *email,
	       size_t *email_len)
{
	static const char *const domains[] = { "example.com", "example.org", "example.net", "chat.test" };
	const char *base = u->names->v[k % u->names->n];
	size_t i, h = 0, len;

	if (k / u->names->n)
		snprintf(name, CHAT_NAME_MAX, "%.200s%zu", base, k / u->names->n);
	else
		snprintf(name, CHAT_NAME_MAX, "%.200s", base);
	len = strlen(name);
	for (i = 0; i < len; i++) {
		email[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
		h = h * 31 + (unsigned char)email[i];
	}
	snprintf(email + len, CHAT_EMAIL_MAX - len, "@%s", domains[h % 4]);
	*name_len = len;
	*email_len = strlen(email);
}

uint64_t chat_rng_seed(uint64_t seed)
{
	uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;

	return s ? s : 1;
}

uint64_t chat_rng_next(uint64_t *state)
{
	uint64_t s = *state;

	s ^= s >> 12;
	s ^= s << 25;
	s ^= s >> 27;
	*state = s;
	return s * 2685821657736338717ULL;
}
