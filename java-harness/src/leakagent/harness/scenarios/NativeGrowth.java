package leakagent.harness.scenarios;

import java.util.ArrayList;
import java.util.List;

import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;
import sun.misc.Unsafe;

/**
 * native-growth: native memory (Unsafe.allocateMemory, every page touched) grows by 8 MiB every
 * 100 ms to 320 MiB and is kept, as a native leak grows RSS towards a container's limit while
 * the heap stays small. Fixed: each block is freed once touched, so RSS stays flat.
 */
public final class NativeGrowth implements Scenario {
    static final long BLOCK = 8L << 20;
    static final int BLOCKS = 40;
    static final List<Long> KEPT = new ArrayList<>();

    @Override
    public void run(Options o) throws Exception {
        Unsafe u = UnsafeLeak.unsafe();
        for (int i = 0; i < BLOCKS; i++) {
            long a = u.allocateMemory(BLOCK);
            for (long p = 0; p < BLOCK; p += 4096) u.putByte(a + p, (byte) 1);
            if (o.fixed) u.freeMemory(a); else KEPT.add(a);
            Thread.sleep(100);
        }
        // Long enough for a 1 s sampler to see the final size twice.
        Thread.sleep(2500);
        Out.truth("native_bytes_kept", o.fixed ? 0 : BLOCK * BLOCKS);
    }
}
