//! Publishes how to reach the agent as Java system properties, so that a tool outside the JVM
//! (the `leakagent report` command through the attach mechanism's `properties` command, or
//! `jcmd <pid> VM.system_properties`) learns the report signal and where reports land from the
//! running JVM instead of guessing. A failure here is logged once and changes nothing else.

use crate::ffi::jni::Env;
use crate::ffi::os;
use crate::core::log;
use crate::core::options::ReportSignal;
use crate::core::runtime::Agent;
use leakagent_report::props;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

static FAILED: AtomicBool = AtomicBool::new(false);

/// Live phase: the agent's version, its report signal (name and this process's number, only when
/// the agent's own handler is installed, so a tool never sends a signal nobody handles) and the
/// report file pattern made absolute.
pub fn publish_started(agent: &Agent, env: &Env) {
    let o = &agent.options;
    let number = match o.signal {
        ReportSignal::Off => None,
        ReportSignal::Usr1 => Some(libc::SIGUSR1),
        ReportSignal::RtMin(n) => Some(os::rtmin_plus(n)),
    }
    .filter(|&signo| os::report_signal_installed(signo));
    let (name, number) = match number {
        Some(n) => (o.signal.to_string(), n.to_string()),
        None => ("off".to_string(), String::new()),
    };
    set(env, props::VERSION, env!("CARGO_PKG_VERSION"));
    set(env, props::SIGNAL, &name);
    set(env, props::SIGNAL_NUMBER, &number);
    set(env, props::FILE, &absolute(&o.file));
}

/// After a report was written: its JSON path and sequence number. The path is the file's real
/// one (no symlink, no `..`): `leakagent report`, running as root, never follows a symlink in the
/// JVM's file system, so a `file=` under a symlinked directory (`/data -> /mnt/data`) would
/// otherwise be refused although nothing was planted.
pub fn publish_report(env: &Env, json_path: &str, sequence: u64) {
    let real = std::fs::canonicalize(json_path).map(|p| p.display().to_string());
    set(env, props::REPORT_LAST, &real.unwrap_or_else(|_| absolute(json_path)));
    set(env, props::REPORT_SEQUENCE, &sequence.to_string());
}

/// Report paths are relative to the JVM's working directory, which Java cannot change.
fn absolute(path: &str) -> String {
    if Path::new(path).is_absolute() {
        return path.to_string();
    }
    match std::env::current_dir() {
        Ok(cwd) => cwd.join(path).display().to_string(),
        Err(_) => path.to_string(),
    }
}

/// `System.setProperty(key, value)`; the Java exception, if any, is cleared.
fn set(env: &Env, key: &str, value: &str) {
    use jni::objects::JValue;
    let Some(mut jenv) = env.jni() else { return };
    let result = (|| {
        // AutoLocal deletes each reference when dropped.
        let k = jenv.new_string(key)?;
        let k = jenv.auto_local(k);
        let v = jenv.new_string(value)?;
        let v = jenv.auto_local(v);
        let old = jenv.call_static_method(
            "java/lang/System",
            "setProperty",
            "(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;",
            &[JValue::Object(&k), JValue::Object(&v)],
        );
        if let Ok(o) = old?.l() {
            drop(jenv.auto_local(o));
        }
        Ok::<(), jni::errors::Error>(())
    })();
    if let Err(e) = result {
        env.clear_exception();
        if !FAILED.swap(true, Relaxed) {
            log::warn(&format!(
                "cannot set system property {key} ({e}); `leakagent report` cannot find this agent's signal"
            ));
        }
    }
}
