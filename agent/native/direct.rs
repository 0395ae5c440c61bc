//! The direct memory ledger: every block from `Unsafe.allocateMemory`/`reallocateMemory`, with its
//! size and site, until `freeMemory`. Each block's record is in a header in front of the block
//! (`ffi/blocks.rs`), so the ledger itself is counters per site: exact live counts and bytes, and
//! live counts per age slot. DirectByteBuffers are the blocks whose stack holds
//! `java.nio.DirectByteBuffer.<init>`; the rest is raw Unsafe use. A free on a GC cleanup thread
//! (the Reference Handler runs DirectByteBuffer's Deallocator; Cleaner threads) counts as freed
//! by GC. The JDK's own pool numbers (`java.nio.Bits`) are read for comparison.

use crate::ffi::blocks::{Block, Old, Tag, UNCOUNTED};
use crate::native::section::{Row, Section, SiteView};
use crate::native::sites::{drain, total, SiteCounters, SiteInfo, SiteKey, Stripe, Writer};
use crate::native::pools::Rises;
use crate::native::stacks::{Slot, Stacks};
use crate::native::templates;
use crate::native::thread::{self, DirectCache, PerThread, THREAD_APP, THREAD_CLEANUP, THREAD_UNKNOWN};
use crate::ffi::hotspot;
use crate::ffi::jni::Env;
use crate::ffi::jvmti::{Frame, Jvmti};
use crate::core::options::NativeOptions;
use crate::core::health::{self, COUNTERS};
use leakagent_report::model::{CrossCheck, Direct, DirectKind, DirectSite, DirectTotals, JdkPool, KeptPeriod, Tracking};
use std::collections::HashSet;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering::Relaxed};

/// Events a thread counts through the shared stripe between two tries to claim an owned one
/// (a probe of the owners' line, ~1 % of an event's accounting at this rate).
const RECLAIM_EVERY: u32 = 256;

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

/// Age slots: a block's header names the slot of the period it was born in (see `Ages`).
const AGE_SLOTS: usize = 7;

/// A closed period's live blocks count as kept once it has been over this long: buffers in
/// flight (a request's, a response's) live milliseconds; a second leaves room for a loaded
/// machine.
const KEPT_AFTER_MS: u32 = 1_000;

/// One stripe of a site's counters: two atomic additions per allocation (its first cache
/// line), two per free (the second), three for a buffer freed by the GC. Everything else is
/// derived: live blocks are born minus gone per slot, live bytes allocated minus gone bytes,
/// allocations born minus the reallocations born, frees what was born and is neither live nor
/// moved.
#[repr(C)]
#[derive(Default)]
pub struct DirectCounters {
    /// Blocks counted per age slot (allocations and reallocations).
    born: [AtomicU64; AGE_SLOTS],
    allocated_bytes: AtomicU64,
    /// Blocks that left per age slot (freed or moved), wrapping like `born`'s low half.
    gone: [AtomicU32; AGE_SLOTS],
    /// Bytes of the blocks that left.
    gone_bytes: AtomicU64,
    freed_by_gc: AtomicU64,
    reallocations: AtomicU64,
    moved: AtomicU64,
    /// Blocks counted but without a header (a reallocation of memory that was not ours).
    untracked: AtomicU64,
}

impl SiteCounters for DirectCounters {
    fn drain_into(&self, to: &Self) {
        for (f, t) in [
            (&self.reallocations, &to.reallocations),
            (&self.freed_by_gc, &to.freed_by_gc),
            (&self.moved, &to.moved),
            (&self.untracked, &to.untracked),
            (&self.gone_bytes, &to.gone_bytes),
            (&self.allocated_bytes, &to.allocated_bytes),
        ] {
            drain(f, t);
        }
        for (f, t) in self.born.iter().zip(&to.born) {
            drain(f, t);
        }
        for (f, t) in self.gone.iter().zip(&to.gone) {
            t.fetch_add(f.swap(0, Relaxed), Relaxed);
        }
    }
}

/// When each age slot's period began. The sampler (every 10 s) and each report start a new
/// period in a slot no site has a live block in; when every slot holds some, the two oldest
/// periods become one first (`merge_oldest`). Report and sampler threads.
#[derive(Clone, Copy)]
struct Ages {
    start_ms: [u32; AGE_SLOTS],
    /// When a slot's period ended (the next one began); none for the current period.
    end_ms: [Option<u32>; AGE_SLOTS],
    free: [bool; AGE_SLOTS],
}

impl Ages {
    /// The slots of closed periods over for `KEPT_AFTER_MS` and still holding some site's
    /// blocks, oldest first: the columns of every site's `kept_by_age`.
    fn kept_slots(&self, now: u32) -> Vec<usize> {
        let mut s: Vec<usize> = (0..AGE_SLOTS)
            .filter(|&s| !self.free[s] && self.end_ms[s].is_some_and(|e| now.saturating_sub(e) >= KEPT_AFTER_MS))
            .collect();
        s.sort_by_key(|&s| self.start_ms[s]);
        s
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
    section: Section<DirectCounters>,
    /// The age slot new blocks go to.
    slot: AtomicU8,
    ages: Mutex<Ages>,
    untracked_frees: AtomicU64,
    /// jmethodIDs of the DirectByteBuffer constructors seen so far (to file overflow events).
    buffer_ctors: [AtomicUsize; 4],
    /// Live bytes per site and pool at earlier reports (report thread only).
    rises: Mutex<Rises>,
}

impl DirectLedger {
    pub fn new(o: &NativeOptions) -> DirectLedger {
        DirectLedger {
            section: Section::new(o, &[tag(DirectKind::DirectByteBuffer), tag(DirectKind::Unsafe)], "direct", o.direct),
            slot: AtomicU8::new(0),
            ages: Mutex::new(Ages { start_ms: [0; AGE_SLOTS], end_ms: [None; AGE_SLOTS], free: std::array::from_fn(|i| i != 0) }),
            untracked_frees: AtomicU64::new(0),
            buffer_ctors: [const { AtomicUsize::new(0) }; 4],
            rises: Mutex::new(Rises::default()),
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
        templates::lookup(slot, env).unwrap_or_else(|| self.walked_site(stacks, jvmti, env, slot))
    }

    /// The site of an event no template of its thread holds for: from a walk.
    fn walked_site(&self, stacks: &Stacks, jvmti: &Jvmti, env: &Env, slot: Slot) -> u32 {
        stacks.walked_site(slot, tag(DirectKind::Unsafe), jvmti, env, |key| {
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

    /// This thread's writer of the site table and its stripe of `site`'s counters, found
    /// without the thread's record.
    fn stripe(&'static self, env: usize, site: u32) -> (Writer, &'static DirectCounters) {
        let w = self.section.sites.writer(env);
        (w, self.section.sites.counters_of(site, w))
    }

    /// `stripe` from the thread's record `t` (which the caller holds), when the thread's last
    /// event was of the same site (the churn case); `env` is the thread's JNIEnv address.
    #[inline]
    fn stripe_in(&'static self, t: &mut PerThread, env: usize, site: u32) -> (Writer, &'static DirectCounters) {
        let sites = &self.section.sites;
        let ledger = self as *const Self as usize;
        match &mut t.direct {
            Some(d) if d.ledger == ledger => {
                if !d.writer.owned() {
                    // The thread came when every owned stripe was taken: one may be free again
                    // (its thread ended), and the shared stripe's atomic additions cost more.
                    d.shared_events += 1;
                    if d.shared_events >= RECLAIM_EVERY {
                        d.shared_events = 0;
                        let w = sites.writer(env);
                        if w != d.writer {
                            (d.writer, d.counters) = (w, None);
                        }
                    }
                }
                match d.counters {
                    Some(c) if d.site == site => (d.writer, c),
                    _ => {
                        let c = sites.counters_of(site, d.writer);
                        (d.site, d.counters) = (site, Some(c));
                        (d.writer, c)
                    }
                }
            }
            other => {
                let (w, c) = self.stripe(env, site);
                *other = Some(DirectCache { ledger, writer: w, site, counters: Some(c), shared_events: 0 });
                (w, c)
            }
        }
    }

    /// Counts a new live block of `size` at `site` on the thread of `env`; where its header
    /// files it.
    fn record(&self, w: Writer, site: u32, size: u64) -> Tag {
        self.record_in(w, self.section.sites.counters_of(site, w), site, size)
    }

    /// `record` with the site's counters `c` already found.
    #[inline]
    fn record_in(&self, w: Writer, c: &DirectCounters, site: u32, size: u64) -> Tag {
        let slot = self.slot.load(Relaxed);
        w.add(&c.born[slot as usize], 1);
        w.add(&c.allocated_bytes, size);
        Tag { site, slot }
    }

    /// `allocateMemory0` returned a block.
    pub fn on_allocated(&'static self, stacks: &Stacks, jvmti: &Jvmti, env: &Env, size: u64) -> Tag {
        // The churn case: one visit of the thread's record finds the site by a template and
        // the site's counters (each visit is a thread-pointer load and a line the application's
        // zeroing evicted since the last event).
        let e = env.raw() as usize;
        let found = hotspot::anchor(env).and_then(|a| {
            thread::with(|t| {
                let site = templates::lookup_in(&mut t.templates, Slot::DirectAlloc, &a)?;
                Some((site, self.stripe_in(t, e, site)))
            })
            .flatten()
        });
        let (site, (w, c)) = found.unwrap_or_else(|| {
            let site = self.walked_site(stacks, jvmti, env, Slot::DirectAlloc);
            (site, thread::with(|t| self.stripe_in(t, e, site)).unwrap_or_else(|| self.stripe(e, site)))
        });
        self.record_in(w, c, site, size)
    }

    /// A block leaves its site (freed, or moved by a reallocation) on the thread of `w`, and
    /// `also` of its counters goes up by one. `gone` goes last: once nothing is live the site
    /// may be evicted, its counters drained, and this thread must be done with them.
    fn release(&self, w: Writer, b: Block, also: Option<fn(&DirectCounters) -> &AtomicU64>) -> bool {
        if !counted(&b) {
            return false;
        }
        self.release_in(w, self.section.sites.counters_of(b.site, w), b, also);
        true
    }

    /// `release` with the block's site's counters `c` already found (the block is counted).
    #[inline]
    fn release_in(&self, w: Writer, c: &DirectCounters, b: Block, also: Option<fn(&DirectCounters) -> &AtomicU64>) {
        if let Some(field) = also {
            w.add(field(c), 1);
        }
        w.add(&c.gone_bytes, b.size);
        w.add32(&c.gone[b.slot as usize], 1);
    }

    /// `reallocateMemory0` succeeded: the new block belongs to this site, the old one moved
    /// away. Without a `header` (the old block was not ours) the new one is counted untracked.
    pub fn on_reallocated(&self, stacks: &Stacks, jvmti: &Jvmti, env: &Env, old: Old, size: u64, header: bool) -> Tag {
        let w = self.section.sites.writer(env.raw() as usize);
        match old {
            Old::Ours(b) => {
                self.release(w, b, Some(|c| &c.moved));
            }
            Old::Foreign => {
                self.untracked_frees.fetch_add(1, Relaxed);
            }
            Old::Null => {}
        }
        let site = self.site(stacks, jvmti, env, Slot::DirectRealloc);
        let c = self.section.sites.counters_of(site, w);
        w.add(&c.reallocations, 1);
        if !header {
            w.add(&c.untracked, 1);
            return Tag::UNCOUNTED;
        }
        self.record(w, site, size)
    }

    /// `freeMemory0` is about to free a block: its header, None when it is not ours.
    pub fn on_freeing(&'static self, stacks: &Stacks, jvmti: &Jvmti, env: &Env, block: Option<Block>) {
        match block.filter(counted) {
            Some(b) => {
                // One visit of the thread's record: the stripe and the thread's kind.
                let (w, c, kind) = thread::with(|t| {
                    let (w, c) = self.stripe_in(t, env.raw() as usize, b.site);
                    (w, c, t.kind)
                })
                .unwrap_or_else(|| {
                    let (w, c) = self.stripe(env.raw() as usize, b.site);
                    (w, c, THREAD_UNKNOWN)
                });
                let by_gc = match kind {
                    THREAD_APP => false,
                    THREAD_CLEANUP => true,
                    _ => stacks.on_cleanup_thread(jvmti, env),
                };
                self.release_in(w, c, b, by_gc.then_some(|c| &c.freed_by_gc));
            }
            None => {
                self.untracked_frees.fetch_add(1, Relaxed);
            }
        }
    }

    /// JVMTI ThreadEnd, on the ending thread (JNIEnv at `env`): its counter stripe goes to the
    /// next thread that counts (no Java code, so no event of this ledger, runs on it after).
    pub fn on_thread_end(&self, env: usize) {
        if thread::drop_direct_writer() && self.section.sites.release(env) {
            health::bump(&COUNTERS.direct_stripes_released);
        }
    }

    /// Starts a new age period (see `Ages`). Report and sampler threads.
    fn next_age(&self) {
        let mut a = self.ages.lock();
        let mut busy = [false; AGE_SLOTS];
        for (_, _, c) in self.section.sites.iter() {
            for (s, b) in busy.iter_mut().enumerate() {
                *b |= live_in(c, s) > 0;
            }
        }
        let current = self.slot.load(Relaxed) as usize;
        busy[current] = true;
        for (s, b) in busy.iter().enumerate() {
            a.free[s] = !b;
        }
        // A free slot keeps its old start: a block counted there by a thread that read the
        // slot just before it stopped being current is then dated right.
        let free = (1..AGE_SLOTS).map(|d| (current + d) % AGE_SLOTS).find(|&s| a.free[s]);
        if let Some(s) = free.or_else(|| self.merge_oldest(&mut a)) {
            let now = self.section.now_ms();
            a.start_ms[s] = now;
            a.end_ms[current] = Some(now);
            a.end_ms[s] = None;
            a.free[s] = false;
            self.slot.store(s as u8, Relaxed);
        }
    }

    /// Every slot holds live blocks (a leak keeps some in every period): the two oldest periods
    /// become one, in the slot of the one with more live blocks, and the other slot is free for
    /// the next period, so that kept counts go on following the leak. The freed slot's live
    /// blocks are counted in the other one, on each site's shared stripe (the only one the
    /// report thread may add to); their headers still name the freed slot, so one of them freed
    /// later is taken off the new period's count instead of the merged one's: a site's total
    /// stays exact (see `live_count`), and the blocks of the two oldest periods, which outlived
    /// two periods already, are seldom freed.
    fn merge_oldest(&self, a: &mut Ages) -> Option<usize> {
        let mut closed: Vec<usize> = (0..AGE_SLOTS).filter(|&s| a.end_ms[s].is_some()).collect();
        closed.sort_by_key(|&s| a.start_ms[s]);
        let (&x, &y) = (closed.first()?, closed.get(1)?);
        let live = |s| self.section.sites.iter().map(|(_, _, c)| live_in(c, s)).sum::<u64>();
        let (keep, free) = if live(x) >= live(y) { (x, y) } else { (y, x) };
        for (_, _, c) in self.section.sites.iter() {
            let n = live_in(c, free);
            if let (Some(shared), true) = (c.last(), n > 0) {
                shared.0.born[keep].fetch_add(n, Relaxed);
                shared.0.born[free].fetch_sub(n, Relaxed);
            }
        }
        a.start_ms[keep] = a.start_ms[x];
        a.end_ms[keep] = a.end_ms[y];
        a.free[free] = true;
        health::bump(&COUNTERS.direct_age_merges);
        Some(free)
    }

    /// Age of a site's oldest live block: since the start of the oldest period it has one from.
    fn oldest_live_ms(&self, c: &[Stripe<DirectCounters>], start_ms: &[u32; AGE_SLOTS], now: u32) -> Option<u64> {
        (0..AGE_SLOTS).filter(|&s| live_in(c, s) > 0).map(|s| now.saturating_sub(start_ms[s]) as u64).max()
    }

    /// Forgets the stacks of unloaded methods and evicts the sites they leave with nothing live.
    /// Also starts a new age period: the sampler calls it every 10 s.
    pub fn forget_methods(&self, dead: &HashSet<usize>) -> u64 {
        self.next_age();
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
        let ages = *self.ages.lock();
        let now = self.section.now_ms();
        let kept_slots = ages.kept_slots(now);
        let l = self.section.snapshot(
            |v| {
                let mut s = site_row(&v, self.oldest_live_ms(v.counters, &ages.start_ms, now), &mut totals)?;
                kept(&mut s, v.counters, &kept_slots, &ages.start_ms, now);
                Some(s)
            },
            |a, b| (b.live_bytes, b.allocated_bytes, a.id).cmp(&(a.live_bytes, a.allocated_bytes, b.id)),
        );
        totals.growth_window_ms = l.growth_window_ms;
        self.next_age();
        let cross_check = (l.tracking == Tracking::Full).then_some(()).and(jdk_pool.as_ref()).map(|p| cross_check(&totals, p));
        let mut direct = Direct {
            tracking: l.tracking,
            reason: l.reason,
            settings: l.settings,
            sites: l.sites,
            top_by_live_bytes: l.top_by_live_bytes,
            top_by_growth: l.top_by_growth,
            totals,
            jdk_pool,
            cross_check,
            pools: Vec::new(),
        };
        self.rises.lock().judge(&mut direct);
        direct
    }

    /// Bytes of DirectByteBuffers released since start, a running total: the sampler's evidence
    /// that a full pool is being freed. Walks every site: read only while the pool is full.
    pub fn buffer_bytes_released(&self) -> u64 {
        let buffers = tag(DirectKind::DirectByteBuffer);
        self.section.sites.iter().filter(|(_, i, _)| i.kind == buffers).map(|(_, _, c)| total(c, |x| &x.gone_bytes)).sum()
    }
}

/// The row of one site (none for a site with nothing allocated, freed or moved), added to
/// `totals` (whose `untracked` counts every site); `oldest_live_ms` from the site's age slots.
fn site_row(v: &SiteView<'_, DirectCounters>, oldest_live_ms: Option<u64>, totals: &mut DirectTotals) -> Option<DirectSite> {
    let c = v.counters;
    let frees = frees(c);
    let moved = total(c, |x| &x.moved);
    let reallocations = total(c, |x| &x.reallocations);
    let allocations = allocations(c);
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
        oldest_live_ms,
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

/// A site's blocks from closed periods (`kept_slots`), and their bytes at the site's mean live
/// block.
fn kept(s: &mut DirectSite, c: &[Stripe<DirectCounters>], kept_slots: &[usize], start_ms: &[u32; AGE_SLOTS], now: u32) {
    s.kept_by_age = kept_slots.iter().map(|&k| KeptPeriod { age_ms: now.saturating_sub(start_ms[k]) as u64, count: live_in(c, k) }).collect();
    s.kept_count = s.kept_by_age.iter().map(|p| p.count).sum::<u64>().min(s.live_count);
    s.kept_bytes = if s.live_count == 0 { 0 } else { (s.live_bytes as u128 * s.kept_count as u128 / s.live_count as u128) as u64 };
}

/// Whether a block's header files it under a site's counters (not untracked, a valid age slot).
fn counted(b: &Block) -> bool {
    b.site != UNCOUNTED && (b.slot as usize) < AGE_SLOTS
}

/// Blocks counted at a site (allocations and reallocations).
fn born(c: &[Stripe<DirectCounters>]) -> u64 {
    (0..AGE_SLOTS).map(|s| total(c, |x| &x.born[s])).fold(0, u64::wrapping_add)
}

/// Live blocks of age slot `s` (a torn negative read shows as 0).
fn live_in(c: &[Stripe<DirectCounters>], s: usize) -> u64 {
    // Gone is read first: a block counted in between makes the difference larger, not negative.
    let gone = gone_in(c, s);
    nonnegative((total(c, |x| &x.born[s]) as u32).wrapping_sub(gone))
}

/// Blocks of slot `s` gone, over the stripes (wrapping).
fn gone_in(c: &[Stripe<DirectCounters>], s: usize) -> u32 {
    c.iter().fold(0u32, |acc, x| acc.wrapping_add(x.0.gone[s].load(Relaxed)))
}

/// A count from wrapping 32-bit differences: 0 when it went below zero.
fn nonnegative(n: u32) -> u64 {
    if n > i32::MAX as u32 {
        0
    } else {
        n as u64
    }
}

/// Live blocks over every slot, summed before the clamp: a slot whose blocks were counted in
/// another one by `merge_oldest` may go below zero when one of them is freed.
fn live_count(c: &[Stripe<DirectCounters>]) -> u64 {
    let gone = (0..AGE_SLOTS).fold(0u32, |acc, s| acc.wrapping_add(gone_in(c, s)));
    nonnegative((born(c) as u32).wrapping_sub(gone))
}

/// Blocks from allocateMemory: those born here but for reallocations (untracked reallocations
/// were not born: they have no header).
fn allocations(c: &[Stripe<DirectCounters>]) -> u64 {
    let reallocations = total(c, |x| &x.reallocations);
    born(c).saturating_sub(reallocations.saturating_sub(total(c, |x| &x.untracked)))
}

/// Blocks freed: every block born here that is neither live nor moved.
fn frees(c: &[Stripe<DirectCounters>]) -> u64 {
    born(c).saturating_sub(total(c, |x| &x.moved) + live_count(c))
}

fn live_bytes(c: &[Stripe<DirectCounters>]) -> u64 {
    // Adds precede subtracts for each block, so a total above i64::MAX is only a torn read.
    let gone = total(c, |x| &x.gone_bytes);
    let b = total(c, |x| &x.allocated_bytes).wrapping_sub(gone);
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
    fn live_numbers_subtract_every_way_out() {
        let c: [Stripe<DirectCounters>; 2] = Default::default();
        // 55 blocks born: 45 in slot 2, 3 in slot 6 on one stripe, 7 in slot 2 on the other.
        c[0].0.born[2].store(45, Relaxed);
        c[0].0.born[6].store(3, Relaxed);
        c[1].0.born[2].store(7, Relaxed);
        // 3 reallocations, one of memory that was not ours (untracked: not born here).
        c[1].0.reallocations.store(3, Relaxed);
        c[0].0.untracked.store(1, Relaxed);
        // 16 of slot 2 gone (on either stripe): 5 moved, 11 freed.
        c[0].0.gone[2].store(4, Relaxed);
        c[1].0.gone[2].store(12, Relaxed);
        c[1].0.moved.store(5, Relaxed);
        assert_eq!(born(&c), 55);
        assert_eq!(live_count(&c), 39);
        assert_eq!(frees(&c), 11);
        assert_eq!(allocations(&c), 53);
        c[0].0.allocated_bytes.store(100, Relaxed);
        c[1].0.gone_bytes.store(60, Relaxed);
        assert_eq!(live_bytes(&c), 40);
        c[1].0.gone_bytes.store(160, Relaxed);
        assert_eq!(live_bytes(&c), 0, "a torn negative read shows as 0");
        c[1].0.gone[2].store(60, Relaxed);
        assert_eq!(live_in(&c, 2), 0, "a torn negative read shows as 0");
    }

    /// A small ledger and one site in it.
    fn ledger_with_site() -> (DirectLedger, u32) {
        let l = DirectLedger::new(&NativeOptions { max_sites: 64, max_tracked: 64, ..NativeOptions::default() });
        let site = l.section.sites.intern(&SiteKey::special(1, 99), || 1, || "x".into(), || {
            SiteInfo { kind: 1, frames: vec![], methods: vec![], exact_frames: 0, special: None, first_thread: None }
        });
        (l, site)
    }

    /// Periods move to free slots; a slot with a live block keeps its start, so the site's
    /// oldest age is measured from the period its oldest block was born in.
    #[test]
    fn age_slots_keep_the_oldest_period() {
        let (l, site) = ledger_with_site();
        let w = |env| l.section.sites.writer(env);
        let first = l.record(w(1), site, 10);
        l.next_age();
        let second = l.record(w(2), site, 20);
        assert_ne!(first.slot, second.slot);
        l.release(w(3), Block { size: 10, site, slot: first.slot }, None);
        l.next_age();
        let third = l.record(w(4), site, 30);
        assert_ne!(third.slot, second.slot, "the slot with a live block is not reused");
        for _ in 0..AGE_SLOTS * 2 {
            l.record(w(5), site, 1);
            l.next_age();
        }
        let a = l.ages.lock();
        assert!(!a.free[second.slot as usize]);
        assert_eq!(a.free.iter().filter(|f| !**f).count(), AGE_SLOTS, "every slot holds a live block now");
    }

    /// A leak keeps blocks in every period: once every slot holds some, the two oldest periods
    /// become one and a period still closes at each call, so the kept blocks go on counting
    /// every leaked block (they stopped at the 6 closed periods' before); a block freed later
    /// from the slot that was given up keeps the site's live count exact.
    #[test]
    fn a_leak_in_every_period_merges_the_oldest_and_its_kept_blocks_keep_counting() {
        let (l, site) = ledger_with_site();
        let w = |env| l.section.sites.writer(env);
        let counters = || l.section.sites.iter().find(|(id, _, _)| *id == site).map(|(_, _, c)| c).unwrap();
        let kept = || {
            let a = *l.ages.lock();
            a.kept_slots(u32::MAX).iter().map(|&s| live_in(counters(), s)).collect::<Vec<u64>>()
        };
        let mut tags = Vec::new();
        for n in 1..=3 * AGE_SLOTS as u64 {
            // Two blocks a period on two threads' stripes, one more in the first periods.
            tags.push(l.record(w(n as usize), site, 8));
            tags.push(l.record(w(1000 + n as usize), site, 8));
            if n <= 2 {
                l.record(w(7), site, 8);
            }
            l.next_age();
            let k = kept();
            assert_eq!(k.iter().sum::<u64>(), 2 * n + n.min(2), "period {n}: every closed period's blocks are kept: {k:?}");
            assert!(k.len() < AGE_SLOTS && k.iter().all(|&c| c > 0), "{k:?}");
        }
        let merges = crate::core::health::COUNTERS.direct_age_merges.load(Relaxed);
        assert!(merges >= 2 * AGE_SLOTS as u64, "{merges}");
        // The second period's blocks were merged into the first's slot (it held more); their
        // headers still name theirs, which serves later periods: the site's live count stays
        // exact.
        let second = tags[2];
        assert!(tags[4..].iter().any(|t| t.slot == second.slot), "the second period's slot serves a later one");
        let live = live_count(counters());
        assert_eq!(live, 3 * AGE_SLOTS as u64 * 2 + 2);
        l.release(w(3), Block { size: 8, site, slot: second.slot }, None);
        assert_eq!(live_count(counters()), live - 1);
        assert_eq!(frees(counters()), 1);
    }

    /// One thread counting events of two sites interleaved, and of a second ledger whose site
    /// has the same id: each event lands on its own site's counters, never on the counters the
    /// thread's record kept from its last event.
    #[test]
    fn a_threads_kept_counters_follow_the_site_and_the_ledger() {
        let ledger = || -> &'static DirectLedger {
            Box::leak(Box::new(DirectLedger::new(&NativeOptions { max_sites: 64, max_tracked: 64, ..NativeOptions::default() })))
        };
        let site = |l: &DirectLedger, n| {
            l.section.sites.intern(&SiteKey::special(1, n), || 1, || format!("s{n}"), || {
                SiteInfo { kind: 1, frames: vec![], methods: vec![], exact_frames: 0, special: None, first_thread: None }
            })
        };
        let (l1, l2) = (ledger(), ledger());
        let (a, b, c) = (site(l1, 90), site(l1, 91), site(l2, 90));
        assert_eq!(a, c, "the second ledger's site has the first one's id");
        let env = 0x7f00_0000_1000;
        let mut t = PerThread::new();
        let mut count = |l: &'static DirectLedger, s, size| {
            let (w, k) = l.stripe_in(&mut t, env, s);
            l.record_in(w, k, s, size);
        };
        for s in [a, a, b, a, b, b, a] {
            count(l1, s, 8);
        }
        count(l2, c, 16);
        count(l1, a, 8);
        let born_at = |l: &DirectLedger, s| l.section.sites.iter().find(|(id, _, _)| *id == s).map_or(0, |(_, _, st)| born(st));
        assert_eq!((born_at(l1, a), born_at(l1, b), born_at(l2, c)), (5, 3, 1));
    }

    /// A thread whose first event found every owned stripe taken writes the shared one, and
    /// takes an owned stripe once one is given back; its counts stay exact across the move.
    #[test]
    fn a_thread_on_the_shared_stripe_claims_one_given_back() {
        let l: &'static DirectLedger =
            Box::leak(Box::new(DirectLedger::new(&NativeOptions { max_sites: 64, max_tracked: 64, ..NativeOptions::default() })));
        let s = l.section.sites.intern(&SiteKey::special(1, 90), || 1, || "s".into(), || {
            SiteInfo { kind: 1, frames: vec![], methods: vec![], exact_frames: 0, special: None, first_thread: None }
        });
        let others: Vec<usize> = (1..=7).map(|i| 0x7f00_0010_0000 + i * 0x4000).collect();
        assert!(others.iter().all(|&e| l.section.sites.writer(e).owned()), "the others own every stripe");
        let env = 0x7f00_0000_1000;
        let mut t = PerThread::new();
        let mut count = || {
            let (w, k) = l.stripe_in(&mut t, env, s);
            l.record_in(w, k, s, 8);
            w
        };
        assert!(!count().owned(), "no stripe free: the shared one");
        assert!(l.section.sites.release(others[3]));
        let writers: Vec<Writer> = (0..2 * RECLAIM_EVERY).map(|_| count()).collect();
        let events = writers.iter().position(|w| w.owned());
        assert!(events.is_some_and(|n| n < RECLAIM_EVERY as usize), "claimed after {events:?} events");
        let born_at = l.section.sites.iter().find(|(id, _, _)| *id == s).map_or(0, |(_, _, st)| born(st));
        assert_eq!(born_at, 1 + 2 * RECLAIM_EVERY as u64);
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
