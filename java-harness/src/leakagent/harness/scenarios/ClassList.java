package leakagent.harness.scenarios;

import java.lang.ref.WeakReference;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.ArrayList;
import java.util.List;

import leakagent.harness.Container;
import leakagent.harness.Main;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * class-list: N loaders of apps/healthy ("app-gen-1".."app-gen-N", closed), each with one class
 * added to CLASSES, a static ArrayList of Class objects in the harness (a parent loader), as a
 * plugin registry keyed by class would. Odd generations add a class they only loaded
 * (ClassLoader.loadClass: loaded, never linked; HotSpot's heap walk reports no reference out of
 * such a Class object, not even to its loader), even ones a class they initialised. The only
 * path to each loader runs through a Class in the list's Object[]. Truth: all N generations leak
 * through CLASSES. Fixed: nothing is added.
 */
public final class ClassList implements Scenario {
    static final List<Class<?>> CLASSES = new ArrayList<>();
    static final String PINNED = "leakagent.app.healthy.Customer";

    @Override
    public void run(Options o) throws Exception {
        URL jar = Main.buildDir().resolve("apps/healthy.jar").toUri().toURL();
        List<WeakReference<ClassLoader>> loaders = new ArrayList<>();
        List<String> names = new ArrayList<>();
        for (int gen = 1; gen <= o.generations; gen++) {
            String name = Container.LOADER_PREFIX + gen;
            names.add(name);
            loaders.add(new WeakReference<>(deploy(name, jar, gen % 2 == 1, !o.fixed)));
        }
        Out.truth("generations", o.generations);
        Out.truth("leaked_generations", o.fixed ? 0 : o.generations);
        Out.truth("leaked_loader_names", o.fixed ? "none" : String.join(",", names));
        Out.truth("pinned_class", PINNED);
        Out.truth("culprit", "leakagent.harness.scenarios.ClassList.CLASSES");
        Container.gc();
        if (o.selfcheck) {
            Out.selfcheckAlive("leaked_loaders", loaders);
        }
    }

    /** In its own frame, so no local variable keeps the loader alive afterwards. */
    private static ClassLoader deploy(String name, URL jar, boolean unlinked, boolean pin) throws Exception {
        URLClassLoader loader = new URLClassLoader(name, new URL[] {jar}, Container.harnessLoader());
        Class<?> k = unlinked ? loader.loadClass(PINNED) : Class.forName(PINNED, true, loader);
        if (pin) {
            CLASSES.add(k);
        }
        loader.close();
        return loader;
    }
}
