package leakagent.harness.scenarios;

import leakagent.harness.Container;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * introspector: apps/introspector calls java.beans.Introspector.getBeanInfo(AppBean.class); AppBean
 * has an explicit BeanInfo whose property descriptor carries an attribute holding application
 * objects. Truth: all N generations leak through ThreadGroupContext.beanInfoCache. Fixed:
 * Introspector.flushCaches() in stop(). A plain bean (no attribute) is held only softly/weakly
 * by JDK 11+ (see README).
 */
public final class IntrospectorLeak implements Scenario {
    @Override
    public void run(Options o) throws Exception {
        Container c = new Container("introspector", "leakagent.app.introspector.IntrospectorApp", Container.harnessLoader());
        // The JavaBeans internals keep introspected classes softly reachable (also after
        // flushCaches() on JDK 11); --selfcheck counts only strongly reachable loaders.
        c.clearSoftReferencesInSelfcheck = true;
        c.redeploy(o.generations, o.fixed);
        Out.truth("bean_class", "leakagent.app.introspector.AppBean");
        Out.truth("bean_info_class", "leakagent.app.introspector.AppBeanBeanInfo");
        Out.truth("attribute_value_class", "leakagent.app.introspector.AppSize");
        c.finish(o, o.fixed ? java.util.Collections.<String>emptyList() : c.all(),
                "java.beans.Introspector",
                "ThreadGroupContext.contexts->ThreadGroupContext.beanInfoCache(WeakHashMap value)->GenericBeanInfo.properties->PropertyDescriptor.table->Object[]->AppSize");
    }
}
