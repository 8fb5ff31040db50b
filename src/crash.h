/* crash.h: named crash points for recovery tests (PINGPONG_CRASH=point:N). */
#ifndef PP_CRASH_H
#define PP_CRASH_H

/* Calls abort() the Nth time the point named in $PINGPONG_CRASH is reached ("any": the
 * Nth point of any name). When the variable is unset this costs one predictable branch.
 * Points: mid-batch, in-touch, in-prune, in-compact, before-commit, after-commit (batch.c, store.c),
 * in-assign (engine.c), before-changelog, in-changelog (changelog.c). */
void crash_point_hit(const char *name);
extern int crash_armed;
#define crash_point(name) do { if (crash_armed) crash_point_hit(name); } while (0)

/* With PINGPONG_CRASH=point:N:fail, true the Nth time the point named is reached (once),
 * for the caller to fail there as a failed write would; no point aborts then. */
int crash_fail_hit(const char *name);
#define crash_fail(name) (crash_armed && crash_fail_hit(name))

/* Reads $PINGPONG_CRASH; call once at start. Returns -1 if it is malformed. */
int crash_init(void);

#endif
