/* DecodeProcessor.java: the first step with --repartition: judges each event of the
 * input topic, counts and drops the refused ones, and forwards the others keyed by their
 * user's name to the repartition topic, so that each user's events meet in one task and
 * one store whatever partition they were produced to. */
package invalid.pingpong.kstreams;

import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.processor.api.RecordMetadata;

final class DecodeProcessor implements Processor<byte[], byte[], byte[], byte[]> {
	private final Judge judge;
	private final Progress progress;
	private ProcessorContext<byte[], byte[]> ctx;

	DecodeProcessor(long maxSkewMs, Progress progress) {
		judge = new Judge(maxSkewMs);
		this.progress = progress;
	}

	@Override
	public void init(ProcessorContext<byte[], byte[]> context) {
		ctx = context;
	}

	@Override
	public void process(Record<byte[], byte[]> r) {
		long now = System.currentTimeMillis();
		RecordMetadata m = ctx.recordMetadata().orElseThrow();
		String why = judge.judge(r.value(), now);

		if (why != null) {
			progress.rejected(m.partition(), m.offset(), now, why);
			return;
		}
		progress.forwarded(m.partition(), m.offset(), now);
		ctx.forward(new Record<>(judge.ev.user, r.value(), r.timestamp()));
	}
}
