package leakagent.app.jdbc;

import java.sql.Driver;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.util.Map;

import leakagent.harness.App;

/**
 * Registers its bundled driver with java.sql.DriverManager and never deregisters it:
 * DriverManager.registeredDrivers -> DriverInfo.driver -> FakeDriver.
 * Fixed twin: DriverManager.deregisterDriver in stop().
 */
public class JdbcApp implements App {
    private boolean fixed;
    private Driver driver;

    @Override
    public void start(Map<String, Object> context) throws SQLException {
        fixed = (Boolean) context.get("fixed");
        driver = new FakeDriver();
        DriverManager.registerDriver(driver);
        if (DriverManager.getDriver("jdbc:leakagent:mem") == null) throw new IllegalStateException();
    }

    @Override
    public void stop() throws SQLException {
        if (fixed) {
            DriverManager.deregisterDriver(driver);
        }
        driver = null;
    }
}
