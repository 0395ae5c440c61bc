//! One record per thread reached through a word of the malloc hooks' per-thread block
//! (`malloc_hooks/tls.rs`): a load relative to the thread pointer instead of a `thread_local!`'s
//! `__tls_get_addr` and the lines behind it. The native ledgers keep their per-thread state
//! there (native/thread.rs).
//!
//! The record is owned by a `thread_local!` whose destructor clears the word before freeing it,
//! so an event late in a thread's exit finds no record. The record's first word names its type
//! by the address of the caller's `Key` static (a constant of the code, so checking it reads no
//! other line) and holds the borrow flag in its low bit; the record is line-aligned, so its
//! owner can keep what one event reads within the first line.

use super::malloc_hooks;
use std::cell::RefCell;

/// Names one record type: a static whose address tags the records made by its `make`. Distinct
/// statics have distinct addresses, so an equal tag means the same key and the same `T`.
pub struct Key<T> {
    make: fn() -> T,
}

impl<T> Key<T> {
    pub const fn new(make: fn() -> T) -> Key<T> {
        Key { make }
    }

    /// The tag: the key's address (aligned, so its low bit is free for the borrow flag).
    fn tag(&'static self) -> usize {
        self as *const Key<T> as usize
    }
}

/// Set in the tag word while the record is borrowed.
const BUSY: usize = 1;
const _: () = assert!(std::mem::align_of::<Key<u8>>() > BUSY);

/// What the word points to: the tag word first, at an offset that does not depend on `T`.
#[repr(C, align(64))]
struct Record<T> {
    tag: usize,
    value: T,
}

/// Frees the record at the thread's exit, after clearing the word that points to it.
struct Owner {
    record: *mut u8,
    free: unsafe fn(*mut u8),
}

impl Drop for Owner {
    fn drop(&mut self) {
        malloc_hooks::set_ledgers_word(0);
        // SAFETY: `free` is the drop of the Box `record` came from, called once.
        unsafe { (self.free)(self.record) };
    }
}

/// # Safety
/// `p` came from `Box::<Record<T>>::into_raw` and is freed once.
unsafe fn free<T>(p: *mut u8) {
    // SAFETY: as the caller promises.
    drop(unsafe { Box::from_raw(p as *mut Record<T>) });
}

thread_local! {
    static OWNER: RefCell<Option<Owner>> = const { RefCell::new(None) };
}

/// `f` on the calling thread's record of `key`, made by its `make` at the thread's first call;
/// None while the thread exits, inside another `with` on this thread, or when the thread's
/// record is of another key.
// Always: the call of a non-inlined `with` measured as a symbol of its own on churn.
#[inline(always)]
pub fn with<T: 'static, R>(key: &'static Key<T>, f: impl FnOnce(&mut T) -> R) -> Option<R> {
    let mut p = malloc_hooks::ledgers_word() as *mut Record<T>;
    if p.is_null() {
        p = create(key)?;
    }
    // SAFETY: the word points to this thread's live record (only this thread sets the word,
    // and the record's owner clears it before freeing it); `tag` lies at offset 0 for every `T`.
    let tag = unsafe { &raw mut (*p).tag };
    // SAFETY: as above. Unequal: another key's record, or borrowed.
    if unsafe { *tag } != key.tag() {
        return None;
    }
    // SAFETY: the record is a `Record<T>` (its key's) and not borrowed: this is its only
    // reference until the flag is cleared below.
    unsafe { *tag = key.tag() | BUSY };
    // SAFETY: as above.
    let out = f(unsafe { &mut (*p).value });
    // SAFETY: as above. A panic in `f` leaves the record busy: the thread's later events take
    // the slow path (the guard has switched the feature off by then anyway).
    unsafe { *tag = key.tag() };
    Some(out)
}

#[cold]
fn create<T: 'static>(key: &'static Key<T>) -> Option<*mut Record<T>> {
    OWNER
        .try_with(|o| {
            let mut o = o.try_borrow_mut().ok()?;
            if o.is_some() {
                // The word was cleared under a live owner: never, but not a second record.
                return None;
            }
            let p = Box::into_raw(Box::new(Record { tag: key.tag(), value: (key.make)() }));
            *o = Some(Owner { record: p as *mut u8, free: free::<T> });
            malloc_hooks::set_ledgers_word(p as usize);
            Some(p)
        })
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    static FIVE: Key<u32> = Key::new(|| 5);
    static OTHER: Key<u32> = Key::new(|| 1);
    static WIDE: Key<u64> = Key::new(|| 0);

    #[test]
    fn one_record_per_thread_of_one_key_and_no_nested_borrow() {
        std::thread::spawn(|| {
            assert_eq!(with(&FIVE, |v| { *v += 1; *v }), Some(6));
            assert_eq!(with(&FIVE, |v| *v), Some(6), "the same record");
            assert_eq!(with(&FIVE, |_| with(&FIVE, |v| *v)), Some(None), "no nested borrow");
            assert_eq!(with(&FIVE, |v| *v), Some(6), "borrowable again after a refused nested borrow");
            assert_eq!(with(&WIDE, |v| *v), None, "another type");
            assert_eq!(with(&OTHER, |v| *v), None, "another key of the same type");
            let p = malloc_hooks::ledgers_word();
            assert_eq!(p % 64, 0, "line-aligned");
        })
        .join()
        .unwrap();
        std::thread::spawn(|| assert_eq!(with(&OTHER, |v| *v), Some(1), "a new thread's own record")).join().unwrap();
    }
}
