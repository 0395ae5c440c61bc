//! The agent's one hasher for its own keys (addresses, method ids, object ids): fast, and with no
//! HashDoS concern since no key comes from outside the process.

use std::hash::{BuildHasherDefault, Hasher};

/// murmur3's 64-bit finalizer: spreads aligned addresses and small integers over all bits.
pub fn fmix64(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

/// A small, fast hasher for the agent's own keys (no HashDoS concern: keys are addresses and
/// method ids). Multiply-rotate per word, `fmix64` at the end.
#[derive(Default, Clone, Copy)]
pub struct MixHasher(u64);

impl Hasher for MixHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64)
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64)
    }
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64)
    }
    fn finish(&self) -> u64 {
        fmix64(self.0)
    }
}

pub type MixBuild = BuildHasherDefault<MixHasher>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_spreads_aligned_addresses() {
        let mut buckets = [0u32; 64];
        for i in 0..64_000u64 {
            buckets[(fmix64(0x7f00_0000_0000 + i * 16) >> 58) as usize] += 1;
        }
        assert!(buckets.iter().all(|&b| b > 800 && b < 1200), "{buckets:?}");
    }
}
