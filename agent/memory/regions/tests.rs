//! Classification of recorded smaps layouts and of this process.

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
        legacy_metaspace_first_node: None,
        g1_mark_stack: None,
        zgc_mark_stack_space: None,
        glibc_malloc: true,
        read_word: None,
        pages: None,
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

/// G1's side tables of a 6 GiB heap, as JDK 17 reserved them in a real run of zlib-waves: two
/// mark bitmaps (H/64) and two card-sized tables (H/512) next to each other, each committed at
/// its start, and a third table elsewhere.
#[test]
fn g1_side_tables_are_gc_structures() {
    let h = 6_320_816_128u64;
    let (bitmap, cards) = (h / 64, (h / 512).div_ceil(4096) * 4096);
    let mut s = String::new();
    let g = 0x7fc3_e801_4000u64;
    let mut at = g;
    for (size, rw, rss) in [(bitmap, 6080 * K, 0), (bitmap, 6208 * K, 0), (cards, 888 * K, 0), (cards, 776 * K, 760 * K)] {
        s += &map(at, rw, "rw-p", "", rss, "rd wr mr mw me ac");
        s += &map(at + rw, size - rw, "---p", "", 0, "mr mw me nr");
        at += size;
    }
    let third = 0x7fc4_1094_d000u64;
    s += &map(third, 760 * K, "rw-p", "", 380 * K, "rd wr mr mw me ac");
    s += &map(third + 760 * K, cards - 760 * K, "---p", "", 0, "mr mw me nr");
    // A mapping of a table's size but executable is not one.
    s += &map(0x7fc5_0000_0000, cards, "rwxp", "", 4 * K, "rd wr ex mr mw me ac");
    let maps = parse(&s);
    let c = classify(&maps, &Hints { max_heap_size: Some(h), ..Hints::default() });
    assert_eq!(c.get(Kind::GcStructures).count, 2, "the run of four tables, and the third");
    assert_eq!(c.rss(Kind::GcStructures), (760 + 380) * K);
    assert_eq!(c.get(Kind::GcStructures).size, 2 * bitmap + 3 * cards);
    assert_eq!(c.rss(Kind::CodeCache), 4 * K);
    // Without MaxHeapSize nothing is taken for them.
    let c = classify(&maps, &Hints::default());
    assert_eq!(c.get(Kind::GcStructures).count, 0);
    assert_eq!(c.rss(Kind::OtherAnonymous), (760 + 380) * K);
}

/// Chunk headers of a fake memory: (address, word).
const WORDS: [(u64, u64); 12] = [
    // Two adjacent mmapped chunks merged into one mapping.
    (0x7000_0000_0000, 0),
    (0x7000_0000_0008, 0x21000 | 2),
    (0x7000_0002_1000, 0),
    (0x7000_0002_1008, 0x40000 | 2),
    // Not a chunk: a size without IS_MMAPPED.
    (0x7000_1000_0000, 0),
    (0x7000_1000_0008, 0x10000),
    // Two 1 MiB chunks merged with a 32 MiB untouched mapping above them, then with a resident one.
    (0x7000_2000_0000, 0),
    (0x7000_2000_0008, 0x101000 | 2),
    (0x7000_2010_1000, 0),
    (0x7000_2010_1008, 0x101000 | 2),
    // A 2 MiB chunk merged with JDK 11's boot metaspace node above it.
    (0x7000_3000_0000, 0),
    (0x7000_3000_0008, 0x202000 | 2),
];

fn fake_word(addr: u64) -> Option<u64> {
    WORDS.iter().find(|(a, _)| *a == addr).map(|(_, w)| *w).or(Some(0x5555))
}

#[test]
fn glibc_mmapped_chunks_are_recognised_by_their_headers() {
    let mut s = String::new();
    s += &map(0x7000_0000_0000, 0x61000, "rw-p", "", 200 * K, "rd wr mr mw me ac");
    s += &map(0x7000_1000_0000, 0x10000, "rw-p", "", 64 * K, "rd wr mr mw me ac");
    let maps = parse(&s);
    let hints = Hints { glibc_malloc: true, read_word: Some(fake_word), ..Hints::default() };
    let c = classify(&maps, &hints);
    assert_eq!(c.get(Kind::MallocMmapped).count, 2, "two chunks in one mapping");
    assert_eq!(c.rss(Kind::MallocMmapped), 200 * K);
    assert_eq!(c.rss(Kind::OtherAnonymous), 64 * K);
    assert_eq!(c.unrecognised.len(), 1);
    assert_eq!(c.unrecognised[0].address, "0x700010000000");
    // Not looked for under another allocator.
    let c = classify(&maps, &Hints { glibc_malloc: false, ..hints });
    assert_eq!(c.get(Kind::MallocMmapped).count, 0);
}

#[test]
fn reads_its_own_memory_without_faulting() {
    let v: Box<u64> = Box::new(0x1234_5678);
    assert_eq!(crate::memory::smaps::read_own_word(&*v as *const u64 as u64), Some(0x1234_5678));
    assert_eq!(crate::memory::smaps::read_own_word(8), None, "page zero is never mapped");
}

/// JDK 21 without CDS, Kafka's -Xmx512m: the class space follows the heap, and the kernel merged
/// the heap's last committed region with the class space's start. A 1 MiB Java thread stack (H/512) is a
/// stack, not a GC table.
#[test]
fn a_heap_whose_end_merged_with_the_next_reservation_is_found() {
    let h = 512 * MIB;
    let mut s = String::new();
    // As smaps showed it: G1's last region and the class space's first 256 KiB are one mapping.
    s += &map(0xe000_0000, 276 * MIB, "rw-p", "", 181 * MIB, "rd wr mr mw me ac");
    s += &map(0xf140_0000, 0xffe0_0000 - 0xf140_0000, "---p", "", 0, "mr mw me nr");
    s += &map(0xffe0_0000, 2304 * K, "rw-p", "", 2292 * K, "rd wr mr mw me ac");
    s += &map(0x1_0004_0000, 4160 * K, "---p", "", 0, "mr mw me nr");
    s += &map(0x1_0048_0000, 2176 * K, "rw-p", "", 2164 * K, "rd wr mr mw me ac");
    // The same shape above 32 GiB is not taken for the heap.
    s += &map(0x7e00_0000_0000, 276 * MIB, "rw-p", "", MIB, "rd wr mr mw me ac");
    s += &map(0x7e00_0000_0000 + 276 * MIB, 300 * MIB, "---p", "", 0, "mr mw me nr");
    let t = 0x7f00_0000_0000u64;
    s += &map(t, 16 * K, "---p", "", 0, "mr mw me");
    s += &map(t + 16 * K, 1008 * K, "rw-p", "", 88 * K, "rd wr mr mw me ac nh");
    let maps = parse(&s);
    let c = classify(&maps, &Hints { max_heap_size: Some(h), ..Hints::default() });
    assert_eq!(c.rss(Kind::JavaHeap), 181 * MIB + 2292 * K);
    assert!(c.get(Kind::JavaHeap).recognised_by.contains("merged"), "{:?}", c.get(Kind::JavaHeap));
    assert_eq!(c.rss(Kind::ThreadStacks), 88 * K);
    assert_eq!(c.get(Kind::GcStructures).count, 0);
    assert_eq!(c.rss(Kind::OtherAnonymous), 2164 * K + MIB);
}

/// JDK 11's metaspace, reduced from a real run (LoaderLifecycle, G1): the boot loader's 8 MiB
/// node partly committed, G1's 32 MiB mark stack committed whole right above it, two full 2 MiB
/// nodes and a partial one next to each other, and two 1 MiB thread stacks spanning 2 MiB
/// together.
fn jdk11_layout() -> String {
    let mut s = String::new();
    let n = 0x7f18_3c40_0000u64;
    s += &map(n, 6656 * K, "rw-p", "", 6524 * K, "rd wr mr mw me ac");
    s += &map(n + 6656 * K, 8 * MIB - 6656 * K, "---p", "", 0, "mr mw me nr");
    s += &map(n + 8 * MIB, 32 * MIB, "rw-p", "", 0, "rd wr mr mw me ac");
    let t = 0x7f18_3c00_0000u64;
    for k in 0..2 {
        s += &map(t + k * MIB, 16 * K, "---p", "", 0, "mr mw me");
        s += &map(t + k * MIB + 16 * K, MIB - 16 * K, "rw-p", "", 32 * K, "rd wr mr mw me ac nh");
    }
    let v = 0x7fc4_c640_0000u64;
    s += &map(v, 2 * MIB, "rw-p", "", 2 * MIB, "rd wr mr mw me ac");
    s += &map(v + 2 * MIB, 2 * MIB, "rw-p", "", 2 * MIB, "rd wr mr mw me ac");
    s += &map(v + 4 * MIB, 768 * K, "rw-p", "", 700 * K, "rd wr mr mw me ac");
    s += &map(v + 4 * MIB + 768 * K, 2 * MIB - 768 * K, "---p", "", 0, "mr mw me nr");
    s
}

#[test]
fn jdk11_metaspace_nodes_are_found_by_their_layout() {
    let mut maps = parse(&jdk11_layout());
    maps.sort_by_key(|m| m.start);
    let committed = (6656 + 4096 + 768) * K;
    let hints = |legacy| Hints { metaspace_non_class_committed: Some(committed), legacy_metaspace_first_node: legacy, ..Hints::default() };
    let c = classify(&maps, &hints(Some(8 * MIB)));
    assert_eq!(c.rss(Kind::Metaspace), (6524 + 4096 + 700) * K);
    assert_eq!(c.get(Kind::Metaspace).committed, committed);
    assert!(c.get(Kind::Metaspace).recognised_by.contains("InitialBootClassLoaderMetaspaceSize"));
    assert_eq!((c.get(Kind::ThreadStacks).count, c.rss(Kind::ThreadStacks)), (2, 64 * K), "stacks are not nodes");
    assert_eq!(c.get(Kind::OtherAnonymous).size, 32 * MIB, "the mark stack is not a node");
    // The JDK 16+ rule (64 MiB nodes) finds none of them.
    let newer = classify(&maps, &hints(None));
    assert!(!newer.found(Kind::Metaspace));
}

/// springboot-scan on JDK 11 (G1), recorded at exit: the boot loader's 8 MiB node fully
/// committed and merged by the kernel with G1's 32 MiB mark stack above it, one 40 MiB mapping
/// 8 MiB resident, plus a 2 MiB node. Split where the node ends (pagemap: all the resident pages
/// are the node's), the node is metaspace, committed 8 MiB, and the stack the GC's; without the
/// mark stack's size nothing is split and no node is found.
#[test]
fn jdk11_first_node_merged_with_the_mark_stack_is_split() {
    const N: u64 = 0x7f18_3c40_0000;
    fn fake_pages(start: u64, end: u64) -> Option<(u64, u64)> {
        assert_eq!((start, end), (N, N + 8 * MIB));
        Some((7972 * K, 0))
    }
    let mut s = map(N, 40 * MIB, "rw-p", "", 7972 * K, "rd wr mr mw me ac");
    s += &map(0x7fc4_c640_0000, 2 * MIB, "rw-p", "", 2 * MIB, "rd wr mr mw me ac");
    let maps = parse(&s);
    let hints = |stack| Hints {
        metaspace_non_class_committed: Some(10 * MIB),
        legacy_metaspace_first_node: Some(8 * MIB),
        g1_mark_stack: stack,
        pages: Some(fake_pages),
        ..Hints::default()
    };
    let c = classify(&maps, &hints(Some(32 * MIB)));
    assert_eq!(c.rss(Kind::Metaspace), 7972 * K + 2 * MIB);
    assert_eq!(c.get(Kind::Metaspace).committed, 10 * MIB, "the node only, not the stack");
    assert_eq!((c.get(Kind::GcStructures).size, c.rss(Kind::GcStructures)), (32 * MIB, 0));
    assert_eq!(c.rss(Kind::OtherAnonymous), 0);
    let before = classify(&maps, &hints(None));
    assert!(!before.found(Kind::Metaspace), "no node without the mark stack's size");
    // The heap's size is never split.
    let c = classify(&maps, &Hints { max_heap_size: Some(40 * MIB), ..hints(Some(32 * MIB)) });
    assert_eq!(c.get(Kind::GcStructures).size, 0, "not split");
    assert!(c.get(Kind::Metaspace).size < 40 * MIB);
}

/// Without the committed size to match, or far from it, no node is taken.
#[test]
fn jdk11_nodes_must_match_the_committed_metaspace() {
    let mut maps = parse(&jdk11_layout());
    maps.sort_by_key(|m| m.start);
    for committed in [None, Some(64 * MIB)] {
        let h = Hints { metaspace_non_class_committed: committed, legacy_metaspace_first_node: Some(8 * MIB), ..Hints::default() };
        assert!(!classify(&maps, &h).found(Kind::Metaspace), "{committed:?}");
    }
}

/// direct-leak at exit: its 1 MiB direct buffers' chunks merged by the kernel with G1's mark
/// stack (committed whole, never touched) above them are malloc's; merged with a neighbour
/// holding more than an eighth of the mapping's resident size, they are not.
#[test]
fn mmapped_chunks_merged_with_an_untouched_neighbour_are_recognised() {
    let chunks = 2 * 0x101000;
    for (neighbour_rss, taken) in [(0, true), (512 * K, true), (4 * MIB, false)] {
        let s = map(0x7000_2000_0000, chunks + 32 * MIB, "rw-p", "", chunks + neighbour_rss, "rd wr mr mw me ac");
        let hints = Hints { glibc_malloc: true, read_word: Some(fake_word), ..Hints::default() };
        let c = classify(&parse(&s), &hints);
        assert_eq!(c.found(Kind::MallocMmapped), taken, "{neighbour_rss}");
        assert_eq!(c.get(Kind::MallocMmapped).count, if taken { 2 } else { 0 });
    }
}

/// healthy on JDK 11 with Parallel, read at exit (NMT detail: nothing between a thread stack and
/// the 8 MiB boot node, "reserved 8192KB for Class", at 0x..a200000): a 2056 KiB glibc chunk and
/// the node's committed 6656 KiB, one 8712 KiB mapping 6492 KiB resident, then the node's
/// PROT_NONE rest. Split where the chunks end, with pagemap's count of the chunk's resident
/// pages, each part is recognised; without pagemap the mapping stays unrecognised.
#[test]
fn a_chunk_merged_with_the_boot_node_above_it_is_split() {
    fn fake_pages(start: u64, end: u64) -> Option<(u64, u64)> {
        assert_eq!((start, end), (0x7000_3000_0000, 0x7000_3020_2000));
        Some((8 * K, 0))
    }
    let n = 0x7000_3000_0000u64;
    let mut s = map(n, 8712 * K, "rw-p", "", 6492 * K, "rd wr mr mw me ac");
    s += &map(n + 8712 * K, 8 * MIB + 2056 * K - 8712 * K, "---p", "", 0, "mr mw me nr");
    let maps = parse(&s);
    let hints = Hints {
        glibc_malloc: true,
        read_word: Some(fake_word),
        pages: Some(fake_pages),
        metaspace_non_class_committed: Some(6656 * K),
        legacy_metaspace_first_node: Some(8 * MIB),
        ..Hints::default()
    };
    let c = classify(&maps, &hints);
    assert_eq!((c.get(Kind::MallocMmapped).count, c.rss(Kind::MallocMmapped)), (1, 8 * K));
    assert_eq!(c.rss(Kind::Metaspace), 6484 * K);
    assert_eq!(c.get(Kind::Metaspace).size, 8 * MIB);
    assert_eq!(c.rss(Kind::OtherAnonymous), 0);
    assert_eq!(c.rss, 6492 * K);
    let unsplit = classify(&maps, &Hints { pages: None, ..hints });
    assert_eq!(unsplit.rss(Kind::OtherAnonymous), 6492 * K);
}

/// healthy on JDK 11 with ZGC, at exit: the mark stack space at its fixed address, 1 TiB
/// reserved, its first 32 MiB committed and resident. A 32 MiB mapping without the reservation
/// above it is not taken.
#[test]
fn zgc_mark_stack_space_is_a_gc_structure() {
    let z = 0x1500_0000_0000u64;
    let mut s = map(z, 32 * MIB, "rw-p", "", 32 * MIB, "rd wr mr mw me ac");
    s += &map(z + 32 * MIB, (1 << 40) - 32 * MIB, "---p", "", 0, "mr mw me nr");
    s += &map(0x7000_0000_0000, 32 * MIB, "rw-p", "", 32 * MIB, "rd wr mr mw me ac");
    let maps = parse(&s);
    let c = classify(&maps, &Hints { zgc_mark_stack_space: Some(1 << 40), max_heap_size: Some(4 << 30), ..Hints::default() });
    assert_eq!((c.get(Kind::GcStructures).count, c.rss(Kind::GcStructures)), (1, 32 * MIB));
    assert!(c.get(Kind::GcStructures).recognised_by.contains("ZGC"), "{}", c.get(Kind::GcStructures).recognised_by);
    assert_eq!(c.rss(Kind::OtherAnonymous), 32 * MIB);
    assert!(!classify(&maps, &Hints::default()).found(Kind::GcStructures));
}
