//! The `class_loaders` section, built on the report thread: the live classes (GetLoadedClasses),
//! what the live loaders say of themselves (JNI), then one row per loader from the tracker's map.
//! JNI and JVMTI calls run with no tracker lock held; the map is read and written between them.

use super::{tag_loader, ClassTracker, LoaderRec, Resolved, StaticFacts, BOOTSTRAP, TAG_CLASS, TAG_KIND_MASK, TAG_LAZY};
use crate::core::budget::Budget;
use crate::ffi::jni::{Env, Local, WeakGlobal};
use crate::ffi::jvmti::{signature_to_name, Jvmti};
use crate::loaders::generations::{generations, name_hash};
use crate::loaders::labels::{label_loaders, tomcat_context_path};
use jni::sys::jobject;
use leakagent_report::model::{ClassLoaders, DuplicateClass, Loader, LoaderRole};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

/// The live classes at this report.
#[derive(Default)]
struct LiveClasses {
    /// Live classes per loader id.
    per_loader: HashMap<u32, u64>,
    /// The loaders that define each class name, by name.
    by_name: BTreeMap<String, Vec<u32>>,
    /// Hashes of the names each loader but the bootstrap defines (for generations).
    hashes: HashMap<u32, Vec<u64>>,
}

/// What the live loaders said of themselves at this report.
#[derive(Default)]
struct Sightings {
    /// Loaders whose weak reference no longer upgrades.
    dead: Vec<u32>,
    dynamic: HashMap<u32, DynamicFacts>,
    /// Static facts learned for the first time, and Tomcat context paths newly known.
    learned: Vec<(u32, StaticFacts)>,
    labels: Vec<(u32, String)>,
    /// Loaders first seen by this report whose facts were not asked for: no time was left.
    not_asked: usize,
}

/// What can change about a live loader.
#[derive(Default)]
struct DynamicFacts {
    /// Whether a URLClassLoader was closed.
    closed: Option<bool>,
    /// A container's lifecycle state for it (Tomcat's `getState()`).
    state: Option<String>,
}

impl ClassTracker {
    /// Builds the `class_loaders` section. Runs on the report thread. Asking loaders first seen
    /// what they are (Java calls, ~1 ms each under load) stops when `budget` says so, and what
    /// was left unasked is added to `skipped`.
    pub fn snapshot(&self, jvmti: &Jvmti, env: &Env, budget: &Budget, skipped: &mut Vec<String>) -> ClassLoaders {
        env.with_local_frame(self.local_capacity(), || self.snapshot_inner(jvmti, env, budget, skipped))
    }

    fn snapshot_inner(&self, jvmti: &Jvmti, env: &Env, budget: &Budget, skipped: &mut Vec<String>) -> ClassLoaders {
        crate::reporting::progress::step("class loaders: loaded classes");
        let classes = self.live_classes(jvmti, env);
        crate::reporting::progress::step("class loaders: asking each loader");
        let seen = self.look_at_loaders(jvmti, env, budget);
        if seen.not_asked > 0 {
            skipped.push(format!(
                "what {} class loader(s) first seen at this report are (URLs, code source, container label): {}; \
                 raise exit_timeout",
                seen.not_asked,
                budget.stop_reason()
            ));
        }
        crate::reporting::progress::step("class loaders: the dead");
        self.remember(&classes, seen.learned, seen.labels);
        self.bury(env, &seen.dead);
        self.prune_dead(env);
        crate::reporting::progress::step("class loaders: rows");

        let mut out = ClassLoaders {
            classes_loaded: self.loaded.load(Relaxed),
            classes_prepared: self.prepared.load(Relaxed),
            class_unload_events: self.unload_events_enabled.load(Relaxed).then(|| self.unload_events.load(Relaxed)),
            ..ClassLoaders::default()
        };
        let (names, mut unloaded_total) = self.rows(&mut out, &classes.per_loader, &seen.dynamic);
        {
            let d = self.dropped.lock();
            out.loaders_dead += d.loaders;
            unloaded_total += d.classes_unloaded;
            out.dead_loaders_summarized = d.by_class.values().cloned().collect();
        }
        out.loaders.sort_by_key(|l| l.id);
        label_loaders(&mut out.loaders);
        out.generations = generations(&mut out.loaders, &names);
        let freed = self.freed.load(Relaxed);
        let unloaded = unloaded_total.max(freed);
        out.classes_unloaded = self.unloaded_reported.fetch_max(unloaded, Relaxed).max(unloaded);
        out.unload_note = unload_note(out.class_unload_events, freed, out.classes_unloaded);
        out.classes_live = classes.per_loader.values().sum();
        out.duplicate_classes = duplicates(classes.by_name);
        out
    }

    /// Walks the loaded classes: live classes per loader and which loaders define each name.
    /// Counts the classes loaded and not linked (no ClassPrepare counted them) and tags the
    /// others not tagged yet lazily, so that the metaspace figures and the chain search after
    /// this snapshot can name them.
    fn live_classes(&self, jvmti: &Jvmti, env: &Env) -> LiveClasses {
        let mut c = LiveClasses::default();
        for k in jvmti.loaded_classes_in(env).unwrap_or_default().into_iter().map(|k| Local::new(env, k)) {
            let sig = jvmti.class_signature(k.raw()).unwrap_or_default();
            if sig.is_empty() || sig.starts_with('[') {
                continue;
            }
            let mut tag = jvmti.tag(k.raw()).unwrap_or(0);
            if tag == 0 || (tag & TAG_KIND_MASK == TAG_CLASS && tag & TAG_LAZY != 0) {
                tag = self.meet_class(jvmti, env, k.raw(), tag);
            }
            if tag & TAG_KIND_MASK != TAG_CLASS {
                continue;
            }
            let id = tag_loader(tag);
            *c.per_loader.entry(id).or_default() += 1;
            let name = signature_to_name(&sig);
            if id != BOOTSTRAP {
                c.hashes.entry(id).or_default().push(name_hash(&name));
            }
            let ids = c.by_name.entry(name).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        c
    }

    /// Notices the loaders that died (ObjectFree may not have arrived yet) and asks the live ones
    /// what they are. What is known of each is read under the lock; the JNI calls (the upgrade,
    /// the facts) run without it.
    fn look_at_loaders(&self, jvmti: &Jvmti, env: &Env, budget: &Budget) -> Sightings {
        let known: Vec<(u32, Arc<WeakGlobal>, Option<StaticFacts>, bool)> = self
            .lock_loaders()
            .iter()
            .filter_map(|(id, r)| Some((*id, r.weak.clone()?, r.facts.clone(), r.label.is_some())))
            .collect();
        let mut seen = Sightings::default();
        for (id, weak, known, labelled) in known {
            let Some(local) = weak.upgrade(env) else {
                seen.dead.push(id);
                continue;
            };
            let obj = local.raw();
            let facts = match known {
                Some(f) => f,
                // Not remembered: the next report asks again.
                None if budget.stop_now() => {
                    seen.not_asked += 1;
                    continue;
                }
                None => {
                    if crate::core::fault::injected("slow-loader-facts") {
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    let f = static_facts(jvmti, env, obj);
                    seen.learned.push((id, f.clone()));
                    f
                }
            };
            if facts.tomcat_loader && !labelled {
                if let Some(path) = tomcat_context_path(env, obj) {
                    seen.labels.push((id, path));
                }
            }
            seen.dynamic.insert(id, dynamic_facts(env, obj, &facts));
        }
        seen
    }

    /// Writes what this report learned into the map: facts, labels, the names a replacement
    /// will be recognised by, each loader's sample class. Pure Rust under the lock.
    fn remember(&self, classes: &LiveClasses, learned: Vec<(u32, StaticFacts)>, labels: Vec<(u32, String)>) {
        let mut map = self.lock_loaders();
        for (id, f) in learned {
            if let Some(rec) = map.get_mut(&id) {
                rec.facts = Some(f);
            }
        }
        for (id, l) in labels {
            if let Some(rec) = map.get_mut(&id) {
                rec.label = Some(l);
            }
        }
        // Names of the loaders that can have generations (named, or with URLs), kept so a
        // replacement can be recognised after they die; a script engine's anonymous loaders
        // never need them.
        let generational = |r: &LoaderRec| {
            r.resolved.as_ref().is_some_and(|x| x.role == LoaderRole::Other)
                && (r.resolved.as_ref().is_some_and(|x| x.name.is_some()) || r.facts.as_ref().is_some_and(|f| f.code_source.is_some()))
        };
        for (id, h) in &classes.hashes {
            if let Some(rec) = map.get_mut(id).filter(|r| generational(r)) {
                rec.names.extend(h.iter().copied());
            }
        }
        let mut sampled: HashSet<u32> = HashSet::new();
        for (name, ids) in &classes.by_name {
            for id in ids {
                if let Some(rec) = map.get_mut(id) {
                    // by_name is sorted: the first name seen for a loader is its smallest.
                    if sampled.insert(*id) {
                        rec.sample = Some(name.clone());
                    }
                }
            }
        }
    }

    /// One row per loader in the map into `out` (with the alive and dead counts); returns the
    /// class-name hashes generations compare, and the classes the rows count as unloaded.
    fn rows(&self, out: &mut ClassLoaders, live: &HashMap<u32, u64>, dynamic: &HashMap<u32, DynamicFacts>) -> (HashMap<u32, HashSet<u64>>, u64) {
        let map = self.lock_loaders();
        let mut unloaded_total = 0;
        for (id, rec) in map.iter() {
            let row = row(*id, rec, live.get(id).copied().unwrap_or(0), dynamic.get(id));
            unloaded_total += row.classes_unloaded;
            if row.alive {
                out.loaders_alive += 1;
            } else {
                out.loaders_dead += 1;
            }
            out.loaders.push(row);
        }
        let names = map.iter().filter(|(_, r)| !r.names.is_empty()).map(|(id, r)| (*id, r.names.clone())).collect();
        (names, unloaded_total)
    }
}

/// A loader's row; `classes` is its live classes at this report.
fn row(id: u32, rec: &LoaderRec, classes: u64, dynamic: Option<&DynamicFacts>) -> Loader {
    let alive = id == BOOTSTRAP || rec.weak.is_some();
    let r = rec.resolved.clone().unwrap_or(Resolved { class: "<unknown>".into(), name: None, parent: None, role: LoaderRole::Other });
    Loader {
        id,
        class: r.class,
        name: r.name.clone(),
        role: r.role,
        parent: r.parent,
        classes,
        classes_defined: rec.counts.defined.load(Relaxed),
        // Classes die with their loader (no class of a dead loader is alive); a hidden class
        // may die before it: either way it is missing from the live classes.
        classes_unloaded: rec.counts.defined.load(Relaxed).saturating_sub(classes),
        alive,
        first_seen_ms: rec.first_seen_ms,
        died_ms: if alive { None } else { rec.died_ms },
        code_source: rec.facts.as_ref().and_then(|f| f.code_source.clone()),
        closed: dynamic.and_then(|d| d.closed),
        state: dynamic.and_then(|d| d.state.clone()),
        generation: None,
        superseded_by: None,
        label: rec.label.clone().or(r.name),
        sample_class: rec.sample.clone(),
        // Filled in by loaders::metaspace after the snapshot.
        metaspace_bytes: None,
        metaspace_used_bytes: None,
    }
}

/// Class names that more than one live loader defines.
fn duplicates(by_name: BTreeMap<String, Vec<u32>>) -> Vec<DuplicateClass> {
    by_name
        .into_iter()
        .filter(|(_, ids)| ids.len() > 1)
        .map(|(name, mut loaders)| {
            loaders.sort_unstable();
            DuplicateClass { name, loaders }
        })
        .collect()
}

/// What a loader is, learned once: its code source and which known loader family it belongs to.
fn static_facts(jvmti: &Jvmti, env: &Env, loader: jobject) -> StaticFacts {
    let mut f = StaticFacts::default();
    let mut cls = env.object_class(loader);
    while !cls.is_null() {
        match jvmti.class_signature(cls.raw()).as_deref() {
            Ok("Ljava/net/URLClassLoader;") => f.url_loader = true,
            Ok("Lorg/apache/catalina/loader/WebappClassLoaderBase;") => f.tomcat_loader = true,
            _ => {}
        }
        cls = env.superclass(cls.raw());
    }
    if f.url_loader {
        f.code_source = env.url_class_loader_urls(loader).filter(|u| !u.is_empty()).map(|u| u.join(" "));
    }
    f
}

/// What can change: whether a URLClassLoader was closed, a container's state for it.
fn dynamic_facts(env: &Env, loader: jobject, f: &StaticFacts) -> DynamicFacts {
    let closed = if f.url_loader {
        let mut ucp = env.object_field(loader, c"ucp", c"Ljdk/internal/loader/URLClassPath;");
        if ucp.is_null() {
            ucp = env.object_field(loader, c"ucp", c"Lsun/misc/URLClassPath;");
        }
        if ucp.is_null() { None } else { env.bool_field(ucp.raw(), c"closed") }
    } else {
        None
    };
    let state = if f.tomcat_loader {
        let st = env.call_object_method(loader, "getState", "()Lorg/apache/catalina/LifecycleState;");
        if st.is_null() { None } else { env.call_string_method(st.raw(), "name") }
    } else {
        None
    };
    DynamicFacts { closed, state }
}

/// Why the two unload counters differ: classes unloaded by the GC just before the report are
/// counted from their absence among the live classes, while the JVM delivers their events later
/// from its service thread, and not at all once it is shutting down.
fn unload_note(events: Option<u64>, object_free: u64, unloaded: u64) -> Option<String> {
    let events = events?;
    if events == unloaded {
        return None;
    }
    let seen = events.max(object_free).min(unloaded);
    Some(if events < unloaded {
        format!(
            "class_unload_events counts the ClassUnload events HotSpot has delivered so far ({events}); {} of the {unloaded} \
             classes_unloaded were found missing from the live classes after the GC this report ran, before the JVM \
             delivered their events (it posts them afterwards from its service thread, and not at all once it is \
             shutting down, as in an exit report)",
            unloaded - seen
        )
    } else {
        format!(
            "HotSpot delivered {events} ClassUnload events but the agent counts {unloaded} unloaded classes: the extra \
             events are for classes the agent never counted (array classes, hidden classes, classes loaded before \
             the agent started watching, classes loaded and never linked whose loader died before a report)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unload_counters_say_why_they_differ() {
        assert_eq!(unload_note(Some(40), 40, 40), None);
        assert_eq!(unload_note(None, 0, 1871), None, "no extension event: nothing to compare");
        let n = unload_note(Some(1), 0, 1871).unwrap();
        assert!(n.contains("1870 of the 1871") && n.contains("service thread"), "{n}");
        assert!(unload_note(Some(50), 40, 40).unwrap().contains("never counted"));
    }
}
