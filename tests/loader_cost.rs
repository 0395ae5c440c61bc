//! What a leaked class loader costs (issue #21), on real JVMs: `tests/programs/LoaderCost.java`
//! leaks loaders of the healthy application (eight classes each), each holding a byte[] that only
//! the loader references. Each leaked loader must carry its metaspace bytes (from HotSpot's own
//! accounting, plausible for eight classes) and, when the chain search read a heap dump, a
//! retained heap above its payload; the fixed twin's loaders are gone.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

const PAYLOAD: u64 = 5_000_011;

/// Runs LoaderCost, asks for a report by signal while the loaders are pinned, then lets it exit.
fn signal_report(test: &str, java: &Path, loaders: u32, payload: u64, fixed: bool, options: &str) -> (Finished, Report) {
    signal_report_with(test, java, &[], loaders, payload, fixed, options)
}

/// `signal_report` with JVM flags besides `-Xmx1g` (a collector, say).
fn signal_report_with(test: &str, java: &Path, jvm: &[&str], loaders: u32, payload: u64, fixed: bool, options: &str) -> (Finished, Report) {
    let app = app_jar("healthy");
    let (n, p) = (loaders.to_string(), payload.to_string());
    let mut args = vec![n.as_str(), p.as_str(), app.to_str().unwrap()];
    if fixed {
        args.push("--fixed");
    }
    let mut running = Jvm::test_program(test, "LoaderCost", &args).java(java).jvm_args(&["-Xmx1g"]).jvm_args(jvm).options(options).start();
    running.signal(rtmin(2));
    let report = running.wait_for_reports(1, Duration::from_secs(180)).remove(0);
    let f = running.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert_eq!(report.agent.health.panics, 0);
    (f, report)
}

/// Metaspace a loader of a few small classes plausibly holds per class: HotSpot's smallest
/// chunk is 1 KiB, and eight small classes do not need megabytes.
fn plausible_metaspace(r: &Report, java: &Path) {
    let v = java_feature_version(java);
    let cl = &r.class_loaders;
    let source = cl.metaspace.as_ref().expect("class_loaders.metaspace");
    assert!(source.method.starts_with("VM.classloader_stats"), "JDK {v}: {source:?}");
    let unmatched: Vec<&Loader> = cl.loaders.iter().filter(|l| l.alive && l.metaspace_bytes.is_none()).collect();
    assert_eq!(source.loaders_unmatched, 0, "JDK {v}: {source:?}: {unmatched:#?}");
    assert!(source.error.is_none(), "JDK {v}: {source:?}");
    assert!(!cl.leak_suspects.is_empty(), "JDK {v}");
    for s in &cl.leak_suspects {
        let m = s.metaspace_bytes.unwrap_or_else(|| panic!("JDK {v}: no metaspace for {s:#?}"));
        assert_eq!(s.classes, 8, "JDK {v}");
        let per_class = m / s.classes;
        assert!((512..=64 << 10).contains(&per_class), "JDK {v}: {m} bytes of metaspace for {} classes", s.classes);
        let l = cl.loaders.iter().find(|l| l.id == s.loader_id).unwrap();
        assert_eq!(l.metaspace_bytes, Some(m), "JDK {v}: the loader table and the suspect agree");
        assert!(l.metaspace_used_bytes.is_some_and(|u| u > 0 && u <= m), "JDK {v}: {l:#?}");
    }
    // Proportional to classes: the JVM's own loaders of many classes hold more than these.
    let app = cl.loaders.iter().find(|l| l.role == LoaderRole::Bootstrap).and_then(|l| l.metaspace_bytes);
    assert!(app.unwrap_or(0) > cl.leak_suspects[0].metaspace_bytes.unwrap(), "JDK {v}: bootstrap {app:?}");
}

#[test]
fn leaked_loaders_carry_their_metaspace_and_retained_heap() {
    let java = main_java();
    let (f, r) = signal_report("cost-dump", &java, 3, PAYLOAD, false, "chain_method=dump");
    assert_eq!(f.truth("leaked_loaders"), 3);
    let cl = &r.class_loaders;
    assert_eq!(cl.chain_search.as_ref().map(|c| c.method.as_str()), Some("dump"));
    assert_eq!(cl.leak_suspects.len(), 3, "{:#?}", cl.leak_suspects);
    plausible_metaspace(&r, &java);
    for s in &cl.leak_suspects {
        let retained = s.retained_heap_bytes.unwrap_or_else(|| panic!("no retained heap: {:?}", s.retained_heap_note));
        // The payload, the loader and its own collections; the pinned class is held from outside.
        assert!(retained > PAYLOAD && retained < PAYLOAD + (4 << 20), "{retained} bytes retained by {:?}", s.loader_name);
    }
    // The renderers say what each costs, and the finding sums it.
    let text = leakagent_report::text::render(&r);
    assert!(text.contains("MiB metaspace, ") && text.contains("MiB retained heap"), "{text}");
    let html = leakagent_report::html::render(&r);
    assert!(html.contains("metaspace MiB") && html.contains("MiB retained heap"));
    let finding = r.findings.iter().find(|f| f.kind == "classloader_leak").expect("a class loader finding");
    assert!(finding.summary.contains("24 classes, ") && finding.summary.contains("MiB retained heap"), "{}", finding.summary);
    // The search's memory counts the retained-heap graph: a JVM's heap is tens of thousands of
    // objects at 12 bytes or more each in the graph, where the dump search here takes a few KiB.
    let search = cl.chain_search.as_ref().unwrap();
    assert!(search.memory_bytes > 1 << 20 && search.memory_bytes <= 64 << 20, "{search:?}");
}

/// Under a `chain_memory` the chains fit in but the retained-heap graph does not, the chains come
/// out, the retained heap stops with the reason and what to raise, never a number, and the
/// search's memory stays within the limit.
#[test]
fn a_small_chain_memory_stops_the_retained_heap_but_not_the_chains() {
    let (f, r) = signal_report("cost-tight", &main_java(), 3, PAYLOAD, false, "chain_method=dump,chain_memory=1m");
    let cl = &r.class_loaders;
    let search = cl.chain_search.as_ref().expect("chain_search");
    assert_eq!((search.method.as_str(), search.chains_found as u64), ("dump", f.truth("leaked_loaders")), "{search:?}");
    assert!(search.limit_hit.is_none(), "{search:?}");
    assert!(search.memory_bytes > 0 && search.memory_bytes <= 1 << 20, "{search:?}");
    assert_eq!(cl.leak_suspects.len(), 3);
    for s in &cl.leak_suspects {
        assert!(!s.path.is_empty(), "{s:#?}");
        assert_eq!(s.retained_heap_bytes, None, "{s:#?}");
        let note = s.retained_heap_note.as_deref().unwrap_or_default();
        assert!(note.contains("over chain_memory (1 MiB)") && note.ends_with("; raise chain_memory"), "{note}");
    }
    let text = leakagent_report::text::render(&r);
    assert!(text.contains("raise chain_memory"), "{text}");
}

#[test]
fn the_fixed_twins_loaders_are_gone_with_their_metaspace() {
    let (_, r) = signal_report("cost-fixed", &main_java(), 3, PAYLOAD, true, "chain_method=dump");
    let cl = &r.class_loaders;
    assert!(cl.leak_suspects.is_empty(), "{:#?}", cl.leak_suspects);
    let cost: Vec<&Loader> = cl.loaders.iter().filter(|l| l.name.as_deref().is_some_and(|n| n.starts_with("cost-"))).collect();
    assert!(cost.iter().all(|l| !l.alive && l.metaspace_bytes.is_none()), "{cost:#?}");
    assert_eq!(cl.metaspace.as_ref().map(|m| m.loaders_unmatched), Some(0));
}

/// Every installed JDK (11, 17, 21, 25 here): the sizes come from the same command, in bytes
/// (JDK 16 to 20 print words; the agent scales them), and the retained heap from the dump.
#[test]
fn metaspace_is_measured_on_every_jdk() {
    let others = other_javas("metaspace_is_measured_on_every_jdk");
    for java in &others {
        let v = java_feature_version(java);
        // With a dump: the retained heap needs it.
        let (_, r) = signal_report(&format!("cost-jdk{v}"), java, 2, 1_000_003, false, "chain_method=dump");
        plausible_metaspace(&r, java);
        for s in &r.class_loaders.leak_suspects {
            assert!(s.retained_heap_bytes.is_some_and(|b| b > 1_000_003), "JDK {v}: {s:#?}");
        }
    }
    ran_on("metaspace_is_measured_on_every_jdk", &others);
}

/// The command is one VM operation over every class loader: with 2,000 loaders it stays short.
#[test]
fn two_thousand_loaders_are_measured_in_one_short_operation() {
    let (_, r) = signal_report("cost-2000", &main_java(), 2000, 1000, false, "chains=off");
    let m = r.class_loaders.metaspace.clone().expect("metaspace");
    assert!(m.loaders_matched >= 2000 && m.loaders_unmatched == 0, "{m:?}");
    say(&format!("VM.classloader_stats over {} loaders: {} ms on the report thread", m.loaders_matched, m.ms));
    assert!(m.ms < 1000, "{m:?}");
}

/// The JDKs installed here whose feature version is one of `versions`.
fn javas_of(versions: &[u32]) -> Vec<(u32, std::path::PathBuf)> {
    all_javas().into_iter().map(|j| (java_feature_version(&j), j)).filter(|(v, _)| versions.contains(v)).collect()
}

/// Generational ZGC (JDK 21 with -XX:+ZGenerational, the only ZGC from JDK 23) keeps colored
/// pointers in the handles of HotSpot's class loader data: the loaders are matched through
/// their classes' metadata instead, which no collector moves or colors.
#[test]
fn generational_zgc_loaders_carry_their_metaspace() {
    let javas = javas_of(&[21, 25]);
    for (v, java) in &javas {
        let flags: &[&str] = if *v == 21 { &["-XX:+UseZGC", "-XX:+ZGenerational"] } else { &["-XX:+UseZGC"] };
        let (_, r) = signal_report_with(&format!("cost-zgen{v}"), java, flags, 2, 1_000_003, false, "chains=off");
        assert_eq!(r.jvm.collector.as_deref(), Some("ZGC"), "JDK {v}");
        let m = r.class_loaders.metaspace.as_ref().expect("metaspace");
        assert!(m.loaders_matched > 0, "JDK {v}: {m:?}");
        plausible_metaspace(&r, java);
    }
    let list: Vec<std::path::PathBuf> = javas.into_iter().map(|(_, j)| j).collect();
    ran_on("generational_zgc_loaders_carry_their_metaspace", &list);
}

/// Every other collector: the older ZGC (JDK 17, and 21 without -XX:+ZGenerational) colors
/// the references the agent reads as well, Shenandoah, G1, Parallel and Serial move loaders
/// between the reads; every loader is matched on each.
#[test]
fn every_collector_ties_every_loader_to_its_metaspace() {
    let collectors: &[(u32, &[&str], &str)] = &[
        (17, &["-XX:+UseSerialGC"], "Serial"),
        (17, &["-XX:+UseParallelGC"], "Parallel"),
        (17, &["-XX:+UseG1GC"], "G1"),
        (17, &["-XX:+UseZGC"], "ZGC"),
        (17, &["-XX:+UseShenandoahGC"], "Shenandoah"),
        (21, &["-XX:+UseZGC", "-XX:-ZGenerational"], "ZGC"),
        (21, &["-XX:+UseShenandoahGC"], "Shenandoah"),
        (25, &["-XX:+UseShenandoahGC"], "Shenandoah"),
    ];
    let javas = javas_of(&[17, 21, 25]);
    let mut ran = Vec::new();
    for (want, flags, gc) in collectors {
        let Some((v, java)) = javas.iter().find(|(v, _)| v == want) else { continue };
        let test = format!("cost-jdk{v}{}", flags[0].trim_start_matches("-XX:+Use"));
        let (_, r) = signal_report_with(&test, java, flags, 2, 1_000_003, false, "chains=off");
        assert_eq!(r.jvm.collector.as_deref(), Some(*gc), "JDK {v} {flags:?}");
        plausible_metaspace(&r, java);
        ran.push(java.clone());
    }
    ran.dedup();
    ran_on("every_collector_ties_every_loader_to_its_metaspace", &ran);
}

/// Where HotSpot's own accounting cannot be read (here the DiagnosticCommand MBean's module is
/// left out with --limit-modules, so `VM.classloader_stats` fails), each live loader gets an
/// estimate from its classes' constant pools, marked as one, and not far from what HotSpot
/// itself says of the same loaders.
#[test]
fn without_hotspots_accounting_loaders_get_an_estimate() {
    let java = main_java();
    let (_, exact) = signal_report_with("cost-exact", &java, &[], 2, 1_000_003, false, "chains=off");
    let (_, r) = signal_report_with("cost-estimate", &java, &["--limit-modules", "java.base"], 2, 1_000_003, false, "chains=off");
    let m = r.class_loaders.metaspace.as_ref().expect("metaspace");
    assert_eq!(m.method, "estimate", "{m:?}");
    let why = m.error.as_deref().unwrap_or_default();
    assert!(why.contains("VM.classloader_stats failed") && why.contains("estimated"), "{m:?}");
    assert!(m.loaders_matched > 0 && m.loaders_unmatched == 0, "{m:?}");
    let used = exact.class_loaders.leak_suspects[0].loader_id;
    let used = exact.class_loaders.loaders.iter().find(|l| l.id == used).and_then(|l| l.metaspace_used_bytes).expect("HotSpot's used bytes");
    assert!(!r.class_loaders.leak_suspects.is_empty());
    for s in &r.class_loaders.leak_suspects {
        let est = s.metaspace_bytes.unwrap_or_else(|| panic!("no estimate for {s:#?}"));
        say(&format!("metaspace of a leaked loader of 8 classes: estimate {est} bytes, HotSpot {used} bytes used"));
        // The same eight classes: within a factor of two of HotSpot's own figure.
        assert!(est > used / 2 && est < used * 2, "estimate {est}, HotSpot {used} bytes used");
        let l = r.class_loaders.loaders.iter().find(|l| l.id == s.loader_id).unwrap();
        assert_eq!((l.metaspace_bytes, l.metaspace_used_bytes), (Some(est), None));
    }
    let boot = r.class_loaders.loaders.iter().find(|l| l.role == LoaderRole::Bootstrap).and_then(|l| l.metaspace_bytes);
    assert!(boot.unwrap_or(0) > 1 << 20, "bootstrap {boot:?}");
}
