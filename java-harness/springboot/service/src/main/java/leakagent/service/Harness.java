package leakagent.service;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;

import org.springframework.boot.ApplicationArguments;
import org.springframework.boot.SpringBootVersion;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ApplicationListener;
import org.springframework.core.env.Environment;
import org.springframework.stereotype.Component;

/**
 * The harness protocol (java-harness/README.md): truths when a generation is ready, then
 * "HARNESS ready" once the last generation runs and no restart is under way.
 */
@Component
public class Harness implements ApplicationListener<ApplicationReadyEvent> {

    private final Environment env;
    private final ApplicationArguments args;
    /** Read when the context is built: the restart driver moves the property on before the next. */
    private final int generation = DevToolsRestarts.generation();

    public Harness(Environment env, ApplicationArguments args) {
        this.env = env;
        this.args = args;
    }

    static void truth(String key, Object value) {
        System.out.println("HARNESS truth " + key + "=" + value);
    }

    @Override
    public void onApplicationEvent(ApplicationReadyEvent event) {
        int restarts = env.getProperty("leakagent.restarts", Integer.class, 0);
        ClassLoader loader = getClass().getClassLoader();
        truth("generation_ready", generation + " " + loader.getClass().getName() + "@"
                + Integer.toHexString(System.identityHashCode(loader)) + " in " + event.getTimeTaken().toMillis() + " ms");
        if (generation <= restarts) {
            return; // DevToolsRestarts restarts this generation
        }
        int port = ((WebServerApplicationContext) event.getApplicationContext()).getWebServer().getPort();
        String leak = env.getProperty("leakagent.leak", "none");
        boolean fixed = env.getProperty("leakagent.fixed", Boolean.class, false);
        boolean awaitStdin = args.containsOption("await-stdin");
        Thread t = new Thread(() -> ready(port, restarts, leak, fixed, loader, awaitStdin), "harness-ready");
        t.setDaemon(true);
        t.start();
    }

    /** Runs on its own thread: the last restart returns only after this event has been handled. */
    private static void ready(int port, int restarts, String leak, boolean fixed, ClassLoader loader, boolean awaitStdin) {
        DevToolsRestarts.awaitTriggers();
        truth("scenario", restarts > 0 ? "springboot-devtools" : "springboot-service");
        truth("fixed", fixed);
        truth("java_version", System.getProperty("java.version"));
        truth("pid", ProcessHandle.current().pid());
        truth("spring_boot", SpringBootVersion.getVersion());
        truth("port", port);
        truth("jvm_uptime_ms_at_ready", ManagementFactory.getRuntimeMXBean().getUptime());
        truth("loader_class", loader.getClass().getName());
        truth("restarts", restarts);
        truth("generations", restarts + 1);
        truth("leak", leak);
        // Generations 1..restarts are superseded. The application's leak pins all of them; without
        // the fix Spring Boot itself also keeps generation 1 (see ServiceApp.HookOnLaunchThread).
        boolean appLeak = !fixed && !leak.equals("none") && restarts > 0;
        boolean bootPin = !fixed && restarts > 0;
        truth("app_leaked_generations", appLeak ? restarts : 0);
        truth("boot_pinned_generation", bootPin ? 1 : 0);
        truth("leaked_generations", appLeak ? restarts : bootPin ? 1 : 0);
        if (appLeak && leak.equals("thread")) {
            truth("culprit", "thread-context-loader");
            truth("chain", "Thread(" + Heartbeat.NAME + "-<n>) -> contextClassLoader / target " + Heartbeat.class.getName());
        } else if (appLeak && leak.equals("jdbc")) {
            truth("culprit", "jdbc-driver");
            truth("chain", "java.sql.DriverManager.registeredDrivers -> DriverInfo.driver -> " + AuditDriver.class.getName());
        }
        if (bootPin) {
            truth("boot_culprit", "shutdown-hook");
            truth("boot_chain", "java.lang.ApplicationShutdownHooks.hooks -> Thread(SpringApplicationShutdownHook).contextClassLoader");
        }
        System.out.println("HARNESS ready");
        if (awaitStdin) {
            try {
                BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                String line;
                while ((line = in.readLine()) != null && !line.trim().equals("exit")) {
                    // wait for EOF or "exit"
                }
            } catch (IOException e) {
                // stdin gone: exit as on EOF
            }
            System.out.println("HARNESS done");
            System.exit(0);
        }
    }
}
