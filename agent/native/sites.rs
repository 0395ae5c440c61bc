//! Sites of the native ledgers: the key an event is filed under (a kind tag and its top
//! `key_depth` frames), what a site is, and the sharded table that gives each key one id, with
//! per-site counters striped across threads.
//!
//! A site is what the user reads: the kind and its top frames as class, method, signature and
//! bytecode index. The hot path looks events up by jmethodIDs (the *raw* key); every class
//! loader's copy of the same code has its own jmethodIDs, so each raw key is mapped, once, to
//! the site of its name, and a thousand loaders running the same code share one site. Raw keys
//! whose methods were unloaded are forgotten, and a site left without raw keys and with nothing
//! live is evicted: its counts move to its kind's `<sites evicted ...>` site and its slot is
//! reused, so churned code never fills the table.

use crate::native::methods::MethodInfo;
use crate::ffi::jvmti::Frame;
use crate::core::hash::{MixBuild, MixHasher};
use crate::core::health::{self, COUNTERS};
use crate::core::options::MAX_KEY_DEPTH;
use parking_lot::Mutex;
use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::{Acquire, Relaxed, Release}};
use std::collections::HashSet;
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

/// Counter stripes per site: threads bumping the same site use different cache lines. For
/// `writer`, the first `OWNED` are each written by one thread only, the last is shared.
pub const STRIPES: usize = 8;
const OWNED: usize = STRIPES - 1;
const _: () = assert!(STRIPES.is_power_of_two() && STRIPES > 1);

/// One stripe of a site's counters, alone on its cache line(s).
#[repr(align(64))]
#[derive(Default)]
pub struct Stripe<C>(pub C);

/// One site: what it is (None while free), and the collector's counters in stripes.
pub struct Slot<C> {
    info: Mutex<Option<Arc<SiteInfo>>>,
    stripes: [Stripe<C>; STRIPES],
}

/// Counters that can move to another site's when a site is evicted.
pub trait SiteCounters: Default {
    /// Adds every counter into `to` and leaves this one at zero.
    fn drain_into(&self, to: &Self);
}

/// Adds `from` into `to` and zeroes `from`.
pub fn drain(from: &AtomicU64, to: &AtomicU64) {
    to.fetch_add(from.swap(0, Relaxed), Relaxed);
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

/// Where one thread's counter updates go (`SiteTable::writer`): a stripe it alone writes, with
/// a plain load and store (a `lock`-prefixed addition waits for the store buffer to drain, and an
/// application that just zeroed a buffer has filled it), or the shared stripe, with atomic
/// additions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Writer {
    stripe: usize,
}

impl Writer {
    /// Whether the writer's stripe is the thread's own (else the shared one).
    pub fn owned(self) -> bool {
        self.stripe < OWNED
    }

    #[inline]
    pub fn add(self, c: &AtomicU64, v: u64) {
        if self.owned() {
            c.store(c.load(Relaxed).wrapping_add(v), Relaxed);
        } else {
            c.fetch_add(v, Relaxed);
        }
    }

    #[inline]
    pub fn add32(self, c: &AtomicU32, v: u32) {
        if self.owned() {
            c.store(c.load(Relaxed).wrapping_add(v), Relaxed);
        } else {
            c.fetch_add(v, Relaxed);
        }
    }
}

/// Sum of one counter over a site's stripes (wrapping: a stripe may go below zero when one
/// thread adds and another subtracts).
pub fn total<C>(stripes: &[Stripe<C>], field: impl Fn(&C) -> &AtomicU64) -> u64 {
    stripes.iter().fold(0u64, |acc, s| acc.wrapping_add(field(&s.0).load(Relaxed)))
}

/// A chunk of `CHUNK` slots, allocated when its first site appears.
type Chunk<C> = OnceLock<Box<[Slot<C>]>>;

/// Sites by name, and what keeps a site from eviction. Taken on the first event of a raw key
/// and by the report thread's forgetting; never by a callback that runs in a GC pause.
#[derive(Default)]
struct Names {
    by_name: HashMap<String, u32>,
    /// Raw keys mapped to each site.
    raw_keys: HashMap<u32, u32>,
    /// Evicted ids, reused before new ones.
    free: Vec<u32>,
}

/// Interned sites: a sharded raw key → id map over a slab of striped counters that grows in
/// chunks up to a fixed capacity. The first `specials` ids are, per kind, the "<other sites>"
/// sites used once the capacity is reached, then the "<sites evicted>" sites.
pub struct SiteTable<C> {
    /// The JNIEnv address of the thread that writes each owned stripe (0: free). A thread gives
    /// its stripe back as it ends (`release`, at JVMTI ThreadEnd), its counts staying in the
    /// stripe, and the next thread to count claims it. A thread that ends unseen keeps its
    /// stripe, which a later thread whose JavaThread (and so JNIEnv) lies at the same address
    /// inherits, since two live threads never share one. Threads that find no free stripe
    /// share the last one.
    owners: Owners,
    shards: Box<[Mutex<HashMap<SiteKey, u32, MixBuild>>]>,
    names: Mutex<Names>,
    chunks: Box<[Chunk<C>]>,
    capacity: u32,
    next: AtomicU32,
    overflow_kinds: u32,
    /// The kind of each overflow site, in id order.
    kinds: Vec<u8>,
}

#[repr(align(64))]
#[derive(Default)]
struct Owners([AtomicUsize; OWNED]);

/// Gives back a map's room when churn grew it far past what it holds: a map keeps its largest
/// capacity otherwise, and under loader churn that is every copy seen between two forgettings.
pub fn shrink<K: Eq + Hash, V, S: std::hash::BuildHasher>(map: &mut HashMap<K, V, S>) {
    if map.capacity() > 4 * map.len().max(16) {
        map.shrink_to(2 * map.len());
    }
}

/// What an evicted site's counts become part of.
const EVICTED: &str = "<sites evicted: every class of their stacks was unloaded and nothing they allocated was live>";

const SITE_SHARDS: usize = 16;

impl<C: SiteCounters> SiteTable<C> {
    /// `capacity` distinct sites besides, per kind in `overflow` (kind, label), one overflow site
    /// and one site of evicted sites.
    pub fn new(capacity: usize, overflow: &[(u8, String)]) -> SiteTable<C> {
        let specials = 2 * overflow.len();
        let total = capacity + specials;
        let t = SiteTable {
            owners: Owners::default(),
            shards: (0..SITE_SHARDS).map(|_| Mutex::new(HashMap::default())).collect(),
            names: Mutex::new(Names::default()),
            chunks: (0..total.div_ceil(CHUNK)).map(|_| OnceLock::new()).collect(),
            capacity: total as u32,
            next: AtomicU32::new(specials as u32),
            overflow_kinds: overflow.len() as u32,
            kinds: overflow.iter().map(|(k, _)| *k).collect(),
        };
        let labels = overflow.iter().map(|(k, l)| (*k, l.clone())).chain(overflow.iter().map(|(k, _)| (*k, EVICTED.to_string())));
        for (i, (kind, label)) in labels.enumerate() {
            *t.slot(i as u32).info.lock() = Some(Arc::new(SiteInfo {
                kind,
                frames: Vec::new(),
                methods: Vec::new(),
                exact_frames: 0,
                special: Some(label),
                first_thread: None,
            }));
        }
        t
    }

    fn specials(&self) -> u32 {
        2 * self.overflow_kinds
    }

    /// The slot of `id`, allocating its chunk on first use.
    fn slot(&self, id: u32) -> &Slot<C> {
        let chunk = self.chunks[id as usize / CHUNK].get_or_init(|| {
            (0..CHUNK)
                .map(|_| Slot { info: Mutex::new(None), stripes: std::array::from_fn(|_| Stripe::default()) })
                .collect()
        });
        &chunk[id as usize % CHUNK]
    }

    /// The id of `key`'s site. A raw key seen for the first time is named by `name` (what the
    /// user reads of its frames) and joins the site of that name, or interns a new one with the
    /// info `capture` builds (a full stack walk). Both run without any lock held. When the
    /// table is full, returns the overflow site `overflow_slot` picks, without capturing.
    pub fn intern(
        &self,
        key: &SiteKey,
        overflow_slot: impl FnOnce() -> u32,
        name: impl FnOnce() -> String,
        capture: impl FnOnce() -> SiteInfo,
    ) -> u32 {
        let shard = &self.shards[(key.hash_value() >> 60) as usize % SITE_SHARDS];
        if let Some(&id) = shard.lock().get(key) {
            return id;
        }
        let name = name();
        let overflow = |pick: u32| {
            health::bump(&COUNTERS.site_overflow_events);
            pick.min(self.overflow_kinds.saturating_sub(1))
        };
        {
            let mut names = self.names.lock();
            if let Some(id) = self.join(&mut names, shard, key, &name) {
                return id;
            }
            if names.free.is_empty() && self.next.load(Relaxed) >= self.capacity {
                drop(names);
                return overflow(overflow_slot());
            }
        }
        let info = capture();
        let mut names = self.names.lock();
        if let Some(id) = self.join(&mut names, shard, key, &name) {
            return id;
        }
        let limit = self.capacity;
        let id = match names.free.pop() {
            Some(id) => id,
            None => match self.next.fetch_update(Relaxed, Relaxed, |n| (n < limit).then_some(n + 1)) {
                Ok(id) => id,
                Err(_) => {
                    drop(names);
                    return overflow(overflow_slot());
                }
            },
        };
        // The chunk and the info exist before the id is published in the maps.
        *self.slot(id).info.lock() = Some(Arc::new(info));
        names.by_name.insert(name, id);
        names.raw_keys.insert(id, 1);
        shard.lock().insert(*key, id);
        id
    }

    /// Maps `key` to the site named `name` when there is one (under the names lock, so that
    /// the site cannot be evicted in between).
    fn join(&self, names: &mut Names, shard: &Mutex<HashMap<SiteKey, u32, MixBuild>>, key: &SiteKey, name: &str) -> Option<u32> {
        let id = *names.by_name.get(name)?;
        if shard.lock().insert(*key, id).is_none() {
            *names.raw_keys.entry(id).or_insert(0) += 1;
        }
        Some(id)
    }

    /// Forgets the raw keys that hold a method of `dead` (methods of unloaded classes: their
    /// code never runs again), then evicts each site left without raw keys for which `idle`
    /// says nothing is live: its counters move to its kind's evicted site, its slot is reused.
    /// Report or sampler thread; returns the sites evicted.
    pub fn forget(&self, dead: &HashSet<usize>, idle: impl Fn(&[Stripe<C>]) -> bool) -> u64 {
        if dead.is_empty() {
            return 0;
        }
        let mut names = self.names.lock();
        let mut orphans = Vec::new();
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            shard.retain(|k, id| {
                let keep = !k.frames().iter().any(|f| dead.contains(&f.method));
                if !keep {
                    let n = names.raw_keys.entry(*id).or_insert(1);
                    *n -= 1;
                    if *n == 0 {
                        orphans.push(*id);
                    }
                }
                keep
            });
            shrink(&mut shard);
        }
        let mut evicted = 0;
        for id in orphans {
            names.raw_keys.remove(&id);
            let slot = self.slot(id);
            let kind = match slot.info.lock().as_ref() {
                Some(info) => info.kind,
                None => continue,
            };
            if !idle(&slot.stripes) {
                continue;
            }
            let to = self.overflow_kinds + self.kinds.iter().position(|k| *k == kind).unwrap_or(0) as u32;
            let into = self.slot(to);
            for (from, to) in slot.stripes.iter().zip(&into.stripes) {
                from.0.drain_into(&to.0);
            }
            *slot.info.lock() = None;
            names.by_name.retain(|_, v| *v != id);
            names.free.push(id);
            evicted += 1;
        }
        evicted
    }

    /// The current thread's stripe of a site's counters.
    pub fn counters(&self, id: u32) -> &C {
        &self.slot(id).stripes[my_stripe()].0
    }

    /// The stripe the thread whose JNIEnv is at `env` writes: its own (claimed at its first
    /// event) while there are free ones, else the shared one. Found from the JNIEnv's address,
    /// which lies in the thread's JavaThread, without a thread-local read (in a dlopen'ed
    /// library, a call to `__tls_get_addr`): one cache line, probed from a hash of the address.
    #[inline]
    pub fn writer(&self, env: usize) -> Writer {
        // The top bits of a multiplicative hash: JavaThreads are far apart and aligned alike.
        let h = ((env as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize % OWNED;
        if env != 0 && self.owners.0[h].load(Relaxed) == env {
            return Writer { stripe: h };
        }
        self.find_or_claim(env, h)
    }

    /// `writer` past the first probe. Only a thread itself puts its address into an owner word
    /// or takes it out, so one pass finds its stripe if it has one; only then does it claim a
    /// free one: a stripe given back may lie before its own in the probe order, and claiming
    /// that hole would give it two.
    fn find_or_claim(&self, env: usize, h: usize) -> Writer {
        let shared = Writer { stripe: OWNED };
        if env == 0 {
            return shared;
        }
        let mut free = false;
        for i in 1..OWNED {
            let stripe = (h + i) % OWNED;
            match self.owners.0[stripe].load(Relaxed) {
                v if v == env => return Writer { stripe },
                0 => free = true,
                _ => {}
            }
        }
        if !free && self.owners.0[h].load(Relaxed) != 0 {
            return shared;
        }
        (0..OWNED)
            .map(|i| (h + i) % OWNED)
            // Acquire, with `release`'s Release: the new owner's plain loads see the last
            // owner's stores.
            .find(|&stripe| self.owners.0[stripe].compare_exchange(0, env, Acquire, Relaxed).is_ok())
            .map_or(shared, |stripe| Writer { stripe })
    }

    /// Gives back the stripe of the thread whose JNIEnv is at `env`, which must be that thread
    /// (as it ends) and must write through no `Writer` it holds afterwards: the stripe's counts
    /// stay where they are, summed with every other stripe's, and the next thread to count
    /// writes on from them. Returns whether it had one.
    pub fn release(&self, env: usize) -> bool {
        env != 0 && self.owners.0.iter().any(|o| o.compare_exchange(env, 0, Release, Relaxed).is_ok())
    }

    /// The stripe of a site's counters `w` writes.
    #[inline]
    pub fn counters_of(&self, id: u32, w: Writer) -> &C {
        &self.slot(id).stripes[w.stripe].0
    }

    /// Every site that has its info, with its id and counter stripes.
    pub fn iter(&self) -> impl Iterator<Item = (u32, Arc<SiteInfo>, &[Stripe<C>])> {
        let n = self.next.load(Relaxed).min(self.capacity);
        (0..n).filter_map(move |i| {
            let chunk = self.chunks[i as usize / CHUNK].get()?;
            let slot = &chunk[i as usize % CHUNK];
            let info = slot.info.lock().clone();
            info.map(|info| (i, info, &slot.stripes[..]))
        })
    }

    /// Distinct sites interned now (overflow and evicted sites excluded).
    pub fn len(&self) -> usize {
        let free = self.names.lock().free.len() as u32;
        (self.next.load(Relaxed).min(self.capacity) - self.specials()).saturating_sub(free) as usize
    }

}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Count(AtomicU64);

    impl SiteCounters for Count {
        fn drain_into(&self, to: &Self) {
            drain(&self.0, &to.0);
        }
    }

    /// The name of a test key: its tag and methods, as if each jmethodID were distinct code.
    fn name(k: &SiteKey) -> String {
        format!("{}{:?}", k.tag, k.frames().iter().map(|f| f.method).collect::<Vec<_>>())
    }

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
        let ids: Vec<u32> = (0..150).map(|i| { let k = key(0, &[i + 1]); t.intern(&k, || 0, || name(&k), || info(0)) }).collect();
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
        for (id, _, stripes) in t.iter().filter(|(id, _, _)| *id >= 2) {
            assert_eq!(total(stripes, |c| &c.0), if id == ids[7] { 0 } else { 24 }, "site {id}");
        }
    }

    /// Threads writing their own stripes with plain loads and stores, and the threads beyond the
    /// owned stripes sharing one with atomic additions, lose no count; later threads whose
    /// JNIEnv lies where a finished thread's did inherit its stripe.
    #[test]
    fn writers_keep_counts_exact_across_threads_and_thread_churn() {
        let t: SiteTable<Count> = SiteTable::new(16, &[(0, "<other>".into())]);
        let k = key(0, &[1]);
        let id = t.intern(&k, || 0, || name(&k), || info(0));
        const THREADS: usize = 12;
        const ADDS: u64 = 200_000;
        let owned = AtomicU64::new(0);
        for round in 0..4 {
            let start = std::sync::Barrier::new(THREADS);
            std::thread::scope(|s| {
                for i in 0..THREADS {
                    let (t, owned, start) = (&t, &owned, &start);
                    s.spawn(move || {
                        start.wait();
                        // Rounds 2 and 3: new threads at the addresses of rounds 0 and 1's.
                        let env = 0x7f00_0000_0000 + ((round % 2) * THREADS + i) * 0x4000;
                        let w = t.writer(env);
                        assert_eq!(t.writer(env), w, "a thread keeps its stripe");
                        owned.fetch_add(w.owned() as u64, Relaxed);
                        for _ in 0..ADDS {
                            w.add(&t.counters_of(id, w).0, 1);
                        }
                    });
                }
            });
        }
        let stripes = t.iter().find(|(i, _, _)| *i == id).unwrap().2;
        assert_eq!(total(stripes, |c| &c.0), 4 * THREADS as u64 * ADDS);
        // Round 0 claims every owned stripe, round 1 finds none free (their threads are gone but
        // kept them), rounds 2 and 3 inherit rounds 0 and 1's.
        assert_eq!(owned.load(Relaxed), 2 * OWNED as u64);
        assert!(stripes.iter().all(|s| s.0 .0.load(Relaxed) > 0), "every stripe was written");
    }

    /// Threads that give their stripe back as they end, while others still count: no two live
    /// threads ever hold one owned stripe, a thread keeps its own, later threads get the
    /// stripes back, and no count is lost when a stripe changes hands.
    #[test]
    fn stripes_given_back_at_thread_end_pass_on_with_their_counts() {
        let t: SiteTable<Count> = SiteTable::new(16, &[(0, "<other>".into())]);
        let k = key(0, &[1]);
        let id = t.intern(&k, || 0, || name(&k), || info(0));
        const THREADS: usize = 24;
        const ROUNDS: usize = 6;
        const ADDS: u64 = 50_000;
        let holders: [AtomicU32; OWNED] = Default::default();
        let owned = AtomicU64::new(0);
        for round in 0..ROUNDS {
            std::thread::scope(|s| {
                for i in 0..THREADS {
                    let (t, holders, owned) = (&t, &holders, &owned);
                    s.spawn(move || {
                        // A new address per thread: no thread inherits a stripe, all are given back.
                        let env = 0x7f00_0000_0000 + (round * THREADS + i + 1) * 0x4000;
                        let hold = |w: Writer| {
                            if w.owned() {
                                owned.fetch_add(1, Relaxed);
                                assert_eq!(holders[w.stripe].fetch_add(1, Relaxed), 0, "stripe {} held twice", w.stripe);
                            }
                        };
                        let w = t.writer(env);
                        hold(w);
                        for _ in 0..ADDS / 2 {
                            w.add(&t.counters_of(id, w).0, 1);
                        }
                        std::thread::yield_now();
                        // A thread on the shared stripe claims one given back since.
                        let w2 = t.writer(env);
                        if w.owned() {
                            assert_eq!(w2, w, "a thread keeps its stripe");
                        } else {
                            hold(w2);
                        }
                        for _ in 0..ADDS / 2 {
                            w2.add(&t.counters_of(id, w2).0, 1);
                        }
                        if w2.owned() {
                            holders[w2.stripe].fetch_sub(1, Relaxed);
                        }
                        assert_eq!(t.release(env), w2.owned());
                    });
                }
            });
        }
        let stripes = t.iter().find(|(i, _, _)| *i == id).unwrap().2;
        assert_eq!(total(stripes, |c| &c.0), (ROUNDS * THREADS) as u64 * ADDS, "no count lost");
        // Every round's first threads find the stripes the last round gave back.
        assert!(owned.load(Relaxed) >= (ROUNDS * OWNED) as u64, "owned {}", owned.load(Relaxed));
        assert!(t.owners.0.iter().all(|o| o.load(Relaxed) == 0), "every stripe was given back");
    }

    /// A stripe given back before a thread's own in its probe order is not claimed as a second
    /// one: the thread finds its own.
    #[test]
    fn a_thread_finds_its_stripe_past_one_given_back() {
        let t: SiteTable<Count> = SiteTable::new(16, &[(0, "<other>".into())]);
        let h = |env: usize| ((env as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize % OWNED;
        let a = 0x7f00_0000_0000usize;
        let b = (1..).map(|i| a + i * 0x4000).find(|&e| h(e) == h(a)).unwrap();
        let (wa, wb) = (t.writer(a), t.writer(b));
        assert_ne!(wa, wb);
        assert!(t.release(a));
        assert!(!t.release(a), "given back once");
        assert_eq!(t.writer(b), wb, "b keeps its stripe, not the hole before it");
        assert_eq!(t.owners.0.iter().filter(|o| o.load(Relaxed) == b).count(), 1);
        let c = (1..).map(|i| b + i * 0x4000).find(|&e| h(e) == h(a)).unwrap();
        assert_eq!(t.writer(c), wa, "the next thread claims the stripe given back");
        assert_eq!(t.writer(0), Writer { stripe: OWNED }, "no thread: the shared stripe");
    }

    #[test]
    fn interning_gives_one_id_per_key_and_overflows_per_kind() {
        let t: SiteTable<Count> = SiteTable::new(3, &[(0, "<other A>".into()), (1, "<other B>".into())]);
        let intern = |k: SiteKey, kind: u32| t.intern(&k, || kind, || name(&k), || info(kind as u8));
        let a = intern(key(0, &[1, 2]), 0);
        let b = intern(key(0, &[1, 3]), 0);
        assert_ne!(a, b);
        assert!(a >= 4 && b >= 4, "ids after the overflow and evicted slots");
        assert_eq!(t.intern(&key(0, &[1, 2]), || 0, || panic!("no second naming"), || panic!("no second capture")), a);
        let c = intern(key(1, &[1, 2]), 1);
        assert_ne!(c, a, "the tag is part of the key");
        assert_eq!(t.len(), 3);
        // Full: new keys go to their kind's overflow site without capturing.
        assert_eq!(t.intern(&key(0, &[9]), || 0, || "9".into(), || panic!("no capture when full")), 0);
        assert_eq!(t.intern(&key(1, &[9]), || 1, || "9".into(), || panic!("no capture when full")), 1);
        t.counters(a).0.fetch_add(5, Relaxed);
        let sites: Vec<_> = t.iter().map(|(id, i, _)| (id, i.special.clone())).collect();
        assert_eq!(sites.len(), 7);
        assert_eq!(sites[0], (0, Some("<other A>".into())));
        assert_eq!(total(t.iter().find(|(id, _, _)| *id == a).unwrap().2, |c| &c.0), 5);
    }

    /// Two loaders' copies of the same code (different jmethodIDs, one name) share a site; once
    /// both are unloaded and nothing is live the site is evicted, its counts kept in the evicted
    /// site of its kind, and its slot serves a new site.
    #[test]
    fn copies_of_the_same_code_share_a_site_which_is_evicted_when_they_are_gone() {
        let t: SiteTable<Count> = SiteTable::new(16, &[(0, "<other A>".into())]);
        let same = |m: usize| t.intern(&key(0, &[m]), || 0, || "Churn.work()V@3".into(), || info(0));
        let a = same(100);
        assert_eq!(same(200), a, "the second loader's copy joins the site");
        assert_eq!(t.len(), 1);
        t.counters(a).0.fetch_add(7, Relaxed);
        let idle = |s: &[Stripe<Count>]| total(s, |c| &c.0) == 7;
        assert_eq!(t.forget(&HashSet::from([100]), idle), 0, "one copy is still loaded");
        assert_eq!(same(300), a, "a third loader joins it too");
        assert_eq!(t.forget(&HashSet::from([200, 300]), |_| false), 0, "something is live");
        assert_eq!(same(400), a);
        assert_eq!(t.forget(&HashSet::from([400]), idle), 1);
        assert_eq!(t.len(), 0);
        let evicted: Vec<_> = t.iter().filter(|(_, i, s)| i.special.as_deref() == Some(EVICTED) && total(s, |c| &c.0) == 7).collect();
        assert_eq!(evicted.len(), 1, "the counts moved to the evicted site");
        let b = t.intern(&key(0, &[500]), || 0, || "Other.run()V@0".into(), || info(0));
        assert_eq!(b, a, "the slot is reused");
        assert_eq!(total(t.iter().find(|(id, _, _)| *id == b).unwrap().2, |c| &c.0), 0);
        // Churn never fills the table: a thousand loaders' copies of two places are two sites.
        for m in 1000..3000usize {
            let place = if m % 2 == 0 { "X.a()V@1" } else { "X.b()V@1" };
            t.intern(&key(0, &[m]), || 0, || place.into(), || info(0));
        }
        assert_eq!(t.len(), 3);
    }
}
