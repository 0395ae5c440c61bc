//! The process-wide cap on samples a second (`native_rate`), as JFR throttles its allocation
//! samples: a sample costs ~1.5 µs (the AsyncGetCallTrace walk), and a process allocating GB/s
//! would take tens of thousands a second at a fixed interval and overflow the ring. When a
//! window of [`WINDOW_NS`] holds more than the cap's share, the mean interval in force rises so
//! that the rate falls to half the cap; when a window's rate falls under a quarter of the cap,
//! the mean falls back, never under the configured interval. Each thread keeps the mean its
//! countdown was drawn with, and a sample weighs by that mean, so estimates stay unbiased
//! while the mean moves (tests below and `weight_for`).
//!
//! Runs on the sample path only (under the thread's busy flag, after the allocation): atomics
//! and a vDSO `clock_gettime`, no lock, no allocation.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The configured mean interval (`native_interval`).
pub(super) static BASE: AtomicU64 = AtomicU64::new(2 << 20);
/// The mean interval in force: new draws use it.
pub(super) static MEAN: AtomicU64 = AtomicU64::new(2 << 20);
/// The highest mean in force since start.
pub(super) static PEAK: AtomicU64 = AtomicU64::new(2 << 20);
/// Samples a second, process-wide.
pub(super) static CAP: AtomicU64 = AtomicU64::new(DEFAULT_CAP);
/// Times the mean was raised by the cap.
pub(super) static RAISES: AtomicU64 = AtomicU64::new(0);

const DEFAULT_CAP: u64 = 2000;
const WINDOW_NS: u64 = 100_000_000;
/// The mean never rises above this (the largest `native_interval`).
const MAX_MEAN: u64 = 1 << 30;
/// One window raises the mean at most this many times.
const MAX_RAISE: f64 = 64.0;

static WINDOW_START: AtomicU64 = AtomicU64::new(0);
static WINDOW_SAMPLES: AtomicU64 = AtomicU64::new(0);

/// Sets the configured interval and the cap, and puts the mean in force back to the interval.
pub(super) fn configure(interval: u64, cap: u64) {
    let interval = interval.max(1);
    BASE.store(interval, Relaxed);
    MEAN.store(interval, Relaxed);
    PEAK.store(interval, Relaxed);
    CAP.store(cap.max(1), Relaxed);
    WINDOW_START.store(now_ns(), Relaxed);
    WINDOW_SAMPLES.store(0, Relaxed);
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills `ts` (vDSO: no system call, no allocation).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

/// Counts one sample; ends the window when it is over or its budget is spent, and sets the
/// mean for the next draws. One thread ends a window (the others lose the exchange); samples
/// counted meanwhile may be dropped from the count, which only makes the control approximate.
pub(super) fn on_sample() {
    let cap = CAP.load(Relaxed);
    let budget = (cap.saturating_mul(WINDOW_NS) / 1_000_000_000).max(1);
    let n = WINDOW_SAMPLES.fetch_add(1, Relaxed) + 1;
    let start = WINDOW_START.load(Relaxed);
    let now = now_ns();
    let elapsed = now.saturating_sub(start);
    if n <= budget && elapsed < WINDOW_NS {
        return;
    }
    if WINDOW_START.compare_exchange(start, now, Relaxed, Relaxed).is_err() {
        return;
    }
    WINDOW_SAMPLES.store(0, Relaxed);
    let mean = MEAN.load(Relaxed);
    let next = next_mean(mean, n, elapsed, cap, BASE.load(Relaxed));
    if next != mean {
        MEAN.store(next, Relaxed);
        if next > mean {
            RAISES.fetch_add(1, Relaxed);
            PEAK.fetch_max(next, Relaxed);
        }
    }
}

/// The mean for the next window, from `samples` taken in `elapsed_ns` at `mean`: above the cap,
/// the mean that gives half the cap (at most `MAX_RAISE` times higher at once); under a quarter
/// of the cap, the mean that gives half the cap, not under `base`; else unchanged.
pub(super) fn next_mean(mean: u64, samples: u64, elapsed_ns: u64, cap: u64, base: u64) -> u64 {
    let rate = samples as f64 * 1e9 / elapsed_ns.max(1) as f64;
    let (cap, target) = (cap as f64, cap as f64 / 2.0);
    let m = mean as f64;
    let next = if rate > cap {
        m * (rate / target).min(MAX_RAISE)
    } else if rate < cap / 4.0 {
        m * rate / target
    } else {
        m
    };
    (next as u64).clamp(base.min(MAX_MEAN), MAX_MEAN.max(base))
}

#[cfg(test)]
mod tests {
    use super::super::weight_for;
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn the_mean_rises_over_the_cap_and_falls_back_to_the_interval() {
        let base = 2 << 20;
        // 20 000 samples a second against a cap of 2000: 20x, aiming at half the cap.
        assert_eq!(next_mean(base, 2000, 100 * MS, 2000, base), base * 20);
        // A burst far over the cap raises at most 64x at once.
        assert_eq!(next_mean(base, 201, MS / 10, 2000, base), base * 64);
        // Between a quarter of the cap and the cap: unchanged.
        assert_eq!(next_mean(base * 20, 100, 100 * MS, 2000, base), base * 20);
        // The rate dropped: back down, in proportion, never under the interval.
        assert_eq!(next_mean(base * 20, 10, 100 * MS, 2000, base), base * 2);
        assert_eq!(next_mean(base * 20, 1, 60_000 * MS, 2000, base), base);
        assert_eq!(next_mean(1 << 30, 10_000, 100 * MS, 2000, base), 1 << 30, "capped at 1 GiB");
    }

    /// Sampling at a mean that changes between draws, each sample weighed by the mean of its
    /// own draw, estimates the bytes allocated without bias (here within 3%).
    #[test]
    fn weights_by_the_mean_of_each_draw_are_unbiased_while_the_mean_moves() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let uniform = |v: u64| ((v >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let (mut total, mut estimate) = (0f64, 0f64);
        let mut mean = 4096.0;
        let mut left = -uniform(next()).ln() * mean;
        for i in 0..2_000_000u64 {
            let size = 16 + next() % 8000;
            total += size as f64;
            left -= size as f64;
            if left <= 0.0 {
                estimate += weight_for(size as usize, mean) as f64;
                // The controller moves the mean between draws, by up to 64x.
                mean = [4096.0, 65536.0, 262_144.0, 8192.0][(i % 4) as usize];
                left = -uniform(next()).ln() * mean;
            }
        }
        let ratio = estimate / total;
        assert!((0.97..1.03).contains(&ratio), "{ratio}");
    }
}
