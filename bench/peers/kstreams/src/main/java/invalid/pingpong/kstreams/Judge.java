/* Judge.java: accept or refuse one payload, as pingpong's active consumer does: it must
 * decode (Event), and its ts may not be more than max-skew ahead of the wall clock
 * (pingpong: "ts T is D ms in the future (max skew S ms)"). One per processor instance. */
package invalid.pingpong.kstreams;

final class Judge {
	final Event ev = new Event();
	private final long maxSkewMs;

	Judge(long maxSkewMs) {
		this.maxSkewMs = maxSkewMs;
	}

	/* Returns null and fills ev, or the reason for refusing the payload. */
	String judge(byte[] payload, long now) {
		String why = ev.decode(payload);
		if (why == null && ev.ts > now + maxSkewMs)
			why = "ts " + ev.ts + " is " + (ev.ts - now) + " ms in the future (max skew " + maxSkewMs + " ms)";
		return why;
	}
}
