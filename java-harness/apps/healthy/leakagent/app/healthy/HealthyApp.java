package leakagent.app.healthy;

import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import leakagent.harness.App;

/** A well-behaved application: uses its 8 classes, reads its own resource, leaves nothing behind. */
public class HealthyApp implements App {
    private Repository repository;

    @Override
    public void start(Map<String, Object> context) throws Exception {
        Properties p = new Properties();
        try (InputStream in = HealthyApp.class.getResourceAsStream("/healthy.properties")) {
            p.load(in);
        }
        repository = new Repository();
        Customer c = new Customer("ACME", Status.ACTIVE);
        Order o = new Order(c);
        int lines = Integer.parseInt(p.getProperty("lines"));
        for (int i = 1; i <= lines; i++) {
            o.add(new OrderLine("item-" + i, i, 3 + i));
        }
        repository.save(o);
        long total = new PriceCalculator().total(repository.all());
        String report = new ReportFormatter().format(c, total);
        if (report.isEmpty()) throw new IllegalStateException();
    }

    @Override
    public void stop() {
        repository = null;
    }
}
