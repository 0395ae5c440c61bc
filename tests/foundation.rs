//! The agent foundation on real JVMs: loading, options, triggers, atomic reports, and the class
//! lifecycle collector on the `healthy` scenario.

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

fn child_loader(report: &Report) -> Vec<&Loader> {
    report.class_loaders.loaders.iter().filter(|l| l.class == "java.net.URLClassLoader").collect()
}

fn assert_children_unloaded(f: &Finished, r: &Report) {
    let child_classes = f.truth("child_classes");
    let children = child_loader(r);
    let names: Vec<&str> = children.iter().map(|c| c.name.as_deref().unwrap_or("")).collect();
    let expected: Vec<String> = (1..=f.truth("generations")).map(|g| format!("app-gen-{g}")).collect();
    assert_eq!(names, expected, "one child loader per generation, by name");
    let parent = r.class_loaders.loaders.iter().find(|l| l.role == LoaderRole::Application).unwrap();
    for child in children {
        assert!(!child.alive, "{child:?}");
        assert_eq!(child.parent, Some(parent.id), "{child:?}");
        assert_eq!(child.classes_defined, child_classes, "{child:?}");
        assert_eq!(child.classes_unloaded, child_classes, "{child:?}");
        assert_eq!(child.classes, 0);
    }
}

/// (Reading the report through the model already fails on a missing key; the contract's keys
/// are `report_has_every_contract_key`'s.)
fn assert_header(r: &Report) {
    assert_eq!(r.schema_version, 1);
    assert!(r.sequence >= 1 && r.pid > 0 && !r.time.is_empty(), "{r:?}");
    assert!(r.jvm.version.len() >= 2, "{:?}", r.jvm);
    assert!(!r.jvm.vendor.is_empty());
    assert_eq!(r.agent.health.panics, 0);
    assert!(r.time.ends_with('Z'));
}

#[test]
fn healthy_report_on_exit_counts_loaders_and_unloaded_classes() {
    let f = Jvm::scenario("healthy-exit", "healthy").options("format=text").run();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let r = f.death_report();
    assert_header(&r);
    assert_eq!(r.trigger, Trigger::VmDeath);
    assert_eq!(r.pid, f.truth("pid") as u32);
    assert_eq!(r.findings.len(), 0, "healthy has no findings: {:?}", r.findings);

    let cl = &r.class_loaders;
    let loaders = &cl.loaders;
    let role = |r: LoaderRole| loaders.iter().find(|l| l.role == r).unwrap_or_else(|| panic!("no {r:?} loader"));
    assert_eq!(role(LoaderRole::Bootstrap).id, 0);
    assert_eq!(role(LoaderRole::Application).name.as_deref(), Some("app"));
    assert_eq!(role(LoaderRole::Platform).name.as_deref(), Some("platform"));
    assert_eq!(role(LoaderRole::Application).parent, Some(role(LoaderRole::Platform).id));
    assert!(role(LoaderRole::Bootstrap).classes > 300);

    // Each generation's loader defined exactly the app's classes, was dropped, and all of them
    // unloaded.
    assert_children_unloaded(&f, &r);
    let generations = f.truth("generations");
    assert!(cl.classes_unloaded >= generations * f.truth("child_classes"));
    assert!(cl.loaders_dead >= generations);
    assert!(cl.classes_loaded >= cl.classes_live);

    // The text rendering sits beside the JSON.
    let txt = std::fs::read_to_string(f.dir.join("report-1.txt")).unwrap();
    assert!(txt.contains("leakagent report #1 (vm_death)"), "{txt}");
    assert!(txt.contains("Findings: none"));
    assert!(f.stderr.contains("kill -s RTMIN+2"), "start-up log says how to ask for a report:\n{}", f.stderr);
}

#[test]
fn html_page_is_self_contained_beside_the_json() {
    let f = Jvm::scenario("html", "healthy").options("format=html+text").run();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let page = std::fs::read_to_string(f.dir.join("report-1.html")).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("leakagent report #1"));
    assert!(page.contains("<h2 id=findings>Findings</h2>") && page.contains("No findings."));
    assert!(page.contains("<h2 id=loaders>Class loaders</h2>") && !page.contains("app-gen-1"), "dead loaders are not in the live table");
    assert!(page.contains("<svg"), "memory chart drawn");
    for external in ["http://", "https://", "<script src", "<link", "import(", "fetch("] {
        assert!(!page.contains(external), "the page must be self-contained: {external}");
    }
    assert_eq!(page.matches("<script").count(), 1, "one inline script: the table sorter");
    assert!(f.dir.join("report-1.txt").is_file());
}

#[test]
fn reports_on_signal_while_running_then_again_then_on_exit() {
    let mut jvm = Jvm::scenario("signal", "healthy").start();
    jvm.signal(rtmin(2));
    let first = jvm.wait_for_reports(1, Duration::from_secs(60));
    assert_eq!(first[0].trigger, Trigger::Signal);
    assert_eq!(first[0].sequence, 1);
    assert_header(&first[0]);
    jvm.signal(rtmin(2));
    let two = jvm.wait_for_reports(2, Duration::from_secs(60));
    assert_eq!(two[1].trigger, Trigger::Signal);
    assert_eq!(two[1].sequence, 2);
    assert!(two[1].agent.health.signals_received >= 2);
    let f = jvm.finish();
    assert_eq!(f.code, Some(0));
    let all = f.reports();
    assert_eq!(all.len(), 3);
    assert_eq!(all[2].trigger, Trigger::VmDeath);
    assert!(f.dir.join("report-1.json").is_file() && f.dir.join("report-3.json").is_file());
}

#[test]
fn signal_storm_coalesces_and_every_report_is_complete() {
    let mut jvm = Jvm::scenario("storm", "healthy").options("signal=USR1").start();
    let storm = 500;
    for _ in 0..storm {
        jvm.signal(libc::SIGUSR1);
    }
    jvm.wait_for_reports(1, Duration::from_secs(60));
    // Let the pending request (at most one) finish before exiting.
    std::thread::sleep(Duration::from_millis(500));
    let f = jvm.finish();
    assert_eq!(f.code, Some(0), "the JVM survives a signal storm:\n{}", f.stderr);
    assert!(f.stdout.contains("HARNESS done"));
    let reports = f.reports(); // every file parses as complete JSON
    let last = reports.last().unwrap();
    assert_eq!(last.trigger, Trigger::VmDeath);
    let h = &last.agent.health;
    let signal_reports = reports.iter().filter(|r| r.trigger == Trigger::Signal).count() as u64;
    assert!(signal_reports >= 1 && signal_reports < storm / 2, "storm coalesced into {signal_reports} reports");
    let received = h.signals_received;
    assert!(received >= 1 && received <= storm);
    assert_eq!(received, signal_reports + h.signal_requests_coalesced, "{h:?}");
    let leftovers: Vec<_> = std::fs::read_dir(&f.dir).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().ends_with(".tmp")).collect();
    assert!(leftovers.is_empty(), "no temporary files left: {leftovers:?}");
}

#[test]
fn sigterm_still_writes_the_complete_exit_report() {
    let jvm = Jvm::scenario("sigterm", "healthy").start();
    jvm.signal(libc::SIGTERM);
    let f = jvm.wait_exit();
    assert_eq!(f.code, Some(143), "{}", f.stderr);
    let r = f.death_report();
    assert_header(&r);
}

#[test]
fn bad_options_stop_the_jvm_and_name_every_problem() {
    let f = Jvm::scenario("badopt", "healthy").raw_options("signal=USR2,interval=soon,colour=blue").run();
    assert_ne!(f.code, Some(0), "the JVM must refuse to start");
    assert!(!f.stdout.contains("HARNESS ready"), "the scenario must not run");
    for needle in ["'signal'", "'USR2'", "HotSpot", "'interval'", "'soon'", "'colour'", "known options", "will not start"] {
        assert!(f.stderr.contains(needle), "stderr lacks {needle}:\n{}", f.stderr);
    }
    assert!(f.reports().is_empty());
}

#[test]
fn help_lists_every_option_and_stops() {
    let f = Jvm::scenario("help", "healthy").raw_options("help").run();
    assert_eq!(f.code, Some(0));
    assert!(!f.stdout.contains("HARNESS ready"));
    for opt in ["file", "format", "signal", "interval", "log", "datadump", "help"] {
        assert!(f.stdout.lines().any(|l| l.trim_start().starts_with(opt)), "help lacks {opt}:\n{}", f.stdout);
    }
    assert!(f.stdout.contains("RTMIN+2"), "help shows the default signal");
}

/// A report directory that goes away while the JVM runs (one that cannot be written at start-up
/// stops it: tests/agent_files.rs): the failed report is logged and the JVM runs to the end.
#[test]
fn a_report_directory_gone_later_is_logged_and_the_jvm_runs_to_the_end() {
    let j = Jvm::scenario("unwritable", "healthy");
    let sub = j.dir.join("reports");
    std::fs::create_dir(&sub).unwrap();
    let jvm = j.raw_options(&format!("file={}/r-%p", sub.display())).start();
    std::fs::remove_dir(&sub).unwrap();
    let f = jvm.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(f.stdout.contains("HARNESS done"));
    assert!(f.stderr.contains("cannot write report #1"), "{}", f.stderr);
    assert!(f.stderr.contains(&format!("{}/r-", sub.display())), "{}", f.stderr);
}

/// A write that fails half-way (here RLIMIT_FSIZE, as on a full disk) leaves no partial file.
#[test]
fn full_disk_leaves_no_partial_report() {
    let f = Jvm::scenario("fulldisk", "healthy").options("format=text").file_size_limit(2048).run();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(f.stdout.contains("HARNESS done"));
    assert!(f.stderr.contains("cannot write report #1 (vm_death)") && f.stderr.contains("File too large"), "{}", f.stderr);
    let names: Vec<String> = std::fs::read_dir(&f.dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.ends_with(".json") || n.ends_with(".tmp")), "{names:?}");
}

#[test]
fn log_option_sends_agent_lines_to_a_file() {
    let dir = temp_dir("logfile");
    let log = dir.join("agent.log");
    let f = Jvm::scenario("logfile", "healthy").options(&format!("log={}", log.display())).run();
    assert_eq!(f.code, Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("active") && text.contains("report #1 (vm_death) written"), "{text}");
    assert!(!f.stderr.contains("[leakagent]"), "nothing on stderr when log= is set:\n{}", f.stderr);
    let bad = Jvm::scenario("badlog", "healthy").raw_options("log=/proc/nope/agent.log").run();
    assert_ne!(bad.code, Some(0));
    assert!(bad.stderr.contains("'log'") && bad.stderr.contains("/proc/nope/agent.log"), "{}", bad.stderr);
}

#[test]
fn interval_and_data_dump_reports() {
    let mut jvm = Jvm::scenario("interval", "healthy").options("interval=1s,datadump=on").start();
    let r = jvm.wait_for_reports(2, Duration::from_secs(60));
    assert!(r.iter().all(|r| r.trigger == Trigger::Interval), "{:?}", r.iter().map(|r| r.trigger).collect::<Vec<_>>());
    jvm.signal(libc::SIGQUIT);
    let start = std::time::Instant::now();
    while !reports_in(&jvm.dir).iter().any(|r| r.trigger == Trigger::DataDump) {
        assert!(start.elapsed() < Duration::from_secs(60), "no data_dump report after kill -3");
        std::thread::sleep(Duration::from_millis(50));
    }
    let f = jvm.finish();
    assert_eq!(f.code, Some(0));
    assert!(f.stdout.contains("Full thread dump"), "HotSpot still prints its thread dump");
}

#[test]
fn report_file_pattern_expands_pid_time_and_sequence() {
    let dir = temp_dir("pattern");
    let f = Jvm::scenario("pattern", "healthy").raw_options(&format!("file={}/x-%p-%t-%n.json", dir.display())).run();
    assert_eq!(f.code, Some(0));
    let names: Vec<String> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let pid = f.truth("pid");
    let name = &names[0];
    assert!(name.starts_with(&format!("x-{pid}-")) && name.ends_with("-1.json"), "{name}");
    let stamp = &name[format!("x-{pid}-").len()..name.len() - "-1.json".len()];
    assert_eq!(stamp.len(), 15, "YYYYmmdd-HHMMSS: {stamp}");
    assert_eq!(&stamp[8..9], "-");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.join(name)).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_report_names_its_origin_and_file_names_take_host_and_environment() {
    let dir = temp_dir("origin");
    let f = Jvm::scenario("origin", "healthy")
        .raw_options(&format!("file={}/r-%h-%{{LEAKAGENT_T_POD}}-%n.json,format=text", dir.display()))
        .jvm_args(&["-Ddb.password=hunter2", "-Dshop.name=petshop", "-Xmx256m"])
        .env("POD_NAME", "shop-7f9c")
        .env("POD_NAMESPACE", "staging")
        .env("LEAKAGENT_T_POD", "shop/7f9c")
        .run();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    let safe_host: String = host.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    let path = dir.join(format!("r-{safe_host}-shop_7f9c-1.json"));
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}; {:?}", path.display(), std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.file_name()).collect::<Vec<_>>()));
    assert!(!raw.contains("hunter2"), "a secret-looking -D value is masked");
    let r = read_report(&path);
    let o = &r.origin;
    assert_eq!(o.host, host);
    assert!(o.main.as_deref().is_some_and(|m| m.ends_with("harness.jar") || m.contains("leakagent")), "{o:?}");
    assert!(o.jvm_args.iter().any(|a| a == "-Ddb.password=***"), "{o:?}");
    assert!(o.jvm_args.iter().any(|a| a == "-Dshop.name=petshop") && o.jvm_args.iter().any(|a| a == "-Xmx256m"), "{o:?}");
    assert_eq!((o.pod.as_deref(), o.namespace.as_deref()), (Some("shop-7f9c"), Some("staging")));
    let text = std::fs::read_to_string(dir.join(format!("r-{safe_host}-shop_7f9c-1.txt"))).unwrap();
    assert!(text.contains(&format!("From: host {host}, main ")) && text.contains("pod staging/shop-7f9c"), "{text}");
}

#[test]
fn late_attach_with_jcmd_reports_on_signal() {
    let java = main_java();
    let jcmd = java.with_file_name("jcmd");
    if !jcmd.is_file() {
        panic!("{} is missing: the main JDK must have jcmd", jcmd.display());
    }
    let mut jvm = Jvm::scenario("attach", "healthy").without_agent().start();
    // jcmd would split key=value into its own arguments: the quotes keep the options whole.
    let opts = format!("\"file={}/late-%n,signal=RTMIN+3\"", jvm.dir.display());
    let out = Command::new(&jcmd)
        .args([&jvm.pid().to_string(), "JVMTI.agent_load", &agent_lib().display().to_string(), &opts])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && said.contains("return code: 0"), "jcmd: {said}");
    jvm.signal(rtmin(3));
    let r = jvm.wait_for_reports(1, Duration::from_secs(60));
    assert_eq!(r[0].trigger, Trigger::Signal);
    assert!(r[0].jvm.attached_late);
    let cl = &r[0].class_loaders;
    assert!(cl.classes_live > 300, "classes loaded before the attach are counted");
    // A second load is refused without harming the JVM.
    let again = Command::new(&jcmd)
        .args([&jvm.pid().to_string(), "JVMTI.agent_load", &agent_lib().display().to_string(), "bogus=1"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&again.stdout).contains("return code: 0"));
    let f = jvm.finish();
    assert_eq!(f.code, Some(0));
    assert!(f.death_report().jvm.attached_late);
}

/// The same checks on the main JDK and every other one this machine has (at least one other,
/// or LEAKAGENT_SKIP_OTHER_JDKS=1).
#[test]
fn healthy_on_every_installed_jdk() {
    let javas = every_java("healthy_on_every_installed_jdk");
    for java in &javas {
        let v = java_feature_version(java);
        let f = Jvm::scenario(&format!("jdk{v}"), "healthy").java(java).run();
        assert_eq!(f.code, Some(0), "JDK {v} ({}):\n{}", java.display(), f.stderr);
        let r = f.death_report();
        assert_header(&r);
        assert_children_unloaded(&f, &r);
    }
    ran_on("healthy_on_every_installed_jdk", &javas);
}

/// The report keys of /work/shared/CONTRACT.md ("JSON report (minimum keys)"), copied here as
/// paths (`[]`: any element of an array): users' scripts and dashboards rely on them, so one
/// renamed, even with the model renamed alike, fails here.
const CONTRACT_KEYS: &[&str] = &[
    "schema_version",
    "trigger",
    "pid",
    "time",
    "uptime_ms",
    "jvm.version",
    "jvm.vendor",
    "agent.version",
    "agent.options",
    "agent.health.events",
    "agent.health.dropped",
    "agent.health.panics",
    "findings[].severity",
    "findings[].kind",
    "findings[].summary",
    "findings[].fix",
    "class_loaders.loaders[].id",
    "class_loaders.loaders[].class",
    "class_loaders.loaders[].name",
    "class_loaders.loaders[].parent",
    "class_loaders.loaders[].classes",
    "class_loaders.loaders[].alive",
    "class_loaders.classes_loaded",
    "class_loaders.classes_unloaded",
    "class_loaders.duplicate_classes[].name",
    "class_loaders.duplicate_classes[].loaders",
    "class_loaders.leak_suspects[].loader_class",
    "class_loaders.leak_suspects[].loader_name",
    "class_loaders.leak_suspects[].classes",
    "class_loaders.leak_suspects[].path[].from",
    "class_loaders.leak_suspects[].path[].field",
    "class_loaders.leak_suspects[].path[].kind",
    "class_loaders.leak_suspects[].path[].to",
    "class_loaders.leak_suspects[].culprit",
    "class_loaders.leak_suspects[].fix",
    "zlib.sites[].kind",
    "zlib.sites[].stack",
    "zlib.sites[].created",
    "zlib.sites[].ended_explicitly",
    "zlib.sites[].released_by_gc",
    "zlib.sites[].live",
    "zlib.sites[].live_bytes_estimate",
    "zlib.totals",
    "direct.sites[].kind",
    "direct.sites[].stack",
    "direct.sites[].allocations",
    "direct.sites[].frees",
    "direct.sites[].live_count",
    "direct.sites[].live_bytes",
    "direct.totals",
    // "Native allocations sampled with stacks appear in a section of their own whose sites carry
    // stack[] and an estimated live size in bytes (a key containing live and bytes)".
    "native_sampling.sites[].stack[]",
    "native_sampling.sites[].estimated_live_bytes",
    "memory.rss_bytes",
    "memory.malloc.allocator",
    "memory.malloc.in_use_bytes",
    "memory.malloc.free_bytes",
    "memory.malloc.arenas",
    "memory.regions[].kind",
    "memory.regions[].count",
    "memory.regions[].size_bytes",
    "memory.regions[].rss_bytes",
    "memory.explanation[].part",
    "memory.explanation[].bytes",
    "memory.explanation[].note",
    "samples[].t_ms",
    "samples[].rss_bytes",
    "samples[].heap_used_bytes",
    "samples[].malloc_in_use_bytes",
    "samples[].malloc_free_bytes",
    "samples[].direct_live_bytes",
    "samples[].zlib_live",
    "samples[].classes_loaded",
    "samples[].loaders_alive",
];

/// The explanation parts CONTRACT.md names ("explanation parts (at least)").
const CONTRACT_PARTS: &[&str] =
    &["java_heap", "metaspace", "code_cache", "thread_stacks", "zlib", "direct", "malloc_in_use", "malloc_retained", "other", "unexplained"];

/// Whether `path` (as in CONTRACT_KEYS) leads somewhere in `v`; `[]` needs some element to have
/// the rest, so an empty array does not count.
fn has_path(v: &serde_json::Value, path: &str) -> bool {
    let (step, rest) = match path.split_once('.') {
        Some((step, rest)) => (step, Some(rest)),
        None => (path, None),
    };
    let (key, many) = step.strip_suffix("[]").map_or((step, false), |k| (k, true));
    let Some(at) = v.get(key) else { return false };
    match (many, rest) {
        (false, None) => true,
        (false, Some(rest)) => has_path(at, rest),
        (true, None) => at.as_array().is_some_and(|a| !a.is_empty()),
        (true, Some(rest)) => at.as_array().is_some_and(|a| a.iter().any(|e| has_path(e, rest))),
    }
}

/// Every contract key in reports the agent wrote: the healthy run's exit report (zlib and
/// direct sites, samples) and a leak's signal report (findings, suspects with their chains,
/// duplicate classes). Each key must be in one of them with an element under every `[]`.
#[test]
fn report_has_every_contract_key() {
    // native=on: the sampled section (off by default) has sites to check.
    let healthy = Jvm::scenario("contract-healthy", "healthy").options("native=on").run();
    assert_eq!(healthy.code, Some(0), "{}", healthy.stderr);
    let mut leaky = Jvm::scenario("contract-leak", "jdbc-driver").jvm_args(&["-Xmx512m"]).start();
    leaky.signal(rtmin(2));
    leaky.wait_for_reports(1, Duration::from_secs(120));
    let leaky = leaky.finish();
    assert_eq!(leaky.code, Some(0), "{}", leaky.stderr);
    let files = [report_files(&healthy.dir).pop().expect("the exit report"), report_files(&leaky.dir).remove(0)];
    let raw: Vec<serde_json::Value> = files.iter().map(|p| read_json(p)).collect();
    let missing: Vec<&str> = CONTRACT_KEYS.iter().copied().filter(|k| !raw.iter().any(|r| has_path(r, k))).collect();
    assert!(missing.is_empty(), "contract keys missing from {files:?}: {missing:?}");
    for (p, r) in files.iter().zip(&raw) {
        let report = parse_report(r, &p.display().to_string());
        let parts: Vec<&str> = report.memory.explanation.iter().map(|p| p.part.as_str()).collect();
        for part in CONTRACT_PARTS {
            assert!(parts.contains(part), "{}: no explanation part {part}: {parts:?}", p.display());
        }
    }
    assert_eq!(read_report(&files[1]).trigger, Trigger::Signal);
}

/// What the typed read guards against: an `Option` key renamed by the agent would read as None;
/// the key check names both paths instead.
#[test]
#[should_panic(expected = "keys in the file the model does not know: [\"class_loaders.chain_searches\"]; keys of the model the file lacks: [\"class_loaders.chain_search\"]")]
fn a_renamed_key_fails_the_read() {
    let mut v = serde_json::to_value(test_report()).unwrap();
    let cl = v["class_loaders"].as_object_mut().unwrap();
    let search = cl.remove("chain_search").unwrap();
    cl.insert("chain_searches".into(), search);
    parse_report(&v, "renamed");
}
