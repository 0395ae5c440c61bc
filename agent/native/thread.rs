//! What the native ledgers keep per thread, in one record: the thread's stack templates, its
//! kind (GC cleanup or not), its last keys and the direct ledger's stripe. An event reaches it
//! through a word of the malloc hooks' per-thread block (ffi/thread_record.rs), which the malloc
//! hook of the same event reads too: on churn, where the application zeroes each buffer and
//! evicts everything between two events, that replaces three thread-locals (each behind
//! `__tls_get_addr`) and the probe of the stripe owners.

use crate::ffi::thread_record;
use crate::loaders::tracker::ThreadLoader;
use crate::native::direct::DirectCounters;
use crate::native::sites::Writer;
use crate::native::stacks::LastKeys;
use crate::native::templates::ThreadTemplates;

/// Not yet decided.
pub const THREAD_UNKNOWN: u8 = 0;
pub const THREAD_APP: u8 = 1;
/// Runs GC cleanup (the Cleaner, the Reference Handler, the Finalizer).
pub const THREAD_CLEANUP: u8 = 2;

pub struct PerThread {
    /// THREAD_UNKNOWN, THREAD_APP or THREAD_CLEANUP.
    pub kind: u8,
    /// The direct ledger's stripe for this thread and the counters it last wrote.
    pub direct: Option<DirectCache>,
    pub templates: ThreadTemplates,
    pub last_keys: Option<Box<LastKeys>>,
    /// Not the ledgers': the class tracker's last loader on this thread (loaders/tracker.rs).
    pub loader: Option<ThreadLoader>,
}

impl PerThread {
    pub(crate) fn new() -> PerThread {
        PerThread { kind: THREAD_UNKNOWN, direct: None, templates: ThreadTemplates::new(), last_keys: None, loader: None }
    }
}

/// What the direct ledger's events on this thread reuse: its writer of the ledger's site
/// table (`SiteTable::writer`, a probe of the stripe owners otherwise) and the counters of the
/// last site it counted (a chunk and a slot to look up otherwise); both depend only on the
/// table, the thread and the site id.
pub struct DirectCache {
    /// The ledger's address: the cache is of this ledger only.
    pub ledger: usize,
    pub writer: Writer,
    pub site: u32,
    pub counters: Option<&'static DirectCounters>,
    /// Events counted through the shared stripe since the last try to claim an owned one.
    pub shared_events: u32,
}

/// `f` on the calling thread's record, made at its first event; None while the thread exits
/// or inside another `with` on this thread (the caller then does without).
#[inline]
pub fn with<R>(f: impl FnOnce(&mut PerThread) -> R) -> Option<R> {
    thread_record::with(PerThread::new, f)
}

/// At the thread's end: drops the direct ledger's writer the thread's record keeps, so that its
/// stripe can be given back. False when the record is in use (its writer then stays, and so
/// must the stripe).
pub fn drop_direct_writer() -> bool {
    !thread_record::exists() || with(|t| t.direct = None).is_some()
}
