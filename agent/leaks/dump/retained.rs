//! The heap each leaked loader retains, from the heap dump the chain search already read: the
//! objects that every path from a GC root to them passes through the loader (its dominated set),
//! as Eclipse MAT's "retained heap". Computed on the report thread while the application runs.
//!
//! Two streaming passes build the object graph in compact arrays (object ids become u32 indices
//! in dump order); dominators come from the iterative algorithm of Cooper, Harvey and Kennedy
//! ("A Simple, Fast Dominance Algorithm") over the reverse postorder from a super-root that holds
//! every GC root; retained sizes are summed up the dominator tree. Every reference counts, weak
//! ones included, as in MAT; the roots the agent itself holds while the dump is written (its
//! marker array, its own thread and that thread's locals) do not. The graph's memory is counted
//! from its structures' real capacities (`Meter`) and checked before each of them grows, so it
//! never exceeds `chain_memory`; the time is held to what `chain_time` leaves. Past either,
//! nothing is reported rather than a wrong number, and the peak goes into the search's
//! `memory_bytes`.
//!
//! Shallow sizes are read from the dump as MAT reads an HPROF file without layout hints: a 16-byte
//! header plus the field values or elements as the dump stores them (references at the dump's
//! identifier size), rounded up to 8 bytes; a class object counts its header and static
//! references only.

use crate::core::hash::MixBuild;
use crate::leaks::dump::hprof::{self, ClassDump, Dump, Root, Visitor, Want, TYPE_OBJECT};
use crate::leaks::dump::DumpError;
use crate::leaks::dump::search::OwnRoots;
use std::collections::HashMap;

use crate::leaks::dump::meter::{array_bytes, grown, map_bytes, map_grown, vec_bytes, Meter};

/// What the chain search learned about the dump that this computation needs.
#[derive(Debug, Default, Clone)]
pub struct Objects {
    /// Dump object id of each live loader, by agent loader id.
    pub loaders: HashMap<u32, u64>,
    /// Roots to ignore: the agent's own.
    pub own: OwnRoots,
}

/// Limits: graph memory in bytes and a check that says why to stop (time, exit).
pub struct Budget<'a> {
    pub memory: u64,
    pub stop: &'a dyn Fn() -> Option<String>,
}

/// Per target loader (agent id, in order): the bytes it retains, or None when it is not
/// reachable in the dump; Err when the whole computation could not be done, with why. `peak`
/// gets the graph's memory at its largest, done or not.
pub fn compute(dump: &mut Dump, objects: &Objects, targets: &[u32], budget: &Budget<'_>, peak: &mut u64) -> Result<Vec<Option<u64>>, DumpError> {
    if dump.id_size != 8 {
        return Err(DumpError::ShortIds);
    }
    let mut nodes = Nodes { meter: Meter::new(budget.memory), stop: Some(budget.stop), ..Nodes::default() };
    let scanned = scan(dump, &mut nodes);
    *peak = nodes.meter.peak;
    scanned?;
    nodes.sizes.shrink_to_fit();
    nodes.ids.ids.shrink_to_fit();
    let mut meter = std::mem::take(&mut nodes.meter);
    let indexed = nodes.ids.index(nodes.bytes(), &mut meter);
    *peak = meter.peak;
    indexed?;
    nodes.meter = meter;
    let layouts = layouts(&nodes.classes);
    let roots = nodes.root_indices(objects);
    let mut edges = Edges::new(&nodes, &layouts, roots.len());
    let scanned = edges.reserve_offsets().and_then(|()| scan(dump, &mut edges));
    *peak = (*peak).max(edges.meter.peak);
    scanned?;
    let (offs, succ, mut meter) = edges.finish()?;
    let target_nodes: Vec<Option<u32>> =
        targets.iter().map(|t| objects.loaders.get(t).and_then(|o| nodes.ids.get(*o))).collect();
    let sizes = std::mem::take(&mut nodes.sizes);
    drop(nodes);
    let g = Graph { offs, succ, sizes, roots };
    meter.now = g.bytes();
    let sums = g.sums(budget.stop, &mut meter);
    *peak = (*peak).max(meter.peak);
    let (pos, sum) = sums?;
    Ok(target_nodes.iter().map(|n| n.and_then(|n| retained_at(&pos, &sum, n))).collect())
}

/// For the suspects (agent ids) of a report whose chain search read a dump: each one's retained
/// bytes, why there are none when the computation could not be done, and the graph's peak memory.
pub fn for_suspects(dump: &mut Dump, objects: Option<&Objects>, ids: &[u32], budget: &Budget<'_>) -> (Vec<Option<u64>>, Option<String>, u64) {
    let mut peak = 0;
    let result = match objects {
        Some(o) => compute(dump, o, ids, budget, &mut peak),
        None => Err(DumpError::NoLoaders),
    };
    match result {
        Ok(v) => (v, None, peak),
        Err(why) => (vec![None; ids.len()], Some(why.to_string()), peak),
    }
}

fn over_limit(what: String, limit: u64) -> String {
    format!("{what} in the heap dump, over chain_memory ({} MiB)", limit >> 20)
}

/// Runs one pass of a visitor, turning its own reason to stop into the error.
fn scan<V: Visitor + Stopped>(dump: &mut Dump, v: &mut V) -> Result<(), DumpError> {
    dump.scan(None, v).map_err(DumpError::Read)?;
    // The scan asks every few thousand records; a small dump may end before it asked once.
    v.stop();
    match v.stopped() {
        Some(why) => Err(DumpError::Stopped(why)),
        None => Ok(()),
    }
}

trait Stopped {
    fn stopped(&mut self) -> Option<String>;
}

/// Object ids in dump order (a node's index is its position) and, once pass 1 is done, the
/// indices sorted by id for lookups by binary search: 12 bytes an object, where a hash map took
/// 20 to 40. The first of equal ids is the one found (an id seen again gets an index nothing
/// refers to).
#[derive(Default)]
struct Ids {
    ids: Vec<u64>,
    sorted: Vec<u32>,
}

impl Ids {
    fn bytes(&self) -> u64 {
        vec_bytes(&self.ids) + vec_bytes(&self.sorted)
    }

    /// Sorts the index in place, once its memory fits beside `held` bytes.
    fn index(&mut self, held: u64, meter: &mut Meter) -> Result<(), DumpError> {
        meter.now = held;
        meter.take(array_bytes::<u32>(self.ids.len()), "object index")?;
        self.sorted = (0..self.ids.len() as u32).collect();
        let ids = &self.ids;
        self.sorted.sort_unstable_by_key(|&i| (ids[i as usize], i));
        Ok(())
    }

    fn get(&self, id: u64) -> Option<u32> {
        let k = self.sorted.partition_point(|&i| self.ids[i as usize] < id);
        self.sorted.get(k).copied().filter(|&i| self.ids[i as usize] == id)
    }
}

/// Pass 1: every object gets an index in dump order, with its shallow size; classes and roots.
#[derive(Default)]
struct Nodes<'a> {
    ids: Ids,
    /// Shallow sizes in 8-byte words.
    sizes: Vec<u32>,
    classes: HashMap<u64, ClassDump, MixBuild>,
    /// The classes' field lists, which the map holds outside its table.
    class_fields: u64,
    roots: Vec<Root>,
    meter: Meter,
    stop: Option<&'a dyn Fn() -> Option<String>>,
    why: Option<String>,
}

fn align(bytes: u64) -> u64 {
    (16 + bytes).div_ceil(8) * 8
}

impl Nodes<'_> {
    fn bytes(&self) -> u64 {
        self.ids.bytes() + vec_bytes(&self.sizes) + map_bytes(&self.classes) + self.class_fields + vec_bytes(&self.roots)
    }

    /// Whether `extra` bytes more fit; if not, the pass stops with why.
    fn room(&mut self, extra: u64) -> bool {
        if self.why.is_none() && !self.meter.fits(self.bytes(), extra) {
            self.why = Some(over_limit(format!("more than {} objects", self.sizes.len()), self.meter.limit));
        }
        self.why.is_none()
    }

    fn add(&mut self, id: u64, size: u64) {
        if id == 0 || self.why.is_some() {
            return;
        }
        let mut extra = 0;
        if self.ids.ids.len() == self.ids.ids.capacity() {
            extra += grown(&self.ids.ids) - vec_bytes(&self.ids.ids);
        }
        if self.sizes.len() == self.sizes.capacity() {
            extra += grown(&self.sizes) - vec_bytes(&self.sizes);
        }
        if extra > 0 && !self.room(extra) {
            return;
        }
        self.ids.ids.push(id);
        self.sizes.push((size / 8).min(u32::MAX as u64) as u32);
    }

    /// Indices of the GC roots, the agent's own left out.
    fn root_indices(&self, o: &Objects) -> Vec<u32> {
        let mut v: Vec<u32> = self.roots.iter().filter(|r| !o.own.excludes(r)).filter_map(|r| self.ids.get(r.id)).collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

impl Stopped for Nodes<'_> {
    fn stopped(&mut self) -> Option<String> {
        self.why.take()
    }
}

impl Visitor for Nodes<'_> {
    fn want(&self) -> Want {
        Want { roots: true, classes: true, instances: true, object_arrays: true, ..Want::default() }
    }
    fn stop(&mut self) -> bool {
        if self.room(0) {
            self.why = self.stop.and_then(|s| s());
        }
        self.why.is_some()
    }
    fn root(&mut self, root: Root) {
        if self.roots.len() < self.roots.capacity() || self.room(grown(&self.roots) - vec_bytes(&self.roots)) {
            self.roots.push(root);
        }
    }
    fn class(&mut self, class: ClassDump) {
        self.add(class.id, align(8 * class.static_refs.len() as u64));
        let fields = array_bytes::<(u64, u8)>(class.fields.len());
        let grow = if self.classes.len() == self.classes.capacity() { map_grown(&self.classes) } else { 0 };
        if self.room(grow + fields) {
            self.class_fields += fields;
            let fields = class.fields.into_boxed_slice().into_vec();
            self.classes.insert(class.id, ClassDump { static_refs: Vec::new(), fields, ..class });
        }
    }
    fn instance(&mut self, id: u64, _class_id: u64, fields: &[u8]) {
        self.add(id, align(fields.len() as u64));
    }
    fn object_array(&mut self, id: u64, _class_id: u64, length: u32, first: u32, _elements: &[u8]) {
        if first == 0 {
            self.add(id, align(8 * length as u64));
        }
    }
    fn primitive_array(&mut self, id: u64, elem_type: u8, length: u32, _data: &[u8]) {
        self.primitive_array_skipped(id, elem_type, length);
    }
    fn primitive_array_skipped(&mut self, id: u64, elem_type: u8, length: u32) {
        let size = hprof::type_size(elem_type, 8).unwrap_or(1) as u64;
        self.add(id, align(size * length as u64));
    }
}

/// Byte offsets of the reference fields of each class's instances, its superclasses' included.
fn layouts(classes: &HashMap<u64, ClassDump, MixBuild>) -> HashMap<u64, Vec<u32>, MixBuild> {
    let mut out: HashMap<u64, Vec<u32>, MixBuild> = HashMap::default();
    for &id in classes.keys() {
        let (mut refs, mut off, mut at, mut guard) = (Vec::new(), 0u32, id, 0);
        while let Some(c) = classes.get(&at).filter(|_| guard < 64) {
            for &(_, t) in &c.fields {
                if t == TYPE_OBJECT {
                    refs.push(off);
                }
                off += hprof::type_size(t, 8).unwrap_or(0) as u32;
            }
            at = c.super_id;
            guard += 1;
        }
        out.insert(id, refs);
    }
    out
}

/// Pass 2: each object's references, as successor lists in index order (the dump is read in
/// the same order as in pass 1, so lists are appended, never inserted).
struct Edges<'a, 'b> {
    nodes: &'a Nodes<'b>,
    layouts: &'a HashMap<u64, Vec<u32>, MixBuild>,
    offs: Vec<u32>,
    succ: Vec<u32>,
    /// What pass 1 and the layouts hold meanwhile.
    held: u64,
    meter: Meter,
    error: Option<String>,
}

impl<'a, 'b> Edges<'a, 'b> {
    fn new(nodes: &'a Nodes<'b>, layouts: &'a HashMap<u64, Vec<u32>, MixBuild>, roots: usize) -> Self {
        let layout_bytes: u64 = map_bytes(layouts) + layouts.values().map(vec_bytes).sum::<u64>();
        let held = nodes.bytes() + layout_bytes + array_bytes::<u32>(roots);
        Edges { nodes, layouts, offs: Vec::new(), succ: Vec::new(), held, meter: Meter::new(nodes.meter.limit), error: None }
    }

    fn bytes(&self) -> u64 {
        self.held + vec_bytes(&self.offs) + vec_bytes(&self.succ)
    }

    /// The offsets are one per object and one more: allocated once, if they fit.
    fn reserve_offsets(&mut self) -> Result<(), DumpError> {
        let n = self.nodes.sizes.len() + 1;
        if !self.meter.fits(self.bytes(), array_bytes::<u32>(n)) {
            return Err(DumpError::Stopped(over_limit(format!("{} objects", n - 1), self.meter.limit)));
        }
        self.offs.reserve_exact(n);
        Ok(())
    }

    fn start(&mut self, id: u64) -> bool {
        let Some(i) = self.nodes.ids.get(id) else { return false };
        let i = i as usize;
        if i + 1 < self.offs.len() || self.error.is_some() {
            // An object id seen again (a later chunk of the last array has i + 1 == len).
            return false;
        }
        while self.offs.len() <= i {
            self.offs.push(self.succ.len() as u32);
        }
        true
    }

    fn edge(&mut self, to: u64) {
        let Some(j) = self.nodes.ids.get(to) else { return };
        if self.succ.len() == self.succ.capacity() && self.error.is_none() {
            let extra = grown(&self.succ) - vec_bytes(&self.succ);
            if !self.meter.fits(self.bytes(), extra) || self.succ.len() as u64 >= u32::MAX as u64 {
                let what = format!("{} objects and more than {} references", self.nodes.sizes.len(), self.succ.len());
                self.error = Some(over_limit(what, self.meter.limit));
            }
        }
        if self.error.is_none() {
            self.succ.push(j);
        }
    }

    fn finish(mut self) -> Result<(Vec<u32>, Vec<u32>, Meter), DumpError> {
        if let Some(e) = self.error {
            return Err(DumpError::Stopped(e));
        }
        while self.offs.len() <= self.nodes.sizes.len() {
            self.offs.push(self.succ.len() as u32);
        }
        Ok((self.offs, self.succ, self.meter))
    }
}

impl Stopped for Edges<'_, '_> {
    fn stopped(&mut self) -> Option<String> {
        self.error.take()
    }
}

impl Visitor for Edges<'_, '_> {
    fn want(&self) -> Want {
        Want { classes: true, instances: true, object_arrays: true, ..Want::default() }
    }
    fn stop(&mut self) -> bool {
        if self.error.is_none() {
            self.error = self.nodes.stop.and_then(|s| s());
        }
        self.error.is_some()
    }
    fn class(&mut self, c: ClassDump) {
        if self.start(c.id) {
            for to in [c.super_id, c.loader_id, c.signers_id, c.domain_id] {
                self.edge(to);
            }
            for &(_, to) in &c.static_refs {
                self.edge(to);
            }
        }
    }
    fn instance(&mut self, id: u64, class_id: u64, fields: &[u8]) {
        if !self.start(id) {
            return;
        }
        self.edge(class_id);
        let layouts = self.layouts;
        for &off in layouts.get(&class_id).map(Vec::as_slice).unwrap_or(&[]) {
            if let Some(b) = fields.get(off as usize..off as usize + 8) {
                self.edge(u64::from_be_bytes(b.try_into().unwrap_or_default()));
            }
        }
    }
    fn object_array(&mut self, id: u64, class_id: u64, _length: u32, first: u32, elements: &[u8]) {
        if !self.start(id) {
            return;
        }
        if first == 0 {
            self.edge(class_id);
        }
        for b in elements.chunks_exact(8) {
            self.edge(u64::from_be_bytes(b.try_into().unwrap_or_default()));
        }
    }
    fn primitive_array(&mut self, id: u64, _elem_type: u8, _length: u32, _data: &[u8]) {
        self.start(id);
    }
    fn primitive_array_skipped(&mut self, id: u64, _elem_type: u8, _length: u32) {
        self.start(id);
    }
}

/// The object graph: successors of node i are `succ[offs[i]..offs[i + 1]]`.
pub struct Graph {
    pub offs: Vec<u32>,
    pub succ: Vec<u32>,
    /// Shallow sizes in 8-byte words.
    pub sizes: Vec<u32>,
    pub roots: Vec<u32>,
}

const NONE: u32 = u32::MAX;

impl Graph {
    fn successors(&self, n: u32) -> &[u32] {
        &self.succ[self.offs[n as usize] as usize..self.offs[n as usize + 1] as usize]
    }

    fn bytes(&self) -> u64 {
        vec_bytes(&self.offs) + vec_bytes(&self.succ) + vec_bytes(&self.sizes) + vec_bytes(&self.roots)
    }

    /// Reverse postorder from the super-root (which precedes every node, as position 0): the
    /// node at each position (super-root as `NONE`), and each node's position.
    fn reverse_postorder(&self, meter: &mut Meter) -> Result<(Vec<u32>, Vec<u32>), DumpError> {
        let n = self.sizes.len();
        // Positions, the seen bits, the postorder and the order; the stack is counted as it grows.
        let fixed = array_bytes::<u32>(n) + array_bytes::<bool>(n) + array_bytes::<u32>(n) + array_bytes::<u32>(n + 1);
        meter.take(fixed, "depth-first order")?;
        let mut pos = vec![NONE; n];
        let mut post: Vec<u32> = Vec::with_capacity(n);
        let mut seen = vec![false; n];
        // (node, next successor to look at); roots are the super-root's successors.
        let mut stack: Vec<(u32, u32)> = Vec::new();
        for &r in self.roots.iter().rev() {
            if seen[r as usize] {
                continue;
            }
            seen[r as usize] = true;
            stack.push((r, 0));
            while let Some(top) = stack.last_mut() {
                let (node, k) = *top;
                match self.successors(node).get(k as usize) {
                    Some(&next) => {
                        top.1 += 1;
                        if !seen[next as usize] {
                            seen[next as usize] = true;
                            if stack.len() == stack.capacity() {
                                meter.take(grown(&stack) - vec_bytes(&stack), "depth-first stack")?;
                            }
                            stack.push((next, 0));
                        }
                    }
                    None => {
                        post.push(node);
                        stack.pop();
                    }
                }
            }
        }
        let mut order = Vec::with_capacity(post.len() + 1);
        order.push(NONE);
        order.extend(post.iter().rev());
        for (p, &node) in order.iter().enumerate().skip(1) {
            pos[node as usize] = p as u32;
        }
        // The seen bits, the postorder and the stack go; the order shrinks to the reachable nodes.
        meter.give(array_bytes::<bool>(n) + array_bytes::<u32>(n) + array_bytes::<u32>(n + 1 - order.len()) + vec_bytes(&stack));
        Ok((order, pos))
    }

    /// Each node's retained bytes (None for nodes no root reaches), within `limit` bytes beside
    /// the graph itself.
    #[cfg(test)]
    pub fn retained(&self, stop: &dyn Fn() -> Option<String>, limit: u64) -> Result<Vec<Option<u64>>, DumpError> {
        let mut meter = Meter::new(limit);
        let (pos, sum) = self.sums(stop, &mut meter)?;
        Ok((0..pos.len() as u32).map(|n| retained_at(&pos, &sum, n)).collect())
    }

    /// Each node's position in reverse postorder, and the retained bytes at each position.
    fn sums(&self, stop: &dyn Fn() -> Option<String>, meter: &mut Meter) -> Result<(Vec<u32>, Vec<u64>), DumpError> {
        let (order, pos) = self.reverse_postorder(meter)?;
        let idom = self.dominators(&order, &pos, stop, meter)?;
        meter.take(array_bytes::<u64>(order.len()), "sums")?;
        let mut sum: Vec<u64> = order.iter().map(|&n| if n == NONE { 0 } else { 8 * self.sizes[n as usize] as u64 }).collect();
        // Immediate dominators precede their nodes in reverse postorder: one backward sweep sums
        // every subtree of the dominator tree.
        for p in (1..order.len()).rev() {
            sum[idom[p] as usize] += sum[p];
        }
        Ok((pos, sum))
    }

    /// Immediate dominator of each position in reverse postorder (position 0, the super-root,
    /// dominates itself), by Cooper, Harvey and Kennedy's iteration to a fixed point.
    fn dominators(&self, order: &[u32], pos: &[u32], stop: &dyn Fn() -> Option<String>, meter: &mut Meter) -> Result<Vec<u32>, DumpError> {
        let m = order.len();
        // Predecessors by position; the roots' only predecessor is the super-root.
        meter.take(2 * array_bytes::<u32>(m + 1) + array_bytes::<u32>(m), "dominators")?;
        let mut counts = vec![0u32; m + 1];
        for &n in &order[1..] {
            for &s in self.successors(n) {
                counts[pos[s as usize] as usize + 1] += 1;
            }
        }
        for &r in &self.roots {
            counts[pos[r as usize] as usize + 1] += 1;
        }
        for i in 1..=m {
            counts[i] += counts[i - 1];
        }
        meter.take(array_bytes::<u32>(counts[m] as usize), "predecessor lists")?;
        let mut fill = counts.clone();
        let mut preds = vec![0u32; counts[m] as usize];
        let mut put = |to: u32, from: u32| {
            preds[fill[to as usize] as usize] = from;
            fill[to as usize] += 1;
        };
        for (p, &n) in order.iter().enumerate().skip(1) {
            for &s in self.successors(n) {
                put(pos[s as usize], p as u32);
            }
        }
        for &r in &self.roots {
            put(pos[r as usize], 0);
        }
        let mut idom = vec![NONE; m];
        idom[0] = 0;
        let mut changed = true;
        while changed {
            if let Some(why) = stop() {
                return Err(DumpError::Stopped(why));
            }
            changed = false;
            for b in 1..m {
                let mut new = NONE;
                for &p in &preds[counts[b] as usize..counts[b + 1] as usize] {
                    if idom[p as usize] == NONE {
                        continue;
                    }
                    new = if new == NONE { p } else { intersect(&idom, p, new) };
                }
                if new != idom[b] {
                    idom[b] = new;
                    changed = true;
                }
            }
        }
        // The counts, the fill and the predecessors go; the dominators stay.
        meter.give(2 * array_bytes::<u32>(m + 1) + array_bytes::<u32>(preds.len()));
        Ok(idom)
    }
}

/// A node's retained bytes from its position and the sums by position.
fn retained_at(pos: &[u32], sum: &[u64], n: u32) -> Option<u64> {
    pos.get(n as usize).filter(|&&p| p != NONE).map(|&p| sum[p as usize])
}

/// The nearest common dominator of two positions whose dominators are known.
fn intersect(idom: &[u32], mut a: u32, mut b: u32) -> u32 {
    while a != b {
        while a > b {
            a = idom[a as usize];
        }
        while b > a {
            b = idom[b as usize];
        }
    }
    a
}

#[cfg(test)]
#[path = "retained_tests.rs"]
mod tests;
