//! Builds a report from the features (`build`: one call per feature's section, see
//! `reporting/mod.rs`) and writes every requested rendering. Runs on the report thread (or, if
//! that thread is gone, on the thread that posted VMDeath); one report at a time.

use crate::core::budget::Budget;
use crate::leaks::walk::search::Limits;
use crate::memory::gc;
use crate::leaks::analyse::{self, LeakOptions};
use crate::reporting::{findings, progress};
use crate::core::options::Chains;
use crate::ffi::jni::Env;
use crate::ffi::jvmti::JvmtiError;
use crate::ffi::os;
use crate::core::health::{self, Feature, COUNTERS};
use crate::core::guard::guarded;
use crate::core::log;
use leakagent_report::model::{AgentInfo, ClassLoaders, Direct, JvmInfo, Report, Tracking, Trigger, TriggerDetail, Zlib, SCHEMA_VERSION};
use crate::reporting::retention;
use crate::reporting::writer;
use leakagent_report::model::{blank_report, Cgroup, Sample};
use leakagent_report::{html, json, prom, text};
use crate::core::runtime::Agent;
use parking_lot::Mutex;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static REPORT_LOCK: Mutex<()> = Mutex::new(());
static SEQUENCE: AtomicU64 = AtomicU64::new(0);
/// The last report, for the Prometheus textfile the sampler refreshes between reports.
static LAST: Mutex<Option<Report>> = Mutex::new(None);
static PROM_FAILED: AtomicBool = AtomicBool::new(false);
/// Set once the exit report removed the textfile (under `LAST`, which every textfile write holds).
static PROM_CLOSED: AtomicBool = AtomicBool::new(false);
/// Set while a report forces a GC under a collector whose threads HotSpot stops before it posts
/// VMDeath: a report that asks for it as the JVM exits waits forever (session 33), and the
/// VMDeath callback then writes the exit report itself (`trigger::on_vm_death`).
static IN_GC_EXIT_CANNOT_FINISH: AtomicBool = AtomicBool::new(false);

/// Whether a report is in a forced GC that does not complete once the JVM began to exit.
pub fn in_gc_exit_cannot_finish() -> bool {
    IN_GC_EXIT_CANNOT_FINISH.load(Relaxed)
}

/// Builds and writes one report within `budget`; returns the JSON path when it was written.
pub fn write_report(agent: &Agent, env: &Env, trigger: Trigger, budget: Budget) -> Option<String> {
    write_report_with(agent, env, trigger, budget, None)
}

/// As `write_report`, with what a `threshold` or `oom` report was written for.
pub fn write_report_with(
    agent: &Agent,
    env: &Env,
    trigger: Trigger,
    budget: Budget,
    detail: Option<TriggerDetail>,
) -> Option<String> {
    let _one_at_a_time = REPORT_LOCK.lock();
    write_unlocked(agent, env, trigger, budget, detail)
}

/// The exit report written beside a report stuck in a GC that cannot finish, which holds the
/// report lock for good (`in_gc_exit_cannot_finish`). That report resumes, if ever, with the
/// JVM exiting: its chain search, the one step that tags the heap, is then skipped.
pub fn write_exit_report_beside_stuck(agent: &Agent, env: &Env, budget: Budget) -> Option<String> {
    write_unlocked(agent, env, Trigger::VmDeath, budget, None)
}

fn write_unlocked(agent: &Agent, env: &Env, trigger: Trigger, budget: Budget, detail: Option<TriggerDetail>) -> Option<String> {
    let seq = SEQUENCE.fetch_add(1, Relaxed) + 1;
    let t0 = Instant::now();
    progress::begin("waiting for the heap to be quiet");
    let mut report = env.with_local_frame(256, || build(agent, env, trigger, detail, seq, t0, budget));
    progress::step("rendering and writing");
    let written = write_files(agent, &mut report, &budget);
    progress::step("done");
    if let (Some(path), false) = (&written, trigger == Trigger::VmDeath) {
        guarded(Feature::Startup, (), || crate::reporting::state::publish_report(env, path, seq));
    }
    written
}

/// Why a report has no full GC before it. `Display` gives the text of `class_loaders.gc_skipped`
/// (and of `agent.skipped`, except for `Off`: what the user asked for is not a skip).
#[derive(Debug)]
enum NoGc {
    /// `gc=off`.
    Off,
    /// An interval report with `interval_gc=off`.
    IntervalWithout,
    /// At exit under a collector whose threads HotSpot has already stopped.
    ExitUnder(gc::Collector),
    /// At exit, the collector unknown.
    ExitUnknownCollector,
    /// `exit_timeout` is spent.
    NoTimeLeft,
    /// JVMTI ForceGarbageCollection failed.
    Failed(JvmtiError),
}

impl fmt::Display for NoGc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoGc::Off => f.write_str("gc=off"),
            NoGc::IntervalWithout => f.write_str(
                "interval reports run without a full GC (interval_gc=off): loaders that became garbage since \
                 the last collection still count as alive here; a signal report has the GC",
            ),
            NoGc::ExitUnder(c) => write!(
                f,
                "the JVM is exiting under {}, whose threads HotSpot has already stopped: a forced GC would never \
                 finish. Loaders that became garbage since the last collection still count as alive here; the \
                 chain search tells them apart (no strong path), and reports asked for while the JVM runs have the GC",
                c.name()
            ),
            NoGc::ExitUnknownCollector => f.write_str(
                "the JVM is exiting and its collector could not be read: a forced GC might never finish \
                 (ZGC, Shenandoah), so none ran",
            ),
            NoGc::NoTimeLeft => f.write_str("no time left in exit_timeout"),
            NoGc::Failed(e) => write!(f, "ForceGarbageCollection failed: {e}"),
        }
    }
}

/// Whether to force a GC before this report, or why not.
fn gc_decision(agent: &Agent, env: &Env, trigger: Trigger, budget: &Budget) -> Result<(), NoGc> {
    if !agent.options.gc {
        return Err(NoGc::Off);
    }
    if trigger == Trigger::Interval && !agent.options.interval_gc {
        return Err(NoGc::IntervalWithout);
    }
    if budget.is_exit() {
        match gc::known().or_else(|| gc::detect(env)) {
            Some(c) if c.gc_at_exit_is_safe() => {}
            Some(c) => return Err(NoGc::ExitUnder(c)),
            None => return Err(NoGc::ExitUnknownCollector),
        }
    }
    if budget.stop_now() {
        return Err(NoGc::NoTimeLeft);
    }
    Ok(())
}

/// Builds the report: the full GC, then each feature's section (one call each, in the order
/// their costs need), then the findings derived from them all. A new feature adds its call here
/// and its field to `Report`; see the contract in `reporting/mod.rs`.
fn build(agent: &Agent, env: &Env, trigger: Trigger, detail: Option<TriggerDetail>, seq: u64, t0: Instant, budget: Budget) -> Report {
    if trigger == Trigger::VmDeath && crate::core::fault::injected("stuck-exit-report") {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut skipped: Vec<String> = Vec::new();
    // Until the chain search is done, no agent thread holds a reference that keeps a loader
    // alive through the GC or roots a chain (leaks/mod.rs); the exit report waits within its budget.
    let quiet = crate::leaks::quiet_heap(budget.cap(crate::leaks::QUIET_WAIT));
    progress::step("full GC");
    let gc = full_gc(agent, env, trigger, &budget, &mut skipped);
    progress::step("class loaders");
    let mut class_loaders = loaders_section(agent, env, gc, &budget, &mut skipped);
    progress::step("memory");
    // Memory right after the GC and before the chain search, whose tags cost native memory.
    let (mut memory, samples) = guarded(Feature::Memory, Default::default(), || agent.memory.snapshot(agent.memory_sources(), env));
    progress::step("zlib, direct and native sampling");
    let zlib = zlib_section(agent);
    let direct = guarded(Feature::Direct, failed_section("direct"), || agent.direct.snapshot(env));
    let native_sampling =
        guarded(Feature::Natives, Default::default(), || agent.sampled.snapshot(&agent.jvmti, env, &agent.stacks.methods));
    memory.malloc_split = crate::memory::explain::split_malloc(&memory, &native_sampling);
    let leak_opts = leak_options(agent, env, trigger, seq, &budget, memory.jvm.heap_used_bytes);
    progress::step("leak analysis");
    leaks_section(agent, env, &mut class_loaders, &leak_opts, &budget, &mut skipped);
    drop(quiet);
    let report = Report {
        schema_version: SCHEMA_VERSION,
        trigger,
        sequence: seq,
        pid: std::process::id(),
        time: log::rfc3339(now.as_millis() as u64),
        time_ms: now.as_millis() as u64,
        uptime_ms: os::process_uptime_ms().unwrap_or_else(|| agent.started.elapsed().as_millis() as u64),
        jvm: jvm_info(agent, env),
        origin: crate::reporting::origin::get(|| Some(property(agent, env, "sun.java.command")).filter(|c| !c.is_empty())),
        agent: agent_info(agent, &budget, t0, skipped),
        findings: Vec::new(),
        class_loaders,
        zlib,
        direct,
        native_sampling,
        memory,
        samples,
        trigger_detail: detail,
    };
    progress::step("findings");
    let mut report = findings::derive_within(report, &budget);
    report.agent.report_build_ms = t0.elapsed().as_millis() as u64;
    report
}

/// The full GC before a report, as `class_loaders` tells it.
struct GcBefore {
    result: Result<(), NoGc>,
    ms: u64,
}

/// Forces a full GC unless [`gc_decision`] says why not; a GC the options wanted and did not get
/// is added to `skipped`.
fn full_gc(agent: &Agent, env: &Env, trigger: Trigger, budget: &Budget, skipped: &mut Vec<String>) -> GcBefore {
    let t0 = Instant::now();
    let result = gc_decision(agent, env, trigger, budget).and_then(|()| {
        let cannot_finish_at_exit = gc::known().is_some_and(|c| !c.gc_at_exit_is_safe());
        if cannot_finish_at_exit {
            if crate::core::fault::injected("gc-as-jvm-exits") && trigger != Trigger::VmDeath {
                // Tests only: the GC is asked for after HotSpot stopped the collector's threads.
                std::thread::sleep(std::time::Duration::from_secs(3));
            }
            IN_GC_EXIT_CANNOT_FINISH.store(true, Relaxed);
        }
        let r = agent.jvmti.force_garbage_collection();
        IN_GC_EXIT_CANNOT_FINISH.store(false, Relaxed);
        r.map_err(|e| {
            log::warn(&format!("ForceGarbageCollection failed ({e}); this report has no GC before it"));
            NoGc::Failed(e)
        })
    });
    let ms = t0.elapsed().as_millis() as u64;
    match &result {
        Ok(()) | Err(NoGc::Off) => {}
        Err(why) => skipped.push(format!("full GC before the report: {why}")),
    }
    GcBefore { result, ms }
}

/// Class loaders and classes (`loaders/`): the tracker's snapshot, loaders labelled by their
/// fields where their class calls for it, and the GC that preceded it.
fn loaders_section(agent: &Agent, env: &Env, gc: GcBefore, budget: &Budget, skipped: &mut Vec<String>) -> ClassLoaders {
    // Half of what is left at most, so that the chain search, the point of an exit report, keeps
    // time of its own (session 33: 1,500 Groovy loaders asked under load took 8 s of 10).
    let mut class_loaders =
        guarded(Feature::Classes, Default::default(), || agent.classes.snapshot(&agent.jvmti, env, &budget.half_left(), skipped));
    progress::step("class loaders: labels");
    if crate::loaders::labels::wants_fields(&class_loaders.loaders) {
        guarded(Feature::Classes, (), || {
            env.with_local_frame(class_loaders.loaders.len().min(1 << 20) as i32 + 64, || {
                // The local references live until the frame ends, past every read.
                let alive = agent.classes.alive_loaders(env);
                let objects: Vec<(u32, jni::sys::jobject)> = alive.iter().map(|(id, o)| (*id, o.raw())).collect();
                crate::loaders::labels::label_by_fields(env, &mut class_loaders.loaders, &objects);
            })
        });
    }
    // What each live loader holds in metaspace (issue #21): one VM operation that cannot stop
    // midway, which took 1–1.7 times as long as listing the loaded classes (0.5–2.8 s for 1,500
    // Groovy loaders under load): at exit, not begun without twice that left.
    let listing = progress::took("class loaders: loaded classes").unwrap_or_default();
    progress::step("class loaders: metaspace");
    if budget.stop_now() || budget.remaining().is_some_and(|left| left < 2 * listing) {
        let left = budget.remaining().unwrap_or_default().as_millis();
        skipped.push(format!(
            "metaspace per class loader: about {} ms needed, {left} ms left of exit_timeout; raise exit_timeout",
            (2 * listing).as_millis()
        ));
    } else {
        guarded(Feature::Classes, (), || crate::loaders::metaspace::fill(&agent.jvmti, env, &agent.classes, &mut class_loaders));
    }
    class_loaders.gc_before_report = gc.result.is_ok();
    class_loaders.gc_skipped = gc.result.err().map(|why| why.to_string());
    class_loaders.gc_ms = gc.ms;
    class_loaders
}

/// The zlib ledger (`native/`), after both native ledgers forgot what they kept of unloaded
/// classes (under the zlib guard, as the method cache is shared).
fn zlib_section(agent: &Agent) -> Zlib {
    guarded(Feature::Zlib, (), || agent.forget_unloaded());
    guarded(Feature::Zlib, failed_section("zlib"), || agent.zlib.snapshot())
}

/// What the leak analysis (`leaks/`) may do in this report: chains or not, its limits within
/// `budget`, and where a heap dump may go.
fn leak_options(agent: &Agent, env: &Env, trigger: Trigger, seq: u64, budget: &Budget, heap_used: Option<u64>) -> LeakOptions {
    let o = &agent.options;
    let report_path = writer::expand(&o.file, std::process::id(), "s", "t", seq);
    LeakOptions {
        method: o.chain_method,
        dump_dir: o.chain_dump_dir.clone(),
        report_dir: std::path::Path::new(&report_path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|| ".".into()),
        tmpdir: Some(property(agent, env, "java.io.tmpdir")).filter(|t| !t.is_empty()),
        heap_used,
        chains: match o.chains {
            Chains::On => true,
            Chains::Off => false,
            Chains::Demand => trigger != Trigger::Interval,
        },
        limits: Limits {
            time: budget.cap(o.chain_time),
            max_objects: o.chain_objects,
            pause: o.chain_pause,
            memory: o.chain_memory,
        },
        patterns: o.leak_loaders.clone(),
    }
}

/// Class loader leaks (`leaks/`): suspects and their chains, written into `class_loaders`; a
/// chain search cut short is added to `skipped`.
fn leaks_section(agent: &Agent, env: &Env, class_loaders: &mut ClassLoaders, opts: &LeakOptions, budget: &Budget, skipped: &mut Vec<String>) {
    guarded(Feature::Leaks, (), || {
        analyse::analyse(&agent.jvmti, env, &agent.classes, class_loaders, opts, budget, &agent.known_chains)
    });
    if let Some(why) = class_loaders.chain_search.as_ref().and_then(|c| c.skipped.clone()) {
        skipped.push(format!("chain search: {why}"));
    }
}

/// A system property: through JNI (System.getProperty), else JVMTI's view; empty when unset.
fn property(agent: &Agent, env: &Env, key: &str) -> String {
    env.system_property(key).or_else(|| agent.jvmti.system_property(key)).unwrap_or_default()
}

fn jvm_info(agent: &Agent, env: &Env) -> JvmInfo {
    let prop = |k: &str| property(agent, env, k);
    JvmInfo {
        version: prop("java.version"),
        vendor: prop("java.vendor"),
        vm_name: prop("java.vm.name"),
        vm_version: prop("java.vm.version"),
        java_home: prop("java.home"),
        attached_late: agent.attached_late,
        collector: gc::known().map(|c| c.name().to_string()),
    }
}

/// The agent's own part of the report; `report_build_ms` is set once the report is built.
fn agent_info(agent: &Agent, budget: &Budget, t0: Instant, skipped: Vec<String>) -> AgentInfo {
    AgentInfo {
        version: env!("CARGO_PKG_VERSION").into(),
        options: agent.options.raw.clone(),
        health: health::snapshot(&agent.capabilities_missing, os::signal_counts()),
        report_build_ms: 0,
        budget_ms: budget.deadline().map(|d| d.saturating_duration_since(t0).as_millis() as u64),
        skipped,
    }
}

/// A ledger section for a feature switched off after an internal error.
fn failed_section<T: FailedSection>(feature: &str) -> T {
    T::failed(format!(
        "internal error in the {feature} ledger: it was switched off (see agent.health.disabled_features and the agent log)"
    ))
}

trait FailedSection {
    fn failed(reason: String) -> Self;
}

impl FailedSection for Zlib {
    fn failed(reason: String) -> Self {
        Zlib { tracking: Tracking::Failed, reason: Some(reason), ..Zlib::default() }
    }
}

impl FailedSection for Direct {
    fn failed(reason: String) -> Self {
        Direct { tracking: Tracking::Failed, reason: Some(reason), ..Direct::default() }
    }
}

/// Writes every rendering the options ask for; returns the JSON path when the JSON was written.
/// The JSON comes last: when it appears, its siblings are complete. At exit a sibling is given
/// up when what is left of `exit_timeout` may not hold it and the JSON.
fn write_files(agent: &Agent, report: &mut Report, budget: &Budget) -> Option<String> {
    let now_secs = (report.time_ms / 1000) as i64;
    let started = os::local_timestamp(agent.started_epoch_s);
    let expanded = writer::expand(&agent.options.file, report.pid, &started, &os::local_timestamp(now_secs), report.sequence);
    // A name with %n names one report of this run: an existing file there is another run's.
    let sequenced = agent.options.file.contains("%n");
    let (json_path, stem) = writer::json_path(&expanded);
    let (json_path, stem) = if sequenced { writer::unused_name(json_path, stem) } else { (json_path, stem) };
    let json_display = json_path.display().to_string();
    let rendering = Instant::now();
    let mut json = json::render(report);
    let (siblings, mut failed, given_up) = write_siblings(agent, report, &stem, budget, rendering.elapsed());
    if !given_up.is_empty() {
        report.agent.skipped.push(format!(
            "the {} rendering(s): not written, {} ms left of exit_timeout were kept for the JSON; raise exit_timeout",
            given_up.join(" and "),
            budget.until_end().unwrap_or_default().as_millis()
        ));
        json = json::render(report);
    }
    let report = &*report;
    failed |= !append_jsonl(agent, report, &json_display);
    failed |= !write_series_textfile(agent, report);
    match writer::write_atomic(&json_path, &json, !sequenced) {
        Ok(()) => {
            health::bump(&COUNTERS.reports_written);
            let files = std::iter::once(json_path).chain(siblings).collect();
            let removed = retention::written(files, agent.options.keep, agent.options.keep_bytes);
            COUNTERS.reports_removed.fetch_add(removed, Relaxed);
            if failed {
                health::bump(&COUNTERS.report_failures);
            }
            // The steps' times say where a slow report's time went (bench/chain_search.sh reads them).
            log::info(&format!(
                "report #{} ({}) written to {json_display}: {}; {}",
                report.sequence,
                report.trigger.as_str(),
                summary(report),
                progress::describe()
            ));
            Some(json_display)
        }
        Err(e) => {
            health::bump(&COUNTERS.report_failures);
            log::error(&format!(
                "cannot write report #{} ({}) to {json_display}: {e}; the JVM continues",
                report.sequence,
                report.trigger.as_str()
            ));
            None
        }
    }
}

/// The text and HTML renderings beside the JSON (`<stem>.txt`, `<stem>.html`): the paths
/// written, whether one failed, and those given up at exit: each is rendered only while the time
/// left holds three JSON renderings (`json_took`: this one, the JSON again, and the writes).
fn write_siblings(agent: &Agent, report: &Report, stem: &str, budget: &Budget, json_took: std::time::Duration) -> (Vec<PathBuf>, bool, Vec<&'static str>) {
    type Render = fn(&Report) -> String;
    let formats: [(bool, &'static str, Render); 2] =
        [(agent.options.formats.text, "text", text::render), (agent.options.formats.html, "html", html::render)];
    let mut written = Vec::new();
    let mut failed = false;
    let mut given_up = Vec::new();
    for (name, render) in formats.into_iter().filter(|f| f.0).map(|f| (f.1, f.2)) {
        if budget.is_exit() && budget.until_end().is_some_and(|left| left < 3 * json_took + std::time::Duration::from_millis(50)) {
            given_up.push(name);
            continue;
        }
        let path = format!("{stem}.{}", if name == "text" { "txt" } else { "html" });
        match writer::write_atomic(path.as_ref(), render(report).as_bytes(), true) {
            Ok(()) => written.push(path.into()),
            Err(e) => {
                log::error(&format!("cannot write report #{} to {path}: {e}", report.sequence));
                failed = true;
            }
        }
    }
    (written, failed, given_up)
}

/// Appends the report's line to the JSON lines file (`format=...+jsonl`); false when that failed.
fn append_jsonl(agent: &Agent, report: &Report, json_path: &str) -> bool {
    if !agent.options.formats.jsonl {
        return true;
    }
    let path = series_path(agent, agent.options.jsonl_file.as_deref(), "jsonl");
    if let Err(e) = retention::append_rolling(path.as_ref(), &jsonl_line(report, json_path), agent.options.jsonl_max) {
        log::error(&format!("cannot append report #{} to {path}: {e}", report.sequence));
        return false;
    }
    true
}

/// The Prometheus textfile (`format=...+prom`) at a report: replaced, and kept for the sampler's
/// refreshes; at exit removed for good. False when the textfile could not be written.
fn write_series_textfile(agent: &Agent, report: &Report) -> bool {
    if !agent.options.formats.prom {
        return true;
    }
    let mut last = LAST.lock();
    if report.trigger == Trigger::VmDeath {
        // A dead JVM's series must not stay live (alerts would keep firing): the exit report
        // is in the JSON; the textfile goes, and the sampler never writes it again.
        PROM_CLOSED.store(true, Relaxed);
        let path = series_path(agent, agent.options.prom_file.as_deref(), "prom");
        if let Err(e) = std::fs::remove_file(&path).or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) }) {
            log::error(&format!("cannot remove the Prometheus textfile {path} at exit: {e}"));
        }
        return true;
    }
    let mut kept = report.clone();
    kept.samples = Vec::new();
    *last = Some(kept);
    if let Err(e) = write_prom(agent, report) {
        log::error(&format!("cannot write the Prometheus textfile: {e}"));
        return false;
    }
    true
}

/// See `files::series_path`.
fn series_path(agent: &Agent, given: Option<&str>, suffix: &str) -> String {
    crate::core::files::series_path(&agent.options.file, given, &os::local_timestamp(agent.started_epoch_s), suffix)
}

/// Replaces the textfile (tmp then rename, so node_exporter never reads half a file).
fn write_prom(agent: &Agent, report: &Report) -> std::io::Result<()> {
    let path = series_path(agent, agent.options.prom_file.as_deref(), "prom");
    writer::write_textfile(path.as_ref(), prom::render(report, &[]).as_bytes())
}

/// The sampler's refresh of the textfile: the last report (or a blank one before the first)
/// with this sample's memory and cgroup numbers (`cgroup`: the sampler's reading of it).
pub fn update_prom(agent: &Agent, s: &Sample, cgroup: Option<Cgroup>) {
    let mut last = LAST.lock();
    if PROM_CLOSED.load(Relaxed) {
        return;
    }
    let r = last.get_or_insert_with(|| {
        let mut r = blank_report(std::process::id());
        r.origin = crate::reporting::origin::get(|| None);
        r.agent.version = env!("CARGO_PKG_VERSION").into();
        r.agent.options = agent.options.raw.clone();
        r
    });
    r.uptime_ms = s.t_ms;
    r.memory.rss_bytes = s.rss_bytes;
    r.memory.jvm.heap_used_bytes = s.heap_used_bytes.or(r.memory.jvm.heap_used_bytes);
    if cgroup.is_some() {
        r.memory.cgroup = cgroup;
    }
    if let Err(e) = write_prom(agent, r) {
        if !PROM_FAILED.swap(true, Relaxed) {
            log::warn(&format!("cannot refresh the Prometheus textfile: {e}; it is retried at each sample"));
        }
    }
}

/// One compact line for log shippers: what happened, the headline numbers, the findings.
fn jsonl_line(r: &Report, json_path: &str) -> String {
    let findings: Vec<_> = r
        .findings
        .iter()
        .map(|f| serde_json::json!({"severity": f.severity, "kind": f.kind, "summary": f.summary}))
        .collect();
    let c = r.memory.cgroup.as_ref();
    serde_json::json!({
        "time": r.time,
        "pid": r.pid,
        "sequence": r.sequence,
        "trigger": r.trigger,
        "trigger_detail": r.trigger_detail,
        "summary": summary(r),
        "rss_bytes": r.memory.rss_bytes,
        "heap_used_bytes": r.memory.jvm.heap_used_bytes,
        "cgroup_limit_bytes": c.and_then(|c| c.limit),
        "cgroup_working_set_bytes": c.map(|c| c.working_set),
        "cgroup_headroom_bytes": c.and_then(|c| c.headroom),
        "findings": findings,
        "report": json_path,
    })
    .to_string()
}

/// One line for the log: what the report says, under 200 characters (the worst finding is cut;
/// the report has it whole).
pub fn summary(r: &Report) -> String {
    const MAX: usize = 199;
    let c = &r.class_loaders;
    let head = format!(
        "{} finding{}; {} class loaders alive, {} dead; {} classes live, {} unloaded",
        r.findings.len(),
        if r.findings.len() == 1 { "" } else { "s" },
        c.loaders_alive,
        c.loaders_dead,
        c.classes_live,
        c.classes_unloaded
    );
    let Some(worst) = r.findings.first().map(|f| format!("; worst: {}", f.summary)) else { return head };
    let room = MAX.saturating_sub(head.chars().count());
    if worst.chars().count() <= room {
        return head + &worst;
    }
    let cut: String = worst.chars().take(room.saturating_sub(1)).collect();
    format!("{head}{}…", cut.trim_end())
}

#[cfg(test)]
mod tests {
    use leakagent_report::model::{test_report, Finding, Severity, Subject};

    #[test]
    fn the_log_summary_stays_under_200_characters() {
        let mut r = test_report();
        assert_eq!(super::summary(&r), "0 findings; 0 class loaders alive, 0 dead; 0 classes live, 0 unloaded");
        let summary = "x".repeat(500);
        r.findings.push(Finding { severity: Severity::Critical, kind: "k".into(), summary, fix: String::new(), subject: Subject::default() });
        let s = super::summary(&r);
        assert!(s.chars().count() < 200 && s.starts_with("1 finding; ") && s.ends_with("x…"), "{s}");
    }
}
