//! The parts of a JVM's memory, recognised from the layout of `/proc/self/smaps` (smaps.rs).
//! Nothing here asks the JVM: the classification uses the layout of the mappings plus a few
//! numbers the caller read from the JVM (flag sizes, committed metaspace).
//!
//! How each kind is recognised (docs/memory.md repeats this for users):
//! - `java_heap`: a run of adjacent mappings (anonymous, or the CDS archive's heap regions mapped
//!   inside it) whose span is exactly `MaxHeapSize`; ZGC's `/memfd:java_heap` mappings.
//! - `class_space`: a run of anonymous mappings whose span is exactly `CompressedClassSpaceSize`
//!   (for these reservation rules no read-write part may be MAP_NORESERVE, as glibc's arena heaps
//!   are).
//! - `code_cache`: a run of anonymous mappings whose span is exactly `ReservedCodeCacheSize`;
//!   if none matches, anonymous executable mappings.
//! - `metaspace`: runs of anonymous mappings spanning exactly 64 MiB (one metaspace node), whose
//!   read-write parts are not MAP_NORESERVE, chosen so that their committed size matches the
//!   JVM's committed non-class metaspace.
//! - `malloc_arena_heaps`: glibc's per-thread arena heaps: 64 MiB-aligned 64 MiB windows fully
//!   covered by anonymous MAP_NORESERVE (`nr`) mappings, read-write at the start.
//! - `thread_stacks`: an anonymous read-write mapping right above a small PROT_NONE mapping (the
//!   guard pages of glibc and HotSpot), plus the main thread's `[stack]`.
//! - `brk_heap`: `[heap]`, glibc's main arena. `libraries`: files whose name has `.so`.
//!   `cds_archive`: `*.jsa` files. `mapped_files`: other files. `kernel`: `[vdso]`, `[vvar]`, ...
//! - `other_anonymous`: every other anonymous mapping (GC data structures, malloc's mmapped
//!   chunks, a preloaded allocator's memory, JNI libraries' mmaps, ...).


use super::smaps::{Mapping, MIB};
use std::collections::BTreeSet;

/// glibc's HEAP_MAX_SIZE on 64-bit: 2 * DEFAULT_MMAP_THRESHOLD_MAX.
pub const GLIBC_HEAP_SIZE: u64 = 64 * MIB;
/// A HotSpot metaspace node (JDK 16+: 16 root chunks of 4 MiB).
pub const METASPACE_NODE: u64 = 64 * MIB;
/// Largest PROT_NONE mapping taken for a thread stack's guard pages.
const MAX_GUARD: u64 = 256 * 1024;
/// Smallest read-write part taken for a thread stack.
const MIN_STACK: u64 = 64 * 1024;

/// The classes of mappings, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    JavaHeap,
    ClassSpace,
    Metaspace,
    CodeCache,
    ThreadStacks,
    MallocArenaHeaps,
    BrkHeap,
    CdsArchive,
    Libraries,
    MappedFiles,
    Kernel,
    OtherAnonymous,
}

pub const KINDS: [Kind; 12] = [
    Kind::JavaHeap,
    Kind::ClassSpace,
    Kind::Metaspace,
    Kind::CodeCache,
    Kind::ThreadStacks,
    Kind::MallocArenaHeaps,
    Kind::BrkHeap,
    Kind::CdsArchive,
    Kind::Libraries,
    Kind::MappedFiles,
    Kind::Kernel,
    Kind::OtherAnonymous,
];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::JavaHeap => "java_heap",
            Kind::ClassSpace => "class_space",
            Kind::Metaspace => "metaspace",
            Kind::CodeCache => "code_cache",
            Kind::ThreadStacks => "thread_stacks",
            Kind::MallocArenaHeaps => "malloc_arena_heaps",
            Kind::BrkHeap => "brk_heap",
            Kind::CdsArchive => "cds_archive",
            Kind::Libraries => "libraries",
            Kind::MappedFiles => "mapped_files",
            Kind::Kernel => "kernel",
            Kind::OtherAnonymous => "other_anonymous",
        }
    }
}

/// What the JVM told us that helps recognise its mappings. All optional: a missing hint only
/// means the kind is not looked for by size.
#[derive(Clone, Debug, Default)]
pub struct Hints {
    pub max_heap_size: Option<u64>,
    pub compressed_class_space_size: Option<u64>,
    pub reserved_code_cache_size: Option<u64>,
    /// Committed metaspace outside the class space (Metaspace pool minus Compressed Class Space).
    pub metaspace_non_class_committed: Option<u64>,
    /// Whether glibc serves malloc: only then are 64 MiB MAP_NORESERVE windows its arena heaps
    /// (a preloaded jemalloc maps look-alikes).
    pub glibc_malloc: bool,
}

/// Totals of one kind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KindTotal {
    /// Reservations (heap, nodes, arena heaps, stacks) or files or mappings, per kind.
    pub count: u64,
    /// Address space, reserved parts included.
    pub size: u64,
    /// Address space with any access (PROT_NONE reservations excluded).
    pub committed: u64,
    pub rss: u64,
    pub swap: u64,
    /// How these mappings were recognised; empty when none were.
    pub recognised_by: String,
}

#[derive(Clone, Debug, Default)]
pub struct Classified {
    /// One entry per `KINDS`, same order.
    pub totals: Vec<KindTotal>,
    pub rss: u64,
    pub swap: u64,
    pub mappings: usize,
}

impl Classified {
    pub fn get(&self, k: Kind) -> &KindTotal {
        &self.totals[KINDS.iter().position(|x| *x == k).expect("every kind has a total")]
    }
    pub fn rss(&self, k: Kind) -> u64 {
        self.get(k).rss
    }
    pub fn found(&self, k: Kind) -> bool {
        self.get(k).count > 0
    }
}

struct Classifier<'a> {
    maps: &'a [Mapping],
    kind: Vec<Option<Kind>>,
    groups: Vec<u64>,
    how: Vec<String>,
}

impl Classifier<'_> {
    fn mark(&mut self, range: std::ops::RangeInclusive<usize>, k: Kind) {
        for i in range {
            self.kind[i] = Some(k);
        }
        self.groups[k as usize] += 1;
    }

    fn how(&mut self, k: Kind, text: impl Into<String>) {
        if self.how[k as usize].is_empty() {
            self.how[k as usize] = text.into();
        }
    }

    /// Runs of adjacent, unclassified, eligible mappings whose span is exactly `target`,
    /// starting at a multiple of `align`.
    fn spans(&self, target: u64, align: u64, eligible: impl Fn(&Mapping) -> bool) -> Vec<(usize, usize)> {
        let m = self.maps;
        let mut out = Vec::new();
        let mut i = 0;
        while i < m.len() {
            let ok_start = self.kind[i].is_none() && eligible(&m[i]) && m[i].start.is_multiple_of(align.max(1));
            if !ok_start {
                i += 1;
                continue;
            }
            let mut j = i;
            let mut found = None;
            loop {
                let span = m[j].end - m[i].start;
                if span == target {
                    found = Some(j);
                    break;
                }
                if span > target || j + 1 >= m.len() {
                    break;
                }
                let n = &m[j + 1];
                if n.start != m[j].end || self.kind[j + 1].is_some() || !eligible(n) {
                    break;
                }
                j += 1;
            }
            match found {
                Some(j) => {
                    out.push((i, j));
                    i = j + 1;
                }
                None => i += 1,
            }
        }
        out
    }
}

/// A mapping that can be part of a HotSpot reservation: anonymous, and not a read-write
/// MAP_NORESERVE mapping. HotSpot commits without MAP_NORESERVE, while glibc's arena heaps are
/// MAP_NORESERVE even where read-write: sixteen adjacent 64 MiB arena heaps span exactly a 1 GiB
/// CompressedClassSpaceSize and were taken for the class space.
fn jvm_reserved(m: &Mapping) -> bool {
    m.anonymous() && !(m.read_write() && m.flag("nr"))
}

/// Classifies every mapping; see the module documentation for the rules.
pub fn classify(maps: &[Mapping], hints: &Hints) -> Classified {
    let mut c = Classifier { maps, kind: vec![None; maps.len()], groups: vec![0; KINDS.len()], how: vec![String::new(); KINDS.len()] };

    // Named special mappings first.
    for (i, m) in maps.iter().enumerate() {
        let k = match m.path.as_str() {
            "[heap]" => Some(Kind::BrkHeap),
            "[stack]" => Some(Kind::ThreadStacks),
            "[vdso]" | "[vvar]" | "[vvar_vclock]" | "[vsyscall]" | "[uprobes]" => Some(Kind::Kernel),
            p if p.starts_with("/memfd:java_heap") => Some(Kind::JavaHeap),
            p if p.starts_with("[anon: glibc: malloc arena") => Some(Kind::MallocArenaHeaps),
            _ => None,
        };
        if let Some(k) = k {
            c.mark(i..=i, k);
            match k {
                Kind::BrkHeap => c.how(k, "[heap]: the brk heap, glibc's main arena"),
                Kind::ThreadStacks => c.how(k, "[stack] (main thread)"),
                Kind::JavaHeap => c.how(k, "/memfd:java_heap mappings (ZGC)"),
                Kind::MallocArenaHeaps => c.how(k, "named by glibc ([anon: glibc: malloc arena])"),
                _ => c.how(k, "[vdso], [vvar], [vsyscall]"),
            }
        }
    }

    // The Java heap: its reservation spans exactly MaxHeapSize (CDS may map archived heap
    // regions from the .jsa file inside it).
    if let Some(size) = hints.max_heap_size.filter(|s| *s > 0) {
        let heap_part = |m: &Mapping| jvm_reserved(m) || m.path.ends_with(".jsa");
        if let Some(&(i, j)) = c.spans(size, 4096, heap_part).first() {
            c.mark(i..=j, Kind::JavaHeap);
            c.how(Kind::JavaHeap, format!("the reservation spanning exactly MaxHeapSize ({size} bytes)"));
        }
    }
    if let Some(size) = hints.compressed_class_space_size.filter(|s| *s > 0) {
        if let Some(&(i, j)) = c.spans(size, 4096, jvm_reserved).first() {
            c.mark(i..=j, Kind::ClassSpace);
            c.how(Kind::ClassSpace, format!("the reservation spanning exactly CompressedClassSpaceSize ({size} bytes)"));
        }
    }
    let mut code_found = false;
    if let Some(size) = hints.reserved_code_cache_size.filter(|s| *s > 0) {
        if let Some(&(i, j)) = c.spans(size, 4096, jvm_reserved).first() {
            c.mark(i..=j, Kind::CodeCache);
            c.how(Kind::CodeCache, format!("the reservation spanning exactly ReservedCodeCacheSize ({size} bytes)"));
            code_found = true;
        }
    }
    if !code_found {
        for (i, m) in maps.iter().enumerate() {
            if c.kind[i].is_none() && m.anonymous() && m.executable() {
                c.mark(i..=i, Kind::CodeCache);
                c.how(Kind::CodeCache, "anonymous executable mappings (JIT code)");
            }
        }
    }

    if hints.glibc_malloc {
        glibc_heaps(&mut c);
    }
    metaspace_nodes(&mut c, hints.metaspace_non_class_committed);
    thread_stacks(&mut c);

    // Files and the rest.
    let mut files: [BTreeSet<&str>; 3] = Default::default();
    for (i, m) in maps.iter().enumerate() {
        if c.kind[i].is_some() {
            continue;
        }
        let k = if m.file_backed() {
            let name = m.path.rsplit('/').next().unwrap_or("");
            if name.ends_with(".jsa") {
                files[0].insert(&m.path);
                Kind::CdsArchive
            } else if name.contains(".so") {
                files[1].insert(&m.path);
                Kind::Libraries
            } else {
                files[2].insert(&m.path);
                Kind::MappedFiles
            }
        } else if m.anonymous() {
            c.groups[Kind::OtherAnonymous as usize] += 1;
            Kind::OtherAnonymous
        } else {
            // Other bracketed names the kernel gives ([anon_shmem], ...).
            c.groups[Kind::MappedFiles as usize] += 1;
            Kind::MappedFiles
        };
        c.kind[i] = Some(k);
    }
    c.groups[Kind::CdsArchive as usize] += files[0].len() as u64;
    c.groups[Kind::Libraries as usize] += files[1].len() as u64;
    c.groups[Kind::MappedFiles as usize] += files[2].len() as u64;
    c.how(Kind::CdsArchive, "files named *.jsa (class data sharing)");
    c.how(Kind::Libraries, "files whose name contains .so; count = files");
    c.how(Kind::MappedFiles, "other file mappings; count = files");
    c.how(Kind::OtherAnonymous, "anonymous mappings not recognised above; count = mappings");

    let mut totals: Vec<KindTotal> = KINDS
        .iter()
        .map(|k| KindTotal { count: c.groups[*k as usize], recognised_by: c.how[*k as usize].clone(), ..KindTotal::default() })
        .collect();
    let mut out = Classified { mappings: maps.len(), ..Classified::default() };
    for (i, m) in maps.iter().enumerate() {
        let k = c.kind[i].unwrap_or(Kind::OtherAnonymous);
        let t = &mut totals[k as usize];
        t.size += m.size();
        if !m.prot_none() {
            t.committed += m.size();
        }
        t.rss += m.rss;
        t.swap += m.swap;
        out.rss += m.rss;
        out.swap += m.swap;
    }
    for t in totals.iter_mut() {
        if t.count == 0 && t.size == 0 {
            t.recognised_by.clear();
        }
    }
    out.totals = totals;
    out
}

/// glibc arena heaps: each 64 MiB-aligned 64 MiB window that anonymous MAP_NORESERVE mappings
/// cover completely, read-write at its start. Adjacent heaps may be merged by the kernel into
/// one mapping, so windows are checked rather than mappings.
fn glibc_heaps(c: &mut Classifier) {
    let m = c.maps;
    let cand: Vec<bool> =
        (0..m.len()).map(|i| c.kind[i].is_none() && m[i].anonymous() && m[i].flag("nr") && !m[i].executable()).collect();
    let candidate = |i: usize| cand[i];
    let mut valid = BTreeSet::new();
    let mut i = 0;
    while i < m.len() {
        if !candidate(i) {
            i += 1;
            continue;
        }
        // A maximal run of adjacent candidates.
        let mut j = i;
        while j + 1 < m.len() && candidate(j + 1) && m[j + 1].start == m[j].end {
            j += 1;
        }
        let (lo, hi) = (m[i].start, m[j].end);
        let mut w = lo.div_ceil(GLIBC_HEAP_SIZE) * GLIBC_HEAP_SIZE;
        while w + GLIBC_HEAP_SIZE <= hi {
            // The mapping containing the window's start must be read-write.
            if let Some(k) = (i..=j).find(|&k| m[k].start <= w && w < m[k].end) {
                if m[k].read_write() {
                    valid.insert(w);
                }
            }
            w += GLIBC_HEAP_SIZE;
        }
        i = j + 1;
    }
    if valid.is_empty() {
        return;
    }
    // `i` indexes the mappings and the classification alike.
    #[allow(clippy::needless_range_loop)]
    for i in 0..m.len() {
        if !candidate(i) {
            continue;
        }
        // Every window this mapping touches must be a heap.
        let first = m[i].start / GLIBC_HEAP_SIZE * GLIBC_HEAP_SIZE;
        let mut w = first;
        let mut all = true;
        while w < m[i].end {
            all &= valid.contains(&w);
            w += GLIBC_HEAP_SIZE;
        }
        if all {
            c.kind[i] = Some(Kind::MallocArenaHeaps);
        }
    }
    c.groups[Kind::MallocArenaHeaps as usize] += valid.len() as u64;
    c.how(Kind::MallocArenaHeaps, "64 MiB-aligned 64 MiB windows of anonymous MAP_NORESERVE mappings (glibc arena heaps); count = heaps");
}

/// Metaspace nodes: 64 MiB runs whose read-write parts are committed normally (not `nr`),
/// chosen so that their committed size best matches the JVM's committed non-class metaspace.
fn metaspace_nodes(c: &mut Classifier, committed: Option<u64>) {
    let Some(target) = committed else { return };
    let m = c.maps;
    let eligible = |x: &Mapping| x.anonymous() && !x.executable() && (x.prot_none() || !x.flag("nr"));
    let cands: Vec<(usize, usize, u64)> = c
        .spans(METASPACE_NODE, 4 * MIB, eligible)
        .into_iter()
        .map(|(i, j)| (i, j, m[i..=j].iter().filter(|x| !x.prot_none()).map(Mapping::size).sum()))
        .filter(|&(_, _, rw)| rw > 0)
        .collect();
    if cands.is_empty() {
        return;
    }
    // Best subset by committed size (there are few candidates; greedy beyond 12).
    let tolerance = (target / 10).max(2 * MIB);
    let chosen: Vec<usize> = if cands.len() <= 12 {
        let mut best = (u64::MAX, 0u32);
        for mask in 1u32..(1 << cands.len()) {
            let sum: u64 = (0..cands.len()).filter(|b| mask & (1 << b) != 0).map(|b| cands[b].2).sum();
            let d = sum.abs_diff(target);
            if d < best.0 {
                best = (d, mask);
            }
        }
        if best.0 > tolerance {
            return;
        }
        (0..cands.len()).filter(|b| best.1 & (1 << b) != 0).collect()
    } else {
        let mut sum = 0;
        (0..cands.len())
            .filter(|&b| {
                let ok = sum + cands[b].2 <= target + tolerance;
                if ok {
                    sum += cands[b].2;
                }
                ok
            })
            .collect()
    };
    for b in chosen {
        let (i, j, _) = cands[b];
        c.mark(i..=j, Kind::Metaspace);
    }
    c.how(Kind::Metaspace, "64 MiB anonymous reservations (metaspace nodes) whose committed size matches the JVM's committed metaspace");
}

/// Thread stacks: a small PROT_NONE guard mapping directly below a read-write mapping.
fn thread_stacks(c: &mut Classifier) {
    let m = c.maps;
    for i in 0..m.len().saturating_sub(1) {
        let (g, s) = (&m[i], &m[i + 1]);
        let guard = c.kind[i].is_none() && g.anonymous() && g.prot_none() && g.size() <= MAX_GUARD;
        let stack = c.kind[i + 1].is_none()
            && s.anonymous()
            && s.read_write()
            && s.start == g.end
            && s.size() >= MIN_STACK
            && !s.flag("nr");
        if guard && stack {
            c.mark(i..=i + 1, Kind::ThreadStacks);
            c.how(Kind::ThreadStacks, "a read-write mapping right above small PROT_NONE guard pages; count = stacks");
        }
    }
    // `[stack]` was marked earlier under a narrower description.
    c.how[Kind::ThreadStacks as usize] =
        "a read-write mapping right above small PROT_NONE guard pages, and [stack]; count = stacks".into();
}

#[cfg(test)]
mod tests {
    use super::super::smaps::{fixture as map, parse};
    use super::*;

    const K: u64 = 1024;

    /// A JDK 17 G1 layout reduced from a real run of arena-retention (8 worker threads).
    fn jdk17_layout() -> String {
        let mut s = String::new();
        // Java heap 6 GiB reserved, CDS archived heap regions mapped inside it.
        s += &map(0x6_8740_0000, 32 * MIB, "rw-p", "", 536 * K, "rd wr mr mw me ac");
        s += &map(0x6_8940_0000, 0x7_ff80_0000 - 0x6_8940_0000, "---p", "", 0, "mr mw me nr");
        s += &map(0x7_ff80_0000, 0x7_ffb0_0000 - 0x7_ff80_0000, "rw-p", "", 8 * K, "rd wr mr mw me ac");
        s += &map(0x7_ffb0_0000, 0x75000, "rw-p", "/usr/lib/jvm/java-17/lib/server/classes.jsa", 468 * K, "rd wr mr mw me ac");
        s += &map(0x7_ffb7_5000, 0x8_0000_0000 - 0x7_ffb7_5000, "rw-p", "", 0, "rd wr mr mw me ac");
        s += &map(0x5560_0000_0000, 284 * K, "rw-p", "[heap]", 112 * K, "rd wr mr mw me ac");
        // Two glibc arena heaps: one partly committed, one full and merged with the next one's
        // read-write start by the kernel.
        let a = 0x7f4f_0000_0000u64;
        s += &map(a, 54916 * K, "rw-p", "", 13240 * K, "rd wr mr mw me nr");
        s += &map(a + 54916 * K, 64 * MIB - 54916 * K, "---p", "", 0, "mr mw me nr");
        s += &map(a + 64 * MIB, 64 * MIB + 132 * K, "rw-p", "", 21112 * K, "rd wr mr mw me nr");
        s += &map(a + 128 * MIB + 132 * K, 64 * MIB - 132 * K, "---p", "", 0, "mr mw me nr");
        // Metaspace node (64 MiB, 16 MiB aligned, committed parts "ac").
        let n = 0x7f4f_1700_0000u64;
        s += &map(n, 640 * K, "rw-p", "", 604 * K, "rd wr mr mw me ac");
        s += &map(n + 640 * K, 3456 * K, "---p", "", 0, "mr mw me nr");
        s += &map(n + 4 * MIB, 128 * K, "rw-p", "", 124 * K, "rd wr mr mw me ac");
        s += &map(n + 4 * MIB + 128 * K, 60 * MIB - 128 * K, "---p", "", 0, "mr mw me nr");
        // A 64 MiB GC bitmap-like reservation that must not be taken for metaspace.
        let b = 0x7f4f_2000_0000u64;
        s += &map(b, 8 * MIB, "rw-p", "", 10 * K, "rd wr mr mw me ac");
        s += &map(b + 8 * MIB, 56 * MIB, "---p", "", 0, "mr mw me nr");
        // Class space, right after the CDS archive.
        let cs = 0x7f4f_1c00_0000u64;
        s += &map(cs - 4324 * K, 4324 * K, "---p", "", 0, "mr mw me nr");
        s += &map(cs, 64 * K, "rw-p", "", 32 * K, "rd wr mr mw me ac");
        s += &map(cs + 64 * K, 192 * K, "---p", "", 0, "mr mw me nr");
        s += &map(cs + 256 * K, 64 * K, "rw-p", "", 52 * K, "rd wr mr mw me ac");
        s += &map(cs + 320 * K, 1024 * MIB - 320 * K, "---p", "", 0, "mr mw me nr");
        // Thread stacks: a Java thread (16 KiB guard zone) and a native one (4 KiB glibc guard).
        let t = 0x7f4f_7878_0000u64;
        s += &map(t, 16 * K, "---p", "", 0, "mr mw me");
        s += &map(t + 16 * K, 1008 * K, "rw-p", "", 88 * K, "rd wr mr mw me ac nh");
        s += &map(t + 2 * MIB, 4 * K, "---p", "", 0, "mr mw me nh");
        s += &map(t + 2 * MIB + 4 * K, 1024 * K, "rw-p", "", 24 * K, "rd wr mr mw me ac nh");
        // Code cache 240 MiB: three segments.
        let cc = 0x7f4f_8540_0000u64;
        s += &map(cc, 2496 * K, "rwxp", "", 228 * K, "rd wr ex mr mw me ac");
        s += &map(cc + 2496 * K, 240 * MIB - 2496 * K, "---p", "", 0, "mr mw me nr");
        // Other anonymous, a library, the CDS archive, vdso, the main stack.
        s += &map(0x7f4f_a006_d000, 1028 * K, "rw-p", "", 8 * K, "rd wr mr mw me ac");
        s += &map(0x7f4f_a100_0000, 16 * MIB, "r-xp", "/usr/lib/jvm/java-17/lib/server/libjvm.so", 12 * MIB, "rd ex mr mw me");
        s += &map(0x7f4f_a200_0000, MIB, "r--p", "/usr/lib/jvm/java-17/lib/server/libjvm.so", MIB, "rd mr mw me");
        s += &map(0x7f4f_a300_0000, 12 * MIB, "rw-p", "/usr/lib/jvm/java-17/lib/server/classes.jsa", 11 * MIB, "rd wr mr mw me ac");
        s += &map(0x7f4f_a45b_b000, 8 * K, "r-xp", "[vdso]", 4 * K, "rd ex mr mw me de");
        s += &map(0x7ffc_e2d0_3000, 132 * K, "rw-p", "[stack]", 36 * K, "rd wr mr mw me gd ac");
        s
    }

    fn jdk17_hints() -> Hints {
        Hints {
            max_heap_size: Some(6_320_816_128),
            compressed_class_space_size: Some(1 << 30),
            reserved_code_cache_size: Some(251_658_240),
            metaspace_non_class_committed: Some(768 * K),
            glibc_malloc: true,
        }
    }

    #[test]
    fn classifies_a_jdk17_layout() {
        let mut maps = parse(&jdk17_layout());
        maps.sort_by_key(|m| m.start);
        let c = classify(&maps, &jdk17_hints());
        let g = |k| c.get(k).clone();
        assert_eq!(g(Kind::JavaHeap).count, 1);
        assert_eq!(g(Kind::JavaHeap).size, 6_320_816_128);
        assert_eq!(g(Kind::JavaHeap).rss, (536 + 8 + 468) * K);
        assert_eq!(g(Kind::ClassSpace).count, 1);
        assert_eq!(g(Kind::ClassSpace).size, 1 << 30);
        assert_eq!(g(Kind::ClassSpace).rss, 84 * K);
        assert_eq!(g(Kind::ClassSpace).committed, 128 * K);
        assert_eq!(g(Kind::Metaspace).count, 1, "only the node matching committed metaspace");
        assert_eq!(g(Kind::Metaspace).rss, 728 * K);
        assert_eq!(g(Kind::CodeCache).count, 1);
        assert_eq!(g(Kind::CodeCache).rss, 228 * K);
        assert_eq!(g(Kind::MallocArenaHeaps).count, 3, "two heaps merged into one mapping still count as two");
        assert_eq!(g(Kind::MallocArenaHeaps).rss, (13240 + 21112) * K);
        assert_eq!(g(Kind::MallocArenaHeaps).size, 3 * 64 * MIB);
        assert_eq!(g(Kind::ThreadStacks).count, 3, "two guarded stacks and [stack]");
        assert_eq!(g(Kind::ThreadStacks).rss, (88 + 24 + 36) * K);
        assert_eq!(g(Kind::BrkHeap).rss, 112 * K);
        assert_eq!(g(Kind::Libraries).count, 1);
        assert_eq!(g(Kind::Libraries).rss, 13 * MIB);
        assert_eq!(g(Kind::CdsArchive).rss, 11 * MIB);
        assert_eq!(g(Kind::Kernel).rss, 4 * K);
        // The GC-like reservation, the class space's neighbour and the small mapping remain.
        assert_eq!(g(Kind::OtherAnonymous).rss, (10 + 8) * K);
        let sum: u64 = c.totals.iter().map(|t| t.rss).sum();
        assert_eq!(sum, c.rss, "every mapping is in exactly one kind");
        for k in [Kind::JavaHeap, Kind::MallocArenaHeaps, Kind::ThreadStacks, Kind::Metaspace] {
            assert!(!c.get(k).recognised_by.is_empty(), "{k:?}");
        }
    }

    /// Sixteen adjacent glibc arena heaps span exactly a 1 GiB CompressedClassSpaceSize; they
    /// are arena heaps, and the real class space (after them in address order) is found.
    #[test]
    fn sixteen_adjacent_arena_heaps_are_not_the_class_space() {
        let mut s = String::new();
        let base = 0x7e00_0000_0000u64;
        for h in 0..16 {
            let at = base + h * 64 * MIB;
            s += &map(at, 40 * MIB, "rw-p", "", 40 * MIB, "rd wr mr mw me nr");
            s += &map(at + 40 * MIB, 24 * MIB, "---p", "", 0, "mr mw me nr");
        }
        s += &jdk17_layout();
        let mut maps = parse(&s);
        maps.sort_by_key(|m| m.start);
        let c = classify(&maps, &jdk17_hints());
        assert_eq!(c.get(Kind::ClassSpace).rss, 84 * K, "the JVM's class space, not the arenas");
        assert_eq!(c.get(Kind::MallocArenaHeaps).count, 3 + 16);
        assert_eq!(c.get(Kind::MallocArenaHeaps).rss, (13240 + 21112) * K + 16 * 40 * MIB);
    }

    #[test]
    fn without_hints_only_layout_rules_apply() {
        let mut maps = parse(&jdk17_layout());
        maps.sort_by_key(|m| m.start);
        let c = classify(&maps, &Hints { glibc_malloc: true, ..Hints::default() });
        assert_eq!(c.get(Kind::JavaHeap).count, 0);
        assert_eq!(c.get(Kind::Metaspace).count, 0);
        assert_eq!(c.get(Kind::ClassSpace).count, 0);
        // The code cache falls back to executable anonymous mappings.
        assert_eq!(c.rss(Kind::CodeCache), 228 * K);
        assert_eq!(c.get(Kind::CodeCache).recognised_by, "anonymous executable mappings (JIT code)");
        assert_eq!(c.get(Kind::MallocArenaHeaps).count, 3);
        let sum: u64 = c.totals.iter().map(|t| t.rss).sum();
        assert_eq!(sum, c.rss);
    }

    #[test]
    fn a_misaligned_or_reserve_accounted_64m_region_is_not_a_glibc_heap() {
        let mut s = String::new();
        // 64 MiB but starts 16 MiB past alignment.
        s += &map(0x7f00_0100_0000, MIB, "rw-p", "", MIB, "rd wr mr mw me nr");
        s += &map(0x7f00_0110_0000, 63 * MIB, "---p", "", 0, "mr mw me nr");
        // Aligned, but committed the HotSpot way (ac, not nr).
        s += &map(0x7f00_0800_0000, MIB, "rw-p", "", MIB, "rd wr mr mw me ac");
        s += &map(0x7f00_0810_0000, 63 * MIB, "---p", "", 0, "mr mw me nr");
        // Aligned, but starting with the reserved part.
        s += &map(0x7f00_1000_0000, 64 * MIB, "---p", "", 0, "mr mw me nr");
        let maps = parse(&s);
        let c = classify(&maps, &Hints { glibc_malloc: true, ..Hints::default() });
        assert_eq!(c.get(Kind::MallocArenaHeaps).count, 0);
        assert_eq!(c.rss(Kind::OtherAnonymous), 2 * MIB);
    }

    #[test]
    fn glibc_heaps_are_looked_for_only_when_glibc_serves_malloc() {
        let mut maps = parse(&jdk17_layout());
        maps.sort_by_key(|m| m.start);
        let c = classify(&maps, &Hints { glibc_malloc: false, ..jdk17_hints() });
        assert_eq!(c.get(Kind::MallocArenaHeaps).count, 0);
        assert_eq!(c.rss(Kind::OtherAnonymous), (10 + 8 + 13240 + 21112) * K);
    }

    #[test]
    fn reads_this_process() {
        let text = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let maps = parse(&text);
        assert!(maps.len() > 5);
        let c = classify(&maps, &Hints::default());
        assert!(c.rss > 0);
        assert!(c.rss(Kind::Libraries) > 0);
        assert!(c.found(Kind::ThreadStacks));
    }
}
