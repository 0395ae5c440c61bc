package leakagent.harness;

import java.io.File;
import java.io.InputStream;
import java.lang.ref.WeakReference;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * A tiny application container. It "deploys" an application jar by creating a fresh, named
 * {@link URLClassLoader} ("app-gen-1", "app-gen-2", ...) whose parent is the container's shared
 * loader, instantiating the app's entry class (an {@link App}), calling start(), and on undeploy
 * calling stop(), closing the loader and dropping every reference the container had to it.
 *
 * Deploy and undeploy run in their own stack frames so that no local variable of a long-lived
 * frame keeps an application loader reachable (the interpreter keeps dead locals alive).
 */
public final class Container {
    public static final String LOADER_PREFIX = "app-gen-";

    private final String app;
    private final String entryClass;
    private final ClassLoader shared;
    private final URL[] appUrls;
    private final List<WeakReference<ClassLoader>> loaders = new ArrayList<>();
    private final List<String> loaderNames = new ArrayList<>();
    /** Objects the container hands to every deployment (e.g. a container-owned thread pool). */
    public final Map<String, Object> services = new HashMap<>();
    private int generation;
    /**
     * When set, --selfcheck also provokes (and catches) an OutOfMemoryError, which makes the JVM
     * clear every soft reference, and counts again: loaders that were only softly reachable are
     * not leaks (the agent's chains exclude weak/soft references too). Used by
     * spring-introspection (Spring's soft caches keep fixed generations softly reachable) and
     * introspector (the JavaBeans internals keep every introspected class softly reachable, on JDK 11
     * even after flushCaches()).
     */
    public boolean clearSoftReferencesInSelfcheck;

    public Container(String app, String entryClass, ClassLoader shared) throws Exception {
        this.app = app;
        this.entryClass = entryClass;
        this.shared = shared;
        Path jar = Main.buildDir().resolve("apps").resolve(app + ".jar");
        if (!Files.isRegularFile(jar)) {
            throw new IllegalStateException("missing application jar " + jar + " (run java-harness/build.sh)");
        }
        this.appUrls = new URL[] {jar.toUri().toURL()};
    }

    /** The harness's own loader (the application class loader of the JVM). */
    public static ClassLoader harnessLoader() {
        return Container.class.getClassLoader();
    }

    /** The container's shared library loader ("shared"), a child of the harness loader. */
    public static URLClassLoader sharedLoader(String... jars) throws Exception {
        URL[] urls = new URL[jars.length];
        for (int i = 0; i < jars.length; i++) {
            File f = new File(jars[i]);
            if (!f.isFile()) {
                throw new IllegalStateException("missing shared library " + f);
            }
            urls[i] = f.toURI().toURL();
        }
        URLClassLoader shared = new URLClassLoader("shared", urls, harnessLoader());
        SHARED_LOADERS.add(shared);
        return shared;
    }

    /**
     * A container keeps its shared library loader for its whole life, so what the shared
     * libraries hold (LogFactory's cache, a registry enum) stays reachable after the scenario
     * returns, while the process waits for a report.
     */
    private static final List<ClassLoader> SHARED_LOADERS = new ArrayList<>();

    /**
     * --hold: every application loader stays strongly held from here, the harness's own
     * static, until the stdin line `release` ({@link #release}); then only the scenario's
     * leak (none in a fixed twin) keeps it. Lets a test have loaders die at a moment it picks.
     */
    public static boolean hold;
    private static final List<ClassLoader> HELD = new ArrayList<>();

    /** Drops the loaders --hold kept (the stdin line `release`). */
    public static void release() {
        synchronized (HELD) {
            HELD.clear();
        }
    }

    /** Number of classes in the application's jar (all of them are loaded by every generation). */
    public int classesPerGeneration() throws Exception {
        Properties p = new Properties();
        try (InputStream in = Files.newInputStream(Main.buildDir().resolve("apps").resolve("index.properties"))) {
            p.load(in);
        }
        return Integer.parseInt(p.getProperty(app + ".classes").trim());
    }

    /** Deploys and undeploys the application {@code generations} times. */
    public void redeploy(int generations, boolean fixed) throws Exception {
        for (int i = 0; i < generations; i++) {
            cycle(fixed);
        }
    }

    private void cycle(boolean fixed) throws Exception {
        Object[] deployment = deploy(fixed);
        undeploy(deployment);
    }

    private Object[] deploy(boolean fixed) throws Exception {
        generation++;
        String name = LOADER_PREFIX + generation;
        URLClassLoader loader = new URLClassLoader(name, appUrls, shared);
        loaders.add(new WeakReference<>(loader));
        loaderNames.add(name);
        if (hold) {
            synchronized (HELD) {
                HELD.add(loader);
            }
        }
        Map<String, Object> ctx = new HashMap<>(services);
        ctx.put("fixed", fixed);
        ctx.put("generation", generation);
        ctx.put("loaderName", name);
        Thread t = Thread.currentThread();
        ClassLoader prev = t.getContextClassLoader();
        t.setContextClassLoader(loader);
        try {
            Class<?> cls = Class.forName(entryClass, true, loader);
            App appInstance = (App) cls.getDeclaredConstructor().newInstance();
            appInstance.start(ctx);
            return new Object[] {loader, appInstance};
        } finally {
            t.setContextClassLoader(prev);
        }
    }

    private void undeploy(Object[] deployment) throws Exception {
        URLClassLoader loader = (URLClassLoader) deployment[0];
        App appInstance = (App) deployment[1];
        deployment[0] = null;
        deployment[1] = null;
        Thread t = Thread.currentThread();
        ClassLoader prev = t.getContextClassLoader();
        t.setContextClassLoader(loader);
        try {
            appInstance.stop();
        } finally {
            t.setContextClassLoader(prev);
        }
        loader.close();
    }

    public List<String> loaderNames() {
        return loaderNames;
    }

    /** Runs System.gc() a few times and counts application loaders still reachable. */
    public int gcAndCountAlive() {
        gc();
        int alive = 0;
        for (WeakReference<ClassLoader> r : loaders) {
            if (r.get() != null) {
                alive++;
            }
        }
        return alive;
    }

    /** Names of the application loaders still reachable (call after {@link #gcAndCountAlive()}). */
    public String aliveNames() {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < loaders.size(); i++) {
            if (loaders.get(i).get() != null) {
                if (sb.length() > 0) sb.append(',');
                sb.append(loaderNames.get(i));
            }
        }
        return sb.toString();
    }

    /** Allocates until OutOfMemoryError (caught): the JVM clears all soft references before throwing it. */
    public static void clearSoftReferences() {
        List<byte[]> hog = new ArrayList<>();
        try {
            while (true) {
                hog.add(new byte[8 << 20]);
            }
        } catch (OutOfMemoryError expected) {
            hog.clear();
        }
        hog = null;
    }

    public static void gc() {
        for (int i = 0; i < 4; i++) {
            System.gc();
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * Prints the common redeploy truths, GCs, and with --selfcheck prints the measured count.
     *
     * @param leakedNames the loader names that must leak (empty in the fixed twin)
     */
    public void finish(Options o, List<String> leakedNames, String culprit, String chain) throws Exception {
        Out.truth("app", app);
        Out.truth("entry_class", entryClass);
        Out.truth("generations", generation);
        Out.truth("loader_names", String.join(",", loaderNames));
        Out.truth("loader_parent", shared == harnessLoader() ? "app" : describe(shared));
        Out.truth("classes_per_generation", classesPerGeneration());
        Out.truth("leaked_generations", leakedNames.size());
        Out.truth("leaked_loader_names", leakedNames.isEmpty() ? "none" : String.join(",", leakedNames));
        Out.truth("leaked_classes", leakedNames.size() * classesPerGeneration());
        if (!leakedNames.isEmpty()) {
            Out.truth("culprit", culprit);
            Out.truth("chain", chain);
        }
        int alive = gcAndCountAlive();
        if (o.selfcheck && clearSoftReferencesInSelfcheck) {
            Out.selfcheck("leaked_loaders_including_softly_reachable", alive);
            if (alive > 0) {
                clearSoftReferences();
                alive = gcAndCountAlive();
            }
        }
        if (o.selfcheck) {
            Out.selfcheck("leaked_loaders", alive);
            Out.selfcheck("leaked_loader_names", alive == 0 ? "none" : aliveNames());
        }
    }

    private static String describe(ClassLoader l) {
        return l.getName() != null ? l.getName() : l.getClass().getName();
    }

    /** All loader names ("app-gen-1".."app-gen-N"). */
    public List<String> all() {
        return new ArrayList<>(loaderNames);
    }

    /** Only the last generation's loader name, as a list. */
    public List<String> last() {
        List<String> l = new ArrayList<>();
        if (!loaderNames.isEmpty()) l.add(loaderNames.get(loaderNames.size() - 1));
        return l;
    }
}
