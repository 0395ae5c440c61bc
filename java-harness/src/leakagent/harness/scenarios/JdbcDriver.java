package leakagent.harness.scenarios;

import java.sql.DriverManager;
import java.util.Collections;

import leakagent.harness.Container;
import leakagent.harness.Options;
import leakagent.harness.Out;
import leakagent.harness.Scenario;

/**
 * jdbc-driver: apps/jdbc registers its bundled FakeDriver with DriverManager and never
 * deregisters it. Truth: all N generations leak through DriverManager.registeredDrivers.
 * Fixed: DriverManager.deregisterDriver in stop().
 */
public final class JdbcDriver implements Scenario {
    @Override
    public void run(Options o) throws Exception {
        // Initialise DriverManager (its ServiceLoader scan uses the context loader) before any
        // application is deployed, as a container would.
        Collections.list(DriverManager.getDrivers());
        Container c = new Container("jdbc", "leakagent.app.jdbc.JdbcApp", Container.harnessLoader());
        c.redeploy(o.generations, o.fixed);
        Out.truth("driver_class", "leakagent.app.jdbc.FakeDriver");
        Out.truth("drivers_left_registered", o.fixed ? 0 : o.generations);
        c.finish(o, o.fixed ? Collections.<String>emptyList() : c.all(),
                "java.sql.DriverManager",
                "DriverManager.registeredDrivers->CopyOnWriteArrayList->DriverInfo.driver->FakeDriver");
    }
}
