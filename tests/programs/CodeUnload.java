import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;

/**
 * Compiles a method of a class in a throwaway loader, drops the loader and collects it, ROUNDS
 * times: each round's compiled code is freed with its class, which HotSpot reports as
 * CompiledMethodUnload. Usage: CodeUnload ROUNDS.
 */
public final class CodeUnload {
    /** Loaded again by each round's loader (its parent, the platform loader, cannot see it). */
    public static final class Hot {
        public static long spin(int n) {
            long s = 0;
            for (int i = 0; i < n; i++) {
                s += (s ^ i) * 31 + i;
            }
            return s;
        }
    }

    public static void main(String[] args) throws Exception {
        int rounds = Integer.parseInt(args[0]);
        URL here = CodeUnload.class.getProtectionDomain().getCodeSource().getLocation();
        long sum = 0;
        for (int r = 0; r < rounds; r++) {
            try (URLClassLoader loader = new URLClassLoader(new URL[] {here}, ClassLoader.getPlatformClassLoader())) {
                Method spin = loader.loadClass("CodeUnload$Hot").getMethod("spin", int.class);
                for (int i = 0; i < 20_000; i++) {
                    sum += (Long) spin.invoke(null, 200);
                }
            }
            System.gc();
        }
        System.gc();
        Thread.sleep(500);
        System.out.println("HARNESS truth sum=" + sum);
    }
}
