//! Stock applications nobody here wrote, as a new user runs them, with the agent's default
//! options: a Spring Boot 4.0.7 web application with the usual starters (web, JPA on H2,
//! Thymeleaf, Actuator) from its fat jar and from an extracted class path, and a Kafka 4.1.1
//! KRaft broker (the distribution's ~100 jars on its class path) fed by gzip producers. Healthy
//! runs must pass `leakagent check`: pools and the JDK's jar cache are not leaks, and
//! Inflaters made while loading classes are filed under class loading, not under whatever
//! application frame triggered the load.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn build_dir() -> PathBuf {
    harness_jar().parent().unwrap().to_path_buf()
}

/// `leakagent check` on every JSON report of `dir`: (exit code, stdout).
fn check(dir: &Path) -> (i32, String) {
    let bin = std::env::var_os("LEAKAGENT_BIN").map(PathBuf::from).unwrap_or_else(|| root().join("target/release/leakagent"));
    let files = report_files(dir);
    assert!(!files.is_empty(), "no report in {}", dir.display());
    let o = Command::new(bin).arg("check").args(&files).stdin(Stdio::null()).output().expect("run leakagent check");
    (o.status.code().expect("leakagent exited by a signal"), String::from_utf8_lossy(&o.stdout).into_owned())
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "GET {path}: {body}");
    body
}

/// One row per place: no two sites of a report carry the same stack (lambda proxies, reflection
/// accessors and bytecode indexes of one line once split a place into rows with one label).
fn distinct_rows(r: &Report) {
    let mut rows: Vec<(&str, &[String])> = r.zlib.sites.iter().map(|s| (s.kind.as_str(), s.stack.as_slice())).collect();
    rows.extend(r.direct.sites.iter().map(|s| (s.kind.as_str(), s.stack.as_slice())));
    rows.sort();
    for w in rows.windows(2) {
        assert!(w[0] != w[1], "two sites with one label: {:#?}", w[0]);
    }
}

/// What a zlib site's stack says: streams made while a class (or resource) was being loaded.
/// The report's zlib sites with a frame starting with `frame`.
fn sites_at<'a>(r: &'a Report, frame: &str) -> Vec<&'a ZlibSite> {
    r.zlib.sites.iter().filter(|s| s.stack.iter().any(|fr| fr.starts_with(frame))).collect()
}

fn in_class_loading(s: &ZlibSite) -> bool {
    s.stack.iter().any(|f| {
        f.starts_with("jdk.internal.loader.") || f.starts_with("java.lang.ClassLoader.loadClass(") || f.contains(".loadClass(")
    })
}

fn assert_quiet(f: &Finished, reports: &[Report], dir: &Path) {
    assert_eq!(f.code, Some(0), "{}\n{}", f.stdout, f.stderr);
    for r in reports {
        assert_eq!(r.agent.health.panics, 0, "{:?}", r.agent.health);
        assert_eq!(r.zlib.tracking, Tracking::Full, "{:?}", r.zlib);
        assert!(r.findings.is_empty(), "a healthy stock application has no finding: {:#?}", r.findings);
    }
    for r in reports {
        distinct_rows(r);
    }
    let (code, out) = check(dir);
    assert_eq!(code, 0, "leakagent check fails a healthy build:\n{out}");
    assert!(out.starts_with(&format!("leakagent check: 0 finding(s) at or above warning in {} report(s)", reports.len())), "{out}");
}

/// The web application under load: pages rendered by Thymeleaf from JPA queries, JSON, Actuator;
/// a report by signal while it runs and one at exit.
fn webapp(test: &str, launch: &[&str]) -> (Finished, Vec<Report>, PathBuf) {
    // C1 only, as services are often run in development: start-up is most of this test.
    let mut running = Jvm::program(test, "webapp", launch).jvm_args(&["-Xmx256m", "-XX:TieredStopAtLevel=1"]).start();
    let port: u16 = truths(&running.stdout)["port"].parse().unwrap();
    assert_eq!(truths(&running.stdout)["spring_boot"], "4.0.7");
    for i in 0..40 {
        assert!(http_get(port, &format!("/owners/add?name=owner{i}")).contains(&format!("\"name\":\"owner{i}\"")));
        if i % 4 == 0 {
            let page = http_get(port, "/owners?name=owner");
            assert!(page.contains(&format!("{} owners", i + 1)), "{page}");
        }
    }
    assert!(http_get(port, "/api/owners").contains("owner39"));
    assert!(http_get(port, "/actuator/health").contains("\"status\":\"UP\""));
    http_get(port, "/actuator/metrics/jvm.memory.used");
    running.signal(rtmin(2));
    running.wait_for_reports(1, Duration::from_secs(120));
    let dir = running.dir.clone();
    let f = running.finish();
    let reports = reports_in(&dir);
    assert_eq!(reports.len(), 2, "a signal report and the exit report");
    (f, reports, dir)
}

/// Spring Boot 4's nested-jar loader keeps a bounded pool of Inflaters per nested jar and
/// resets them for reuse: reported as a pool, no finding.
#[test]
fn spring_boot_4_webapp_fat_jar_is_quiet_and_its_inflater_pool_is_named() {
    let jar = build_dir().join("springboot/webapp.jar").display().to_string();
    let (f, reports, dir) = webapp("webapp-jar", &["-jar", &jar]);
    assert_eq!(f.truths()["loader_class"], "org.springframework.boot.loader.launch.LaunchedClassLoader");
    assert_quiet(&f, &reports, &dir);
    let last = reports.last().unwrap();
    let pooled = sites_at(last, "org.springframework.boot.loader.jar.NestedJarFileResources.getOrCreateInflater(");
    assert!(!pooled.is_empty(), "{:#?}", last.zlib.sites);
    let pool = pooled.iter().filter_map(|s| s.pool.as_ref()).collect::<Vec<_>>();
    assert!(!pool.is_empty(), "the loader's Inflaters are a pool: {pooled:#?}");
    assert!(pool.iter().all(|p| p.reuses > 0 && p.size <= p.high_water), "{pool:?}");
}

/// The same application from an extracted class path: the JDK's own jar cache (one Inflater per
/// open jar, reset and reused) is not a leak.
#[test]
fn spring_boot_4_webapp_extracted_class_path_is_quiet() {
    let d = build_dir().join("springboot/webapp");
    let cp = format!("{}:{}/*", d.join("classes").display(), d.join("lib").display());
    let (f, reports, dir) = webapp("webapp-cp", &["-cp", &cp, "leakagent.webapp.WebApp"]);
    assert_eq!(f.truths()["loader_class"], "jdk.internal.loader.ClassLoaders$AppClassLoader");
    assert_quiet(&f, &reports, &dir);
}

/// A KRaft broker and controller in one JVM, ~100 jars on the class path, two gzip producers.
#[test]
fn kafka_broker_with_gzip_producers_is_quiet_and_class_loading_is_its_own_cause() {
    let k = build_dir().join("kafka");
    let cp = format!("{}:{}/*", k.join("kafka-harness.jar").display(), k.join("lib").display());
    let data = temp_dir("kafka-data");
    let data = data.display().to_string();
    let mut running = Jvm::program("kafka", "kafka", &["-cp", &cp, "leakagent.kafka.Broker", &data, "5000"]).jvm_args(&["-Xmx512m"]).start();
    assert!(running.stdout.contains("HARNESS truth records=5000"), "{}", running.stdout);
    running.signal(rtmin(2));
    running.wait_for_reports(1, Duration::from_secs(120));
    let dir = running.dir.clone();
    let f = running.finish();
    let reports = reports_in(&dir);
    assert_eq!(reports.len(), 2, "a signal report and the exit report");
    assert!(f.truth("class_path_jars") >= 95, "{}", f.stdout);
    assert_quiet(&f, &reports, &dir);
    let last = reports.last().unwrap();
    // The broker inflated the producers' gzip batches and ended every Inflater.
    let gzip: Vec<&ZlibSite> =
        last.zlib.sites.iter().filter(|s| s.app_frame.as_deref().is_some_and(|a| a.starts_with("org.apache.kafka.common.compress.GzipCompression."))).collect();
    assert!(gzip.iter().map(|s| s.created).sum::<u64>() > 10, "{:#?}", last.zlib.sites);
    assert!(gzip.iter().all(|s| s.live == 0 && s.released_by_gc == 0), "{gzip:#?}");
    // The JDK's jar cache: one pooled Inflater per open class-path jar.
    let cache: Vec<&ZlibSite> = last
        .zlib
        .sites
        .iter()
        .filter(|s| s.stack.iter().any(|fr| fr.starts_with("java.util.zip.ZipFile$CleanableResource.getInflater(")))
        .collect();
    let live: u64 = cache.iter().map(|s| s.live).sum();
    assert!(live >= 90, "about one per jar: {cache:#?}");
    assert!(cache.iter().filter(|s| s.live > 0).all(|s| s.pool.is_some()), "{cache:#?}");
    // Class loading is its own cause: no class-loading site is filed under an application frame.
    let loading: Vec<&ZlibSite> = last.zlib.sites.iter().filter(|s| in_class_loading(s)).collect();
    assert!(!loading.is_empty());
    for s in &loading {
        let at = s.app_frame.as_deref().unwrap_or_default();
        assert!(at.starts_with("class loading by "), "{s:#?}");
    }
    // The loader is named when the stack reaches it; a stack cut at stack_depth names the class
    // path's jar loader that the class loader was reading through.
    let named = |s: &&ZlibSite| {
        matches!(
            s.app_frame.as_deref(),
            Some("class loading by jdk.internal.loader.ClassLoaders$AppClassLoader" | "class loading by jdk.internal.loader.URLClassPath$JarLoader")
        )
    };
    assert!(loading.iter().any(named), "{loading:#?}");
}

/// The JDK's jar cache gaining jars between reports, as a broker does when it first reads a jar
/// late: one live Inflater more per jar, hundreds of reuses since. Kafka's broker under
/// interval=10s flickered from a pool to a zlib_not_ended warning at the report after such a
/// step (live 102 past the previous high-water mark of 101).
#[test]
fn a_jar_cache_that_gains_jars_between_reports_stays_a_pool() {
    let jars = temp_dir("jar-cache-jars").display().to_string();
    let mut jvm = Jvm::test_program("jar-cache", "JarCache", &[&jars, "110", "10"]).start();
    jvm.wait_for_line("HARNESS open 110", Duration::from_secs(60));
    jvm.signal(rtmin(2));
    jvm.wait_for_reports(1, Duration::from_secs(120));
    jvm.send_line("more");
    jvm.wait_for_line("HARNESS open 120", Duration::from_secs(60));
    jvm.signal(rtmin(2));
    jvm.wait_for_reports(2, Duration::from_secs(120));
    let dir = jvm.dir.clone();
    let f = jvm.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let reports = reports_in(&dir);
    assert_eq!(reports.len(), 3, "two signal reports and the exit report");
    for (r, live) in reports.iter().zip([110, 120, 120]) {
        let cache = sites_at(r, "JarCache.open(");
        assert_eq!(cache.len(), 1, "{cache:#?}");
        assert!(cache[0].stack.iter().any(|fr| fr.starts_with("java.util.zip.ZipFile$CleanableResource.getInflater(")), "{cache:#?}");
        assert_eq!(cache[0].live, live, "{cache:#?}");
        let pool = cache[0].pool.as_ref().unwrap_or_else(|| panic!("report {}: the jar cache is a pool: {cache:#?}", r.sequence));
        assert_eq!((pool.size, pool.high_water), (live, live), "{pool:?}");
        assert!(r.findings.iter().all(|x| x.kind != "zlib_not_ended"), "{:#?}", r.findings);
    }
    let (code, out) = check(&dir);
    assert_eq!(code, 0, "{out}");
}
