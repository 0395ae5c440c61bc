import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.jar.JarFile;

/**
 * Class loading under way while an agent attaches: THREADS threads each make named loaders
 * ("attach-1"...), one after another, each loading every class of APP_JAR (Class.forName, no
 * initialiser), and keep them, until "stop" (or MAX loaders); then "HARNESS stopped" with the
 * number of loaders made. On "exit" or EOF the program ends.
 * Usage: AttachLoading THREADS APP_JAR MAX. Speaks the harness protocol.
 */
public final class AttachLoading {
    public static void main(String[] args) throws Exception {
        int threads = Integer.parseInt(args[0]);
        URL app = Paths.get(args[1]).toUri().toURL();
        int max = Integer.parseInt(args[2]);
        List<String> names = new ArrayList<>();
        try (JarFile jar = new JarFile(args[1])) {
            jar.stream().map(e -> e.getName()).filter(e -> e.endsWith(".class"))
                .forEach(e -> names.add(e.substring(0, e.length() - 6).replace('/', '.')));
        }
        List<Object> kept = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger made = new AtomicInteger();
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> workers = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            Thread w = new Thread(() -> {
                try {
                    while (!stop.get()) {
                        int i = made.incrementAndGet();
                        if (i > max) {
                            made.decrementAndGet();
                            break;
                        }
                        URLClassLoader l = new URLClassLoader("attach-" + i, new URL[] {app}, AttachLoading.class.getClassLoader());
                        for (String name : names) {
                            kept.add(Class.forName(name, false, l));
                        }
                        kept.add(l);
                        // Slow enough to be still loading when the attach lands (JVM and jcmd
                        // start-up: seconds), few enough classes for -Xcheck:jni's checks.
                        Thread.sleep(20);
                    }
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            w.start();
            workers.add(w);
        }
        System.out.println("HARNESS truth pid=" + ProcessHandle.current().pid());
        System.out.println("HARNESS truth classes_per_loader=" + names.size());
        System.out.println("HARNESS ready");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        for (String line; (line = in.readLine()) != null && !line.trim().equals("exit"); ) {
            if (line.trim().equals("stop")) {
                stop.set(true);
                for (Thread w : workers) {
                    w.join();
                }
                System.out.println("HARNESS truth loaders=" + made.get());
                System.out.println("HARNESS stopped");
                System.out.flush();
            }
        }
        System.out.println("HARNESS done");
        System.exit(0);
    }
}
