//! Live native blocks by address: a sharded map, each shard behind its own short lock (held for
//! one insert or remove, never across a JVMTI call), with a bound on the entries it keeps.

use crate::core::hash::{fmix64, MixBuild};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const SHARDS: usize = 64;

pub struct Ledger<E> {
    shards: Box<[Mutex<HashMap<u64, E, MixBuild>>]>,
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

impl<E: Copy> Ledger<E> {
    /// A ledger keeping at most about `cap` entries.
    pub fn new(cap: usize) -> Ledger<E> {
        Ledger {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::default())).collect(),
            per_shard_cap: cap.div_ceil(SHARDS).max(1),
            full: AtomicU64::new(0),
        }
    }

    fn shard(&self, addr: u64) -> &Mutex<HashMap<u64, E, MixBuild>> {
        &self.shards[(fmix64(addr) >> 58) as usize % SHARDS]
    }

    pub fn insert(&self, addr: u64, e: E) -> Inserted<E> {
        let mut map = self.shard(addr).lock();
        if map.len() >= self.per_shard_cap && !map.contains_key(&addr) {
            drop(map);
            self.full.fetch_add(1, Relaxed);
            return Inserted::Full;
        }
        match map.insert(addr, e) {
            None => Inserted::New,
            Some(old) => Inserted::Replaced(old),
        }
    }

    pub fn get(&self, addr: u64) -> Option<E> {
        self.shard(addr).lock().get(&addr).copied()
    }

    pub fn remove(&self, addr: u64) -> Option<E> {
        self.shard(addr).lock().remove(&addr)
    }

    /// Visits every entry, one shard lock at a time (report thread).
    pub fn for_each(&self, mut f: impl FnMut(u64, &E)) {
        for s in self.shards.iter() {
            for (a, e) in s.lock().iter() {
                f(*a, e);
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
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
}
