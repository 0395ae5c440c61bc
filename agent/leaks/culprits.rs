//! The culprit catalogue: turns a reference chain into plain words and a fix. Works on the report
//! model only, so every rule is tested on fixed chains.

use leakagent_report::model::{HopKind, PathHop};

/// What the catalogue says about one chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// Stable id of the culprit (`jdk-logging-level`, `commons-logging`, ... or `generic`).
    pub culprit: &'static str,
    pub explanation: String,
    pub fix: String,
}

/// What the report thread learned about a chain besides its hops.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// For a `stack_local` or `jni_local` root: the method's class belongs to the suspect (or a
    /// loader below it), i.e. the thread is running the application's code.
    pub root_frame_inside: bool,
    /// Object names of the registered MBeans whose class loader is the suspect or below it.
    pub mbeans: Vec<String>,
}

/// The culprit hop: the first hop whose source lies outside the suspect and whose target the
/// suspect (or a loader below it: an application's JSP or script loaders) defined or is.
pub fn culprit_hop(path: &[PathHop], inside: impl Fn(u32) -> bool) -> Option<usize> {
    let inside = |h: &PathHop| h.to_loader.is_some_and(&inside);
    let mut prev_inside = false; // the root is never inside
    for (i, h) in path.iter().enumerate() {
        if !prev_inside && inside(h) {
            return Some(i);
        }
        prev_inside = inside(h);
    }
    None
}

/// A JDK collection's own parts (`HashMap$Node`, `ArrayList`, `Object[]`): not what a user can
/// change, so the holder is the field that owns the collection.
fn collection_internal(class: &str) -> bool {
    if class.starts_with('<') || class.starts_with("class ") {
        return false;
    }
    if class.ends_with("[]") {
        return true;
    }
    let package = class.rsplit_once('.').map(|(p, _)| p).unwrap_or("");
    package == "java.util" || package == "java.util.concurrent"
}

/// The hop whose source a user can change: the culprit hop, or, when that comes from inside a
/// JDK collection or an array, the hop from the field that holds the collection.
pub fn holder_hop(path: &[PathHop], culprit: Option<usize>) -> Option<usize> {
    let mut h = culprit?;
    while h > 0 && collection_internal(&path[h].from) {
        h -= 1;
    }
    Some(h)
}

/// The thread of a `thread`, `stack_local` or `jni_local` root (`<thread "name">`,
/// `<local variable in M (thread "name", id N)>`).
pub fn root_thread(path: &[PathHop]) -> Option<&str> {
    let root = path.first().filter(|h| h.kind.is_thread_root())?;
    let rest = &root.from[root.from.find("thread \"")? + 8..];
    rest.find('"').map(|end| &rest[..end])
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

/// `X.field` of a hop, or its source when it has no field (a root).
fn owner(h: &PathHop) -> String {
    if h.field.is_empty() || h.field.starts_with('[') {
        h.from.clone()
    } else {
        format!("{}.{}", h.from, h.field)
    }
}

/// The holder in words: the owning field, what it is, and what it holds.
fn holder_text(path: &[PathHop], holder: usize, culprit: usize) -> String {
    if holder == culprit {
        return hop_text(&path[culprit]);
    }
    let o = &path[holder];
    format!("{} (a {}) holding {}", owner(o), o.to, path[culprit].to)
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

/// Culprits that a thread causes: one finding per thread.
pub fn is_thread_culprit(culprit: &str) -> bool {
    matches!(culprit, "application-thread" | "thread-context-loader" | "stack-local")
}

/// Matches a chain against the culprits the class loader field report (seeds/002) named (JDK logging, commons-logging,
/// Introspector and Spring caches, DriverManager, JMX, ThreadLocal, threads and context loaders,
/// shutdown hooks, statics of a parent loader); anything else gets a sentence built from the chain.
pub fn classify(path: &[PathHop], culprit: Option<usize>, loader_label: &str, ctx: &Context) -> Verdict {
    let c = culprit.and_then(|i| path.get(i));
    let holder_at = holder_hop(path, culprit);
    let holder = match (culprit, holder_at) {
        (Some(c), Some(h)) => holder_text(path, h, c),
        _ => "an object outside the application".into(),
    };
    let held = c.map(|h| h.to.clone()).unwrap_or_default();
    let from = |p: &str| c.map(|h| from_class(h).starts_with(p)).unwrap_or(false);
    let field = |f: &str| path.iter().any(|h| h.field == f);
    let root = path.first();
    let thread_root = root.is_some_and(|h| h.kind == HopKind::Thread);
    let local_root = root.is_some_and(|h| matches!(h.kind, HopKind::StackLocal | HopKind::JniLocal));
    let thread = root_thread(path).map(|t| format!("\"{t}\"")).unwrap_or_else(|| "of the application".into());

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
    if any_from(path, "com.sun.jmx.") || any_from(path, "javax.management.") {
        let (what, fix) = match ctx.mbeans.as_slice() {
            [] => (
                "an MBean".to_string(),
                "Unregister every MBean the application registers when it stops \
                 (MBeanServer.unregisterMBean(name), e.g. in ServletContextListener.contextDestroyed)."
                    .to_string(),
            ),
            names => (
                format!("the MBean{} {}", if names.len() > 1 { "s" } else { "" }, names.join(", ")),
                format!(
                    "Unregister the MBean{} {} when the application stops: {} (e.g. in ServletContextListener.contextDestroyed).",
                    if names.len() > 1 { "s" } else { "" },
                    names.join(", "),
                    names
                        .iter()
                        .map(|n| format!("ManagementFactory.getPlatformMBeanServer().unregisterMBean(new ObjectName(\"{n}\"))"))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            ),
        };
        return Verdict {
            culprit: "jmx-mbean",
            explanation: format!("{what} of {loader_label} is still registered with the MBeanServer, which keeps it through {holder}"),
            fix,
        };
    }
    if field("threadLocals") || field("inheritableThreadLocals") || any_from(path, "java.lang.ThreadLocal$ThreadLocalMap") {
        return Verdict {
            culprit: "threadlocal",
            explanation: format!(
                "a ThreadLocal value of {loader_label} stays on a thread the application does not own \
                 (thread {thread}): {holder}"
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
    let stop_thread = format!(
        "Stop thread {thread} when the application stops: interrupt and join it, or shutdown() its executor and \
         awaitTermination()."
    );
    // The thread object itself, or what it runs, belongs to the application.
    let runs_app = culprit == Some(0) || field("target") || field("task");
    if thread_root && runs_app {
        let what = if culprit == Some(0) { format!("a {held}, code of {loader_label}") } else { format!("running code of {loader_label}: {holder}") };
        return Verdict {
            culprit: "application-thread",
            explanation: format!("thread {thread} ({what}) is still running"),
            fix: stop_thread,
        };
    }
    if thread_root && field("contextClassLoader") {
        return Verdict {
            culprit: "thread-context-loader",
            explanation: format!("live thread {thread} has {loader_label} as its context class loader"),
            fix: format!(
                "{stop_thread} For a thread the application does not own, restore setContextClassLoader(parent) after use."
            ),
        };
    }
    if local_root && ctx.root_frame_inside {
        let frame = root.map(|h| h.from.clone()).unwrap_or_default();
        return Verdict {
            culprit: "application-thread",
            explanation: format!("thread {thread} is still running code of {loader_label}: {frame} holds {held}"),
            fix: stop_thread,
        };
    }
    if local_root {
        let frame = root.map(|h| h.from.clone()).unwrap_or_default();
        return Verdict {
            culprit: "stack-local",
            explanation: format!("{frame} holds {held} of {loader_label}: that call has not returned"),
            fix: format!(
                "Let the call on thread {thread} return (or stop the thread) before the application stops; a report taken \
                 while a request is running shows its locals."
            ),
        };
    }
    if let (Some(h), Some(hi)) = (c, holder_at) {
        if path[..culprit.unwrap_or(0) + 1].iter().any(|p| p.kind == HopKind::StaticField) {
            let statics: Vec<&PathHop> = path.iter().filter(|p| p.kind == HopKind::StaticField).collect();
            let s = statics.last().map(|s| format!("{}.{}", s.from, s.field)).unwrap_or_default();
            let o = owner(&path[hi]);
            return Verdict {
                culprit: "parent-static",
                explanation: format!("static state outside the application ({s}) holds {} of {loader_label} through {holder}", h.to),
                fix: format!(
                    "Unregister what the application put into {o} when it stops (listeners, callbacks, cache \
                     entries), or load that class inside the application instead of a shared/parent loader."
                ),
            };
        }
    }
    let o = holder_at.map(|h| owner(&path[h])).unwrap_or_else(|| "the holder".into());
    Verdict {
        culprit: "generic",
        explanation: format!("{holder} keeps {held}, an object of {loader_label}, reachable"),
        fix: format!(
            "Clear {o} (remove what the application put into it) when the application stops, or move that holder \
             into the application so both die together."
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hop(from: &str, field: &str, kind: &str, to: &str, to_loader: Option<u32>) -> PathHop {
        PathHop { from: from.into(), field: field.into(), kind: HopKind::parse(kind).expect("a hop kind"), to: to.into(), to_loader }
    }

    fn only(id: u32) -> impl Fn(u32) -> bool {
        move |l| l == id
    }

    fn verdict(p: &[PathHop], id: u32) -> Verdict {
        classify(p, culprit_hop(p, only(id)), "x", &Context::default())
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
        let c = culprit_hop(&p, only(7));
        assert_eq!(c, Some(3));
        let v = classify(&p, c, "loader 'app-gen-1'", &Context::default());
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
        assert_eq!(verdict(&tl, 9).culprit, "threadlocal");
        assert_eq!(root_thread(&tl), Some("pool-1"));
        let ccl = vec![
            hop("<thread \"worker\">", "", "thread", "java.lang.Thread", Some(1)),
            hop("java.lang.Thread", "contextClassLoader", "field", "java.net.URLClassLoader", Some(9)),
        ];
        assert_eq!(culprit_hop(&ccl, only(9)), Some(1));
        let v = verdict(&ccl, 9);
        assert_eq!(v.culprit, "thread-context-loader");
        assert!(v.fix.contains("Stop thread \"worker\""), "{}", v.fix);
        let own = vec![hop("<thread \"app-ticker\">", "", "thread", "app.Ticker", Some(9))];
        assert_eq!(culprit_hop(&own, only(9)), Some(0));
        assert_eq!(verdict(&own, 9).culprit, "application-thread");
    }

    #[test]
    fn a_child_loader_of_the_suspect_is_inside_it() {
        // Tomcat: the JSP's thread class is defined by a JasperLoader (8) below the web
        // application's loader (5); the thread pins both, through the same hop.
        let p = vec![
            hop("<thread \"shop-ticker\">", "", "thread", "org.apache.jsp.thread_jsp$1", Some(8)),
            hop("org.apache.jsp.thread_jsp$1", "contextClassLoader", "field", "org.apache.catalina.loader.ParallelWebappClassLoader", Some(5)),
        ];
        let family = |l: u32| l == 5 || l == 8;
        assert_eq!(culprit_hop(&p, family), Some(0));
        let v = classify(&p, Some(0), "/shop", &Context::default());
        assert_eq!(v.culprit, "application-thread");
        assert_eq!(v.explanation, "thread \"shop-ticker\" (a org.apache.jsp.thread_jsp$1, code of /shop) is still running");
        assert_eq!(culprit_hop(&p, only(5)), Some(1), "without the family, the field hop");
    }

    #[test]
    fn a_stack_local_of_application_code_is_the_thread() {
        let p = vec![
            hop("<local variable in org.apache.jsp.thread_jsp$1.run (thread \"shop-ticker\", id 33)>", "", "stack_local", "org.apache.jsp.thread_jsp$1", Some(8)),
            hop("org.apache.jsp.thread_jsp$1", "", "class", "class org.apache.jsp.thread_jsp$1", Some(8)),
        ];
        assert_eq!(root_thread(&p), Some("shop-ticker"));
        let v = classify(&p, Some(0), "/shop/thread.jsp", &Context { root_frame_inside: true, ..Context::default() });
        assert_eq!(v.culprit, "application-thread");
        assert!(v.fix.contains("Stop thread \"shop-ticker\""), "{}", v.fix);
        assert!(is_thread_culprit(v.culprit));
        let v = classify(&p, Some(0), "x", &Context::default());
        assert_eq!(v.culprit, "stack-local");
    }

    #[test]
    fn parent_static_and_generic_name_the_field_that_owns_the_collection() {
        let p = vec![
            hop("shared.Registry", "INSTANCE", "static_field", "shared.Registry", Some(4)),
            hop("shared.Registry", "listeners", "field", "java.util.ArrayList", Some(0)),
            hop("java.util.ArrayList", "elementData", "field", "java.lang.Object[]", Some(0)),
            hop("java.lang.Object[]", "[0]", "array_element", "app.Listener", Some(9)),
        ];
        let c = culprit_hop(&p, only(9));
        assert_eq!(c, Some(3));
        assert_eq!(holder_hop(&p, c), Some(1));
        let v = verdict(&p, 9);
        assert_eq!(v.culprit, "parent-static");
        assert!(v.explanation.contains("shared.Registry.INSTANCE"), "{}", v.explanation);
        assert!(v.explanation.contains("shared.Registry.listeners (a java.util.ArrayList) holding app.Listener"), "{}", v.explanation);
        assert!(v.fix.contains("put into shared.Registry.listeners"), "{}", v.fix);
        let g = vec![hop("<JNI global reference>", "", "jni_global", "app.Thing", Some(9))];
        assert_eq!(verdict(&g, 9).culprit, "generic");
        assert_eq!(chain_text(&p), "shared.Registry.INSTANCE -> shared.Registry.listeners -> java.util.ArrayList.elementData -> java.lang.Object[][0]");
        let map = vec![
            hop("<JNI global reference>", "", "jni_global", "com.acme.Cache", Some(2)),
            hop("com.acme.Cache", "entries", "field", "java.util.HashMap", Some(0)),
            hop("java.util.HashMap", "table", "field", "java.util.HashMap$Node[]", Some(0)),
            hop("java.util.HashMap$Node[]", "[5]", "array_element", "java.util.HashMap$Node", Some(0)),
            hop("java.util.HashMap$Node", "value", "field", "app.Entry", Some(9)),
        ];
        let v = verdict(&map, 9);
        assert_eq!(v.culprit, "generic");
        assert!(v.fix.starts_with("Clear com.acme.Cache.entries"), "{}", v.fix);
        assert!(!v.fix.contains("HashMap$Node"), "{}", v.fix);
    }

    #[test]
    fn an_mbean_left_registered_is_named() {
        let p = vec![
            hop("java.lang.management.ManagementFactory", "platformMBeanServer", "static_field", "com.sun.jmx.mbeanserver.JmxMBeanServer", Some(0)),
            hop("com.sun.jmx.mbeanserver.Repository", "domainTb", "field", "java.util.HashMap", Some(0)),
            hop("java.util.HashMap$Node", "value", "field", "com.sun.jmx.mbeanserver.NamedObject", Some(0)),
            hop("com.sun.jmx.mbeanserver.NamedObject", "object", "field", "com.sun.jmx.mbeanserver.StandardMBeanSupport", Some(0)),
            hop("com.sun.jmx.mbeanserver.StandardMBeanSupport", "resource", "field", "app.Counter", Some(9)),
        ];
        let ctx = Context { mbeans: vec!["acme:type=Counter".into()], ..Context::default() };
        let v = classify(&p, culprit_hop(&p, only(9)), "/admin", &ctx);
        assert_eq!(v.culprit, "jmx-mbean");
        assert!(v.explanation.starts_with("the MBean acme:type=Counter of /admin is still registered"), "{}", v.explanation);
        assert!(v.fix.contains("unregisterMBean(new ObjectName(\"acme:type=Counter\"))"), "{}", v.fix);
        assert!(verdict(&p, 9).fix.contains("Unregister every MBean"));
    }

    #[test]
    fn known_library_chains() {
        let cl = vec![
            hop("org.apache.commons.logging.LogFactory", "factories", "static_field", "java.util.Hashtable", Some(2)),
            hop("java.util.Hashtable", "table", "field", "x", Some(0)),
            hop("x", "value", "field", "app.MyFactory", Some(5)),
        ];
        assert_eq!(verdict(&cl, 5).culprit, "commons-logging");
        let jdbc = vec![
            hop("java.sql.DriverManager", "registeredDrivers", "static_field", "java.util.concurrent.CopyOnWriteArrayList", Some(0)),
            hop("java.sql.DriverInfo", "driver", "field", "app.FakeDriver", Some(5)),
        ];
        assert!(verdict(&jdbc, 5).fix.contains("deregisterDriver"));
        let beans = vec![hop("com.sun.beans.introspect.ClassInfo", "CACHE", "static_field", "app.Bean", Some(5))];
        assert!(verdict(&beans, 5).fix.contains("flushCaches"));
    }
}
