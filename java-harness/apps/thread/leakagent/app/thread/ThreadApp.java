package leakagent.app.thread;

import java.util.Map;

import leakagent.harness.App;

/**
 * Starts a daemon thread "app-worker-gen-N" (Runnable: Worker; context loader: the application's
 * loader) and never stops it: a live thread is a GC root. Fixed twin: interrupt + join in stop().
 */
public class ThreadApp implements App {
    private boolean fixed;
    private Thread worker;

    @Override
    public void start(Map<String, Object> context) {
        fixed = (Boolean) context.get("fixed");
        worker = new Thread(new Worker(), "app-worker-gen-" + context.get("generation"));
        worker.setDaemon(true);
        worker.setContextClassLoader(ThreadApp.class.getClassLoader());
        worker.start();
    }

    @Override
    public void stop() throws InterruptedException {
        if (fixed) {
            worker.interrupt();
            worker.join();
        }
        worker = null;
    }
}
