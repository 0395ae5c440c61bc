//! The `memory` section and the `samples` time series: where RSS is, who holds it, and how it
//! moved. Reads /proc/self/smaps, the C allocator and the JVM's pools on the report thread; the
//! sampler thread records cheap numbers periodically. Nothing here runs in a JVMTI callback.
//! Wiring: `Agent::memory` made in `entry::activate`, `reporter::build`, `reporting::sampling`,
//! `reporting::findings`.
//!
//! - `smaps`, `regions`: the mappings and the kinds of memory they are (heap, arenas, stacks...).
//! - `malloc`, `jvm_pools`, `nmt`, `cgroup`: what the allocator, the JVM's MXBeans, NMT and the
//!   memory cgroup say.
//! - `explain`: the parts that add up to RSS and the paragraph; `findings`: the verdicts on them.
//! - `ring`: the bounded series of samples.
//! - `gc`: which garbage collector runs (the report names it; a forced GC at exit depends on it).

pub mod cgroup;
pub mod explain;
pub mod findings;
pub mod gc;
pub mod jvm_pools;
pub mod malloc;
pub mod nmt;
pub mod regions;
pub mod ring;
pub mod smaps;

use crate::ffi::jni::Env;
use crate::ffi::os;
use crate::core::options::Options;
use leakagent_report::model::{JvmMemory, Malloc, Memory, Nmt, Region, Sample, SamplerInfo, Tracking, Trim};
use crate::loaders::tracker::ClassTracker;
use crate::native::direct::DirectLedger;
use crate::native::zlib::ZlibLedger;
use explain::{Inputs, Ledger};
use parking_lot::Mutex;
use ring::SampleRing;
use regions::{Hints, Kind, KINDS};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The other collectors the memory section and the samples read numbers from.
#[derive(Clone, Copy)]
pub struct Sources<'a> {
    pub zlib: &'a ZlibLedger,
    pub direct: &'a DirectLedger,
    pub classes: &'a ClassTracker,
}

impl Sources<'_> {
    /// The live native bytes of the native ledgers (docs/native-ledger.md), for the explanation
    /// and the samples. A ledger that is off, failed, or (direct after a late attach) has no
    /// per-block data gives None: the explanation then uses the JDK's direct buffer pool for
    /// `direct`. After a late attach the zlib numbers cover the streams created since the attach.
    pub fn ledger(&self) -> Ledger {
        let zlib = self.zlib.tracking().per_site().then(|| self.zlib.live_totals());
        let direct = (self.direct.tracking() == Tracking::Full).then(|| self.direct.live_totals().1);
        Ledger {
            zlib_live_bytes: zlib.map(|(_, bytes)| bytes),
            zlib_live_streams: zlib.map(|(streams, _)| streams),
            direct_live_bytes: direct,
        }
    }
}

pub struct MemoryCollector {
    started: Instant,
    /// Process uptime when the agent started, so samples are in JVM-uptime milliseconds.
    start_uptime_ms: u64,
    interval: Option<Duration>,
    /// `trim=on`: return the allocator's free memory to the OS at each report.
    trim: bool,
    ring: Mutex<SampleRing>,
    /// HotSpot flags do not change: read once, at the first report.
    flags: OnceLock<BTreeMap<String, String>>,
    /// When the sampler last read the allocator's statistics, and how long that took.
    allocator_read: Mutex<Option<(Instant, Duration)>>,
    /// The memory cgroup, located once at start-up.
    pub cgroup: Option<cgroup::Location>,
}

/// How often the sampler reads the allocator. glibc's mallinfo2 locks every arena in turn and
/// walks its free lists, which stalls allocating threads on the fragmented heaps this tool is
/// for; once a minute (and at each report) is cheap enough to leave on.
const ALLOCATOR_EVERY: Duration = Duration::from_secs(60);
/// The walk grows with the free chunks: loader churn left 87 MB free in small chunks and a read
/// of 55 to 118 ms (`bench/classload_overhead.sh`). The next read waits this many times the last
/// one's time when that is longer than `ALLOCATOR_EVERY`: at most 0.1% of a core, and of stalls.
const ALLOCATOR_COST_FACTOR: u32 = 1000;

/// Whether the sampler reads the allocator now, given its last read (when, how long it took).
fn allocator_due(last: Option<(Instant, Duration)>) -> bool {
    last.is_none_or(|(at, took)| at.elapsed() >= ALLOCATOR_EVERY.max(took.saturating_mul(ALLOCATOR_COST_FACTOR)))
}

impl MemoryCollector {
    pub fn new(options: &Options) -> MemoryCollector {
        MemoryCollector {
            started: Instant::now(),
            start_uptime_ms: os::process_uptime_ms().unwrap_or(0),
            interval: options.sample_interval,
            trim: options.trim,
            ring: Mutex::new(SampleRing::new(options.samples)),
            flags: OnceLock::new(),
            allocator_read: Mutex::new(None),
            cgroup: cgroup::locate(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.start_uptime_ms + self.started.elapsed().as_millis() as u64
    }

    /// One sample. Runs on the sampler or report thread; `allocator` is the report's own reading
    /// of the allocator, else the sampler reads it when `allocator_due`.
    pub fn sample(
        &self,
        from: Sources,
        env: &Env,
        beans: &jvm_pools::SamplerBeans,
        allocator: Option<(Option<u64>, Option<u64>)>,
    ) -> Sample {
        let (heap, direct_pool) = beans.read(env);
        let (in_use, free) = allocator.unwrap_or_else(|| {
            let mut last = self.allocator_read.lock();
            if allocator_due(*last) {
                let t0 = Instant::now();
                let read = malloc::quick();
                *last = Some((t0, t0.elapsed()));
                read
            } else {
                (None, None)
            }
        });
        let l = from.ledger();
        let (loaded, live, loaders) = from.classes.counts();
        let cg = self.cgroup.as_ref().and_then(cgroup::Location::quick);
        Sample {
            t_ms: self.now_ms(),
            rss_bytes: statm_rss().unwrap_or(0),
            heap_used_bytes: heap,
            malloc_in_use_bytes: in_use,
            malloc_free_bytes: free,
            direct_live_bytes: l.direct_live_bytes.or(direct_pool),
            zlib_live: l.zlib_live_streams,
            classes_loaded: loaded,
            classes_live: live,
            loaders_alive: loaders,
            cgroup_usage_bytes: cg.map(|q| q.usage),
            cgroup_limit_bytes: cg.and_then(|q| q.limit),
            direct_pool_bytes: direct_pool,
        }
    }

    pub fn record(&self, s: Sample, cost: Duration) {
        let mut r = self.ring.lock();
        r.push(s);
        let us = cost.as_micros() as u64;
        r.cost_us_max = r.cost_us_max.max(us);
        r.cost_us_total += us;
    }

    fn flags(&self, env: &Env) -> BTreeMap<String, String> {
        if let Some(f) = self.flags.get() {
            return f.clone();
        }
        let f = jvm_pools::flags(env, jvm_pools::FLAGS);
        if !f.is_empty() {
            let _ = self.flags.set(f.clone());
        }
        f
    }

    /// Builds the `memory` section and returns it with the samples.
    pub fn snapshot(&self, from: Sources, env: &Env) -> (Memory, Vec<Sample>) {
        let t0 = Instant::now();
        let mut notes = Vec::new();
        // Java first: reading the MXBeans allocates, smaps afterwards sees the result.
        let (jvm, flags) = self.read_jvm(env, &mut notes);
        let nmt = read_nmt(env, &flags, &mut notes);
        let read_t0 = Instant::now();
        let mut m = malloc::snapshot();
        m.read_us = read_t0.elapsed().as_micros() as u64;
        let text = std::fs::read_to_string("/proc/self/smaps").unwrap_or_else(|e| {
            notes.push(format!("cannot read /proc/self/smaps: {e}"));
            String::new()
        });
        let maps = smaps::parse(&text);
        let hints = hints(&flags, &jvm, &m);
        let c = regions::classify(&maps, &hints);
        if hints.max_heap_size.is_some() && !c.found(Kind::JavaHeap) {
            notes.push("no mapping spans exactly MaxHeapSize: the Java heap part is the JVM's committed heap".into());
        }
        let ledger = from.ledger();
        let e = explain::explain(&Inputs { regions: &c, malloc: &m, jvm: &jvm, nmt: nmt.as_ref(), ledger });
        m.resident_free_bytes = e.resident_free;
        notes.extend(e.notes.iter().cloned());
        if ledger.zlib_live_bytes.is_none() {
            notes.push("zlib: the native ledger is off or failed (see zlib.tracking); live zlib streams are inside malloc_in_use".into());
        }
        if ledger.direct_live_bytes.is_none() {
            notes.push("direct: no per-block ledger (see direct.tracking); direct is the JDK's direct buffer pool".into());
        }
        let summary = explain::paragraph(&e, c.rss, &m, &jvm, c.get(Kind::ThreadStacks).count);
        let trim = self.trim.then(trim);
        let (sampler, samples) = self.samples(from, env, (m.in_use_bytes, m.free_bytes));
        let memory = Memory {
            rss_bytes: c.rss,
            swap_bytes: c.swap,
            mappings: c.mappings as u64,
            malloc: m,
            regions: regions_of(&c),
            unrecognised: c.unrecognised.clone(),
            explanation: e.parts,
            summary,
            jvm,
            nmt,
            trim,
            sampler,
            cgroup: self.cgroup.as_ref().and_then(cgroup::Location::read),
            notes,
            malloc_split: None,
            build_ms: t0.elapsed().as_millis() as u64,
        };
        (memory, samples)
    }

    /// The JVM's pools and the HotSpot flags (returned apart too: the regions are recognised by them).
    fn read_jvm(&self, env: &Env, notes: &mut Vec<String>) -> (JvmMemory, BTreeMap<String, String>) {
        let mut jvm = jvm_pools::read(env);
        let flags = self.flags(env);
        if flags.is_empty() {
            notes.push("HotSpot flags could not be read (HotSpotDiagnosticMXBean): the Java heap, class space and code cache are not recognised by size".into());
        }
        jvm.trim_native_heap_interval_ms = flag_u64(&flags, "TrimNativeHeapInterval");
        let feature = java_feature(env);
        jvm.trim_native_heap_command = flags.contains_key("TrimNativeHeapInterval") || feature >= 18;
        jvm.os_threads = os_threads();
        jvm.flags = flags.clone();
        (jvm, flags)
    }

    /// The sampler's figures and the series, after a sample at the report's moment so the series
    /// ends where the report is. `allocator` is the report's own reading (in use, free).
    fn samples(&self, from: Sources, env: &Env, allocator: (Option<u64>, Option<u64>)) -> (SamplerInfo, Vec<Sample>) {
        if self.interval.is_some() {
            let beans = jvm_pools::SamplerBeans::new(env);
            let t0 = Instant::now();
            let s = self.sample(from, env, &beans, Some(allocator));
            self.record(s, t0.elapsed());
        }
        let ring = self.ring.lock();
        let sampler = SamplerInfo {
            interval_ms: self.interval.map(|d| d.as_millis() as u64),
            capacity: ring.capacity() as u64,
            taken: ring.taken,
            thinned: ring.thinned,
            cost_us_max: ring.cost_us_max,
            cost_us_mean: ring.cost_us_total.checked_div(ring.taken).unwrap_or(0),
        };
        (sampler, ring.samples())
    }
}

/// Whether a boolean flag is set.
pub(crate) fn flag_on(flags: &BTreeMap<String, String>, k: &str) -> bool {
    flags.get(k).map(String::as_str) == Some("true")
}

fn flag_u64(flags: &BTreeMap<String, String>, k: &str) -> Option<u64> {
    flags.get(k).and_then(|v| v.parse::<u64>().ok())
}

/// NMT's summary, when the JVM runs with -XX:NativeMemoryTracking.
fn read_nmt(env: &Env, flags: &BTreeMap<String, String>, notes: &mut Vec<String>) -> Option<Nmt> {
    let mode = flags.get("NativeMemoryTracking").map(String::as_str).filter(|m| *m != "off")?;
    let n = jvm_pools::diagnostic_command(env, "vmNativeMemory", &["summary"]).and_then(|t| nmt::parse(&t, mode));
    if n.is_none() {
        notes.push(format!("NativeMemoryTracking={mode} but its summary could not be read"));
    }
    n
}

/// What the flags and pools tell the classification about the JVM's reservations.
fn hints(flags: &BTreeMap<String, String>, jvm: &JvmMemory, m: &Malloc) -> Hints {
    Hints {
        max_heap_size: flag_u64(flags, "MaxHeapSize"),
        compressed_class_space_size: if flags.get("UseCompressedClassPointers").map(String::as_str) == Some("false") {
            None
        } else {
            flag_u64(flags, "CompressedClassSpaceSize")
        },
        reserved_code_cache_size: flag_u64(flags, "ReservedCodeCacheSize"),
        metaspace_non_class_committed: jvm.metaspace_committed_bytes.map(|t| t.saturating_sub(jvm.class_space_committed_bytes.unwrap_or(0))),
        legacy_metaspace_first_node: flag_u64(flags, "InitialBootClassLoaderMetaspaceSize").map(|s| (2 * s).div_ceil(4096) * 4096),
        g1_mark_stack: flag_u64(flags, "MarkStackSize").filter(|_| flag_on(flags, "UseG1GC")).map(|n| n.div_ceil(1024) * 1024 * 8),
        zgc_mark_stack_space: flag_u64(flags, "ZMarkStackSpaceLimit")
            .or(flags.contains_key("ZMarkStacksMax").then_some(1 << 40))
            .filter(|_| flag_on(flags, "UseZGC")),
        glibc_malloc: m.allocator == leakagent_report::model::Allocator::Glibc,
        read_word: Some(smaps::read_own_word),
        pages: Some(smaps::own_pages),
    }
}

/// The report's `regions`, one per kind in report order.
fn regions_of(c: &regions::Classified) -> Vec<Region> {
    KINDS
        .iter()
        .map(|k| {
            let t = c.get(*k);
            Region {
                kind: k.name().into(),
                count: t.count,
                size_bytes: t.size,
                committed_bytes: t.committed,
                rss_bytes: t.rss,
                swap_bytes: t.swap,
                recognised_by: t.recognised_by.clone(),
            }
        })
        .collect()
}

/// Trims the allocator and measures RSS around it.
fn trim() -> Trim {
    let before = statm_rss().unwrap_or(0);
    let (_, free_before) = malloc::quick();
    let call = malloc::trim();
    let after = statm_rss().unwrap_or(0);
    let (_, free_after) = malloc::quick();
    Trim {
        performed: call.performed,
        call: call.how,
        rss_before_bytes: before,
        rss_after_bytes: after,
        released_bytes: before.saturating_sub(after),
        free_before_bytes: free_before,
        free_after_bytes: free_after,
    }
}

/// RSS from /proc/self/statm: cheap, for samples and the trim.
pub fn statm_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * os::page_size())
}

fn os_threads() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|v| v.trim().parse().ok())
}

/// The Java feature release (8, 11, 17, 25, ...) from `java.specification.version`.
fn java_feature(env: &Env) -> u32 {
    let v = env.system_property("java.specification.version").unwrap_or_default();
    parse_feature(&v)
}

fn parse_feature(v: &str) -> u32 {
    let mut it = v.split('.');
    match it.next().and_then(|s| s.parse::<u32>().ok()) {
        Some(1) => it.next().and_then(|s| s.parse().ok()).unwrap_or(0),
        Some(n) => n,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::{allocator_due, ALLOCATOR_EVERY};
    use std::time::{Duration, Instant};

    #[test]
    fn a_slow_allocator_read_spaces_the_next_one() {
        assert!(allocator_due(None), "the first sample reads the allocator");
        let ago = |s: u64| Instant::now().checked_sub(Duration::from_secs(s)).unwrap();
        let fast = Duration::from_millis(3);
        assert!(!allocator_due(Some((ago(30), fast))));
        assert!(allocator_due(Some((ago(ALLOCATOR_EVERY.as_secs()), fast))));
        // 120 ms walking free lists: not again before 120 s.
        let slow = Duration::from_millis(120);
        assert!(!allocator_due(Some((ago(ALLOCATOR_EVERY.as_secs()), slow))));
        assert!(!allocator_due(Some((ago(119), slow))));
        assert!(allocator_due(Some((ago(120), slow))));
    }

    #[test]
    fn feature_versions() {
        assert_eq!(super::parse_feature("17"), 17);
        assert_eq!(super::parse_feature("1.8"), 8);
        assert_eq!(super::parse_feature("25"), 25);
        assert_eq!(super::parse_feature(""), 0);
    }

    #[test]
    fn statm_and_threads_of_this_process() {
        assert!(super::statm_rss().unwrap() > 0);
        assert!(super::os_threads().unwrap() >= 1);
    }
}
