package leakagent.harness.scenarios;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

import org.reflections.Reflections;
import org.reflections.scanners.Scanners;
import org.reflections.util.ConfigurationBuilder;
import org.reflections.vfs.Vfs;

import leakagent.harness.Container;
import leakagent.harness.Main;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;
import leakagent.harness.nested.NestedJar;
import leakagent.harness.nested.NestedJarLoader;
import leakagent.harness.nested.ReflectionsNestedUrlType;
import leakagent.harness.nested.ZipInflaterInputStream;
import leakagent.harness.tools.FatJarBuilder;

/**
 * springboot-scan (seed 000): the real Reflections library (Debian libreflections-java 0.10.2)
 * scans every class of the 23 jars nested in build/fatjar/scan.jar through our NestedJarLoader
 * (Vfs.UrlType ReflectionsNestedUrlType), on --threads threads (default 4, thread k scans the
 * jars j with j % threads == k, one Reflections instance per thread); then each thread reads every
 * properties resource Reflections found through NestedJarLoader.getResourceAsStream. Every
 * opened DEFLATED entry creates one Inflater in ZipInflaterInputStream.&lt;init&gt;; close() does not
 * end it (fixed twin: it does). Then System.gc() and a 500 ms sleep so the Cleaner can run.
 */
public final class SpringBootScan implements Scenario {
    @Override
    public void run(Options o) throws Exception {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        int threads = o.threads(4);
        Path fat = Main.buildDir().resolve("fatjar/scan.jar");
        if (!Files.isRegularFile(fat)) throw new IllegalStateException("missing " + fat + " (run build.sh)");
        NestedJarLoader loader = new NestedJarLoader(fat, o.fixed, Container.harnessLoader());
        checkLayout(loader);
        Vfs.addDefaultURLTypes(new ReflectionsNestedUrlType(loader));

        AtomicLong classesScanned = new AtomicLong();
        AtomicLong resourcesRead = new AtomicLong();
        AtomicLong bytesRead = new AtomicLong();
        Throwable[] failure = new Throwable[1];
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            List<URL> urls = new ArrayList<>();
            for (int j = t; j < loader.jars().size(); j += threads) {
                urls.add(loader.urlOf(loader.jars().get(j)));
            }
            Thread w = new Thread(() -> {
                try {
                    if (urls.isEmpty()) return;
                    Reflections r = scan(urls);
                    Map<String, Set<String>> subTypes = r.getStore().get(Scanners.SubTypes.index());
                    Set<String> ser = subTypes == null ? null : subTypes.get("java.io.Serializable");
                    classesScanned.addAndGet(ser == null ? 0 : ser.size());
                    for (String res : r.getResources(Pattern.compile(".*\\.properties"))) {
                        bytesRead.addAndGet(readResource(loader, res));
                        resourcesRead.incrementAndGet();
                    }
                } catch (Throwable e) {
                    synchronized (failure) {
                        failure[0] = e;
                    }
                }
            }, "scan-worker-" + (t + 1));
            workers.add(w);
            w.start();
        }
        for (Thread w : workers) w.join();
        if (failure[0] != null) throw new IllegalStateException("scan failed", failure[0]);

        int jars = FatJarBuilder.NESTED_JARS;
        int classes = jars * FatJarBuilder.CLASSES_PER_JAR;
        int resources = jars * FatJarBuilder.RESOURCES_PER_JAR;
        if (classesScanned.get() != classes || resourcesRead.get() != resources
                || ZipInflaterInputStream.CREATED.get() != classes + resources) {
            throw new IllegalStateException("scan counts differ: classes=" + classesScanned + " resources="
                    + resourcesRead + " inflaters=" + ZipInflaterInputStream.CREATED);
        }
        Container.gc();
        Thread.sleep(500);
        Out.truth("scanner", "org.reflections.Reflections");
        Out.truth("scanner_jar", Reflections.class.getProtectionDomain().getCodeSource().getLocation().getPath());
        Out.truth("threads", threads);
        Out.truth("fat_jar", fat);
        Out.truth("nested_jars", jars);
        Out.truth("class_entries_per_jar", FatJarBuilder.CLASSES_PER_JAR);
        Out.truth("resource_entries_per_jar", FatJarBuilder.RESOURCES_PER_JAR);
        Out.truth("class_entries", classes);
        Out.truth("resource_entries", resources);
        Out.truth("entries_inflated", classes + resources);
        Out.truth("reflections_subtypes_of_serializable", classesScanned.get());
        Out.truth("inflaters_created", ZipInflaterInputStream.CREATED.get());
        Out.truth("inflaters_ended_explicitly", ZipInflaterInputStream.ENDED.get());
        Out.truth("inflaters_left_to_gc", ZipInflaterInputStream.CREATED.get() - ZipInflaterInputStream.ENDED.get());
        Out.truth("streams_closed", ZipInflaterInputStream.CLOSED.get());
        Out.truth("bytes_read_from_resources", bytesRead.get());
        Out.truth("site", "leakagent.harness.nested.ZipInflaterInputStream.<init>");
        Out.truth("loader", "fatjar-loader");
    }

    static Reflections scan(List<URL> urls) {
        return new Reflections(new ConfigurationBuilder()
                .setUrls(urls)
                .setScanners(Scanners.SubTypes, Scanners.Resources)
                .setParallel(false));
    }

    static long readResource(NestedJarLoader loader, String name) throws IOException {
        try (InputStream in = loader.getResourceAsStream(name)) {
            if (in == null) throw new IOException("resource not found: " + name);
            return in.readAllBytes().length;
        }
    }

    static void checkLayout(NestedJarLoader loader) {
        if (loader.jars().size() != FatJarBuilder.NESTED_JARS) {
            throw new IllegalStateException("fat jar has " + loader.jars().size() + " nested jars");
        }
        for (NestedJar j : loader.jars()) {
            int deflated = 0;
            for (NestedJar.Entry e : j.entries()) {
                if (e.method == NestedJar.DEFLATED) deflated++;
            }
            if (deflated != FatJarBuilder.CLASSES_PER_JAR + FatJarBuilder.RESOURCES_PER_JAR) {
                throw new IllegalStateException(j.name + " has " + deflated + " deflated entries");
            }
        }
    }
}
