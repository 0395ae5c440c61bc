//! Java methods as reports name them: class, method, source file and line, resolved once per
//! method (a class may be unloaded before the report, and its jmethodIDs then name nothing), and
//! a site's stack rendered as `pkg.Class.method(File.java:LINE)`. Methods of unloaded classes
//! are forgotten (`forget_unloaded`): every loader's copy of a class has its own jmethodIDs, so
//! a cache that never forgot grew with every loader ever created.
//!
//! Class names that the JVM generates per copy of one place are normalised when a method is
//! resolved (`normalise_class`): lambda proxies (`Foo$$Lambda$43/0x...`), hidden classes,
//! `$ProxyN` and numbered reflection accessors, so one source line is one site. A site's first
//! application frame skips the JDK and script runtimes (Groovy), and a stream made while a class
//! or resource was being loaded by a class loader is filed under that loader (`class loading by
//! ...`), not under the application frame that happened to trigger the load.

use crate::native::sites::SiteInfo;
use crate::ffi::jni::{Env, Local};
use crate::ffi::jvmti::{signature_to_name, Frame, Jvmti};
use crate::ffi::named_stack::NamedFrame;
use crate::core::hash::MixBuild;
use parking_lot::Mutex;
use crate::core::health::COUNTERS;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// A method's names and line table, resolved once.
#[derive(Debug)]
pub struct MethodInfo {
    /// Java class name, e.g. `java.util.zip.Inflater`.
    pub class: String,
    pub name: String,
    /// JVM signature, e.g. `(Z)J`: overloads are different code.
    pub signature: String,
    pub source: Option<String>,
    /// (start location, line), sorted by location.
    pub lines: Vec<(i64, i32)>,
    /// A method named by a stack trace (`named`), not a jmethodID: its frames' locations are
    /// source lines, not bytecode indexes.
    pub by_line: bool,
}

impl MethodInfo {
    pub fn line_at(&self, location: i64) -> Option<i32> {
        if self.by_line {
            return (location > 0).then_some(location as i32);
        }
        self.lines.iter().rev().find(|(start, _)| *start <= location).map(|(_, line)| *line)
    }

    /// `pkg.Class.method(File.java:LINE)`, as Java prints stack frames.
    pub fn render(&self, location: i64) -> String {
        let place = if location < 0 {
            "Native Method".to_string()
        } else {
            match (&self.source, self.line_at(location)) {
                (Some(src), Some(line)) => format!("{src}:{line}"),
                (Some(src), None) => src.clone(),
                (None, _) => "Unknown Source".to_string(),
            }
        };
        format!("{}.{}({place})", self.class, self.name)
    }

    /// Whether the class belongs to the JDK (java.*, javax.*, jdk.*, sun.*, com.sun.*).
    pub fn is_jdk(&self) -> bool {
        ["java.", "javax.", "jdk.", "sun.", "com.sun."].iter().any(|p| self.class.starts_with(p))
    }

    /// A frame of reflective or method-handle plumbing, whose frames differ between calls of the
    /// same place (JDK 17 calls a constructor through NativeConstructorAccessorImpl 15 times, then
    /// through a GeneratedConstructorAccessorN).
    pub fn is_accessor(&self) -> bool {
        ((self.class.starts_with("jdk.internal.reflect.") || self.class.starts_with("sun.reflect.")) && self.class.contains("Accessor"))
            || self.class.starts_with("java.lang.invoke.LambdaForm$")
    }

    /// A frame of a script runtime, between a script's own line and what it calls.
    fn is_script_runtime(&self) -> bool {
        ["org.codehaus.groovy.", "groovy.lang.", "org.apache.groovy."].iter().any(|p| self.class.starts_with(p))
    }

    /// A frame that loads classes or resources for a class loader.
    fn loads_classes(&self) -> bool {
        self.class.starts_with("jdk.internal.loader.")
            || matches!(self.class.as_str(), "java.lang.ClassLoader" | "java.net.URLClassLoader" | "java.security.SecureClassLoader")
            || matches!(self.name.as_str(), "loadClass" | "findClass" | "defineClass")
    }
}

/// `class` without the parts the JVM generates per copy of one place: a lambda proxy's number
/// and address (`Foo$$Lambda$43/0x...` and `Foo$$Lambda.0x...` are `Foo$$Lambda`), a hidden
/// class's address suffix, a proxy's number (`jdk.proxy2.$Proxy45` is `jdk.proxy.$Proxy`), a
/// generated reflection accessor's number.
pub fn normalise_class(class: &str) -> String {
    if let Some(i) = class.find("$$Lambda") {
        return class[..i + "$$Lambda".len()].to_string();
    }
    let mut c = class;
    // Hidden classes: `name/0x...` (`.0x...` once the signature became a name).
    if let Some(i) = c.rfind("/0x").or_else(|| c.rfind(".0x")) {
        if c.len() > i + 3 && c[i + 3..].bytes().all(|b| b.is_ascii_hexdigit()) {
            c = &c[..i];
        }
    }
    let (pkg, simple) = match c.rfind('.') {
        Some(i) => (&c[..=i], &c[i + 1..]),
        None => ("", c),
    };
    let numbered = |prefix: &str| simple.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    for prefix in ["$Proxy", "GeneratedConstructorAccessor", "GeneratedMethodAccessor", "GeneratedSerializationConstructorAccessor"] {
        if numbered(prefix) {
            let pkg = if pkg.starts_with("jdk.proxy") { "jdk.proxy." } else { pkg };
            return format!("{pkg}{prefix}");
        }
    }
    c.to_string()
}

/// Marks a method id made here for a method named by a stack trace (`named`): never a
/// jmethodID (user-space pointers stay below 2^47), never passed to JVMTI.
const NAMED_BIT: usize = 1 << 63;
/// Methods named by stack traces kept at most: distinct code, not copies (names are
/// normalised), so the bound is reached only by code generated without end.
const MAX_NAMED: usize = 1 << 16;

/// A method named by a stack trace: class, method, source file.
type Place = (String, String, Option<String>);

/// Method names and line tables by jmethodID (or named id). JVMTI is called with no lock held;
/// a method resolved twice by two threads at once is harmless.
#[derive(Default)]
pub struct MethodCache {
    map: Mutex<HashMap<usize, Arc<MethodInfo>, MixBuild>>,
    /// Named ids by (class, method, file): one per place in the code, whatever loader runs it.
    named: Mutex<HashMap<Place, usize>>,
}

impl MethodCache {
    pub fn get(&self, jvmti: &Jvmti, env: &Env, method: usize) -> Arc<MethodInfo> {
        if let Some(m) = self.map.lock().get(&method) {
            return m.clone();
        }
        if method & NAMED_BIT != 0 {
            // Named ids stay in the map for good (`forget_unloaded` skips them).
            return Arc::new(unloaded());
        }
        let info = Arc::new(resolve(jvmti, env, method));
        self.map.lock().entry(method).or_insert(info).clone()
    }

    /// The frame of a method named by a stack trace (no jmethodID made): a named id, and the
    /// line as its location (-1 for a native method, 0 unknown); None once MAX_NAMED places
    /// are named.
    pub fn named(&self, f: &NamedFrame) -> Option<Frame> {
        let class = normalise_class(&f.class);
        let key = (class, f.method.clone(), f.file.clone());
        let location = match f.line {
            -2 => -1,
            l => l.max(0) as i64,
        };
        let mut named = self.named.lock();
        if let Some(&id) = named.get(&key) {
            return Some(Frame { method: id, location });
        }
        if named.len() >= MAX_NAMED {
            return None;
        }
        let id = NAMED_BIT | named.len();
        let info = MethodInfo {
            class: key.0.clone(),
            name: key.1.clone(),
            signature: String::new(),
            source: key.2.clone(),
            lines: Vec::new(),
            by_line: true,
        };
        named.insert(key, id);
        self.map.lock().insert(id, Arc::new(info));
        Some(Frame { method: id, location })
    }

    /// Drops the methods whose class was unloaded and returns them. JVMTI is asked about each
    /// method with no lock held (report or sampler thread). Named methods stay: they name code,
    /// not one loader's copy of it.
    pub fn forget_unloaded(&self, jvmti: &Jvmti) -> HashSet<usize> {
        let ids: Vec<usize> = self.map.lock().keys().copied().filter(|m| m & NAMED_BIT == 0).collect();
        let dead: HashSet<usize> = ids.into_iter().filter(|&m| !jvmti.method_is_loaded(m as jni::sys::jmethodID)).collect();
        let mut map = self.map.lock();
        map.retain(|m, _| !dead.contains(m));
        crate::native::sites::shrink(&mut map);
        COUNTERS.methods_forgotten.fetch_add(dead.len() as u64, Relaxed);
        COUNTERS.methods_cached.store(map.len() as u64, Relaxed);
        dead
    }
}

fn resolve(jvmti: &Jvmti, env: &Env, method: usize) -> MethodInfo {
    let m = method as jni::sys::jmethodID;
    let Ok((name, signature)) = jvmti.method_name_and_signature(m) else {
        // The class was unloaded since the frame was recorded.
        return unloaded();
    };
    let (class, source) = match jvmti.method_declaring_class(m) {
        Ok(k) => {
            let k = Local::new(env, k);
            let class = jvmti.class_signature(k.raw()).map(|s| signature_to_name(&s)).unwrap_or_else(|_| "<unknown class>".into());
            let source = jvmti.source_file_name(k.raw()).ok().filter(|s| !s.is_empty());
            (class, source)
        }
        Err(_) => ("<unknown class>".into(), None),
    };
    let mut lines = jvmti.line_number_table(m).unwrap_or_default();
    lines.sort_unstable();
    MethodInfo { class: normalise_class(&class), name, signature, source, lines, by_line: false }
}

fn unloaded() -> MethodInfo {
    MethodInfo { class: UNLOADED.into(), name: "<unknown>".into(), signature: String::new(), source: None, lines: Vec::new(), by_line: false }
}

/// The class of a method whose class was unloaded before it was resolved.
pub const UNLOADED: &str = "<unloaded class>";

/// Renders a site's stack and finds its first application frame (outside the JDK and script
/// runtimes), or the class loader whose loading made the stream.
pub fn render_site(info: &SiteInfo) -> (Vec<String>, Option<String>) {
    if let Some(s) = &info.special {
        return (vec![s.clone()], None);
    }
    let out = info.frames.iter().zip(&info.methods).map(|(f, m)| m.render(f.location)).collect();
    (out, app_frame(info.frames.iter().map(|f| f.location).zip(info.methods.iter().map(|m| &**m))))
}

/// The first frame (innermost first) outside the JDK and script runtimes, unless class loading
/// comes first: then `class loading by LOADER`, LOADER being the class of the outermost
/// `loadClass` of the loading (the loader asked; `java.lang.ClassLoader`'s own entry point says
/// nothing), else of the outermost loading frame the stack shows.
fn app_frame<'a>(frames: impl Iterator<Item = (i64, &'a MethodInfo)>) -> Option<String> {
    let mut loader: Option<&MethodInfo> = None;
    let mut asked: Option<&MethodInfo> = None;
    for (location, m) in frames {
        let loading = m.loads_classes();
        if loading {
            loader = Some(m);
            if m.name == "loadClass" && m.class != "java.lang.ClassLoader" {
                asked = Some(m);
            }
            continue;
        }
        if m.is_jdk() || m.is_script_runtime() {
            continue;
        }
        if loader.is_none() {
            return Some(m.render(location));
        }
        break;
    }
    asked.or(loader).map(|m| format!("class loading by {}", m.class))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_render_like_java() {
        let m = MethodInfo {
            class: "leakagent.harness.nested.ZipInflaterInputStream".into(),
            name: "<init>".into(),
            signature: "()V".into(),
            source: Some("ZipInflaterInputStream.java".into()),
            lines: vec![(0, 33), (5, 34), (20, 36)],
            by_line: false,
        };
        assert_eq!(m.render(7), "leakagent.harness.nested.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:34)");
        assert_eq!(m.render(20), "leakagent.harness.nested.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:36)");
        assert_eq!(m.render(-1), "leakagent.harness.nested.ZipInflaterInputStream.<init>(Native Method)");
        assert!(!m.is_jdk());
        let n = MethodInfo { class: "java.util.zip.Inflater".into(), name: "init".into(), signature: "()J".into(), source: None, lines: vec![], by_line: false };
        assert_eq!(n.render(3), "java.util.zip.Inflater.init(Unknown Source)");
        assert!(n.is_jdk());
    }

    #[test]
    fn named_frames_of_two_loaders_copies_are_one_method_by_line() {
        let cache = MethodCache::default();
        let f = |class: &str, line| NamedFrame {
            class: class.into(),
            method: "inflate".into(),
            file: Some("ZipChurnWorker.java".into()),
            line,
            builtin: false,
        };
        let a = cache.named(&f("ZipChurnWorker", 31)).unwrap();
        let b = cache.named(&f("ZipChurnWorker", 33)).unwrap();
        assert_eq!(a.method, b.method, "one place in the code, one id");
        assert_eq!((a.location, b.location), (31, 33));
        assert_ne!(a.method, cache.named(&f("Other", 31)).unwrap().method);
        assert_eq!(cache.named(&f("ZipChurnWorker", -2)).unwrap().location, -1, "a native method");
        let m = cache.map.lock()[&a.method].clone();
        assert_eq!(m.render(33), "ZipChurnWorker.inflate(ZipChurnWorker.java:33)");
        assert_eq!(m.line_at(0), None);
    }

    #[test]
    fn generated_names_of_one_place_are_one_name() {
        for (raw, want) in [
            ("org.springframework.boot.loader.jar.NestedJarFile$$Lambda$43.0x0000000800c4a8", "org.springframework.boot.loader.jar.NestedJarFile$$Lambda"),
            ("org.springframework.boot.loader.jar.NestedJarFile$$Lambda.0x00007f3c0114", "org.springframework.boot.loader.jar.NestedJarFile$$Lambda"),
            ("a.b.Handler$$Lambda$45/0x0000000800c4b0", "a.b.Handler$$Lambda"),
            ("com.example.Hidden.0x0000000800d01234", "com.example.Hidden"),
            ("jdk.proxy2.$Proxy45", "jdk.proxy.$Proxy"),
            ("com.sun.proxy.$Proxy12", "com.sun.proxy.$Proxy"),
            ("jdk.internal.reflect.GeneratedConstructorAccessor5", "jdk.internal.reflect.GeneratedConstructorAccessor"),
            ("jdk.internal.reflect.GeneratedMethodAccessor17", "jdk.internal.reflect.GeneratedMethodAccessor"),
            ("java.util.zip.Inflater", "java.util.zip.Inflater"),
            ("a.b.$ProxyFactory", "a.b.$ProxyFactory"),
            ("a.Ox.0xyz", "a.Ox.0xyz"),
        ] {
            assert_eq!(normalise_class(raw), want, "{raw}");
        }
    }

    fn m(class: &str, name: &str, line: i32) -> MethodInfo {
        let source = class.rsplit('.').next().map(|s| format!("{}.java", s.split('$').next().unwrap()));
        MethodInfo { class: class.into(), name: name.into(), signature: "()V".into(), source, lines: vec![(0, line)], by_line: false }
    }

    #[test]
    fn class_loading_is_its_own_cause_and_scripts_show_their_own_line() {
        let loading = [
            m("java.util.zip.Inflater", "<init>", 131),
            m("java.util.zip.ZipFile$CleanableResource", "getInflater", 735),
            m("jdk.internal.loader.URLClassPath$JarLoader$2", "getInputStream", 900),
            m("jdk.internal.loader.BuiltinClassLoader", "defineClass", 800),
            m("jdk.internal.loader.BuiltinClassLoader", "loadClass", 600),
            m("jdk.internal.loader.ClassLoaders$AppClassLoader", "loadClass", 188),
            m("java.lang.ClassLoader", "loadClass", 525),
            m("org.apache.kafka.common.requests.ApiVersionsRequest$Builder", "build", 62),
        ];
        let at = app_frame(loading.iter().map(|m| (0, m)));
        assert_eq!(at.as_deref(), Some("class loading by jdk.internal.loader.ClassLoaders$AppClassLoader"));
        // Spring Boot 2.0's loader makes the stream itself, then loads: its frame is the place.
        let nested = [
            m("java.util.zip.Inflater", "<init>", 131),
            m("org.springframework.boot.loader.jar.ZipInflaterInputStream", "<init>", 38),
            m("org.springframework.boot.loader.LaunchedURLClassLoader", "loadClass", 90),
        ];
        let at = app_frame(nested.iter().map(|m| (0, m)));
        assert_eq!(at.as_deref(), Some("org.springframework.boot.loader.jar.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:38)"));
        let script = [
            m("java.util.zip.Inflater", "<init>", 131),
            m("jdk.internal.reflect.GeneratedConstructorAccessor5", "newInstance", 0),
            m("java.lang.reflect.Constructor", "newInstance", 490),
            m("org.codehaus.groovy.reflection.CachedConstructor", "invoke", 80),
            m("org.codehaus.groovy.runtime.callsite.ConstructorSite", "callConstructor", 57),
            m("Script1", "run", 3),
        ];
        assert_eq!(app_frame(script.iter().map(|m| (0, m))).as_deref(), Some("Script1.run(Script1.java:3)"));
        assert!(script[1].is_accessor() && !script[2].is_accessor());
    }
}
