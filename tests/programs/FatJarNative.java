import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Paths;
import java.util.Arrays;

/**
 * A fat-jar launch in miniature: the harness jar loaded by a URLClassLoader of its own (parent:
 * the platform loader) runs a scenario, so every frame of the scenario belongs to a loader other
 * than the built-in ones, whose classes get jmethodIDs only once a sample needs them. Usage:
 * FatJarNative HARNESS_JAR SCENARIO [ARGS...]; the harness speaks its protocol.
 */
public final class FatJarNative {
    public static void main(String[] args) throws Exception {
        URL jar = Paths.get(args[0]).toUri().toURL();
        URLClassLoader loader = new URLClassLoader(new URL[] {jar}, ClassLoader.getPlatformClassLoader());
        Class<?> main = loader.loadClass("leakagent.harness.Main");
        main.getMethod("main", String[].class).invoke(null, (Object) Arrays.copyOfRange(args, 1, args.length));
    }
}
