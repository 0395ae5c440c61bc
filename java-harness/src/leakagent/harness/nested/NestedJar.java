package leakagent.harness.nested;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A jar stored (uncompressed) inside the fat jar, held in memory; its central directory parsed by hand. */
public final class NestedJar {
    public static final int STORED = 0;
    public static final int DEFLATED = 8;

    /** One entry of the nested jar. */
    public static final class Entry {
        public final String name;
        public final int method;
        public final int dataOffset;
        public final int compressedSize;
        public final int size;

        Entry(String name, int method, int dataOffset, int compressedSize, int size) {
            this.name = name;
            this.method = method;
            this.dataOffset = dataOffset;
            this.compressedSize = compressedSize;
            this.size = size;
        }

        public boolean isDirectory() {
            return name.endsWith("/");
        }
    }

    public final String name; // e.g. BOOT-INF/lib/lib-07.jar
    final byte[] data;
    private final Map<String, Entry> entries = new LinkedHashMap<>();

    NestedJar(String name, byte[] data) throws IOException {
        this.name = name;
        this.data = data;
        parse();
    }

    public List<Entry> entries() {
        return Collections.unmodifiableList(new ArrayList<>(entries.values()));
    }

    public Entry entry(String path) {
        return entries.get(path);
    }

    private void parse() throws IOException {
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        int eocd = -1;
        for (int i = data.length - 22; i >= Math.max(0, data.length - 22 - 65535); i--) {
            if (b.getInt(i) == 0x06054b50) {
                eocd = i;
                break;
            }
        }
        if (eocd < 0) throw new IOException(name + ": no end of central directory");
        int count = b.getShort(eocd + 10) & 0xffff;
        int cd = b.getInt(eocd + 16);
        for (int i = 0; i < count; i++) {
            if (b.getInt(cd) != 0x02014b50) throw new IOException(name + ": bad central directory");
            int method = b.getShort(cd + 10) & 0xffff;
            int csize = b.getInt(cd + 20);
            int size = b.getInt(cd + 24);
            int nameLen = b.getShort(cd + 28) & 0xffff;
            int extraLen = b.getShort(cd + 30) & 0xffff;
            int commentLen = b.getShort(cd + 32) & 0xffff;
            int local = b.getInt(cd + 42);
            String entryName = new String(data, cd + 46, nameLen, StandardCharsets.UTF_8);
            if (b.getInt(local) != 0x04034b50) throw new IOException(name + ": bad local header");
            int localName = b.getShort(local + 26) & 0xffff;
            int localExtra = b.getShort(local + 28) & 0xffff;
            entries.put(entryName, new Entry(entryName, method, local + 30 + localName + localExtra, csize, size));
            cd += 46 + nameLen + extraLen + commentLen;
        }
    }
}
