//! The agent's JNI references stay within their local frames: every scenario runs with
//! -Xcheck:jni, which prints "JNI local refs: N, exceeds capacity: M" when a thread holds more
//! local references than its frame planned for. Reports taken one after another (searching,
//! then verifying remembered chains, on every loaded class) would pile them up if one leaked.

mod common;

use common::*;
use std::time::Duration;

#[test]
fn repeated_reports_leak_no_local_references() {
    let mut jvm = Jvm::scenario("jni_refs", "threadlocal").jvm_args(&["-Xmx512m"]).options("interval=1s,chains=on").start();
    let reports = jvm.wait_for_reports(4, Duration::from_secs(120));
    let f = jvm.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    for needle in ["JNI local refs", "WARNING in native method", "FATAL ERROR in native method"] {
        assert!(!f.stderr.contains(needle), "checked JNI complained ({needle}):\n{}", f.stderr);
    }
    for r in &reports {
        assert_eq!(r["agent"]["health"]["panics"], 0);
        let s = r["class_loaders"]["leak_suspects"].as_array().unwrap();
        assert_eq!(s.len(), 3, "{s:#?}");
        assert!(s.iter().all(|s| s["culprit"] == "threadlocal" && !s["path"].as_array().unwrap().is_empty()), "{s:#?}");
    }
}
