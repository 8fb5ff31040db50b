/* chat.h: the simulated chat room's users, lines and random numbers.
 *
 * `pingpong produce` and the benchmark programs (bench/) both draw from here, so that
 * they make the same users from the same data files: user k is the (k mod B)-th name
 * of users.txt (B names), with the suffix k / B when that is not 0 ("Alice", ...,
 * "Alice1", ...), and its email is the lower-cased name at one of four domains chosen
 * by the name's hash. The random numbers are xorshift64*: small, fast, and the same
 * sequence from the same seed on every machine.
 */
#ifndef PP_CHAT_H
#define PP_CHAT_H

#include <stddef.h>
#include <stdint.h>

/* The buffers chat_user() fills, NUL included. */
#define CHAT_NAME_MAX 256
#define CHAT_EMAIL_MAX 300

/* The lines of a data file: its non-empty lines that do not start with '#'. */
struct chat_lines {
	char **v;
	size_t n;
};

/* Reads dir/name, or with dir NULL the data file name wherever data_path() finds it.
 * Returns 0, or -1 with the reason (a missing, unreadable or empty file). Pair with
 * chat_lines_release(). */
int chat_lines_load(struct chat_lines *l, const char *dir, const char *name, char *err, size_t errlen);
void chat_lines_release(struct chat_lines *l);

/* The users of a room: n of them, named from names. Names and emails are computed when
 * asked for, so that a million users cost no memory. */
struct chat_users {
	const struct chat_lines *names;
	size_t n;
};

void chat_users_init(struct chat_users *u, const struct chat_lines *names, size_t n);

/* User k's name (CHAT_NAME_MAX bytes) and email (CHAT_EMAIL_MAX bytes), NUL-terminated,
 * and their lengths. */
void chat_user(const struct chat_users *u, size_t k, char *name, size_t *name_len, char *email,
	       size_t *email_len);

/* xorshift64*: the state from a seed (never 0), and the next number. */
uint64_t chat_rng_seed(uint64_t seed);
uint64_t chat_rng_next(uint64_t *state);

#endif
