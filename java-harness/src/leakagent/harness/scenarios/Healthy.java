package leakagent.harness.scenarios;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.Collections;
import java.util.Enumeration;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import java.util.zip.Inflater;

import leakagent.harness.Container;
import leakagent.harness.Main;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * healthy: N generations of apps/healthy (8 classes) deployed and undeployed cleanly, zlib used
 * properly (every Deflater/Inflater ended, GZIP streams and a JarFile closed), direct buffers
 * allocated and dropped (freed by GC). Nothing may be reported.
 */
public final class Healthy implements Scenario {
    static final int ZLIB_ROUNDS = 31;
    static final int GZIP_ROUNDS = 17;
    static final int DIRECT_BUFFERS = 13;
    static final int DIRECT_BUFFER_SIZE = 8191;

    @Override
    public void run(Options o) throws Exception {
        Container c = new Container("healthy", "leakagent.app.healthy.HealthyApp", Container.harnessLoader());
        c.redeploy(o.generations, false);
        Out.truth("child_classes", c.classesPerGeneration());
        int deflaters = 0;
        int inflaters = 0;
        for (int i = 0; i < ZLIB_ROUNDS; i++) {
            deflateInflateProperly(i);
            deflaters++;
            inflaters++;
        }
        for (int i = 0; i < GZIP_ROUNDS; i++) {
            gzipRoundTrip(i);
            deflaters++;
            inflaters++;
        }
        int jarEntries = readJar();
        for (int i = 0; i < DIRECT_BUFFERS; i++) {
            useDirectBuffer(i);
        }
        Out.truth("deflaters_ended", deflaters);
        Out.truth("inflaters_ended_by_app", inflaters);
        Out.truth("jar_entries_read", jarEntries);
        Out.truth("direct_buffers_dropped", DIRECT_BUFFERS);
        Out.truth("direct_buffer_size", DIRECT_BUFFER_SIZE);
        c.finish(o, Collections.<String>emptyList(), "none", "none");
    }

    static byte[] payload(int seed) {
        byte[] b = new byte[4096 + seed];
        for (int i = 0; i < b.length; i++) b[i] = (byte) ("healthy".charAt(i % 7) + (i / 64) % 3);
        return b;
    }

    static void deflateInflateProperly(int seed) throws DataFormatException {
        byte[] in = payload(seed);
        byte[] buf = new byte[in.length + 64];
        Deflater d = new Deflater();
        int n;
        try {
            d.setInput(in);
            d.finish();
            n = d.deflate(buf);
        } finally {
            d.end();
        }
        Inflater inf = new Inflater();
        try {
            inf.setInput(buf, 0, n);
            byte[] out = new byte[in.length];
            if (inf.inflate(out) != in.length) throw new IllegalStateException("inflate");
        } finally {
            inf.end();
        }
    }

    static void gzipRoundTrip(int seed) throws IOException {
        byte[] in = payload(seed);
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(bos)) {
            gz.write(in);
        }
        try (GZIPInputStream gin = new GZIPInputStream(new ByteArrayInputStream(bos.toByteArray()))) {
            if (gin.readAllBytes().length != in.length) throw new IllegalStateException("gunzip");
        }
    }

    static int readJar() throws IOException {
        int n = 0;
        try (JarFile jar = new JarFile(Main.buildDir().resolve("apps/healthy.jar").toFile())) {
            Enumeration<JarEntry> e = jar.entries();
            while (e.hasMoreElements()) {
                JarEntry je = e.nextElement();
                if (je.isDirectory()) continue;
                try (InputStream in = jar.getInputStream(je)) {
                    in.readAllBytes();
                }
                n++;
            }
        }
        return n;
    }

    static void useDirectBuffer(int i) {
        ByteBuffer b = ByteBuffer.allocateDirect(DIRECT_BUFFER_SIZE);
        b.putInt(0, i);
        if (b.getInt(0) != i) throw new IllegalStateException();
    }
}
