//! Prometheus text exposition format (version 0.0.4, what node_exporter's textfile collector
//! reads): the report's numbers as `leakagent_*` metrics. Hand-written, because the format is a
//! few lines of escaping and the agent, which will keep a textfile up to date with the same
//! names, must stay free of extra dependencies. Metric names and labels are a public interface
//! (README.md, "Metrics"): add, never rename.
//!
//! Every series carries `pid` plus the caller's constant labels, so the textfiles of several JVMs
//! on one host never collide. Live state is a gauge; totals since the agent started are
//! counters (`_total`), so `rate()` works on them. No timestamps: the textfile collector refuses
//! them; `leakagent_report_timestamp_seconds` says when the numbers were taken.

use super::ledger::{ledgers, Kind, Released, Source};
use super::model::{ClassLoaders, Finding, Memory, Origin, Report, Severity};
use std::fmt::Write;

/// A label name Prometheus accepts: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`.
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}

/// Renders `report`; `labels` are added to every series (names checked by the caller with
/// `valid_label_name`; `pid` is always added by this function).
pub fn render(report: &Report, labels: &[(String, String)]) -> String {
    let mut base = vec![("pid".to_string(), report.pid.to_string())];
    // Who the JVM is, so that series of JVMs that are all pid 1 in their containers stay apart
    // and an alert names the application; a caller's label of the same name wins.
    for (k, v) in identity_labels(&report.origin) {
        if !labels.iter().any(|(name, _)| *name == k) {
            base.push((k.to_string(), v));
        }
    }
    base.extend(labels.iter().filter(|(k, _)| k != "pid").cloned());
    let mut w = Writer { out: String::new(), base };
    info(&mut w, report);
    memory(&mut w, &report.memory);
    native(&mut w, report);
    class_loaders(&mut w, &report.class_loaders);
    findings(&mut w, &report.findings);
    health(&mut w, report);
    w.out
}

/// Who wrote the report, when, and how long it took.
fn info(w: &mut Writer, r: &Report) {
    let jvm = [
        ("agent_version", r.agent.version.as_str()),
        ("java_version", r.jvm.version.as_str()),
        ("vm_name", r.jvm.vm_name.as_str()),
        ("allocator", r.memory.malloc.allocator.as_str()),
    ];
    w.family("leakagent_info", Gauge, "The agent and JVM this report comes from (always 1).");
    w.sample("leakagent_info", &jvm, 1.0);
    w.gauge("leakagent_report_timestamp_seconds", "When the report was taken (Unix time).", r.time_ms as f64 / 1000.0);
    w.gauge("leakagent_report_sequence", "The report's sequence number in its process (1, 2, ...).", r.sequence as f64);
    w.gauge("leakagent_report_build_seconds", "How long building the report took.", r.agent.report_build_ms as f64 / 1000.0);
    w.gauge("leakagent_jvm_uptime_seconds", "Process uptime when the report was taken.", r.uptime_ms as f64 / 1000.0);
}

/// RSS and the explanation whose parts add up to it, the allocator, the JVM, the cgroup.
fn memory(w: &mut Writer, m: &Memory) {
    w.gauge("leakagent_rss_bytes", "Resident set size (sum of Rss over /proc/self/smaps).", m.rss_bytes as f64);
    w.family(
        "leakagent_rss_part_bytes",
        Gauge,
        "RSS explained by part (java_heap, metaspace, code_cache, thread_stacks, zlib, direct, malloc_in_use, malloc_retained, other, unexplained); the parts add up to leakagent_rss_bytes.",
    );
    for p in &m.explanation {
        w.sample("leakagent_rss_part_bytes", &[("part", p.part.as_str())], p.bytes as f64);
    }
    w.family("leakagent_region_rss_bytes", Gauge, "RSS of the process's mappings by kind (docs/memory.md).");
    for g in &m.regions {
        w.sample("leakagent_region_rss_bytes", &[("kind", &g.kind)], g.rss_bytes as f64);
    }
    let a = &m.malloc;
    w.opt_gauge("leakagent_malloc_in_use_bytes", "Bytes the allocator handed out and were not freed.", a.in_use_bytes);
    w.opt_gauge("leakagent_malloc_free_bytes", "Free bytes the allocator holds, resident or not.", a.free_bytes);
    w.opt_gauge(
        "leakagent_malloc_retained_bytes",
        "Free bytes the allocator keeps resident (the malloc_retained part).",
        a.resident_free_bytes,
    );
    w.opt_gauge("leakagent_malloc_arenas", "glibc malloc arenas.", a.arenas);
    let j = &m.jvm;
    w.opt_gauge("leakagent_heap_used_bytes", "Java heap in use.", j.heap_used_bytes);
    w.opt_gauge("leakagent_heap_committed_bytes", "Java heap committed.", j.heap_committed_bytes);
    w.opt_gauge("leakagent_heap_max_bytes", "Java heap limit.", j.heap_max_bytes);
    w.opt_gauge("leakagent_metaspace_used_bytes", "Metaspace in use (class space included).", j.metaspace_used_bytes);

    // The memory cgroup: what the kernel charges and the limit the OOM killer enforces.
    if let Some(c) = &m.cgroup {
        w.opt_gauge("leakagent_cgroup_limit_bytes", "The memory cgroup's limit (absent when unlimited).", c.limit);
        w.gauge("leakagent_cgroup_usage_bytes", "What the kernel charges the memory cgroup (memory.current / memory.usage_in_bytes).", c.usage as f64);
        w.gauge(
            "leakagent_cgroup_working_set_bytes",
            "Cgroup usage minus inactive page cache: what Kubernetes and Docker evict and OOM-kill on.",
            c.working_set as f64,
        );
        w.opt_gauge("leakagent_cgroup_page_cache_bytes", "Page cache charged to the cgroup.", c.page_cache);
        w.opt_gauge("leakagent_cgroup_kernel_bytes", "Kernel memory charged to the cgroup.", c.kernel);
        w.opt_gauge("leakagent_cgroup_headroom_bytes", "Limit minus working set (0 when over).", c.headroom);
        if let Some(n) = c.oom_kills {
            w.counter("leakagent_cgroup_oom_kills_total", "OOM kills inside the cgroup.", n as f64);
        }
    }
}

/// Per-site ledgers' names: one family each for live count, live bytes, created, released.
struct LedgerFamilies {
    live: (&'static str, &'static str),
    live_bytes: (&'static str, &'static str),
    created: (&'static str, &'static str),
    released: (&'static str, &'static str),
}

const ZLIB_FAMILIES: LedgerFamilies = LedgerFamilies {
    live: ("leakagent_zlib_live_streams", "zlib streams created and not yet released."),
    live_bytes: ("leakagent_zlib_live_bytes", "Estimated native memory of the live zlib streams."),
    created: ("leakagent_zlib_streams_created_total", "zlib streams created since tracking began."),
    released: ("leakagent_zlib_streams_released_total", "zlib streams released, by end() (by=end) or only by the GC (by=gc)."),
};

const DIRECT_FAMILIES: LedgerFamilies = LedgerFamilies {
    live: ("leakagent_direct_live_blocks", "DirectByteBuffers and Unsafe blocks allocated and not freed."),
    live_bytes: ("leakagent_direct_live_bytes", "Bytes of the live DirectByteBuffers and Unsafe blocks."),
    created: ("leakagent_direct_allocations_total", "DirectByteBuffer and Unsafe allocations since tracking began."),
    released: ("leakagent_direct_frees_total", "DirectByteBuffer and Unsafe frees since tracking began."),
};

/// zlib streams and direct memory, by kind, the same families for each ledger; how each tracks;
/// the JDK's direct pool.
fn native(w: &mut Writer, r: &Report) {
    let both = ledgers(r);
    for l in &both {
        let f = match l.source {
            Source::Zlib(_) => &ZLIB_FAMILIES,
            Source::Direct(_) => &DIRECT_FAMILIES,
        };
        per_kind(w, f.live, Gauge, &l.kinds, |k| k.live);
        per_kind(w, f.live_bytes, Gauge, &l.kinds, |k| k.live_bytes);
        per_kind(w, f.created, Counter, &l.kinds, |k| k.created);
        let (name, help) = f.released;
        w.family(name, Counter, help);
        for k in &l.kinds {
            match k.released {
                Released::EndOrGc { ended, by_gc } => {
                    w.sample(name, &[("kind", k.name), ("by", "end")], ended as f64);
                    w.sample(name, &[("kind", k.name), ("by", "gc")], by_gc as f64);
                }
                Released::Freed(n) => w.sample(name, &[("kind", k.name)], n as f64),
            }
        }
    }
    let n = &r.native_sampling;
    if n.tracking != super::model::Tracking::Off {
        w.gauge("leakagent_native_sampled_live_bytes", "Sampled native allocations: estimated bytes live (all sites).", n.estimated_live_bytes as f64);
        w.counter(
            "leakagent_native_sampled_allocated_bytes_total",
            "Sampled native allocations: estimated bytes allocated since tracking began.",
            n.estimated_allocated_bytes as f64,
        );
        w.family("leakagent_native_sampled_site_live_bytes", Gauge, "Estimated live bytes of the largest sampled native allocation sites.");
        // Sites that render alike (the native frames beyond the label differ) are one series:
        // Prometheus refuses a family with two samples of the same labels.
        let mut series: Vec<(String, u64)> = Vec::new();
        for s in n.sites.iter().take(10) {
            let label = crate::words::sampled_label(s);
            match series.iter_mut().find(|(l, _)| *l == label) {
                Some((_, bytes)) => *bytes += s.estimated_live_bytes,
                None => series.push((label, s.estimated_live_bytes)),
            }
        }
        for (label, bytes) in &series {
            w.sample("leakagent_native_sampled_site_live_bytes", &[("site", label.as_str())], *bytes as f64);
        }
    }
    w.family(
        "leakagent_native_tracking",
        Gauge,
        "How each native ledger tracks (tracking: full, since_attach, jdk_pool_only, off or failed); always 1.",
    );
    for l in &both {
        w.sample("leakagent_native_tracking", &[("ledger", l.name), ("tracking", l.tracking.as_str())], 1.0);
    }
    w.sample("leakagent_native_tracking", &[("ledger", "native_sampling"), ("tracking", r.native_sampling.tracking.as_str())], 1.0);
    if let Some(p) = &r.direct.jdk_pool {
        w.gauge("leakagent_direct_pool_bytes", "The JDK's own direct buffer pool: memory used.", p.memory_used_bytes as f64);
        w.opt_gauge("leakagent_direct_pool_max_bytes", "-XX:MaxDirectMemorySize (or its default).", p.max_bytes);
    }
}

/// One family of a ledger: a sample per kind.
fn per_kind(w: &mut Writer, (name, help): (&str, &str), t: Type, kinds: &[Kind], value: impl Fn(&Kind) -> u64) {
    w.family(name, t, help);
    for k in kinds {
        w.sample(name, &[("kind", k.name)], value(k) as f64);
    }
}

/// Class loaders and classes.
fn class_loaders(w: &mut Writer, c: &ClassLoaders) {
    w.gauge("leakagent_class_loaders_alive", "Class loaders alive.", c.loaders_alive as f64);
    w.counter("leakagent_class_loaders_dead_total", "Class loaders that died since the agent started.", c.loaders_dead as f64);
    w.gauge(
        "leakagent_class_loaders_suspected",
        "Class loaders that should be dead and are strongly reachable after GC (leak suspects).",
        c.leak_suspects.len() as f64,
    );
    w.gauge(
        "leakagent_class_loaders_not_strongly_reachable",
        "Class loaders that should be dead but only weak or soft references hold (not leaks).",
        c.not_strongly_reachable.len() as f64,
    );
    w.gauge("leakagent_classes_live", "Classes alive.", c.classes_live as f64);
    w.counter("leakagent_classes_loaded_total", "Classes loaded (ClassLoad events plus those found at start).", c.classes_loaded as f64);
    w.counter("leakagent_classes_unloaded_total", "Classes unloaded.", c.classes_unloaded as f64);
    w.gauge("leakagent_duplicate_classes", "Class names defined by more than one live loader.", c.duplicate_classes.len() as f64);
}

/// Every severity always (0 when none), and each kind present.
fn findings(w: &mut Writer, all: &[Finding]) {
    w.family("leakagent_findings_by_severity", Gauge, "Findings in the report, by severity.");
    for sev in Severity::ALL.into_iter().rev() {
        let n = all.iter().filter(|f| f.severity == sev).count();
        w.sample("leakagent_findings_by_severity", &[("severity", sev.name())], n as f64);
    }
    let mut by_kind: Vec<(&str, Severity, usize)> = Vec::new();
    for f in all {
        match by_kind.iter_mut().find(|(k, s, _)| *k == f.kind && *s == f.severity) {
            Some(e) => e.2 += 1,
            None => by_kind.push((&f.kind, f.severity, 1)),
        }
    }
    w.family("leakagent_findings", Gauge, "Findings in the report, by kind and severity (present ones only).");
    for (kind, sev, n) in by_kind {
        w.sample("leakagent_findings", &[("kind", kind), ("severity", sev.name())], n as f64);
    }
}

/// The agent's own health.
fn health(w: &mut Writer, r: &Report) {
    let h = &r.agent.health;
    w.counter("leakagent_agent_events_total", "JVMTI events the agent handled.", h.events as f64);
    w.counter("leakagent_agent_dropped_events_total", "Events the agent had to drop.", h.dropped as f64);
    w.counter("leakagent_agent_panics_total", "Internal errors caught inside the agent.", h.panics as f64);
    w.counter("leakagent_agent_errors_total", "Failures the agent logged.", h.errors as f64);
    w.counter("leakagent_agent_signals_total", "Report signals received.", h.signals_received as f64);
    // The JSON's health counts the reports before this one; a dashboard counts this one too (a
    // blank report, before the first, has sequence 0).
    let this_one = u64::from(r.sequence > 0);
    w.counter("leakagent_agent_reports_written_total", "Reports written, this one included.", (h.reports_written + this_one) as f64);
    w.counter("leakagent_agent_report_failures_total", "Reports that could not be written.", h.report_failures as f64);
    w.family("leakagent_agent_feature_disabled", Gauge, "Agent features switched off after an internal error (1 each).");
    for f in &h.disabled_features {
        w.sample("leakagent_agent_feature_disabled", &[("feature", f)], 1.0);
    }
}

#[derive(Clone, Copy)]
enum Type {
    Gauge,
    Counter,
}
use Type::{Counter, Gauge};

/// `host`, `app` (the main class or jar's file name), `pod` and `namespace`, where known.
pub fn identity_labels(o: &Origin) -> Vec<(&'static str, String)> {
    let app = o.main.as_deref().map(|m| m.rsplit('/').next().unwrap_or(m).to_string());
    [("host", Some(o.host.clone()).filter(|h| !h.is_empty())), ("app", app), ("pod", o.pod.clone()), ("namespace", o.namespace.clone())]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect()
}

struct Writer {
    out: String,
    base: Vec<(String, String)>,
}

impl Writer {
    /// `help` is a fixed text without quotes (Go's parser refuses `\"` in HELP, others a bare `"`).
    fn family(&mut self, name: &str, t: Type, help: &str) {
        let t = match t {
            Gauge => "gauge",
            Counter => "counter",
        };
        let _ = writeln!(self.out, "# HELP {name} {}", help.replace('\\', "\\\\").replace('\n', "\\n"));
        let _ = writeln!(self.out, "# TYPE {name} {t}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        self.out.push('{');
        let all = self.base.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(labels.iter().copied());
        for (i, (k, v)) in all.enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
        }
        let _ = writeln!(self.out, "}} {value}");
    }

    fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, Gauge, help);
        self.sample(name, &[], value);
    }

    fn counter(&mut self, name: &str, help: &str, value: f64) {
        self.family(name, Counter, help);
        self.sample(name, &[], value);
    }

    /// A gauge the report may not have (allocator without the statistic, JVM without the pool).
    fn opt_gauge(&mut self, name: &str, help: &str, value: Option<u64>) {
        if let Some(v) = value {
            self.gauge(name, help, v as f64);
        }
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{test_report, Finding, Part, RssPart, Subject};

    fn finding(kind: &str, severity: Severity) -> Finding {
        Finding { severity, kind: kind.into(), summary: "s".into(), fix: "f".into(), subject: Subject::default() }
    }

    #[test]
    fn labels_escaped_and_every_series_has_pid_and_constant_labels() {
        let mut r = test_report();
        r.jvm.vm_name = "Open \"JDK\"\\ VM\n".into();
        r.memory.rss_bytes = 1000;
        r.memory.explanation = vec![Part { part: RssPart::JavaHeap, bytes: 600, note: String::new() }, Part { part: RssPart::Other, bytes: 400, note: String::new() }];
        let text = render(&r, &[("app".into(), "shop".into()), ("pid".into(), "ignored".into())]);
        assert!(text.contains(r#"vm_name="Open \"JDK\"\\ VM\n""#), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.starts_with("leakagent_"), "{line}");
            assert!(line.contains("{pid=\"4242\",app=\"shop\""), "{line}");
        }
        assert!(text.contains("leakagent_rss_part_bytes{pid=\"4242\",app=\"shop\",part=\"java_heap\"} 600\n"), "{text}");
        assert!(!text.contains("ignored"));
    }

    #[test]
    fn sampled_sites_that_render_alike_are_one_series() {
        use crate::model::{SampledSite, Tracking};
        let mut r = test_report();
        r.native_sampling.tracking = Tracking::Full;
        let site = |second: &str, bytes| SampledSite {
            library: Some("libjvm.so".into()),
            function: Some("os::malloc".into()),
            stack: vec!["libjvm.so!os::malloc".into(), "libjvm.so!AllocateHeap".into(), "libjvm.so!a".into(), second.into()],
            estimated_live_bytes: bytes,
            ..SampledSite::default()
        };
        r.native_sampling.sites = vec![site("libjvm.so!b", 100), site("libjvm.so!c", 20)];
        let text = render(&r, &[]);
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("leakagent_native_sampled_site_live_bytes{")).collect();
        assert_eq!(rows.len(), 1, "{text}");
        assert!(rows[0].ends_with(" 120"), "{text}");
    }

    #[test]
    fn reports_written_counts_this_one() {
        let mut r = test_report();
        r.agent.health.reports_written = 2;
        assert!(render(&r, &[]).contains("leakagent_agent_reports_written_total{pid=\"4242\"} 3\n"));
        r.sequence = 0;
        assert!(render(&r, &[]).contains("leakagent_agent_reports_written_total{pid=\"4242\"} 2\n"));
    }

    #[test]
    fn series_carry_the_jvms_identity() {
        let mut r = test_report();
        r.origin = Origin { host: "web-7f9".into(), main: Some("/app/shop.jar".into()), pod: Some("web-7f9".into()), namespace: Some("prod".into()), ..Origin::default() };
        let text = render(&r, &[("app".into(), "override".into())]);
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.contains("{pid=\"4242\",host=\"web-7f9\",pod=\"web-7f9\",namespace=\"prod\",app=\"override\""), "{line}");
        }
        assert_eq!(identity_labels(&r.origin)[1], ("app", "shop.jar".to_string()));
    }

    #[test]
    fn cgroup_numbers_and_headroom() {
        let mut r = test_report();
        assert!(!render(&r, &[]).contains("leakagent_cgroup_"), "no cgroup, no series");
        r.memory.cgroup = Some(crate::model::Cgroup {
            version: 1,
            limit: Some(1000),
            usage: 900,
            working_set: 700,
            headroom: Some(300),
            ..Default::default()
        });
        let text = render(&r, &[]);
        for want in ["leakagent_cgroup_limit_bytes{pid=\"4242\"} 1000\n", "leakagent_cgroup_working_set_bytes{pid=\"4242\"} 700\n", "leakagent_cgroup_headroom_bytes{pid=\"4242\"} 300\n"] {
            assert!(text.contains(want), "{want}: {text}");
        }
        assert!(!text.contains("leakagent_cgroup_kernel_bytes"), "unknown numbers are absent, not 0");
    }

    #[test]
    fn findings_by_severity_always_present_and_by_kind_counted() {
        let mut r = test_report();
        r.findings = vec![finding("classloader_leak", Severity::Critical), finding("classloader_leak", Severity::Critical), finding("zlib_not_ended", Severity::Warning)];
        let text = render(&r, &[]);
        assert!(text.contains("leakagent_findings_by_severity{pid=\"4242\",severity=\"info\"} 0\n"), "{text}");
        assert!(text.contains("leakagent_findings{pid=\"4242\",kind=\"classloader_leak\",severity=\"critical\"} 2\n"), "{text}");
        assert!(text.contains("leakagent_findings{pid=\"4242\",kind=\"zlib_not_ended\",severity=\"warning\"} 1\n"), "{text}");
    }

    #[test]
    fn every_family_has_one_help_and_type_before_its_samples() {
        let text = render(&test_report(), &[]);
        let mut declared: Vec<&str> = Vec::new();
        for line in text.lines() {
            assert!(!(line.starts_with("# HELP") && line.contains('"')), "parsers disagree on quotes in HELP: {line}");
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let name = rest.split(' ').next().unwrap();
                assert!(!declared.contains(&name), "{name} declared twice");
                declared.push(name);
            } else if !line.starts_with('#') {
                let name = line.split('{').next().unwrap();
                assert_eq!(declared.last(), Some(&name), "{line} outside its family");
                if name.ends_with("_total") {
                    assert!(text.contains(&format!("# TYPE {name} counter")));
                }
            }
        }
    }

    #[test]
    fn label_names() {
        assert!(valid_label_name("app") && valid_label_name("_x1"));
        assert!(!valid_label_name("1x") && !valid_label_name("a-b") && !valid_label_name("__x") && !valid_label_name(""));
    }
}
