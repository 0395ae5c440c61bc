//! The zlib ledger's live streams by address: a sharded map, each shard behind its own short
//! lock (held for one insert or remove, never across a JVMTI call), with a bound on the entries
//! it keeps.
//!
//! Each shard is an open-addressing table whose slots hold the address beside its entry, so an
//! insert or a remove reads and writes one or two cache lines: the ledger is touched on every
//! zlib stream, between which the application streams through far more memory than the caches
//! hold, so every line it touches is a likely miss (a `HashMap` keeps control
//! bytes and buckets apart: two lines per insert). Shards sit on their own cache lines.

use crate::core::hash::fmix64;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

const SHARDS: usize = 64;
/// Slots of a shard's first table; tables double when more than 5/8 full.
const FIRST_SLOTS: usize = 16;

/// A free slot's address: no block lives at 0 (the wrappers never record a 0 address, and the
/// table keeps one anyway aside).
const FREE: u64 = 0;

/// One shard: linear probing, removal by backward shift (no tombstones, probes stay short).
struct Table<E> {
    slots: Vec<(u64, E)>,
    len: usize,
    /// The entry of address 0, which a slot cannot hold.
    zero: Option<E>,
}

/// A shard alone on its cache line(s): threads working on neighbouring shards do not take
/// each other's lines. Beside the lock, where its slots are (for `prefetch`, read without it).
#[repr(align(64))]
struct Shard<E> {
    table: Mutex<Table<E>>,
    slots_at: AtomicUsize,
    mask: AtomicUsize,
}

fn home(addr: u64, mask: usize) -> usize {
    // The low bits of the hash; the shard is chosen by its top bits.
    fmix64(addr) as usize & mask
}

impl<E: Copy + Default> Table<E> {
    fn find(&self, addr: u64) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = home(addr, mask);
        loop {
            match self.slots[i].0 {
                a if a == addr => return Some(i),
                FREE => return None,
                _ => i = (i + 1) & mask,
            }
        }
    }

    fn get(&self, addr: u64) -> Option<E> {
        if addr == FREE {
            return self.zero;
        }
        self.find(addr).map(|i| self.slots[i].1)
    }

    fn contains(&self, addr: u64) -> bool {
        if addr == FREE {
            self.zero.is_some()
        } else {
            self.find(addr).is_some()
        }
    }

    fn len(&self) -> usize {
        self.len + self.zero.is_some() as usize
    }

    /// Stores `e` at `addr`, returning the entry it replaced.
    fn insert(&mut self, addr: u64, e: E) -> Option<E> {
        if addr == FREE {
            return self.zero.replace(e);
        }
        if (self.len + 1) * 8 > self.slots.len() * 5 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = home(addr, mask);
        loop {
            let slot = &mut self.slots[i];
            if slot.0 == addr {
                return Some(std::mem::replace(&mut slot.1, e));
            }
            if slot.0 == FREE {
                *slot = (addr, e);
                self.len += 1;
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(FIRST_SLOTS);
        let old = std::mem::replace(&mut self.slots, vec![(FREE, E::default()); size]);
        let mask = size - 1;
        for (addr, e) in old.into_iter().filter(|s| s.0 != FREE) {
            let mut i = home(addr, mask);
            while self.slots[i].0 != FREE {
                i = (i + 1) & mask;
            }
            self.slots[i] = (addr, e);
        }
    }

    fn remove(&mut self, addr: u64) -> Option<E> {
        if addr == FREE {
            return self.zero.take();
        }
        let mut hole = self.find(addr)?;
        let e = self.slots[hole].1;
        let mask = self.slots.len() - 1;
        // Backward shift: an entry further along the run moves into the hole unless its home
        // lies cyclically in (hole, j], where it would no longer be found.
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let a = self.slots[j].0;
            if a == FREE {
                break;
            }
            let h = home(a, mask);
            let stays = if hole <= j { hole < h && h <= j } else { hole < h || h <= j };
            if !stays {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
        }
        self.slots[hole].0 = FREE;
        self.len -= 1;
        Some(e)
    }

    fn for_each(&self, f: &mut impl FnMut(u64, &E)) {
        for (a, e) in self.slots.iter().filter(|s| s.0 != FREE) {
            f(*a, e);
        }
        if let Some(e) = &self.zero {
            f(FREE, e);
        }
    }
}

pub struct Ledger<E> {
    shards: Box<[Shard<E>]>,
    per_shard_cap: usize,
    /// Inserts refused because the shard was full.
    full: AtomicU64,
}

/// What an insert did.
#[derive(Debug, PartialEq, Eq)]
pub enum Inserted<E> {
    New,
    /// The address was still recorded (its release was never seen); the stale entry is returned.
    Replaced(E),
    /// The ledger is full: the entry was not kept.
    Full,
}

impl<E: Copy + Default> Ledger<E> {
    /// A ledger keeping at most about `cap` entries.
    pub fn new(cap: usize) -> Ledger<E> {
        Ledger {
            shards: (0..SHARDS)
                .map(|_| Shard {
                    table: Mutex::new(Table { slots: Vec::new(), len: 0, zero: None }),
                    slots_at: AtomicUsize::new(0),
                    mask: AtomicUsize::new(0),
                })
                .collect(),
            per_shard_cap: cap.div_ceil(SHARDS).max(1),
            full: AtomicU64::new(0),
        }
    }

    fn shard_of(&self, addr: u64) -> &Shard<E> {
        &self.shards[(fmix64(addr) >> 58) as usize % SHARDS]
    }

    fn shard(&self, addr: u64) -> &Mutex<Table<E>> {
        &self.shard_of(addr).table
    }

    /// Starts loading the cache line where `addr`'s entry is or goes, so that the miss overlaps
    /// the caller's work before its insert or remove (on churn that line is rarely cached).
    pub fn prefetch(&self, addr: u64) {
        let s = self.shard_of(addr);
        let at = s.slots_at.load(Relaxed);
        if at != 0 {
            // A stale pair (the table grew meanwhile) only fetches a useless line.
            crate::ffi::natives::prefetch(at + home(addr, s.mask.load(Relaxed)) * std::mem::size_of::<(u64, E)>());
        }
    }

    pub fn insert(&self, addr: u64, e: E) -> Inserted<E> {
        let s = self.shard_of(addr);
        let mut t = s.table.lock();
        if t.len() >= self.per_shard_cap && !t.contains(addr) {
            drop(t);
            self.full.fetch_add(1, Relaxed);
            return Inserted::Full;
        }
        let size = t.slots.len();
        let replaced = t.insert(addr, e);
        if t.slots.len() != size {
            s.slots_at.store(t.slots.as_ptr() as usize, Relaxed);
            s.mask.store(t.slots.len() - 1, Relaxed);
        }
        match replaced {
            None => Inserted::New,
            Some(old) => Inserted::Replaced(old),
        }
    }

    pub fn get(&self, addr: u64) -> Option<E> {
        self.shard(addr).lock().get(addr)
    }

    pub fn remove(&self, addr: u64) -> Option<E> {
        self.shard(addr).lock().remove(addr)
    }

    /// Visits every entry, one shard lock at a time (report thread).
    pub fn for_each(&self, mut f: impl FnMut(u64, &E)) {
        for s in self.shards.iter() {
            s.table.lock().for_each(&mut f);
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.table.lock().len()).sum()
    }

    #[cfg(test)]
    pub fn refused(&self) -> u64 {
        self.full.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_replace_and_bound() {
        let l: Ledger<u32> = Ledger::new(64 * 2);
        assert_eq!(l.insert(0x1000, 1), Inserted::New);
        assert_eq!(l.insert(0x1000, 2), Inserted::Replaced(1));
        assert_eq!(l.remove(0x1000), Some(2));
        assert_eq!(l.remove(0x1000), None);
        let mut full = 0;
        for i in 0..10_000u64 {
            if l.insert(0x7f00_0000_0000 + i * 16, 0) == Inserted::Full {
                full += 1;
            }
        }
        assert_eq!(l.len(), 128, "two entries per shard");
        assert_eq!(full, 10_000 - 128);
        assert_eq!(l.refused(), full);
        let mut n = 0;
        l.for_each(|_, _| n += 1);
        assert_eq!(n, 128);
    }

    /// The table against a HashMap under a random mix of inserts and removes, with colliding
    /// runs that wrap around the end of the slots (backward shift's hard cases).
    #[test]
    fn table_agrees_with_a_hashmap() {
        let mut t: Table<u64> = Table { slots: Vec::new(), len: 0, zero: None };
        let mut m = std::collections::HashMap::new();
        let mut x = 0x1234_5678_9abc_def0u64;
        for step in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Few distinct addresses (0 included), so that runs collide and entries get replaced.
            let addr = (x % 300) * 16;
            if x >> 60 < 9 {
                assert_eq!(t.insert(addr, step), m.insert(addr, step), "insert {addr:#x}");
            } else {
                assert_eq!(t.remove(addr), m.remove(&addr), "remove {addr:#x}");
            }
            assert_eq!(t.len(), m.len());
        }
        for (a, v) in &m {
            assert_eq!(t.get(*a), Some(*v));
        }
        let mut n = 0;
        t.for_each(&mut |a, v| {
            assert_eq!(m.get(&a), Some(v));
            n += 1;
        });
        assert_eq!(n, m.len());
    }
}
