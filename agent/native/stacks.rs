//! Java stacks for the native ledgers.
//!
//! An event's *site* is keyed by its top `key_depth` frames (method and bytecode index), found
//! in a sharded table; only the first event of a new key pays for the full stack (`stack_depth`
//! frames), its methods and the thread name. The site comes from one of the thread's stack
//! templates when one holds (templates.rs: a few loads, no walk), else from a walk, which makes
//! jmethodIDs only for classes of loaders that never die (see `walk`). Methods are
//! resolved through a cache of names and line number tables, once per method, when a site is
//! first seen (a class may be unloaded before the report, and its jmethodIDs then name
//! nothing); frames become text only when a report is written. The kind of the calling thread
//! (an application thread, or a thread that runs GC cleanup: the Cleaner, the Reference
//! Handler, the Finalizer) is decided once per thread from its oldest frames.

use crate::native::methods::{MethodCache, UNLOADED};
use std::fmt::Write;
use crate::native::sites::{SiteInfo, SiteKey, SPECIAL_EARLY, SPECIAL_NONE, SPECIAL_NO_STACK};
use crate::native::templates;
use crate::native::thread::{self, THREAD_APP, THREAD_CLEANUP};
use crate::ffi::asgct;
use crate::ffi::hotspot;
use crate::ffi::jni::Env;
use crate::ffi::jvmti::{Frame, Jvmti};
use crate::ffi::named_stack::{self, Take};
use crate::core::health::{self, COUNTERS};
use crate::core::options::{NativeOptions, MAX_KEY_DEPTH, MAX_STACK_DEPTH};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Where a thread's oldest frames say it runs GC cleanup.
const CLEANUP_THREAD_ENTRIES: [(&str, &str); 3] = [
    // The Common-Cleaner and every other java.lang.ref.Cleaner thread.
    ("jdk.internal.ref.CleanerImpl", "run"),
    // Runs jdk.internal.ref.Cleaner, e.g. DirectByteBuffer's Deallocator.
    ("java.lang.ref.Reference$ReferenceHandler", "run"),
    ("java.lang.ref.Finalizer$FinalizerThread", "run"),
];

/// Frames beyond a walk's depth whose loader is checked before a JVMTI walk: hidden frames
/// (lambda forms) that a JVMTI walk counts and a stack trace leaves out.
const HIDDEN_FRAMES: usize = 8;

/// A stack named by a stack trace (`named_unless_builtin`).
enum Named {
    /// Every frame is a built-in loader's: a JVMTI walk may make their ids.
    Builtin,
    /// Named frames (ids made by the method cache, no jmethodID).
    Frames(Vec<Frame>),
    Failed,
}

/// Frames a key holding reflection accessors leaves out of its name: the most accessor frames
/// one call has beyond another's (JDK 8-17: Native + Delegating accessor, 3 frames, against one
/// GeneratedConstructorAccessorN).
const ACCESSOR_SLACK: usize = 3;

/// Ledger slots, one per (ledger, kind of event): each has its own last key and templates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    Inflater,
    Deflater,
    DirectAlloc,
    DirectRealloc,
}

const SLOTS: usize = Slot::DirectRealloc as usize + 1;
/// Per slot: the last key a thread interned and its site, to skip the shared table when a
/// thread repeats itself (in the thread's record, native/thread.rs; on the heap, 1 KiB, made at
/// the thread's first intern).
pub type LastKeys = [(SiteKey, u32); SLOTS];

/// Frames walked when a walk also learns a template: the root of the last compiled frame the
/// template spans must be among them (HotSpot inlines at most 15 levels deep).
const LEARN_EXTRA_DEPTH: usize = 16;

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
    /// HotSpot never frees a jmethodID's memory, not even when its class is unloaded: no walk
    /// makes one for a class of a loader that may die (ffi/named_stack.rs).
    ids_outlive_classes: AtomicBool,
}

impl Stacks {
    pub fn new(o: &NativeOptions) -> Stacks {
        if o.hot_sample > 1 {
            crate::core::log::info(&format!(
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
            ids_outlive_classes: AtomicBool::new(false),
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
                Err(why) => crate::core::log::info(&format!("stack templates off, every zlib/direct event is walked: {why}")),
            }
        }
        // Without stack trace names (JDK 8 has no StackTraceElement.format), walks make ids as
        // they always did.
        self.ids_outlive_classes.store(named_stack::available(env), Relaxed);
        self.live.store(true, Relaxed);
    }

    /// Whether a walk must not make jmethodIDs for code of loaders that may die: only where
    /// stack traces can name it instead, and only once the process churns loaders. Until then a
    /// few dead loaders' ids cost a few KB (~100 B each), while naming by stack trace costs
    /// ~20 µs per event for an application's own classes under a Tomcat or Spring Boot loader.
    fn ids_outlive_classes(&self) -> bool {
        self.ids_outlive_classes.load(Relaxed) && crate::loaders::tracker::loaders_churn()
    }

    pub fn is_live(&self) -> bool {
        self.live.load(Relaxed)
    }

    /// The site of the current event at ledger slot `slot`: from a stack template of this
    /// thread when one holds, else from a walk, interning a new key with `intern`. Every event
    /// gets the site of its own top `key_depth` frames either way.
    pub fn site(&self, slot: Slot, kind: u8, jvmti: &Jvmti, env: &Env, intern: impl FnOnce(&SiteKey) -> u32) -> u32 {
        match templates::lookup(slot, env) {
            Some(site) => site,
            None => self.walked_site(slot, kind, jvmti, env, intern),
        }
    }

    /// `site` when no template of this thread holds (the caller looked): from a walk.
    pub fn walked_site(&self, slot: Slot, kind: u8, jvmti: &Jvmti, env: &Env, intern: impl FnOnce(&SiteKey) -> u32) -> u32 {
        health::bump(&COUNTERS.stack_walks);
        let learn = self.templates.load(Relaxed) && templates::wants_to_learn();
        let depth = if learn { (self.key_depth + LEARN_EXTRA_DEPTH).min(MAX_STACK_DEPTH) } else { self.key_depth };
        let mut frames = [Frame::EMPTY; MAX_STACK_DEPTH];
        let (key, walked) = self.walk(jvmti, env, kind, &mut frames[..depth], learn);
        let site = match self.last_site(slot, &key) {
            Some(site) => site,
            None => {
                let site = intern(&key);
                self.remember_site(slot, &key, site);
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
    /// and AsyncGetCallTrace is tried once more so that a path keeps one key. Ids are made only
    /// for the built-in loaders' classes (HotSpot keeps an id's memory for good): a stack that
    /// holds another loader's class is named by a stack trace, and learns no template.
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
        // Where ids are never freed, learning does not make ids for the frames below the key.
        let ids_for_learning = learning && !self.ids_outlive_classes();
        let enough = |(n, complete): (usize, bool)| complete || (n >= depth && !ids_for_learning);
        if let Some(w) = asgct::current_stack(env.raw(), frames).filter(|&w| enough(w)) {
            return (key_of(frames, w.0), Some(w.0));
        }
        let jvmti_depth = if ids_for_learning { frames.len() } else { depth };
        if self.ids_outlive_classes() {
            match self.named_unless_builtin(env, jvmti_depth) {
                Named::Builtin => {}
                Named::Frames(named) => return (key_of(&named, named.len()), None),
                Named::Failed => {
                    health::bump(&COUNTERS.stack_walk_failures);
                    return (SiteKey::special(kind, SPECIAL_NO_STACK), None);
                }
            }
        }
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

    /// What the user reads of a key: its kind and, per frame, class (normalised: methods.rs),
    /// method, signature and source line (the bytecode index without a line table), so one
    /// source line is one site. Two class loaders' copies of the same code have the same name
    /// (and different jmethodIDs); a method already unloaded keeps its id, as nothing else names
    /// it. A run of reflection accessor frames is one `<reflection>` entry, and a key holding
    /// one names only its first `len - ACCESSOR_SLACK` other frames: the accessors' frame count
    /// varies between calls of the same place, and so does how deep the key reaches.
    pub fn name_of(&self, jvmti: &Jvmti, env: &Env, key: &SiteKey) -> String {
        let methods: Vec<_> = key.frames().iter().map(|f| (f, self.methods.get(jvmti, env, f.method))).collect();
        let limit = if methods.iter().any(|(_, m)| m.is_accessor()) {
            methods.len().saturating_sub(ACCESSOR_SLACK).max(1)
        } else {
            methods.len()
        };
        let mut s = key.tag.to_string();
        let (mut named, mut in_accessors) = (0, false);
        for (f, m) in &methods {
            if m.is_accessor() {
                if !in_accessors {
                    s.push_str("|<reflection>");
                }
                in_accessors = true;
                continue;
            }
            in_accessors = false;
            if named == limit {
                break;
            }
            named += 1;
            // A source line or a native method names its place without the signature, which
            // a frame named by a stack trace does not know (named_stack.rs).
            let _ = match (m.class == UNLOADED, m.line_at(f.location).filter(|_| f.location >= 0)) {
                (true, _) => write!(s, "|#{:x}@{}", f.method, f.location),
                (false, Some(line)) => write!(s, "|{}.{}:{line}", m.class, m.name),
                (false, None) if f.location < 0 => write!(s, "|{}.{}@native", m.class, m.name),
                (false, None) => write!(s, "|{}.{}{}@{}", m.class, m.name, m.signature, f.location),
            };
        }
        s
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
            frames = self.deeper(jvmti, env, frames);
        }
        frames.truncate(self.stack_depth);
        let methods = frames.iter().map(|f| self.methods.get(jvmti, env, f.method)).collect();
        let first_thread = if self.is_live() { jvmti.current_thread_name(env).ok() } else { None };
        SiteInfo { kind, exact_frames: key.len as usize, frames, methods, special, first_thread }
    }

    /// `frames` (the key's) with the frames below them, down to `stack_depth`: where ids are
    /// never freed, from AsyncGetCallTrace when every frame has an id, else named by a stack
    /// trace unless every frame is a built-in loader's; else from JVMTI.
    fn deeper(&self, jvmti: &Jvmti, env: &Env, frames: Vec<Frame>) -> Vec<Frame> {
        let mut full = [Frame::EMPTY; MAX_STACK_DEPTH];
        let full = &mut full[..self.stack_depth];
        if self.ids_outlive_classes() {
            if let Some((n, true)) = asgct::current_stack(env.raw(), full) {
                if n >= frames.len() && full[..frames.len()] == frames[..] {
                    return full[..n].to_vec();
                }
            }
            match self.named_unless_builtin(env, self.stack_depth) {
                Named::Builtin => {}
                Named::Frames(named) => return named,
                Named::Failed => return frames,
            }
        }
        match jvmti.current_stack(0, full) {
            // The deeper walk sees the same top frames: the thread has not moved.
            Ok(n) if n >= frames.len() => full[..n].to_vec(),
            _ => frames,
        }
    }

    /// The top `depth` frames named by a stack trace, unless every one of them (and a few
    /// more, for the hidden frames a stack trace leaves out and a JVMTI walk shows) belongs
    /// to a built-in loader, whose classes are never unloaded: then a JVMTI walk may make
    /// their ids, and AsyncGetCallTrace and templates serve the next events.
    fn named_unless_builtin(&self, env: &Env, depth: usize) -> Named {
        let Some(named) = named_stack::current_stack(env, Take::Top(depth + HIDDEN_FRAMES)) else { return Named::Failed };
        if named.iter().all(|f| f.builtin) {
            return Named::Builtin;
        }
        let frames: Option<Vec<Frame>> = named.iter().take(depth).map(|f| self.methods.named(f)).collect();
        frames.map_or(Named::Failed, Named::Frames)
    }

    /// Whether the current thread runs GC cleanup (Cleaner, Reference Handler, Finalizer),
    /// decided once per thread from its oldest frames.
    pub fn on_cleanup_thread(&self, jvmti: &Jvmti, env: &Env) -> bool {
        match thread::with(|t| t.kind) {
            Some(THREAD_APP) => false,
            Some(THREAD_CLEANUP) => true,
            // Not decided yet, or no record (the thread is exiting): decided now.
            record => {
                if !self.is_live() {
                    return false;
                }
                let cleanup = self.oldest_frames_run_cleanup(jvmti, env);
                if record.is_some() {
                    thread::with(|t| t.kind = if cleanup { THREAD_CLEANUP } else { THREAD_APP });
                }
                cleanup
            }
        }
    }

    fn oldest_frames_run_cleanup(&self, jvmti: &Jvmti, env: &Env) -> bool {
        if self.ids_outlive_classes() {
            // Once per thread: its oldest frames by name, no id made for them.
            let Some(named) = named_stack::current_stack(env, Take::Bottom(8)) else { return false };
            return named.iter().any(|f| CLEANUP_THREAD_ENTRIES.iter().any(|(c, name)| f.class == *c && f.method == *name));
        }
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
    fn last_site(&self, slot: Slot, key: &SiteKey) -> Option<u32> {
        thread::with(|t| {
            let (k, site) = &t.last_keys.as_ref()?[slot as usize];
            (k == key).then_some(*site)
        })
        .flatten()
    }

    fn remember_site(&self, slot: Slot, key: &SiteKey, site: u32) {
        thread::with(|t| t.last_keys.get_or_insert_with(|| Box::new([(SiteKey::NONE, 0); SLOTS]))[slot as usize] = (*key, site));
    }
}
