use super::*;
use crate::leaks::dump::testdump::{fields, Builder};

fn graph(n: usize, edges: &[(u32, u32)], roots: &[u32], sizes: &[u64]) -> Graph {
    let mut offs = vec![0u32];
    let mut succ = Vec::new();
    for i in 0..n as u32 {
        succ.extend(edges.iter().filter(|e| e.0 == i).map(|e| e.1));
        offs.push(succ.len() as u32);
    }
    Graph { offs, succ, sizes: Sizes::of(sizes), roots: roots.to_vec() }
}

/// Sizes in words as bytes.
fn words(v: Vec<Option<u64>>) -> Vec<Option<u64>> {
    v.into_iter().map(|s| s.map(|s| 8 * s)).collect()
}

fn never() -> Option<String> {
    None
}

/// MAT's definition, by brute force: what a node retains is what no root reaches once it is
/// gone (itself included).
fn by_definition(n: usize, edges: &[(u32, u32)], roots: &[u32], sizes: &[u64]) -> Vec<Option<u64>> {
    let reach = |without: Option<u32>| {
        let mut seen = vec![false; n];
        let mut todo: Vec<u32> = roots.iter().copied().filter(|&r| Some(r) != without).collect();
        while let Some(x) = todo.pop() {
            if std::mem::replace(&mut seen[x as usize], true) {
                continue;
            }
            todo.extend(edges.iter().filter(|e| e.0 == x && Some(e.1) != without).map(|e| e.1));
        }
        seen
    };
    let all = reach(None);
    (0..n as u32)
        .map(|x| {
            all[x as usize].then(|| {
                let rest = reach(Some(x));
                (0..n).filter(|&i| all[i] && !rest[i]).map(|i| sizes[i]).sum()
            })
        })
        .collect()
}

#[test]
fn a_diamond_retains_only_below_its_join() {
    // 0 -> 1, 0 -> 2, 1 -> 3, 2 -> 3, 3 -> 4, 4 -> 1 (a cycle back); 5 unreachable.
    let edges = [(0, 1), (0, 2), (1, 3), (2, 3), (3, 4), (4, 1)];
    let sizes = [1, 10, 100, 1000, 10000, 7];
    let r = graph(6, &edges, &[0], &sizes).retained(&never, u64::MAX).unwrap();
    // Sizes are in 8-byte words.
    assert_eq!(r, vec![Some(11111), Some(10), Some(100), Some(11000), Some(10000), None].into_iter().map(|s| s.map(|s| 8 * s)).collect::<Vec<_>>());
    assert_eq!(r, words(by_definition(6, &edges, &[0], &sizes)));
}

/// A deterministic xorshift generator: `next(m)` is below `m`.
fn xorshift(mut seed: u64) -> impl FnMut(u64) -> u64 {
    move |m| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % m
    }
}

#[test]
fn dominators_agree_with_the_definition_on_random_graphs() {
    let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
    for round in 0..200 {
        let n = 2 + next(30) as usize;
        let edges: Vec<(u32, u32)> = (0..next(3 * n as u64) + 1).map(|_| (next(n as u64) as u32, next(n as u64) as u32)).collect();
        let mut roots: Vec<u32> = (0..1 + next(3)).map(|_| next(n as u64) as u32).collect();
        roots.sort_unstable();
        roots.dedup();
        // Some of 512 KiB or more, which two bytes do not hold.
        let sizes: Vec<u64> = (0..n).map(|_| if next(8) == 0 { BIG as u64 - 1 + next(3 << 20) } else { 1 + next(100) }).collect();
        let got = graph(n, &edges, &roots, &sizes).retained(&never, u64::MAX).unwrap();
        assert_eq!(got, words(by_definition(n, &edges, &roots, &sizes)), "round {round}: {edges:?} roots {roots:?}");
    }
}

/// The shape that made the iterative algorithm slow, small enough for the definition: chains
/// whose every node also points to one shared "class" node, back edges making cycles, and a
/// part no root reaches (itself a cycle pointing into the reachable part).
#[test]
fn dominators_agree_with_the_definition_on_chains_sharing_a_node_with_cycles_and_unreachable_parts() {
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15u64);
    for round in 0..100 {
        let (chains, len) = (1 + next(4) as u32, 2 + next(20) as u32);
        let class = chains * len;
        let lost = class + 1;
        let n = lost as usize + 3;
        let mut edges = vec![];
        for c in 0..chains {
            for i in 0..len {
                let x = c * len + i;
                edges.push((x, class));
                if i + 1 < len {
                    edges.push((x, x + 1));
                }
                if next(5) == 0 {
                    edges.push((x, c * len + next(len as u64) as u32));
                }
            }
        }
        edges.push((class, next(class as u64) as u32));
        edges.extend([(lost, lost + 1), (lost + 1, lost + 2), (lost + 2, lost), (lost + 1, next(class as u64) as u32)]);
        let roots: Vec<u32> = (0..chains).map(|c| c * len).collect();
        let sizes: Vec<u64> = (0..n).map(|_| 1 + next(100)).collect();
        let got = graph(n, &edges, &roots, &sizes).retained(&never, u64::MAX).unwrap();
        assert_eq!(got, words(by_definition(n, &edges, &roots, &sizes)), "round {round}: {edges:?} roots {roots:?}");
    }
}

/// The predecessor lists `transpose` builds in place, against ones collected entry by entry, on
/// random graphs large enough for rows that span words of 64 slots and for runs of empty rows
/// (unreached nodes): per position the same tree parent first and the same other predecessors,
/// and the forest starting as the tree.
#[test]
fn transpose_agrees_with_predecessors_collected_one_by_one() {
    let mut next = xorshift(0x6a09_e667_f3bc_c908u64);
    for round in 0..60 {
        let n = 1 + next(3000) as usize;
        // Most rows short, some of hundreds of references, some nodes with none.
        let mut offs = vec![0u32];
        let mut succ = Vec::new();
        for _ in 0..n {
            let k = match next(20) {
                0 => next(300),
                1..=4 => 0,
                _ => next(5),
            };
            succ.extend((0..k).map(|_| next(n as u64) as u32));
            offs.push(succ.len() as u32);
        }
        let roots: Vec<u32> = (0..1 + next(4)).map(|_| next(n as u64) as u32).collect();
        let mut g = Graph { offs, succ, sizes: Sizes::of(&vec![1; n]), roots };
        let mut clock = Clock { stop: &never, steps: 0 };
        let mut meter = Meter::new(u64::MAX);
        let (pre, m) = g.preorder(&mut clock, &mut meter).unwrap();
        // Expected: per position, its predecessors' positions (0: the super-root), the tree edge's marked.
        let mut want: Vec<Vec<u32>> = vec![Vec::new(); m];
        for v in (0..n).filter(|&v| pre[v] != NONE) {
            for &e in &g.succ[g.offs[v] as usize..g.offs[v + 1] as usize] {
                want[pre[(e & !TREE) as usize] as usize].push(pre[v] | (e & TREE));
            }
        }
        for &r in &g.roots {
            want[pre[(r & !TREE) as usize] as usize].push(r & TREE);
        }
        let (starts, preds, anc) = transpose(g.offs.clone(), g.succ.clone(), &g.roots, &pre, m, &mut clock, &mut meter).unwrap();
        assert_eq!((starts.len(), anc.len()), (m + 1, m), "round {round}");
        for w in 1..m {
            let got = &preds[starts[w] as usize..starts[w + 1] as usize];
            let want = &mut want[w];
            let parent = want.iter().position(|&p| p & TREE != 0).expect("a tree edge in");
            let parent = want.swap_remove(parent) & !TREE;
            assert_eq!((got[0], anc[w]), (parent, parent), "round {round}, position {w}");
            let mut rest = got[1..].to_vec();
            rest.sort_unstable();
            want.sort_unstable();
            assert_eq!(&rest, want, "round {round}, position {w}");
        }
        assert_eq!(starts[m] as usize, preds.len(), "round {round}");
    }
}

#[test]
fn a_stop_reason_ends_the_computation_with_no_number() {
    let stop = || Some("chain_time limit of 1 s reached".to_string());
    let r = graph(2, &[(0, 1)], &[0], &[1, 1]).retained(&stop, u64::MAX);
    assert!(matches!(r, Err(DumpError::Stopped(ref why)) if why == "chain_time limit of 1 s reached"), "{r:?}");
}

/// A loader pinned from a static field: it retains its class list, its classes and what their
/// statics hold, not an object the application also holds, and not through the agent's marker.
fn world() -> Builder {
    let mut b = Builder::default();
    let obj = |name: u64| (name, TYPE_OBJECT);
    let class = |id: u64, loader: u64, statics: Vec<(u64, u64)>, fields: Vec<(u64, u8)>| ClassDump {
        id,
        loader_id: loader,
        static_refs: statics,
        fields,
        ..ClassDump::default()
    };
    // System classes: the holder's class (static -> holder) and the loader's class.
    b.class(&class(0x100, 0, vec![(1, 0x500)], vec![]));
    b.class(&class(0x110, 0, vec![], vec![obj(2), obj(3)]));
    b.class(&class(0x120, 0, vec![], vec![obj(4)]));
    // The holder instance, the loader (classes, shared), its class list and two classes.
    b.instance(0x500, 0x120, &fields(&[(TYPE_OBJECT, 0x600)]));
    b.instance(0x600, 0x110, &fields(&[(TYPE_OBJECT, 0x700), (TYPE_OBJECT, 0x900)]));
    b.object_array(0x700, 0x130, &[0x800, 0x810]);
    b.class(&class(0x800, 0x600, vec![(5, 0xA00)], vec![]));
    b.class(&class(0x810, 0x600, vec![], vec![]));
    b.byte_array(0xA00, 1000);
    // Held by the loader and by a JNI global: not the loader's alone.
    b.instance(0x900, 0x120, &fields(&[(TYPE_OBJECT, 0)]));
    // The agent's marker array, a local of its own thread (serial 9), holds the loader and a class.
    b.object_array(0xB00, 0x130, &[0x600, 0x800]);
    b.class(&class(0x130, 0, vec![], vec![]));
    for (kind, id) in [(hprof::ROOT_STICKY_CLASS, 0x100), (hprof::ROOT_STICKY_CLASS, 0x110), (hprof::ROOT_STICKY_CLASS, 0x120), (hprof::ROOT_STICKY_CLASS, 0x130), (hprof::ROOT_JNI_GLOBAL, 0x900)] {
        b.root(Root { kind, id, thread_serial: 0, frame: 0 });
    }
    b.root(Root { kind: hprof::ROOT_JNI_LOCAL, id: 0xB00, thread_serial: 9, frame: 0 });
    b
}

#[test]
fn a_pinned_loader_retains_its_classes_and_their_statics_as_mat_counts_them() {
    let dir = std::env::temp_dir().join(format!("leakagent-retained-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("world.hprof");
    let mut dump = Dump::open(world().write(&path, usize::MAX)).unwrap();
    let objects = Objects { loaders: [(7, 0x600), (8, 0x900)].into(), own: OwnRoots { marker_array: 0xB00, threads: vec![], serials: vec![9] } };
    let budget = Budget { memory: 64 << 20, stop: &never };
    let mut peak = 0;
    let r = compute(&mut dump, &objects, &[7, 8, 3], &budget, &mut peak).unwrap();
    // Loader 32 (two references), Object[2] 32, class with one static 24, class 16, byte[1000] 1016.
    assert_eq!(r, vec![Some(32 + 32 + 24 + 16 + 1016), Some(24), None]);
    // Within a budget of a few objects, nothing is claimed.
    assert!(peak > 0 && peak < 4096, "{peak} bytes");
    // Within less than that, nothing is claimed, and the graph never held more than allowed.
    for memory in [64, peak / 2, peak - 1] {
        let (tight, mut held) = (Budget { memory, stop: &never }, 0);
        let err = compute(&mut dump, &objects, &[7], &tight, &mut held).unwrap_err();
        assert!(matches!(&err, DumpError::Stopped(why) if why.contains("chain_memory")), "{err:?}");
        assert!(held <= memory, "{held} bytes held within {memory}");
    }
    assert!(compute(&mut dump, &objects, &[7], &Budget { memory: peak, stop: &never }, &mut 0).is_ok());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_object_index_finds_each_id_and_the_first_of_equal_ones() {
    let mut ids = Ids { ids: vec![5, 3, 5, 9, u64::MAX], ..Ids::default() };
    ids.index(0, &mut Meter::new(1 << 20)).unwrap();
    let got: Vec<Option<u32>> = [5, 3, 9, u64::MAX, 4, 0, 10].iter().map(|&id| ids.get(id)).collect();
    assert_eq!(got, [Some(0), Some(1), Some(3), Some(4), None, None, None]);
    assert!(Ids { ids: vec![1; 1000], ..Ids::default() }.index(0, &mut Meter::new(100)).is_err(), "its 4 KB do not fit in 100 bytes");
    // Many ids over a wide range, in buckets: each found, none between them.
    let wide: Vec<u64> = (1..10_000u64).map(|i| i.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 3).collect();
    let mut ids = Ids { ids: wide.clone(), ..Ids::default() };
    ids.index(0, &mut Meter::new(1 << 20)).unwrap();
    for (i, &id) in wide.iter().enumerate() {
        assert_eq!(ids.get(id), Some(i as u32));
        assert_eq!(ids.get(id + 1), None);
    }
    assert_eq!(ids.get(0), None);
}

/// The compressed index on ids that stress it: blocks of `BLOCK` and their boundaries, steps of
/// every size up to and past what two bytes hold (`far`), units other than 8, duplicates across
/// a block's edge, the least and the greatest id.
#[test]
fn the_compressed_index_finds_every_id_and_no_other_at_block_edges_and_far_steps() {
    let mut next = xorshift(0x1234_5678_9abc_def1);
    for round in 0..40 {
        let unit = [1u64, 8, 16, 24][round % 4];
        let n = 1 + next(5 * BLOCK as u64) as usize;
        let mut at = next(1 << 40) * unit;
        let mut sorted = Vec::new();
        for k in 0..n {
            let step = match next(6) {
                0 => 0,
                1 => (FAR as u64 - 1 + next(3)) * unit,
                2 => next(1 << 50) * unit,
                _ => (1 + next(40)) * unit,
            };
            at = if k == 0 { at } else { at.saturating_add(step) };
            sorted.push(at);
        }
        // Dump order: shuffled.
        let mut dumped = sorted.clone();
        for i in (1..dumped.len()).rev() {
            dumped.swap(i, next(i as u64 + 1) as usize);
        }
        let mut ids = Ids { ids: dumped.clone(), ..Ids::default() };
        ids.index(0, &mut Meter::new(1 << 20)).unwrap();
        assert!(ids.ids.is_empty(), "the raw ids are freed");
        for &id in &sorted {
            let first = dumped.iter().position(|&d| d == id).unwrap() as u32;
            assert_eq!(ids.get(id), Some(first), "round {round}: {id}");
            for absent in [id.wrapping_sub(1), id.wrapping_add(1), id.wrapping_add(unit / 2)] {
                if !sorted.contains(&absent) {
                    assert_eq!(ids.get(absent), None, "round {round}: {absent} is not an id");
                }
            }
        }
        assert_eq!(ids.get(0).is_some(), sorted.contains(&0));
        assert_eq!(ids.get(u64::MAX).is_some(), sorted.contains(&u64::MAX));
    }
    // The least and the greatest id, one block of one.
    for one in [0, 1, u64::MAX] {
        let mut ids = Ids { ids: vec![one], ..Ids::default() };
        ids.index(0, &mut Meter::new(1 << 20)).unwrap();
        assert_eq!(ids.get(one), Some(0));
    }
    let mut none = Ids::default();
    none.index(0, &mut Meter::new(1 << 20)).unwrap();
    assert_eq!(none.get(5), None);
}

/// ChainBench's shape (`chain_bench` below) at 200,000 objects: the graph's peak stays under 23
/// bytes an object (29.8 with raw ids, four-byte sizes and an array of tree parents; 46.3 with
/// the iterative algorithm, its separate predecessor lists and doubling vectors), and the array
/// retains every node.
#[test]
fn the_graph_peaks_under_23_bytes_an_object_on_chains() {
    let n = 200_000;
    let (mut dump, objects, dir) = chain_bench(n, "peak");
    let mut peak = 0;
    let r = compute(&mut dump, &objects, &[1], &Budget { memory: 1 << 30, stop: &never }, &mut peak).unwrap();
    assert_eq!(r[0], Some(40 * n + align(8 * n / 1000) + align(0)));
    let per_object = peak as f64 / (n + 1003) as f64;
    assert!(per_object < 23.0, "{per_object:.1} bytes an object");
    std::fs::remove_dir_all(&dir).ok();
}

/// Once a pass has counted the dump's objects, a `chain_memory` that cannot hold their ids,
/// index and sizes stops the graph before it reads the dump again, with the numbers; one that
/// can goes on.
#[test]
fn a_dump_too_large_for_chain_memory_is_refused_before_a_pass() {
    let n = 20_000;
    let (mut dump, objects, dir) = chain_bench(n, "early");
    assert_eq!(dump.objects, None);
    let mut peak = 0;
    compute(&mut dump, &objects, &[1], &Budget { memory: 1 << 30, stop: &never }, &mut peak).unwrap();
    // The nodes, their two classes and the array.
    assert_eq!(dump.objects, Some(n + 3));
    let least = 14 * (n + 3);
    let (mut held, tight) = (0, Budget { memory: least - 1, stop: &never });
    let err = compute(&mut dump, &objects, &[1], &tight, &mut held).unwrap_err();
    let why = format!("{n_all} objects in the heap dump need at least 1 MiB for the retained heap's graph (14 bytes an object before their references), over chain_memory (0 MiB)", n_all = n + 3);
    assert!(matches!(&err, DumpError::Stopped(w) if *w == why), "{err:?}");
    assert_eq!(held, 0, "nothing was allocated");
    // At exactly what the ids need, it gets to the references before stopping.
    let err = compute(&mut dump, &objects, &[1], &Budget { memory: least, stop: &never }, &mut held).unwrap_err();
    assert!(matches!(&err, DumpError::Stopped(w) if w.contains("over chain_memory") && !w.contains("at least")), "{err:?}");
    assert!(held > 0 && held <= least, "{held}");
    std::fs::remove_dir_all(&dir).ok();
}

/// A dump of ChainBench's shape (bench/ChainBench.java: n objects in chains of 1,000 held from
/// one array, each with a `next` and a null `payload`), and the array as loader 1.
fn chain_bench(n: u64, tag: &str) -> (Dump, Objects, std::path::PathBuf) {
    let mut b = Builder::default();
    // Type 10 is an int.
    let node_class = ClassDump { id: 0x10, fields: vec![(1, TYPE_OBJECT), (2, TYPE_OBJECT), (3, 10)], ..ClassDump::default() };
    b.class(&node_class);
    b.class(&ClassDump { id: 0x20, ..ClassDump::default() });
    let base = 0x1000_0000u64;
    let heads: Vec<u64> = (0..n / 1000).map(|c| base + 16 * (c * 1000 + 999)).collect();
    b.object_array(0x30, 0x20, &heads);
    for i in 0..n {
        let next = if i % 1000 == 0 { 0 } else { base + 16 * (i - 1) };
        b.instance(base + 16 * i, 0x10, &fields(&[(TYPE_OBJECT, next), (TYPE_OBJECT, 0), (10, 7)]));
    }
    b.root(Root { kind: hprof::ROOT_STICKY_CLASS, id: 0x10, thread_serial: 0, frame: 0 });
    b.root(Root { kind: hprof::ROOT_JNI_GLOBAL, id: 0x30, thread_serial: 0, frame: 0 });
    let dir = std::env::temp_dir().join(format!("leakagent-graph-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dump = Dump::open(b.write(&dir.join("chains.hprof"), 1 << 30)).unwrap();
    (dump, Objects { loaders: [(1, 0x30)].into(), ..Objects::default() }, dir)
}

/// What the graph costs per object on ChainBench's shape (bench/ChainBench.java: N objects in
/// chains of 1,000 held from one array, each with a `next` and a null `payload`): run by hand,
/// `cargo test --release -p leakagent --lib graph_cost -- --ignored --nocapture`.
#[test]
#[ignore]
fn graph_cost_per_object_on_a_million_objects() {
    let n: u64 = 1_000_000;
    let (mut dump, objects, dir) = chain_bench(n, "cost");
    let (mut peak, t0) = (0, std::time::Instant::now());
    let r = compute(&mut dump, &objects, &[1], &Budget { memory: 4 << 30, stop: &never }, &mut peak).unwrap();
    let objects = n + 1003;
    eprintln!(
        "{objects} objects: graph peak {peak} bytes, {:.1} bytes an object, {} ms; the array retains {:?}",
        peak as f64 / objects as f64,
        t0.elapsed().as_millis(),
        r[0]
    );
    // Each node 40 bytes, the array and its class (which only the array holds).
    assert_eq!(r[0], Some(40 * n + align(8 * n / 1000) + align(0)));
    std::fs::remove_dir_all(&dir).ok();
}

/// The retained heap's graph of a real heap dump (say the Groovy scenario's, `jcmd <pid>
/// GC.heap_dump`), every object's dominator computed, timed three times: run by hand,
/// `LEAKAGENT_HPROF=file.hprof cargo test --release -p leakagent --lib graph_time -- --ignored --nocapture`.
#[test]
#[ignore]
fn graph_time_on_a_given_dump() {
    let path = std::env::var("LEAKAGENT_HPROF").expect("LEAKAGENT_HPROF names a heap dump");
    let mut dump = Dump::open(std::fs::File::open(path).unwrap()).unwrap();
    for _ in 0..3 {
        let (mut peak, t0) = (0, std::time::Instant::now());
        compute(&mut dump, &Objects::default(), &[], &Budget { memory: 4 << 30, stop: &never }, &mut peak).unwrap();
        eprintln!("graph of {:?} objects: {} ms, peak {peak} bytes", dump.objects, t0.elapsed().as_millis());
    }
}
