import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.function.IntConsumer;

/**
 * Loader churn with zlib: creates class loaders one after another, each loading its own copy of
 * ZipChurnWorker (from this program's class path, with the platform loader as parent, so every
 * loader defines the class again), running it on a new thread (one Deflater and one Inflater,
 * both ended), then dropping the loader. Every loader's copy of the same code reaches zlib
 * through its own jmethodIDs. Usage: ZipChurn LOADERS SECONDS (stops at whichever comes first;
 * 0 = no bound; one of them must be set). Speaks the harness protocol: truths, "HARNESS ready",
 * then waits for "exit" or EOF on stdin. With -Dzipchurn.native=true (the harness jar on the class
 * path) each worker also mallocs and frees a block through the harness's JNI library, and with
 * -Dzipchurn.late=N the workers of loader N on do so through a frame of their own.
 */
public final class ZipChurn {
    public static void main(String[] args) throws Exception {
        long loaders = Long.parseLong(args[0]);
        long seconds = Long.parseLong(args[1]);
        URL here = ZipChurn.class.getProtectionDomain().getCodeSource().getLocation();
        ClassLoader parent = ClassLoader.getPlatformClassLoader();
        // The workers' loaders cannot see the harness: they get its JNI library as an IntConsumer.
        IntConsumer blocks = Boolean.getBoolean("zipchurn.native")
                ? (IntConsumer) Class.forName("leakagent.harness.scenarios.NativeCache").getMethod("blocks").invoke(null)
                : null;
        long late = Long.getLong("zipchurn.late", Long.MAX_VALUE);
        long end = seconds > 0 ? System.nanoTime() + seconds * 1_000_000_000L : Long.MAX_VALUE;
        long n = 0;
        while ((loaders == 0 || n < loaders) && System.nanoTime() < end) {
            try (URLClassLoader loader = new URLClassLoader(new URL[] {here}, parent)) {
                Class<?> worker = loader.loadClass("ZipChurnWorker");
                Runnable work = (Runnable) (blocks == null
                        ? worker.getDeclaredConstructor().newInstance()
                        : worker.getDeclaredConstructor(IntConsumer.class, boolean.class).newInstance(blocks, n >= late));
                Thread t = new Thread(work, "churn-" + n);
                t.start();
                t.join();
            }
            n++;
            if (n % 500 == 0) {
                System.gc();
            }
        }
        System.gc();
        System.out.println("HARNESS truth pid=" + ProcessHandle.current().pid());
        System.out.println("HARNESS truth loaders_created=" + n);
        System.out.println("HARNESS ready");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        for (String line; (line = in.readLine()) != null && !line.trim().equals("exit"); ) {
        }
        System.out.println("HARNESS done");
        System.exit(0);
    }
}
