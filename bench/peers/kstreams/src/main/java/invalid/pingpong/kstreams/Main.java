/* Main.java: the command line of pingpong-kstreams: `run` (the default) and `query`.
 *
 * Exit status as pingpong's (sysexits.h): 0 success, 64 usage, 65 bad data (a failed
 * correctness check is not this program's to judge: it only dumps), 69 broker or
 * application unavailable, 70 an internal error (a stream thread died).
 */
package invalid.pingpong.kstreams;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public final class Main {
	static final int EX_USAGE = 64;
	static final int EX_UNAVAILABLE = 69;
	static final int EX_SOFTWARE = 70;

	static final String USAGE =
		"usage: pingpong-kstreams [run] -t TOPIC --application-id ID --state-dir DIR\n" +
		"                         [-b BROKERS] [--guarantee exactly_once_v2|at_least_once]\n" +
		"                         [--threads N] [--commit-interval D] [--cache SIZE]\n" +
		"                         [--retain D] [--max-skew D] [--instance-id ID]\n" +
		"                         [--repartition] [--http-file FILE] [--exit-at-end]\n" +
		"                         [--dump FILE]\n" +
		"                         [-X KEY=VALUE]... [-v]\n" +
		"       pingpong-kstreams query --http FILE|HOST:PORT [--json] active [--at TS]\n" +
		"                         [--window D] [--repeat N] [--warmup N] [--timing]\n" +
		"       pingpong-kstreams query --http FILE|HOST:PORT users\n" +
		"       pingpong-kstreams query --http FILE|HOST:PORT status\n" +
		"\n" +
		"run: pingpong's active consumer as a Kafka Streams application: every user's\n" +
		"last-seen time, event count and email in a RocksDB store, and a time-ordered\n" +
		"index of last-seen times in a second one, for the users active in a window.\n" +
		"\n" +
		"  -t, --topic NAME        the topic of chat events (pingpong's msgpack)\n" +
		"  --application-id ID     Kafka Streams' application.id: group and topic prefix\n" +
		"  --state-dir DIR         where the RocksDB stores live\n" +
		"  -b, --brokers LIST      bootstrap servers (default $PINGPONG_BROKERS)\n" +
		"  --guarantee G           exactly_once_v2 (default) or at_least_once\n" +
		"  --threads N             stream threads (default 1)\n" +
		"  --commit-interval D     commit.interval.ms (default 100ms, for both guarantees)\n" +
		"  --cache SIZE            statestore.cache.max.bytes (default 10MiB)\n" +
		"  --retain D              keep the time index for D (default 30s)\n" +
		"  --max-skew D            refuse events stamped more than D ahead (default 5m)\n" +
		"  --instance-id ID        static membership (group.instance.id)\n" +
		"  --repartition           route events through a topic keyed by user first; without\n" +
		"                          it the input must be keyed by user (pingpong produce's\n" +
		"                          default): stores are per partition\n" +
		"  --http-file FILE        serve interactive queries on a free 127.0.0.1 port and\n" +
		"                          write HOST:PORT to FILE\n" +
		"  --exit-at-end           stop once the input, as it was at start, is processed\n" +
		"                          and committed\n" +
		"  --dump FILE             with --exit-at-end: write the users there first, one\n" +
		"                          JSON object per line as `pingpong query users --json`\n" +
		"  -X KEY=VALUE            any Kafka Streams or client setting\n" +
		"  -v                      log every refused event and every restored partition\n" +
		"\n" +
		"query: asks a running instance through its --http-file endpoint. `active` runs\n" +
		"the window query --repeat times in that process and, with --timing, prints its\n" +
		"p50 and p99 to stderr as `pingpong query active --timing` does.\n";

	static volatile int verbose;

	private Main() {
	}

	/* A log line on stderr: "kstreams: t=<epoch ms> <what>". The benchmark reads t=. */
	static void log(String fmt, Object... args) {
		String line = "kstreams: t=" + System.currentTimeMillis() + " " + String.format(fmt, args);
		synchronized (System.err) {
			System.err.println(line);
		}
	}

	static final class UsageException extends Exception {
		private static final long serialVersionUID = 1L;

		UsageException(String msg) {
			super(msg);
		}
	}

	private static final Pattern DURATION = Pattern.compile("([0-9]+(?:\\.[0-9]+)?)(ms|s|m|h)");
	private static final Pattern SIZE = Pattern.compile("([0-9]+)(B|KiB|MiB|GiB)?");

	/* As pingpong's parse_duration_ms: a unit is required, except for 0. */
	static long durationMs(String opt, String s) throws UsageException {
		if ("0".equals(s))
			return 0;
		Matcher m = DURATION.matcher(s);
		if (!m.matches())
			throw new UsageException("option '" + opt + "' wants a duration such as 100ms, 30s, 5m, 24h, not '" + s + "'");
		double v = Double.parseDouble(m.group(1));
		long unit = switch (m.group(2)) {
		case "ms" -> 1;
		case "s" -> 1000;
		case "m" -> 60000;
		default -> 3600000;
		};
		return Math.round(v * unit);
	}

	static long sizeBytes(String opt, String s) throws UsageException {
		Matcher m = SIZE.matcher(s);
		if (!m.matches())
			throw new UsageException("option '" + opt + "' wants a size such as 10MiB, not '" + s + "'");
		long v = Long.parseLong(m.group(1));
		String u = m.group(2) == null ? "B" : m.group(2);
		return v << switch (u) {
		case "KiB" -> 10;
		case "MiB" -> 20;
		case "GiB" -> 30;
		default -> 0;
		};
	}

	static long number(String opt, String s) throws UsageException {
		try {
			long v = Long.parseLong(s);
			if (v >= 0)
				return v;
		} catch (NumberFormatException e) {
			/* below */
		}
		throw new UsageException("option '" + opt + "' wants a number, not '" + s + "'");
	}

	/* The options of `run`. */
	static final class Options {
		String brokers = System.getenv("PINGPONG_BROKERS");
		String topic, applicationId, stateDir, instanceId, httpFile, dump;
		String guarantee = "exactly_once_v2";
		int threads = 1;
		long commitIntervalMs = 100, cacheBytes = 10L << 20, retainMs = 30000, maxSkewMs = 300000;
		boolean exitAtEnd, repartition;
		final Map<String, String> extra = new LinkedHashMap<>();

		/* The options that take a value (set() knows what to do with each). */
		private static final java.util.Set<String> VALUED = java.util.Set.of("-b", "--brokers", "-t", "--topic",
			"--application-id", "--state-dir", "--guarantee", "--threads", "--commit-interval", "--cache",
			"--retain", "--max-skew", "--instance-id", "--http-file", "--dump", "-X");

		static Options parse(List<String> args) throws UsageException {
			Options o = new Options();
			for (int i = 0; i < args.size(); i++) {
				String a = args.get(i), v = null;
				int eq = a.indexOf('=');
				if (a.startsWith("--") && eq > 0) {
					v = a.substring(eq + 1);
					a = a.substring(0, eq);
				}
				switch (a) {
				case "-v", "--verbose" -> verbose++;
				case "--exit-at-end" -> o.exitAtEnd = true;
				case "--repartition" -> o.repartition = true;
				default -> {
					if (!VALUED.contains(a))
						throw new UsageException(a.startsWith("-") ? "unknown option '" + a + "'"
									    : "unexpected argument '" + a + "'");
					if (v == null) {
						if (i + 1 >= args.size())
							throw new UsageException("option '" + a + "' wants a value");
						v = args.get(++i);
					}
					o.set(a, v);
				}
				}
			}
			if (o.topic == null || o.applicationId == null || o.stateDir == null)
				throw new UsageException("-t, --application-id and --state-dir are required");
			if (o.brokers == null || o.brokers.isEmpty())
				throw new UsageException("no brokers: give -b or set PINGPONG_BROKERS");
			if (o.dump != null && !o.exitAtEnd)
				throw new UsageException("--dump needs --exit-at-end");
			return o;
		}

		private void set(String a, String v) throws UsageException {
			switch (a) {
			case "-b", "--brokers" -> brokers = v;
			case "-t", "--topic" -> topic = v;
			case "--application-id" -> applicationId = v;
			case "--state-dir" -> stateDir = v;
			case "--guarantee" -> {
				if (!v.equals("exactly_once_v2") && !v.equals("at_least_once"))
					throw new UsageException("--guarantee is exactly_once_v2 or at_least_once, not '" + v + "'");
				guarantee = v;
			}
			case "--threads" -> {
				threads = (int) number(a, v);
				if (threads < 1 || threads > 64)
					throw new UsageException("--threads wants 1 to 64, not '" + v + "'");
			}
			case "--commit-interval" -> commitIntervalMs = durationMs(a, v);
			case "--cache" -> cacheBytes = sizeBytes(a, v);
			case "--retain" -> retainMs = durationMs(a, v);
			case "--max-skew" -> maxSkewMs = durationMs(a, v);
			case "--instance-id" -> instanceId = v;
			case "--http-file" -> httpFile = v;
			case "--dump" -> dump = v;
			case "-X" -> {
				int eq = v.indexOf('=');
				if (eq <= 0)
					throw new UsageException("-X wants KEY=VALUE, not '" + v + "'");
				extra.put(v.substring(0, eq), v.substring(eq + 1));
			}
			default -> throw new UsageException("unknown option '" + a + "'");
			}
		}
	}

	public static void main(String[] argv) {
		List<String> args = new ArrayList<>(List.of(argv));
		if (args.contains("-h") || args.contains("--help")) {
			System.out.print(USAGE);
			System.exit(0);
		}
		int rc;
		try {
			if (!args.isEmpty() && args.get(0).equals("query")) {
				rc = Client.run(args.subList(1, args.size()));
			} else {
				if (!args.isEmpty() && args.get(0).equals("run"))
					args.remove(0);
				rc = new App(Options.parse(args)).run();
			}
		} catch (UsageException e) {
			System.err.println("pingpong-kstreams: " + e.getMessage());
			System.err.print(USAGE);
			rc = EX_USAGE;
		}
		System.exit(rc);
	}
}
