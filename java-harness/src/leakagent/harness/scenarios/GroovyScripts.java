package leakagent.harness.scenarios;

import java.io.File;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.List;

import leakagent.harness.Container;
import leakagent.harness.Main;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * groovy-scripts: Debian's Groovy 2.4 (groovy-all.jar, in a loader named "groovy") evaluates
 * SCRIPTS scripts, each with a new GroovyShell, as an application evaluating user scripts does:
 * every script gets its own GroovyClassLoader and GroovyClassLoader$InnerLoader defining
 * Script&lt;n&gt; and Script&lt;n&gt;$_run_closure1. Groovy's own caches keep every script class
 * only softly reachable. Leaky: the closure returned by every PIN-th script is kept in PINNED, a
 * static list of the harness, which pins its loader. Fixed: nothing is kept. The system
 * properties leakagent.scripts and leakagent.pin change SCRIPTS and PIN (1,500 scripts, every one
 * pinned: 1,500 suspects for one search).
 */
public final class GroovyScripts implements Scenario {
    public static final int SCRIPTS = Integer.getInteger("leakagent.scripts", 120);
    public static final int PIN = Integer.getInteger("leakagent.pin", 10);
    static final List<Object> PINNED = new ArrayList<>();
    private static final List<Object> KEEP = new ArrayList<>();

    @Override
    public void run(Options o) throws Exception {
        File jar = new File(Main.javaLib("groovy-all.jar"));
        if (!jar.isFile()) throw new IllegalStateException("missing " + jar + " (Debian package groovy)");
        URLClassLoader groovy = new URLClassLoader("groovy", new java.net.URL[] {jar.toURI().toURL()}, Container.harnessLoader());
        KEEP.add(groovy);
        Class<?> shellClass = Class.forName("groovy.lang.GroovyShell", true, groovy);
        Constructor<?> newShell = shellClass.getConstructor(ClassLoader.class);
        Method evaluate = shellClass.getMethod("evaluate", String.class);
        for (int i = 1; i <= SCRIPTS; i++) {
            Object closure = evaluateOne(newShell, evaluate, groovy, i);
            if (!o.fixed && i % PIN == 0) {
                PINNED.add(closure);
            }
        }
        Out.truth("scripts", SCRIPTS);
        Out.truth("loader_class", "groovy.lang.GroovyClassLoader$InnerLoader");
        Out.truth("pinned", PINNED.size());
        Out.truth("culprit", "leakagent.harness.scenarios.GroovyScripts.PINNED");
        Container.gc();
    }

    /** In its own frame, so no local variable keeps a script's loader alive afterwards. */
    private static Object evaluateOne(Constructor<?> newShell, Method evaluate, ClassLoader parent, int i) throws Exception {
        Object shell = newShell.newInstance(parent);
        return evaluate.invoke(shell, "def total = " + i + "; return { -> total * 2 }");
    }
}
