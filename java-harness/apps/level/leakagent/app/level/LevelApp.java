package leakagent.app.level;

import java.io.OutputStream;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.Logger;
import java.util.logging.SimpleFormatter;
import java.util.logging.StreamHandler;

import leakagent.harness.App;

/**
 * Defines a custom java.util.logging.Level (an anonymous subclass, class LevelApp$1) and hands it
 * to JDK logging, which lives in the boot loader and outlives the application:
 *  - the root logger's level is set to it (LogManager.rootLogger -> Logger.config ->
 *    ConfigurationData.levelObject), which pins only the latest generation, because the next
 *    generation overwrites the slot;
 *  - a JDK StreamHandler whose level is the custom level is added to the root logger
 *    (LogManager.rootLogger -> Logger.config -> ConfigurationData.handlers -> ... ->
 *    StreamHandler.logLevel), one per generation, which pins every generation.
 * Since JDK 9 Level.known holds custom levels only weakly, so the Level alone does not leak.
 * Fixed twin: stop() removes the handler and restores the root logger's level.
 */
public class LevelApp implements App {
    /** Prime value so that it is recognisable. */
    static final Level APP_LEVEL = new Level("LEAKAGENT_APP_LEVEL", 877) {
        private static final long serialVersionUID = 1L;
    };

    private boolean fixed;
    private Handler handler;
    private Level previousRootLevel;

    @Override
    public void start(Map<String, Object> context) {
        fixed = (Boolean) context.get("fixed");
        Logger root = Logger.getLogger("");
        if (fixed) {
            previousRootLevel = root.getLevel();
        }
        root.setLevel(APP_LEVEL);
        handler = new StreamHandler(OutputStream.nullOutputStream(), new SimpleFormatter());
        handler.setLevel(APP_LEVEL);
        root.addHandler(handler);
    }

    @Override
    public void stop() {
        if (fixed) {
            Logger root = Logger.getLogger("");
            root.removeHandler(handler);
            handler.close();
            root.setLevel(previousRootLevel);
            previousRootLevel = null;
        }
        handler = null;
    }
}
