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

/// What the rules read about one chain, worked out once.
struct Facts<'a> {
    path: &'a [PathHop],
    culprit: Option<usize>,
    loader: &'a str,
    ctx: &'a Context,
    /// The culprit hop's target: what of the application is held.
    held: String,
    holder_at: Option<usize>,
    /// The holder in words (`holder_text`).
    holder: String,
    /// The root thread, quoted, or "of the application".
    thread: String,
    thread_root: bool,
    local_root: bool,
}

impl Facts<'_> {
    /// The culprit hop's source class starts with `prefix`.
    fn from(&self, prefix: &str) -> bool {
        self.culprit.and_then(|i| self.path.get(i)).is_some_and(|h| from_class(h).starts_with(prefix))
    }
    fn any_from(&self, prefixes: &[&str]) -> bool {
        prefixes.iter().any(|p| any_from(self.path, p))
    }
    fn field(&self, f: &str) -> bool {
        self.path.iter().any(|h| h.field == f)
    }
    fn root_from(&self) -> String {
        self.path.first().map(|h| h.from.clone()).unwrap_or_default()
    }
    fn stop_thread(&self) -> String {
        format!(
            "Stop thread {} when the application stops: interrupt and join it, or shutdown() its executor and \
             awaitTermination().",
            self.thread
        )
    }
    /// The thread object itself, or what it runs, belongs to the application.
    fn runs_app(&self) -> bool {
        self.culprit == Some(0) || self.field("target") || self.field("task")
    }
    /// The innermost static field on the chain, when one comes before the culprit.
    fn parent_static(&self) -> Option<String> {
        let (c, _) = self.culprit.zip(self.holder_at)?;
        let is_static = |p: &&PathHop| p.kind == HopKind::StaticField;
        self.path[..c + 1].iter().any(|p| is_static(&p)).then(|| {
            self.path.iter().rev().find(is_static).map(|s| format!("{}.{}", s.from, s.field)).unwrap_or_default()
        })
    }
}

/// One known culprit: when a chain shows it, and what to say (explanation, fix).
struct Rule {
    culprit: &'static str,
    matches: fn(&Facts) -> bool,
    says: fn(&Facts) -> (String, String),
}

/// The catalogue, first match wins: library caches before threads, threads before statics.
const RULES: &[Rule] = &[
    Rule {
        culprit: "jdk-logging-level",
        matches: |f| f.from("java.util.logging.") || f.any_from(&["java.util.logging.LogManager"]) && f.held.contains("Level"),
        says: |f| {
            (
                format!(
                    "JDK logging keeps {}, an object of {}, through {}: a custom java.util.logging.Level (or \
                     handler, filter, formatter) set on a logger outlives the application",
                    f.held, f.loader, f.holder
                ),
                "On undeploy restore what the application set on JDK loggers (e.g. \
                 Logger.getLogger(\"\").setLevel(previousLevel)) and remove its handlers; prefer the \
                 standard Level constants to custom Level subclasses."
                    .into(),
            )
        },
    },
    Rule {
        culprit: "commons-logging",
        matches: |f| f.any_from(&["org.apache.commons.logging."]),
        says: |f| {
            (
                format!(
                    "commons-logging's LogFactory cache (in the parent loader) keeps a factory or Log of {} through {}",
                    f.loader, f.holder
                ),
                "Call org.apache.commons.logging.LogFactory.release(applicationClassLoader) when the \
                 application stops (e.g. in ServletContextListener.contextDestroyed)."
                    .into(),
            )
        },
    },
    Rule {
        culprit: "spring-introspection-cache",
        matches: |f| f.any_from(&["org.springframework.beans.CachedIntrospectionResults"]),
        says: |f| {
            (
                format!("Spring's CachedIntrospectionResults keeps bean metadata of {} through {}", f.loader, f.holder),
                "Call CachedIntrospectionResults.clearClassLoader(applicationClassLoader) on undeploy, \
                 or register org.springframework.web.util.IntrospectorCleanupListener."
                    .into(),
            )
        },
    },
    Rule {
        culprit: "java-beans-introspector",
        matches: |f| f.any_from(&["java.beans.", "com.sun.beans."]),
        says: |f| {
            (
                format!("the java.beans.Introspector cache keeps BeanInfo of a class of {} through {}", f.loader, f.holder),
                "Call java.beans.Introspector.flushCaches() (or flushFromCaches(beanClass)) when the \
                 application stops."
                    .into(),
            )
        },
    },
    Rule {
        culprit: "jdbc-driver",
        matches: |f| f.any_from(&["java.sql.DriverManager", "java.sql.DriverInfo"]),
        says: |f| {
            (
                format!("java.sql.DriverManager still has a JDBC driver of {} registered ({})", f.loader, f.holder),
                "On undeploy, DriverManager.deregisterDriver(d) for every driver d whose class loader is \
                 the application's (DriverManager.getDrivers()); do not leave it to the container."
                    .into(),
            )
        },
    },
    Rule { culprit: "jmx-mbean", matches: |f| f.any_from(&["com.sun.jmx.", "javax.management."]), says: jmx_mbean },
    Rule {
        culprit: "threadlocal",
        matches: |f| f.field("threadLocals") || f.field("inheritableThreadLocals") || f.any_from(&["java.lang.ThreadLocal$ThreadLocalMap"]),
        says: |f| {
            (
                format!(
                    "a ThreadLocal value of {} stays on a thread the application does not own (thread {}): {}",
                    f.loader, f.thread, f.holder
                ),
                "Call ThreadLocal.remove() in a finally block after each use on pooled threads; a \
                 container's thread pool outlives the application."
                    .into(),
            )
        },
    },
    Rule {
        culprit: "shutdown-hook",
        matches: |f| f.any_from(&["java.lang.ApplicationShutdownHooks"]),
        says: |f| {
            (
                format!("a shutdown hook thread of {} is registered with the JVM ({})", f.loader, f.holder),
                "Runtime.getRuntime().removeShutdownHook(hook) when the application stops.".into(),
            )
        },
    },
    Rule {
        culprit: "application-thread",
        matches: |f| f.thread_root && f.runs_app(),
        says: |f| {
            let what = if f.culprit == Some(0) {
                format!("a {}, code of {}", f.held, f.loader)
            } else {
                format!("running code of {}: {}", f.loader, f.holder)
            };
            (format!("thread {} ({what}) is still running", f.thread), f.stop_thread())
        },
    },
    Rule {
        culprit: "thread-context-loader",
        matches: |f| f.thread_root && f.field("contextClassLoader"),
        says: |f| {
            (
                format!("live thread {} has {} as its context class loader", f.thread, f.loader),
                format!(
                    "{} For a thread the application does not own, restore setContextClassLoader(parent) after use.",
                    f.stop_thread()
                ),
            )
        },
    },
    Rule {
        culprit: "application-thread",
        matches: |f| f.local_root && f.ctx.root_frame_inside,
        says: |f| {
            (
                format!("thread {} is still running code of {}: {} holds {}", f.thread, f.loader, f.root_from(), f.held),
                f.stop_thread(),
            )
        },
    },
    Rule {
        culprit: "stack-local",
        matches: |f| f.local_root,
        says: |f| {
            (
                format!("{} holds {} of {}: that call has not returned", f.root_from(), f.held, f.loader),
                format!(
                    "Let the call on thread {} return (or stop the thread) before the application stops; a report taken \
                     while a request is running shows its locals.",
                    f.thread
                ),
            )
        },
    },
    Rule {
        culprit: "parent-static",
        matches: |f| f.parent_static().is_some(),
        says: |f| {
            let o = f.holder_at.map(|h| owner(&f.path[h])).unwrap_or_default();
            (
                format!(
                    "static state outside the application ({}) holds {} of {} through {}",
                    f.parent_static().unwrap_or_default(),
                    f.held,
                    f.loader,
                    f.holder
                ),
                format!(
                    "Unregister what the application put into {o} when it stops (listeners, callbacks, cache \
                     entries), or load that class inside the application instead of a shared/parent loader."
                ),
            )
        },
    },
];

/// The MBeans the application left registered, by name when the report thread could list them.
fn jmx_mbean(f: &Facts) -> (String, String) {
    let s = if f.ctx.mbeans.len() > 1 { "s" } else { "" };
    let (what, fix) = match f.ctx.mbeans.as_slice() {
        [] => (
            "an MBean".to_string(),
            "Unregister every MBean the application registers when it stops \
             (MBeanServer.unregisterMBean(name), e.g. in ServletContextListener.contextDestroyed)."
                .to_string(),
        ),
        names => (
            format!("the MBean{s} {}", names.join(", ")),
            format!(
                "Unregister the MBean{s} {} when the application stops: {} (e.g. in ServletContextListener.contextDestroyed).",
                names.join(", "),
                names
                    .iter()
                    .map(|n| format!("ManagementFactory.getPlatformMBeanServer().unregisterMBean(new ObjectName(\"{n}\"))"))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ),
    };
    (format!("{what} of {} is still registered with the MBeanServer, which keeps it through {}", f.loader, f.holder), fix)
}

/// Matches a chain against the culprits the class loader field report (seeds/002) named (JDK
/// logging, commons-logging, Introspector and Spring caches, DriverManager, JMX, ThreadLocal,
/// threads and context loaders, shutdown hooks, statics of a parent loader); anything else gets a
/// sentence built from the chain.
pub fn classify(path: &[PathHop], culprit: Option<usize>, loader_label: &str, ctx: &Context) -> Verdict {
    let holder_at = holder_hop(path, culprit);
    let root = path.first();
    let facts = Facts {
        path,
        culprit,
        loader: loader_label,
        ctx,
        held: culprit.and_then(|i| path.get(i)).map(|h| h.to.clone()).unwrap_or_default(),
        holder_at,
        holder: match (culprit, holder_at) {
            (Some(c), Some(h)) => holder_text(path, h, c),
            _ => "an object outside the application".into(),
        },
        thread: root_thread(path).map(|t| format!("\"{t}\"")).unwrap_or_else(|| "of the application".into()),
        thread_root: root.is_some_and(|h| h.kind == HopKind::Thread),
        local_root: root.is_some_and(|h| matches!(h.kind, HopKind::StackLocal | HopKind::JniLocal)),
    };
    if let Some(rule) = RULES.iter().find(|r| (r.matches)(&facts)) {
        let (explanation, fix) = (rule.says)(&facts);
        return Verdict { culprit: rule.culprit, explanation, fix };
    }
    let o = holder_at.map(|h| owner(&path[h])).unwrap_or_else(|| "the holder".into());
    Verdict {
        culprit: "generic",
        explanation: format!("{} keeps {}, an object of {loader_label}, reachable", facts.holder, facts.held),
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
