//! Turns the evidence in a report into plain-words verdicts with fixes, worst first.
//! Reads the report model only, so every rule can be tested on a fixed model.

use crate::report::model::{Finding, Report};

pub fn derive(report: &Report) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let _ = report;
    out.sort_by(|a, b| b.severity.cmp(&a.severity));
    out
}
