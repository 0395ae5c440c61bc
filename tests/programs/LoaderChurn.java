import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Paths;

/**
 * Creates N class loaders one after another, each loading one class and then dropped, as
 * reflection, script engines and JSP containers do all day. Usage: LoaderChurn N APP_JAR.
 * Speaks the harness protocol: truths, "HARNESS ready", then waits for "exit" or EOF on stdin.
 */
public final class LoaderChurn {
    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        URL app = Paths.get(args[1]).toUri().toURL();
        for (int i = 0; i < n; i++) {
            churn(app, i);
            if (i % 500 == 499) {
                System.gc();
            }
        }
        for (int i = 0; i < 4; i++) {
            System.gc();
            Thread.sleep(50);
        }
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

    static void churn(URL app, int i) throws Exception {
        try (URLClassLoader loader = new URLClassLoader(new URL[] {app}, LoaderChurn.class.getClassLoader())) {
            loader.loadClass("leakagent.app.healthy.HealthyApp");
        }
    }
}
