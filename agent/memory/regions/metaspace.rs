//! Metaspace nodes outside the class space, recognised by HotSpot's reservation layout and
//! chosen so that their committed size matches the JVM's committed non-class metaspace.
//!
//! - JDK 16 and later: nodes of 64 MiB (16 root chunks of 4 MiB), committed in granules
//!   anywhere inside.
//! - JDK 11 to 15 (`VirtualSpaceList` of the old metaspace): one reservation per node,
//!   committed from its start upwards, its uncommitted rest PROT_NONE and MAP_NORESERVE. The
//!   first node, the boot loader's, is twice `InitialBootClassLoaderMetaspaceSize` (8 MiB by
//!   default), the others `VirtualSpaceSize` (256 Ki words: 2 MiB). While untouched, neighbours
//!   may stay merged by the kernel, so runs of up to a few nodes are candidates too. G1 commits
//!   its 32 MiB global mark stack whole at start, and the boot loader's node is reserved right
//!   below it: once that node is fully committed the kernel merges the two (springboot-scan,
//!   tomcat-jsp: one 40 MiB mapping, 8 MiB resident); `regions.rs` splits such a mapping
//!   before this runs (`split_node_from_mark_stack`).

use super::{Classifier, Kind, Mapping, MIB};

/// A HotSpot metaspace node (JDK 16+: 16 root chunks of 4 MiB).
pub const METASPACE_NODE: u64 = 64 * MIB;
/// The old metaspace's nodes after the first (VirtualSpaceSize: 256 Ki words).
const LEGACY_NODE: u64 = 2 * MIB;
/// Adjacent old nodes taken as one candidate at most. Not more: G1's 32 MiB mark stack, fully
/// committed and untouched, would be one.
const LEGACY_MERGED: u64 = 8;

/// Candidates exactly chosen by committed size up to this many; greedily beyond.
const EXACT: usize = 12;

/// Marks the metaspace nodes among the unclassified mappings.
pub(super) fn nodes(c: &mut Classifier, committed: Option<u64>, legacy_first: Option<u64>) {
    let Some(target) = committed else { return };
    let m = c.maps;
    let (runs, how) = match legacy_first {
        None => {
            let eligible = |x: &Mapping| x.anonymous() && !x.executable() && (x.prot_none() || !x.flag("nr"));
            (c.spans(&[METASPACE_NODE], 4 * MIB, eligible), "64 MiB anonymous reservations (metaspace nodes) whose committed size matches the JVM's committed metaspace")
        }
        Some(first) => {
            // Committed parts are never MAP_NORESERVE and reserved ones always are: a thread
            // stack's guard (PROT_NONE without `nr`) cannot start or join a node.
            let mut targets: Vec<u64> = (1..=LEGACY_MERGED).map(|n| n * LEGACY_NODE).collect();
            targets.push(first);
            let runs = c.spans(&targets, 4096, super::reservation_part).into_iter().filter(|&(i, _)| m[i].read_write()).collect();
            (runs, "anonymous reservations of 2 MiB and twice InitialBootClassLoaderMetaspaceSize committed from their start (JDK 11-15 metaspace nodes) whose committed size matches the JVM's committed metaspace")
        }
    };
    let cands: Vec<Candidate> = runs
        .into_iter()
        .map(|(i, j)| {
            let live = m[i..=j].iter().filter(|x| !x.prot_none());
            Candidate { i, j, committed: live.clone().map(Mapping::size).sum(), rss: live.map(|x| x.rss).sum() }
        })
        .filter(|c| c.committed > 0)
        .collect();
    let Some(chosen) = choose(&cands, target) else { return };
    for b in chosen {
        c.mark(cands[b].i..=cands[b].j, Kind::Metaspace);
    }
    c.how(Kind::Metaspace, how);
}

struct Candidate {
    i: usize,
    j: usize,
    committed: u64,
    rss: u64,
}

/// The candidates whose committed sizes add up closest to `target`, within a tenth of it (at
/// least 2 MiB); None if none are that close. Beyond `EXACT` candidates, greedily up to that
/// sum, the most resident first (metaspace is written as it is committed; a GC table committed
/// whole at start is not).
fn choose(cands: &[Candidate], target: u64) -> Option<Vec<usize>> {
    if cands.is_empty() {
        return None;
    }
    let tolerance = (target / 10).max(2 * MIB);
    if cands.len() <= EXACT {
        let mut best = (u64::MAX, 0u32);
        for mask in 1u32..(1 << cands.len()) {
            let sum: u64 = (0..cands.len()).filter(|b| mask & (1 << b) != 0).map(|b| cands[b].committed).sum();
            let d = sum.abs_diff(target);
            if d < best.0 {
                best = (d, mask);
            }
        }
        return (best.0 <= tolerance).then(|| (0..cands.len()).filter(|b| best.1 & (1 << b) != 0).collect());
    }
    let mut order: Vec<usize> = (0..cands.len()).collect();
    // rss / committed, descending, compared without division.
    order.sort_by(|&a, &b| {
        let (x, y) = (&cands[a], &cands[b]);
        (y.rss as u128 * x.committed as u128).cmp(&(x.rss as u128 * y.committed as u128))
    });
    let mut sum = 0;
    let chosen: Vec<usize> = order
        .into_iter()
        .filter(|&b| {
            let ok = sum + cands[b].committed <= target + tolerance;
            if ok {
                sum += cands[b].committed;
            }
            ok
        })
        .collect();
    Some(chosen)
}
