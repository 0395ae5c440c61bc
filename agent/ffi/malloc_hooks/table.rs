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

/// The quick filter in front of the table: a count of live sampled blocks per address hash, 64
/// KiB that stay in cache, where the table's 1 MiB of buckets would not. A `free` of a block
/// never sampled finds its count 0 (but for ~live/65536 of them) and skips the table.
pub(super) const FILTER: usize = 1 << 16;
pub(super) static COUNTS: [AtomicU8; FILTER] = [const { AtomicU8::new(0) }; FILTER];

pub(super) fn mixed(addr: usize) -> u64 {
    ((addr >> 4) as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

pub(super) fn bucket_of(addr: usize) -> usize {
    mixed(addr).wrapping_shr(64 - 14) as usize & (BUCKETS - 1)
}

pub(super) fn count_of(addr: usize) -> Option<&'static AtomicU8> {
    COUNTS.get((mixed(addr) >> 20) as usize & (FILTER - 1))
}

/// Counts saturate: a count that reached 255 stays (its addresses are always probed).
pub(super) fn count_up(addr: usize) {
    if let Some(c) = count_of(addr) {
        let _ = c.fetch_update(Relaxed, Relaxed, |n| (n < u8::MAX).then_some(n + 1));
    }
}

pub(super) fn count_down(addr: usize) {
    if let Some(c) = count_of(addr) {
        let _ = c.fetch_update(Relaxed, Relaxed, |n| (n > 0 && n < u8::MAX).then(|| n - 1));
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
            LIVE.fetch_add(1, Relaxed);
            return true;
        }
    }
    false
}

pub(super) fn table_remove(addr: usize) {
    let Some(bucket) = KEYS.get(bucket_of(addr)) else { return };
    for k in &bucket.keys {
        if k.load(Relaxed) == addr && k.compare_exchange(addr, 0, AcqRel, Relaxed).is_ok() {
            count_down(addr);
            LIVE.fetch_sub(1, Relaxed);
            FREED.fetch_add(1, Relaxed);
            return;
        }
    }
}

#[inline(always)]
pub(super) fn forget(p: *mut c_void) {
    if !p.is_null() && LIVE.load(Relaxed) != 0 && count_of(p as usize).is_some_and(|c| c.load(Relaxed) != 0) {
        table_remove(p as usize);
    }
}
