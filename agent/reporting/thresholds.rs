//! The limit options (`rss_limit`, `usage_limit`, `direct_limit`, `zlib_limit`,
//! `loaders_limit`) and direct buffer exhaustion, checked by the sampler on the numbers it has
//! just read: a few comparisons per sample. A limit reports once when its value crosses it
//! upwards and re-arms only after the value fell below `REARM` of it, so a value hovering at
//! the line writes one report, not one per sample.

use crate::core::options::{Level, Limit, Limits};
use leakagent_report::model::{Crossing, Oom};
use leakagent_report::units::mib;

/// Re-arm below 90% of the threshold.
const REARM_PERCENT: u64 = 90;
/// Direct buffer memory counts as exhausted when less than this share of MaxDirectMemorySize
/// is left (per mille): the next allocateDirect larger than what is left throws.
const DIRECT_FULL_PER_MILLE: u64 = 990;

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
    pub fn new(limits: &Limits, check_direct_oom: bool) -> Watcher {
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
        Watcher { watches, direct_oom_armed: true, check_direct_oom }
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
        if let (true, Some(r), Some(max)) = (self.check_direct_oom, v.direct_reserved, v.direct_max) {
            let full = (max as u128 * DIRECT_FULL_PER_MILLE as u128 / 1000) as u64;
            if self.direct_oom_armed && r >= full {
                self.direct_oom_armed = false;
                found.direct_exhausted = Some(Oom {
                    kind: "direct".into(),
                    description: format!(
                        "direct buffer memory exhausted: {} reserved of MaxDirectMemorySize {}; the next \
                         ByteBuffer.allocateDirect larger than the {} left throws OutOfMemoryError (Cannot reserve ... \
                         bytes of direct buffer memory)",
                        mib(r),
                        mib(max),
                        mib(max.saturating_sub(r))
                    ),
                    count: 1,
                });
            } else if !self.direct_oom_armed && r < rearm(full) {
                self.direct_oom_armed = true;
            }
        }
        found
    }
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

    fn watcher(opts: &str) -> Watcher {
        Watcher::new(&parse(opts).unwrap().limits, true)
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
        let max = 64 << 20;
        let at = |r: u64| Values { direct_reserved: Some(r), direct_max: Some(max), ..Values::default() };
        let f = w.check(&at(40 << 20));
        assert!(f.crossings.is_empty() && f.direct_exhausted.is_none());
        let f = w.check(&at(52 << 20));
        assert_eq!(f.crossings[0].threshold, (max as f64 * 0.8) as u64);
        assert!(f.direct_exhausted.is_none());
        let f = w.check(&at(max));
        assert!(f.crossings.is_empty(), "already reported");
        assert_eq!(f.direct_exhausted.unwrap().kind, "direct");
        assert!(w.check(&at(max)).direct_exhausted.is_none(), "once until it falls back");
        w.check(&at(0));
        assert!(w.check(&at(max)).direct_exhausted.is_some());
        assert!(!watcher("").wants_working_set() && watcher("").wants_direct_pool());
    }
}
