package leakagent.harness.scenarios;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import leakagent.harness.Container;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * direct-leak: 37 DirectByteBuffers of 1_048_573 bytes kept forever in a static list.
 * Fixed: the same buffers are released explicitly (Unsafe.invokeCleaner) and dropped.
 */
public final class DirectLeak implements Scenario {
    static final int BUFFERS = 37;
    static final int BUFFER_SIZE = 1_048_573;
    static final List<ByteBuffer> KEPT = new ArrayList<>();

    @Override
    public void run(Options o) throws Exception {
        for (int i = 0; i < BUFFERS; i++) {
            KEPT.add(allocateForever(i));
        }
        Out.truth("site", "leakagent.harness.scenarios.DirectLeak.allocateForever");
        Out.truth("direct_buffers_allocated", BUFFERS);
        Out.truth("direct_buffer_size", BUFFER_SIZE);
        Out.truth("direct_bytes_allocated", (long) BUFFERS * BUFFER_SIZE);
        if (o.fixed) {
            for (ByteBuffer b : KEPT) {
                releaseExplicitly(b);
            }
            KEPT.clear();
        }
        Container.gc();
        Out.truth("direct_buffers_leaked", o.fixed ? 0 : BUFFERS);
        Out.truth("direct_bytes_leaked", o.fixed ? 0 : (long) BUFFERS * BUFFER_SIZE);
        Out.truth("direct_buffers_released_explicitly", o.fixed ? BUFFERS : 0);
    }

    static ByteBuffer allocateForever(int i) {
        ByteBuffer b = ByteBuffer.allocateDirect(BUFFER_SIZE);
        // touch every page so that the memory is resident
        for (int p = 0; p < BUFFER_SIZE; p += 4096) b.put(p, (byte) (i + 1));
        return b;
    }

    static void releaseExplicitly(ByteBuffer b) {
        UnsafeLeak.unsafe().invokeCleaner(b);
    }
}
