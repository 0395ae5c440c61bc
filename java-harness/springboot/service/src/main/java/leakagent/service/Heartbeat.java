package leakagent.service;

import org.springframework.beans.factory.DisposableBean;
import org.springframework.beans.factory.InitializingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.core.env.Environment;
import org.springframework.stereotype.Component;

/**
 * leakagent.leak=thread: a background thread started when the context starts. Without
 * leakagent.fixed=true it is never stopped, so after a DevTools restart it keeps running with
 * the old RestartClassLoader as its context loader and its Runnable, a class of that loader.
 */
@Component
@ConditionalOnProperty(name = "leakagent.leak", havingValue = "thread")
public class Heartbeat implements InitializingBean, DisposableBean, Runnable {

    static final String NAME = "heartbeat-gen";

    private final boolean fixed;
    private Thread thread;

    public Heartbeat(Environment env) {
        this.fixed = env.getProperty("leakagent.fixed", Boolean.class, false);
    }

    @Override
    public void afterPropertiesSet() {
        thread = new Thread(this, NAME + "-" + DevToolsRestarts.generation());
        thread.setDaemon(true);
        thread.start();
    }

    @Override
    public void run() {
        try {
            while (!Thread.currentThread().isInterrupted()) {
                Thread.sleep(1000);
            }
        } catch (InterruptedException e) {
            // stopped
        }
    }

    @Override
    public void destroy() throws InterruptedException {
        if (fixed) {
            thread.interrupt();
            thread.join();
        }
    }
}
