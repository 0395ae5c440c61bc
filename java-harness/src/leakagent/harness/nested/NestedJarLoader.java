package leakagent.harness.nested;

import java.io.ByteArrayInputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.net.MalformedURLException;
import java.net.URL;
import java.net.URLConnection;
import java.net.URLStreamHandler;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Enumeration;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * A Spring-Boot-style class loader over a fat jar: the jars under BOOT-INF/lib/ are STORED in the
 * outer jar, read into memory, and their DEFLATED entries are inflated through
 * {@link ZipInflaterInputStream} (one new Inflater per opened entry). Resources have URLs of the
 * form nested:/path/fat.jar!/BOOT-INF/lib/lib-07.jar!/entry/name.
 */
public final class NestedJarLoader extends ClassLoader {
    static {
        registerAsParallelCapable();
    }

    public static final String PROTOCOL = "nested";

    private final Path fatJar;
    private final boolean endInflaters;
    private final List<NestedJar> jars;
    private final URLStreamHandler handler = new Handler();

    public NestedJarLoader(Path fatJar, boolean endInflaters, ClassLoader parent) throws IOException {
        super("fatjar-loader", parent);
        this.fatJar = fatJar.toAbsolutePath();
        this.endInflaters = endInflaters;
        this.jars = Collections.unmodifiableList(readNestedJars(this.fatJar));
    }

    private static List<NestedJar> readNestedJars(Path fatJar) throws IOException {
        List<NestedJar> result = new ArrayList<>();
        try (ZipFile outer = new ZipFile(fatJar.toFile())) {
            Enumeration<? extends ZipEntry> e = outer.entries();
            while (e.hasMoreElements()) {
                ZipEntry ze = e.nextElement();
                if (!ze.getName().startsWith("BOOT-INF/lib/") || !ze.getName().endsWith(".jar")) continue;
                if (ze.getMethod() != ZipEntry.STORED) {
                    throw new IOException("nested jar " + ze.getName() + " must be STORED");
                }
                try (InputStream in = outer.getInputStream(ze)) {
                    result.add(new NestedJar(ze.getName(), in.readAllBytes()));
                }
            }
        }
        result.sort((a, b) -> a.name.compareTo(b.name));
        return result;
    }

    public List<NestedJar> jars() {
        return jars;
    }

    public URL urlOf(NestedJar jar) {
        return url(fatJar + "!/" + jar.name);
    }

    public URL urlOf(NestedJar jar, NestedJar.Entry entry) {
        return url(fatJar + "!/" + jar.name + "!/" + entry.name);
    }

    private URL url(String spec) {
        try {
            return new URL(PROTOCOL, null, -1, spec, handler);
        } catch (MalformedURLException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Opens one entry of a nested jar; DEFLATED entries get a new ZipInflaterInputStream. */
    public InputStream open(NestedJar jar, NestedJar.Entry entry) throws IOException {
        ByteArrayInputStream raw = new ByteArrayInputStream(jar.data, entry.dataOffset, entry.compressedSize);
        switch (entry.method) {
            case NestedJar.STORED:
                return raw;
            case NestedJar.DEFLATED:
                return new ZipInflaterInputStream(raw, entry.size, endInflaters);
            default:
                throw new IOException("unsupported method " + entry.method + " for " + entry.name);
        }
    }

    @Override
    protected Class<?> findClass(String name) throws ClassNotFoundException {
        String path = name.replace('.', '/') + ".class";
        for (NestedJar jar : jars) {
            NestedJar.Entry e = jar.entry(path);
            if (e != null) {
                try (InputStream in = open(jar, e)) {
                    byte[] b = in.readAllBytes();
                    return defineClass(name, b, 0, b.length);
                } catch (IOException ex) {
                    throw new ClassNotFoundException(name, ex);
                }
            }
        }
        throw new ClassNotFoundException(name);
    }

    @Override
    protected URL findResource(String name) {
        for (NestedJar jar : jars) {
            NestedJar.Entry e = jar.entry(name);
            if (e != null) return urlOf(jar, e);
        }
        return null;
    }

    @Override
    protected Enumeration<URL> findResources(String name) {
        List<URL> urls = new ArrayList<>();
        for (NestedJar jar : jars) {
            NestedJar.Entry e = jar.entry(name);
            if (e != null) urls.add(urlOf(jar, e));
        }
        return Collections.enumeration(urls);
    }

    /** Resolves nested:...!/BOOT-INF/lib/x.jar!/entry URLs to streams of this loader. */
    private final class Handler extends URLStreamHandler {
        @Override
        protected URLConnection openConnection(URL u) throws IOException {
            String spec = u.getPath();
            String prefix = fatJar + "!/";
            if (!spec.startsWith(prefix)) throw new FileNotFoundException(spec);
            String rest = spec.substring(prefix.length());
            int sep = rest.indexOf("!/");
            if (sep < 0) throw new FileNotFoundException(spec + " is a nested jar, not an entry");
            String jarName = rest.substring(0, sep);
            String entryName = rest.substring(sep + 2);
            for (NestedJar jar : jars) {
                if (jar.name.equals(jarName)) {
                    NestedJar.Entry e = jar.entry(entryName);
                    if (e == null) break;
                    return new URLConnection(u) {
                        @Override
                        public void connect() {
                        }

                        @Override
                        public InputStream getInputStream() throws IOException {
                            return open(jar, e);
                        }
                    };
                }
            }
            throw new FileNotFoundException(spec);
        }
    }
}
