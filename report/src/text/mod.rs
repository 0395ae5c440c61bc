//! Plain-text rendering for people: findings first, then the evidence, one file per section.

mod loaders;
mod memory;
mod native;

pub use loaders::{
    cause_key, chain_search_sentence, group_note, loader_name, loader_rows, numbers_as_one, stopped_at_exit_sentence,
    suspect_groups, LoaderRow,
};
pub use memory::unlimited_cgroup;
pub use native::pool_note;

use super::model::{Origin, Report, Severity};
// Phrase helpers that moved to words.rs, re-exported for the renderers and the CLI.
pub use crate::words::{reasons_text, site_labels, site_place};
use std::borrow::Cow;
use std::fmt::Write;

/// Host, main, pod and container in one line (the JVM options stay in the JSON); None when the
/// report has no origin (written before it was recorded).
pub fn origin_line(o: &Origin) -> Option<String> {
    let mut parts = Vec::new();
    if !o.host.is_empty() {
        parts.push(format!("host {}", o.host));
    }
    if let Some(m) = &o.main {
        parts.push(format!("main {m}"));
    }
    match (&o.namespace, &o.pod) {
        (Some(ns), Some(pod)) => parts.push(format!("pod {ns}/{pod}")),
        (None, Some(pod)) => parts.push(format!("pod {pod}")),
        _ => {}
    }
    if let Some(c) = &o.container_id {
        parts.push(format!("container {}", &c[..c.len().min(12)]));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// `s` with every control character (C0, DEL, C1: ESC starts a terminal's escape sequences)
/// written as `\xNN` or `\u{NNNN}`, so class, thread and MBean names, which the application
/// chooses, print as text and never drive the terminal they are read on. `keep_newlines` leaves
/// `\n` alone, for a rendered page whose own lines end with it.
pub fn escape_controls(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let escaped = |c: char| c.is_control() && !(keep_newlines && c == '\n');
    if !s.chars().any(escaped) {
        return Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            c if !escaped(c) => o.push(c),
            c if (c as u32) < 0x80 => {
                let _ = write!(o, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(o, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(o)
}

/// The page, its control characters escaped (see `escape_controls`).
pub fn render(r: &Report) -> String {
    let page = render_page(r);
    match escape_controls(&page, true) {
        Cow::Borrowed(_) => page,
        Cow::Owned(escaped) => escaped,
    }
}

fn render_page(r: &Report) -> String {
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
    if let Some(origin) = origin_line(&r.origin) {
        let _ = writeln!(o, "From: {origin}");
    }
    if let Some(d) = &r.trigger_detail {
        let _ = writeln!(o, "Why: {}", d.summary);
    }
    o.push('\n');

    if r.findings.is_empty() {
        o.push_str("Findings: none\n");
    } else {
        let _ = writeln!(o, "Findings ({}):", r.findings.len());
        for f in &r.findings {
            // Warnings and worse stand out in capitals.
            let sev = if f.severity > Severity::Info { f.severity.name().to_uppercase() } else { f.severity.name().to_string() };
            let _ = writeln!(o, "  [{sev}] {}: {}", f.kind, f.summary);
            let _ = writeln!(o, "      fix: {}", f.fix);
        }
    }
    o.push('\n');

    loaders::section(&mut o, &r.class_loaders);
    native::sections(&mut o, r);
    memory::section(&mut o, r);

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    #[test]
    fn control_characters_from_the_application_are_escaped() {
        assert_eq!(escape_controls("\u{1b}[31mred\u{7f}\u{9b}2J\tok\n", false), "\\x1b[31mred\\x7f\\u{9b}2J\\x09ok\\x0a");
        assert_eq!(escape_controls("a\nb", true), "a\nb");
        assert!(matches!(escape_controls("plain Jörg 😀", false), Cow::Borrowed(_)));
        let mut r = test_report();
        r.findings.push(Finding {
            severity: Severity::Warning,
            kind: "k".into(),
            summary: "thread \u{1b}]0;owned\u{7}".into(),
            fix: "f".into(),
            subject: Subject::default(),
        });
        let page = render(&r);
        assert!(page.contains("thread \\x1b]0;owned\\x07"), "{page}");
        assert!(!page.chars().any(|c| c.is_control() && c != '\n'));
    }

    fn native_report() -> Report {
        let mut z = Zlib { tracking: Tracking::Full, ..Zlib::default() };
        z.totals.created = 1104;
        z.totals.released_by_gc = 1104;
        z.totals.sites = 1;
        z.sites.push(ZlibSite {
            id: 4,
            kind: ZlibKind::Inflater,
            stack: vec!["java.util.zip.Inflater.init(Native Method)".into()],
            app_frame: Some("x.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:29)".into()),
            created: 1104,
            released_by_gc: 1104,
            ..ZlibSite::default()
        });
        let mut d = Direct {
            tracking: Tracking::JdkPoolOnly,
            reason: Some("the agent was attached to a running JVM".into()),
            jdk_pool: Some(JdkPool { count: 3, total_capacity_bytes: 3_000_009, memory_used_bytes: 3_000_009, max_bytes: None }),
            ..Direct::default()
        };
        d.totals.live_count = 0;
        Report { zlib: z, direct: d, ..test_report() }
    }

    #[test]
    fn native_sections_show_totals_sites_and_why_tracking_is_partial() {
        let t = render(&native_report());
        assert!(t.contains("zlib streams: 1104 created, 0 ended explicitly, 1104 freed only by GC, 0 live"), "{t}");
        assert!(t.contains("x.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:29)"), "{t}");
        assert!(t.contains("tracking: jdk_pool_only (the agent was attached to a running JVM)"), "{t}");
        assert!(t.contains("JDK direct pool: 3 buffers, 2.9 MiB capacity"), "{t}");
        assert!(!t.contains("tracking: full"), "full tracking needs no line");
        assert!(!t.contains("a pool"), "{t}");
    }

    #[test]
    fn a_pool_site_says_so_on_its_row() {
        let mut r = native_report();
        r.zlib.sites[0].pool = Some(crate::model::ZlibPool { size: 102, high_water: 104, reuses: 3988 });
        let t = render(&r);
        assert!(t.contains("x.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:29) [a pool, not a leak: 102 live, high-water 104, reused 3988 times]"), "{t}");
    }

    const M: u64 = 1 << 20;

    #[test]
    fn memory_section_shows_parts_trim_mappings_and_samples() {
        let mut r = test_report();
        r.memory = Memory {
            rss_bytes: 400 * M,
            summary: "RSS is 400.0 MiB. It is all glibc's.".into(),
            explanation: vec![
                Part { part: RssPart::JavaHeap, bytes: 10 * M, note: "heap".into() },
                Part { part: RssPart::MallocRetained, bytes: 390 * M, note: "kept".into() },
            ],
            malloc: Malloc {
                allocator: crate::model::Allocator::Glibc,
                version: Some("2.36".into()),
                library: "/lib/x86_64-linux-gnu/libc.so.6".into(),
                source: "mallinfo2".into(),
                in_use_bytes: Some(5 * M),
                free_bytes: Some(900 * M),
                resident_free_bytes: Some(390 * M),
                arenas: Some(9),
                arena_max: Some(16),
                arena_max_source: "glibc default: 8 per core, 2 cores".into(),
                ..Malloc::default()
            },
            regions: vec![Region { kind: "malloc_arena_heaps".into(), count: 9, size_bytes: 576 * M, rss_bytes: 390 * M, recognised_by: "windows".into(), ..Region::default() }],
            unrecognised: vec![Unrecognised { address: "0x7f00c0000000".into(), size_bytes: 2 * M, rss_bytes: M, perms: "rw-p".into() }],
            trim: Some(Trim { performed: true, call: "malloc_trim(0)".into(), rss_before_bytes: 400 * M, rss_after_bytes: 60 * M, released_bytes: 340 * M, ..Trim::default() }),
            sampler: SamplerInfo { interval_ms: Some(1000), capacity: 600, taken: 3, ..SamplerInfo::default() },
            notes: vec!["a caveat".into()],
            ..Memory::default()
        };
        r.samples = (0..3).map(|i| Sample { t_ms: 1000 * i, rss_bytes: (700 - 300 * i) * M, ..Sample::default() }).collect();
        let t = render(&r);
        assert!(t.contains("Memory: RSS 400.0 MiB; allocator glibc 2.36 (/lib/x86_64-linux-gnu/libc.so.6), 9 arenas, limit 16"), "{t}");
        assert!(t.contains("  RSS is 400.0 MiB. It is all glibc's."));
        assert!(t.contains("  malloc_retained       390.0  kept"), "{t}");
        let mut r = r.clone();
        r.memory.cgroup = Some(Cgroup { version: 2, limit: Some(512 * M), usage: 450 * M, working_set: 420 * M, headroom: Some(92 * M), percent_of_limit: Some(82.0), page_cache: Some(40 * M), kernel: Some(8 * M), ..Cgroup::default() });
        r.trigger_detail = Some(TriggerDetail { summary: "rss_limit crossed: 3.0 GiB".into(), ..TriggerDetail::default() });
        let t2 = render(&r);
        assert!(t2.contains("cgroup v2: limit 512.0 MiB, usage 450.0 MiB, working set 420.0 MiB (usage - inactive page cache) = 82% of the limit, 92.0 MiB headroom; page cache 40.0 MiB, kernel 8.0 MiB"), "{t2}");
        assert!(t2.contains("Why: rss_limit crossed"), "{t2}");
        assert!(t.contains("trim: malloc_trim(0) released 340.0 MiB (RSS 400.0 -> 60.0 MiB"), "{t}");
        assert!(t.contains("malloc_arena_heaps        9        576.0      390.0  windows"), "{t}");
        assert!(t.contains("largest unrecognised: 0x7f00c0000000 rw-p 2048 KiB rss 1024 KiB"), "{t}");
        assert!(t.contains("samples: 3 kept of 3 taken, every 1000 ms"), "{t}");
        assert!(t.contains("peak 700.0 MiB at 0.0 s, 100.0 MiB at 2.0 s"), "{t}");
        assert!(t.contains("note: a caveat"));
    }

    #[test]
    fn loaders_are_named_as_users_know_them_and_reflection_loaders_are_one_row() {
        let mut r = test_report();
        let l = |id: u32, class: &str, label: Option<&str>, sample: Option<&str>, classes: u64| Loader {
            id,
            class: class.into(),
            role: LoaderRole::Other,
            label: label.map(Into::into),
            sample_class: sample.map(Into::into),
            classes,
            alive: true,
            ..Loader::default()
        };
        r.class_loaders.loaders = vec![
            l(5, "org.apache.catalina.loader.ParallelWebappClassLoader", Some("/examples"), Some("async.Stockticker"), 29),
            l(6, "org.apache.jasper.servlet.JasperLoader", Some("/examples/jsp/dates/date.jsp"), Some("org.apache.jsp.jsp.dates.date_jsp"), 1),
            l(7, "groovy.lang.GroovyClassLoader$InnerLoader", None, Some("Script1"), 2),
        ];
        for id in 10..82 {
            r.class_loaders.loaders.push(l(id, "jdk.internal.reflect.DelegatingClassLoader", None, Some("jdk.internal.reflect.GeneratedMethodAccessor1"), 1));
        }
        r.class_loaders.leak_suspects.push(LeakSuspect {
            loader_id: 6,
            loader_label: Some("/examples/jsp/dates/date.jsp".into()),
            reasons: vec![crate::model::SuspectReason::Superseded],
            superseded_by: Some(9),
            ..LeakSuspect::default()
        });
        let t = render(&r);
        assert!(t.contains("org.apache.catalina.loader.ParallelWebappClassLoader '/examples'"), "{t}");
        assert!(t.contains("groovy.lang.GroovyClassLoader$InnerLoader (defines Script1 and 1 more)"), "{t}");
        assert!(t.contains("72 × jdk.internal.reflect.DelegatingClassLoader: the JDK's reflection accessors"), "{t}");
        assert_eq!(t.matches("DelegatingClassLoader").count(), 1, "{t}");
        assert!(t.contains("should be dead: superseded by #9"), "{t}");
    }

    #[test]
    fn loaders_stopped_at_exit_are_explained_not_silently_excused() {
        let mut r = test_report();
        r.class_loaders.stopped_at_exit = vec![7];
        let t = render(&r);
        assert!(t.contains("Loader 7 was closed or stopped during shutdown") && t.contains("it is not accused"), "{t}");
        r.class_loaders.stopped_at_exit = vec![7, 9];
        assert!(crate::html::render(&r).contains("Loaders 7, 9 were closed or stopped during shutdown"));
    }

    #[test]
    fn sampler_off_is_said() {
        let t = render(&test_report());
        assert!(t.contains("samples: sampler off"), "{t}");
    }

    #[test]
    fn an_unlimited_cgroup_is_said_to_be_shared() {
        let c = Cgroup { version: 1, usage: 1500 << 20, working_set: 1000 << 20, page_cache: Some(1400 << 20), kernel: Some(55 << 20), ..Cgroup::default() };
        let line = unlimited_cgroup(&c);
        assert_eq!(
            line,
            "cgroup v1: no memory limit; the cgroup charges 1500.0 MiB to all of its processes, not to this JVM alone (working set 1000.0 MiB, page cache 1400.0 MiB, kernel 55.0 MiB)"
        );
    }
}

