package leakagent.app.threadlocal;

import java.util.Map;
import java.util.concurrent.ExecutorService;

import leakagent.harness.App;

/**
 * Submits a task to the container-owned thread pool (one thread, "container-pool-1", alive across
 * deployments); the task leaves an AppValue in its ThreadLocal. The pooled thread's
 * ThreadLocalMap entry value (AppValue -> class -> loader -> AppTask.CURRENT, the entry's key)
 * pins the loader; the key cannot be cleared because the value keeps it reachable.
 */
public class ThreadLocalApp implements App {
    @Override
    public void start(Map<String, Object> context) throws Exception {
        ExecutorService pool = (ExecutorService) context.get("pool");
        int generation = (Integer) context.get("generation");
        boolean fixed = (Boolean) context.get("fixed");
        pool.submit(new AppTask(generation, fixed)).get();
    }

    @Override
    public void stop() {
    }
}
