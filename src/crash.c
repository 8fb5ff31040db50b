/* crash.c: named crash points, always compiled in, armed by $PINGPONG_CRASH=point:N.
 *
 * Recovery tests kill a consumer at exact instants of its batch cycle: between applying
 * and committing, between the LMDB commit and the Kafka offset mirror, and so on. With
 * point:N:fail, a point that can fail (crash_fail) fails instead, as a full disk would:
 * the tests of what a failed write must not do.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crash.h"
#include "util.h"

int crash_armed;
static char crash_name[64];
static long crash_countdown;
static int crash_fails; /* point:N:fail: fail at crash_fail(), never abort */

int crash_init(void)
{
	const char *spec = getenv("PINGPONG_CRASH");
	const char *colon, *fail;
	char count[16];
	int64_t n = 1;

	if (!spec || !*spec)
		return 0;
	colon = strchr(spec, ':');
	fail = colon ? strchr(colon + 1, ':') : NULL;
	crash_fails = fail && strcmp(fail, ":fail") == 0;
	if (colon)
		snprintf(count, sizeof(count), "%.*s", (int)(fail ? fail - colon - 1 : (long)strlen(colon + 1)),
			 colon + 1);
	if ((fail && !crash_fails) || (colon && parse_int(count, 1, 1000000000, &n) < 0) ||
	    (size_t)(colon ? colon - spec : (long)strlen(spec)) >= sizeof(crash_name)) {
		log_error("PINGPONG_CRASH takes POINT:N or POINT:N:fail, not '%s'", spec);
		return -1;
	}
	snprintf(crash_name, sizeof(crash_name), "%.*s", (int)(colon ? colon - spec : (long)strlen(spec)), spec);
	crash_countdown = (long)n;
	crash_armed = 1;
	return 0;
}

void crash_point_hit(const char *name)
{
	static const char msg[] = "pingpong: crash point reached, aborting\n";

	/* "any" counts every point: a test that draws N at random stops at a random one. */
	if (crash_fails || (strcmp(name, crash_name) != 0 && strcmp(crash_name, "any") != 0) || --crash_countdown > 0)
		return;
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* aborting anyway */
	}
	abort();
}

int crash_fail_hit(const char *name)
{
	if (!crash_fails || strcmp(name, crash_name) != 0 || --crash_countdown > 0)
		return 0;
	crash_armed = 0; /* once, and no point aborts after it */
	return 1;
}
