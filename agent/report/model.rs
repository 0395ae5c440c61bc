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
    pub generations: Vec<Generation>,
    pub leak_suspects: Vec<LeakSuspect>,
    /// Loaders that should be dead and are alive, but that no strong path from a GC root
    /// reaches: only weak or soft references hold them, and they go when the GC needs the
    /// memory. Not leaks.
    pub not_strongly_reachable: Vec<u32>,
    /// What finding the chains cost; null when no search ran.
    pub chain_search: Option<ChainSearch>,
    /// Whether a full GC (JVMTI ForceGarbageCollection) ran just before this report.
    pub gc_before_report: bool,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct ChainSearch {
    /// Loaders that should be dead (leak suspects plus those found not strongly reachable).
    pub suspects: u32,
    pub not_strongly_reachable: u32,
    pub chains_found: u32,
    /// Full heap traversals (one per hop of the longest chain found).
    pub passes: u32,
    /// References reported by the heap walks, over all passes.
    pub references_visited: u64,
    /// Objects tagged by the search (its frontier), and their memory: HotSpot's tag map entry
    /// plus the agent's node.
    pub objects_tagged: u64,
    pub memory_bytes_estimate: u64,
    pub time_ms: u64,
    /// Why the search stopped early, if it did, and what to do about it.
    pub limit_hit: Option<String>,
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
    /// The URLs of a URLClassLoader, space-separated.
    pub code_source: Option<String>,
    /// For a URLClassLoader: whether `close()` was called.
    pub closed: Option<bool>,
    /// A container's own lifecycle state for the loader (Tomcat's `WebappClassLoaderBase`).
    pub state: Option<String>,
    /// 1 for the oldest loader of its generation group, 2 for the next, ...
    pub generation: Option<u32>,
    /// The id of the loader that replaced this one (the next generation).
    pub superseded_by: Option<u32>,
}

/// Loaders of the same class and code source (or name) created one after another.
#[derive(Serialize, Clone, Debug, Default)]
pub struct Generation {
    /// What the loaders share: `class|code source` or `class|name stem`.
    pub key: String,
    pub loader_class: String,
    /// Loader ids, oldest first.
    pub loaders: Vec<u32>,
    /// The newest loader of the group.
    pub current: u32,
    pub alive: u32,
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
    /// Why the loader should be dead: `superseded`, `closed`, `container_stopped`, `pattern`.
    pub reasons: Vec<String>,
    /// Hops from a GC root to the loader; empty when no chain was found (see chain_search).
    pub path: Vec<PathHop>,
    /// Index in `path` of the culprit hop: the first object outside the loader holding
    /// something the loader defined.
    pub culprit_hop: Option<usize>,
    /// The known culprit the chain matches (e.g. `jdk-logging-level`), or `generic`.
    pub culprit: Option<String>,
    /// Plain words: what holds the loader.
    pub explanation: String,
    pub fix: String,
}

#[derive(Serialize, Clone, Debug, Default, PartialEq)]
pub struct PathHop {
    pub from: String,
    /// Field name, `[index]` for array elements, or empty (roots, class and loader edges).
    pub field: String,
    /// The first hop names the root (`static_field`, `thread`, `stack_local`, `jni_global`,
    /// `system_class`, `monitor`, `other`); later hops are `field`, `static_field`,
    /// `array_element`, `class`, `class_loader`, `constant_pool`, `protection_domain`, ...
    pub kind: String,
    pub to: String,
    /// Loader id that defined `to` (or that `to` is), when the agent knows it.
    pub to_loader: Option<u32>,
}
