//! The reference chain from a GC root to each suspect class loader.
//!
//! A reverse breadth-first search: each pass is one JVMTI FollowReferences walk over the live
//! heap, and tags only the objects that refer to the current frontier (starting with the suspect
//! loaders themselves). Memory therefore grows with the objects that lead to a suspect, not with
//! the heap, and passes stop at the first root reached: the chain is the shortest. Edges out of
//! `java.lang.ref.Reference.referent` are not strong and are skipped; the references of the
//! agent's own threads (their `Thread` tagged `TAG_SELF_THREAD`: the report thread, the sampler,
//! the thread writing an exit report) are not roots.
//!
//! The dump search (`dump/search.rs`) is the same reverse breadth-first search over another
//! graph, but the two keep their own loops: here each pass is a JVMTI callback inside a
//! safepoint, nodes are JVMTI tags (set in the callback, cleared afterwards), roots are met during
//! the walk, and each node keeps per target the edge leading to it, all under allocation checks
//! that must never abort the host in a pause; the dump search reads a file off the safepoint,
//! knows every root and class edge from its index pass, and keeps one edge list for 1,500
//! targets at once, found from the roots forward after each pass. A shared "referrers of a node"
//! trait would have to hide the tag stamping and the safepoint rules behind it. What they share:
//! `Limits`, the hop kinds and the root namer (`hops::root_from`).
//!
//! HotSpot's heap walk reports nothing out of the `Class` object of a class that is loaded but not
//! linked (`ClassLoader.loadClass` without a use), not even its loader, on every JDK: a loader
//! held only through such a class (a `Class` in a static list) would look unreachable, so the walk
//! adds that edge itself (`Walk::unlinked_class`); a heap dump has it.

use crate::loaders::tags::{tag_loader, TAG_CLASS, TAG_KIND_MASK, TAG_LOADER, TAG_SEARCH, TAG_SELF_THREAD};
use crate::core::budget::Budget;
use crate::ffi::heapwalk::{self, RefEdge};
use crate::leaks::hops::Classes;
use crate::leaks::walk::stop::WalkStop;
use crate::ffi::jni::{Env, Local};
use crate::ffi::jvmti::Jvmti;
use crate::ffi::sys::*;
use jni::sys::jlong;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Bytes HotSpot's tag map takes per tagged object (measured).
pub const TAG_MAP_BYTES: u64 = 70;
/// Bytes the agent's own bookkeeping takes per node (a hash map entry with its vector).
const NODE_BYTES: u64 = 64;
/// Bytes one tagged object costs, in HotSpot and the agent: what `chain_memory` is divided by
/// (the `chain_objects` help quotes it; a unit test in `core/options` keeps the two equal).
pub const BYTES_PER_NODE: u64 = TAG_MAP_BYTES + NODE_BYTES;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    /// The whole search.
    pub time: Duration,
    pub max_objects: u64,
    /// The longest one safepoint pause (one heap walk) may be.
    pub pause: Duration,
    /// The search's own memory (nodes and frontier, HotSpot's tag map entries included).
    pub memory: u64,
}

impl Limits {
    /// Objects the search may tag: `max_objects`, or fewer when `memory` says so.
    pub fn max_tagged(&self) -> u64 {
        self.max_objects.min(self.memory / BYTES_PER_NODE)
    }
}

/// One step of a chain as the heap walk saw it; names are resolved afterwards.
#[derive(Clone, Debug, PartialEq)]
pub struct RawHop {
    pub kind: jvmtiHeapReferenceKind,
    pub index: i32,
    /// The referrer (0 for the root hop) and its class tag.
    pub from: jlong,
    pub from_class: jlong,
    /// The referenced object and its class tag.
    pub to: jlong,
    pub to_class: jlong,
    /// For stack and JNI local roots.
    pub thread_id: jlong,
    pub method: usize,
}

#[derive(Default, Debug)]
pub struct Outcome {
    /// For each target (same order as given), the hops from the root to the loader.
    pub chains: Vec<Option<Vec<RawHop>>>,
    pub passes: u32,
    pub references_visited: u64,
    pub objects_tagged: u64,
    pub elapsed: Duration,
    pub limit_hit: Option<String>,
    pub error: Option<String>,
    /// For chains rooted in a thread: the thread's name (read before the search tags go).
    pub root_threads: HashMap<usize, String>,
    /// Every safepoint pause the search caused (heap walks, tag clearing), in milliseconds.
    pub pauses: Vec<(String, u64)>,
    /// The search's own memory at its largest (nodes and frontier), estimated.
    pub peak_memory_bytes: u64,
}

/// How a node leads towards one target: the next object and the edge to it.
#[derive(Clone, Copy)]
struct Step {
    target: u16,
    next: jlong,
    kind: jvmtiHeapReferenceKind,
    index: i32,
}

struct Node {
    class_tag: jlong,
    steps: Vec<Step>,
}

/// `classes`: each Reference subclass's `referent` field index, and the classes not linked yet
/// (their edge to their loader is the search's own, `Walk::unlinked_class`).
///
/// A first search ignores the edge from an object to its class when the class is not one of the
/// suspects': a popular class would otherwise pull every one of its instances into the frontier
/// (a million `Node`s because `Node`'s constant pool names the class holding the leak), while the
/// class is reachable through its own loader anyway. Only if that search runs out of objects
/// without finding every chain does a second search take those edges too.
pub fn search(jvmti: &Jvmti, env: &Env, targets: &[jlong], classes: &Classes, limits: Limits, budget: &Budget) -> Outcome {
    let start = Instant::now();
    let mut out = search_once(jvmti, env, targets, classes, limits, budget, false, start);
    let exhausted = out.limit_hit.is_none() && out.error.is_none();
    if exhausted && out.chains.iter().any(Option::is_none) {
        let again = search_once(jvmti, env, targets, classes, limits, budget, true, start);
        let mut merged = again;
        merged.passes += out.passes;
        merged.references_visited += out.references_visited;
        merged.objects_tagged = merged.objects_tagged.max(out.objects_tagged);
        merged.peak_memory_bytes = merged.peak_memory_bytes.max(out.peak_memory_bytes);
        merged.pauses.splice(0..0, out.pauses.drain(..));
        for (i, c) in out.chains.drain(..).enumerate() {
            if c.is_some() {
                merged.chains[i] = c;
                if let Some(n) = out.root_threads.remove(&i) {
                    merged.root_threads.insert(i, n);
                }
            }
        }
        out = merged;
    }
    out.elapsed = start.elapsed();
    out
}

/// The tag epoch of this process's searches: a tag left by an earlier search whose clearing was
/// cut short is never taken for one of this search's nodes.
static EPOCH: AtomicU64 = AtomicU64::new(0);
const EPOCH_SHIFT: u32 = 40;
const EPOCH_MASK: jlong = 0xffff << EPOCH_SHIFT;

fn is_search_tag(tag: jlong) -> bool {
    tag & TAG_KIND_MASK == TAG_SEARCH
}

/// Search tags left in place below this many (`TAG_MAP_BYTES` each in HotSpot's tag map).
const CLEAR_ABOVE: u64 = 65_536;
/// Bytes the agent takes per frontier entry (a hash map entry with its vector).
const FRONTIER_BYTES: u64 = 48;

/// One search's state across its passes, and the heap-walk callback's working set. The callback
/// runs at a safepoint: every growth of these maps is a `try_reserve`, and a limit or a failed
/// reservation stops the walk with `stop` set, never aborts the host.
struct Walk<'a> {
    limits: Limits,
    budget: &'a Budget,
    /// When the whole search (both of its runs) started.
    start: Instant,
    classes: &'a Classes,
    all_class_edges: bool,
    suspect_loaders: Vec<u32>,
    /// `TAG_SEARCH` with this search's epoch: the tags it sets carry it.
    stamp: jlong,
    max_tagged: u64,
    nodes: HashMap<jlong, Node>,
    next_frontier: HashMap<jlong, Vec<u16>>,
    /// Per target, the root hop once a walk met one.
    roots: Vec<Option<RawHop>>,
    next_tag: jlong,
    tagged: u64,
    passes: u32,
    /// The current pass: references seen, why it stopped, when it started, its frontier's bytes.
    visited: u64,
    stop: Option<WalkStop>,
    pass_start: Instant,
    frontier_bytes: u64,
}

impl<'a> Walk<'a> {
    /// The state before the first pass, and the first frontier (the targets themselves).
    fn new(
        targets: &[jlong],
        classes: &'a Classes,
        limits: Limits,
        budget: &'a Budget,
        all_class_edges: bool,
        start: Instant,
    ) -> (Self, HashMap<jlong, Vec<u16>>) {
        let epoch = (EPOCH.fetch_add(1, Relaxed) + 1) as jlong & 0xffff;
        let mut walk = Walk {
            limits,
            budget,
            start,
            classes,
            all_class_edges,
            suspect_loaders: targets.iter().map(|t| (*t & 0xffff_ffff) as u32).collect(),
            stamp: TAG_SEARCH | (epoch << EPOCH_SHIFT),
            max_tagged: limits.max_tagged(),
            nodes: HashMap::new(),
            next_frontier: HashMap::new(),
            roots: vec![None; targets.len()],
            next_tag: 1,
            tagged: 0,
            passes: 0,
            visited: 0,
            stop: None,
            pass_start: Instant::now(),
            frontier_bytes: 0,
        };
        let mut frontier: HashMap<jlong, Vec<u16>> = HashMap::new();
        for (i, &t) in targets.iter().enumerate() {
            walk.nodes.insert(t, Node { class_tag: 0, steps: Vec::new() });
            frontier.entry(t).or_default().push(i as u16);
        }
        (walk, frontier)
    }

    fn begin_pass(&mut self, frontier: &HashMap<jlong, Vec<u16>>) {
        self.passes += 1;
        self.next_frontier = HashMap::new();
        self.visited = 0;
        self.stop = None;
        self.pass_start = Instant::now();
        self.frontier_bytes = frontier.len() as u64 * FRONTIER_BYTES;
    }

    /// A tag an earlier search left behind (another epoch).
    fn stale(&self, tag: jlong) -> bool {
        is_search_tag(tag) && tag & EPOCH_MASK != self.stamp & EPOCH_MASK
    }

    /// The heap-walk callback: false stops the walk (`stop` says why).
    fn on_edge(&mut self, frontier: &HashMap<jlong, Vec<u16>>, e: &mut RefEdge<'_>) -> bool {
        self.visited += 1;
        if self.visited.is_multiple_of(4096) {
            if let Some(why) = self.out_of_time() {
                self.stop = Some(why);
                return false;
            }
        }
        // A tag an earlier search left behind counts as no tag, and goes.
        if self.stale(*e.tag) {
            *e.tag = 0;
        }
        let to = *e.tag;
        if to == 0 {
            return true;
        }
        // Every object has this edge: decide it before the frontier lookup.
        if e.kind == JVMTI_HEAP_REFERENCE_CLASS && !self.all_class_edges && !self.suspect_loaders.contains(&((to & 0xffff_ffff) as u32)) {
            return true;
        }
        let wanted = match frontier.get(&to) {
            Some(w) => w,
            None => match self.unlinked_class(frontier, to) {
                Ok(Some(w)) => w,
                Ok(None) => return true,
                Err(why) => {
                    self.stop = Some(why);
                    return false;
                }
            },
        };
        if e.kind == JVMTI_HEAP_REFERENCE_FIELD && self.classes.referent_index.get(&e.referrer_class_tag).is_some_and(|&i| i == e.index) {
            return true; // Reference.referent: weak, soft, phantom or final, never strong.
        }
        let Some(rt) = e.referrer_tag.as_deref_mut() else {
            self.root_hop(e, to, wanted);
            return true;
        };
        if *rt == TAG_SELF_THREAD {
            return true;
        }
        if self.stale(*rt) {
            *rt = 0;
        }
        if *rt == 0 {
            if let Err(why) = self.tag_referrer(rt) {
                self.stop = Some(why);
                return false;
            }
        }
        let from = *rt;
        let edge = Step { target: 0, next: to, kind: e.kind, index: e.index };
        if let Err(why) = self.add_steps(from, e.referrer_class_tag, edge, wanted) {
            self.stop = Some(why);
            return false;
        }
        true
    }

    /// A class loaded but not linked whose loader is in the frontier: the heap walk reports no
    /// reference out of its `Class` object, so its edge to the loader is added here and the
    /// class counts as part of the frontier (the loader's targets).
    fn unlinked_class<'f>(&mut self, frontier: &'f HashMap<jlong, Vec<u16>>, to: jlong) -> Result<Option<&'f [u16]>, WalkStop> {
        if to & TAG_KIND_MASK != TAG_CLASS || !self.classes.unlinked.contains(&to) {
            return Ok(None);
        }
        let loader = TAG_LOADER | tag_loader(to) as jlong;
        let Some(wanted) = frontier.get(&loader) else { return Ok(None) };
        let edge = Step { target: 0, next: loader, kind: JVMTI_HEAP_REFERENCE_CLASS_LOADER, index: 0 };
        self.add_steps(to, 0, edge, wanted)?;
        Ok(Some(wanted))
    }

    /// Why the walk must stop now for time (this pause, the budget, the whole search), if so.
    fn out_of_time(&self) -> Option<WalkStop> {
        if self.pass_start.elapsed() > self.limits.pause {
            return Some(WalkStop::Pause { ms: self.limits.pause.as_millis(), pass: self.passes });
        }
        if self.budget.stop_now() {
            return Some(WalkStop::Budget { reason: self.budget.stop_reason(), passes: self.passes });
        }
        if self.start.elapsed() > self.limits.time {
            return Some(WalkStop::Time { secs: self.limits.time.as_secs(), passes: self.passes });
        }
        None
    }

    /// A root refers to a frontier object: the root hop of every target that has none yet
    /// (the agent's threads' locals are not roots).
    fn root_hop(&mut self, e: &RefEdge<'_>, to: jlong, wanted: &[u16]) {
        let own_local = matches!(e.kind, JVMTI_HEAP_REFERENCE_STACK_LOCAL | JVMTI_HEAP_REFERENCE_JNI_LOCAL) && e.thread_tag == TAG_SELF_THREAD;
        if own_local {
            return;
        }
        for &t in wanted {
            let slot = &mut self.roots[t as usize];
            if slot.is_none() {
                *slot = Some(RawHop {
                    kind: e.kind,
                    index: e.index,
                    from: 0,
                    from_class: 0,
                    to,
                    to_class: e.class_tag,
                    thread_id: e.thread_id,
                    method: e.method,
                });
            }
        }
    }

    /// Tags an untagged referrer as a node of this search, within the object and memory limits.
    fn tag_referrer(&mut self, rt: &mut jlong) -> Result<(), WalkStop> {
        let memory = (self.nodes.len() as u64 + 1) * BYTES_PER_NODE + self.frontier_bytes + self.next_frontier.len() as u64 * FRONTIER_BYTES;
        if self.tagged >= self.limits.max_objects {
            return Err(WalkStop::Objects { limit: self.limits.max_objects, passes: self.passes });
        }
        if self.tagged >= self.max_tagged || memory > self.limits.memory {
            return Err(WalkStop::Memory { passes: self.passes, tagged: self.tagged, memory: self.limits.memory });
        }
        // Never abort the host for memory inside a paused heap walk.
        if self.nodes.try_reserve(1).is_err() || self.next_frontier.try_reserve(1).is_err() {
            return Err(WalkStop::NoMemory);
        }
        *rt = self.stamp | self.next_tag;
        self.next_tag += 1;
        self.tagged += 1;
        Ok(())
    }

    /// Records that node `from` leads through `edge` towards every wanted target not yet rooted,
    /// and puts it in the next frontier for them.
    fn add_steps(&mut self, from: jlong, class_tag: jlong, edge: Step, wanted: &[u16]) -> Result<(), WalkStop> {
        if self.nodes.try_reserve(1).is_err() || self.next_frontier.try_reserve(1).is_err() {
            return Err(WalkStop::NoMemory);
        }
        let node = self.nodes.entry(from).or_insert_with(|| Node { class_tag, steps: Vec::new() });
        if node.class_tag == 0 {
            node.class_tag = class_tag;
        }
        for &t in wanted {
            if self.roots[t as usize].is_none() && !node.steps.iter().any(|s| s.target == t) {
                let next = self.next_frontier.entry(from).or_default();
                if node.steps.try_reserve(1).is_err() || next.try_reserve(1).is_err() {
                    return Err(WalkStop::NoMemory);
                }
                node.steps.push(Step { target: t, ..edge });
                next.push(t);
            }
        }
        Ok(())
    }

    /// Each target's chain: from its root hop, node by node along that target's steps.
    fn unwind(self, targets: &[jlong]) -> Vec<Option<Vec<RawHop>>> {
        let mut chains = vec![None; targets.len()];
        for (i, root) in self.roots.into_iter().enumerate() {
            let Some(root) = root else { continue };
            let mut hops = vec![root.clone()];
            let mut at = root.to;
            let mut at_class = root.to_class;
            let mut seen = HashSet::new();
            while at != targets[i] && seen.insert(at) {
                let Some(node) = self.nodes.get(&at) else { break };
                let Some(step) = node.steps.iter().find(|s| s.target as usize == i) else { break };
                let to_class = self.nodes.get(&step.next).map(|n| n.class_tag).unwrap_or(0);
                hops.push(RawHop {
                    kind: step.kind,
                    index: step.index,
                    from: at,
                    from_class: if node.class_tag != 0 { node.class_tag } else { at_class },
                    to: step.next,
                    to_class,
                    thread_id: 0,
                    method: 0,
                });
                at = step.next;
                at_class = to_class;
            }
            if at == targets[i] {
                chains[i] = Some(hops);
            }
        }
        chains
    }
}

#[allow(clippy::too_many_arguments)]
fn search_once(
    jvmti: &Jvmti,
    env: &Env,
    targets: &[jlong],
    classes: &Classes,
    limits: Limits,
    budget: &Budget,
    all_class_edges: bool,
    start: Instant,
) -> Outcome {
    let (mut walk, mut frontier) = Walk::new(targets, classes, limits, budget, all_class_edges, start);
    let mut out = Outcome::default();
    while !frontier.is_empty() && walk.roots.iter().any(Option::is_none) {
        walk.begin_pass(&frontier);
        let result = heapwalk::follow_references(jvmti, &mut |e: &mut RefEdge<'_>| walk.on_edge(&frontier, e));
        let pause = walk.pass_start.elapsed();
        out.pauses.push((format!("heap walk {}", walk.passes), pause.as_millis() as u64));
        out.references_visited += walk.visited;
        let memory = walk.nodes.len() as u64 * NODE_BYTES + (frontier.len() + walk.next_frontier.len()) as u64 * FRONTIER_BYTES;
        out.peak_memory_bytes = out.peak_memory_bytes.max(memory);
        if let Err(e) = result {
            out.error = Some(e.to_string());
            break;
        }
        if walk.stop.is_some() {
            out.limit_hit = walk.stop.take().map(|s| s.to_string());
            break;
        }
        frontier = std::mem::take(&mut walk.next_frontier);
    }
    out.passes = walk.passes;
    out.objects_tagged = walk.tagged;
    let search_tagged = walk.tagged;
    out.chains = walk.unwind(targets);
    name_root_threads(jvmti, env, &mut out);

    // A few leftover tags cost HotSpot's tag map a few bytes each and mislead nobody (their epoch
    // is old): clearing them is a walk over the whole heap, worth it only for many.
    if search_tagged > CLEAR_ABOVE {
        clear_tags(jvmti, limits.pause, &mut out);
    }
    out
}

/// For chains rooted in a thread, the thread's name, read while the search tags still name it.
fn name_root_threads(jvmti: &Jvmti, env: &Env, out: &mut Outcome) {
    for (i, chain) in out.chains.iter().enumerate() {
        let Some(root) = chain.as_ref().and_then(|c| c.first()) else { continue };
        if root.kind == JVMTI_HEAP_REFERENCE_THREAD {
            if let Ok(objs) = jvmti.objects_with_tags(&[root.to]) {
                let objs: Vec<Local> = objs.into_iter().map(|(o, _)| Local::new(env, o)).collect();
                if let Some(name) = objs.first().and_then(|o| jvmti.thread_name(o.raw())) {
                    out.root_threads.insert(i, name);
                }
            }
        }
    }
}

/// Clears the search's tags in one heap iteration, stopped at `cap` like any other pause: tags
/// left behind carry an old epoch, so later searches ignore them and clear them as they pass.
fn clear_tags(jvmti: &Jvmti, cap: Duration, out: &mut Outcome) {
    let t0 = Instant::now();
    let mut seen: u64 = 0;
    let r = heapwalk::for_each_tagged(jvmti, &mut |t| {
        if is_search_tag(*t) {
            *t = 0;
        }
        seen += 1;
        !(seen.is_multiple_of(4096) && t0.elapsed() > cap)
    });
    out.pauses.push(("tag clearing".into(), t0.elapsed().as_millis() as u64));
    if let Err(e) = r {
        out.error.get_or_insert(format!("clearing search tags: {e}"));
    }
}
