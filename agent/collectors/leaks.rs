//! Class loader leak suspects: loaders that should be dead and are not, after a forced GC, each
//! with the reference chain that pins it and what the culprit catalogue says about it.

use super::chains::{self, Limits, RawHop, TAG_SELF_THREAD};
use super::classes::{tag_kind, tag_loader, ClassTracker, TAG_ARRAY_CLASS, TAG_CLASS, TAG_LOADER};
use crate::culprits;
use crate::ffi::jni::Env;
use crate::ffi::jvmti::{signature_to_name, Jvmti};
use crate::ffi::sys::*;
use leakagent_report::model::{ChainSearch, ClassLoaders, LeakSuspect, Loader, PathHop};
use jni::sys::{jclass, jlong};
use std::collections::{HashMap, HashSet};

/// What makes a loader a suspect, and how far to look for its chain.
#[derive(Clone, Debug, PartialEq)]
pub struct LeakOptions {
    pub chains: bool,
    pub limits: Limits,
    /// Globs on loader class or name: loaders that match must not be alive.
    pub patterns: Vec<String>,
}

/// Tomcat `LifecycleState`s of a loader whose application is no longer running.
const STOPPED_STATES: &[&str] = &["STOPPING_PREP", "STOPPING", "STOPPED", "DESTROYING", "DESTROYED", "FAILED"];

/// Why `l` should be dead; empty when it may live.
pub fn reasons(l: &Loader, patterns: &[String]) -> Vec<String> {
    let mut r = Vec::new();
    if !l.alive || l.role != "other" {
        return r;
    }
    if l.superseded_by.is_some() {
        r.push("superseded".to_string());
    }
    if l.closed == Some(true) {
        r.push("closed".to_string());
    }
    if l.state.as_deref().is_some_and(|s| STOPPED_STATES.contains(&s)) {
        r.push("container_stopped".to_string());
    }
    if patterns.iter().any(|p| glob(p, &l.class) || l.name.as_deref().is_some_and(|n| glob(p, n))) {
        r.push("pattern".to_string());
    }
    r
}

/// `*` matches any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

fn label(l: &Loader) -> String {
    match &l.name {
        Some(n) => format!("class loader '{n}' ({})", l.class),
        None => format!("class loader #{} ({})", l.id, l.class),
    }
}

/// Fills `leak_suspects` and `chain_search` of `cl`.
pub fn analyse(jvmti: &Jvmti, env: &Env, tracker: &ClassTracker, cl: &mut ClassLoaders, opts: &LeakOptions) {
    let suspects: Vec<(usize, Vec<String>)> = cl
        .loaders
        .iter()
        .enumerate()
        .map(|(i, l)| (i, reasons(l, &opts.patterns)))
        .filter(|(_, r)| !r.is_empty())
        .collect();
    if suspects.is_empty() {
        return;
    }
    let targets: Vec<jlong> = suspects.iter().map(|(i, _)| TAG_LOADER | cl.loaders[*i].id as jlong).collect();
    let mut names = Names::new(jvmti, env, &cl.loaders);
    let outcome = if opts.chains {
        tag_own_thread(jvmti, env);
        let referents = names.prepare_classes(tracker);
        Some(chains::search(jvmti, &targets, &referents, opts.limits))
    } else {
        None
    };
    // A search that ran to the end without reaching a root proves there is no strong path: the
    // loader lives only through weak or soft references (or is garbage the GC left for later).
    let complete = outcome.as_ref().is_some_and(|o| o.limit_hit.is_none() && o.error.is_none());
    for (n, (i, why)) in suspects.iter().enumerate() {
        let l = &cl.loaders[*i];
        let path = outcome
            .as_ref()
            .and_then(|o| o.chains[n].as_ref().map(|raw| names.render(raw, o.root_threads.get(&n))))
            .unwrap_or_default();
        if path.is_empty() && complete {
            cl.not_strongly_reachable.push(l.id);
            continue;
        }
        let culprit = culprits::culprit_hop(&path, l.id);
        let (culprit_id, explanation, fix) = if path.is_empty() {
            let why_none = match &outcome {
                None => "no chain search for this report (chains=off, or chains=demand and a periodic report)".to_string(),
                Some(o) => o
                    .limit_hit
                    .clone()
                    .or_else(|| o.error.clone())
                    .unwrap_or_else(|| "no strong path from a GC root was found".into()),
            };
            (
                None,
                format!("{} should be dead ({}) but is alive; no chain: {why_none}", label(l), why.join(", ")),
                "Take a heap dump (jcmd <pid> GC.heap_dump file.hprof) and look for the shortest \
                 strong path from a GC root to this loader, or raise chain_time/chain_objects."
                    .to_string(),
            )
        } else {
            let v = culprits::classify(&path, culprit, &label(l));
            (Some(v.culprit.to_string()), v.explanation, v.fix)
        };
        cl.leak_suspects.push(LeakSuspect {
            loader_id: l.id,
            loader_class: l.class.clone(),
            loader_name: l.name.clone(),
            classes: l.classes,
            reasons: why.clone(),
            path,
            culprit_hop: culprit,
            culprit: culprit_id,
            explanation,
            fix,
        });
    }
    if let Some(o) = outcome {
        cl.chain_search = Some(ChainSearch {
            suspects: suspects.len() as u32,
            not_strongly_reachable: cl.not_strongly_reachable.len() as u32,
            chains_found: o.chains.iter().filter(|c| c.is_some()).count() as u32,
            passes: o.passes,
            references_visited: o.references_visited,
            objects_tagged: o.objects_tagged,
            memory_bytes_estimate: o.objects_tagged * chains::BYTES_PER_NODE,
            time_ms: o.elapsed.as_millis() as u64,
            limit_hit: o.limit_hit.map(|l| {
                format!("{l}; chains may be missing: raise chain_time or chain_objects, or use a heap dump")
            }),
        });
    }
}

/// Marks the report thread's `Thread` so its own local references are not taken for roots.
fn tag_own_thread(jvmti: &Jvmti, env: &Env) {
    let t = env.call_static_object_method("java/lang/Thread", "currentThread", "()Ljava/lang/Thread;");
    if !t.is_null() {
        let _ = jvmti.set_tag(t, TAG_SELF_THREAD);
        env.delete_local(t);
    }
}

/// Resolves class tags, field indices and loaders to names, with caches for one report.
struct Names<'a> {
    jvmti: &'a Jvmti,
    env: &'a Env,
    loaders: HashMap<u32, &'a Loader>,
    classes: HashMap<jlong, String>,
    fields: HashMap<jlong, (usize, Vec<String>)>,
}

impl<'a> Names<'a> {
    fn new(jvmti: &'a Jvmti, env: &'a Env, loaders: &'a [Loader]) -> Names<'a> {
        Names {
            jvmti,
            env,
            loaders: loaders.iter().map(|l| (l.id, l)).collect(),
            classes: HashMap::new(),
            fields: HashMap::new(),
        }
    }

    /// A local reference to the class with this (unique) class tag.
    fn class_of(&self, tag: jlong) -> Option<jclass> {
        if tag_kind(tag) != TAG_CLASS && tag_kind(tag) != TAG_ARRAY_CLASS {
            return None;
        }
        self.jvmti.objects_with_tags(&[tag]).ok()?.first().map(|(o, _)| *o)
    }

    fn class_name(&mut self, tag: jlong) -> String {
        if let Some(n) = self.classes.get(&tag) {
            return n.clone();
        }
        let name = match self.class_of(tag) {
            Some(k) => {
                let n = self.jvmti.class_signature(k).map(|s| signature_to_name(&s)).unwrap_or_default();
                self.env.delete_local(k);
                n
            }
            None => "<unknown class>".into(),
        };
        self.classes.insert(tag, name.clone());
        name
    }

    /// How the report names an object: a class as `class X`, a loader by its class, anything
    /// else by its class.
    fn describe(&mut self, object: jlong, class_tag: jlong) -> String {
        match tag_kind(object) {
            TAG_CLASS | TAG_ARRAY_CLASS => format!("class {}", self.class_name(object)),
            TAG_LOADER => self
                .loaders
                .get(&tag_loader(object))
                .map(|l| l.class.clone())
                .unwrap_or_else(|| "<class loader>".into()),
            _ if class_tag != 0 => self.class_name(class_tag),
            _ => "<object>".into(),
        }
    }

    fn loader_of(object: jlong, class_tag: jlong) -> Option<u32> {
        match tag_kind(object) {
            TAG_CLASS | TAG_LOADER => Some(tag_loader(object)),
            _ if tag_kind(class_tag) == TAG_CLASS || tag_kind(class_tag) == TAG_ARRAY_CLASS => Some(tag_loader(class_tag)),
            _ => None,
        }
    }

    /// Field names in heap-walk index order for the class with this tag: the JVMTI rule is the
    /// fields of every implemented interface first (counted, `n`), then the fields of
    /// java.lang.Object down to the class itself, each class in GetClassFields order; for an
    /// interface, its superinterfaces' fields are counted and its own follow.
    fn field_table(&mut self, class_tag: jlong) -> Option<&(usize, Vec<String>)> {
        if !self.fields.contains_key(&class_tag) {
            let k = self.class_of(class_tag)?;
            let table = field_table(self.jvmti, self.env, k);
            self.env.delete_local(k);
            self.fields.insert(class_tag, table);
        }
        self.fields.get(&class_tag)
    }

    fn field_name(&mut self, class_tag: jlong, index: i32) -> String {
        match self.field_table(class_tag) {
            Some((n, names)) => index
                .checked_sub(*n as i32)
                .and_then(|i| names.get(i as usize))
                .cloned()
                .unwrap_or_else(|| format!("<field {index}>")),
            None => format!("<field {index}>"),
        }
    }

    /// Tags array classes so chains can name them, and returns, for every loaded subclass of
    /// java.lang.ref.Reference, the heap-walk index of `referent`.
    fn prepare_classes(&mut self, tracker: &ClassTracker) -> HashMap<jlong, i32> {
        let mut out = HashMap::new();
        let reference = self.env.find_class(c"java/lang/ref/Reference");
        if reference.is_null() {
            return out;
        }
        let Ok(all) = self.jvmti.loaded_classes() else { return out };
        for k in all {
            if self.jvmti.tag(k) == Ok(0) {
                let _ = tracker.tag_array_class(self.jvmti, self.env, k);
            }
            if self.env.is_assignable_from(k, reference) {
                if let Ok(tag) = self.jvmti.tag(k) {
                    let (n, names) = field_table(self.jvmti, self.env, k);
                    if let Some(pos) = names.iter().position(|f| f == "referent") {
                        out.insert(tag, (n + pos) as i32);
                    }
                }
            }
            self.env.delete_local(k);
        }
        self.env.delete_local(reference);
        out
    }

    fn method_name(&self, method: usize) -> String {
        let m = method as jni::sys::jmethodID;
        let name = self.jvmti.method_name(m).unwrap_or_default();
        let class = self
            .jvmti
            .method_declaring_class(m)
            .ok()
            .map(|k| {
                let n = self.jvmti.class_signature(k).map(|s| signature_to_name(&s)).unwrap_or_default();
                self.env.delete_local(k);
                n
            })
            .unwrap_or_default();
        format!("{class}.{name}")
    }

    fn render(&mut self, raw: &[RawHop], root_thread: Option<&String>) -> Vec<PathHop> {
        let mut out: Vec<PathHop> = Vec::new();
        let mut i = 0;
        while i < raw.len() {
            let h = &raw[i];
            let to = self.describe(h.to, h.to_class);
            let to_loader = Self::loader_of(h.to, h.to_class);
            if i == 0 {
                // A system class root followed by one of its static fields reads as the field.
                if h.kind == JVMTI_HEAP_REFERENCE_SYSTEM_CLASS {
                    if let Some(next) = raw.get(1).filter(|n| n.kind == JVMTI_HEAP_REFERENCE_STATIC_FIELD) {
                        let from = self.class_name(h.to);
                        let field = self.field_name(h.to, next.index);
                        let to = self.describe(next.to, next.to_class);
                        out.push(PathHop { from, field, kind: "static_field".into(), to, to_loader: Self::loader_of(next.to, next.to_class) });
                        i += 2;
                        continue;
                    }
                }
                let (from, kind) = match h.kind {
                    JVMTI_HEAP_REFERENCE_SYSTEM_CLASS => ("<system class>".to_string(), "system_class"),
                    JVMTI_HEAP_REFERENCE_THREAD => (
                        format!("<thread \"{}\">", root_thread.map(String::as_str).unwrap_or("?")),
                        "thread",
                    ),
                    JVMTI_HEAP_REFERENCE_STACK_LOCAL => (
                        format!("<local variable in {} (thread id {})>", self.method_name(h.method), h.thread_id),
                        "stack_local",
                    ),
                    JVMTI_HEAP_REFERENCE_JNI_LOCAL => (
                        format!("<JNI local in {} (thread id {})>", self.method_name(h.method), h.thread_id),
                        "jni_local",
                    ),
                    JVMTI_HEAP_REFERENCE_JNI_GLOBAL => ("<JNI global reference>".to_string(), "jni_global"),
                    JVMTI_HEAP_REFERENCE_MONITOR => ("<monitor>".to_string(), "monitor"),
                    _ => ("<VM internal root>".to_string(), "other"),
                };
                out.push(PathHop { from, field: String::new(), kind: kind.into(), to, to_loader });
                i += 1;
                continue;
            }
            // A static field belongs to a class: name the class itself, as `X.field`.
            let from = if h.kind == JVMTI_HEAP_REFERENCE_STATIC_FIELD {
                self.class_name(h.from)
            } else {
                self.describe(h.from, h.from_class)
            };
            let (kind, field) = match h.kind {
                JVMTI_HEAP_REFERENCE_FIELD => ("field", self.field_name(h.from_class, h.index)),
                JVMTI_HEAP_REFERENCE_STATIC_FIELD => ("static_field", self.field_name(h.from, h.index)),
                JVMTI_HEAP_REFERENCE_ARRAY_ELEMENT => ("array_element", format!("[{}]", h.index)),
                JVMTI_HEAP_REFERENCE_CLASS => ("class", String::new()),
                JVMTI_HEAP_REFERENCE_CLASS_LOADER => ("class_loader", String::new()),
                JVMTI_HEAP_REFERENCE_CONSTANT_POOL => ("constant_pool", format!("#{}", h.index)),
                JVMTI_HEAP_REFERENCE_PROTECTION_DOMAIN => ("protection_domain", String::new()),
                JVMTI_HEAP_REFERENCE_SIGNERS => ("signers", String::new()),
                JVMTI_HEAP_REFERENCE_INTERFACE => ("interface", String::new()),
                JVMTI_HEAP_REFERENCE_SUPERCLASS => ("superclass", String::new()),
                _ => ("other", String::new()),
            };
            out.push(PathHop { from, field, kind: kind.into(), to, to_loader });
            i += 1;
        }
        out
    }
}

fn field_table(jvmti: &Jvmti, env: &Env, k: jclass) -> (usize, Vec<String>) {
    let names_of = |c: jclass| -> Vec<String> {
        jvmti
            .class_fields(c)
            .unwrap_or_default()
            .into_iter()
            .map(|f| jvmti.field_name(c, f).unwrap_or_default())
            .collect()
    };
    // Every interface reachable from the class (or, for an interface, its superinterfaces).
    let mut interface_fields = 0usize;
    let mut seen: HashSet<jlong> = HashSet::new();
    let mut stack: Vec<jclass> = Vec::new();
    let is_interface = jvmti.is_interface(k);
    let mut chain: Vec<jclass> = Vec::new();
    if is_interface {
        stack.extend(jvmti.implemented_interfaces(k).unwrap_or_default());
    } else {
        let mut c = env.superclass(k);
        chain.push(k);
        while !c.is_null() {
            chain.push(c);
            c = env.superclass(c);
        }
        for &c in &chain {
            stack.extend(jvmti.implemented_interfaces(c).unwrap_or_default());
        }
    }
    while let Some(i) = stack.pop() {
        let tag = jvmti.tag(i).unwrap_or(0);
        let key = if tag != 0 { tag } else { i as usize as jlong };
        if seen.insert(key) {
            interface_fields += jvmti.class_fields(i).map(|f| f.len()).unwrap_or(0);
            stack.extend(jvmti.implemented_interfaces(i).unwrap_or_default());
        }
    }
    let mut names = Vec::new();
    if is_interface {
        names = names_of(k);
    } else {
        for &c in chain.iter().rev() {
            names.extend(names_of(c));
        }
        for &c in chain.iter().skip(1) {
            env.delete_local(c);
        }
    }
    (interface_fields, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("app-gen-*", "app-gen-12"));
        assert!(glob("*WebappClassLoader*", "org.apache.catalina.loader.ParallelWebappClassLoader"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(!glob("app", "app-gen-1"));
        assert!(glob("*", ""));
    }

    #[test]
    fn what_makes_a_suspect() {
        let base = Loader { id: 5, class: "java.net.URLClassLoader".into(), role: "other".into(), alive: true, ..Loader::default() };
        assert!(reasons(&base, &[]).is_empty());
        let l = Loader { superseded_by: Some(6), closed: Some(true), ..base.clone() };
        assert_eq!(reasons(&l, &[]), ["superseded", "closed"]);
        let dead = Loader { alive: false, ..l.clone() };
        assert!(reasons(&dead, &[]).is_empty(), "dead loaders are never suspects");
        let tomcat = Loader { state: Some("DESTROYED".into()), ..base.clone() };
        assert_eq!(reasons(&tomcat, &[]), ["container_stopped"]);
        let running = Loader { state: Some("STARTED".into()), ..base.clone() };
        assert!(reasons(&running, &[]).is_empty());
        let named = Loader { name: Some("plugin-3".into()), ..base.clone() };
        assert_eq!(reasons(&named, &["plugin-*".into()]), ["pattern"]);
        let app = Loader { role: "application".into(), closed: Some(true), ..base };
        assert!(reasons(&app, &[]).is_empty(), "the JDK's own loaders are never suspects");
    }
}
