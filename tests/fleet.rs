//! A fleet watching leakagent: Debian's real node_exporter reads the agent's Prometheus textfile
//! from a harness leak, Debian's real Prometheus scrapes it with examples/prometheus's rules
//! loaded, and the class-loader-leak alert fires; on the fixed twin it does not. Everything
//! listens on loopback only and stops with the test.

mod common;

use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const RULES: &str = include_str!("../examples/prometheus/leakagent-rules.yml");
const DASHBOARD: &str = include_str!("../examples/grafana/leakagent.json");
const PROM_RS: &str = include_str!("../report/src/prom.rs");

/// A child process killed when dropped (also when the test panics).
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn tool(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin").join(name);
    p.exists().then_some(p)
}

/// GET on loopback with a bounded reply; None while the server is not up.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut body = String::new();
    s.take(8 << 20).read_to_string(&mut body).ok()?;
    body.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

fn query(port: u16, promql: &str) -> Vec<Value> {
    let enc: String = promql.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    http_get(port, &format!("/api/v1/query?query={enc}"))
        .and_then(|b| serde_json::from_str::<Value>(&b).ok())
        .and_then(|v| v["data"]["result"].as_array().cloned())
        .unwrap_or_default()
}

fn alerts(port: u16) -> Vec<Value> {
    http_get(port, "/api/v1/alerts")
        .and_then(|b| serde_json::from_str::<Value>(&b).ok())
        .and_then(|v| v["data"]["alerts"].as_array().cloned())
        .unwrap_or_default()
}

/// node_exporter on `textfiles` and Prometheus scraping it every second with the example rules,
/// their `for:` damping set to 0 s (the expressions are what is tested; the durations are policy).
fn start_fleet(dir: &Path, textfiles: &Path) -> (Service, Service, u16) {
    let (ne_port, prom_port) = (free_port(), free_port());
    let ne = Command::new(tool("prometheus-node-exporter").unwrap())
        .args([
            format!("--web.listen-address=127.0.0.1:{ne_port}"),
            "--collector.disable-defaults".into(),
            "--collector.textfile".into(),
            format!("--collector.textfile.directory={}", textfiles.display()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("node_exporter");
    let ne = Service(ne);
    let rules: String = RULES
        .lines()
        .map(|l| if l.trim_start().starts_with("for:") { format!("{}for: 0s", &l[..l.len() - l.trim_start().len()]) } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nrule_files: [rules.yml]\n\
             scrape_configs:\n  - job_name: node\n    static_configs: [{{targets: ['127.0.0.1:{ne_port}']}}]\n"
        ),
    )
    .unwrap();
    let prom = Command::new(tool("prometheus").unwrap())
        .args([
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{prom_port}"),
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
        .spawn()
        .expect("prometheus");
    (ne, Service(prom), prom_port)
}

fn wait_until<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t0.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn fleet_run(test: &str, fixed: bool) -> Vec<Value> {
    if tool("prometheus").is_none() || tool("prometheus-node-exporter").is_none() {
        panic!("prometheus and prometheus-node-exporter are installed by scripts/setup.sh");
    }
    let dir = temp_dir(test);
    let textfiles = dir.join("textfiles");
    std::fs::create_dir_all(&textfiles).unwrap();
    let (_ne, _prom, port) = start_fleet(&dir, &textfiles);
    let mut jvm = Jvm::scenario(test, "thread").options(&format!("format=json+prom,prom_file={}/leak.prom", textfiles.display()));
    if fixed {
        jvm = jvm.args(&["--fixed"]);
    }
    let mut running = jvm.start();
    running.signal(rtmin(2));
    let report = running.wait_for_reports(1, Duration::from_secs(120)).remove(0);
    let leaks = report.findings.iter().filter(|f| f.kind == "classloader_leak").count();
    assert_eq!(leaks > 0, !fixed, "{:#?}", report.findings);
    let pid = report.pid.to_string();
    // Prometheus has scraped the textfile of this report (the findings family is always there).
    wait_until(Duration::from_secs(60), "Prometheus scraping the textfile", || {
        let r = query(port, &format!("leakagent_report_sequence{{pid=\"{pid}\"}} >= 1"));
        (!r.is_empty()).then_some(())
    });
    let found = if fixed {
        // Several evaluations of the rules over the scraped report.
        std::thread::sleep(Duration::from_secs(5));
        alerts(port)
    } else {
        wait_until(Duration::from_secs(60), "the class loader leak alert firing", || {
            let a = alerts(port);
            a.iter().any(|a| a["labels"]["alertname"] == "LeakagentClassLoaderLeak" && a["state"] == "firing").then_some(a)
        })
    };
    running.finish();
    found
}

#[test]
fn a_class_loader_leak_fires_the_example_alert_through_node_exporter_and_prometheus() {
    let alerts = fleet_run("fleet-leak", false);
    let a = alerts.iter().find(|a| a["labels"]["alertname"] == "LeakagentClassLoaderLeak").unwrap();
    assert_eq!(a["labels"]["severity"], "critical", "{a}");
    assert!(a["labels"]["pid"].as_str().is_some_and(|p| !p.is_empty()), "the alert names the JVM: {a}");
    assert!(a["annotations"]["summary"].as_str().unwrap().contains("Class loader leak in JVM pid"), "{a}");
}

#[test]
fn the_fixed_twin_fires_no_alert() {
    let alerts = fleet_run("fleet-fixed", true);
    let names: Vec<&str> = alerts.iter().filter_map(|a| a["labels"]["alertname"].as_str()).collect();
    assert!(names.is_empty(), "{alerts:#?}");
}

#[test]
fn example_rules_check_and_the_dashboard_uses_only_metrics_the_agent_writes() {
    let out = Command::new(tool("promtool").expect("promtool (Debian package prometheus)"))
        .args(["check", "rules", concat!(env!("CARGO_MANIFEST_DIR"), "/examples/prometheus/leakagent-rules.yml")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    assert!(dashboard["panels"].as_array().is_some_and(|p| p.len() >= 6));
    for text in [DASHBOARD, RULES] {
        for name in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| w.starts_with("leakagent_")) {
            assert!(PROM_RS.contains(&format!("\"{name}\"")), "{name} is not a metric the agent writes");
        }
    }
}
