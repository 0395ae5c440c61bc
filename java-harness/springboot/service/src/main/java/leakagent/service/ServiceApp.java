package leakagent.service;

import java.util.Arrays;
import java.util.Map;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.properties.bind.Bindable;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;
import org.springframework.boot.context.event.ApplicationStartingEvent;
import org.springframework.context.ApplicationListener;
import org.springframework.core.Ordered;
import org.springframework.core.PriorityOrdered;

/**
 * A small Spring Boot web service: GET /greeting?name=... answers JSON from Spring MVC on
 * embedded Tomcat. Properties (system properties or --key=value arguments):
 * <ul>
 * <li>leakagent.restarts=N: DevTools restarts the application N times (class-directory launch
 * with spring-boot-devtools on the class path), see {@link DevToolsRestarts};</li>
 * <li>leakagent.leak=thread|jdbc: each generation leaves a thread running or a JDBC driver
 * registered ({@link Heartbeat}, {@link AuditDriverRegistration});</li>
 * <li>leakagent.fixed=true: the same, stopped or deregistered when the context closes, and
 * Spring Boot's JVM shutdown hook registered on the launch thread ({@link HookOnLaunchThread});</li>
 * <li>--await-stdin: after HARNESS ready, wait for EOF or a line "exit" on stdin, then exit.</li>
 * </ul>
 */
@SpringBootApplication
public class ServiceApp {

    public static void main(String[] args) {
        SpringApplication app = new SpringApplication(ServiceApp.class);
        if (Arrays.asList(args).contains("--leakagent.fixed=true")) {
            app.addListeners(new HookOnLaunchThread());
            // LoggingApplicationListener adds a shutdown handler, once per JVM, that holds the
            // LoggingSystem of the first generation and so its RestartClassLoader.
            app.setDefaultProperties(Map.<String, Object>of("logging.register-shutdown-hook", "false"));
        }
        app.run(args);
    }

    /**
     * Spring Boot creates its one JVM shutdown hook thread (SpringApplicationShutdownHook) when
     * the first context is refreshed, and a new Thread inherits its creator's context class
     * loader. Under DevTools that is the first RestartClassLoader, which the hook then keeps
     * for the life of the JVM. Asking for the shutdown handlers while the launch thread (context
     * loader: the JDK's application loader) handles the starting event, before DevTools moves
     * the application to its first RestartClassLoader, creates the hook there instead. Restarted
     * generations skip it: their handler would be a class of their own loader, kept forever.
     * PriorityOrdered: DevTools' RestartApplicationListener is Ordered HIGHEST_PRECEDENCE too.
     */
    static final class HookOnLaunchThread implements ApplicationListener<ApplicationStartingEvent>, PriorityOrdered {

        @Override
        public void onApplicationEvent(ApplicationStartingEvent event) {
            if (HookOnLaunchThread.class.getClassLoader() == ClassLoader.getSystemClassLoader()) {
                SpringApplication.getShutdownHandlers().add(HookOnLaunchThread::nothing);
                // The Binder's shared BindConverter (static, made on first use) keeps property
                // editors holding the context loader of the thread that first binds.
                new Binder(new MapConfigurationPropertySource(Map.of("x", "1"))).bind("x", Bindable.of(Integer.class));
            }
        }

        private static void nothing() {
            // the handler only makes Spring Boot add its hook now
        }

        @Override
        public int getOrder() {
            return Ordered.HIGHEST_PRECEDENCE;
        }
    }
}
