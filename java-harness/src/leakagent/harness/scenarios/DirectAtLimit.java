package leakagent.harness.scenarios;

import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;

import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * direct-at-limit: an application running at its MaxDirectMemorySize (run with
 * -XX:MaxDirectMemorySize=1m): 2 threads (--threads N) allocate DirectByteBuffers of 4 KiB to
 * 64 KiB and drop them, for 6 s, without calling System.gc() themselves. The pool fills with
 * dropped buffers again and again; each time, allocateDirect (java.nio.Bits.reserveMemory) calls
 * System.gc(), the Cleaner frees them and the allocation goes on. No OutOfMemoryError, no leak.
 * --fixed is accepted and changes nothing.
 */
public final class DirectAtLimit implements Scenario {
    static final long MILLIS = 6_000;
    static final int[] SIZES = {4_096, 16_384, 65_536, 32_768};

    @Override
    public void run(Options o) throws Exception {
        AtomicLong buffers = new AtomicLong();
        long end = System.nanoTime() + MILLIS * 1_000_000L;
        Thread[] threads = new Thread[o.threads(2)];
        for (int t = 0; t < threads.length; t++) {
            threads[t] = new Thread(() -> {
                long n = 0;
                while (System.nanoTime() < end) {
                    ByteBuffer b = ByteBuffer.allocateDirect(SIZES[(int) (n % SIZES.length)]);
                    b.put(0, (byte) n);
                    n++;
                }
                buffers.addAndGet(n);
            }, "at-limit-" + t);
            threads[t].start();
        }
        for (Thread t : threads) t.join();
        Out.truth("direct_buffers_allocated", buffers.get());
        Out.truth("seconds", MILLIS / 1000);
    }
}
