package leakagent.webapp;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.SpringBootVersion;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.context.event.ApplicationReadyEvent;
import org.springframework.boot.web.server.context.WebServerApplicationContext;
import org.springframework.context.ApplicationListener;
import org.springframework.stereotype.Component;

/**
 * A stock Spring Boot web application: owners kept by JPA in an in-memory H2 database, listed
 * on a Thymeleaf page (GET /owners) and as JSON (GET /api/owners), added by POST-less
 * GET /owners/add?name=..., with Actuator's health and metrics. Nothing here leaks: the tests
 * expect no finding. Speaks the harness protocol: truths, then "HARNESS ready"; with
 * --await-stdin it exits on EOF or a line "exit".
 */
@SpringBootApplication
public class WebApp {

    static boolean awaitStdin;

    public static void main(String[] args) {
        awaitStdin = Arrays.asList(args).contains("--await-stdin");
        SpringApplication.run(WebApp.class, args);
    }

    @Component
    static class Ready implements ApplicationListener<ApplicationReadyEvent> {
        @Override
        public void onApplicationEvent(ApplicationReadyEvent event) {
            int port = ((WebServerApplicationContext) event.getApplicationContext()).getWebServer().getPort();
            System.out.println("HARNESS truth spring_boot=" + SpringBootVersion.getVersion());
            System.out.println("HARNESS truth port=" + port);
            System.out.println("HARNESS truth loader_class=" + WebApp.class.getClassLoader().getClass().getName());
            System.out.println("HARNESS ready");
            if (!awaitStdin) {
                return;
            }
            // Its own thread: the ready event must return for the application to run.
            Thread t = new Thread(WebApp::awaitExit, "harness-stdin");
            t.setDaemon(true);
            t.start();
        }
    }

    private static void awaitExit() {
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
