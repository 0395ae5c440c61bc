package leakagent.harness.scenarios;

import java.util.ArrayList;
import java.util.List;
import java.util.function.IntConsumer;

import leakagent.harness.Main;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * native-cache: a cache whose entries live in native memory malloc'd by a JNI library of our own
 * (build/native/libnativecache.so, from java-harness/native/nativecache.c). {@link #fill} puts
 * 24 entries of 65_521 bytes per round, 61 rounds 100 ms apart (~6 s, so that the agent's sampler
 * sees the growth), and keeps every address: 95_922_744 bytes never freed. Fixed: each round's
 * entries are removed (freed) before the next round.
 * With -Dnative-cache.after-go-file=true (for a late attach): the scenario is ready at once and
 * the rounds run on a thread once a file named {@code go} exists in the working directory, then
 * print {@code HARNESS truth native_cache_done=1}.
 * {@link #blocks} lends the library to programs outside the harness (tests/programs/ZipChurn).
 */
public final class NativeCache implements Scenario {
    static final int ROUNDS = 61;
    static final int PER_ROUND = 24;
    static final int ENTRY_SIZE = 65_521;
    static final List<Long> KEPT = new ArrayList<>();

    static native long put(int size);

    static native void remove(long address);

    @Override
    public void run(Options o) throws Exception {
        System.load(Main.buildDir().resolve("native").resolve("libnativecache.so").toAbsolutePath().toString());
        Out.truth("site", "leakagent.harness.scenarios.NativeCache.put");
        Out.truth("native_function", "Java_leakagent_harness_scenarios_NativeCache_put");
        Out.truth("native_library", "libnativecache.so");
        Out.truth("native_bytes_allocated", (long) ROUNDS * PER_ROUND * ENTRY_SIZE);
        if (Boolean.getBoolean("native-cache.after-go-file")) {
            Thread t = new Thread(() -> {
                try {
                    while (!java.nio.file.Files.exists(java.nio.file.Paths.get("go"))) {
                        Thread.sleep(20);
                    }
                    rounds(o);
                    Out.truth("native_cache_done", 1);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }, "native-cache");
            t.setDaemon(true);
            t.start();
            return;
        }
        rounds(o);
    }

    static void rounds(Options o) throws InterruptedException {
        for (int r = 0; r < ROUNDS; r++) {
            List<Long> round = fill();
            if (o.fixed) {
                for (long a : round) {
                    remove(a);
                }
            } else {
                KEPT.addAll(round);
            }
            Thread.sleep(100);
        }
        Out.truth("native_bytes_leaked", o.fixed ? 0L : (long) ROUNDS * PER_ROUND * ENTRY_SIZE);
    }

    static List<Long> fill() {
        List<Long> round = new ArrayList<>();
        for (int i = 0; i < PER_ROUND; i++) {
            long a = put(ENTRY_SIZE);
            if (a == 0) {
                throw new OutOfMemoryError("malloc failed");
            }
            round.add(a);
        }
        return round;
    }

    /**
     * Loads the library and returns what mallocs and frees one block of the given size through
     * it, for a program whose code cannot name this class (another loader, compiled without the
     * harness): its calls reach {@link #put} from its own Java frames.
     */
    public static IntConsumer blocks() {
        System.load(Main.buildDir().resolve("native").resolve("libnativecache.so").toAbsolutePath().toString());
        return new Blocks();
    }

    static final class Blocks implements IntConsumer {
        @Override
        public void accept(int size) {
            remove(put(size));
        }
    }
}
