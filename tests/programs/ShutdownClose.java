import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Paths;

/**
 * An application whose loader is current for the whole run and which a shutdown hook closes on
 * exit, as containers and Spring do: the exit report must not call it a leak. Usage:
 * ShutdownClose APP_JAR. Speaks the harness protocol; exits on "exit" or EOF.
 */
public final class ShutdownClose {
    static URLClassLoader app;
    static Object instance;

    public static void main(String[] args) throws Exception {
        URL jar = Paths.get(args[0]).toUri().toURL();
        app = new URLClassLoader("current-app", new URL[] {jar}, ShutdownClose.class.getClassLoader());
        instance = app.loadClass("leakagent.app.healthy.HealthyApp").getDeclaredConstructor().newInstance();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                app.close();
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }, "app-shutdown"));
        System.out.println("HARNESS truth pid=" + ProcessHandle.current().pid());
        System.out.println("HARNESS ready");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        for (String line; (line = in.readLine()) != null && !line.trim().equals("exit"); ) {
        }
        System.out.println("HARNESS done");
        System.exit(0);
    }
}
