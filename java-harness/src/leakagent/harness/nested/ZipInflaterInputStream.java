package leakagent.harness.nested;

import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.Inflater;
import java.util.zip.InflaterInputStream;

/**
 * Modelled on Spring Boot 1.x's org.springframework.boot.loader.jar.ZipInflaterInputStream:
 * every stream creates its own {@code new Inflater(true)} (in this constructor, which is the top
 * harness frame of every Inflater allocation of springboot-scan) and close() does NOT call
 * inflater.end() -- InflaterInputStream.close() only ends inflaters it created itself -- so the
 * zlib state is freed only when the GC runs the Inflater's Cleaner. With endOnClose (the fixed
 * twin) close() ends the Inflater explicitly.
 */
public class ZipInflaterInputStream extends InflaterInputStream {
    public static final AtomicInteger CREATED = new AtomicInteger();
    public static final AtomicInteger ENDED = new AtomicInteger();
    public static final AtomicInteger CLOSED = new AtomicInteger();

    private final boolean endOnClose;
    private int available;
    private boolean extraBytesWritten;
    private boolean closed;

    public ZipInflaterInputStream(InputStream in, int size, boolean endOnClose) {
        super(in, new Inflater(true), 512);
        CREATED.incrementAndGet();
        this.available = size;
        this.endOnClose = endOnClose;
    }

    @Override
    public int available() throws IOException {
        if (available < 0) {
            return super.available();
        }
        return available;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        int result = super.read(b, off, len);
        if (result != -1) {
            available -= result;
        }
        return result;
    }

    @Override
    protected void fill() throws IOException {
        try {
            super.fill();
        } catch (EOFException ex) {
            if (extraBytesWritten) {
                throw ex;
            }
            // nowrap inflation wants one dummy byte after the deflated data
            len = 1;
            buf[0] = 0x0;
            extraBytesWritten = true;
            inf.setInput(buf, 0, len);
        }
    }

    @Override
    public void close() throws IOException {
        super.close();
        if (!closed) {
            closed = true;
            CLOSED.incrementAndGet();
            if (endOnClose) {
                inf.end();
                ENDED.incrementAndGet();
            }
        }
    }
}
