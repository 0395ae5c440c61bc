//! Names for a chain's hops: class tags, field indices and loaders resolved to what a report
//! prints, with caches for one report.

use crate::leaks::walk::search::RawHop;
use crate::loaders::tags::{tag_kind, tag_loader, TAG_ARRAY_CLASS, TAG_CLASS, TAG_LOADER};
use crate::loaders::tracker::ClassTracker;
use crate::ffi::jni::{Env, Local};
use crate::ffi::jvmti::{signature_to_name, Jvmti};
use crate::ffi::sys::*;
use jni::sys::{jclass, jlong};
use leakagent_report::model::{HopKind, Loader, PathHop};
use std::collections::{HashMap, HashSet};

/// What the heap walks need to know of the loaded classes (`Names::prepare_classes`).
#[derive(Default)]
pub struct Classes {
    /// For every loaded subclass of java.lang.ref.Reference (by class tag), the heap-walk index
    /// of `referent`.
    pub referent_index: HashMap<jlong, i32>,
    /// Tags of the classes loaded but not linked: HotSpot's heap walk reports no reference out
    /// of their `Class` objects (not even to their loader), so the search adds that edge itself.
    pub unlinked: HashSet<jlong>,
}

/// Resolves class tags, field indices and loaders to names, with caches for one report.
pub struct Names<'a> {
    jvmti: &'a Jvmti,
    env: &'a Env,
    loaders: HashMap<u32, &'a Loader>,
    classes: HashMap<jlong, String>,
    fields: HashMap<jlong, (usize, Vec<String>)>,
    /// Thread names by `Thread.getId()`, read the first time a stack root needs one.
    threads: Option<HashMap<i64, String>>,
}

impl<'a> Names<'a> {
    pub fn new(jvmti: &'a Jvmti, env: &'a Env, loaders: &'a [Loader]) -> Names<'a> {
        Names {
            jvmti,
            env,
            loaders: loaders.iter().map(|l| (l.id, l)).collect(),
            classes: HashMap::new(),
            fields: HashMap::new(),
            threads: None,
        }
    }

    /// A local reference to the class with this (unique) class tag.
    fn class_of(&self, tag: jlong) -> Option<Local<'a>> {
        if tag_kind(tag) != TAG_CLASS && tag_kind(tag) != TAG_ARRAY_CLASS {
            return None;
        }
        // Collected first so that any further object with the tag is freed too.
        let all: Vec<Local<'a>> = self.jvmti.objects_with_tags(&[tag]).ok()?.into_iter().map(|(o, _)| Local::new(self.env, o)).collect();
        all.into_iter().next()
    }

    pub fn class_name(&mut self, tag: jlong) -> String {
        if let Some(n) = self.classes.get(&tag) {
            return n.clone();
        }
        let name = match self.class_of(tag) {
            Some(k) => self.jvmti.class_signature(k.raw()).map(|s| signature_to_name(&s)).unwrap_or_default(),
            None => "<unknown class>".into(),
        };
        self.classes.insert(tag, name.clone());
        name
    }

    /// How the report names an object: a class as `class X`, a loader by its class, anything
    /// else by its class.
    pub fn describe(&mut self, object: jlong, class_tag: jlong) -> String {
        match tag_kind(object) {
            TAG_CLASS | TAG_ARRAY_CLASS => format!("class {}", self.class_name(object)),
            TAG_LOADER => self
                .loaders
                .get(&tag_loader(object))
                .map(|l| l.class.clone())
                .unwrap_or_else(|| "<class loader>".into()),
            _ if class_tag != 0 => self.class_name(class_tag),
            _ => "<object>".into(),
        }
    }

    fn loader_of(object: jlong, class_tag: jlong) -> Option<u32> {
        match tag_kind(object) {
            TAG_CLASS | TAG_LOADER => Some(tag_loader(object)),
            _ if tag_kind(class_tag) == TAG_CLASS || tag_kind(class_tag) == TAG_ARRAY_CLASS => Some(tag_loader(class_tag)),
            _ => None,
        }
    }

    /// Field names in heap-walk index order for the class with this tag: the JVMTI rule is the
    /// fields of every implemented interface first (counted, `n`), then the fields of
    /// java.lang.Object down to the class itself, each class in GetClassFields order; for an
    /// interface, its superinterfaces' fields are counted and its own follow.
    fn field_table(&mut self, class_tag: jlong) -> Option<&(usize, Vec<String>)> {
        if !self.fields.contains_key(&class_tag) {
            let k = self.class_of(class_tag)?;
            let table = field_table(self.jvmti, self.env, k.raw());
            self.fields.insert(class_tag, table);
        }
        self.fields.get(&class_tag)
    }

    pub fn field_name(&mut self, class_tag: jlong, index: i32) -> String {
        match self.field_table(class_tag) {
            Some((n, names)) => index
                .checked_sub(*n as i32)
                .and_then(|i| names.get(i as usize))
                .cloned()
                .unwrap_or_else(|| format!("<field {index}>")),
            None => format!("<field {index}>"),
        }
    }

    /// Tags the untagged classes (arrays, and classes loaded since the report's snapshot) so
    /// chains can name them, and returns what the heap walks need to know of the classes.
    pub fn prepare_classes(&mut self, tracker: &ClassTracker) -> Classes {
        // GetLoadedClasses makes a local reference per class at once.
        let env = self.env;
        env.with_local_frame(tracker.local_capacity(), || self.prepare_classes_in_frame(tracker))
    }

    fn prepare_classes_in_frame(&mut self, tracker: &ClassTracker) -> Classes {
        let mut out = Classes::default();
        let reference = self.env.find_class(c"java/lang/ref/Reference");
        if reference.is_null() {
            return out;
        }
        let Ok(all) = self.jvmti.loaded_classes_in(self.env) else { return out };
        for k in all.into_iter().map(|k| Local::new(self.env, k)) {
            let k = k.raw();
            if self.jvmti.tag(k) == Ok(0) {
                // Array classes, and classes loaded since the report's snapshot tagged the others.
                let array = self.jvmti.class_signature(k).map(|s| s.starts_with('[')).unwrap_or(false);
                let _ = tracker.tag_lazily(self.jvmti, self.env, k, array);
            }
            let tag = self.jvmti.tag(k).unwrap_or(0);
            if tag_kind(tag) == TAG_CLASS && self.jvmti.class_prepared(k).is_ok_and(|p| !p) {
                out.unlinked.insert(tag);
            }
            if tag != 0 && self.env.is_assignable_from(k, reference.raw()) {
                let (n, names) = field_table(self.jvmti, self.env, k);
                if let Some(pos) = names.iter().position(|f| f == "referent") {
                    out.referent_index.insert(tag, (n + pos) as i32);
                }
            }
        }
        out
    }

    /// `Class.method` and the id of the loader that defined the class.
    pub fn method(&self, method: usize) -> (String, Option<u32>) {
        let m = method as jni::sys::jmethodID;
        let name = self.jvmti.method_name(m).unwrap_or_default();
        let (class, loader) = self
            .jvmti
            .method_declaring_class(m)
            .ok()
            .map(|k| {
                let k = Local::new(self.env, k);
                let n = self.jvmti.class_signature(k.raw()).map(|s| signature_to_name(&s)).unwrap_or_default();
                (n, self.loader_of_class(k.raw()))
            })
            .unwrap_or_default();
        (format!("{class}.{name}"), loader)
    }

    /// The id of the loader that defined `klass`: from its tag, or (a class not tagged yet)
    /// from its loader's tag; None for a loader the agent has not seen.
    fn loader_of_class(&self, klass: jclass) -> Option<u32> {
        let tag = self.jvmti.tag(klass).unwrap_or(0);
        if tag_kind(tag) == TAG_CLASS {
            return Some(tag_loader(tag));
        }
        let loader = Local::new(self.env, self.jvmti.class_loader(klass).ok()?);
        if loader.is_null() {
            return Some(0);
        }
        let tag = self.jvmti.tag(loader.raw()).ok()?;
        (tag_kind(tag) == TAG_LOADER).then(|| tag_loader(tag))
    }

    /// The thread of a stack root, by its id: `thread "name", id N`.
    pub fn thread(&mut self, id: jlong) -> String {
        let (jvmti, env) = (self.jvmti, self.env);
        let names = self.threads.get_or_insert_with(|| {
            let mut m = HashMap::new();
            for t in jvmti.all_threads().unwrap_or_default().into_iter().map(|t| Local::new(env, t)) {
                if let (Some(tid), Some(name)) = (env.call_long_method(t.raw(), "getId"), jvmti.thread_name(t.raw())) {
                    m.insert(tid, name);
                }
            }
            m
        });
        match names.get(&id) {
            Some(n) => format!("thread \"{n}\", id {id}"),
            None => format!("thread id {id}"),
        }
    }

    /// The chain in names, and for a stack root the loader of the method's class.
    pub fn render(&mut self, raw: &[RawHop], root_thread: Option<&String>) -> (Vec<PathHop>, Option<u32>) {
        let Some(root) = raw.first() else { return (Vec::new(), None) };
        let mut out: Vec<PathHop> = Vec::new();
        let mut root_loader = None;
        let mut rest = &raw[1..];
        // A system class root followed by one of its static fields reads as the field.
        match rest.first().filter(|n| root.kind == JVMTI_HEAP_REFERENCE_SYSTEM_CLASS && n.kind == JVMTI_HEAP_REFERENCE_STATIC_FIELD) {
            Some(next) => {
                let from = self.class_name(root.to);
                let field = self.field_name(root.to, next.index);
                let to = self.describe(next.to, next.to_class);
                out.push(PathHop { from, field, kind: HopKind::StaticField, to, to_loader: Self::loader_of(next.to, next.to_class) });
                rest = &rest[1..];
            }
            None => {
                let kind = root_kind(root.kind);
                let from = match kind {
                    HopKind::Thread => root_from(kind, root_thread.map(String::as_str), None),
                    HopKind::StackLocal | HopKind::JniLocal => {
                        let (method, loader) = self.method(root.method);
                        root_loader = loader;
                        root_from(kind, None, Some((&method, &self.thread(root.thread_id))))
                    }
                    _ => root_from(kind, None, None),
                };
                let (to, to_loader) = (self.describe(root.to, root.to_class), Self::loader_of(root.to, root.to_class));
                out.push(PathHop { from, field: String::new(), kind, to, to_loader });
            }
        }
        for h in rest {
            let to = self.describe(h.to, h.to_class);
            let to_loader = Self::loader_of(h.to, h.to_class);
            let kind = edge_kind(h.kind);
            // A static field belongs to a class: name the class itself, as `X.field`.
            let from = if kind == HopKind::StaticField { self.class_name(h.from) } else { self.describe(h.from, h.from_class) };
            let field = match kind {
                HopKind::Field => self.field_name(h.from_class, h.index),
                HopKind::StaticField => self.field_name(h.from, h.index),
                HopKind::ArrayElement => format!("[{}]", h.index),
                HopKind::ConstantPool => format!("#{}", h.index),
                _ => String::new(),
            };
            out.push(PathHop { from, field, kind, to, to_loader });
        }
        (out, root_loader)
    }
}

/// The kind of a heap walk's root reference.
fn root_kind(kind: jvmtiHeapReferenceKind) -> HopKind {
    match kind {
        JVMTI_HEAP_REFERENCE_SYSTEM_CLASS => HopKind::SystemClass,
        JVMTI_HEAP_REFERENCE_THREAD => HopKind::Thread,
        JVMTI_HEAP_REFERENCE_STACK_LOCAL => HopKind::StackLocal,
        JVMTI_HEAP_REFERENCE_JNI_LOCAL => HopKind::JniLocal,
        JVMTI_HEAP_REFERENCE_JNI_GLOBAL => HopKind::JniGlobal,
        JVMTI_HEAP_REFERENCE_MONITOR => HopKind::Monitor,
        _ => HopKind::Other,
    }
}

/// The kind of a heap walk's reference from one object to another.
fn edge_kind(kind: jvmtiHeapReferenceKind) -> HopKind {
    match kind {
        JVMTI_HEAP_REFERENCE_FIELD => HopKind::Field,
        JVMTI_HEAP_REFERENCE_STATIC_FIELD => HopKind::StaticField,
        JVMTI_HEAP_REFERENCE_ARRAY_ELEMENT => HopKind::ArrayElement,
        JVMTI_HEAP_REFERENCE_CLASS => HopKind::Class,
        JVMTI_HEAP_REFERENCE_CLASS_LOADER => HopKind::ClassLoader,
        JVMTI_HEAP_REFERENCE_CONSTANT_POOL => HopKind::ConstantPool,
        JVMTI_HEAP_REFERENCE_PROTECTION_DOMAIN => HopKind::ProtectionDomain,
        JVMTI_HEAP_REFERENCE_SIGNERS => HopKind::Signers,
        JVMTI_HEAP_REFERENCE_INTERFACE => HopKind::Interface,
        JVMTI_HEAP_REFERENCE_SUPERCLASS => HopKind::Superclass,
        _ => HopKind::Other,
    }
}

/// How a chain's first hop names its root, for the live walk and the dump search alike:
/// `thread` is the thread's name (thread roots), `frame` the method and the thread's label
/// (stack and JNI locals).
pub fn root_from(kind: HopKind, thread: Option<&str>, frame: Option<(&str, &str)>) -> String {
    match kind {
        HopKind::SystemClass => "<system class>".into(),
        HopKind::Thread => format!("<thread \"{}\">", thread.unwrap_or("?")),
        HopKind::StackLocal | HopKind::JniLocal => {
            let what = if kind == HopKind::StackLocal { "local variable" } else { "JNI local" };
            let (method, thread) = frame.unwrap_or_default();
            format!("<{what} in {method} ({thread})>")
        }
        HopKind::JniGlobal => "<JNI global reference>".into(),
        HopKind::Monitor => "<monitor>".into(),
        _ => "<VM internal root>".into(),
    }
}

fn field_table(jvmti: &Jvmti, env: &Env, k: jclass) -> (usize, Vec<String>) {
    let names_of = |c: jclass| -> Vec<String> {
        jvmti
            .class_fields(c)
            .unwrap_or_default()
            .into_iter()
            .map(|f| jvmti.field_name(c, f).unwrap_or_default())
            .collect()
    };
    // Every interface reachable from the class (or, for an interface, its superinterfaces).
    let mut interface_fields = 0usize;
    let mut seen: HashSet<jlong> = HashSet::new();
    let interfaces = |c: jclass| jvmti.implemented_interfaces(c).unwrap_or_default().into_iter().map(|i| Local::new(env, i));
    let mut stack: Vec<Local> = Vec::new();
    // Popped interfaces stay alive until the end: an untagged one is known by its reference.
    let mut visited: Vec<Local> = Vec::new();
    let is_interface = jvmti.is_interface(k);
    let mut supers: Vec<Local> = Vec::new();
    if is_interface {
        stack.extend(interfaces(k));
    } else {
        let mut c = env.superclass(k);
        while !c.is_null() {
            let next = env.superclass(c.raw());
            supers.push(c);
            c = next;
        }
    }
    let chain: Vec<jclass> = if is_interface { Vec::new() } else { std::iter::once(k).chain(supers.iter().map(Local::raw)).collect() };
    for &c in &chain {
        stack.extend(interfaces(c));
    }
    while let Some(i) = stack.pop() {
        let tag = jvmti.tag(i.raw()).unwrap_or(0);
        let key = if tag != 0 { tag } else { i.raw() as usize as jlong };
        if seen.insert(key) {
            interface_fields += jvmti.class_fields(i.raw()).map(|f| f.len()).unwrap_or(0);
            stack.extend(interfaces(i.raw()));
        }
        visited.push(i);
    }
    let mut names = Vec::new();
    if is_interface {
        names = names_of(k);
    } else {
        for &c in chain.iter().rev() {
            names.extend(names_of(c));
        }
    }
    (interface_fields, names)
}
