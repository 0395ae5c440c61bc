package leakagent.harness.scenarios;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * direct-oom: 1 MiB direct buffers kept until ByteBuffer.allocateDirect throws "Cannot reserve
 * ... bytes of direct buffer memory" (run with -XX:MaxDirectMemorySize=64m); the buffers stay
 * referenced 3 s after the error, then are dropped. Fixed: 16 buffers only. The JVM's uptime
 * when the error was thrown and when the buffers were dropped are truths.
 */
public final class DirectOom implements Scenario {
    @Override
    public void run(Options o) throws Exception {
        List<ByteBuffer> kept = new ArrayList<>();
        boolean thrown = false;
        try {
            while (!o.fixed || kept.size() < 16) kept.add(ByteBuffer.allocateDirect(1 << 20));
        } catch (OutOfMemoryError e) {
            thrown = true;
            Out.truth("oom_message", e.getMessage());
            Out.truth("oom_uptime_ms", ManagementFactory.getRuntimeMXBean().getUptime());
        }
        Thread.sleep(3000);
        Out.truth("dropped_uptime_ms", ManagementFactory.getRuntimeMXBean().getUptime());
        Out.truth("direct_buffers", kept.size());
        kept.clear();
        Out.truth("oom_thrown", thrown);
    }
}
