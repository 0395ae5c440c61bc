//! Turns the evidence in a report into plain-words verdicts with fixes, worst first. Each feature
//! derives its own findings from the report model; this only merges and sorts them.

use leakagent_report::model::{Finding, Report};

pub fn derive(report: &Report) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    crate::leaks::findings::derive(report, &mut out);
    crate::memory::findings::derive(report, &mut out);
    crate::native::findings::derive(report, &mut out);
    crate::native::sampled::derive(report, &mut out);
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out
}
