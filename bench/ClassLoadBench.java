import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.lang.management.ManagementFactory;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Enumeration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

/**
 * Class-loading churn with real libraries' classes, as a redeploying container or a plugin host
 * does it. Each round, on two threads at once: a fresh URLClassLoader over JARs loads and links
 * every class in them (reading each from its jar), and a fresh in-memory loader defines and links
 * the same classes from bytes read once at start (only the JVM's definition work, no I/O). Then
 * both loaders are dropped and a System.gc() unloads their classes.
 *   java ClassLoadBench [--warmup N] [--rounds N] [--go FILE] JAR...
 * With --go, it prints "READY" after the warm-up and starts the measured rounds once FILE exists,
 * so that runs started together measure the same stretch of the machine's load.
 * Prints "BENCH classes=N ms=WALL cpu_ms=CPU" for the measured rounds; CPU is the whole
 * process's (user + system, every thread, GC included), since the agent's work lands on the
 * loading threads, the GC and its own threads.
 */
public final class ClassLoadBench {

    /** Defines the classes it is given bytes for, the rest through its parent. */
    static final class MemoryLoader extends ClassLoader {
        private final Map<String, byte[]> bytes;

        MemoryLoader(String name, Map<String, byte[]> bytes, ClassLoader parent) {
            super(name, parent);
            this.bytes = bytes;
        }

        @Override
        protected Class<?> findClass(String name) throws ClassNotFoundException {
            byte[] b = bytes.get(name);
            if (b == null) {
                throw new ClassNotFoundException(name);
            }
            return defineClass(name, b, 0, b.length);
        }
    }

    public static void main(String[] args) throws Exception {
        int warmup = 2;
        int rounds = 8;
        Path go = null;
        List<Path> jars = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--warmup": warmup = Integer.parseInt(args[++i]); break;
                case "--rounds": rounds = Integer.parseInt(args[++i]); break;
                case "--go": go = Paths.get(args[++i]); break;
                default: jars.add(Paths.get(args[i]));
            }
        }
        if (jars.isEmpty()) {
            throw new IllegalArgumentException("usage: ClassLoadBench [--warmup N] [--rounds N] JAR...");
        }
        Map<String, byte[]> bytes = readClasses(jars);
        List<String> names = new ArrayList<>(bytes.keySet());
        URL[] urls = new URL[jars.size()];
        for (int i = 0; i < urls.length; i++) {
            urls[i] = jars.get(i).toUri().toURL();
        }
        for (int r = 0; r < warmup; r++) {
            round("warmup-" + r, urls, bytes, names);
        }
        if (go != null) {
            System.out.println("READY");
            System.out.flush();
            while (!java.nio.file.Files.exists(go)) {
                Thread.sleep(2);
            }
        }
        com.sun.management.OperatingSystemMXBean os =
                (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
        long cpu0 = os.getProcessCpuTime();
        long t0 = System.nanoTime();
        long classes = 0;
        for (int r = 0; r < rounds; r++) {
            classes += round("round-" + r, urls, bytes, names);
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        long cpuMs = (os.getProcessCpuTime() - cpu0) / 1_000_000;
        System.out.println("BENCH classes=" + classes + " ms=" + ms + " cpu_ms=" + cpuMs);
    }

    /** One round of both loaders on two threads; returns the classes they linked. */
    static long round(String id, URL[] urls, Map<String, byte[]> bytes, List<String> names) throws Exception {
        ClassLoader platform = ClassLoader.getPlatformClassLoader();
        AtomicLong linked = new AtomicLong();
        Thread jar = new Thread(() -> {
            try (URLClassLoader l = new URLClassLoader("bench-jar-" + id, urls, platform)) {
                linked.addAndGet(loadAll(l, names));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }, "bench-jar");
        Thread mem = new Thread(() -> linked.addAndGet(loadAll(new MemoryLoader("bench-mem-" + id, bytes, platform), names)), "bench-mem");
        jar.start();
        mem.start();
        jar.join();
        mem.join();
        System.gc();
        return linked.get();
    }

    /** Loads and links every class (linking verifies it, as its first use would), no initialiser. */
    static long loadAll(ClassLoader loader, List<String> names) {
        long n = 0;
        for (String name : names) {
            try {
                Class.forName(name, false, loader).getDeclaredFields();
                n++;
            } catch (Throwable t) {
                // a missing optional dependency or a newer class file version: skipped
            }
        }
        return n;
    }

    static Map<String, byte[]> readClasses(List<Path> jars) throws Exception {
        Map<String, byte[]> out = new HashMap<>();
        for (Path p : jars) {
            try (JarFile jar = new JarFile(p.toFile())) {
                for (Enumeration<JarEntry> e = jar.entries(); e.hasMoreElements();) {
                    JarEntry entry = e.nextElement();
                    String n = entry.getName();
                    if (!n.endsWith(".class") || n.startsWith("META-INF/") || n.endsWith("module-info.class")) {
                        continue;
                    }
                    try (InputStream in = jar.getInputStream(entry)) {
                        ByteArrayOutputStream b = new ByteArrayOutputStream();
                        in.transferTo(b);
                        out.putIfAbsent(n.substring(0, n.length() - 6).replace('/', '.'), b.toByteArray());
                    }
                }
            }
        }
        return out;
    }
}
