/* Json.java: the few JSON values this program writes, as `pingpong query --json` writes
 * them (jansson: UTF-8 as is, control characters, quote and backslash escaped). */
package invalid.pingpong.kstreams;

import java.nio.charset.StandardCharsets;

final class Json {
	private Json() {
	}

	/* s: valid UTF-8 (Event has checked it). */
	static StringBuilder string(StringBuilder out, byte[] s) {
		return string(out, new String(s, StandardCharsets.UTF_8));
	}

	static StringBuilder string(StringBuilder out, String s) {
		out.append('"');
		for (int i = 0; i < s.length(); i++) {
			char c = s.charAt(i);
			switch (c) {
			case '"': out.append("\\\""); break;
			case '\\': out.append("\\\\"); break;
			case '\n': out.append("\\n"); break;
			case '\r': out.append("\\r"); break;
			case '\t': out.append("\\t"); break;
			case '\b': out.append("\\b"); break;
			case '\f': out.append("\\f"); break;
			default:
				if (c < 0x20)
					out.append(String.format("\\u%04x", (int) c));
				else
					out.append(c);
			}
		}
		return out.append('"');
	}

	/* One user as `pingpong query users --json` prints it. */
	static String user(byte[] name, UserRecord r) {
		StringBuilder b = new StringBuilder(96);
		string(b.append("{\"user\":"), name);
		b.append(",\"last_seen\":").append(r.lastSeen).append(",\"count\":").append(r.count).append(",\"email\":");
		if (r.email == null)
			b.append("null");
		else
			string(b, r.email);
		return b.append('}').toString();
	}
}
