package leakagent.app.introspector;

/** Design-time values of AppBean.size (application objects referenced by the BeanInfo). */
public final class AppSize {
    public static final AppSize SMALL = new AppSize(7);
    public static final AppSize LARGE = new AppSize(7919);

    final int value;

    private AppSize(int value) {
        this.value = value;
    }
}
