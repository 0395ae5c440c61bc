import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Gzip producers against a broker, for its throughput: THREADS producers (one KafkaProducer
 * each, as separate clients) send text records to the topic "events" with the harness producer's
 * settings (gzip, acks=all, linger 2 ms, 8 KiB batches); -Dkafkabench.linger=MS sets another linger,
 * -Dkafkabench.compression=TYPE another codec (none, lz4, ...), -Dkafkabench.batch=BYTES another
 * batch size, -Dkafkabench.topic.compression=TYPE sets the topic's compression.type first (the
 * broker then recompresses every batch the producers send in another codec).
 *
 *   java KafkaBench BOOTSTRAP BROKER_PID CLK_TCK WARMUP_RECORDS RECORDS [THREADS]
 * Sends WARMUP_RECORDS (not timed), then RECORDS, and prints
 * "BENCH records=N ms=WALL cpu_ms=BROKER_CPU producer_cpu_ms=OWN_CPU" for the latter: the wall
 * time from the first send to the last acknowledgement, and the broker process's CPU time (utime
 * + stime from /proc/BROKER_PID/stat) over the same window.
 *
 *   java KafkaBench --window SECONDS BOOTSTRAP BROKER_PID CLK_TCK WARMUP_RECORDS [THREADS]
 * Sends WARMUP_RECORDS, prints "WARM" and goes on sending (not counted) until it reads a line
 * "go EPOCH_MS" from stdin; from that wall-clock instant it sends for SECONDS, counting the
 * records sent and acknowledged inside the window; prints the same BENCH line (records = those
 * acknowledged), data_plane_cpu_ms, the CPU of the broker's data-plane threads, jit_cpu_ms, that
 * of its JIT compiler threads, gc_cpu_ms, its collector's and VM thread's, and agent_cpu_ms, the
 * agent's own threads'. Two of these
 * given the same EPOCH_MS measure two brokers over one interval, so the machine's load in it hits
 * both (bench/kafka_overhead.sh, concurrent mode). The producers'
 * buffer is 4 MiB (not 32), so the queue left at the window's end drains quickly.
 */
public final class KafkaBench {

    public static void main(String[] args) throws Exception {
        String topicCodec = System.getProperty("kafkabench.topic.compression");
        if (topicCodec != null) {
            topicCompression(args[args[0].equals("--window") ? 2 : 0], topicCodec);
        }
        if (args[0].equals("--window")) {
            window(Long.parseLong(args[1]), args[2], Long.parseLong(args[3]), Long.parseLong(args[4]),
                    Long.parseLong(args[5]), args.length > 6 ? Integer.parseInt(args[6]) : 2);
            return;
        }
        String bootstrap = args[0];
        long brokerPid = Long.parseLong(args[1]);
        long tick = Long.parseLong(args[2]);
        long warmup = Long.parseLong(args[3]);
        long records = Long.parseLong(args[4]);
        int threads = args.length > 5 ? Integer.parseInt(args[5]) : 2;
        send(bootstrap, warmup, threads);
        long cpu0 = cpuMs(brokerPid, tick);
        long own0 = cpuMs(ProcessHandle.current().pid(), tick);
        long t0 = System.nanoTime();
        send(bootstrap, records, threads);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        long cpuMs = cpuMs(brokerPid, tick) - cpu0;
        long ownMs = cpuMs(ProcessHandle.current().pid(), tick) - own0;
        System.out.println("BENCH records=" + records + " ms=" + ms + " cpu_ms=" + cpuMs + " producer_cpu_ms=" + ownMs);
    }

    static Properties config(String bootstrap) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, System.getProperty("kafkabench.compression", "gzip"));
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, Long.toString(Long.getLong("kafkabench.linger", 2)));
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, Long.toString(Long.getLong("kafkabench.batch", 8192)));
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "60000");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        return p;
    }

    static ProducerRecord<String, String> record(long i) {
        return new ProducerRecord<>("events", "k" + (i % 97),
                "{\"event\":" + i + ",\"kind\":\"order-placed\",\"payload\":\"" + "x".repeat((int) (i % 200)) + "\"}");
    }

    /** Sets the topic's compression.type, as an operator does with kafka-configs.sh. */
    static void topicCompression(String bootstrap, String codec) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(p)) {
            ConfigResource topic = new ConfigResource(ConfigResource.Type.TOPIC, "events");
            AlterConfigOp set = new AlterConfigOp(new ConfigEntry("compression.type", codec), AlterConfigOp.OpType.SET);
            admin.incrementalAlterConfigs(java.util.Map.of(topic, java.util.List.of(set))).all().get();
        }
    }

    /** RECORDS records over THREADS producers, each flushed and closed. */
    static void send(String bootstrap, long records, int threads) throws Exception {
        Properties p = config(bootstrap);
        AtomicLong failed = new AtomicLong();
        Thread[] ts = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            final int first = t;
            ts[t] = new Thread(() -> {
                try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
                    for (long i = first; i < records; i += threads) {
                        producer.send(record(i), (meta, e) -> {
                            if (e != null) {
                                failed.incrementAndGet();
                            }
                        });
                    }
                    producer.flush();
                }
            }, "bench-producer-" + t);
            ts[t].start();
        }
        for (Thread t : ts) {
            t.join();
        }
        if (failed.get() > 0) {
            throw new IllegalStateException(failed.get() + " records failed");
        }
    }

    /** The --window mode: warm-up, "WARM", wait for "go EPOCH_MS", SECONDS of sending. */
    static void window(long seconds, String bootstrap, long brokerPid, long tick, long warmup, int threads)
            throws Exception {
        Properties p = config(bootstrap);
        p.put(ProducerConfig.BUFFER_MEMORY_CONFIG, Long.toString(4L << 20));
        @SuppressWarnings("unchecked")
        KafkaProducer<String, String>[] producers = new KafkaProducer[threads];
        for (int t = 0; t < threads; t++) {
            producers[t] = new KafkaProducer<>(p);
        }
        AtomicLong failed = new AtomicLong();
        AtomicLong acked = new AtomicLong();
        long[] end = {Long.MAX_VALUE};
        CountDownLatch warm = new CountDownLatch(threads);
        CountDownLatch go = new CountDownLatch(1);
        Thread[] ts = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            final int first = t;
            ts[t] = new Thread(() -> {
                boolean warmed = false;
                try {
                    for (long i = first; i < warmup; i += threads) {
                        producers[first].send(record(i), (meta, e) -> count(e, failed, null, 0));
                    }
                    producers[first].flush();
                    warmed = true;
                    warm.countDown();
                    // Keep the broker busy until the window: its JIT settles under load only.
                    long i = warmup + first;
                    for (; go.getCount() > 0; i += threads) {
                        producers[first].send(record(i), (meta, e) -> count(e, failed, null, 0));
                    }
                    long stop = end[0];
                    for (; System.nanoTime() < stop; i += threads) {
                        producers[first].send(record(i), (meta, e) -> count(e, failed, acked, stop));
                    }
                    producers[first].flush();
                } catch (RuntimeException e) {
                    failed.incrementAndGet();
                    e.printStackTrace();
                } finally {
                    if (!warmed) {
                        warm.countDown();
                    }
                }
            }, "bench-producer-" + t);
            ts[t].setDaemon(true);
            ts[t].start();
        }
        warm.await();
        if (failed.get() > 0) {
            throw new IllegalStateException(failed.get() + " records failed in the warm-up");
        }
        System.out.println("WARM");
        System.out.flush();
        String line = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8)).readLine();
        if (line == null || !line.startsWith("go ")) {
            throw new IllegalStateException("expected \"go EPOCH_MS\" on stdin, got " + line);
        }
        Thread.sleep(Math.max(0, Long.parseLong(line.substring(3).trim()) - System.currentTimeMillis()));
        long cpu0 = cpuMs(brokerPid, tick);
        long own0 = cpuMs(ProcessHandle.current().pid(), tick);
        long plane0 = threadsCpuMs(brokerPid, tick, DATA_PLANE);
        long jit0 = threadsCpuMs(brokerPid, tick, COMPILERS);
        long gc0 = threadsCpuMs(brokerPid, tick, GC);
        long agent0 = threadsCpuMs(brokerPid, tick, AGENT);
        long t0 = System.nanoTime();
        end[0] = t0 + seconds * 1_000_000_000L;
        go.countDown();
        Thread.sleep(seconds * 1000);
        while (System.nanoTime() < end[0]) {
            Thread.onSpinWait();
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        long cpuMs = cpuMs(brokerPid, tick) - cpu0;
        long ownMs = cpuMs(ProcessHandle.current().pid(), tick) - own0;
        long planeMs = threadsCpuMs(brokerPid, tick, DATA_PLANE) - plane0;
        long jitMs = threadsCpuMs(brokerPid, tick, COMPILERS) - jit0;
        long gcMs = threadsCpuMs(brokerPid, tick, GC) - gc0;
        long agentMs = threadsCpuMs(brokerPid, tick, AGENT) - agent0;
        long records = acked.get();
        for (Thread t : ts) {
            t.join();
        }
        for (KafkaProducer<String, String> producer : producers) {
            producer.close();
        }
        if (failed.get() > 0) {
            throw new IllegalStateException(failed.get() + " records failed");
        }
        System.out.println("BENCH records=" + records + " ms=" + ms + " cpu_ms=" + cpuMs + " producer_cpu_ms=" + ownMs
                + " data_plane_cpu_ms=" + planeMs + " jit_cpu_ms=" + jitMs + " gc_cpu_ms=" + gcMs
                + " agent_cpu_ms=" + agentMs);
    }

    /**
     * The broker's request path: its threads named "data-plane-kafka-..." (network and request
     * handler threads, alive for the broker's life), without the JIT's compiler threads, the GC
     * and the agent's own thread.
     */
    static final String[] DATA_PLANE = {"data-plane-kafk"};
    /** The JIT's compiler threads (C2's come and go: a window's figure misses those that exited). */
    static final String[] COMPILERS = {"C1 CompilerThre", "C2 CompilerThre"};
    /** The collector's threads and the VM thread, which runs its pauses. */
    static final String[] GC = {"GC Thread", "G1 ", "VM Thread"};
    /** The agent's own threads (its sampler and report threads). */
    static final String[] AGENT = {"leakagent"};

    /** CPU ms of a process's threads whose name starts with one of NAMES. */
    static long threadsCpuMs(long pid, long tick, String[] names) throws Exception {
        long sum = 0;
        try (var tasks = Files.list(Path.of("/proc/" + pid + "/task"))) {
            for (Path task : (Iterable<Path>) tasks::iterator) {
                String stat;
                try {
                    stat = Files.readString(task.resolve("stat"));
                } catch (java.io.IOException gone) {
                    continue;
                }
                String name = stat.substring(stat.indexOf('(') + 1);
                if (java.util.Arrays.stream(names).anyMatch(name::startsWith)) {
                    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                    sum += Long.parseLong(f[11]) + Long.parseLong(f[12]);
                }
            }
        }
        return sum * 1000 / tick;
    }

    /** An acknowledgement: a failure, or one more record acknowledged before STOP (nanoTime). */
    static void count(Exception e, AtomicLong failed, AtomicLong acked, long stop) {
        if (e != null) {
            failed.incrementAndGet();
        } else if (acked != null && System.nanoTime() < stop) {
            acked.incrementAndGet();
        }
    }

    /** utime + stime of a process in ms; the command name (field 2) may hold spaces. */
    static long cpuMs(long pid, long tick) throws Exception {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 1000 / tick;
    }
}
