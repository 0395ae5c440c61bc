import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Allocates args[0] direct buffers of 64 KiB on a new thread and keeps them until exit:
 * tests/native_sampling.rs checks which of their mallocs native sampling sees, and its sites
 * are ranked by live bytes at exit (a freed buffer's site, live 0, can fall out of the 50
 * reported).
 */
public final class DirectThreads {
    static final List<ByteBuffer> KEPT = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        Thread t = new Thread(() -> {
            for (int i = 0; i < n; i++) {
                KEPT.add(ByteBuffer.allocateDirect(65536));
            }
        }, "direct-threads");
        t.start();
        t.join();
        System.out.println("HARNESS done " + KEPT.size());
    }
}
