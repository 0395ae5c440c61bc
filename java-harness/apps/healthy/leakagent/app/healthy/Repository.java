package leakagent.app.healthy;

import java.util.ArrayList;
import java.util.List;

public class Repository {
    private final List<Order> orders = new ArrayList<>();

    void save(Order o) {
        orders.add(o);
    }

    List<Order> all() {
        return orders;
    }
}
