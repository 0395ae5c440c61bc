package leakagent.tomcat;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.net.HttpURLConnection;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.apache.catalina.Context;
import org.apache.catalina.Lifecycle;
import org.apache.catalina.Wrapper;
import org.apache.catalina.startup.Tomcat;

/**
 * Embedded Tomcat 10.1 (Debian's libtomcat10-java, loaded by the harness's "common" loader as
 * Catalina's own common loader would be) serving Debian's examples application and two small
 * web applications written here: /shop and /admin. It requests JSPs (each compiled by Jasper into
 * its own JasperLoader), changes one JSP so Jasper recompiles it, reloads every context, and
 * requests the JSPs again. With {@code leak}, /shop's thread.jsp starts a thread that never
 * ends and /admin's mbean.jsp registers an MBean it never unregisters, so the stopped /shop and
 * /admin loaders (and their JSP loaders) stay alive; without it the thread is joined and the
 * MBean unregistered.
 */
public final class Driver {
    /** Pages of the examples application that answer 200 without parameters. */
    static final String[] EXAMPLES = {
        "jsp/dates/date.jsp",
        "jsp/jsp2/el/basic-arithmetic.jsp",
        "jsp/snp/snoop.jsp",
        "jsp/jsp2/simpletag/hello.jsp",
        "jsp/jsp2/tagfiles/hello.jsp",
        "jsp/include/include.jsp",
    };
    static final String RECOMPILED = "jsp/dates/date.jsp";
    public static final String THREAD_NAME = "shop-ticker";
    public static final String MBEAN_NAME = "leakagent.admin:type=Counter";

    private Driver() {}

    /** Runs everything; returns the truths to print. */
    public static Map<String, String> run(String baseDir, String examplesDir, boolean leak) throws Exception {
        // As Catalina's Bootstrap does: Tomcat's digester and Jasper look for their own classes
        // through the context loader, and web application loaders have the common loader as parent.
        ClassLoader common = Driver.class.getClassLoader();
        Thread.currentThread().setContextClassLoader(common);
        Path base = Path.of(baseDir);
        Path webapps = base.resolve("webapps");
        Files.createDirectories(webapps);
        Path examples = webapps.resolve("examples");
        copyTree(Path.of(examplesDir), examples);
        writeShop(webapps.resolve("shop"), leak);
        writeAdmin(webapps.resolve("admin"), leak);

        Tomcat tomcat = new Tomcat();
        tomcat.setBaseDir(base.toString());
        tomcat.setPort(0);
        tomcat.getHost().setAppBase(webapps.toString());
        tomcat.getConnector();
        tomcat.getServer().setParentClassLoader(common);
        List<Context> contexts = new ArrayList<>();
        contexts.add(webapp(tomcat, "/examples", examples));
        contexts.add(webapp(tomcat, "/shop", webapps.resolve("shop")));
        contexts.add(webapp(tomcat, "/admin", webapps.resolve("admin")));
        tomcat.start();
        int port = tomcat.getConnector().getLocalPort();

        List<String> pages = new ArrayList<>();
        for (String p : EXAMPLES) pages.add("/examples/" + p);
        pages.add("/shop/index.jsp");
        pages.add("/shop/thread.jsp");
        pages.add("/admin/index.jsp");
        pages.add("/admin/mbean.jsp");
        for (String p : pages) get(port, p);

        // Jasper recompiles a JSP whose source is newer than its class (checked on every request
        // here: modificationTestInterval=0) into a new JasperLoader; the old one is dropped.
        Path jsp = examples.resolve(RECOMPILED);
        Files.writeString(jsp, Files.readString(jsp) + "\n<%-- changed --%>\n");
        jsp.toFile().setLastModified(System.currentTimeMillis() + 10_000);
        get(port, "/examples/" + RECOMPILED);

        // A reload stops each context's loader (Tomcat state STOPPED) and starts a new one.
        for (Context c : contexts) c.reload();
        for (String p : pages) get(port, p);

        Map<String, String> t = new LinkedHashMap<>();
        t.put("port", String.valueOf(port));
        t.put("contexts", "/examples,/shop,/admin");
        t.put("jsp_pages", String.valueOf(pages.size()));
        t.put("recompiled", "/examples/" + RECOMPILED);
        t.put("reloads", "1");
        t.put("leaked_contexts", leak ? "/shop,/admin" : "none");
        t.put("thread_name", THREAD_NAME);
        t.put("mbean_name", MBEAN_NAME);
        TOMCAT.add(tomcat);
        return t;
    }

    /** Keeps the server running while the JVM waits for a report. */
    private static final List<Tomcat> TOMCAT = new ArrayList<>();

    private static Context webapp(Tomcat tomcat, String path, Path dir) {
        Context ctx = tomcat.addWebapp(path, dir.toString());
        // Tomcat's default JSP servlet exists once its defaults are configured.
        ctx.addLifecycleListener(e -> {
            if (Lifecycle.CONFIGURE_START_EVENT.equals(e.getType())) {
                Wrapper jsp = (Wrapper) ctx.findChild("jsp");
                if (jsp != null) jsp.addInitParameter("modificationTestInterval", "0");
            }
        });
        return ctx;
    }

    static String get(int port, String path) throws IOException {
        HttpURLConnection c = (HttpURLConnection) new URL("http://127.0.0.1:" + port + path).openConnection();
        c.setConnectTimeout(10_000);
        c.setReadTimeout(60_000);
        int code = c.getResponseCode();
        InputStream in = code < 400 ? c.getInputStream() : c.getErrorStream();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (in != null) {
            try (in) {
                in.transferTo(out);
            }
        }
        c.disconnect();
        if (code != 200) {
            throw new IOException("GET " + path + " answered " + code + ": " + out.toString(StandardCharsets.UTF_8));
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    private static void copyTree(Path from, Path to) throws IOException {
        try (Stream<Path> s = Files.walk(from)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Path dest = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(dest);
                } else {
                    Files.copy(p, dest, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    private static void write(Path dir, String name, String text) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve(name), text);
    }

    /** /shop: thread.jsp starts a worker thread; the fixed twin stops and joins it. */
    private static void writeShop(Path dir, boolean leak) throws IOException {
        write(dir, "index.jsp", "<%@ page contentType=\"text/plain\" %>shop <%= application.getContextPath() %>\n");
        write(dir, "thread.jsp",
            "<%@ page contentType=\"text/plain\" %><%\n"
            + "  Thread t = new Thread(\"" + THREAD_NAME + "\") {\n"
            + "    public void run() {\n"
            + "      try { while (true) Thread.sleep(60000); } catch (InterruptedException e) { }\n"
            + "    }\n"
            + "  };\n"
            + "  t.setDaemon(true);\n"
            + "  t.start();\n"
            + (leak ? "" : "  t.interrupt();\n  t.join();\n")
            + "%>started\n");
    }

    /** /admin: mbean.jsp registers a standard MBean; the fixed twin unregisters it. */
    private static void writeAdmin(Path dir, boolean leak) throws IOException {
        write(dir, "index.jsp", "<%@ page contentType=\"text/plain\" %>admin\n");
        write(dir, "mbean.jsp",
            "<%@ page contentType=\"text/plain\" import=\"java.lang.management.*,javax.management.*\" %><%!\n"
            + "  public interface CounterMBean { int getCount(); }\n"
            + "  public static class Counter implements CounterMBean { public int getCount() { return 42; } }\n"
            + "%><%\n"
            + "  MBeanServer server = ManagementFactory.getPlatformMBeanServer();\n"
            + "  ObjectName name = new ObjectName(\"" + MBEAN_NAME + "\");\n"
            + "  if (!server.isRegistered(name)) server.registerMBean(new Counter(), name);\n"
            + (leak ? "" : "  server.unregisterMBean(name);\n")
            + "%>registered\n");
    }
}
