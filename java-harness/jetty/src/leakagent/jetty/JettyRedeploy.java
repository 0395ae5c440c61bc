package leakagent.jetty;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import org.eclipse.jetty.ee10.webapp.WebAppContext;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ContextHandlerCollection;

/**
 * Embedded Jetty 12 (ee10) serving two web application directories (under the directory named by
 * the system property leakagent.webapps) as /leaky and /shop, each deployed and then redeployed REDEPLOYS times (stop, remove, a new
 * WebAppContext), as a hot-redeploying server does. The application's listener starts a ticker
 * thread; under /leaky (unless --fixed) it never stops it, so each stopped /leaky deployment
 * stays pinned by its thread. Speaks the harness protocol: truths, "HARNESS ready", then waits
 * for "exit" on stdin (--await-stdin).
 */
public final class JettyRedeploy {
    static final int REDEPLOYS = 3;

    public static void main(String[] args) throws Exception {
        boolean fixed = Arrays.asList(args).contains("--fixed");
        String webapps = System.getProperty("leakagent.webapps");
        Server server = new Server();
        ServerConnector http = new ServerConnector(server);
        http.setHost("127.0.0.1");
        http.setPort(0);
        server.addConnector(http);
        ContextHandlerCollection contexts = new ContextHandlerCollection();
        server.setHandler(contexts);
        server.start();
        for (String path : new String[] {"/leaky", "/shop"}) {
            WebAppContext running = null;
            for (int gen = 1; gen <= REDEPLOYS + 1; gen++) {
                if (running != null) {
                    running.stop();
                    contexts.removeHandler(running);
                    running.destroy();
                }
                running = new WebAppContext();
                running.setContextPath(path);
                running.setDisplayName(path.substring(1));
                running.setWar(webapps + path);
                running.setInitParameter("leakagent.leaky", String.valueOf(!fixed && path.equals("/leaky")));
                running.setInitParameter("leakagent.generation", String.valueOf(gen));
                contexts.addHandler(running);
                running.start();
            }
        }
        System.gc();
        truth("leaked_loaders", fixed ? 0 : REDEPLOYS);
        truth("leaked_context", fixed ? "none" : "/leaky");
        truth("thread_prefix", "ticker-leaky-");
        truth("port", http.getLocalPort());
        System.out.println("HARNESS ready");
        System.out.flush();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        for (String line; (line = in.readLine()) != null && !line.trim().equals("exit"); ) {
            // waits for "exit"
        }
        // The leaked tickers are non-daemon threads: without exit() the JVM would never end.
        System.exit(0);
    }

    private static void truth(String key, Object value) {
        System.out.println("HARNESS truth " + key + "=" + value);
    }
}
