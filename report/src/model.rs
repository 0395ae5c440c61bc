//! The report: one in-memory model that every renderer reads. Field names are the public JSON
//! schema (README.md, "JSON report"); renaming one needs a new `SCHEMA_VERSION`.

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
    /// Bytes the agent's own code holds on the heap (malloc) when the report was built.
    #[serde(default)]
    pub heap_bytes: u64,
    pub disabled_features: Vec<String>,
    pub capabilities_missing: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
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

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
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
    /// Dead loaders beyond `max_dead_loaders`, no longer listed one by one, by class (they are
    /// counted in `loaders_dead`).
    #[serde(default)]
    pub dead_loaders_summarized: Vec<DeadLoaderGroup>,
    /// Why no GC ran before this report (`gc=off`, VM death under a concurrent collector, ...).
    #[serde(default)]
    pub gc_skipped: Option<String>,
    /// How long the GC took (it is a pause of the application).
    #[serde(default)]
    pub gc_ms: u64,
    /// Exit report only: loaders that are closed or stopped but were not yet at any earlier
    /// report, so most likely stopped by the JVM's own shutdown (hooks closing the application);
    /// not suspects.
    #[serde(default)]
    pub stopped_at_exit: Vec<u32>,
    /// Why `classes_unloaded` and `class_unload_events` differ, when they do.
    #[serde(default)]
    pub unload_note: Option<String>,
    /// Kinds of loader that keep being created and stay alive (see README, "Growth").
    #[serde(default)]
    pub growth: Vec<LoaderGrowth>,
}

/// Loaders of one class, each defining generated classes of one shape (names that differ only in
/// their numbers, e.g. `Script12`, `Script13`): many alive after GC, more than at the previous
/// report. The alive ones are leak suspects (reason `growth`) when the chain search runs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct LoaderGrowth {
    pub loader_class: String,
    /// The shape of the classes they define: the first class name of each, digits as `#`.
    pub defines: String,
    /// One of those class names, as found.
    pub example: String,
    pub alive: u64,
    pub dead: u64,
    /// Distinct class names of this shape the agent has seen these loaders define.
    pub distinct_classes: u64,
    /// Alive loaders of this group at the previous report after a GC (null: first sighting).
    pub alive_at_previous_report: Option<u64>,
    /// When the oldest and the newest of them were first seen (ms after agent start).
    pub first_seen_ms: u64,
    pub last_seen_ms: u64,
    /// A `leak_loaders=` value that names these loaders.
    pub leak_loaders: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
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
    /// How the chains were found: `walk` (live heap walks, one pause each), `dump` (one heap
    /// dump, searched while the application ran), `verified` (every chain of the previous
    /// report still holds, checked field by field without a pause), `none` (no search ran).
    #[serde(default)]
    pub method: String,
    /// Chains confirmed from the previous report without searching.
    #[serde(default)]
    pub verified: u32,
    /// Every safepoint pause the search caused, in order.
    #[serde(default)]
    pub pauses: Vec<Pause>,
    #[serde(default)]
    pub pause_ms: u64,
    #[serde(default)]
    pub max_pause_ms: u64,
    /// The temporary heap dump (`method` `dump`): its size and where it was written; it was
    /// deleted before the report was.
    #[serde(default)]
    pub dump_bytes: Option<u64>,
    #[serde(default)]
    pub dump_dir: Option<String>,
    /// The search's own memory at its largest (estimated), against `chain_memory`.
    #[serde(default)]
    pub memory_bytes: u64,
    /// Why the search did not run, or ran only in part (deadline, a dump that would pause too
    /// long, no room for a dump), in plain words.
    #[serde(default)]
    pub skipped: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct DeadLoaderGroup {
    pub class: String,
    pub loaders: u64,
    pub classes_defined: u64,
}

/// One safepoint pause: what caused it and how long the application stood still.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Pause {
    pub what: String,
    pub ms: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Loader {
    /// Agent-assigned id; 0 is the bootstrap loader.
    pub id: u32,
    /// The loader's class, e.g. `java.net.URLClassLoader`.
    pub class: String,
    /// `ClassLoader.getName()`, when set.
    pub name: Option<String>,
    pub role: LoaderRole,
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
    /// The id of the loader that replaced this one: a newer loader of the same generation key
    /// that defines a class of the same name.
    pub superseded_by: Option<u32>,
    /// What a user knows the loader by, when the agent can tell: its name, a Tomcat context path
    /// (`/examples`), a JSP (`/examples/jsp/dates/date.jsp`), `Spring Boot DevTools restart`, ...
    pub label: Option<String>,
    /// The first (by name) class this loader defines, as seen alive at a report.
    pub sample_class: Option<String>,
}

/// What a class loader is to the JVM.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LoaderRole {
    Bootstrap,
    Platform,
    /// The system (application) class loader.
    Application,
    /// Any loader an application or container made: the ones that can leak.
    #[default]
    Other,
}

impl LoaderRole {
    pub fn as_str(self) -> &'static str {
        match self {
            LoaderRole::Bootstrap => "bootstrap",
            LoaderRole::Platform => "platform",
            LoaderRole::Application => "application",
            LoaderRole::Other => "other",
        }
    }
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

/// Loaders of the same class and code source (or name) created one after another.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
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

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct DuplicateClass {
    pub name: String,
    /// Ids of the live loaders that each define a class of this name.
    pub loaders: Vec<u32>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct LeakSuspect {
    pub loader_id: u32,
    pub loader_class: String,
    pub loader_name: Option<String>,
    pub classes: u64,
    /// Why the loader should be dead: `superseded`, `closed`, `container_stopped`, `pattern`,
    /// `growth`.
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
    /// What a user knows the loader by (`Loader.label`).
    pub loader_label: Option<String>,
    /// For `superseded`: the loader that replaced it.
    pub superseded_by: Option<u32>,
    /// Index in `path` of the hop whose field owns what holds the loader: the culprit hop, or,
    /// when that is inside a collection (`HashMap$Node.value`, `Object[][3]`), the field that
    /// holds the collection.
    pub holder_hop: Option<usize>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
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

/// Where the process's resident memory is, and why (docs/memory.md).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Memory {
    /// Resident set size: the sum of `Rss` over every mapping in /proc/self/smaps.
    pub rss_bytes: u64,
    pub swap_bytes: u64,
    /// Number of mappings read.
    pub mappings: u64,
    pub malloc: Malloc,
    /// The mappings by kind (see docs/memory.md for how each kind is recognised).
    pub regions: Vec<Region>,
    /// Parts that add up to `rss_bytes`, in a fixed order.
    pub explanation: Vec<Part>,
    /// The explanation in one paragraph of plain words.
    pub summary: String,
    pub jvm: JvmMemory,
    /// NMT's own summary when the JVM runs with -XX:NativeMemoryTracking.
    pub nmt: Option<Nmt>,
    /// What `trim=on` did at this report.
    pub trim: Option<Trim>,
    pub sampler: SamplerInfo,
    /// The memory cgroup the process is in (null outside one, or when it cannot be read).
    #[serde(default)]
    pub cgroup: Option<Cgroup>,
    /// Caveats about the numbers above.
    pub notes: Vec<String>,
    /// How long building this section took (smaps, allocator, MXBeans, NMT, trim).
    pub build_ms: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Malloc {
    /// `glibc`, `jemalloc`, `tcmalloc`, `musl` or `unknown`: who serves `malloc` here.
    pub allocator: String,
    /// The shared object defining the `malloc` the process calls.
    pub library: String,
    pub version: Option<String>,
    /// Where the numbers come from: `mallinfo2`, `mallinfo`, `mallctl`, `MallocExtension`, `none`.
    pub source: String,
    /// Bytes handed out and not freed (glibc: arenas plus mmapped chunks).
    pub in_use_bytes: Option<u64>,
    /// glibc: in use inside the arenas (`uordblks`).
    pub arena_in_use_bytes: Option<u64>,
    /// Free bytes the allocator holds, resident or not (glibc `fordblks`; jemalloc resident -
    /// allocated; tcmalloc the free lists and page heap).
    pub free_bytes: Option<u64>,
    /// Of the free bytes, those still resident: the `malloc_retained` part of the explanation.
    pub resident_free_bytes: Option<u64>,
    /// glibc: chunks served by mmap and their bytes.
    pub mmapped_bytes: Option<u64>,
    pub mmapped_chunks: Option<u64>,
    /// jemalloc `stats.resident`, tcmalloc heap size minus unmapped bytes.
    pub allocator_resident_bytes: Option<u64>,
    /// Number of arenas (glibc: from malloc_info, the main arena included).
    pub arenas: Option<u64>,
    /// The arena limit in force and where it comes from.
    pub arena_max: Option<u64>,
    pub arena_max_source: String,
    /// glibc: one entry per arena, from malloc_info.
    pub arena_list: Vec<Arena>,
    /// The allocator's own statistics under their own names (`stats.resident`, ...).
    pub stats: BTreeMap<String, u64>,
    /// How long reading the allocator took at report time, in microseconds (glibc locks each
    /// arena meanwhile). The sampler reads it at most once a minute.
    #[serde(default)]
    pub read_us: u64,
    pub notes: Vec<String>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Arena {
    /// malloc_info's `nr`; 0 is the main (brk) arena.
    pub index: u64,
    pub main: bool,
    pub in_use_bytes: u64,
    pub free_bytes: u64,
    pub fast_free_bytes: u64,
    pub free_chunks: u64,
    /// Memory the arena got from the system, and its high-water mark.
    pub system_bytes: u64,
    pub max_system_bytes: u64,
    /// Thread arenas: number of 64 MiB heaps, their address space and read-write part.
    pub heaps: Option<u64>,
    pub address_space_bytes: u64,
    pub mprotect_bytes: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Region {
    pub kind: String,
    pub count: u64,
    /// Address space, reserved parts included.
    pub size_bytes: u64,
    /// Address space with any access (PROT_NONE reservations excluded).
    pub committed_bytes: u64,
    pub rss_bytes: u64,
    pub swap_bytes: u64,
    pub recognised_by: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Part {
    pub part: String,
    pub bytes: u64,
    pub note: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct JvmMemory {
    pub heap_used_bytes: Option<u64>,
    pub heap_committed_bytes: Option<u64>,
    pub heap_max_bytes: Option<u64>,
    /// The Metaspace pool: class space included.
    pub metaspace_used_bytes: Option<u64>,
    pub metaspace_committed_bytes: Option<u64>,
    pub class_space_used_bytes: Option<u64>,
    pub class_space_committed_bytes: Option<u64>,
    /// All CodeHeap pools (or the single CodeCache pool).
    pub code_cache_used_bytes: Option<u64>,
    pub code_cache_committed_bytes: Option<u64>,
    /// The JDK's `direct` buffer pool (BufferPoolMXBean).
    pub direct_buffers: Option<u64>,
    pub direct_used_bytes: Option<u64>,
    pub direct_capacity_bytes: Option<u64>,
    pub mapped_buffers: Option<u64>,
    pub mapped_capacity_bytes: Option<u64>,
    /// Live Java threads, and all threads of the process (/proc/self/status).
    pub java_threads: Option<u64>,
    pub os_threads: Option<u64>,
    /// HotSpot flags read through HotSpotDiagnosticMXBean.
    pub flags: BTreeMap<String, String>,
    /// Whether `jcmd <pid> System.trim_native_heap` exists in this JDK.
    pub trim_native_heap_command: bool,
    /// `-XX:TrimNativeHeapInterval` in ms when this JDK has the flag (0 = off), null otherwise.
    pub trim_native_heap_interval_ms: Option<u64>,
    pub pools: Vec<Pool>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Pool {
    pub name: String,
    /// `heap` or `non_heap`.
    pub kind: String,
    pub used_bytes: u64,
    pub committed_bytes: u64,
    /// null when the pool has no limit.
    pub max_bytes: Option<u64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Nmt {
    /// `summary` or `detail`.
    pub mode: String,
    pub reserved_bytes: u64,
    pub committed_bytes: u64,
    pub categories: Vec<NmtCategory>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct NmtCategory {
    pub name: String,
    pub reserved_bytes: u64,
    pub committed_bytes: u64,
    pub malloc_bytes: u64,
    pub mmap_committed_bytes: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Trim {
    pub performed: bool,
    /// The call made, e.g. `malloc_trim(0)`.
    pub call: String,
    pub rss_before_bytes: u64,
    pub rss_after_bytes: u64,
    /// RSS before minus after (0 when RSS grew meanwhile).
    pub released_bytes: u64,
    pub free_before_bytes: Option<u64>,
    pub free_after_bytes: Option<u64>,
}

/// The process's memory cgroup, in the terms orchestrators use.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Cgroup {
    /// 1 or 2.
    pub version: u32,
    /// The cgroup's directory, as read (e.g. `/sys/fs/cgroup/memory/kubepods/...`).
    pub path: String,
    /// The memory limit in bytes (the smallest of the cgroup and its ancestors); null when unlimited.
    pub limit: Option<u64>,
    /// What the kernel charges the cgroup: `memory.current` (v2), `memory.usage_in_bytes` (v1).
    pub usage: u64,
    /// `usage - inactive_file`: what Kubernetes and Docker call the working set, and evict or
    /// kill on; the page cache that is inactive is reclaimed before the OOM killer acts.
    pub working_set: u64,
    /// File-backed pages charged to the cgroup (v2 `file`, v1 `total_cache`): counted by the
    /// kernel, not by the process's RSS unless mapped.
    pub page_cache: Option<u64>,
    pub inactive_file: Option<u64>,
    /// Kernel memory charged to the cgroup (v2 `kernel`, else slab + kernel stacks + page tables
    /// + sockets; v1 `memory.kmem.usage_in_bytes`): not in RSS either.
    pub kernel: Option<u64>,
    /// Anonymous memory (v2 `anon`, v1 `total_rss`): the part RSS also counts.
    pub anon: Option<u64>,
    /// `limit - working_set`, 0 when over; null when unlimited.
    pub headroom: Option<u64>,
    /// Working set as a percentage of the limit.
    pub percent_of_limit: Option<f64>,
    /// Times the cgroup hit its limit (v2 `memory.events` max, v1 `memory.failcnt`) and OOM
    /// kills inside it (v2 `oom_kill`, v1 `memory.oom_control` oom_kill).
    pub limit_hits: Option<u64>,
    pub oom_kills: Option<u64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct SamplerInfo {
    /// null when the sampler is off.
    pub interval_ms: Option<u64>,
    pub capacity: u64,
    /// Samples taken since start, and how many times the older half was thinned.
    pub taken: u64,
    pub thinned: u64,
    /// What taking one sample costs the sampler thread, in microseconds.
    pub cost_us_max: u64,
    pub cost_us_mean: u64,
}

/// One point of the time series.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct Sample {
    /// Milliseconds since the JVM started.
    pub t_ms: u64,
    pub rss_bytes: u64,
    pub heap_used_bytes: Option<u64>,
    pub malloc_in_use_bytes: Option<u64>,
    pub malloc_free_bytes: Option<u64>,
    /// The native ledger's direct/Unsafe bytes; until it is merged, the JDK's direct pool.
    pub direct_live_bytes: Option<u64>,
    /// Live zlib streams (the native ledger); null until it is merged.
    pub zlib_live: Option<u64>,
    /// ClassLoad events so far (as `class_loaders.classes_loaded`), and loaded minus unloaded.
    pub classes_loaded: u64,
    pub classes_live: u64,
    pub loaders_alive: u64,
    /// The memory cgroup's usage and limit (null outside one, or unlimited).
    #[serde(default)]
    pub cgroup_usage_bytes: Option<u64>,
    #[serde(default)]
    pub cgroup_limit_bytes: Option<u64>,
    /// The JDK's direct buffer pool (`BufferPoolMXBean` "direct": what `Bits` reserved).
    #[serde(default)]
    pub direct_pool_bytes: Option<u64>,
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
        memory: Memory::default(),
        samples: Vec::new(),
        trigger_detail: None,
    }
}

/// How the native ledgers take stacks (the options that shape `sites`).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct StackSettings {
    pub stack_depth: usize,
    pub key_depth: usize,
    /// Always 1: every event is attributed from its own stack (the option is accepted and has
    /// no effect).
    pub hot_sample: u32,
    pub max_sites: usize,
    pub max_tracked: usize,
    /// `on` when events are matched against stack templates (no walk), `off` when every event
    /// is walked (`stack_templates_reason` says why). Counts are exact either way.
    #[serde(default)]
    pub stack_templates: String,
    #[serde(default)]
    pub stack_templates_reason: Option<String>,
}

/// `zlib`: every Inflater and Deflater the JVM created, by site.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Zlib {
    /// `full`, `since_attach` (streams created before the attach are only counted in
    /// `totals.before_tracking`), `off` (option zlib=off) or `failed`.
    pub tracking: Tracking,
    /// Why tracking is not `full`, in plain words.
    pub reason: Option<String>,
    pub settings: StackSettings,
    /// Worst first: most streams never ended (freed by GC or still live), then live bytes.
    pub sites: Vec<ZlibSite>,
    /// Site ids, most estimated live bytes first (sites with live streams only).
    pub top_by_live_bytes: Vec<u32>,
    /// Site ids, largest growth of live streams since the previous report first.
    pub top_by_growth: Vec<u32>,
    pub totals: ZlibTotals,
    pub estimate: ZlibEstimate,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ZlibSite {
    pub id: u32,
    /// `Inflater` or `Deflater`.
    pub kind: String,
    /// Innermost first, `pkg.Class.method(File.java:LINE)`; the first frame is the native.
    pub stack: Vec<String>,
    /// The first frame outside the JDK, if any.
    pub app_frame: Option<String>,
    /// How many top frames every stream of this site shares; deeper frames are those of the
    /// first stream seen here.
    pub exact_frames: usize,
    pub first_thread: Option<String>,
    pub created: u64,
    /// Released by `Inflater.end()`/`Deflater.end()` (directly, or by a close() that ends it).
    pub ended_explicitly: u64,
    /// Released only by the GC (the Cleaner thread, or a finalizer).
    pub released_by_gc: u64,
    pub live: u64,
    pub live_bytes_estimate: u64,
    /// Change of `live` since the previous report (or since start for the first).
    pub growth_live: i64,
    /// Age of the oldest live stream.
    pub oldest_live_ms: Option<u64>,
    /// Always 0: every stream is attributed from its own stack (kept from the time hot sampling
    /// could attribute streams without one).
    pub unwalked: u64,
    /// Set when the site is a pool, not a leak: its streams are reset to be handed out again
    /// (by the application's pool, Spring Boot's nested-jar loader, the JDK's jar cache) and its
    /// live count did not grow past the high-water mark of the previous report. No finding.
    #[serde(default)]
    pub pool: Option<ZlibPool>,
}

/// A site whose streams are reused (see `ZlibSite::pool`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct ZlibPool {
    /// Streams of the site live now: the pool's size.
    pub size: u64,
    /// The largest `size` seen by any report of this run.
    pub high_water: u64,
    /// Resets of a live stream on an application thread: each hands a stream out again.
    pub reuses: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ZlibKindTotals {
    pub created: u64,
    pub ended_explicitly: u64,
    pub released_by_gc: u64,
    pub live: u64,
    pub live_bytes_estimate: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ZlibTotals {
    pub created: u64,
    pub ended_explicitly: u64,
    pub released_by_gc: u64,
    pub live: u64,
    pub live_bytes_estimate: u64,
    pub inflaters: ZlibKindTotals,
    pub deflaters: ZlibKindTotals,
    /// Releases of streams created before tracking began (late attach), counted apart.
    pub before_tracking: ReleasesBeforeTracking,
    /// Streams created while the ledger was full (counted, not tracked by address).
    pub untracked: u64,
    pub sites: usize,
    /// Milliseconds covered by the `growth_*` numbers.
    pub growth_window_ms: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ReleasesBeforeTracking {
    pub ended_explicitly: u64,
    pub released_by_gc: u64,
}

/// How `live_bytes_estimate` is computed (see docs/native-ledger.md).
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ZlibEstimate {
    pub inflater_bytes: u64,
    pub deflater_bytes: u64,
    pub basis: String,
}

/// `direct`: DirectByteBuffer and raw Unsafe memory, by site.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Direct {
    /// `full`, `jdk_pool_only` (no per-site data: see `reason`), `off` or `failed`.
    pub tracking: Tracking,
    pub reason: Option<String>,
    pub settings: StackSettings,
    /// Most live bytes first.
    pub sites: Vec<DirectSite>,
    pub top_by_live_bytes: Vec<u32>,
    pub top_by_growth: Vec<u32>,
    pub totals: DirectTotals,
    /// The JDK's own direct buffer pool (java.nio.Bits), null when unreadable.
    pub jdk_pool: Option<JdkPool>,
    /// The agent's live DirectByteBuffers against the JDK pool.
    pub cross_check: Option<CrossCheck>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct DirectSite {
    pub id: u32,
    /// `DirectByteBuffer` (the stack holds `java.nio.DirectByteBuffer.<init>`) or `Unsafe`.
    pub kind: String,
    pub stack: Vec<String>,
    pub app_frame: Option<String>,
    pub exact_frames: usize,
    pub first_thread: Option<String>,
    /// Blocks from `allocateMemory` at this site.
    pub allocations: u64,
    /// Blocks from `reallocateMemory` at this site (the old block left its own site).
    pub reallocations: u64,
    /// Blocks of this site freed (explicitly or by GC cleanup).
    pub frees: u64,
    /// Of `frees`, those run by GC cleanup (Reference Handler, Cleaner threads).
    pub freed_by_gc: u64,
    /// Blocks of this site moved to another site by `reallocateMemory`.
    pub moved_by_realloc: u64,
    pub live_count: u64,
    pub live_bytes: u64,
    /// Bytes requested here in total (allocations and reallocations).
    pub allocated_bytes: u64,
    /// Change of `live_bytes` since the previous report (or since start for the first).
    pub growth_bytes: i64,
    pub oldest_live_ms: Option<u64>,
    pub unwalked: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct DirectKindTotals {
    pub allocations: u64,
    pub frees: u64,
    pub live_count: u64,
    pub live_bytes: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct DirectTotals {
    pub allocations: u64,
    pub reallocations: u64,
    pub frees: u64,
    pub freed_by_gc: u64,
    pub live_count: u64,
    pub live_bytes: u64,
    pub allocated_bytes: u64,
    pub direct_byte_buffers: DirectKindTotals,
    #[serde(rename = "unsafe")]
    pub unsafe_memory: DirectKindTotals,
    /// Frees (and reallocations) of blocks the agent never saw allocated.
    pub untracked_frees: u64,
    /// Allocations while the ledger was full (counted, not tracked by address).
    pub untracked: u64,
    pub sites: usize,
    pub growth_window_ms: u64,
}

/// `java.nio.Bits`: what `BufferPoolMXBean` "direct" shows.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct JdkPool {
    pub count: u64,
    pub total_capacity_bytes: u64,
    pub memory_used_bytes: u64,
    /// -XX:MaxDirectMemorySize (or its default, the maximum heap size).
    pub max_bytes: Option<u64>,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct CrossCheck {
    pub agent_buffers: u64,
    pub agent_bytes: u64,
    pub jdk_buffers: u64,
    pub jdk_bytes: u64,
    pub agrees: bool,
    pub note: String,
}
