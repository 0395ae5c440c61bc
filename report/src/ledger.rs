//! The two native ledgers, zlib streams and direct memory, read alike: a renderer writes a
//! ledger's section once and loops over `ledgers(report)` instead of repeating it per ledger.
//! What only one ledger has (zlib's releases before tracking, the JDK's direct pool) stays
//! reachable through `source`.

use crate::model::{Direct, Report, Tracking, Zlib, ZlibPool};

/// The model section a ledger was read from.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    Zlib(&'a Zlib),
    Direct(&'a Direct),
}

/// One ledger's numbers, as the renderers read them.
pub struct Ledger<'a> {
    /// `zlib` or `direct`: the metrics' `ledger` label.
    pub name: &'static str,
    pub source: Source<'a>,
    pub tracking: Tracking,
    /// Why tracking is not `full`.
    pub reason: &'a Option<String>,
    /// Live streams (zlib) or blocks (direct), and their bytes (estimated for zlib).
    pub live: u64,
    pub live_bytes: u64,
    /// The two kinds the ledger tells apart: Inflater and Deflater, DirectByteBuffer and Unsafe.
    pub kinds: [Kind; 2],
    /// Every site, in the ledger's order (worst first).
    pub sites: Vec<Site<'a>>,
}

/// One kind's totals.
pub struct Kind {
    pub name: &'static str,
    pub live: u64,
    pub live_bytes: u64,
    /// Streams created (zlib), blocks allocated (direct).
    pub created: u64,
    pub released: Released,
}

/// Streams or blocks released: zlib tells `end()` from the GC, direct memory counts frees.
#[derive(Clone, Copy)]
pub enum Released {
    EndOrGc { ended: u64, by_gc: u64 },
    Freed(u64),
}

impl Released {
    /// The counts in the order tables show them: ended and by GC, or frees.
    pub fn counts(self) -> Vec<u64> {
        match self {
            Released::EndOrGc { ended, by_gc } => vec![ended, by_gc],
            Released::Freed(n) => vec![n],
        }
    }
}

/// One allocation site.
pub struct Site<'a> {
    pub id: u32,
    /// `Inflater`, `Deflater`, `DirectByteBuffer` or `Unsafe`.
    pub kind: &'a str,
    pub app_frame: &'a Option<String>,
    pub stack: &'a [String],
    /// Streams created (zlib), blocks allocated or reallocated here (direct).
    pub created: u64,
    pub released: Released,
    pub live: u64,
    pub live_bytes: u64,
    /// zlib only: set when the site is a pool, not a leak.
    pub pool: Option<&'a ZlibPool>,
}

/// Both ledgers of `r`, zlib first (the order of the report's sections).
pub fn ledgers(r: &Report) -> [Ledger<'_>; 2] {
    [zlib(&r.zlib), direct(&r.direct)]
}

fn zlib(z: &Zlib) -> Ledger<'_> {
    let t = &z.totals;
    let kind = |name, k: &crate::model::ZlibKindTotals| Kind {
        name,
        live: k.live,
        live_bytes: k.live_bytes_estimate,
        created: k.created,
        released: Released::EndOrGc { ended: k.ended_explicitly, by_gc: k.released_by_gc },
    };
    Ledger {
        name: "zlib",
        source: Source::Zlib(z),
        tracking: z.tracking,
        reason: &z.reason,
        live: t.live,
        live_bytes: t.live_bytes_estimate,
        kinds: [kind("Inflater", &t.inflaters), kind("Deflater", &t.deflaters)],
        sites: z
            .sites
            .iter()
            .map(|s| Site {
                id: s.id,
                kind: s.kind.as_str(),
                app_frame: &s.app_frame,
                stack: &s.stack,
                created: s.created,
                released: Released::EndOrGc { ended: s.ended_explicitly, by_gc: s.released_by_gc },
                live: s.live,
                live_bytes: s.live_bytes_estimate,
                pool: s.pool.as_ref(),
            })
            .collect(),
    }
}

fn direct(d: &Direct) -> Ledger<'_> {
    let t = &d.totals;
    let kind = |name, k: &crate::model::DirectKindTotals| Kind {
        name,
        live: k.live_count,
        live_bytes: k.live_bytes,
        created: k.allocations,
        released: Released::Freed(k.frees),
    };
    Ledger {
        name: "direct",
        source: Source::Direct(d),
        tracking: d.tracking,
        reason: &d.reason,
        live: t.live_count,
        live_bytes: t.live_bytes,
        kinds: [kind("DirectByteBuffer", &t.direct_byte_buffers), kind("Unsafe", &t.unsafe_memory)],
        sites: d
            .sites
            .iter()
            .map(|s| Site {
                id: s.id,
                kind: s.kind.as_str(),
                app_frame: &s.app_frame,
                stack: &s.stack,
                created: s.allocations + s.reallocations,
                released: Released::Freed(s.frees),
                live: s.live_count,
                live_bytes: s.live_bytes,
                pool: None,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{test_report, DirectSite, ZlibSite};

    #[test]
    fn both_ledgers_read_alike_zlib_first() {
        let mut r = test_report();
        r.zlib.sites.push(ZlibSite { id: 1, kind: crate::model::ZlibKind::Inflater, created: 5, ended_explicitly: 2, released_by_gc: 3, ..ZlibSite::default() });
        r.direct.sites.push(DirectSite {
            id: 2,
            kind: crate::model::DirectKind::Unsafe,
            allocations: 4,
            reallocations: 1,
            frees: 3,
            live_count: 2,
            live_bytes: 64,
            ..DirectSite::default()
        });
        (r.direct.totals.live_count, r.direct.totals.live_bytes) = (2, 64);
        let [z, d] = ledgers(&r);
        assert_eq!((z.name, d.name), ("zlib", "direct"));
        assert_eq!(z.kinds.iter().map(|k| k.name).collect::<Vec<_>>(), ["Inflater", "Deflater"]);
        assert_eq!(d.kinds.iter().map(|k| k.name).collect::<Vec<_>>(), ["DirectByteBuffer", "Unsafe"]);
        assert_eq!(z.sites[0].released.counts(), [2, 3], "ended, then by GC");
        let s = &d.sites[0];
        assert_eq!((s.created, s.released.counts(), s.live, s.live_bytes), (5, vec![3], 2, 64), "a reallocation creates a block here too");
        assert_eq!((d.live, d.live_bytes), (2, 64));
    }
}
