//! The index pass over a heap dump: classes with their instance layouts, GC roots, stack traces,
//! and the agent's marker array, read once before the search passes.

use crate::core::hash::MixBuild;
use crate::leaks::dump::hprof::{self, ClassDump, Root, Visitor, Want, TYPE_LONG, TYPE_OBJECT};
use std::collections::HashMap;

/// The search looks up every reference of the heap by object id.
pub(super) type IdMap<V> = HashMap<u64, V, MixBuild>;

/// One class of the dump, with the instance layout the search needs.
pub(super) struct Class {
    pub(super) dump: ClassDump,
    pub(super) name_id: u64,
    pub(super) serial: u32,
    /// Reference fields of an instance, over the whole hierarchy: (byte offset, field name id).
    pub(super) refs: Vec<(u32, u64)>,
    /// Byte offset of `Reference.referent` for subclasses of java.lang.ref.Reference.
    pub(super) referent: Option<u32>,
    /// Total bytes of an instance's field values.
    pub(super) size: u32,
}

/// Names the index pass looks for.
#[derive(Default)]
pub(super) struct Known {
    pub(super) reference: u64,
    pub(super) referent: u64,
    pub(super) thread: u64,
    pub(super) tid: u64,
}

pub(super) const WELL_KNOWN: [&[u8]; 4] = [b"java/lang/ref/Reference", b"referent", b"java/lang/Thread", b"tid"];

/// The index pass: classes, roots, stack traces and the marker.
pub(super) struct Index<'a> {
    pub(super) known: Known,
    pub(super) classes: IdMap<Class>,
    pub(super) class_by_serial: HashMap<u32, u64>,
    pub(super) frames: IdMap<(u64, u32)>,
    pub(super) traces: HashMap<u32, Vec<u64>>,
    pub(super) roots: Vec<Root>,
    pub(super) heap_start: Option<u64>,
    pub(super) marker_len: u32,
    pub(super) marker: [i64; 4],
    pub(super) marker_ids: Vec<u64>,
    /// Object arrays of the marker array's length whose first and last elements agree.
    pub(super) candidates: Vec<(u64, Vec<u64>)>,
    /// Why the index pass must give up now (the search's own check: the report's budget,
    /// `chain_time`): it reads the whole dump, seconds under load, and an exit report must keep
    /// its last steps' share.
    deadline: &'a dyn Fn() -> Option<String>,
    /// The reason it gave up, once it has.
    pub(super) stop: Option<String>,
}

impl<'a> Index<'a> {
    pub(super) fn new(marker_len: u32, marker: [i64; 4], deadline: &'a dyn Fn() -> Option<String>) -> Self {
        Index {
            known: Known::default(),
            classes: IdMap::default(),
            class_by_serial: HashMap::new(),
            frames: IdMap::default(),
            traces: HashMap::new(),
            roots: Vec::new(),
            heap_start: None,
            marker_len,
            marker,
            marker_ids: Vec::new(),
            candidates: Vec::new(),
            deadline,
            stop: None,
        }
    }
}

pub(super) fn id_at(b: &[u8], at: usize) -> u64 {
    b[at..at + 8].iter().fold(0u64, |acc, &x| acc << 8 | x as u64)
}

impl Visitor for Index<'_> {
    fn want(&self) -> Want {
        Want { strings: true, meta: true, roots: true, classes: true, instances: false, object_arrays: true, small_primitive_arrays: 4 }
    }
    fn stop(&mut self) -> bool {
        if self.stop.is_none() {
            self.stop = (self.deadline)();
        }
        self.stop.is_some()
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

pub(super) fn empty_class(id: u64) -> Class {
    Class { dump: ClassDump { id, ..ClassDump::default() }, name_id: 0, serial: 0, refs: Vec::new(), referent: None, size: 0 }
}

/// Builds the instance layouts once every class is known.
pub(super) fn layouts(index: &mut Index<'_>) {
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

/// The thread object behind a thread or stack root.
pub(super) fn thread_of(index: &Index<'_>, r: &Root) -> Option<u64> {
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
pub(super) fn frame_of(index: &Index<'_>, r: &Root) -> Option<(u64, u32)> {
    if !matches!(r.kind, hprof::ROOT_JAVA_FRAME | hprof::ROOT_JNI_LOCAL) {
        return None;
    }
    let thread = index.roots.iter().find(|t| t.kind == hprof::ROOT_THREAD_OBJ && t.thread_serial == r.thread_serial)?;
    let frames = index.traces.get(&thread.frame)?;
    index.frames.get(frames.get(r.frame as usize)?).copied()
}
