//! The real Spring Boot on real JVMs (java-harness/springboot, built with mvn):
//! - seed 000 on Spring Boot's own nested-jar loader: the same application (Reflections 0.9.11
//!   scanning every jar of a Spring Boot 2.0.4 class path on 4 threads) in fat jars made by
//!   spring-boot-maven-plugin 2.0.4 (ZipInflaterInputStream never ends its Inflater), 2.0.5
//!   (ends the one it uses, drops a second one it creates) and 2.1.0 (fixed);
//! - a Spring Boot 4.0.7 web application restarted by DevTools (a new RestartClassLoader per
//!   restart) with an application leak (a thread, a JDBC driver) and its fixed twin, Spring Boot's
//!   own hold on the first generation, and the fat jar serving requests without a finding.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

const ZIIS_INIT: &str = "org.springframework.boot.loader.jar.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:";
const SCAN_FRAME: &str = "org.reflections.vfs.ZipFile.openInputStream(";
const RESTART_LOADER: &str = "org.springframework.boot.devtools.restart.classloader.RestartClassLoader";

fn sum(sites: &[&ZlibSite], count: fn(&ZlibSite) -> u64) -> u64 {
    sites.iter().map(|s| count(s)).sum()
}

fn findings_of<'a>(r: &'a Report, kind: &str) -> Vec<&'a Finding> {
    r.findings.iter().filter(|f| f.kind == kind).collect()
}

fn part(r: &Report, name: &str) -> u64 {
    r.memory.explanation.iter().find(|p| p.part.as_str() == name).map(|p| p.bytes).unwrap_or(0)
}

/// java-harness/build/springboot, built (with the harness) by java-harness/build.sh.
fn springboot_dir() -> PathBuf {
    let jar = harness_jar();
    jar.parent().unwrap().join("springboot")
}

fn seed000_jar(loader: &str) -> String {
    let p = springboot_dir().join(format!("seed000-boot-{loader}.jar"));
    assert!(p.is_file(), "{} is missing: java-harness/build.sh builds it", p.display());
    p.display().to_string()
}

/// The Spring Boot loader's Inflater sites (first application frame in ZipInflaterInputStream),
/// optionally only those created at one line of it.
fn loader_sites(r: &Report, line: Option<u32>) -> Vec<&ZlibSite> {
    let at = match line {
        Some(l) => format!("{ZIIS_INIT}{l})"),
        None => ZIIS_INIT.to_string(),
    };
    r.zlib.sites.iter().filter(|s| s.app_frame.as_deref().is_some_and(|f| f.starts_with(&at))).collect()
}

/// Sites whose stack passes through `frame` (Reflections reading a file, say).
fn through<'a>(sites: &[&'a ZlibSite], frame: &str) -> Vec<&'a ZlibSite> {
    sites.iter().copied().filter(|s| s.stack.iter().any(|f| f.starts_with(frame))).collect()
}

fn assert_healthy_agent(f: &Finished, r: &Report) {
    assert_eq!(f.code, Some(0), "{}\n{}", f.stdout, f.stderr);
    let h = &r.agent.health;
    assert_eq!(h.panics, 0, "{h:?}");
    assert_eq!(h.disabled_features.len(), 0, "{h:?}");
    assert_eq!(r.zlib.tracking, Tracking::Full, "{:?}", r.zlib);
}

fn seed000(test: &str, loader: &str, java: &Path) -> (Finished, Report) {
    let jar = seed000_jar(loader);
    let f = Jvm::program(test, "seed000", &["-jar", &jar]).java(java).run();
    let r = f.death_report();
    assert_healthy_agent(&f, &r);
    assert_eq!(f.truths()["spring_boot_loader"], format!("{loader}.RELEASE"), "{}", f.stdout);
    assert_eq!(f.truths()["loader_class"], "org.springframework.boot.loader.LaunchedURLClassLoader");
    (f, r)
}

/// Seed 000 on the leaky loader: every file Reflections reads is an Inflater created in Spring
/// Boot's ZipInflaterInputStream, none is ended, the GC frees them.
fn leaky_loader_checks(f: &Finished, r: &Report) {
    let scanned = f.truth("inflaters_created_by_scan");
    assert!(f.truth("nested_jars") >= 20 && scanned > 5000, "{}", f.stdout);
    let at = loader_sites(r, None);
    assert!(!at.is_empty(), "no site in Spring Boot's loader: {:?}", r.zlib);
    assert!(at.iter().all(|s| s.kind == "Inflater"));
    let created = sum(&at, |s| s.created);
    assert_eq!(sum(&at, |s| s.ended_explicitly), 0, "ZipInflaterInputStream before 2.0.5 never ends one");
    assert_eq!(sum(&at, |s| s.released_by_gc) + sum(&at, |s| s.live), created);
    assert!(sum(&at, |s| s.released_by_gc) * 10 >= created * 9, "the scan's GC freed them: {at:?}");
    // Exactly one per DEFLATED file of the scan, on Reflections' scanner threads; the rest are
    // the loader's own class and resource reads.
    let scan = through(&at, SCAN_FRAME);
    assert_eq!(sum(&scan, |s| s.created), scanned, "one Inflater per file Reflections read");
    assert!(scan.iter().all(|s| s.first_thread.as_deref().unwrap().starts_with("org.reflections-scanner-")), "{scan:?}");
    assert!(created > scanned, "class loading through the loader inflates too");
    // The worst site is the scan's, and its stack shows the whole path.
    let top = &r.zlib.sites[0];
    assert!(top.app_frame.as_deref().unwrap().starts_with(ZIIS_INIT), "top site: {top:?}");
    let stack: Vec<&str> = top.stack.iter().map(String::as_str).collect();
    assert_eq!(stack[0], "java.util.zip.Inflater.init(Native Method)");
    for frame in ["org.springframework.boot.loader.jar.JarFile.getInputStream(", SCAN_FRAME] {
        assert!(stack.iter().any(|f| f.starts_with(frame)), "{frame} not in {stack:?}");
    }
    // One finding names the loader's line, GC-only release, and the upgrade.
    let found = findings_of(r, "zlib_not_ended");
    assert_eq!(found.len(), 1, "{:?}", r.findings);
    let summary = &found[0].summary;
    assert!(summary.starts_with(&format!("{created} of {created} Inflaters created at {ZIIS_INIT}")), "{summary}");
    assert!(summary.contains("freed only by GC"), "{summary}");
    let fix = &found[0].fix;
    assert!(fix.contains("end()") && fix.contains("Spring Boot 2.1.0") && fix.contains("Reflections"), "{fix}");
}

/// Seed 000's whole story on the real loader, against the first fixed version.
#[test]
fn seed000_real_loader_2_0_4_leaves_every_inflater_to_gc_and_2_1_0_ends_them() {
    let (f, r) = seed000("seed000-204", "2.0.4", &main_java());
    leaky_loader_checks(&f, &r);
    // The allocator keeps what the GC freed: the third part of the story.
    let retention = findings_of(&r, "allocator_retention");
    assert_eq!(retention.len(), 1, "{:?}", r.findings);
    assert!(retention[0].summary.contains("glibc malloc keeps"), "{:?}", retention[0]);

    let (ff, rf) = seed000("seed000-210", "2.1.0", &main_java());
    let scanned = ff.truth("inflaters_created_by_scan");
    assert_eq!(scanned, f.truth("inflaters_created_by_scan"), "the same application");
    let scan = through(&loader_sites(&rf, None), SCAN_FRAME);
    assert_eq!(sum(&scan, |s| s.created), scanned);
    assert_eq!(sum(&scan, |s| s.ended_explicitly), scanned, "2.1.0's close() ends every Inflater of the scan");
    assert_eq!(sum(&scan, |s| s.released_by_gc) + sum(&scan, |s| s.live), 0);
    assert!(findings_of(&rf, "zlib_not_ended").is_empty(), "{:?}", rf.findings);
    let (kept, kept_fixed) = (part(&r, "malloc_retained"), part(&rf, "malloc_retained"));
    assert!(kept > 2 * kept_fixed.max(1 << 20), "2.0.4 keeps {kept} B in the allocator, 2.1.0 {kept_fixed} B");
}

/// 2.0.5, the version seed 000 names as the fix: close() ends the Inflater the stream uses, but
/// its constructor `this(inputStream, new Inflater(true), size)` creates a second one that the
/// private constructor drops. The agent tells the two apart by line.
#[test]
fn seed000_loader_2_0_5_still_drops_one_inflater_per_entry_to_gc() {
    let (f, r) = seed000("seed000-205", "2.0.5", &main_java());
    let scanned = f.truth("inflaters_created_by_scan");
    let dropped = through(&loader_sites(&r, Some(38)), SCAN_FRAME);
    let used = through(&loader_sites(&r, Some(42)), SCAN_FRAME);
    assert_eq!(sum(&dropped, |s| s.created), scanned, "{dropped:?}");
    assert_eq!(sum(&dropped, |s| s.ended_explicitly), 0);
    assert_eq!(sum(&used, |s| s.created), scanned, "{used:?}");
    assert_eq!(sum(&used, |s| s.ended_explicitly), scanned, "the Inflater the stream uses is ended by close()");
    let found = findings_of(&r, "zlib_not_ended");
    assert_eq!(found.len(), 1, "{:?}", r.findings);
    let summary = &found[0].summary;
    assert!(summary.contains(&format!("created at {ZIIS_INIT}38)")) && summary.contains("freed only by GC"), "{summary}");
    let at38 = sum(&loader_sites(&r, Some(38)), |s| s.created);
    assert!(summary.starts_with(&format!("{at38} of {at38} ")), "{summary}");
}

/// The 2018 loader runs on every JDK we test, and the agent tells the same story on each (at
/// least one besides the main one, or LEAKAGENT_SKIP_OTHER_JDKS=1).
#[test]
fn seed000_real_loader_on_every_other_jdk() {
    let javas = other_javas("seed000_real_loader_on_every_other_jdk");
    for java in &javas {
        let v = java_feature_version(java);
        let (f, r) = seed000(&format!("seed000-jdk{v}"), "2.0.4", java);
        leaky_loader_checks(&f, &r);
    }
    ran_on("seed000_real_loader_on_every_other_jdk", &javas);
}

// ---- DevTools restarts of a Spring Boot 4 web application ----

/// The application from class directories (DevTools restarts nothing from a fat jar), restarted
/// three times; the report is asked for by signal while the last generation serves.
fn devtools(test: &str, props: &[&str]) -> (Finished, Report) {
    let s = springboot_dir().join("service");
    let cp = format!("{}:{}/*", s.join("classes").display(), s.join("lib").display());
    let mut args = vec!["--leakagent.restarts=3"];
    args.extend_from_slice(props);
    let mut running = Jvm::program(test, "devtools", &["-cp", &cp, "leakagent.service.ServiceApp"])
        .jvm_args(&["-Xmx256m"])
        .args(&args)
        .start();
    running.signal(rtmin(2));
    let r = running.wait_for_reports(1, Duration::from_secs(120)).remove(0);
    let f = running.finish();
    assert_eq!(f.code, Some(0), "{}\n{}", f.stdout, f.stderr);
    assert_eq!(r.agent.health.panics, 0);
    assert_eq!(f.truths()["loader_class"], RESTART_LOADER);
    assert_eq!(f.truth("generations"), 4);
    (f, r)
}

/// The RestartClassLoaders as one generation group, oldest first; the last one is current.
fn restart_generations(r: &Report) -> Vec<u32> {
    let groups: Vec<&Generation> = r.class_loaders.generations.iter().filter(|g| g.loader_class == RESTART_LOADER).collect();
    assert_eq!(groups.len(), 1, "one generation group of RestartClassLoaders: {:?}", r.class_loaders.generations);
    let ids = groups[0].loaders.clone();
    assert_eq!(ids.len(), 4, "{:?}", groups[0]);
    assert_eq!(groups[0].current, ids[3]);
    ids
}

/// The suspect RestartClassLoaders, oldest first.
fn restart_suspects(r: &Report) -> Vec<&LeakSuspect> {
    let mut s: Vec<&LeakSuspect> = r.class_loaders.leak_suspects.iter().filter(|s| s.loader_class == RESTART_LOADER).collect();
    s.sort_by_key(|s| s.loader_id);
    s
}

/// Suspect `s` is generation `ordinal` (1-based), superseded, with a chain that ends at it.
fn check_suspect(s: &LeakSuspect, gens: &[u32], ordinal: usize) {
    let id = s.loader_id;
    assert_eq!(id, gens[ordinal - 1], "generation {ordinal}: {s:?}");
    assert!(s.reasons.iter().any(|x| x == "superseded"), "{s:?}");
    let path = &s.path;
    assert!(!path.is_empty(), "no chain: {s:?}");
    assert_eq!(path.last().unwrap().to_loader, Some(id), "the chain ends at the suspect: {s:?}");
    assert!(s.classes >= 7, "the application's classes are pinned: {s:?}");
}

fn classloader_findings(r: &Report) -> Vec<&Finding> {
    findings_of(r, "classloader_leak")
}

#[test]
fn devtools_thread_left_running_pins_every_superseded_restart_loader() {
    let (f, r) = devtools("devtools-thread", &["--leakagent.leak=thread"]);
    let gens = restart_generations(&r);
    let s = restart_suspects(&r);
    assert_eq!(s.len() as u64, f.truth("leaked_generations"), "{s:#?}");
    assert_eq!(s.len(), 3);
    for (i, sus) in s.iter().enumerate() {
        check_suspect(sus, &gens, i + 1);
        let path = &sus.path;
        assert_eq!(path[0].kind, "thread", "{sus:?}");
        assert_eq!(path[0].from, format!("<thread \"heartbeat-gen-{}\">", i + 1), "{sus:?}");
        let culprit = sus.culprit.as_deref().unwrap();
        assert!(["thread-context-loader", "application-thread"].contains(&culprit), "{culprit}");
    }
    let found = classloader_findings(&r);
    assert!(!found.is_empty() && found.iter().all(|f| f.severity == Severity::Critical), "{:?}", r.findings);
    let text: String = found.iter().map(|f| format!("{} {}", f.summary, f.fix)).collect();
    for id in &gens[..3] {
        assert!(text.contains(&format!("#{id}")), "findings do not name loader #{id}: {text}");
    }
    assert!(!text.contains(&format!("#{}", gens[3])), "the current generation is no suspect: {text}");
    // Threads of one kind (heartbeat-gen-1..3) are one cause: one finding naming every thread.
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].fix.contains("Stop thread \"heartbeat-gen-1\""), "{}", found[0].fix);
    for g in 1..=3 {
        assert!(found[0].fix.contains(&format!("\"heartbeat-gen-{g}\"")), "{}", found[0].fix);
    }
}

#[test]
fn devtools_jdbc_driver_left_registered_pins_the_restart_loaders() {
    let (f, r) = devtools("devtools-jdbc", &["--leakagent.leak=jdbc"]);
    assert_eq!(f.truth("app_leaked_generations"), 3);
    let gens = restart_generations(&r);
    let s = restart_suspects(&r);
    assert_eq!(s.len(), 3, "{s:#?}");
    for (i, sus) in s.iter().enumerate() {
        check_suspect(sus, &gens, i + 1);
    }
    // Generations 2 and 3 are held by DriverManager alone. Generation 1 is also held by Spring
    // Boot's shutdown hook thread (see the next tests), whose chain is shorter.
    for sus in &s[1..] {
        assert_eq!(sus.culprit.as_deref(), Some("jdbc-driver"), "{sus:?}");
        let path = &sus.path;
        assert!(path.iter().any(|h| h.from == "java.sql.DriverManager" && h.field == "registeredDrivers"), "{sus:?}");
        assert!(path.iter().any(|h| h.from == "java.sql.DriverInfo" && h.field == "driver" && h.to == "leakagent.service.AuditDriver"), "{sus:?}");
    }
    assert!(["jdbc-driver", "shutdown-hook"].contains(&s[0].culprit.as_deref().unwrap()), "{:?}", s[0]);
    let text: String = classloader_findings(&r).iter().map(|f| format!("{} {}", f.summary, f.fix)).collect();
    assert!(text.contains("DriverManager.deregisterDriver"), "{text}");
}

/// Without any leak of the application, Spring Boot 4.0.7 itself keeps the first generation:
/// SpringApplicationShutdownHook's thread, created once per JVM while generation 1 starts,
/// inherits its RestartClassLoader as context loader and is registered with the JVM.
#[test]
fn devtools_spring_boot_itself_keeps_the_first_restart_loader() {
    let (f, r) = devtools("devtools-boot", &["--leakagent.leak=none"]);
    assert_eq!((f.truth("app_leaked_generations"), f.truth("boot_pinned_generation")), (0, 1));
    let gens = restart_generations(&r);
    let s = restart_suspects(&r);
    assert_eq!(s.len(), 1, "only generation 1: {s:#?}");
    check_suspect(s[0], &gens, 1);
    assert_eq!(s[0].culprit.as_deref(), Some("shutdown-hook"), "{:?}", s[0]);
    let path = &s[0].path;
    assert_eq!((path[0].from.as_str(), path[0].field.as_str()), ("java.lang.ApplicationShutdownHooks", "hooks"));
    assert_eq!(path.last().unwrap().from, "java.lang.Thread");
    assert_eq!(path.last().unwrap().field, "contextClassLoader");
}

/// The fixed twin stops its thread and also keeps Spring Boot from pinning generation 1 (the
/// hook made on the launch thread, no logging shutdown handler, the Binder's shared converter
/// made on the launch thread): no old generation is strongly reachable, no finding.
#[test]
fn devtools_fixed_twin_has_no_class_loader_finding() {
    let (f, r) = devtools("devtools-fixed", &["--leakagent.leak=thread", "--leakagent.fixed=true"]);
    assert_eq!(f.truth("leaked_generations"), 0);
    let gens = restart_generations(&r);
    assert!(restart_suspects(&r).is_empty(), "{:?}", r.class_loaders.leak_suspects);
    assert!(r.class_loaders.leak_suspects.is_empty(), "{:?}", r.class_loaders.leak_suspects);
    assert!(classloader_findings(&r).is_empty(), "{:?}", r.findings);
    // The old generations are dead or reachable only through weak/soft references.
    let soft = &r.class_loaders.not_strongly_reachable;
    for id in &gens[..3] {
        let l = r.class_loaders.loaders.iter().find(|l| l.id == *id).unwrap();
        assert!(!l.alive || soft.contains(id), "generation loader #{id}: {l:?}");
    }
}

// ---- the fat jar ----

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

/// A current Spring Boot service from its fat jar (Spring Boot 4's own nested-jar loader, which
/// pools and ends its Inflaters), serving requests: the agent finds nothing.
#[test]
fn spring_boot_4_fat_jar_serves_requests_without_a_finding() {
    let jar = springboot_dir().join("service.jar").display().to_string();
    let mut running = Jvm::program("service-jar", "service", &["-jar", &jar]).jvm_args(&["-Xmx256m"]).start();
    let port: u16 = truths(&running.stdout)["port"].parse().unwrap();
    for i in 0..50 {
        let reply = http_get(port, &format!("/greeting?name=n{i}"));
        assert!(reply.starts_with("HTTP/1.1 200") && reply.contains(&format!("\"content\":\"Hello, n{i}!\"")), "{reply}");
    }
    running.signal(rtmin(2));
    let r = running.wait_for_reports(1, Duration::from_secs(120)).remove(0);
    let f = running.finish();
    assert_healthy_agent(&f, &r);
    assert_eq!(f.truths()["spring_boot"], "4.0.7");
    for kind in ["classloader_leak", "zlib_not_ended", "direct_buffers_not_freed", "unsafe_memory_not_freed"] {
        assert!(findings_of(&r, kind).is_empty(), "{:?}", r.findings);
    }
    assert!(r.class_loaders.leak_suspects.is_empty());
    let launched =
        r.class_loaders.loaders.iter().filter(|l| l.class == "org.springframework.boot.loader.launch.LaunchedClassLoader" && l.alive).count();
    assert_eq!(launched, 1, "{:?}", r.class_loaders.loaders);
}
