use super::*;
use crate::model::{test_report, Cgroup, Finding, HopKind, LeakSuspect, Part, PathHop, RssPart, Sample, Subject, TriggerDetail};

#[test]
fn trigger_detail_and_cgroup() {
    let mut r = test_report();
    r.memory.rss_bytes = 100 << 20;
    r.memory.cgroup = Some(Cgroup { version: 2, limit: Some(512 << 20), usage: 300 << 20, working_set: 280 << 20, headroom: Some(232 << 20), ..Cgroup::default() });
    r.trigger_detail = Some(TriggerDetail { summary: "rss_limit crossed <now>".into(), ..TriggerDetail::default() });
    let page = render(&r);
    assert!(page.contains("<p><b>Why:</b> rss_limit crossed &lt;now&gt;</p>"), "{page}");
    assert!(page.contains("cgroup v2: limit 512.0 MiB, working set 280.0 MiB (usage 300.0 MiB minus inactive page cache), 232.0 MiB headroom"), "{page}");
}

#[test]
fn escapes_everything_from_the_jvm() {
    assert_eq!(esc("<a href=\"x\">&'</a>"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;");
    let mut r = test_report();
    r.findings.push(Finding { severity: Severity::Critical, kind: "k".into(), summary: "<script>alert(1)</script>".into(), fix: "f".into(), subject: Subject::default() });
    let page = render(&r);
    assert!(!page.contains("<script>alert"));
    assert_eq!(page.matches("<script>").count(), 1, "only the page's own table sorter");
    assert!(page.contains("&lt;script&gt;"));
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
    assert!(!page.contains("{{"), "every marker is filled");
}

#[test]
fn charts_and_chains_are_drawn() {
    let mut r = test_report();
    r.memory.rss_bytes = 100 << 20;
    r.memory.explanation = vec![
        Part { part: RssPart::JavaHeap, bytes: 60 << 20, note: String::new() },
        Part { part: RssPart::MallocRetained, bytes: 40 << 20, note: String::new() },
    ];
    r.samples = (0..5).map(|i| Sample { t_ms: i * 1000, rss_bytes: (50 + i) << 20, ..Sample::default() }).collect();
    r.class_loaders.leak_suspects.push(LeakSuspect {
        loader_id: 3,
        path: vec![PathHop { from: "A".into(), field: "f".into(), kind: HopKind::StaticField, to: "B".into(), to_loader: Some(3) }],
        culprit_hop: Some(0),
        ..LeakSuspect::default()
    });
    let page = render(&r);
    assert_eq!(page.matches("<rect").count(), 2);
    assert!(page.contains("<polyline"));
    assert!(page.contains("class=culprit"));
    assert!(page.contains("A.f"));
}

#[test]
fn the_page_leads_with_the_verdict_and_folds_the_root_hops() {
    let mut r = test_report();
    r.findings.push(Finding { severity: Severity::Critical, kind: "classloader_leak".into(), summary: "3 loaders are pinned. More words.".into(), fix: "stop the thread".into(), subject: Subject::default() });
    let hop = |from: &str, kind: &str, to: &str| PathHop { from: from.into(), field: "f".into(), kind: HopKind::parse(kind).unwrap(), to: to.into(), to_loader: None };
    for id in [3, 4] {
        r.class_loaders.leak_suspects.push(LeakSuspect {
            loader_id: id,
            path: vec![hop("java.lang.Thread", "thread", "java.lang.ThreadGroup"), hop("java.lang.ThreadGroup", "field", "Worker"), hop("Worker", "field", "Loader")],
            culprit_hop: Some(2),
            fix: "stop the thread".into(),
            explanation: "a thread keeps them".into(),
            ..LeakSuspect::default()
        });
    }
    let page = render(&r);
    let verdict = page.find("<ul class=verdict>").unwrap();
    assert!(verdict < page.find("id=findings").unwrap() && page.find("id=findings").unwrap() < page.find("id=leaks").unwrap());
    assert!(page.contains("3 loaders are pinned. <a href=\"#leaks\">the chain</a>"), "first sentence and a link: {page}");
    assert_eq!(page.matches("<details class=root>").count(), 1, "one chain per cause, the hops above the holder folded");
    assert!(page.contains("<ol class=chain start=2><li class=culprit>"));
    assert_eq!(page.matches("<b>Fix:</b> stop the thread").count(), 2, "the finding's fix, and the group's fix once");
    assert!(page.contains("1 more loader(s) with the same culprit and fix: 4"), "{page}");
    assert!(page.contains("<nav class=toc>"));
}

#[test]
fn native_sites_are_listed_with_their_stacks() {
    use crate::model::ZlibSite;
    let mut r = test_report();
    r.zlib.sites.push(ZlibSite {
        kind: crate::model::ZlibKind::Inflater,
        stack: vec!["java.util.zip.Inflater.init(Native Method)".into(), "app.Loader.open(Loader.java:7)".into()],
        app_frame: Some("app.Loader.open(Loader.java:7)".into()),
        created: 41,
        released_by_gc: 40,
        live: 1,
        ..ZlibSite::default()
    });
    let page = render(&r);
    assert!(page.contains("<h2 id=zlib>zlib streams</h2>"));
    assert!(page.contains("<summary class=mono>app.Loader.open(Loader.java:7)</summary>"));
    assert!(page.contains("<td class=n>41</td>"));
}
