//! The report: one in-memory model that every renderer reads. Field names are the public JSON
//! schema (README.md, "JSON report"); renaming one needs a new `SCHEMA_VERSION`.

/// The JSON names of an enum the code branches on (hop kinds, suspect reasons, ledger kinds, RSS
/// parts, allocators), written once: `ALL` (in the given order), `as_str` (the name serde
/// writes), `parse`, `Display` (padded like a string) and comparison with the name (tests and
/// text compare kinds with their names).
macro_rules! json_names {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            pub const ALL: [$t; [$($s),*].len()] = [$(<$t>::$v),*];
            pub const fn as_str(self) -> &'static str {
                match self { $(<$t>::$v => $s),* }
            }
            /// The variant with this JSON name.
            pub fn parse(name: &str) -> Option<$t> {
                Self::ALL.into_iter().find(|v| v.as_str() == name)
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }
        impl PartialEq<str> for $t {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

mod loaders;
mod memory;
mod native;

pub use loaders::*;
pub use memory::*;
pub use native::*;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const SCHEMA_VERSION: u32 = 1;

/// Why a report was written.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    VmDeath,
    Signal,
    Interval,
    DataDump,
    /// A limit option (`rss_limit`, `usage_limit`, ...) was crossed; `trigger_detail` names it.
    Threshold,
    /// The JVM ran out of memory (heap, metaspace, threads, direct); `trigger_detail` names it.
    Oom,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::VmDeath => "vm_death",
            Trigger::Signal => "signal",
            Trigger::Interval => "interval",
            Trigger::DataDump => "data_dump",
            Trigger::Threshold => "threshold",
            Trigger::Oom => "oom",
        }
    }
}

#[derive(Serialize, Deserialize, Clone, Debug)]
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
    /// Which process wrote the report: host, main class or jar, JVM options, container, pod.
    #[serde(default)]
    pub origin: Origin,
    pub agent: AgentInfo,
    pub findings: Vec<Finding>,
    pub class_loaders: ClassLoaders,
    pub zlib: Zlib,
    pub direct: Direct,
    /// Native allocations sampled by bytes through the malloc family's hooks, by site
    /// (docs/native-memory.md, "Sampled native allocations").
    #[serde(default)]
    pub native_sampling: NativeSampling,
    pub memory: Memory,
    /// The sampler's time series, oldest first (docs/memory.md).
    pub samples: Vec<Sample>,
    /// What a `threshold` or `oom` report was written for; absent for other triggers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger_detail: Option<TriggerDetail>,
}

/// Why a `threshold` or `oom` report was written.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct TriggerDetail {
    /// One sentence: which limit, the value, the threshold (or which memory ran out).
    pub summary: String,
    /// `threshold`: every limit crossed at this sample (usually one).
    #[serde(default)]
    pub crossings: Vec<Crossing>,
    /// `oom`: what ran out.
    #[serde(default)]
    pub oom: Option<Oom>,
}

/// One limit option crossed upwards.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Crossing {
    /// The option: `rss_limit`, `usage_limit`, `direct_limit`, `zlib_limit`, `loaders_limit`.
    pub limit: String,
    /// The option's value as given (`3g`, `85%`, `1000`).
    pub configured: String,
    /// The threshold in `unit`s (a percentage resolved against its base).
    pub threshold: u64,
    /// The value the sampler measured.
    pub value: u64,
    /// `bytes`, `streams` or `loaders`.
    pub unit: String,
    /// For a percentage: what it is a percentage of (`cgroup memory limit`, `MaxDirectMemorySize`)
    /// and that base in bytes.
    #[serde(default)]
    pub of: Option<String>,
    #[serde(default)]
    pub of_bytes: Option<u64>,
    /// The value falls below this before the limit can report again (hysteresis).
    pub rearm_below: u64,
}

/// An OutOfMemoryError (or direct buffer memory found exhausted).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Oom {
    /// `heap`, `metaspace`, `class_space`, `threads`, `direct` or `other`.
    pub kind: String,
    /// The JVM's description (`Java heap space`, `Metaspace`, ...) or the agent's for `direct`.
    pub description: String,
    /// OutOfMemoryErrors of this kind since start (the first one wrote this report).
    pub count: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct JvmInfo {
    pub version: String,
    pub vendor: String,
    pub vm_name: String,
    pub vm_version: String,
    pub java_home: String,
    /// true when the agent was loaded into a running JVM (jcmd JVMTI.agent_load).
    pub attached_late: bool,
    /// The garbage collector: `Serial`, `Parallel`, `G1`, `ZGC`, `Shenandoah`, `Epsilon`; null
    /// when HotSpot's flags could not be read.
    #[serde(default)]
    pub collector: Option<String>,
}

/// Where a report comes from, so one found on a shared volume or in a fleet's bucket names its
/// process.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Origin {
    /// The host name (in a container, the container's; under Kubernetes, the pod's).
    pub host: String,
    /// The main class, `-jar` file or `-m` module (`sun.java.command`'s first word).
    #[serde(default)]
    pub main: Option<String>,
    /// The JVM's options (before the main class), `-D` values of secret-looking keys (password,
    /// token, key, secret, ...) shown as `***`, a class path by its number of entries.
    #[serde(default)]
    pub jvm_args: Vec<String>,
    /// The container runtime's id (64 hex digits) from this process's cgroup or mounts.
    #[serde(default)]
    pub container_id: Option<String>,
    /// Kubernetes pod and namespace: `POD_NAME`/`POD_NAMESPACE`, the downward-API files
    /// `/etc/podinfo/{name,namespace}`, the host name and the service account's namespace.
    #[serde(default)]
    pub pod: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct AgentInfo {
    pub version: String,
    pub options: String,
    pub health: Health,
    /// How long building this report took.
    pub report_build_ms: u64,
    /// The time this report was given (the exit report: `exit_timeout` less what rendering and
    /// writing keep); null when only each step's own limits applied.
    #[serde(default)]
    pub budget_ms: Option<u64>,
    /// What this report did not do, and why, in plain words (a GC the collector cannot finish
    /// at exit, a chain search cut short by the deadline, ...).
    #[serde(default)]
    pub skipped: Vec<String>,
}

/// The `agent.health` object of a report.
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
pub struct Health {
    pub events: u64,
    pub dropped: u64,
    pub panics: u64,
    pub errors: u64,
    pub signals_received: u64,
    pub signal_requests_coalesced: u64,
    pub data_dump_requests: u64,
    pub reports_written: u64,
    pub report_failures: u64,
    pub natives_wrapped: u64,
    pub stack_walk_failures: u64,
    pub site_overflow_events: u64,
    /// Always 0: kept from the time hot sampling could attribute an event to another site.
    pub hot_sample_mismatches: u64,
    /// Native ledger events whose site came from a stack walk; the others matched a stack
    /// template of their thread (docs/native-ledger.md).
    #[serde(default)]
    pub stack_walks: u64,
    /// Stack templates learned, and stacks that got none.
    #[serde(default)]
    pub stack_templates: u64,
    #[serde(default)]
    pub stack_template_refusals: u64,
    /// Reports of this process removed by the retention rule (`keep`, `keep_bytes`).
    #[serde(default)]
    pub reports_removed: u64,
    /// Methods of unloaded classes dropped from the native ledgers' method cache, and how many
    /// methods it holds now (bounded by the code that is loaded, not by loaders ever created).
    #[serde(default)]
    pub methods_forgotten: u64,
    #[serde(default)]
    pub methods_cached: u64,
    /// Native ledger sites evicted: nothing live, every class of their stack unloaded.
    #[serde(default)]
    pub sites_evicted: u64,
    /// CompiledMethodUnload events seen (compiled code freed; every stack template is dropped).
    #[serde(default)]
    pub compiled_code_unloads: u64,
    /// Direct-ledger counter stripes given back by threads as they ended (JVMTI ThreadEnd), for
    /// the next thread that counts (docs/native-ledger.md).
    #[serde(default)]
    pub direct_stripes_released: u64,
    /// The direct ledger's two oldest age periods merged into one, because every age slot held
    /// live blocks (docs/native-ledger.md, "Kept blocks").
    #[serde(default)]
    pub direct_age_merges: u64,
    /// Bytes the agent's own code holds on the heap (malloc) when the report was built.
    #[serde(default)]
    pub heap_bytes: u64,
    pub disabled_features: Vec<String>,
    pub capabilities_missing: Vec<String>,
}

/// How bad a finding is. The order is the rank (`Info < Warning < Critical`): findings sort worst
/// first and `check --fail-on` compares by it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    /// Every severity, lowest rank first.
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Critical];

    /// The name the JSON, the metrics' `severity` label and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    /// The severity `name` names (as `name` writes it), if any.
    pub fn parse(name: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A verdict in plain words, with what usually fixes it.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Finding {
    pub severity: Severity,
    pub kind: String,
    pub summary: String,
    pub fix: String,
    /// What the finding is about, as keys an allow-list or a dashboard can match on (flattened:
    /// `culprit`, `holder`, `site`, `loaders` sit beside `kind`).
    #[serde(flatten)]
    pub subject: Subject,
}

/// The structured subject of a finding; every key is absent from reports written before these
/// keys were added, and null (or empty) when it does not apply to the finding's kind.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Subject {
    /// `classloader_leak`: the culprit catalogue's id (`jdbc-driver`, `threadlocal`, ...,
    /// `generic`), `unknown` when no chain was found.
    #[serde(default)]
    pub culprit: Option<String>,
    /// `classloader_leak`: the field that holds the leak, `Class.field` of the culprit hop.
    #[serde(default)]
    pub holder: Option<String>,
    /// Native findings: the frame the memory is attributed to (as in the summary).
    #[serde(default)]
    pub site: Option<String>,
    /// `classloader_leak`: the loaders that should be dead (`getName()`, else `#id`).
    #[serde(default)]
    pub loaders: Vec<String>,
}

/// How much of the process a native ledger sees.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Tracking {
    /// Every event since start-up.
    Full,
    /// Every event since a late attach; earlier ones only as totals.
    SinceAttach,
    /// No per-site data, the JDK's own pool numbers only (direct memory after a late attach).
    JdkPoolOnly,
    /// Switched off by an option.
    #[default]
    Off,
    /// The ledger could not be set up or was disabled by a failure (see `reason`).
    Failed,
}

impl Tracking {
    pub fn as_str(self) -> &'static str {
        match self {
            Tracking::Full => "full",
            Tracking::SinceAttach => "since_attach",
            Tracking::JdkPoolOnly => "jdk_pool_only",
            Tracking::Off => "off",
            Tracking::Failed => "failed",
        }
    }

    /// Whether the ledger's live numbers cover every live stream or block it counts.
    pub fn per_site(self) -> bool {
        matches!(self, Tracking::Full | Tracking::SinceAttach)
    }
}

/// An empty report for renderer and finding tests.
pub fn test_report() -> Report {
    let mut r = blank_report(4242);
    r.sequence = 1;
    r.time = "2026-01-01T00:00:00.000Z".into();
    r.agent.version = "test".into();
    r
}

/// A report with nothing in it yet, for the agent's Prometheus textfile before its first report.
pub fn blank_report(pid: u32) -> Report {
    Report {
        schema_version: SCHEMA_VERSION,
        trigger: Trigger::Signal,
        sequence: 0,
        pid,
        time: String::new(),
        time_ms: 0,
        uptime_ms: 0,
        jvm: JvmInfo::default(),
        origin: Origin::default(),
        agent: AgentInfo {
            version: String::new(),
            options: String::new(),
            health: Health::default(),
            report_build_ms: 0,
            budget_ms: None,
            skipped: Vec::new(),
        },
        findings: Vec::new(),
        class_loaders: ClassLoaders::default(),
        zlib: Zlib::default(),
        direct: Direct::default(),
        native_sampling: NativeSampling::default(),
        memory: Memory::default(),
        samples: Vec::new(),
        trigger_detail: None,
    }
}

#[cfg(test)]
mod tests {
    use super::Severity;

    #[test]
    fn severity_names_are_the_json_strings_and_parse_back() {
        for s in Severity::ALL {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.name()));
            assert_eq!(Severity::parse(s.name()), Some(s));
        }
        assert!(Severity::ALL.windows(2).all(|w| w[0] < w[1]), "ALL is in rank order");
        assert_eq!(Severity::parse("Critical"), None);
    }
}
