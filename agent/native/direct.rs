//! The direct memory ledger: every block from `Unsafe.allocateMemory`/`reallocateMemory` by
//! address, with its size and site, until `freeMemory`. DirectByteBuffers are the blocks whose
//! stack holds `java.nio.DirectByteBuffer.<init>`; the rest is raw Unsafe use. A free on a GC
//! cleanup thread (the Reference Handler runs DirectByteBuffer's Deallocator; Cleaner threads)
//! counts as freed by GC. The JDK's own pool numbers (`java.nio.Bits`) are read for comparison.

use crate::native::ledger::Inserted;
use crate::native::section::{Dated, Row, Section, SiteView};
use crate::native::sites::{drain, total, SiteCounters, SiteInfo, SiteKey, Stripe};
use crate::native::stacks::{Slot, Stacks};
use crate::ffi::jni::Env;
use crate::ffi::jvmti::{Frame, Jvmti};
use crate::core::health::{self, COUNTERS};
use crate::core::options::NativeOptions;
use leakagent_report::model::{CrossCheck, Direct, DirectKind, DirectSite, DirectTotals, JdkPool, Tracking};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

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

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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

impl Dated for Block {
    fn site(&self) -> u32 {
        self.site
    }
    fn born_ms(&self) -> u32 {
        self.born_ms
    }
}

impl Row for DirectSite {
    fn id(&self) -> u32 {
        self.id
    }
    fn growth_base(&self) -> i64 {
        self.live_bytes as i64
    }
    fn growth(&self) -> i64 {
        self.growth_bytes
    }
    fn live_bytes(&self) -> u64 {
        self.live_bytes
    }
    fn set_stack(&mut self, stack: Vec<String>, app_frame: Option<String>) {
        (self.stack, self.app_frame) = (stack, app_frame);
    }
}

pub struct DirectLedger {
    section: Section<DirectCounters, Block>,
    untracked_frees: AtomicU64,
    /// jmethodIDs of the DirectByteBuffer constructors seen so far (to file overflow events).
    buffer_ctors: [AtomicUsize; 4],
}

impl DirectLedger {
    pub fn new(o: &NativeOptions) -> DirectLedger {
        DirectLedger {
            section: Section::new(o, &[tag(DirectKind::DirectByteBuffer), tag(DirectKind::Unsafe)], "direct", o.direct),
            untracked_frees: AtomicU64::new(0),
            buffer_ctors: [const { AtomicUsize::new(0) }; 4],
        }
    }

    pub fn set_status(&self, tracking: Tracking, reason: Option<String>) {
        self.section.set_status(tracking, reason);
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
        self.section.tracking()
    }

    fn site(&self, stacks: &Stacks, jvmti: &Jvmti, env: &Env, slot: Slot) -> u32 {
        stacks.site(slot, tag(DirectKind::Unsafe), jvmti, env, |key| {
            self.section.sites.intern(
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
        let c = self.section.sites.counters(site);
        c.allocated_bytes.fetch_add(size, Relaxed);
        c.live_bytes.fetch_add(size, Relaxed);
        match self.section.ledger.insert(addr, Block { site, born_ms: self.section.now_ms(), size }) {
            Inserted::New => {}
            Inserted::Replaced(old) => {
                let o = self.section.sites.counters(old.site);
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
        self.section.ledger.prefetch(addr);
        let site = self.site(stacks, jvmti, env, Slot::DirectAlloc);
        self.section.sites.counters(site).allocations.fetch_add(1, Relaxed);
        self.record(site, addr, size);
    }

    /// Before `reallocateMemory0`: takes the old block out of the ledger.
    pub fn on_reallocating(&self, old: u64) -> Option<u128> {
        self.section.ledger.remove(old).map(Block::pack)
    }

    /// After `reallocateMemory0`: the new block belongs to this site; the old one moved away
    /// (or, when the reallocation failed, goes back where it was).
    pub fn on_reallocated(&self, stacks: &Stacks, jvmti: &Jvmti, env: &Env, r: Realloc) {
        let Realloc { detached, old, new, size } = r;
        let detached = detached.map(Block::unpack);
        if new == 0 {
            if let Some(b) = detached {
                let _ = self.section.ledger.insert(old, b);
            }
            return;
        }
        match detached {
            Some(b) => {
                let c = self.section.sites.counters(b.site);
                c.moved.fetch_add(1, Relaxed);
                c.live_bytes.fetch_sub(b.size, Relaxed);
            }
            None => {
                self.untracked_frees.fetch_add(1, Relaxed);
            }
        }
        let site = self.site(stacks, jvmti, env, Slot::DirectRealloc);
        self.section.sites.counters(site).reallocations.fetch_add(1, Relaxed);
        self.record(site, new, size);
    }

    /// `freeMemory0` is about to free a block.
    pub fn on_freeing(&self, stacks: &Stacks, jvmti: &Jvmti, env: &Env, addr: u64) {
        self.section.ledger.prefetch(addr);
        let by_gc = stacks.on_cleanup_thread(jvmti, env);
        match self.section.ledger.remove(addr) {
            Some(b) => {
                let c = self.section.sites.counters(b.site);
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
        self.section.sites.forget(dead, |c| live_count(c) == 0 && live_bytes(c) == 0)
    }

    /// (live blocks, live bytes), cheap enough for a time series.
    pub fn live_totals(&self) -> (u64, u64) {
        self.section.sites.iter().fold((0, 0), |(n, b), (_, _, c)| (n + live_count(c), b + live_bytes(c)))
    }

    /// The `direct` section. Runs on the report thread.
    pub fn snapshot(&self, env: &Env) -> Direct {
        let jdk_pool = jdk_pool(env);
        let mut totals = DirectTotals {
            untracked_frees: self.untracked_frees.load(Relaxed),
            sites: self.section.sites.len(),
            ..DirectTotals::default()
        };
        let l = self.section.snapshot(
            |v| site_row(&v, &mut totals),
            |a, b| (b.live_bytes, b.allocated_bytes, a.id).cmp(&(a.live_bytes, a.allocated_bytes, b.id)),
        );
        totals.growth_window_ms = l.growth_window_ms;
        let cross_check = (l.tracking == Tracking::Full).then_some(()).and(jdk_pool.as_ref()).map(|p| cross_check(&totals, p));
        Direct {
            tracking: l.tracking,
            reason: l.reason,
            settings: l.settings,
            sites: l.sites,
            top_by_live_bytes: l.top_by_live_bytes,
            top_by_growth: l.top_by_growth,
            totals,
            jdk_pool,
            cross_check,
        }
    }
}

/// The row of one site (none for a site with nothing allocated, freed or moved), added to
/// `totals` (whose `untracked` counts every site).
fn site_row(v: &SiteView<'_, DirectCounters>, totals: &mut DirectTotals) -> Option<DirectSite> {
    let c = v.counters;
    let frees = total(c, |x| &x.frees);
    let moved = total(c, |x| &x.moved);
    let allocations = total(c, |x| &x.allocations);
    let reallocations = total(c, |x| &x.reallocations);
    totals.untracked += total(c, |x| &x.untracked);
    if allocations == 0 && reallocations == 0 && frees == 0 && moved == 0 {
        return None;
    }
    let bytes = live_bytes(c);
    let s = DirectSite {
        id: v.id,
        kind: kind_of(v.info.kind),
        exact_frames: v.info.exact_frames,
        first_thread: v.info.first_thread.clone(),
        allocations,
        reallocations,
        frees,
        freed_by_gc: total(c, |x| &x.freed_by_gc),
        moved_by_realloc: moved,
        live_count: live_count(c),
        live_bytes: bytes,
        allocated_bytes: total(c, |x| &x.allocated_bytes),
        growth_bytes: bytes as i64 - v.growth_before,
        oldest_live_ms: v.oldest_live_ms,
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
    Some(s)
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
