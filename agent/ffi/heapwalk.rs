//! Safe closures over JVMTI heap walks (FollowReferences, IterateThroughHeap).
//!
//! Heap callbacks run while the VM is at a safepoint: they may not call JNI or most of JVMTI, so
//! the closures here only read and write tags and plain Rust data.

use super::jvmti::{Jvmti, JvmtiError, JvmtiResult};
use super::sys::*;
use jni::sys::{jint, jlong};
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

/// One reference reported by FollowReferences.
pub struct RefEdge<'a> {
    pub kind: jvmtiHeapReferenceKind,
    /// Field index (FIELD, STATIC_FIELD), array index (ARRAY_ELEMENT), constant pool index.
    pub index: i32,
    /// Tag of the referenced object's class.
    pub class_tag: jlong,
    /// Tag of the referrer's class (0 for roots).
    pub referrer_class_tag: jlong,
    /// The referenced object's tag.
    pub tag: &'a mut jlong,
    /// The referrer's tag; None for heap roots.
    pub referrer_tag: Option<&'a mut jlong>,
    /// For STACK_LOCAL / JNI_LOCAL roots: the thread's tag and id, and the frame's method.
    pub thread_tag: jlong,
    pub thread_id: jlong,
    pub method: usize,
}

struct Walk<'f> {
    f: &'f mut dyn FnMut(&mut RefEdge<'_>) -> bool,
    failed: bool,
}

unsafe extern "C" fn reference_cb(
    kind: jvmtiHeapReferenceKind,
    info: *const jvmtiHeapReferenceInfo,
    class_tag: jlong,
    referrer_class_tag: jlong,
    _size: jlong,
    tag_ptr: *mut jlong,
    referrer_tag_ptr: *mut jlong,
    _length: jint,
    user_data: *mut c_void,
) -> jint {
    // SAFETY: `user_data` is the `Walk` that `follow_references` passed, alive for the walk.
    let walk = unsafe { &mut *(user_data as *mut Walk<'_>) };
    if walk.failed {
        return JVMTI_VISIT_ABORT as jint;
    }
    // A reference from an object to itself never matters for a path, and would alias the tags.
    if tag_ptr.is_null() || tag_ptr == referrer_tag_ptr {
        return JVMTI_VISIT_OBJECTS as jint;
    }
    let (mut index, mut thread_tag, mut thread_id, mut method) = (0, 0, 0, 0usize);
    // SAFETY: JVMTI fills the union member that `kind` names.
    if let Some(info) = unsafe { info.as_ref() } {
        match kind {
            JVMTI_HEAP_REFERENCE_FIELD | JVMTI_HEAP_REFERENCE_STATIC_FIELD => index = unsafe { info.field.as_ref() }.index,
            JVMTI_HEAP_REFERENCE_ARRAY_ELEMENT => index = unsafe { info.array.as_ref() }.index,
            JVMTI_HEAP_REFERENCE_CONSTANT_POOL => index = unsafe { info.constant_pool.as_ref() }.index,
            JVMTI_HEAP_REFERENCE_STACK_LOCAL => {
                let s = unsafe { info.stack_local.as_ref() };
                (thread_tag, thread_id, method) = (s.thread_tag, s.thread_id, s.method as usize);
            }
            JVMTI_HEAP_REFERENCE_JNI_LOCAL => {
                let s = unsafe { info.jni_local.as_ref() };
                (thread_tag, thread_id, method) = (s.thread_tag, s.thread_id, s.method as usize);
            }
            _ => {}
        }
    }
    let mut edge = RefEdge {
        kind,
        index,
        class_tag,
        referrer_class_tag,
        // SAFETY: both tag pointers point into HotSpot's tag storage for this callback, and are
        // distinct (checked above), so the two borrows never alias.
        tag: unsafe { &mut *tag_ptr },
        referrer_tag: unsafe { referrer_tag_ptr.as_mut() },
        thread_tag,
        thread_id,
        method,
    };
    match catch_unwind(AssertUnwindSafe(|| (walk.f)(&mut edge))) {
        Ok(true) => JVMTI_VISIT_OBJECTS as jint,
        Ok(false) => JVMTI_VISIT_ABORT as jint,
        Err(_) => {
            walk.failed = true;
            JVMTI_VISIT_ABORT as jint
        }
    }
}

unsafe extern "C" fn iteration_cb(
    _class_tag: jlong,
    _size: jlong,
    tag_ptr: *mut jlong,
    _length: jint,
    user_data: *mut c_void,
) -> jint {
    // SAFETY: `user_data` is the `TagWalk` that `for_each_tagged` passed, alive for the walk.
    let walk = unsafe { &mut *(user_data as *mut TagWalk<'_>) };
    if walk.failed || tag_ptr.is_null() {
        return if walk.failed { JVMTI_VISIT_ABORT as jint } else { 0 };
    }
    // SAFETY: JVMTI's tag pointer for this callback, checked non-null above.
    let tag = unsafe { &mut *tag_ptr };
    match catch_unwind(AssertUnwindSafe(|| (walk.f)(tag))) {
        Ok(true) => 0,
        Ok(false) => JVMTI_VISIT_ABORT as jint,
        Err(_) => {
            walk.failed = true;
            JVMTI_VISIT_ABORT as jint
        }
    }
}

struct TagWalk<'f> {
    f: &'f mut dyn FnMut(&mut jlong) -> bool,
    failed: bool,
}

/// Why a heap walk failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WalkError {
    /// The walk's closure panicked: the walk was aborted.
    Panicked,
    /// JVMTI refused or failed the walk.
    Jvmti(JvmtiError),
}

impl std::fmt::Display for WalkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WalkError::Panicked => f.write_str("heap walk callback panicked"),
            WalkError::Jvmti(e) => e.fmt(f),
        }
    }
}

/// Follows every reference reachable from the heap roots. `f` returns false to stop the walk.
pub fn follow_references(jvmti: &Jvmti, f: &mut dyn FnMut(&mut RefEdge<'_>) -> bool) -> Result<(), WalkError> {
    let mut walk = Walk { f, failed: false };
    let callbacks = jvmtiHeapCallbacks { heap_reference_callback: Some(reference_cb), ..Default::default() };
    // SAFETY: the callback matches the JVMTI signature; `walk` outlives the call.
    let r: JvmtiResult<()> = unsafe {
        jvmti.follow_references(0, ptr::null_mut(), ptr::null_mut(), &callbacks, &mut walk as *mut Walk<'_> as *const c_void)
    };
    if walk.failed {
        return Err(WalkError::Panicked);
    }
    r.map_err(WalkError::Jvmti)
}

/// Visits every tagged object's tag (e.g. to clear temporary tags); `f` returns false to stop.
pub fn for_each_tagged(jvmti: &Jvmti, f: &mut dyn FnMut(&mut jlong) -> bool) -> Result<(), WalkError> {
    let mut walk = TagWalk { f, failed: false };
    let callbacks = jvmtiHeapCallbacks { heap_iteration_callback: Some(iteration_cb), ..Default::default() };
    // SAFETY: as for `follow_references`.
    let r = unsafe {
        jvmti.iterate_through_heap(
            JVMTI_HEAP_FILTER_UNTAGGED as jint,
            ptr::null_mut(),
            &callbacks,
            &mut walk as *mut TagWalk<'_> as *const c_void,
        )
    };
    if walk.failed {
        return Err(WalkError::Panicked);
    }
    r.map_err(WalkError::Jvmti)
}
