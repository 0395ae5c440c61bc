package leakagent.kafka;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.Writer;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Exit;

/**
 * A single-node Kafka KRaft broker (broker and controller in one JVM) on loopback, as a stock
 * `kafka-server-start.sh` runs it (kafka.Kafka with a properties file, the class path one jar per
 * dependency), fed by gzip producers in their own JVM ({@link GzipProducer}).
 *   Broker LOG_DIR [RECORDS] [--await-stdin]
 * Formats LOG_DIR, starts the broker, runs the producer, prints truths and "HARNESS ready"; with
 * --await-stdin it exits on EOF or a line "exit" (the broker stops in its shutdown hook).
 */
public final class Broker {

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        int records = args.length > 1 && !args[1].startsWith("--") ? Integer.parseInt(args[1]) : 5000;
        boolean awaitStdin = List.of(args).contains("--await-stdin");
        int brokerPort = freePort();
        int controllerPort = freePort();
        Path props = dir.resolve("server.properties");
        Files.createDirectories(dir);
        try (Writer w = Files.newBufferedWriter(props, StandardCharsets.UTF_8)) {
            w.write(String.join("\n",
                    "process.roles=broker,controller",
                    "node.id=1",
                    "controller.quorum.voters=1@127.0.0.1:" + controllerPort,
                    "listeners=PLAINTEXT://127.0.0.1:" + brokerPort + ",CONTROLLER://127.0.0.1:" + controllerPort,
                    "advertised.listeners=PLAINTEXT://127.0.0.1:" + brokerPort,
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    "log.dirs=" + dir.resolve("data"),
                    "num.partitions=3",
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    ""));
        }
        format(props);
        Thread server = new Thread(() -> kafka.Kafka.main(new String[] {props.toString()}), "kafka-main");
        server.start();
        produce(brokerPort, records);
        System.out.println("HARNESS truth broker_port=" + brokerPort);
        System.out.println("HARNESS truth records=" + records);
        System.out.println("HARNESS truth class_path_jars=" + System.getProperty("java.class.path").split(":").length);
        System.out.println("HARNESS ready");
        if (awaitStdin) {
            try {
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                String line;
                while ((line = in.readLine()) != null && !line.trim().equals("exit")) {
                    // wait for EOF or "exit"
                }
            } catch (IOException e) {
                // stdin gone: exit as on EOF
            }
        }
        System.out.println("HARNESS done");
        System.exit(0);
    }

    /**
     * kafka-storage.sh format: StorageTool ends by calling Kafka's Exit, turned into a return;
     * later calls (the broker's own) exit the JVM as Kafka's default procedure does.
     */
    private static void format(Path props) {
        int[] code = {-1};
        boolean[] formatting = {true};
        Exit.setExitProcedure((status, message) -> {
            if (!formatting[0]) {
                System.err.println("kafka exits (" + status + "): " + message);
                System.exit(status);
            }
            code[0] = status;
            throw new FormatDone();
        });
        try {
            kafka.tools.StorageTool.main(new String[] {"format", "-t", Uuid.randomUuid().toString(), "-c", props.toString()});
        } catch (FormatDone done) {
            // StorageTool called Exit.exit
        } finally {
            formatting[0] = false;
        }
        if (code[0] > 0) {
            throw new IllegalStateException("kafka-storage format failed: " + code[0]);
        }
    }

    private static final class FormatDone extends RuntimeException {
        FormatDone() {
            super(null, null, false, false);
        }
    }

    /** The producer in its own JVM (no agent: only the broker is under test), as clients are. */
    private static void produce(int port, int records) throws Exception {
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process p = new ProcessBuilder(java, "-Xmx128m", "-cp", System.getProperty("java.class.path"),
                GzipProducer.class.getName(), "127.0.0.1:" + port, Integer.toString(records))
                .inheritIO().start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("the producer did not finish in 120 s");
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException("the producer failed: " + p.exitValue());
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
