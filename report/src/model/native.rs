//! The native ledgers: `zlib` streams and `direct` memory by Java allocation site.

use super::*;

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

/// What a zlib site's streams are. Variants in name order, so sorting by kind sorts by name.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ZlibKind {
    #[serde(rename = "Deflater")]
    Deflater,
    #[default]
    #[serde(rename = "Inflater")]
    Inflater,
}

json_names!(ZlibKind { Deflater => "Deflater", Inflater => "Inflater" });

/// What a direct site's blocks are: `DirectByteBuffer` (the stack holds
/// `java.nio.DirectByteBuffer.<init>`) or raw `Unsafe` memory. Variants in name order.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DirectKind {
    #[serde(rename = "DirectByteBuffer")]
    DirectByteBuffer,
    #[default]
    #[serde(rename = "Unsafe")]
    Unsafe,
}

json_names!(DirectKind { DirectByteBuffer => "DirectByteBuffer", Unsafe => "Unsafe" });


#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct ZlibSite {
    pub id: u32,
    pub kind: ZlibKind,
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
    /// Allocators that keep their blocks for reuse (Netty's pooled arenas), recognised by their
    /// frames; their sites are judged together, by growth across reports.
    #[serde(default)]
    pub pools: Vec<DirectPool>,
}

/// Bytes that rose past every earlier report's at each of the last `reports` reports (the first
/// report of a run has no earlier one and never counts), by `bytes` over them: a pool's live
/// bytes, a site's kept bytes (`DirectSite::kept_bytes`).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rising {
    pub reports: u32,
    pub bytes: u64,
}

/// The live blocks of one closed age period of a site (a period ends at the next report or
/// sampler tick, every 10 s), counted once the period has been over for a second: blocks that
/// outlived the period and the second after it.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeptPeriod {
    /// Since the period began (its blocks are at most this old).
    pub age_ms: u64,
    pub count: u64,
}

/// A pooled allocator's blocks (chunks) in the direct ledger.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct DirectPool {
    /// `netty`: io.netty.buffer.PooledByteBufAllocator's arenas (`PoolArena$DirectArena.newChunk`);
    /// `netty-adaptive`: Netty 4.2's AdaptiveByteBufAllocator
    /// (`AdaptiveByteBufAllocator$DirectChunkAllocator.allocate`).
    pub allocator: String,
    /// The sites whose stacks allocate the pool's chunks.
    pub sites: Vec<u32>,
    pub chunks: u64,
    pub live_bytes: u64,
    /// The most live bytes of any earlier report of the run.
    pub high_water_bytes: u64,
    /// Null while the pool holds still (or shrinks): a pool that plateaus is no leak. For
    /// `netty-adaptive`, whose chunks are freed once their buffers are, the rise of its kept bytes.
    pub rising: Option<Rising>,
    /// Chunks and bytes of the pool's sites born in closed periods (see `DirectSite::kept_count`).
    #[serde(default)]
    pub kept_count: u64,
    #[serde(default)]
    pub kept_bytes: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub struct DirectSite {
    pub id: u32,
    pub kind: DirectKind,
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
    /// Null unless this site's blocks pile up by age: `kept_bytes` rose past every earlier
    /// report's at the last reports, every closed period still holding some of its blocks, at a
    /// site that frees its blocks itself (not by GC).
    #[serde(default)]
    pub rising: Option<Rising>,
    /// Live blocks born in age periods that ended at least a second before the report: buffers
    /// in flight are gone by then, kept ones stay in their birth period for good.
    #[serde(default)]
    pub kept_count: u64,
    /// `kept_count` times the site's mean live block (the ledger counts blocks per period, bytes
    /// per site): an estimate.
    #[serde(default)]
    pub kept_bytes: u64,
    /// `kept_count` per closed period, oldest first (periods with none of this site's blocks
    /// show 0 while another site's blocks keep the period's slot).
    #[serde(default)]
    pub kept_by_age: Vec<KeptPeriod>,
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

/// Sampled native allocations: every `interval_bytes` allocated (on average, Poisson) through
/// `malloc`, `calloc`, `realloc`, `posix_memalign`, `aligned_alloc` or `memalign` by the JVM and
/// its libraries, the block is recorded with its stacks and followed until freed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct NativeSampling {
    pub tracking: Tracking,
    /// Why tracking is not `full` (off, failed, what a late attach missed).
    #[serde(default)]
    pub reason: Option<String>,
    /// Loaded after the JVM started: allocations made before the attach are not tracked.
    pub since_attach: bool,
    /// The mean sampling interval (`native_interval`).
    pub interval_bytes: u64,
    /// The mean interval in force at the report: `interval_bytes`, or higher while the cap on
    /// samples a second (`rate_cap_per_second`, option `native_rate`) holds the rate down.
    #[serde(default)]
    pub effective_interval_bytes: u64,
    /// The highest mean interval in force since start (or attach).
    #[serde(default)]
    pub peak_interval_bytes: u64,
    #[serde(default)]
    pub rate_cap_per_second: u64,
    /// How often the cap raised the interval in force.
    #[serde(default)]
    pub interval_raises: u64,
    /// Where glibc placed the hooks' per-thread state (absent when no hook is installed), and
    /// with `dynamic` what that costs and how to avoid it.
    #[serde(default)]
    pub tls: Option<TlsPlacement>,
    #[serde(default)]
    pub tls_note: Option<String>,
    /// Libraries whose import entries point at the hooks, and those entries.
    pub libraries_patched: u64,
    pub entries_patched: u64,
    /// Samples taken since start; lost: overwritten before the agent read them; untracked: their
    /// block could not be followed (the live table's bucket was full).
    pub samples: u64,
    pub samples_lost: u64,
    pub samples_untracked: u64,
    /// Classes prepared without jmethodIDs (a churned loader's, once the process churns
    /// loaders; another than the built-in loaders', until a sample first meets a frame without
    /// one), and the samples whose Java stack has a frame without one (shown unnamed).
    #[serde(default)]
    pub classes_without_method_ids: u64,
    #[serde(default)]
    pub samples_with_unnamed_frames: u64,
    /// Samples taken with such a frame before the sweep gave its class ids, then put on the
    /// site of the same stack sampled after it (same native frames, bytecode indexes and named
    /// frames); not counted in `samples_with_unnamed_frames`.
    #[serde(default)]
    pub samples_named_after_sweep: u64,
    /// Sum over the sites: what is live now, and what was allocated since start, estimated
    /// (each sample stands for size / P(sampled) bytes).
    pub estimated_live_bytes: u64,
    pub estimated_allocated_bytes: u64,
    /// The sites, by estimated live bytes (at most 50; the rest summed in `other_sites_live_bytes`).
    pub sites: Vec<SampledSite>,
    pub other_sites_live_bytes: u64,
}

/// Where the malloc hooks' per-thread state lives (docs/native-memory.md, "What the hooks may do").
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TlsPlacement {
    /// In glibc's static TLS: the hooks read it at a fixed offset from the thread pointer.
    Static,
    /// Allocated by glibc per thread: every allocation and free calls the TLS descriptor.
    Dynamic,
}

/// One allocation site: the same Java frames and allocating native code.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct SampledSite {
    /// Native frames first (`library!symbol`, innermost first; `library!0xOFFSET` without a
    /// symbol), then the Java frames (`pkg.Class.method(File.java:LINE)`).
    pub stack: Vec<String>,
    /// The library and function that called the allocator.
    pub library: Option<String>,
    pub function: Option<String>,
    /// The first Java frame outside the JDK (else the first Java frame): where a user can act.
    pub java_frame: Option<String>,
    /// The allocating library is the JVM's or the JDK's own.
    pub jdk_library: bool,
    pub estimated_live_bytes: u64,
    /// Estimated bytes allocated here since start (or attach).
    pub allocated_bytes: u64,
    pub samples: u64,
    /// Sampled blocks of this site not freed yet.
    pub live_samples: u64,
    /// Estimated live bytes change since the previous report (the first report: since start).
    pub growth_bytes: i64,
    /// The estimate at each of the last sampler ticks (at most 16, oldest first, thinned evenly
    /// over the run), and whether it grew across them.
    pub live_series: Vec<u64>,
    pub growing: bool,
}

/// `malloc_in_use` by sampled site.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MallocSplit {
    pub malloc_in_use_bytes: u64,
    /// The largest sampled sites outside the zlib and direct ledgers (which have their own
    /// parts), each capped so that the sum never passes `malloc_in_use_bytes`.
    pub sites: Vec<MallocSplitSite>,
    /// `malloc_in_use_bytes` minus the sites.
    pub rest_bytes: u64,
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
pub struct MallocSplitSite {
    /// `library!function` and the Java frame, as in the site.
    pub site: String,
    pub estimated_live_bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_keep_their_json_names() {
        for (k, name) in [(ZlibKind::Inflater, "Inflater"), (ZlibKind::Deflater, "Deflater")] {
            assert_eq!(serde_json::to_value(k).unwrap(), name);
            assert_eq!(serde_json::from_value::<ZlibKind>(name.into()).unwrap(), k);
            assert_eq!((k.to_string(), k == name), (name.to_string(), true));
        }
        for (k, name) in [(DirectKind::DirectByteBuffer, "DirectByteBuffer"), (DirectKind::Unsafe, "Unsafe")] {
            assert_eq!(serde_json::to_value(k).unwrap(), name);
            assert_eq!(serde_json::from_value::<DirectKind>(name.into()).unwrap(), k);
            assert_eq!((k.to_string(), k == name), (name.to_string(), true));
        }
        assert!(ZlibKind::Deflater < ZlibKind::Inflater && DirectKind::DirectByteBuffer < DirectKind::Unsafe, "name order");
    }
}
