//! Classes are counted once per class (ClassPrepare, the catch-up of a late attach, or a report
//! that meets a class loaded and not linked), and a loader's classes die with it
//! (agent/loaders/tracker.rs). Here loaders' classes are loaded unlinked, counted by a report,
//! linked later and die after, loaders delegate to the application loader, and an agent attaches
//! mid-loading: every report still gives each loader its exact defined and unloaded classes, on
//! every installed JDK.

mod common;
use common::*;
use std::time::Duration;

const LOADERS: u64 = 12;

fn lives(r: &Report) -> Vec<&Loader> {
    r.class_loaders.loaders.iter().filter(|l| l.name.as_deref().is_some_and(|n| n.starts_with("life-"))).collect()
}

/// The loaders' classes are loaded and not linked (no ClassPrepare): the first report counts
/// them. Linked after it, their ClassPrepare must not count them again (a build counting at
/// ClassPrepare alone read 0 defined at the first report; one that skips no class the report
/// counted, twice as many at the second); then they die with their loaders.
#[test]
fn loaders_tagged_by_a_report_then_dead_keep_exact_counts() {
    let javas = every_java("lazy_class_tags");
    for java in &javas {
        let v = java_feature_version(java);
        let app = app_jar("healthy").display().to_string();
        let mut jvm = Jvm::test_program(&format!("lazy-tags-{v}"), "LoaderLifecycle", &[&LOADERS.to_string(), &app]).java(java).start();
        jvm.wait_for_line("HARNESS ready", Duration::from_secs(120));
        let per = truths(jvm.stdout_now())["classes_per_loader"].parse::<u64>().unwrap();
        assert!(per >= 8, "JDK {v}: {per} classes in the app jar");

        jvm.signal(rtmin(2));
        let first = jvm.wait_for_reports(1, Duration::from_secs(120));
        let alive = lives(&first[0]);
        assert_eq!(alive.len() as u64, LOADERS, "JDK {v}: {alive:?}");
        for l in &alive {
            assert!(l.alive, "JDK {v}: {l:?}");
            assert_eq!((l.classes, l.classes_defined, l.classes_unloaded), (per, per, 0), "JDK {v}: {l:?}");
        }

        jvm.send_line("link");
        jvm.wait_for_line("HARNESS linked", Duration::from_secs(120));
        jvm.signal(rtmin(2));
        let linked = jvm.wait_for_reports(2, Duration::from_secs(120));
        let prepared = linked[1].class_loaders.classes_prepared - first[0].class_loaders.classes_prepared;
        assert!(prepared >= LOADERS * per, "JDK {v}: only {prepared} classes prepared by the link");
        let alive = lives(&linked[1]);
        assert_eq!(alive.len() as u64, LOADERS, "JDK {v}: {alive:?}");
        for l in &alive {
            assert_eq!((l.classes, l.classes_defined, l.classes_unloaded), (per, per, 0), "JDK {v}: linked after the report: {l:?}");
        }

        jvm.send_line("drop");
        jvm.wait_for_line("HARNESS dropped", Duration::from_secs(120));
        jvm.signal(rtmin(2));
        let third = jvm.wait_for_reports(3, Duration::from_secs(120));
        jvm.send_line("exit");
        let f = jvm.finish();
        assert_eq!(f.code, Some(0), "JDK {v}: {}", f.stderr);
        let death = f.death_report();
        for r in [&third[2], &death] {
            let dead = lives(r);
            assert_eq!(dead.len() as u64, LOADERS, "JDK {v}: {dead:?}");
            for l in &dead {
                assert!(!l.alive && l.died_ms.is_some(), "JDK {v}: {l:?}");
                assert_eq!((l.classes, l.classes_defined, l.classes_unloaded), (0, per, per), "JDK {v}: {l:?}");
            }
            let cl = &r.class_loaders;
            assert!(cl.classes_unloaded >= LOADERS * per, "JDK {v}: {} unloaded", cl.classes_unloaded);
            assert!(cl.classes_loaded >= cl.classes_live, "JDK {v}: {} loaded, {} live", cl.classes_loaded, cl.classes_live);
        }
        assert!(death.class_loaders.classes_unloaded >= third[2].class_loaders.classes_unloaded, "JDK {v}: monotonic");
        say(&format!("lazy tags JDK {v}: {LOADERS} loaders x {per} classes, counted unlinked by a report, linked, dead: exact counts"));
    }
    ran_on("lazy_class_tags", &javas);
}

/// An agent attached while threads load classes counts every class once: the catch-up counts
/// those prepared before, ClassPrepare the others, and a class in between (listed prepared by
/// the catch-up, its ClassPrepare still to come) once. In the fault build the catch-up waits
/// before listing the classes and a ClassPrepare posted meanwhile waits for the catch-up to end,
/// so that loading threads have such classes. The application loader defined its classes before
/// the attach; each new loader re-resolves the one they implement, which must not count again.
#[test]
fn a_late_attach_during_class_loading_counts_every_class_once() {
    let javas = every_java("lazy_class_tags_attach");
    // Built before the JVM starts loading, or the attach would land after.
    let lib = fault_lib().display().to_string();
    for java in &javas {
        let v = java_feature_version(java);
        let app = app_jar("healthy").display().to_string();
        let mut jvm = Jvm::test_program(&format!("attach-loading-{v}"), "AttachLoading", &["3", &app, "2000"]).java(java)
            .without_agent()
            .env("LEAKAGENT_FAULT", "slow-class-load")
            .start();
        let per = truths(jvm.stdout_now())["classes_per_loader"].parse::<u64>().unwrap();
        let opts = format!("\"file={}/late-%n,signal=RTMIN+3\"", jvm.dir.display());
        let (ok, said) = jcmd(java, jvm.pid(), &["JVMTI.agent_load", &lib, &opts]);
        assert!(ok, "JDK {v}: jcmd: {said}");
        std::thread::sleep(Duration::from_millis(300));
        jvm.send_line("stop");
        jvm.wait_for_line("HARNESS stopped", Duration::from_secs(120));
        let made = truths(jvm.stdout_now())["loaders"].parse::<u64>().unwrap();
        jvm.signal(rtmin(3));
        let r = jvm.wait_for_reports(1, Duration::from_secs(120));
        jvm.send_line("exit");
        let f = jvm.finish();
        assert_eq!(f.code, Some(0), "JDK {v}: {}", f.stderr);
        let ours: Vec<&Loader> =
            r[0].class_loaders.loaders.iter().filter(|l| l.name.as_deref().is_some_and(|n| n.starts_with("attach-"))).collect();
        assert_eq!(ours.len() as u64, made, "JDK {v}: every loader listed");
        let app = r[0].class_loaders.loaders.iter().find(|l| l.role == LoaderRole::Application).expect("the application loader");
        assert_eq!((app.classes_defined, app.classes_unloaded), (app.classes, 0), "JDK {v}: {app:?}");
        let first_seen: Vec<u64> = ours.iter().map(|l| l.first_seen_ms).collect();
        let wrong: Vec<&&Loader> = ours.iter().filter(|l| (l.classes, l.classes_defined, l.classes_unloaded) != (per, per, 0)).collect();
        assert!(wrong.is_empty(), "JDK {v}: {} of {made} loaders miscounted, e.g. {:?}", wrong.len(), wrong.first());
        // Loaders first seen by the catch-up and by ClassLoad: the attach landed mid-loading.
        assert!(first_seen.iter().min() < first_seen.iter().max(), "JDK {v}: {made} loaders all seen at once");
        say(&format!("attach during loading JDK {v}: {made} loaders x {per} classes, each counted once"));
    }
    ran_on("lazy_class_tags_attach", &javas);
}

/// With the agent from the start, classes loaded after VMInit's catch-up are counted once; a
/// child loader that delegates to their defining loader makes HotSpot post ClassLoad for them
/// again, and that must not count again: the application loader, whose classes every `attach-*`
/// loader reaches through delegation, keeps `classes_defined == classes` and nothing unloaded (it
/// read 106 defined for 6 live when ClassLoad counted and such classes were left untagged).
#[test]
fn classes_reposted_for_initiating_loaders_count_once() {
    let javas = every_java("lazy_class_tags_repost");
    for java in &javas {
        let v = java_feature_version(java);
        let app = app_jar("healthy").display().to_string();
        let mut jvm = Jvm::test_program(&format!("repost-{v}"), "AttachLoading", &["2", &app, "40"]).java(java).start();
        let per = truths(jvm.stdout_now())["classes_per_loader"].parse::<u64>().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        jvm.send_line("stop");
        jvm.wait_for_line("HARNESS stopped", Duration::from_secs(120));
        let made = truths(jvm.stdout_now())["loaders"].parse::<u64>().unwrap();
        jvm.signal(rtmin(2));
        let r = jvm.wait_for_reports(1, Duration::from_secs(120));
        jvm.send_line("exit");
        let f = jvm.finish();
        assert_eq!(f.code, Some(0), "JDK {v}: {}", f.stderr);
        assert!(made >= 2, "JDK {v}: {made} loaders");
        let app = r[0].class_loaders.loaders.iter().find(|l| l.role == LoaderRole::Application).expect("the application loader");
        assert_eq!((app.classes_defined, app.classes_unloaded), (app.classes, 0), "JDK {v}: {app:?}");
        let ours: Vec<&Loader> =
            r[0].class_loaders.loaders.iter().filter(|l| l.name.as_deref().is_some_and(|n| n.starts_with("attach-"))).collect();
        assert_eq!(ours.len() as u64, made, "JDK {v}: every loader listed");
        let wrong: Vec<&&Loader> = ours.iter().filter(|l| (l.classes, l.classes_defined, l.classes_unloaded) != (per, per, 0)).collect();
        assert!(wrong.is_empty(), "JDK {v}: {} of {made} loaders miscounted, e.g. {:?}", wrong.len(), wrong.first());
        say(&format!("re-posted ClassLoad JDK {v}: {made} loaders, application loader {} classes counted once", app.classes));
    }
    ran_on("lazy_class_tags_repost", &javas);
}
