package leakagent.app.commonslogging;

import java.util.Map;

import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;

import leakagent.harness.App;

/**
 * commons-logging 1.2 lives in the container's shared loader. With the thread context class
 * loader set to this application's loader, LogFactory.getLog finds the application's
 * commons-logging.properties, creates a LogFactoryImpl configured with the application's Log class
 * and caches it in LogFactory.factories (a WeakHashtable keyed by the context loader). The value
 * (LogFactoryImpl -> logConstructor / instances -> AppLog) strongly reaches the key, so the entry
 * never clears. Fixed twin: LogFactory.release(own loader) in stop().
 */
public class CommonsLoggingApp implements App {
    private boolean fixed;
    private Log log;

    @Override
    public void start(Map<String, Object> context) {
        fixed = (Boolean) context.get("fixed");
        log = LogFactory.getLog("leakagent.app.commonslogging");
        if (!(log instanceof AppLog)) {
            throw new IllegalStateException("expected the application's own Log, got " + log.getClass());
        }
        log.info("started");
    }

    @Override
    public void stop() {
        log.info("stopping");
        log = null;
        if (fixed) {
            LogFactory.release(CommonsLoggingApp.class.getClassLoader());
        }
    }
}
