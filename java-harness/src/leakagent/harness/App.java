package leakagent.harness;

import java.util.Map;

/**
 * The lifecycle interface every "application" implements. It is defined by the harness loader,
 * which is an ancestor of every application loader, so the container can call it directly.
 */
public interface App {
    /** Called once after deployment, with the thread context class loader set to the app loader. */
    void start(Map<String, Object> context) throws Exception;

    /** Called once before undeployment, with the thread context class loader set to the app loader. */
    void stop() throws Exception;
}
