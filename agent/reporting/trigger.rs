//! Everything that asks for a report — the signal, DataDumpRequest, the interval, VM death —
//! ends up as one byte in the self-pipe, read by the single report thread. A storm of requests
//! coalesces: requests that arrive while a report is pending are counted, not queued.

use crate::core::budget::{self, Budget};
use crate::ffi::jni::Env;
use crate::ffi::os;
use crate::core::health::{self, COUNTERS};
use crate::core::log;
use leakagent_report::model::{Crossing, Oom, Trigger, TriggerDetail};
use crate::reporting::reporter;
use crate::core::runtime::Agent;
use parking_lot::{Condvar, Mutex};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

pub const REQ_SIGNAL: u8 = b'S';
pub const REQ_DATA_DUMP: u8 = b'D';
pub const REQ_DEATH: u8 = b'X';
pub const REQ_THRESHOLD: u8 = b'L';
pub const REQ_OOM: u8 = b'O';

/// Limits the sampler found crossed, for the next threshold report.
static CROSSINGS: Mutex<Vec<Crossing>> = Mutex::new(Vec::new());

const OOM_KINDS: [&str; 6] = ["heap", "metaspace", "class_space", "threads", "direct", "other"];
/// A thread that threw OutOfMemoryError waits this long for its report.
const OOM_WAIT: Duration = Duration::from_secs(5);
/// A kind reports again only after this long: an application that catches OutOfMemoryError in
/// a loop would otherwise ask for a report (and a full GC) per throw.
const OOM_REPEAT: Duration = Duration::from_secs(60);

struct OomState {
    pending: Vec<Oom>,
    counts: [u64; OOM_KINDS.len()],
    last: [Option<Instant>; OOM_KINDS.len()],
    /// Reports asked for and written, so a waiting thread knows when its own is on disk.
    requested: u64,
    written: u64,
}

static OOM: Mutex<OomState> =
    Mutex::new(OomState { pending: Vec::new(), counts: [0; 6], last: [None; 6], requested: 0, written: 0 });
static OOM_CV: Condvar = Condvar::new();

thread_local! {
    /// The agent's own threads never wait for a report (the report thread would wait for itself).
    static AGENT_THREAD: Cell<bool> = const { Cell::new(false) };
}

pub fn mark_agent_thread() {
    AGENT_THREAD.with(|a| a.set(true));
}

/// The sampler found limits crossed.
pub fn request_threshold(crossings: Vec<Crossing>) {
    CROSSINGS.lock().extend(crossings);
    if !os::post(REQ_THRESHOLD) {
        health::bump(&COUNTERS.signal_requests_coalesced);
    }
}

/// The OOM kind of a ResourceExhausted event from its flags and the JVM's description.
pub fn oom_kind(java_heap: bool, threads: bool, description: &str) -> &'static str {
    let d = description.to_ascii_lowercase();
    if java_heap {
        "heap"
    } else if threads {
        "threads"
    } else if d.contains("compressed class space") {
        "class_space"
    } else if d.contains("metaspace") {
        "metaspace"
    } else {
        "other"
    }
}

/// An OutOfMemoryError (ResourceExhausted on the throwing thread, or the sampler finding direct
/// memory exhausted): asks for an `oom` report and, when `wait`, waits up to `OOM_WAIT` for it.
///
/// Waiting is what makes the report exist before the JVM may die: after this callback returns,
/// the error unwinds the thread and, uncaught in `main`, ends the JVM (or a container's OOM
/// killer ends it a moment later). The thread is about to die anyway, is in native state (it
/// holds up no safepoint, so the report's GC and heap walk proceed), and the wait is bounded in
/// case it holds a lock the report needs (a class loader's during a metaspace OOM).
pub fn on_oom(kind: &'static str, description: String, wait: bool) {
    let i = OOM_KINDS.iter().position(|k| *k == kind).unwrap_or(OOM_KINDS.len() - 1);
    let mut st = OOM.lock();
    st.counts[i] += 1;
    if DEATH_REQUESTED.load(Relaxed) || st.last[i].is_some_and(|t| t.elapsed() < OOM_REPEAT) {
        return;
    }
    st.last[i] = Some(Instant::now());
    let count = st.counts[i];
    st.pending.push(Oom { kind: kind.into(), description, count });
    st.requested += 1;
    let mine = st.requested;
    os::post(REQ_OOM);
    if !wait || AGENT_THREAD.with(Cell::get) || !THREAD_RUNNING.load(Relaxed) {
        return;
    }
    let deadline = Instant::now() + OOM_WAIT;
    while st.written < mine {
        if OOM_CV.wait_until(&mut st, deadline).timed_out() {
            log::warn(&format!("the oom report ({kind}) took longer than {} s; the thread that threw continues", OOM_WAIT.as_secs()));
            return;
        }
    }
}

fn write_oom_report(agent: &Agent, env: &Env) {
    let (pending, upto) = {
        let mut st = OOM.lock();
        (std::mem::take(&mut st.pending), st.requested)
    };
    if !pending.is_empty() {
        let summary = pending.iter().map(|o| format!("OutOfMemoryError ({}): {}", o.kind, o.description)).collect::<Vec<_>>().join("; ");
        // Several kinds at once are one report; the first names it, all are counted.
        let detail = TriggerDetail { summary, crossings: Vec::new(), oom: pending.first().cloned() };
        reporter::write_report_with(agent, env, Trigger::Oom, Budget::open(), Some(detail));
    }
    let mut st = OOM.lock();
    st.written = st.written.max(upto);
    OOM_CV.notify_all();
}

fn write_threshold_report(agent: &Agent, env: &Env) {
    let crossings = std::mem::take(&mut *CROSSINGS.lock());
    if crossings.is_empty() {
        return;
    }
    let detail = TriggerDetail { summary: crate::reporting::thresholds::summary(&crossings), crossings, oom: None };
    reporter::write_report_with(agent, env, Trigger::Threshold, Budget::open(), Some(detail));
}

static THREAD_RUNNING: AtomicBool = AtomicBool::new(false);
static DEATH_REQUESTED: AtomicBool = AtomicBool::new(false);
/// None while the final report is pending; Some(true) written, Some(false) the thread failed.
static DEATH_DONE: Mutex<Option<bool>> = Mutex::new(None);
static DEATH_CV: Condvar = Condvar::new();
/// The exit report's budget, set when VM death begins.
static DEATH_BUDGET: Mutex<Option<Budget>> = Mutex::new(None);

/// DataDumpRequest callback (kill -3).
pub fn on_data_dump() {
    health::bump(&COUNTERS.data_dump_requests);
    if !os::post(REQ_DATA_DUMP) {
        health::bump(&COUNTERS.signal_requests_coalesced);
    }
}

/// How long a forced GC under ZGC or Shenandoah may still run once VMDeath is posted: HotSpot
/// stopped their threads before, and a collection asked for after that never completes.
const STUCK_GC_GRACE: Duration = Duration::from_secs(1);

/// Set when VMDeath writes the exit report itself: the report thread, if its GC ever returns,
/// writes none.
static DEATH_TAKEN_OVER: AtomicBool = AtomicBool::new(false);

/// The report thread waits in a forced GC that cannot finish (a report asked for just as the JVM
/// began to exit, session 33's churn_liveness failures on ZGC and Shenandoah): the exit report
/// is written here instead of never.
fn write_beside_stuck_report(agent: &Agent, env: &Env, budget: Budget) {
    DEATH_TAKEN_OVER.store(true, Relaxed);
    log::warn(&format!(
        "the report thread is stuck in a full GC that {} cannot finish once the JVM exits; the exit report is written without it",
        crate::memory::gc::known().map_or("the collector", |c| c.name())
    ));
    reporter::write_exit_report_beside_stuck(agent, env, budget);
}

/// VMDeath callback: the final report is complete before this returns, or `exit_timeout`
/// passed. Every path keeps the deadline: a report in flight is asked to wrap up, the exit
/// report fits its work into what is left, and an inline report (no report thread) too.
pub fn on_vm_death(agent: &Agent, env: &Env) {
    if DEATH_REQUESTED.swap(true, Relaxed) {
        return;
    }
    let timeout = agent.options.exit_timeout;
    let deadline = Instant::now().checked_add(timeout).unwrap_or_else(Instant::now);
    let budget = Budget::exit(deadline, budget::write_reserve(timeout));
    *DEATH_BUDGET.lock() = Some(budget);
    budget::request_wrap_up();
    if !THREAD_RUNNING.load(Relaxed) {
        reporter::write_report(agent, env, Trigger::VmDeath, budget);
        return;
    }
    os::post(REQ_DEATH);
    let mut done = DEATH_DONE.lock();
    let mut in_gc_since: Option<Instant> = None;
    while done.is_none() {
        let now = Instant::now();
        if now >= deadline {
            log::error(&format!(
                "the exit report did not finish within exit_timeout ({} s); the JVM exits without it (it was {})",
                timeout.as_secs_f64(),
                crate::reporting::progress::describe()
            ));
            return;
        }
        // Woken every 100 ms to see whether the report thread is stuck in a GC that cannot finish.
        DEATH_CV.wait_until(&mut done, deadline.min(now + Duration::from_millis(100)));
        if done.is_some() {
            break;
        }
        if !reporter::in_gc_exit_cannot_finish() {
            in_gc_since = None;
        } else if in_gc_since.get_or_insert_with(Instant::now).elapsed() >= STUCK_GC_GRACE {
            drop(done);
            write_beside_stuck_report(agent, env, budget);
            return;
        }
    }
    if *done == Some(false) {
        drop(done);
        reporter::write_report(agent, env, Trigger::VmDeath, budget);
    }
}

fn death_budget() -> Budget {
    DEATH_BUDGET.lock().unwrap_or_else(Budget::open)
}

fn finish_death(written: bool) {
    *DEATH_DONE.lock() = Some(written);
    DEATH_CV.notify_all();
    // No oom report comes after the exit report: release every waiting thread.
    let mut st = OOM.lock();
    st.written = st.requested;
    OOM_CV.notify_all();
}

/// The report thread failed: a VMDeath callback waiting for it writes the report itself.
pub fn report_thread_failed() {
    THREAD_RUNNING.store(false, Relaxed);
    finish_death(false);
}

/// The report thread's loop. Returns after the VM death report.
pub fn run_report_loop(agent: &Agent, env: &Env) {
    THREAD_RUNNING.store(true, Relaxed);
    mark_agent_thread();
    // Known before any exit report, which must not force a GC the collector cannot finish.
    crate::memory::gc::detect(env);
    let interval = agent.options.interval;
    // Checked: a deadline that cannot be represented switches the interval off instead of
    // panicking here, which would end signal reports too.
    let mut next_interval = interval.and_then(|d| Instant::now().checked_add(d));
    let mut buf = Vec::with_capacity(256);
    loop {
        let timeout_ms = match next_interval {
            Some(t) => t.saturating_duration_since(Instant::now()).as_millis().min(i32::MAX as u128) as i32,
            None => -1,
        };
        buf.clear();
        if let Err(e) = os::wait_and_drain(agent.pipe_read, timeout_ms, &mut buf) {
            log::error(&format!("report thread cannot wait for requests: {e}; reports only on exit"));
            health::bump(&COUNTERS.errors);
            report_thread_failed();
            return;
        }
        if DEATH_REQUESTED.load(Relaxed) || buf.contains(&REQ_DEATH) {
            if DEATH_TAKEN_OVER.load(Relaxed) {
                return;
            }
            reporter::write_report(agent, env, Trigger::VmDeath, death_budget());
            finish_death(true);
            return;
        }
        // What may end the JVM comes first.
        if buf.contains(&REQ_OOM) && !DEATH_REQUESTED.load(Relaxed) {
            write_oom_report(agent, env);
        }
        if buf.contains(&REQ_THRESHOLD) && !DEATH_REQUESTED.load(Relaxed) {
            write_threshold_report(agent, env);
        }
        let signals = buf.iter().filter(|&&b| b == REQ_SIGNAL).count() as u64;
        let dumps = buf.iter().filter(|&&b| b == REQ_DATA_DUMP).count() as u64;
        // Each request is checked against VM death first: the exit report comes before others.
        if signals > 0 && !DEATH_REQUESTED.load(Relaxed) {
            COUNTERS.signal_requests_coalesced.fetch_add(signals - 1, Relaxed);
            reporter::write_report(agent, env, Trigger::Signal, Budget::open());
        }
        if dumps > 0 && !DEATH_REQUESTED.load(Relaxed) {
            COUNTERS.signal_requests_coalesced.fetch_add(dumps - 1, Relaxed);
            reporter::write_report(agent, env, Trigger::DataDump, Budget::open());
        }
        if DEATH_REQUESTED.load(Relaxed) {
            continue;
        }
        if let (Some(t), Some(d)) = (next_interval, interval) {
            let now = Instant::now();
            if now >= t {
                reporter::write_report(agent, env, Trigger::Interval, Budget::open());
                // Skip missed ticks rather than writing a burst of reports.
                let mut next = t.checked_add(d);
                while let Some(n) = next.filter(|&n| n <= Instant::now()) {
                    next = n.checked_add(d);
                }
                next_interval = next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn oom_kinds_from_flags_and_descriptions() {
        use super::oom_kind;
        assert_eq!(oom_kind(true, false, "Java heap space"), "heap");
        assert_eq!(oom_kind(true, false, "GC overhead limit exceeded"), "heap");
        assert_eq!(oom_kind(false, true, "unable to create native thread: possibly out of memory"), "threads");
        assert_eq!(oom_kind(false, false, "Metaspace"), "metaspace");
        assert_eq!(oom_kind(false, false, "Compressed class space"), "class_space");
        assert_eq!(oom_kind(false, false, "something new"), "other");
    }
}
