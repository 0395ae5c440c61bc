//! Sites of the native ledgers: the key an event is filed under (a kind tag and its top
//! `key_depth` frames), what a site is, and the sharded table that gives each key one id, with
//! per-site counters striped across threads.

use super::methods::MethodInfo;
use crate::ffi::jvmti::Frame;
use crate::hash::{MixBuild, MixHasher};
use crate::health::{self, COUNTERS};
use crate::options::MAX_KEY_DEPTH;
use parking_lot::Mutex;
use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

/// Tags of the synthetic sites (in the high half of a key's tag).
pub const SPECIAL_NONE: u32 = 0;
/// Before the live phase: JVMTI cannot walk stacks yet.
pub const SPECIAL_EARLY: u32 = 1;
/// The stack walk failed.
pub const SPECIAL_NO_STACK: u32 = 2;

/// What identifies a site on the hot path: a kind/special tag and the top `key_depth` frames.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SiteKey {
    pub(super) tag: u32,
    pub(super) len: u32,
    pub(super) frames: [Frame; MAX_KEY_DEPTH],
}

impl Hash for SiteKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u32(self.tag);
        for f in &self.frames[..self.len as usize] {
            h.write_usize(f.method);
            h.write_i64(f.location);
        }
    }
}

impl SiteKey {
    /// Matches no real key (no kind uses tag u32::MAX).
    pub(super) const NONE: SiteKey = SiteKey { tag: u32::MAX, len: 0, frames: [Frame::EMPTY; MAX_KEY_DEPTH] };

    pub fn special(kind: u8, special: u32) -> SiteKey {
        SiteKey { tag: kind as u32 | special << 16, len: 0, frames: [Frame::EMPTY; MAX_KEY_DEPTH] }
    }
    pub fn special_code(&self) -> u32 {
        self.tag >> 16
    }
    pub fn frames(&self) -> &[Frame] {
        &self.frames[..self.len as usize]
    }
    fn hash_value(&self) -> u64 {
        let mut h = MixHasher::default();
        self.hash(&mut h);
        h.finish()
    }
}

/// What a site is: its kind (collector-defined), its stack and who first reached it.
#[derive(Clone, Debug)]
pub struct SiteInfo {
    pub kind: u8,
    /// Innermost first; empty for synthetic sites.
    pub frames: Vec<Frame>,
    /// The method of each frame.
    pub methods: Vec<Arc<MethodInfo>>,
    /// How many top frames every event of the site shares (the key); deeper frames are those of
    /// the first event.
    pub exact_frames: usize,
    /// Set for synthetic sites: what the site stands for.
    pub special: Option<String>,
    pub first_thread: Option<String>,
}

/// Counter stripes per site: threads bumping the same site use different cache lines.
pub const STRIPES: usize = 4;

/// One stripe of a site's counters, alone on its cache line(s).
#[repr(align(64))]
#[derive(Default)]
pub struct Stripe<C>(pub C);

/// One site: what it is, and the collector's counters in stripes.
pub struct Slot<C> {
    info: OnceLock<Box<SiteInfo>>,
    stripes: [Stripe<C>; STRIPES],
}

/// Sites per chunk of the slab: chunks are allocated as sites appear.
const CHUNK: usize = 64;

thread_local! {
    /// This thread's counter stripe (assigned round-robin, once).
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}
static NEXT_STRIPE: AtomicU32 = AtomicU32::new(0);

fn my_stripe() -> usize {
    STRIPE.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        let v = NEXT_STRIPE.fetch_add(1, Relaxed) as usize % STRIPES;
        s.set(v);
        v
    })
}

/// Sum of one counter over a site's stripes (wrapping: a stripe may go below zero when one
/// thread adds and another subtracts).
pub fn total<C>(stripes: &[Stripe<C>], field: impl Fn(&C) -> &AtomicU64) -> u64 {
    stripes.iter().fold(0u64, |acc, s| acc.wrapping_add(field(&s.0).load(Relaxed)))
}

/// Interned sites: a sharded key → id map over a slab of striped counters that grows in chunks
/// up to a fixed capacity. The first `overflow_kinds` ids are the "<other sites>" sites, one per
/// kind, used once the capacity is reached.
/// A chunk of `CHUNK` slots, allocated when its first site appears.
type Chunk<C> = OnceLock<Box<[Slot<C>]>>;

pub struct SiteTable<C> {
    shards: Box<[Mutex<HashMap<SiteKey, u32, MixBuild>>]>,
    chunks: Box<[Chunk<C>]>,
    capacity: u32,
    next: AtomicU32,
    overflow_kinds: u32,
}

const SITE_SHARDS: usize = 16;

impl<C: Default> SiteTable<C> {
    /// `capacity` distinct sites besides one overflow site per kind in `overflow` (kind, label).
    pub fn new(capacity: usize, overflow: &[(u8, String)]) -> SiteTable<C> {
        let total = capacity + overflow.len();
        let t = SiteTable {
            shards: (0..SITE_SHARDS).map(|_| Mutex::new(HashMap::default())).collect(),
            chunks: (0..total.div_ceil(CHUNK)).map(|_| OnceLock::new()).collect(),
            capacity: total as u32,
            next: AtomicU32::new(overflow.len() as u32),
            overflow_kinds: overflow.len() as u32,
        };
        for (i, (kind, label)) in overflow.iter().enumerate() {
            let _ = t.slot(i as u32).info.set(Box::new(SiteInfo {
                kind: *kind,
                frames: Vec::new(),
                methods: Vec::new(),
                exact_frames: 0,
                special: Some(label.clone()),
                first_thread: None,
            }));
        }
        t
    }

    /// The slot of `id`, allocating its chunk on first use.
    fn slot(&self, id: u32) -> &Slot<C> {
        let chunk = self.chunks[id as usize / CHUNK].get_or_init(|| {
            (0..CHUNK)
                .map(|_| Slot { info: OnceLock::new(), stripes: std::array::from_fn(|_| Stripe::default()) })
                .collect()
        });
        &chunk[id as usize % CHUNK]
    }

    /// The id of `key`'s site, interning it on first sight with the info `capture` builds (a
    /// full stack walk: it runs without any lock held). When the table is full, returns the
    /// overflow site `overflow_slot` picks, without capturing.
    pub fn intern(&self, key: &SiteKey, overflow_slot: impl FnOnce() -> u32, capture: impl FnOnce() -> SiteInfo) -> u32 {
        let shard = &self.shards[(key.hash_value() >> 60) as usize % SITE_SHARDS];
        if let Some(&id) = shard.lock().get(key) {
            return id;
        }
        if self.next.load(Relaxed) >= self.capacity {
            health::bump(&COUNTERS.site_overflow_events);
            return overflow_slot().min(self.overflow_kinds.saturating_sub(1));
        }
        let info = capture();
        let mut map = shard.lock();
        if let Some(&id) = map.get(key) {
            return id;
        }
        let limit = self.capacity;
        let Ok(id) = self.next.fetch_update(Relaxed, Relaxed, |n| (n < limit).then_some(n + 1)) else {
            health::bump(&COUNTERS.site_overflow_events);
            return overflow_slot().min(self.overflow_kinds.saturating_sub(1));
        };
        // The chunk and the info exist before the id is published in the map.
        let _ = self.slot(id).info.set(Box::new(info));
        map.insert(*key, id);
        id
    }

    /// The current thread's stripe of a site's counters.
    pub fn counters(&self, id: u32) -> &C {
        &self.slot(id).stripes[my_stripe()].0
    }

    /// Every site that has its info, with its id and counter stripes.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &SiteInfo, &[Stripe<C>])> {
        let n = self.next.load(Relaxed).min(self.capacity);
        (0..n).filter_map(move |i| {
            let chunk = self.chunks[i as usize / CHUNK].get()?;
            let slot = &chunk[i as usize % CHUNK];
            slot.info.get().map(|info| (i, &**info, &slot.stripes[..]))
        })
    }

    /// Distinct sites interned (overflow sites excluded).
    pub fn len(&self) -> usize {
        (self.next.load(Relaxed).min(self.capacity) - self.overflow_kinds) as usize
    }

}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Count(AtomicU64);

    fn key(tag: u32, methods: &[usize]) -> SiteKey {
        let mut k = SiteKey { tag, len: methods.len() as u32, frames: [Frame::EMPTY; MAX_KEY_DEPTH] };
        for (i, m) in methods.iter().enumerate() {
            k.frames[i] = Frame { method: *m, location: i as i64 };
        }
        k
    }

    fn info(kind: u8) -> SiteInfo {
        SiteInfo { kind, frames: vec![], methods: vec![], exact_frames: 0, special: None, first_thread: None }
    }

    #[test]
    fn striped_counters_sum_across_threads_and_below_zero() {
        let t: SiteTable<Count> = SiteTable::new(200, &[(0, "<other>".into())]);
        let ids: Vec<u32> = (0..150).map(|i| t.intern(&key(0, &[i + 1]), || 0, || info(0))).collect();
        assert_eq!(t.len(), 150, "sites span three chunks");
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for &id in &ids {
                        t.counters(id).0.fetch_add(3, Relaxed);
                    }
                });
            }
        });
        // One thread subtracts what others added: its stripe wraps, the total does not.
        t.counters(ids[7]).0.fetch_sub(24, Relaxed);
        for (id, _, stripes) in t.iter().filter(|(id, _, _)| *id != 0) {
            assert_eq!(total(stripes, |c| &c.0), if id == ids[7] { 0 } else { 24 }, "site {id}");
        }
    }

    #[test]
    fn interning_gives_one_id_per_key_and_overflows_per_kind() {
        let t: SiteTable<Count> = SiteTable::new(3, &[(0, "<other A>".into()), (1, "<other B>".into())]);
        let a = t.intern(&key(0, &[1, 2]), || 0, || info(0));
        let b = t.intern(&key(0, &[1, 3]), || 0, || info(0));
        assert_ne!(a, b);
        assert!(a >= 2 && b >= 2, "ids after the overflow slots");
        assert_eq!(t.intern(&key(0, &[1, 2]), || 0, || panic!("no second capture")), a);
        let c = t.intern(&key(1, &[1, 2]), || 1, || info(1));
        assert_ne!(c, a, "the tag is part of the key");
        assert_eq!(t.len(), 3);
        // Full: new keys go to their kind's overflow site without capturing.
        assert_eq!(t.intern(&key(0, &[9]), || 0, || panic!("no capture when full")), 0);
        assert_eq!(t.intern(&key(1, &[9]), || 1, || panic!("no capture when full")), 1);
        t.counters(a).0.fetch_add(5, Relaxed);
        let sites: Vec<_> = t.iter().map(|(id, i, _)| (id, i.special.clone())).collect();
        assert_eq!(sites.len(), 5);
        assert_eq!(sites[0], (0, Some("<other A>".into())));
        assert_eq!(total(t.iter().find(|(id, _, _)| *id == a).unwrap().2, |c| &c.0), 5);
    }
}
