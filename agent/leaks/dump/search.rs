//! The chain search over a heap dump: the same reverse breadth-first search as the live heap walk
//! (`chains.rs`), but each pass reads the dump file on the report thread while the application
//! runs. The only pause is HotSpot writing the dump.
//!
//! The dump names objects by address, the agent knows loaders by JVMTI tag. To tie the two, the
//! agent holds, while the dump is written, one object array on its own thread: a `long[]` marker
//! at both ends, its own `Thread`, then every live loader in a known order. The search finds the
//! marker, reads the loaders' addresses from the array, and ignores the array and the agent's
//! own thread as roots.

use crate::leaks::walk::search::Limits;
use crate::leaks::dump::hprof::{self, ClassDump, Dump, Root, ScanEnd, Visitor, Want, TYPE_LONG, TYPE_OBJECT};
use crate::core::budget::Budget;
use crate::core::hash::MixBuild;
use leakagent_report::model::PathHop;
use std::collections::HashMap;
use std::time::Instant;

/// The search looks up every reference of the heap by object id.
type IdMap<V> = HashMap<u64, V, MixBuild>;

/// What the agent put in the heap for the search to find, and what it looks for.
pub struct Setup {
    /// The contents of the `long[]` marker.
    pub marker: [i64; 4],
    /// The agent's id of each loader in the marker array, in array order, and its class.
    pub loader_ids: Vec<u32>,
    pub loader_classes: Vec<String>,
    /// The suspects: agent loader ids.
    pub targets: Vec<u32>,
    pub limits: Limits,
}

#[derive(Debug, Default)]
pub struct Found {
    /// Per target: the chain from a GC root, when one was found, and for a chain rooted in a
    /// stack frame the agent id of the loader of the frame's class.
    pub chains: Vec<Option<(Vec<PathHop>, Option<u32>)>>,
    /// Per target without a strong chain: reachable only through a weak, soft, phantom or final
    /// reference (true), or through no path in the dump at all (false).
    pub weakly_held: Vec<bool>,
    pub passes: u32,
    pub references_visited: u64,
    pub peak_memory_bytes: u64,
    /// Every target was decided: a chain, weakly held, or proven unreachable in the dump.
    pub complete: bool,
    pub limit_hit: Option<String>,
    pub error: Option<String>,
    /// The loaders' objects and the agent's own roots in the dump, for `retained::compute`.
    pub objects: Option<crate::leaks::dump::retained::Objects>,
}

/// One class of the dump, with the instance layout the search needs.
struct Class {
    dump: ClassDump,
    name_id: u64,
    serial: u32,
    /// Reference fields of an instance, over the whole hierarchy: (byte offset, field name id).
    refs: Vec<(u32, u64)>,
    /// Byte offset of `Reference.referent` for subclasses of java.lang.ref.Reference.
    referent: Option<u32>,
    /// Total bytes of an instance's field values.
    size: u32,
}

/// Names the index pass looks for.
#[derive(Default)]
struct Known {
    reference: u64,
    referent: u64,
    thread: u64,
    tid: u64,
}

const WELL_KNOWN: [&[u8]; 4] = [b"java/lang/ref/Reference", b"referent", b"java/lang/Thread", b"tid"];

/// The index pass: classes, roots, stack traces and the marker.
#[derive(Default)]
struct Index {
    known: Known,
    classes: IdMap<Class>,
    class_by_serial: HashMap<u32, u64>,
    frames: IdMap<(u64, u32)>,
    traces: HashMap<u32, Vec<u64>>,
    roots: Vec<Root>,
    heap_start: Option<u64>,
    marker_len: u32,
    marker: [i64; 4],
    marker_ids: Vec<u64>,
    /// Object arrays of the marker array's length whose first and last elements agree.
    candidates: Vec<(u64, Vec<u64>)>,
}

fn id_at(b: &[u8], at: usize) -> u64 {
    b[at..at + 8].iter().fold(0u64, |acc, &x| acc << 8 | x as u64)
}

impl Visitor for Index {
    fn want(&self) -> Want {
        Want { strings: true, meta: true, roots: true, classes: true, instances: false, object_arrays: true, small_primitive_arrays: 4 }
    }
    fn utf8(&mut self, id: u64, text: &[u8]) {
        match WELL_KNOWN.iter().position(|w| *w == text) {
            Some(0) => self.known.reference = id,
            Some(1) => self.known.referent = id,
            Some(2) => self.known.thread = id,
            Some(3) => self.known.tid = id,
            _ => {}
        }
    }
    fn load_class(&mut self, serial: u32, class_id: u64, name_id: u64) {
        self.class_by_serial.insert(serial, class_id);
        self.classes.entry(class_id).or_insert_with(|| empty_class(class_id)).name_id = name_id;
        if let Some(c) = self.classes.get_mut(&class_id) {
            c.serial = serial;
        }
    }
    fn frame(&mut self, frame_id: u64, method_name_id: u64, class_serial: u32) {
        self.frames.insert(frame_id, (method_name_id, class_serial));
    }
    fn trace(&mut self, serial: u32, _thread_serial: u32, frames: &[u64]) {
        self.traces.insert(serial, frames.to_vec());
    }
    fn heap_start(&mut self, offset: u64) {
        self.heap_start = Some(offset);
    }
    fn root(&mut self, root: Root) {
        self.roots.push(root);
    }
    fn class(&mut self, class: ClassDump) {
        let id = class.id;
        self.classes.entry(id).or_insert_with(|| empty_class(id)).dump = class;
    }
    fn object_array(&mut self, id: u64, _class_id: u64, length: u32, first: u32, elements: &[u8]) {
        if length == self.marker_len && first == 0 && elements.len() == length as usize * 8 && length >= 2 {
            let head = id_at(elements, 0);
            if head != 0 && head == id_at(elements, elements.len() - 8) {
                self.candidates.push((id, elements.chunks_exact(8).map(|c| id_at(c, 0)).collect()));
            }
        }
    }
    fn primitive_array(&mut self, id: u64, elem_type: u8, length: u32, data: &[u8]) {
        if elem_type == TYPE_LONG && length == 4 {
            let v: Vec<i64> = data.chunks_exact(8).map(|c| id_at(c, 0) as i64).collect();
            if v == self.marker {
                self.marker_ids.push(id);
            }
        }
    }
}

fn empty_class(id: u64) -> Class {
    Class { dump: ClassDump { id, ..ClassDump::default() }, name_id: 0, serial: 0, refs: Vec::new(), referent: None, size: 0 }
}

/// How a node leads to the next object on the way to a target.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Edge {
    Field(u64),
    Static(u64),
    Element(u32),
    /// An object to its class.
    Class,
    /// A class to its loader.
    Loader,
    Super,
    Signers,
    Domain,
}

const NODE_BYTES: u64 = 48;
const EDGE_BYTES: u64 = 40;
const FRONTIER_BYTES: u64 = 24;

/// One search for every open target at once: a reverse breadth-first search from all targets
/// together visits each object once (what leads to any target), keeping the edges between the
/// objects it visits; after each pass a forward walk from the GC roots over those edges marks
/// every target it reaches. 1,500 suspects cost about what one does: no object carries a list
/// of the targets it leads to.
struct Round<'a> {
    index: &'a Index,
    targets: Vec<u64>,
    suspects: Vec<u64>,
    exclude_array: u64,
    own_serial: Option<u32>,
    own_thread: u64,
    all_class_edges: bool,
    referents: bool,
    /// Every object found to lead to a target, with its class (0 while unknown).
    nodes: IdMap<u64>,
    /// (from, edge, to) between visited objects.
    edges: Vec<(u64, Edge, u64)>,
    frontier: IdMap<()>,
    next: IdMap<()>,
    /// GC roots among the visited objects, in the order found.
    roots: Vec<Root>,
    rooted: IdMap<()>,
    visited: u64,
    memory_limit: u64,
    peak: u64,
    stop: Option<String>,
    deadline: &'a dyn Fn() -> Option<String>,
}

impl Round<'_> {
    fn memory(&self) -> u64 {
        self.nodes.len() as u64 * NODE_BYTES
            + self.edges.len() as u64 * EDGE_BYTES
            + (self.frontier.len() + self.next.len()) as u64 * FRONTIER_BYTES
    }

    fn reach(&mut self, from: u64, from_class: u64, to: u64, edge: Edge) {
        self.visited += 1;
        if !self.frontier.contains_key(&to) || self.stop.is_some() {
            return;
        }
        if self.memory() > self.memory_limit || self.edges.try_reserve(1).is_err() || self.nodes.try_reserve(1).is_err() {
            self.stop = Some(format!("memory limit reached (chain_memory={} MiB)", self.memory_limit >> 20));
            return;
        }
        self.edges.push((from, edge, to));
        match self.nodes.get_mut(&from) {
            Some(c) if *c == 0 => *c = from_class,
            Some(_) => {}
            None => {
                self.nodes.insert(from, from_class);
                self.next.insert(from, ());
            }
        }
    }

    /// Shortest paths from the roots over the edges found so far, as parent pointers.
    fn walk_from_roots(&self) -> IdMap<(u64, Edge)> {
        let mut out: IdMap<Vec<(Edge, u64)>> = IdMap::default();
        for &(from, edge, to) in &self.edges {
            out.entry(from).or_default().push((edge, to));
        }
        let mut parent: IdMap<(u64, Edge)> = IdMap::default();
        let mut queue: std::collections::VecDeque<u64> = self.roots.iter().map(|r| r.id).collect();
        let mut seen: IdMap<()> = queue.iter().map(|&id| (id, ())).collect();
        while let Some(at) = queue.pop_front() {
            for &(edge, to) in out.get(&at).map(Vec::as_slice).unwrap_or_default() {
                if seen.insert(to, ()).is_none() {
                    parent.insert(to, (at, edge));
                    queue.push_back(to);
                }
            }
        }
        // Roots themselves have no parent; mark them so a rooted target reads as reached.
        for r in &self.roots {
            parent.entry(r.id).or_insert((0, Edge::Class));
        }
        parent
    }

    fn all_reached(&self, parent: &IdMap<(u64, Edge)>) -> bool {
        self.targets.iter().all(|t| parent.contains_key(t))
    }

    fn class_edge_wanted(&self, class_id: u64) -> bool {
        self.all_class_edges
            || self.index.classes.get(&class_id).is_some_and(|c| self.suspects.contains(&c.dump.loader_id))
    }

    fn excluded(&self, r: &Root) -> bool {
        match r.kind {
            hprof::ROOT_JAVA_FRAME | hprof::ROOT_JNI_LOCAL | hprof::ROOT_NATIVE_STACK | hprof::ROOT_THREAD_BLOCK => {
                Some(r.thread_serial) == self.own_serial
            }
            hprof::ROOT_THREAD_OBJ => r.id == self.own_thread,
            _ => r.id == self.exclude_array,
        }
    }

    /// What memory holds, without reading the dump: the roots among the frontier, and the
    /// classes whose statics, loader, superclass, signers or domain point into it, again for
    /// what they add (a static holding a loader's list is found in the pass that found the
    /// list). Every object so found stays in the frontier for the next read of the instances.
    fn settle(&mut self) {
        let mut layer = self.frontier.clone();
        let index = self.index;
        while !layer.is_empty() && self.stop.is_none() {
            for r in &index.roots {
                if layer.contains_key(&r.id) && !self.excluded(r) && self.rooted.insert(r.id, ()).is_none() {
                    self.roots.push(*r);
                }
            }
            let all = std::mem::replace(&mut self.frontier, layer);
            for c in index.classes.values() {
                let d = &c.dump;
                for (target, edge) in [(d.super_id, Edge::Super), (d.loader_id, Edge::Loader), (d.signers_id, Edge::Signers), (d.domain_id, Edge::Domain)] {
                    if target != 0 {
                        self.reach(d.id, d.id, target, edge);
                    }
                }
                for &(name, value) in &d.static_refs {
                    self.reach(d.id, d.id, value, Edge::Static(name));
                }
            }
            layer = std::mem::take(&mut self.next);
            self.frontier = all;
            self.frontier.extend(layer.keys().map(|&k| (k, ())));
        }
    }

    /// Instances and arrays that point into the frontier, read from the dump.
    fn pass(&mut self, dump: &mut Dump) -> Result<(), String> {
        let end = dump.scan(self.index.heap_start, self).map_err(|e| format!("reading the heap dump: {e}"))?;
        if end == ScanEnd::Stopped && self.stop.is_none() {
            self.stop = (self.deadline)();
        }
        Ok(())
    }
}

impl Visitor for Round<'_> {
    fn want(&self) -> Want {
        Want { instances: true, object_arrays: true, ..Want::default() }
    }
    fn stop(&mut self) -> bool {
        if self.stop.is_none() {
            self.stop = (self.deadline)();
        }
        self.stop.is_some()
    }
    fn instance(&mut self, id: u64, class_id: u64, fields: &[u8]) {
        let Some(c) = self.index.classes.get(&class_id) else { return };
        if c.size as usize != fields.len() {
            return; // a layout the index did not understand: skip rather than misread
        }
        for &(off, name) in &c.refs {
            if !self.referents && Some(off) == c.referent {
                continue; // Reference.referent: weak, soft, phantom or final, never strong
            }
            let v = id_at(fields, off as usize);
            if v != 0 && self.frontier.contains_key(&v) {
                self.reach(id, class_id, v, Edge::Field(name));
            }
        }
        self.visited += c.refs.len() as u64;
        if self.frontier.contains_key(&class_id) && self.class_edge_wanted(class_id) {
            self.reach(id, class_id, class_id, Edge::Class);
        }
    }
    fn object_array(&mut self, id: u64, class_id: u64, _length: u32, first: u32, elements: &[u8]) {
        if id == self.exclude_array {
            return;
        }
        for (i, c) in elements.chunks_exact(8).enumerate() {
            let v = id_at(c, 0);
            if v != 0 && self.frontier.contains_key(&v) {
                self.reach(id, class_id, v, Edge::Element(first + i as u32));
            }
        }
        self.visited += (elements.len() / 8) as u64;
        if first == 0 && self.frontier.contains_key(&class_id) && self.class_edge_wanted(class_id) {
            self.reach(id, class_id, class_id, Edge::Class);
        }
    }
}

/// Builds the instance layouts once every class is known.
fn layouts(index: &mut Index) {
    let ids: Vec<u64> = index.classes.keys().copied().collect();
    let reference = index.classes.values().find(|c| c.name_id != 0 && c.name_id == index.known.reference).map(|c| c.dump.id);
    for id in ids {
        let mut refs = Vec::new();
        let mut referent = None;
        let mut off: u32 = 0;
        let mut at = id;
        let mut guard = 0;
        while at != 0 && guard < 64 {
            guard += 1;
            let Some(c) = index.classes.get(&at) else { break };
            for &(name, t) in &c.dump.fields {
                if t == TYPE_OBJECT {
                    refs.push((off, name));
                    if Some(at) == reference && name == index.known.referent {
                        referent = Some(off);
                    }
                }
                off += hprof::type_size(t, 8).unwrap_or(0) as u32;
            }
            at = c.dump.super_id;
        }
        if let Some(c) = index.classes.get_mut(&id) {
            c.refs = refs;
            c.referent = referent;
            c.size = off;
        }
    }
}

/// Everything `search` needs from the live JVM, as a trait so tests can supply it.
pub trait Live {
    /// The name of the live thread with this `Thread.tid`, if any.
    fn thread_name(&self, tid: i64) -> Option<String>;
}

/// Searches the dump for a chain to every target.
pub fn search(dump: &mut Dump, setup: &Setup, budget: &Budget, live: &dyn Live) -> Found {
    let started = Instant::now();
    let n = setup.targets.len();
    let mut found = Found { chains: vec![None; n], weakly_held: vec![false; n], ..Found::default() };
    if dump.id_size != 8 {
        found.error = Some("the heap dump uses 4-byte identifiers (a 32-bit JVM); not supported".into());
        return found;
    }
    let limits = setup.limits;
    let deadline = move || -> Option<String> {
        if budget.stop_now() {
            Some(budget.stop_reason().into())
        } else if started.elapsed() > limits.time {
            Some(format!("chain_time limit of {} s reached", limits.time.as_secs()))
        } else {
            None
        }
    };
    let mut index = Index { marker_len: setup.loader_ids.len() as u32 + 3, marker: setup.marker, ..Index::default() };
    match dump.scan(None, &mut index) {
        Ok(_) => {}
        Err(e) => {
            found.error = Some(format!("reading the heap dump: {e}"));
            return found;
        }
    }
    found.passes = 1;
    layouts(&mut index);
    let Some(array) = index
        .candidates
        .iter()
        .find(|(_, e)| index.marker_ids.contains(&e[0]))
        .cloned()
    else {
        found.error = Some("the heap dump does not hold the agent's marker array".into());
        return found;
    };
    let (array_id, elements) = array;
    let own_thread = elements[1];
    let loaders: HashMap<u64, u32> =
        elements[2..elements.len() - 1].iter().zip(&setup.loader_ids).map(|(&o, &id)| (o, id)).collect();
    let loader_classes: HashMap<u32, &str> =
        setup.loader_ids.iter().zip(&setup.loader_classes).map(|(&id, c)| (id, c.as_str())).collect();
    let by_agent: HashMap<u32, u64> = loaders.iter().map(|(&o, &id)| (id, o)).collect();
    let targets: Vec<u64> = setup.targets.iter().map(|t| by_agent.get(t).copied().unwrap_or(0)).collect();
    let own_serial = index.roots.iter().find(|r| r.kind == hprof::ROOT_THREAD_OBJ && r.id == own_thread).map(|r| r.thread_serial);
    found.objects = Some(crate::leaks::dump::retained::Objects { loaders: by_agent.clone(), marker_array: array_id, own_thread, own_serial });

    // Round 1: strong edges, class edges only into suspect loaders; then all class edges for
    // what is left; then, for what is still left, weak edges too, to tell weakly held loaders
    // from loaders no path reaches.
    let mut rounds_complete = true;
    for (all_class_edges, referents) in [(false, false), (true, false), (true, true)] {
        let open: Vec<usize> =
            (0..n).filter(|&i| found.chains[i].is_none() && !found.weakly_held[i] && targets[i] != 0).collect();
        if open.is_empty() {
            break;
        }
        let mut round = Round {
            index: &index,
            targets: open.iter().map(|&i| targets[i]).collect(),
            suspects: targets.clone(),
            exclude_array: array_id,
            own_serial,
            own_thread,
            all_class_edges,
            referents,
            nodes: IdMap::default(),
            edges: Vec::new(),
            frontier: IdMap::default(),
            next: IdMap::default(),
            roots: Vec::new(),
            rooted: IdMap::default(),
            visited: 0,
            memory_limit: limits.memory,
            peak: 0,
            stop: None,
            deadline: &deadline,
        };
        for &t in &round.targets.clone() {
            round.nodes.insert(t, 0);
            round.frontier.insert(t, ());
        }
        round.settle();
        let mut parent = round.walk_from_roots();
        while !round.frontier.is_empty() && round.stop.is_none() && !round.all_reached(&parent) {
            found.passes += 1;
            if let Err(e) = round.pass(dump) {
                found.error = Some(e);
                break;
            }
            round.peak = round.peak.max(round.memory());
            round.frontier = std::mem::take(&mut round.next);
            round.settle();
            parent = round.walk_from_roots();
        }
        found.references_visited += round.visited;
        found.peak_memory_bytes = found.peak_memory_bytes.max(round.peak);
        let chains = unwind(&round, &parent);
        let names = Names::read(dump, &index, &round, &chains, &loaders, &loader_classes, live);
        for (k, &i) in open.iter().enumerate() {
            if let Some(c) = &chains[k] {
                if referents {
                    found.weakly_held[i] = true;
                } else {
                    found.chains[i] = Some((names.render(c), names.frame_loader(&c.root)));
                }
            }
        }
        if found.error.is_some() || round.stop.is_some() {
            found.limit_hit = round.stop.clone();
            rounds_complete = false;
            break;
        }
    }
    found.complete = rounds_complete && found.error.is_none() && targets.iter().all(|&t| t != 0);
    if targets.contains(&0) {
        found.error.get_or_insert("a suspect loader is missing from the heap dump's marker array".into());
    }
    found
}

/// A chain as object ids: the root, then each step.
struct RawChain {
    root: Root,
    /// (from, from's class, edge, to)
    steps: Vec<(u64, u64, Edge, u64)>,
}

fn unwind(round: &Round<'_>, parent: &IdMap<(u64, Edge)>) -> Vec<Option<RawChain>> {
    let roots: IdMap<Root> = round.roots.iter().rev().map(|r| (r.id, *r)).collect();
    round
        .targets
        .iter()
        .map(|&t| {
            let mut steps = Vec::new();
            let mut at = t;
            while !roots.contains_key(&at) {
                let &(from, edge) = parent.get(&at)?;
                steps.push((from, round.nodes.get(&from).copied().unwrap_or(0), edge, at));
                at = from;
                if steps.len() > round.nodes.len() {
                    return None;
                }
            }
            steps.reverse();
            Some(RawChain { root: roots[&at], steps })
        })
        .collect()
}

/// Names for the objects, classes and fields on the chains, read once from the dump.
struct Names<'a> {
    index: &'a Index,
    strings: IdMap<String>,
    /// Class of each object on a chain.
    class_of: IdMap<u64>,
    loaders: &'a HashMap<u64, u32>,
    loader_classes: &'a HashMap<u32, &'a str>,
    /// Thread object -> its thread id, for root threads.
    tids: IdMap<i64>,
    thread_names: HashMap<i64, String>,
}

struct StringPass<'a> {
    wanted: &'a IdMap<()>,
    got: IdMap<String>,
    in_heap: bool,
}

impl Visitor for StringPass<'_> {
    fn want(&self) -> Want {
        Want { strings: true, ..Want::default() }
    }
    fn stop(&mut self) -> bool {
        self.in_heap || self.got.len() == self.wanted.len()
    }
    fn heap_start(&mut self, _offset: u64) {
        self.in_heap = true;
    }
    fn utf8(&mut self, id: u64, text: &[u8]) {
        if self.wanted.contains_key(&id) {
            self.got.insert(id, String::from_utf8_lossy(text).into_owned());
        }
    }
}

/// Reads the `tid` of the threads that root a chain.
struct ThreadPass<'a> {
    index: &'a Index,
    wanted: IdMap<()>,
    got: IdMap<i64>,
}

impl Visitor for ThreadPass<'_> {
    fn want(&self) -> Want {
        Want { instances: true, ..Want::default() }
    }
    fn stop(&mut self) -> bool {
        self.got.len() == self.wanted.len()
    }
    fn instance(&mut self, id: u64, class_id: u64, fields: &[u8]) {
        if !self.wanted.contains_key(&id) {
            return;
        }
        // Walk the hierarchy to java.lang.Thread's own `tid`.
        let mut off = 0usize;
        let mut at = class_id;
        while let Some(c) = self.index.classes.get(&at) {
            for &(name, t) in &c.dump.fields {
                let size = hprof::type_size(t, 8).unwrap_or(0);
                if c.name_id == self.index.known.thread && name == self.index.known.tid && t == TYPE_LONG && off + 8 <= fields.len() {
                    self.got.insert(id, id_at(fields, off) as i64);
                    return;
                }
                off += size;
            }
            at = c.dump.super_id;
        }
    }
}

impl<'a> Names<'a> {
    fn read(
        dump: &mut Dump,
        index: &'a Index,
        round: &Round<'_>,
        chains: &[Option<RawChain>],
        loaders: &'a HashMap<u64, u32>,
        loader_classes: &'a HashMap<u32, &'a str>,
        live: &dyn Live,
    ) -> Names<'a> {
        let mut wanted: IdMap<()> = IdMap::default();
        let mut class_of: IdMap<u64> = IdMap::default();
        let mut threads: IdMap<()> = IdMap::default();
        let want_class = |class_id: u64, wanted: &mut IdMap<()>| {
            if let Some(c) = index.classes.get(&class_id) {
                wanted.insert(c.name_id, ());
            }
        };
        for c in chains.iter().flatten() {
            for &(from, from_class, edge, to) in &c.steps {
                class_of.insert(from, from_class);
                want_class(from_class, &mut wanted);
                if let Some(&n) = round.nodes.get(&to) {
                    class_of.entry(to).or_insert(n);
                    want_class(n, &mut wanted);
                }
                if index.classes.contains_key(&to) {
                    want_class(to, &mut wanted);
                }
                if let Edge::Field(name) | Edge::Static(name) = edge {
                    wanted.insert(name, ());
                }
            }
            let r = c.root;
            if let Some(&n) = round.nodes.get(&r.id) {
                class_of.insert(r.id, n);
                want_class(n, &mut wanted);
            }
            if let Some(t) = thread_of(index, &r) {
                threads.insert(t, ());
            }
            if let Some((method, class_serial)) = frame_of(index, &r) {
                wanted.insert(method, ());
                if let Some(&k) = index.class_by_serial.get(&class_serial) {
                    want_class(k, &mut wanted);
                }
            }
        }
        let mut sp = StringPass { wanted: &wanted, got: IdMap::default(), in_heap: false };
        let _ = dump.scan(None, &mut sp);
        let mut tids = IdMap::default();
        if !threads.is_empty() {
            let mut tp = ThreadPass { index, wanted: threads, got: IdMap::default() };
            let _ = dump.scan(index.heap_start, &mut tp);
            tids = tp.got;
        }
        let thread_names = tids.values().filter_map(|&t| live.thread_name(t).map(|n| (t, n))).collect();
        Names { index, strings: sp.got, class_of, loaders, loader_classes, tids, thread_names }
    }

    fn string(&self, id: u64) -> String {
        self.strings.get(&id).cloned().unwrap_or_else(|| format!("<name {id:#x}>"))
    }

    fn class_name(&self, class_id: u64) -> String {
        match self.index.classes.get(&class_id) {
            Some(c) if c.name_id != 0 => java_name(&self.string(c.name_id)),
            _ => "<unknown class>".into(),
        }
    }

    fn describe(&self, object: u64) -> String {
        if self.index.classes.contains_key(&object) {
            return format!("class {}", self.class_name(object));
        }
        if let Some(class) = self.loaders.get(&object).and_then(|id| self.loader_classes.get(id)) {
            return class.to_string();
        }
        match self.class_of.get(&object) {
            Some(&k) if k != 0 => self.class_name(k),
            _ => "<object>".into(),
        }
    }

    fn loader_of(&self, object: u64) -> Option<u32> {
        let agent_id = |loader_obj: u64| if loader_obj == 0 { Some(0) } else { self.loaders.get(&loader_obj).copied() };
        if let Some(c) = self.index.classes.get(&object) {
            return agent_id(c.dump.loader_id);
        }
        if let Some(&id) = self.loaders.get(&object) {
            return Some(id);
        }
        let k = *self.class_of.get(&object)?;
        agent_id(self.index.classes.get(&k)?.dump.loader_id)
    }

    /// The thread's name, and how a stack root names it (as the live walk does).
    fn thread_label(&self, r: &Root) -> (String, String) {
        let thread = thread_of(self.index, r);
        let tid = thread.and_then(|t| self.tids.get(&t)).copied();
        let name = tid.and_then(|t| self.thread_names.get(&t)).cloned();
        let label = match (&name, tid) {
            (Some(n), Some(t)) => format!("thread \"{n}\", id {t}"),
            (None, Some(t)) => format!("thread id {t}"),
            _ => "thread id ?".into(),
        };
        (name.unwrap_or_else(|| "?".into()), label)
    }

    /// The agent id of the loader of a stack root's frame class.
    fn frame_loader(&self, r: &Root) -> Option<u32> {
        let (_, class_serial) = frame_of(self.index, r)?;
        let k = self.index.class_by_serial.get(&class_serial)?;
        let loader = self.index.classes.get(k)?.dump.loader_id;
        if loader == 0 {
            Some(0)
        } else {
            self.loaders.get(&loader).copied()
        }
    }

    fn method(&self, r: &Root) -> String {
        match frame_of(self.index, r) {
            Some((m, class_serial)) => {
                let class = self.index.class_by_serial.get(&class_serial).map(|&k| self.class_name(k)).unwrap_or_default();
                format!("{class}.{}", self.string(m))
            }
            None => "<native or unknown frame>".into(),
        }
    }

    /// The chain in the report's words, as the live search writes them.
    fn render(&self, c: &RawChain) -> Vec<PathHop> {
        let mut out = Vec::new();
        let mut steps = c.steps.iter().peekable();
        let r = &c.root;
        if r.kind == hprof::ROOT_STICKY_CLASS {
            if let Some(&&(from, _, Edge::Static(name), to)) = steps.peek() {
                out.push(PathHop {
                    from: self.class_name(from),
                    field: self.string(name),
                    kind: "static_field".into(),
                    to: self.describe(to),
                    to_loader: self.loader_of(to),
                });
                steps.next();
            }
        }
        if out.is_empty() {
            let (from, kind) = match r.kind {
                hprof::ROOT_STICKY_CLASS => ("<system class>".to_string(), "system_class"),
                hprof::ROOT_THREAD_OBJ => (format!("<thread \"{}\">", self.thread_label(r).0), "thread"),
                hprof::ROOT_JAVA_FRAME => {
                    (format!("<local variable in {} ({})>", self.method(r), self.thread_label(r).1), "stack_local")
                }
                hprof::ROOT_JNI_LOCAL => (format!("<JNI local in {} ({})>", self.method(r), self.thread_label(r).1), "jni_local"),
                hprof::ROOT_JNI_GLOBAL => ("<JNI global reference>".to_string(), "jni_global"),
                hprof::ROOT_MONITOR_USED => ("<monitor>".to_string(), "monitor"),
                _ => ("<VM internal root>".to_string(), "other"),
            };
            out.push(PathHop { from, field: String::new(), kind: kind.into(), to: self.describe(r.id), to_loader: self.loader_of(r.id) });
        }
        for &(from, _, edge, to) in steps {
            let (kind, field, from_text) = match edge {
                Edge::Field(n) => ("field", self.string(n), self.describe(from)),
                Edge::Static(n) => {
                    let name = self.string(n);
                    if name == "<resolved_references>" {
                        ("constant_pool", String::new(), self.describe(from))
                    } else {
                        ("static_field", name, self.class_name(from))
                    }
                }
                Edge::Element(i) => ("array_element", format!("[{i}]"), self.describe(from)),
                Edge::Class => ("class", String::new(), self.describe(from)),
                Edge::Loader => ("class_loader", String::new(), self.describe(from)),
                Edge::Super => ("superclass", String::new(), self.describe(from)),
                Edge::Signers => ("signers", String::new(), self.describe(from)),
                Edge::Domain => ("protection_domain", String::new(), self.describe(from)),
            };
            out.push(PathHop { from: from_text, field, kind: kind.into(), to: self.describe(to), to_loader: self.loader_of(to) });
        }
        out
    }
}

/// The thread object behind a thread or stack root.
fn thread_of(index: &Index, r: &Root) -> Option<u64> {
    match r.kind {
        hprof::ROOT_THREAD_OBJ => Some(r.id),
        hprof::ROOT_JAVA_FRAME | hprof::ROOT_JNI_LOCAL => index
            .roots
            .iter()
            .find(|t| t.kind == hprof::ROOT_THREAD_OBJ && t.thread_serial == r.thread_serial)
            .map(|t| t.id),
        _ => None,
    }
}

/// The frame of a stack root: (method name id, class serial).
fn frame_of(index: &Index, r: &Root) -> Option<(u64, u32)> {
    if !matches!(r.kind, hprof::ROOT_JAVA_FRAME | hprof::ROOT_JNI_LOCAL) {
        return None;
    }
    let thread = index.roots.iter().find(|t| t.kind == hprof::ROOT_THREAD_OBJ && t.thread_serial == r.thread_serial)?;
    let frames = index.traces.get(&thread.frame)?;
    index.frames.get(frames.get(r.frame as usize)?).copied()
}

/// `java/util/HashMap$Node` -> `java.util.HashMap$Node`; `[Ljava/lang/Object;` -> `java.lang.Object[]`.
fn java_name(internal: &str) -> String {
    if internal.starts_with('[') {
        crate::ffi::jvmti::signature_to_name(internal)
    } else {
        internal.replace('/', ".")
    }
}

#[cfg(test)]
mod tests {
    use crate::leaks::dump::hprof::testdump::{fields, Builder};
    use crate::leaks::dump::hprof::{ROOT_JAVA_FRAME, ROOT_JNI_GLOBAL, ROOT_STICKY_CLASS, ROOT_THREAD_OBJ};
    use super::*;
    use std::time::Duration;

    struct NoLive;
    impl Live for NoLive {
        fn thread_name(&self, tid: i64) -> Option<String> {
            (tid == 77).then(|| "worker-1".into())
        }
    }

    const MARKER: [i64; 4] = [0x1eaa_9e47, 0x5eed, 3, 0x1eaa_9e48];

    fn limits() -> Limits {
        Limits { time: Duration::from_secs(30), max_objects: 1_000_000, pause: Duration::from_secs(1), memory: 64 << 20 }
    }

    /// Object 0x100 class; strings 1..; loaders 0xA000 (suspect, id 7), 0xB000 (id 8, healthy).
    fn world() -> Builder {
        let mut b = Builder::default();
        for (id, s) in [
            (1, "java/lang/Object"),
            (2, "com/app/Registry"),
            (3, "CACHE"),
            (4, "java/util/HashMap$Node"),
            (5, "value"),
            (6, "java/net/URLClassLoader"),
            (7, "com/app/Plugin"),
            (8, "[Ljava/lang/Object;"),
            (9, "java/lang/ref/Reference"),
            (10, "referent"),
            (11, "java/lang/ref/SoftReference"),
            (12, "java/lang/Thread"),
            (13, "tid"),
            (14, "contextClassLoader"),
            (15, "run"),
            (16, "com/app/Worker"),
            (17, "java/lang/Long"),
        ] {
            b.utf8(id, s);
        }
        let classes: [(u32, u64, u64); 11] = [
            (1, 0x100, 1),
            (2, 0x200, 2),
            (3, 0x300, 4),
            (4, 0x400, 6),
            (5, 0x500, 7),
            (6, 0x600, 8),
            (7, 0x700, 9),
            (8, 0x800, 11),
            (9, 0x900, 12),
            (10, 0x950, 16),
            (11, 0x980, 17),
        ];
        for (serial, id, name) in classes {
            b.load_class(serial, id, name);
        }
        b.class(&ClassDump { id: 0x100, ..ClassDump::default() });
        // A system class holding a map node in a static field.
        b.class(&ClassDump { id: 0x200, super_id: 0x100, static_refs: vec![(3, 0x2000)], ..ClassDump::default() });
        b.class(&ClassDump { id: 0x300, super_id: 0x100, fields: vec![(5, TYPE_OBJECT)], ..ClassDump::default() });
        b.class(&ClassDump { id: 0x400, super_id: 0x100, ..ClassDump::default() });
        // The plugin class, defined by the suspect loader.
        b.class(&ClassDump { id: 0x500, super_id: 0x100, loader_id: 0xA000, ..ClassDump::default() });
        b.class(&ClassDump { id: 0x600, super_id: 0x100, ..ClassDump::default() });
        b.class(&ClassDump { id: 0x700, super_id: 0x100, fields: vec![(10, TYPE_OBJECT)], ..ClassDump::default() });
        b.class(&ClassDump { id: 0x800, super_id: 0x700, ..ClassDump::default() });
        b.class(&ClassDump { id: 0x900, super_id: 0x100, fields: vec![(13, TYPE_LONG), (14, TYPE_OBJECT)], ..ClassDump::default() });
        b.class(&ClassDump { id: 0x950, super_id: 0x100, ..ClassDump::default() });
        b.class(&ClassDump { id: 0x980, super_id: 0x100, ..ClassDump::default() });
        b.root(Root { kind: ROOT_STICKY_CLASS, id: 0x200, thread_serial: 0, frame: 0 });
        b
    }

    /// The marker array and the agent's own thread, which holds it.
    fn marker(b: &mut Builder, own_thread: u64, loaders: &[u64]) {
        b.long_array(0xF100, &MARKER);
        let mut e = vec![0xF100, own_thread];
        e.extend_from_slice(loaders);
        e.push(0xF100);
        b.object_array(0xF000, 0x600, &e);
        b.instance(own_thread, 0x900, &fields(&[(TYPE_LONG, 2), (TYPE_OBJECT, 0)]));
        b.root(Root { kind: ROOT_THREAD_OBJ, id: own_thread, thread_serial: 9, frame: 10 });
        b.root(Root { kind: ROOT_JNI_LOCAL, id: 0xF000, thread_serial: 9, frame: 0 });
        // The agent's own local reference to a loader is not a root.
        b.root(Root { kind: ROOT_JAVA_FRAME, id: 0xA000, thread_serial: 9, frame: 0 });
    }

    use crate::leaks::dump::hprof::ROOT_JNI_LOCAL;

    fn run(b: &Builder, targets: &[u32]) -> Found {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let k = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("leakagent-dumpsearch-{}-{k}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{:x}.hprof", b.heap_len()));
        let mut d = Dump::open(b.write(&path, usize::MAX)).unwrap();
        let setup = Setup {
            marker: MARKER,
            loader_ids: vec![7, 8],
            loader_classes: vec!["java.net.URLClassLoader".into(), "java.net.URLClassLoader".into()],
            targets: targets.to_vec(),
            limits: limits(),
        };
        let f = search(&mut d, &setup, &Budget::open(), &NoLive);
        let _ = std::fs::remove_dir_all(&dir);
        f
    }

    #[test]
    fn a_static_map_node_pinning_a_plugin_instance_is_named_hop_by_hop() {
        let mut b = world();
        marker(&mut b, 0xE000, &[0xA000, 0xB000]);
        // Registry.CACHE -> HashMap$Node.value -> Plugin instance -> class Plugin -> loader.
        b.instance(0x2000, 0x300, &fields(&[(TYPE_OBJECT, 0x3000)]));
        b.instance(0x3000, 0x500, &[]);
        b.instance(0xA000, 0x400, &[]);
        b.instance(0xB000, 0x400, &[]);
        let f = run(&b, &[7]);
        assert!(f.error.is_none(), "{f:?}");
        let c = &f.chains[0].as_ref().expect("a chain").0;
        let text: Vec<String> = c.iter().map(|h| format!("{}|{}|{}|{}|{:?}", h.kind, h.from, h.field, h.to, h.to_loader)).collect();
        assert_eq!(
            text,
            [
                "static_field|com.app.Registry|CACHE|java.util.HashMap$Node|Some(0)",
                "field|java.util.HashMap$Node|value|com.app.Plugin|Some(7)",
                "class|com.app.Plugin||class com.app.Plugin|Some(7)",
                "class_loader|class com.app.Plugin||java.net.URLClassLoader|Some(7)",
            ]
        );
        assert!(f.complete);
    }

    #[test]
    fn a_thread_context_loader_and_a_stack_local_are_roots_but_not_the_agents_own() {
        let mut b = world();
        marker(&mut b, 0xE000, &[0xA000, 0xB000]);
        b.instance(0xA000, 0x400, &[]);
        b.instance(0xB000, 0x400, &[]);
        // Thread tid 77 has the suspect as its context loader.
        b.instance(0xD000, 0x900, &fields(&[(TYPE_LONG, 77), (TYPE_OBJECT, 0xA000)]));
        b.root(Root { kind: ROOT_THREAD_OBJ, id: 0xD000, thread_serial: 3, frame: 4 });
        let f = run(&b, &[7]);
        let c = &f.chains[0].as_ref().expect("a chain").0;
        assert_eq!(c[0].kind, "thread");
        assert_eq!(c[0].from, "<thread \"worker-1\">");
        assert_eq!((c[1].kind.as_str(), c[1].field.as_str()), ("field", "contextClassLoader"));

        // A stack local of another thread, with its frame named from the trace.
        let mut b = world();
        marker(&mut b, 0xE000, &[0xA000, 0xB000]);
        b.instance(0xA000, 0x400, &[]);
        b.instance(0xB000, 0x400, &[]);
        b.instance(0xD000, 0x900, &fields(&[(TYPE_LONG, 77), (TYPE_OBJECT, 0)]));
        b.frame(60, 15, 10).trace(4, 3, &[60]);
        b.root(Root { kind: ROOT_THREAD_OBJ, id: 0xD000, thread_serial: 3, frame: 4 });
        b.root(Root { kind: ROOT_JAVA_FRAME, id: 0xA000, thread_serial: 3, frame: 0 });
        let f = run(&b, &[7]);
        let c = &f.chains[0].as_ref().expect("a chain").0;
        assert_eq!(c[0].kind, "stack_local");
        assert_eq!(c[0].from, "<local variable in com.app.Worker.run (thread \"worker-1\", id 77)>");
    }

    #[test]
    fn a_loader_held_only_softly_is_weakly_held_and_an_unreachable_one_has_no_chain() {
        let mut b = world();
        marker(&mut b, 0xE000, &[0xA000, 0xB000]);
        b.instance(0xA000, 0x400, &[]);
        b.instance(0xB000, 0x400, &[]);
        // A JNI global holds a SoftReference whose referent is loader 7.
        b.instance(0x7000, 0x800, &fields(&[(TYPE_OBJECT, 0xA000)]));
        b.root(Root { kind: ROOT_JNI_GLOBAL, id: 0x7000, thread_serial: 0, frame: 0 });
        let f = run(&b, &[7, 8]);
        assert!(f.chains.iter().all(Option::is_none), "{:?}", f.chains);
        assert_eq!(f.weakly_held, [true, false]);
        assert!(f.complete, "{f:?}");
    }

    #[test]
    fn a_dump_without_the_marker_is_an_error() {
        let mut b = world();
        b.instance(0xA000, 0x400, &[]);
        let f = run(&b, &[7]);
        assert!(f.error.as_deref().unwrap_or("").contains("marker"), "{f:?}");
        assert!(!f.complete);
    }

    #[test]
    fn fifteen_hundred_suspects_are_served_by_one_search_of_a_few_passes() {
        let n = 1500u64;
        let mut b = world();
        let loaders: Vec<u64> = (0..n).map(|i| 0x10_0000 + i * 0x10).collect();
        marker(&mut b, 0xE000, &loaders);
        // Registry.CACHE -> HashMap$Node.value -> Object[] -> each even plugin instance -> its
        // class -> its loader; every odd loader is only a SoftReference's referent.
        b.instance(0x2000, 0x300, &fields(&[(TYPE_OBJECT, 0x40_0000)]));
        let mut held = Vec::new();
        for (i, &l) in loaders.iter().enumerate() {
            let (class, object) = (0x20_0000 + i as u64 * 0x10, 0x30_0000 + i as u64 * 0x10);
            b.load_class(100 + i as u32, class, 7);
            b.class(&ClassDump { id: class, super_id: 0x100, loader_id: l, ..ClassDump::default() });
            b.instance(l, 0x400, &[]);
            if i % 2 == 0 {
                b.instance(object, class, &[]);
                held.push(object);
            } else {
                b.instance(object, 0x800, &fields(&[(TYPE_OBJECT, l)]));
                held.push(object);
            }
        }
        b.object_array(0x40_0000, 0x600, &held);
        let path = std::env::temp_dir().join(format!("leakagent-dumpsearch-many-{}.hprof", std::process::id()));
        let mut d = Dump::open(b.write(&path, usize::MAX)).unwrap();
        let setup = Setup {
            marker: MARKER,
            loader_ids: (0..n as u32).map(|i| 1000 + i).collect(),
            loader_classes: vec!["groovy.lang.GroovyClassLoader$InnerLoader".into(); n as usize],
            targets: (0..n as u32).map(|i| 1000 + i).collect(),
            limits: limits(),
        };
        let f = search(&mut d, &setup, &Budget::open(), &NoLive);
        let _ = std::fs::remove_file(&path);
        assert!(f.error.is_none() && f.limit_hit.is_none(), "{:?} {:?}", f.error, f.limit_hit);
        for (i, c) in f.chains.iter().enumerate() {
            if i % 2 == 0 {
                let c = &c.as_ref().unwrap_or_else(|| panic!("no chain for suspect {i}")).0;
                assert_eq!(c[2].field, format!("[{i}]"), "{c:?}");
                assert_eq!(c.last().unwrap().kind, "class_loader");
                assert_eq!(c.last().unwrap().to_loader, Some(1000 + i as u32));
            } else {
                assert!(c.is_none() && f.weakly_held[i], "suspect {i} is held only softly");
            }
        }
        assert!(f.complete);
        // The index pass, then per round one pass per hop of the longest chain (not per suspect).
        assert!(f.passes < 20, "{} passes", f.passes);
        assert!(f.peak_memory_bytes < 4 << 20, "{} bytes", f.peak_memory_bytes);
    }

}
