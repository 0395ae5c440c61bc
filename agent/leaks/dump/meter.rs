//! What the retained-heap graph's structures take, counted from their real capacities before
//! they are allocated or grown (`retained.rs`), so the graph never exceeds `chain_memory`.

use crate::core::hash::MixBuild;
use crate::leaks::dump::DumpError;
use std::collections::HashMap;
use std::mem::size_of;

/// The graph's memory against `chain_memory`: what is held now and the most ever held. Every
/// structure is counted at its capacity before it is allocated or grown.
#[derive(Default)]
pub struct Meter {
    pub limit: u64,
    pub now: u64,
    pub peak: u64,
}

impl Meter {
    pub fn new(limit: u64) -> Meter {
        Meter { limit, ..Meter::default() }
    }

    /// Whether `extra` more bytes fit beside `now` (which the caller measured); counts them.
    pub fn fits(&mut self, now: u64, extra: u64) -> bool {
        self.now = now;
        if now + extra > self.limit {
            return false;
        }
        self.peak = self.peak.max(now + extra);
        true
    }

    /// Takes `bytes` for an allocation about to be made, or says why not.
    pub fn take(&mut self, bytes: u64, what: &str) -> Result<(), DumpError> {
        if !self.fits(self.now, bytes) {
            return Err(DumpError::Stopped(format!(
                "the retained heap's {what} would take the graph over chain_memory ({} MiB)",
                self.limit >> 20
            )));
        }
        self.now += bytes;
        Ok(())
    }

    pub fn give(&mut self, bytes: u64) {
        self.now = self.now.saturating_sub(bytes);
    }
}

pub fn vec_bytes<T>(v: &Vec<T>) -> u64 {
    (v.capacity() * size_of::<T>()) as u64
}

/// Bytes a `Vec<T>` of this length takes once allocated with exactly that capacity.
pub fn array_bytes<T>(len: usize) -> u64 {
    (len * size_of::<T>()) as u64
}

/// Bytes a vector takes after its next growth (std doubles it, at least 4 elements).
pub fn grown<T>(v: &Vec<T>) -> u64 {
    array_bytes::<T>((v.capacity() * 2).max(4))
}

/// Bytes a vector takes after `grow` below: a quarter more (at least 64 elements), where
/// std's doubling would leave up to half of a large array unused and counted.
pub fn grown_by_quarter<T>(v: &Vec<T>) -> u64 {
    array_bytes::<T>(v.capacity() + (v.capacity() / 4).max(64))
}

/// Grows a full vector as `grown_by_quarter` counts it.
pub fn grow<T>(v: &mut Vec<T>) {
    v.reserve_exact((v.capacity() / 4).max(64));
}

/// hashbrown's table for a map whose `capacity()` is `cap`: its buckets (a power of two, at most
/// 7/8 full) of one entry and one control byte each, plus a group of control bytes.
pub fn table_bytes(cap: usize, entry: usize) -> u64 {
    let buckets = match cap {
        0 => return 0,
        1..=3 => 4,
        4..=7 => 8,
        _ => (cap * 8 / 7).next_power_of_two(),
    };
    (buckets * (entry + 1) + 16) as u64
}

pub fn map_bytes<K, V>(m: &HashMap<K, V, MixBuild>) -> u64 {
    table_bytes(m.capacity(), size_of::<(K, V)>())
}

/// The table a map moves to when it grows: twice the buckets (the old one is freed after).
pub fn map_grown<K, V>(m: &HashMap<K, V, MixBuild>) -> u64 {
    table_bytes((m.capacity() * 2).max(3), size_of::<(K, V)>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table sizes follow hashbrown's: a map's `capacity()` is 7/8 of its buckets.
    #[test]
    fn a_map_is_counted_at_its_table() {
        let mut m: HashMap<u64, u32, MixBuild> = HashMap::default();
        assert_eq!(map_bytes(&m), 0);
        for i in 0..1000u64 {
            m.insert(i, 0);
        }
        // 1,000 entries: 2,048 buckets of 16 bytes and a control byte each, and one group.
        assert_eq!(m.capacity(), 1792);
        assert_eq!(map_bytes(&m), 2048 * 17 + 16);
        assert_eq!(map_grown(&m), 4096 * 17 + 16);
    }

    #[test]
    fn a_meter_refuses_what_would_pass_its_limit_and_keeps_its_peak() {
        let mut m = Meter::new(100);
        m.take(60, "a").unwrap();
        m.give(60);
        m.take(90, "b").unwrap();
        let e = m.take(20, "sums").unwrap_err();
        assert_eq!(e.to_string(), "the retained heap's sums would take the graph over chain_memory (0 MiB)");
        assert_eq!((m.now, m.peak), (90, 90));
    }
}
