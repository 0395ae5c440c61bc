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
//!   JVM's committed non-class metaspace. Up to JDK 15 (regions/metaspace.rs): nodes of twice
//!   `InitialBootClassLoaderMetaspaceSize` (the first) and of 2 MiB, committed from their start;
//!   the first, fully committed, merged with G1's mark stack above it.
//! - `malloc_arena_heaps`: glibc's per-thread arena heaps: 64 MiB-aligned 64 MiB windows fully
//!   covered by anonymous MAP_NORESERVE (`nr`) mappings, read-write at the start.
//! - `gc_structures`: runs of anonymous reservations spanning a sum of GC side tables sized from
//!   `MaxHeapSize`: mark bitmaps (H/64) and card-sized tables (H/512).
//! - `malloc_mmapped`: glibc's mmapped chunks, read-write anonymous mappings that are a series of
//!   chunk headers with the IS_MMAPPED bit (read from this process's memory).
//! - `thread_stacks`: an anonymous read-write mapping right above a small PROT_NONE mapping (the
//!   guard pages of glibc and HotSpot), plus the main thread's `[stack]`.
//! - `brk_heap`: `[heap]`, glibc's main arena. `libraries`: files whose name has `.so`.
//!   `cds_archive`: `*.jsa` files. `mapped_files`: other files. `kernel`: `[vdso]`, `[vvar]`, ...
//! - `other_anonymous`: every other anonymous mapping (malloc's mmapped
//!   chunks, a preloaded allocator's memory, JNI libraries' mmaps, ...).

use super::smaps::{Mapping, MIB};
use leakagent_report::model::Unrecognised;
use std::collections::BTreeSet;

/// glibc's HEAP_MAX_SIZE on 64-bit: 2 * DEFAULT_MMAP_THRESHOLD_MAX.
pub const GLIBC_HEAP_SIZE: u64 = 64 * MIB;
/// Largest PROT_NONE mapping taken for a thread stack's guard pages.
const MAX_GUARD: u64 = 256 * 1024;
/// Smallest read-write part taken for a thread stack.
const MIN_STACK: u64 = 64 * 1024;
/// Chunks walked in one mapping at most (each costs two reads): direct-leak's 1 MiB buffers
/// merged into a 54 MiB mapping.
const MAX_CHUNKS_WALKED: u64 = 4096;
/// Where heaps with compressed oops end at the latest (zero-based oops).
const COMPRESSED_OOPS_END: u64 = 32 << 30;
/// Smallest span taken for GC side tables.
const MIN_GC_TABLE: u64 = 256 * 1024;

/// The classes of mappings, in report order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    JavaHeap,
    ClassSpace,
    Metaspace,
    CodeCache,
    ThreadStacks,
    GcStructures,
    MallocArenaHeaps,
    MallocMmapped,
    BrkHeap,
    CdsArchive,
    Libraries,
    MappedFiles,
    Kernel,
    OtherAnonymous,
}

pub const KINDS: [Kind; 14] = [
    Kind::JavaHeap,
    Kind::ClassSpace,
    Kind::Metaspace,
    Kind::CodeCache,
    Kind::ThreadStacks,
    Kind::GcStructures,
    Kind::MallocArenaHeaps,
    Kind::MallocMmapped,
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
            Kind::GcStructures => "gc_structures",
            Kind::MallocArenaHeaps => "malloc_arena_heaps",
            Kind::MallocMmapped => "malloc_mmapped",
            Kind::BrkHeap => "brk_heap",
            Kind::CdsArchive => "cds_archive",
            Kind::Libraries => "libraries",
            Kind::MappedFiles => "mapped_files",
            Kind::Kernel => "kernel",
            Kind::OtherAnonymous => "other_anonymous",
        }
    }
}

/// Resident and swapped bytes of this process's pages in `[start, end)`.
pub type PagesFn = fn(u64, u64) -> Option<(u64, u64)>;

/// What the JVM told us that helps recognise its mappings. All optional: a missing hint only
/// means the kind is not looked for by size.
#[derive(Clone, Debug, Default)]
pub struct Hints {
    pub max_heap_size: Option<u64>,
    pub compressed_class_space_size: Option<u64>,
    pub reserved_code_cache_size: Option<u64>,
    /// Committed metaspace outside the class space (Metaspace pool minus Compressed Class Space).
    pub metaspace_non_class_committed: Option<u64>,
    /// Up to JDK 15 (the flag `InitialBootClassLoaderMetaspaceSize` exists): the size of the
    /// first metaspace node, twice that flag; later nodes are 2 MiB. None: 64 MiB nodes.
    pub legacy_metaspace_first_node: Option<u64>,
    /// With G1: its global mark stack's size (`MarkStackSize` entries of 8 bytes, in chunks of
    /// 1024), one mapping committed whole at start, which the kernel merges with a fully
    /// committed first metaspace node below it (JDK 11-15).
    pub g1_mark_stack: Option<u64>,
    /// With ZGC: the span of its mark stack space's reservation, `ZMarkStackSpaceLimit` (JDK 15+)
    /// or 1 TiB at a fixed address (JDK 11-14), committed from its start 32 MiB at a time.
    pub zgc_mark_stack_space: Option<u64>,
    /// Whether glibc serves malloc: only then are 64 MiB MAP_NORESERVE windows its arena heaps
    /// (a preloaded jemalloc maps look-alikes).
    pub glibc_malloc: bool,
    /// Reads a word of this process's memory without faulting (None: unreadable); finds
    /// glibc's mmapped chunks by their headers. None: not looked for.
    pub read_word: Option<fn(u64) -> Option<u64>>,
    /// The resident and swapped bytes of this process's pages in a range (smaps.rs
    /// `own_pages`); splits a mapping the kernel merged from glibc's mmapped chunks and the
    /// reservation above them. None: not split.
    pub pages: Option<PagesFn>,
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
    /// The largest `other_anonymous` mappings by resident size.
    pub unrecognised: Vec<Unrecognised>,
}

/// How many unrecognised mappings the report lists.
const UNRECOGNISED_LISTED: usize = 5;

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

    /// Runs of adjacent, unclassified, eligible mappings whose span is exactly one of `targets`
    /// (the longest such run from each start), starting at a multiple of `align`.
    fn spans(&self, targets: &[u64], align: u64, eligible: impl Fn(&Mapping) -> bool) -> Vec<(usize, usize)> {
        let m = self.maps;
        let most = targets.iter().copied().max().unwrap_or(0);
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
                if targets.contains(&span) {
                    found = Some(j);
                }
                if span >= most || j + 1 >= m.len() {
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

impl Classifier<'_> {
    /// The Java heap when no run spans exactly `MaxHeapSize`: a run of adjacent, unclassified,
    /// eligible mappings from a 1 MiB boundary below 32 GiB (where compressed oops put heaps under
    /// 32 GiB), holding read-write memory, whose last mapping reaches past `target`: the kernel
    /// merged the heap's end with the next reservation's start (JDK 21 without a CDS archive
    /// puts the class space right after the heap). That last mapping is taken whole.
    fn heap_overhanging(&self, target: u64, eligible: impl Fn(&Mapping) -> bool) -> Option<(usize, usize)> {
        let m = self.maps;
        let free = |k: usize| self.kind[k].is_none() && eligible(&m[k]);
        let first = |i: usize| free(i) && m[i].start.is_multiple_of(MIB) && m[i].start + target <= COMPRESSED_OOPS_END;
        (0..m.len()).filter(|&i| first(i)).find_map(|i| {
            let mut j = i;
            while m[j].end - m[i].start < target {
                m.get(j + 1).filter(|n| n.start == m[j].end && free(j + 1))?;
                j += 1;
            }
            let straddles = m[j].end - m[i].start > target && m[j].start - m[i].start < target;
            (straddles && m[i..=j].iter().any(Mapping::read_write)).then_some((i, j))
        })
    }
}

/// A mapping that can be part of a HotSpot reservation: anonymous, and not a read-write
/// MAP_NORESERVE mapping. HotSpot commits without MAP_NORESERVE, while glibc's arena heaps are
/// MAP_NORESERVE even where read-write: sixteen adjacent 64 MiB arena heaps span exactly a 1 GiB
/// CompressedClassSpaceSize and were taken for the class space.
fn jvm_reserved(m: &Mapping) -> bool {
    m.anonymous() && !(m.read_write() && m.flag("nr"))
}

/// Mappings the kernel, glibc or ZGC name: (path test, kind, how it was recognised).
type NameRule = (fn(&str) -> bool, Kind, &'static str);
const NAMED: [NameRule; 5] = [
    (|p| p == "[heap]", Kind::BrkHeap, "[heap]: the brk heap, glibc's main arena"),
    (|p| p == "[stack]", Kind::ThreadStacks, "[stack] (main thread)"),
    (|p| matches!(p, "[vdso]" | "[vvar]" | "[vvar_vclock]" | "[vsyscall]" | "[uprobes]"), Kind::Kernel, "[vdso], [vvar], [vsyscall]"),
    (|p| p.starts_with("/memfd:java_heap"), Kind::JavaHeap, "/memfd:java_heap mappings (ZGC)"),
    (|p| p.starts_with("[anon: glibc: malloc arena"), Kind::MallocArenaHeaps, "named by glibc ([anon: glibc: malloc arena])"),
];

/// Classifies every mapping; see the module documentation for the rules. Each step takes only
/// mappings no earlier step took.
pub fn classify(maps: &[Mapping], hints: &Hints) -> Classified {
    let split;
    let maps = match (hints.read_word, hints.pages) {
        (Some(read), Some(pages)) if hints.glibc_malloc => {
            split = split_after_chunks(maps, read, pages);
            &split[..]
        }
        _ => maps,
    };
    let node_split;
    let maps = match (hints.legacy_metaspace_first_node, hints.g1_mark_stack, hints.pages) {
        (Some(first), Some(stack), Some(pages)) => {
            node_split = split_node_from_mark_stack(maps, first, stack, hints.max_heap_size, pages);
            &node_split[..]
        }
        _ => maps,
    };
    let mut c = Classifier { maps, kind: vec![None; maps.len()], groups: vec![0; KINDS.len()], how: vec![String::new(); KINDS.len()] };
    named(&mut c);
    reservations(&mut c, hints);
    if hints.glibc_malloc {
        glibc_heaps(&mut c);
    }
    metaspace::nodes(&mut c, hints.metaspace_non_class_committed, hints.legacy_metaspace_first_node);
    // Before the GC's tables: a 1 MiB Java thread stack or malloc chunk is H/512 of a 512 MiB heap.
    thread_stacks(&mut c);
    if let Some(read) = hints.read_word.filter(|_| hints.glibc_malloc) {
        mmapped_chunks(&mut c, read);
    }
    gc_structures(&mut c, hints.max_heap_size);
    g1_mark_stack(&mut c, hints.g1_mark_stack);
    zgc_mark_stacks(&mut c, hints.zgc_mark_stack_space);
    files_and_the_rest(&mut c);
    totals(&c)
}

fn named(c: &mut Classifier) {
    for (i, m) in c.maps.iter().enumerate() {
        if let Some(&(_, k, how)) = NAMED.iter().find(|(is, _, _)| is(&m.path)) {
            c.mark(i..=i, k);
            c.how(k, how);
        }
    }
}

/// A reservation found by its size: (the flag's value, kind, flag name, which mappings it may hold).
type SizeRule = (Option<u64>, Kind, &'static str, fn(&Mapping) -> bool);

/// The HotSpot reservations whose span is a flag's exact size. The Java heap's may contain the
/// archived heap regions CDS maps from the .jsa file; without a code cache of the exact size, the
/// code cache is the anonymous executable mappings.
fn reservations(c: &mut Classifier, hints: &Hints) {
    let heap_part: fn(&Mapping) -> bool = |m| jvm_reserved(m) || m.path.ends_with(".jsa");
    let sized: [SizeRule; 3] = [
        (hints.max_heap_size, Kind::JavaHeap, "MaxHeapSize", heap_part),
        (hints.compressed_class_space_size, Kind::ClassSpace, "CompressedClassSpaceSize", jvm_reserved),
        (hints.reserved_code_cache_size, Kind::CodeCache, "ReservedCodeCacheSize", jvm_reserved),
    ];
    for (size, k, flag, eligible) in sized {
        let Some(size) = size.filter(|s| *s > 0) else { continue };
        if let Some(&(i, j)) = c.spans(&[size], 4096, eligible).first() {
            c.mark(i..=j, k);
            c.how(k, format!("the reservation spanning exactly {flag} ({size} bytes)"));
        } else if let Some((i, j)) = c.heap_overhanging(size, eligible).filter(|_| k == Kind::JavaHeap) {
            c.mark(i..=j, k);
            c.how(k, format!("a run below 32 GiB of {flag} ({size} bytes) whose end the kernel merged with the next reservation's start"));
        }
    }
    if c.groups[Kind::CodeCache as usize] == 0 {
        for (i, m) in c.maps.iter().enumerate() {
            if c.kind[i].is_none() && m.anonymous() && m.executable() {
                c.mark(i..=i, Kind::CodeCache);
                c.how(Kind::CodeCache, "anonymous executable mappings (JIT code)");
            }
        }
    }
}

/// What no rule took: files by name (counted per file), other anonymous mappings, and other
/// bracketed names the kernel gives ([anon_shmem], ...) as mapped files.
fn files_and_the_rest(c: &mut Classifier) {
    let maps = c.maps;
    let mut files: [BTreeSet<&str>; 3] = Default::default();
    for (i, m) in maps.iter().enumerate() {
        if c.kind[i].is_some() {
            continue;
        }
        let k = if m.file_backed() {
            let name = m.path.rsplit('/').next().unwrap_or("");
            let (set, k) = if name.ends_with(".jsa") {
                (0, Kind::CdsArchive)
            } else if name.contains(".so") {
                (1, Kind::Libraries)
            } else {
                (2, Kind::MappedFiles)
            };
            files[set].insert(&m.path);
            k
        } else if m.anonymous() {
            c.groups[Kind::OtherAnonymous as usize] += 1;
            Kind::OtherAnonymous
        } else {
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
}

/// Sums the mappings per kind; a kind nothing was found for says nothing about how.
fn totals(c: &Classifier) -> Classified {
    let mut totals: Vec<KindTotal> = KINDS
        .iter()
        .map(|k| KindTotal { count: c.groups[*k as usize], recognised_by: c.how[*k as usize].clone(), ..KindTotal::default() })
        .collect();
    let mut out = Classified { mappings: c.maps.len(), ..Classified::default() };
    for (i, m) in c.maps.iter().enumerate() {
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
    let mut anon: Vec<&Mapping> = c.maps.iter().zip(&c.kind).filter(|(m, k)| **k == Some(Kind::OtherAnonymous) && m.rss > 0).map(|(m, _)| m).collect();
    anon.sort_by_key(|m| std::cmp::Reverse(m.rss));
    out.unrecognised = anon
        .iter()
        .take(UNRECOGNISED_LISTED)
        .map(|m| Unrecognised { address: format!("{:#x}", m.start), size_bytes: m.size(), rss_bytes: m.rss, perms: m.perms.clone() })
        .collect();
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

/// HotSpot's side tables of the heap, reserved at start in proportion to `MaxHeapSize`: one mark
/// bit per 8 heap bytes (G1's bitmaps, two before JDK 20; Parallel's begin/end bitmap), one byte
/// per 512-byte card (the card table, G1's block offset table and, before JDK 20, its card
/// counts). The JVM reserves them next to each other, so a run may hold several: any run of
/// anonymous reserved mappings spanning a sum of up to two H/64 and three H/512 tables is taken.
fn gc_structures(c: &mut Classifier, max_heap: Option<u64>) {
    let Some(h) = max_heap.filter(|h| *h > 0) else { return };
    let page = |x: u64| x.div_ceil(4096) * 4096;
    let (bitmap, cards) = (page(h / 64), page(h / 512));
    let mut targets = Vec::new();
    for a in 0..=2 {
        for b in 0..=3 {
            let t = a * bitmap + b * cards;
            // Tiny tables of a tiny heap would match unrelated mappings.
            if t >= MIN_GC_TABLE {
                targets.push(t);
            }
        }
    }
    let eligible = |m: &Mapping| jvm_reserved(m) && !m.executable();
    for (i, j) in c.spans(&targets, 4096, eligible) {
        c.mark(i..=j, Kind::GcStructures);
        c.how(Kind::GcStructures, "anonymous reservations spanning sums of MaxHeapSize/64 (mark bitmaps) and MaxHeapSize/512 (card tables, block offset table); count = runs");
    }
}

/// Committed anonymous memory: read-write, not executable, not MAP_NORESERVE.
fn committed_anonymous(x: &Mapping) -> bool {
    x.anonymous() && !x.executable() && x.read_write() && !x.flag("nr")
}

/// A part of a reservation HotSpot commits from its start: committed, or reserved (PROT_NONE
/// and MAP_NORESERVE; a thread stack's guard, PROT_NONE without `nr`, is not).
pub(super) fn reservation_part(x: &Mapping) -> bool {
    if x.prot_none() {
        x.anonymous() && !x.executable() && x.flag("nr")
    } else {
        committed_anonymous(x)
    }
}

/// G1's global mark stack (`MarkStackSize`): one anonymous read-write mapping of exactly its
/// size, committed whole at start (usually untouched: it holds only the marking's overflow).
fn g1_mark_stack(c: &mut Classifier, size: Option<u64>) {
    let Some(size) = size.filter(|s| *s > 0) else { return };
    for (i, x) in c.maps.iter().enumerate() {
        if c.kind[i].is_none() && committed_anonymous(x) && x.size() == size {
            c.mark(i..=i, Kind::GcStructures);
            c.how(Kind::GcStructures, "G1's global mark stack: an anonymous read-write mapping of MarkStackSize");
        }
    }
}

/// JDK 11-15 with G1: the boot loader's metaspace node is reserved right below G1's mark stack,
/// and once the node is fully committed the kernel merges the two into one mapping of both
/// sizes (NMT detail: Class 8192KB, then GC G1CMMarkStack::resize 32768KB; springboot-scan,
/// tomcat-jsp). Such a mapping is split where the node ends, each part's resident size read
/// from pagemap, so that the node is metaspace and the stack the GC's. Not a mapping of the
/// heap's size.
fn split_node_from_mark_stack(maps: &[Mapping], first: u64, stack: u64, max_heap: Option<u64>, pages: PagesFn) -> Vec<Mapping> {
    split_where(maps, pages, |x| {
        (committed_anonymous(x) && x.size() == first + stack && max_heap != Some(x.size())).then_some(x.start + first)
    })
}

/// Each mapping split in two at the address `at` gives (if any), the lower part's resident and
/// swapped bytes from pagemap, the upper part's the rest; unsplit where pagemap cannot tell.
fn split_where(maps: &[Mapping], pages: PagesFn, at: impl Fn(&Mapping) -> Option<u64>) -> Vec<Mapping> {
    let mut out = Vec::with_capacity(maps.len() + 4);
    for x in maps {
        if let Some((at, (rss, swap))) = at(x).and_then(|at| Some((at, pages(x.start, at)?))) {
            let (rss, swap) = (rss.min(x.rss), swap.min(x.swap));
            out.push(Mapping { end: at, rss, swap, ..x.clone() });
            out.push(Mapping { start: at, rss: x.rss - rss, swap: x.swap - swap, ..x.clone() });
        } else {
            out.push(x.clone());
        }
    }
    out
}

/// ZGC's mark stack space: the run of anonymous mappings spanning exactly its reservation,
/// read-write from its start (committed, not MAP_NORESERVE), reserved (PROT_NONE,
/// MAP_NORESERVE) above. JDK 11 writes it whole: healthy with ZGC left its 32 MiB resident and
/// 35 % of RSS unrecognised.
fn zgc_mark_stacks(c: &mut Classifier, space: Option<u64>) {
    let Some(space) = space.filter(|s| *s > 0) else { return };
    let runs: Vec<_> = c.spans(&[space], 4096, reservation_part).into_iter().filter(|&(i, _)| c.maps[i].read_write()).collect();
    for (i, j) in runs {
        c.mark(i..=j, Kind::GcStructures);
        c.how(Kind::GcStructures, "ZGC's mark stack space: the reservation spanning exactly ZMarkStackSpaceLimit (1 TiB on JDK 11-14), read-write from its start");
    }
}

/// glibc's mmapped chunks (allocations above the mmap threshold): anonymous read-write
/// mappings made of chunks whose headers say so: a zero `prev_size` word, then a page-multiple
/// size with the IS_MMAPPED bit (2), each chunk followed by the next (the kernel merges adjacent
/// ones). The kernel also merges the highest chunk with an untouched mapping above it (G1's
/// 32 MiB mark stack, committed whole: direct-leak's 22 chunks of 1 MiB and it made one 54 MiB
/// mapping): the walk then ends inside the mapping, which is taken when at most an eighth of its
/// resident size (1 MiB at least) can lie past the chunks. Only resident mappings are read, so
/// no page is faulted in.
fn mmapped_chunks(c: &mut Classifier, read: fn(u64) -> Option<u64>) {
    for (i, x) in c.maps.iter().enumerate() {
        if c.kind[i].is_some() || !chunk_candidate(x) {
            continue;
        }
        let (at, chunks) = walk_chunks(x, read);
        let past = x.rss.saturating_sub(at - x.start);
        if chunks > 0 && (at == x.end || past <= (x.rss / 8).max(MIB)) {
            c.kind[i] = Some(Kind::MallocMmapped);
            c.groups[Kind::MallocMmapped as usize] += chunks;
            c.how(Kind::MallocMmapped, "anonymous mappings made of glibc chunk headers with IS_MMAPPED (and an untouched neighbour the kernel merged above them); count = chunks");
        }
    }
}

/// A mapping that may hold glibc's mmapped chunks: resident, anonymous, read-write, not
/// MAP_NORESERVE.
fn chunk_candidate(x: &Mapping) -> bool {
    x.anonymous() && x.read_write() && !x.flag("nr") && x.rss > 0
}

/// Walks glibc's mmapped chunks from the mapping's start: where the walk ended and how many
/// chunks it passed.
fn walk_chunks(x: &Mapping, read: fn(u64) -> Option<u64>) -> (u64, u64) {
    const IS_MMAPPED: u64 = 2;
    const PAGE: u64 = 4096;
    let mut at = x.start;
    let mut chunks = 0;
    while at < x.end && chunks < MAX_CHUNKS_WALKED {
        let (Some(0), Some(size)) = (read(at), read(at + 8)) else { break };
        let bytes = size & !7;
        if size & IS_MMAPPED == 0 || bytes == 0 || !bytes.is_multiple_of(PAGE) || at + bytes > x.end {
            break;
        }
        at += bytes;
        chunks += 1;
    }
    (at, chunks)
}

/// The kernel merges glibc's highest mmapped chunk with an anonymous read-write mapping right
/// above it when their flags agree: JDK 11's boot metaspace node above a 2 MiB chunk (Parallel,
/// Serial), G1's mark stack above direct buffers' chunks. Such a mapping is split where the
/// chunk walk ends, each part's resident size read from pagemap, so that each is recognised on
/// its own. Mappings the walk covers whole, or where it finds no chunk, stay as they are.
fn split_after_chunks(maps: &[Mapping], read: fn(u64) -> Option<u64>, pages: PagesFn) -> Vec<Mapping> {
    split_where(maps, pages, |x| {
        let (at, chunks) = if chunk_candidate(x) { walk_chunks(x, read) } else { (x.end, 0) };
        (chunks > 0 && at < x.end).then_some(at)
    })
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

mod metaspace;
#[cfg(test)]
mod tests;
