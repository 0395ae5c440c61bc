package leakagent.harness.scenarios;

import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;

import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * metaspace-oom: a new class loader per iteration defines a copy of {@link Payload} and is kept,
 * until metaspace is exhausted (run with -XX:MaxMetaspaceSize=32m); the OutOfMemoryError is
 * caught and the loaders dropped. Fixed: 200 loaders only.
 */
public final class MetaspaceOom implements Scenario {
    /** What each loader defines. */
    public static final class Payload {
        public String a() { return "metaspace-oom payload a"; }
        public String b() { return "metaspace-oom payload b"; }
        public String c() { return "metaspace-oom payload c"; }
    }

    static final class OneClassLoader extends ClassLoader {
        OneClassLoader(ClassLoader parent) { super("metaspace-oom", parent); }

        Class<?> define(String name, byte[] b) { return defineClass(name, b, 0, b.length); }
    }

    @Override
    public void run(Options o) throws Exception {
        String name = Payload.class.getName();
        byte[] bytes;
        try (InputStream in = Payload.class.getResourceAsStream("MetaspaceOom$Payload.class")) {
            bytes = in.readAllBytes();
        }
        List<Object> kept = new ArrayList<>();
        boolean thrown = false;
        try {
            for (int i = 0; !o.fixed || i < 200; i++) {
                OneClassLoader l = new OneClassLoader(null);
                kept.add(l.define(name, bytes));
                kept.add(l);
            }
        } catch (OutOfMemoryError e) {
            thrown = true;
            kept = null;
            Out.truth("oom_message", e.getMessage());
        }
        Out.truth("oom_thrown", thrown);
    }
}
