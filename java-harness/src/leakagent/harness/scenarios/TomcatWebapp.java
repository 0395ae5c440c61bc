package leakagent.harness.scenarios;

import java.lang.ref.WeakReference;
import java.lang.reflect.Field;
import java.lang.reflect.Proxy;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.List;

import leakagent.harness.Container;
import leakagent.harness.Main;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * tomcat-webapp: real Tomcat 10.1 web application class loaders (Debian's libtomcat10-java,
 * org.apache.catalina.loader.ParallelWebappClassLoader, in the container's shared loader), one
 * per generation, each defining an application class (a Proxy class defined in that loader),
 * then stopped through Tomcat's own lifecycle (stop(): state STOPPED, Tomcat's clearReferences
 * run). The loaders are unnamed and have no URLs, so only Tomcat's state says they should be dead.
 * Truth: every generation leaks through REGISTRY, a static list in the harness (a parent loader).
 * Fixed: nothing is registered.
 */
public final class TomcatWebapp implements Scenario {
    static final List<Object> REGISTRY = new ArrayList<>();
    static final String LOADER_CLASS = "org.apache.catalina.loader.ParallelWebappClassLoader";
    private static final String[] JARS = {
        "tomcat10-catalina.jar", "tomcat10-api.jar", "tomcat10-util.jar", "tomcat10-juli.jar",
        "tomcat10-util-scan.jar", "tomcat10-servlet-api.jar", "tomcat10-jni.jar", "tomcat10-coyote.jar",
    };

    @Override
    public void run(Options o) throws Exception {
        String[] jars = new String[JARS.length];
        for (int i = 0; i < JARS.length; i++) {
            jars[i] = Main.javaLib(JARS[i]);
        }
        URLClassLoader shared = Container.sharedLoader(jars);
        List<WeakReference<ClassLoader>> loaders = new ArrayList<>();
        for (int gen = 1; gen <= o.generations; gen++) {
            loaders.add(new WeakReference<>(deployAndStop(shared, !o.fixed)));
        }
        int leaked = o.fixed ? 0 : o.generations;
        Out.truth("loader_class", LOADER_CLASS);
        Out.truth("generations", o.generations);
        Out.truth("leaked_generations", leaked);
        Out.truth("tomcat_state_after_stop", "STOPPED");
        Out.truth("culprit", "leakagent.harness.scenarios.TomcatWebapp.REGISTRY");
        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(20);
        }
        if (o.selfcheck) {
            Out.selfcheckAlive("leaked_loaders", loaders);
        }
    }

    /** In its own frame, so no local variable keeps the loader alive afterwards. */
    private static ClassLoader deployAndStop(ClassLoader shared, boolean register) throws Exception {
        Class<?> cls = Class.forName(LOADER_CLASS, true, shared);
        ClassLoader webapp = (ClassLoader) cls.getConstructor(ClassLoader.class).newInstance(shared);
        // A started web application without a WebResourceRoot: set the lifecycle state Tomcat
        // checks before it loads classes, as StandardContext would by starting it.
        Class<?> base = Class.forName("org.apache.catalina.loader.WebappClassLoaderBase", false, shared);
        Class<?> states = Class.forName("org.apache.catalina.LifecycleState", false, shared);
        Field state = base.getDeclaredField("state");
        state.setAccessible(true);
        state.set(webapp, states.getField("STARTED").get(null));
        Object app = Proxy.newProxyInstance(webapp, new Class<?>[] {Runnable.class}, (p, m, a) -> null);
        if (app.getClass().getClassLoader() != webapp) {
            throw new IllegalStateException("the application class is not defined by the web application loader");
        }
        if (register) {
            REGISTRY.add(app);
        }
        cls.getMethod("stop").invoke(webapp);
        return webapp;
    }
}
