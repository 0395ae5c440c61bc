//! Names for the objects, classes, fields and roots on the chains a dump search found, read in
//! one more pass over the dump, and the chains in the report's words.

use crate::leaks::dump::hprof::{self, Dump, Root, Visitor, Want, TYPE_LONG};
use crate::leaks::dump::index::{frame_of, id_at, thread_of, IdMap, Index};
use crate::leaks::dump::search::{Edge, Live, RawChain, Round};
use crate::leaks::hops::root_from;
use leakagent_report::model::{HopKind, PathHop};
use std::collections::HashMap;

/// Names for the objects, classes and fields on the chains, read once from the dump.
pub(super) struct Names<'a> {
    index: &'a Index<'a>,
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
    index: &'a Index<'a>,
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
    pub(super) fn read(
        dump: &mut Dump,
        index: &'a Index<'a>,
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
    pub(super) fn frame_loader(&self, r: &Root) -> Option<u32> {
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
    pub(super) fn render(&self, c: &RawChain) -> Vec<PathHop> {
        let mut out = Vec::new();
        let mut steps = c.steps.iter().peekable();
        let r = &c.root;
        if r.kind == hprof::ROOT_STICKY_CLASS {
            if let Some(&&(from, _, Edge::Static(name), to)) = steps.peek() {
                out.push(PathHop {
                    from: self.class_name(from),
                    field: self.string(name),
                    kind: HopKind::StaticField,
                    to: self.describe(to),
                    to_loader: self.loader_of(to),
                });
                steps.next();
            }
        }
        if out.is_empty() {
            let kind = root_kind(r.kind);
            let from = match kind {
                HopKind::Thread => root_from(kind, Some(&self.thread_label(r).0), None),
                HopKind::StackLocal | HopKind::JniLocal => root_from(kind, None, Some((&self.method(r), &self.thread_label(r).1))),
                _ => root_from(kind, None, None),
            };
            out.push(PathHop { from, field: String::new(), kind, to: self.describe(r.id), to_loader: self.loader_of(r.id) });
        }
        for &(from, _, edge, to) in steps {
            let (kind, field) = match edge {
                Edge::Field(n) => (HopKind::Field, self.string(n)),
                Edge::Static(n) => match self.string(n) {
                    name if name == "<resolved_references>" => (HopKind::ConstantPool, String::new()),
                    name => (HopKind::StaticField, name),
                },
                Edge::Element(i) => (HopKind::ArrayElement, format!("[{i}]")),
                Edge::Class => (HopKind::Class, String::new()),
                Edge::Loader => (HopKind::ClassLoader, String::new()),
                Edge::Super => (HopKind::Superclass, String::new()),
                Edge::Signers => (HopKind::Signers, String::new()),
                Edge::Domain => (HopKind::ProtectionDomain, String::new()),
            };
            // A static field belongs to a class: name the class itself, as `X.field`.
            let from = if kind == HopKind::StaticField { self.class_name(from) } else { self.describe(from) };
            out.push(PathHop { from, field, kind, to: self.describe(to), to_loader: self.loader_of(to) });
        }
        out
    }
}

/// The kind of a dump's GC root.
fn root_kind(kind: u8) -> HopKind {
    match kind {
        hprof::ROOT_STICKY_CLASS => HopKind::SystemClass,
        hprof::ROOT_THREAD_OBJ => HopKind::Thread,
        hprof::ROOT_JAVA_FRAME => HopKind::StackLocal,
        hprof::ROOT_JNI_LOCAL => HopKind::JniLocal,
        hprof::ROOT_JNI_GLOBAL => HopKind::JniGlobal,
        hprof::ROOT_MONITOR_USED => HopKind::Monitor,
        _ => HopKind::Other,
    }
}

/// `java/util/HashMap$Node` -> `java.util.HashMap$Node`; `[Ljava/lang/Object;` -> `java.lang.Object[]`.
fn java_name(internal: &str) -> String {
    if internal.starts_with('[') {
        crate::ffi::jvmti::signature_to_name(internal)
    } else {
        internal.replace('/', ".")
    }
}
