import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import java.util.jar.JarFile;

/**
 * Loaders that live across a report and die before the next: N named loaders ("life-1"...) each
 * load every class of APP_JAR (Class.forName, no initialiser: loaded, not linked), then wait. On
 * "link" every class is linked (reflection links a class, no initialiser runs: "HARNESS linked");
 * on "drop" they are dropped and collected ("HARNESS dropped"); on "exit" or EOF the program ends.
 * Usage: LoaderLifecycle N APP_JAR. Speaks the harness protocol.
 */
public final class LoaderLifecycle {
    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        URL app = Paths.get(args[1]).toUri().toURL();
        List<String> names = new ArrayList<>();
        try (JarFile jar = new JarFile(args[1])) {
            jar.stream().map(e -> e.getName()).filter(e -> e.endsWith(".class"))
                .forEach(e -> names.add(e.substring(0, e.length() - 6).replace('/', '.')));
        }
        List<URLClassLoader> loaders = new ArrayList<>();
        List<Class<?>> classes = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            URLClassLoader l = new URLClassLoader("life-" + i, new URL[] {app}, LoaderLifecycle.class.getClassLoader());
            for (String name : names) {
                classes.add(Class.forName(name, false, l));
            }
            loaders.add(l);
        }
        System.out.println("HARNESS truth pid=" + ProcessHandle.current().pid());
        System.out.println("HARNESS truth loaders=" + n);
        System.out.println("HARNESS truth classes_per_loader=" + names.size());
        System.out.println("HARNESS ready");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        for (String line; (line = in.readLine()) != null && !line.trim().equals("exit"); ) {
            if (line.trim().equals("link")) {
                for (Class<?> c : classes) {
                    c.getDeclaredMethods();
                }
                System.out.println("HARNESS linked");
                System.out.flush();
            }
            if (line.trim().equals("drop")) {
                for (URLClassLoader l : loaders) {
                    l.close();
                }
                loaders.clear();
                classes.clear();
                for (int i = 0; i < 4; i++) {
                    System.gc();
                    Thread.sleep(50);
                }
                System.out.println("HARNESS dropped");
                System.out.flush();
            }
        }
        System.out.println("HARNESS done");
        System.exit(0);
    }
}
