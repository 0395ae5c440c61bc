package leakagent.app.introspector;

import java.beans.BeanInfo;
import java.beans.Introspector;
import java.util.Map;

import leakagent.harness.App;

/**
 * Calls java.beans.Introspector.getBeanInfo on its own bean class; the JDK's introspection caches
 * (ThreadGroupContext.beanInfoCache and com.sun.beans.introspect.ClassInfo's cache) keep the
 * BeanInfo, which strongly references the class. Fixed twin: Introspector.flushCaches() in stop().
 */
public class IntrospectorApp implements App {
    private boolean fixed;

    @Override
    public void start(Map<String, Object> context) throws Exception {
        fixed = (Boolean) context.get("fixed");
        BeanInfo info = Introspector.getBeanInfo(AppBean.class);
        if (info.getPropertyDescriptors().length != 3) { // class, name, size
            throw new IllegalStateException("unexpected bean info");
        }
    }

    @Override
    public void stop() {
        if (fixed) {
            Introspector.flushCaches();
        }
    }
}
