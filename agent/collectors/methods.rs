//! Java methods as reports name them: class, method, source file and line, resolved once per
//! method (a class may be unloaded before the report, and its jmethodIDs then name nothing), and
//! a site's stack rendered as `pkg.Class.method(File.java:LINE)`. Methods of unloaded classes
//! are forgotten (`forget_unloaded`): every loader's copy of a class has its own jmethodIDs, so
//! a cache that never forgot grew with every loader ever created.

use super::sites::SiteInfo;
use crate::ffi::jni::{Env, Local};
use crate::ffi::jvmti::{signature_to_name, Jvmti};
use crate::hash::MixBuild;
use parking_lot::Mutex;
use crate::health::COUNTERS;
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
}

impl MethodInfo {
    fn line_at(&self, location: i64) -> Option<i32> {
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
}

/// Method names and line tables by jmethodID. JVMTI is called with no lock held; a method
/// resolved twice by two threads at once is harmless.
#[derive(Default)]
pub struct MethodCache {
    map: Mutex<HashMap<usize, Arc<MethodInfo>, MixBuild>>,
}

impl MethodCache {
    pub fn get(&self, jvmti: &Jvmti, env: &Env, method: usize) -> Arc<MethodInfo> {
        if let Some(m) = self.map.lock().get(&method) {
            return m.clone();
        }
        let info = Arc::new(resolve(jvmti, env, method));
        self.map.lock().entry(method).or_insert(info).clone()
    }

    /// Drops the methods whose class was unloaded and returns them. JVMTI is asked about each
    /// method with no lock held (report or sampler thread).
    pub fn forget_unloaded(&self, jvmti: &Jvmti) -> HashSet<usize> {
        let ids: Vec<usize> = self.map.lock().keys().copied().collect();
        let dead: HashSet<usize> = ids.into_iter().filter(|&m| !jvmti.method_is_loaded(m as jni::sys::jmethodID)).collect();
        let mut map = self.map.lock();
        map.retain(|m, _| !dead.contains(m));
        COUNTERS.methods_forgotten.fetch_add(dead.len() as u64, Relaxed);
        COUNTERS.methods_cached.store(map.len() as u64, Relaxed);
        dead
    }
}

fn resolve(jvmti: &Jvmti, env: &Env, method: usize) -> MethodInfo {
    let m = method as jni::sys::jmethodID;
    let Ok((name, signature)) = jvmti.method_name_and_signature(m) else {
        // The class was unloaded since the frame was recorded.
        return MethodInfo {
            class: UNLOADED.into(),
            name: "<unknown>".into(),
            signature: String::new(),
            source: None,
            lines: Vec::new(),
        };
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
    MethodInfo { class, name, signature, source, lines }
}

/// The class of a method whose class was unloaded before it was resolved.
pub const UNLOADED: &str = "<unloaded class>";

/// Renders a site's stack and finds its first application frame (outside the JDK).
pub fn render_site(info: &SiteInfo) -> (Vec<String>, Option<String>) {
    if let Some(s) = &info.special {
        return (vec![s.clone()], None);
    }
    let mut out = Vec::with_capacity(info.frames.len());
    let mut app = None;
    for (f, m) in info.frames.iter().zip(&info.methods) {
        let text = m.render(f.location);
        if app.is_none() && !m.is_jdk() {
            app = Some(text.clone());
        }
        out.push(text);
    }
    (out, app)
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
        };
        assert_eq!(m.render(7), "leakagent.harness.nested.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:34)");
        assert_eq!(m.render(20), "leakagent.harness.nested.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:36)");
        assert_eq!(m.render(-1), "leakagent.harness.nested.ZipInflaterInputStream.<init>(Native Method)");
        assert!(!m.is_jdk());
        let n = MethodInfo { class: "java.util.zip.Inflater".into(), name: "init".into(), signature: "()J".into(), source: None, lines: vec![] };
        assert_eq!(n.render(3), "java.util.zip.Inflater.init(Unknown Source)");
        assert!(n.is_jdk());
    }
}
