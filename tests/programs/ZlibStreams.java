import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * COUNT Deflaters and COUNT Inflaters, each used once (4 KiB compressed, then inflated), all
 * kept open: their zlib memory is live in the report at exit, where native sampling's sites are
 * ranked by live bytes (a freed site can fall out of the 50 reported). Usage: ZlibStreams COUNT.
 * Speaks the harness protocol: truths, "HARNESS ready", then waits for "exit" or EOF on stdin.
 */
public final class ZlibStreams {
    static final List<Object> KEPT = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        int count = Integer.parseInt(args[0]);
        byte[] data = new byte[4096];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i % 7);
        }
        for (int i = 0; i < count; i++) {
            Deflater d = new Deflater();
            d.setInput(data);
            d.finish();
            byte[] packed = new byte[data.length + 64];
            int n = d.deflate(packed);
            Inflater inf = new Inflater();
            inf.setInput(packed, 0, n);
            if (inf.inflate(new byte[data.length]) != data.length) {
                throw new DataFormatException("short inflate");
            }
            KEPT.add(d);
            KEPT.add(inf);
        }
        System.out.println("HARNESS truth streams=" + KEPT.size());
        System.out.println("HARNESS ready");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        for (String line; (line = in.readLine()) != null && !line.trim().equals("exit"); ) {
        }
        System.out.println("HARNESS done " + KEPT.size());
    }
}
