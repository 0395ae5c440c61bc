//! Everything that asks for a report — the signal, DataDumpRequest, the interval, VM death —
//! ends up as one byte in the self-pipe, read by the single report thread. A storm of requests
//! coalesces: requests that arrive while a report is pending are counted, not queued.

use crate::budget::{self, Budget};
use crate::ffi::jni::Env;
use crate::ffi::os;
use crate::health::{self, COUNTERS};
use crate::log;
use leakagent_report::model::Trigger;
use crate::reporter;
use crate::runtime::Agent;
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Instant;

pub const REQ_SIGNAL: u8 = b'S';
pub const REQ_DATA_DUMP: u8 = b'D';
pub const REQ_DEATH: u8 = b'X';

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

/// VMDeath callback: the final report is complete before this returns, or `exit_timeout`
/// passed. Every path keeps the deadline: a report in flight is asked to wrap up, the exit
/// report fits its work into what is left, and an inline report (no report thread) too.
pub fn on_vm_death(agent: &Agent, env: &Env) {
    if DEATH_REQUESTED.swap(true, Relaxed) {
        return;
    }
    let timeout = agent.options.exit_timeout;
    let deadline = Instant::now() + timeout;
    let budget = Budget::exit(deadline, budget::write_reserve(timeout));
    *DEATH_BUDGET.lock() = Some(budget);
    budget::request_wrap_up();
    if !THREAD_RUNNING.load(Relaxed) {
        reporter::write_report(agent, env, Trigger::VmDeath, budget);
        return;
    }
    os::post(REQ_DEATH);
    let mut done = DEATH_DONE.lock();
    while done.is_none() {
        if DEATH_CV.wait_until(&mut done, deadline).timed_out() {
            log::error(&format!(
                "the exit report did not finish within exit_timeout ({} s); the JVM exits without it",
                timeout.as_secs_f64()
            ));
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
}

/// The report thread failed: a VMDeath callback waiting for it writes the report itself.
pub fn report_thread_failed() {
    THREAD_RUNNING.store(false, Relaxed);
    finish_death(false);
}

/// The report thread's loop. Returns after the VM death report.
pub fn run_report_loop(agent: &Agent, env: &Env) {
    THREAD_RUNNING.store(true, Relaxed);
    // Known before any exit report, which must not force a GC the collector cannot finish.
    crate::collectors::collector::detect(env);
    let interval = agent.options.interval;
    let mut next_interval = interval.map(|d| Instant::now() + d);
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
            reporter::write_report(agent, env, Trigger::VmDeath, death_budget());
            finish_death(true);
            return;
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
                let mut next = t + d;
                while next <= Instant::now() {
                    next += d;
                }
                next_interval = Some(next);
            }
        }
    }
}
