//! The chain search over a heap dump: the same reverse breadth-first search as the live heap walk
//! (`walk/search.rs`, which says why the two keep their own loops), but each pass reads the dump
//! file on the report thread while the application runs. The only pause is HotSpot writing the
//! dump.
//!
//! The dump names objects by address, the agent knows loaders by JVMTI tag. To tie the two, the
//! agent holds, while the dump is written, one object array on its own thread: a `long[]` marker
//! at both ends, its own `Thread`, then every live loader in a known order, then the agent's
//! other threads (the sampler). The search finds the marker, reads the loaders' addresses from
//! the array, and ignores as roots the array, the agent's threads and their stacks' references
//! ([`OwnRoots`]): no chain starts at a reference the agent holds.

use crate::core::budget::Budget;
use crate::leaks::dump::hprof::{self, Dump, Root, ScanEnd, Visitor, Want};
use crate::leaks::dump::DumpError;
use crate::leaks::dump::index::{id_at, layouts, IdMap, Index};
use crate::leaks::dump::names::Names;
use crate::leaks::walk::search::Limits;
use leakagent_report::model::PathHop;
use std::collections::HashMap;
use std::time::Instant;

/// What the agent put in the heap for the search to find, and what it looks for.
pub struct Setup {
    /// The contents of the `long[]` marker.
    pub marker: [i64; 4],
    /// The agent's id of each loader in the marker array, in array order, and its class.
    pub loader_ids: Vec<u32>,
    pub loader_classes: Vec<String>,
    /// The suspects: agent loader ids.
    pub targets: Vec<u32>,
    /// The agent's threads besides the calling one, after the loaders in the marker array.
    pub agent_threads: usize,
    pub limits: Limits,
}

/// The agent's own roots in the dump: never the start of a chain, never counted as holding
/// anything. The marker array, the agent's threads' objects, and (by thread serial) their
/// stacks' and JNI locals.
#[derive(Debug, Default, Clone)]
pub struct OwnRoots {
    pub marker_array: u64,
    pub threads: Vec<u64>,
    pub serials: Vec<u32>,
}

impl OwnRoots {
    /// From the marker array's thread elements and the dump's thread roots.
    fn new(marker_array: u64, threads: Vec<u64>, roots: &[Root]) -> OwnRoots {
        let serials = roots.iter().filter(|r| r.kind == hprof::ROOT_THREAD_OBJ && threads.contains(&r.id)).map(|r| r.thread_serial).collect();
        OwnRoots { marker_array, threads, serials }
    }

    pub fn excludes(&self, r: &Root) -> bool {
        let stack = matches!(r.kind, hprof::ROOT_JAVA_FRAME | hprof::ROOT_JNI_LOCAL | hprof::ROOT_NATIVE_STACK | hprof::ROOT_THREAD_BLOCK);
        r.id == self.marker_array || self.threads.contains(&r.id) || (stack && self.serials.contains(&r.thread_serial))
    }
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

/// How a node leads to the next object on the way to a target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Edge {
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
pub(super) struct Round<'a> {
    index: &'a Index<'a>,
    targets: Vec<u64>,
    suspects: Vec<u64>,
    own: &'a OwnRoots,
    all_class_edges: bool,
    referents: bool,
    /// Every object found to lead to a target, with its class (0 while unknown).
    pub(super) nodes: IdMap<u64>,
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

    /// What memory holds, without reading the dump: the roots among the frontier, and the
    /// classes whose statics, loader, superclass, signers or domain point into it, again for
    /// what they add (a static holding a loader's list is found in the pass that found the
    /// list). Every object so found stays in the frontier for the next read of the instances.
    fn settle(&mut self) {
        let mut layer = self.frontier.clone();
        let index = self.index;
        while !layer.is_empty() && self.stop.is_none() {
            for r in &index.roots {
                if layer.contains_key(&r.id) && !self.own.excludes(r) && self.rooted.insert(r.id, ()).is_none() {
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
    fn pass(&mut self, dump: &mut Dump) -> Result<(), DumpError> {
        let end = dump.scan(self.index.heap_start, self).map_err(DumpError::Read)?;
        if end == ScanEnd::Stopped && self.stop.is_none() {
            self.stop = (self.deadline)();
        }
        Ok(())
    }

    /// Passes over the dump until every target is reached from a root, the frontier is empty or
    /// a limit stops the round; returns the parent pointers from the roots.
    fn run(&mut self, dump: &mut Dump, found: &mut Found) -> IdMap<(u64, Edge)> {
        for &t in &self.targets.clone() {
            self.nodes.insert(t, 0);
            self.frontier.insert(t, ());
        }
        self.settle();
        let mut parent = self.walk_from_roots();
        while !self.frontier.is_empty() && self.stop.is_none() && !self.all_reached(&parent) {
            found.passes += 1;
            if let Err(e) = self.pass(dump) {
                found.error = Some(e.to_string());
                break;
            }
            self.peak = self.peak.max(self.memory());
            self.frontier = std::mem::take(&mut self.next);
            self.settle();
            parent = self.walk_from_roots();
        }
        found.references_visited += self.visited;
        found.peak_memory_bytes = found.peak_memory_bytes.max(self.peak);
        parent
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
        if id == self.own.marker_array {
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

/// Everything `search` needs from the live JVM, as a trait so tests can supply it.
pub trait Live {
    /// The name of the live thread with this `Thread.tid`, if any.
    fn thread_name(&self, tid: i64) -> Option<String>;
}

/// Why the search must stop now (the report's budget, `chain_time`), if it must.
fn out_of_time(budget: &Budget, started: Instant, limits: Limits) -> Option<String> {
    if budget.stop_now() {
        Some(budget.stop_reason().into())
    } else if started.elapsed() > limits.time {
        Some(format!("chain_time limit of {} s reached", limits.time.as_secs()))
    } else {
        None
    }
}

/// Lays out the classes the index pass found, and finds the agent's marker array among the
/// candidates: (array id, array elements).
fn marker_array(index: &mut Index<'_>) -> Option<(u64, Vec<u64>)> {
    layouts(index);
    index.candidates.iter().find(|(_, e)| index.marker_ids.contains(&e[0])).cloned()
}

/// Searches the dump for a chain to every target.
pub fn search(dump: &mut Dump, setup: &Setup, budget: &Budget, live: &dyn Live) -> Found {
    let started = Instant::now();
    let n = setup.targets.len();
    let mut found = Found { chains: vec![None; n], weakly_held: vec![false; n], ..Found::default() };
    if dump.id_size != 8 {
        found.error = Some(DumpError::ShortIds.to_string());
        return found;
    }
    let limits = setup.limits;
    let deadline = move || out_of_time(budget, started, limits);
    let n_loaders = setup.loader_ids.len();
    let marker_len = (n_loaders + setup.agent_threads) as u32 + 3;
    // The index pass reads the whole dump (3.5 s under load for 120 MB; session 34: one began
    // 1.8 s before an exit report's deadline and took the JVM past exit_timeout): not begun
    // when the time is already spent, and stopped at the deadline.
    let mut index = Index::new(marker_len, setup.marker, &deadline);
    if let Some(why) = deadline() {
        found.limit_hit = Some(why);
        return found;
    }
    match dump.scan(None, &mut index) {
        Err(e) => {
            found.error = Some(DumpError::Read(e).to_string());
            return found;
        }
        Ok(ScanEnd::Stopped) => {
            found.limit_hit = index.stop.take();
            return found;
        }
        Ok(ScanEnd::Complete) => {}
    }
    found.passes = 1;
    crate::reporting::progress::step("leak analysis: chain search passes");
    let Some((array_id, elements)) = marker_array(&mut index) else {
        found.error = Some("the heap dump does not hold the agent's marker array".into());
        return found;
    };
    let loaders: HashMap<u64, u32> = elements[2..2 + n_loaders].iter().zip(&setup.loader_ids).map(|(&o, &id)| (o, id)).collect();
    let threads = std::iter::once(elements[1]).chain(elements[2 + n_loaders..elements.len() - 1].iter().copied()).filter(|&t| t != 0).collect();
    let own = OwnRoots::new(array_id, threads, &index.roots);
    let loader_classes: HashMap<u32, &str> = setup.loader_ids.iter().zip(&setup.loader_classes).map(|(&id, c)| (id, c.as_str())).collect();
    let by_agent: HashMap<u32, u64> = loaders.iter().map(|(&o, &id)| (id, o)).collect();
    let targets: Vec<u64> = setup.targets.iter().map(|t| by_agent.get(t).copied().unwrap_or(0)).collect();
    found.objects = Some(crate::leaks::dump::retained::Objects { loaders: by_agent.clone(), own: own.clone() });

    // Round 1: strong edges, class edges only into suspect loaders; then all class edges for
    // what is left; then, for what is still left, weak edges too, to tell weakly held loaders
    // from loaders no path reaches.
    let mut rounds_complete = true;
    for (all_class_edges, referents) in [(false, false), (true, false), (true, true)] {
        let open: Vec<usize> = (0..n).filter(|&i| found.chains[i].is_none() && !found.weakly_held[i] && targets[i] != 0).collect();
        if open.is_empty() {
            break;
        }
        let mut round = Round {
            index: &index,
            targets: open.iter().map(|&i| targets[i]).collect(),
            suspects: targets.clone(),
            own: &own,
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
        let parent = round.run(dump, &mut found);
        let chains = unwind(&round, &parent);
        let names = Names::read(dump, &index, &round, &chains, &loaders, &loader_classes, live);
        for (c, &i) in chains.iter().zip(&open) {
            match c {
                Some(_) if referents => found.weakly_held[i] = true,
                Some(c) => found.chains[i] = Some((names.render(c), names.frame_loader(&c.root))),
                None => {}
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
pub(super) struct RawChain {
    pub(super) root: Root,
    /// (from, from's class, edge, to)
    pub(super) steps: Vec<(u64, u64, Edge, u64)>,
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

#[cfg(test)]
mod tests;
