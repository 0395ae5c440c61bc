//! The live table of sampled blocks (by address, until freed) and the quick filter in front of
//! it; everything static, allocated before the first patch (see the parent's rules).

use super::*;

#[repr(align(64))]
pub(super) struct Bucket {
    pub(super) keys: [AtomicUsize; WAYS],
}

#[allow(clippy::declare_interior_mutable_const)]
pub(super) const EMPTY_BUCKET: Bucket = Bucket { keys: [const { AtomicUsize::new(0) }; WAYS] };
pub(super) static KEYS: [Bucket; BUCKETS] = [EMPTY_BUCKET; BUCKETS];
/// Per slot: the site hash and the sample's weight (bytes it stands for).
pub(super) static HASHES: [AtomicU64; BUCKETS * WAYS] = [const { AtomicU64::new(0) }; BUCKETS * WAYS];
pub(super) static WEIGHTS: [AtomicU64; BUCKETS * WAYS] = [const { AtomicU64::new(0) }; BUCKETS * WAYS];

/// The quick filter in front of the table: a count of live sampled blocks per page (4 KiB of
/// address space, hashed), 32768 counts of a byte each (32 KiB; a byte, not a nibble, spares
/// `free` the shift and mask that pick a nibble). Keyed by page, so that the frees of a
/// thread, which hit the few pages its allocator is working in, read the same few filter lines
/// (L1 hits); keyed by address hash, each free read a random line, an L1 miss (perf). A `free`
/// of a block never sampled reads one byte, finds its count 0 (unless its page, or a page
/// hashed with it, holds a live sampled block) and skips the table. Exact: a count is raised
/// before its block is published and only the removal of a block lowers it, so a sampled
/// block's count is never 0. The table's buckets are keyed by page too: a free that the filter
/// lets through probes the bucket its page's frees keep hot.
pub(super) const FILTER: usize = 1 << 15;
pub(super) static COUNTS: [AtomicU8; FILTER] = [const { AtomicU8::new(0) }; FILTER];
/// A count that reached this stays (its addresses are always probed).
const SATURATED: u8 = 15;

pub(super) fn mixed(addr: usize) -> u64 {
    ((addr >> 12) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

pub(super) fn bucket_of(addr: usize) -> usize {
    mixed(addr).wrapping_shr(64 - 14) as usize & (BUCKETS - 1)
}

/// `addr`'s count: the page number folded with the bits above 64 MiB (glibc's thread arenas
/// are 64 MiB-aligned heaps, whose busiest pages would otherwise share counts); no
/// multiplication on `free`'s path.
#[inline(always)]
pub(super) fn count_of(addr: usize) -> Option<&'static AtomicU8> {
    COUNTS.get(((addr >> 12) ^ (addr >> 26) ^ (addr >> 40)) & (FILTER - 1))
}

/// Whether a sampled block may live at `addr` (never false for one that does).
#[inline(always)]
pub(super) fn maybe_live(addr: usize) -> bool {
    count_of(addr).is_some_and(|c| c.load(Relaxed) != 0)
}

pub(super) fn count_up(addr: usize) {
    if let Some(c) = count_of(addr) {
        let _ = c.fetch_update(Relaxed, Relaxed, |n| (n < SATURATED).then(|| n + 1));
    }
}

pub(super) fn count_down(addr: usize) {
    if let Some(c) = count_of(addr) {
        let _ = c.fetch_update(Relaxed, Relaxed, |n| (n > 0 && n < SATURATED).then(|| n - 1));
    }
}

pub(super) fn table_insert(addr: usize, hash: u64, weight: u64) -> bool {
    let b = bucket_of(addr);
    let Some(bucket) = KEYS.get(b) else { return false };
    for (i, k) in bucket.keys.iter().enumerate() {
        if k.load(Relaxed) == 0 && k.compare_exchange(0, RESERVED, Acquire, Relaxed).is_ok() {
            let slot = b * WAYS + i;
            if let (Some(h), Some(w)) = (HASHES.get(slot), WEIGHTS.get(slot)) {
                h.store(hash, Relaxed);
                w.store(weight, Relaxed);
            }
            count_up(addr);
            k.store(addr, Release);
            return true;
        }
    }
    false
}

/// Out of line: `free` inlines only the filter's test.
#[cold]
#[inline(never)]
pub(super) fn table_remove(addr: usize) {
    let Some(bucket) = KEYS.get(bucket_of(addr)) else { return };
    for k in &bucket.keys {
        if k.load(Relaxed) == addr && k.compare_exchange(addr, 0, AcqRel, Relaxed).is_ok() {
            count_down(addr);
            FREED.fetch_add(1, Relaxed);
            return;
        }
    }
}
