import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

/**
 * What a leaked class loader costs (issue #21): N loaders of the healthy application, each
 * loading its eight classes and holding a byte[] of PAYLOAD bytes that only the loader
 * references. Each is closed; a static list keeps one of its classes (and so the loader) unless
 * --fixed. Usage: LoaderCost N PAYLOAD APP_JAR [--fixed]; speaks the harness protocol and waits
 * for "exit" (or EOF) on stdin.
 */
public final class LoaderCost {
    static final List<Class<?>> PINNED = new ArrayList<>();

    static final String[] CLASSES = {"HealthyApp", "Customer", "Order", "OrderLine", "PriceCalculator", "ReportFormatter", "Repository", "Status"};

    /** A loader with a payload of its own: reachable only through the loader. */
    static final class PayloadLoader extends URLClassLoader {
        final byte[] payload;

        PayloadLoader(String name, URL app, int bytes) {
            super(name, new URL[] {app}, LoaderCost.class.getClassLoader());
            payload = new byte[bytes];
        }
    }

    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        int payload = Integer.parseInt(args[1]);
        URL app = Paths.get(args[2]).toUri().toURL();
        boolean fixed = List.of(args).contains("--fixed");
        for (int i = 1; i <= n; i++) {
            PayloadLoader loader = new PayloadLoader("cost-" + i, app, payload);
            for (String c : CLASSES) {
                Class<?> k = loader.loadClass("leakagent.app.healthy." + c);
                if (!fixed && c.equals("Customer")) {
                    PINNED.add(k);
                }
            }
            loader.close();
        }
        for (int i = 0; i < 4; i++) {
            System.gc();
        }
        System.out.println("HARNESS truth pid=" + ProcessHandle.current().pid());
        System.out.println("HARNESS truth leaked_loaders=" + (fixed ? 0 : n));
        System.out.println("HARNESS truth classes_per_loader=" + CLASSES.length);
        System.out.println("HARNESS truth payload_bytes=" + payload);
        System.out.println("HARNESS ready");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        for (String line; (line = in.readLine()) != null && !line.trim().equals("exit"); ) {
        }
        System.out.println("HARNESS done");
        System.out.flush();
        System.exit(0);
    }
}
