import java.util.function.IntConsumer;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * ZipChurn's unit of work, loaded by every churned loader: two zlib places, both ended, and with
 * {@code blocks} a native block malloc'd and freed below run() first (below lateBlock() when
 * {@code late}).
 */
public final class ZipChurnWorker implements Runnable {
    static final int NATIVE_BLOCK = 32_768;
    private final IntConsumer blocks;
    /** The block from a frame of its own: a stack shape no earlier loader's worker sampled. */
    private final boolean late;

    public ZipChurnWorker() {
        this(null, false);
    }

    public ZipChurnWorker(IntConsumer blocks, boolean late) {
        this.blocks = blocks;
        this.late = late;
    }

    public void run() {
        if (blocks != null && late) {
            lateBlock();
        } else if (blocks != null) {
            blocks.accept(NATIVE_BLOCK);
        }
        byte[] data = new byte[4096];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i % 7);
        }
        byte[] packed = deflate(data);
        inflate(packed, data.length);
    }

    void lateBlock() {
        blocks.accept(NATIVE_BLOCK);
    }

    static byte[] deflate(byte[] data) {
        Deflater d = new Deflater();
        try {
            d.setInput(data);
            d.finish();
            byte[] out = new byte[data.length + 64];
            int n = d.deflate(out);
            return java.util.Arrays.copyOf(out, n);
        } finally {
            d.end();
        }
    }

    static void inflate(byte[] packed, int size) {
        Inflater i = new Inflater();
        try {
            i.setInput(packed);
            i.inflate(new byte[size]);
        } catch (DataFormatException e) {
            throw new IllegalStateException(e);
        } finally {
            i.end();
        }
    }
}
