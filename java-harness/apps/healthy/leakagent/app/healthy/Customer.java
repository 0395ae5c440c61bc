package leakagent.app.healthy;

public class Customer {
    final String name;
    final Status status;

    Customer(String name, Status status) {
        this.name = name;
        this.status = status;
    }
}
