//! The `leakagent` command on real JVMs and the reports they wrote: `report` asks a running JVM
//! (agent loaded at start-up, loaded by the command, in another pid/mount namespace and user,
//! refused for a process that is not a JVM or has attach disabled); `check`, `show`, `diff` and
//! `metrics` read what those runs produced (a leak and its fixed twin, one and three generations).

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

type Out = CliOut;

fn leakagent<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Out {
    let mut c = Command::new(cli_bin());
    c.args(args);
    cli_output(c)
}


/// The JSON report `leakagent report` says it copied into DIR (the first path it prints).
fn reported_json(out: &Out) -> PathBuf {
    let line = out.stdout.lines().find(|l| l.trim().ends_with(".json")).unwrap_or_else(|| panic!("no JSON path in:\n{}", out.stdout));
    PathBuf::from(line.trim())
}

/// A jdbc-driver run (DriverManager keeps every generation's driver): `leakagent report PID -o`
/// while the JVM runs, then the JVM exits. Cached: several tests read the same reports.
fn jdbc(variant: &'static str) -> &'static PathBuf {
    static RUNS: [OnceLock<PathBuf>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let (i, args): (usize, &[&str]) = match variant {
        "leaky" => (0, &[]),
        "fixed" => (1, &["--fixed"]),
        "one-generation" => (2, &["--generations", "1"]),
        _ => unreachable!(),
    };
    RUNS[i].get_or_init(|| {
        let jvm = Jvm::scenario(&format!("cli-jdbc-{variant}"), "jdbc-driver").options("format=text+html").args(args).start();
        let got = jvm.dir.join("got");
        let out = leakagent(&["report".as_ref(), jvm.pid().to_string().as_ref(), "-o".as_ref(), got.as_os_str()]);
        assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
        let json = reported_json(&out);
        assert!(json.starts_with(&got), "{}", out.stdout);
        let f = jvm.finish();
        assert_eq!(f.code, Some(0), "{}", f.stderr);
        json
    })
}

#[test]
fn check_fails_on_the_leak_and_passes_on_its_fixed_twin() {
    let (leaky, fixed) = (jdbc("leaky"), jdbc("fixed"));
    let r = read_report(leaky);
    assert_eq!(r.trigger, Trigger::Signal);
    let leaks = r.findings.iter().filter(|f| f.kind == "classloader_leak").count();
    assert!(leaks >= 1);

    let out = leakagent(&["check".as_ref(), leaky.as_os_str()]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let lines: Vec<&str> = out.stdout.lines().filter(|l| l.contains(" classloader_leak")).collect();
    assert_eq!(lines.len(), leaks, "one line per finding:\n{}", out.stdout);
    assert!(
        lines.iter().any(|l| l.contains("critical classloader_leak [culprit=jdbc-driver holder=java.sql.DriverInfo.driver loaders=app-gen-1,app-gen-2,app-gen-3]: 3 class loaders")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.lines().last().unwrap().starts_with(&format!("leakagent check: {} finding(s) at or above warning in 1 report(s)", out.stdout.lines().count() - 1)), "{}", out.stdout);

    let out = leakagent(&["check".as_ref(), fixed.as_os_str()]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.starts_with("leakagent check: 0 finding(s) at or above warning in 1 report(s)"), "{}", out.stdout);

    let both = leakagent(&["check".as_ref(), fixed.as_os_str(), leaky.as_os_str(), "--fail-on".as_ref(), "critical".as_ref()]);
    assert_eq!(both.code, 1, "{}", both.stdout);
    assert!(both.stdout.contains("in 2 report(s)"));

    // The same verdict in the formats CI systems show natively.
    let fmt = |f: &str| leakagent(&["check".as_ref(), fixed.as_os_str(), leaky.as_os_str(), "--format".as_ref(), f.as_ref()]);
    let j = fmt("json");
    assert_eq!(j.code, 1, "{}", j.stderr);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(get(&v, "passed"), false);
    assert_eq!(get(&v, "failing").as_array().unwrap().len(), leaks, "{v:#}");
    assert_eq!(get(&v, "failing.0.culprit"), "jdbc-driver");
    let x = fmt("junit");
    assert_eq!(x.code, 1);
    assert!(x.stdout.starts_with("<?xml") && x.stdout.contains(&format!("failures=\"{leaks}\"")), "{}", x.stdout);
    assert_eq!(x.stdout.matches("<failure type=\"classloader_leak\"").count(), leaks, "{}", x.stdout);
    assert!(x.stdout.contains("name=\"no finding at or above warning\"/>"), "the fixed report is a passing test case: {}", x.stdout);
    let sarif = fmt("sarif");
    let v: serde_json::Value = serde_json::from_str(&sarif.stdout).unwrap();
    assert_eq!(get(&v, "version"), "2.1.0");
    let results = get(&v, "runs.0.results").as_array().unwrap();
    assert_eq!(results.len(), leaks);
    assert_eq!(get(&results[0], "level"), "error");
    assert_eq!(get(&results[0], "locations.0.logicalLocations.0.fullyQualifiedName"), "java.sql.DriverInfo.driver");
}

#[test]
fn allow_list_accepts_findings_by_culprit_and_loader() {
    let leaky = jdbc("leaky");
    let dir = temp_dir("cli-allow");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let accept = write(
        "accept.toml",
        "# the team's accepted leaks\n[[allow]]\nkind = \"classloader_leak\"\nculprit = \"jdbc-driver\"\nloader = \"app-gen-*\"\nreason = \"test driver; APP-1\"\n",
    );
    let out = leakagent(&["check".as_ref(), leaky.as_os_str(), "--allow".as_ref(), accept.as_os_str()]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("accepted by the allow-list"), "{}", out.stdout);

    let other = write("other.toml", "[[allow]]\nkind = \"classloader_leak\"\nloader = \"plugin-*\"\nreason = \"plugins only\"\n");
    let out = leakagent(&["check".as_ref(), leaky.as_os_str(), "--allow".as_ref(), other.as_os_str()]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains("allow-list entry 'kind=classloader_leak loader=plugin-*' (plugins only) matched no finding"), "{}", out.stderr);

    let capped = write("capped.toml", "[[allow]]\nkind = \"*\"\nmax_severity = \"warning\"\nreason = \"only minor ones\"\n");
    assert_eq!(leakagent(&["check".as_ref(), leaky.as_os_str(), "--allow".as_ref(), capped.as_os_str()]).code, 1);

    let bad = write("bad.toml", "[[allow]]\nkind = \"classloader_leak\"\nculprit = \"jdbc-driver\"\n");
    let out = leakagent(&["check".as_ref(), leaky.as_os_str(), "--allow".as_ref(), bad.as_os_str()]);
    assert_eq!(out.code, 2);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("reason"), "{}", out.stderr);
}

#[test]
fn show_renders_what_the_agent_wrote() {
    let leaky = jdbc("leaky");
    let stem = leaky.to_string_lossy().strip_suffix(".json").unwrap().to_string();
    let out = leakagent(&["show".as_ref(), leaky.as_os_str()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, std::fs::read_to_string(format!("{stem}.txt")).unwrap(), "show prints the agent's own text rendering");
    let html = leaky.with_file_name("shown.html");
    let out = leakagent(&["show".as_ref(), leaky.as_os_str(), "--format".as_ref(), "html".as_ref(), "-o".as_ref(), html.as_os_str()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(std::fs::read_to_string(&html).unwrap(), std::fs::read_to_string(format!("{stem}.html")).unwrap());
}

type Exposition = openmetrics_parser::MetricsExposition<openmetrics_parser::PrometheusType, openmetrics_parser::PrometheusValue>;

fn value(e: &Exposition, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    let f = e.families.get(name)?;
    f.iter_samples()
        .find(|s| label.is_none_or(|(k, v)| s.get_labelset().unwrap().get_label_value(k) == Some(v)))
        .map(|s| match &s.value {
            openmetrics_parser::PrometheusValue::Gauge(n) => n.as_f64(),
            openmetrics_parser::PrometheusValue::Counter(c) => c.value.as_f64(),
            other => panic!("{name}: {other:?}"),
        })
}

#[test]
fn metrics_parse_as_prometheus_text_and_carry_the_leak() {
    let (leaky, fixed) = (jdbc("leaky"), jdbc("fixed"));
    let out = leakagent(&["metrics".as_ref(), leaky.as_os_str(), "--label".as_ref(), "app=shop".as_ref()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let e = openmetrics_parser::prometheus::parse_prometheus(&out.stdout).unwrap_or_else(|err| panic!("{err:?}\n{}", out.stdout));
    assert_eq!(value(&e, "leakagent_class_loaders_suspected", None), Some(3.0));
    assert!(value(&e, "leakagent_findings", Some(("kind", "classloader_leak"))).unwrap() >= 1.0);
    assert!(value(&e, "leakagent_findings_by_severity", Some(("severity", "info"))).is_some());
    let r = read_report(leaky);
    let rss = value(&e, "leakagent_rss_bytes", None).unwrap();
    assert_eq!(rss, r.memory.rss_bytes as f64);
    let parts: f64 = e.families["leakagent_rss_part_bytes"].iter_samples().map(|s| match &s.value {
        openmetrics_parser::PrometheusValue::Gauge(n) => n.as_f64(),
        _ => unreachable!(),
    }).sum();
    assert_eq!(parts, rss, "the parts add up to RSS");
    for s in e.families["leakagent_rss_part_bytes"].iter_samples() {
        let l = s.get_labelset().unwrap();
        assert_eq!(l.get_label_value("app"), Some("shop"));
        assert_eq!(l.get_label_value("pid"), Some(r.pid.to_string().as_str()));
    }
    assert_eq!(e.families["leakagent_classes_loaded_total"].family_type, openmetrics_parser::PrometheusType::Counter);

    let prom = fixed.with_file_name("fixed.prom");
    let out = leakagent(&["metrics".as_ref(), fixed.as_os_str(), "-o".as_ref(), prom.as_os_str()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let e = openmetrics_parser::prometheus::parse_prometheus(&std::fs::read_to_string(&prom).unwrap()).unwrap();
    assert_eq!(value(&e, "leakagent_class_loaders_suspected", None), Some(0.0));
    assert_eq!(value(&e, "leakagent_findings", Some(("kind", "classloader_leak"))), None);

    let out = leakagent(&["metrics".as_ref(), fixed.as_os_str(), "--label".as_ref(), "pid=1".as_ref()]);
    assert_eq!(out.code, 2);
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

/// `diff --format json`: the command's own structs (cli/src/diff.rs) are not a library the tests
/// can link, so it is read as JSON, every key through `get`, which fails on an absent one.
fn diff_json(old: &Path, new: &Path) -> serde_json::Value {
    let out = leakagent(&["diff".as_ref(), old.as_os_str(), new.as_os_str(), "--format".as_ref(), "json".as_ref()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

#[test]
fn diff_names_the_generations_that_grew_and_what_the_fix_removed() {
    let (one, three, fixed) = (jdbc("one-generation"), jdbc("leaky"), jdbc("fixed"));
    let d = diff_json(one, three);
    assert_eq!(get(&d, "same_process"), false);
    let new: Vec<&str> =
        get(&d, "class_loaders.new_suspects").as_array().unwrap().iter().map(|s| get(s, "loader_name").as_str().unwrap()).collect();
    assert_eq!(new, ["app-gen-2", "app-gen-3"], "{d:#}");
    let top = get(&d, "class_loaders.by_kind.0");
    assert_eq!(get(top, "kind"), "java.net.URLClassLoader app-gen", "{d:#}");
    assert_eq!((get(top, "alive.old").as_u64(), get(top, "alive.new").as_u64(), get(top, "alive.delta").as_i64()), (Some(1), Some(3), Some(2)));
    assert_eq!(get(&d, "class_loaders.suspects.delta"), 2);
    // Each leaked generation pins the app's 2 classes. (The process-wide class count is not
    // compared: the JDK's own classes differ by a few from run to run.)
    assert_eq!((get(top, "classes.old").as_u64(), get(top, "classes.new").as_u64()), (Some(2), Some(6)), "{d:#}");

    let out = leakagent(&["diff".as_ref(), one.as_os_str(), three.as_os_str()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("different runs"), "{}", out.stdout);
    assert!(out.stdout.contains("new leak suspects:\n    + #"), "{}", out.stdout);
    assert!(out.stdout.contains("   +2  java.net.URLClassLoader app-gen (1 -> 3, classes 2 -> 6)"), "{}", out.stdout);

    let d = diff_json(three, fixed);
    let resolved: Vec<&str> = get(&d, "findings.resolved").as_array().unwrap().iter().map(|f| get(f, "kind").as_str().unwrap()).collect();
    assert!(resolved.contains(&"classloader_leak"), "{d:#}");
    assert!(get(&d, "findings.new").as_array().unwrap().iter().all(|f| get(f, "kind") != "classloader_leak"));
    assert_eq!(get(&d, "class_loaders.gone_suspects").as_array().unwrap().len(), 3, "{d:#}");
}

#[test]
fn report_loads_the_agent_into_a_jvm_without_it() {
    let mut jvm = Jvm::scenario("cli-late", "healthy").without_agent().start();
    let pid = jvm.pid().to_string();
    let out = leakagent(&["report", &pid, "--no-load"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("the agent is not loaded"), "{}", out.stderr);

    let opts = format!("file={}/late-%n,format=text", jvm.dir.display());
    let out = leakagent(&["report", &pid, "--options", &opts, "--wait", "60"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("leakagent: loaded "), "{}", out.stderr);
    let json = reported_json(&out);
    assert_eq!(json, jvm.dir.join("late-1.json"));
    assert!(out.stdout.contains(&format!("{}/late-1.txt", jvm.dir.display())), "{}", out.stdout);
    let r = read_report(&json);
    assert!(r.jvm.attached_late);
    assert_eq!(r.trigger, Trigger::Signal);

    // Loaded now: a second request only signals, and the agent is not loaded twice; --json says
    // the same for scripts.
    let out = leakagent(&["report", &pid, "--no-load", "--json"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    assert_eq!(get(&v, "files.0").as_str().map(PathBuf::from), Some(jvm.dir.join("late-2.json")));
    assert_eq!((get(&v, "sequence"), get(&v, "trigger")), (&serde_json::json!(2), &serde_json::json!("signal")));
    assert!(get(&v, "findings").is_array() && get(&v, "rss_bytes").as_u64().unwrap() > 0);
    assert!(!out.stderr.contains("loaded "), "{}", out.stderr);
    jvm.wait_for_reports(2, Duration::from_secs(5));
    // Two reports of one process: compared loader by loader id.
    let d = diff_json(&jvm.dir.join("late-1.json"), &jvm.dir.join("late-2.json"));
    assert_eq!(get(&d, "same_process"), true, "{d:#}");
    assert!(get(&d, "elapsed_ms").as_i64().unwrap() >= 0);
    assert_eq!(get(&d, "old.sequence"), 1);
    assert_eq!(get(&d, "new.sequence"), 2);
    let f = jvm.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let active = format!("leakagent {} active", env!("CARGO_PKG_VERSION"));
    assert_eq!(f.stderr.matches(&active).count(), 1, "{}", f.stderr);
}

/// A `file=` under a symlinked directory (`/opt/app -> /opt/app-1.2`, nothing planted): the
/// command, which never follows a symlink in the JVM's file system, reads the report by the real
/// path the agent publishes. Fails on an agent that publishes the path as given (ELOOP: refused).
#[test]
fn report_reads_a_file_path_through_a_symlinked_directory() {
    let dir = temp_dir("cli-symlinked-dir");
    let real = dir.join("app-1.2");
    std::fs::create_dir_all(&real).unwrap();
    std::os::unix::fs::symlink(&real, dir.join("app")).unwrap();
    let jvm = Jvm::scenario("cli-symlinked", "healthy").raw_options(&format!("file={}/app/r-%n", dir.display())).start();
    let out = leakagent(&["report", &jvm.pid().to_string(), "--wait", "60"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let json = reported_json(&out);
    assert_eq!(json, std::fs::canonicalize(&real).unwrap().join("r-1.json"), "{}", out.stdout);
    assert_eq!(read_report(&json).trigger, Trigger::Signal);
    let f = jvm.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
}

/// On the main JDK and every other one (at least one, or LEAKAGENT_SKIP_OTHER_JDKS=1).
#[test]
fn report_loads_and_asks_on_every_jdk() {
    let javas = every_java("report_loads_and_asks_on_every_jdk");
    for java in &javas {
        let jvm = Jvm::scenario("cli-jdk", "healthy").java(java).without_agent().start();
        let opts = format!("file={}/r-%n", jvm.dir.display());
        let out = leakagent(&["report", &jvm.pid().to_string(), "--options", &opts, "--wait", "60"]);
        assert_eq!(out.code, 0, "{}: {}\n{}", java.display(), out.stdout, out.stderr);
        let r = read_report(&reported_json(&out));
        assert!(r.jvm.attached_late, "{}", java.display());
        let f = jvm.finish();
        assert_eq!(f.code, Some(0), "{}: {}", java.display(), f.stderr);
    }
    ran_on("report_loads_and_asks_on_every_jdk", &javas);
}

#[test]
fn report_refuses_a_process_that_is_not_a_jvm() {
    /// Killed when the test ends, whatever happens.
    struct Sleep(std::process::Child);
    impl Drop for Sleep {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut sleep = Sleep(Command::new("sleep").arg("600").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap());
    let pid = sleep.0.id() as i32;
    let start = Instant::now();
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim() != "sleep" {
        assert!(start.elapsed() < Duration::from_secs(10), "sleep did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = leakagent(&["report", &pid.to_string()]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert_eq!(out.stderr.trim(), format!("leakagent: process {pid} (sleep) is not a HotSpot JVM (no libjvm.so in /proc/{pid}/maps); no signal was sent"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(sleep.0.try_wait().unwrap().is_none() && alive(pid), "the process must survive");
    drop(sleep);

    let out = leakagent(&["report", "999999999"]);
    assert_eq!(out.code, 1);
    assert_eq!(out.stderr.trim(), "leakagent: no process 999999999");
}

#[test]
fn report_explains_a_jvm_with_attach_disabled() {
    let on_command_line = Jvm::scenario("cli-noattach", "healthy").jvm_args(&["-XX:+DisableAttachMechanism"]);
    let in_environment = Jvm::scenario("cli-noattach-env", "healthy").env("JAVA_TOOL_OPTIONS", "-XX:+DisableAttachMechanism");
    for jvm in [on_command_line, in_environment] {
        let jvm = jvm.start();
        let out = leakagent(&["report", &jvm.pid().to_string()]);
        assert_eq!(out.code, 1, "{}", out.stdout);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
        assert!(out.stderr.contains("was started with -XX:+DisableAttachMechanism"), "{}", out.stderr);
        assert!(alive(jvm.pid()));
        let f = jvm.finish();
        assert_eq!(f.code, Some(0), "the JVM keeps running and exits normally: {}", f.stderr);
        assert!(!f.stdout.contains("Full thread dump"), "no SIGQUIT was sent");
    }
}

#[test]
fn report_refuses_an_agent_without_a_signal() {
    let jvm = Jvm::scenario("cli-nosignal", "healthy").options("signal=off").start();
    let out = leakagent(&["report", &jvm.pid().to_string(), "--lib", "/nonexistent/libleakagent.so"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(out.stderr.contains("has no report signal (signal=off)"), "a missing --lib does not matter when the agent is loaded: {}", out.stderr);
    let f = jvm.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert_eq!(f.reports().len(), 1, "only the exit report");
}

/// Every descendant of `pid` (through /proc/PID/task/*/children).
fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for task in std::fs::read_dir(format!("/proc/{p}/task")).into_iter().flatten().flatten() {
            let kids = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for k in kids.split_whitespace().filter_map(|k| k.parse().ok()) {
                out.push(k);
                todo.push(k);
            }
        }
    }
    out
}

#[test]
fn report_reaches_a_jvm_in_its_own_namespaces_as_another_user() {
    // A container in miniature: own pid and mount namespaces, a private /tmp, the agent's
    // directory hidden, and the JVM running as nobody (uid 65534).
    let lib_dir = agent_lib().parent().unwrap().to_path_buf();
    // The harness jar and its applications are copied to a private tmpfs first: a checkout under /tmp (or in the
    // agent's directory) would vanish behind the mounts below.
    let script = format!(
        "mount -t tmpfs tmpfs /mnt && cp -r {jar} {apps} /mnt/ && chmod -R a+rX /mnt && \
         mount -t tmpfs tmpfs {lib} && mount -t tmpfs tmpfs /tmp && cd /tmp && \
         exec setpriv --reuid=65534 --regid=65534 --clear-groups {java} -jar /mnt/harness.jar healthy --await-stdin",
        lib = lib_dir.display(),
        java = main_java().display(),
        jar = harness_jar().display(),
        apps = harness_jar().parent().unwrap().join("apps").display()
    );
    let mut child = Command::new("unshare")
        .args(["--mount", "--pid", "--fork", "--mount-proc", "sh", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("unshare (util-linux)");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let start = Instant::now();
    let mut line = String::new();
    while line.trim() != "HARNESS ready" {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "the namespaced JVM exited before ready");
        assert!(start.elapsed() < Duration::from_secs(120));
    }
    let java = descendants(child.id())
        .into_iter()
        .find(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "java"))
        .expect("the java process");
    let status = std::fs::read_to_string(format!("/proc/{java}/status")).unwrap();
    assert!(status.lines().any(|l| l.starts_with("NSpid:") && l.split_whitespace().count() == 3), "{status}");

    let got = temp_dir("cli-ns");
    let out = leakagent(&["report".as_ref(), java.to_string().as_ref(), "-o".as_ref(), got.as_os_str()]);
    let mut stdin = child.stdin.take().unwrap();
    let _ = stdin.write_all(b"exit\n");
    drop(stdin);
    let code = child.wait().unwrap();
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("another mount namespace): copied it to /tmp/.leakagent-65534/libleakagent.so"), "{}", out.stderr);
    assert!(out.stdout.starts_with(&format!("report #1 (signal) of JVM {java} (pid 1 in its namespace)")), "{}", out.stdout);
    let r = read_report(&reported_json(&out));
    assert_eq!(r.pid, 1);
    assert!(r.jvm.attached_late);
    assert!(code.success(), "the JVM exits normally");
}

#[test]
fn ci_gate_example_fails_the_leak_and_passes_the_fix() {
    for (args, code) in [(&[][..], 1), (&["level-redeploy", "--fixed"][..], 0)] {
        let dir = temp_dir("cli-gate");
        let out = Command::new("bash")
            .arg(root().join("examples/ci-gate.sh"))
            .args(args)
            .env("OUT", &dir)
            .env("JAVA", main_java())
            .current_dir(&dir)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(code), "{args:?}\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        if code == 1 {
            assert!(stdout.contains("critical classloader_leak [culprit=jdk-logging-level"), "{stdout}");
        }
        assert!(dir.join("leakagent.prom").is_file());
    }
}

#[test]
fn usage_errors_and_unreadable_reports_are_one_line_and_status_2() {
    let dir = temp_dir("cli-usage");
    let garbage = dir.join("garbage.json");
    std::fs::write(&garbage, "{\"schema_version\": 1, \"trigger\": \"signal\"").unwrap();
    let notreport = dir.join("other.json");
    std::fs::write(&notreport, "{\"hello\": 1}").unwrap();
    let g = garbage.to_str().unwrap();
    let n = notreport.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["check", "--bogus", g],
        &["check"],
        &["check", "--fail-on", "severe", g],
        &["report", "notapid"],
        &["diff", g],
        &["show", "/nonexistent/r.json"],
        &["show", g, "--format", "pdf"],
        &["show", g],
        &["metrics", n],
        &["diff", n, n],
        &["check", g],
        &["frobnicate"],
    ];
    for args in cases {
        let out = leakagent(args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: one line:\n{}", out.stderr);
        assert!(out.stderr.starts_with("leakagent: "), "{args:?}: {}", out.stderr);
    }
    assert!(leakagent(&["show", g]).stderr.contains("garbage.json is not JSON"));
    assert!(leakagent(&["metrics", n]).stderr.contains("has no schema_version"));

    let help = leakagent(&["--help"]);
    assert_eq!(help.code, 0);
    for sub in ["report", "show", "diff", "check", "metrics"] {
        assert!(help.stdout.contains(&format!("  {sub} ")), "{}", help.stdout);
        let h = leakagent(&[sub, "--help"]);
        assert_eq!(h.code, 0);
        assert!(h.stdout.contains("Examples:"), "{sub}: {}", h.stdout);
    }
    let h = leakagent(&["report", "--help"]).stdout;
    for flag in ["--wait", "--output", "--options", "--lib", "--no-load"] {
        assert!(h.contains(flag), "{h}");
    }
}
