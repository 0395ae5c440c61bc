//! The direct memory ledger: every block from `Unsafe.allocateMemory`/`reallocateMemory` by
//! address, with its size and site, until `freeMemory`. DirectByteBuffers are the blocks whose
//! stack holds `java.nio.DirectByteBuffer.<init>`; the rest is raw Unsafe use. A free on a GC
//! cleanup thread (the Reference Handler runs DirectByteBuffer's Deallocator; Cleaner threads)
//! counts as freed by GC. The JDK's own pool numbers (`java.nio.Bits`) are read for comparison.

use crate::native::ledger::{Inserted, Ledger};
use crate::native::methods::render_site;
use crate::native::sites::{drain, total, SiteCounters, SiteInfo, SiteKey, SiteTable, Stripe};
use crate::native::stacks::{Slot, Stacks};
use crate::native::templates;
use crate::native::ledger::{settings, top};
use crate::ffi::jni::Env;
use crate::ffi::jvmti::{Frame, Jvmti};
use crate::ffi::os;
use crate::core::health::{self, COUNTERS};
use crate::core::options::NativeOptions;
use leakagent_report::model::{CrossCheck, Direct, DirectKind, DirectSite, DirectTotals, JdkPool, StackSettings, Tracking};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

const REPORT_SITES: usize = 500;
/// Frames of a new site searched for `DirectByteBuffer.<init>` (it is the third).
const KIND_SEARCH_DEPTH: usize = 6;

/// The site table's tag of a block kind (its overflow site's index too).
fn tag(kind: DirectKind) -> u8 {
    match kind {
        DirectKind::DirectByteBuffer => 0,
        DirectKind::Unsafe => 1,
    }
}

fn kind_of(tag: u8) -> DirectKind {
    if tag == 0 {
        DirectKind::DirectByteBuffer
    } else {
        DirectKind::Unsafe
    }
}

#[derive(Default)]
pub struct DirectCounters {
    allocations: AtomicU64,
    reallocations: AtomicU64,
    frees: AtomicU64,
    freed_by_gc: AtomicU64,
    moved: AtomicU64,
    stale: AtomicU64,
    untracked: AtomicU64,
    live_bytes: AtomicU64,
    allocated_bytes: AtomicU64,
}

impl SiteCounters for DirectCounters {
    fn drain_into(&self, to: &Self) {
        for (f, t) in [
            (&self.allocations, &to.allocations),
            (&self.reallocations, &to.reallocations),
            (&self.frees, &to.frees),
            (&self.freed_by_gc, &to.freed_by_gc),
            (&self.moved, &to.moved),
            (&self.stale, &to.stale),
            (&self.untracked, &to.untracked),
            (&self.live_bytes, &to.live_bytes),
            (&self.allocated_bytes, &to.allocated_bytes),
        ] {
            drain(f, t);
        }
    }
}

/// One `reallocateMemory0`: the old block's record (from `on_reallocating`), the old and new
/// addresses (new is 0 when it failed) and the new size.
pub struct Realloc {
    pub detached: Option<u128>,
    pub old: u64,
    pub new: u64,
    pub size: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Block {
    site: u32,
    born_ms: u32,
    size: u64,
}

impl Block {
    fn pack(self) -> u128 {
        (self.site as u128) << 96 | (self.born_ms as u128) << 64 | self.size as u128
    }
    fn unpack(v: u128) -> Block {
        Block { site: (v >> 96) as u32, born_ms: (v >> 64) as u32, size: v as u64 }
    }
}

struct Growth {
    at_ms: u64,
    live_bytes: HashMap<u32, i64>,
}

pub struct DirectLedger {
    sites: SiteTable<DirectCounters>,
    ledger: Ledger<Block>,
    settings: StackSettings,
    epoch_ms: u64,
    untracked_frees: AtomicU64,
    /// jmethodIDs of the DirectByteBuffer constructors seen so far (to file overflow events).
    buffer_ctors: [AtomicUsize; 4],
    growth: Mutex<Growth>,
    status: Mutex<(Tracking, Option<String>)>,
}

impl DirectLedger {
    pub fn new(o: &NativeOptions) -> DirectLedger {
        let overflow = format!("<other sites: more than {} distinct stacks (max_sites)>", o.max_sites);
        DirectLedger {
            sites: SiteTable::new(o.max_sites, &[(tag(DirectKind::DirectByteBuffer), overflow.clone()), (tag(DirectKind::Unsafe), overflow)]),
            ledger: Ledger::new(o.max_tracked),
            settings: settings(o),
            epoch_ms: os::coarse_monotonic_ms(),
            untracked_frees: AtomicU64::new(0),
            buffer_ctors: [const { AtomicUsize::new(0) }; 4],
            growth: Mutex::new(Growth { at_ms: 0, live_bytes: HashMap::new() }),
            status: Mutex::new(if o.direct {
                (Tracking::Full, None)
            } else {
                (Tracking::Off, Some("option direct=off".into()))
            }),
        }
    }

    pub fn set_status(&self, tracking: Tracking, reason: Option<String>) {
        *self.status.lock() = (tracking, reason);
    }

    /// After a late attach Unsafe's natives cannot be wrapped: the JDK's pool totals only.
    pub fn attached_late(&self) {
        self.set_status(
            Tracking::JdkPoolOnly,
            Some("the agent was attached to a running JVM: Unsafe's allocateMemory0, reallocateMemory0 and \
                  freeMemory0 were bound at start-up and their originals are local symbols of libjvm.so, so they \
                  cannot be wrapped now; per-site direct memory needs the agent at start-up (-agentpath). The \
                  JDK's own direct buffer pool totals are in jdk_pool"
                .into()),
        );
    }

    /// Loaded at start-up, yet Unsafe's natives were bound before the agent could wrap them.
    pub fn natives_missed(&self, early_vmstart: bool) {
        let why = if early_vmstart {
            "Unsafe's natives were bound before the agent could identify them (primordial phase)"
        } else {
            "this JVM lacks can_generate_early_vmstart: Unsafe's natives were bound before the agent could identify them"
        };
        crate::core::log::warn(&format!("{why}; direct memory is reported from the JDK's pool totals only"));
        self.set_status(Tracking::JdkPoolOnly, Some(why.to_string()));
    }

    pub fn tracking(&self) -> Tracking {
        self.status.lock().0
    }

    fn now_ms(&self) -> u32 {
        os::coarse_monotonic_ms().saturating_sub(self.epoch_ms).min(u32::MAX as u64) as u32
    }

    fn site(&self, stacks: &Stacks, jvmti: &Jvmti, env: &Env, slot: Slot) -> u32 {
        stacks.site(slot, tag(DirectKind::Unsafe), jvmti, env, |key| {
            self.sites.intern(
                key,
                || tag(self.overflow_kind(key)) as u32,
                || stacks.name_of(jvmti, env, key),
                || {
                    let mut info = stacks.capture(jvmti, env, key, tag(DirectKind::Unsafe));
                    info.kind = tag(self.kind_from_stack(&info));
                    info
                },
            )
        })
    }

    /// DirectByteBuffer when the new site's stack holds its constructor (learned for later).
    fn kind_from_stack(&self, info: &SiteInfo) -> DirectKind {
        for (f, m) in info.frames.iter().zip(&info.methods).take(KIND_SEARCH_DEPTH) {
            if m.class == "java.nio.DirectByteBuffer" && m.name == "<init>" {
                self.learn_ctor(f.method);
                return DirectKind::DirectByteBuffer;
            }
        }
        DirectKind::Unsafe
    }

    fn learn_ctor(&self, method: usize) {
        for slot in &self.buffer_ctors {
            match slot.compare_exchange(0, method, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(m) if m == method => return,
                Err(_) => {}
            }
        }
    }

    fn overflow_kind(&self, key: &SiteKey) -> DirectKind {
        let ctors: Vec<usize> = self.buffer_ctors.iter().map(|c| c.load(Relaxed)).filter(|&m| m != 0).collect();
        if key.frames().iter().any(|f: &Frame| ctors.contains(&f.method)) {
            DirectKind::DirectByteBuffer
        } else {
            DirectKind::Unsafe
        }
    }

    fn record(&self, site: u32, addr: u64, size: u64) {
        let c = self.sites.counters(site);
        c.allocated_bytes.fetch_add(size, Relaxed);
        c.live_bytes.fetch_add(size, Relaxed);
        match self.ledger.insert(addr, Block { site, born_ms: self.now_ms(), size }) {
            Inserted::New => {}
            Inserted::Replaced(old) => {
                let o = self.sites.counters(old.site);
                o.stale.fetch_add(1, Relaxed);
                o.live_bytes.fetch_sub(old.size, Relaxed);
            }
            Inserted::Full => {
                c.untracked.fetch_add(1, Relaxed);
                c.live_bytes.fetch_sub(size, Relaxed);
                health::bump(&COUNTERS.dropped);
            }
        }
    }

    /// `allocateMemory0` returned a block.
    pub fn on_allocated(&self, stacks: &Stacks, jvmti: &Jvmti, env: &Env, addr: u64, size: u64) {
        let site = self.site(stacks, jvmti, env, Slot::DirectAlloc);
        self.sites.counters(site).allocations.fetch_add(1, Relaxed);
        self.record(site, addr, size);
    }

    /// Before `reallocateMemory0`: takes the old block out of the ledger.
    pub fn on_reallocating(&self, old: u64) -> Option<u128> {
        self.ledger.remove(old).map(Block::pack)
    }

    /// After `reallocateMemory0`: the new block belongs to this site; the old one moved away
    /// (or, when the reallocation failed, goes back where it was).
    pub fn on_reallocated(&self, stacks: &Stacks, jvmti: &Jvmti, env: &Env, r: Realloc) {
        let Realloc { detached, old, new, size } = r;
        let detached = detached.map(Block::unpack);
        if new == 0 {
            if let Some(b) = detached {
                let _ = self.ledger.insert(old, b);
            }
            return;
        }
        match detached {
            Some(b) => {
                let c = self.sites.counters(b.site);
                c.moved.fetch_add(1, Relaxed);
                c.live_bytes.fetch_sub(b.size, Relaxed);
            }
            None => {
                self.untracked_frees.fetch_add(1, Relaxed);
            }
        }
        let site = self.site(stacks, jvmti, env, Slot::DirectRealloc);
        self.sites.counters(site).reallocations.fetch_add(1, Relaxed);
        self.record(site, new, size);
    }

    /// `freeMemory0` is about to free a block.
    pub fn on_freeing(&self, stacks: &Stacks, jvmti: &Jvmti, env: &Env, addr: u64) {
        let by_gc = stacks.on_cleanup_thread(jvmti, env);
        match self.ledger.remove(addr) {
            Some(b) => {
                let c = self.sites.counters(b.site);
                c.live_bytes.fetch_sub(b.size, Relaxed);
                c.frees.fetch_add(1, Relaxed);
                if by_gc {
                    c.freed_by_gc.fetch_add(1, Relaxed);
                }
            }
            None => {
                self.untracked_frees.fetch_add(1, Relaxed);
            }
        }
    }

    /// Forgets the stacks of unloaded methods and evicts the sites they leave with nothing live.
    pub fn forget_methods(&self, dead: &HashSet<usize>) -> u64 {
        self.sites.forget(dead, |c| live_count(c) == 0 && live_bytes(c) == 0)
    }

    /// (live blocks, live bytes), cheap enough for a time series.
    pub fn live_totals(&self) -> (u64, u64) {
        self.sites.iter().fold((0, 0), |(n, b), (_, _, c)| (n + live_count(c), b + live_bytes(c)))
    }

    /// The `direct` section. Runs on the report thread.
    pub fn snapshot(&self, env: &Env) -> Direct {
        let (tracking, reason) = self.status.lock().clone();
        let jdk_pool = jdk_pool(env);
        let now = self.now_ms() as u64;
        let mut oldest: HashMap<u32, u32> = HashMap::new();
        self.ledger.for_each(|_, b| {
            let o = oldest.entry(b.site).or_insert(b.born_ms);
            *o = (*o).min(b.born_ms);
        });
        let mut growth = self.growth.lock();
        let mut totals = DirectTotals {
            untracked_frees: self.untracked_frees.load(Relaxed),
            sites: self.sites.len(),
            growth_window_ms: now.saturating_sub(growth.at_ms),
            ..DirectTotals::default()
        };
        let mut sites: Vec<(DirectSite, Arc<SiteInfo>)> = Vec::new();
        let mut live_now = HashMap::new();
        for (id, info, c) in self.sites.iter() {
            let frees = total(c, |x| &x.frees);
            let moved = total(c, |x| &x.moved);
            let live = live_count(c);
            let bytes = live_bytes(c);
            let allocations = total(c, |x| &x.allocations);
            let reallocations = total(c, |x| &x.reallocations);
            totals.untracked += total(c, |x| &x.untracked);
            if allocations == 0 && reallocations == 0 && frees == 0 && moved == 0 {
                continue;
            }
            let s = DirectSite {
                id,
                kind: kind_of(info.kind),
                exact_frames: info.exact_frames,
                first_thread: info.first_thread.clone(),
                allocations,
                reallocations,
                frees,
                freed_by_gc: total(c, |x| &x.freed_by_gc),
                moved_by_realloc: moved,
                live_count: live,
                live_bytes: bytes,
                allocated_bytes: total(c, |x| &x.allocated_bytes),
                growth_bytes: bytes as i64 - growth.live_bytes.get(&id).copied().unwrap_or(0),
                oldest_live_ms: oldest.get(&id).map(|&b| now.saturating_sub(b as u64)),
                ..DirectSite::default()
            };
            totals.allocations += s.allocations;
            totals.reallocations += s.reallocations;
            totals.frees += s.frees;
            totals.freed_by_gc += s.freed_by_gc;
            totals.live_count += s.live_count;
            totals.live_bytes += s.live_bytes;
            totals.allocated_bytes += s.allocated_bytes;
            let k = match s.kind {
                DirectKind::DirectByteBuffer => &mut totals.direct_byte_buffers,
                DirectKind::Unsafe => &mut totals.unsafe_memory,
            };
            k.allocations += s.allocations + s.reallocations;
            k.frees += s.frees;
            k.live_count += s.live_count;
            k.live_bytes += s.live_bytes;
            live_now.insert(id, bytes as i64);
            sites.push((s, info));
        }
        *growth = Growth { at_ms: now, live_bytes: live_now };
        drop(growth);

        sites.sort_by(|(a, _), (b, _)| {
            (b.live_bytes, b.allocated_bytes, a.id).cmp(&(a.live_bytes, a.allocated_bytes, b.id))
        });
        sites.truncate(REPORT_SITES);
        let sites: Vec<DirectSite> = sites
            .into_iter()
            .map(|(mut s, info)| {
                (s.stack, s.app_frame) = render_site(&info);
                s
            })
            .collect();
        let cross_check = (tracking == Tracking::Full).then_some(()).and(jdk_pool.as_ref()).map(|p| cross_check(&totals, p));
        Direct {
            tracking,
            reason,
            settings: templates::settings(&self.settings),
            top_by_live_bytes: top(&sites, |s| (s.live_bytes > 0).then_some(s.live_bytes as i64), |s| s.id),
            top_by_growth: top(&sites, |s| Some(s.growth_bytes), |s| s.id),
            sites,
            totals,
            jdk_pool,
            cross_check,
        }
    }
}

fn live_count(c: &[Stripe<DirectCounters>]) -> u64 {
    let gone = total(c, |x| &x.frees) + total(c, |x| &x.moved) + total(c, |x| &x.stale) + total(c, |x| &x.untracked);
    (total(c, |x| &x.allocations) + total(c, |x| &x.reallocations)).saturating_sub(gone)
}

fn live_bytes(c: &[Stripe<DirectCounters>]) -> u64 {
    // Adds precede subtracts for each block, so a total above i64::MAX is only a torn read.
    let b = total(c, |x| &x.live_bytes);
    if b > i64::MAX as u64 {
        0
    } else {
        b
    }
}

/// The JDK's direct buffer pool, read from `java.nio.Bits`' static fields (no Java code runs;
/// FindClass initializes Bits when nothing used NIO yet, which is harmless).
pub fn jdk_pool(env: &Env) -> Option<JdkPool> {
    let cls = env.find_class(c"java/nio/Bits");
    if cls.is_null() {
        return None;
    }
    let count = env.static_atomic_long_field(cls.raw(), c"COUNT");
    let capacity = env.static_atomic_long_field(cls.raw(), c"TOTAL_CAPACITY");
    let reserved = env.static_atomic_long_field(cls.raw(), c"RESERVED_MEMORY");
    let max = env.static_long_field(cls.raw(), c"MAX_MEMORY");
    Some(JdkPool {
        count: count?.max(0) as u64,
        total_capacity_bytes: capacity?.max(0) as u64,
        memory_used_bytes: reserved?.max(0) as u64,
        max_bytes: max.filter(|&m| m > 0).map(|m| m as u64),
    })
}

/// Unsafe.allocateMemory rounds every request up to a multiple of 8 before the native sees it,
/// so the agent's bytes may exceed the pool's capacities by up to 7 per buffer.
fn cross_check(t: &DirectTotals, p: &JdkPool) -> CrossCheck {
    let agent_buffers = t.direct_byte_buffers.live_count;
    let agent_bytes = t.direct_byte_buffers.live_bytes;
    let rounding = agent_bytes.checked_sub(p.total_capacity_bytes);
    let agrees = agent_buffers == p.count && rounding.is_some_and(|r| r < 8 * agent_buffers.max(1));
    let note = if agrees {
        "the agent's live DirectByteBuffers match the JDK's direct pool (the agent's bytes are the requests rounded up to \
         8 bytes by Unsafe.allocateMemory)"
            .to_string()
    } else {
        let diff = |a: u64, b: u64| if a >= b { format!("{} more", a - b) } else { format!("{} fewer", b - a) };
        format!(
            "the agent counts {} buffer(s) and {} byte(s) than the JDK pool: buffers being allocated or freed while the \
             report was built (the JDK counts a buffer before its memory is allocated and after it is freed), or \
             buffers allocated before the agent could see them",
            diff(agent_buffers, p.count),
            diff(agent_bytes, p.total_capacity_bytes)
        )
    };
    CrossCheck { agent_buffers, agent_bytes, jdk_buffers: p.count, jdk_bytes: p.total_capacity_bytes, agrees, note }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_pack_losslessly() {
        let b = Block { site: 4_000_000_000, born_ms: 123_456, size: u64::MAX - 7 };
        assert_eq!(Block::unpack(b.pack()), b);
    }

    #[test]
    fn live_numbers_subtract_every_way_out() {
        let c: [Stripe<DirectCounters>; 2] = Default::default();
        c[0].0.allocations.store(53, Relaxed);
        c[1].0.reallocations.store(2, Relaxed);
        c[1].0.moved.store(5, Relaxed);
        c[0].0.frees.store(10, Relaxed);
        assert_eq!(live_count(&c), 40);
        // Added on one stripe, subtracted on the other: the total is right.
        c[0].0.live_bytes.store(100, Relaxed);
        c[1].0.live_bytes.store(0u64.wrapping_sub(60), Relaxed);
        assert_eq!(live_bytes(&c), 40);
        c[0].0.live_bytes.store(0, Relaxed);
        assert_eq!(live_bytes(&c), 0, "a torn negative read shows as 0");
    }

    #[test]
    fn cross_check_explains_a_difference() {
        let mut t = DirectTotals::default();
        t.direct_byte_buffers.live_count = 37;
        t.direct_byte_buffers.live_bytes = 37 * 1_048_576;
        // 37 buffers of 1_048_573 bytes: each request rounded up by 3.
        let p = JdkPool { count: 37, total_capacity_bytes: 38_797_201, memory_used_bytes: 38_797_201, max_bytes: None };
        assert!(cross_check(&t, &p).agrees);
        let p2 = JdkPool { count: 38, total_capacity_bytes: 38_797_312 + 100, ..p };
        let c = cross_check(&t, &p2);
        assert!(!c.agrees && c.note.contains("1 fewer buffer(s) and 100 fewer byte(s)"), "{}", c.note);
    }
}
