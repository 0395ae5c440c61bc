package leakagent.harness.scenarios;

import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

import leakagent.harness.Main;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;
import sun.misc.Unsafe;

/**
 * unsafe-mixed: the ways a block can leave the direct ledger besides a free on its own thread.
 * 300 blocks allocated on the main thread (allocateShared), 200 of them freed on another thread
 * (freeElsewhere), 100 left live; a block grown 7 times with reallocateMemory (growChain) whose
 * bytes are checked after each move; a reallocateMemory from address 0 (the JDK calls
 * allocateMemory0 for it); and memory malloc'd by
 * the JNI library of native-cache (libnativecache.so) that is freed (freeForeign) or reallocated
 * (reallocForeign) through Unsafe, which an agent must pass to the JDK untouched.
 */
public final class UnsafeMixed implements Scenario {
    static final int SHARED = 300;
    static final int FREED_ELSEWHERE = 200;
    static final long SHARED_SIZE = 1_000;
    static final int GROWTHS = 7;
    static final int FOREIGN_FREES = 7;
    static final int FOREIGN_REALLOCS = 3;
    static final long[] KEPT = new long[SHARED];

    @Override
    public void run(Options o) throws Exception {
        System.load(Main.buildDir().resolve("native").resolve("libnativecache.so").toAbsolutePath().toString());
        Unsafe u = UnsafeLeak.unsafe();
        BlockingQueue<Long> toFree = new ArrayBlockingQueue<>(SHARED);
        Thread freer = new Thread(() -> {
            try {
                for (int i = 0; i < FREED_ELSEWHERE; i++) {
                    freeElsewhere(u, toFree.take());
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "unsafe-freer");
        freer.start();
        for (int i = 0; i < SHARED; i++) {
            KEPT[i] = allocateShared(u, i);
            if (i < FREED_ELSEWHERE) {
                toFree.put(KEPT[i]);
                KEPT[i] = 0;
            }
        }
        freer.join();
        long grown = growChain(u);
        u.freeMemory(fromZero(u));
        for (int i = 0; i < FOREIGN_FREES; i++) {
            freeForeign(u, NativeCache.put(100 + 4096 * i));
        }
        for (int i = 0; i < FOREIGN_REALLOCS; i++) {
            u.freeMemory(reallocForeign(u, NativeCache.put(1000)));
        }
        Out.truth("shared_allocations", SHARED);
        Out.truth("shared_freed_elsewhere", FREED_ELSEWHERE);
        Out.truth("shared_size", SHARED_SIZE);
        Out.truth("growths", GROWTHS);
        Out.truth("grown_size", growthSize(GROWTHS));
        Out.truth("grown_block_kept", grown != 0 ? 1 : 0);
        Out.truth("foreign_frees", FOREIGN_FREES);
        Out.truth("foreign_reallocs", FOREIGN_REALLOCS);
    }

    static long allocateShared(Unsafe u, int i) {
        long a = u.allocateMemory(SHARED_SIZE);
        u.setMemory(a, SHARED_SIZE, (byte) i);
        return a;
    }

    static void freeElsewhere(Unsafe u, long address) {
        u.freeMemory(address);
    }

    static long growthSize(int step) {
        return 64L << (2 * step);
    }

    /** Grows a block 7 times, from 64 bytes to 1 MiB, checking that its bytes moved with it. */
    static long growChain(Unsafe u) {
        long a = u.allocateMemory(growthSize(0));
        for (int i = 0; i < growthSize(0); i++) {
            u.putByte(a + i, (byte) (i * 31 + 7));
        }
        for (int step = 1; step <= GROWTHS; step++) {
            a = u.reallocateMemory(a, growthSize(step));
            for (int i = 0; i < growthSize(0); i++) {
                if (u.getByte(a + i) != (byte) (i * 31 + 7)) {
                    throw new IllegalStateException("reallocateMemory lost byte " + i + " at growth " + step);
                }
            }
        }
        return a;
    }

    static long fromZero(Unsafe u) {
        return u.reallocateMemory(0, 64);
    }

    static void freeForeign(Unsafe u, long address) {
        u.freeMemory(address);
    }

    static long reallocForeign(Unsafe u, long address) {
        return u.reallocateMemory(address, 5_000);
    }
}
