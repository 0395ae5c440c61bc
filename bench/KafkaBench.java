import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Gzip producers against a broker, for its throughput: THREADS producers (one KafkaProducer
 * each, as separate clients) send text records to the topic "events" with the harness producer's
 * settings (gzip, acks=all, linger 2 ms, 8 KiB batches).
 *   java KafkaBench BOOTSTRAP BROKER_PID CLK_TCK WARMUP_RECORDS RECORDS [THREADS]
 * Sends WARMUP_RECORDS (not timed), then RECORDS, and prints
 * "BENCH records=N ms=WALL cpu_ms=BROKER_CPU" for the latter: the wall time from the first send
 * to the last acknowledgement, and the broker process's CPU time (utime + stime from
 * /proc/BROKER_PID/stat) over the same window.
 */
public final class KafkaBench {

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        long brokerPid = Long.parseLong(args[1]);
        long tick = Long.parseLong(args[2]);
        long warmup = Long.parseLong(args[3]);
        long records = Long.parseLong(args[4]);
        int threads = args.length > 5 ? Integer.parseInt(args[5]) : 2;
        send(bootstrap, warmup, threads);
        long cpu0 = brokerCpuMs(brokerPid, tick);
        long t0 = System.nanoTime();
        send(bootstrap, records, threads);
        long ms = (System.nanoTime() - t0) / 1_000_000;
        long cpuMs = brokerCpuMs(brokerPid, tick) - cpu0;
        System.out.println("BENCH records=" + records + " ms=" + ms + " cpu_ms=" + cpuMs);
    }

    /** RECORDS records over THREADS producers, each flushed and closed. */
    static void send(String bootstrap, long records, int threads) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "gzip");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "2");
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, "8192");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "60000");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        AtomicLong failed = new AtomicLong();
        Thread[] ts = new Thread[threads];
        for (int t = 0; t < threads; t++) {
            final int first = t;
            ts[t] = new Thread(() -> {
                try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
                    for (long i = first; i < records; i += threads) {
                        producer.send(new ProducerRecord<>("events", "k" + (i % 97),
                                "{\"event\":" + i + ",\"kind\":\"order-placed\",\"payload\":\"" + "x".repeat((int) (i % 200)) + "\"}"),
                                (meta, e) -> {
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

    /** utime + stime of a process in ms; the command name (field 2) may hold spaces. */
    static long brokerCpuMs(long pid, long tick) throws Exception {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return (Long.parseLong(f[11]) + Long.parseLong(f[12])) * 1000 / tick;
    }
}
