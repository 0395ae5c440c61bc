package leakagent.app.healthy;

import java.util.ArrayList;
import java.util.List;

public class Order {
    final Customer customer;
    final List<OrderLine> lines = new ArrayList<>();

    Order(Customer customer) {
        this.customer = customer;
    }

    void add(OrderLine l) {
        lines.add(l);
    }
}
