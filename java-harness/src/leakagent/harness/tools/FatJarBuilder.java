package leakagent.harness.tools;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Build-time tool (run by build.sh): writes build/fatjar/scan.jar, a Spring-Boot-style fat jar
 * with NESTED_JARS jars STORED under BOOT-INF/lib/, each holding CLASSES_PER_JAR generated class
 * files (gen/libNN/CMM, implementing java.io.Serializable) and RESOURCES_PER_JAR properties files,
 * all DEFLATED. Output is deterministic (fixed timestamps).
 */
public final class FatJarBuilder {
    public static final int NESTED_JARS = 23;
    public static final int CLASSES_PER_JAR = 41;
    public static final int RESOURCES_PER_JAR = 7;
    private static final long TIME = 1_700_000_000_000L;

    private FatJarBuilder() {}

    public static String jarName(int j) {
        return String.format("BOOT-INF/lib/lib-%02d.jar", j);
    }

    public static String className(int j, int c) {
        return String.format("gen/lib%02d/C%02d", j, c);
    }

    public static String resourceName(int j, int r) {
        return String.format("META-INF/leakagent/lib-%02d/lib-%02d-resource-%d.properties", j, j, r);
    }

    public static void main(String[] args) throws IOException {
        Path out = Paths.get(args[0]);
        Files.createDirectories(out.toAbsolutePath().getParent());
        Path tmp = out.resolveSibling(out.getFileName() + ".tmp");
        try (ZipOutputStream zo = new ZipOutputStream(Files.newOutputStream(tmp))) {
            zo.setMethod(ZipOutputStream.STORED);
            for (int j = 0; j < NESTED_JARS; j++) {
                byte[] nested = nestedJar(j);
                ZipEntry e = new ZipEntry(jarName(j));
                e.setMethod(ZipEntry.STORED);
                e.setSize(nested.length);
                e.setCompressedSize(nested.length);
                CRC32 crc = new CRC32();
                crc.update(nested);
                e.setCrc(crc.getValue());
                e.setTime(TIME);
                zo.putNextEntry(e);
                zo.write(nested);
                zo.closeEntry();
            }
        }
        Files.move(tmp, out, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    static byte[] nestedJar(int j) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        try (ZipOutputStream zo = new ZipOutputStream(bos)) {
            zo.setMethod(ZipOutputStream.DEFLATED);
            zo.setLevel(Deflater.DEFAULT_COMPRESSION);
            for (int c = 0; c < CLASSES_PER_JAR; c++) {
                put(zo, className(j, c) + ".class", classFile(className(j, c)));
            }
            for (int r = 0; r < RESOURCES_PER_JAR; r++) {
                put(zo, resourceName(j, r), resource(j, r));
            }
        }
        return bos.toByteArray();
    }

    private static void put(ZipOutputStream zo, String name, byte[] data) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setTime(TIME);
        zo.putNextEntry(e);
        zo.write(data);
        zo.closeEntry();
    }

    static byte[] resource(int j, int r) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 97; i++) {
            sb.append("lib").append(j).append(".resource").append(r).append(".key").append(i)
                    .append("=value-").append(i * 7919 % 1009).append('\n');
        }
        return sb.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** A minimal valid class file: public class NAME implements java.io.Serializable (+ a padding constant). */
    static byte[] classFile(String name) throws IOException {
        ByteArrayOutputStream bos = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(bos);
        d.writeInt(0xCAFEBABE);
        d.writeShort(0);
        d.writeShort(52);
        d.writeShort(8); // constant pool count (entries 1..7)
        utf8(d, name); // #1
        d.writeByte(7); d.writeShort(1); // #2 Class this
        utf8(d, "java/lang/Object"); // #3
        d.writeByte(7); d.writeShort(3); // #4 Class super
        utf8(d, "java/io/Serializable"); // #5
        d.writeByte(7); d.writeShort(5); // #6 Class interface
        StringBuilder pad = new StringBuilder();
        for (int i = 0; i < 40; i++) pad.append(name).append(" leakagent padding ").append(i).append(';');
        utf8(d, pad.toString()); // #7 (unused)
        d.writeShort(0x0021); // public super
        d.writeShort(2);
        d.writeShort(4);
        d.writeShort(1);
        d.writeShort(6);
        d.writeShort(0); // fields
        d.writeShort(0); // methods
        d.writeShort(0); // attributes
        d.flush();
        return bos.toByteArray();
    }

    private static void utf8(DataOutputStream d, String s) throws IOException {
        d.writeByte(1);
        d.writeUTF(s);
    }

}
