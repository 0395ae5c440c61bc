package leakagent.app.healthy;

public class ReportFormatter {
    String format(Customer c, long total) {
        StringBuilder sb = new StringBuilder();
        sb.append(c.name).append(' ').append(c.status.name()).append(' ').append(total);
        return sb.toString();
    }
}
