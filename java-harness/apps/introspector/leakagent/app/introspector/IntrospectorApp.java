package leakagent.app.introspector;

import java.beans.BeanInfo;
import java.beans.Introspector;
import java.beans.PropertyDescriptor;
import java.util.Map;

import leakagent.harness.App;

/**
 * Calls java.beans.Introspector.getBeanInfo(AppBean.class). AppBean has an explicit BeanInfo
 * (AppBeanBeanInfo) whose "size" descriptor carries an attribute holding AppSize objects; the
 * Introspector caches the merged BeanInfo in ThreadGroupContext.beanInfoCache (a WeakHashMap keyed
 * by the bean class, value held strongly): value -> PropertyDescriptor.table -> AppSize -> class
 * -> loader -> AppBean, the key, so the entry never clears. (Without such an attribute JDK 11+
 * holds the introspected class only through weak and soft references: no strong leak.)
 * Fixed twin: Introspector.flushCaches() in stop().
 */
public class IntrospectorApp implements App {
    private boolean fixed;

    @Override
    public void start(Map<String, Object> context) throws Exception {
        fixed = (Boolean) context.get("fixed");
        BeanInfo info = Introspector.getBeanInfo(AppBean.class);
        PropertyDescriptor[] pds = info.getPropertyDescriptors();
        if (pds.length != 2 || pds[1].getValue("enumerationValues") == null) { // name, size (explicit BeanInfo)
            throw new IllegalStateException("unexpected bean info " + pds.length);
        }
    }

    @Override
    public void stop() {
        if (fixed) {
            Introspector.flushCaches();
        }
    }
}
