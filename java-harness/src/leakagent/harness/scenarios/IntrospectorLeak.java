package leakagent.harness.scenarios;

import leakagent.harness.Container;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * introspector: apps/introspector calls java.beans.Introspector.getBeanInfo(AppBean.class).
 * Truth: all N generations leak through the JDK's introspection caches. Fixed:
 * Introspector.flushCaches() in stop().
 */
public final class IntrospectorLeak implements Scenario {
    @Override
    public void run(Options o) throws Exception {
        Container c = new Container("introspector", "leakagent.app.introspector.IntrospectorApp", Container.harnessLoader());
        c.redeploy(o.generations, o.fixed);
        Out.truth("bean_class", "leakagent.app.introspector.AppBean");
        c.finish(o, o.fixed ? java.util.Collections.<String>emptyList() : c.all(),
                "java.beans.Introspector",
                "com.sun.beans.introspect.ClassInfo.CACHE / ThreadGroupContext.beanInfoCache->BeanInfo->AppBean");
    }
}
