/* App.java: `pingpong-kstreams run`: the Kafka Streams application and its lifecycle.
 *
 * Topology: one source (the chat topic, raw bytes), one processor (ActiveProcessor), two
 * persistent RocksDB key-value stores with caching and changelogs, both Kafka Streams'
 * defaults for a DSL store. Everything it logs for the benchmark is a "kstreams: t=MS ..."
 * line on stderr (Main.log):
 *   state A -> B             every state change; "running" also says what was restored
 *   restore started          the first changelog partition this process restores
 *   first record processed   by this process: the end of a restart
 *   end reached              every record that was in the topic at start is processed
 *                            and its offset committed (read back from the group's
 *                            committed offsets), with the time of the last record
 * With --exit-at-end it then writes --dump and closes; otherwise it runs until TERM.
 */
package invalid.pingpong.kstreams;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.apache.kafka.streams.state.Stores;

import com.sun.net.httpserver.HttpServer;

final class App {
	private final Main.Options o;
	private final AtomicLong restored = new AtomicLong(), restoreStartMs = new AtomicLong(),
		restoreEndMs = new AtomicLong();
	private volatile boolean closing, failed;
	private volatile long endReachedMs;
	private KafkaStreams streams;
	private Progress progress;

	App(Main.Options o) {
		this.o = o;
	}

	KafkaStreams streams() {
		return streams;
	}

	Progress progress() {
		return progress;
	}

	long endReachedMs() {
		return endReachedMs;
	}

	long restored() {
		return restored.get();
	}

	/* Direct: source -> ActiveProcessor. --repartition: source -> DecodeProcessor ->
	 * repartition topic "<application.id>-by-user-repartition" (as many partitions as
	 * the input) -> ActiveProcessor. */
	private Topology topology() {
		StreamsBuilder b = new StreamsBuilder();
		b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(ActiveProcessor.USERS),
							    Serdes.Bytes(), Serdes.ByteArray()).withCachingEnabled());
		b.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(ActiveProcessor.BY_TIME),
							    Serdes.Bytes(), Serdes.ByteArray()).withCachingEnabled());
		KStream<byte[], byte[]> in = b.stream(o.topic, Consumed.with(Serdes.ByteArray(), Serdes.ByteArray()));
		if (o.repartition)
			in = in.process(() -> new DecodeProcessor(o.maxSkewMs, progress), Named.as("decode"))
				.repartition(Repartitioned.with(Serdes.ByteArray(), Serdes.ByteArray()).withName("by-user"));
		in.process(() -> new ActiveProcessor(o.retainMs, o.maxSkewMs, !o.repartition, progress), Named.as("active"),
			   ActiveProcessor.USERS, ActiveProcessor.BY_TIME);
		return b.build();
	}

	private Properties config() {
		Properties p = new Properties();
		p.put(StreamsConfig.APPLICATION_ID_CONFIG, o.applicationId);
		p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, o.brokers);
		p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, o.guarantee);
		p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, o.threads);
		p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, o.commitIntervalMs);
		p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, o.cacheBytes);
		p.put(StreamsConfig.STATE_DIR_CONFIG, o.stateDir);
		if (o.instanceId != null)
			p.put(StreamsConfig.mainConsumerPrefix(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG), o.instanceId);
		p.putAll(o.extra);
		return p;
	}

	private final class Restores implements StateRestoreListener {
		@Override
		public void onRestoreStart(TopicPartition tp, String store, long start, long end) {
			if (restoreStartMs.compareAndSet(0, System.currentTimeMillis()))
				Main.log("restore started: %s from %s", store, tp);
			else if (Main.verbose > 0)
				Main.log("restoring %s from %s, offsets %d to %d", store, tp, start, end);
		}

		@Override
		public void onBatchRestored(TopicPartition tp, String store, long end, long n) {
			restored.addAndGet(n);
		}

		@Override
		public void onRestoreEnd(TopicPartition tp, String store, long total) {
			restoreEndMs.set(System.currentTimeMillis());
			if (Main.verbose > 0)
				Main.log("restored %s from %s: %d records", store, tp, total);
		}
	}

	int run() {
		Properties ap = new Properties();
		ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, o.brokers);
		ap.put(AdminClientConfig.CLIENT_ID_CONFIG, o.applicationId + "-bench-admin");
		try (Admin admin = Admin.create(ap)) {
			return run(admin);
		} catch (ExecutionException e) {
			if (e.getCause() instanceof UnknownTopicOrPartitionException) {
				Main.log("error: topic '%s' does not exist", o.topic);
				return Main.EX_UNAVAILABLE;
			}
			Main.log("error: %s", e.getCause());
			return Main.EX_UNAVAILABLE;
		} catch (TimeoutException e) {
			Main.log("error: no answer from the brokers '%s'", o.brokers);
			return Main.EX_UNAVAILABLE;
		} catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			return Main.EX_SOFTWARE;
		} catch (IOException e) {
			Main.log("error: %s", e.getMessage());
			return Main.EX_SOFTWARE;
		}
	}

	private int run(Admin admin) throws ExecutionException, TimeoutException, InterruptedException, IOException {
		TopicDescription d = admin.describeTopics(List.of(o.topic)).allTopicNames().get(30, TimeUnit.SECONDS).get(o.topic);
		int n = d.partitions().size();
		/* What "the end" means for --exit-at-end and the "end reached" line: the topic's end
		 * offsets now. The input is not transactional, so offset end - 1 is its last record. */
		Map<TopicPartition, OffsetSpec> want = new HashMap<>();
		for (int p = 0; p < n; p++)
			want.put(new TopicPartition(o.topic, p), OffsetSpec.latest());
		long[] target = new long[n];
		admin.listOffsets(want).all().get(30, TimeUnit.SECONDS)
			.forEach((tp, info) -> target[tp.partition()] = info.offset());
		long[] committedAtStart = committed(admin, n);

		progress = new Progress(n, Main.verbose);
		streams = new KafkaStreams(topology(), config());
		streams.setStateListener((to, from) -> {
			if (to == KafkaStreams.State.RUNNING && restoreStartMs.get() != 0)
				Main.log("state %s -> %s: restored %d records in %d ms", from, to, restored.get(),
					 restoreEndMs.get() - restoreStartMs.get());
			else
				Main.log("state %s -> %s", from, to);
		});
		streams.setGlobalStateRestoreListener(new Restores());
		streams.setUncaughtExceptionHandler(e -> {
			Main.log("error: a stream thread died: %s", e);
			failed = true;
			return StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
		});
		Runtime.getRuntime().addShutdownHook(new Thread(() -> {
			if (closing)
				return;
			closing = true;
			Main.log("stopping");
			streams.close(Duration.ofSeconds(60));
			Main.log("stopped");
		}));
		Main.log("starting: topic '%s', %d partitions, %s, %d thread(s), commit every %d ms, cache %d bytes%s",
			 o.topic, n, o.guarantee, o.threads, o.commitIntervalMs, o.cacheBytes,
			 o.repartition ? ", repartitioned by user" : "");
		streams.start();
		HttpServer http = o.httpFile != null ? HttpApi.start(this, o.httpFile) : null;

		int rc = 0;
		boolean processedAll = false;
		while (!closing) {
			KafkaStreams.State s = streams.state();
			if (failed || s == KafkaStreams.State.ERROR ||
			    (s == KafkaStreams.State.NOT_RUNNING && !closing)) {
				rc = Main.EX_SOFTWARE;
				break;
			}
			/* RUNNING: restored, and the stores answer queries. */
			if (endReachedMs == 0 && s == KafkaStreams.State.RUNNING) {
				if (!processedAll) {
					processedAll = true;
					for (int p = 0; p < n; p++)
						if (Math.max(progress.next(p), committedAtStart[p]) < target[p])
							processedAll = false;
				}
				if (processedAll) {
					long[] c = committed(admin, n);
					boolean all = true;
					for (int p = 0; p < n; p++)
						if (c[p] < target[p])
							all = false;
					/* With --repartition, the input's offsets commit with the writes to
					 * the repartition topic: wait for the second step too. */
					if (o.repartition && progress.repartitionedCount() < progress.forwardedCount())
						all = false;
					if (all) {
						endReachedMs = System.currentTimeMillis();
						Main.log("end reached: %d events applied, %d refused %s, %d unkeyed; last record processed at t=%d",
							 progress.applied(), progress.rejected(), progress.reasons(),
							 progress.unkeyedCount(), progress.lastRecordMs());
						if (o.exitAtEnd)
							break;
					}
				}
			}
			Thread.sleep(processedAll && endReachedMs == 0 ? 20 : 50);
		}
		if (rc == 0 && o.exitAtEnd && !closing) {
			if (o.dump != null)
				dump(Path.of(o.dump));
			closing = true;
			streams.close(Duration.ofSeconds(60));
			Main.log("stopped");
		}
		if (http != null)
			http.stop(0);
		if (rc != 0 && !closing) {
			closing = true;
			streams.close(Duration.ofSeconds(10));
		}
		return rc;
	}

	/* The group's committed offsets (application.id is the group), 0 where none. */
	private long[] committed(Admin admin, int n) throws ExecutionException, TimeoutException, InterruptedException {
		long[] c = new long[n];
		Map<TopicPartition, OffsetAndMetadata> m = admin.listConsumerGroupOffsets(o.applicationId)
			.partitionsToOffsetAndMetadata().get(30, TimeUnit.SECONDS);
		m.forEach((tp, om) -> {
			if (om != null && tp.topic().equals(o.topic) && tp.partition() < n)
				c[tp.partition()] = om.offset();
		});
		return c;
	}

	ReadOnlyKeyValueStore<Bytes, byte[]> store(String name) {
		return streams.store(StoreQueryParameters.fromNameAndType(name, QueryableStoreTypes.<Bytes, byte[]>keyValueStore()));
	}

	/* Every user, sorted by name bytes, one JSON line each, as `pingpong query users
	 * --json` prints them. */
	List<String> users() {
		List<KeyValue<byte[], UserRecord>> all = new ArrayList<>();
		try (KeyValueIterator<Bytes, byte[]> it = store(ActiveProcessor.USERS).all()) {
			while (it.hasNext()) {
				KeyValue<Bytes, byte[]> kv = it.next();
				all.add(KeyValue.pair(kv.key.get(), UserRecord.decode(kv.value)));
			}
		}
		all.sort((a, b) -> Arrays.compareUnsigned(a.key, b.key));
		List<String> out = new ArrayList<>(all.size());
		for (KeyValue<byte[], UserRecord> kv : all)
			out.add(Json.user(kv.key, kv.value));
		return out;
	}

	private void dump(Path path) throws IOException {
		Path tmp = path.resolveSibling(path.getFileName() + ".tmp");
		List<String> lines = users();
		try (Writer w = Files.newBufferedWriter(tmp, StandardCharsets.UTF_8)) {
			for (String l : lines)
				w.write(l + "\n");
		}
		Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
		Main.log("dumped %d users to %s", lines.size(), path);
	}
}
