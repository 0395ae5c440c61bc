import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Direct-buffer churn for bench/native_overhead.sh: each thread allocates DirectByteBuffers of
 * 64 B to 64 KiB, touches them and drops them; every other buffer is released explicitly
 * (Unsafe.invokeCleaner), the rest by the GC. Threads recurse --depth frames first, as in
 * ZlibBench.
 *
 *   java [-XX:MaxDirectMemorySize=64m] DirectBench [--threads 2] [--buffers 400000] [--depth 40]
 *                                                  [--go FILE] [--sizes 64,1000,4096,16384,65536]
 * With --go, it prints "READY" after the warm-up and starts the timed pass once FILE exists, so
 * that several JVMs run it at the same time (bench/native_overhead.sh --together).
 * Prints "BENCH direct ms=<timed wall milliseconds> cpu_ms=<CPU milliseconds of the worker threads>
 * proc_cpu_ms=<CPU milliseconds of the whole process> buffers=<allocated>". The process's time
 * includes the Reference Handler, which frees the buffers the GC found (and runs the agent's free
 * path for them), and the GC's own threads.
 */
public final class DirectBench {
    static int[] SIZES = {64, 1000, 4096, 16384, 65536};
    static final AtomicLong CPU = new AtomicLong();

    public static void main(String[] args) throws Exception {
        int threads = 2, buffers = 400_000, depth = 40;
        java.nio.file.Path go = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--threads": threads = Integer.parseInt(args[++i]); break;
                case "--buffers": buffers = Integer.parseInt(args[++i]); break;
                case "--depth": depth = Integer.parseInt(args[++i]); break;
                case "--go": go = java.nio.file.Paths.get(args[++i]); break;
                case "--sizes":
                    SIZES = java.util.Arrays.stream(args[++i].split(",")).mapToInt(Integer::parseInt).toArray();
                    break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
        f.setAccessible(true);
        sun.misc.Unsafe u = (sun.misc.Unsafe) f.get(null);
        run(u, threads, buffers / 10, depth); // warm-up
        if (go != null) {
            System.out.println("READY");
            System.out.flush();
            while (!java.nio.file.Files.exists(go)) {
                Thread.sleep(2);
            }
        }
        com.sun.management.OperatingSystemMXBean os = (com.sun.management.OperatingSystemMXBean)
                java.lang.management.ManagementFactory.getOperatingSystemMXBean();
        CPU.set(0);
        long p0 = os.getProcessCpuTime();
        long t0 = System.nanoTime();
        long n = run(u, threads, buffers, depth);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        long proc = (os.getProcessCpuTime() - p0) / 1_000_000;
        System.out.println("BENCH direct ms=" + ms + " cpu_ms=" + CPU.get() / 1_000_000 + " proc_cpu_ms=" + proc
                + " buffers=" + n);
    }

    static long run(sun.misc.Unsafe u, int threads, int buffers, int depth) throws Exception {
        AtomicLong total = new AtomicLong();
        Thread[] ts = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            final int per = buffers / threads;
            ts[t] = new Thread(() -> {
                java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
                long c0 = mx.getCurrentThreadCpuTime();
                total.addAndGet(descend(u, depth, per));
                CPU.addAndGet(mx.getCurrentThreadCpuTime() - c0);
            }, "direct-bench-" + t);
            ts[t].start();
        }
        for (Thread t : ts) t.join();
        return total.get();
    }

    static long descend(sun.misc.Unsafe u, int depth, int n) {
        if (depth > 0) return descend(u, depth - 1, n);
        long sum = 0;
        for (int i = 0; i < n; i++) {
            ByteBuffer b = ByteBuffer.allocateDirect(SIZES[i % SIZES.length]);
            b.put(0, (byte) i);
            sum += b.get(0);
            if ((i & 1) == 0) u.invokeCleaner(b);
        }
        return n + (sum & 0);
    }
}
