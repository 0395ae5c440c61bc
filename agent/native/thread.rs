//! What the native ledgers keep per thread, in one record: the thread's stack templates, its
//! kind (GC cleanup or not), its last keys and the direct ledger's stripe and last counters. An event reaches it
//! through a word of the malloc hooks' per-thread block (ffi/thread_record.rs), which the malloc
//! hook of the same event reads too: on churn, where the application zeroes each buffer and
//! evicts everything between two events, that replaces three thread-locals (each behind
//! `__tls_get_addr`) and the probe of the stripe owners.

use crate::ffi::thread_record;
use crate::native::direct::DirectCounters;
use crate::native::sites::Writer;
use crate::native::stacks::LastKeys;
use crate::native::templates::ThreadTemplates;

/// Not yet decided.
pub const THREAD_UNKNOWN: u8 = 0;
pub const THREAD_APP: u8 = 1;
/// Runs GC cleanup (the Cleaner, the Reference Handler, the Finalizer).
pub const THREAD_CLEANUP: u8 = 2;

/// `repr(C)`: what one event reads lies in the record's first line (ffi/thread_record.rs: the
/// tag word, then these fields up to the templates' list), the kind and the direct cache for a
/// free, the templates' epoch and list for an allocation too.
#[repr(C)]
pub struct PerThread {
    /// THREAD_UNKNOWN, THREAD_APP or THREAD_CLEANUP.
    pub kind: u8,
    /// This thread's writer of the direct ledger's site table, valid while `direct.ledger` names
    /// the ledger (here, not in `DirectCache`, so that it packs after `kind`).
    pub direct_writer: Writer,
    /// The direct ledger's cache for this thread.
    pub direct: DirectCache,
    pub templates: ThreadTemplates,
    pub last_keys: Option<Box<LastKeys>>,
}

impl PerThread {
    fn new() -> PerThread {
        PerThread { kind: THREAD_UNKNOWN, direct_writer: Writer::SHARED, direct: DirectCache::NONE, templates: ThreadTemplates::new(), last_keys: None }
    }
}

/// What the direct ledger's events on this thread reuse: its writer of the ledger's site
/// table (`PerThread::direct_writer`; `SiteTable::writer`, a probe of the stripe owners
/// otherwise) and the counters of the last site it counted (a chunk and a slot to look up
/// otherwise); both depend only on the table, the thread and the site id.
#[repr(C)]
pub struct DirectCache {
    /// The ledger's id (`DirectLedger::id`, never 0): the cache is of this ledger only; 0 for
    /// none.
    pub ledger: u32,
    pub site: u32,
    /// `site`'s counters in the writer's stripe, None until found.
    pub counters: Option<&'static DirectCounters>,
}

impl DirectCache {
    const NONE: DirectCache = DirectCache { ledger: 0, site: 0, counters: None };
}

static RECORD: thread_record::Key<PerThread> = thread_record::Key::new(PerThread::new);

/// `f` on the calling thread's record, made at its first event; None while the thread exits
/// or inside another `with` on this thread (the caller then does without).
#[inline]
pub fn with<R>(f: impl FnOnce(&mut PerThread) -> R) -> Option<R> {
    thread_record::with(&RECORD, f)
}

// The record's tag word takes the first 8 bytes of its line; an event reads up to the end of
// the templates' list.
const _: () = assert!(8 + std::mem::offset_of!(PerThread, templates) + ThreadTemplates::HOT_END <= 64);
const _: () = assert!(std::mem::offset_of!(PerThread, direct) == 8, "the writer packs after kind");
