/* Client.java: `pingpong-kstreams query`: asks a running instance over HTTP (HttpApi)
 * and prints its answer as `pingpong query` would: the timing line on stderr, the rest
 * on stdout. */
package invalid.pingpong.kstreams;

import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

final class Client {
	private Client() {
	}

	static int run(List<String> args) throws Main.UsageException {
		String http = null, what = null;
		boolean json = false, timing = false;
		long at = 0, window = 30000, repeat = 1, warmup = 0;

		for (int i = 0; i < args.size(); i++) {
			String a = args.get(i);
			switch (a) {
			case "--json" -> json = true;
			case "--timing" -> timing = true;
			case "--http", "--at", "--window", "--repeat", "--warmup" -> {
				if (i + 1 >= args.size())
					throw new Main.UsageException("option '" + a + "' wants a value");
				String v = args.get(++i);
				switch (a) {
				case "--http" -> http = v;
				case "--at" -> at = Main.number(a, v);
				case "--window" -> window = Main.durationMs(a, v);
				case "--repeat" -> repeat = Main.number(a, v);
				default -> warmup = Main.number(a, v);
				}
			}
			default -> {
				if (what != null || a.startsWith("-"))
					throw new Main.UsageException("unexpected '" + a + "'");
				what = a;
			}
			}
		}
		if (http == null || what == null)
			throw new Main.UsageException("query wants --http and one of active, users, status");
		if (repeat < 1)
			throw new Main.UsageException("--repeat must be at least 1");
		String path = switch (what) {
		case "active" -> "/active?at=" + at + "&window=" + window + "&repeat=" + repeat + "&warmup=" + warmup +
			"&json=" + (json ? 1 : 0) + "&timing=" + (timing ? 1 : 0);
		case "users" -> "/users";
		case "status" -> "/status";
		default -> throw new Main.UsageException("unknown query '" + what + "'");
		};

		String addr = http;
		try {
			if (!http.matches("[^/]*:[0-9]+"))
				addr = Files.readString(Path.of(http)).trim();
			HttpClient c = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
			HttpResponse<String> r = c.send(HttpRequest.newBuilder(URI.create("http://" + addr + path))
							.timeout(Duration.ofMinutes(10)).build(),
							HttpResponse.BodyHandlers.ofString());
			String body = r.body();
			if (r.statusCode() != 200) {
				System.err.print("pingpong-kstreams query: " + body);
				return r.statusCode() == 503 ? Main.EX_UNAVAILABLE : Main.EX_SOFTWARE;
			}
			int nl = body.indexOf('\n');
			if (nl > 0)
				System.err.println(body.substring(0, nl));
			System.out.print(body.substring(nl + 1));
			System.out.flush();
			return 0;
		} catch (ConnectException e) {
			System.err.println("pingpong-kstreams query: cannot reach '" + addr + "': " +
					   (e.getMessage() == null ? "connection refused" : e.getMessage()));
			return Main.EX_UNAVAILABLE;
		} catch (IOException e) {
			System.err.println("pingpong-kstreams query: '" + http + "': " + e);
			return Main.EX_UNAVAILABLE;
		} catch (InterruptedException e) {
			Thread.currentThread().interrupt();
			return Main.EX_SOFTWARE;
		}
	}
}
