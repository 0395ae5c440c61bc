package leakagent.harness;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

import leakagent.harness.scenarios.ArenaRetention;
import leakagent.harness.scenarios.ClassList;
import leakagent.harness.scenarios.DirectOom;
import leakagent.harness.scenarios.HeapOom;
import leakagent.harness.scenarios.ThreadsOom;
import leakagent.harness.scenarios.MetaspaceOom;
import leakagent.harness.scenarios.NativeCache;
import leakagent.harness.scenarios.NativeGrowth;
import leakagent.harness.scenarios.ZlibWaves;
import leakagent.harness.scenarios.CommonsLogging;
import leakagent.harness.scenarios.DirectAtLimit;
import leakagent.harness.scenarios.DirectChurn;
import leakagent.harness.scenarios.DirectLeak;
import leakagent.harness.scenarios.EnumParent;
import leakagent.harness.scenarios.GroovyScripts;
import leakagent.harness.scenarios.Healthy;
import leakagent.harness.scenarios.IntrospectorLeak;
import leakagent.harness.scenarios.JdbcDriver;
import leakagent.harness.scenarios.LevelRedeploy;
import leakagent.harness.scenarios.NativeSites;
import leakagent.harness.scenarios.SpringIntrospection;
import leakagent.harness.scenarios.SpringBootScan;
import leakagent.harness.scenarios.ThreadLeak;
import leakagent.harness.scenarios.ThreadLocalLeak;
import leakagent.harness.scenarios.TomcatJsp;
import leakagent.harness.scenarios.TomcatWebapp;
import leakagent.harness.scenarios.UnsafeLeak;
import leakagent.harness.scenarios.UnsafeMixed;

/**
 * java [agent options] -jar harness.jar SCENARIO [--fixed] [--generations N] [--threads N]
 *      [--await-stdin] [--selfcheck] [--hold]
 */
public final class Main {
    private static final Map<String, Supplier<Scenario>> SCENARIOS = new LinkedHashMap<>();

    static {
        SCENARIOS.put("healthy", Healthy::new);
        SCENARIOS.put("level-redeploy", LevelRedeploy::new);
        SCENARIOS.put("commons-logging", CommonsLogging::new);
        SCENARIOS.put("introspector", IntrospectorLeak::new);
        SCENARIOS.put("spring-introspection", SpringIntrospection::new);
        SCENARIOS.put("jdbc-driver", JdbcDriver::new);
        SCENARIOS.put("threadlocal", ThreadLocalLeak::new);
        SCENARIOS.put("thread", ThreadLeak::new);
        SCENARIOS.put("enum-parent", EnumParent::new);
        SCENARIOS.put("class-list", ClassList::new);
        SCENARIOS.put("tomcat-webapp", TomcatWebapp::new);
        SCENARIOS.put("tomcat-jsp", TomcatJsp::new);
        SCENARIOS.put("groovy-scripts", GroovyScripts::new);
        SCENARIOS.put("springboot-scan", SpringBootScan::new);
        SCENARIOS.put("direct-leak", DirectLeak::new);
        SCENARIOS.put("direct-churn", DirectChurn::new);
        SCENARIOS.put("direct-at-limit", DirectAtLimit::new);
        SCENARIOS.put("unsafe-leak", UnsafeLeak::new);
        SCENARIOS.put("unsafe-mixed", UnsafeMixed::new);
        SCENARIOS.put("native-sites", NativeSites::new);
        SCENARIOS.put("arena-retention", ArenaRetention::new);
        SCENARIOS.put("native-growth", NativeGrowth::new);
        SCENARIOS.put("native-cache", NativeCache::new);
        SCENARIOS.put("zlib-waves", ZlibWaves::new);
        SCENARIOS.put("heap-oom", HeapOom::new);
        SCENARIOS.put("threads-oom", ThreadsOom::new);
        SCENARIOS.put("metaspace-oom", MetaspaceOom::new);
        SCENARIOS.put("direct-oom", DirectOom::new);
    }

    private Main() {}

    public static void main(String[] args) throws Exception {
        Options o;
        try {
            o = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("harness: " + e.getMessage());
            System.err.println(usage());
            System.exit(2);
            return;
        }
        if (o == null) { // --list / --help
            System.exit(0);
            return;
        }
        Scenario s = SCENARIOS.get(o.scenario).get();
        Out.truth("scenario", o.scenario);
        Out.truth("fixed", o.fixed);
        Out.truth("java_version", System.getProperty("java.version"));
        Out.truth("pid", ProcessHandle.current().pid());
        Container.hold = o.hold;
        try {
            s.run(o);
        } catch (Throwable t) {
            System.err.println("harness: scenario " + o.scenario + " failed");
            t.printStackTrace();
            Out.line("failed " + t);
            System.exit(1);
            return;
        }
        Out.line("ready");
        if (o.awaitStdin) {
            awaitStdin();
        }
        Out.line("done");
        System.out.flush();
        System.exit(0);
    }

    private static void awaitStdin() throws Exception {
        BufferedReader r = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = r.readLine()) != null) {
            if (line.trim().equals("exit")) {
                break;
            }
            if (line.trim().equals("release")) {
                Container.release();
                Out.line("released");
            }
        }
    }

    static Options parse(String[] args) {
        Options o = new Options();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            String value = null;
            int eq = a.indexOf('=');
            if (a.startsWith("--") && eq > 0) {
                value = a.substring(eq + 1);
                a = a.substring(0, eq);
            }
            switch (a) {
                case "--fixed": o.fixed = true; break;
                case "--await-stdin": o.awaitStdin = true; break;
                case "--selfcheck": o.selfcheck = true; break;
                case "--hold": o.hold = true; break;
                case "--generations":
                case "--threads": {
                    if (value == null) {
                        if (i + 1 >= args.length) throw new IllegalArgumentException(a + " needs a number");
                        value = args[++i];
                    }
                    int n;
                    try {
                        n = Integer.parseInt(value);
                    } catch (NumberFormatException e) {
                        throw new IllegalArgumentException(a + " needs a number, got '" + value + "'");
                    }
                    if (n < 1) throw new IllegalArgumentException(a + " must be >= 1");
                    if (a.equals("--generations")) o.generations = n; else o.threads = n;
                    break;
                }
                case "--list":
                    for (String k : SCENARIOS.keySet()) System.out.println(k);
                    return null;
                case "--help":
                case "-h":
                    System.out.println(usage());
                    return null;
                default:
                    if (a.startsWith("-")) throw new IllegalArgumentException("unknown option " + args[i]);
                    if (o.scenario != null) throw new IllegalArgumentException("unexpected argument " + a);
                    if (!SCENARIOS.containsKey(a)) throw new IllegalArgumentException("unknown scenario " + a);
                    o.scenario = a;
            }
        }
        if (o.scenario == null) throw new IllegalArgumentException("no scenario given");
        return o;
    }

    static String usage() {
        return "usage: java -jar harness.jar <scenario> [--fixed] [--generations N] [--threads N]"
                + " [--await-stdin] [--selfcheck] [--hold]\nscenarios: " + String.join(", ", SCENARIOS.keySet());
    }

    /** java-harness/build (the directory holding harness.jar), or -Dleakagent.harness.build. */
    public static Path buildDir() {
        String p = System.getProperty("leakagent.harness.build");
        if (p != null) return Paths.get(p);
        try {
            URL loc = Main.class.getProtectionDomain().getCodeSource().getLocation();
            Path jar = Paths.get(loc.toURI());
            return jar.getParent();
        } catch (Exception e) {
            throw new IllegalStateException("cannot locate harness.jar", e);
        }
    }

    /** Debian's /usr/share/java, or -Dleakagent.harness.javadir. */
    public static String javaLib(String jar) {
        return System.getProperty("leakagent.harness.javadir", "/usr/share/java") + "/" + jar;
    }
}
