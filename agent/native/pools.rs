//! Growth across reports, and the pooled allocators of the direct ledger. A pool (Netty's
//! `PooledByteBufAllocator`: 4 MiB chunks per arena, kept for the allocator's life by design)
//! looks like direct memory that is never freed; what tells a pool from a leak is whether its
//! chunks keep rising from report to report. Report thread only; nothing here is on the hot path.

use leakagent_report::model::{Direct, DirectPool, DirectSite, Rising};
use std::collections::{HashMap, HashSet};

/// A site's frame that allocates a Netty pool chunk (also under a shaded package, as gRPC's
/// `io.grpc.netty.shaded.io.netty`). `newUnpooledChunk` (huge buffers) is one block per buffer,
/// freed with it: no pool.
const NETTY_CHUNK: &str = "netty.buffer.PoolArena$DirectArena.newChunk(";

pub fn netty_chunks(stack: &[String]) -> bool {
    stack.iter().any(|f| f.contains(NETTY_CHUNK))
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
            self.levels.insert(key, Level { high_water: live, reports: 0, start: live });
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

    /// Sets `rising` on every site and fills `direct.pools`. Sites are keyed by id and stack
    /// (an evicted site's id may serve another place later).
    pub fn judge(&mut self, direct: &mut Direct) {
        let mut seen = HashSet::new();
        for s in &mut direct.sites {
            let key = site_key(s);
            seen.insert(key.clone());
            s.rising = self.rise(key, s.live_bytes).0;
        }
        let chunks: Vec<&DirectSite> = direct.sites.iter().filter(|s| netty_chunks(&s.stack)).collect();
        direct.pools.clear();
        if !chunks.is_empty() {
            let live_bytes = chunks.iter().map(|s| s.live_bytes).sum();
            let key = "pool netty".to_string();
            seen.insert(key.clone());
            let (rising, high_water_bytes) = self.rise(key, live_bytes);
            direct.pools.push(DirectPool {
                allocator: "netty".into(),
                sites: chunks.iter().map(|s| s.id).collect(),
                chunks: chunks.iter().map(|s| s.live_count).sum(),
                live_bytes,
                high_water_bytes,
                rising,
            });
        }
        self.levels.retain(|k, _| seen.contains(k));
    }
}

fn site_key(s: &DirectSite) -> String {
    format!("{}|{}", s.id, s.stack.join("|"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        d.sites[0].live_bytes = 12 << 20;
        r.judge(&mut d);
        assert_eq!(d.pools[0].rising, Some(Rising { reports: 1, bytes: 4 << 20 }));
        assert_eq!(d.pools[0].high_water_bytes, 8 << 20);
        d.sites[0].live_bytes = 20 << 20;
        r.judge(&mut d);
        assert_eq!(d.pools[0].rising, Some(Rising { reports: 2, bytes: 12 << 20 }));
        assert_eq!(d.sites[0].rising, Some(Rising { reports: 2, bytes: 12 << 20 }));
        assert_eq!(d.sites[1].rising, None);
        // Back under the high-water mark: the streak ends, and a later rise starts a new one.
        d.sites[0].live_bytes = 16 << 20;
        r.judge(&mut d);
        assert_eq!(d.pools[0].rising, None);
        d.sites[0].live_bytes = 24 << 20;
        r.judge(&mut d);
        assert_eq!(d.pools[0].rising, Some(Rising { reports: 1, bytes: 4 << 20 }));
    }

    #[test]
    fn huge_buffers_and_shaded_netty() {
        assert!(!netty_chunks(&["io.netty.buffer.PoolArena$DirectArena.newUnpooledChunk(PoolArena.java:707)".into()]));
        assert!(netty_chunks(&["io.grpc.netty.shaded.io.netty.buffer.PoolArena$DirectArena.newChunk(PoolArena.java:1)".into()]));
        assert!(is_netty("io.grpc.netty.shaded.io.netty.buffer.PoolArena.allocate(PoolArena.java:1)"));
        assert!(!is_netty("leakagent.netty.LeakyHandler.channelRead(LeakyHandler.java:30)"));
    }
}
