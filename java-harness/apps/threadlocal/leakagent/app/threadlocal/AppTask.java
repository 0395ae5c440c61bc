package leakagent.app.threadlocal;

/** Runs on the container's pooled thread: sets the ThreadLocal, and (fixed twin) removes it. */
public class AppTask implements Runnable {
    /** The ThreadLocal object is a static of an application class. */
    static final ThreadLocal<AppValue> CURRENT = new ThreadLocal<>();

    private final int generation;
    private final boolean fixed;

    AppTask(int generation, boolean fixed) {
        this.generation = generation;
        this.fixed = fixed;
    }

    @Override
    public void run() {
        CURRENT.set(new AppValue(generation));
        try {
            if (CURRENT.get().generation != generation) throw new IllegalStateException();
        } finally {
            if (fixed) {
                CURRENT.remove();
            }
        }
    }
}
