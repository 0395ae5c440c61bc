package leakagent.harness.scenarios;

import java.io.File;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import leakagent.harness.Container;
import leakagent.harness.Main;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * tomcat-jsp: a real embedded Tomcat 10.1 (Debian's libtomcat10-java, Jasper with Debian's
 * Eclipse JDT compiler) serving Debian's examples application (tomcat10-examples) plus /shop and
 * /admin. JSPs are compiled (one JasperLoader each), one is recompiled, and every context is
 * reloaded. Leaky: /shop's thread.jsp leaves a thread running and /admin's mbean.jsp leaves an
 * MBean registered, so the stopped /shop and /admin loaders stay alive. Fixed: the thread is
 * joined and the MBean unregistered; nothing may be reported. The driver is
 * java-harness/tomcat/ (build/tomcat/driver.jar), loaded with the Tomcat jars by a loader named
 * "common", as Catalina's common loader.
 */
public final class TomcatJsp implements Scenario {
    private static final String[] JARS = {
        "tomcat10-catalina.jar", "tomcat10-api.jar", "tomcat10-util.jar", "tomcat10-util-scan.jar",
        "tomcat10-juli.jar", "tomcat10-coyote.jar", "tomcat10-jni.jar", "tomcat10-servlet-api.jar",
        "tomcat10-jsp-api.jar", "tomcat10-el-api.jar", "tomcat10-jasper.jar", "tomcat10-jasper-el.jar",
        "tomcat10-annotations-api.jar", "tomcat10-jaspic-api.jar", "tomcat10-websocket-api.jar",
        "tomcat10-websocket-client-api.jar", "tomcat10-websocket.jar", "eclipse-jdt-core.jar",
    };
    public static final String EXAMPLES = "/usr/share/tomcat10-examples/examples";
    /** The common loader and what it loaded stay for the life of the process, as in Catalina. */
    private static final List<Object> KEEP = new ArrayList<>();

    @Override
    public void run(Options o) throws Exception {
        List<URL> urls = new ArrayList<>();
        for (String j : JARS) {
            File f = new File(Main.javaLib(j));
            if (!f.isFile()) throw new IllegalStateException("missing " + f + " (Debian packages libtomcat10-java, libeclipse-jdt-core-java)");
            urls.add(f.toURI().toURL());
        }
        Path driver = Main.buildDir().resolve("tomcat").resolve("driver.jar");
        if (!Files.isRegularFile(driver)) throw new IllegalStateException("missing " + driver + " (run java-harness/build.sh)");
        if (!Files.isDirectory(Path.of(EXAMPLES))) throw new IllegalStateException("missing " + EXAMPLES + " (Debian package tomcat10-examples)");
        urls.add(driver.toUri().toURL());
        URLClassLoader common = new URLClassLoader("common", urls.toArray(new URL[0]), Container.harnessLoader());
        KEEP.add(common);
        Path base = Path.of("tomcat-base").toAbsolutePath();
        @SuppressWarnings("unchecked")
        Map<String, String> truths = (Map<String, String>) Class.forName("leakagent.tomcat.Driver", true, common)
            .getMethod("run", String.class, String.class, boolean.class)
            .invoke(null, base.toString(), EXAMPLES, !o.fixed);
        for (Map.Entry<String, String> e : truths.entrySet()) Out.truth(e.getKey(), e.getValue());
        Container.gc();
    }
}
