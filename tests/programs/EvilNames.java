import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

/**
 * Names its class loaders with terminal control characters (ESC [31m, a newline), as an
 * application may: three generations of one application, each kept in a static list, so the
 * names reach the report's loaders, its leak suspects and its findings. Usage: EvilNames APP_JAR.
 * Speaks the harness protocol: "HARNESS ready", then waits for "exit" or EOF on stdin.
 */
public final class EvilNames {
    static final List<ClassLoader> KEPT = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        URL app = Paths.get(args[0]).toUri().toURL();
        for (int i = 1; i <= 3; i++) {
            URLClassLoader loader = new URLClassLoader("\u001b[31mevil\nloader-gen-" + i, new URL[] {app}, EvilNames.class.getClassLoader());
            loader.loadClass("leakagent.app.healthy.HealthyApp");
            KEPT.add(loader);
        }
        System.out.println("HARNESS ready");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        for (String line; (line = in.readLine()) != null && !line.trim().equals("exit"); ) {
        }
        System.out.println("HARNESS done");
        System.exit(0);
    }
}
