package leakagent.app.spring;

import java.util.Map;

import org.springframework.beans.BeanWrapper;
import org.springframework.beans.BeanWrapperImpl;
import org.springframework.beans.CachedIntrospectionResults;

import leakagent.harness.App;

/**
 * Spring 4.3 (spring-beans, spring-core, commons-logging in the container's shared loader) binds a
 * property of an application bean; CachedIntrospectionResults caches the class's introspection
 * results. Fixed twin: CachedIntrospectionResults.clearClassLoader(own loader) in stop().
 */
public class SpringIntrospectionApp implements App {
    private boolean fixed;

    @Override
    public void start(Map<String, Object> context) {
        fixed = (Boolean) context.get("fixed");
        if (Boolean.TRUE.equals(context.get("acceptClassLoader"))) {
            CachedIntrospectionResults.acceptClassLoader(SpringIntrospectionApp.class.getClassLoader());
        }
        BeanWrapper w = new BeanWrapperImpl(new SpringBean());
        w.setPropertyValue("name", "leakagent");
        w.setPropertyValue("size", "7919");
        if (!"leakagent".equals(w.getPropertyValue("name"))) {
            throw new IllegalStateException("binding failed");
        }
    }

    @Override
    public void stop() {
        if (fixed) {
            CachedIntrospectionResults.clearClassLoader(SpringIntrospectionApp.class.getClassLoader());
        }
    }
}
