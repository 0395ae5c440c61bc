package leakagent.harness.scenarios;

import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;

import leakagent.harness.Container;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * direct-churn: 2_003 DirectByteBuffers of 65_537 bytes allocated and dropped, System.gc() every
 * 97 buffers and at the end, so the GC (Cleaner) frees all of them. No leak; the no-leak twin of
 * direct-leak. --fixed is accepted and changes nothing.
 */
public final class DirectChurn implements Scenario {
    static final int BUFFERS = 2_003;
    static final int BUFFER_SIZE = 65_537;
    static final int GC_EVERY = 97;

    @Override
    public void run(Options o) throws Exception {
        long checksum = 0;
        for (int i = 0; i < BUFFERS; i++) {
            checksum += allocateAndDrop(i);
            if ((i + 1) % GC_EVERY == 0) {
                System.gc();
            }
        }
        Container.gc();
        Thread.sleep(500);
        Out.truth("site", "leakagent.harness.scenarios.DirectChurn.allocateAndDrop");
        Out.truth("direct_buffers_allocated", BUFFERS);
        Out.truth("direct_buffer_size", BUFFER_SIZE);
        Out.truth("direct_bytes_allocated", (long) BUFFERS * BUFFER_SIZE);
        Out.truth("direct_buffers_leaked", 0);
        Out.truth("checksum", checksum);
        for (BufferPoolMXBean p : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
            if (p.getName().equals("direct")) {
                Out.truth("measured_direct_pool_count_at_ready", p.getCount());
                Out.truth("measured_direct_pool_bytes_at_ready", p.getMemoryUsed());
            }
        }
    }

    static int allocateAndDrop(int i) {
        ByteBuffer b = ByteBuffer.allocateDirect(BUFFER_SIZE);
        b.put(0, (byte) i);
        b.put(BUFFER_SIZE - 1, (byte) 1);
        return b.get(0) + b.get(BUFFER_SIZE - 1);
    }
}
