//! The Java system properties through which the agent tells a tool outside the JVM how to reach
//! it (the agent sets them, `leakagent report` reads them through the attach mechanism): one
//! list, so the two sides cannot drift. They are a public interface (docs/cli.md): add, never
//! rename.

/// The agent's version; its presence says the agent is loaded.
pub const VERSION: &str = "leakagent.version";
/// The report signal's name (`RTMIN+2`, `USR1`), `off` when it has none.
pub const SIGNAL: &str = "leakagent.signal";
/// The report signal's number in this process, empty when the agent handles none.
pub const SIGNAL_NUMBER: &str = "leakagent.signal.number";
/// The `file=` pattern, made absolute.
pub const FILE: &str = "leakagent.file";
/// The last report's JSON path (absolute); not set for the exit report.
pub const REPORT_LAST: &str = "leakagent.report.last";
/// The last report's sequence number.
pub const REPORT_SEQUENCE: &str = "leakagent.report.sequence";
