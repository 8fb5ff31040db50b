/* UserRecord.java: a user's value in the "users" store, and the rule that folds an event
 * into it.
 *
 * The rule is pingpong's (notes/SEMANTICS.md, tests/helpers/expect.py), and it does not
 * depend on the order of the events:
 * - count += 1 and last_seen = max(last_seen, ts) for every accepted event;
 * - the email is the non-empty email of the greatest (ts, email bytes) among the user's
 *   events; an absent or empty email never replaces one.
 *
 * Encoding, big-endian: last_seen (8), count (8), email_ts (8), has_email (1), email.
 */
package invalid.pingpong.kstreams;

import java.nio.ByteBuffer;
import java.util.Arrays;

final class UserRecord {
	long lastSeen;
	long count;
	long emailTs;
	byte[] email; /* null: none yet */

	static UserRecord decode(byte[] v) {
		ByteBuffer b = ByteBuffer.wrap(v);
		UserRecord r = new UserRecord();
		r.lastSeen = b.getLong();
		r.count = b.getLong();
		r.emailTs = b.getLong();
		if (b.get() != 0)
			r.email = Arrays.copyOfRange(v, b.position(), v.length);
		return r;
	}

	byte[] encode() {
		int elen = email == null ? 0 : email.length;
		ByteBuffer b = ByteBuffer.allocate(25 + elen);
		b.putLong(lastSeen).putLong(count).putLong(emailTs).put((byte) (email == null ? 0 : 1));
		if (email != null)
			b.put(email);
		return b.array();
	}

	/* Folds one accepted event in; r is null for a user not seen before. */
	static UserRecord apply(UserRecord r, long ts, byte[] email) {
		if (r == null) {
			r = new UserRecord();
			r.lastSeen = ts;
		}
		r.count++;
		if (ts > r.lastSeen)
			r.lastSeen = ts;
		if (email != null && email.length > 0 &&
		    (r.email == null || ts > r.emailTs ||
		     (ts == r.emailTs && Arrays.compareUnsigned(email, r.email) > 0))) {
			r.email = email;
			r.emailTs = ts;
		}
		return r;
	}
}
