import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

/**
 * A heap of N small objects plus two leaked application loaders held 12 hops deep, for measuring
 * what the chain search costs. Usage: java ChainBench N APP_JAR; prints "ready", then waits for a
 * line on stdin.
 */
public final class ChainBench {
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
        // N objects in chains of 1000, so the heap walk sees realistic references.
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
        System.out.println("ready");
        System.out.flush();
        new BufferedReader(new InputStreamReader(System.in)).readLine();
    }

    static void leak(URL app, int gen) throws Exception {
        URLClassLoader loader = new URLClassLoader("bench-gen-" + gen, new URL[] {app}, ChainBench.class.getClassLoader());
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
