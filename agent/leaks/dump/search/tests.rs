use crate::leaks::dump::testdump::{fields, Builder};
use crate::leaks::dump::hprof::{ClassDump, Dump, ROOT_JAVA_FRAME, ROOT_JNI_GLOBAL, ROOT_JNI_LOCAL, ROOT_STICKY_CLASS, ROOT_THREAD_OBJ, TYPE_LONG, TYPE_OBJECT};
use super::*;
use std::time::Duration;

struct NoLive;
impl Live for NoLive {
    fn thread_name(&self, tid: i64) -> Option<String> {
        (tid == 77).then(|| "worker-1".into())
    }
}

const MARKER: [i64; 4] = [0x1eaa_9e47, 0x5eed, 3, 0x1eaa_9e48];

fn limits() -> Limits {
    Limits { time: Duration::from_secs(30), max_objects: 1_000_000, pause: Duration::from_secs(1), memory: 64 << 20 }
}

/// Object 0x100 class; strings 1..; loaders 0xA000 (suspect, id 7), 0xB000 (id 8, healthy).
fn world() -> Builder {
    let mut b = Builder::default();
    for (id, s) in [
        (1, "java/lang/Object"),
        (2, "com/app/Registry"),
        (3, "CACHE"),
        (4, "java/util/HashMap$Node"),
        (5, "value"),
        (6, "java/net/URLClassLoader"),
        (7, "com/app/Plugin"),
        (8, "[Ljava/lang/Object;"),
        (9, "java/lang/ref/Reference"),
        (10, "referent"),
        (11, "java/lang/ref/SoftReference"),
        (12, "java/lang/Thread"),
        (13, "tid"),
        (14, "contextClassLoader"),
        (15, "run"),
        (16, "com/app/Worker"),
        (17, "java/lang/Long"),
    ] {
        b.utf8(id, s);
    }
    let classes: [(u32, u64, u64); 11] = [
        (1, 0x100, 1),
        (2, 0x200, 2),
        (3, 0x300, 4),
        (4, 0x400, 6),
        (5, 0x500, 7),
        (6, 0x600, 8),
        (7, 0x700, 9),
        (8, 0x800, 11),
        (9, 0x900, 12),
        (10, 0x950, 16),
        (11, 0x980, 17),
    ];
    for (serial, id, name) in classes {
        b.load_class(serial, id, name);
    }
    b.class(&ClassDump { id: 0x100, ..ClassDump::default() });
    // A system class holding a map node in a static field.
    b.class(&ClassDump { id: 0x200, super_id: 0x100, static_refs: vec![(3, 0x2000)], ..ClassDump::default() });
    b.class(&ClassDump { id: 0x300, super_id: 0x100, fields: vec![(5, TYPE_OBJECT)], ..ClassDump::default() });
    b.class(&ClassDump { id: 0x400, super_id: 0x100, ..ClassDump::default() });
    // The plugin class, defined by the suspect loader.
    b.class(&ClassDump { id: 0x500, super_id: 0x100, loader_id: 0xA000, ..ClassDump::default() });
    b.class(&ClassDump { id: 0x600, super_id: 0x100, ..ClassDump::default() });
    b.class(&ClassDump { id: 0x700, super_id: 0x100, fields: vec![(10, TYPE_OBJECT)], ..ClassDump::default() });
    b.class(&ClassDump { id: 0x800, super_id: 0x700, ..ClassDump::default() });
    b.class(&ClassDump { id: 0x900, super_id: 0x100, fields: vec![(13, TYPE_LONG), (14, TYPE_OBJECT)], ..ClassDump::default() });
    b.class(&ClassDump { id: 0x950, super_id: 0x100, ..ClassDump::default() });
    b.class(&ClassDump { id: 0x980, super_id: 0x100, ..ClassDump::default() });
    b.root(Root { kind: ROOT_STICKY_CLASS, id: 0x200, thread_serial: 0, frame: 0 });
    b
}

/// The marker array and the agent's own thread, which holds it.
fn marker(b: &mut Builder, own_thread: u64, loaders: &[u64]) {
    marker_with(b, own_thread, loaders, &[]);
}

/// The same, with the agent's other threads after the loaders.
fn marker_with(b: &mut Builder, own_thread: u64, loaders: &[u64], others: &[u64]) {
    b.long_array(0xF100, &MARKER);
    let mut e = vec![0xF100, own_thread];
    e.extend_from_slice(loaders);
    e.extend_from_slice(others);
    e.push(0xF100);
    b.object_array(0xF000, 0x600, &e);
    b.instance(own_thread, 0x900, &fields(&[(TYPE_LONG, 2), (TYPE_OBJECT, 0)]));
    b.root(Root { kind: ROOT_THREAD_OBJ, id: own_thread, thread_serial: 9, frame: 10 });
    b.root(Root { kind: ROOT_JNI_LOCAL, id: 0xF000, thread_serial: 9, frame: 0 });
    // The agent's own local reference to a loader is not a root.
    b.root(Root { kind: ROOT_JAVA_FRAME, id: 0xA000, thread_serial: 9, frame: 0 });
}


fn run(b: &Builder, targets: &[u32]) -> Found {
    run_with(b, targets, 0)
}

fn run_with(b: &Builder, targets: &[u32], agent_threads: usize) -> Found {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let k = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("leakagent-dumpsearch-{}-{k}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{:x}.hprof", b.heap_len()));
    let mut d = Dump::open(b.write(&path, usize::MAX)).unwrap();
    let setup = Setup {
        marker: MARKER,
        loader_ids: vec![7, 8],
        loader_classes: vec!["java.net.URLClassLoader".into(), "java.net.URLClassLoader".into()],
        targets: targets.to_vec(),
        agent_threads,
        limits: limits(),
    };
    let f = search(&mut d, &setup, &Budget::open(), &NoLive);
    let _ = std::fs::remove_dir_all(&dir);
    f
}

#[test]
fn a_static_map_node_pinning_a_plugin_instance_is_named_hop_by_hop() {
    let mut b = world();
    marker(&mut b, 0xE000, &[0xA000, 0xB000]);
    // Registry.CACHE -> HashMap$Node.value -> Plugin instance -> class Plugin -> loader.
    b.instance(0x2000, 0x300, &fields(&[(TYPE_OBJECT, 0x3000)]));
    b.instance(0x3000, 0x500, &[]);
    b.instance(0xA000, 0x400, &[]);
    b.instance(0xB000, 0x400, &[]);
    let f = run(&b, &[7]);
    assert!(f.error.is_none(), "{f:?}");
    let c = &f.chains[0].as_ref().expect("a chain").0;
    let text: Vec<String> = c.iter().map(|h| format!("{}|{}|{}|{}|{:?}", h.kind, h.from, h.field, h.to, h.to_loader)).collect();
    assert_eq!(
        text,
        [
            "static_field|com.app.Registry|CACHE|java.util.HashMap$Node|Some(0)",
            "field|java.util.HashMap$Node|value|com.app.Plugin|Some(7)",
            "class|com.app.Plugin||class com.app.Plugin|Some(7)",
            "class_loader|class com.app.Plugin||java.net.URLClassLoader|Some(7)",
        ]
    );
    assert!(f.complete);
}

#[test]
fn a_thread_context_loader_and_a_stack_local_are_roots_but_not_the_agents_own() {
    let mut b = world();
    marker(&mut b, 0xE000, &[0xA000, 0xB000]);
    b.instance(0xA000, 0x400, &[]);
    b.instance(0xB000, 0x400, &[]);
    // Thread tid 77 has the suspect as its context loader.
    b.instance(0xD000, 0x900, &fields(&[(TYPE_LONG, 77), (TYPE_OBJECT, 0xA000)]));
    b.root(Root { kind: ROOT_THREAD_OBJ, id: 0xD000, thread_serial: 3, frame: 4 });
    let f = run(&b, &[7]);
    let c = &f.chains[0].as_ref().expect("a chain").0;
    assert_eq!(c[0].kind, "thread");
    assert_eq!(c[0].from, "<thread \"worker-1\">");
    assert_eq!((c[1].kind.as_str(), c[1].field.as_str()), ("field", "contextClassLoader"));

    // A stack local of another thread, with its frame named from the trace.
    let mut b = world();
    marker(&mut b, 0xE000, &[0xA000, 0xB000]);
    b.instance(0xA000, 0x400, &[]);
    b.instance(0xB000, 0x400, &[]);
    b.instance(0xD000, 0x900, &fields(&[(TYPE_LONG, 77), (TYPE_OBJECT, 0)]));
    b.frame(60, 15, 10).trace(4, 3, &[60]);
    b.root(Root { kind: ROOT_THREAD_OBJ, id: 0xD000, thread_serial: 3, frame: 4 });
    b.root(Root { kind: ROOT_JAVA_FRAME, id: 0xA000, thread_serial: 3, frame: 0 });
    let f = run(&b, &[7]);
    let c = &f.chains[0].as_ref().expect("a chain").0;
    assert_eq!(c[0].kind, "stack_local");
    assert_eq!(c[0].from, "<local variable in com.app.Worker.run (thread \"worker-1\", id 77)>");
}

#[test]
fn no_chain_starts_at_a_reference_held_by_any_of_the_agents_threads() {
    // The sampler (thread serial 11) holds a class of the suspect as a JNI local, the only
    // reference to it, while the dump is written.
    let world_with_sampler = |listed: bool| {
        let mut b = world();
        if listed {
            marker_with(&mut b, 0xE000, &[0xA000, 0xB000], &[0xE100]);
        } else {
            marker(&mut b, 0xE000, &[0xA000, 0xB000]);
        }
        b.instance(0xA000, 0x400, &[]);
        b.instance(0xB000, 0x400, &[]);
        b.instance(0xE100, 0x900, &fields(&[(TYPE_LONG, 78), (TYPE_OBJECT, 0)]));
        b.root(Root { kind: ROOT_THREAD_OBJ, id: 0xE100, thread_serial: 11, frame: 12 });
        b.root(Root { kind: ROOT_JNI_LOCAL, id: 0x500, thread_serial: 11, frame: 0 });
        b
    };
    // Not known as the agent's, its local is a root like any thread's.
    let f = run(&world_with_sampler(false), &[7]);
    assert_eq!(f.chains[0].as_ref().expect("a chain").0[0].kind, "jni_local");
    // Listed in the marker array: no chain, and the loader is proven unreachable.
    let f = run_with(&world_with_sampler(true), &[7], 1);
    assert!(f.error.is_none(), "{f:?}");
    assert!(f.chains[0].is_none() && !f.weakly_held[0] && f.complete, "{f:?}");
    let own = &f.objects.as_ref().expect("objects").own;
    assert_eq!((own.threads.as_slice(), own.serials.as_slice()), (&[0xE000, 0xE100][..], &[9, 11][..]));
}

#[test]
fn a_loader_held_only_softly_is_weakly_held_and_an_unreachable_one_has_no_chain() {
    let mut b = world();
    marker(&mut b, 0xE000, &[0xA000, 0xB000]);
    b.instance(0xA000, 0x400, &[]);
    b.instance(0xB000, 0x400, &[]);
    // A JNI global holds a SoftReference whose referent is loader 7.
    b.instance(0x7000, 0x800, &fields(&[(TYPE_OBJECT, 0xA000)]));
    b.root(Root { kind: ROOT_JNI_GLOBAL, id: 0x7000, thread_serial: 0, frame: 0 });
    let f = run(&b, &[7, 8]);
    assert!(f.chains.iter().all(Option::is_none), "{:?}", f.chains);
    assert_eq!(f.weakly_held, [true, false]);
    assert!(f.complete, "{f:?}");
}

#[test]
fn a_dump_without_the_marker_is_an_error() {
    let mut b = world();
    b.instance(0xA000, 0x400, &[]);
    let f = run(&b, &[7]);
    assert!(f.error.as_deref().unwrap_or("").contains("marker"), "{f:?}");
    assert!(!f.complete);
}

#[test]
fn fifteen_hundred_suspects_are_served_by_one_search_of_a_few_passes() {
    let n = 1500u64;
    let mut b = world();
    let loaders: Vec<u64> = (0..n).map(|i| 0x10_0000 + i * 0x10).collect();
    marker(&mut b, 0xE000, &loaders);
    // Registry.CACHE -> HashMap$Node.value -> Object[] -> each even plugin instance -> its
    // class -> its loader; every odd loader is only a SoftReference's referent.
    b.instance(0x2000, 0x300, &fields(&[(TYPE_OBJECT, 0x40_0000)]));
    let mut held = Vec::new();
    for (i, &l) in loaders.iter().enumerate() {
        let (class, object) = (0x20_0000 + i as u64 * 0x10, 0x30_0000 + i as u64 * 0x10);
        b.load_class(100 + i as u32, class, 7);
        b.class(&ClassDump { id: class, super_id: 0x100, loader_id: l, ..ClassDump::default() });
        b.instance(l, 0x400, &[]);
        if i % 2 == 0 {
            b.instance(object, class, &[]);
            held.push(object);
        } else {
            b.instance(object, 0x800, &fields(&[(TYPE_OBJECT, l)]));
            held.push(object);
        }
    }
    b.object_array(0x40_0000, 0x600, &held);
    let path = std::env::temp_dir().join(format!("leakagent-dumpsearch-many-{}.hprof", std::process::id()));
    let mut d = Dump::open(b.write(&path, usize::MAX)).unwrap();
    let setup = Setup {
        marker: MARKER,
        loader_ids: (0..n as u32).map(|i| 1000 + i).collect(),
        loader_classes: vec!["groovy.lang.GroovyClassLoader$InnerLoader".into(); n as usize],
        targets: (0..n as u32).map(|i| 1000 + i).collect(),
        agent_threads: 0,
        limits: limits(),
    };
    let f = search(&mut d, &setup, &Budget::open(), &NoLive);
    let _ = std::fs::remove_file(&path);
    assert!(f.error.is_none() && f.limit_hit.is_none(), "{:?} {:?}", f.error, f.limit_hit);
    for (i, c) in f.chains.iter().enumerate() {
        if i % 2 == 0 {
            let c = &c.as_ref().unwrap_or_else(|| panic!("no chain for suspect {i}")).0;
            assert_eq!(c[2].field, format!("[{i}]"), "{c:?}");
            assert_eq!(c.last().unwrap().kind, "class_loader");
            assert_eq!(c.last().unwrap().to_loader, Some(1000 + i as u32));
        } else {
            assert!(c.is_none() && f.weakly_held[i], "suspect {i} is held only softly");
        }
    }
    assert!(f.complete);
    // The index pass, then per round one pass per hop of the longest chain (not per suspect).
    assert!(f.passes < 20, "{} passes", f.passes);
    assert!(f.peak_memory_bytes < 4 << 20, "{} bytes", f.peak_memory_bytes);
}
