import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;

/**
 * bench/malloc_overhead.sh's workload: 2 threads call a JNI native (bench/mallocbench.c) that
 * churns malloc/free, 4,096 allocations per call, 12,000,000 allocations per thread, 40 Java
 * frames below the calls. Prints "BENCH ms=<wall> cpu_ms=<worker CPU>" for the timed phase
 * (after a warm-up pass).
 * --fill: each block is written whole (a codec's buffers), else only its first and last byte.
 *   java MallocBench LIBRARY [--depth N] [--allocations N] [--fill]
 */
public final class MallocBench {
    static native long churn(int n, long seed, boolean fill);

    static boolean fill;

    static volatile long sink;

    public static void main(String[] args) throws Exception {
        System.load(args[0]);
        int depth = 40;
        long allocations = 12_000_000L;
        for (int i = 1; i < args.length; i++) {
            if (args[i].equals("--depth")) depth = Integer.parseInt(args[++i]);
            else if (args[i].equals("--allocations")) allocations = Long.parseLong(args[++i]);
            else if (args[i].equals("--fill")) fill = true;
        }
        run(2, allocations / 10, depth);
        long[] r = run(2, allocations, depth);
        System.out.println("BENCH ms=" + r[0] + " cpu_ms=" + r[1]);
    }

    static long[] run(int threads, long perThread, int depth) throws Exception {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        long[] cpu = new long[threads];
        Thread[] ts = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            final int id = t;
            ts[t] = new Thread(() -> {
                long c0 = mx.getCurrentThreadCpuTime();
                nest(depth, perThread, id);
                cpu[id] = mx.getCurrentThreadCpuTime() - c0;
            });
        }
        long t0 = System.nanoTime();
        for (Thread t : ts) t.start();
        for (Thread t : ts) t.join();
        long wall = (System.nanoTime() - t0) / 1_000_000;
        long total = 0;
        for (long c : cpu) total += c;
        return new long[] {wall, total / 1_000_000};
    }

    static void nest(int depth, long n, int id) {
        if (depth > 0) {
            nest(depth - 1, n, id);
            return;
        }
        long sum = 0;
        for (long done = 0; done < n; done += 4096) {
            sum += churn(4096, 0x9E3779B97F4A7C15L * (done + 1) + id, fill);
        }
        sink = sum;
    }
}
