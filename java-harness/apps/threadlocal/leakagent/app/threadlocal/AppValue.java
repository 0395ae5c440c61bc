package leakagent.app.threadlocal;

/** The per-thread state the application keeps (an instance of an application class). */
public class AppValue {
    final int generation;
    final byte[] payload = new byte[4099];

    AppValue(int generation) {
        this.generation = generation;
    }
}
