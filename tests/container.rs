//! Containers on real JVMs: a JVM in a memory-limited cgroup (v1 on these hosts; v2 is tested
//! from fixture files in agent/memory/cgroup.rs) whose native memory grows past
//! `rss_limit`; direct memory past `direct_limit` and exhausted; heap and metaspace
//! OutOfMemoryErrors writing `oom` reports; one report per crossing (hysteresis); bad limit
//! values refused at start-up; the Prometheus textfile and the JSON lines beside the reports.
//! Needs root (the cgroup is created under /sys/fs/cgroup/memory and removed after).

mod common;

use common::*;
use std::path::{Path, PathBuf};

const MIB: u64 = 1 << 20;
const V1_ROOT: &str = "/sys/fs/cgroup/memory";

/// A v1 memory cgroup with a limit, and a `java` wrapper that moves itself into it before exec.
struct Cgroup {
    dir: PathBuf,
    wrapper: PathBuf,
}

impl Cgroup {
    fn new(name: &str, limit: u64, work: &Path) -> Cgroup {
        Cgroup::limited(V1_ROOT, "memory.limit_in_bytes", name, limit, work)
    }

    /// A v1 cgroup of the pids controller: at most `max` tasks (threads) in it.
    fn pids(name: &str, max: u64, work: &Path) -> Cgroup {
        Cgroup::limited("/sys/fs/cgroup/pids", "pids.max", name, max, work)
    }

    fn limited(root: &str, file: &str, name: &str, limit: u64, work: &Path) -> Cgroup {
        assert!(Path::new(root).join(file).is_file() || Path::new(root).join("cgroup.procs").is_file(), "cgroup v1 controller not mounted at {root}");
        let dir = Path::new(root).join(format!("leakagent-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir(&dir);
        std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("cannot create {} (root needed): {e}", dir.display()));
        std::fs::write(dir.join(file), limit.to_string()).unwrap();
        let wrapper = work.join("java-in-cgroup");
        std::fs::write(
            &wrapper,
            format!("#!/bin/sh\necho $$ > {}/cgroup.procs\nexec {} \"$@\"\n", dir.display(), main_java().display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        Cgroup { dir, wrapper }
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        // The JVM has exited: the cgroup is empty and can go.
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn with_trigger(reports: &[Report], trigger: Trigger) -> Vec<&Report> {
    reports.iter().filter(|r| r.trigger == trigger).collect()
}

fn crossings<'a>(reports: &'a [Report], limit: &str) -> Vec<&'a Crossing> {
    with_trigger(reports, Trigger::Threshold)
        .into_iter()
        .flat_map(|r| r.trigger_detail.as_ref().expect("a threshold report has trigger_detail").crossings.iter())
        .filter(|c| c.limit == limit)
        .collect()
}

/// The `oom` of a report's trigger detail.
fn oom_of(r: &Report) -> &Oom {
    r.trigger_detail.as_ref().and_then(|d| d.oom.as_ref()).expect("an oom report names its kind")
}

/// The run, its cgroup's name, and the Prometheus textfile read while the JVM ran.
fn native_growth_in_cgroup(fixed: bool) -> (Finished, String, String) {
    let name = if fixed { "growth-fixed" } else { "growth" };
    let jvm = Jvm::scenario(name, "native-growth");
    let cg = Cgroup::new(name, 512 * MIB, &jvm.dir);
    let cg_name = cg.dir.file_name().unwrap().to_str().unwrap().to_string();
    let args: &[&str] = if fixed { &["--fixed"] } else { &[] };
    let running = jvm
        .java(&cg.wrapper.clone())
        .jvm_args(&["-Xmx200m"])
        .options("rss_limit=50%,sample_interval=200ms,format=json+prom+jsonl")
        .args(args)
        .start();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    let path = running.dir.join(format!("leakagent-{host}-{}.prom", running.pid()));
    let prom = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("the Prometheus textfile {}: {e}", path.display()));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "node_exporter runs as its own user and must read the textfile");
    let f = running.finish();
    drop(cg);
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(!path.exists(), "a dead JVM leaves no live series: the exit report removes its textfile");
    (f, cg_name, prom)
}

#[test]
fn native_growth_in_a_limited_cgroup_writes_one_threshold_report_naming_the_limit() {
    let (f, cg_name, prom) = native_growth_in_cgroup(false);
    let reports = f.reports();
    let c = crossings(&reports, "rss_limit");
    assert_eq!(c.len(), 1, "one crossing, RSS never fell back below 90% of the threshold: {reports:#?}");
    let c = c[0];
    assert_eq!(c.configured, "50%");
    assert_eq!((c.of.as_deref(), c.of_bytes), (Some("cgroup memory limit"), Some(512 * MIB)));
    assert_eq!(c.threshold, 256 * MIB);
    assert!(c.value >= 256 * MIB, "{c:?}");
    let t = with_trigger(&reports, Trigger::Threshold)[0];
    let detail = t.trigger_detail.as_ref().unwrap();
    assert!(detail.summary.contains("rss_limit crossed"), "{detail:?}");
    // The memory section speaks in the platform's terms.
    let cgroup = t.memory.cgroup.as_ref().expect("memory.cgroup in a cgroup");
    assert_eq!(cgroup.version, 1);
    assert!(cgroup.path.ends_with(&cg_name), "{cgroup:?}");
    assert_eq!(cgroup.limit, Some(512 * MIB));
    let (usage, ws) = (cgroup.usage, cgroup.working_set);
    // RSS also counts shared library pages the kernel charged to whoever read them first, so
    // the cgroup's number is below RSS; the native blocks themselves are charged here.
    assert!(ws <= usage && cgroup.anon.unwrap() >= 192 * MIB, "the native growth is charged to the cgroup: {cgroup:?}");
    assert_eq!(cgroup.headroom, Some(512 * MIB - ws));
    assert!(t.samples.iter().any(|s| s.cgroup_limit_bytes == Some(512 * MIB)), "samples carry the limit");

    // Dashboards: the textfile has the cgroup's numbers, the JSON lines one line per report.
    let pid = reports[0].pid;
    assert!(prom.contains(&format!("leakagent_cgroup_limit_bytes{{pid=\"{pid}\",host=")), "{prom}");
    assert!(prom.contains(&format!("}} {}\n", 512 * MIB)), "{prom}");
    assert!(prom.contains("leakagent_cgroup_headroom_bytes{"), "{prom}");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    let lines = std::fs::read_to_string(f.dir.join(format!("leakagent-{host}-{pid}.jsonl"))).expect("the JSON lines file");
    // The lines have no typed model of their own: read through get(), which fails on a missing key.
    let lines: Vec<serde_json::Value> = lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), reports.len(), "one line per report");
    let thr: Vec<&serde_json::Value> = lines.iter().filter(|l| get(l, "trigger") == "threshold").collect();
    assert_eq!(thr.len(), 1);
    assert_eq!(get(thr[0], "cgroup_limit_bytes").as_u64(), Some(512 * MIB));
    assert_eq!(get(thr[0], "trigger_detail.crossings.0.limit"), "rss_limit");

    // At exit 320 MiB of native memory is kept: with the heap at its -Xmx 200 MiB the process
    // would pass 512 MiB, and the finding says the part outside the heap is the cause.
    let d = f.death_report();
    let kinds: Vec<&str> = d.findings.iter().map(|f| f.kind.as_str()).collect();
    assert!(kinds.contains(&"container_limit"), "{kinds:?}: {:?}", d.memory.cgroup);
}

#[test]
fn fixed_native_growth_stays_under_the_threshold() {
    let (f, _, _) = native_growth_in_cgroup(true);
    let reports = f.reports();
    assert!(with_trigger(&reports, Trigger::Threshold).is_empty(), "{reports:#?}");
    let d = f.death_report();
    assert_eq!(d.memory.cgroup.as_ref().and_then(|c| c.limit), Some(512 * MIB));
    assert!(d.memory.rss_bytes < 256 * MIB);
    assert!(d.findings.iter().all(|f| f.kind != "container_limit"), "{:?}", d.findings);
}

fn direct_oom(fixed: bool) -> Vec<Report> {
    let args: &[&str] = if fixed { &["--fixed"] } else { &[] };
    let f = Jvm::scenario(if fixed { "direct-fixed" } else { "direct" }, "direct-oom")
        .jvm_args(&["-XX:MaxDirectMemorySize=64m"])
        .options("direct_limit=50%,sample_interval=100ms")
        .args(args)
        .run();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    f.reports()
}

#[test]
fn direct_memory_crosses_its_threshold_and_its_exhaustion_is_an_oom_report() {
    let reports = direct_oom(false);
    let c = crossings(&reports, "direct_limit");
    assert_eq!(c.len(), 1, "{reports:#?}");
    assert_eq!((c[0].of.as_deref(), c[0].of_bytes, c[0].threshold), (Some("MaxDirectMemorySize"), Some(64 * MIB), 32 * MIB));
    let oom = with_trigger(&reports, Trigger::Oom);
    assert_eq!(oom.len(), 1, "{reports:#?}");
    let o = oom_of(oom[0]);
    assert_eq!(o.kind, "direct");
    assert!(o.description.contains("64.0 MiB reserved of MaxDirectMemorySize 64.0 MiB, nothing released for "), "{o:?}");
    // The finding names where the live direct memory was allocated.
    let f = oom[0].findings.iter().find(|f| f.kind == "out_of_memory").expect("an out_of_memory finding");
    assert_eq!(f.subject.site.as_deref(), Some("leakagent.harness.scenarios.DirectOom.run(DirectOom.java:24)"), "{f:?}");
    assert!(f.summary.contains("direct buffer memory is exhausted") && f.summary.contains("MiB in"), "{}", f.summary);
}

#[test]
fn fixed_direct_memory_writes_neither() {
    let reports = direct_oom(true);
    assert!(with_trigger(&reports, Trigger::Threshold).is_empty() && with_trigger(&reports, Trigger::Oom).is_empty(), "{reports:#?}");
}

/// A real exhaustion, the ledger on or off, sampled every 10 ms: `allocateDirect` threw
/// `Cannot reserve ... bytes of direct buffer memory` (after java.nio.Bits' ~0.5 s of retries)
/// and the oom report is written while the buffers are still held, 3 s after the throw; the
/// stall is timed from the pool's first full sample, so it comes ~0.5 s after the throw.
#[test]
fn a_real_direct_exhaustion_is_reported_while_the_pool_is_full() {
    for opts in ["sample_interval=10ms", "sample_interval=10ms,direct=off"] {
        let f = Jvm::scenario(&format!("direct-stall-{}", opts.len()), "direct-oom")
            .jvm_args(&["-XX:MaxDirectMemorySize=64m"])
            .options(opts)
            .run();
        assert_eq!(f.code, Some(0), "{opts}: {}", f.stderr);
        let t = f.truths();
        assert!(t["oom_message"].contains("Cannot reserve"), "{opts}: {t:?}");
        let reports = f.reports();
        let oom = with_trigger(&reports, Trigger::Oom);
        assert_eq!(oom.len(), 1, "{opts}: {reports:#?}");
        assert_eq!(oom_of(oom[0]).kind, "direct", "{opts}");
        let dropped: u64 = t["dropped_uptime_ms"].parse().unwrap();
        assert!(oom[0].uptime_ms < dropped, "{opts}: oom report at {} ms, buffers dropped at {dropped} ms: {t:?}", oom[0].uptime_ms);
    }
}

/// Runs `scenario` under `-XX:MaxDirectMemorySize=max`, sampled every 10 ms with the ledger on
/// and off: no oom report, no out_of_memory finding.
fn no_oom_at_the_limit(scenario: &str, max: &str) {
    for opts in ["sample_interval=10ms", "sample_interval=10ms,direct=off"] {
        let f = Jvm::scenario(&format!("{scenario}-{}", opts.len()), scenario)
            .jvm_args(&[&format!("-XX:MaxDirectMemorySize={max}")])
            .options(opts)
            .run();
        assert_eq!(f.code, Some(0), "{opts}: {}", f.stderr);
        let reports = f.reports();
        assert!(with_trigger(&reports, Trigger::Oom).is_empty(), "{opts}: {reports:#?}");
        let d = f.death_report();
        assert!(d.findings.iter().all(|f| f.kind != "out_of_memory"), "{opts}: {:?}", d.findings);
    }
}

/// direct-churn's 65,537-byte buffers, dropped as they go, with room for 15 of them: every 16th
/// allocateDirect finds the pool full and waits for the GC's Cleaner, and the run goes on. A
/// pool full of dropped buffers is not exhausted, with the ledger's released bytes (default) or
/// the pool's own count (direct=off) as the evidence; a 10 ms sampler sees it full often.
#[test]
fn a_direct_pool_full_of_dropped_buffers_is_not_an_oom() {
    no_oom_at_the_limit("direct-churn", "983055");
}

/// direct-at-limit: two threads at a 1 MiB pool for 6 s, never calling System.gc(): java.nio.Bits
/// does, each time the pool is full of dropped buffers (DirectBench at 64m did the same).
#[test]
fn an_application_running_at_its_direct_limit_is_not_an_oom() {
    no_oom_at_the_limit("direct-at-limit", "1m");
}

fn oom_run(scenario: &str, jvm_arg: &str, fixed: bool) -> Vec<Report> {
    let args: &[&str] = if fixed { &["--fixed"] } else { &[] };
    let f = Jvm::scenario(&format!("{scenario}{}", if fixed { "-fixed" } else { "" }), scenario)
        .jvm_args(&[jvm_arg])
        .args(args)
        .run();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert_eq!(f.truths()["oom_thrown"], (!fixed).to_string(), "{}", f.stdout);
    f.reports()
}

#[test]
fn heap_oom_writes_an_oom_report_naming_the_heap() {
    let reports = oom_run("heap-oom", "-Xmx64m", false);
    let oom = with_trigger(&reports, Trigger::Oom);
    assert_eq!(oom.len(), 1, "{reports:#?}");
    let o = oom_of(oom[0]);
    assert_eq!((o.kind.as_str(), o.description.as_str()), ("heap", "Java heap space"));
    let f = oom[0].findings.iter().find(|f| f.kind == "out_of_memory").expect("an out_of_memory finding");
    assert!(f.summary.starts_with("OutOfMemoryError (heap): Java heap space: the Java heap is full ("), "{}", f.summary);
    assert!(f.fix.contains("HeapDumpOnOutOfMemoryError"), "{}", f.fix);
    // Written while the thread that threw waited, before it dropped the arrays: the heap is full.
    let heap = &oom[0].memory.jvm;
    assert!(heap.heap_used_bytes.unwrap() > 48 * MIB, "{heap:?}");
    assert!(oom_run("heap-oom", "-Xmx64m", true).iter().all(|r| r.trigger != Trigger::Oom));
}

#[test]
fn metaspace_oom_writes_an_oom_report_naming_metaspace() {
    let reports = oom_run("metaspace-oom", "-XX:MaxMetaspaceSize=32m", false);
    let oom = with_trigger(&reports, Trigger::Oom);
    assert_eq!(oom.len(), 1, "{reports:#?}");
    let o = oom_of(oom[0]);
    assert_eq!((o.kind.as_str(), o.description.as_str()), ("metaspace", "Metaspace"));
    let f = oom[0].findings.iter().find(|f| f.kind == "out_of_memory").expect("an out_of_memory finding");
    assert!(f.summary.contains("Metaspace is full") && f.summary.contains("class loaders alive"), "{}", f.summary);
    assert!(oom_run("metaspace-oom", "-XX:MaxMetaspaceSize=32m", true).iter().all(|r| r.trigger != Trigger::Oom));
}

#[test]
fn thread_exhaustion_writes_an_oom_report_naming_threads() {
    let run = |fixed: bool| {
        let name = if fixed { "threads-fixed" } else { "threads" };
        let jvm = Jvm::scenario(name, "threads-oom");
        // Room for the JVM's own threads and some 100 more: the kernel refuses the rest, which
        // is what ulimit -u or a container's pids limit does.
        let cg = Cgroup::pids(name, 150, &jvm.dir);
        let args: &[&str] = if fixed { &["--fixed"] } else { &[] };
        let f = jvm.java(&cg.wrapper.clone()).args(args).run();
        drop(cg);
        assert_eq!(f.code, Some(0), "{}", f.stderr);
        assert_eq!(f.truths()["oom_thrown"], (!fixed).to_string(), "{}", f.stdout);
        f.reports()
    };
    let reports = run(false);
    let oom = with_trigger(&reports, Trigger::Oom);
    assert_eq!(oom.len(), 1, "{reports:#?}");
    let o = oom_of(oom[0]);
    assert_eq!(o.kind, "threads", "{o:?}");
    assert!(o.description.contains("unable to create native thread"), "{o:?}");
    let f = oom[0].findings.iter().find(|f| f.kind == "out_of_memory").expect("an out_of_memory finding");
    assert!(f.summary.contains("no more threads can be created:") && f.summary.contains("thread stacks are mapped"), "{}", f.summary);
    assert!(f.fix.contains("pids limit"), "{}", f.fix);
    assert!(run(true).iter().all(|r| r.trigger != Trigger::Oom));
}

#[test]
fn one_threshold_report_per_crossing() {
    let run = |fixed: bool| {
        let args: &[&str] = if fixed { &["--fixed"] } else { &[] };
        let f = Jvm::scenario(if fixed { "waves-fixed" } else { "waves" }, "zlib-waves")
            .options("zlib_limit=100,sample_interval=100ms")
            .args(args)
            .run();
        assert_eq!(f.code, Some(0), "{}", f.stderr);
        f.reports()
    };
    // 120 crosses; 95 stays above the re-arm line (90) so 130 does not report; 0 re-arms and
    // the last 120 crosses again.
    let reports = run(false);
    let c = crossings(&reports, "zlib_limit");
    assert_eq!(c.len(), 2, "{reports:#?}");
    for x in &c {
        assert_eq!((x.threshold, x.rearm_below, x.unit.as_str()), (100, 90, "streams"));
        assert!(x.value >= 100);
    }
    assert!(crossings(&run(true), "zlib_limit").is_empty());
}

#[test]
fn bad_limit_values_are_refused_at_start_up_naming_the_option() {
    for (bad, needle) in [
        ("rss_limit=0", "'rss_limit'"),
        ("rss_limit=120%", "'rss_limit'"),
        ("usage_limit=lots", "'usage_limit'"),
        ("direct_limit=0%", "'direct_limit'"),
        ("zlib_limit=-1", "'zlib_limit'"),
        ("loaders_limit=many", "'loaders_limit'"),
        ("format=json+prometheus", "'format'"),
        ("prom_file=/tmp/x-%n.prom", "'prom_file'"),
    ] {
        let f = Jvm::scenario("badlimit", "healthy").raw_options(bad).run();
        assert_ne!(f.code, Some(0), "{bad}: the JVM must refuse to start");
        assert!(!f.stdout.contains("HARNESS ready"), "{bad}: the scenario must not run");
        let value = bad.split_once('=').unwrap().1;
        for n in [needle, &format!("'{value}'"), "allowed"] {
            assert!(f.stderr.contains(n) || (n == "allowed" && f.stderr.contains("must")), "{bad}: stderr lacks {n}:\n{}", f.stderr);
        }
    }
}
