package leakagent.app.commonslogging;

import org.apache.commons.logging.Log;

/** The application's own commons-logging adapter (it swallows everything). */
public class AppLog implements Log {
    private final String name;

    public AppLog(String name) {
        this.name = name;
    }

    public String name() { return name; }
    @Override public boolean isDebugEnabled() { return false; }
    @Override public boolean isErrorEnabled() { return false; }
    @Override public boolean isFatalEnabled() { return false; }
    @Override public boolean isInfoEnabled() { return false; }
    @Override public boolean isTraceEnabled() { return false; }
    @Override public boolean isWarnEnabled() { return false; }
    @Override public void trace(Object message) {}
    @Override public void trace(Object message, Throwable t) {}
    @Override public void debug(Object message) {}
    @Override public void debug(Object message, Throwable t) {}
    @Override public void info(Object message) {}
    @Override public void info(Object message, Throwable t) {}
    @Override public void warn(Object message) {}
    @Override public void warn(Object message, Throwable t) {}
    @Override public void error(Object message) {}
    @Override public void error(Object message, Throwable t) {}
    @Override public void fatal(Object message) {}
    @Override public void fatal(Object message, Throwable t) {}
}
