package leakagent.service;

import java.sql.DriverManager;
import java.sql.SQLException;

import org.springframework.beans.factory.DisposableBean;
import org.springframework.beans.factory.InitializingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.core.env.Environment;
import org.springframework.stereotype.Component;

/**
 * leakagent.leak=jdbc: registers an {@link AuditDriver} with DriverManager when the context
 * starts; only with leakagent.fixed=true is it deregistered when the context closes.
 */
@Component
@ConditionalOnProperty(name = "leakagent.leak", havingValue = "jdbc")
public class AuditDriverRegistration implements InitializingBean, DisposableBean {

    private final boolean fixed;
    private final AuditDriver driver = new AuditDriver();

    public AuditDriverRegistration(Environment env) {
        this.fixed = env.getProperty("leakagent.fixed", Boolean.class, false);
    }

    @Override
    public void afterPropertiesSet() throws SQLException {
        DriverManager.registerDriver(driver);
    }

    @Override
    public void destroy() throws SQLException {
        if (fixed) {
            DriverManager.deregisterDriver(driver);
        }
    }
}
