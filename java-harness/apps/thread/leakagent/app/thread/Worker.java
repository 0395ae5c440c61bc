package leakagent.app.thread;

/** A background loop of the application: sleeps until interrupted. */
public class Worker implements Runnable {
    @Override
    public void run() {
        while (true) {
            try {
                Thread.sleep(997);
            } catch (InterruptedException e) {
                return;
            }
        }
    }
}
