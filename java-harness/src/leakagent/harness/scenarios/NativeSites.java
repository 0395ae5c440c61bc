package leakagent.harness.scenarios;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.lang.ref.PhantomReference;
import java.lang.ref.ReferenceQueue;
import java.lang.reflect.Field;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.zip.Inflater;

import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * native-sites: direct buffers and Inflaters created at sites whose stacks share every frame but
 * one, interleaved at random in short bursts (and a few long ones) on --threads threads (default
 * 4), each site with its own prime count per thread and its own fates: freed or ended explicitly,
 * left to the GC, or kept live. Thread 0 first does what a user measured: 211 buffers at one site,
 * then 10_007 at a site with the same top frames (and 211 then 1_009 Inflaters).
 *
 * Direct sites d0..d5 are (a, b) = (d % 3, d / 3): pickBuffer calls allocate from line a, and
 * enterBuffer calls relayBuffer from line b; every other frame is the same (the key's 8 frames end
 * at enterBuffer). Inflater sites z0..z3 are (z % 2, z / 2) through pickInflater and
 * enterInflater (the 4th and 8th frames). Each site's size (direct) is
 * its own prime. The line numbers of each site's two distinguishing frames are printed as truths,
 * read from a stack trace taken at the site's first event.
 *
 * Fixed: every buffer is freed and every Inflater ended explicitly.
 */
public final class NativeSites implements Scenario {
    static final int DIRECT_SITES = 6;
    static final int ZLIB_SITES = 4;
    static final int[] SIZES = {61, 127, 251, 509, 1021, 2039};
    static final int[] PRIMES = {29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113};
    static final int EXPLICIT = 0, GC = 1, KEEP = 2;

    static final sun.misc.Unsafe UNSAFE = unsafe();
    static final List<Object> KEPT = new ArrayList<>();
    /** Site name -> "File:line,File:line" of its two distinguishing frames. */
    static final Map<String, String> LINES = new ConcurrentHashMap<>();
    static final ReferenceQueue<Object> DROPPED = new ReferenceQueue<>();
    static final List<PhantomReference<Object>> DROPPED_REFS = new ArrayList<>();

    /** Per site: created, explicit, left to GC, kept (summed over threads). */
    final long[][] direct = new long[DIRECT_SITES][4];
    final long[][] zlib = new long[ZLIB_SITES][4];
    boolean fixed;

    static sun.misc.Unsafe unsafe() {
        try {
            Field f = sun.misc.Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            return (sun.misc.Unsafe) f.get(null);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The fate of the i-th event of a site (the same on every thread). */
    static int directFate(int site, int i) {
        switch (site) {
            case 0: return EXPLICIT;
            case 1: return GC;
            case 2: return i % 7 == 0 ? KEEP : EXPLICIT;
            case 3: return i % 2 == 0 ? EXPLICIT : GC;
            case 4: return i % 5 == 0 ? KEEP : GC;
            default: return i % 3;
        }
    }

    static int zlibFate(int site, int i) {
        switch (site) {
            case 0: return EXPLICIT; // a site that always ends its streams
            case 1: return GC; // its neighbour leaves them all to the GC
            case 2: return i % 5 == 0 ? KEEP : EXPLICIT;
            default: return i % 2 == 0 ? GC : EXPLICIT;
        }
    }

    @Override
    public void run(Options o) throws Exception {
        fixed = o.fixed;
        int threads = o.threads(4);
        long poolBefore = directPoolCount();
        Thread[] ts = new Thread[threads];
        Throwable[] failed = new Throwable[1];
        for (int t = 0; t < threads; t++) {
            final int me = t;
            ts[t] = new Thread(() -> {
                try {
                    work(me);
                } catch (Throwable e) {
                    failed[0] = e;
                }
            }, "sites-worker-" + t);
            ts[t].start();
        }
        for (Thread t : ts) {
            t.join();
        }
        if (failed[0] != null) {
            throw new IllegalStateException("a worker failed", failed[0]);
        }
        long keptBuffers = 0;
        for (long[] d : direct) {
            keptBuffers += d[3];
        }
        boolean directGcDone = awaitGc(poolBefore + keptBuffers);
        Out.truth("threads", threads);
        Out.truth("direct_sites", DIRECT_SITES);
        Out.truth("zlib_sites", ZLIB_SITES);
        for (int s = 0; s < DIRECT_SITES; s++) {
            String p = "direct_site_" + s;
            Out.truth(p + "_frames", LINES.get("d" + s));
            Out.truth(p + "_size", SIZES[s]);
            Out.truth(p + "_allocations", direct[s][0]);
            Out.truth(p + "_freed_explicitly", direct[s][1]);
            Out.truth(p + "_left_to_gc", direct[s][2]);
            Out.truth(p + "_kept", direct[s][3]);
        }
        for (int s = 0; s < ZLIB_SITES; s++) {
            String p = "zlib_site_" + s;
            Out.truth(p + "_frames", LINES.get("z" + s));
            Out.truth(p + "_created", zlib[s][0]);
            Out.truth(p + "_ended_explicitly", zlib[s][1]);
            Out.truth(p + "_left_to_gc", zlib[s][2]);
            Out.truth(p + "_kept", zlib[s][3]);
        }
        // The GC's Cleaner freed every dropped buffer (the JDK pool is back to the kept ones).
        Out.truth("direct_gc_done", directGcDone);
    }

    /** One worker: the user's two streaks (thread 0), then random bursts over every site. */
    void work(int me) {
        Random r = new Random(1009 + me);
        int[] dLeft = new int[DIRECT_SITES];
        int[] zLeft = new int[ZLIB_SITES];
        int[] dDone = new int[DIRECT_SITES];
        int[] zDone = new int[ZLIB_SITES];
        long[][] d = new long[DIRECT_SITES][4];
        long[][] z = new long[ZLIB_SITES][4];
        if (me == 0) {
            for (int i = 0; i < 211; i++) directEvent(0, dDone[0]++, d);
            for (int i = 0; i < 10_007; i++) directEvent(1, dDone[1]++, d);
            for (int i = 0; i < 211; i++) zlibEvent(0, zDone[0]++, z);
            for (int i = 0; i < 1_009; i++) zlibEvent(1, zDone[1]++, z);
        }
        int total = 0;
        for (int s = 0; s < DIRECT_SITES; s++) total += dLeft[s] = PRIMES[(me * 7 + s * 3) % PRIMES.length];
        for (int s = 0; s < ZLIB_SITES; s++) total += zLeft[s] = PRIMES[(me * 5 + s * 4 + 2) % PRIMES.length];
        while (total > 0) {
            int pick = r.nextInt(DIRECT_SITES + ZLIB_SITES);
            int[] left = pick < DIRECT_SITES ? dLeft : zLeft;
            int s = pick < DIRECT_SITES ? pick : pick - DIRECT_SITES;
            if (left[s] == 0) continue;
            // Mostly short bursts; one in ten is long enough for a streak at one site.
            int burst = r.nextInt(10) == 0 ? 33 + r.nextInt(64) : 1 + r.nextInt(7);
            for (int k = 0; k < burst && left[s] > 0; k++, left[s]--, total--) {
                if (left == dLeft) directEvent(s, dDone[s]++, d);
                else zlibEvent(s, zDone[s]++, z);
            }
        }
        synchronized (this) {
            for (int s = 0; s < DIRECT_SITES; s++) for (int k = 0; k < 4; k++) direct[s][k] += d[s][k];
            for (int s = 0; s < ZLIB_SITES; s++) for (int k = 0; k < 4; k++) zlib[s][k] += z[s][k];
        }
    }

    void directEvent(int site, int i, long[][] count) {
        ByteBuffer b = enterBuffer(site / 3, site % 3, SIZES[site]);
        b.put(0, (byte) i);
        int fate = fixed ? EXPLICIT : directFate(site, i);
        count[site][0]++;
        count[site][1 + fate]++;
        if (fate == EXPLICIT) {
            UNSAFE.invokeCleaner(b);
        } else if (fate == KEEP) {
            synchronized (KEPT) {
                KEPT.add(b);
            }
        }
    }

    void zlibEvent(int site, int i, long[][] count) {
        Inflater inf = enterInflater(site / 2, site % 2);
        int fate = fixed ? EXPLICIT : zlibFate(site, i);
        count[site][0]++;
        count[site][1 + fate]++;
        if (fate == EXPLICIT) {
            inf.end();
        } else if (fate == KEEP) {
            synchronized (KEPT) {
                KEPT.add(inf);
            }
        } else {
            synchronized (DROPPED_REFS) {
                DROPPED_REFS.add(new PhantomReference<>(inf, DROPPED));
            }
        }
    }

    // ---- Direct sites: every frame the same but pickBuffer's or enterBuffer's call line. ----

    static ByteBuffer enterBuffer(int b, int a, int size) {
        if (b == 0) {
            return relayBuffer(a, size, b);
        }
        return relayBuffer(a, size, b);
    }

    static ByteBuffer relayBuffer(int a, int size, int b) {
        return pickBuffer(a, size, b);
    }

    static ByteBuffer pickBuffer(int a, int size, int b) {
        if (a == 0) {
            return allocate(size, "d" + (b * 3));
        }
        if (a == 1) {
            return allocate(size, "d" + (b * 3 + 1));
        }
        return allocate(size, "d" + (b * 3 + 2));
    }

    static ByteBuffer allocate(int size, String site) {
        if (!LINES.containsKey(site)) {
            LINES.putIfAbsent(site, lines("pickBuffer", "enterBuffer"));
        }
        return ByteBuffer.allocateDirect(size);
    }

    // ---- Inflater sites: pickInflater's or enterInflater's call line. ----

    static Inflater enterInflater(int b, int a) {
        if (b == 0) {
            return relayInflater(a, b);
        }
        return relayInflater(a, b);
    }

    static Inflater relayInflater(int a, int b) {
        return deeperInflater(a, b);
    }

    // Two more shared frames: the Inflater's key ends at enterInflater too.
    static Inflater deeperInflater(int a, int b) {
        return deepestInflater(a, b);
    }

    static Inflater deepestInflater(int a, int b) {
        return pickInflater(a, b);
    }

    static Inflater pickInflater(int a, int b) {
        if (a == 0) {
            return openInflater("z" + (b * 2));
        }
        return openInflater("z" + (b * 2 + 1));
    }

    static Inflater openInflater(String site) {
        if (!LINES.containsKey(site)) {
            LINES.putIfAbsent(site, lines("pickInflater", "enterInflater"));
        }
        return new Inflater(true);
    }

    /** "NativeSites.java:L1,NativeSites.java:L2": where the caller's stack runs `inner` and `outer`. */
    static String lines(String inner, String outer) {
        String a = null, b = null;
        for (StackTraceElement e : new Throwable().getStackTrace()) {
            if (a == null && e.getMethodName().equals(inner)) a = e.getFileName() + ":" + e.getLineNumber();
            if (b == null && e.getMethodName().equals(outer)) b = e.getFileName() + ":" + e.getLineNumber();
        }
        return a + "," + b;
    }

    static long directPoolCount() {
        for (BufferPoolMXBean p : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (p.getName().equals("direct")) return p.getCount();
        }
        return -1;
    }

    /**
     * GC until the JDK's pool holds no more buffers than `expected` and every dropped Inflater
     * was found unreachable (its Cleaner then runs on the Common-Cleaner thread); at most 20 s.
     * Returns whether the direct pool got there.
     */
    static boolean awaitGc(long expected) throws InterruptedException {
        long deadline = System.nanoTime() + 20_000_000_000L;
        int pending;
        synchronized (DROPPED_REFS) {
            pending = DROPPED_REFS.size();
        }
        boolean pool = false;
        while (System.nanoTime() < deadline) {
            System.gc();
            Thread.sleep(50);
            while (pending > 0 && DROPPED.poll() != null) pending--;
            pool = directPoolCount() <= expected;
            if (pool && pending == 0) break;
        }
        Thread.sleep(300); // the Cleaner runs after the references were found
        DROPPED_REFS.clear();
        return pool;
    }
}
