package leakagent.harness;

/** Parsed command line. */
public final class Options {
    public String scenario;
    public boolean fixed;
    public int generations = 3;
    public int threads = -1; // -1: scenario default
    public boolean awaitStdin;
    public boolean selfcheck;
    /** --hold: deployed loaders stay strongly held until the stdin line `release`. */
    public boolean hold;

    public int threads(int dflt) {
        return threads > 0 ? threads : dflt;
    }
}
