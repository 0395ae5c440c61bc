//! The report: one in-memory model that every renderer reads. Field names are the public JSON
//! schema (README.md, "JSON report"); renaming one needs a new `SCHEMA_VERSION`.

use crate::health::Health;
use serde::Serialize;

pub const SCHEMA_VERSION: u32 = 1;

/// Why a report was written.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    VmDeath,
    Signal,
    Interval,
    DataDump,
    Unload,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::VmDeath => "vm_death",
            Trigger::Signal => "signal",
            Trigger::Interval => "interval",
            Trigger::DataDump => "data_dump",
            Trigger::Unload => "unload",
        }
    }
}

#[derive(Serialize, Clone, Debug)]
pub struct Report {
    pub schema_version: u32,
    pub trigger: Trigger,
    /// 1 for the first report of this process, then 2, 3, ... (the `%n` of file names).
    pub sequence: u64,
    pub pid: u32,
    /// UTC, RFC 3339 with milliseconds.
    pub time: String,
    pub time_ms: u64,
    pub uptime_ms: u64,
    pub jvm: JvmInfo,
    pub agent: AgentInfo,
    pub findings: Vec<Finding>,
    pub class_loaders: ClassLoaders,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct JvmInfo {
    pub version: String,
    pub vendor: String,
    pub vm_name: String,
    pub vm_version: String,
    pub java_home: String,
    /// true when the agent was loaded into a running JVM (jcmd JVMTI.agent_load).
    pub attached_late: bool,
}

#[derive(Serialize, Clone, Debug)]
pub struct AgentInfo {
    pub version: &'static str,
    pub options: String,
    pub health: Health,
    /// How long building this report took.
    pub report_build_ms: u64,
}

#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// A verdict in plain words, with what usually fixes it.
#[derive(Serialize, Clone, Debug)]
pub struct Finding {
    pub severity: Severity,
    pub kind: String,
    pub summary: String,
    pub fix: String,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct ClassLoaders {
    pub loaders: Vec<Loader>,
    /// ClassLoad events plus the classes found already loaded when the agent started.
    pub classes_loaded: u64,
    pub classes_prepared: u64,
    /// Classes whose `Class` object was freed (JVMTI ObjectFree on the tagged class).
    pub classes_unloaded: u64,
    /// HotSpot's own ClassUnload extension event count, when the JVM offers it.
    pub class_unload_events: Option<u64>,
    /// Classes alive at report time (GetLoadedClasses, array classes excluded).
    pub classes_live: u64,
    pub loaders_alive: u64,
    pub loaders_dead: u64,
    pub duplicate_classes: Vec<DuplicateClass>,
    pub leak_suspects: Vec<LeakSuspect>,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct Loader {
    /// Agent-assigned id; 0 is the bootstrap loader.
    pub id: u32,
    /// The loader's class, e.g. `java.net.URLClassLoader`.
    pub class: String,
    /// `ClassLoader.getName()`, when set.
    pub name: Option<String>,
    /// `bootstrap`, `platform`, `application` or `other`.
    pub role: &'static str,
    /// The parent loader's id (0: bootstrap), null for the bootstrap loader itself.
    pub parent: Option<u32>,
    /// Classes this loader defined that are alive now.
    pub classes: u64,
    /// Classes this loader defined since the agent started watching.
    pub classes_defined: u64,
    pub classes_unloaded: u64,
    pub alive: bool,
    /// Milliseconds after agent start when the agent first saw the loader.
    pub first_seen_ms: u64,
    pub died_ms: Option<u64>,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct DuplicateClass {
    pub name: String,
    /// Ids of the live loaders that each define a class of this name.
    pub loaders: Vec<u32>,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct LeakSuspect {
    pub loader_id: u32,
    pub loader_class: String,
    pub loader_name: Option<String>,
    pub classes: u64,
    pub reason: String,
    pub path: Vec<PathHop>,
    pub culprit: Option<String>,
    pub fix: String,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct PathHop {
    pub from: String,
    pub field: String,
    pub kind: String,
    pub to: String,
}
