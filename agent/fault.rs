//! Faults the integration tests inject to check that the agent fails safely:
//! `LEAKAGENT_FAULT=<point>` in the JVM's environment. Points: `pipe`, `events`, `panic` (start-up
//! fails, the JVM must run on), `attach` (a late attach fails after installing everything),
//! `no-report-thread` (exit reports run inline), `stuck-exit-report` (the exit report never
//! finishes, the JVM must exit at `exit_timeout`). Without the variable nothing changes.

use std::sync::OnceLock;

pub fn injected(point: &str) -> bool {
    static FAULT: OnceLock<Option<String>> = OnceLock::new();
    FAULT.get_or_init(|| std::env::var("LEAKAGENT_FAULT").ok()).as_deref() == Some(point)
}
