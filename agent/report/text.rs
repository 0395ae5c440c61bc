//! Plain-text rendering for people: findings first, then the evidence.

use super::model::{Direct, Report, Severity, Zlib};
use std::fmt::Write;

const MAX_LOADERS: usize = 40;
const MAX_DUPLICATES: usize = 40;
const MAX_NATIVE_SITES: usize = 8;

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

    zlib_section(&mut o, &r.zlib);
    direct_section(&mut o, &r.direct);

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

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

/// The frame a person looks for: the application's, else the first frame below the native.
fn site_place(app: &Option<String>, stack: &[String]) -> String {
    app.clone().or_else(|| stack.get(2).or(stack.first()).cloned()).unwrap_or_default()
}

fn tracking_line(o: &mut String, tracking: &str, reason: &Option<String>) {
    if tracking != "full" {
        let _ = writeln!(o, "  tracking: {tracking}{}", reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default());
    }
}

fn zlib_section(o: &mut String, z: &Zlib) {
    let t = &z.totals;
    let _ = writeln!(
        o,
        "\nzlib streams: {} created, {} ended explicitly, {} freed only by GC, {} live (~{}); {} sites",
        t.created, t.ended_explicitly, t.released_by_gc, t.live, mb(t.live_bytes_estimate), t.sites
    );
    tracking_line(o, &z.tracking, &z.reason);
    let b = &t.before_tracking;
    if b.ended_explicitly + b.released_by_gc > 0 {
        let _ = writeln!(
            o,
            "  streams from before tracking: {} ended explicitly, {} freed by GC",
            b.ended_explicitly, b.released_by_gc
        );
    }
    if z.sites.is_empty() {
        return;
    }
    let _ = writeln!(o, "  {:>5}  {:<8}  {:>8}  {:>8}  {:>8}  {:>7}  {:>9}  site", "id", "kind", "created", "ended", "by GC", "live", "live MB");
    for s in z.sites.iter().take(MAX_NATIVE_SITES) {
        let _ = writeln!(
            o,
            "  {:>5}  {:<8}  {:>8}  {:>8}  {:>8}  {:>7}  {:>9.1}  {}",
            s.id,
            s.kind,
            s.created,
            s.ended_explicitly,
            s.released_by_gc,
            s.live,
            s.live_bytes_estimate as f64 / (1024.0 * 1024.0),
            site_place(&s.app_frame, &s.stack)
        );
    }
    if z.sites.len() > MAX_NATIVE_SITES {
        let _ = writeln!(o, "  ... {} more sites (with full stacks) in the JSON report", z.sites.len() - MAX_NATIVE_SITES);
    }
}

fn direct_section(o: &mut String, d: &Direct) {
    let t = &d.totals;
    let _ = writeln!(
        o,
        "\nDirect memory: {} live blocks, {} ({} in {} DirectByteBuffers, {} in {} Unsafe blocks); {} allocated, {} freed ({} by GC)",
        t.live_count,
        mb(t.live_bytes),
        mb(t.direct_byte_buffers.live_bytes),
        t.direct_byte_buffers.live_count,
        mb(t.unsafe_memory.live_bytes),
        t.unsafe_memory.live_count,
        t.allocations + t.reallocations,
        t.frees,
        t.freed_by_gc
    );
    tracking_line(o, &d.tracking, &d.reason);
    if let Some(p) = &d.jdk_pool {
        let _ = writeln!(
            o,
            "  JDK direct pool: {} buffers, {} capacity{}{}",
            p.count,
            mb(p.total_capacity_bytes),
            p.max_bytes.map(|m| format!(", limit {}", mb(m))).unwrap_or_default(),
            d.cross_check.as_ref().map(|c| if c.agrees { "; agrees with the agent".to_string() } else { format!("; {}", c.note) }).unwrap_or_default()
        );
    }
    if d.sites.is_empty() {
        return;
    }
    let _ = writeln!(o, "  {:>5}  {:<16}  {:>8}  {:>8}  {:>8}  {:>10}  site", "id", "kind", "allocs", "frees", "live", "live MB");
    for s in d.sites.iter().take(MAX_NATIVE_SITES) {
        let _ = writeln!(
            o,
            "  {:>5}  {:<16}  {:>8}  {:>8}  {:>8}  {:>10.1}  {}",
            s.id,
            s.kind,
            s.allocations + s.reallocations,
            s.frees,
            s.live_count,
            s.live_bytes as f64 / (1024.0 * 1024.0),
            site_place(&s.app_frame, &s.stack)
        );
    }
    if d.sites.len() > MAX_NATIVE_SITES {
        let _ = writeln!(o, "  ... {} more sites (with full stacks) in the JSON report", d.sites.len() - MAX_NATIVE_SITES);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::*;

    fn report() -> Report {
        let mut z = Zlib { tracking: "full".into(), ..Zlib::default() };
        z.totals.created = 1104;
        z.totals.released_by_gc = 1104;
        z.totals.sites = 1;
        z.sites.push(ZlibSite {
            id: 4,
            kind: "Inflater",
            stack: vec!["java.util.zip.Inflater.init(Native Method)".into()],
            app_frame: Some("x.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:29)".into()),
            created: 1104,
            released_by_gc: 1104,
            ..ZlibSite::default()
        });
        let mut d = Direct {
            tracking: "jdk_pool_only".into(),
            reason: Some("the agent was attached to a running JVM".into()),
            jdk_pool: Some(JdkPool { count: 3, total_capacity_bytes: 3_000_009, memory_used_bytes: 3_000_009, max_bytes: None }),
            ..Direct::default()
        };
        d.totals.live_count = 0;
        Report {
            schema_version: SCHEMA_VERSION,
            trigger: Trigger::Signal,
            sequence: 1,
            pid: 42,
            time: "2026-01-01T00:00:00.000Z".into(),
            time_ms: 0,
            uptime_ms: 1000,
            jvm: JvmInfo::default(),
            agent: AgentInfo { version: "0", options: String::new(), health: Default::default(), report_build_ms: 0 },
            findings: Vec::new(),
            class_loaders: ClassLoaders::default(),
            zlib: z,
            direct: d,
        }
    }

    #[test]
    fn native_sections_show_totals_sites_and_why_tracking_is_partial() {
        let t = render(&report());
        assert!(t.contains("zlib streams: 1104 created, 0 ended explicitly, 1104 freed only by GC, 0 live"), "{t}");
        assert!(t.contains("x.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:29)"), "{t}");
        assert!(t.contains("tracking: jdk_pool_only (the agent was attached to a running JVM)"), "{t}");
        assert!(t.contains("JDK direct pool: 3 buffers, 2.9 MB capacity"), "{t}");
        assert!(!t.contains("tracking: full"), "full tracking needs no line");
    }
}
