//! Findings about class loaders: leaked loaders grouped by culprit and fix. Reads the report
//! model only, so every rule can be tested on a fixed model.

use crate::leaks::culprits::{chain_text, is_thread_culprit, root_thread};
use leakagent_report::model::{ClassLoaders, Finding, LeakSuspect, LoaderGrowth, Report, Severity, Subject, SuspectReason, Trigger};
use leakagent_report::text::{cause_key, numbers_as_one};
use leakagent_report::words::group_cost;
use std::collections::BTreeMap;

pub fn derive(report: &Report, out: &mut Vec<Finding>) {
    class_loader_leaks(&report.class_loaders, report.trigger == Trigger::Interval, out);
}

fn loader_label(s: &LeakSuspect) -> String {
    s.loader_label.clone().or_else(|| s.loader_name.clone()).unwrap_or_else(|| format!("#{}", s.loader_id))
}

/// At most this many loaders are named in a finding's summary.
const MAX_NAMED: usize = 12;

/// One finding per cause: suspects pinned by the same kind of thread (its stack, its object, its
/// context loader), or with the same culprit and fix once numbers read as one, are one problem.
/// `periodic`: an interval report, after which a report with a GC (signal, exit) decides.
fn class_loader_leaks(cl: &ClassLoaders, periodic: bool, out: &mut Vec<Finding>) {
    let mut groups: BTreeMap<(String, String), Vec<&LeakSuspect>> = BTreeMap::new();
    for s in &cl.leak_suspects {
        let culprit = s.culprit.clone().unwrap_or_else(|| "unknown".into());
        let key = match root_thread(&s.path).filter(|_| is_thread_culprit(&culprit)) {
            Some(t) => ("thread".to_string(), numbers_as_one(t)),
            None => cause_key(s),
        };
        groups.entry(key).or_default().push(s);
    }
    for (_, suspects) in groups {
        // For a thread, the verdict that names what the thread runs says most.
        let first = suspects.iter().find(|s| s.culprit.as_deref() == Some("application-thread")).unwrap_or(&suspects[0]);
        let mut names: Vec<String> = suspects.iter().take(MAX_NAMED).map(|s| loader_label(s)).collect();
        if suspects.len() > MAX_NAMED {
            names.push(format!("and {} more", suspects.len() - MAX_NAMED));
        }
        // What they cost: classes, metaspace and retained heap, as far as measured.
        let cost = group_cost(&suspects, cl.metaspace_estimated());
        let chain = if first.path.is_empty() { String::new() } else { format!(" Chain: {}.", chain_text(&first.path)) };
        let growth_only = suspects.iter().all(|s| s.reasons.iter().all(|r| *r == SuspectReason::Growth));
        let growth = cl.growth.iter().find(|g| g.loader_class == first.loader_class).filter(|_| growth_only);
        // An interval report runs without a GC (interval_gc=off): it must not claim one.
        let after_gc = if cl.gc_before_report { "after GC" } else { "with no GC before this report" };
        // Only a chain establishes a strong hold; without one the loaders are only seen alive.
        let held = if first.path.is_empty() {
            format!("alive {after_gc}, with no strong chain established")
        } else {
            format!("strongly held {after_gc}")
        };
        let (lead, fix_tail) = match growth {
            Some(g) => (
                growth_lead(g, suspects.len(), &held, &names, &cost),
                format!(
                    " They were found by their growth; leak_loaders={} makes every report check them.",
                    g.leak_loaders
                ),
            ),
            None => (
                format!(
                    "{} class loader{} that should be dead {} alive {after_gc} ({}; {} pinned)",
                    suspects.len(),
                    if suspects.len() == 1 { "" } else { "s" },
                    if suspects.len() == 1 { "is" } else { "are" },
                    names.join(", "),
                    cost
                ),
                String::new(),
            ),
        };
        // Alive in an interval report without a GC, with no chain, is no evidence: a loader
        // stopped since the last collection is garbage not yet collected (a cleanly redeployed
        // Tomcat under interval=10s was warned about). The next report with a GC decides; with
        // gc=off no report has one, and the warning stays, saying so.
        let unproven = periodic && first.path.is_empty() && !cl.gc_before_report;
        let lead = if unproven {
            format!("{lead}, which only a GC can tell from garbage not yet collected (a signal report, the exit report or interval_gc=on has one)")
        } else {
            lead
        };
        out.push(Finding {
            severity: if unproven {
                Severity::Info
            } else if first.path.is_empty() || growth_only {
                Severity::Warning
            } else {
                Severity::Critical
            },
            kind: "classloader_leak".into(),
            summary: format!("{lead}: {}.{chain}", first.explanation),
            fix: format!("{}{fix_tail}{} [culprit: {}]", first.fix, same_for(&suspects), first.culprit.as_deref().unwrap_or("unknown")),
            subject: Subject {
                culprit: Some(first.culprit.clone().unwrap_or_else(|| "unknown".into())),
                holder: first
                    .culprit_hop
                    .and_then(|i| first.path.get(i))
                    .map(|h| format!("{}.{}", h.from, if h.field.starts_with('[') { "[]" } else { &h.field })),
                site: None,
                loaders: suspects.iter().map(|s| loader_label(s)).collect(),
            },
        });
    }
}

/// The lead of a finding over loaders found by their growth: how many of how many, and what the
/// growth showed.
fn growth_lead(g: &LoaderGrowth, suspects: usize, held: &str, names: &[String], cost: &str) -> String {
    let mut facts = Vec::new();
    if g.distinct_classes > 1 {
        facts.push(format!("{} such classes seen", g.distinct_classes));
    }
    facts.push(if g.dead == 0 { "none of them died".to_string() } else { format!("{} of them died", g.dead) });
    if let Some(p) = g.alive_at_previous_report {
        facts.push(format!("{p} were alive at the previous report"));
    }
    format!(
        "{} of the {} loaders of {} that each define {}{} ({}) are {} ({}; {} pinned)",
        suspects,
        g.alive,
        g.loader_class,
        if g.distinct_classes > 1 { "a class like " } else { "" },
        g.example,
        facts.join("; "),
        held,
        names.join(", "),
        cost
    )
}

/// For one finding over threads of one kind (`ticker-1`, `ticker-2`, ...): every thread to stop,
/// since the fix names the first.
fn same_for(suspects: &[&LeakSuspect]) -> String {
    let threads: std::collections::BTreeSet<&str> = suspects.iter().filter_map(|s| root_thread(&s.path)).collect();
    if threads.len() < 2 {
        return String::new();
    }
    let mut names: Vec<String> = threads.iter().take(MAX_NAMED).map(|t| format!("\"{t}\"")).collect();
    if threads.len() > MAX_NAMED {
        names.push(format!("and {} more", threads.len() - MAX_NAMED));
    }
    format!(" The same for every thread of this kind: {}.", names.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakagent_report::model::{HopKind, PathHop};

    fn hop(from: &str, field: &str, kind: &str, to: &str, to_loader: Option<u32>) -> PathHop {
        PathHop { from: from.into(), field: field.into(), kind: HopKind::parse(kind).expect("a hop kind"), to: to.into(), to_loader }
    }

    fn suspect(id: u32, culprit: &str) -> LeakSuspect {
        LeakSuspect {
            loader_id: id,
            loader_class: "java.net.URLClassLoader".into(),
            loader_name: Some(format!("app-gen-{id}")),
            loader_label: Some(format!("app-gen-{id}")),
            classes: 8,
            reasons: vec![SuspectReason::Closed],
            path: vec![hop("A", "f", "static_field", "B", Some(id))],
            culprit_hop: Some(0),
            holder_hop: Some(0),
            culprit: Some(culprit.into()),
            explanation: "A.f keeps B".into(),
            fix: "clear A.f".into(),
            superseded_by: None,
            ..LeakSuspect::default()
        }
    }

    fn findings(cl: &ClassLoaders) -> Vec<Finding> {
        let mut f = Vec::new();
        class_loader_leaks(cl, true, &mut f);
        f.sort_by_key(|f| std::cmp::Reverse(f.severity));
        f
    }

    #[test]
    fn suspects_with_the_same_holder_make_one_finding() {
        let cl = ClassLoaders {
            leak_suspects: vec![suspect(3, "generic"), suspect(4, "generic"), LeakSuspect { path: vec![], culprit: None, culprit_hop: None, ..suspect(5, "x") }],
            gc_before_report: true, ..ClassLoaders::default()
        };
        let f = findings(&cl);
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

    #[test]
    fn one_thread_is_one_finding_whatever_it_holds() {
        // A web application's loader through the thread's context loader, its JSP's loader
        // through the thread object: one thread, one finding, named by the context.
        let ccl = LeakSuspect {
            loader_label: Some("/shop".into()),
            culprit: Some("thread-context-loader".into()),
            path: vec![hop("<thread \"shop-ticker\">", "", "thread", "java.lang.Thread", None), hop("java.lang.Thread", "contextClassLoader", "field", "W", Some(5))],
            fix: "Stop thread \"shop-ticker\" ... restore setContextClassLoader".into(),
            ..suspect(5, "x")
        };
        let own = LeakSuspect {
            loader_label: Some("/shop/thread.jsp".into()),
            culprit: Some("application-thread".into()),
            path: vec![hop("<local variable in a.B.run (thread \"shop-ticker\", id 33)>", "", "stack_local", "a.B", Some(8))],
            explanation: "thread \"shop-ticker\" is still running code of /shop/thread.jsp".into(),
            fix: "Stop thread \"shop-ticker\" when the application stops".into(),
            ..suspect(8, "x")
        };
        let other = LeakSuspect {
            culprit: Some("application-thread".into()),
            path: vec![hop("<thread \"other\">", "", "thread", "a.C", Some(9))],
            ..suspect(9, "x")
        };
        let f = findings(&ClassLoaders { leak_suspects: vec![ccl, own, other], gc_before_report: true, ..ClassLoaders::default() });
        assert_eq!(f.len(), 2, "{f:#?}");
        let shop = f.iter().find(|f| f.summary.contains("/shop,")).expect("the shop thread's finding");
        assert!(shop.summary.starts_with("2 class loaders that should be dead are alive after GC (/shop, /shop/thread.jsp;"), "{}", shop.summary);
        assert!(shop.summary.contains("still running code"), "the application-thread verdict leads: {}", shop.summary);
        assert!(shop.fix.contains("[culprit: application-thread]"));
    }

    #[test]
    fn growing_loaders_are_a_warning_with_their_numbers() {
        let g = LoaderGrowth {
            loader_class: "groovy.lang.GroovyClassLoader$InnerLoader".into(),
            defines: "Script#".into(),
            example: "Script160".into(),
            alive: 160,
            dead: 0,
            distinct_classes: 160,
            leak_loaders: "groovy.lang.GroovyClassLoader$InnerLoader".into(),
            ..LoaderGrowth::default()
        };
        let pinned: Vec<LeakSuspect> = (1..=16)
            .map(|i| LeakSuspect { loader_class: g.loader_class.clone(), loader_label: None, loader_name: None, reasons: vec![SuspectReason::Growth], ..suspect(100 + i, "parent-static") })
            .collect();
        let f = findings(&ClassLoaders { leak_suspects: pinned, growth: vec![g], gc_before_report: true, ..ClassLoaders::default() });
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].summary.starts_with("16 of the 160 loaders of groovy.lang.GroovyClassLoader$InnerLoader that each define a class like Script160 (160 such classes seen; none of them died) are strongly held"), "{}", f[0].summary);
        assert!(f[0].summary.contains("and 4 more"), "{}", f[0].summary);
        assert!(f[0].fix.contains("leak_loaders=groovy.lang.GroovyClassLoader$InnerLoader"), "{}", f[0].fix);
    }

    #[test]
    fn leaks_of_one_shape_are_one_finding_whatever_their_numbers() {
        // Three redeploys, each pinned by its own ticker thread: one thread kind, one finding.
        let redeploys: Vec<LeakSuspect> = (1..=3)
            .map(|i| LeakSuspect {
                culprit: Some("thread-context-loader".into()),
                path: vec![
                    hop(&format!("<thread \"ticker-{i}\">"), "", "thread", "java.lang.Thread", None),
                    hop("java.lang.Thread", "contextClassLoader", "field", "W", Some(i)),
                ],
                ..suspect(i, "x")
            })
            .collect();
        let f = findings(&ClassLoaders { leak_suspects: redeploys, ..ClassLoaders::default() });
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!((f[0].severity, f[0].subject.loaders.len()), (Severity::Critical, 3));
        assert!(f[0].fix.contains("every thread of this kind: \"ticker-1\", \"ticker-2\", \"ticker-3\"."), "{}", f[0].fix);
        // Scripts held by elements of one array: one finding; a holder of another shape is another.
        let mut scripts: Vec<LeakSuspect> = (0..1500)
            .map(|i| LeakSuspect {
                path: vec![hop("Registry", "ALL", "static_field", "Object[]", None), hop("Object[]", &format!("[{i}]"), "array_element", &format!("Script{i}"), Some(i))],
                ..suspect(i, "parent-static")
            })
            .collect();
        scripts.push(LeakSuspect {
            path: vec![hop("Other", "ONE", "static_field", "Script9", Some(9))],
            fix: "clear Other.ONE".into(),
            ..suspect(9000, "parent-static")
        });
        let f = findings(&ClassLoaders { leak_suspects: scripts, ..ClassLoaders::default() });
        let mut sizes: Vec<usize> = f.iter().map(|f| f.subject.loaders.len()).collect();
        sizes.sort();
        assert_eq!(sizes, [1, 1500]);
        let scripts = f.iter().find(|f| f.subject.loaders.len() == 1500).unwrap();
        assert!(scripts.summary.len() < 1000, "the summary names a few loaders, the subject all: {}", scripts.summary);
    }

    #[test]
    fn loaders_without_a_chain_are_not_said_to_be_strongly_held() {
        let g = LoaderGrowth { loader_class: "java.net.URLClassLoader".into(), example: "Script1".into(), alive: 1500, ..LoaderGrowth::default() };
        let none: Vec<LeakSuspect> = (0..1500)
            .map(|i| LeakSuspect { path: vec![], culprit: None, culprit_hop: None, reasons: vec![SuspectReason::Growth], ..suspect(i, "x") })
            .collect();
        // Growth is only measured after a GC (analyse.rs).
        let f = findings(&ClassLoaders { leak_suspects: none, growth: vec![g], gc_before_report: true, ..ClassLoaders::default() });
        assert_eq!(f.len(), 1);
        assert!(!f[0].summary.contains("strongly held") && f[0].summary.contains("no strong chain"), "{}", f[0].summary);
        assert_eq!(f[0].severity, Severity::Warning);
    }

    #[test]
    fn alive_with_no_gc_and_no_chain_is_no_warning() {
        let unchained = |i| LeakSuspect { path: vec![], culprit: None, culprit_hop: None, reasons: vec![SuspectReason::Closed], ..suspect(i, "x") };
        let f = findings(&ClassLoaders { leak_suspects: vec![unchained(1)], ..ClassLoaders::default() });
        assert_eq!(f[0].severity, Severity::Info, "{f:#?}");
        assert!(f[0].summary.contains("with no GC before this report") && f[0].summary.contains("only a GC can tell"), "{}", f[0].summary);
        // After a GC the same loader is a warning; a chain is evidence with or without a GC.
        let f = findings(&ClassLoaders { leak_suspects: vec![unchained(1)], gc_before_report: true, ..ClassLoaders::default() });
        assert_eq!(f[0].severity, Severity::Warning);
        let f = findings(&ClassLoaders { leak_suspects: vec![suspect(1, "threadlocal")], ..ClassLoaders::default() });
        assert_eq!(f[0].severity, Severity::Critical);
        // A report asked for with gc=off: no report will have a GC, the warning stays.
        let mut f = Vec::new();
        class_loader_leaks(&ClassLoaders { leak_suspects: vec![unchained(1)], ..ClassLoaders::default() }, false, &mut f);
        assert_eq!(f[0].severity, Severity::Warning);
    }
}
