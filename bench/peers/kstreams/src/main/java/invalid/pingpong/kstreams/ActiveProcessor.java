/* ActiveProcessor.java: what `pingpong active` does to each event, as a Kafka Streams
 * processor over two RocksDB key-value stores.
 *
 * - "users": user name bytes -> UserRecord (last_seen, count, email by (ts, email)).
 * - "by-time": be64(last_seen) ++ user name bytes -> empty: the time-ordered index of
 *   pingpong's store (src/store.c's by_time), one entry per user, moved when last_seen
 *   moves. "Who was active in (T - 30 s, T]" is one range scan of it. An entry is written
 *   only at or above the floor, now - retain; a wall-clock punctuation deletes the
 *   entries below it every second (pingpong prunes in each batch's txn).
 * The stores are changelogged (the default), so their updates and the input offsets
 * commit together under exactly_once_v2.
 *
 * An event is refused, counted and skipped when it does not decode (Event) or when its ts
 * is more than max-skew ahead of the wall clock (Judge).
 *
 * Kafka Streams keeps one store per task, i.e. per input partition: a user's events must
 * all reach one partition. Read straight from the input (direct), that holds when the
 * topic is keyed by user, as `pingpong produce` keys it by default; events whose key is not
 * their user are counted ("unkeyed") so that a run can tell. With --repartition, the
 * events come from DecodeProcessor through a repartition topic keyed by user, already
 * judged, and progress is kept there.
 * One instance per task, on that task's stream thread.
 */
package invalid.pingpong.kstreams;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;

final class ActiveProcessor implements Processor<byte[], byte[], Void, Void> {
	static final String USERS = "users";
	static final String BY_TIME = "by-time";
	private static final byte[] EMPTY = new byte[0];

	private final long retainMs;
	private final boolean direct;
	private final Progress progress;
	private final Judge judge;
	private final Event ev;
	private ProcessorContext<Void, Void> ctx;
	private KeyValueStore<Bytes, byte[]> users, byTime;
	private long floor = Long.MIN_VALUE; /* never moves back */

	/* direct: the input topic is the source (no repartition). */
	ActiveProcessor(long retainMs, long maxSkewMs, boolean direct, Progress progress) {
		this.retainMs = retainMs;
		this.direct = direct;
		this.progress = progress;
		judge = new Judge(maxSkewMs);
		ev = judge.ev;
	}

	static byte[] indexKey(long ts, byte[] user) {
		return ByteBuffer.allocate(8 + user.length).putLong(ts).put(user).array();
	}

	@Override
	public void init(ProcessorContext<Void, Void> context) {
		ctx = context;
		users = context.getStateStore(USERS);
		byTime = context.getStateStore(BY_TIME);
		context.schedule(Duration.ofSeconds(1), PunctuationType.WALL_CLOCK_TIME, this::prune);
	}

	@Override
	public void process(Record<byte[], byte[]> r) {
		long now = System.currentTimeMillis();
		String why = judge.judge(r.value(), now);

		if (!direct) {
			/* Judged before the repartition: only a clock that went back refuses here. */
			if (why != null)
				progress.rejectedLate(why);
			else
				apply(now);
			progress.appliedAfterRepartition(why == null);
			return;
		}
		RecordMetadata m = ctx.recordMetadata().orElseThrow();
		if (why != null) {
			progress.rejected(m.partition(), m.offset(), now, why);
			return;
		}
		if (r.key() == null || !Arrays.equals(r.key(), ev.user))
			progress.unkeyed();
		apply(now);
		progress.applied(m.partition(), m.offset(), now);
	}

	private void apply(long now) {
		if (now - retainMs > floor)
			floor = now - retainMs;
		Bytes key = Bytes.wrap(ev.user);
		byte[] old = users.get(key);
		UserRecord prev = old == null ? null : UserRecord.decode(old);
		long oldLast = prev == null ? 0 : prev.lastSeen;
		UserRecord rec = UserRecord.apply(prev, ev.ts, ev.email);

		if (prev == null || rec.lastSeen != oldLast) {
			if (prev != null)
				byTime.delete(Bytes.wrap(indexKey(oldLast, ev.user)));
			if (rec.lastSeen >= floor)
				byTime.put(Bytes.wrap(indexKey(rec.lastSeen, ev.user)), EMPTY);
		}
		users.put(key, rec.encode());
	}

	/* Deletes the index entries below the floor: keys from be64(0) to be64(floor), the
	 * latter being no entry's key (every entry has a name after its time). */
	private void prune(long now) {
		if (now - retainMs > floor)
			floor = now - retainMs;
		if (floor <= 0)
			return;
		List<Bytes> old = new ArrayList<>();
		try (KeyValueIterator<Bytes, byte[]> it = byTime.range(Bytes.wrap(indexKey(0, EMPTY)),
									 Bytes.wrap(indexKey(floor, EMPTY)))) {
			while (it.hasNext())
				old.add(it.next().key);
		}
		for (Bytes k : old)
			byTime.delete(k);
	}

	/* The users in (at - window, at] from a store of index entries: their names and
	 * last-seen times. Used by the interactive query. */
	static List<KeyValue<byte[], Long>> collect(KeyValueIterator<Bytes, byte[]> it, List<KeyValue<byte[], Long>> out) {
		while (it.hasNext()) {
			byte[] k = it.next().key.get();
			long ts = ByteBuffer.wrap(k, 0, 8).getLong();
			out.add(KeyValue.pair(Arrays.copyOfRange(k, 8, k.length), ts));
		}
		return out;
	}
}
