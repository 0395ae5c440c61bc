//! Turns the evidence in a report into plain-words verdicts with fixes, worst first.
//! Reads the report model only, so every rule can be tested on a fixed model.

mod memory;
mod native;

use crate::culprits::chain_text;
use leakagent_report::model::{ClassLoaders, Finding, LeakSuspect, Report, Severity, Subject};
use std::collections::BTreeMap;

pub fn derive(report: &Report) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    class_loader_leaks(&report.class_loaders, &mut out);
    memory::derive(report, &mut out);
    native::derive(report, &mut out);
    out.sort_by(|a, b| b.severity.cmp(&a.severity));
    out
}

fn loader_label(s: &LeakSuspect) -> String {
    s.loader_name.clone().unwrap_or_else(|| format!("#{}", s.loader_id))
}

/// One finding per culprit: suspects pinned by the same holder are one problem.
fn class_loader_leaks(cl: &ClassLoaders, out: &mut Vec<Finding>) {
    let mut groups: BTreeMap<(String, String), Vec<&LeakSuspect>> = BTreeMap::new();
    for s in &cl.leak_suspects {
        let holder = s
            .culprit_hop
            .and_then(|i| s.path.get(i))
            .map(|h| format!("{}.{}", h.from, if h.field.starts_with('[') { "[]" } else { &h.field }))
            .unwrap_or_default();
        groups.entry((s.culprit.clone().unwrap_or_else(|| "unknown".into()), holder)).or_default().push(s);
    }
    for ((culprit, holder), suspects) in groups {
        let first = suspects[0];
        let names: Vec<String> = suspects.iter().map(|s| loader_label(s)).collect();
        let classes: u64 = suspects.iter().map(|s| s.classes).sum();
        let chain = if first.path.is_empty() { String::new() } else { format!(" Chain: {}.", chain_text(&first.path)) };
        out.push(Finding {
            severity: if first.path.is_empty() { Severity::Warning } else { Severity::Critical },
            kind: "classloader_leak".into(),
            summary: format!(
                "{} class loader{} that should be dead {} alive after GC ({}; {} classes pinned): {}.{}",
                suspects.len(),
                if suspects.len() == 1 { "" } else { "s" },
                if suspects.len() == 1 { "is" } else { "are" },
                names.join(", "),
                classes,
                first.explanation,
                chain
            ),
            fix: format!("{} [culprit: {culprit}]", first.fix),
            subject: Subject {
                culprit: Some(culprit),
                holder: (!holder.is_empty()).then_some(holder),
                site: None,
                loaders: names,
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakagent_report::model::PathHop;

    fn suspect(id: u32, culprit: &str) -> LeakSuspect {
        LeakSuspect {
            loader_id: id,
            loader_class: "java.net.URLClassLoader".into(),
            loader_name: Some(format!("app-gen-{id}")),
            classes: 8,
            reasons: vec!["closed".into()],
            path: vec![PathHop { from: "A".into(), field: "f".into(), kind: "static_field".into(), to: "B".into(), to_loader: Some(id) }],
            culprit_hop: Some(0),
            culprit: Some(culprit.into()),
            explanation: "A.f keeps B".into(),
            fix: "clear A.f".into(),
        }
    }

    #[test]
    fn suspects_with_the_same_holder_make_one_finding() {
        let cl = ClassLoaders {
            leak_suspects: vec![suspect(3, "generic"), suspect(4, "generic"), LeakSuspect { path: vec![], culprit: None, culprit_hop: None, ..suspect(5, "x") }],
            ..ClassLoaders::default()
        };
        let mut f = Vec::new();
        class_loader_leaks(&cl, &mut f);
        f.sort_by(|a, b| b.severity.cmp(&a.severity));
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].summary.starts_with("2 class loaders that should be dead are alive after GC (app-gen-3, app-gen-4; 16 classes"), "{}", f[0].summary);
        assert!(f[0].summary.contains("Chain: A.f"), "{}", f[0].summary);
        assert!(f[0].fix.contains("clear A.f") && f[0].fix.contains("generic"));
        assert_eq!(f[0].subject.culprit.as_deref(), Some("generic"));
        assert_eq!(f[0].subject.holder.as_deref(), Some("A.f"));
        assert_eq!(f[0].subject.loaders, ["app-gen-3", "app-gen-4"]);
        assert_eq!(f[1].severity, Severity::Warning);
    }
}
