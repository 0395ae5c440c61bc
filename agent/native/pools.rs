//! Growth across reports, and the pooled allocators of the direct ledger. A pool (Netty's
//! `PooledByteBufAllocator`: 4 MiB chunks per arena, kept for the allocator's life by design)
//! looks like direct memory that is never freed; what tells a pool from a leak is whether its
//! chunks keep rising from report to report. A site that frees its blocks (and Netty 4.2's
//! adaptive allocator, whose chunks are freed once their buffers are) is judged by its kept
//! blocks instead: those born in closed age periods and still live, which buffers in flight
//! never are, however high they swing. Report thread only; nothing here is on the hot path.

use leakagent_report::model::{Direct, DirectPool, DirectSite, Rising};
use std::collections::{HashMap, HashSet};

/// A site's frame that allocates a Netty pool chunk (also under a shaded package, as gRPC's
/// `io.grpc.netty.shaded.io.netty`). `newUnpooledChunk` (huge buffers) is one block per buffer,
/// freed with it: no pool.
const NETTY_CHUNK: &str = "netty.buffer.PoolArena$DirectArena.newChunk(";

/// Netty 4.2's AdaptiveByteBufAllocator (the default from 4.2 on, `io.netty.allocator.type`):
/// every direct chunk, and every buffer above its largest chunk, comes from here; a chunk is
/// freed once its buffers are released and it is not kept for reuse.
const NETTY_ADAPTIVE_CHUNK: &str = "netty.buffer.AdaptiveByteBufAllocator$DirectChunkAllocator.allocate(";

/// The pool whose chunks a stack allocates, if any.
pub fn pool_of(stack: &[String]) -> Option<&'static str> {
    stack.iter().find_map(|f| {
        if f.contains(NETTY_CHUNK) {
            Some("netty")
        } else if f.contains(NETTY_ADAPTIVE_CHUNK) {
            Some("netty-adaptive")
        } else {
            None
        }
    })
}

/// The frame of a stack that allocates a pool's chunk (named in findings).
pub fn chunk_frame(stack: &[String]) -> Option<&String> {
    stack.iter().find(|f| f.contains(NETTY_CHUNK) || f.contains(NETTY_ADAPTIVE_CHUNK))
}

/// Whether a frame is Netty's own code (also shaded): the place of a finding is the first frame
/// below it, the code that asked Netty for the buffer.
pub fn is_netty(frame: &str) -> bool {
    frame.starts_with("io.netty.") || frame.contains(".shaded.io.netty.")
}

/// The high-water mark of one series (a site, a pool) and its current streak of rises.
#[derive(Clone, Copy, Debug)]
struct Level {
    high_water: u64,
    reports: u32,
    start: u64,
    /// Kept periods at the last report, and its verdict (kept series only).
    periods: usize,
    last: Option<Rising>,
}

/// A series' kept blocks at one report: blocks (compared: the bytes are an estimate from the
/// site's mean live block, which buffers in flight swing), bytes, and per closed period the
/// blocks still live.
struct Kept<'a> {
    count: u64,
    bytes: u64,
    by_age: &'a [u64],
    /// Whether the blocks are freed by their owner, not left to the GC: a buffer waiting for a
    /// GC is live at any age and proves nothing.
    freed_explicitly: bool,
}

/// Every series' level, from one report to the next.
#[derive(Default)]
pub struct Rises {
    levels: HashMap<String, Level>,
}

impl Rises {
    /// The next report's value of `key`: a rise past every earlier report's extends the streak,
    /// anything else ends it. The first report of a series has no earlier one: no rise.
    fn rise(&mut self, key: String, live: u64) -> (Option<Rising>, u64) {
        let Some(l) = self.levels.get_mut(&key) else {
            self.levels.insert(key, Level { high_water: live, reports: 0, start: live, periods: 0, last: None });
            return (None, 0);
        };
        let before = l.high_water;
        if live > l.high_water {
            if l.reports == 0 {
                l.start = l.high_water;
            }
            l.reports += 1;
            l.high_water = live;
            (Some(Rising { reports: l.reports, bytes: live - l.start }), before)
        } else {
            l.reports = 0;
            (None, before)
        }
    }

    /// The next report's kept blocks of `key`: they pile up when every closed period since the
    /// oldest that holds some (periods before the site's first blocks hold none) still holds some
    /// and they rose past every earlier report's; that extends the streak, by the blocks added at
    /// the kept blocks' mean size.
    /// When they hold and no period was kept since the last report (reports a second apart or
    /// less, a period being kept once it has been over a second), the last verdict stands: the
    /// number of kept periods did not grow (it shrinks when the two oldest merge, every age slot
    /// busy: `DirectLedger::merge_oldest`). A period kept since with nothing added (a warm-up
    /// that levelled off) ends the streak, as does anything else.
    fn keep(&mut self, key: String, k: &Kept<'_>) -> Option<Rising> {
        let since_first: Vec<u64> = k.by_age.iter().copied().skip_while(|&n| n == 0).collect();
        let piling = k.freed_explicitly && !since_first.is_empty() && since_first.iter().all(|&n| n > 0);
        let l = self.levels.entry(key).or_insert(Level { high_water: 0, reports: 0, start: 0, periods: 0, last: None });
        let verdict = if piling && k.count > l.high_water {
            if l.reports == 0 {
                l.start = l.high_water;
            }
            l.reports += 1;
            let added = (k.bytes as u128 * (k.count - l.start) as u128 / k.count as u128) as u64;
            Some(Rising { reports: l.reports, bytes: added })
        } else if piling && k.by_age.len() <= l.periods && k.count >= l.high_water {
            l.last
        } else {
            l.reports = 0;
            None
        };
        l.high_water = l.high_water.max(k.count);
        l.periods = k.by_age.len();
        l.last = verdict;
        verdict
    }

    /// Sets `rising` on every site and fills `direct.pools`. Sites are keyed by id and stack
    /// (an evicted site's id may serve another place later).
    pub fn judge(&mut self, direct: &mut Direct) {
        let mut seen = HashSet::new();
        for s in &mut direct.sites {
            let key = site_key(s);
            seen.insert(key.clone());
            let by_age: Vec<u64> = s.kept_by_age.iter().map(|p| p.count).collect();
            s.rising = self.keep(key, &Kept { count: s.kept_count, bytes: s.kept_bytes, by_age: &by_age, freed_explicitly: explicit(s.frees, s.freed_by_gc) });
        }
        direct.pools.clear();
        for allocator in ["netty", "netty-adaptive"] {
            let chunks: Vec<&DirectSite> = direct.sites.iter().filter(|s| pool_of(&s.stack) == Some(allocator)).collect();
            if chunks.is_empty() {
                continue;
            }
            let live_bytes = chunks.iter().map(|s| s.live_bytes).sum();
            let kept_count = chunks.iter().map(|s| s.kept_count).sum();
            let kept_bytes = chunks.iter().map(|s| s.kept_bytes).sum();
            let key = format!("pool {allocator}");
            seen.insert(key.clone());
            let (rising, high_water_bytes) = if allocator == "netty" {
                // Chunks kept for the allocator's life: only a rise of all of them tells, and a
                // rise of its kept chunks with it. A warm-up's new chunks are young while they
                // rise, and once they are kept the pool has levelled off: a leak's chunks age
                // and rise at once.
                let kept_key = format!("{key} kept");
                seen.insert(kept_key.clone());
                let kept = self.rise(kept_key, kept_count).0;
                let (live, high_water) = self.rise(key, live_bytes);
                (live.zip(kept).map(|(l, k)| Rising { reports: l.reports.min(k.reports), bytes: l.bytes }), high_water)
            } else {
                // Every site's kept blocks per closed period (the columns are the same periods).
                let mut by_age = vec![0; chunks[0].kept_by_age.len()];
                for s in &chunks {
                    for (t, p) in by_age.iter_mut().zip(&s.kept_by_age) {
                        *t += p.count;
                    }
                }
                let (frees, gc) = chunks.iter().fold((0, 0), |(f, g), s| (f + s.frees, g + s.freed_by_gc));
                let live_key = format!("{key} live");
                seen.insert(live_key.clone());
                let high_water = self.rise(live_key, live_bytes).1;
                (self.keep(key, &Kept { count: kept_count, bytes: kept_bytes, by_age: &by_age, freed_explicitly: explicit(frees, gc) }), high_water)
            };
            direct.pools.push(DirectPool {
                allocator: allocator.into(),
                sites: chunks.iter().map(|s| s.id).collect(),
                chunks: chunks.iter().map(|s| s.live_count).sum(),
                live_bytes,
                high_water_bytes,
                rising,
                kept_count,
                kept_bytes,
            });
        }
        self.levels.retain(|k, _| seen.contains(k));
    }
}

/// Whether a site's blocks are freed by their owner: at most a tenth of its frees ran on a GC
/// cleanup thread.
fn explicit(frees: u64, freed_by_gc: u64) -> bool {
    freed_by_gc * 10 <= frees
}

fn site_key(s: &DirectSite) -> String {
    format!("{}|{}", s.id, s.stack.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakagent_report::model::KeptPeriod;

    fn site(id: u32, frame: &str, live: u64) -> DirectSite {
        DirectSite { id, stack: vec!["java.nio.ByteBuffer.allocateDirect(ByteBuffer.java:332)".into(), frame.into()], live_bytes: live, live_count: live >> 22, ..DirectSite::default() }
    }

    const CHUNK: &str = "io.netty.buffer.PoolArena$DirectArena.newChunk(PoolArena.java:693)";

    #[test]
    fn a_pool_that_plateaus_never_rises_and_one_that_keeps_growing_does() {
        let mut r = Rises::default();
        let mut d = Direct { sites: vec![site(1, CHUNK, 8 << 20), site(2, "a.B.c(B.java:1)", 1 << 20)], ..Direct::default() };
        r.judge(&mut d);
        assert_eq!((d.pools.len(), d.pools[0].rising, d.pools[0].chunks), (1, None, 2), "the first report has nothing to rise past");
        assert_eq!(d.pools[0].sites, vec![1]);
        // A leak's chunks rise, and age: its kept chunks rise with them.
        (d.sites[0].live_bytes, d.sites[0].kept_count) = (12 << 20, 1);
        r.judge(&mut d);
        assert_eq!(d.pools[0].rising, Some(Rising { reports: 1, bytes: 4 << 20 }));
        assert_eq!(d.pools[0].high_water_bytes, 8 << 20);
        (d.sites[0].live_bytes, d.sites[0].kept_count) = (20 << 20, 3);
        r.judge(&mut d);
        assert_eq!(d.pools[0].rising, Some(Rising { reports: 2, bytes: 12 << 20 }));
        assert_eq!(d.sites[0].rising, None, "a site rises by its kept blocks");
        assert_eq!(d.sites[1].rising, None);
        // Back under the high-water mark: the streak ends, and a later rise starts a new one.
        d.sites[0].live_bytes = 16 << 20;
        r.judge(&mut d);
        assert_eq!(d.pools[0].rising, None);
        (d.sites[0].live_bytes, d.sites[0].kept_count) = (24 << 20, 5);
        r.judge(&mut d);
        assert_eq!(d.pools[0].rising, Some(Rising { reports: 1, bytes: 4 << 20 }));
    }

    /// A warm-up (the ramp of tests/netty.rs with a report every second: 32 then 64
    /// connections whose responses wait 50 ms): the pool rose 8 -> 16 -> 24 MiB at 2 reports in a
    /// row while its new chunks were young, and its kept chunks rose once they aged, while the
    /// pool held still: never both at once, never a rise.
    #[test]
    fn a_pool_warming_up_rises_while_its_chunks_are_young_and_is_no_rise() {
        let mut r = Rises::default();
        let live = [4, 8, 8, 8, 8, 16, 24, 16, 16];
        let kept = [0, 0, 2, 2, 2, 2, 2, 3, 4];
        for (l, k) in live.into_iter().zip(kept) {
            let mut d = Direct { sites: vec![site(1, CHUNK, l << 20)], ..Direct::default() };
            d.sites[0].kept_count = k;
            r.judge(&mut d);
            assert_eq!(d.pools[0].rising, None, "{l} MiB, {k} kept");
        }
    }

    /// A site with `kept` blocks per closed period (`live` in all) and `live` MiB.
    fn kept_site(id: u32, frame: &str, kept: &[u64], live: u64) -> DirectSite {
        let mut s = site(id, frame, live << 20);
        s.kept_by_age = kept.iter().enumerate().map(|(i, &count)| KeptPeriod { age_ms: 10_000 * (kept.len() - i) as u64, count }).collect();
        s.kept_count = kept.iter().sum();
        s.live_count = s.kept_count.max(1) * 2;
        s.kept_bytes = (live << 20) * s.kept_count / s.live_count;
        (s.frees, s.allocations) = (10_000, 10_000 + s.live_count);
        s
    }

    #[test]
    fn kept_blocks_that_pile_up_by_age_rise_and_a_swing_in_flight_does_not() {
        let mut r = Rises::default();
        // Buffers in flight swinging 14 -> 41 -> 34 MiB: none outlives its period.
        for live in [14, 41, 34, 60] {
            let mut d = Direct { sites: vec![kept_site(1, "a.B.c(B.java:1)", &[0, 0], live)], ..Direct::default() };
            r.judge(&mut d);
            assert_eq!(d.sites[0].rising, None, "{live} MiB in flight");
        }
        // Kept blocks in every closed period, more at each report, whatever the swing.
        let mut r = Rises::default();
        let mut verdicts = Vec::new();
        for (kept, live) in [(&[][..], 14), (&[600][..], 41), (&[600, 600][..], 34), (&[600, 600, 600][..], 60)] {
            let mut d = Direct { sites: vec![kept_site(1, "a.B.c(B.java:1)", kept, live)], ..Direct::default() };
            r.judge(&mut d);
            verdicts.push(d.sites[0].rising.map(|x| x.reports));
        }
        assert_eq!(verdicts, [None, Some(1), Some(2), Some(3)]);
        // Periods closed before the site's first block (start-up) hold none of its blocks.
        let mut r = Rises::default();
        let mut verdicts = Vec::new();
        for kept in [&[0][..], &[0, 300][..], &[0, 300, 571, 4][..]] {
            let mut d = Direct { sites: vec![kept_site(1, "a.B.c(B.java:1)", kept, 40)], ..Direct::default() };
            r.judge(&mut d);
            verdicts.push(d.sites[0].rising.map(|x| x.reports));
        }
        assert_eq!(verdicts, [None, Some(1), Some(2)]);
        // No period kept since the last report: the verdict stands while the kept blocks hold...
        let mut d = Direct { sites: vec![kept_site(1, "a.B.c(B.java:1)", &[600, 600, 600], 60)], ..Direct::default() };
        r.judge(&mut d);
        assert_eq!(d.sites[0].rising.map(|x| x.reports), Some(3));
        // ...also when the two oldest periods merged (every age slot busy) and the period the
        // last report closed is not kept yet: fewer kept periods, the same blocks...
        let mut d = Direct { sites: vec![kept_site(1, "a.B.c(B.java:1)", &[1200, 600], 60)], ..Direct::default() };
        r.judge(&mut d);
        assert_eq!(d.sites[0].rising.map(|x| x.reports), Some(3));
        // ...but a period kept since, with no block added, ends it (a warm-up's step: its
        // verdict must not carry over to the next rise)...
        let mut d = Direct { sites: vec![kept_site(1, "a.B.c(B.java:1)", &[1199, 600, 1], 60)], ..Direct::default() };
        r.judge(&mut d);
        assert_eq!(d.sites[0].rising, None);
        // ...and a period of the site's without kept blocks (a warm-up that levelled off) ends it.
        let mut d = Direct { sites: vec![kept_site(1, "a.B.c(B.java:1)", &[600, 600, 600, 0], 60)], ..Direct::default() };
        r.judge(&mut d);
        assert_eq!(d.sites[0].rising, None);
        // Buffers left to the GC are live at any age: no evidence.
        let mut r = Rises::default();
        for kept in [&[][..], &[600][..], &[600, 600][..]] {
            let mut d = Direct { sites: vec![kept_site(1, "a.B.c(B.java:1)", kept, 40)], ..Direct::default() };
            d.sites[0].freed_by_gc = 5_000;
            r.judge(&mut d);
            assert_eq!(d.sites[0].rising, None);
        }
    }

    const ADAPTIVE: &str = "io.netty.buffer.AdaptiveByteBufAllocator$DirectChunkAllocator.allocate(AdaptiveByteBufAllocator.java:114)";

    #[test]
    fn netty_4_2s_adaptive_chunks_are_a_pool_judged_by_its_kept_chunks() {
        let mut r = Rises::default();
        let mut verdicts = Vec::new();
        for kept in [&[][..], &[100][..], &[100, 90][..]] {
            let mut d = Direct { sites: vec![kept_site(1, ADAPTIVE, kept, 40), kept_site(2, "a.B.c(B.java:1)", &[0; 2][..kept.len()], 1)], ..Direct::default() };
            r.judge(&mut d);
            assert_eq!((d.pools.len(), d.pools[0].allocator.as_str(), &d.pools[0].sites), (1, "netty-adaptive", &vec![1]));
            verdicts.push(d.pools[0].rising.map(|x| x.reports));
        }
        assert_eq!(verdicts, [None, Some(1), Some(2)]);
        // A healthy allocator's chunks in use stay young, or few and level: no rise.
        let mut r = Rises::default();
        for kept in [&[][..], &[4][..], &[4, 0][..], &[4, 0, 0][..]] {
            let mut d = Direct { sites: vec![kept_site(1, ADAPTIVE, kept, 16)], ..Direct::default() };
            r.judge(&mut d);
            assert!(d.pools[0].rising.is_none() || kept.len() == 1, "{kept:?}: {:?}", d.pools[0].rising);
        }
    }

    #[test]
    fn huge_buffers_and_shaded_netty() {
        assert_eq!(pool_of(&["io.netty.buffer.PoolArena$DirectArena.newUnpooledChunk(PoolArena.java:707)".into()]), None);
        assert_eq!(pool_of(&["io.grpc.netty.shaded.io.netty.buffer.PoolArena$DirectArena.newChunk(PoolArena.java:1)".into()]), Some("netty"));
        assert_eq!(
            pool_of(&["io.grpc.netty.shaded.io.netty.buffer.AdaptiveByteBufAllocator$DirectChunkAllocator.allocate(AdaptiveByteBufAllocator.java:1)".into()]),
            Some("netty-adaptive")
        );
        assert!(is_netty("io.grpc.netty.shaded.io.netty.buffer.PoolArena.allocate(PoolArena.java:1)"));
        assert!(!is_netty("leakagent.netty.LeakyHandler.channelRead(LeakyHandler.java:30)"));
    }
}
