//! Which step the report being built is in and how long each step before it took. When the exit
//! report overruns `exit_timeout` the JVM exits without it, and the VMDeath wait's log line names
//! these steps: the only trace of where the time went (session 33: a CI run under load). A report
//! written names them in its own log line.

use parking_lot::Mutex;
use std::fmt::Write;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

struct Progress {
    /// The thread building the report: steps named on others (a report that resumes beside the
    /// exit report written for it, a unit test) are not its steps.
    thread: Option<ThreadId>,
    started: Option<Instant>,
    /// The report thread's CPU time when the report began.
    cpu_at_start: Option<Duration>,
    step: &'static str,
    step_started: Option<Instant>,
    done: Vec<(&'static str, u128)>,
}

/// Held only to record or read a step, never across a call into the JVM.
static NOW: Mutex<Progress> =
    Mutex::new(Progress { thread: None, started: None, cpu_at_start: None, step: "", step_started: None, done: Vec::new() });

/// A new report begins (its first step is `step`).
pub fn begin(step: &'static str) {
    let now = Instant::now();
    let cpu_at_start = crate::ffi::os::thread_cpu_time();
    let mut p = NOW.lock();
    *p = Progress { thread: Some(std::thread::current().id()), started: Some(now), cpu_at_start, step, step_started: Some(now), done: Vec::with_capacity(16) };
}

/// How much slower than its CPU time the report's wall time ran so far (1 on an idle machine,
/// ~8 at load 16 on 2 cores, the GC it waited for included): estimates made for an idle machine
/// are multiplied by it. Called on the report's thread; 1 to 20.
pub fn stretch() -> f64 {
    let p = NOW.lock();
    let (Some(t0), Some(cpu0), Some(cpu)) = (p.started, p.cpu_at_start, crate::ffi::os::thread_cpu_time()) else { return 1.0 };
    let cpu = cpu.saturating_sub(cpu0).as_secs_f64();
    if cpu < 0.01 {
        return 1.0;
    }
    (t0.elapsed().as_secs_f64() / cpu).clamp(1.0, 20.0)
}

/// How long `step` took in the report in progress, if it is done.
pub fn took(step: &str) -> Option<Duration> {
    NOW.lock().done.iter().find(|(s, _)| *s == step).map(|(_, ms)| Duration::from_millis(*ms as u64))
}

/// The report moves on to `step`.
pub fn step(step: &'static str) {
    let now = Instant::now();
    let mut p = NOW.lock();
    if p.thread != Some(std::thread::current().id()) {
        return;
    }
    if let Some(since) = p.step_started {
        let took = now.saturating_duration_since(since).as_millis();
        let prev = p.step;
        p.done.push((prev, took));
    }
    (p.step, p.step_started) = (step, Some(now));
}

/// "in <step> for N ms, after a (N ms), b (N ms)": the report in progress.
pub fn describe() -> String {
    let p = NOW.lock();
    let Some(since) = p.step_started else { return "before its first step".into() };
    let mut out = format!("in {} for {} ms", p.step, since.elapsed().as_millis());
    if !p.done.is_empty() {
        out.push_str(", after ");
        for (i, (s, ms)) in p.done.iter().enumerate() {
            let _ = write!(out, "{}{s} ({ms} ms)", if i > 0 { ", " } else { "" });
        }
    }
    if let Some(t0) = p.started {
        let _ = write!(out, "; {} ms since it began", t0.elapsed().as_millis());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_current_step_and_the_ones_before() {
        begin("full GC");
        step("class loaders");
        step("chain search");
        let d = describe();
        assert!(d.starts_with("in chain search for "), "{d}");
        assert!(d.contains("after full GC (") && d.contains("), class loaders ("), "{d}");
        assert!(took("class loaders").is_some() && took("chain search").is_none());
        assert!((1.0..=20.0).contains(&stretch()));
        std::thread::spawn(|| step("another thread")).join().unwrap();
        assert!(describe().starts_with("in chain search for "));
    }
}
