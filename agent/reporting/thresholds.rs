//! The limit options (`rss_limit`, `usage_limit`, `direct_limit`, `zlib_limit`,
//! `loaders_limit`) and direct buffer exhaustion, checked by the sampler on the numbers it has
//! just read: a few comparisons per sample. A limit reports once when its value crosses it
//! upwards and re-arms only after the value fell below `REARM` of it, so a value hovering at
//! the line writes one report, not one per sample.

use crate::core::options::{Level, Limit, Limits};
use leakagent_report::model::{Crossing, Oom};
use leakagent_report::units::mib;
use std::time::Duration;

/// Re-arm below 90% of the threshold.
const REARM_PERCENT: u64 = 90;
/// The direct pool is full when less than this share of MaxDirectMemorySize is left (per
/// mille): an allocateDirect larger than what is left has to wait for buffers to be freed.
const DIRECT_FULL_PER_MILLE: u64 = 990;
/// A full pool is exhausted once nothing was released for this long, the JVM running. Before it
/// throws, `java.nio.Bits.reserveMemory` (JDK 11 to 25) waits for reference processing, calls
/// `System.gc()`, then retries after 9 sleeps of 1, 2, ... 256 ms: ~0.5 s. Twice that: an
/// application whose dropped buffers fill the pool gets them back from the GC's Cleaner well
/// within it and goes on; one whose buffers are all live has thrown by then.
pub const DIRECT_STALL: Duration = Duration::from_secs(1);

/// What the sampler measured, for the checks.
#[derive(Clone, Copy, Debug, Default)]
pub struct Values {
    pub rss: u64,
    pub cgroup_limit: Option<u64>,
    pub working_set: Option<u64>,
    /// The JDK's direct pool: reserved bytes and MaxDirectMemorySize.
    pub direct_reserved: Option<u64>,
    pub direct_max: Option<u64>,
    pub zlib_live: Option<u64>,
    pub loaders_alive: u64,
    /// The sampler's clock (since it started) when it read the pool.
    pub at: Duration,
    /// Read only while the pool is full (`Watcher::direct_full`): the evidence of a stall.
    pub direct_marks: Option<DirectMarks>,
}

/// What shows that a full direct pool is being freed or used, and how long the JVM was stopped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DirectMarks {
    /// Bytes of DirectByteBuffers the ledger saw released since start (None without it).
    pub released: Option<u64>,
    /// The pool's buffer count (`java.nio.Bits.COUNT`).
    pub count: Option<u64>,
    /// The collectors' total collection time, ms: time the JVM may have been stopped in.
    pub gc_ms: Option<u64>,
}

/// A direct pool full since some sample with nothing released since.
struct Stall {
    /// What was released and held when it began: any change is progress.
    progress: (Option<u64>, Option<u64>, u64),
    /// The previous full sample's clock and collection time.
    at: Duration,
    gc_ms: Option<u64>,
    /// The JVM's running time in the stall so far.
    stalled: Duration,
}

/// What a limit is checked against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Measure {
    Rss,
    WorkingSet,
    DirectReserved,
    ZlibLive,
    LoadersAlive,
}

struct Watch {
    measure: Measure,
    limit: Limit,
    armed: bool,
    /// A percentage without its base was logged once.
    unresolved_logged: bool,
}

pub struct Watcher {
    watches: Vec<Watch>,
    direct_oom_armed: bool,
    check_direct_oom: bool,
    /// The sampler's period: a longer gap between two samples counts as two periods at most.
    period: Duration,
    stall: Option<Stall>,
}

/// What one check found.
#[derive(Debug, Default, PartialEq)]
pub struct Found {
    pub crossings: Vec<Crossing>,
    pub direct_exhausted: Option<Oom>,
    /// Percentages whose base is unknown (no cgroup limit, no MaxDirectMemorySize), to log once.
    pub unresolved: Vec<String>,
}

impl Watcher {
    pub fn new(limits: &Limits, check_direct_oom: bool, period: Duration) -> Watcher {
        let watches = [
            (Measure::Rss, &limits.rss),
            (Measure::WorkingSet, &limits.usage),
            (Measure::DirectReserved, &limits.direct),
            (Measure::ZlibLive, &limits.zlib),
            (Measure::LoadersAlive, &limits.loaders),
        ]
        .into_iter()
        .filter_map(|(measure, l)| l.as_ref().map(|l| Watch { measure, limit: l.clone(), armed: true, unresolved_logged: false }))
        .collect();
        Watcher { watches, direct_oom_armed: true, check_direct_oom, period, stall: None }
    }

    /// The direct pool is full: the sampler then reads the `DirectMarks`.
    pub fn direct_full(&self, v: &Values) -> bool {
        match (self.check_direct_oom, v.direct_reserved, v.direct_max) {
            (true, Some(r), Some(max)) => r >= full_line(max),
            _ => false,
        }
    }

    pub fn wants_working_set(&self) -> bool {
        self.watches.iter().any(|w| w.measure == Measure::WorkingSet)
    }

    pub fn wants_direct_pool(&self) -> bool {
        self.check_direct_oom || self.watches.iter().any(|w| w.measure == Measure::DirectReserved)
    }

    pub fn check(&mut self, v: &Values) -> Found {
        let mut found = Found::default();
        for w in &mut self.watches {
            let (value, unit, base) = match w.measure {
                Measure::Rss => (Some(v.rss), "bytes", v.cgroup_limit.map(|b| ("cgroup memory limit", b))),
                Measure::WorkingSet => (v.working_set, "bytes", v.cgroup_limit.map(|b| ("cgroup memory limit", b))),
                Measure::DirectReserved => (v.direct_reserved, "bytes", v.direct_max.map(|b| ("MaxDirectMemorySize", b))),
                Measure::ZlibLive => (v.zlib_live, "streams", None),
                Measure::LoadersAlive => (Some(v.loaders_alive), "loaders", None),
            };
            let threshold = match w.limit.level {
                Level::Bytes(n) | Level::Count(n) => Some(n),
                Level::Percent(p) => base.map(|(_, b)| (b as f64 * p / 100.0) as u64),
            };
            let (Some(value), Some(threshold)) = (value, threshold) else {
                if threshold.is_none() && !w.unresolved_logged {
                    w.unresolved_logged = true;
                    found.unresolved.push(format!(
                        "{}={}: no {} to take the percentage of; this limit stays inactive until there is one",
                        w.limit.option,
                        w.limit.raw,
                        if w.measure == Measure::DirectReserved { "MaxDirectMemorySize" } else { "memory cgroup limit" }
                    ));
                }
                continue;
            };
            let rearm_below = rearm(threshold);
            if w.armed && value >= threshold {
                w.armed = false;
                let pct = matches!(w.limit.level, Level::Percent(_));
                found.crossings.push(Crossing {
                    limit: w.limit.option.into(),
                    configured: w.limit.raw.clone(),
                    threshold,
                    value,
                    unit: unit.into(),
                    of: base.filter(|_| pct).map(|(n, _)| n.into()),
                    of_bytes: base.filter(|_| pct).map(|(_, b)| b),
                    rearm_below,
                });
            } else if !w.armed && value < rearm_below {
                w.armed = true;
            }
        }
        found.direct_exhausted = self.direct_exhausted(v);
        found
    }
}

impl Watcher {
    /// An `oom` of kind `direct` when the pool stayed full with nothing released for
    /// `DIRECT_STALL`; once, until the pool fell below 90% of the full line.
    fn direct_exhausted(&mut self, v: &Values) -> Option<Oom> {
        let (true, Some(r), Some(max)) = (self.check_direct_oom, v.direct_reserved, v.direct_max) else { return None };
        let full = full_line(max);
        if r < full {
            self.stall = None;
            self.direct_oom_armed |= r < rearm(full);
            return None;
        }
        let stalled = self.stalled_for(v, r);
        if !self.direct_oom_armed || stalled < DIRECT_STALL {
            return None;
        }
        self.direct_oom_armed = false;
        Some(Oom {
            kind: "direct".into(),
            description: format!(
                "direct buffer memory exhausted: {} reserved of MaxDirectMemorySize {}, nothing released for {:.1} s \
                 (longer than java.nio.Bits waits before it throws); the next ByteBuffer.allocateDirect larger than the {} \
                 left throws OutOfMemoryError (Cannot reserve ... bytes of direct buffer memory)",
                mib(r),
                mib(max),
                stalled.as_secs_f64(),
                mib(max.saturating_sub(r))
            ),
            count: 1,
        })
    }

    /// How long the JVM ran since the pool, full at this sample, last showed progress: a buffer
    /// released (the ledger's total), the pool's count or reserved bytes changed. A gap between
    /// samples counts as two periods at most, less the collections in it: a GC pause (the
    /// sampler waits for it in JNI, the Cleaner runs after it) is not the application waiting.
    fn stalled_for(&mut self, v: &Values, reserved: u64) -> Duration {
        let marks = v.direct_marks.unwrap_or_default();
        let progress = (marks.released, marks.count, reserved);
        match &mut self.stall {
            Some(s) if s.progress == progress => {
                let gap = v.at.saturating_sub(s.at).min(self.period.saturating_mul(2));
                let gc = Duration::from_millis(marks.gc_ms.unwrap_or(0).saturating_sub(s.gc_ms.unwrap_or(0)));
                s.stalled += gap.saturating_sub(gc);
                (s.at, s.gc_ms) = (v.at, marks.gc_ms);
                s.stalled
            }
            _ => {
                self.stall = Some(Stall { progress, at: v.at, gc_ms: marks.gc_ms, stalled: Duration::ZERO });
                Duration::ZERO
            }
        }
    }
}

fn full_line(max: u64) -> u64 {
    (max as u128 * DIRECT_FULL_PER_MILLE as u128 / 1000) as u64
}

fn rearm(threshold: u64) -> u64 {
    (threshold as u128 * REARM_PERCENT as u128 / 100) as u64
}

/// One sentence naming every crossing.
pub fn summary(crossings: &[Crossing]) -> String {
    let parts: Vec<String> = crossings
        .iter()
        .map(|c| {
            let show = |n: u64| if c.unit == "bytes" { mib(n) } else { format!("{n} {}", c.unit) };
            let of = match (&c.of, c.of_bytes) {
                (Some(of), Some(b)) => format!(" ({} of the {of}, {})", c.configured, mib(b)),
                _ => String::new(),
            };
            format!("{} crossed: {} against the threshold {}{of}", c.limit, show(c.value), show(c.threshold))
        })
        .collect();
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::options::parse;

    const PERIOD: Duration = Duration::from_millis(10);

    fn watcher(opts: &str) -> Watcher {
        Watcher::new(&parse(opts).unwrap().limits, true, PERIOD)
    }

    const MAX: u64 = 64 << 20;

    /// The direct pool at `ms` on the sampler's clock, with what the sampler reads when full.
    fn pool(ms: u64, reserved: u64, marks: DirectMarks) -> Values {
        let full = reserved >= full_line(MAX);
        Values {
            direct_reserved: Some(reserved),
            direct_max: Some(MAX),
            at: Duration::from_millis(ms),
            direct_marks: full.then_some(marks),
            ..Values::default()
        }
    }

    fn marks(released: Option<u64>, count: u64, gc_ms: u64) -> DirectMarks {
        DirectMarks { released, count: Some(count), gc_ms: Some(gc_ms) }
    }

    /// The sample (10 ms apart from `from`) at which the pool is first reported exhausted.
    fn exhausted_at(w: &mut Watcher, from: u64, to: u64, v: impl Fn(u64) -> Values) -> Option<u64> {
        (from..to).step_by(10).find(|&ms| w.check(&v(ms)).direct_exhausted.is_some())
    }

    #[test]
    fn one_report_per_crossing_with_hysteresis() {
        let mut w = watcher("zlib_limit=100");
        let mut reports = 0;
        // Up to 120, back to 95 (above the re-arm line 90), up again: one crossing; down to 0
        // and up: the second.
        for live in [10, 99, 100, 120, 95, 91, 130, 100, 89, 50, 0, 101, 150] {
            let f = w.check(&Values { zlib_live: Some(live), ..Values::default() });
            reports += f.crossings.len();
            if let Some(c) = f.crossings.first() {
                assert_eq!((c.threshold, c.rearm_below, c.unit.as_str()), (100, 90, "streams"));
            }
        }
        assert_eq!(reports, 2);
    }

    #[test]
    fn percentages_resolve_against_the_cgroup_limit() {
        let mut w = watcher("rss_limit=50%,usage_limit=3m");
        let v = Values { rss: 600, cgroup_limit: Some(1000), working_set: Some(3 << 20), ..Values::default() };
        let f = w.check(&v);
        assert_eq!(f.crossings.len(), 2);
        let c = &f.crossings[0];
        assert_eq!((c.limit.as_str(), c.threshold, c.value, c.of.as_deref(), c.of_bytes), ("rss_limit", 500, 600, Some("cgroup memory limit"), Some(1000)));
        assert_eq!((f.crossings[1].limit.as_str(), f.crossings[1].of.as_deref()), ("usage_limit", None));
        assert!(summary(&f.crossings).contains("rss_limit crossed"), "{}", summary(&f.crossings));
    }

    #[test]
    fn a_percentage_without_its_base_is_inactive_and_said_once() {
        let mut w = watcher("rss_limit=85%");
        let v = Values { rss: u64::MAX / 2, ..Values::default() };
        assert_eq!(w.check(&v).unresolved.len(), 1);
        let f = w.check(&v);
        assert!(f.unresolved.is_empty() && f.crossings.is_empty());
    }

    #[test]
    fn direct_exhaustion_and_direct_limit() {
        let mut w = watcher("direct_limit=80%");
        let m = marks(Some(0), 64, 0);
        let f = w.check(&pool(0, 40 << 20, m));
        assert!(f.crossings.is_empty() && f.direct_exhausted.is_none());
        let f = w.check(&pool(10, 52 << 20, m));
        assert_eq!(f.crossings[0].threshold, (MAX as f64 * 0.8) as u64);
        assert!(f.direct_exhausted.is_none());
        // Full with nothing released: reported once the JVM ran DIRECT_STALL since the first
        // full sample (20 ms), not before.
        let f = w.check(&pool(20, MAX, m));
        assert!(f.crossings.is_empty() && f.direct_exhausted.is_none(), "already crossed; full once");
        assert_eq!(exhausted_at(&mut w, 30, 5000, |ms| pool(ms, MAX, m)), Some(1020));
        let f = w.check(&pool(1030, MAX, m));
        assert!(f.direct_exhausted.is_none(), "once until it falls back");
        // Below the full line but above 90% of it: still not re-armed.
        w.check(&pool(1040, MAX / 100 * 95, m));
        assert_eq!(exhausted_at(&mut w, 1050, 5000, |ms| pool(ms, MAX, m)), None);
        w.check(&pool(5000, 0, m));
        let m = marks(Some(0), 0, 0);
        assert_eq!(exhausted_at(&mut w, 5010, 9000, |ms| pool(ms, MAX, m)), Some(6010));
        assert!(!watcher("").wants_working_set() && watcher("").wants_direct_pool());
    }

    #[test]
    fn a_full_direct_pool_being_released_is_not_exhausted() {
        let mut w = watcher("");
        // Buffers dropped and freed by the Cleaner between samples, the pool full at each:
        // released bytes grow, or (without the ledger) the pool's count moves.
        assert_eq!(exhausted_at(&mut w, 0, 10_000, |ms| pool(ms, MAX, marks(Some(ms / 50 * 65_536), 15, 0))), None);
        assert_eq!(exhausted_at(&mut w, 10_000, 20_000, |ms| pool(ms, MAX, marks(None, 15 - ms / 500 % 2, 0))), None);
        // Full at one sample in two: never full for long.
        assert_eq!(exhausted_at(&mut w, 20_000, 30_000, |ms| pool(ms, if ms % 20 == 0 { MAX } else { 0 }, marks(None, 15, 0))), None);
        // Then stalled: reported a second of samples later.
        assert_eq!(exhausted_at(&mut w, 30_000, 40_000, |ms| pool(ms, MAX, marks(Some(7), 15, 0))), Some(31_000));
    }

    #[test]
    fn gc_pauses_and_late_samples_are_not_a_stall() {
        let m = |gc_ms| marks(Some(0), 15, gc_ms);
        // Full before and after a 1.5 s GC pause the sampler waited out, nothing released
        // between (the Cleaner runs after the pause): 1.5 s of collection time in the gap.
        let mut w = watcher("");
        assert!(w.check(&pool(0, MAX, m(100))).direct_exhausted.is_none());
        assert!(w.check(&pool(1500, MAX, m(1600))).direct_exhausted.is_none());
        // Freed after it.
        assert!(w.check(&pool(1510, MAX, marks(Some(65_536), 14, 1600))).direct_exhausted.is_none());
        // A gap the collectors do not account for (a safepoint, the process stopped) counts as
        // two periods: 20 ms, far below a second.
        let mut w = watcher("");
        for (i, ms) in [0, 1500, 3000, 4500].into_iter().enumerate() {
            assert!(w.check(&pool(ms, MAX, m(0))).direct_exhausted.is_none(), "sample {i}");
        }
        // A stall with a GC in it (Bits' System.gc()): the pause does not count.
        let mut w = watcher("");
        w.check(&pool(0, MAX, m(0)));
        w.check(&pool(300, MAX, m(290)));
        assert_eq!(exhausted_at(&mut w, 310, 5000, |ms| pool(ms, MAX, m(290))), Some(1300));
        // A long period: two full samples a period apart are enough, less their GC time.
        let mut w = Watcher::new(&parse("").unwrap().limits, true, Duration::from_secs(1));
        w.check(&pool(0, MAX, m(0)));
        assert!(w.check(&pool(1000, MAX, m(300))).direct_exhausted.is_none());
        assert!(w.check(&pool(2000, MAX, m(300))).direct_exhausted.is_some());
    }
}
