import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;
import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;

/**
 * Direct-buffer churn for bench/native_overhead.sh: each thread allocates DirectByteBuffers of
 * 64 B to 64 KiB, touches them and drops them; every other buffer is released explicitly
 * (Unsafe.invokeCleaner), the rest by the GC. Threads recurse --depth frames first, as in
 * ZlibBench. The timed pass runs on the warm-up's threads (with --fresh, on new ones, whose glibc
 * arenas are new: the bench before session 32). --compiled warms descend first so that the
 * frames below the loop are compiled too, as on a warm server's request path.
 *
 *   java [-XX:MaxDirectMemorySize=64m] DirectBench [--threads 2] [--buffers 400000] [--depth 40]
 *                                                  [--go FILE] [--sizes 64,1000,4096,16384,65536]
 *                                                  [--fresh] [--compiled] [--prelude N]
 * --prelude N: before the workers start, N short-lived threads each count a few direct buffers
 * and exit, so that the workers come after them, as a server's request threads come after its
 * start-up threads (the agent's owned counter stripes went to the first threads that counted).
 * With --go, it prints "READY" after the warm-up and starts the timed pass once FILE exists, so
 * that several JVMs run it at the same time (bench/native_overhead.sh --together).
 * Prints "BENCH direct ms=<timed wall milliseconds> cpu_ms=<CPU milliseconds of the worker threads>
 * proc_cpu_ms=<CPU milliseconds of the whole process> steady_cpu_ms=<the workers' median slice
 * of 20,000 buffers times the slices> buffers=<allocated> faults=<the workers' minor page
 * faults> gcs=<collections> gc_time=<their milliseconds>", all of the timed pass. The process's time
 * includes the Reference Handler, which frees the buffers the GC found (and runs the agent's free
 * path for them), and the GC's own threads.
 */
public final class DirectBench {
    static int[] SIZES = {64, 1000, 4096, 16384, 65536};
    static final AtomicLong CPU = new AtomicLong();
    /** Minor page faults of the worker threads in the timed pass (0 where /proc has none). */
    static final AtomicLong FAULTS = new AtomicLong();
    /** Each worker's CPU over its steady phase: the median of its slices' CPU times the slices. */
    static final AtomicLong STEADY = new AtomicLong();
    /** Buffers per slice of a worker's pass (a multiple of the sizes' count and of 2). */
    static final int SLICE = 20_000;

    public static void main(String[] args) throws Exception {
        int threads = 2, buffers = 400_000, depth = 40;
        java.nio.file.Path go = null;
        boolean compiled = false, fresh = false;
        int prelude = 0;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--threads": threads = Integer.parseInt(args[++i]); break;
                case "--buffers": buffers = Integer.parseInt(args[++i]); break;
                case "--depth": depth = Integer.parseInt(args[++i]); break;
                case "--go": go = java.nio.file.Paths.get(args[++i]); break;
                case "--compiled": compiled = true; break;
                case "--fresh": fresh = true; break;
                case "--prelude": prelude = Integer.parseInt(args[++i]); break;
                case "--sizes":
                    SIZES = java.util.Arrays.stream(args[++i].split(",")).mapToInt(Integer::parseInt).toArray();
                    break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
        f.setAccessible(true);
        sun.misc.Unsafe u = (sun.misc.Unsafe) f.get(null);
        for (int p = 0; p < prelude; p++) {
            // One at a time: each has ended before the next starts, as start-up threads have.
            Thread t = new Thread(() -> {
                for (int i = 0; i < 10; i++) u.invokeCleaner(ByteBuffer.allocateDirect(64));
            }, "direct-bench-prelude-" + p);
            t.start();
            t.join();
        }
        if (compiled) {
            // The frames below the loop compiled too, as on a warm server's request path: descend
            // called often enough that the JIT compiles it whole, not only the loop's OSR.
            java.lang.management.ThreadMXBean mx = ManagementFactory.getThreadMXBean();
            for (int i = 0; i < 30_000; i++) descend(u, depth, 1, new long[1], mx);
        }
        com.sun.management.OperatingSystemMXBean os = (com.sun.management.OperatingSystemMXBean)
                java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        long[] at = new long[4]; // when the timed pass starts: GCs, GC ms, process CPU, nanoTime
        final java.nio.file.Path goFile = go;
        Runnable start = () -> {
            if (goFile != null) {
                System.out.println("READY");
                System.out.flush();
                while (!java.nio.file.Files.exists(goFile)) {
                    try {
                        Thread.sleep(2);
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                }
            }
            CPU.set(0);
            FAULTS.set(0);
            STEADY.set(0);
            at[0] = gcCount();
            at[1] = gcMillis();
            at[2] = os.getProcessCpuTime();
            at[3] = System.nanoTime();
        };
        long n = fresh ? run(u, threads, buffers / 10, 0, depth, () -> { }) + run(u, threads, 0, buffers, depth, start)
                : run(u, threads, buffers / 10, buffers, depth, start);
        long ms = (System.nanoTime() - at[3]) / 1_000_000;
        long proc = (os.getProcessCpuTime() - at[2]) / 1_000_000;
        System.out.println("BENCH direct ms=" + ms + " cpu_ms=" + CPU.get() / 1_000_000 + " proc_cpu_ms=" + proc
                + " steady_cpu_ms=" + STEADY.get() / 1_000_000 + " buffers=" + n + " faults=" + FAULTS.get()
                + " gcs=" + (gcCount() - at[0]) + " gc_time=" + (gcMillis() - at[1]));
    }

    /**
     * Each of `threads` workers runs a warm-up pass of its share of `warm` buffers, then, once
     * every worker has and `start` has run, its timed pass of its share of `buffers`; returns
     * the timed buffers. The timed pass runs on the warm-up's threads: their glibc arenas, their
     * touched pages and the agent's per-thread state are warm, as on a server's pooled threads.
     */
    static long run(sun.misc.Unsafe u, int threads, int warm, int buffers, int depth, Runnable start) throws Exception {
        AtomicLong total = new AtomicLong();
        java.util.concurrent.CountDownLatch warmed = new java.util.concurrent.CountDownLatch(threads);
        java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
        Thread[] ts = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            final int per = buffers / threads;
            ts[t] = new Thread(() -> {
                java.lang.management.ThreadMXBean mx = ManagementFactory.getThreadMXBean();
                // Marks as in the timed pass, so that the JIT compiles the same paths.
                if (warm > 0) descend(u, depth, warm / threads, new long[warm / threads / SLICE + 1], mx);
                warmed.countDown();
                try {
                    go.await();
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                if (per == 0) return;
                long c0 = mx.getCurrentThreadCpuTime();
                long f0 = minorFaults();
                long[] marks = new long[per / SLICE + 1];
                total.addAndGet(descend(u, depth, per, marks, mx));
                CPU.addAndGet(mx.getCurrentThreadCpuTime() - c0);
                FAULTS.addAndGet(minorFaults() - f0);
                STEADY.addAndGet(steady(c0, marks, per % SLICE == 0 ? per / SLICE : 0));
            }, "direct-bench-" + t);
            ts[t].start();
        }
        warmed.await();
        start.run();
        go.countDown();
        for (Thread t : ts) t.join();
        return total.get();
    }

    /** This thread's minor page faults (field 10 of /proc/thread-self/stat), 0 where unreadable. */
    static long minorFaults() {
        try {
            String st = new String(java.nio.file.Files.readAllBytes(java.nio.file.Paths.get("/proc/thread-self/stat")));
            return Long.parseLong(st.substring(st.lastIndexOf(')') + 2).split(" ")[7]);
        } catch (Exception e) {
            return 0;
        }
    }

    /** The median of the slices' CPU (marks[k] is the thread's CPU at the end of slice k) times the slices. */
    static long steady(long c0, long[] marks, int slices) {
        if (slices == 0) return 0;
        long[] d = new long[slices];
        for (int k = 0; k < slices; k++) d[k] = marks[k] - (k == 0 ? c0 : marks[k - 1]);
        java.util.Arrays.sort(d);
        return (slices % 2 == 1 ? d[slices / 2] : (d[slices / 2 - 1] + d[slices / 2]) / 2) * slices;
    }

    static long gcCount() {
        long n = 0;
        for (GarbageCollectorMXBean g : ManagementFactory.getGarbageCollectorMXBeans()) n += Math.max(0, g.getCollectionCount());
        return n;
    }

    static long gcMillis() {
        long n = 0;
        for (GarbageCollectorMXBean g : ManagementFactory.getGarbageCollectorMXBeans()) n += Math.max(0, g.getCollectionTime());
        return n;
    }

    static long descend(sun.misc.Unsafe u, int depth, int n, long[] marks,
                        java.lang.management.ThreadMXBean mx) {
        if (depth > 0) return descend(u, depth - 1, n, marks, mx);
        long sum = 0;
        for (int i = 0, k = 0; i < n; i++) {
            if (i > 0 && i % SLICE == 0) marks[k++] = mx.getCurrentThreadCpuTime();
            ByteBuffer b = ByteBuffer.allocateDirect(SIZES[i % SIZES.length]);
            b.put(0, (byte) i);
            sum += b.get(0);
            if ((i & 1) == 0) u.invokeCleaner(b);
        }
        if (n % SLICE == 0 && n > 0) marks[n / SLICE - 1] = mx.getCurrentThreadCpuTime();
        return n + (sum & 0);
    }
}
