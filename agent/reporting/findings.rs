//! Turns the evidence in a report into plain-words verdicts with fixes, worst first. Each feature
//! derives its own findings from the report model; this only merges and sorts them.

use crate::core::budget::Budget;
use crate::core::fault;
use leakagent_report::model::{Finding, Report, Trigger};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn derive(report: &Report) -> Vec<Finding> {
    if report.trigger == Trigger::VmDeath && fault::injected("slow-findings-at-exit") {
        std::thread::sleep(Duration::from_secs(60));
    }
    let mut out: Vec<Finding> = Vec::new();
    crate::leaks::findings::derive(report, &mut out);
    crate::memory::findings::derive(report, &mut out);
    crate::native::findings::derive(report, &mut out);
    crate::native::sampled::derive(report, &mut out);
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out
}

/// Sets the report's findings. At exit they are derived on a helper thread given half the time
/// left to `exit_timeout`'s end (rendering and writing need the rest): past it, the report is
/// written without them and says so. The helper has only the report's data; if it is cut off it
/// finishes, or not, while the JVM exits.
pub fn derive_within(report: Report, budget: &Budget) -> Report {
    let Some(left) = budget.until_end().filter(|_| budget.is_exit()) else {
        let mut report = report;
        report.findings = derive(&report);
        return report;
    };
    let share = left / 2;
    let shared = Arc::new(report);
    let theirs = Arc::clone(&shared);
    // No channel: std's mpsc keeps a thread-local of its own, and the agent's TLS segment must
    // fit glibc's static surplus (tests/native_sampling.rs). The helper is polled instead.
    let helper = std::thread::Builder::new().name("leakagent-findings".into()).spawn(move || derive(&theirs));
    let got = match helper {
        Ok(h) => {
            let until = Instant::now() + share;
            while !h.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(2));
            }
            // Joined only once finished; otherwise it is left to finish, or not, as the JVM exits.
            h.is_finished().then(|| h.join().ok()).flatten()
        }
        Err(_) => Some(derive(&shared)),
    };
    match got {
        Some(found) => {
            let mut report = Arc::try_unwrap(shared).unwrap_or_else(|a| (*a).clone());
            report.findings = found;
            report
        }
        None => {
            let mut report = (*shared).clone();
            report.agent.skipped.push(format!(
                "findings: not derived within {} ms, half of what was left of exit_timeout (the sections hold the evidence); raise exit_timeout",
                share.as_millis()
            ));
            report
        }
    }
}
