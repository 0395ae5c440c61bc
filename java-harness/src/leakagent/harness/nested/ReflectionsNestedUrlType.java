package leakagent.harness.nested;

import java.io.IOException;
import java.io.InputStream;
import java.net.URL;
import java.util.ArrayList;
import java.util.List;

import org.reflections.vfs.Vfs;

/**
 * A Reflections Vfs.UrlType for nested:...!/BOOT-INF/lib/x.jar URLs: the Dir lists the nested
 * jar's entries and every Vfs.File opens its entry through the NestedJarLoader (and so through a
 * new ZipInflaterInputStream).
 */
public final class ReflectionsNestedUrlType implements Vfs.UrlType {
    private final NestedJarLoader loader;

    public ReflectionsNestedUrlType(NestedJarLoader loader) {
        this.loader = loader;
    }

    @Override
    public boolean matches(URL url) {
        return NestedJarLoader.PROTOCOL.equals(url.getProtocol()) && jarOf(url) != null;
    }

    private NestedJar jarOf(URL url) {
        for (NestedJar jar : loader.jars()) {
            if (url.toExternalForm().equals(loader.urlOf(jar).toExternalForm())) return jar;
        }
        return null;
    }

    @Override
    public Vfs.Dir createDir(URL url) {
        final NestedJar jar = jarOf(url);
        final String path = url.toExternalForm();
        return new Vfs.Dir() {
            @Override
            public String getPath() {
                return path;
            }

            @Override
            public Iterable<Vfs.File> getFiles() {
                List<Vfs.File> files = new ArrayList<>();
                for (NestedJar.Entry e : jar.entries()) {
                    if (!e.isDirectory()) files.add(new NestedFile(jar, e));
                }
                return files;
            }
        };
    }

    private final class NestedFile implements Vfs.File {
        private final NestedJar jar;
        private final NestedJar.Entry entry;

        NestedFile(NestedJar jar, NestedJar.Entry entry) {
            this.jar = jar;
            this.entry = entry;
        }

        @Override
        public String getName() {
            return entry.name.substring(entry.name.lastIndexOf('/') + 1);
        }

        @Override
        public String getRelativePath() {
            return entry.name;
        }

        @Override
        public InputStream openInputStream() throws IOException {
            return loader.open(jar, entry);
        }
    }
}
