package leakagent.app.healthy;

import java.util.List;

public class PriceCalculator {
    long total(List<Order> orders) {
        long t = 0;
        for (Order o : orders) {
            for (OrderLine l : o.lines) {
                t += l.quantity * l.priceCents;
            }
        }
        return t;
    }
}
