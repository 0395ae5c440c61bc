use crate::leaks::dump::testdump::*;
use super::*;

#[derive(Default)]
struct All {
    strings: Vec<(u64, String)>,
    classes: Vec<ClassDump>,
    loads: Vec<(u32, u64, u64)>,
    roots: Vec<Root>,
    instances: Vec<(u64, u64, Vec<u8>)>,
    arrays: Vec<(u64, u64, u32, u32, Vec<u64>)>,
    longs: Vec<(u64, Vec<u8>)>,
    traces: Vec<(u32, u32, Vec<u64>)>,
    frames: Vec<(u64, u64, u32)>,
    heap_start: Option<u64>,
    stop_after: Option<u32>,
    seen: u32,
}

impl Visitor for All {
    fn want(&self) -> Want {
        Want {
            strings: true,
            meta: true,
            roots: true,
            classes: true,
            instances: true,
            object_arrays: true,
            small_primitive_arrays: 4,
        }
    }
    fn stop(&mut self) -> bool {
        self.stop_after.is_some_and(|n| self.seen >= n)
    }
    fn utf8(&mut self, id: u64, text: &[u8]) {
        self.strings.push((id, String::from_utf8_lossy(text).into()));
    }
    fn load_class(&mut self, serial: u32, class_id: u64, name_id: u64) {
        self.loads.push((serial, class_id, name_id));
    }
    fn frame(&mut self, f: u64, m: u64, c: u32) {
        self.frames.push((f, m, c));
    }
    fn trace(&mut self, s: u32, t: u32, frames: &[u64]) {
        self.traces.push((s, t, frames.to_vec()));
    }
    fn heap_start(&mut self, offset: u64) {
        self.heap_start = Some(offset);
    }
    fn root(&mut self, r: Root) {
        self.roots.push(r);
    }
    fn class(&mut self, c: ClassDump) {
        self.classes.push(c);
    }
    fn instance(&mut self, id: u64, class_id: u64, fields: &[u8]) {
        self.seen += 1;
        self.instances.push((id, class_id, fields.to_vec()));
    }
    fn object_array(&mut self, id: u64, class_id: u64, length: u32, first: u32, elements: &[u8]) {
        let e = elements.chunks_exact(8).map(be).collect();
        self.arrays.push((id, class_id, length, first, e));
    }
    fn primitive_array(&mut self, id: u64, t: u8, _len: u32, data: &[u8]) {
        assert_eq!(t, TYPE_LONG);
        self.longs.push((id, data.to_vec()));
    }
}

fn sample() -> Builder {
    let mut b = Builder::default();
    b.utf8(1, "java/lang/Object").utf8(2, "Holder").utf8(3, "ref").utf8(4, "CACHE");
    b.load_class(1, 0x100, 1).load_class(2, 0x200, 2);
    b.frame(50, 3, 2).trace(2, 1, &[50]);
    b.class(&ClassDump { id: 0x100, ..ClassDump::default() });
    b.class(&ClassDump {
        id: 0x200,
        super_id: 0x100,
        loader_id: 0x900,
        static_refs: vec![(4, 0x1000)],
        fields: vec![(3, TYPE_OBJECT), (5, 10)],
        ..ClassDump::default()
    });
    b.instance(0x1000, 0x200, &fields(&[(TYPE_OBJECT, 0x2000), (10, 7)]));
    b.byte_array(0x3000, 100);
    b.long_array(0x4000, &[1, 2, 3]);
    b.object_array(0x2000, 0x100, &[0x1000, 0, 0x3000]);
    b.root(Root { kind: ROOT_STICKY_CLASS, id: 0x100, thread_serial: 0, frame: 0 });
    b.root(Root { kind: ROOT_JAVA_FRAME, id: 0x1000, thread_serial: 1, frame: 0 });
    b.root(Root { kind: ROOT_THREAD_OBJ, id: 0x5000, thread_serial: 1, frame: 2 });
    b.root(Root { kind: ROOT_JNI_GLOBAL, id: 0x2000, thread_serial: 0, frame: 0 });
    b
}

#[test]
fn every_record_kind_is_read_back() {
    let dir = std::env::temp_dir().join(format!("leakagent-hprof-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let b = sample();
    let mut d = Dump::open(b.write(&dir.join("a.hprof"), usize::MAX)).unwrap();
    assert_eq!(d.id_size, 8);
    let mut v = All::default();
    assert_eq!(d.scan(None, &mut v).unwrap(), ScanEnd::Complete);
    assert_eq!(v.strings.len(), 4);
    assert_eq!(v.strings[1], (2, "Holder".to_string()));
    assert_eq!(v.loads, [(1, 0x100, 1), (2, 0x200, 2)]);
    assert_eq!(v.frames, [(50, 3, 2)]);
    assert_eq!(v.traces, [(2, 1, vec![50])]);
    assert_eq!(v.classes.len(), 2);
    assert_eq!(v.classes[1].static_refs, [(4, 0x1000)]);
    assert_eq!(v.classes[1].fields, [(3, TYPE_OBJECT), (5, 10)]);
    assert_eq!((v.classes[1].super_id, v.classes[1].loader_id), (0x100, 0x900));
    assert_eq!(v.instances, [(0x1000, 0x200, fields(&[(TYPE_OBJECT, 0x2000), (10, 7)]))]);
    assert_eq!(v.arrays, [(0x2000, 0x100, 3, 0, vec![0x1000, 0, 0x3000])]);
    assert_eq!(v.longs.len(), 1, "the byte[100] is skipped, the long[3] read");
    assert_eq!(v.longs[0].1.len(), 24);
    assert_eq!(v.roots.len(), 4);
    assert_eq!(v.roots[1], Root { kind: ROOT_JAVA_FRAME, id: 0x1000, thread_serial: 1, frame: 0 });
    assert_eq!(v.roots[2].frame, 2);

    // A second pass from the heap start sees the same heap records.
    let mut again = All::default();
    d.scan(v.heap_start, &mut again).unwrap();
    assert!(again.strings.is_empty() && again.loads.is_empty());
    assert_eq!(again.instances, v.instances);
    assert_eq!(again.roots, v.roots);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn segments_split_between_records_and_truncation_is_an_error() {
    let dir = std::env::temp_dir().join(format!("leakagent-hprof2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut b = sample();
    let split = b.heap_len();
    b.instance(0x6000, 0x200, &fields(&[(TYPE_OBJECT, 0), (10, 1)]));
    let mut d = Dump::open(b.write(&dir.join("b.hprof"), split)).unwrap();
    let mut v = All::default();
    d.scan(None, &mut v).unwrap();
    assert_eq!(v.instances.len(), 2);

    let bytes = b.bytes(usize::MAX);
    std::fs::write(dir.join("c.hprof"), &bytes[..bytes.len() - 40]).unwrap();
    let mut t = Dump::open(File::open(dir.join("c.hprof")).unwrap()).unwrap();
    assert!(t.scan(None, &mut All::default()).is_err());

    std::fs::write(dir.join("d.hprof"), b"NOT A DUMP\0\0\0\0\x08").unwrap();
    assert!(Dump::open(File::open(dir.join("d.hprof")).unwrap()).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_visitor_can_stop_a_scan() {
    let dir = std::env::temp_dir().join(format!("leakagent-hprof3-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut b = Builder::default();
    b.class(&ClassDump { id: 0x100, fields: vec![(3, 10)], ..ClassDump::default() });
    for i in 0..10_000u64 {
        b.instance(0x10_000 + i * 16, 0x100, &fields(&[(10, i)]));
    }
    let mut d = Dump::open(b.write(&dir.join("e.hprof"), usize::MAX)).unwrap();
    let mut v = All { stop_after: Some(1), ..All::default() };
    assert_eq!(d.scan(None, &mut v).unwrap(), ScanEnd::Stopped);
    assert!(v.instances.len() < 10_000);
    std::fs::remove_dir_all(&dir).unwrap();
}
