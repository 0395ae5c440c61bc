package leakagent.webapp;

import jakarta.servlet.ServletContextEvent;
import jakarta.servlet.ServletContextListener;

/**
 * Starts a ticker thread when the application starts, as applications start schedulers. The
 * thread is non-daemon, runs this application's code and inherits its class loader as context
 * loader. Leaky (init parameter leakagent.leaky=true): contextDestroyed leaves it running, so
 * every stopped deployment stays pinned. Fixed: contextDestroyed stops it.
 */
public final class Ticker implements ServletContextListener {
    private Thread thread;

    @Override
    public void contextInitialized(ServletContextEvent e) {
        String name = "ticker" + e.getServletContext().getContextPath().replace('/', '-') + "-"
                + e.getServletContext().getInitParameter("leakagent.generation");
        thread = new Thread(Ticker::tick, name);
        thread.start();
    }

    @Override
    public void contextDestroyed(ServletContextEvent e) {
        if ("true".equals(e.getServletContext().getInitParameter("leakagent.leaky"))) {
            return;
        }
        thread.interrupt();
        try {
            thread.join();
        } catch (InterruptedException x) {
            Thread.currentThread().interrupt();
        }
    }

    private static void tick() {
        while (!Thread.currentThread().isInterrupted()) {
            try {
                Thread.sleep(200);
            } catch (InterruptedException x) {
                return;
            }
        }
    }
}
