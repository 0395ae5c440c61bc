//! Builds a report from the collectors and writes every requested rendering. Runs on the report
//! thread (or, if that thread is gone, on the thread that posted VMDeath); one report at a time.

use crate::core::budget::Budget;
use crate::leaks::walk::search::Limits;
use crate::memory::gc;
use crate::leaks::analyse::{self, LeakOptions};
use crate::reporting::findings;
use crate::core::options::Chains;
use crate::ffi::jni::Env;
use crate::ffi::os;
use crate::core::health::{self, Feature, COUNTERS};
use crate::core::log;
use leakagent_report::model::{AgentInfo, Direct, JvmInfo, Report, Tracking, Trigger, TriggerDetail, Zlib, SCHEMA_VERSION};
use crate::reporting::retention;
use crate::reporting::writer;
use leakagent_report::model::{blank_report, Cgroup, Sample};
use leakagent_report::{html, json, prom, text};
use crate::core::runtime::Agent;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static REPORT_LOCK: Mutex<()> = Mutex::new(());
static SEQUENCE: AtomicU64 = AtomicU64::new(0);
/// The last report, for the Prometheus textfile the sampler refreshes between reports.
static LAST: Mutex<Option<Report>> = Mutex::new(None);
static PROM_FAILED: AtomicBool = AtomicBool::new(false);
/// Set once the exit report removed the textfile (under `LAST`, which every textfile write holds).
static PROM_CLOSED: AtomicBool = AtomicBool::new(false);

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
    let seq = SEQUENCE.fetch_add(1, Relaxed) + 1;
    let t0 = Instant::now();
    let report = env.with_local_frame(256, || build(agent, env, trigger, detail, seq, t0, budget));
    let written = write_files(agent, &report);
    if let (Some(path), false) = (&written, trigger == Trigger::VmDeath) {
        crate::core::guard::guarded(Feature::Startup, (), || crate::reporting::state::publish_report(env, path, seq));
    }
    written
}

/// Whether to force a GC before this report, or why not.
fn gc_decision(agent: &Agent, env: &Env, trigger: Trigger, budget: &Budget) -> Result<(), String> {
    if !agent.options.gc {
        return Err("gc=off".into());
    }
    if trigger == Trigger::Interval && !agent.options.interval_gc {
        return Err("interval reports run without a full GC (interval_gc=off): loaders that became garbage since \
                    the last collection still count as alive here; a signal report has the GC"
            .into());
    }
    if budget.is_exit() {
        match gc::known().or_else(|| gc::detect(env)) {
            Some(c) if c.gc_at_exit_is_safe() => {}
            Some(c) => {
                return Err(format!(
                    "the JVM is exiting under {}, whose threads HotSpot has already stopped: a forced GC would never \
                     finish. Loaders that became garbage since the last collection still count as alive here; the \
                     chain search tells them apart (no strong path), and reports asked for while the JVM runs have the GC",
                    c.name()
                ))
            }
            None => {
                return Err("the JVM is exiting and its collector could not be read: a forced GC might never finish \
                            (ZGC, Shenandoah), so none ran"
                    .into())
            }
        }
    }
    if budget.stop_now() {
        return Err("no time left in exit_timeout".into());
    }
    Ok(())
}

fn build(agent: &Agent, env: &Env, trigger: Trigger, detail: Option<TriggerDetail>, seq: u64, t0: Instant, budget: Budget) -> Report {
    if trigger == Trigger::VmDeath && crate::core::fault::injected("stuck-exit-report") {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut skipped: Vec<String> = Vec::new();
    let gc_t0 = Instant::now();
    let gc = match gc_decision(agent, env, trigger, &budget) {
        Ok(()) => match agent.jvmti.force_garbage_collection() {
            Ok(()) => Ok(()),
            Err(e) => {
                log::warn(&format!("ForceGarbageCollection failed ({e}); this report has no GC before it"));
                Err(format!("ForceGarbageCollection failed: {e}"))
            }
        },
        Err(why) => Err(why),
    };
    let gc_ms = gc_t0.elapsed().as_millis() as u64;
    if let Err(why) = &gc {
        if agent.options.gc {
            skipped.push(format!("full GC before the report: {why}"));
        }
    }
    let mut class_loaders = crate::core::guard::guarded(Feature::Classes, Default::default(), || {
        agent.classes.snapshot(&agent.jvmti, env)
    });
    if crate::loaders::labels::wants_fields(&class_loaders.loaders) {
        crate::core::guard::guarded(Feature::Classes, (), || {
            env.with_local_frame(class_loaders.loaders.len().min(1 << 20) as i32 + 64, || {
                // The local references live until the frame ends, past every read.
                let alive = agent.classes.alive_loaders(env);
                let objects: Vec<(u32, jni::sys::jobject)> = alive.iter().map(|(id, o)| (*id, o.raw())).collect();
                crate::loaders::labels::label_by_fields(env, &mut class_loaders.loaders, &objects);
            })
        });
    }
    class_loaders.gc_before_report = gc.is_ok();
    class_loaders.gc_skipped = gc.err();
    class_loaders.gc_ms = gc_ms;
    // Memory right after the GC and before the chain search, whose tags cost native memory.
    let (memory, samples) = crate::core::guard::guarded(Feature::Memory, Default::default(), || {
        agent.memory.snapshot(agent.memory_sources(), env)
    });
    crate::core::guard::guarded(Feature::Zlib, (), || agent.forget_unloaded());
    let zlib = crate::core::guard::guarded(Feature::Zlib, failed_section("zlib"), || {
        agent.zlib.snapshot()
    });
    let direct = crate::core::guard::guarded(Feature::Direct, failed_section("direct"), || {
        agent.direct.snapshot(env)
    });
    let native_sampling = crate::core::guard::guarded(Feature::Natives, Default::default(), || {
        agent.sampled.snapshot(&agent.jvmti, env, &agent.stacks.methods)
    });
    let mut memory = memory;
    memory.malloc_split = crate::memory::explain::split_malloc(&memory, &native_sampling);
    let prop = |k: &str| {
        env.system_property(k).or_else(|| agent.jvmti.system_property(k)).unwrap_or_default()
    };
    let report_path = writer::expand(&agent.options.file, std::process::id(), "s", "t", seq);
    let leak_opts = LeakOptions {
        method: agent.options.chain_method,
        dump_dir: agent.options.chain_dump_dir.clone(),
        report_dir: std::path::Path::new(&report_path)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|| ".".into()),
        tmpdir: Some(prop("java.io.tmpdir")).filter(|t| !t.is_empty()),
        heap_used: memory.jvm.heap_used_bytes,
        chains: match agent.options.chains {
            Chains::On => true,
            Chains::Off => false,
            Chains::Demand => trigger != Trigger::Interval,
        },
        limits: Limits {
            time: budget.cap(agent.options.chain_time),
            max_objects: agent.options.chain_objects,
            pause: agent.options.chain_pause,
            memory: agent.options.chain_memory,
        },
        patterns: agent.options.leak_loaders.clone(),
    };
    crate::core::guard::guarded(Feature::Leaks, (), || {
        analyse::analyse(&agent.jvmti, env, &agent.classes, &mut class_loaders, &leak_opts, &budget, &agent.known_chains)
    });
    if let Some(why) = class_loaders.chain_search.as_ref().and_then(|c| c.skipped.clone()) {
        skipped.push(format!("chain search: {why}"));
    }
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        trigger,
        sequence: seq,
        pid: std::process::id(),
        time: log::rfc3339(now.as_millis() as u64),
        time_ms: now.as_millis() as u64,
        uptime_ms: os::process_uptime_ms().unwrap_or_else(|| agent.started.elapsed().as_millis() as u64),
        jvm: JvmInfo {
            version: prop("java.version"),
            vendor: prop("java.vendor"),
            vm_name: prop("java.vm.name"),
            vm_version: prop("java.vm.version"),
            java_home: prop("java.home"),
            attached_late: agent.attached_late,
            collector: gc::known().map(|c| c.name().to_string()),
        },
        origin: crate::reporting::origin::get(|| Some(prop("sun.java.command")).filter(|c| !c.is_empty())),
        agent: AgentInfo {
            version: env!("CARGO_PKG_VERSION").into(),
            options: agent.options.raw.clone(),
            health: health::snapshot(&agent.capabilities_missing, os::signal_counts()),
            report_build_ms: 0,
            budget_ms: budget.deadline().map(|d| d.saturating_duration_since(t0).as_millis() as u64),
            skipped,
        },
        findings: Vec::new(),
        class_loaders,
        zlib,
        direct,
        native_sampling,
        memory,
        samples,
        trigger_detail: detail,
    };
    report.findings = findings::derive(&report);
    report.agent.report_build_ms = t0.elapsed().as_millis() as u64;
    report
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

fn write_files(agent: &Agent, report: &Report) -> Option<String> {
    let now_secs = (report.time_ms / 1000) as i64;
    let started = os::local_timestamp(agent.started_epoch_s);
    let expanded = writer::expand(&agent.options.file, report.pid, &started, &os::local_timestamp(now_secs), report.sequence);
    // A name with %n names one report of this run: an existing file there is another run's.
    let sequenced = agent.options.file.contains("%n");
    let (json_path, stem) = writer::json_path(&expanded);
    let (json_path, stem) = if sequenced { writer::unused_name(json_path, stem) } else { (json_path, stem) };
    let mut failed = false;
    // Other renderings first: when the JSON file appears, its siblings are already complete.
    let mut others: Vec<(String, Vec<u8>)> = Vec::new();
    if agent.options.formats.text {
        others.push((format!("{stem}.txt"), text::render(report).into_bytes()));
    }
    if agent.options.formats.html {
        others.push((format!("{stem}.html"), html::render(report).into_bytes()));
    }
    let mut files = vec![json_path.clone()];
    for (path, bytes) in others {
        match writer::write_atomic(path.as_ref(), &bytes, true) {
            Ok(()) => files.push(path.into()),
            Err(e) => {
                log::error(&format!("cannot write report #{} to {path}: {e}", report.sequence));
                failed = true;
            }
        }
    }
    let json_display = json_path.display().to_string();
    if agent.options.formats.jsonl {
        let path = series_path(agent, agent.options.jsonl_file.as_deref(), "jsonl");
        if let Err(e) = retention::append_rolling(path.as_ref(), &jsonl_line(report, &json_display), agent.options.jsonl_max) {
            log::error(&format!("cannot append report #{} to {path}: {e}", report.sequence));
            failed = true;
        }
    }
    if agent.options.formats.prom {
        let mut last = LAST.lock();
        if report.trigger == Trigger::VmDeath {
            // A dead JVM's series must not stay live (alerts would keep firing): the exit report
            // is in the JSON; the textfile goes, and the sampler never writes it again.
            PROM_CLOSED.store(true, Relaxed);
            let path = series_path(agent, agent.options.prom_file.as_deref(), "prom");
            if let Err(e) = std::fs::remove_file(&path).or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) }) {
                log::error(&format!("cannot remove the Prometheus textfile {path} at exit: {e}"));
            }
        } else {
            let mut kept = report.clone();
            kept.samples = Vec::new();
            *last = Some(kept);
            if let Err(e) = write_prom(agent, report) {
                log::error(&format!("cannot write the Prometheus textfile: {e}"));
                failed = true;
            }
        }
    }
    match writer::write_atomic(&json_path, &json::render(report), !sequenced) {
        Ok(()) => {
            health::bump(&COUNTERS.reports_written);
            let removed = retention::written(files, agent.options.keep, agent.options.keep_bytes);
            COUNTERS.reports_removed.fetch_add(removed, Relaxed);
            if failed {
                health::bump(&COUNTERS.report_failures);
            }
            log::info(&format!(
                "report #{} ({}) written to {json_display}: {}",
                report.sequence,
                report.trigger.as_str(),
                summary(report)
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
