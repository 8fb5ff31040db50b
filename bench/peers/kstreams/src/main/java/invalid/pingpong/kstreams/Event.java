/* Event.java: the chat event: pingpong's msgpack wire format, decoded and validated.
 *
 * The same rules as src/event.c (event_decode, event_validate), so that this consumer
 * accepts exactly the events pingpong's consumers accept:
 * - a payload of 1 to 65,536 bytes holding exactly one msgpack object, nested at most
 *   32 containers deep, without the never-used byte 0xc1: scan() walks the bytes first,
 *   as event.c's scan_object() does, so that a header claiming a huge container costs
 *   nothing and a truncated or trailing payload is refused before decoding;
 * - a map with string keys; unknown keys are skipped whatever their values; a known key
 *   twice is refused;
 * - user: a string of 1 to 255 bytes; email (optional): a string of at most 255 bytes,
 *   possibly empty; both valid UTF-8 (no overlong forms, no surrogates, nothing above
 *   U+10FFFF) and without a NUL byte;
 * - activity: "send-message" or "heart-beat"; message: a valid UTF-8 string, required
 *   for send-message;
 * - ts: an integer, 1 to 2^63-1 (milliseconds since the epoch);
 * - and the event re-encoded as pingpong encodes it fits 64 KiB.
 * Strings are kept as the payload's bytes: names compare and sort as bytes, as in
 * pingpong's LMDB store. msgpack-core's default unpacker reads a bin value as a string
 * when asked to; event.c does not, so the type is checked before every string read.
 *
 * One Event and its decoder are reused for every record of a processor (not thread-safe).
 */
package invalid.pingpong.kstreams;

import java.io.IOException;

import org.msgpack.core.MessageFormat;
import org.msgpack.core.MessageIntegerOverflowException;
import org.msgpack.core.MessagePack;
import org.msgpack.core.MessageUnpacker;
import org.msgpack.core.buffer.ArrayBufferInput;
import org.msgpack.value.ValueType;

final class Event {
	static final int MAX_SIZE = 64 * 1024;
	static final int USER_MAX = 255;
	static final int MAX_DEPTH = 32;

	private static final byte[][] FIELDS = {
		ascii("user"), ascii("email"), ascii("activity"), ascii("message"), ascii("ts"),
	};
	private static final int USER = 0, EMAIL = 1, ACTIVITY = 2, MESSAGE = 3, TS = 4;
	private static final byte[] SEND_MESSAGE = ascii("send-message");
	private static final byte[] HEART_BEAT = ascii("heart-beat");

	byte[] user;
	byte[] email;	/* null when absent; may be empty */
	boolean sendMessage;
	byte[] message;	/* null when absent */
	long ts;

	private final ArrayBufferInput input = new ArrayBufferInput(new byte[0]);
	private final MessageUnpacker unpacker = MessagePack.newDefaultUnpacker(input);
	private final long[] open = new long[MAX_DEPTH];

	private static byte[] ascii(String s) {
		return s.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
	}

	/* Decodes and validates buf into this event. Returns null, or why the event is
	 * refused (event.c's words where it matters for a log line). */
	String decode(byte[] buf) {
		user = email = message = null;
		sendMessage = false;
		ts = 0;
		if (buf == null || buf.length == 0)
			return "empty payload";
		if (buf.length > MAX_SIZE)
			return "payload too large (" + buf.length + " bytes, max " + MAX_SIZE + ")";
		String why = scan(buf);
		if (why != null)
			return why;
		try {
			input.reset(buf);
			unpacker.reset(input);
			why = fromMap();
		} catch (IOException | RuntimeException e) {
			/* scan() has ruled out what msgpack-core could refuse; kept in case. */
			return "malformed msgpack (" + e.getClass().getSimpleName() + ")";
		}
		return why != null ? why : validate();
	}

	/* event.c's scan_object(): fails unless buf is exactly one whole msgpack object.
	 * Each step consumes a byte at least, so the walk is bounded by the length whatever
	 * the headers claim. */
	private String scan(byte[] p) {
		final int len = p.length;
		long owed = 1; /* elements not yet started, the root included */
		int depth = 0, off = 0;

		while (owed > 0) {
			int lenbytes = 0;
			long body = 0, slots = 0;
			boolean container = false;

			if (off >= len)
				return "truncated msgpack";
			int b = p[off++] & 0xff;
			owed--;
			if (depth > 0)
				open[depth - 1]--;

			if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
				/* fixint, nil, bool */
			} else if (b <= 0x8f) {
				container = true;
				slots = 2L * (b & 0x0f);
			} else if (b <= 0x9f) {
				container = true;
				slots = b & 0x0f;
			} else if (b <= 0xbf) {
				body = b & 0x1f;
			} else {
				switch (b) {
				case 0xc4: case 0xd9: lenbytes = 1; break;	/* bin8, str8 */
				case 0xc5: case 0xda: lenbytes = 2; break;
				case 0xc6: case 0xdb: lenbytes = 4; break;
				case 0xc7: lenbytes = 1; body = 1; break;	/* ext8 and its type */
				case 0xc8: lenbytes = 2; body = 1; break;
				case 0xc9: lenbytes = 4; body = 1; break;
				case 0xca: body = 4; break;			/* float32 */
				case 0xcb: body = 8; break;
				case 0xcc: case 0xd0: body = 1; break;	/* (u)int8 */
				case 0xcd: case 0xd1: body = 2; break;
				case 0xce: case 0xd2: body = 4; break;
				case 0xcf: case 0xd3: body = 8; break;
				case 0xd4: body = 2; break;			/* fixext: type + data */
				case 0xd5: body = 3; break;
				case 0xd6: body = 5; break;
				case 0xd7: body = 9; break;
				case 0xd8: body = 17; break;
				case 0xdc: case 0xde: lenbytes = 2; container = true; break;
				case 0xdd: case 0xdf: lenbytes = 4; container = true; break;
				default:
					return "malformed msgpack";
				}
				if (len - off < lenbytes)
					return "truncated msgpack";
				long v = 0;
				for (int i = 0; i < lenbytes; i++)
					v = (v << 8) | (p[off + i] & 0xff);
				if (container)
					slots = v * (b >= 0xde ? 2 : 1);
				else
					body += v;
				off += lenbytes;
			}
			if (body > len - off)
				return "truncated msgpack";
			off += (int) body;
			if (container) {
				/* msgpack-c checks its stack before the count: an empty container
				 * counts against the depth as well. */
				if (depth == MAX_DEPTH)
					return "msgpack nesting too deep (max " + MAX_DEPTH + ")";
				if (slots > 0) {
					owed += slots;
					open[depth++] = slots;
				}
			}
			while (depth > 0 && open[depth - 1] == 0)
				depth--;
		}
		if (off < len)
			return "trailing bytes after event (" + (len - off) + " bytes)";
		return null;
	}

	private static int field(byte[] k) {
		for (int f = 0; f < FIELDS.length; f++)
			if (java.util.Arrays.equals(FIELDS[f], k))
				return f;
		return -1;
	}

	/* A string value as its bytes, or null if the next value is not a msgpack str. */
	private byte[] string() throws IOException {
		if (unpacker.getNextFormat().getValueType() != ValueType.STRING)
			return null;
		return unpacker.readPayload(unpacker.unpackRawStringHeader());
	}

	private static final String[] NAMES = { "user", "email", "activity", "message", "ts" };

	/* event.c's from_map(): every key is read before any value is judged, as there. */
	private String fromMap() throws IOException {
		if (unpacker.getNextFormat().getValueType() != ValueType.MAP)
			return "not a msgpack map";
		int n = unpacker.unpackMapHeader();
		boolean[] seen = new boolean[FIELDS.length];
		String valueError = null;
		byte[] activity = null;

		for (int i = 0; i < n; i++) {
			byte[] k = string();
			if (k == null)
				return "map key is not a string";
			int f = field(k);
			if (f < 0) {
				unpacker.skipValue();
				continue;
			}
			if (seen[f])
				return "duplicate field '" + NAMES[f] + "'";
			seen[f] = true;
			if (f == TS) {
				MessageFormat fmt = unpacker.getNextFormat();
				if (fmt.getValueType() != ValueType.INTEGER) {
					unpacker.skipValue();
					if (valueError == null)
						valueError = "field 'ts' is not an integer";
					continue;
				}
				try {
					ts = unpacker.unpackLong();
				} catch (MessageIntegerOverflowException e) {
					/* a uint64 above 2^63-1 */
					if (valueError == null)
						valueError = "field 'ts' is out of range";
				}
				continue;
			}
			byte[] s = string();
			if (s == null) {
				unpacker.skipValue();
				if (valueError == null)
					valueError = "field '" + NAMES[f] + "' is not a string";
				continue;
			}
			switch (f) {
			case USER: user = s; break;
			case EMAIL: email = s; break;
			case ACTIVITY: activity = s; break;
			default: message = s; break;
			}
		}
		if (!seen[USER])
			return "missing field 'user'";
		if (!seen[ACTIVITY])
			return "missing field 'activity'";
		if (!seen[TS])
			return "missing field 'ts'";
		if (valueError != null)
			return valueError;
		if (java.util.Arrays.equals(activity, SEND_MESSAGE))
			sendMessage = true;
		else if (!java.util.Arrays.equals(activity, HEART_BEAT))
			return "unknown activity";
		return null;
	}

	/* event.c's event_validate(), for what fromMap() leaves. */
	private String validate() {
		if (user.length == 0)
			return "field 'user' is empty";
		String why = checkString("user", user, USER_MAX);
		if (why == null && email != null)
			why = checkString("email", email, USER_MAX);
		if (why != null)
			return why;
		if (sendMessage && message == null)
			return "missing field 'message' (required for send-message)";
		if (message != null && !utf8Valid(message))
			return "field 'message' is not valid UTF-8";
		if (ts <= 0)
			return "field 'ts' must be positive (got " + ts + ")";
		if (encodedSize() > MAX_SIZE)
			return "event too large";
		return null;
	}

	private static String checkString(String name, byte[] s, int max) {
		if (s.length > max)
			return "field '" + name + "' is too long (" + s.length + " bytes, max " + max + ")";
		if (!utf8Valid(s))
			return "field '" + name + "' is not valid UTF-8";
		for (byte b : s)
			if (b == 0)
				return "field '" + name + "' contains a NUL byte";
		return null;
	}

	/* util.c's utf8_valid(): strict UTF-8. */
	static boolean utf8Valid(byte[] s) {
		int i = 0, len = s.length;
		while (i < len) {
			int c = s[i] & 0xff, n, cp;
			if (c < 0x80) {
				i++;
				continue;
			} else if ((c & 0xe0) == 0xc0) {
				n = 1;
				cp = c & 0x1f;
			} else if ((c & 0xf0) == 0xe0) {
				n = 2;
				cp = c & 0x0f;
			} else if ((c & 0xf8) == 0xf0) {
				n = 3;
				cp = c & 0x07;
			} else {
				return false;
			}
			if (len - i <= n)
				return false;
			for (int k = 1; k <= n; k++) {
				int cc = s[i + k] & 0xff;
				if ((cc & 0xc0) != 0x80)
					return false;
				cp = (cp << 6) | (cc & 0x3f);
			}
			if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
			    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
				return false;
			i += n + 1;
		}
		return true;
	}

	private static long strSize(long n) {
		return (n < 32 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5) + n;
	}

	/* event.c's encoded_size(): the event as pingpong's producer would encode it. */
	private long encodedSize() {
		long n = 1 + strSize(4) + strSize(user.length);
		if (email != null)
			n += strSize(5) + strSize(email.length);
		n += strSize(8) + strSize(sendMessage ? 12 : 10);
		if (message != null)
			n += strSize(7) + strSize(message.length);
		long v = ts;
		n += strSize(2) + (v < 128 ? 1 : v < 256 ? 2 : v < 65536 ? 3 : v <= 0xffffffffL ? 5 : 9);
		return n;
	}
}
