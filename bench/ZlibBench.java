import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32;
import java.util.zip.Inflater;
import java.util.zip.InflaterInputStream;

/**
 * zlib-heavy workload for bench/native_overhead.sh: reads every DEFLATED entry of every jar in a
 * directory (default /usr/share/java) the way a nested-jar class loader does: an InflaterInputStream
 * with a 512-byte buffer over its own new Inflater (ended on close), readAllBytes, CRC-32 check.
 * The jars are read into memory first; only the reading of entries is timed. Each worker thread recurses --depth frames first, so that stacks are as deep as in real
 * applications (a stack walk costs per frame).
 *
 *   java ZlibBench [--dir D] [--threads 2] [--rounds 16] [--depth 40]
 * Prints "BENCH zlib ms=<timed wall milliseconds> cpu_ms=<CPU milliseconds of the worker threads>
 * streams=<Inflaters created> bytes=<inflated bytes>". The CPU time is what the agent adds to;
 * it does not move when other processes take a core away, as wall time does.
 */
public final class ZlibBench {
    static final class Entry {
        final byte[] data;
        final int off, csize, size;
        final long crc;
        Entry(byte[] data, int off, int csize, int size, long crc) {
            this.data = data; this.off = off; this.csize = csize; this.size = size; this.crc = crc;
        }
    }

    public static void main(String[] args) throws Exception {
        String dir = "/usr/share/java";
        int threads = 2, rounds = 16, depth = 40;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--dir": dir = args[++i]; break;
                case "--threads": threads = Integer.parseInt(args[++i]); break;
                case "--rounds": rounds = Integer.parseInt(args[++i]); break;
                case "--depth": depth = Integer.parseInt(args[++i]); break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        List<Entry> entries = load(Paths.get(dir));
        run(entries, threads, 1, depth); // warm-up: JIT, and the agent's first sight of each site
        long t0 = System.nanoTime();
        long[] r = run(entries, threads, rounds, depth);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.println("BENCH zlib ms=" + ms + " cpu_ms=" + r[2] / 1_000_000 + " streams=" + r[0] + " bytes=" + r[1]
                + " entries=" + entries.size());
    }

    static long[] run(List<Entry> entries, int threads, int rounds, int depth) throws Exception {
        AtomicLong streams = new AtomicLong(), bytes = new AtomicLong(), cpu = new AtomicLong();
        java.lang.management.ThreadMXBean mx = java.lang.management.ManagementFactory.getThreadMXBean();
        Thread[] ts = new Thread[threads];
        Throwable[] failure = new Throwable[1];
        for (int t = 0; t < threads; t++) {
            final int me = t, n = threads;
            ts[t] = new Thread(() -> {
                try {
                    long c0 = mx.getCurrentThreadCpuTime();
                    long[] own = descend(depth, entries, me, n, rounds);
                    cpu.addAndGet(mx.getCurrentThreadCpuTime() - c0);
                    streams.addAndGet(own[0]);
                    bytes.addAndGet(own[1]);
                } catch (Throwable e) {
                    failure[0] = e;
                }
            }, "zlib-bench-" + t);
            ts[t].start();
        }
        for (Thread t : ts) t.join();
        if (failure[0] != null) throw new IllegalStateException(failure[0]);
        return new long[] {streams.get(), bytes.get(), cpu.get()};
    }

    static long[] descend(int depth, List<Entry> entries, int me, int n, int rounds) throws IOException {
        if (depth > 0) return descend(depth - 1, entries, me, n, rounds);
        long streams = 0, bytes = 0;
        for (int r = 0; r < rounds; r++) {
            for (int i = me; i < entries.size(); i += n) {
                bytes += read(entries.get(i));
                streams++;
            }
        }
        return new long[] {streams, bytes};
    }

    /** One entry, as a nested-jar loader reads it. */
    static long read(Entry e) throws IOException {
        Inflater inf = new Inflater(true);
        byte[] b;
        try (InputStream in = new EntryStream(new ByteArrayInputStream(e.data, e.off, e.csize), inf)) {
            b = in.readAllBytes();
        } finally {
            inf.end();
        }
        CRC32 crc = new CRC32();
        crc.update(b, 0, b.length);
        if (b.length != e.size || crc.getValue() != e.crc) throw new IOException("corrupt entry");
        return b.length;
    }

    /** Raw (nowrap) inflation wants one dummy byte after the data, as ZipFile supplies it. */
    static final class EntryStream extends InflaterInputStream {
        private boolean eof;

        EntryStream(InputStream in, Inflater inf) {
            super(in, inf, 512);
        }

        @Override
        protected void fill() throws IOException {
            if (eof) throw new java.io.EOFException("unexpected end of entry");
            len = in.read(buf, 0, buf.length);
            if (len == -1) {
                buf[0] = 0;
                len = 1;
                eof = true;
            }
            inf.setInput(buf, 0, len);
        }
    }

    /** DEFLATED entries of every jar (symlinks to the same jar counted once). */
    static List<Entry> load(Path dir) throws IOException {
        Set<Path> jars = new LinkedHashSet<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "*.jar")) {
            for (Path p : ds) {
                try {
                    jars.add(p.toRealPath());
                } catch (IOException ignored) {
                    // dangling symlink
                }
            }
        }
        List<Entry> out = new ArrayList<>();
        for (Path jar : jars) {
            try {
                byte[] data = Files.readAllBytes(jar);
                parse(data, out);
            } catch (IOException | RuntimeException ignored) {
                // not a plain zip: skip
            }
        }
        return out;
    }

    static void parse(byte[] data, List<Entry> out) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        int eocd = -1;
        for (int i = data.length - 22; i >= Math.max(0, data.length - 22 - 65535); i--) {
            if (b.getInt(i) == 0x06054b50) { eocd = i; break; }
        }
        if (eocd < 0) throw new IOException("no end of central directory");
        int count = b.getShort(eocd + 10) & 0xffff;
        int cd = b.getInt(eocd + 16);
        for (int i = 0; i < count; i++) {
            if (b.getInt(cd) != 0x02014b50) throw new IOException("bad central directory");
            int method = b.getShort(cd + 10) & 0xffff;
            long crc = b.getInt(cd + 16) & 0xffffffffL;
            int csize = b.getInt(cd + 20), size = b.getInt(cd + 24);
            int nameLen = b.getShort(cd + 28) & 0xffff, extraLen = b.getShort(cd + 30) & 0xffff;
            int commentLen = b.getShort(cd + 32) & 0xffff, local = b.getInt(cd + 42);
            if (method == 8 && b.getInt(local) == 0x04034b50) {
                int off = local + 30 + (b.getShort(local + 26) & 0xffff) + (b.getShort(local + 28) & 0xffff);
                out.add(new Entry(data, off, csize, size, crc));
            }
            cd += 46 + nameLen + extraLen + commentLen;
        }
    }
}
