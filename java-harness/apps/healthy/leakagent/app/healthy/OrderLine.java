package leakagent.app.healthy;

public class OrderLine {
    final String item;
    final int quantity;
    final long priceCents;

    OrderLine(String item, int quantity, long priceCents) {
        this.item = item;
        this.quantity = quantity;
        this.priceCents = priceCents;
    }
}
