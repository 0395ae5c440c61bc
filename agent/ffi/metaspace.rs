//! Which class loader a HotSpot ClassLoaderData belongs to, so that the per-CLD metaspace sizes
//! of `VM.classloader_stats` can be given to the agent's loaders (loaders/metaspace.rs).
//!
//! Both sides are compared as object addresses read at nearly the same moment: the loader oop a
//! ClassLoaderData holds (`ClassLoaderData::_class_loader`, from VMStructs) and the oop a JNI
//! local reference of the agent points at. Every read goes through `process_vm_readv`
//! (`hotspot::safe_word`), so a ClassLoaderData freed meanwhile yields garbage that matches
//! nothing, never a fault.

use super::hotspot::{safe_word, VmStructs};
use jni::sys::jobject;
use std::sync::OnceLock;

static CLD_LOADER: OnceLock<Result<usize, String>> = OnceLock::new();

/// The offset of `ClassLoaderData::_class_loader`, or why it is not known.
pub fn available() -> Result<(), String> {
    offset().map(|_| ())
}

fn offset() -> Result<usize, String> {
    CLD_LOADER
        .get_or_init(|| VmStructs::read().and_then(|vs| vs.offset("ClassLoaderData", "_class_loader")).map_err(|e| e.to_string()))
        .clone()
}

/// The loader oop a ClassLoaderData at `cld` holds, as the two words it may be: the field is an
/// `OopHandle` (a pointer to the oop's slot) on the JDKs we know, a plain oop on older ones.
/// Callers match either against known oops; a handle's slot is C heap, never a Java object.
pub fn cld_loader_words(cld: usize) -> [Option<usize>; 2] {
    let Ok(off) = offset() else { return [None, None] };
    let Some(w) = cld.checked_add(off).and_then(safe_word).filter(|&w| w != 0) else { return [None, None] };
    [Some(w), safe_word(w).filter(|&o| o != 0)]
}

/// The address of the object a JNI local or global reference points at now. A reference is a
/// pointer to a slot holding the (uncompressed) oop; JDK 17+ keep a type tag in its low two bits.
/// The address is only good until the next GC moves the object: callers read it again after use.
pub fn oop_of(obj: jobject) -> Option<usize> {
    let slot = (obj as usize) & !3;
    (slot != 0).then(|| safe_word(slot)).flatten().filter(|&o| o != 0)
}
