//! `leakagent report PID`: ask a running JVM for a report, loading the agent first if needed.
//!
//! Nothing is sent before the target is known to survive it: SIGQUIT (which starts HotSpot's
//! attach listener) only to a HotSpot JVM that handles SIGQUIT, the report signal only when the
//! agent says which one it listens to (system property `leakagent.signal.number`, read through
//! the attach `properties` command), it is one the agent can own (USR1, RTMIN+0..RTMIN+8: any
//! application can set that property, and a 15 would be SIGTERM) and /proc/PID/status shows a
//! handler for it.
//!
//! The report's files are the JVM's, named by the JVM: they are read as its user, inside its
//! root, through no symlink (target_fs.rs), and their copies in `-o DIR` are written 0600.

use crate::attach::{self, AsTarget};
use crate::io::{parse_report, Strings};
use crate::procfs::Process;
use crate::props;
use crate::target_fs::{self, Refusal};
use crate::error::{refused, usage, Exit, Failure};
use leakagent_report::model::Report;
use leakagent_report::props::{REPORT_LAST, REPORT_SEQUENCE, SIGNAL, SIGNAL_NUMBER, VERSION};
use leakagent_report::signals;
use leakagent_report::text::escape_controls;
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub struct Request {
    pub pid: u32,
    pub wait: Duration,
    pub output: Option<PathBuf>,
    pub options: String,
    pub lib: Option<PathBuf>,
    pub load: bool,
    /// Print the outcome as JSON.
    pub json: bool,
}

/// How often the JVM's properties are read while waiting for the report.
const POLL: Duration = Duration::from_millis(100);

pub fn run(req: &Request) -> Result<Exit, Failure> {
    if req.options.split(',').any(|kv| kv.trim().eq_ignore_ascii_case("signal=off")) {
        return Err(usage("--options has signal=off: the report is asked for with the agent's signal, leave it on"));
    }
    let mut p = Process::inspect(req.pid)?;
    if p.pid == std::process::id() {
        return Err(usage("that is this leakagent process"));
    }
    p.check_hotspot()?;
    // Prepared as the invoking user (the library may be readable only by them); a missing
    // library matters only if the agent must be loaded.
    let lib = req.load.then(|| Library::prepare(req.lib.as_deref(), &p));

    let target = AsTarget::enter(&p)?;
    attach::start_listener(&p)?;
    let state = loaded_agent(&p, lib, &req.options)?;
    let (signo, signal) = report_signal(&mut p, &state)?;
    let before: u64 = state.get(REPORT_SEQUENCE).and_then(|s| s.parse().ok()).unwrap_or(0);
    let asked_ms = now_ms();
    p.send(signo).map_err(|e| refused(format!("cannot send signal {signo} to JVM {}: {e}", p.pid)))?;
    eprintln!(
        "leakagent: asked JVM {} for a report (kill -s {signal}, signal {signo}); waiting up to {} s",
        p.pid,
        req.wait.as_secs()
    );
    let (report, json, bytes) = wait_for_report(&p, before, asked_ms, req.wait)?;
    let files = siblings(&p, &json, bytes);
    drop(target);

    let shown = match &req.output {
        Some(dir) => copy_into(&files, dir)?,
        None => files.iter().map(|(path, _)| p.inside(path)).collect(),
    };
    if req.json {
        println!("{}", summary_json(&report, &p, &shown));
    } else {
        print_summary(&report, &p, &shown);
    }
    Ok(Exit::Success)
}

/// The agent's properties, after loading it when it is not loaded and `lib` allows. Call as the
/// target.
fn loaded_agent(p: &Process, lib: Option<Result<Library, Failure>>, options: &str) -> Result<HashMap<String, String>, Failure> {
    let mut state = properties(p)?;
    if !state.contains_key(VERSION) {
        let Some(lib) = lib else {
            return Err(refused(format!("the agent is not loaded in JVM {} (and --no-load was given)", p.pid)));
        };
        if p.jvm_flags().iter().any(|a| a.starts_with("-agentpath:") && a.contains("libleakagent")) {
            return Err(refused(format!(
                "JVM {} runs the agent from its command line, but that agent publishes no leakagent.* properties (older \
                 than this command, or it could not set them: see its log); send its report signal yourself (kill -s RTMIN+2 {} unless signal= says otherwise)",
                p.pid, p.pid
            )));
        }
        let path = lib?.install(p)?;
        attach::load_agent(p, &path, options)?;
        eprintln!("leakagent: loaded {path} into JVM {} with options '{options}'", p.pid);
        state = properties(p)?;
        if !state.contains_key(VERSION) {
            return Err(refused(format!(
                "the agent was loaded into JVM {} but publishes no leakagent.* properties (an older agent than this command?)",
                p.pid
            )));
        }
    }
    Ok(state)
}

/// The report signal the agent names, once it is one the agent can own and the JVM handles it:
/// its number and its name.
fn report_signal(p: &mut Process, state: &HashMap<String, String>) -> Result<(i32, String), Failure> {
    let number = state.get(SIGNAL_NUMBER).map(String::as_str).unwrap_or("");
    let signal = state.get(SIGNAL).cloned().unwrap_or_default();
    let Ok(signo) = number.parse::<i32>() else {
        return Err(refused(format!(
            "the agent in JVM {} has no report signal (signal={}): it reports on exit, and by interval if one is set; \
             nothing was sent",
            p.pid,
            if signal.is_empty() { "off" } else { &signal },
        )));
    };
    if !agent_signals().contains(&signo) {
        return Err(refused(format!(
            "JVM {} names signal {signo} ('{}') as the agent's report signal, which is none the agent can own \
             (USR1 = {}, RTMIN+0..RTMIN+8 = {}..{}); nothing was sent",
            p.pid,
            signal.escape_debug(),
            libc::SIGUSR1,
            libc::SIGRTMIN(),
            libc::SIGRTMIN() + 8
        )));
    }
    p.refresh_signals();
    if !p.catches(signo) {
        return Err(refused(format!(
            "JVM {} has no handler for signal {signo} ({signal}), which the agent says it listens to; nothing was sent",
            p.pid
        )));
    }
    Ok((signo, signal))
}

/// The signals the agent's `signal=` option allows, as numbers in this process.
fn agent_signals() -> Vec<i32> {
    signals::owned(libc::SIGRTMIN(), libc::SIGUSR1)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

fn properties(p: &Process) -> Result<HashMap<String, String>, Failure> {
    let (code, out) = attach::command(p, "properties", ["", "", ""])?;
    if code != 0 {
        return Err(refused(format!("JVM {} refused the properties command (status {code}): {}", p.pid, out.trim())));
    }
    Ok(props::parse(&out))
}

/// Waits for a report that began after `asked_ms` (the agent's `time_ms` is taken when it
/// starts building): the first newer sequence number whose report is that fresh. Returns it,
/// its path in the JVM's file system and its bytes. Call as the target.
fn wait_for_report(p: &Process, before: u64, asked_ms: u64, wait: Duration) -> Result<(Report, String, Vec<u8>), Failure> {
    let start = Instant::now();
    let mut seen = before;
    loop {
        std::thread::sleep(POLL);
        if !p.alive() {
            return Err(refused(format!("JVM {} exited before the report landed", p.pid)));
        }
        let state = properties(p)?;
        let seq: u64 = state.get(REPORT_SEQUENCE).and_then(|s| s.parse().ok()).unwrap_or(0);
        if seq > seen {
            seen = seq;
            if let Some(path) = state.get(REPORT_LAST) {
                let bytes = target_fs::read(p, path).map_err(|r| match r {
                    Refusal::Missing => refused(format!("the report {path} the agent names is not in JVM {}'s file system", p.pid)),
                    Refusal::Refused(why) => refused(format!("refused the report {why} (a file= path without symlinks, of the JVM's user, is read)")),
                })?;
                let report = parse_report(&bytes, path, Strings::Escaped).map_err(|f| refused(f.message))?;
                if report.time_ms >= asked_ms {
                    return Ok((report, path.clone(), bytes));
                }
            }
        }
        if start.elapsed() >= wait {
            return Err(refused(format!(
                "no report from JVM {} within {} s (a report with a long chain search takes longer: raise --wait)",
                p.pid,
                wait.as_secs()
            )));
        }
    }
}

/// The JSON file and the renderings the agent writes beside it, as the JVM names them, with
/// their bytes; a rendering that is refused (a symlink, another user's file) is left out and
/// said so. Call as the target.
fn siblings(p: &Process, json: &str, bytes: Vec<u8>) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![(json.to_string(), bytes)];
    if let Some(stem) = json.strip_suffix(".json") {
        for ext in ["txt", "html"] {
            let f = format!("{stem}.{ext}");
            match target_fs::read(p, &f) {
                Ok(b) => files.push((f, b)),
                Err(Refusal::Missing) => {}
                Err(Refusal::Refused(why)) => eprintln!("leakagent: skipped {}", escape_controls(&why, false)),
            }
        }
    }
    files
}

/// Writes the copies as this program's user, readable by it only: a report names the
/// application's classes and stacks.
fn copy_into(files: &[(String, Vec<u8>)], dir: &Path) -> Result<Vec<PathBuf>, Failure> {
    std::fs::create_dir_all(dir).map_err(|e| usage(format!("cannot create {}: {e}", dir.display())))?;
    let mut out = Vec::new();
    for (f, bytes) in files {
        let name = Path::new(f).file_name().ok_or_else(|| refused(format!("the report path {f} has no file name")))?;
        let dest = dir.join(name);
        crate::io::write_atomic(&dest, bytes, 0o600).map_err(|e| usage(format!("cannot write {}: {e}", dest.display())))?;
        out.push(dest);
    }
    Ok(out)
}

/// `report --json`: what the text summary says, for scripts.
fn summary_json(r: &Report, p: &Process, files: &[PathBuf]) -> String {
    let c = &r.class_loaders;
    let findings: Vec<serde_json::Value> = r
        .findings
        .iter()
        .map(|f| serde_json::json!({ "severity": f.severity.name(), "kind": f.kind, "summary": f.summary, "fix": f.fix }))
        .collect();
    serde_json::json!({
        "pid": p.pid,
        "pid_in_namespace": p.nspid,
        "sequence": r.sequence,
        "trigger": r.trigger.as_str(),
        "time": r.time,
        "files": files.iter().map(|f| f.to_string_lossy().into_owned()).collect::<Vec<_>>(),
        "findings": findings,
        "loaders_alive": c.loaders_alive,
        "loaders_dead": c.loaders_dead,
        "suspects": c.leak_suspects.len(),
        "classes_live": c.classes_live,
        "rss_bytes": r.memory.rss_bytes,
    })
    .to_string()
}

fn print_summary(r: &Report, p: &Process, files: &[PathBuf]) {
    let c = &r.class_loaders;
    let ns = if p.nspid != p.pid { format!(" (pid {} in its namespace)", p.nspid) } else { String::new() };
    println!("report #{} ({}) of JVM {}{ns} at {}", r.sequence, r.trigger.as_str(), p.pid, r.time);
    for f in files {
        println!("  {}", escape_controls(&f.to_string_lossy(), false));
    }
    println!(
        "{} finding(s); {} class loaders alive, {} dead, {} suspected; {} classes live; RSS {:.1} MiB",
        r.findings.len(),
        c.loaders_alive,
        c.loaders_dead,
        c.leak_suspects.len(),
        c.classes_live,
        r.memory.rss_bytes as f64 / (1024.0 * 1024.0)
    );
    for f in &r.findings {
        println!("  {} {}: {}", f.severity.name(), f.kind, f.summary);
    }
}

/// The agent library, and how the JVM will see it.
struct Library {
    path: PathBuf,
    /// The bytes to copy into the JVM's /tmp when the JVM cannot see `path` (another mount
    /// namespace: a container).
    copy: Option<Vec<u8>>,
}

impl Library {
    fn prepare(given: Option<&Path>, p: &Process) -> Result<Library, Failure> {
        let path = match given {
            Some(g) => g.to_path_buf(),
            None => std::env::current_exe()
                .ok()
                .and_then(|e| e.parent().map(|d| d.join("libleakagent.so")))
                .ok_or_else(|| usage("cannot locate this program's directory; pass --lib"))?,
        };
        let path = std::fs::canonicalize(&path).map_err(|e| {
            usage(format!("no agent library at {} ({e}): build it with `cargo build --release` or pass --lib", path.display()))
        })?;
        let mine = std::fs::metadata(&path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
        let theirs = std::fs::metadata(p.inside(&path.to_string_lossy())).ok();
        let visible = p.same_mount_namespace() || theirs.is_some_and(|t| t.dev() == mine.dev() && t.ino() == mine.ino());
        let copy = if visible {
            None
        } else {
            Some(std::fs::read(&path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?)
        };
        Ok(Library { path, copy })
    }

    /// The path to give the JVM; copies the library into its /tmp first when needed (as the
    /// JVM's user, so it can read it and nothing of root's lands in the container).
    fn install(&self, p: &Process) -> Result<String, Failure> {
        let Some(bytes) = &self.copy else { return Ok(self.path.to_string_lossy().into_owned()) };
        let dir_inside = format!("/tmp/.leakagent-{}", p.euid);
        let dir = p.inside(&dir_inside);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(refused(format!("cannot create {dir_inside} in JVM {}'s file system: {e}", p.pid))),
        }
        // Never through somebody else's symlink or directory.
        let m = std::fs::symlink_metadata(&dir).map_err(|e| refused(format!("cannot inspect {}: {e}", dir.display())))?;
        if !m.is_dir() || m.uid() != p.euid {
            return Err(refused(format!("{dir_inside} in JVM {}'s file system is not a directory of uid {}", p.pid, p.euid)));
        }
        let dest = dir.join("libleakagent.so");
        crate::io::write_atomic(&dest, bytes, 0o666).map_err(|e| refused(format!("cannot copy the agent to {}: {e}", dest.display())))?;
        eprintln!(
            "leakagent: JVM {} cannot see {} (another mount namespace): copied it to {dir_inside}/libleakagent.so",
            p.pid,
            self.path.display()
        );
        Ok(format!("{dir_inside}/libleakagent.so"))
    }
}
