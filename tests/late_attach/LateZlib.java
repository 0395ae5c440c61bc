import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * A Java agent the late-attach test loads (jcmd JVMTI.agent_load .../libinstrument.so LateZlib.jar)
 * after leakagent was attached: zlib and direct memory work that happens only after the attach.
 * 23 Inflaters kept live (keepInflater), 19 Deflaters ended (endDeflater), 3 direct buffers of
 * 1_000_003 bytes kept (keepBuffer). Prints "LATE done" when finished.
 */
public final class LateZlib {
    static final int INFLATERS = 23;
    static final int DEFLATERS = 19;
    static final int BUFFERS = 3;
    static final int BUFFER_SIZE = 1_000_003;
    static final List<Object> KEPT = new ArrayList<>();

    public static void agentmain(String args) throws Exception {
        for (int i = 0; i < INFLATERS; i++) KEPT.add(keepInflater(i));
        for (int i = 0; i < DEFLATERS; i++) endDeflater(i);
        for (int i = 0; i < BUFFERS; i++) KEPT.add(keepBuffer());
        System.out.println("LATE done");
        System.out.flush();
    }

    static Inflater keepInflater(int i) {
        return new Inflater(i % 2 == 0);
    }

    static void endDeflater(int i) {
        Deflater d = new Deflater(i % 10);
        try {
            d.setInput(new byte[] {1, 2, 3});
            d.finish();
            d.deflate(new byte[64]);
        } finally {
            d.end();
        }
    }

    static ByteBuffer keepBuffer() {
        return ByteBuffer.allocateDirect(BUFFER_SIZE);
    }
}
