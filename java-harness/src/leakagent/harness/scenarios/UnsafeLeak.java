package leakagent.harness.scenarios;

import java.lang.reflect.Field;

import leakagent.harness.Container;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;
import sun.misc.Unsafe;

/**
 * unsafe-leak (seed 003): 53 blocks of 262_147 bytes from sun.misc.Unsafe.allocateMemory
 * (allocateRaw), the first 5 of them then grown to 524_309 bytes with reallocateMemory
 * (growRaw); nothing is freed. Fixed: all 53 are freed with freeMemory (freeRaw).
 */
public final class UnsafeLeak implements Scenario {
    static final int BLOCKS = 53;
    static final long BLOCK_SIZE = 262_147;
    static final int REALLOCS = 5;
    static final long REALLOC_SIZE = 524_309;
    static final long[] ADDRESSES = new long[BLOCKS];

    static Unsafe unsafe() {
        try {
            Field f = Unsafe.class.getDeclaredField("theUnsafe");
            f.setAccessible(true);
            return (Unsafe) f.get(null);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public void run(Options o) throws Exception {
        Unsafe u = unsafe();
        for (int i = 0; i < BLOCKS; i++) {
            ADDRESSES[i] = allocateRaw(u, i);
        }
        for (int i = 0; i < REALLOCS; i++) {
            ADDRESSES[i] = growRaw(u, ADDRESSES[i]);
        }
        long liveBytes = (BLOCKS - REALLOCS) * BLOCK_SIZE + REALLOCS * REALLOC_SIZE;
        Out.truth("site", "leakagent.harness.scenarios.UnsafeLeak.allocateRaw");
        Out.truth("realloc_site", "leakagent.harness.scenarios.UnsafeLeak.growRaw");
        Out.truth("unsafe_allocations", BLOCKS);
        Out.truth("unsafe_allocation_size", BLOCK_SIZE);
        Out.truth("unsafe_bytes_allocated", BLOCKS * BLOCK_SIZE);
        Out.truth("unsafe_reallocations", REALLOCS);
        Out.truth("unsafe_reallocation_size", REALLOC_SIZE);
        if (o.fixed) {
            for (int i = 0; i < BLOCKS; i++) {
                freeRaw(u, ADDRESSES[i]);
                ADDRESSES[i] = 0;
            }
            Out.truth("free_site", "leakagent.harness.scenarios.UnsafeLeak.freeRaw");
        }
        Out.truth("unsafe_frees", o.fixed ? BLOCKS : 0);
        Out.truth("unsafe_live_blocks", o.fixed ? 0 : BLOCKS);
        Out.truth("unsafe_live_bytes", o.fixed ? 0 : liveBytes);
        Out.truth("unsafe_live_bytes_at_allocate_site", o.fixed ? 0 : (BLOCKS - REALLOCS) * BLOCK_SIZE);
        Out.truth("unsafe_live_bytes_at_realloc_site", o.fixed ? 0 : REALLOCS * REALLOC_SIZE);
        Container.gc();
    }

    static long allocateRaw(Unsafe u, int i) {
        long a = u.allocateMemory(BLOCK_SIZE);
        u.setMemory(a, BLOCK_SIZE, (byte) (i + 1)); // make it resident
        return a;
    }

    static long growRaw(Unsafe u, long address) {
        long a = u.reallocateMemory(address, REALLOC_SIZE);
        u.setMemory(a + BLOCK_SIZE, REALLOC_SIZE - BLOCK_SIZE, (byte) 7);
        return a;
    }

    static void freeRaw(Unsafe u, long address) {
        u.freeMemory(address);
    }
}
