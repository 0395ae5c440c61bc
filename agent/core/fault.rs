//! Faults the integration tests inject to check that the agent fails safely:
//! `LEAKAGENT_FAULT=<point>` in the JVM's environment. Points: `pipe`, `events`, `panic` (start-up
//! fails, the JVM must run on), `attach` (a late attach fails after installing everything),
//! `attach-panic` (the same, by a panic),
//! `no-report-thread` (exit reports run inline), `stuck-exit-report` (the exit report never
//! finishes, the JVM must exit at `exit_timeout`), `slow-class-load` (the catch-up waits
//! 100 ms before listing the loaded classes, and a ClassPrepare posted before it ends waits for
//! its end (5 s at most): the catch-up lists and counts classes whose ClassPrepare comes after it),
//! `slow-sweep` (every sampler tick sweeps the loaded classes for jmethodIDs and holds them as
//! JNI locals 1.5 s, logging `slow-sweep: holding every loaded class`: a report asked for then
//! must not see a loader kept alive, or a chain rooted, by the agent's own references),
//! `slow-sweep-unguarded` (the same, sweeping while a report analyses too: the chain search
//! must still start no chain at the sampler's references), `slow-loader-facts` (asking a loader
//! first seen what it is takes 50 ms more: an exit report must give that up to keep its deadline),
//! `gc-as-jvm-exits` (under ZGC or Shenandoah a report waits 3 s before its GC: asked for as the
//! JVM exits, the GC never finishes, and VMDeath must write the exit report itself),
//! `slow-findings-at-exit` (deriving the exit report's findings takes 60 s: the report must be
//! written without them within `exit_timeout`).
//!
//! Only a build with the `fault-injection` feature reads the variable (the tests build one into
//! target/fault); in the library users load `injected` is always false and compiles away.

#[cfg(feature = "fault-injection")]
pub fn injected(point: &str) -> bool {
    use std::sync::OnceLock;
    static FAULT: OnceLock<Option<String>> = OnceLock::new();
    FAULT.get_or_init(|| std::env::var("LEAKAGENT_FAULT").ok()).as_deref() == Some(point)
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn injected(_point: &str) -> bool {
    false
}
