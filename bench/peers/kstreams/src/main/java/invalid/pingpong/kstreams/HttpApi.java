/* HttpApi.java: the interactive queries of a running instance, over HTTP on 127.0.0.1.
 *
 * GET /active?at=MS&window=MS&repeat=N&warmup=N&json=0|1&timing=0|1
 *     the users whose last-seen time is in (at - window, at], from the "by-time" store
 *     through Kafka Streams' interactive query (one range over every local partition's
 *     store). The query runs warmup + repeat times in this process; each of the last
 *     repeat runs is timed from the range call to the last entry read, names copied,
 *     as `pingpong query active --repeat N --timing` times active_collect() in one read
 *     txn. The store handle is taken once, before the runs, as pingpong opens its txn.
 * GET /users   every user, one JSON line each, sorted by name bytes
 * GET /status  a JSON object: state, events applied and refused, restore, times
 *
 * A reply's first line is for stderr (the timing line, or empty), the rest for stdout:
 * Client splits it so. 503 while the stores cannot be queried (not RUNNING).
 */
package invalid.pingpong.kstreams;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Executors;

import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.errors.InvalidStateStoreException;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;

final class HttpApi {
	private final App app;

	private HttpApi(App app) {
		this.app = app;
	}

	static HttpServer start(App app, String file) throws IOException {
		HttpServer s = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
		HttpApi api = new HttpApi(app);
		s.createContext("/active", api::active);
		s.createContext("/users", api::users);
		s.createContext("/status", api::status);
		s.setExecutor(Executors.newSingleThreadExecutor(r -> {
			Thread t = new Thread(r, "iq-http");
			t.setDaemon(true);
			return t;
		}));
		s.start();
		Path path = Path.of(file), tmp = path.resolveSibling(path.getFileName() + ".tmp");
		Files.writeString(tmp, "127.0.0.1:" + s.getAddress().getPort() + "\n");
		Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
		Main.log("interactive queries on 127.0.0.1:%d", s.getAddress().getPort());
		return s;
	}

	private static Map<String, String> params(HttpExchange ex) {
		Map<String, String> m = new HashMap<>();
		String q = ex.getRequestURI().getRawQuery();
		if (q != null)
			for (String kv : q.split("&")) {
				int eq = kv.indexOf('=');
				if (eq > 0)
					m.put(kv.substring(0, eq), kv.substring(eq + 1));
			}
		return m;
	}

	private static void reply(HttpExchange ex, int code, String body) throws IOException {
		byte[] b = body.getBytes(StandardCharsets.UTF_8);
		ex.getResponseHeaders().set("Content-Type", "text/plain; charset=utf-8");
		ex.sendResponseHeaders(code, b.length);
		try (OutputStream out = ex.getResponseBody()) {
			out.write(b);
		}
	}

	private interface Body {
		String get(Map<String, String> params) throws IOException;
	}

	private static void serve(HttpExchange ex, Body body) throws IOException {
		try {
			reply(ex, 200, body.get(params(ex)));
		} catch (InvalidStateStoreException e) {
			reply(ex, 503, "the stores cannot be queried now (" + why(e) + ")\n");
		} catch (NumberFormatException e) {
			reply(ex, 400, "bad parameter: " + e.getMessage() + "\n");
		} catch (RuntimeException e) {
			reply(ex, 500, e + "\n");
		}
	}

	private static String why(Exception e) {
		return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
	}

	private void active(HttpExchange ex) throws IOException {
		serve(ex, p -> {
			long at = Long.parseLong(p.getOrDefault("at", "0"));
			if (at == 0)
				at = System.currentTimeMillis();
			long window = Long.parseLong(p.getOrDefault("window", "30000"));
			int repeat = Integer.parseInt(p.getOrDefault("repeat", "1"));
			int warmup = Integer.parseInt(p.getOrDefault("warmup", "0"));
			boolean json = "1".equals(p.get("json")), timing = "1".equals(p.get("timing"));
			if (repeat < 1 || warmup < 0)
				throw new NumberFormatException("repeat must be >= 1, warmup >= 0");
			/* (at - window, at]: from be64(at - window + 1), to be64(at + 1), which is no
			 * entry's key (every entry has a name after its time). */
			Bytes from = Bytes.wrap(ActiveProcessor.indexKey(at - window + 1, new byte[0]));
			Bytes to = Bytes.wrap(ActiveProcessor.indexKey(at + 1, new byte[0]));
			ReadOnlyKeyValueStore<Bytes, byte[]> store = app.store(ActiveProcessor.BY_TIME);
			long[] lat = new long[repeat];
			List<KeyValue<byte[], Long>> users = new ArrayList<>();
			for (int i = 0; i < warmup + repeat; i++) {
				users = new ArrayList<>(users.size());
				long t0 = System.nanoTime();
				try (KeyValueIterator<Bytes, byte[]> it = store.range(from, to)) {
					ActiveProcessor.collect(it, users);
				}
				if (i >= warmup)
					lat[i - warmup] = System.nanoTime() - t0;
			}
			/* Index order, as pingpong prints: by time, then name bytes. The stores of the
			 * partitions are read one after the other, so this sorts across them. */
			users.sort((a, b) -> a.value.equals(b.value) ? Arrays.compareUnsigned(a.key, b.key)
								   : Long.compare(a.value, b.value));
			StringBuilder b = new StringBuilder();
			if (timing) {
				Arrays.sort(lat);
				b.append(String.format("active query: %d runs, %d users: p50 %.1f us, p99 %.1f us",
						       repeat, users.size(), lat[repeat / 2] / 1000.0,
						       lat[(int) ((long) repeat * 99 / 100)] / 1000.0));
			}
			b.append('\n');
			if (json) {
				b.append("{\"at\":").append(at).append(",\"window_ms\":").append(window)
					.append(",\"count\":").append(users.size()).append(",\"users\":[");
				for (int i = 0; i < users.size(); i++) {
					Json.string(b.append(i > 0 ? "," : "").append("{\"user\":"), users.get(i).key);
					b.append(",\"last_seen\":").append(users.get(i).value).append('}');
				}
				b.append("]}\n");
			} else if (users.isEmpty()) {
				b.append("No Active Users...\n");
			} else {
				b.append("Active Users: ");
				for (int i = 0; i < users.size(); i++)
					b.append(i > 0 ? ", " : "").append(new String(users.get(i).key, StandardCharsets.UTF_8));
				b.append('\n');
			}
			return b.toString();
		});
	}

	private void users(HttpExchange ex) throws IOException {
		serve(ex, p -> {
			StringBuilder b = new StringBuilder("\n");
			for (String l : app.users())
				b.append(l).append('\n');
			return b.toString();
		});
	}

	private void status(HttpExchange ex) throws IOException {
		serve(ex, p -> {
			Progress pr = app.progress();
			StringBuilder b = new StringBuilder("\n{\"state\":");
			Json.string(b, String.valueOf(app.streams().state()));
			b.append(",\"applied\":").append(pr.applied()).append(",\"refused\":").append(pr.rejected())
				.append(",\"refused_by_reason\":{");
			int i = 0;
			for (Map.Entry<String, Long> e : pr.reasons().entrySet())
				Json.string(b.append(i++ > 0 ? "," : ""), e.getKey()).append(':').append(e.getValue());
			b.append("},\"restored\":").append(app.restored())
				.append(",\"first_record_ms\":").append(pr.firstRecordMs())
				.append(",\"last_record_ms\":").append(pr.lastRecordMs())
				.append(",\"end_reached_ms\":").append(app.endReachedMs()).append("}\n");
			return b.toString();
		});
	}
}
