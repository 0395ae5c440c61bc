//! Real programs from Debian's packages under the agent: Tomcat 10.1 with Debian's examples
//! application (JSPs compiled, one recompiled, every context reloaded), Groovy 2.4 evaluating
//! scripts, Ant and Maven builds. The healthy runs must report nothing; the planted leaks must be
//! found and named the way a user knows them (context path, thread, MBean, holder field).

mod common;

use common::*;
use std::process::Command;
use std::time::Duration;

/// Runs a harness scenario, asks for a report by signal after `HARNESS ready`, lets it exit.
fn signal_report(test: &str, scenario: &str, fixed: bool) -> (Finished, Report) {
    let mut jvm = Jvm::scenario(test, scenario).jvm_args(&["-Xmx512m"]).options("format=text");
    if fixed {
        jvm = jvm.args(&["--fixed"]);
    }
    let mut running = jvm.start();
    running.signal(rtmin(2));
    let report = running.wait_for_reports(1, Duration::from_secs(180)).remove(0);
    let f = running.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert_eq!(report.agent.health.panics, 0);
    (f, report)
}

fn suspects(r: &Report) -> &Vec<LeakSuspect> {
    &r.class_loaders.leak_suspects
}

fn loaders<'a>(r: &'a Report, class: &str) -> Vec<&'a Loader> {
    r.class_loaders.loaders.iter().filter(|l| l.class == class).collect()
}

/// No finding that asks anything of the user (an `info` line about the allocator may stay).
fn assert_nothing_to_fix(r: &Report, what: &str) {
    assert!(suspects(r).is_empty(), "{what}: {:#?}", r.class_loaders.leak_suspects);
    for f in &r.findings {
        assert_eq!(f.severity, Severity::Info, "{what}: {f:#?}");
        assert!(!f.kind.contains("loader"), "{what}: {f:#?}");
    }
}

const WEBAPP: &str = "org.apache.catalina.loader.ParallelWebappClassLoader";
const JASPER: &str = "org.apache.jasper.servlet.JasperLoader";

/// Every context reloaded, one JSP recompiled, nothing leaked: every JasperLoader holds its own
/// JSP and none is a generation of another; the stopped loaders are gone.
#[test]
fn tomcat_jsps_compiled_recompiled_and_reloaded_report_nothing() {
    let (f, r) = signal_report("tomcat-fixed", "tomcat-jsp", true);
    assert_eq!(f.truths()["leaked_contexts"], "none");
    assert_nothing_to_fix(&r, "tomcat-jsp --fixed");
    let webapps = loaders(&r, WEBAPP);
    let mut alive: Vec<&str> = webapps.iter().filter(|l| l.alive).map(|l| l.label.as_deref().unwrap()).collect();
    alive.sort();
    assert_eq!(alive, ["/admin", "/examples", "/shop"], "web application loaders by context path");
    assert_eq!(webapps.iter().filter(|l| !l.alive).count(), 3, "the reload left the old loaders dead");
    let jsps = loaders(&r, JASPER);
    let live: Vec<&&Loader> = jsps.iter().filter(|l| l.alive).collect();
    assert_eq!(live.len() as u64, f.truth("jsp_pages") + 1, "one loader per page (include.jsp includes foo.jsp)");
    for l in &live {
        let label = l.label.as_deref().unwrap_or_default();
        assert!(label.starts_with('/') && label.ends_with(".jsp"), "JSP loader labelled by its page: {l:?}");
        assert!(l.superseded_by.is_none(), "{l:?}");
    }
    let recompiled = f.truths()["recompiled"].clone();
    assert!(live.iter().any(|l| l.label.as_deref() == Some(recompiled.as_str())), "the recompiled page is served");
    assert!(jsps.iter().any(|l| !l.alive), "the recompiled JSP's old loader died");
    let text = std::fs::read_to_string(f.dir.join("report-1.txt")).unwrap();
    assert!(text.contains("/examples/jsp/dates/date.jsp"), "the loader table names JSPs by page:\n{text}");
}

/// The same with a thread left running by /shop/thread.jsp and an MBean left registered by
/// /admin/mbean.jsp: two findings, one per cause, each naming its context and what to undo.
#[test]
fn tomcat_leaks_planted_in_web_applications_are_named_by_context() {
    let (f, r) = signal_report("tomcat-leak", "tomcat-jsp", false);
    let s = suspects(&r);
    let mut labels: Vec<&str> = s.iter().map(|s| s.loader_label.as_deref().unwrap()).collect();
    labels.sort();
    assert_eq!(labels, ["/admin", "/admin/mbean.jsp", "/shop", "/shop/thread.jsp"], "{s:#?}");
    for sus in s {
        let reasons = &sus.reasons;
        if sus.loader_class == WEBAPP {
            assert!(reasons.iter().any(|x| x == "container_stopped"), "{sus:?}");
        } else {
            // The reloaded context compiled the same JSP into a new loader: evidence of replacement.
            assert_eq!(reasons, &["superseded"], "{sus:?}");
            let by = sus.superseded_by.expect("superseded_by");
            let newer = r.class_loaders.loaders.iter().find(|l| l.id == by).unwrap();
            assert_eq!((&newer.label, newer.alive), (&sus.loader_label, true), "{newer:?}");
        }
    }
    let findings: Vec<&Finding> = r.findings.iter().filter(|f| f.kind == "classloader_leak").collect();
    assert_eq!(findings.len(), 2, "one finding per cause: {findings:#?}");
    let shop = findings.iter().find(|f| f.summary.contains("(/shop, /shop/thread.jsp;")).expect("the /shop finding");
    let thread = f.truths()["thread_name"].clone();
    assert!(shop.fix.contains(&format!("Stop thread \"{thread}\"")), "{shop:#?}");
    assert!(shop.fix.contains("[culprit: application-thread]"), "{shop:#?}");
    let admin = findings.iter().find(|f| f.summary.contains("(/admin, /admin/mbean.jsp;")).expect("the /admin finding");
    let mbean = f.truths()["mbean_name"].clone();
    assert!(admin.fix.contains(&format!("unregisterMBean(new ObjectName(\"{mbean}\"))")), "{admin:#?}");
    assert!(findings.iter().all(|f| f.severity == Severity::Critical));
    assert!(s.iter().all(|s| !s.loader_label.as_deref().unwrap().starts_with("/examples")));
    let text = std::fs::read_to_string(f.dir.join("report-1.txt")).unwrap();
    assert!(text.contains("superseded by #"), "{text}");
}

/// A new GroovyShell per script, every tenth script's closure kept in a static list: the
/// loaders keep growing, most are held only by Groovy's soft caches, the pinned ones are found
/// without any option, with the list that pins them.
#[test]
fn groovy_script_loaders_pinned_among_many_are_found_by_their_growth() {
    let (f, r) = signal_report("groovy", "groovy-scripts", false);
    let cl = &r.class_loaders;
    let class = f.truths()["loader_class"].clone();
    let growth = &cl.growth;
    assert_eq!(growth.len(), 1, "{growth:#?}");
    assert_eq!(growth[0].loader_class, class);
    assert_eq!(growth[0].alive, f.truth("scripts"));
    let s = suspects(&r);
    assert_eq!(s.len() as u64, f.truth("pinned"), "{s:#?}");
    for sus in s {
        assert_eq!(sus.reasons, ["growth"]);
        assert_eq!(sus.culprit.as_deref(), Some("parent-static"));
        let path = &sus.path;
        let holder = &path[sus.holder_hop.unwrap()];
        assert_eq!((holder.from.as_str(), holder.field.as_str()), ("leakagent.harness.scenarios.GroovyScripts", "PINNED"), "{path:#?}");
    }
    assert_eq!(cl.not_strongly_reachable.len() as u64, f.truth("scripts") - f.truth("pinned"));
    let findings: Vec<&Finding> = r.findings.iter().filter(|f| f.kind == "classloader_leak").collect();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].severity, Severity::Warning);
    assert!(findings[0].fix.contains(&format!("leak_loaders={class}")), "{:#?}", findings[0]);
    assert!(findings[0].fix.contains("GroovyScripts.PINNED"), "{:#?}", findings[0]);

    let (f, r) = signal_report("groovy-fixed", "groovy-scripts", true);
    assert_eq!(f.truth("pinned"), 0);
    assert_nothing_to_fix(&r, "groovy-scripts --fixed");
    assert_eq!(r.class_loaders.not_strongly_reachable.len() as u64, f.truth("scripts"), "softly held, not leaks");
}

/// Embedded Jetty 12 with /leaky and /shop each deployed and redeployed three times, under the
/// agent's default options; returns the run and its exit report.
fn jetty(test: &str, fixed: bool) -> (Finished, Report) {
    let b = harness_jar().parent().unwrap().join("jetty");
    let cp = format!("{}:{}/lib/*", b.join("classes").display(), b.display());
    let webapps = format!("-Dleakagent.webapps={}", b.join("webapps").display());
    let mut jvm = Jvm::program(test, "jetty", &[&webapps, "-cp", &cp, "leakagent.jetty.JettyRedeploy"]).options("format=text");
    if fixed {
        jvm = jvm.args(&["--fixed"]);
    }
    let f = jvm.start().finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let r = reports_in(&f.dir).pop().expect("the exit report");
    assert_eq!(r.agent.health.panics, 0);
    (f, r)
}

const JETTY: &str = "org.eclipse.jetty.ee.webapp.WebAppClassLoader";

/// Jetty redeploys cleanly: the stopped loaders die, the running ones are named by context path
/// and name, nothing to fix, and `leakagent check` passes.
#[test]
fn jetty_webapps_redeployed_cleanly_report_nothing() {
    let (f, r) = jetty("jetty-fixed", true);
    assert_eq!(f.truths()["leaked_context"], "none");
    assert_nothing_to_fix(&r, "jetty --fixed");
    let mut alive: Vec<&str> = loaders(&r, JETTY).iter().filter(|l| l.alive).map(|l| l.label.as_deref().unwrap_or("-")).collect();
    alive.sort();
    assert_eq!(alive, ["/leaky (WebAppClassLoader{leaky})", "/shop (WebAppClassLoader{shop})"]);
    let check = Command::new(root().join("target/release/leakagent")).arg("check").arg(f.dir.join("report-1.json")).output().unwrap();
    assert_eq!(check.status.code(), Some(0), "{}", String::from_utf8_lossy(&check.stdout));
}

/// A ticker thread each /leaky deployment leaves running: the three stopped /leaky loaders are
/// one CRITICAL finding naming the context and the thread, the running ones are not accused.
#[test]
fn jetty_redeploys_pinned_by_their_threads_are_one_finding_naming_the_webapp() {
    let (f, r) = jetty("jetty-leak", false);
    let s = suspects(&r);
    assert_eq!(s.len() as u64, f.truth("leaked_loaders"), "{s:#?}");
    for sus in s {
        assert_eq!(sus.loader_label.as_deref(), Some("/leaky (WebAppClassLoader{leaky})"), "{sus:#?}");
        assert!(sus.reasons.iter().any(|x| x == "closed"), "{sus:#?}");
        assert!(sus.path[0].from.contains(&f.truths()["thread_prefix"]), "{:#?}", sus.path);
    }
    let findings: Vec<&Finding> = r.findings.iter().filter(|f| f.kind == "classloader_leak").collect();
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let one = findings[0];
    assert_eq!((one.severity, one.subject.loaders.len()), (Severity::Critical, 3), "{one:#?}");
    assert!(one.summary.contains("/leaky") && one.fix.contains("Stop thread \"ticker-leaky-"), "{one:#?}");
    let text = std::fs::read_to_string(f.dir.join("report-1.txt")).unwrap();
    assert!(!text.contains("loader 9 '-'"), "{text}");
}

/// Groovy evaluating 1,500 scripts, every one pinned by the same static list, default options:
/// 1,500 suspects. With `ask`, a report is asked for by signal before the JVM exits.
fn groovy_1500(test: &str, ask: bool) -> (Finished, Vec<Report>) {
    let jvm = Jvm::scenario(test, "groovy-scripts")
        .jvm_args(&["-Xmx512m", "-Dleakagent.scripts=1500", "-Dleakagent.pin=1"])
        .options("format=text");
    let mut running = jvm.start();
    if ask {
        running.signal(rtmin(2));
        running.wait_for_reports(1, Duration::from_secs(180));
    }
    let f = running.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert_eq!(f.truth("pinned"), 1500);
    let reports = reports_in(&f.dir);
    assert_eq!(reports.len(), 1 + ask as usize, "stderr:\n{}", f.stderr);
    assert!(reports.iter().all(|r| r.agent.health.panics == 0));
    (f, reports)
}

/// A report asked for while the JVM runs finds all 1,500 chains in one search and makes them one
/// finding that keeps every loader, in a text of bounded length.
#[test]
fn groovy_fifteen_hundred_pinned_scripts_are_one_finding() {
    let (f, reports) = groovy_1500("groovy-1500", true);
    let asked = &reports[0];
    assert_eq!(asked.trigger.as_str(), "signal");
    let cl = &asked.class_loaders;
    let cs = cl.chain_search.as_ref().expect("a chain search");
    assert_eq!(cl.leak_suspects.len(), 1500, "{cs:?}");
    assert_eq!((cs.limit_hit.as_deref(), cs.chains_found), (None, 1500), "every chain in one search: {cs:#?}");
    assert!(cl.leak_suspects.iter().all(|s| s.path.iter().any(|h| h.field == "PINNED")));
    let findings: Vec<&Finding> = asked.findings.iter().filter(|f| f.kind == "classloader_leak").collect();
    assert_eq!(findings.len(), 1, "{:#?}", findings.iter().map(|f| &f.summary).collect::<Vec<_>>());
    assert_eq!(findings[0].subject.loaders.len(), 1500, "the JSON keeps every loader");
    assert!(findings[0].fix.contains("GroovyScripts.PINNED"), "{:#?}", findings[0]);
    let text = std::fs::read_to_string(f.dir.join("report-1.txt")).unwrap();
    let lines = text.lines().count();
    assert!(lines < 300, "{lines} lines:\n{text}");
    let fix = "fix: Unregister what the application put into leakagent.harness.scenarios.GroovyScripts.PINNED";
    assert_eq!(text.matches(fix).count(), 2, "one fix under the finding, one under the suspects:\n{text}");
    // Every loader id the text names has its row in the loader table.
    let table: std::collections::HashSet<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Class loaders:"))
        .skip(2)
        .map_while(|l| l.split_whitespace().next().filter(|_| l.starts_with("  ")))
        .collect();
    let more = text.lines().find(|l| l.contains("more loader(s) with")).expect("the other suspects' ids");
    for id in more.split(": ").last().unwrap().split(", ").filter(|w| w.bytes().all(|b| b.is_ascii_digit())) {
        assert!(table.contains(id), "loader {id} is named but has no row:\n{text}");
    }
}

/// Only the exit report: written within exit_timeout (10 s by default), rendering and writing
/// included; one finding; a limit that stopped its search is named, and no loader is said to be
/// strongly held without a chain.
#[test]
fn groovy_fifteen_hundred_scripts_exit_report_is_in_time_and_claims_what_it_found() {
    let (_, reports) = groovy_1500("groovy-1500-exit", false);
    let exit = &reports[0];
    assert_eq!(exit.trigger.as_str(), "vm_death");
    // Written at all means written within exit_timeout: past it the JVM exits without the report.
    assert!(exit.agent.budget_ms.is_some(), "the exit report has a budget (exit_timeout)");
    assert_eq!(exit.class_loaders.leak_suspects.len(), 1500);
    let cs = exit.class_loaders.chain_search.as_ref().expect("a chain search");
    let findings: Vec<&Finding> = exit.findings.iter().filter(|f| f.kind == "classloader_leak").collect();
    assert_eq!(findings.len(), 1, "{:#?}", findings.iter().map(|f| &f.summary).collect::<Vec<_>>());
    match cs.limit_hit.as_deref() {
        None => assert_eq!(cs.chains_found, 1500, "{cs:#?}"),
        Some(l) => {
            assert!(l.contains("raise exit_timeout") && !l.contains("chain_time"), "{l}");
            if cs.chains_found == 0 {
                assert!(!findings[0].summary.contains("strongly held"), "{}", findings[0].summary);
                assert_eq!(findings[0].severity, Severity::Warning);
            }
        }
    }
}

/// Runs a Debian build tool with the agent in its JVM options; returns the exit report.
fn build_tool(test: &str, program: &str, opts_var: &str, args: &[&str], setup: impl Fn(&std::path::Path)) -> Report {
    let dir = temp_dir(test);
    setup(&dir);
    let out = Command::new(program)
        .args(args)
        .current_dir(&dir)
        .env("JAVA_HOME", main_java().parent().unwrap().parent().unwrap())
        .env(opts_var, format!("-agentpath:{}=file={}/report-%n,format=text", agent_lib().display(), dir.display()))
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (Debian packages ant and maven)"));
    let log = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{program} failed:\n{log}");
    let reports = reports_in(&dir);
    assert_eq!(reports.len(), 1, "{log}");
    let r = reports.into_iter().next().unwrap();
    assert_eq!(r.trigger, Trigger::VmDeath);
    assert_eq!(r.agent.health.panics, 0);
    let cl = &r.class_loaders;
    // Fewer events than unloaded classes: HotSpot had not delivered them yet (its service
    // thread). More: classes the agent never counted, since classes are counted at ClassPrepare
    // (Maven's short-lived loaders load hundreds of classes they never link before they die).
    match cl.class_unload_events {
        Some(e) if e < cl.classes_unloaded => {
            assert!(cl.unload_note.as_deref().is_some_and(|n| n.contains("service thread")), "counters differ without a word: {cl:#?}")
        }
        Some(e) if e > cl.classes_unloaded => {
            assert!(cl.unload_note.as_deref().is_some_and(|n| n.contains("never counted")), "counters differ without a word: {cl:#?}")
        }
        _ => {}
    }
    r
}

fn write(dir: &std::path::Path, path: &str, text: &str) {
    let p = dir.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// Ant compiles, jars and runs a class three times in its own JVM (a loader per `<java>`).
#[test]
fn ant_build_reports_nothing() {
    let r = build_tool("ant", "ant", "ANT_OPTS", &["-q"], |d| {
        write(d, "src/demo/Hello.java", "package demo;\npublic class Hello { public static void main(String[] a) { System.out.println(\"hello \" + a[0]); } }\n");
        write(
            d,
            "build.xml",
            r#"<project name="demo" default="run">
  <target name="compile"><mkdir dir="build/classes"/><javac srcdir="src" destdir="build/classes" includeantruntime="false"/></target>
  <target name="jar" depends="compile"><jar destfile="build/demo.jar" basedir="build/classes"/></target>
  <target name="run" depends="jar">
    <java classname="demo.Hello" classpath="build/demo.jar"><arg value="1"/></java>
    <java classname="demo.Hello" classpath="build/demo.jar"><arg value="2"/></java>
    <java classname="demo.Hello" classpath="build/demo.jar"><arg value="3"/></java>
  </target>
</project>
"#,
        );
    });
    assert_nothing_to_fix(&r, "ant");
}

/// Maven validates a reactor of four modules offline (plexus class realms, sisu, the model builder).
#[test]
fn maven_build_reports_nothing() {
    let r = build_tool("maven", "mvn", "MAVEN_OPTS", &["-o", "-B", "-q", "-Dmaven.repo.local=repo", "validate"], |d| {
        let modules = ["a", "b", "c"];
        for m in modules {
            write(d, &format!("{m}/pom.xml"), &format!(
                r#"<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<parent><groupId>x</groupId><artifactId>root</artifactId><version>1</version></parent><artifactId>{m}</artifactId><packaging>pom</packaging></project>"#
            ));
        }
        write(d, "pom.xml", r#"<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>x</groupId><artifactId>root</artifactId><version>1</version><packaging>pom</packaging>
<modules><module>a</module><module>b</module><module>c</module></modules></project>"#);
    });
    assert_nothing_to_fix(&r, "maven");
    // Maven's class realms are named by their realm id, as Maven itself names them, when a report
    // sees them alive (Maven may have dropped them all before its JVM's exit report).
    assert!(!loaders(&r, "org.codehaus.plexus.classworlds.realm.ClassRealm").is_empty(), "{:#?}", r.class_loaders.loaders);
    let realms: Vec<&Loader> = loaders(&r, "org.codehaus.plexus.classworlds.realm.ClassRealm").into_iter().filter(|l| l.alive).collect();
    assert!(realms.iter().all(|l| l.label.as_deref().is_some_and(|x| x.starts_with("realm "))), "{realms:#?}");
}
