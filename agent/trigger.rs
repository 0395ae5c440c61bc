//! Everything that asks for a report — the signal, DataDumpRequest, the interval, VM death —
//! ends up as one byte in the self-pipe, read by the single report thread. A storm of requests
//! coalesces: requests that arrive while a report is pending are counted, not queued.

use crate::ffi::jni::Env;
use crate::ffi::os;
use crate::health::{self, COUNTERS};
use crate::log;
use leakagent_report::model::Trigger;
use crate::reporter;
use crate::runtime::Agent;
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

pub const REQ_SIGNAL: u8 = b'S';
pub const REQ_DATA_DUMP: u8 = b'D';
pub const REQ_DEATH: u8 = b'X';

/// How long VMDeath waits for the final report before letting the JVM exit without it.
const DEATH_TIMEOUT: Duration = Duration::from_secs(120);

static THREAD_RUNNING: AtomicBool = AtomicBool::new(false);
static DEATH_REQUESTED: AtomicBool = AtomicBool::new(false);
/// None while the final report is pending; Some(true) written, Some(false) the thread failed.
static DEATH_DONE: Mutex<Option<bool>> = Mutex::new(None);
static DEATH_CV: Condvar = Condvar::new();

/// DataDumpRequest callback (kill -3).
pub fn on_data_dump() {
    health::bump(&COUNTERS.data_dump_requests);
    if !os::post(REQ_DATA_DUMP) {
        health::bump(&COUNTERS.signal_requests_coalesced);
    }
}

/// VMDeath callback: the final report is complete before this returns (or the timeout passed).
pub fn on_vm_death(agent: &Agent, env: &Env) {
    if DEATH_REQUESTED.swap(true, Relaxed) {
        return;
    }
    if !THREAD_RUNNING.load(Relaxed) {
        reporter::write_report(agent, env, Trigger::VmDeath);
        return;
    }
    os::post(REQ_DEATH);
    let mut done = DEATH_DONE.lock();
    let deadline = Instant::now() + DEATH_TIMEOUT;
    while done.is_none() {
        if DEATH_CV.wait_until(&mut done, deadline).timed_out() {
            log::error("the final report did not finish within 120 s; the JVM exits without it");
            return;
        }
    }
    if *done == Some(false) {
        drop(done);
        reporter::write_report(agent, env, Trigger::VmDeath);
    }
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
            reporter::write_report(agent, env, Trigger::VmDeath);
            finish_death(true);
            return;
        }
        let signals = buf.iter().filter(|&&b| b == REQ_SIGNAL).count() as u64;
        let dumps = buf.iter().filter(|&&b| b == REQ_DATA_DUMP).count() as u64;
        if signals > 0 {
            COUNTERS.signal_requests_coalesced.fetch_add(signals - 1, Relaxed);
            reporter::write_report(agent, env, Trigger::Signal);
        }
        if dumps > 0 {
            COUNTERS.signal_requests_coalesced.fetch_add(dumps - 1, Relaxed);
            reporter::write_report(agent, env, Trigger::DataDump);
        }
        if let (Some(t), Some(d)) = (next_interval, interval) {
            let now = Instant::now();
            if now >= t {
                reporter::write_report(agent, env, Trigger::Interval);
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
