package leakagent.harness.scenarios;

import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

import leakagent.harness.Container;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * arena-retention: --threads (default 8) threads "arena-worker-N" each create 20_011 Inflaters
 * (setInput + inflate of a small valid zlib stream, so zlib allocates its state and 32 KiB window)
 * and 31 Deflaters (deflate of 4_099 bytes), drop them without end(), then the main thread runs
 * System.gc() several times and sleeps so the Cleaner frees them. glibc keeps the freed memory in
 * per-thread arenas: RSS stays high. Fixed: every stream is end()ed right after use.
 */
public final class ArenaRetention implements Scenario {
    static final int INFLATERS_PER_THREAD = 20_011;
    static final int DEFLATERS_PER_THREAD = 31;
    static final int DEFLATE_INPUT = 4_099;
    static final byte[] PLAIN;
    static final byte[] COMPRESSED;

    static {
        PLAIN = new byte[DEFLATE_INPUT];
        for (int i = 0; i < PLAIN.length; i++) PLAIN[i] = (byte) ((i * 31) ^ (i >> 5));
        Deflater d = new Deflater();
        try {
            d.setInput(PLAIN);
            d.finish();
            byte[] buf = new byte[PLAIN.length * 2];
            int n = d.deflate(buf);
            COMPRESSED = java.util.Arrays.copyOf(buf, n);
        } finally {
            d.end();
        }
    }

    @Override
    public void run(Options o) throws Exception {
        int threads = o.threads(8);
        boolean fixed = o.fixed;
        AtomicLong inflated = new AtomicLong();
        CountDownLatch done = new CountDownLatch(threads);
        Throwable[] failure = new Throwable[1];
        long rssStart = rssKb();
        for (int t = 0; t < threads; t++) {
            Thread th = new Thread(() -> {
                try {
                    long bytes = 0;
                    for (int i = 0; i < INFLATERS_PER_THREAD; i++) {
                        bytes += inflateAndDrop(fixed);
                    }
                    for (int i = 0; i < DEFLATERS_PER_THREAD; i++) {
                        bytes += deflateAndDrop(fixed);
                    }
                    inflated.addAndGet(bytes);
                } catch (Throwable e) {
                    failure[0] = e;
                } finally {
                    done.countDown();
                }
            }, "arena-worker-" + (t + 1));
            th.setDaemon(true);
            th.start();
        }
        done.await();
        if (failure[0] != null) throw new IllegalStateException(failure[0]);
        long rssAfterWork = rssKb();
        for (int i = 0; i < 5; i++) {
            Container.gc();
        }
        Thread.sleep(1000);
        long rssAfterGc = rssKb();
        int inflaters = threads * INFLATERS_PER_THREAD;
        int deflaters = threads * DEFLATERS_PER_THREAD;
        Out.truth("threads", threads);
        Out.truth("inflater_site", "leakagent.harness.scenarios.ArenaRetention.inflateAndDrop");
        Out.truth("deflater_site", "leakagent.harness.scenarios.ArenaRetention.deflateAndDrop");
        Out.truth("inflaters_per_thread", INFLATERS_PER_THREAD);
        Out.truth("deflaters_per_thread", DEFLATERS_PER_THREAD);
        Out.truth("inflaters_created", inflaters);
        Out.truth("deflaters_created", deflaters);
        Out.truth("streams_created", inflaters + deflaters);
        Out.truth("streams_ended_explicitly", fixed ? inflaters + deflaters : 0);
        Out.truth("streams_left_to_gc", fixed ? 0 : inflaters + deflaters);
        Out.truth("bytes_processed", inflated.get());
        Out.truth("measured_rss_kb_start", rssStart);
        Out.truth("measured_rss_kb_after_work", rssAfterWork);
        Out.truth("measured_rss_kb_after_gc", rssAfterGc);
    }

    static int inflateAndDrop(boolean fixed) throws DataFormatException {
        Inflater inf = new Inflater();
        inf.setInput(COMPRESSED);
        byte[] out = new byte[DEFLATE_INPUT];
        int n = inf.inflate(out);
        if (fixed) {
            inf.end();
        }
        return n;
    }

    static int deflateAndDrop(boolean fixed) {
        Deflater d = new Deflater();
        d.setInput(PLAIN);
        d.finish();
        byte[] out = new byte[DEFLATE_INPUT * 2];
        int n = d.deflate(out);
        if (fixed) {
            d.end();
        }
        return n;
    }

    /** VmRSS from /proc/self/status in KiB (-1 when unavailable). */
    public static long rssKb() {
        try {
            for (String l : Files.readAllLines(Paths.get("/proc/self/status"))) {
                if (l.startsWith("VmRSS:")) {
                    return Long.parseLong(l.substring(6).trim().split("\\s+")[0]);
                }
            }
        } catch (Exception e) {
            // not Linux
        }
        return -1;
    }
}
