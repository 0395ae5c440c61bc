//! One record per thread reached through a word of the malloc hooks' per-thread block
//! (`malloc_hooks/tls.rs`): a load relative to the thread pointer instead of a `thread_local!`'s
//! `__tls_get_addr` and the lines behind it. The native ledgers keep their per-thread state
//! there (native/thread.rs).
//!
//! The record is owned by a `thread_local!` whose destructor clears the word before freeing it,
//! so an event late in a thread's exit finds no record. The word names the record's type, so a
//! second type asked for on the same thread gets None rather than the first type's memory.

use super::malloc_hooks;
use std::any::TypeId;
use std::cell::RefCell;

/// What the word points to: the type's id and the borrow flag first, at offsets that do not
/// depend on `T`.
#[repr(C)]
struct Record<T> {
    type_id: TypeId,
    busy: bool,
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

/// `f` on the calling thread's record of type `T`, made by `make` at the thread's first call;
/// None while the thread exits, inside another `with` on this thread, or when the thread's
/// record is of another type.
#[inline]
pub fn with<T: 'static, R>(make: fn() -> T, f: impl FnOnce(&mut T) -> R) -> Option<R> {
    let mut p = malloc_hooks::ledgers_word() as *mut Record<T>;
    if p.is_null() {
        p = create(make)?;
    }
    // SAFETY: the word points to this thread's live record (only this thread sets the word,
    // and the record's owner clears it before freeing it); `type_id` and `busy` lie at the same
    // offsets for every `T`.
    let (id, busy) = unsafe { (&raw const (*p).type_id, &raw mut (*p).busy) };
    // SAFETY: as above.
    if unsafe { *id != TypeId::of::<T>() || *busy } {
        return None;
    }
    // SAFETY: the record is a `Record<T>` and not borrowed (busy was false): this is its only
    // reference until `busy` is cleared below.
    unsafe { *busy = true };
    // SAFETY: as above.
    let out = f(unsafe { &mut (*p).value });
    // SAFETY: as above. A panic in `f` leaves the record busy: the thread's later events take
    // the slow path (the guard has switched the feature off by then anyway).
    unsafe { *busy = false };
    Some(out)
}

/// Whether the calling thread has a record (of any type).
pub fn exists() -> bool {
    malloc_hooks::ledgers_word() != 0
}

#[cold]
fn create<T: 'static>(make: fn() -> T) -> Option<*mut Record<T>> {
    OWNER
        .try_with(|o| {
            let mut o = o.try_borrow_mut().ok()?;
            if o.is_some() {
                // The word was cleared under a live owner: never, but not a second record.
                return None;
            }
            let p = Box::into_raw(Box::new(Record { type_id: TypeId::of::<T>(), busy: false, value: make() }));
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

    #[test]
    fn one_record_per_thread_of_one_type_and_no_nested_borrow() {
        std::thread::spawn(|| {
            assert_eq!(with(|| 5u32, |v| { *v += 1; *v }), Some(6));
            assert_eq!(with(|| 0u32, |v| *v), Some(6), "the same record");
            assert_eq!(with(|| 0u32, |_| with(|| 0u32, |v| *v)), Some(None), "no nested borrow");
            assert_eq!(with(|| 0u64, |v| *v), None, "another type");
        })
        .join()
        .unwrap();
        std::thread::spawn(|| assert_eq!(with(|| 1u32, |v| *v), Some(1), "a new thread's own record")).join().unwrap();
    }
}
