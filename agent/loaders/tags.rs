//! Every JVMTI tag kind the agent sets, in one place: tags carry their kind in the top byte so
//! ObjectFree and the heap walks can tell classes, loaders, search nodes and the agent's own
//! thread apart. A class tag is `kind | lazy bit | class number << 32 | defining loader id`:
//! unique per class, so a heap walk's class tags name classes; a loader tag is `kind | loader id`.
//! ClassPrepare counts classes without tagging them; a class counted otherwise (by the catch-up,
//! or by a report that found it loaded and not linked) is tagged counted, so that its
//! ClassPrepare skips it; one a report or heap walk only names gets the lazy bit (see tracker.rs).

use jni::sys::jlong;

pub const TAG_KIND_MASK: jlong = 0xff << 56;
pub const TAG_CLASS: jlong = 1 << 56;
pub const TAG_LOADER: jlong = 2 << 56;
/// Objects the chain search marks; cleared when it ends.
pub const TAG_SEARCH: jlong = 3 << 56;
/// The `Thread` objects of the agent's own threads (report, sampler), so their locals are not
/// taken as roots.
pub const TAG_SELF_THREAD: jlong = 4 << 56;
/// Array classes get no ClassPrepare event and are not counted; the chain search tags them with
/// this kind (same layout as a class tag) so chains can name them.
pub const TAG_ARRAY_CLASS: jlong = 5 << 56;

/// The loader id a class or loader tag carries.
pub fn tag_loader(tag: jlong) -> u32 {
    (tag & 0xffff_ffff) as u32
}

pub fn tag_kind(tag: jlong) -> jlong {
    tag & TAG_KIND_MASK
}

/// Set in a class tag a report or heap walk gave only to name the class: its ClassPrepare counts
/// it (or did); a tag without it means counted by the tag (catch-up, unlinked at a report).
pub const TAG_LAZY: jlong = 1 << 55;

/// A class's tag: its kind, its class number and its defining loader.
pub fn class_tag(kind: jlong, seq: u64, loader: u32) -> jlong {
    kind | (((seq & 0x7f_ffff) as jlong) << 32) | loader as jlong
}

/// Whether a tag on a class says that the class was counted (tagged when it was). A search's tag
/// left on a class loaded during a walk does not.
pub fn counted(tag: jlong) -> bool {
    tag_kind(tag) == TAG_CLASS && tag & TAG_LAZY == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lazy_class_tag_keeps_the_layout_readers_use() {
        let lazy = class_tag(TAG_CLASS, 5, 9) | TAG_LAZY;
        let eager = class_tag(TAG_CLASS, 5, 9);
        assert_eq!((tag_kind(lazy), tag_loader(lazy)), (TAG_CLASS, 9));
        assert_ne!(lazy, eager, "distinct tags");
        assert!(counted(eager) && !counted(lazy) && !counted(0) && !counted(TAG_SEARCH | 7));
        assert_eq!(class_tag(TAG_CLASS, u64::MAX, 1) & TAG_LAZY, 0, "the class number never sets the bit");
    }
}
