/* active.h: the active-users report, shared by `active`, `query active` and `notify`. */
#ifndef PP_ACTIVE_H
#define PP_ACTIVE_H

#include <stdint.h>
#include <stdio.h>

#include "store.h"

/* The users whose last_seen is in (at - window, at], oldest first. Names are copied into
 * one reused buffer, so a set can outlive its txn; pair init with release. */
struct active_set {
	char *names;      /* NUL-separated */
	size_t len, cap;
	size_t *offs;     /* start of each name in names */
	int64_t *ts;
	size_t n, ncap;
};

void active_set_init(struct active_set *a);
void active_set_release(struct active_set *a);

/* Fills a (emptied first) from the store. Returns 0 or -1 with the reason. */
int active_collect(struct store_txn *t, int64_t at, int64_t window, struct active_set *a, char *err,
		   size_t errlen);

/* 1 if name (len bytes) is in a. */
int active_contains(const struct active_set *a, const char *name, size_t len);

/* Prints the original report ("Active Users: a, b" or "No Active Users...") or, with
 * json, one object {"at":..,"window_ms":..,"count":..,"users":[{"user":..,"last_seen":..}]}. */
void active_print(const struct active_set *a, int64_t at, int64_t window, int json, FILE *out);

#endif
