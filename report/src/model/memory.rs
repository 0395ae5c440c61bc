//! The `memory` section (RSS, the allocator, the JVM's pools, the container) and the `samples`
//! time series.

use super::*;

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
    /// `malloc_in_use` split into the sampled sites' estimates and the rest (null when native
    /// sampling is off or the allocator gives no in-use figure).
    #[serde(default)]
    pub malloc_split: Option<MallocSplit>,
    /// The largest anonymous mappings no rule recognised (`other_anonymous`), by resident size:
    /// where to look when `unexplained` is large.
    #[serde(default)]
    pub unrecognised: Vec<Unrecognised>,
    /// How long building this section took (smaps, allocator, MXBeans, NMT, trim).
    pub build_ms: u64,
}

/// One anonymous mapping no rule recognised.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct Unrecognised {
    /// Its start address, `0x...`.
    pub address: String,
    pub size_bytes: u64,
    pub rss_bytes: u64,
    /// `rw-p`, ...
    pub perms: String,
}

/// Who serves `malloc` in the process (decided by the library defining the `malloc` symbol it
/// calls). The JSON holds the lowercase name.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Allocator {
    Glibc,
    Jemalloc,
    Tcmalloc,
    Musl,
    #[default]
    Unknown,
}

json_names!(Allocator { Glibc => "glibc", Jemalloc => "jemalloc", Tcmalloc => "tcmalloc", Musl => "musl", Unknown => "unknown" });

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct Malloc {
    /// `glibc`, `jemalloc`, `tcmalloc`, `musl` or `unknown`: who serves `malloc` here.
    pub allocator: Allocator,
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

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub part: RssPart,
    pub bytes: u64,
    pub note: String,
}

/// The parts of the RSS explanation (CONTRACT.md), declared in report order; the JSON names are
/// the snake_case ones `as_str` gives.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum RssPart {
    JavaHeap,
    Metaspace,
    CodeCache,
    ThreadStacks,
    GcStructures,
    Zlib,
    Direct,
    MallocInUse,
    MallocRetained,
    Other,
    Unexplained,
}

// Every part, in report order.
json_names!(RssPart {
    JavaHeap => "java_heap",
    Metaspace => "metaspace",
    CodeCache => "code_cache",
    ThreadStacks => "thread_stacks",
    GcStructures => "gc_structures",
    Zlib => "zlib",
    Direct => "direct",
    MallocInUse => "malloc_in_use",
    MallocRetained => "malloc_retained",
    Other => "other",
    Unexplained => "unexplained",
});

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

#[cfg(test)]
mod tests {
    use super::{Allocator, RssPart};

    #[test]
    fn allocator_names_are_the_json_names() {
        for a in Allocator::ALL {
            assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{}\"", a.as_str()));
            assert_eq!(serde_json::from_str::<Allocator>(&format!("\"{a}\"")).unwrap(), a);
        }
    }

    #[test]
    fn rss_part_names_are_the_json_names() {
        for p in RssPart::ALL {
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{}\"", p.as_str()));
            assert_eq!(serde_json::from_str::<RssPart>(&format!("\"{p}\"")).unwrap(), p);
        }
        assert_eq!(format!("{:<11}|", RssPart::Zlib), "zlib       |");
    }
}
