//! The zlib ledger: every Inflater and Deflater stream by address, with the site that created it
//! and how it was released — by an explicit `end()`, or only by the GC's Cleaner.
//!
//! Release classification: a release on an application thread is explicit. On a GC cleanup
//! thread (Common-Cleaner, Reference Handler, Finalizer) it is explicit only when the stack holds
//! `Inflater.end()`/`Deflater.end()` (e.g. a cleanup action that ends a stream it owns), else it
//! is a GC release. `InflaterZStreamRef.run` is on both paths, so it decides nothing.
//!
//! Pools: a `reset` of a live stream on an application thread hands it out again. A site whose
//! streams are reset, and whose live count stays within the high-water mark of the previous
//! report or grew by fewer streams than it reused since, is a pool (a bounded set reused: the
//! JDK's per-jar Inflater cache, Spring Boot's nested-jar loader), reported as such and not as
//! streams never ended. A reset on a cleanup thread (a stream left to the GC and returned to its
//! cache by a Cleaner) is no reuse.

use crate::native::ledger::{Inserted, Ledger};
use crate::native::section::{Row, Section, SiteView};
use crate::native::sites::{drain, total, SiteCounters, Stripe};
use crate::native::stacks::{Slot, Stacks};
use crate::ffi::jni::Env;
use crate::ffi::jvmti::{Frame, Jvmti};
use crate::ffi::natives::RebindError;
use crate::core::health::{self, COUNTERS};
use crate::core::options::NativeOptions;
use leakagent_report::model::{
    ReleasesBeforeTracking, Tracking, Zlib, ZlibEstimate, ZlibKind, ZlibKindTotals, ZlibPool, ZlibSite, ZlibTotals,
};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Malloc'd bytes of one Inflater that has inflated data: the JDK's z_stream (112 B), zlib's
/// inflate_state (~7.1 KiB) and its 32 KiB window, each with glibc's chunk overhead. Measured
/// with bench/zlib_sizes.c through the JDK's own libzip.so (17 and 25 agree).
pub const INFLATER_BYTES: u64 = 40_080;
/// Malloc'd bytes of one Deflater: z_stream, deflate_state, window (64 KiB), prev (64 KiB), head
/// (64 KiB) and pending buffer (64 KiB), all allocated by deflateInit2 whatever the level (the
/// JDK always passes memLevel 8 and 15 window bits). 268,304 B with zlib 1.2.13 (Debian's JDK
/// 17), 268,320 B with the zlib 1.3 bundled in Temurin 25.
pub const DEFLATER_BYTES: u64 = 268_320;
/// An Inflater that never inflated holds only z_stream and inflate_state.
pub const INFLATER_UNUSED_BYTES: u64 = 7_296;

/// Frames searched for `Inflater.end()`/`Deflater.end()` on a cleanup thread.
const END_SEARCH_DEPTH: usize = 12;

/// The site table's tag of a stream kind (its overflow site's index too).
fn tag(kind: ZlibKind) -> u8 {
    match kind {
        ZlibKind::Inflater => 0,
        ZlibKind::Deflater => 1,
    }
}

fn kind_of(tag: u8) -> ZlibKind {
    if tag == 1 {
        ZlibKind::Deflater
    } else {
        ZlibKind::Inflater
    }
}

/// Estimated malloc'd bytes of one live stream.
pub fn estimate_bytes(kind: ZlibKind) -> u64 {
    match kind {
        ZlibKind::Deflater => DEFLATER_BYTES,
        ZlibKind::Inflater => INFLATER_BYTES,
    }
}

#[derive(Default)]
pub struct ZlibCounters {
    created: AtomicU64,
    ended_explicitly: AtomicU64,
    released_by_gc: AtomicU64,
    /// Still in the ledger when its address came back from zlib: its release was never seen.
    stale: AtomicU64,
    /// Created while the ledger was full.
    untracked: AtomicU64,
    /// Resets of a live stream on an application thread.
    reused: AtomicU64,
}

impl SiteCounters for ZlibCounters {
    fn drain_into(&self, to: &Self) {
        for (f, t) in [
            (&self.created, &to.created),
            (&self.ended_explicitly, &to.ended_explicitly),
            (&self.released_by_gc, &to.released_by_gc),
            (&self.stale, &to.stale),
            (&self.untracked, &to.untracked),
            (&self.reused, &to.reused),
        ] {
            drain(f, t);
        }
    }
}

#[derive(Clone, Copy, Default)]
struct Entry {
    site: u32,
    born_ms: u32,
}

impl Row for ZlibSite {
    fn id(&self) -> u32 {
        self.id
    }
    fn growth_base(&self) -> i64 {
        self.live as i64
    }
    fn growth(&self) -> i64 {
        self.growth_live
    }
    fn live_bytes(&self) -> u64 {
        self.live_bytes_estimate
    }
    fn set_stack(&mut self, stack: Vec<String>, app_frame: Option<String>) {
        (self.stack, self.app_frame) = (stack, app_frame);
    }
}

pub struct ZlibLedger {
    section: Section<ZlibCounters>,
    /// Every live stream by address (zlib hands the address to `end`, nothing else).
    ledger: Ledger<Entry>,
    before_explicit: AtomicU64,
    before_gc: AtomicU64,
    /// jmethodIDs of `Inflater.end()` and `Deflater.end()`.
    end_methods: [AtomicUsize; 2],
    /// Per site, what the previous report saw.
    seen: Mutex<HashMap<u32, Before>>,
}

impl ZlibLedger {
    pub fn new(o: &NativeOptions) -> ZlibLedger {
        ZlibLedger {
            section: Section::new(o, &[tag(ZlibKind::Inflater), tag(ZlibKind::Deflater)], "zlib", o.zlib),
            ledger: Ledger::new(o.max_tracked),
            before_explicit: AtomicU64::new(0),
            before_gc: AtomicU64::new(0),
            end_methods: [AtomicUsize::new(0), AtomicUsize::new(0)],
            seen: Mutex::new(HashMap::new()),
        }
    }

    pub fn set_status(&self, tracking: Tracking, reason: Option<String>) {
        self.section.set_status(tracking, reason);
    }

    /// After a late attach: the outcome of re-binding the zlib natives to the agent's wrappers.
    pub fn rebound_after_attach(&self, result: Result<(), RebindError>) {
        match result {
            Ok(()) => self.set_status(
                Tracking::SinceAttach,
                Some("the agent was attached to a running JVM: streams created before the attach are not in the \
                      ledger; their releases are counted apart in totals.before_tracking"
                    .into()),
            ),
            Err(e) => {
                let why = format!("cannot wrap the zlib natives after the attach: {e}");
                crate::core::log::warn(&format!("{why}; zlib streams are not tracked"));
                self.set_status(Tracking::Failed, Some(why));
            }
        }
    }

    pub fn tracking(&self) -> Tracking {
        self.section.tracking()
    }

    /// Live phase: learns the ids of `Inflater.end()` and `Deflater.end()`.
    pub fn set_end_methods(&self, inflater_end: usize, deflater_end: usize) {
        self.end_methods[0].store(inflater_end, Relaxed);
        self.end_methods[1].store(deflater_end, Relaxed);
    }

    /// `Inflater.init`/`Deflater.init` returned a new stream.
    pub fn on_created(&self, stacks: &Stacks, jvmti: &Jvmti, env: &Env, stream: ZlibKind, addr: u64) {
        self.ledger.prefetch(addr);
        let kind = tag(stream);
        let slot = match stream {
            ZlibKind::Inflater => Slot::Inflater,
            ZlibKind::Deflater => Slot::Deflater,
        };
        let site = stacks.site(slot, kind, jvmti, env, |key| {
            self.section.sites.intern(key, || kind as u32, || stacks.name_of(jvmti, env, key), || stacks.capture(jvmti, env, key, kind))
        });
        let c = self.section.sites.counters(site);
        c.created.fetch_add(1, Relaxed);
        match self.ledger.insert(addr, Entry { site, born_ms: self.section.now_ms() }) {
            Inserted::New => {}
            Inserted::Replaced(old) => {
                self.section.sites.counters(old.site).stale.fetch_add(1, Relaxed);
            }
            Inserted::Full => {
                c.untracked.fetch_add(1, Relaxed);
                health::bump(&COUNTERS.dropped);
            }
        }
    }

    /// `Inflater.end(long)`/`Deflater.end(long)` is about to free a stream.
    pub fn on_ending(&self, stacks: &Stacks, jvmti: &Jvmti, env: &Env, addr: u64) {
        self.ledger.prefetch(addr);
        let by_gc = stacks.on_cleanup_thread(jvmti, env) && !self.end_method_on_stack(jvmti);
        match self.ledger.remove(addr) {
            Some(e) => {
                let c = self.section.sites.counters(e.site);
                if by_gc {
                    c.released_by_gc.fetch_add(1, Relaxed);
                } else {
                    c.ended_explicitly.fetch_add(1, Relaxed);
                }
            }
            None if by_gc => {
                self.before_gc.fetch_add(1, Relaxed);
            }
            None => {
                self.before_explicit.fetch_add(1, Relaxed);
            }
        }
    }

    /// `Inflater.reset(long)`/`Deflater.reset(long)` reset a stream for its next user.
    pub fn on_reset(&self, stacks: &Stacks, jvmti: &Jvmti, env: &Env, addr: u64) {
        if stacks.on_cleanup_thread(jvmti, env) {
            return;
        }
        if let Some(e) = self.ledger.get(addr) {
            self.section.sites.counters(e.site).reused.fetch_add(1, Relaxed);
        }
    }

    fn end_method_on_stack(&self, jvmti: &Jvmti) -> bool {
        let ends = [self.end_methods[0].load(Relaxed), self.end_methods[1].load(Relaxed)];
        let mut frames = [Frame::EMPTY; END_SEARCH_DEPTH];
        let n = jvmti.current_stack(0, &mut frames).unwrap_or(0);
        frames[..n].iter().any(|f| f.method != 0 && ends.contains(&f.method))
    }

    /// Forgets the stacks of unloaded methods and evicts the sites they leave with nothing live.
    /// A site with streams released only by GC stays: its stack is what the finding about
    /// streams never ended names.
    pub fn forget_methods(&self, dead: &HashSet<usize>) -> u64 {
        self.section.sites.forget(dead, |c| live_of(c) == 0 && total(c, |x| &x.released_by_gc) == 0)
    }

    /// (live streams, estimated live bytes), cheap enough for a time series.
    pub fn live_totals(&self) -> (u64, u64) {
        let mut live = 0;
        let mut bytes = 0;
        for (_, info, c) in self.section.sites.iter() {
            let l = live_of(c);
            live += l;
            bytes += l * estimate_bytes(kind_of(info.kind));
        }
        (live, bytes)
    }

    /// Per site, when its oldest live stream was born.
    fn oldest_born_ms(&self) -> HashMap<u32, u32> {
        let mut oldest: HashMap<u32, u32> = HashMap::new();
        self.ledger.for_each(|_, e| {
            let o = oldest.entry(e.site).or_insert(e.born_ms);
            *o = (*o).min(e.born_ms);
        });
        oldest
    }

    /// The `zlib` section. Runs on the report thread.
    pub fn snapshot(&self) -> Zlib {
        let mut totals = ZlibTotals {
            before_tracking: ReleasesBeforeTracking {
                ended_explicitly: self.before_explicit.load(Relaxed),
                released_by_gc: self.before_gc.load(Relaxed),
            },
            sites: self.section.sites.len(),
            ..ZlibTotals::default()
        };
        let oldest = self.oldest_born_ms();
        let now = self.section.now_ms();
        let mut seen = self.seen.lock();
        let mut seen_now: HashMap<u32, Before> = HashMap::new();
        let l = self.section.snapshot(
            |v| {
                let oldest_live_ms = oldest.get(&v.id).map(|&b| now.saturating_sub(b) as u64);
                let (s, this) = site_row(&v, oldest_live_ms, seen.get(&v.id).copied(), &mut totals)?;
                seen_now.insert(s.id, this);
                Some(s)
            },
            |a, b| {
                (b.released_by_gc + b.live, b.live_bytes_estimate, b.created, a.id)
                    .cmp(&(a.released_by_gc + a.live, a.live_bytes_estimate, a.created, b.id))
            },
        );
        *seen = seen_now;
        drop(seen);
        for k in [&totals.inflaters, &totals.deflaters] {
            totals.created += k.created;
            totals.ended_explicitly += k.ended_explicitly;
            totals.released_by_gc += k.released_by_gc;
            totals.live += k.live;
            totals.live_bytes_estimate += k.live_bytes_estimate;
        }
        totals.growth_window_ms = l.growth_window_ms;
        Zlib {
            tracking: l.tracking,
            reason: l.reason,
            settings: l.settings,
            sites: l.sites,
            top_by_live_bytes: l.top_by_live_bytes,
            top_by_growth: l.top_by_growth,
            totals,
            estimate: ZlibEstimate {
                inflater_bytes: INFLATER_BYTES,
                deflater_bytes: DEFLATER_BYTES,
                basis: format!(
                    "malloc'd bytes per stream measured through the JDK's libzip.so: an Inflater holds {INFLATER_BYTES} B once it \
                     has inflated data ({INFLATER_UNUSED_BYTES} B before: no 32 KiB window yet), a Deflater {DEFLATER_BYTES} B \
                     from deflateInit2 on, whatever its level"
                ),
            },
        }
    }
}

/// The row of one site (none for a site with nothing created or released), added to `totals`
/// (whose `untracked` counts every site). `before` is what the previous report saw of the site;
/// the row comes with what this one saw.
fn site_row(v: &SiteView<'_, ZlibCounters>, oldest_live_ms: Option<u64>, before: Option<Before>, totals: &mut ZlibTotals) -> Option<(ZlibSite, Before)> {
    let c = v.counters;
    let ended = total(c, |x| &x.ended_explicitly);
    let gc = total(c, |x| &x.released_by_gc);
    let live = live_of(c);
    let created = total(c, |x| &x.created);
    totals.untracked += total(c, |x| &x.untracked);
    if created == 0 && ended == 0 && gc == 0 {
        return None;
    }
    let kind = kind_of(v.info.kind);
    let bytes = live * estimate_bytes(kind);
    let k = match kind {
        ZlibKind::Deflater => &mut totals.deflaters,
        ZlibKind::Inflater => &mut totals.inflaters,
    };
    add_kind(k, created, ended, gc, live, bytes);
    let reuses = total(c, |x| &x.reused);
    let this = Before { high: before.map_or(0, |b| b.high).max(live), created, reuses };
    let row = ZlibSite {
        id: v.id,
        kind,
        exact_frames: v.info.exact_frames,
        first_thread: v.info.first_thread.clone(),
        created,
        ended_explicitly: ended,
        released_by_gc: gc,
        live,
        live_bytes_estimate: bytes,
        growth_live: live as i64 - v.growth_before,
        oldest_live_ms,
        pool: pool_of(created, gc, live, reuses, before),
        ..ZlibSite::default()
    };
    Some((row, this))
}

/// What a report saw of a zlib site, for the next one.
#[derive(Clone, Copy, Debug, Default)]
struct Before {
    /// The largest live count of any report so far.
    high: u64,
    created: u64,
    reuses: u64,
}

fn live_of(c: &[Stripe<ZlibCounters>]) -> u64 {
    // Releases first: a stream is counted created before it can be released.
    let gone = total(c, |x| &x.ended_explicitly)
        + total(c, |x| &x.released_by_gc)
        + total(c, |x| &x.stale)
        + total(c, |x| &x.untracked);
    total(c, |x| &x.created).saturating_sub(gone)
}

/// The pool a site is, if its streams are reused (`reuses`), at most half of them were left to
/// the GC, and its live count did not grow past the high-water mark of the previous report
/// (`before`; none at a site's first report: its reuse is the evidence then) by creating more
/// streams than it reused since: a cache that gains a stream now and then while handing out the
/// ones it has (the JDK's jar cache when one more jar is read: Kafka's broker flickered between
/// pool and finding across its interval reports) is a pool; a site creating rather than reusing
/// is growth.
fn pool_of(created: u64, gc: u64, live: u64, reuses: u64, before: Option<Before>) -> Option<ZlibPool> {
    let grew = before.is_some_and(|b| live > b.high && created.saturating_sub(b.created) >= reuses.saturating_sub(b.reuses));
    (reuses > 0 && live > 0 && gc * 2 <= created && !grew)
        .then(|| ZlibPool { size: live, high_water: before.map_or(0, |b| b.high).max(live), reuses })
}

fn add_kind(k: &mut ZlibKindTotals, created: u64, ended: u64, gc: u64, live: u64, bytes: u64) {
    k.created += created;
    k.ended_explicitly += ended;
    k.released_by_gc += gc;
    k.live += live;
    k.live_bytes_estimate += bytes;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimates_follow_the_measured_sizes() {
        assert_eq!(estimate_bytes(ZlibKind::Inflater), 40_080);
        assert_eq!(estimate_bytes(ZlibKind::Deflater), 268_320);
        assert_eq!(kind_of(tag(ZlibKind::Deflater)), ZlibKind::Deflater);
        assert_eq!(kind_of(tag(ZlibKind::Inflater)), ZlibKind::Inflater);
        let c: [Stripe<ZlibCounters>; 2] = Default::default();
        c[0].0.created.store(10, Relaxed);
        c[1].0.ended_explicitly.store(3, Relaxed);
        c[0].0.released_by_gc.store(4, Relaxed);
        assert_eq!(live_of(&c), 3);
    }

    #[test]
    fn a_reused_bounded_site_is_a_pool_and_growth_or_gc_is_not() {
        let before = |high, created, reuses| Some(Before { high, created, reuses });
        assert_eq!(pool_of(179, 0, 166, 5000, None), Some(ZlibPool { size: 166, high_water: 166, reuses: 5000 }));
        assert_eq!(pool_of(179, 0, 150, 6000, before(166, 179, 5000)), Some(ZlibPool { size: 150, high_water: 166, reuses: 6000 }));
        assert_eq!(pool_of(300, 0, 280, 6000, before(166, 179, 5990)), None, "grew past the previous high-water mark, creating");
        // One more jar read: one stream more, hundreds of reuses since (Kafka's jar cache).
        assert_eq!(pool_of(105, 0, 102, 3000, before(101, 104, 2594)), Some(ZlibPool { size: 102, high_water: 102, reuses: 3000 }));
        assert_eq!(pool_of(400, 0, 380, 2800, before(101, 104, 2594)), None, "more created than reused since: growth");
        assert_eq!(pool_of(179, 0, 166, 0, None), None, "never reused");
        assert_eq!(pool_of(1000, 900, 100, 50, None), None, "mostly left to the GC");
        assert_eq!(pool_of(10, 0, 0, 50, None), None, "nothing live");
    }
}
