//! The RSS explanation: parts that add up to RSS exactly, each carved out of the mappings it can
//! live in, so that nothing is counted twice:
//!
//! - `java_heap`, `metaspace`, `code_cache`, `thread_stacks`: the resident size of their
//!   recognised mappings. A kind that was not recognised falls back to the JVM's committed size,
//!   taken out of the unrecognised anonymous memory.
//! - `gc_structures`: the resident size of the GC's side tables (mark bitmaps, card tables, block
//!   offset table), recognised by their sizes relative to `MaxHeapSize`.
//! - malloc (glibc): the arena heaps and the brk heap hold `uordblks` in use; the rest of their
//!   resident size is memory freed but retained (`malloc_retained`). `mallinfo2`'s free bytes
//!   are not used for this: glibc returns free pages with MADV_DONTNEED, and those are free but
//!   not resident. Chunks malloc served with mmap (`hblkhd`) are in use: the resident size of
//!   those recognised by their headers, the rest of `hblkhd` out of the unrecognised anonymous
//!   mappings.
//! - malloc (jemalloc, tcmalloc): their mappings are not recognisable, so their own resident
//!   figure is taken out of the unrecognised anonymous memory; allocated bytes are in use, the
//!   rest is retained.
//! - `zlib` and `direct` are live native bytes from the native ledgers (direct: the JDK's direct
//!   buffer pool when that ledger has no per-block data); they are malloc'd, so they are carved out of
//!   malloc's in-use bytes and `malloc_in_use` is what remains.
//! - `other`: files (libraries, the CDS archive, mapped files), kernel pages, and with NMT on
//!   the JVM's own mmap'd structures NMT names (GC card tables and bitmaps, ...).
//! - `unexplained`: the anonymous memory left.

use super::nmt;
use super::regions::{Classified, Kind};
use leakagent_report::units::mib;
use leakagent_report::model::{Allocator, JvmMemory, Malloc, MallocSplit, MallocSplitSite, Memory, NativeSampling, Nmt, Part, RssPart};

/// Live native bytes from the native ledgers. None: that ledger is off, failed, or (direct) has
/// no per-block data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    pub zlib_live_bytes: Option<u64>,
    /// Live zlib streams (for the samples).
    pub zlib_live_streams: Option<u64>,
    pub direct_live_bytes: Option<u64>,
}

pub struct Inputs<'a> {
    pub regions: &'a Classified,
    pub malloc: &'a Malloc,
    pub jvm: &'a JvmMemory,
    pub nmt: Option<&'a Nmt>,
    pub ledger: Ledger,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Explained {
    pub parts: Vec<Part>,
    /// Free memory the allocator keeps resident (the `malloc_retained` part), when known.
    pub resident_free: Option<u64>,
    pub notes: Vec<String>,
}

impl Explained {
    pub fn bytes(&self, part: RssPart) -> u64 {
        self.parts.iter().find(|p| p.part == part).map(|p| p.bytes).unwrap_or(0)
    }
}

/// Sampled sites named in the split of `malloc_in_use`.
const SPLIT_SITES: usize = 8;

/// `malloc_in_use` split into the largest sampled sites' live estimates and the rest. Sites whose
/// Java stack is a zlib stream's or an `Unsafe` allocation's are left out: the explanation's
/// `zlib` and `direct` parts already took their bytes out of `malloc_in_use`.
pub fn split_malloc(m: &Memory, n: &NativeSampling) -> Option<MallocSplit> {
    if n.sites.is_empty() {
        return None;
    }
    let in_use = m.explanation.iter().find(|p| p.part == RssPart::MallocInUse)?.bytes;
    let ledgered = |stack: &[String]| {
        stack.iter().any(|f| {
            f.starts_with("java.util.zip.Inflater.") || f.starts_with("java.util.zip.Deflater.") || f.contains("Unsafe.allocateMemory")
                || f.contains("Unsafe.reallocateMemory")
        })
    };
    let mut left = in_use;
    let mut sites = Vec::new();
    for s in n.sites.iter().filter(|s| s.estimated_live_bytes > 0 && !ledgered(&s.stack)).take(SPLIT_SITES) {
        let bytes = s.estimated_live_bytes.min(left);
        if bytes == 0 {
            break;
        }
        left -= bytes;
        let site = leakagent_report::words::sampled_label(s);
        sites.push(MallocSplitSite { site, estimated_live_bytes: bytes });
    }
    Some(MallocSplit { malloc_in_use_bytes: in_use, sites, rest_bytes: left })
}

fn take(pool: &mut u64, want: u64) -> u64 {
    let t = want.min(*pool);
    *pool -= t;
    t
}

/// The explanation being built: the parts so far, and the unrecognised anonymous memory not yet
/// given to a part (what is left of it at the end is `unexplained`).
struct Carving {
    anon: u64,
    parts: Vec<Part>,
    notes: Vec<String>,
}

impl Carving {
    fn push(&mut self, part: RssPart, bytes: u64, note: impl Into<String>) {
        self.parts.push(Part { part, bytes, note: note.into() });
    }

    fn take_anon(&mut self, want: u64) -> u64 {
        take(&mut self.anon, want)
    }
}

/// What the allocator holds: in use, free but resident (None: unknown), whether the in-use bytes
/// are malloc's own numbers, and brk/arena bytes that are not the allocator's (counted under other).
struct AllocatorShare {
    in_use: u64,
    retained: Option<u64>,
    in_malloc: bool,
    not_its_own: u64,
}

pub fn explain(i: &Inputs) -> Explained {
    let mut c = Carving { anon: i.regions.rss(Kind::OtherAnonymous), parts: Vec::new(), notes: Vec::new() };
    // Every step takes what it cannot find in a recognised mapping out of `anon`, in this order.
    jvm_parts(&mut c, i.regions, i.jvm);
    let a = allocator(&mut c, i.regions, i.malloc);
    malloc_parts(&mut c, i, &a);
    rest_parts(&mut c, i.regions, i.nmt, a.not_its_own);
    Explained { parts: c.parts, resident_free: a.retained, notes: c.notes }
}

/// The JVM's own regions: the heap, metaspace (class space included), the code cache, stacks.
fn jvm_parts(c: &mut Carving, r: &Classified, j: &JvmMemory) {
    if r.found(Kind::JavaHeap) {
        c.push(RssPart::JavaHeap, r.rss(Kind::JavaHeap), "resident part of the Java heap's reservation");
    } else {
        let t = c.take_anon(j.heap_committed_bytes.unwrap_or(0));
        c.push(RssPart::JavaHeap, t, "heap mappings not recognised: the JVM's committed heap, out of unrecognised anonymous memory");
    }
    let mut meta = r.rss(Kind::ClassSpace) + r.rss(Kind::Metaspace);
    let mut meta_note = "resident part of the metaspace nodes and the class space".to_string();
    if !r.found(Kind::Metaspace) {
        let non_class = j.metaspace_committed_bytes.unwrap_or(0).saturating_sub(j.class_space_committed_bytes.unwrap_or(0));
        meta += c.take_anon(non_class);
        meta_note = "class space mapping plus the JVM's committed non-class metaspace (its nodes were not recognised)".into();
    }
    if !r.found(Kind::ClassSpace) && j.class_space_committed_bytes.is_some() {
        meta += c.take_anon(j.class_space_committed_bytes.unwrap_or(0));
        meta_note.push_str("; class space: the JVM's committed size (its mapping was not recognised)");
    }
    c.push(RssPart::Metaspace, meta, meta_note);
    if r.found(Kind::CodeCache) {
        c.push(RssPart::CodeCache, r.rss(Kind::CodeCache), "resident part of the code cache reservation");
    } else {
        let t = c.take_anon(j.code_cache_committed_bytes.unwrap_or(0));
        c.push(RssPart::CodeCache, t, "code cache mapping not recognised: the JVM's committed code cache");
    }
    c.push(
        RssPart::ThreadStacks,
        r.rss(Kind::ThreadStacks),
        format!("resident part of {} thread stacks (glibc keeps exited threads' stacks for reuse)", r.get(Kind::ThreadStacks).count),
    );
    c.push(RssPart::GcStructures, r.rss(Kind::GcStructures), "resident part of the GC's mark bitmaps, card tables and block offset table");
}

/// How much the allocator holds in use and free, by its own statistics and the arena and brk
/// heaps it lives in.
fn allocator(c: &mut Carving, r: &Classified, m: &Malloc) -> AllocatorShare {
    let arena_pool = r.rss(Kind::MallocArenaHeaps) + r.rss(Kind::BrkHeap);
    match m.allocator {
        Allocator::Glibc if m.arena_in_use_bytes.is_some() => {
            let in_arena = m.arena_in_use_bytes.unwrap_or(0).min(arena_pool);
            // Chunks recognised by their headers count their resident bytes; the others (e.g.
            // aligned ones) are taken from anonymous memory at their full size.
            let found = r.get(Kind::MallocMmapped);
            let mmapped = found.rss + c.take_anon(m.mmapped_bytes.unwrap_or(0).saturating_sub(found.size));
            AllocatorShare { in_use: in_arena + mmapped, retained: Some(arena_pool - in_arena), in_malloc: true, not_its_own: 0 }
        }
        Allocator::Jemalloc | Allocator::Tcmalloc if m.allocator_resident_bytes.is_some() => {
            // Their memory is in the brk heap (tcmalloc uses sbrk first) or in anonymous
            // mappings; the allocator's own resident figure says how much.
            let want = m.allocator_resident_bytes.unwrap_or(0);
            let mut brk = arena_pool;
            let mut resident = take(&mut brk, want);
            resident += c.take_anon(want - resident);
            let used = m.in_use_bytes.unwrap_or(0).min(resident);
            if brk > 0 {
                c.notes.push(format!("{} of the brk heap is not {}'s memory: counted under other", mib(brk), m.allocator));
            }
            AllocatorShare { in_use: used, retained: Some(resident - used), in_malloc: true, not_its_own: brk }
        }
        _ => {
            c.notes.push(format!(
                "{} publishes no usable statistics: its known mappings (brk heap) are counted as in use and nothing as retained",
                m.allocator
            ));
            AllocatorShare { in_use: arena_pool + r.rss(Kind::MallocMmapped), retained: None, in_malloc: false, not_its_own: 0 }
        }
    }
}

/// zlib and direct (carved out of malloc's in-use bytes, or out of anonymous memory when the
/// allocator gives no numbers), then what malloc holds besides them.
fn malloc_parts(c: &mut Carving, i: &Inputs, a: &AllocatorShare) {
    let m = i.malloc;
    let mut left = a.in_use;
    let mut carve = |c: &mut Carving, want: u64| if a.in_malloc { take(&mut left, want) } else { c.take_anon(want) };
    let zlib = i.ledger.zlib_live_bytes.map(|z| carve(c, z)).unwrap_or(0);
    c.push(
        RssPart::Zlib,
        zlib,
        match i.ledger.zlib_live_bytes {
            Some(_) => "live zlib streams (native ledger estimate), inside malloc's in-use bytes",
            None => "the zlib ledger is off or failed (see zlib.tracking): live zlib streams are inside malloc_in_use",
        },
    );
    let (direct_src, direct_note) = match (i.ledger.direct_live_bytes, i.jvm.direct_used_bytes) {
        (Some(d), _) => (d, "live DirectByteBuffer and Unsafe memory (native ledger), inside malloc's in-use bytes"),
        (None, Some(d)) => (d, "the JDK's direct buffer pool (BufferPoolMXBean \"direct\"); Unsafe.allocateMemory is not counted without the direct ledger (see direct.tracking)"),
        (None, None) => (0, "unknown: neither the native ledger nor the JDK's direct buffer pool is available"),
    };
    let direct = carve(c, direct_src);
    c.push(RssPart::Direct, direct, direct_note);
    let in_use_note = match m.allocator {
        Allocator::Glibc => "glibc malloc in use (uordblks within the resident arenas, plus the resident part of mmapped chunks), minus zlib and direct".into(),
        a_name if a.in_malloc => format!("{a_name} allocated bytes, minus zlib and direct"),
        a_name => format!("{a_name}: the brk heap, as the allocator gives no numbers"),
    };
    c.push(RssPart::MallocInUse, left, in_use_note);
    let retained_note = match m.allocator {
        Allocator::Glibc => format!(
            "freed memory glibc keeps resident in {} arenas (resident size of the arena and brk heaps minus in use)",
            m.arenas.map(|n| n.to_string()).unwrap_or_else(|| "its".into())
        ),
        a_name if a.retained.is_some() => format!("{a_name}: resident minus allocated (dirty pages, caches, metadata)"),
        a_name => format!("{a_name}: unknown"),
    };
    c.push(RssPart::MallocRetained, a.retained.unwrap_or(0), retained_note);
}

/// Files, kernel pages and what NMT can name (`other`), then the anonymous memory left.
fn rest_parts(c: &mut Carving, r: &Classified, nmt: Option<&Nmt>, not_malloc: u64) {
    let files = r.rss(Kind::Libraries) + r.rss(Kind::CdsArchive) + r.rss(Kind::MappedFiles) + r.rss(Kind::Kernel);
    // NMT's GC category includes the side tables gc_structures already holds.
    let nmt_named = nmt.map(|n| c.take_anon(nmt::internal_mmap_committed(n).saturating_sub(r.rss(Kind::GcStructures)))).unwrap_or(0);
    let mut other_note = format!(
        "libraries {}, CDS archive {}, other mapped files {}",
        mib(r.rss(Kind::Libraries)),
        mib(r.rss(Kind::CdsArchive)),
        mib(r.rss(Kind::MappedFiles))
    );
    if nmt_named > 0 {
        other_note.push_str(&format!(", JVM structures NMT counts (GC, ...) {}", mib(nmt_named)));
    }
    if not_malloc > 0 {
        other_note.push_str(&format!(", brk/arena heaps {}", mib(not_malloc)));
    }
    c.push(RssPart::Other, files + nmt_named + not_malloc, other_note);
    let unexplained_note = if nmt.is_some() {
        "anonymous memory neither this agent nor NMT attributes (native libraries' own mmaps, ...)"
    } else {
        "anonymous memory not attributed (native libraries' own mmaps, GC tables not recognised, ...; memory.unrecognised lists the largest); NMT would name part of it"
    };
    c.push(RssPart::Unexplained, c.anon, unexplained_note);
}

/// Smaller amounts are not worth a clause in the paragraph.
const NOTEWORTHY: u64 = 1 << 20;

/// The explanation in one paragraph.
pub fn paragraph(e: &Explained, rss: u64, m: &Malloc, j: &JvmMemory, stacks: u64) -> String {
    let b = |p: RssPart| e.bytes(p);
    let mut s = format!("RSS is {}. ", mib(rss));
    s.push_str(&format!("The Java heap accounts for {}", mib(b(RssPart::JavaHeap))));
    if let (Some(c), Some(u)) = (j.heap_committed_bytes, j.heap_used_bytes) {
        s.push_str(&format!(" ({} committed, {} used", mib(c), mib(u)));
        // Right after a GC that shrank the heap the committed size is already the new one, while
        // G1, ZGC and Shenandoah give the freed regions' pages back from a background thread.
        if b(RssPart::JavaHeap) > c + (c / 20).max(NOTEWORTHY) {
            s.push_str(&format!(
                "; {} more is resident than committed: the GC has just shrunk the heap and returns those pages to the \
                 OS in the background, so a later report shows less",
                mib(b(RssPart::JavaHeap) - c)
            ));
        }
        s.push(')');
    }
    s.push_str(&format!(
        ", metaspace {}, the code cache {}, {} thread stacks {}",
        mib(b(RssPart::Metaspace)),
        mib(b(RssPart::CodeCache)),
        stacks,
        mib(b(RssPart::ThreadStacks))
    ));
    if b(RssPart::GcStructures) >= NOTEWORTHY {
        s.push_str(&format!(", the GC's side tables {}", mib(b(RssPart::GcStructures))));
    }
    s.push_str(". ");
    let in_use = b(RssPart::MallocInUse) + b(RssPart::Zlib) + b(RssPart::Direct);
    let name = match m.allocator {
        Allocator::Glibc | Allocator::Jemalloc | Allocator::Tcmalloc => format!("{} malloc", m.allocator),
        a => format!("malloc ({a})"),
    };
    s.push_str(&format!("{name} has {} in use", mib(in_use)));
    let mut inner = Vec::new();
    if b(RssPart::Zlib) >= NOTEWORTHY {
        inner.push(format!("{} live zlib streams", mib(b(RssPart::Zlib))));
    }
    if b(RssPart::Direct) >= NOTEWORTHY {
        inner.push(format!("{} direct buffers", mib(b(RssPart::Direct))));
    }
    if !inner.is_empty() {
        s.push_str(&format!(" ({} of it)", inner.join(" and ")));
    }
    match e.resident_free {
        Some(r) => {
            s.push_str(&format!(" and holds {} of freed memory that is still resident", mib(r)));
            if let Some(n) = m.arenas.filter(|_| m.allocator == Allocator::Glibc) {
                s.push_str(&format!(" in {n} arenas"));
            }
            // mallinfo2's free bytes include pages already returned with MADV_DONTNEED.
            if let Some(f) = m.free_bytes.filter(|f| *f > r + r / 20 + NOTEWORTHY && m.allocator == Allocator::Glibc) {
                s.push_str(&format!(
                    " ({} counts {} free; the rest was already returned to the OS)",
                    m.source,
                    mib(f)
                ));
            }
            s.push_str(". ");
        }
        None => s.push_str("; how much it holds after free is unknown. "),
    }
    s.push_str(&format!(
        "Libraries, mapped files and other known memory take {}; {} is unexplained.",
        mib(b(RssPart::Other)),
        mib(b(RssPart::Unexplained))
    ));
    // Name the largest part outside the heap when it is the allocator's retention.
    let largest = e.parts.iter().filter(|p| p.part != RssPart::JavaHeap).max_by_key(|p| p.bytes);
    if largest.is_some_and(|p| p.part == RssPart::MallocRetained && p.bytes > 0) {
        s.push_str(" Memory the allocator keeps after free is the largest part outside the Java heap.");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::regions::{KindTotal, KINDS};

    const M: u64 = 1 << 20;

    fn regions(rss: &[(Kind, u64)]) -> Classified {
        let mut totals: Vec<KindTotal> = KINDS.iter().map(|_| KindTotal::default()).collect();
        let mut sum = 0;
        for (k, b) in rss {
            let t = &mut totals[KINDS.iter().position(|x| x == k).unwrap()];
            t.rss += b;
            t.count += 1;
            sum += b;
        }
        Classified { totals, rss: sum, swap: 0, mappings: rss.len(), unrecognised: Vec::new() }
    }

    /// Arena-retention after GC under glibc, with the numbers of a real run (rounded).
    fn arena_retention() -> (Classified, Malloc, JvmMemory) {
        let r = regions(&[
            (Kind::JavaHeap, 2 * M),
            (Kind::ClassSpace, M / 4),
            (Kind::Metaspace, M),
            (Kind::CodeCache, 8 * M),
            (Kind::ThreadStacks, 2 * M),
            (Kind::MallocArenaHeaps, 278 * M),
            (Kind::BrkHeap, M / 8),
            (Kind::Libraries, 22 * M),
            (Kind::CdsArchive, 12 * M),
            (Kind::OtherAnonymous, 6 * M),
        ]);
        let m = Malloc {
            allocator: Allocator::Glibc,
            source: "mallinfo2".into(),
            in_use_bytes: Some(6 * M),
            arena_in_use_bytes: Some(5 * M),
            mmapped_bytes: Some(M),
            free_bytes: Some(995 * M),
            arenas: Some(9),
            ..Malloc::default()
        };
        let j = JvmMemory {
            heap_committed_bytes: Some(40 * M),
            heap_used_bytes: Some(5 * M),
            direct_used_bytes: Some(M / 2),
            ..JvmMemory::default()
        };
        (r, m, j)
    }

    fn sum(e: &Explained) -> u64 {
        e.parts.iter().map(|p| p.bytes).sum()
    }

    #[test]
    fn parts_sum_to_rss_and_retention_dominates() {
        let (r, m, j) = arena_retention();
        let e = explain(&Inputs { regions: &r, malloc: &m, jvm: &j, nmt: None, ledger: Ledger::default() });
        let names: Vec<_> = e.parts.iter().map(|p| p.part).collect();
        assert_eq!(names, RssPart::ALL);
        assert_eq!(sum(&e), r.rss);
        assert_eq!(e.bytes(RssPart::JavaHeap), 2 * M);
        assert_eq!(e.bytes(RssPart::Metaspace), M + M / 4);
        // Arena pool 278 MiB + 1/8 brk; 5 MiB in use there; 1 MiB mmapped from anon.
        assert_eq!(e.bytes(RssPart::MallocRetained), 278 * M + M / 8 - 5 * M);
        assert_eq!(e.resident_free, Some(278 * M + M / 8 - 5 * M));
        assert_eq!(e.bytes(RssPart::Direct), M / 2);
        assert_eq!(e.bytes(RssPart::Zlib), 0);
        assert_eq!(e.bytes(RssPart::MallocInUse), 6 * M - M / 2);
        assert_eq!(e.bytes(RssPart::Other), 34 * M);
        assert_eq!(e.bytes(RssPart::Unexplained), 5 * M);
        let p = paragraph(&e, r.rss, &m, &j, 3);
        assert!(p.starts_with("RSS is 331.4 MiB."), "{p}");
        assert!(p.contains("(40.0 MiB committed, 5.0 MiB used),"), "{p}");
        assert!(p.contains("holds 273.1 MiB of freed memory that is still resident in 9 arenas"), "{p}");
        assert!(p.contains("mallinfo2 counts 995.0 MiB free"), "{p}");
        assert!(p.contains("largest part outside the Java heap"), "{p}");
    }

    #[test]
    fn a_heap_resident_above_committed_is_explained() {
        let (_, m, mut j) = arena_retention();
        let r = regions(&[(Kind::JavaHeap, 173 * M), (Kind::OtherAnonymous, 10 * M)]);
        j.heap_committed_bytes = Some(44 * M);
        j.heap_used_bytes = Some(11 * M);
        let e = explain(&Inputs { regions: &r, malloc: &m, jvm: &j, nmt: None, ledger: Ledger::default() });
        let p = paragraph(&e, r.rss, &m, &j, 3);
        assert!(p.contains("The Java heap accounts for 173.0 MiB (44.0 MiB committed, 11.0 MiB used; 129.0 MiB more is resident than committed: the GC has just shrunk the heap"), "{p}");
    }

    #[test]
    fn malloc_in_use_is_split_by_sampled_site_without_the_ledgers() {
        use leakagent_report::model::SampledSite;
        let mut m = Memory::default();
        m.explanation.push(Part { part: RssPart::MallocInUse, bytes: 100 * M, note: String::new() });
        let site = |f: &str, java: &str, live: u64| SampledSite {
            stack: vec![format!("lib.so!{f}"), java.into()],
            library: Some("lib.so".into()),
            function: Some(f.into()),
            java_frame: Some(java.into()),
            estimated_live_bytes: live,
            ..SampledSite::default()
        };
        let n = NativeSampling {
            sites: vec![
                site("inflateInit2_", "java.util.zip.Inflater.init(Native Method)", 50 * M),
                site("Java_Cache_put", "app.Cache.put(Native Method)", 70 * M),
                site("other", "app.X.y(X.java:1)", 60 * M),
            ],
            ..NativeSampling::default()
        };
        let s = split_malloc(&m, &n).unwrap();
        assert_eq!(s.sites.len(), 2, "{s:?}");
        assert_eq!(s.sites[0].site, "lib.so!Java_Cache_put from app.Cache.put(Native Method)");
        assert_eq!((s.sites[0].estimated_live_bytes, s.sites[1].estimated_live_bytes, s.rest_bytes), (70 * M, 30 * M, 0));
        assert!(split_malloc(&m, &NativeSampling::default()).is_none());
    }

    #[test]
    fn ledger_numbers_are_carved_from_malloc_in_use() {
        let (r, m, j) = arena_retention();
        let ledger = Ledger { zlib_live_bytes: Some(2 * M), zlib_live_streams: Some(7), direct_live_bytes: Some(3 * M) };
        let e = explain(&Inputs { regions: &r, malloc: &m, jvm: &j, nmt: None, ledger });
        assert_eq!(e.bytes(RssPart::Zlib), 2 * M);
        assert_eq!(e.bytes(RssPart::Direct), 3 * M);
        assert_eq!(e.bytes(RssPart::MallocInUse), M);
        assert_eq!(sum(&e), r.rss);
        // More than malloc has in use is capped, never double counted.
        let ledger = Ledger { zlib_live_bytes: Some(100 * M), zlib_live_streams: None, direct_live_bytes: Some(100 * M) };
        let e = explain(&Inputs { regions: &r, malloc: &m, jvm: &j, nmt: None, ledger });
        assert_eq!(e.bytes(RssPart::Zlib), 6 * M);
        assert_eq!(e.bytes(RssPart::Direct), 0);
        assert_eq!(sum(&e), r.rss);
    }

    #[test]
    fn recognised_mmapped_chunks_count_their_resident_bytes_and_gc_tables_are_a_part() {
        let (_, m, j) = arena_retention();
        // hblkhd is 1 MiB; chunks of 3/4 MiB were recognised with 1/4 MiB resident.
        let mut r = regions(&[(Kind::JavaHeap, 2 * M), (Kind::GcStructures, 7 * M), (Kind::MallocMmapped, M / 4), (Kind::OtherAnonymous, 6 * M)]);
        r.totals[KINDS.iter().position(|k| *k == Kind::MallocMmapped).unwrap()].size = 3 * M / 4;
        let e = explain(&Inputs { regions: &r, malloc: &m, jvm: &j, nmt: None, ledger: Ledger::default() });
        assert_eq!(e.bytes(RssPart::GcStructures), 7 * M);
        // In use: 1/4 resident in recognised chunks + the 1/4 of hblkhd not recognised (the
        // arenas are absent); direct's 1/2 MiB takes all of it.
        assert_eq!(e.bytes(RssPart::Direct), M / 2);
        assert_eq!(e.bytes(RssPart::MallocInUse), 0);
        assert_eq!(e.bytes(RssPart::Unexplained), 6 * M - M / 4);
        assert_eq!(sum(&e), r.rss);
        let p = paragraph(&e, r.rss, &m, &j, 0);
        assert!(p.contains(", the GC's side tables 7.0 MiB."), "{p}");
    }

    #[test]
    fn jemalloc_resident_comes_out_of_anonymous_memory() {
        let r = regions(&[(Kind::JavaHeap, 10 * M), (Kind::BrkHeap, M), (Kind::OtherAnonymous, 100 * M), (Kind::Libraries, 20 * M)]);
        let mut m = Malloc { allocator: Allocator::Jemalloc, in_use_bytes: Some(30 * M), allocator_resident_bytes: Some(80 * M), ..Malloc::default() };
        let j = JvmMemory::default();
        let e = explain(&Inputs { regions: &r, malloc: &m, jvm: &j, nmt: None, ledger: Ledger::default() });
        // 1 MiB of it in the brk heap, 79 MiB in anonymous mappings.
        assert_eq!(e.bytes(RssPart::MallocInUse), 30 * M);
        assert_eq!(e.bytes(RssPart::MallocRetained), 50 * M);
        assert_eq!(e.bytes(RssPart::Other), 20 * M);
        assert_eq!(e.bytes(RssPart::Unexplained), 21 * M);
        assert_eq!(sum(&e), r.rss);
        // A resident figure larger than the anonymous memory is capped.
        m.allocator_resident_bytes = Some(500 * M);
        let e = explain(&Inputs { regions: &r, malloc: &m, jvm: &j, nmt: None, ledger: Ledger::default() });
        assert_eq!(e.bytes(RssPart::MallocRetained), 71 * M);
        assert_eq!(e.bytes(RssPart::Unexplained), 0);
        assert_eq!(sum(&e), r.rss);
    }

    #[test]
    fn tcmalloc_memory_in_the_brk_heap_is_its_own() {
        let r = regions(&[(Kind::BrkHeap, 475 * M), (Kind::OtherAnonymous, 4 * M), (Kind::Libraries, 20 * M)]);
        let m = Malloc { allocator: Allocator::Tcmalloc, in_use_bytes: Some(9 * M), allocator_resident_bytes: Some(481 * M), ..Malloc::default() };
        let e = explain(&Inputs { regions: &r, malloc: &m, jvm: &JvmMemory::default(), nmt: None, ledger: Ledger::default() });
        assert_eq!(e.bytes(RssPart::MallocInUse), 9 * M);
        assert_eq!(e.bytes(RssPart::MallocRetained), 470 * M);
        assert_eq!(e.bytes(RssPart::Other), 20 * M);
        assert_eq!(e.bytes(RssPart::Unexplained), 0);
        assert_eq!(sum(&e), r.rss);
    }

    #[test]
    fn unrecognised_jvm_regions_fall_back_to_committed_sizes() {
        let r = regions(&[(Kind::OtherAnonymous, 100 * M)]);
        let m = Malloc { allocator: Allocator::Musl, ..Malloc::default() };
        let j = JvmMemory {
            heap_committed_bytes: Some(60 * M),
            metaspace_committed_bytes: Some(12 * M),
            class_space_committed_bytes: Some(2 * M),
            code_cache_committed_bytes: Some(40 * M),
            direct_used_bytes: Some(5 * M),
            ..JvmMemory::default()
        };
        let e = explain(&Inputs { regions: &r, malloc: &m, jvm: &j, nmt: None, ledger: Ledger::default() });
        assert_eq!(e.bytes(RssPart::JavaHeap), 60 * M);
        assert_eq!(e.bytes(RssPart::Metaspace), 12 * M);
        assert_eq!(e.bytes(RssPart::CodeCache), 28 * M, "capped by what is left");
        assert_eq!(e.bytes(RssPart::Direct), 0);
        assert_eq!(e.resident_free, None);
        assert_eq!(sum(&e), r.rss);
        assert!(!e.notes.is_empty());
        let p = paragraph(&e, r.rss, &m, &j, 0);
        assert!(p.contains("malloc (musl)") && p.contains("unknown"), "{p}");
    }

    #[test]
    fn nmt_names_part_of_the_anonymous_memory() {
        let (r, m, j) = arena_retention();
        let n = Nmt {
            mode: "summary".into(),
            categories: vec![
                leakagent_report::model::NmtCategory { name: "GC".into(), mmap_committed_bytes: 3 * M, ..Default::default() },
                leakagent_report::model::NmtCategory { name: "Java Heap".into(), mmap_committed_bytes: 40 * M, ..Default::default() },
            ],
            ..Nmt::default()
        };
        let e = explain(&Inputs { regions: &r, malloc: &m, jvm: &j, nmt: Some(&n), ledger: Ledger::default() });
        assert_eq!(e.bytes(RssPart::Other), 37 * M);
        assert_eq!(e.bytes(RssPart::Unexplained), 2 * M);
        assert_eq!(sum(&e), r.rss);
    }
}
