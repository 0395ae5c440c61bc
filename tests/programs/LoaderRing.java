import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Paths;

/**
 * Keeps RING class loaders alive in a ring and replaces the oldest with a new one at every step,
 * calling System.gc() every 100 steps, until "exit" (or EOF) on stdin: the churn that hung JDK 11
 * when ObjectFree, delivered inside the GC pause, waited for a lock the agent held across a JNI
 * call. Prints "CHURN step N" at least every 200 ms so a watchdog can tell progress from a hang.
 * Usage: LoaderRing RING APP_JAR. Speaks the harness protocol (truths, "HARNESS ready", "exit").
 */
public final class LoaderRing {
    private static volatile boolean stop;

    public static void main(String[] args) throws Exception {
        int ring = Integer.parseInt(args[0]);
        URL app = Paths.get(args[1]).toUri().toURL();
        URLClassLoader[] loaders = new URLClassLoader[ring];
        Thread stdin = new Thread(() -> {
            try {
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
                for (String line; (line = in.readLine()) != null && !line.trim().equals("exit"); ) {
                }
            } catch (Exception e) {
                // EOF or a closed pipe: stop like "exit".
            }
            stop = true;
        }, "stdin");
        stdin.setDaemon(true);
        System.out.println("HARNESS truth pid=" + ProcessHandle.current().pid());
        System.out.println("HARNESS ready");
        System.out.flush();
        stdin.start();
        long step = 0;
        long lastPrint = 0;
        while (!stop) {
            int slot = (int) (step % ring);
            if (loaders[slot] != null) {
                loaders[slot].close();
            }
            URLClassLoader loader = new URLClassLoader(new URL[] {app}, LoaderRing.class.getClassLoader());
            loader.loadClass("leakagent.app.healthy.HealthyApp");
            loaders[slot] = loader;
            step++;
            if (step % 100 == 0) {
                System.gc();
            }
            long now = System.nanoTime();
            if (now - lastPrint > 200_000_000L) {
                System.out.println("CHURN step " + step);
                System.out.flush();
                lastPrint = now;
            }
        }
        System.out.println("HARNESS truth steps=" + step);
        System.out.println("HARNESS done");
        System.out.flush();
        System.exit(0);
    }
}
