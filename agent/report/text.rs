//! Plain-text rendering for people: findings first, then the evidence.

use super::model::{Report, Severity};
use std::fmt::Write;

const MAX_LOADERS: usize = 40;
const MAX_DUPLICATES: usize = 40;

pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "leakagent report #{} ({}) for pid {} at {}, JVM uptime {:.1} s",
        r.sequence,
        r.trigger.as_str(),
        r.pid,
        r.time,
        r.uptime_ms as f64 / 1000.0
    );
    let _ = writeln!(o, "JVM: {} {} ({}){}", r.jvm.vm_name, r.jvm.version, r.jvm.vendor,
        if r.jvm.attached_late { ", agent attached late" } else { "" });
    o.push('\n');

    if r.findings.is_empty() {
        o.push_str("Findings: none\n");
    } else {
        let _ = writeln!(o, "Findings ({}):", r.findings.len());
        for f in &r.findings {
            let sev = match f.severity {
                Severity::Critical => "CRITICAL",
                Severity::Warning => "WARNING",
                Severity::Info => "info",
            };
            let _ = writeln!(o, "  [{sev}] {}: {}", f.kind, f.summary);
            let _ = writeln!(o, "      fix: {}", f.fix);
        }
    }
    o.push('\n');

    let c = &r.class_loaders;
    let _ = writeln!(
        o,
        "Class loaders: {} alive, {} dead; classes: {} live, {} loaded, {} unloaded",
        c.loaders_alive, c.loaders_dead, c.classes_live, c.classes_loaded, c.classes_unloaded
    );
    let _ = writeln!(o, "  {:>5}  {:<11}  {:<48}  {:<20}  {:>6}  {:>7}  {:>8}", "id", "role", "class", "name", "parent", "classes", "unloaded");
    let mut loaders: Vec<_> = c.loaders.iter().filter(|l| l.alive).collect();
    loaders.sort_by(|a, b| b.classes.cmp(&a.classes).then(a.id.cmp(&b.id)));
    for l in loaders.iter().take(MAX_LOADERS) {
        let _ = writeln!(
            o,
            "  {:>5}  {:<11}  {:<48}  {:<20}  {:>6}  {:>7}  {:>8}",
            l.id,
            l.role,
            l.class,
            l.name.as_deref().unwrap_or("-"),
            l.parent.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            l.classes,
            l.classes_unloaded
        );
    }
    if loaders.len() > MAX_LOADERS {
        let _ = writeln!(o, "  ... {} more live loaders in the JSON report", loaders.len() - MAX_LOADERS);
    }
    if !c.duplicate_classes.is_empty() {
        let _ = writeln!(o, "\nClasses defined by more than one live loader ({}):", c.duplicate_classes.len());
        for d in c.duplicate_classes.iter().take(MAX_DUPLICATES) {
            let ids: Vec<String> = d.loaders.iter().map(|i| i.to_string()).collect();
            let _ = writeln!(o, "  {}  (loaders {})", d.name, ids.join(", "));
        }
        if c.duplicate_classes.len() > MAX_DUPLICATES {
            let _ = writeln!(o, "  ... {} more in the JSON report", c.duplicate_classes.len() - MAX_DUPLICATES);
        }
    }

    if !c.leak_suspects.is_empty() {
        let _ = writeln!(o, "\nClass loader leak suspects ({}):", c.leak_suspects.len());
        for s in &c.leak_suspects {
            let _ = writeln!(
                o,
                "  loader {} '{}' ({}), {} classes, should be dead: {}",
                s.loader_id,
                s.loader_name.as_deref().unwrap_or("-"),
                s.loader_class,
                s.classes,
                s.reasons.join(", ")
            );
            for (i, h) in s.path.iter().enumerate() {
                let mark = if Some(i) == s.culprit_hop { "=>" } else { "  " };
                let via = match h.field.as_str() {
                    "" => format!(" [{}]", h.kind),
                    f if f.starts_with('[') => format!("{f} [{}]", h.kind),
                    f => format!(".{f} [{}]", h.kind),
                };
                let _ = writeln!(o, "    {mark} {}{} -> {}", h.from, via, h.to);
            }
            let _ = writeln!(o, "     {}", s.explanation);
            let _ = writeln!(o, "     fix: {}", s.fix);
        }
    }
    if !c.not_strongly_reachable.is_empty() {
        let ids: Vec<String> = c.not_strongly_reachable.iter().map(|i| i.to_string()).collect();
        let _ = writeln!(
            o,
            "Loaders {} should be dead and are alive, but only weak or soft references hold them: not leaks.",
            ids.join(", ")
        );
    }
    if let Some(cs) = &c.chain_search {
        let _ = writeln!(
            o,
            "Chain search: {} of {} chains found in {} ms, {} passes, {} references visited, {} objects tagged (~{} KiB){}",
            cs.chains_found,
            cs.suspects,
            cs.time_ms,
            cs.passes,
            cs.references_visited,
            cs.objects_tagged,
            cs.memory_bytes_estimate / 1024,
            cs.limit_hit.as_ref().map(|l| format!("; stopped: {l}")).unwrap_or_default()
        );
    }

    let h = &r.agent.health;
    let _ = writeln!(
        o,
        "\nAgent {}: {} events, {} dropped, {} panics, {} errors; {} signals ({} coalesced); {} reports written, {} failed; report built in {} ms",
        r.agent.version, h.events, h.dropped, h.panics, h.errors, h.signals_received,
        h.signal_requests_coalesced, h.reports_written, h.report_failures, r.agent.report_build_ms
    );
    if !h.disabled_features.is_empty() {
        let _ = writeln!(o, "Features switched off after an internal error: {}", h.disabled_features.join(", "));
    }
    o
}
