package leakagent.harness.scenarios;

import java.net.URLClassLoader;
import java.util.Collections;

import leakagent.harness.Container;
import leakagent.harness.Main;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * spring-introspection: Debian's Spring 4.3 (spring3-beans.jar, spring3-core.jar) and
 * commons-logging in the container's shared loader; apps/spring binds properties of its own bean
 * with BeanWrapperImpl (CachedIntrospectionResults.forClass) after acceptClassLoader(own loader).
 * Truth: all N generations leak (strongly). Fixed: clearClassLoader + Spring's cache resets.
 * Without acceptClassLoader Spring 4.3 holds application classes only softly (see README).
 */
public final class SpringIntrospection implements Scenario {
    @Override
    public void run(Options o) throws Exception {
        URLClassLoader shared = Container.sharedLoader(Main.javaLib("spring3-beans.jar"),
                Main.javaLib("spring3-core.jar"), Main.javaLib("commons-logging.jar"));
        Container c = new Container("spring", "leakagent.app.spring.SpringIntrospectionApp", shared);
        c.clearSoftReferencesInSelfcheck = true;
        c.redeploy(o.generations, o.fixed);
        Out.truth("bean_class", "leakagent.app.spring.SpringBean");
        c.finish(o, o.fixed ? Collections.<String>emptyList() : c.all(),
                "org.springframework.beans.CachedIntrospectionResults",
                "CachedIntrospectionResults.acceptedClassLoaders->app loader; CachedIntrospectionResults.strongClassCache->SpringBean");
    }
}
