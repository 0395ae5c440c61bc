package leakagent.harness.scenarios;

import java.net.URLClassLoader;

import leakagent.harness.Container;
import leakagent.harness.Main;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * commons-logging: Debian's commons-logging 1.2 in the container's shared loader ("shared");
 * apps/commonslogging bundles its own Log (AppLog) and names it in commons-logging.properties.
 * Truth: all N generations leak through LogFactory.factories. Fixed: LogFactory.release(loader).
 */
public final class CommonsLogging implements Scenario {
    @Override
    public void run(Options o) throws Exception {
        URLClassLoader shared = Container.sharedLoader(Main.javaLib("commons-logging.jar"));
        Container c = new Container("commonslogging", "leakagent.app.commonslogging.CommonsLoggingApp", shared);
        c.redeploy(o.generations, o.fixed);
        Out.truth("shared_jar", Main.javaLib("commons-logging.jar"));
        Out.truth("app_log_class", "leakagent.app.commonslogging.AppLog");
        c.finish(o, o.fixed ? java.util.Collections.<String>emptyList() : c.all(),
                "org.apache.commons.logging.LogFactory",
                "LogFactory.factories->WeakHashtable(value)->LogFactoryImpl->logConstructor/instances->AppLog");
    }
}
