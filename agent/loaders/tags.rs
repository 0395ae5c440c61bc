//! Every JVMTI tag kind the agent sets, in one place: tags carry their kind in the top byte so
//! ObjectFree and the heap walks can tell classes, loaders, search nodes and the agent's own
//! thread apart. A class tag is `kind | class number << 32 | defining loader id`: unique per
//! class, so a heap walk's class tags name classes; a loader tag is `kind | loader id`.

use jni::sys::jlong;

pub const TAG_KIND_MASK: jlong = 0xff << 56;
pub const TAG_CLASS: jlong = 1 << 56;
pub const TAG_LOADER: jlong = 2 << 56;
/// Objects the chain search marks; cleared when it ends.
pub const TAG_SEARCH: jlong = 3 << 56;
/// The report thread's own `Thread` object, so its locals are not taken as roots.
pub const TAG_SELF_THREAD: jlong = 4 << 56;
/// Array classes get no ClassLoad event and are not counted; the chain search tags them with
/// this kind (same layout as a class tag) so chains can name them.
pub const TAG_ARRAY_CLASS: jlong = 5 << 56;

/// The loader id a class or loader tag carries.
pub fn tag_loader(tag: jlong) -> u32 {
    (tag & 0xffff_ffff) as u32
}

pub fn tag_kind(tag: jlong) -> jlong {
    tag & TAG_KIND_MASK
}

/// A class's tag: its kind, its class number and its defining loader.
pub fn class_tag(kind: jlong, seq: u64, loader: u32) -> jlong {
    kind | (((seq & 0xff_ffff) as jlong) << 32) | loader as jlong
}
