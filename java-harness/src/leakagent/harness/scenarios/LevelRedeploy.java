package leakagent.harness.scenarios;

import leakagent.harness.Container;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * level-redeploy: apps/level (LevelApp + LevelApp$1, an anonymous java.util.logging.Level
 * subclass) deployed and undeployed N times in app-gen-1..N (parent: the harness loader).
 * Every generation sets the root logger's level to its Level and adds a JDK StreamHandler with
 * that level to the root logger. Truth: all N generations leak (through the handlers; the last
 * one also through the root logger's level). Fixed: stop() removes the handler and restores the
 * root level.
 */
public final class LevelRedeploy implements Scenario {
    @Override
    public void run(Options o) throws Exception {
        Container c = new Container("level", "leakagent.app.level.LevelApp", Container.harnessLoader());
        c.redeploy(o.generations, o.fixed);
        Out.truth("custom_level_name", "LEAKAGENT_APP_LEVEL");
        Out.truth("custom_level_value", 877);
        Out.truth("custom_level_class", "leakagent.app.level.LevelApp$1");
        Out.truth("root_logger_handlers_added", o.fixed ? 0 : o.generations);
        c.finish(o, o.fixed ? java.util.Collections.<String>emptyList() : c.all(),
                "java.util.logging.Level",
                "LogManager.rootLogger->Logger.config->ConfigurationData.handlers->StreamHandler.logLevel->LevelApp$1"
                        + " (last generation also LogManager.rootLogger->Logger.config->ConfigurationData.levelObject)");
    }
}
