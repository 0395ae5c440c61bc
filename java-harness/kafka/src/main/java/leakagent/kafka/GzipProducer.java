package leakagent.kafka;

import java.util.Properties;

import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Sends RECORDS text records, gzip-compressed in small batches, to the topic "events":
 *   GzipProducer BOOTSTRAP RECORDS
 * Two producers in turn, as clients come and go.
 */
public final class GzipProducer {

    public static void main(String[] args) throws Exception {
        int records = Integer.parseInt(args[1]);
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "gzip");
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "2");
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, "8192");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "60000");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        for (int round = 0; round < 2; round++) {
            try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
                for (int i = round; i < records; i += 2) {
                    producer.send(new ProducerRecord<>("events", "k" + (i % 97),
                            "{\"event\":" + i + ",\"kind\":\"order-placed\",\"payload\":\"" + "x".repeat(i % 200) + "\"}"));
                }
                producer.flush();
            }
        }
    }
}
