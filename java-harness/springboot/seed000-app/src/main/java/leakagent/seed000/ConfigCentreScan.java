package leakagent.seed000;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.JarURLConnection;
import java.net.URL;
import java.net.URLConnection;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Enumeration;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.regex.Pattern;
import java.util.zip.ZipEntry;

import org.reflections.Reflections;
import org.reflections.scanners.ResourcesScanner;
import org.reflections.scanners.SubTypesScanner;
import org.reflections.util.ClasspathHelper;
import org.reflections.util.ConfigurationBuilder;

/**
 * Seed 000: a configuration centre that, with no scan path configured, scans every jar of the
 * class path with Reflections on a pool of threads. Started by Spring Boot's JarLauncher from a
 * fat jar, every class file it reads comes through the loader's nested JarFile, i.e. through
 * org.springframework.boot.loader.jar.ZipInflaterInputStream, which on loaders before 2.1.0
 * leaves an Inflater to the GC for every entry.
 *
 * Prints the harness protocol (HARNESS truth/ready/done, see java-harness/README.md).
 * Arguments: [--threads N] (default 4) [--await-stdin].
 */
public final class ConfigCentreScan {

    private ConfigCentreScan() {
    }

    public static void main(String[] args) throws Exception {
        int threads = 4;
        boolean awaitStdin = false;
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--threads") && i + 1 < args.length) {
                threads = Integer.parseInt(args[++i]);
            } else if (args[i].equals("--await-stdin")) {
                awaitStdin = true;
            } else {
                System.err.println("seed000: unknown argument " + args[i] + " (allowed: --threads N, --await-stdin)");
                System.exit(2);
            }
        }
        try {
            run(threads);
        } catch (Throwable t) {
            t.printStackTrace();
            System.out.println("HARNESS failed " + t);
            System.exit(1);
        }
        System.out.println("HARNESS ready");
        if (awaitStdin) {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null && !line.trim().equals("exit")) {
                // wait for EOF or "exit"
            }
        }
        System.out.println("HARNESS done");
        System.exit(0);
    }

    private static void truth(String key, Object value) {
        System.out.println("HARNESS truth " + key + "=" + value);
    }

    private static void run(int threads) throws Exception {
        ClassLoader loader = Thread.currentThread().getContextClassLoader();
        String fatJar = fatJarPath();
        truth("scenario", "seed000-spring-boot");
        truth("fixed", "false");
        truth("java_version", System.getProperty("java.version"));
        truth("pid", ProcessHandle.current().pid());
        truth("spring_boot_loader", springBootVersion(fatJar));
        truth("fat_jar", fatJar);
        truth("loader_class", loader.getClass().getName());
        truth("site", "org.springframework.boot.loader.jar.ZipInflaterInputStream.<init>");
        truth("scan_frame", "org.reflections.vfs.ZipFile.openInputStream");
        truth("threads", threads);

        // No scan path configured: every URL of the application's class loader.
        Collection<URL> urls = ClasspathHelper.forClassLoader(loader);
        int nested = 0;
        long files = 0;
        long deflated = 0;
        long classFiles = 0;
        String reflectionsJar = "";
        for (URL url : urls) {
            String u = url.toString();
            if (u.contains("/BOOT-INF/lib/")) {
                nested++;
                if (u.contains("/BOOT-INF/lib/reflections-")) {
                    reflectionsJar = u.substring(u.indexOf("/BOOT-INF/lib/") + 14, u.lastIndexOf(".jar") + 4);
                }
            }
            long[] n = countEntries(url);
            files += n[0];
            deflated += n[1];
            classFiles += n[2];
        }
        truth("scanned_urls", urls.size());
        truth("nested_jars", nested);
        truth("scanner", "org.reflections.Reflections");
        truth("scanner_jar", reflectionsJar);
        // Reflections 0.9.11 hands every file to every scanner whose result filter accepts its name
        // (all, by default): SubTypesScanner opens each file once, classes and resources alike (it
        // fails to parse the resources), ResourcesScanner only records names. A DEFLATED entry
        // read through the loader's JarFile is one ZipInflaterInputStream, hence one Inflater.
        truth("files", files);
        truth("class_files", classFiles);
        truth("files_deflated", deflated);
        truth("inflaters_created_by_scan", deflated);
        truth("measured_rss_kb_start", rssKb());

        Reflections reflections = new Reflections(new ConfigurationBuilder()
                .setUrls(urls)
                .setScanners(new SubTypesScanner(false), new ResourcesScanner())
                .useParallelExecutor(threads));
        truth("types_found", reflections.getAllTypes().size());
        truth("resources_found", reflections.getResources(Pattern.compile(".*")).size());
        truth("measured_rss_kb_after_scan", rssKb());
        for (int i = 0; i < 4; i++) {
            System.gc();
            Thread.sleep(50);
        }
        Thread.sleep(500);
        truth("measured_rss_kb_after_gc", rssKb());
    }

    /** Files, DEFLATED files and class files under one class path URL, from the loader's own JarFile. */
    private static long[] countEntries(URL url) throws IOException {
        URLConnection c = url.openConnection();
        if (!(c instanceof JarURLConnection)) {
            throw new IOException("not a jar URL: " + url + " (start this jar with java -jar)");
        }
        c.setUseCaches(false);
        long[] n = new long[3];
        JarFile jar = ((JarURLConnection) c).getJarFile();
        for (Enumeration<JarEntry> e = jar.entries(); e.hasMoreElements();) {
            JarEntry entry = e.nextElement();
            if (!entry.isDirectory()) {
                n[0]++;
                n[1] += entry.getMethod() == ZipEntry.DEFLATED ? 1 : 0;
                n[2] += entry.getName().endsWith(".class") ? 1 : 0;
            }
        }
        return n;
    }

    private static String fatJarPath() throws Exception {
        URL where = Class.forName("org.springframework.boot.loader.JarLauncher").getProtectionDomain().getCodeSource().getLocation();
        return Paths.get(where.toURI()).toString();
    }

    /** The loader version the repackaging plugin wrote into the fat jar's manifest. */
    private static String springBootVersion(String fatJar) throws IOException {
        try (JarFile jar = new JarFile(fatJar)) {
            return jar.getManifest().getMainAttributes().getValue("Spring-Boot-Version");
        }
    }

    private static long rssKb() throws IOException {
        List<String> lines = new ArrayList<>(Files.readAllLines(Paths.get("/proc/self/status")));
        for (String l : lines) {
            if (l.startsWith("VmRSS:")) {
                return Long.parseLong(l.replaceAll("[^0-9]", ""));
            }
        }
        return -1;
    }
}
