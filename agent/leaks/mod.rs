//! Class-loader leaks: which dead-looking loaders are still alive, the reference chain that pins
//! each (a live heap walk or a heap dump search), the culprit and the fix. Wiring:
//! `Agent::known_chains` made in `entry::activate`, `reporter::build` (`leak_options`,
//! `leaks_section`), `reporting::findings`.

pub mod analyse;
pub mod culprits;
pub mod dump;
pub mod findings;
pub mod growth;
pub mod hops;
pub mod mbeans;
pub mod walk;

use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// The agent's own threads hold Java references only briefly, but a reference held while a
/// report's full GC runs keeps a dead loader alive (its classes, through their loader), and one
/// held while the chain search walks or dumps the heap may root its chain. So agent work that
/// holds references to application classes or loaders outside a report (the sampler's
/// jmethodID sweep, which holds every loaded class; its look-up of dead loaders) does it under
/// a read guard taken without waiting, and a report holds the write guard from its GC through
/// the chain search. A chain from a JNI local of "leakagent-sampler" was seen without it.
static HEAP_QUIET: RwLock<()> = RwLock::new(());

/// How long a report waits for agent work holding references to end (a sweep takes
/// milliseconds); past it the report goes on rather than stall, and says so in the log.
pub const QUIET_WAIT: Duration = Duration::from_secs(5);

/// For agent work holding class or loader references: `None` while a report analyses (the
/// work waits for the next tick). Never waits: a report may hold the write guard for seconds.
pub fn hold_references() -> Option<RwLockReadGuard<'static, ()>> {
    HEAP_QUIET.try_read()
}

/// For a report, from its GC through the chain search: waits at most `wait` for the agent work
/// holding references to end; `None` when it did not (logged: the report goes on).
pub fn quiet_heap(wait: Duration) -> Option<RwLockWriteGuard<'static, ()>> {
    let quiet = HEAP_QUIET.try_write_for(wait);
    if quiet.is_none() {
        crate::core::log::warn(&format!(
            "the report waited {} ms for the agent's sampler to let go of its class references and goes on: a loader that died meanwhile may count as alive in this report",
            wait.as_millis()
        ));
    }
    quiet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_work_skips_while_a_report_analyses_and_a_report_waits_boundedly() {
        let work = hold_references().expect("no report: the work runs");
        // A report meets the work in progress: it waits, at most as long as told, then goes on.
        let t0 = std::time::Instant::now();
        assert!(quiet_heap(Duration::from_millis(50)).is_none());
        assert!(t0.elapsed() >= Duration::from_millis(50));
        drop(work);
        let report = quiet_heap(Duration::from_millis(50)).expect("the work ended: the report has the heap");
        assert!(hold_references().is_none(), "no work starts while the report analyses");
        drop(report);
        assert!(hold_references().is_some());
    }
}
