/**
 * Allocates args[0] direct buffers of 64 KiB on a new thread and drops them (the GC frees them):
 * tests/native_sampling.rs checks which of their mallocs native sampling sees.
 */
public final class DirectThreads {
    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        long[] sum = new long[1];
        Thread t = new Thread(() -> {
            for (int i = 0; i < n; i++) {
                java.nio.ByteBuffer b = java.nio.ByteBuffer.allocateDirect(65536);
                b.put(0, (byte) i);
                sum[0] += b.get(0);
            }
        }, "direct-threads");
        t.start();
        t.join();
        System.out.println("HARNESS done " + n + " " + (sum[0] & 0));
    }
}
