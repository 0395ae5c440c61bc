//! Which class loader a HotSpot ClassLoaderData belongs to, so that the per-CLD metaspace sizes
//! of `VM.classloader_stats` can be given to the agent's loaders (loaders/metaspace.rs).
//!
//! Two routes, both read through `process_vm_readv` (`hotspot::safe_word`), so a structure
//! freed meanwhile yields garbage that matches nothing, never a fault:
//! - through a class the loader defined: its mirror (the `java.lang.Class` a JNI local
//!   reference points at) holds its `Klass*`, and `Klass::_class_loader_data` is the CLD. Only
//!   metadata pointers are compared, which no GC moves or colors, so this works under every
//!   collector, generational ZGC included (the colored pointers of HotSpot's own handles are
//!   never read); a JNI local reference holds a plain address there, and under the older ZGC a
//!   colored one that the heap's multi-mapping still resolves.
//! - through the loader object (for a loader with no live class of its own): the oop its CLD's
//!   `_class_loader` holds, compared with the one a JNI local reference points at. Under
//!   generational ZGC that slot holds a colored pointer, and such loaders stay unmatched.

use super::hotspot::{safe_u32, safe_word, VmStructs};
use jni::sys::jobject;
use std::sync::OnceLock;

/// Offsets learned once from VMStructs.
#[derive(Clone, Copy)]
struct Offsets {
    /// `ClassLoaderData::_class_loader`.
    cld_loader: usize,
    /// `java_lang_Class::_klass_offset`: where a mirror keeps its `Klass*`.
    mirror_klass: Option<usize>,
    /// `Klass::_class_loader_data`.
    klass_cld: Option<usize>,
}

static OFFSETS: OnceLock<Result<Offsets, String>> = OnceLock::new();

fn offsets() -> Result<Offsets, String> {
    OFFSETS
        .get_or_init(|| {
            let vs = VmStructs::read().map_err(|e| e.to_string())?;
            let cld_loader = vs.offset("ClassLoaderData", "_class_loader").map_err(|e| e.to_string())?;
            // An int field of libjvm.so, set when java.lang.Class was linked (long before any
            // report): a plausible offset inside a mirror, or the route is off.
            let mirror_klass = vs
                .static_address("java_lang_Class", "_klass_offset")
                .ok()
                .and_then(safe_u32)
                .filter(|&o| (8..4096).contains(&o) && o % 4 == 0)
                .map(|o| o as usize);
            let klass_cld = vs.offset("Klass", "_class_loader_data").ok();
            Ok(Offsets { cld_loader, mirror_klass, klass_cld })
        })
        .clone()
}

/// Whether a ClassLoaderData can be tied to a loader here, or why not.
pub fn available() -> Result<(), String> {
    offsets().map(|_| ())
}

/// The loader oop a ClassLoaderData at `cld` holds, as the two words it may be: the field is an
/// `OopHandle` (a pointer to the oop's slot) on the JDKs we know, a plain oop on older ones.
/// Callers match either against known oops; a handle's slot is C heap, never a Java object.
pub fn cld_loader_words(cld: usize) -> [Option<usize>; 2] {
    let Ok(o) = offsets() else { return [None, None] };
    let Some(w) = cld.checked_add(o.cld_loader).and_then(safe_word).filter(|&w| w != 0) else { return [None, None] };
    [Some(w), safe_word(w).filter(|&o| o != 0)]
}

/// The address of the object a JNI local or global reference points at now. A reference is a
/// pointer to a slot holding the oop; JDK 17+ keep a type tag in its low two bits.
/// The address is only good until the next GC moves the object: callers read it again after use.
pub fn oop_of(obj: jobject) -> Option<usize> {
    let slot = (obj as usize) & !3;
    (slot != 0).then(|| safe_word(slot)).flatten().filter(|&o| o != 0)
}

/// The `Klass*` of the class a JNI local reference to its mirror points at: the mirror's
/// address is read before and after, and a mirror a GC moved meanwhile gives None.
pub fn klass_of(mirror: jobject) -> Option<usize> {
    let off = offsets().ok()?.mirror_klass?;
    let at = oop_of(mirror)?;
    let klass = safe_word(at.checked_add(off)?).filter(|&k| k != 0 && k % 8 == 0)?;
    (oop_of(mirror) == Some(at)).then_some(klass)
}

/// The ClassLoaderData of a `Klass*`: its defining loader's, or a hidden class's own.
pub fn cld_of_klass(klass: usize) -> Option<usize> {
    let off = offsets().ok()?.klass_cld?;
    safe_word(klass.checked_add(off)?).filter(|&c| c != 0)
}
