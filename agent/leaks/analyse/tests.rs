//! Suspect families and what makes a loader a suspect.

use super::*;

#[test]
fn a_loader_s_family_is_the_loaders_below_it() {
    let ls = vec![
        Loader { id: 5, parent: Some(3), ..Loader::default() },
        Loader { id: 8, parent: Some(5), ..Loader::default() },
        Loader { id: 9, parent: Some(8), ..Loader::default() },
        Loader { id: 10, parent: Some(3), ..Loader::default() },
    ];
    let mut f: Vec<u32> = family(&ls, 5).into_iter().collect();
    f.sort();
    assert_eq!(f, [5, 8, 9]);
}

#[test]
fn what_makes_a_suspect() {
    let base = Loader { id: 5, class: "java.net.URLClassLoader".into(), role: LoaderRole::Other, alive: true, ..Loader::default() };
    assert!(reasons(&base, &[]).is_empty());
    let l = Loader { superseded_by: Some(6), closed: Some(true), ..base.clone() };
    assert_eq!(reasons(&l, &[]), ["superseded", "closed"]);
    let dead = Loader { alive: false, ..l.clone() };
    assert!(reasons(&dead, &[]).is_empty(), "dead loaders are never suspects");
    let tomcat = Loader { state: Some("DESTROYED".into()), ..base.clone() };
    assert_eq!(reasons(&tomcat, &[]), ["container_stopped"]);
    let running = Loader { state: Some("STARTED".into()), ..base.clone() };
    assert!(reasons(&running, &[]).is_empty());
    let named = Loader { name: Some("plugin-3".into()), ..base.clone() };
    assert_eq!(reasons(&named, &["plugin-*".into()]), ["pattern"]);
    let app = Loader { role: LoaderRole::Application, closed: Some(true), ..base };
    assert!(reasons(&app, &[]).is_empty(), "the JDK's own loaders are never suspects");
}

/// A retained heap stopped by a limit says what to raise; any other reason stands alone.
/// The retained heap is given up at once when its two passes would outlast the time left, at
/// the chain search's pace, naming the option whose time is shorter.
#[test]
fn a_retained_heap_that_cannot_finish_in_time_is_given_up_with_the_numbers() {
    let s = Duration::from_secs;
    // 15 passes in 30 s: two more take 4 s.
    assert_eq!(
        too_slow(s(30), 15, s(3), None).as_deref(),
        Some("the retained heap's two passes over the heap dump would take about 4.0 s (the chain search's 15 took 30.0 s), more than the 3.0 s left of chain_time")
    );
    assert_eq!(too_slow(s(30), 15, s(5), None), None);
    let exit = too_slow(s(30), 15, s(60), Some(s(1))).unwrap();
    assert!(exit.ends_with("more than the 1.0 s left of exit_timeout"), "{exit}");
    assert_eq!(advised(&exit), format!("{exit}; raise exit_timeout"));
    assert_eq!(too_slow(s(30), 15, s(60), Some(s(30))), None);
    assert_eq!(too_slow(s(30), 0, s(0), None), None, "no pace without a pass");
}

#[test]
fn a_missing_retained_heap_names_the_limit_to_raise() {
    let over = "more than 5 objects in the heap dump, over chain_memory (1 MiB)";
    assert_eq!(advised(over), format!("{over}; raise chain_memory"));
    assert_eq!(advised("chain_time limit of 9 s reached"), "chain_time limit of 9 s reached; raise chain_time");
    assert_eq!(advised("reading the heap dump: early end"), "reading the heap dump: early end");
    assert_eq!(raise("reading the heap dump: early end"), "the agent's log may say more");
}
