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
    pub zlib: Zlib,
    pub direct: Direct,
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

/// How the native ledgers take stacks (the options that shape `sites`).
#[derive(Serialize, Clone, Debug, Default)]
pub struct StackSettings {
    pub stack_depth: usize,
    pub key_depth: usize,
    pub hot_sample: u32,
    pub max_sites: usize,
    pub max_tracked: usize,
}

/// `zlib`: every Inflater and Deflater the JVM created, by site.
#[derive(Serialize, Clone, Debug, Default)]
pub struct Zlib {
    /// `full` (since start-up), `since_attach` (streams created before the attach are only
    /// counted in `totals.before_tracking`), `off` (option zlib=off) or `failed`.
    pub tracking: String,
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

#[derive(Serialize, Clone, Debug, Default)]
pub struct ZlibSite {
    pub id: u32,
    /// `Inflater` or `Deflater`.
    pub kind: &'static str,
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
    /// Streams attributed here without a stack walk (hot_sample > 1).
    pub unwalked: u64,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct ZlibKindTotals {
    pub created: u64,
    pub ended_explicitly: u64,
    pub released_by_gc: u64,
    pub live: u64,
    pub live_bytes_estimate: u64,
}

#[derive(Serialize, Clone, Debug, Default)]
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

#[derive(Serialize, Clone, Debug, Default)]
pub struct ReleasesBeforeTracking {
    pub ended_explicitly: u64,
    pub released_by_gc: u64,
}

/// How `live_bytes_estimate` is computed (see docs/native-ledger.md).
#[derive(Serialize, Clone, Debug, Default)]
pub struct ZlibEstimate {
    pub inflater_bytes: u64,
    pub deflater_bytes: u64,
    pub basis: String,
}

/// `direct`: DirectByteBuffer and raw Unsafe memory, by site.
#[derive(Serialize, Clone, Debug, Default)]
pub struct Direct {
    /// `full`, `jdk_pool_only` (no per-site data: see `reason`), `off` or `failed`.
    pub tracking: String,
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

#[derive(Serialize, Clone, Debug, Default)]
pub struct DirectSite {
    pub id: u32,
    /// `DirectByteBuffer` (the stack holds `java.nio.DirectByteBuffer.<init>`) or `Unsafe`.
    pub kind: &'static str,
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

#[derive(Serialize, Clone, Debug, Default)]
pub struct DirectKindTotals {
    pub allocations: u64,
    pub frees: u64,
    pub live_count: u64,
    pub live_bytes: u64,
}

#[derive(Serialize, Clone, Debug, Default)]
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
#[derive(Serialize, Clone, Debug, Default)]
pub struct JdkPool {
    pub count: u64,
    pub total_capacity_bytes: u64,
    pub memory_used_bytes: u64,
    /// -XX:MaxDirectMemorySize (or its default, the maximum heap size).
    pub max_bytes: Option<u64>,
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct CrossCheck {
    pub agent_buffers: u64,
    pub agent_bytes: u64,
    pub jdk_buffers: u64,
    pub jdk_bytes: u64,
    pub agrees: bool,
    pub note: String,
}
