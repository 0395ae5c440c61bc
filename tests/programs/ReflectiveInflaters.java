import java.lang.reflect.Constructor;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import java.util.zip.Inflater;

/**
 * One source line reached through generated code that changes between calls: a constructor
 * that makes an Inflater, called COUNT times through reflection (JDK 8-17 call it 15 times
 * through NativeConstructorAccessorImpl, then through a GeneratedConstructorAccessorN) and COUNT
 * times through a lambda; every Inflater is kept live (a leak: one place each). Usage:
 * ReflectiveInflaters COUNT. Prints truths and "HARNESS ready", then exits.
 */
public final class ReflectiveInflaters {
    static final List<Inflater> KEPT = new ArrayList<>();

    public static final class Holder {
        public Holder() {
            KEPT.add(new Inflater());
        }
    }

    public static void main(String[] args) throws Exception {
        int count = Integer.parseInt(args[0]);
        Constructor<Holder> c = Holder.class.getConstructor();
        for (int i = 0; i < count; i++) {
            c.newInstance();
        }
        Supplier<Inflater> lambda = () -> new Inflater();
        for (int i = 0; i < count; i++) {
            KEPT.add(lambda.get());
        }
        System.out.println("HARNESS truth reflective=" + count);
        System.out.println("HARNESS truth lambda=" + count);
        System.out.println("HARNESS truth java_version=" + System.getProperty("java.version"));
        System.out.println("HARNESS ready");
    }
}
