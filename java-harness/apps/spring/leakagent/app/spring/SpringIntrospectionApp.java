package leakagent.app.spring;

import java.util.Map;

import org.springframework.beans.BeanWrapper;
import org.springframework.beans.BeanWrapperImpl;
import org.springframework.beans.CachedIntrospectionResults;
import org.springframework.core.ResolvableType;
import org.springframework.core.annotation.AnnotationUtils;
import org.springframework.util.ReflectionUtils;

import leakagent.harness.App;

/**
 * Spring 4.3 (spring-beans, spring-core, commons-logging in the container's shared loader) binds a
 * property of an application bean; CachedIntrospectionResults caches the class's introspection
 * results. Because Spring lives in the shared loader, CachedIntrospectionResults would hold the
 * application's classes only softly (softClassCache), as do Spring's other ConcurrentReferenceHashMap
 * caches (soft by default); the application therefore calls acceptClassLoader(own loader), which
 * holds the loader strongly (acceptedClassLoaders) and caches its classes strongly
 * (strongClassCache). Fixed twin: stop() calls clearClassLoader(own loader) and clears Spring's
 * soft caches, as AbstractApplicationContext.resetCommonCaches() does.
 */
public class SpringIntrospectionApp implements App {
    private boolean fixed;

    @Override
    public void start(Map<String, Object> context) {
        fixed = (Boolean) context.get("fixed");
        // Spring lives in the shared loader, so by default it caches this application's classes
        // only softly; accepting the application's loader makes the cache strong, as documented.
        CachedIntrospectionResults.acceptClassLoader(SpringIntrospectionApp.class.getClassLoader());
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
            // what AbstractApplicationContext.resetCommonCaches() does on context close in 4.3
            CachedIntrospectionResults.clearClassLoader(SpringIntrospectionApp.class.getClassLoader());
            ReflectionUtils.clearCache();
            ResolvableType.clearCache();
            AnnotationUtils.clearCache();
        }
    }
}
