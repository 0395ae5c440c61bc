//! Class lifecycle: every class load and prepare, every class and loader death, live loaders with
//! their class, name, parent and number of classes, and class names defined by several loaders.
//!
//! Callbacks only record: they tag each `Class` with its loader's id and each loader with its own
//! id, so that ObjectFree says which loader lost a class and when a loader died. Names, parents
//! and per-loader counts are built on the report thread.

use crate::ffi::jni::{Env, Weak};
use crate::ffi::jvmti::{signature_to_name, Jvmti};
use leakagent_report::model::{ClassLoaders, DeadLoaderGroup, DuplicateClass, Generation, Loader};
use jni::sys::{jclass, jlong, jobject};
use parking_lot::Mutex;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

/// Tags carry their kind in the top byte so ObjectFree can tell classes, loaders and the tags of
/// other collectors apart. A class tag is `kind | class number << 32 | defining loader id`: unique
/// per class, so a heap walk's class tags name classes; a loader tag is `kind | loader id`.
pub const TAG_KIND_MASK: jlong = 0xff << 56;
pub const TAG_CLASS: jlong = 1 << 56;
pub const TAG_LOADER: jlong = 2 << 56;
/// Array classes get no ClassLoad event and are not counted; the chain search tags them with
/// this kind (same layout as a class tag) so chains can name them.
pub const TAG_ARRAY_CLASS: jlong = 5 << 56;

/// The loader id a class or loader tag carries.
pub fn tag_loader(tag: jlong) -> u32 {
    (tag & 0xffff_ffff) as u32
}

pub fn tag_kind(tag: jlong) -> jlong {
    tag & TAG_KIND_MASK
}

fn class_tag(seq: u64, loader: u32) -> jlong {
    TAG_CLASS | (((seq & 0xff_ffff) as jlong) << 32) | loader as jlong
}

impl ClassTracker {
    /// Tags an untagged array class (its loader is the element type's); returns its tag.
    pub fn tag_array_class(&self, jvmti: &Jvmti, env: &Env, klass: jclass) -> Option<jlong> {
        let loader = jvmti.class_loader(klass).ok()?;
        let id = self.loader_id(jvmti, env, loader);
        env.delete_local(loader);
        let seq = self.next_class.fetch_add(1, Relaxed);
        let tag = TAG_ARRAY_CLASS | (((seq & 0xff_ffff) as jlong) << 32) | id? as jlong;
        jvmti.set_tag(klass, tag).ok()?;
        Some(tag)
    }
}

const BOOTSTRAP: u32 = 0;

#[derive(Default)]
struct LoaderRec {
    weak: Option<Weak>,
    first_seen_ms: u64,
    died_ms: Option<u64>,
    defined: u64,
    freed: u64,
    /// Filled when first seen; these never change for a loader.
    resolved: Option<Resolved>,
    /// Learned on the report thread the first time the loader is seen alive there.
    facts: Option<StaticFacts>,
}

#[derive(Clone, Default)]
struct StaticFacts {
    code_source: Option<String>,
    url_loader: bool,
    tomcat_loader: bool,
}

#[derive(Clone)]
struct Resolved {
    class: String,
    name: Option<String>,
    parent: Option<u32>,
    role: &'static str,
}

pub struct ClassTracker {
    start: Instant,
    loaders: Mutex<HashMap<u32, LoaderRec>>,
    /// Dead loaders kept one by one; older ones are folded into `dropped`.
    max_dead: usize,
    dropped: Mutex<Dropped>,
    /// Held while weak references copied out of `loaders` are in use, so that pruning never
    /// deletes one another thread is about to upgrade.
    weak_use: Mutex<()>,
    /// Serialises only the rare first sighting of a loader, so that it gets one id.
    register: Mutex<()>,
    next_id: AtomicU32,
    next_class: AtomicU64,
    loaded: AtomicU64,
    prepared: AtomicU64,
    freed: AtomicU64,
    unload_events: AtomicU64,
    unload_events_enabled: std::sync::atomic::AtomicBool,
}

/// Dead loaders no longer kept one by one, by loader class.
#[derive(Default)]
struct Dropped {
    by_class: BTreeMap<String, DeadLoaderGroup>,
    loaders: u64,
    classes_unloaded: u64,
}

impl ClassTracker {
    pub fn new(max_dead: usize) -> ClassTracker {
        let mut map = HashMap::new();
        map.insert(BOOTSTRAP, LoaderRec {
            resolved: Some(Resolved { class: "<bootstrap>".into(), name: None, parent: None, role: "bootstrap" }),
            ..LoaderRec::default()
        });
        ClassTracker {
            start: Instant::now(),
            loaders: Mutex::new(map),
            max_dead,
            dropped: Mutex::new(Dropped::default()),
            weak_use: Mutex::new(()),
            register: Mutex::new(()),
            next_id: AtomicU32::new(1),
            next_class: AtomicU64::new(1),
            loaded: AtomicU64::new(0),
            prepared: AtomicU64::new(0),
            freed: AtomicU64::new(0),
            unload_events: AtomicU64::new(0),
            unload_events_enabled: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// The id of `loader` (null: bootstrap), tagging and recording it on first sight.
    fn loader_id(&self, jvmti: &Jvmti, env: &Env, loader: jobject) -> Option<u32> {
        if loader.is_null() {
            return Some(BOOTSTRAP);
        }
        let tag = jvmti.tag(loader).ok()?;
        if tag & TAG_KIND_MASK == TAG_LOADER {
            return Some(tag_loader(tag));
        }
        let _once = self.register.lock();
        let tag = jvmti.tag(loader).ok()?;
        if tag & TAG_KIND_MASK == TAG_LOADER {
            return Some(tag_loader(tag));
        }
        let id = self.next_id.fetch_add(1, Relaxed);
        jvmti.set_tag(loader, TAG_LOADER | id as jlong).ok()?;
        // Identity is taken now: a loader may die before any report is written.
        let cls = env.object_class(loader);
        let class = jvmti.class_signature(cls).map(|s| signature_to_name(&s)).unwrap_or_default();
        env.delete_local(cls);
        let (name, parent_obj) = env.loader_name_and_parent(loader);
        let rec = LoaderRec {
            weak: env.new_weak(loader),
            first_seen_ms: self.now_ms(),
            resolved: Some(Resolved { role: role_of(&class), class, name, parent: None }),
            ..LoaderRec::default()
        };
        self.loaders.lock().insert(id, rec);
        drop(_once);
        let parent = self.loader_id(jvmti, env, parent_obj);
        env.delete_local(parent_obj);
        if let Some(r) = self.loaders.lock().get_mut(&id).and_then(|r| r.resolved.as_mut()) {
            r.parent = parent;
        }
        Some(id)
    }

    /// Tags `klass` with its defining loader and counts it; returns false when it was known.
    fn register_class(&self, jvmti: &Jvmti, env: &Env, klass: jclass) -> bool {
        if jvmti.tag(klass).map(|t| t != 0).unwrap_or(true) {
            return false;
        }
        let Ok(loader) = jvmti.class_loader(klass) else { return false };
        let id = self.loader_id(jvmti, env, loader);
        env.delete_local(loader);
        let Some(id) = id else { return false };
        if jvmti.set_tag(klass, class_tag(self.next_class.fetch_add(1, Relaxed), id)).is_err() {
            return false;
        }
        if let Some(rec) = self.loaders.lock().get_mut(&id) {
            rec.defined += 1;
        }
        true
    }

    /// ClassLoad callback.
    pub fn on_class_load(&self, jvmti: &Jvmti, env: &Env, klass: jclass) {
        if self.register_class(jvmti, env, klass) {
            self.loaded.fetch_add(1, Relaxed);
        }
    }

    /// ClassPrepare callback.
    pub fn on_class_prepare(&self) {
        self.prepared.fetch_add(1, Relaxed);
    }

    /// Registers the classes loaded before the agent could see ClassLoad events (VMInit, attach).
    pub fn register_loaded(&self, jvmti: &Jvmti, env: &Env) -> usize {
        let mut n = 0;
        env.with_local_frame(self.local_capacity(), || {
            if let Ok(classes) = jvmti.loaded_classes() {
                for k in classes {
                    let is_array = jvmti.class_signature(k).map(|s| s.starts_with('[')).unwrap_or(true);
                    if !is_array && self.register_class(jvmti, env, k) {
                        n += 1;
                    }
                    env.delete_local(k);
                }
            }
        });
        self.loaded.fetch_add(n as u64, Relaxed);
        n
    }

    /// ObjectFree callback (no JNI allowed here). Returns false for tags of other collectors.
    pub fn on_object_free(&self, tag: jlong) -> bool {
        let id = tag_loader(tag);
        match tag_kind(tag) {
            TAG_CLASS => {
                self.freed.fetch_add(1, Relaxed);
                if let Some(rec) = self.loaders.lock().get_mut(&id) {
                    rec.freed += 1;
                }
                true
            }
            TAG_LOADER => {
                let now = self.now_ms();
                if let Some(rec) = self.loaders.lock().get_mut(&id) {
                    rec.died_ms.get_or_insert(now);
                }
                true
            }
            _ => false,
        }
    }

    /// Cheap counts for the sampler: (classes loaded, loaded minus freed, loaders alive).
    pub fn counts(&self) -> (u64, u64, u64) {
        let loaded = self.loaded.load(Relaxed);
        let live = loaded.saturating_sub(self.freed.load(Relaxed));
        let alive = self
            .loaders
            .lock()
            .iter()
            .filter(|(id, r)| **id == BOOTSTRAP || (r.weak.is_some() && r.died_ms.is_none()))
            .count() as u64;
        (loaded, live, alive)
    }

    /// Local references to every loader still alive, with its id (the caller deletes them).
    pub fn alive_loaders(&self, env: &Env) -> Vec<(u32, jobject)> {
        let _in_use = self.weak_use.lock();
        let weak: Vec<(u32, Weak)> = self.loaders.lock().iter().filter_map(|(id, r)| r.weak.map(|w| (*id, w))).collect();
        weak.into_iter()
            .filter_map(|(id, w)| {
                let o = env.upgrade(w);
                (!o.is_null()).then_some((id, o))
            })
            .collect()
    }

    /// Keeps at most `max_dead` dead loaders one by one: older ones (by time of death) are
    /// summarised by class, so reflection and script loaders that churn for weeks cost a bounded
    /// amount. Runs on the sampler and report threads.
    pub fn prune_dead(&self, env: &Env) {
        let _in_use = self.weak_use.lock();
        let mut map = self.loaders.lock();
        if map.len() <= self.max_dead + 64 {
            return;
        }
        let mut dead: Vec<(u64, u32)> =
            map.iter().filter(|(id, r)| **id != BOOTSTRAP && r.died_ms.is_some()).map(|(id, r)| (r.died_ms.unwrap_or(0), *id)).collect();
        if dead.len() <= self.max_dead {
            return;
        }
        dead.sort_unstable();
        let excess = dead.len() - self.max_dead;
        let mut dropped = self.dropped.lock();
        for &(_, id) in &dead[..excess] {
            let Some(rec) = map.remove(&id) else { continue };
            if let Some(w) = rec.weak {
                env.delete_weak(w);
            }
            let class = rec.resolved.map(|r| r.class).unwrap_or_else(|| "<unknown>".into());
            let unloaded = rec.freed.max(rec.defined);
            let g = dropped.by_class.entry(class.clone()).or_insert_with(|| DeadLoaderGroup { class, ..DeadLoaderGroup::default() });
            g.loaders += 1;
            g.classes_defined += rec.defined;
            dropped.loaders += 1;
            dropped.classes_unloaded += unloaded;
        }
    }

    /// HotSpot's ClassUnload extension event.
    pub fn on_class_unload_event(&self) {
        self.unload_events.fetch_add(1, Relaxed);
    }

    pub fn set_unload_events_enabled(&self) {
        self.unload_events_enabled.store(true, Relaxed);
    }

    /// Builds the `class_loaders` section. Runs on the report thread.
    pub fn snapshot(&self, jvmti: &Jvmti, env: &Env) -> ClassLoaders {
        env.with_local_frame(self.local_capacity(), || self.snapshot_inner(jvmti, env))
    }

    /// Local references GetLoadedClasses will hand out at once: every live class plus arrays.
    fn local_capacity(&self) -> i32 {
        let live = self.loaded.load(Relaxed).saturating_sub(self.freed.load(Relaxed));
        (live * 3 / 2 + 4096).min(i32::MAX as u64 / 2) as i32
    }

    fn snapshot_inner(&self, jvmti: &Jvmti, env: &Env) -> ClassLoaders {
        // Live classes per loader, and which loaders define each class name.
        let mut live: HashMap<u32, u64> = HashMap::new();
        let mut by_name: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        let mut late = 0u64;
        if let Ok(classes) = jvmti.loaded_classes() {
            for k in classes {
                let sig = jvmti.class_signature(k).unwrap_or_default();
                if !sig.is_empty() && !sig.starts_with('[') {
                    if self.register_class(jvmti, env, k) {
                        late += 1;
                    }
                    let tag = jvmti.tag(k).unwrap_or(0);
                    if tag & TAG_KIND_MASK == TAG_CLASS {
                        let id = tag_loader(tag);
                        *live.entry(id).or_default() += 1;
                        let ids = by_name.entry(signature_to_name(&sig)).or_default();
                        if !ids.contains(&id) {
                            ids.push(id);
                        }
                    }
                }
                env.delete_local(k);
            }
        }
        self.loaded.fetch_add(late, Relaxed);

        // Notice the loaders that died (ObjectFree may not have arrived yet) and drop their
        // weak references.
        let in_use = self.weak_use.lock();
        let alive: Vec<(u32, Weak)> =
            self.loaders.lock().iter().filter_map(|(id, r)| r.weak.map(|w| (*id, w))).collect();
        let mut dead = Vec::new();
        let mut dynamic: HashMap<u32, (Option<bool>, Option<String>)> = HashMap::new();
        let mut learned: Vec<(u32, StaticFacts)> = Vec::new();
        for (id, w) in alive {
            let obj = env.upgrade(w);
            if obj.is_null() {
                dead.push((id, w));
                continue;
            }
            let known = self.loaders.lock().get(&id).and_then(|r| r.facts.clone());
            let facts = known.unwrap_or_else(|| {
                let f = static_facts(jvmti, env, obj);
                learned.push((id, f.clone()));
                f
            });
            dynamic.insert(id, dynamic_facts(env, obj, &facts));
            env.delete_local(obj);
        }
        let now = self.now_ms();
        {
            let mut map = self.loaders.lock();
            for (id, f) in learned {
                if let Some(rec) = map.get_mut(&id) {
                    rec.facts = Some(f);
                }
            }
            for (id, _) in &dead {
                if let Some(rec) = map.get_mut(id) {
                    rec.weak = None;
                    rec.died_ms.get_or_insert(now);
                }
            }
        }
        for (_, w) in dead {
            env.delete_weak(w);
        }
        drop(in_use);
        self.prune_dead(env);

        let mut out = ClassLoaders {
            classes_loaded: self.loaded.load(Relaxed),
            classes_prepared: self.prepared.load(Relaxed),
            class_unload_events: self.unload_events_enabled.load(Relaxed).then(|| self.unload_events.load(Relaxed)),
            ..ClassLoaders::default()
        };
        let map = self.loaders.lock();
        let mut unloaded_total = 0;
        for (id, rec) in map.iter() {
            let alive = *id == BOOTSTRAP || rec.weak.is_some();
            let classes = live.get(id).copied().unwrap_or(0);
            // ObjectFree may still be in flight after a GC; a class missing from the live set is
            // unloaded either way.
            let unloaded = rec.freed.max(rec.defined.saturating_sub(classes));
            unloaded_total += unloaded;
            let r = rec.resolved.clone().unwrap_or(Resolved {
                class: "<unknown>".into(),
                name: None,
                parent: None,
                role: "other",
            });
            out.loaders.push(Loader {
                id: *id,
                class: r.class,
                name: r.name,
                role: r.role.into(),
                parent: r.parent,
                classes,
                classes_defined: rec.defined,
                classes_unloaded: unloaded,
                alive,
                first_seen_ms: rec.first_seen_ms,
                died_ms: if alive { None } else { rec.died_ms },
                code_source: rec.facts.as_ref().and_then(|f| f.code_source.clone()),
                closed: dynamic.get(id).and_then(|d| d.0),
                state: dynamic.get(id).and_then(|d| d.1.clone()),
                generation: None,
                superseded_by: None,
            });
            if alive {
                out.loaders_alive += 1;
            } else {
                out.loaders_dead += 1;
            }
        }
        drop(map);
        {
            let d = self.dropped.lock();
            out.loaders_dead += d.loaders;
            unloaded_total += d.classes_unloaded;
            out.dead_loaders_summarized = d.by_class.values().cloned().collect();
        }
        out.loaders.sort_by_key(|l| l.id);
        out.generations = generations(&mut out.loaders);
        out.classes_unloaded = unloaded_total.max(self.freed.load(Relaxed));
        out.classes_live = live.values().sum();
        out.duplicate_classes = by_name
            .into_iter()
            .filter(|(_, ids)| ids.len() > 1)
            .map(|(name, mut loaders)| {
                loaders.sort_unstable();
                DuplicateClass { name, loaders }
            })
            .collect();
        out
    }
}

/// What a loader is, learned once: its code source and which known loader family it belongs to.
fn static_facts(jvmti: &Jvmti, env: &Env, loader: jobject) -> StaticFacts {
    let mut f = StaticFacts::default();
    let mut cls = env.object_class(loader);
    while !cls.is_null() {
        match jvmti.class_signature(cls).as_deref() {
            Ok("Ljava/net/URLClassLoader;") => f.url_loader = true,
            Ok("Lorg/apache/catalina/loader/WebappClassLoaderBase;") => f.tomcat_loader = true,
            _ => {}
        }
        let sup = env.superclass(cls);
        env.delete_local(cls);
        cls = sup;
    }
    if f.url_loader {
        f.code_source = env.url_class_loader_urls(loader).filter(|u| !u.is_empty()).map(|u| u.join(" "));
    }
    f
}

/// What can change: whether a URLClassLoader was closed, a container's state for it.
fn dynamic_facts(env: &Env, loader: jobject, f: &StaticFacts) -> (Option<bool>, Option<String>) {
    let closed = if f.url_loader {
        let mut ucp = env.object_field(loader, c"ucp", c"Ljdk/internal/loader/URLClassPath;");
        if ucp.is_null() {
            ucp = env.object_field(loader, c"ucp", c"Lsun/misc/URLClassPath;");
        }
        let c = if ucp.is_null() { None } else { env.bool_field(ucp, c"closed") };
        env.delete_local(ucp);
        c
    } else {
        None
    };
    let state = if f.tomcat_loader {
        let st = env.call_object_method(loader, "getState", "()Lorg/apache/catalina/LifecycleState;");
        let name = if st.is_null() { None } else { env.call_string_method(st, "name") };
        env.delete_local(st);
        name
    } else {
        None
    };
    (closed, state)
}

/// The key loaders of one application's successive deployments share: class and name without
/// its trailing number (read when the loader is first seen, so dead loaders have it too), else
/// class and code source. Loaders with neither have no generations.
pub fn generation_key(l: &Loader) -> Option<String> {
    if l.role != "other" {
        return None;
    }
    if let Some(name) = l.name.as_deref() {
        let stem = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_' || c == '#' || c == '.');
        let stem = if stem.is_empty() { name } else { stem };
        return Some(format!("{}|{stem}", l.class));
    }
    l.code_source.as_ref().map(|cs| format!("{}|{cs}", l.class))
}

/// Groups loaders into generations (oldest first by id, which follows first sight) and marks
/// each with its ordinal and the loader that replaced it.
pub fn generations(loaders: &mut [Loader]) -> Vec<Generation> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, l) in loaders.iter().enumerate() {
        if let Some(k) = generation_key(l) {
            groups.entry(k).or_default().push(i);
        }
    }
    let mut out = Vec::new();
    for (key, mut idx) in groups {
        if idx.len() < 2 {
            continue;
        }
        idx.sort_by_key(|&i| loaders[i].id);
        for (n, &i) in idx.iter().enumerate() {
            loaders[i].generation = Some(n as u32 + 1);
            loaders[i].superseded_by = idx.get(n + 1).map(|&j| loaders[j].id);
        }
        out.push(Generation {
            key,
            loader_class: loaders[idx[0]].class.clone(),
            loaders: idx.iter().map(|&i| loaders[i].id).collect(),
            current: loaders[*idx.last().unwrap()].id,
            alive: idx.iter().filter(|&&i| loaders[i].alive).count() as u32,
        });
    }
    out
}

/// The role of the JDK's own loaders, from their class (JDK 9+ and JDK 8 names).
fn role_of(class: &str) -> &'static str {
    match class {
        "jdk.internal.loader.ClassLoaders$AppClassLoader" | "sun.misc.Launcher$AppClassLoader" => "application",
        "jdk.internal.loader.ClassLoaders$PlatformClassLoader" | "sun.misc.Launcher$ExtClassLoader" => "platform",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loader(id: u32, class: &str, name: Option<&str>, cs: Option<&str>, alive: bool) -> Loader {
        Loader {
            id,
            class: class.into(),
            name: name.map(Into::into),
            role: "other".into(),
            code_source: cs.map(Into::into),
            alive,
            ..Loader::default()
        }
    }

    #[test]
    fn generations_by_code_source_then_name_stem() {
        let mut ls = vec![
            loader(3, "java.net.URLClassLoader", Some("app-gen-1"), Some("file:/a.jar"), true),
            loader(4, "java.net.URLClassLoader", Some("app-gen-2"), Some("file:/a.jar"), false),
            loader(5, "java.net.URLClassLoader", Some("app-gen-3"), Some("file:/a.jar"), true),
            loader(6, "java.net.URLClassLoader", Some("other"), Some("file:/a.jar"), true),
            loader(11, "java.net.URLClassLoader", None, Some("file:/c.jar"), true),
            loader(12, "java.net.URLClassLoader", None, Some("file:/c.jar"), true),
            loader(7, "org.x.WebLoader", Some("shop-1"), None, true),
            loader(8, "org.x.WebLoader", Some("shop-2"), None, true),
            loader(9, "jdk.internal.reflect.DelegatingClassLoader", None, None, true),
            loader(10, "jdk.internal.reflect.DelegatingClassLoader", None, None, true),
        ];
        let g = generations(&mut ls);
        assert_eq!(g.len(), 3, "{g:?}");
        assert_eq!(g[0].loaders, [3, 4, 5]);
        assert_eq!(g[0].current, 5);
        assert_eq!(g[0].alive, 2);
        assert_eq!(g[1].loaders, [11, 12], "no name: by code source");
        assert_eq!(g[2].loaders, [7, 8]);
        assert_eq!(ls[0].generation, Some(1));
        assert_eq!(ls[0].superseded_by, Some(4));
        assert_eq!(ls[2].superseded_by, None);
        assert_eq!(ls[3].generation, None);
        assert_eq!(ls[8].generation, None, "anonymous loaders have no generations");
    }
}
