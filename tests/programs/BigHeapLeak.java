import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

/**
 * A heap of N small objects and two closed application loaders pinned 12 links deep from a
 * static list: a chain search on it takes many heap walks. Usage: BigHeapLeak N APP_JAR.
 * Speaks the harness protocol: truths, "HARNESS ready", then waits for "exit" or EOF on stdin.
 */
public final class BigHeapLeak {
    static final class Node {
        Node next;
        Object payload;
        int value;
    }

    static final List<Object> HOLDER = new ArrayList<>();
    static Object[] heap;

    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        URL app = Paths.get(args[1]).toUri().toURL();
        heap = new Object[n / 1000 + 1];
        for (int i = 0; i < heap.length; i++) {
            Node head = null;
            for (int j = 0; j < 1000 && (long) i * 1000 + j < n; j++) {
                Node x = new Node();
                x.next = head;
                x.value = j;
                head = x;
            }
            heap[i] = head;
        }
        for (int gen = 1; gen <= 2; gen++) {
            leak(app, gen);
        }
        System.gc();
        System.out.println("HARNESS truth pid=" + ProcessHandle.current().pid());
        System.out.println("HARNESS truth leaked_generations=2");
        System.out.println("HARNESS ready");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        for (String line; (line = in.readLine()) != null && !line.trim().equals("exit"); ) {
        }
        System.out.println("HARNESS done");
        System.exit(0);
    }

    static void leak(URL app, int gen) throws Exception {
        URLClassLoader loader = new URLClassLoader("big-gen-" + gen, new URL[] {app}, BigHeapLeak.class.getClassLoader());
        Object appObject = loader.loadClass("leakagent.app.healthy.HealthyApp").getDeclaredConstructor().newInstance();
        Node deep = new Node();
        deep.payload = appObject;
        for (int i = 0; i < 10; i++) {
            Node up = new Node();
            up.next = deep;
            deep = up;
        }
        HOLDER.add(deep);
        loader.close();
    }
}
