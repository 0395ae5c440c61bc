package leakagent.app.introspector;

import java.beans.IntrospectionException;
import java.beans.PropertyDescriptor;
import java.beans.SimpleBeanInfo;

/**
 * The explicit BeanInfo of AppBean (found by the Introspector by naming convention). Its "size"
 * property carries a design-time attribute, "enumerationValues", whose values are AppSize
 * constants (application objects), as IDE-oriented BeanInfo classes do. The Introspector copies the
 * attribute into the PropertyDescriptor it caches.
 */
public class AppBeanBeanInfo extends SimpleBeanInfo {
    @Override
    public PropertyDescriptor[] getPropertyDescriptors() {
        try {
            PropertyDescriptor name = new PropertyDescriptor("name", AppBean.class);
            PropertyDescriptor size = new PropertyDescriptor("size", AppBean.class);
            size.setValue("enumerationValues", new Object[] {
                "SMALL", AppSize.SMALL, "AppSize.SMALL", "LARGE", AppSize.LARGE, "AppSize.LARGE"});
            return new PropertyDescriptor[] {name, size};
        } catch (IntrospectionException e) {
            throw new IllegalStateException(e);
        }
    }
}
