package leakagent.harness;

/** Parsed command line. */
public final class Options {
    public String scenario;
    public boolean fixed;
    public int generations = 3;
    public int threads = -1; // -1: scenario default
    public boolean awaitStdin;
    public boolean selfcheck;

    public int threads(int dflt) {
        return threads > 0 ? threads : dflt;
    }
}
