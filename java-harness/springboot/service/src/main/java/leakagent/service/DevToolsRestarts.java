package leakagent.service;

import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.boot.devtools.restart.Restarter;
import org.springframework.context.ApplicationListener;
import org.springframework.core.env.Environment;
import org.springframework.stereotype.Component;

/**
 * DevTools restarts without a file watcher. When generation k (k <= leakagent.restarts) is
 * ready, a short-lived thread waits for its main method to return and calls
 * {@code Restarter.getInstance().restart()}, as DevTools' file watcher does when a class
 * changes: DevTools closes the context and starts the application again in a new
 * RestartClassLoader (the call only starts that; it does not wait). The generation number lives
 * in a system property, because each generation has its own copy of this class. Only this class
 * refers to DevTools, and only when the property is set (the fat jar has no DevTools).
 */
@Component
@ConditionalOnProperty(name = "leakagent.restarts")
public class DevToolsRestarts implements ApplicationListener<ApplicationReadyEvent> {

    static final String TRIGGER = "leakagent-restart";
    private static final String GENERATION = "leakagent.generation";

    private final int restarts;
    /** Read when the context is built, before the next generation's number is set. */
    private final int generation = generation();

    public DevToolsRestarts(Environment env) {
        this.restarts = env.getProperty("leakagent.restarts", Integer.class, 0);
    }

    static int generation() {
        return Integer.getInteger(GENERATION, 1);
    }

    @Override
    public void onApplicationEvent(ApplicationReadyEvent event) {
        String loader = DevToolsRestarts.class.getClassLoader().getClass().getName();
        if (!loader.endsWith(".RestartClassLoader")) {
            throw new IllegalStateException("leakagent.restarts is set but DevTools restart is not active (loaded by " + loader
                    + "): start from class directories, java -cp classes:lib/* leakagent.service.ServiceApp");
        }
        if (generation > restarts) {
            return;
        }
        Thread main = Thread.currentThread();
        int next = generation + 1;
        Thread trigger = new Thread(() -> restartAfter(main, next), TRIGGER + "-" + generation);
        trigger.setDaemon(true);
        // It ends as soon as the restart is under way, but must not hold this generation meanwhile.
        trigger.setContextClassLoader(DevToolsRestarts.class.getClassLoader().getParent());
        trigger.start();
    }

    private static void restartAfter(Thread main, int next) {
        try {
            main.join();
        } catch (InterruptedException e) {
            return;
        }
        System.setProperty(GENERATION, Integer.toString(next));
        Restarter.getInstance().restart();
    }

    /** Waits until no restart trigger thread is left, so none can hold an old generation. */
    static void awaitTriggers() {
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().startsWith(TRIGGER + "-")) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }
}
