//! Confirms that a chain found by an earlier report still holds, by reading each field along it
//! with JNI: no heap walk, no safepoint. A report whose suspects' chains all still hold pauses the
//! application for nothing; only new suspects and broken chains are searched again.

use crate::ffi::jni::{Env, Local};
use crate::ffi::jvmti::{signature_to_name, Jvmti};
use jni::sys::{jclass, jobject};
use leakagent_report::model::{HopKind, PathHop};
use std::collections::{HashMap, HashSet};

/// The loaded classes chains start from, by name, built once per report and only when some
/// chain needs it.
pub struct ClassIndex {
    by_name: HashMap<String, Vec<jclass>>,
}

impl ClassIndex {
    /// Local references to the loaded classes named `wanted`; call inside a local frame big
    /// enough for every loaded class. The others are deleted at once: JDK 11's -Xcheck:jni
    /// counts an enclosing frame's references against an event callback's 32 on this thread.
    pub fn new(jvmti: &Jvmti, env: &Env, wanted: &HashSet<&str>) -> ClassIndex {
        let mut by_name: HashMap<String, Vec<jclass>> = HashMap::new();
        for k in jvmti.loaded_classes_in(env).unwrap_or_default() {
            let name = jvmti.class_signature(k).map(|s| signature_to_name(&s)).unwrap_or_default();
            if wanted.contains(name.as_str()) {
                by_name.entry(name).or_default().push(k);
            } else {
                drop(Local::new(env, k));
            }
        }
        ClassIndex { by_name }
    }

    /// The classes `path`'s first hop starts from, for [`ClassIndex::new`].
    pub fn wanted(path: &[PathHop]) -> Option<&str> {
        let first = path.first()?;
        match first.kind {
            HopKind::StaticField => Some(&first.from),
            HopKind::SystemClass => Some(first.to.strip_prefix("class ").unwrap_or(&first.to)),
            _ => None,
        }
    }

    fn named(&self, name: &str) -> &[jclass] {
        self.by_name.get(name).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// A local frame for every live thread (`GetAllThreads`) and 64 more. Counted in a frame of its
/// own first, which holds them only until it is popped: HotSpot 11's -Xcheck:jni checks a
/// frame's references (its enclosing frames' included) at each JNI call, and nothing calls JNI
/// in that frame; `EnsureLocalCapacity` after the fact would plan too little on JDK 11 when the
/// enclosing frames hold references (it replans only past the current plan, which counts them).
pub fn thread_capacity(jvmti: &Jvmti, env: &Env) -> i32 {
    let n = env.with_local_frame(1, || jvmti.all_threads().map(|t| t.len()).unwrap_or(0));
    (n.min(1 << 20) + 64) as i32
}

/// Whether `path` still leads from its root to `loader`. Hops that cannot be read without a heap
/// walk (stack locals, JNI references, constant pools) make it false: such chains are searched.
pub fn holds(jvmti: &Jvmti, env: &Env, classes: &ClassIndex, path: &[PathHop], loader: jobject) -> bool {
    let Some(first) = path.first() else { return false };
    // References this function made, freed on return; the system classes belong to `classes`.
    let owned: Vec<Local> = match first.kind {
        // `Class.field` of a system class: the merged root hop.
        HopKind::StaticField => classes.named(&first.from).iter().filter_map(|&k| read(jvmti, env, k, &first.field, true)).collect(),
        HopKind::SystemClass => Vec::new(),
        HopKind::Thread => {
            let name = first.from.strip_prefix("<thread \"").and_then(|s| s.strip_suffix("\">")).unwrap_or("");
            return env.with_local_frame(thread_capacity(jvmti, env), || {
                let threads = jvmti.all_threads().unwrap_or_default().into_iter().map(|t| Local::new(env, t));
                let owned: Vec<Local> = threads.filter(|t| jvmti.thread_name(t.raw()).as_deref() == Some(name)).collect();
                owned.iter().any(|o| describes(jvmti, env, o.raw(), &first.to) && follow(jvmti, env, o.raw(), &path[1..], loader))
            });
        }
        _ => return false,
    };
    let starts: Vec<jobject> = match first.kind {
        HopKind::SystemClass => classes.named(first.to.strip_prefix("class ").unwrap_or(&first.to)).to_vec(),
        _ => owned.iter().map(Local::raw).collect(),
    };
    let rest = &path[1..];
    starts.into_iter().any(|o| describes(jvmti, env, o, &first.to) && follow(jvmti, env, o, rest, loader))
}

fn follow(jvmti: &Jvmti, env: &Env, at: jobject, hops: &[PathHop], loader: jobject) -> bool {
    let Some(h) = hops.first() else { return env.same_object(at, loader) };
    let next = match h.kind {
        HopKind::Field => read(jvmti, env, at, &h.field, false).unwrap_or(Local::null(env)),
        HopKind::StaticField => read(jvmti, env, at, &h.field, true).unwrap_or(Local::null(env)),
        HopKind::ArrayElement => match h.field.trim_start_matches('[').trim_end_matches(']').parse::<i32>() {
            Ok(i) => env.array_element(at, i),
            Err(_) => return false,
        },
        HopKind::Class => env.object_class(at),
        HopKind::ClassLoader => Local::new(env, jvmti.class_loader(at).unwrap_or(std::ptr::null_mut())),
        HopKind::Superclass => env.superclass(at),
        _ => return false,
    };
    if next.is_null() || !describes(jvmti, env, next.raw(), &h.to) {
        return false;
    }
    follow(jvmti, env, next.raw(), &hops[1..], loader)
}

/// Reads the object field `name` of `obj`: an instance field of its class or a superclass, or
/// (`is_static`, `obj` a class) a static field of that class or a superclass.
fn read<'e>(jvmti: &Jvmti, env: &'e Env, obj: jobject, name: &str, is_static: bool) -> Option<Local<'e>> {
    let mut k = if is_static { env.new_local(obj) } else { env.object_class(obj) };
    let mut depth = 0;
    while !k.is_null() && depth < 64 {
        for f in jvmti.class_fields(k.raw()).unwrap_or_default() {
            if let Ok((n, sig, st)) = jvmti.field_info(k.raw(), f) {
                if n == name && st == is_static && (sig.starts_with('L') || sig.starts_with('[')) {
                    let target = if is_static { k.raw() } else { obj };
                    return Some(env.field_by_id(target, f, is_static));
                }
            }
        }
        k = env.superclass(k.raw());
        depth += 1;
    }
    None
}

/// Whether `obj` is what a hop's `to` names: `class X` for a class, else the object's class.
fn describes(jvmti: &Jvmti, env: &Env, obj: jobject, to: &str) -> bool {
    // A static field that is null now (the start of a chain that changed): GetObjectClass(null)
    // crashes the JVM.
    if obj.is_null() {
        return false;
    }
    if let Some(class) = to.strip_prefix("class ") {
        return jvmti.class_signature(obj).map(|s| signature_to_name(&s) == class).unwrap_or(false);
    }
    jvmti.class_signature(env.object_class(obj).raw()).map(|s| signature_to_name(&s) == to).unwrap_or(false)
}
