package leakagent.harness;

import java.io.PrintStream;
import java.lang.ref.WeakReference;
import java.util.List;

/** The machine-readable protocol: every line on stdout starts with "HARNESS ". */
public final class Out {
    private static final PrintStream OUT = System.out;

    private Out() {}

    public static synchronized void line(String s) {
        OUT.println("HARNESS " + s);
        OUT.flush();
    }

    public static void truth(String key, Object value) {
        line("truth " + key + "=" + value);
    }

    public static void selfcheck(String key, Object value) {
        line("selfcheck " + key + "=" + value);
    }

    /** A self-check of how many of the weakly held objects (a scenario's loaders) are still alive. */
    public static void selfcheckAlive(String key, List<? extends WeakReference<?>> refs) {
        selfcheck(key, refs.stream().filter(w -> w.get() != null).count());
    }

    /** Free-form diagnostics go to stderr, never to stdout. */
    public static void log(String s) {
        System.err.println("[harness] " + s);
        System.err.flush();
    }
}
