//! The heap each leaked loader retains, from the heap dump the chain search already read: the
//! objects that every path from a GC root to them passes through the loader (its dominated set),
//! as Eclipse MAT's "retained heap". Computed on the report thread while the application runs.
//!
//! Two streaming passes build the object graph in compact arrays (object ids become u32 indices
//! in dump order); dominators come from the Semi-NCA algorithm (`semi_nca`) over the depth-first
//! preorder from a super-root that holds every GC root; retained sizes are summed up the
//! dominator tree. Every reference counts, weak
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

use crate::leaks::dump::meter::{array_bytes, grow, grown, grown_by_quarter, map_bytes, map_grown, vec_bytes, Meter};

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
    // The chain search's first pass counted the objects: when even their ids, index and sizes
    // cannot be held at once (as `Ids::index` holds them), say so before a pass.
    if let Some(n) = dump.objects {
        let least = n * (8 + 4 + 2);
        if least > budget.memory {
            return Err(DumpError::Stopped(format!(
                "{n} objects in the heap dump need at least {} MiB for the retained heap's graph (14 bytes an object before their references), over chain_memory ({} MiB)",
                least.div_ceil(1 << 20),
                budget.memory >> 20
            )));
        }
    }
    let mut nodes = Nodes { meter: Meter::new(budget.memory), stop: Some(budget.stop), ..Nodes::default() };
    let scanned = scan(dump, &mut nodes);
    *peak = nodes.meter.peak;
    scanned?;
    nodes.sizes.words.shrink_to_fit();
    nodes.ids.ids.shrink_to_fit();
    let mut meter = std::mem::take(&mut nodes.meter);
    let indexed = nodes.ids.index(nodes.bytes(), &mut meter);
    *peak = meter.peak;
    indexed?;
    nodes.meter = meter;
    let layouts = layouts(&nodes.classes, &nodes.ids);
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
    let found: Vec<u32> = target_nodes.iter().flatten().copied().collect();
    let sums = g.retained_of(&found, budget.stop, &mut meter);
    *peak = (*peak).max(meter.peak);
    let mut sums = sums?.into_iter();
    Ok(target_nodes.iter().map(|n| n.and_then(|_| sums.next().flatten())).collect())
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

/// Object ids, dump order giving each object its node index. Pass 1 collects them raw (8 bytes
/// an object); `index` sorts them and keeps only a compressed copy (about 2.4 bytes an id) and
/// the node index of each sorted id (4), so the raw ids go before pass 2 needs the room. The
/// sorted ids are kept in blocks of `BLOCK`: a block's first id in full, the others as their
/// distance from the one before in units of the ids' common alignment (HotSpot's are 8-byte
/// addresses, a small object 3 units from the next) in two bytes, `FAR` where it does not fit
/// and the id is in `far`. A lookup finds the block by its first id (buckets of the ids' range
/// narrow the search to a few blocks) and adds up at most `BLOCK - 1` distances. Of equal ids
/// only the first in dump order is kept (one seen again gets an index nothing refers to).
#[derive(Default)]
struct Ids {
    /// In dump order, until `index`.
    ids: Vec<u64>,
    /// Node index of each distinct id, in the ids' order.
    sorted: Vec<u32>,
    heads: Vec<u64>,
    steps: Vec<u16>,
    /// (rank, id) of the ids too far from the one before for a step, by rank.
    far: Vec<(u32, u64)>,
    /// The steps' unit, as a shift.
    unit: u32,
    min: u64,
    shift: u32,
    /// Where each bucket's blocks start in `heads`.
    buckets: Vec<u32>,
}

const BLOCK: usize = 32;
const FAR: u16 = u16::MAX;

impl Ids {
    fn bytes(&self) -> u64 {
        vec_bytes(&self.ids) + vec_bytes(&self.sorted) + vec_bytes(&self.heads) + vec_bytes(&self.steps) + vec_bytes(&self.far) + vec_bytes(&self.buckets)
    }

    /// Sorts and compresses the ids, once their memory fits beside `held` bytes, and frees the
    /// raw ones.
    fn index(&mut self, held: u64, meter: &mut Meter) -> Result<(), DumpError> {
        let n = self.ids.len();
        meter.now = held;
        meter.take(array_bytes::<u32>(n), "object index")?;
        let mut sorted: Vec<u32> = (0..n as u32).collect();
        let ids = &self.ids;
        sorted.sort_unstable_by_key(|&i| (ids[i as usize], i));
        sorted.dedup_by_key(|i| ids[*i as usize]);
        let id = |k: usize| ids[sorted[k] as usize];
        // The common alignment of the distances, then how many do not fit in a step.
        let all = (1..sorted.len()).fold(0u64, |acc, k| acc | (id(k) - id(k - 1)));
        let unit = all.trailing_zeros().min(63);
        let far = (1..sorted.len()).filter(|&k| k % BLOCK != 0 && (id(k) - id(k - 1)) >> unit >= FAR as u64).count();
        let blocks = sorted.len().div_ceil(BLOCK);
        let b = blocks.max(1).next_power_of_two();
        let extra = array_bytes::<u16>(sorted.len()) + array_bytes::<u64>(blocks) + array_bytes::<(u32, u64)>(far) + array_bytes::<u32>(b + 1);
        meter.take(extra, "object index")?;
        let (mut heads, mut steps, mut far) = (Vec::with_capacity(blocks), Vec::with_capacity(sorted.len()), Vec::with_capacity(far));
        for k in 0..sorted.len() {
            if k % BLOCK == 0 {
                heads.push(id(k));
                steps.push(0);
                continue;
            }
            let step = (id(k) - id(k - 1)) >> unit;
            if step >= FAR as u64 {
                far.push((k as u32, id(k)));
            }
            steps.push(step.min(FAR as u64) as u16);
        }
        sorted.shrink_to_fit();
        meter.give(vec_bytes(&self.ids) + array_bytes::<u32>(n) - vec_bytes(&sorted));
        (self.ids, self.sorted, self.heads, self.steps, self.far, self.unit) = (Vec::new(), sorted, heads, steps, far, unit);
        let (Some(&first), Some(&last)) = (self.heads.first(), self.heads.last()) else { return Ok(()) };
        self.min = first;
        self.shift = (64 - (last - first).leading_zeros()).saturating_sub(b.trailing_zeros()).min(63);
        let mut buckets = Vec::with_capacity(b + 1);
        let mut k = 0;
        for j in 0..b {
            while k < blocks && self.bucket(self.heads[k], b) < j {
                k += 1;
            }
            buckets.push(k as u32);
        }
        buckets.push(blocks as u32);
        self.buckets = buckets;
        Ok(())
    }

    /// The bucket of an id not below the least one, of `b`.
    fn bucket(&self, id: u64, b: usize) -> usize {
        (((id - self.min) >> self.shift) as usize).min(b - 1)
    }

    fn get(&self, id: u64) -> Option<u32> {
        if id < self.min || self.buckets.len() < 2 {
            return None;
        }
        let j = self.bucket(id, self.buckets.len() - 1);
        let (lo, hi) = (self.buckets[j] as usize, self.buckets[j + 1] as usize);
        // The last block that starts at or below the id: in this bucket, or the one before it.
        let block = lo + self.heads[lo..hi].partition_point(|&h| h <= id) - 1;
        let (start, end) = (block * BLOCK, (block * BLOCK + BLOCK).min(self.steps.len()));
        let mut at = self.heads[block];
        for k in start..end {
            if k > start {
                at = match self.steps[k] {
                    FAR => self.far[self.far.partition_point(|f| (f.0 as usize) < k)].1,
                    step => at + ((step as u64) << self.unit),
                };
            }
            if at >= id {
                return (at == id).then(|| self.sorted[k]);
            }
        }
        None
    }
}

/// Pass 1: every object gets an index in dump order, with its shallow size; classes and roots.
#[derive(Default)]
struct Nodes<'a> {
    ids: Ids,
    sizes: Sizes,
    classes: HashMap<u64, ClassDump, MixBuild>,
    /// The classes' field lists, which the map holds outside its table.
    class_fields: u64,
    roots: Vec<Root>,
    meter: Meter,
    stop: Option<&'a dyn Fn() -> Option<String>>,
    why: Option<String>,
}

/// Shallow sizes in 8-byte words by node, two bytes each; the few objects of 512 KiB or more
/// (`BIG` words) keep theirs in a map.
#[derive(Default)]
#[cfg_attr(test, derive(Clone))]
pub struct Sizes {
    words: Vec<u16>,
    big: HashMap<u32, u64, MixBuild>,
}

const BIG: u16 = u16::MAX;

impl Sizes {
    #[cfg(test)]
    pub fn of(words: &[u64]) -> Sizes {
        let mut s = Sizes::default();
        for (i, &w) in words.iter().enumerate() {
            if w >= BIG as u64 {
                s.big.insert(i as u32, w);
            }
            s.words.push(w.min(BIG as u64) as u16);
        }
        s
    }

    fn len(&self) -> usize {
        self.words.len()
    }

    fn bytes(&self) -> u64 {
        vec_bytes(&self.words) + map_bytes(&self.big)
    }

    fn bytes_of(&self, i: usize) -> u64 {
        8 * match self.words[i] {
            BIG => self.big.get(&(i as u32)).copied().unwrap_or(0),
            w => w as u64,
        }
    }

    /// The sizes by depth-first position (`pre`, `m` positions) in place of those by node.
    fn by_position(self, pre: &[u32], m: usize, meter: &mut Meter) -> Result<Sizes, DumpError> {
        meter.take(array_bytes::<u16>(m) + map_bytes(&self.big), "sizes by position")?;
        let mut out = Sizes { words: vec![0; m], big: HashMap::with_capacity_and_hasher(self.big.len(), MixBuild::default()) };
        for (v, &p) in pre.iter().enumerate() {
            if p != NONE {
                out.words[p as usize] = self.words[v];
                if let Some(&w) = self.big.get(&(v as u32)) {
                    out.big.insert(p, w);
                }
            }
        }
        meter.give(self.bytes());
        Ok(out)
    }
}

fn align(bytes: u64) -> u64 {
    (16 + bytes).div_ceil(8) * 8
}

impl Nodes<'_> {
    fn bytes(&self) -> u64 {
        self.ids.bytes() + self.sizes.bytes() + map_bytes(&self.classes) + self.class_fields + vec_bytes(&self.roots)
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
            extra += grown_by_quarter(&self.ids.ids) - vec_bytes(&self.ids.ids);
        }
        if self.sizes.words.len() == self.sizes.words.capacity() {
            extra += grown_by_quarter(&self.sizes.words) - vec_bytes(&self.sizes.words);
        }
        let words = size / 8;
        if words >= BIG as u64 && self.sizes.big.len() == self.sizes.big.capacity() {
            extra += map_grown(&self.sizes.big);
        }
        if extra > 0 {
            if !self.room(extra) {
                return;
            }
            if self.ids.ids.len() == self.ids.ids.capacity() {
                grow(&mut self.ids.ids);
            }
            if self.sizes.words.len() == self.sizes.words.capacity() {
                grow(&mut self.sizes.words);
            }
        }
        if words >= BIG as u64 {
            self.sizes.big.insert(self.sizes.len() as u32, words);
        }
        self.ids.ids.push(id);
        self.sizes.words.push(words.min(BIG as u64) as u16);
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

/// Each class's node, and the byte offsets of the reference fields of its instances, its
/// superclasses' included: an object's class is then found with its layout, one lookup among
/// the compressed ids fewer an object in pass 2.
fn layouts(classes: &HashMap<u64, ClassDump, MixBuild>, ids: &Ids) -> Layouts {
    let mut out = Layouts::default();
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
        out.insert(id, (ids.get(id), refs));
    }
    out
}

type Layouts = HashMap<u64, (Option<u32>, Vec<u32>), MixBuild>;

/// Pass 2: each object's references, as successor lists in index order (the dump is read in
/// the same order as in pass 1, so lists are appended, never inserted).
struct Edges<'a, 'b> {
    nodes: &'a Nodes<'b>,
    layouts: &'a Layouts,
    offs: Vec<u32>,
    succ: Vec<u32>,
    /// What pass 1 and the layouts hold meanwhile.
    held: u64,
    meter: Meter,
    error: Option<String>,
}

impl<'a, 'b> Edges<'a, 'b> {
    fn new(nodes: &'a Nodes<'b>, layouts: &'a Layouts, roots: usize) -> Self {
        let layout_bytes: u64 = map_bytes(layouts) + layouts.values().map(|(_, refs)| vec_bytes(refs)).sum::<u64>();
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
        // Most references in a heap are null: no lookup for them.
        if to == 0 {
            return;
        }
        if let Some(j) = self.nodes.ids.get(to) {
            self.push(j);
        }
    }

    /// The edge to an object's class; its instances' reference offsets.
    fn class_edge(&mut self, class_id: u64) -> &'a [u32] {
        let layouts = self.layouts;
        match layouts.get(&class_id) {
            Some((class, refs)) => {
                if let Some(j) = *class {
                    self.push(j);
                }
                refs
            }
            None => {
                self.edge(class_id);
                &[]
            }
        }
    }

    fn push(&mut self, j: u32) {
        if self.succ.len() == self.succ.capacity() && self.error.is_none() {
            let extra = grown_by_quarter(&self.succ) - vec_bytes(&self.succ);
            if !self.meter.fits(self.bytes(), extra) || self.succ.len() as u64 >= u32::MAX as u64 {
                let what = format!("{} objects and more than {} references", self.nodes.sizes.len(), self.succ.len());
                self.error = Some(over_limit(what, self.meter.limit));
            } else {
                grow(&mut self.succ);
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
        // The growth's slack goes before the dominators need the room.
        self.succ.shrink_to_fit();
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
        for &off in self.class_edge(class_id) {
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
            self.class_edge(class_id);
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
#[cfg_attr(test, derive(Clone))]
pub struct Graph {
    pub offs: Vec<u32>,
    pub succ: Vec<u32>,
    pub sizes: Sizes,
    pub roots: Vec<u32>,
}

const NONE: u32 = u32::MAX;

/// Marks the depth-first tree's edges among the references (the top bit of a node index or
/// position, which stay below it): each node's tree parent is then found in its predecessor
/// list, so no array of parents is held beside the edges.
const TREE: u32 = 1 << 31;

/// Steps of a loop between two looks at the time (a look is a clock read).
const STEPS: u32 = 1 << 16;

/// Counts loop steps and asks `stop` every `STEPS` of them.
struct Clock<'a> {
    stop: &'a dyn Fn() -> Option<String>,
    steps: u32,
}

impl Clock<'_> {
    fn tick(&mut self) -> Result<(), DumpError> {
        self.steps += 1;
        if self.steps.is_multiple_of(STEPS) {
            return self.check();
        }
        Ok(())
    }

    fn check(&self) -> Result<(), DumpError> {
        match (self.stop)() {
            Some(why) => Err(DumpError::Stopped(why)),
            None => Ok(()),
        }
    }
}

impl Graph {
    fn bytes(&self) -> u64 {
        vec_bytes(&self.offs) + vec_bytes(&self.succ) + self.sizes.bytes() + vec_bytes(&self.roots)
    }

    /// Depth-first preorder from the super-root (position 0, whose successors are the roots):
    /// each node's position (`NONE` where no root reaches it) and how many positions; the edges
    /// (and roots) the tree took are marked `TREE`.
    fn preorder(&mut self, clock: &mut Clock<'_>, meter: &mut Meter) -> Result<(Vec<u32>, usize), DumpError> {
        let n = self.sizes.len();
        meter.take(array_bytes::<u32>(n), "depth-first order")?;
        let mut pre = vec![NONE; n];
        let mut m = 1;
        // (node, its next reference in `succ`).
        let mut stack: Vec<(u32, u32)> = Vec::new();
        for r in 0..self.roots.len() {
            let root = self.roots[r];
            if pre[root as usize] != NONE {
                continue;
            }
            self.roots[r] |= TREE;
            visit(root, &self.offs, &mut m, &mut pre, &mut stack, clock, meter)?;
            while let Some(top) = stack.last_mut() {
                let (node, k) = *top;
                if k < self.offs[node as usize + 1] {
                    top.1 += 1;
                    let next = self.succ[k as usize];
                    if pre[next as usize] == NONE {
                        self.succ[k as usize] |= TREE;
                        visit(next, &self.offs, &mut m, &mut pre, &mut stack, clock, meter)?;
                    }
                } else {
                    stack.pop();
                }
            }
        }
        meter.give(vec_bytes(&stack));
        Ok((pre, m as usize))
    }

    /// Each node's retained bytes (None for nodes no root reaches), within `limit` bytes beside
    /// the graph itself.
    #[cfg(test)]
    pub fn retained(&self, stop: &dyn Fn() -> Option<String>, limit: u64) -> Result<Vec<Option<u64>>, DumpError> {
        let mut meter = Meter::new(limit);
        let all: Vec<u32> = (0..self.sizes.len() as u32).collect();
        self.clone().retained_of(&all, stop, &mut meter)
    }

    /// The retained bytes of the given nodes (None for those no root reaches). The successor
    /// lists become the predecessor lists in place, so the edges are held once.
    fn retained_of(mut self, nodes: &[u32], stop: &dyn Fn() -> Option<String>, meter: &mut Meter) -> Result<Vec<Option<u64>>, DumpError> {
        let mut clock = Clock { stop, steps: 0 };
        clock.check()?;
        if self.sizes.len() >= TREE as usize - 1 {
            return Err(DumpError::Stopped(format!("{} objects in the heap dump, more than the retained heap's graph indexes", self.sizes.len())));
        }
        let (pre, m) = self.preorder(&mut clock, meter)?;
        let at: Vec<u32> = nodes.iter().map(|&n| pre[n as usize]).collect();
        let sizes = std::mem::take(&mut self.sizes).by_position(&pre, m, meter)?;
        let Graph { offs, succ, roots, .. } = self;
        let (starts, preds, anc) = transpose(offs, succ, &roots, &pre, m, &mut clock, meter)?;
        meter.give(vec_bytes(&roots) + vec_bytes(&pre));
        drop((roots, pre));
        let idom = semi_nca(anc, starts, preds, &mut clock, meter)?;
        sums(idom, &sizes, &at, meter)
    }
}

/// The retained bytes of the nodes at positions `at` (NONE: not reached) from the immediate
/// dominators: each position's nearest dominating target is found in one forward sweep (a
/// dominator precedes its nodes in preorder), in place of the dominators; a target's sum holds
/// its nodes' sizes and then the sums of the targets it dominates.
fn sums(mut owner: Vec<u32>, sizes: &Sizes, at: &[u32], meter: &mut Meter) -> Result<Vec<Option<u64>>, DumpError> {
    meter.take(array_bytes::<u32>(at.len()) + array_bytes::<(u64, u32)>(at.len()), "sums")?;
    let mut targets: Vec<u32> = at.iter().copied().filter(|&p| p != NONE).collect();
    targets.sort_unstable();
    targets.dedup();
    let (mut sum, mut above) = (vec![0u64; targets.len()], vec![NONE; targets.len()]);
    owner[0] = NONE;
    for p in 1..owner.len() {
        let up = owner[owner[p] as usize];
        owner[p] = match targets.binary_search(&(p as u32)) {
            Ok(k) => {
                above[k] = up;
                k as u32
            }
            Err(_) => up,
        };
        if owner[p] != NONE {
            sum[owner[p] as usize] += sizes.bytes_of(p);
        }
    }
    for k in (0..targets.len()).rev() {
        if above[k] != NONE {
            sum[above[k] as usize] += sum[k];
        }
    }
    meter.give(vec_bytes(&owner));
    Ok(at.iter().map(|&p| targets.binary_search(&p).ok().map(|k| sum[k])).collect())
}

/// Gives `node` the next position and puts it on the stack.
fn visit(node: u32, offs: &[u32], m: &mut u32, pre: &mut [u32], stack: &mut Vec<(u32, u32)>, clock: &mut Clock<'_>, meter: &mut Meter) -> Result<(), DumpError> {
    pre[node as usize] = *m;
    *m += 1;
    if stack.len() == stack.capacity() {
        meter.take(grown(stack) - vec_bytes(stack), "depth-first stack")?;
    }
    stack.push((node, offs[node as usize]));
    clock.tick()
}

/// Turns the successor lists into predecessor lists by position in the same array, the roots'
/// edges from the super-root (position 0) added: those of position w are
/// `preds[starts[w]..starts[w + 1]]`, the tree parent first. Only the reached nodes' edges
/// stay. In place, so the edges are never held twice: each entry is carried to its slot in its
/// target's list, displacing the one there, until a cycle of moves closes; a bit an entry says
/// which slots are done, and an entry's source is found by a binary search among the few rows
/// its word of 64 slots spans. Also
/// the forest `semi_nca` compresses, which starts as the tree.
#[allow(clippy::type_complexity)]
fn transpose(mut offs: Vec<u32>, mut succ: Vec<u32>, roots: &[u32], pre: &[u32], m: usize, clock: &mut Clock<'_>, meter: &mut Meter) -> Result<(Vec<u32>, Vec<u32>, Vec<u32>), DumpError> {
    let n = pre.len();
    let position = |e: u32| pre[(e & !TREE) as usize] | (e & TREE);
    // Targets become positions, and the rows of unreached nodes empty.
    let mut k = 0;
    for v in 0..n {
        let (from, to) = (offs[v] as usize, offs[v + 1] as usize);
        offs[v] = k as u32;
        if pre[v] != NONE {
            for i in from..to {
                succ[k] = position(succ[i]);
                k += 1;
            }
        }
    }
    offs[n] = k as u32;
    succ.truncate(k);
    meter.take(array_bytes::<u32>(roots.len()), "root edges")?;
    succ.reserve_exact(roots.len());
    succ.extend(roots.iter().map(|&r| position(r)));
    let len = succ.len();
    let words = len.div_ceil(64);
    meter.take(array_bytes::<u32>(m + 1) + array_bytes::<u64>(words) + array_bytes::<u32>(words + 1), "predecessor lists")?;
    let mut starts = vec![0u32; m + 1];
    for &t in &succ {
        starts[(t & !TREE) as usize + 1] += 1;
    }
    for i in 1..=m {
        starts[i] += starts[i - 1];
    }
    // The row (node, or n for the roots' edges) of slot 64 j, and n past the last: a slot's row
    // lies between those of its word's first slot and the next word's, a few rows apart where
    // a search of all the offsets took a third of the whole computation.
    let mut rows = Vec::with_capacity(words + 1);
    let mut v = 0;
    for j in 0..words {
        while v < n && offs[v + 1] as usize <= 64 * j {
            v += 1;
        }
        rows.push(v as u32);
    }
    rows.push(n as u32);
    // The source's position of the entry first at slot i: its row's node, or the super-root.
    let source = |i: usize| {
        let (lo, hi) = (rows[i / 64] as usize, rows[i / 64 + 1] as usize);
        match lo + offs[lo + 1..=hi].partition_point(|&o| o as usize <= i) {
            v if v == n => 0,
            v => pre[v],
        }
    };
    let mut done = vec![0u64; words];
    // Each start serves as its list's cursor, which ends at the next list's start.
    for i in 0..len {
        if done[i / 64] & (1 << (i % 64)) != 0 {
            continue;
        }
        let (mut at, mut to) = (i, succ[i]);
        loop {
            let from = source(at) | (to & TREE);
            let d = starts[(to & !TREE) as usize] as usize;
            starts[(to & !TREE) as usize] += 1;
            done[d / 64] |= 1 << (d % 64);
            let next = succ[d];
            succ[d] = from;
            if d == i {
                break;
            }
            (at, to) = (d, next);
        }
        clock.tick()?;
    }
    starts.copy_within(0..m, 1);
    starts[0] = 0;
    meter.give(vec_bytes(&offs) + vec_bytes(&done) + vec_bytes(&rows));
    drop((offs, done, rows));
    // Every reached position but the super-root has one tree edge in: to the front of its list.
    meter.take(array_bytes::<u32>(m), "dominator forest")?;
    let mut anc = vec![0u32; m];
    for w in 1..m {
        let (a, b) = (starts[w] as usize, starts[w + 1] as usize);
        let parent = (a..b).find(|&j| succ[j] & TREE != 0).unwrap_or(a);
        succ.swap(a, parent);
        succ[a] &= !TREE;
        anc[w] = succ[a];
    }
    Ok((starts, succ, anc))
}

/// Immediate dominator of each position in depth-first preorder (position 0, the super-root,
/// dominates itself), by the Semi-NCA algorithm (Georgiadis, Tarjan and Werneck, "Finding
/// Dominators in Practice", as LLVM implements it): semidominators from Lengauer and Tarjan's
/// path-compressed forest, then each immediate dominator as the nearest ancestor in the
/// dominator tree at or above the semidominator. Near-linear where the iterative algorithm of
/// Cooper, Harvey and Kennedy (used before) walked deep dominator chains once per predecessor of
/// a node that many objects reach (a class and its instances). The forest `anc` starts as the
/// tree (each position's parent, also first in its predecessor list).
fn semi_nca(mut anc: Vec<u32>, mut starts: Vec<u32>, mut preds: Vec<u32>, clock: &mut Clock<'_>, meter: &mut Meter) -> Result<Vec<u32>, DumpError> {
    let m = anc.len();
    meter.take(array_bytes::<u32>(m), "dominators")?;
    // The least semidominator on each position's forest path (its own before it is linked).
    let mut best: Vec<u32> = (0..m as u32).collect();
    let mut path: Vec<u32> = Vec::new();
    for w in (1..m).rev() {
        let (a, b) = (starts[w] as usize, starts[w + 1] as usize);
        // The tree parent is a predecessor; the others can only lower it.
        let mut s = preds[a];
        for &v in &preds[a + 1..b] {
            s = s.min(eval(v, w as u32 + 1, &mut anc, &mut best, &mut path, meter)?);
        }
        best[w] = s;
        // Nothing reads w's list again: its last entry keeps w's semidominator (a list of one
        // is its tree parent, which is then its semidominator too).
        preds[b - 1] = s;
        clock.tick()?;
    }
    meter.give(vec_bytes(&anc) + vec_bytes(&best) + vec_bytes(&path));
    drop((anc, best, path));
    // The dominators in place of the list starts: w's start is read here last, and those of
    // the positions before w already hold their dominators.
    for w in 1..m {
        let (a, b) = (starts[w] as usize, starts[w + 1] as usize);
        let (mut c, semi) = (preds[a], preds[b - 1]);
        while c > semi {
            c = starts[c as usize];
        }
        starts[w] = c;
    }
    starts[0] = 0;
    starts.truncate(m);
    meter.give(vec_bytes(&preds));
    Ok(starts)
}

/// The least semidominator on the forest path from `v` up to (not including) its root, where
/// positions from `linked` on are linked; compresses the path it walks.
fn eval(v: u32, linked: u32, anc: &mut [u32], best: &mut [u32], path: &mut Vec<u32>, meter: &mut Meter) -> Result<u32, DumpError> {
    if anc[v as usize] < linked {
        return Ok(best[v as usize]);
    }
    path.clear();
    let mut x = v;
    loop {
        if path.len() == path.capacity() {
            meter.take(grown(path) - vec_bytes(path), "dominator path")?;
        }
        path.push(x);
        x = anc[x as usize];
        if anc[x as usize] < linked {
            break;
        }
    }
    let (mut p, mut p_best) = (x, best[x as usize]);
    while let Some(y) = path.pop() {
        anc[y as usize] = anc[p as usize];
        if p_best < best[y as usize] {
            best[y as usize] = p_best;
        } else {
            p_best = best[y as usize];
        }
        p = y;
    }
    Ok(best[p as usize])
}

#[cfg(test)]
#[path = "retained_tests.rs"]
mod tests;
