//! Java stacks for the native ledgers.
//!
//! An event's *site* is keyed by its top `key_depth` frames (method and bytecode index), found
//! in a sharded table; only the first event of a new key pays for the full stack (`stack_depth`
//! frames), its methods and the thread name. The site comes from one of the thread's stack
//! templates when one holds (templates.rs: a few loads, no walk), else from a walk. Methods are
//! resolved through a cache of names and line number tables, once per method, when a site is
//! first seen (a class may be unloaded before the report, and its jmethodIDs then name
//! nothing); frames become text only when a report is written. The kind of the calling thread
//! (an application thread, or a thread that runs GC cleanup: the Cleaner, the Reference
//! Handler, the Finalizer) is decided once per thread from its oldest frames.

use super::templates;
use crate::ffi::asgct;
use crate::ffi::hotspot;
use crate::ffi::jni::Env;
use crate::ffi::jvmti::{signature_to_name, Frame, Jvmti};
use crate::health::{self, COUNTERS};
use crate::options::{NativeOptions, MAX_KEY_DEPTH, MAX_STACK_DEPTH};
use parking_lot::Mutex;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

/// murmur3's 64-bit finalizer: spreads aligned addresses and small integers over all bits.
pub fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// A small, fast hasher for the agent's own keys (no HashDoS concern: keys are addresses and
/// method ids). Multiply-rotate per word, `fmix64` at the end.
#[derive(Default, Clone, Copy)]
pub struct MixHasher(u64);

impl Hasher for MixHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64)
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64)
    }
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64)
    }
    fn finish(&self) -> u64 {
        fmix64(self.0)
    }
}

pub type MixBuild = BuildHasherDefault<MixHasher>;

/// Tags of the synthetic sites (in the high half of a key's tag).
pub const SPECIAL_NONE: u32 = 0;
/// Before the live phase: JVMTI cannot walk stacks yet.
pub const SPECIAL_EARLY: u32 = 1;
/// The stack walk failed.
pub const SPECIAL_NO_STACK: u32 = 2;

/// What identifies a site on the hot path: a kind/special tag and the top `key_depth` frames.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SiteKey {
    tag: u32,
    len: u32,
    frames: [Frame; MAX_KEY_DEPTH],
}

impl Hash for SiteKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u32(self.tag);
        for f in &self.frames[..self.len as usize] {
            h.write_usize(f.method);
            h.write_i64(f.location);
        }
    }
}

impl SiteKey {
    /// Matches no real key (no kind uses tag u32::MAX).
    const NONE: SiteKey = SiteKey { tag: u32::MAX, len: 0, frames: [Frame::EMPTY; MAX_KEY_DEPTH] };

    pub fn special(kind: u8, special: u32) -> SiteKey {
        SiteKey { tag: kind as u32 | special << 16, len: 0, frames: [Frame::EMPTY; MAX_KEY_DEPTH] }
    }
    pub fn special_code(&self) -> u32 {
        self.tag >> 16
    }
    pub fn frames(&self) -> &[Frame] {
        &self.frames[..self.len as usize]
    }
    fn hash_value(&self) -> u64 {
        let mut h = MixHasher::default();
        self.hash(&mut h);
        h.finish()
    }
}

/// What a site is: its kind (collector-defined), its stack and who first reached it.
#[derive(Clone, Debug)]
pub struct SiteInfo {
    pub kind: u8,
    /// Innermost first; empty for synthetic sites.
    pub frames: Vec<Frame>,
    /// The method of each frame.
    pub methods: Vec<Arc<MethodInfo>>,
    /// How many top frames every event of the site shares (the key); deeper frames are those of
    /// the first event.
    pub exact_frames: usize,
    /// Set for synthetic sites: what the site stands for.
    pub special: Option<String>,
    pub first_thread: Option<String>,
}

/// Counter stripes per site: threads bumping the same site use different cache lines.
pub const STRIPES: usize = 4;

/// One stripe of a site's counters, alone on its cache line(s).
#[repr(align(64))]
#[derive(Default)]
pub struct Stripe<C>(pub C);

/// One site: what it is, and the collector's counters in stripes.
pub struct Slot<C> {
    info: OnceLock<Box<SiteInfo>>,
    stripes: [Stripe<C>; STRIPES],
}

/// Sites per chunk of the slab: chunks are allocated as sites appear.
const CHUNK: usize = 64;

thread_local! {
    /// This thread's counter stripe (assigned round-robin, once).
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}
static NEXT_STRIPE: AtomicU32 = AtomicU32::new(0);

fn my_stripe() -> usize {
    STRIPE.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT_STRIPE.fetch_add(1, Relaxed) as usize % STRIPES;
        s.set(v);
        v
    })
}

/// Sum of one counter over a site's stripes (wrapping: a stripe may go below zero when one
/// thread adds and another subtracts).
pub fn total<C>(stripes: &[Stripe<C>], field: impl Fn(&C) -> &AtomicU64) -> u64 {
    stripes.iter().fold(0u64, |acc, s| acc.wrapping_add(field(&s.0).load(Relaxed)))
}

/// Interned sites: a sharded key → id map over a slab of striped counters that grows in chunks
/// up to a fixed capacity. The first `overflow_kinds` ids are the "<other sites>" sites, one per
/// kind, used once the capacity is reached.
/// A chunk of `CHUNK` slots, allocated when its first site appears.
type Chunk<C> = OnceLock<Box<[Slot<C>]>>;

pub struct SiteTable<C> {
    shards: Box<[Mutex<HashMap<SiteKey, u32, MixBuild>>]>,
    chunks: Box<[Chunk<C>]>,
    capacity: u32,
    next: AtomicU32,
    overflow_kinds: u32,
}

const SITE_SHARDS: usize = 16;

impl<C: Default> SiteTable<C> {
    /// `capacity` distinct sites besides one overflow site per kind in `overflow` (kind, label).
    pub fn new(capacity: usize, overflow: &[(u8, String)]) -> SiteTable<C> {
        let total = capacity + overflow.len();
        let t = SiteTable {
            shards: (0..SITE_SHARDS).map(|_| Mutex::new(HashMap::default())).collect(),
            chunks: (0..total.div_ceil(CHUNK)).map(|_| OnceLock::new()).collect(),
            capacity: total as u32,
            next: AtomicU32::new(overflow.len() as u32),
            overflow_kinds: overflow.len() as u32,
        };
        for (i, (kind, label)) in overflow.iter().enumerate() {
            let _ = t.slot(i as u32).info.set(Box::new(SiteInfo {
                kind: *kind,
                frames: Vec::new(),
                methods: Vec::new(),
                exact_frames: 0,
                special: Some(label.clone()),
                first_thread: None,
            }));
        }
        t
    }

    /// The slot of `id`, allocating its chunk on first use.
    fn slot(&self, id: u32) -> &Slot<C> {
        let chunk = self.chunks[id as usize / CHUNK].get_or_init(|| {
            (0..CHUNK)
                .map(|_| Slot { info: OnceLock::new(), stripes: std::array::from_fn(|_| Stripe::default()) })
                .collect()
        });
        &chunk[id as usize % CHUNK]
    }

    /// The id of `key`'s site, interning it on first sight with the info `capture` builds (a
    /// full stack walk: it runs without any lock held). When the table is full, returns the
    /// overflow site `overflow_slot` picks, without capturing.
    pub fn intern(&self, key: &SiteKey, overflow_slot: impl FnOnce() -> u32, capture: impl FnOnce() -> SiteInfo) -> u32 {
        let shard = &self.shards[(key.hash_value() >> 60) as usize % SITE_SHARDS];
        if let Some(&id) = shard.lock().get(key) {
            return id;
        }
        if self.next.load(Relaxed) >= self.capacity {
            health::bump(&COUNTERS.site_overflow_events);
            return overflow_slot().min(self.overflow_kinds.saturating_sub(1));
        }
        let info = capture();
        let mut map = shard.lock();
        if let Some(&id) = map.get(key) {
            return id;
        }
        let limit = self.capacity;
        let Ok(id) = self.next.fetch_update(Relaxed, Relaxed, |n| (n < limit).then_some(n + 1)) else {
            health::bump(&COUNTERS.site_overflow_events);
            return overflow_slot().min(self.overflow_kinds.saturating_sub(1));
        };
        // The chunk and the info exist before the id is published in the map.
        let _ = self.slot(id).info.set(Box::new(info));
        map.insert(*key, id);
        id
    }

    /// The current thread's stripe of a site's counters.
    pub fn counters(&self, id: u32) -> &C {
        &self.slot(id).stripes[my_stripe()].0
    }

    /// Every site that has its info, with its id and counter stripes.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &SiteInfo, &[Stripe<C>])> {
        let n = self.next.load(Relaxed).min(self.capacity);
        (0..n).filter_map(move |i| {
            let chunk = self.chunks[i as usize / CHUNK].get()?;
            let slot = &chunk[i as usize % CHUNK];
            slot.info.get().map(|info| (i, &**info, &slot.stripes[..]))
        })
    }

    /// Distinct sites interned (overflow sites excluded).
    pub fn len(&self) -> usize {
        (self.next.load(Relaxed).min(self.capacity) - self.overflow_kinds) as usize
    }

}

/// A method's names and line table, resolved once.
#[derive(Debug)]
pub struct MethodInfo {
    /// Java class name, e.g. `java.util.zip.Inflater`.
    pub class: String,
    pub name: String,
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
}

fn resolve(jvmti: &Jvmti, env: &Env, method: usize) -> MethodInfo {
    let m = method as jni::sys::jmethodID;
    let Ok(name) = jvmti.method_name(m) else {
        // The class was unloaded since the frame was recorded.
        return MethodInfo { class: "<unloaded class>".into(), name: "<unknown>".into(), source: None, lines: Vec::new() };
    };
    let (class, source) = match jvmti.method_declaring_class(m) {
        Ok(k) => {
            let class = jvmti.class_signature(k).map(|s| signature_to_name(&s)).unwrap_or_else(|_| "<unknown class>".into());
            let source = jvmti.source_file_name(k).ok().filter(|s| !s.is_empty());
            env.delete_local(k);
            (class, source)
        }
        Err(_) => ("<unknown class>".into(), None),
    };
    let mut lines = jvmti.line_number_table(m).unwrap_or_default();
    lines.sort_unstable();
    MethodInfo { class, name, source, lines }
}

/// Where a thread's oldest frames say it runs GC cleanup.
const CLEANUP_THREAD_ENTRIES: [(&str, &str); 3] = [
    // The Common-Cleaner and every other java.lang.ref.Cleaner thread.
    ("jdk.internal.ref.CleanerImpl", "run"),
    // Runs jdk.internal.ref.Cleaner, e.g. DirectByteBuffer's Deallocator.
    ("java.lang.ref.Reference$ReferenceHandler", "run"),
    ("java.lang.ref.Finalizer$FinalizerThread", "run"),
];

const THREAD_UNKNOWN: u8 = 0;
const THREAD_APP: u8 = 1;
const THREAD_CLEANUP: u8 = 2;

/// Ledger slots, one per (ledger, kind of event): each has its own last key and templates.
pub const SLOTS: usize = 4;

/// Frames walked when a walk also learns a template: the root of the last compiled frame the
/// template spans must be among them (HotSpot inlines at most 15 levels deep).
const LEARN_EXTRA_DEPTH: usize = 16;

thread_local! {
    /// Per slot: the last key this thread interned and its site, to skip the shared table
    /// when a thread repeats itself.
    static LAST_KEY: RefCell<[(SiteKey, u32); SLOTS]> = const { RefCell::new([(SiteKey::NONE, 0); SLOTS]) };
    static THREAD_KIND: Cell<u8> = const { Cell::new(THREAD_UNKNOWN) };
}

/// Stack settings and shared caches of both ledgers.
pub struct Stacks {
    pub key_depth: usize,
    pub stack_depth: usize,
    pub methods: MethodCache,
    live: AtomicBool,
    /// Option stack_templates.
    templates_wanted: bool,
    /// Whether stack templates can be learned on this JVM (decided in the live phase).
    templates: AtomicBool,
}

impl Stacks {
    pub fn new(o: &NativeOptions) -> Stacks {
        if o.hot_sample > 1 {
            crate::log::info(&format!(
                "option hot_sample={} has no effect: every zlib/direct event is attributed to the site of its own stack",
                o.hot_sample
            ));
        }
        Stacks {
            key_depth: o.key_depth.clamp(1, MAX_KEY_DEPTH),
            stack_depth: o.stack_depth.clamp(1, MAX_STACK_DEPTH),
            methods: MethodCache::default(),
            live: AtomicBool::new(false),
            templates_wanted: o.stack_templates,
            templates: AtomicBool::new(false),
        }
    }

    /// The live phase began on this Java thread: stacks can be walked from now on, and stack
    /// templates learned when HotSpot describes its frames (else every event is walked).
    pub fn set_live(&self, env: &Env) {
        if !self.templates_wanted {
            templates::disable("option stack_templates=off");
        } else {
            match hotspot::init(env) {
                Ok(()) => self.templates.store(asgct::available(), Relaxed),
                Err(why) => crate::log::info(&format!("stack templates off, every zlib/direct event is walked: {why}")),
            }
        }
        self.live.store(true, Relaxed);
    }

    pub fn is_live(&self) -> bool {
        self.live.load(Relaxed)
    }

    /// The site of the current event at ledger slot `slot`: from a stack template of this
    /// thread when one holds, else from a walk, interning a new key with `intern`. Every event
    /// gets the site of its own top `key_depth` frames either way.
    pub fn site(&self, slot: u8, kind: u8, jvmti: &Jvmti, env: &Env, intern: impl FnOnce(&SiteKey) -> u32) -> u32 {
        if let Some(site) = templates::lookup(slot, env) {
            return site;
        }
        health::bump(&COUNTERS.stack_walks);
        let learn = self.templates.load(Relaxed) && templates::wants_to_learn();
        let depth = if learn { (self.key_depth + LEARN_EXTRA_DEPTH).min(MAX_STACK_DEPTH) } else { self.key_depth };
        let mut frames = [Frame::EMPTY; MAX_STACK_DEPTH];
        let (key, walked) = self.walk(jvmti, env, kind, &mut frames[..depth], learn);
        let site = match self.last_site(slot as usize, &key) {
            Some(site) => site,
            None => {
                let site = intern(&key);
                self.remember_site(slot as usize, &key, site);
                site
            }
        };
        if let Some(n) = walked.filter(|&n| learn && n >= self.key_depth) {
            templates::learn_current(slot, env, &frames[..n], self.key_depth, site);
        }
        site
    }

    /// The key of the current thread's site: the top `key_depth` frames, tagged with `kind`,
    /// from a walk of up to `frames.len()` (at least `key_depth`) frames; also how many frames of
    /// `frames` hold the walk, when they do. AsyncGetCallTrace walks cheaply; when
    /// it cannot (GC running, not HotSpot) or meets a method without a jmethodID within the key
    /// (or, when `learning`, within `frames`), JVMTI walks, which also creates the missing ids,
    /// and AsyncGetCallTrace is tried once more so that a path keeps one key.
    fn walk(&self, jvmti: &Jvmti, env: &Env, kind: u8, frames: &mut [Frame], learning: bool) -> (SiteKey, Option<usize>) {
        if !self.is_live() {
            return (SiteKey::special(kind, SPECIAL_EARLY), None);
        }
        let depth = self.key_depth;
        let key_of = |frames: &[Frame], n: usize| {
            let mut key = SiteKey { tag: kind as u32, len: n.min(depth) as u32, frames: [Frame::EMPTY; MAX_KEY_DEPTH] };
            key.frames[..n.min(depth)].copy_from_slice(&frames[..n.min(depth)]);
            key
        };
        let enough = |(n, complete): (usize, bool)| complete || (n >= depth && !learning);
        if let Some(w) = asgct::current_stack(env.raw(), frames).filter(|&w| enough(w)) {
            return (key_of(frames, w.0), Some(w.0));
        }
        let jvmti_depth = if learning { frames.len() } else { depth };
        match jvmti.current_stack(0, &mut frames[..jvmti_depth]) {
            Ok(n) if n > 0 => {
                let mut again = [Frame::EMPTY; MAX_STACK_DEPTH];
                match asgct::current_stack(env.raw(), &mut again[..frames.len()]) {
                    Some((m, complete)) if complete || m >= depth => {
                        frames[..m].copy_from_slice(&again[..m]);
                        (key_of(frames, m), Some(m))
                    }
                    // AsyncGetCallTrace cannot walk here (a virtual thread, say): the JVMTI
                    // frames name the same methods and bytecode indexes.
                    _ => (key_of(frames, n), Some(n)),
                }
            }
            _ => {
                health::bump(&COUNTERS.stack_walk_failures);
                (SiteKey::special(kind, SPECIAL_NO_STACK), None)
            }
        }
    }

    /// The site info of a new key: the full stack (one more walk when it is deeper than the key)
    /// and the thread name. Runs once per site.
    pub fn capture(&self, jvmti: &Jvmti, env: &Env, key: &SiteKey, kind: u8) -> SiteInfo {
        let special = match key.special_code() {
            SPECIAL_NONE => None,
            SPECIAL_EARLY => Some("<before VM init: no Java stack yet>".to_string()),
            _ => Some("<stack unavailable>".to_string()),
        };
        let mut frames = key.frames().to_vec();
        if special.is_none() && self.stack_depth > frames.len() && frames.len() == self.key_depth {
            let mut full = [Frame::EMPTY; MAX_STACK_DEPTH];
            if let Ok(n) = jvmti.current_stack(0, &mut full[..self.stack_depth]) {
                // The deeper walk sees the same top frames: the thread has not moved.
                if n >= frames.len() {
                    frames = full[..n].to_vec();
                }
            }
        }
        frames.truncate(self.stack_depth);
        let methods = frames.iter().map(|f| self.methods.get(jvmti, env, f.method)).collect();
        let first_thread = if self.is_live() { jvmti.current_thread_name(env).ok() } else { None };
        SiteInfo { kind, exact_frames: key.len as usize, frames, methods, special, first_thread }
    }

    /// Whether the current thread runs GC cleanup (Cleaner, Reference Handler, Finalizer),
    /// decided once per thread from its oldest frames.
    pub fn on_cleanup_thread(&self, jvmti: &Jvmti, env: &Env) -> bool {
        match THREAD_KIND.with(Cell::get) {
            THREAD_APP => false,
            THREAD_CLEANUP => true,
            _ => {
                if !self.is_live() {
                    return false;
                }
                let cleanup = self.oldest_frames_run_cleanup(jvmti, env);
                THREAD_KIND.with(|k| k.set(if cleanup { THREAD_CLEANUP } else { THREAD_APP }));
                cleanup
            }
        }
    }

    fn oldest_frames_run_cleanup(&self, jvmti: &Jvmti, env: &Env) -> bool {
        let Ok(count) = jvmti.current_frame_count() else { return false };
        let k = count.min(8);
        if k == 0 {
            return false;
        }
        let mut frames = [Frame::EMPTY; 8];
        let Ok(n) = jvmti.current_stack(-(k as i32), &mut frames[..k]) else { return false };
        frames[..n].iter().any(|f| {
            let m = self.methods.get(jvmti, env, f.method);
            CLEANUP_THREAD_ENTRIES.iter().any(|(c, name)| m.class == *c && m.name == *name)
        })
    }

    /// The site of `key` if it is the last key this thread interned at `slot`.
    fn last_site(&self, slot: usize, key: &SiteKey) -> Option<u32> {
        LAST_KEY.with(|l| {
            let l = l.borrow();
            (l[slot].0 == *key).then_some(l[slot].1)
        })
    }

    fn remember_site(&self, slot: usize, key: &SiteKey, site: u32) {
        LAST_KEY.with(|l| l.borrow_mut()[slot] = (*key, site));
    }
}

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

    #[derive(Default)]
    struct Count(AtomicU64);

    fn key(tag: u32, methods: &[usize]) -> SiteKey {
        let mut k = SiteKey { tag, len: methods.len() as u32, frames: [Frame::EMPTY; MAX_KEY_DEPTH] };
        for (i, m) in methods.iter().enumerate() {
            k.frames[i] = Frame { method: *m, location: i as i64 };
        }
        k
    }

    fn info(kind: u8) -> SiteInfo {
        SiteInfo { kind, frames: vec![], methods: vec![], exact_frames: 0, special: None, first_thread: None }
    }

    #[test]
    fn striped_counters_sum_across_threads_and_below_zero() {
        let t: SiteTable<Count> = SiteTable::new(200, &[(0, "<other>".into())]);
        let ids: Vec<u32> = (0..150).map(|i| t.intern(&key(0, &[i + 1]), || 0, || info(0))).collect();
        assert_eq!(t.len(), 150, "sites span three chunks");
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for &id in &ids {
                        t.counters(id).0.fetch_add(3, Relaxed);
                    }
                });
            }
        });
        // One thread subtracts what others added: its stripe wraps, the total does not.
        t.counters(ids[7]).0.fetch_sub(24, Relaxed);
        for (id, _, stripes) in t.iter().filter(|(id, _, _)| *id != 0) {
            assert_eq!(total(stripes, |c| &c.0), if id == ids[7] { 0 } else { 24 }, "site {id}");
        }
    }

    #[test]
    fn interning_gives_one_id_per_key_and_overflows_per_kind() {
        let t: SiteTable<Count> = SiteTable::new(3, &[(0, "<other A>".into()), (1, "<other B>".into())]);
        let a = t.intern(&key(0, &[1, 2]), || 0, || info(0));
        let b = t.intern(&key(0, &[1, 3]), || 0, || info(0));
        assert_ne!(a, b);
        assert!(a >= 2 && b >= 2, "ids after the overflow slots");
        assert_eq!(t.intern(&key(0, &[1, 2]), || 0, || panic!("no second capture")), a);
        let c = t.intern(&key(1, &[1, 2]), || 1, || info(1));
        assert_ne!(c, a, "the tag is part of the key");
        assert_eq!(t.len(), 3);
        // Full: new keys go to their kind's overflow site without capturing.
        assert_eq!(t.intern(&key(0, &[9]), || 0, || panic!("no capture when full")), 0);
        assert_eq!(t.intern(&key(1, &[9]), || 1, || panic!("no capture when full")), 1);
        t.counters(a).0.fetch_add(5, Relaxed);
        let sites: Vec<_> = t.iter().map(|(id, i, _)| (id, i.special.clone())).collect();
        assert_eq!(sites.len(), 5);
        assert_eq!(sites[0], (0, Some("<other A>".into())));
        assert_eq!(total(t.iter().find(|(id, _, _)| *id == a).unwrap().2, |c| &c.0), 5);
    }

    #[test]
    fn frames_render_like_java() {
        let m = MethodInfo {
            class: "leakagent.harness.nested.ZipInflaterInputStream".into(),
            name: "<init>".into(),
            source: Some("ZipInflaterInputStream.java".into()),
            lines: vec![(0, 33), (5, 34), (20, 36)],
        };
        assert_eq!(m.render(7), "leakagent.harness.nested.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:34)");
        assert_eq!(m.render(20), "leakagent.harness.nested.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:36)");
        assert_eq!(m.render(-1), "leakagent.harness.nested.ZipInflaterInputStream.<init>(Native Method)");
        assert!(!m.is_jdk());
        let n = MethodInfo { class: "java.util.zip.Inflater".into(), name: "init".into(), source: None, lines: vec![] };
        assert_eq!(n.render(3), "java.util.zip.Inflater.init(Unknown Source)");
        assert!(n.is_jdk());
    }

    #[test]
    fn hashing_spreads_aligned_addresses() {
        let mut buckets = [0u32; 64];
        for i in 0..64_000u64 {
            buckets[(fmix64(0x7f00_0000_0000 + i * 16) >> 58) as usize] += 1;
        }
        assert!(buckets.iter().all(|&b| b > 800 && b < 1200), "{buckets:?}");
    }
}
