//! The culprit catalogue: turns a reference chain into plain words and a fix. Works on the report
//! model only, so every rule is tested on fixed chains.

use leakagent_report::model::PathHop;

/// What the catalogue says about one chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Stable id of the culprit (`jdk-logging-level`, `commons-logging`, ... or `generic`).
    pub culprit: &'static str,
    pub explanation: String,
    pub fix: String,
}

/// The culprit hop: the first hop whose source lies outside the suspect loader and whose target
/// the loader defined (or is). `inside[i]` says whether hop i's target is the loader's.
pub fn culprit_hop(path: &[PathHop], loader: u32) -> Option<usize> {
    let inside = |h: &PathHop| h.to_loader == Some(loader);
    let mut prev_inside = false; // the root is never inside
    for (i, h) in path.iter().enumerate() {
        if !prev_inside && inside(h) {
            return Some(i);
        }
        prev_inside = inside(h);
    }
    None
}

/// A hop's source as a class name (`class X` names the class object X).
fn from_class(h: &PathHop) -> &str {
    h.from.strip_prefix("class ").unwrap_or(&h.from)
}

fn any_from(path: &[PathHop], prefix: &str) -> bool {
    path.iter().any(|h| from_class(h).starts_with(prefix))
}

fn hop_text(h: &PathHop) -> String {
    if h.field.is_empty() {
        format!("{} -> {}", h.from, h.to)
    } else if h.field.starts_with('[') {
        format!("{}{} -> {}", h.from, h.field, h.to)
    } else {
        format!("{}.{} -> {}", h.from, h.field, h.to)
    }
}

/// The chain in one line, root first.
pub fn chain_text(path: &[PathHop]) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (i, h) in path.iter().enumerate() {
        let step = if h.field.is_empty() {
            h.to.clone()
        } else if h.field.starts_with('[') {
            format!("{}{}", h.from, h.field)
        } else {
            format!("{}.{}", h.from, h.field)
        };
        if i == 0 && h.field.is_empty() {
            parts.push(h.from.clone());
        }
        parts.push(step);
    }
    parts.join(" -> ")
}

/// Matches a chain against the known culprits of seed 002 (JDK logging, commons-logging,
/// Introspector and Spring caches, DriverManager, ThreadLocal, threads and context loaders,
/// shutdown hooks, statics of a parent loader); anything else gets a sentence built from the chain.
pub fn classify(path: &[PathHop], culprit: Option<usize>, loader_label: &str) -> Verdict {
    let c = culprit.and_then(|i| path.get(i));
    let holder = c.map(hop_text).unwrap_or_else(|| "an object outside the application".into());
    let held = c.map(|h| h.to.clone()).unwrap_or_default();
    let from = |p: &str| c.map(|h| from_class(h).starts_with(p)).unwrap_or(false);
    let field = |f: &str| path.iter().any(|h| h.field == f);
    let root = path.first();
    let thread_root = root.map(|h| h.kind == "thread" || h.kind == "stack_local").unwrap_or(false);

    if from("java.util.logging.") || any_from(path, "java.util.logging.LogManager") && held.contains("Level") {
        return Verdict {
            culprit: "jdk-logging-level",
            explanation: format!(
                "JDK logging keeps {held}, an object of {loader_label}, through {holder}: a custom \
                 java.util.logging.Level (or handler, filter, formatter) set on a logger outlives the application"
            ),
            fix: "On undeploy restore what the application set on JDK loggers (e.g. \
                  Logger.getLogger(\"\").setLevel(previousLevel)) and remove its handlers; prefer the \
                  standard Level constants to custom Level subclasses."
                .into(),
        };
    }
    if any_from(path, "org.apache.commons.logging.") {
        return Verdict {
            culprit: "commons-logging",
            explanation: format!(
                "commons-logging's LogFactory cache (in the parent loader) keeps a factory or Log of \
                 {loader_label} through {holder}"
            ),
            fix: "Call org.apache.commons.logging.LogFactory.release(applicationClassLoader) when the \
                  application stops (e.g. in ServletContextListener.contextDestroyed)."
                .into(),
        };
    }
    if any_from(path, "org.springframework.beans.CachedIntrospectionResults") {
        return Verdict {
            culprit: "spring-introspection-cache",
            explanation: format!("Spring's CachedIntrospectionResults keeps bean metadata of {loader_label} through {holder}"),
            fix: "Call CachedIntrospectionResults.clearClassLoader(applicationClassLoader) on undeploy, \
                  or register org.springframework.web.util.IntrospectorCleanupListener."
                .into(),
        };
    }
    if any_from(path, "java.beans.") || any_from(path, "com.sun.beans.") {
        return Verdict {
            culprit: "java-beans-introspector",
            explanation: format!(
                "the java.beans.Introspector cache keeps BeanInfo of a class of {loader_label} through {holder}"
            ),
            fix: "Call java.beans.Introspector.flushCaches() (or flushFromCaches(beanClass)) when the \
                  application stops."
                .into(),
        };
    }
    if any_from(path, "java.sql.DriverManager") || any_from(path, "java.sql.DriverInfo") {
        return Verdict {
            culprit: "jdbc-driver",
            explanation: format!("java.sql.DriverManager still has a JDBC driver of {loader_label} registered ({holder})"),
            fix: "On undeploy, DriverManager.deregisterDriver(d) for every driver d whose class loader is \
                  the application's (DriverManager.getDrivers()); do not leave it to the container."
                .into(),
        };
    }
    if field("threadLocals") || field("inheritableThreadLocals") || any_from(path, "java.lang.ThreadLocal$ThreadLocalMap") {
        let thread = root.map(|h| h.from.clone()).unwrap_or_default();
        return Verdict {
            culprit: "threadlocal",
            explanation: format!(
                "a ThreadLocal value of {loader_label} stays on a thread the application does not own \
                 ({thread}): {holder}"
            ),
            fix: "Call ThreadLocal.remove() in a finally block after each use on pooled threads; a \
                  container's thread pool outlives the application."
                .into(),
        };
    }
    if any_from(path, "java.lang.ApplicationShutdownHooks") {
        return Verdict {
            culprit: "shutdown-hook",
            explanation: format!("a shutdown hook thread of {loader_label} is registered with the JVM ({holder})"),
            fix: "Runtime.getRuntime().removeShutdownHook(hook) when the application stops.".into(),
        };
    }
    if thread_root && (field("contextClassLoader") || c.map(|h| h.from.starts_with("<thread")).unwrap_or(false) || field("target") || field("task")) {
        let thread = root.map(|h| h.from.clone()).unwrap_or_default();
        if field("contextClassLoader") && !field("target") && !field("task") {
            return Verdict {
                culprit: "thread-context-loader",
                explanation: format!("live thread {thread} has {loader_label} as its context class loader"),
                fix: "Stop the threads the application starts when it stops (interrupt and join, shut \
                      executors down); for threads it does not own, restore setContextClassLoader(parent) \
                      after use."
                    .into(),
            };
        }
        return Verdict {
            culprit: "application-thread",
            explanation: format!("thread {thread}, started by the application, is still running: {holder}"),
            fix: "Stop every thread the application starts when it stops: interrupt and join it, or \
                  shutdown() its executor and awaitTermination()."
                .into(),
        };
    }
    if let Some(h) = c {
        if path[..culprit.unwrap_or(0) + 1].iter().any(|p| p.kind == "static_field") {
            let statics: Vec<&PathHop> = path.iter().filter(|p| p.kind == "static_field").collect();
            let s = statics.last().map(|s| format!("{}.{}", s.from, s.field)).unwrap_or_default();
            return Verdict {
                culprit: "parent-static",
                explanation: format!(
                    "static state outside the application ({s}) holds {} of {loader_label} through {}",
                    h.to,
                    hop_text(h)
                ),
                fix: format!(
                    "Unregister what the application put into {s} when it stops (listeners, callbacks, \
                     caches), or load that class inside the application instead of a shared/parent loader."
                ),
            };
        }
    }
    Verdict {
        culprit: "generic",
        explanation: format!("{holder} keeps an object of {loader_label} reachable"),
        fix: format!(
            "Clear the reference held by {} when the application stops, or move that holder into the \
             application so both die together.",
            c.map(|h| if h.field.is_empty() { h.from.clone() } else { format!("{}.{}", h.from, h.field) })
                .unwrap_or_else(|| "the holder".into())
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(from: &str, field: &str, kind: &str, to: &str, to_loader: Option<u32>) -> PathHop {
        PathHop { from: from.into(), field: field.into(), kind: kind.into(), to: to.into(), to_loader }
    }

    #[test]
    fn logging_chain() {
        let p = vec![
            hop("java.util.logging.LogManager", "manager", "static_field", "java.util.logging.LogManager", Some(0)),
            hop("java.util.logging.LogManager", "rootLogger", "field", "java.util.logging.LogManager$RootLogger", Some(0)),
            hop("java.util.logging.LogManager$RootLogger", "config", "field", "java.util.logging.Logger$ConfigurationData", Some(0)),
            hop("java.util.logging.Logger$ConfigurationData", "levelObject", "field", "app.AppLevel$1", Some(7)),
            hop("app.AppLevel$1", "", "class", "class app.AppLevel$1", Some(7)),
            hop("class app.AppLevel$1", "", "class_loader", "java.net.URLClassLoader", Some(7)),
        ];
        let c = culprit_hop(&p, 7);
        assert_eq!(c, Some(3));
        let v = classify(&p, c, "loader 'app-gen-1'");
        assert_eq!(v.culprit, "jdk-logging-level");
        assert!(v.explanation.contains("levelObject"), "{}", v.explanation);
        assert!(v.fix.contains("setLevel"));
    }

    #[test]
    fn threadlocal_and_thread_chains() {
        let tl = vec![
            hop("<thread \"pool-1\">", "", "thread", "java.lang.Thread", Some(1)),
            hop("java.lang.Thread", "threadLocals", "field", "java.lang.ThreadLocal$ThreadLocalMap", Some(0)),
            hop("java.lang.ThreadLocal$ThreadLocalMap", "table", "field", "java.lang.ThreadLocal$ThreadLocalMap$Entry[]", Some(0)),
            hop("java.lang.ThreadLocal$ThreadLocalMap$Entry[]", "[3]", "array_element", "java.lang.ThreadLocal$ThreadLocalMap$Entry", Some(0)),
            hop("java.lang.ThreadLocal$ThreadLocalMap$Entry", "value", "field", "app.Value", Some(9)),
        ];
        assert_eq!(classify(&tl, culprit_hop(&tl, 9), "x").culprit, "threadlocal");
        let ccl = vec![
            hop("<thread \"worker\">", "", "thread", "java.lang.Thread", Some(1)),
            hop("java.lang.Thread", "contextClassLoader", "field", "java.net.URLClassLoader", Some(9)),
        ];
        assert_eq!(culprit_hop(&ccl, 9), Some(1));
        assert_eq!(classify(&ccl, Some(1), "x").culprit, "thread-context-loader");
        let own = vec![hop("<thread \"app-ticker\">", "", "thread", "app.Ticker", Some(9))];
        assert_eq!(culprit_hop(&own, 9), Some(0));
        assert_eq!(classify(&own, Some(0), "x").culprit, "application-thread");
    }

    #[test]
    fn parent_static_and_generic() {
        let p = vec![
            hop("shared.Registry", "INSTANCE", "static_field", "shared.Registry", Some(4)),
            hop("shared.Registry", "listeners", "field", "java.util.ArrayList", Some(0)),
            hop("java.util.ArrayList", "elementData", "field", "java.lang.Object[]", Some(0)),
            hop("java.lang.Object[]", "[0]", "array_element", "app.Listener", Some(9)),
        ];
        let v = classify(&p, culprit_hop(&p, 9), "x");
        assert_eq!(v.culprit, "parent-static");
        assert!(v.explanation.contains("shared.Registry.INSTANCE"), "{}", v.explanation);
        let g = vec![hop("<JNI global reference>", "", "jni_global", "app.Thing", Some(9))];
        assert_eq!(classify(&g, culprit_hop(&g, 9), "x").culprit, "generic");
        assert_eq!(chain_text(&p), "shared.Registry.INSTANCE -> shared.Registry.listeners -> java.util.ArrayList.elementData -> java.lang.Object[][0]");
    }

    #[test]
    fn known_library_chains() {
        let cl = vec![
            hop("org.apache.commons.logging.LogFactory", "factories", "static_field", "java.util.Hashtable", Some(2)),
            hop("java.util.Hashtable", "table", "field", "x", Some(0)),
            hop("x", "value", "field", "app.MyFactory", Some(5)),
        ];
        assert_eq!(classify(&cl, culprit_hop(&cl, 5), "x").culprit, "commons-logging");
        let jdbc = vec![
            hop("java.sql.DriverManager", "registeredDrivers", "static_field", "java.util.concurrent.CopyOnWriteArrayList", Some(0)),
            hop("java.sql.DriverInfo", "driver", "field", "app.FakeDriver", Some(5)),
        ];
        assert!(classify(&jdbc, culprit_hop(&jdbc, 5), "x").fix.contains("deregisterDriver"));
        let beans = vec![hop("com.sun.beans.introspect.ClassInfo", "CACHE", "static_field", "app.Bean", Some(5))];
        assert!(classify(&beans, culprit_hop(&beans, 5), "x").fix.contains("flushCaches"));
    }
}
