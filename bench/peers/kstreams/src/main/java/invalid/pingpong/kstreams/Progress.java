/* Progress.java: what this process has consumed, shared by the stream threads (which
 * write it) and the main thread and the HTTP handlers (which read it).
 *
 * Per input partition the next offset after the last record processed, the counts of
 * events applied and refused (by reason), and the wall-clock time of the first record
 * processed by this process: the end of a restart, for the benchmark. With
 * --repartition, the events forwarded to the repartition topic and those that came
 * out of it, so that the end of the input can wait for both steps.
 */
package invalid.pingpong.kstreams;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.LongAdder;

final class Progress {
	private final AtomicLongArray next;
	private final LongAdder applied = new LongAdder(), rejected = new LongAdder(), unkeyed = new LongAdder(),
		forwarded = new LongAdder(), repartitioned = new LongAdder();
	private final Map<String, LongAdder> reasons = new ConcurrentHashMap<>();
	private final AtomicLong firstRecordMs = new AtomicLong();
	private volatile long lastRecordMs;
	private final int verbose;

	Progress(int partitions, int verbose) {
		next = new AtomicLongArray(partitions);
		this.verbose = verbose;
	}

	int partitions() {
		return next.length();
	}

	long next(int partition) {
		return next.get(partition);
	}

	/* now: the wall clock when the record was processed. */
	private void record(int partition, long offset, long now) {
		lastRecordMs = now;
		if (firstRecordMs.get() == 0 && firstRecordMs.compareAndSet(0, now))
			Main.log("first record processed (partition %d, offset %d)", partition, offset);
		if (partition < next.length())
			next.accumulateAndGet(partition, offset + 1, Math::max);
	}

	void applied(int partition, long offset, long now) {
		record(partition, offset, now);
		applied.increment();
	}

	/* An event sent on to the repartition topic. */
	void forwarded(int partition, long offset, long now) {
		record(partition, offset, now);
		forwarded.increment();
	}

	/* An event out of the repartition topic, applied or not. */
	void appliedAfterRepartition(boolean wasApplied) {
		repartitioned.increment();
		if (wasApplied)
			applied.increment();
	}

	/* An event whose record key is not its user (read without --repartition). */
	void unkeyed() {
		unkeyed.increment();
	}

	void rejected(int partition, long offset, long now, String why) {
		record(partition, offset, now);
		count(why);
		if (verbose > 0)
			Main.log("refused partition %d offset %d: %s", partition, offset, why);
	}

	/* Refused after the repartition: no input offset to record. */
	void rejectedLate(String why) {
		count(why);
		if (verbose > 0)
			Main.log("refused after the repartition: %s", why);
	}

	private void count(String why) {
		rejected.increment();
		/* The reason without its numbers, so that the counts stay few. */
		String kind = why.replaceAll("-?[0-9]+", "N");
		reasons.computeIfAbsent(kind, k -> new LongAdder()).increment();
	}

	long applied() {
		return applied.sum();
	}

	long rejected() {
		return rejected.sum();
	}

	long unkeyedCount() {
		return unkeyed.sum();
	}

	long forwardedCount() {
		return forwarded.sum();
	}

	long repartitionedCount() {
		return repartitioned.sum();
	}

	long lastRecordMs() {
		return lastRecordMs;
	}

	long firstRecordMs() {
		return firstRecordMs.get();
	}

	Map<String, Long> reasons() {
		Map<String, Long> out = new TreeMap<>();
		reasons.forEach((k, v) -> out.put(k, v.sum()));
		return out;
	}
}
