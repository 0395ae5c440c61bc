//! `leakagent diff OLD NEW`: what changed between two reports, biggest growth first.
//!
//! Two reports of one process (same pid and start time) are compared loader by loader id; two
//! runs are compared by what survives a restart: loaders by class and label or name (digits at
//! the end and long digit runs such as a temporary directory's random suffix dropped, so
//! `app-gen-3` matches `app-gen-1`), suspects likewise, sites by kind and stack, findings by
//! kind and subject.

mod text;

use crate::io::{read_report, Strings};
use crate::error::{Exit, Failure};
use text::render;
use leakagent_report::ledger::{ledgers, Ledger};
use leakagent_report::model::{ClassLoaders, Finding, LeakSuspect, Loader, Report};
use leakagent_report::text::site_place;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Reports of one process have start times (time minus uptime) this close.
const SAME_START_MS: i64 = 2000;

pub fn run(old: &Path, new: &Path, json: bool, top: usize) -> Result<Exit, Failure> {
    // Text is read on a terminal: the application's names with their control characters escaped.
    let strings = if json { Strings::Raw } else { Strings::Escaped };
    let (a, b) = (read_report(old, strings)?, read_report(new, strings)?);
    let d = compare(&a, &b, &old.display().to_string(), &new.display().to_string());
    let out = if json {
        let mut s = serde_json::to_string_pretty(&d).expect("the diff is plain data");
        s.push('\n');
        s
    } else {
        render(&d, if top == 0 { usize::MAX } else { top })
    };
    crate::io::emit(None, out.as_bytes())?;
    Ok(Exit::Success)
}

#[derive(Serialize, Debug)]
pub struct Diff {
    pub old: Side,
    pub new: Side,
    /// Same pid and start time: loader ids are comparable.
    pub same_process: bool,
    /// Milliseconds from the old report to the new one.
    pub elapsed_ms: i64,
    pub findings: FindingsDiff,
    pub class_loaders: LoadersDiff,
    pub rss: RssDiff,
    pub zlib: SitesDiff,
    pub direct: SitesDiff,
}

#[derive(Serialize, Debug)]
pub struct Side {
    pub path: String,
    pub pid: u32,
    pub sequence: u64,
    pub trigger: String,
    pub time: String,
    pub uptime_ms: u64,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub old: u64,
    pub new: u64,
    pub delta: i64,
}

fn change(old: u64, new: u64) -> Change {
    Change { old, new, delta: new as i64 - old as i64 }
}

#[derive(Serialize, Debug)]
pub struct FindingsDiff {
    /// In NEW and not in OLD (matched by kind, culprit, holder and site), worst first.
    pub new: Vec<Finding>,
    /// In OLD and not in NEW.
    pub resolved: Vec<Finding>,
    pub unchanged: usize,
}

#[derive(Serialize, Debug)]
pub struct LoadersDiff {
    pub alive: Change,
    pub dead: Change,
    pub suspects: Change,
    pub classes_live: Change,
    pub classes_loaded: Change,
    pub classes_unloaded: Change,
    pub duplicate_classes: Change,
    pub new_duplicate_classes: Vec<String>,
    /// Same process only: loaders in NEW that OLD did not know (alive or not by now).
    pub born: Vec<LoaderRow>,
    /// Same process only: loaders alive in OLD and dead in NEW.
    pub died: Vec<LoaderRow>,
    pub new_suspects: Vec<SuspectRow>,
    pub gone_suspects: Vec<SuspectRow>,
    /// Live loaders by class and name stem, where the count changed, largest growth first.
    pub by_kind: Vec<KindRow>,
}

#[derive(Serialize, Debug)]
pub struct LoaderRow {
    pub id: u32,
    pub class: String,
    pub name: Option<String>,
    pub classes: u64,
    pub alive: bool,
}

#[derive(Serialize, Debug)]
pub struct SuspectRow {
    pub loader_id: u32,
    pub loader_class: String,
    pub loader_name: Option<String>,
    pub classes: u64,
    pub culprit: Option<String>,
}

#[derive(Serialize, Debug)]
pub struct KindRow {
    pub kind: String,
    pub alive: Change,
    /// Classes the kind's live loaders hold: what a leaked generation pins, free of the JDK's
    /// own class count, which differs from run to run.
    pub classes: Change,
}

#[derive(Serialize, Debug)]
pub struct RssDiff {
    pub total: Change,
    /// Every explanation part, largest growth first.
    pub parts: Vec<PartRow>,
}

#[derive(Serialize, Debug)]
pub struct PartRow {
    pub part: String,
    pub bytes: Change,
}

#[derive(Serialize, Debug)]
pub struct SitesDiff {
    /// Live streams (zlib) or blocks (direct).
    pub live: Change,
    pub live_bytes: Change,
    /// Sites whose numbers changed, largest growth of live bytes first.
    pub sites: Vec<SiteRow>,
}

#[derive(Serialize, Debug)]
pub struct SiteRow {
    pub kind: String,
    /// The frame the site is known by (its application frame, else the frame below the JDK's).
    pub place: String,
    pub stack: Vec<String>,
    pub live: Change,
    pub live_bytes: Change,
    /// Streams created (zlib), blocks allocated and reallocated (direct).
    pub created: Change,
}

fn side(r: &Report, path: &str) -> Side {
    Side {
        path: path.to_string(),
        pid: r.pid,
        sequence: r.sequence,
        trigger: r.trigger.as_str().to_string(),
        time: r.time.clone(),
        uptime_ms: r.uptime_ms,
    }
}

fn start_ms(r: &Report) -> i64 {
    r.time_ms as i64 - r.uptime_ms as i64
}

pub fn compare(a: &Report, b: &Report, a_path: &str, b_path: &str) -> Diff {
    let same = a.pid == b.pid && a.jvm.java_home == b.jvm.java_home && (start_ms(a) - start_ms(b)).abs() <= SAME_START_MS;
    let ([zlib_a, direct_a], [zlib_b, direct_b]) = (ledgers(a), ledgers(b));
    Diff {
        old: side(a, a_path),
        new: side(b, b_path),
        same_process: same,
        elapsed_ms: b.time_ms as i64 - a.time_ms as i64,
        findings: findings(a, b),
        class_loaders: loaders(a, b, same),
        rss: rss(a, b),
        zlib: sites(&zlib_a, &zlib_b),
        direct: sites(&direct_a, &direct_b),
    }
}

fn finding_key(f: &Finding) -> (String, Option<String>, Option<String>, Option<String>) {
    (f.kind.clone(), f.subject.culprit.clone(), f.subject.holder.clone(), f.subject.site.clone())
}

fn findings(a: &Report, b: &Report) -> FindingsDiff {
    let old: BTreeSet<_> = a.findings.iter().map(finding_key).collect();
    let new: BTreeSet<_> = b.findings.iter().map(finding_key).collect();
    FindingsDiff {
        new: b.findings.iter().filter(|f| !old.contains(&finding_key(f))).cloned().collect(),
        resolved: a.findings.iter().filter(|f| !new.contains(&finding_key(f))).cloned().collect(),
        unchanged: b.findings.iter().filter(|f| old.contains(&finding_key(f))).count(),
    }
}

/// What stays of a loader's name across runs: runs of six or more digits (the random suffix of
/// a temporary directory, `jetty-0_0_0_0-8080-leaky_war-_leaky-any-1234567890`, a timestamp)
/// read as `#`, and a trailing number (a generation) dropped.
fn stem(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut digits = String::new();
    for c in name.chars().chain(std::iter::once('\0')) {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        out.push_str(if digits.len() >= 6 { "#" } else { &digits });
        digits.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out.trim_end_matches(|c: char| c.is_ascii_digit() || c == '#').trim_end_matches(['-', '_', '#', '.']).to_string()
}

/// A loader's kind across runs: its class and the stem of its label (context path, realm id),
/// else of its name, else of its code source.
fn loader_kind(l: &Loader) -> String {
    let what = match (l.label.as_ref().or(l.name.as_ref()), &l.code_source) {
        (Some(n), _) => stem(n),
        (None, Some(cs)) => stem(cs),
        (None, None) => "(unnamed)".to_string(),
    };
    format!("{} {what}", l.class)
}

fn loader_row(l: &Loader) -> LoaderRow {
    LoaderRow { id: l.id, class: l.class.clone(), name: l.name.clone(), classes: l.classes, alive: l.alive }
}

fn suspect_row(s: &LeakSuspect) -> SuspectRow {
    SuspectRow {
        loader_id: s.loader_id,
        loader_class: s.loader_class.clone(),
        loader_name: s.loader_name.clone(),
        classes: s.classes,
        culprit: s.culprit.clone(),
    }
}

fn loaders(a: &Report, b: &Report, same: bool) -> LoadersDiff {
    let (ca, cb) = (&a.class_loaders, &b.class_loaders);
    let (mut born, mut died) = (Vec::new(), Vec::new());
    if same {
        let old: BTreeMap<u32, &Loader> = ca.loaders.iter().map(|l| (l.id, l)).collect();
        for l in &cb.loaders {
            match old.get(&l.id) {
                None => born.push(loader_row(l)),
                Some(o) if o.alive && !l.alive => died.push(loader_row(l)),
                Some(_) => {}
            }
        }
    }
    let suspect_key = |s: &LeakSuspect| {
        if same {
            (s.loader_id.to_string(), String::new())
        } else {
            (s.loader_class.clone(), stem(s.loader_label.as_ref().or(s.loader_name.as_ref()).map_or("", |n| n.as_str())))
        }
    };
    // Across runs several suspects share a key (three redeploys of /leaky): counted, the ones
    // beyond the other side's count are new (or gone).
    let beyond = |these: &[LeakSuspect], other: &[LeakSuspect]| -> Vec<SuspectRow> {
        let mut left: BTreeMap<_, usize> = BTreeMap::new();
        for s in other {
            *left.entry(suspect_key(s)).or_default() += 1;
        }
        these
            .iter()
            .filter(|s| match left.get_mut(&suspect_key(s)) {
                Some(n) if *n > 0 => {
                    *n -= 1;
                    false
                }
                _ => true,
            })
            .map(suspect_row)
            .collect()
    };
    let old_dups: BTreeSet<&str> = ca.duplicate_classes.iter().map(|d| d.name.as_str()).collect();

    let by_kind = by_kind(ca, cb);

    LoadersDiff {
        alive: change(ca.loaders_alive, cb.loaders_alive),
        dead: change(ca.loaders_dead, cb.loaders_dead),
        suspects: change(ca.leak_suspects.len() as u64, cb.leak_suspects.len() as u64),
        classes_live: change(ca.classes_live, cb.classes_live),
        classes_loaded: change(ca.classes_loaded, cb.classes_loaded),
        classes_unloaded: change(ca.classes_unloaded, cb.classes_unloaded),
        duplicate_classes: change(ca.duplicate_classes.len() as u64, cb.duplicate_classes.len() as u64),
        new_duplicate_classes: cb
            .duplicate_classes
            .iter()
            .filter(|d| !old_dups.contains(d.name.as_str()))
            .map(|d| d.name.clone())
            .collect(),
        born,
        died,
        new_suspects: beyond(&cb.leak_suspects, &ca.leak_suspects),
        gone_suspects: beyond(&ca.leak_suspects, &cb.leak_suspects),
        by_kind,
    }
}

/// Live loaders by kind where the count changed, largest growth first.
fn by_kind(ca: &ClassLoaders, cb: &ClassLoaders) -> Vec<KindRow> {
    // kind -> (alive old, alive new, classes old, classes new)
    let mut kinds: BTreeMap<String, (u64, u64, u64, u64)> = BTreeMap::new();
    for l in ca.loaders.iter().filter(|l| l.alive) {
        let k = kinds.entry(loader_kind(l)).or_default();
        k.0 += 1;
        k.2 += l.classes;
    }
    for l in cb.loaders.iter().filter(|l| l.alive) {
        let k = kinds.entry(loader_kind(l)).or_default();
        k.1 += 1;
        k.3 += l.classes;
    }
    let mut by_kind: Vec<KindRow> = kinds
        .into_iter()
        .filter(|(_, (o, n, _, _))| o != n)
        .map(|(kind, (o, n, co, cn))| KindRow { kind, alive: change(o, n), classes: change(co, cn) })
        .collect();
    by_kind.sort_by(|x, y| y.alive.delta.cmp(&x.alive.delta).then_with(|| x.kind.cmp(&y.kind)));
    by_kind
}

fn rss(a: &Report, b: &Report) -> RssDiff {
    let mut parts: Vec<PartRow> = Vec::new();
    let old: BTreeMap<&str, u64> = a.memory.explanation.iter().map(|p| (p.part.as_str(), p.bytes)).collect();
    let new: BTreeMap<&str, u64> = b.memory.explanation.iter().map(|p| (p.part.as_str(), p.bytes)).collect();
    // Parts in the order the agent lists them, then any only the old report has.
    let names = b.memory.explanation.iter().map(|p| p.part.as_str()).chain(a.memory.explanation.iter().map(|p| p.part.as_str()));
    for name in names {
        if !parts.iter().any(|p| p.part == name) {
            parts.push(PartRow { part: name.to_string(), bytes: change(*old.get(name).unwrap_or(&0), *new.get(name).unwrap_or(&0)) });
        }
    }
    // Stable: equal growth keeps the agent's order.
    parts.sort_by_key(|p| std::cmp::Reverse(p.bytes.delta));
    RssDiff { total: change(a.memory.rss_bytes, b.memory.rss_bytes), parts }
}

/// One site's numbers: live count, live bytes, created.
type SiteNumbers = (u64, u64, u64);

fn sites_diff(old: Vec<(String, Vec<String>, String, SiteNumbers)>, new: Vec<(String, Vec<String>, String, SiteNumbers)>, live: Change, live_bytes: Change) -> SitesDiff {
    let mut rows: BTreeMap<(String, Vec<String>), (String, SiteNumbers, SiteNumbers)> = BTreeMap::new();
    for (kind, stack, place, n) in old {
        let e = rows.entry((kind, stack)).or_insert_with(|| (place, (0, 0, 0), (0, 0, 0)));
        e.1 = add(e.1, n);
    }
    for (kind, stack, place, n) in new {
        let e = rows.entry((kind, stack)).or_insert_with(|| (place, (0, 0, 0), (0, 0, 0)));
        e.2 = add(e.2, n);
    }
    let mut sites: Vec<SiteRow> = rows
        .into_iter()
        .filter(|(_, (_, o, n))| o != n)
        .map(|((kind, stack), (place, o, n))| SiteRow {
            kind,
            place,
            stack,
            live: change(o.0, n.0),
            live_bytes: change(o.1, n.1),
            created: change(o.2, n.2),
        })
        .collect();
    sites.sort_by(|x, y| {
        (y.live_bytes.delta, y.live.delta, y.created.delta).cmp(&(x.live_bytes.delta, x.live.delta, x.created.delta))
    });
    SitesDiff { live, live_bytes, sites }
}

fn add(a: SiteNumbers, b: SiteNumbers) -> SiteNumbers {
    (a.0 + b.0, a.1 + b.1, a.2 + b.2)
}

/// One ledger's sites in both reports, matched by kind and stack.
fn sites(a: &Ledger, b: &Ledger) -> SitesDiff {
    let rows = |l: &Ledger| {
        l.sites
            .iter()
            .map(|s| (s.kind.to_string(), s.stack.to_vec(), site_place(s.app_frame, s.stack), (s.live, s.live_bytes, s.created)))
            .collect()
    };
    sites_diff(rows(a), rows(b), change(a.live, b.live), change(a.live_bytes, b.live_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakagent_report::model::{test_report, Part, RssPart, Severity, Subject, ZlibSite};

    fn loader(id: u32, name: &str, alive: bool) -> Loader {
        Loader { id, class: "java.net.URLClassLoader".into(), name: Some(name.into()), role: leakagent_report::model::LoaderRole::Other, alive, classes: 2, ..Loader::default() }
    }

    fn site(stack: &str, live: u64, bytes: u64) -> ZlibSite {
        ZlibSite { kind: leakagent_report::model::ZlibKind::Inflater, stack: vec!["n".into(), "m".into(), stack.into()], live, live_bytes_estimate: bytes, created: live, ..ZlibSite::default() }
    }

    #[test]
    fn same_process_lists_born_died_and_growth_first() {
        let mut a = test_report();
        a.time_ms = 10_000;
        a.uptime_ms = 5_000;
        a.class_loaders.loaders = vec![loader(5, "app-gen-1", true), loader(6, "plugin-1", true)];
        a.memory.explanation = vec![Part { part: RssPart::JavaHeap, bytes: 100, note: String::new() }, Part { part: RssPart::MallocRetained, bytes: 10, note: String::new() }];
        a.zlib.sites = vec![site("A.scan", 10, 1000), site("B.read", 5, 500)];
        let mut b = a.clone();
        b.time_ms = 12_000;
        b.uptime_ms = 7_000;
        b.class_loaders.loaders = vec![loader(5, "app-gen-1", true), loader(6, "plugin-1", false), loader(7, "app-gen-2", true)];
        b.memory.explanation[1].bytes = 5000;
        b.zlib.sites = vec![site("A.scan", 10, 1000), site("B.read", 500, 50_000)];
        b.findings = vec![Finding {
            severity: Severity::Critical,
            kind: "classloader_leak".into(),
            summary: "x".into(),
            fix: "y".into(),
            subject: Subject { culprit: Some("generic".into()), ..Subject::default() },
        }];
        let d = compare(&a, &b, "a", "b");
        assert!(d.same_process);
        assert_eq!(d.class_loaders.born.iter().map(|l| l.id).collect::<Vec<_>>(), [7]);
        assert_eq!(d.class_loaders.died.iter().map(|l| l.id).collect::<Vec<_>>(), [6]);
        assert_eq!(d.class_loaders.by_kind[0].kind, "java.net.URLClassLoader app-gen");
        assert_eq!(d.class_loaders.by_kind[0].alive, change(1, 2));
        assert_eq!(d.rss.parts[0].part, "malloc_retained");
        assert_eq!(d.zlib.sites.len(), 1, "unchanged sites are left out");
        assert_eq!(d.zlib.sites[0].place, "B.read");
        assert_eq!(d.zlib.sites[0].live, change(5, 500));
        assert_eq!(d.findings.new.len(), 1);
        let text = render(&d, 10);
        assert!(text.contains("+48.3 KiB"), "{text}");
        assert!(text.contains("born (1):\n    #7 app-gen-2"), "{text}");
    }

    #[test]
    fn different_runs_match_suspects_by_name_not_id() {
        let mut a = test_report();
        a.class_loaders.leak_suspects = vec![LeakSuspect { loader_id: 5, loader_class: "L".into(), loader_name: Some("app-gen-1".into()), ..LeakSuspect::default() }];
        let mut b = a.clone();
        b.pid = 99;
        b.class_loaders.leak_suspects[0].loader_id = 9;
        let d = compare(&a, &b, "a", "b");
        assert!(!d.same_process);
        assert!(d.class_loaders.new_suspects.is_empty() && d.class_loaders.gone_suspects.is_empty());
        assert!(d.class_loaders.born.is_empty());
    }

    #[test]
    fn different_runs_match_jetty_loaders_whatever_their_temporary_directory() {
        assert_eq!(stem("jetty-0_0_0_0-8080-leaky_war-_leaky-any-1234567890"), "jetty-0_0_0_0-8080-leaky_war-_leaky-any");
        assert_eq!(stem("file:/tmp/jetty-0_0_0_0-8080-leaky_war-_leaky-any-987654321/webapp/"), "file:/tmp/jetty-0_0_0_0-8080-leaky_war-_leaky-any-#/webapp/");
        assert_eq!(stem("app-gen-12"), "app-gen");
        let jetty = |id: u32, dir: &str| Loader {
            code_source: Some(format!("file:/tmp/jetty-0_0_0_0-8080-leaky_war-_leaky-any-{dir}/webapp/WEB-INF/classes/")),
            label: None,
            name: None,
            class: "org.eclipse.jetty.ee10.webapp.WebAppClassLoader".into(),
            ..loader(id, "x", true)
        };
        let mut a = test_report();
        a.class_loaders.loaders = vec![jetty(4, "1234567890"), jetty(5, "2234567890")];
        a.class_loaders.leak_suspects = (4..6)
            .map(|id| LeakSuspect { loader_id: id, loader_class: "W".into(), loader_label: Some("/leaky (WebAppClassLoader{leaky})".into()), ..LeakSuspect::default() })
            .collect();
        let mut b = a.clone();
        b.pid = 99;
        b.class_loaders.loaders = vec![jetty(7, "5550001112"), jetty(8, "5550001113"), jetty(9, "5550001114")];
        b.class_loaders.leak_suspects.push(LeakSuspect { loader_id: 9, ..b.class_loaders.leak_suspects[0].clone() });
        let d = compare(&a, &b, "a", "b");
        assert_eq!(d.class_loaders.by_kind.len(), 1, "one kind, grown by one: {:?}", d.class_loaders.by_kind);
        assert_eq!((d.class_loaders.by_kind[0].alive.old, d.class_loaders.by_kind[0].alive.new), (2, 3));
        assert_eq!(d.class_loaders.new_suspects.len(), 1, "the third /leaky is new, the two others are the old ones");
        assert!(d.class_loaders.gone_suspects.is_empty());
    }
}
