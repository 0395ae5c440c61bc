import java.io.BufferedReader;
import java.io.File;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

/**
 * The JDK's per-jar Inflater cache growing by a few jars: opens FIRST jars (kept open, as a class
 * path's are) and reads an entry of each several times (one live Inflater per jar, reset and
 * reused); on "more" on stdin it opens and reads MORE jars besides, as a broker does when it
 * loads classes from a jar it had not read yet. Speaks the harness protocol: truths,
 * "HARNESS ready", then "HARNESS open N" after each step, until "exit" or EOF.
 * Usage: JarCache DIR FIRST MORE
 */
public final class JarCache {
    private static final List<ZipFile> OPEN = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        File dir = new File(args[0]);
        int first = Integer.parseInt(args[1]);
        int more = Integer.parseInt(args[2]);
        dir.mkdirs();
        byte[] text = "a line of text that deflates well\n".repeat(2000).getBytes();
        for (int i = 0; i < first + more; i++) {
            try (ZipOutputStream out = new ZipOutputStream(new FileOutputStream(new File(dir, "lib" + i + ".jar")))) {
                out.putNextEntry(new ZipEntry("data.txt"));
                out.write(text);
            }
        }
        System.out.println("HARNESS truth pid=" + ProcessHandle.current().pid());
        System.out.println("HARNESS ready");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        int target = first;
        String line = "";
        while (line != null && !line.trim().equals("exit")) {
            if (line.trim().equals("more")) {
                target = first + more;
            }
            // One call site for both steps: the jars' Inflaters are one site.
            open(dir, target);
            System.out.println("HARNESS open " + OPEN.size());
            System.out.flush();
            line = in.readLine();
        }
        System.out.println("HARNESS done");
        System.exit(0);
    }

    private static void open(File dir, int target) throws Exception {
        while (OPEN.size() < target) {
            OPEN.add(new ZipFile(new File(dir, "lib" + OPEN.size() + ".jar")));
        }
        byte[] buf = new byte[8192];
        for (int round = 0; round < 5; round++) {
            for (ZipFile z : OPEN) {
                try (InputStream s = z.getInputStream(z.getEntry("data.txt"))) {
                    while (s.read(buf) > 0) {
                    }
                }
            }
        }
    }
}
