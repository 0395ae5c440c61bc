//! How long a report may take. Ordinary reports have the chain search's own limits only; the exit
//! report must fit into `exit_timeout` whatever it does, and a report in flight when the JVM
//! starts to exit is asked to wrap up so that the exit report gets the time.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Set when VM death begins: long steps of a report in flight (the chain search) stop early.
static WRAP_UP: AtomicBool = AtomicBool::new(false);

pub fn request_wrap_up() {
    WRAP_UP.store(true, Relaxed);
}

#[derive(Clone, Copy, Debug)]
pub struct Budget {
    deadline: Option<Instant>,
    /// The exit report's end (`exit_timeout`): the deadline plus the reserve the steps after
    /// the chain search share.
    end: Option<Instant>,
    /// The exit report itself ignores the wrap-up request meant for reports in flight.
    exit_report: bool,
}

impl Budget {
    /// No deadline beyond each step's own limits.
    pub fn open() -> Budget {
        Budget { deadline: None, end: None, exit_report: false }
    }

    /// The exit report: done by `deadline`, keeping `reserve` for rendering and writing files.
    pub fn exit(deadline: Instant, reserve: Duration) -> Budget {
        Budget { deadline: Some(deadline.checked_sub(reserve).unwrap_or(deadline)), end: Some(deadline), exit_report: true }
    }

    /// Time left to the exit report's end (its reserve included), None without a deadline.
    pub fn until_end(&self) -> Option<Duration> {
        self.end.map(|d| d.saturating_duration_since(Instant::now()))
    }

    pub fn is_exit(&self) -> bool {
        self.exit_report
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left, None when there is no deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// True when long work should stop now: the deadline passed, or (for a report that is not
    /// the exit report) the JVM began to exit.
    pub fn stop_now(&self) -> bool {
        (!self.exit_report && WRAP_UP.load(Relaxed)) || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Which limit `stop_now` met, in the words of the option that sets it.
    pub fn stop_reason(&self) -> &'static str {
        if self.exit_report {
            "exit_timeout reached (the exit report must be written within it)"
        } else {
            "the JVM began to exit (the exit report gets the time)"
        }
    }

    /// This budget with its deadline moved to half of the time left: for a step of the exit
    /// report whose work can stop midway, so that the steps after it keep time of their own.
    pub fn half_left(&self) -> Budget {
        let now = Instant::now();
        Budget { deadline: self.deadline.map(|d| now + d.saturating_duration_since(now) / 2), ..*self }
    }

    /// The smaller of `limit` and the time left.
    pub fn cap(&self, limit: Duration) -> Duration {
        self.remaining().map_or(limit, |r| r.min(limit))
    }
}

/// What the exit report keeps for the steps after the chain search (findings, rendering,
/// writing): a fifth of the timeout, 0.5 s to 2 s.
pub fn write_reserve(timeout: Duration) -> Duration {
    (timeout / 5).clamp(Duration::from_millis(500), Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_budget_keeps_a_reserve_and_expires() {
        let now = Instant::now();
        let b = Budget::exit(now + Duration::from_secs(10), Duration::from_secs(2));
        let left = b.remaining().unwrap();
        assert!(left <= Duration::from_secs(8) && left > Duration::from_secs(7), "{left:?}");
        assert!(!b.stop_now());
        assert!(b.cap(Duration::from_secs(60)) <= Duration::from_secs(8));
        assert_eq!(b.cap(Duration::from_millis(5)), Duration::from_millis(5));
        let past = Budget::exit(now, Duration::from_secs(1));
        assert!(past.stop_now());
        assert_eq!(past.cap(Duration::from_secs(5)), Duration::ZERO);
        assert!(Budget::open().remaining().is_none() && Budget::open().until_end().is_none());
        assert!(b.until_end().unwrap() > Duration::from_secs(9), "the end keeps the reserve");
        let half = b.half_left().remaining().unwrap();
        assert!(half <= Duration::from_secs(4) && half > Duration::from_millis(3500), "{half:?}");
        assert!(half_left_of_open_is_open());
        assert_eq!(Budget::open().cap(Duration::from_secs(3)), Duration::from_secs(3));
    }

    fn half_left_of_open_is_open() -> bool {
        Budget::open().half_left().deadline().is_none() && !Budget::open().half_left().stop_now()
    }

    #[test]
    fn reserve_is_bounded() {
        assert_eq!(write_reserve(Duration::from_secs(1)), Duration::from_millis(500));
        assert_eq!(write_reserve(Duration::from_secs(10)), Duration::from_secs(2));
        assert_eq!(write_reserve(Duration::from_secs(600)), Duration::from_secs(2));
    }
}
