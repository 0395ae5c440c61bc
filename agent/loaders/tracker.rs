//! Class lifecycle: every class load and prepare, every class and loader death, live loaders with
//! their class, name, parent and number of classes, and class names defined by several loaders.
//!
//! Callbacks only record: ClassPrepare, posted once per class when it is linked, counts the class
//! for its defining loader without tagging it; ClassLoad only registers the class's loader on
//! first sight (ids order generations), tagging it with its own id, so that ObjectFree says when a
//! loader died, and with it all of its classes. ClassLoad counts nothing: HotSpot posts it again
//! for each new initiating loader of a class, and only a tag set on every class could tell those
//! apart (that tag was about half the agent's cost per class).
//! A class loaded and not linked gets no ClassPrepare (it may never be linked): the report's pass
//! over the loaded classes counts it, tagged counted so that a ClassPrepare coming later skips it
//! (`meet_class`); the catch-up at VMInit or attach counts the classes already prepared, tagged
//! the same way. Other classes a report or heap walk names get a lazy tag (`TAG_LAZY`: named, not
//! counted by the tag). A class dies with its loader; a hidden class that dies before its loader
//! is missing from the live classes at the next report (defined minus alive). Names, parents and
//! per-loader counts are built on the report thread (`snapshot.rs`, the `class_loaders` section).
//!
//! ObjectFree runs inside the GC pause on some JDKs (JDK 11 posts it from the VM thread at the
//! safepoint), so it takes no lock: it pushes onto a lock-free queue that the sampler and report
//! threads drain. Weak references to loaders are upgraded and deleted with no lock held: a JNI
//! call blocks at a safepoint, and a lock held across it would stop whoever waits for it until
//! the GC ends.

mod snapshot;

use crate::loaders::labels::tomcat_context_path;
use crate::native::thread;
use crate::loaders::tags::{self, tag_kind, tag_loader, TAG_ARRAY_CLASS, TAG_CLASS, TAG_KIND_MASK, TAG_LAZY, TAG_LOADER};
use crate::ffi::jni::{Env, Local, WeakGlobal, MAX_JNI_LOCAL_CAPACITY};
use crate::ffi::jvmti::{last_listed_classes, signature_to_name, Jvmti};
use leakagent_report::model::{DeadLoaderGroup, LoaderRole};
use jni::sys::{jclass, jlong, jobject};
use crossbeam_queue::ArrayQueue;
use parking_lot::{Mutex, MutexGuard, RwLock};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::{Acquire, Relaxed, Release}};
use std::sync::Arc;
use std::time::Instant;

fn class_tag(seq: u64, loader: u32) -> jlong {
    tags::class_tag(TAG_CLASS, seq, loader)
}

impl ClassTracker {
    /// Tags an untagged class where a report or heap walk needs to name it (an array class's
    /// loader is its element type's); returns its tag. Agent threads only.
    pub fn tag_lazily(&self, jvmti: &Jvmti, env: &Env, klass: jclass, array: bool) -> Option<jlong> {
        let id = self.loader_of(jvmti, env, klass)?;
        let seq = self.next_class.fetch_add(1, Relaxed);
        let tag = if array { tags::class_tag(TAG_ARRAY_CLASS, seq, id) } else { class_tag(seq, id) | TAG_LAZY };
        jvmti.set_tag(klass, tag).ok()?;
        Some(tag)
    }

    /// The id of the loader that defined `klass`, registering the loader on first sight.
    fn loader_of(&self, jvmti: &Jvmti, env: &Env, klass: jclass) -> Option<u32> {
        let loader = Local::new(env, jvmti.class_loader(klass).ok()?);
        self.loader_id(jvmti, env, loader.raw())
    }

    /// `loader_of` inside an event callback, counting the class for its loader when `count`.
    /// The loader's reference is left to the event's own local frame, which HotSpot releases
    /// when the callback returns (a DeleteLocalRef less per class loaded and per class
    /// prepared). The thread's last loader (`ThreadLoader`) answers most events.
    /// With `count` (ClassPrepare, `claim` held), a class of a loader some of whose classes were
    /// counted by a tag is counted only if its own tag does not say so.
    fn event_loader_of(&self, jvmti: &Jvmti, env: &Env, klass: jclass, count: bool) -> Option<u32> {
        let loader = jvmti.class_loader(klass).ok()?;
        if !loader.is_null() {
            let hit = thread::with(|t| match &t.loader {
                Some(c) if c.weak.is(env, loader) => {
                    let check = c.counts.tag_counted.load(Relaxed);
                    if count && !check {
                        c.counts.defined.fetch_add(1, Relaxed);
                    }
                    Some((c.id, (count && check).then(|| c.counts.clone())))
                }
                _ => None,
            });
            match hit {
                Some(Some((id, None))) => {
                    if count {
                        self.loaded.fetch_add(1, Relaxed);
                    }
                    return Some(id);
                }
                Some(Some((id, Some(counts)))) => {
                    self.count_unless_tagged(jvmti, klass, &counts);
                    return Some(id);
                }
                _ => {}
            }
        }
        let id = self.loader_id(jvmti, env, loader)?;
        let Some((counts, weak)) = self.lock_loaders().get(&id).map(|r| (r.counts.clone(), r.weak.clone().filter(|_| r.died_ms.is_none())))
        else {
            return Some(id);
        };
        if count {
            self.count_unless_tagged(jvmti, klass, &counts);
        }
        if let Some(weak) = weak.filter(|_| id != BOOTSTRAP) {
            // The one replaced is dropped after `with`: freeing in it is not for the record.
            drop(thread::with(|t| t.loader.replace(ThreadLoader { id, weak, counts })));
        }
        Some(id)
    }

    /// Counts `klass` for the loader of `counts`, unless the loader has classes counted by a tag
    /// and the class's tag says it is one. Callers hold `claim`.
    fn count_unless_tagged(&self, jvmti: &Jvmti, klass: jclass, counts: &LoaderCounts) {
        if counts.tag_counted.load(Relaxed) && jvmti.tag(klass).map(tags::counted).unwrap_or(true) {
            return;
        }
        counts.defined.fetch_add(1, Relaxed);
        self.loaded.fetch_add(1, Relaxed);
    }
}

/// The loader whose class this thread's last ClassLoad or ClassPrepare named, missed in the
/// thread's previous event: most events are of the same loader (a loader defines and links its
/// classes on the thread that asked for them), which IsSameObject against its weak reference
/// then recognises without HotSpot's tag map (a lookup under its lock per event: ~0.3 % of the
/// loading threads' CPU in bench/classload_overhead.sh) and counts without the `loaders` lock.
/// Held in the thread's record (native/thread.rs); the weak reference is cloned from the map
/// under the `loaders` lock, so `delete_weak` waits for the cache to let it go.
pub struct ThreadLoader {
    id: u32,
    weak: Arc<WeakGlobal>,
    counts: Arc<LoaderCounts>,
}

/// A loader's class count, shared with threads' `ThreadLoader`s, which count without the lock.
#[derive(Default)]
struct LoaderCounts {
    /// Classes counted at their ClassPrepare, the catch-up or a report (loaded, not linked); all
    /// die with the loader.
    defined: AtomicU64,
    /// The catch-up or a report counted some of its classes by a tag (set under `claim`'s write
    /// side before the tag): only then does ClassPrepare read the class's tag, so that a fresh
    /// loader's classes cost no tag-map lookup.
    tag_counted: AtomicBool,
}

const BOOTSTRAP: u32 = 0;

#[derive(Default)]
struct LoaderRec {
    /// Shared only while an agent thread upgrades it outside the `loaders` lock; taken out of the
    /// map to be deleted (`delete_weak`), which waits until no upgrade holds it.
    weak: Option<Arc<WeakGlobal>>,
    first_seen_ms: u64,
    died_ms: Option<u64>,
    counts: Arc<LoaderCounts>,
    /// Filled when first seen; these never change for a loader.
    resolved: Option<Resolved>,
    /// Learned on the report thread the first time the loader is seen alive there.
    facts: Option<StaticFacts>,
    /// Hashes of the class names it defined, as seen alive at reports (kept after it dies), so
    /// that a newer loader can be recognised as its replacement.
    names: HashSet<u64>,
    /// Its first class by name, as seen alive at the last report that saw it.
    sample: Option<String>,
    /// What a user knows it by (a Tomcat context path), learned when first seen or at a report.
    label: Option<String>,
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
    role: LoaderRole,
}

/// Loader deaths (ObjectFree) waiting for an agent thread. Past it a death is found by the
/// loader's weak reference at the next sample.
const FREED_QUEUE: usize = 16 * 1024;

/// Loaders the GC freed since start (their tag's ObjectFree). A static so the native ledgers'
/// stack walker can read it without reaching into the tracker.
static LOADERS_DIED: AtomicU64 = AtomicU64::new(0);

/// From this many dead loaders on, the process churns loaders, and jmethodIDs (never freed by
/// HotSpot) made for their code would grow it without bound: see native/stacks.rs.
const LOADER_CHURN: u64 = 100;

/// Whether this process has been seen churning class loaders (sticky: the count only grows).
pub fn loaders_churn() -> bool {
    LOADERS_DIED.load(Relaxed) >= LOADER_CHURN
}

/// Lock order, outer first: `claim` -> `register` -> `loaders` -> `dropped`; `doomed` is taken
/// alone. Only `claim` and `register` are ever held across a JNI or JVMTI call, and only Java
/// threads in ClassPrepare and the agent's threads take them (a thread waiting for one is in
/// native, safepoint-safe).
/// ObjectFree and ClassUnload, which may run inside a GC pause, take no lock of this tracker.
pub struct ClassTracker {
    start: Instant,
    /// Read and written with `lock_loaders`, which first applies the queued ObjectFree events.
    /// Never held across a JNI or JVMTI call.
    loaders: Mutex<HashMap<u32, LoaderRec>>,
    /// ObjectFree events (tag, ms since start), pushed without a lock, drained under `loaders`.
    freed_queue: ArrayQueue<(jlong, u64)>,
    /// A loader death did not fit in `freed_queue`: the next sample looks for dead loaders.
    deaths_lost: AtomicBool,
    /// Weak references out of the map that an upgrade still held when they were to be deleted.
    doomed: Mutex<Vec<Arc<WeakGlobal>>>,
    /// Dead loaders kept one by one; older ones are folded into `dropped`.
    max_dead: usize,
    dropped: Mutex<Dropped>,
    /// Serialises only the rare first sighting of a loader, so that it gets one id; held across
    /// the JVMTI and JNI calls that learn the loader's identity.
    register: Mutex<()>,
    /// A report or the catch-up counting a class by its tag (write side, one class at a time)
    /// against that class's ClassPrepare (read side, shared): either the event sees the tag, or
    /// the count sees the class linked and leaves it to the event.
    claim: RwLock<()>,
    next_id: AtomicU32,
    next_class: AtomicU64,
    /// True until the classes prepared before the agent could see ClassPrepare are caught up
    /// (the `slow-class-load` fault point of tests waits on it).
    catching_up: AtomicBool,
    loaded: AtomicU64,
    prepared: AtomicU64,
    /// Classes of the loaders seen dead, counted when their death is applied.
    freed: AtomicU64,
    unload_events: AtomicU64,
    unload_events_enabled: std::sync::atomic::AtomicBool,
    /// Alive loaders per growth group at the previous report after a GC (see leaks.rs).
    pub growth_seen: Mutex<HashMap<String, u64>>,
    /// Loaders a report while the JVM ran already found closed or stopped by their container.
    pub stopped_earlier: Mutex<std::collections::HashSet<u32>>,
    /// The largest `classes_unloaded` reported: a counter never goes down, though a report's own
    /// count came out lower than the previous report's (1 -> 0, 135 -> 134 under ZGC,
    /// Shenandoah and G1), and so did the Prometheus counter read from it.
    unloaded_reported: AtomicU64,
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
            resolved: Some(Resolved { class: "<bootstrap>".into(), name: None, parent: None, role: LoaderRole::Bootstrap }),
            ..LoaderRec::default()
        });
        ClassTracker {
            start: Instant::now(),
            loaders: Mutex::new(map),
            freed_queue: ArrayQueue::new(FREED_QUEUE),
            deaths_lost: AtomicBool::new(false),
            doomed: Mutex::new(Vec::new()),
            max_dead,
            dropped: Mutex::new(Dropped::default()),
            register: Mutex::new(()),
            claim: RwLock::new(()),
            next_id: AtomicU32::new(1),
            next_class: AtomicU64::new(1),
            catching_up: AtomicBool::new(true),
            loaded: AtomicU64::new(0),
            prepared: AtomicU64::new(0),
            freed: AtomicU64::new(0),
            unload_events: AtomicU64::new(0),
            unload_events_enabled: std::sync::atomic::AtomicBool::new(false),
            growth_seen: Mutex::new(HashMap::new()),
            unloaded_reported: AtomicU64::new(0),
            stopped_earlier: Mutex::new(Default::default()),
        }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// The loader map, with the ObjectFree events queued so far applied. Pure Rust under the
    /// lock: never call JNI or JVMTI while holding the guard.
    fn lock_loaders(&self) -> MutexGuard<'_, HashMap<u32, LoaderRec>> {
        let mut map = self.loaders.lock();
        while let Some((tag, ms)) = self.freed_queue.pop() {
            if let Some(rec) = map.get_mut(&tag_loader(tag)) {
                self.mark_dead(rec, ms);
            }
        }
        map
    }

    /// Marks a loader dead at `ms`, once: its classes died with it.
    fn mark_dead(&self, rec: &mut LoaderRec, ms: u64) {
        if rec.died_ms.is_none() {
            rec.died_ms = Some(ms);
            // Its classes' events all came before it died (each held the loader alive).
            self.freed.fetch_add(rec.counts.defined.load(Relaxed), Relaxed);
        }
    }

    /// Deletes weak references taken out of the map, each once no upgrade holds it (an upgrade
    /// clones the `Arc` under the `loaders` lock, so one out of the map gains no new holder);
    /// the others wait in `doomed` for the next call. Agent threads only, no lock held meanwhile.
    fn delete_weak(&self, env: &Env, taken: Vec<Arc<WeakGlobal>>) {
        let mut all = std::mem::take(&mut *self.doomed.lock());
        all.extend(taken);
        let mut held = Vec::new();
        for w in all {
            match Arc::try_unwrap(w) {
                Ok(w) => w.delete(env),
                Err(w) => held.push(w),
            }
        }
        if !held.is_empty() {
            self.doomed.lock().extend(held);
        }
    }

    /// Every loader with a weak reference, and a share of it to upgrade without the lock.
    fn weak_refs(&self) -> Vec<(u32, Arc<WeakGlobal>)> {
        self.lock_loaders().iter().filter_map(|(id, r)| Some((*id, r.weak.clone()?))).collect()
    }

    /// Marks `dead` loaders dead (now, unless ObjectFree said when) and deletes their weak
    /// references.
    fn bury(&self, env: &Env, dead: &[u32]) {
        if dead.is_empty() {
            return;
        }
        let now = self.now_ms();
        let mut taken = Vec::new();
        {
            let mut map = self.lock_loaders();
            for id in dead {
                if let Some(rec) = map.get_mut(id) {
                    taken.extend(rec.weak.take());
                    self.mark_dead(rec, now);
                }
            }
        }
        self.delete_weak(env, taken);
    }

    /// The id of `loader` (null: bootstrap), tagging and recording it on first sight.
    pub fn loader_id(&self, jvmti: &Jvmti, env: &Env, loader: jobject) -> Option<u32> {
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
        let class = jvmti.class_signature(env.object_class(loader).raw()).map(|s| signature_to_name(&s)).unwrap_or_default();
        let (name, parent_obj) = env.loader_name_and_parent(loader);
        // A Tomcat loader defines its first class once started, while its context is known;
        // its fields are read, no Java code runs.
        let label = if class.starts_with("org.apache.catalina.loader.") { tomcat_context_path(env, loader) } else { None };
        let rec = LoaderRec {
            weak: env.new_weak(loader).map(Arc::new),
            first_seen_ms: self.now_ms(),
            resolved: Some(Resolved { role: role_of(&class), class, name, parent: None }),
            label,
            ..LoaderRec::default()
        };
        self.lock_loaders().insert(id, rec);
        drop(_once);
        let parent = self.loader_id(jvmti, env, parent_obj.raw());
        if let Some(r) = self.lock_loaders().get_mut(&id).and_then(|r| r.resolved.as_mut()) {
            r.parent = parent;
        }
        Some(id)
    }

    /// Counts `klass` for its defining loader unless a tag says it was counted, and tags it so
    /// (a lazy tag keeps its number and loses the lazy bit). Returns false when it was counted
    /// already. Callers hold `claim`, its write side when `flag` (the catch-up, a report): the
    /// loader is then marked `tag_counted` before the tag is set, for its classes' ClassPrepare.
    fn register_class(&self, jvmti: &Jvmti, env: &Env, klass: jclass, flag: bool) -> bool {
        let Ok(old) = jvmti.tag(klass) else { return false };
        if tags::counted(old) {
            return false;
        }
        let Some(id) = self.loader_of(jvmti, env, klass) else { return false };
        if flag {
            if let Some(r) = self.lock_loaders().get(&id) {
                r.counts.tag_counted.store(true, Relaxed);
            }
        }
        let tag = if tag_kind(old) == TAG_CLASS { old & !TAG_LAZY } else { class_tag(self.next_class.fetch_add(1, Relaxed), id) };
        if jvmti.set_tag(klass, tag).is_err() {
            return false;
        }
        self.count(id);
        true
    }

    fn count(&self, id: u32) {
        if let Some(rec) = self.lock_loaders().get_mut(&id) {
            rec.counts.defined.fetch_add(1, Relaxed);
        }
        self.loaded.fetch_add(1, Relaxed);
    }

    /// ClassLoad callback: registers the class's defining loader on first sight, nothing else (no
    /// count, no tag). Loader ids give generations their order (`generations.rs`): a loader
    /// whose first classes are only loaded, not linked, would otherwise be first seen at a report,
    /// after newer loaders (tests/classloader_leaks.rs `class_list_pins_...`: app-gen-2,3,1).
    pub fn on_class_load(&self, jvmti: &Jvmti, env: &Env, klass: jclass) {
        self.event_loader_of(jvmti, env, klass, false);
    }

    /// ClassPrepare callback: counts the class for its defining loader. HotSpot posts it once per
    /// class, when linked (`InstanceKlass::link_class_impl`), where ClassLoad is posted again for
    /// each new initiating loader; so no tag is needed to dedupe, and none is set here. A class
    /// the catch-up or a report counted (by a tag: prepared at the catch-up with this event
    /// still to come, or loaded and not linked at a report) is skipped. Returns the defining
    /// loader's id when it read it (native sampling's jmethodIDs ask no further).
    pub fn on_class_prepare(&self, jvmti: &Jvmti, env: &Env, klass: jclass) -> Option<u32> {
        if crate::core::fault::injected("slow-class-load") {
            // Tests only: the catch-up lists this class and ends meanwhile.
            for _ in 0..5000 {
                if !self.catching_up.load(Acquire) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        self.prepared.fetch_add(1, Relaxed);
        let _claim = self.claim.read();
        if self.catching_up.load(Acquire) {
            // The catch-up may list this class prepared: the tag tells it this event counted it.
            self.register_class(jvmti, env, klass, false);
            return None;
        }
        self.event_loader_of(jvmti, env, klass, true)
    }

    /// A report met `klass` (not an array) untagged or tagged lazily: counts it if it is loaded
    /// but not linked (it may never be, and then no ClassPrepare counts it), tagging it counted
    /// so that its ClassPrepare, if it comes, does not count it again. Returns its tag, or 0.
    fn meet_class(&self, jvmti: &Jvmti, env: &Env, klass: jclass, tag: jlong) -> jlong {
        let linked = |k| jvmti.class_prepared(k).unwrap_or(false);
        if !linked(klass) {
            // Read again under the claim: a ClassPrepare that already ran saw no tag and
            // counted it, one to come waits and then sees the tag.
            let _claim = self.claim.write();
            if !linked(klass) && self.register_class(jvmti, env, klass, true) {
                return jvmti.tag(klass).unwrap_or(0);
            }
        }
        if tag != 0 {
            return tag;
        }
        self.tag_lazily(jvmti, env, klass, false).unwrap_or(0)
    }

    /// Counts the classes prepared before the agent could see ClassPrepare events (before the
    /// start phase, or before a late attach), tagging them counted: one prepared meanwhile, its
    /// ClassPrepare still to come, must not count again. Classes loaded and not linked yet are
    /// left to their ClassPrepare, or to a report that finds them still unlinked.
    pub fn register_loaded(&self, jvmti: &Jvmti, env: &Env) -> usize {
        if crate::core::fault::injected("slow-class-load") {
            // Tests only: classes load, and their ClassPrepare waits, before the list is taken.
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let mut n = 0;
        // The most HotSpot grants (a frame's capacity is only planned, nothing is allocated):
        // `local_capacity` counts the classes counted so far, a handful at a late attach into a
        // JVM holding thousands (-Xcheck:jni: `JNI local refs: 5755, exceeds capacity: 4129`).
        env.with_local_frame(MAX_JNI_LOCAL_CAPACITY as i32, || {
            if let Ok(classes) = jvmti.loaded_classes_in(env) {
                for k in classes.into_iter().map(|k| Local::new(env, k)) {
                    let is_array = jvmti.class_signature(k.raw()).map(|s| s.starts_with('[')).unwrap_or(true);
                    if is_array {
                        continue;
                    }
                    let _claim = self.claim.write();
                    let prepared = jvmti.class_prepared(k.raw()).unwrap_or(false);
                    if prepared && self.register_class(jvmti, env, k.raw(), true) {
                        n += 1;
                    }
                }
            }
        });
        self.catching_up.store(false, Release);
        n
    }

    /// ObjectFree callback (no JNI allowed here), maybe inside a GC pause: atomics and a
    /// lock-free push only. Returns false for tags of other collectors. A class's own death
    /// says nothing new (its loader's does, or the next report), so only a loader's is queued.
    pub fn on_object_free(&self, tag: jlong) -> bool {
        match tag_kind(tag) {
            TAG_CLASS => true,
            TAG_LOADER => {
                LOADERS_DIED.fetch_add(1, Relaxed);
                if self.freed_queue.push((tag, self.now_ms())).is_err() {
                    self.deaths_lost.store(true, Relaxed);
                }
                true
            }
            _ => false,
        }
    }

    /// Classes unloaded so far as the cheap counters see them: those of dead loaders, or
    /// HotSpot's ClassUnload events when more (hidden classes die before their loader).
    fn freed_estimate(&self) -> u64 {
        self.freed.load(Relaxed).max(self.unload_events.load(Relaxed))
    }

    /// Cheap counts for the sampler: (classes loaded, loaded minus unloaded, loaders alive).
    pub fn counts(&self) -> (u64, u64, u64) {
        // Counted first: taking the map applies the loader deaths queued so far.
        let alive = self
            .lock_loaders()
            .iter()
            .filter(|(id, r)| **id == BOOTSTRAP || (r.weak.is_some() && r.died_ms.is_none()))
            .count() as u64;
        let loaded = self.loaded.load(Relaxed);
        let live = loaded.saturating_sub(self.freed_estimate());
        (loaded, live, alive)
    }

    /// Local references to every loader still alive, with its id. Upgraded with no lock held
    /// (NewLocalRef may wait for a safepoint); the shared `Arc` keeps each reference from being
    /// deleted meanwhile.
    pub fn alive_loaders<'e>(&self, env: &'e Env) -> Vec<(u32, Local<'e>)> {
        let weak = self.weak_refs();
        // Loaders made since the caller sized its frame (from a snapshot) count too. 64 on top
        // for the caller's own few references: -Xcheck:jni raises a frame's planned capacity only
        // when asked for more than it already plans, and then warns at the first reference past
        // it (seen on JDK 11 under churn, one over).
        env.ensure_local_capacity(weak.len().saturating_add(64).min(i32::MAX as usize / 2) as i32);
        weak.into_iter().filter_map(|(id, w)| Some((id, w.upgrade(env)?))).collect()
    }

    /// Keeps at most `max_dead` dead loaders one by one: older ones (by time of death) are
    /// summarised by class, so reflection and script loaders that churn for weeks cost a bounded
    /// amount. Runs on the sampler and report threads.
    pub fn prune_dead(&self, env: &Env) {
        if self.deaths_lost.swap(false, Relaxed) {
            // Some loader deaths did not fit in the queue: their weak references tell.
            let dead: Vec<u32> = self.weak_refs().into_iter().filter(|(_, w)| w.upgrade(env).is_none()).map(|(id, _)| id).collect();
            self.bury(env, &dead);
        }
        let mut taken = Vec::new();
        {
            let mut map = self.lock_loaders();
            if map.len() > self.max_dead + 64 {
                self.fold_oldest_dead(&mut map, &mut taken);
            }
        }
        self.delete_weak(env, taken);
    }

    /// Folds the dead loaders past `max_dead` into `dropped`, handing their weak references (a
    /// loader whose ObjectFree came before a report noticed it still has one) to `taken`.
    fn fold_oldest_dead(&self, map: &mut HashMap<u32, LoaderRec>, taken: &mut Vec<Arc<WeakGlobal>>) {
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
            taken.extend(rec.weak);
            let class = rec.resolved.map(|r| r.class).unwrap_or_else(|| "<unknown>".into());
            let unloaded = rec.counts.defined.load(Relaxed);
            let g = dropped.by_class.entry(class.clone()).or_insert_with(|| DeadLoaderGroup { class, ..DeadLoaderGroup::default() });
            g.loaders += 1;
            g.classes_defined += rec.counts.defined.load(Relaxed);
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

    /// Local references GetLoadedClasses will hand out at once: every live class plus arrays.
    /// Every caller of `loaded_classes` runs in a local frame at least this large. At most
    /// HotSpot's MaxJNILocalCapacity (65536 by default): PushLocalFrame refuses more, and the
    /// references would then land in the enclosing frame (the report's 256), which -Xcheck:jni
    /// reports as `JNI local refs: 3151, exceeds capacity: 288`.
    /// The counts lag classes loaded and not linked (counted at the next report, or never when
    /// their loader dies first) and ClassUnload events include classes never counted, so the
    /// last listing's own size bounds it from below too; `loaded_classes_in` declares the rest.
    /// So do the loaders known: these frames also hold every live loader (`alive_loaders`), and
    /// a loader whose only classes are unlinked has none counted (JDK 11 ZGC, `LoaderRing`:
    /// 5,903 loaders alive in a frame planned for 5,502 references).
    pub fn local_capacity(&self) -> i32 {
        let live = self.loaded.load(Relaxed).saturating_sub(self.freed_estimate()) as usize;
        let n = live.max(last_listed_classes()).max(self.lock_loaders().len());
        (n * 3 / 2 + 4096).min(MAX_JNI_LOCAL_CAPACITY) as i32
    }
}

/// The role of the JDK's own loaders, from their class (JDK 9+ and JDK 8 names).
fn role_of(class: &str) -> LoaderRole {
    match class {
        "jdk.internal.loader.ClassLoaders$AppClassLoader" | "sun.misc.Launcher$AppClassLoader" => LoaderRole::Application,
        "jdk.internal.loader.ClassLoaders$PlatformClassLoader" | "sun.misc.Launcher$ExtClassLoader" => LoaderRole::Platform,
        _ => LoaderRole::Other,
    }
}

#[cfg(test)]
mod tests;
