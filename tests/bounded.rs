//! Bounded memory and disk over weeks: loader churn keeps the native ledgers' sites and method
//! cache bounded, reports are retained by a rule, the JSON lines file rolls, interval reports do
//! not force a full GC, and no duration can overflow a deadline. Each test runs real JVMs.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LOADERS: u64 = 3000;

/// Every loader's copy of the same code reaches zlib through its own jmethodIDs: the sites are
/// keyed by what the user reads, so 3000 loaders make two sites, not 6000 (with the smallest
/// `max_sites` the table would have overflowed into `<other sites>` after 16 loaders), and the
/// method cache holds no loader's copy.
#[test]
fn churned_loaders_share_their_sites_and_are_forgotten() {
    let mut jvm = Jvm::test_program("zip-churn", "ZipChurn", &[&LOADERS.to_string(), "0"]).options("max_sites=16").start();
    jvm.wait_for_line("HARNESS ready", Duration::from_secs(120));
    // While the last loaders' copies are alive, their sites are listed like any other.
    jvm.signal(rtmin(2));
    let r = jvm.wait_for_reports(1, Duration::from_secs(60)).remove(0);
    let f = jvm.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert_eq!(f.truth("loaders_created"), LOADERS);
    let h = &r.agent.health;
    let z = &r.zlib;
    assert_eq!(h.site_overflow_events, 0, "the site table filled: {h:?}");
    assert!(
        z.sites.iter().all(|s| !s.stack.iter().any(|f| f.starts_with("<other sites"))),
        "{:#?}",
        z.sites.iter().map(|s| (&s.stack[0], s.created)).collect::<Vec<_>>()
    );
    assert!(z.totals.sites <= 10, "{} sites for two places in the code", z.totals.sites);
    assert_eq!(z.totals.created, 2 * LOADERS, "no stream lost its count: {:?}", z.totals);
    assert_eq!(z.totals.ended_explicitly, 2 * LOADERS);
    // Each loader's copy has three methods on the walked stacks (run, deflate, inflate). The
    // agent makes no jmethodID for them (HotSpot would keep its memory for good): they are named
    // from stack traces, one entry per place in the code, so nothing per loader is cached, and
    // the two sites name the churned code itself (sites of ids that unloading does invalidate
    // are still forgotten and evicted; nothing here has one).
    assert!(h.methods_cached <= 300, "the method cache holds {} methods after {LOADERS} loaders", h.methods_cached);
    for place in ["ZipChurnWorker.deflate(ZipChurnWorker.java:", "ZipChurnWorker.inflate(ZipChurnWorker.java:"] {
        assert!(z.sites.iter().any(|s| s.stack.iter().any(|f| f.starts_with(place))), "no site names {place}: {:#?}", z.sites);
    }
    let evicted: Vec<_> = z.sites.iter().filter(|s| s.stack[0].starts_with("<sites evicted")).collect();
    assert!(evicted.iter().all(|s| s.live == 0), "{evicted:#?}");
    // The exit report: the same bounds.
    let d = f.death_report();
    assert_eq!(d.agent.health.site_overflow_events, 0);
    assert_eq!(d.zlib.totals.created, 2 * LOADERS);
}

/// Report files of this process, oldest first (by sequence in the name `report-N.json`).
fn our_reports(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut v: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            let n = name.strip_prefix("report-")?.strip_suffix(".json")?.parse().ok()?;
            Some((n, p))
        })
        .collect();
    v.sort();
    v
}

/// `keep=3`: at most three reports of this process stay, the newest ones, each with its text
/// sibling; another file with a report's name is never touched. The JSON lines file rolls to
/// `.1` at `jsonl_max`, so the pair stays bounded.
#[test]
fn reports_are_retained_by_count_and_the_jsonl_file_rolls() {
    let jvm = Jvm::scenario("retention", "healthy").options("interval=1s,keep=3,format=text+jsonl,jsonl_max=4k");
    let foreign = jvm.dir.join("report-999.json");
    std::fs::write(&foreign, b"not ours").unwrap();
    let jvm = jvm.start();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    let jsonl = jvm.dir.join(format!("leakagent-{host}-{}.jsonl", jvm.pid()));
    let rolled = PathBuf::from(format!("{}.1", jsonl.display()));
    let start = Instant::now();
    // Interval reports until the JSON lines file has rolled and more than `keep` were written.
    while !(rolled.exists() && our_reports(&jvm.dir).iter().any(|(n, _)| *n >= 6)) {
        assert!(start.elapsed() < Duration::from_secs(90), "no roll of {} within 90 s", jsonl.display());
        std::thread::sleep(Duration::from_millis(100));
    }
    let f = jvm.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert_eq!(std::fs::read(&foreign).unwrap(), b"not ours", "another file is never removed");
    let ours: Vec<(u64, PathBuf)> = our_reports(&f.dir).into_iter().filter(|(n, _)| *n != 999).collect();
    assert_eq!(ours.len(), 3, "{ours:?}");
    let last = read_report(&ours[2].1);
    assert_eq!(last.trigger, Trigger::VmDeath, "the newest report is kept");
    let seqs: Vec<u64> = ours.iter().map(|(_, p)| read_report(p).sequence).collect();
    assert_eq!(seqs, [last.sequence - 2, last.sequence - 1, last.sequence], "the newest three stay");
    // Counted when the report is built: up to the previous report, which left three.
    assert_eq!(last.agent.health.reports_removed, last.sequence - 1 - 3);
    let texts: Vec<_> = std::fs::read_dir(&f.dir).unwrap().flatten().filter(|e| e.path().extension().is_some_and(|x| x == "txt")).collect();
    assert_eq!(texts.len(), 3, "each removed report's text went with it");
    for (_, p) in &ours {
        assert!(p.with_extension("txt").exists(), "{}", p.display());
    }
    // The JSON lines: both files under the bound, every line a whole report line, the last one
    // the exit report's.
    for p in [&jsonl, &rolled] {
        let len = std::fs::metadata(p).unwrap().len();
        assert!(len <= 4096, "{} has {len} bytes", p.display());
    }
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&rolled)
        .unwrap()
        .lines()
        .chain(std::fs::read_to_string(&jsonl).unwrap().lines())
        .map(|l| serde_json::from_str(l).expect("whole JSON lines"))
        .collect();
    let sequences: Vec<u64> = lines.iter().map(|l| get(l, "sequence").as_u64().unwrap()).collect();
    let first = sequences[0];
    assert_eq!(sequences, (first..=last.sequence).collect::<Vec<_>>(), "the predecessor, then the file, in order");
    assert!(std::fs::read_to_string(&jsonl).unwrap().lines().count() < sequences.len());
}

/// Interval reports run without a full GC unless `interval_gc=on`, and say so; a report asked
/// for by signal keeps its GC.
#[test]
fn interval_reports_skip_the_gc_unless_asked() {
    let mut jvm = Jvm::scenario("interval-nogc", "healthy").options("interval=1s").start();
    let first = jvm.wait_for_reports(1, Duration::from_secs(60)).remove(0);
    assert_eq!(first.trigger, Trigger::Interval);
    assert!(!first.class_loaders.gc_before_report);
    let why = first.class_loaders.gc_skipped.clone().unwrap_or_default();
    assert!(why.contains("interval_gc=off"), "{why:?}");
    jvm.signal(rtmin(2));
    let start = Instant::now();
    let signalled = loop {
        if let Some(r) = reports_in(&jvm.dir).into_iter().find(|r| r.trigger == Trigger::Signal) {
            break r;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no signal report");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(signalled.class_loaders.gc_before_report, "{:?}", signalled.class_loaders.gc_skipped);
    let f = jvm.finish();
    assert_eq!(f.code, Some(0));
    assert!(f.death_report().class_loaders.gc_before_report);

    let mut jvm = Jvm::scenario("interval-gc", "healthy").options("interval=1s,interval_gc=on").start();
    let first = jvm.wait_for_reports(1, Duration::from_secs(60)).remove(0);
    assert_eq!(first.trigger, Trigger::Interval);
    assert!(first.class_loaders.gc_before_report, "{:?}", first.class_loaders.gc_skipped);
    assert_eq!(jvm.finish().code, Some(0));
}

/// `interval=18446744073709551615s` was accepted, then its deadline overflowed in the report
/// thread, which died and took signal reports with it. Now it is refused at start-up naming
/// the range, and the longest interval allowed leaves signal reports working.
#[test]
fn a_huge_interval_is_refused_and_the_longest_allowed_keeps_signal_reports() {
    let f = Jvm::scenario("huge-interval", "healthy").options("interval=18446744073709551615s").run();
    assert_ne!(f.code, Some(0), "the JVM must refuse to start");
    for needle in ["'interval'", "'18446744073709551615s'", "from 1s to 720h"] {
        assert!(f.stderr.contains(needle), "stderr lacks {needle}:\n{}", f.stderr);
    }
    assert!(f.reports().is_empty());

    let mut jvm = Jvm::scenario("longest-interval", "healthy").options("interval=720h").start();
    for n in 1..=2 {
        jvm.signal(rtmin(2));
        jvm.wait_for_reports(n, Duration::from_secs(60));
    }
    let f = jvm.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let r = f.reports();
    assert_eq!(r.iter().filter(|r| r.trigger == Trigger::Signal).count(), 2);
    assert_eq!(r.last().unwrap().agent.health.panics, 0);
}
