//! The bounded ring the sampler thread (sampling.rs) records samples into. When the ring is
//! full its older half is thinned to every second sample, so memory stays bounded, recent samples
//! stay dense and the start of the run is never lost.

use leakagent_report::model::Sample;

#[derive(Clone, Debug, Default)]
pub struct SampleRing {
    cap: usize,
    samples: Vec<Sample>,
    pub taken: u64,
    pub thinned: u64,
    /// Cost of taking a sample, in microseconds.
    pub cost_us_max: u64,
    pub cost_us_total: u64,
}

impl SampleRing {
    pub fn new(cap: usize) -> SampleRing {
        SampleRing { cap: cap.max(4), samples: Vec::with_capacity(cap.max(4)), ..SampleRing::default() }
    }

    pub fn capacity(&self) -> usize {
        self.cap
    }

    /// Adds a sample in time order (the report thread's sample may race the sampler's).
    pub fn push(&mut self, s: Sample) {
        if self.samples.len() >= self.cap {
            self.thin();
        }
        let at = self.samples.iter().rposition(|x| x.t_ms <= s.t_ms).map(|i| i + 1).unwrap_or(0);
        self.samples.insert(at, s);
        self.taken += 1;
    }

    /// Keeps every second sample of the older half (the first sample always stays).
    fn thin(&mut self) {
        let half = self.samples.len() / 2;
        let mut i = 0;
        self.samples.retain(|_| {
            let keep = i >= half || i % 2 == 0;
            i += 1;
            keep
        });
        self.thinned += 1;
    }

    pub fn samples(&self) -> Vec<Sample> {
        self.samples.clone()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.samples.len()
    }

}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: u64) -> Sample {
        Sample { t_ms: t, rss_bytes: t * 10, ..Sample::default() }
    }

    #[test]
    fn ring_is_bounded_keeps_the_first_and_the_newest() {
        let mut r = SampleRing::new(16);
        for t in 0..10_000 {
            r.push(s(t));
            assert!(r.len() <= 16);
        }
        let v = r.samples();
        assert_eq!(v.first().unwrap().t_ms, 0, "the first sample survives every thinning");
        assert_eq!(v.last().unwrap().t_ms, 9_999);
        assert!(v.windows(2).all(|w| w[0].t_ms < w[1].t_ms), "ordered");
        assert_eq!(r.taken, 10_000);
        assert!(r.thinned > 100);
        // Recent samples are dense: the newest half is consecutive.
        let tail = &v[v.len() - 4..];
        assert!(tail.windows(2).all(|w| w[1].t_ms - w[0].t_ms == 1), "{tail:?}");
    }

    #[test]
    fn a_late_sample_is_put_in_time_order() {
        let mut r = SampleRing::new(16);
        for t in [10, 20, 30] {
            r.push(s(t));
        }
        r.push(s(25));
        r.push(s(30));
        let t: Vec<u64> = r.samples().iter().map(|x| x.t_ms).collect();
        assert_eq!(t, [10, 20, 25, 30, 30]);
    }

    #[test]
    fn ring_below_capacity_keeps_everything() {
        let mut r = SampleRing::new(600);
        for t in 0..100 {
            r.push(s(t));
        }
        assert_eq!(r.len(), 100);
        assert_eq!(r.thinned, 0);
        assert!(SampleRing::new(0).capacity() >= 4);
    }
}
