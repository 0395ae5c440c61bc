package leakagent.harness.scenarios;

import java.util.ArrayList;
import java.util.List;

import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * heap-oom: 1 MiB arrays kept until the heap is exhausted (run with a small -Xmx); the
 * OutOfMemoryError is caught, the arrays dropped, and the JVM carries on. Fixed: arrays are
 * kept up to a quarter of the heap limit, so no OutOfMemoryError.
 */
public final class HeapOom implements Scenario {
    @Override
    public void run(Options o) throws Exception {
        List<byte[]> kept = new ArrayList<>();
        long cap = Runtime.getRuntime().maxMemory() / 4 / (1 << 20);
        boolean thrown = false;
        try {
            while (!o.fixed || kept.size() < cap) kept.add(new byte[1 << 20]);
        } catch (OutOfMemoryError e) {
            thrown = true;
            kept = null;
            Out.truth("oom_message", e.getMessage());
        }
        Out.truth("oom_thrown", thrown);
    }
}
