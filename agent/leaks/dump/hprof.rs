//! A streaming reader of the heap dumps HotSpot writes (HPROF "JAVA PROFILE 1.0.2", big-endian).
//!
//! The chain search reads a dump several times, one pass per hop, on the report thread while the
//! application runs. Nothing is mapped into memory (the process's RSS stays what the report
//! measured) and nothing is kept but what the visitor keeps: a pass reads the file through one
//! buffer and hands each record to a [`Visitor`], which says up front which kinds it wants so the
//! others are skipped without decoding.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};

pub const TYPE_OBJECT: u8 = 2;
pub const TYPE_LONG: u8 = 11;

/// Bytes of one value of an HPROF basic type; None for a type HotSpot never writes.
pub fn type_size(t: u8, id_size: usize) -> Option<usize> {
    match t {
        1 | TYPE_OBJECT => Some(id_size),
        4 | 8 => Some(1),
        5 | 9 => Some(2),
        6 | 10 => Some(4),
        7 | TYPE_LONG => Some(8),
        _ => None,
    }
}

// Top-level record tags.
pub(super) const UTF8: u8 = 0x01;
pub(super) const LOAD_CLASS: u8 = 0x02;
pub(super) const FRAME: u8 = 0x04;
pub(super) const TRACE: u8 = 0x05;
pub(super) const HEAP_DUMP: u8 = 0x0C;
pub(super) const HEAP_DUMP_SEGMENT: u8 = 0x1C;
pub(super) const HEAP_DUMP_END: u8 = 0x2C;

// Heap dump sub-record tags.
pub const ROOT_UNKNOWN: u8 = 0xFF;
pub const ROOT_JNI_GLOBAL: u8 = 0x01;
pub const ROOT_JNI_LOCAL: u8 = 0x02;
pub const ROOT_JAVA_FRAME: u8 = 0x03;
pub const ROOT_NATIVE_STACK: u8 = 0x04;
pub const ROOT_STICKY_CLASS: u8 = 0x05;
pub const ROOT_THREAD_BLOCK: u8 = 0x06;
pub const ROOT_MONITOR_USED: u8 = 0x07;
pub const ROOT_THREAD_OBJ: u8 = 0x08;
pub(super) const CLASS_DUMP: u8 = 0x20;
pub(super) const INSTANCE_DUMP: u8 = 0x21;
pub(super) const OBJ_ARRAY_DUMP: u8 = 0x22;
pub(super) const PRIM_ARRAY_DUMP: u8 = 0x23;

/// Which records a visitor wants decoded.
#[derive(Clone, Copy, Debug, Default)]
pub struct Want {
    pub strings: bool,
    /// LOAD_CLASS, FRAME and TRACE records.
    pub meta: bool,
    pub roots: bool,
    pub classes: bool,
    pub instances: bool,
    pub object_arrays: bool,
    /// The contents of primitive arrays of at most this many elements (others are skipped).
    pub small_primitive_arrays: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Root {
    pub kind: u8,
    pub id: u64,
    /// The thread of a stack or thread root (its serial number), else 0.
    pub thread_serial: u32,
    /// Frame number in the thread's trace (stack roots), or the trace serial (thread roots).
    pub frame: u32,
}

/// A class as the dump describes it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClassDump {
    pub id: u64,
    pub super_id: u64,
    pub loader_id: u64,
    pub signers_id: u64,
    pub domain_id: u64,
    /// Static fields holding an object: (name id, value).
    pub static_refs: Vec<(u64, u64)>,
    /// Instance fields this class declares (not its superclasses'), in dump order: (name id, type).
    pub fields: Vec<(u64, u8)>,
}

pub trait Visitor {
    fn want(&self) -> Want;
    /// Checked every few thousand records: true aborts the scan (`ScanEnd::Stopped`).
    fn stop(&mut self) -> bool {
        false
    }
    fn utf8(&mut self, _id: u64, _text: &[u8]) {}
    fn load_class(&mut self, _serial: u32, _class_id: u64, _name_id: u64) {}
    fn frame(&mut self, _frame_id: u64, _method_name_id: u64, _class_serial: u32) {}
    fn trace(&mut self, _serial: u32, _thread_serial: u32, _frames: &[u64]) {}
    /// The first heap dump record starts at this file offset (passes may start there).
    fn heap_start(&mut self, _offset: u64) {}
    fn root(&mut self, _root: Root) {}
    fn class(&mut self, _class: ClassDump) {}
    /// An instance and its field values (the class's own fields first, then its superclass's).
    fn instance(&mut self, _id: u64, _class_id: u64, _fields: &[u8]) {}
    /// Part of an object array: `elements` are ids, the first one at index `first`.
    fn object_array(&mut self, _id: u64, _class_id: u64, _length: u32, _first: u32, _elements: &[u8]) {}
    fn primitive_array(&mut self, _id: u64, _elem_type: u8, _length: u32, _data: &[u8]) {}
    /// A primitive array whose contents were skipped (longer than `small_primitive_arrays`).
    fn primitive_array_skipped(&mut self, _id: u64, _elem_type: u8, _length: u32) {}
}

#[derive(Debug, PartialEq, Eq)]
pub enum ScanEnd {
    Complete,
    Stopped,
}

const BUF: usize = 4 << 20;
/// Object array elements are handed over in chunks of at most this many bytes.
const ARRAY_CHUNK: usize = 1 << 20;

/// A dump opened for reading: the header is checked, records start at `records`.
pub struct Dump {
    file: File,
    pub id_size: usize,
    records: u64,
    /// The heap's objects (classes, instances, arrays; not an object array of no elements,
    /// which no visitor hears of), once a scan read every heap record from the first.
    pub objects: Option<u64>,
}

impl Dump {
    pub fn open(mut file: File) -> io::Result<Dump> {
        let mut head = [0u8; 31];
        let n = file.read(&mut head)?;
        let nul = head[..n].iter().position(|&b| b == 0).ok_or_else(|| bad("not an HPROF file (no header)"))?;
        if !head[..nul].starts_with(b"JAVA PROFILE 1.0") {
            return Err(bad("not an HPROF file (unknown header)"));
        }
        if n < nul + 13 {
            return Err(bad("HPROF header is truncated"));
        }
        let id_size = u32::from_be_bytes(head[nul + 1..nul + 5].try_into().unwrap()) as usize;
        if id_size != 4 && id_size != 8 {
            return Err(bad("HPROF identifier size is neither 4 nor 8"));
        }
        Ok(Dump { file, id_size, records: (nul + 13) as u64, objects: None })
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// Reads the records from `from` (None: the first record) to the end, handing what `v`
    /// wants to `v`.
    pub fn scan(&mut self, from: Option<u64>, v: &mut dyn Visitor) -> io::Result<ScanEnd> {
        let start = from.unwrap_or(self.records);
        self.file.seek(SeekFrom::Start(start))?;
        let mut r = Reader { file: &mut self.file, buf: vec![0; BUF], pos: 0, end: 0, at: start, id: self.id_size };
        let want = v.want();
        let mut count: u32 = 0;
        let mut heap_seen = false;
        let heap = want.roots || want.classes || want.instances || want.object_arrays || want.small_primitive_arrays > 0;
        let (whole, mut objects) = (start == self.records && heap, 0u64);
        while r.fill(9)? {
            let tag = r.u1();
            let _time = r.u4();
            let len = r.u4() as u64;
            let body = r.offset();
            match tag {
                UTF8 if want.strings => {
                    let id = r.need_id()?;
                    let n = (len as usize).saturating_sub(r.id);
                    if n <= BUF - 16 {
                        r.need(n)?;
                        v.utf8(id, r.take(n));
                    }
                }
                LOAD_CLASS | FRAME | TRACE if want.meta => meta_record(&mut r, tag, v)?,
                HEAP_DUMP | HEAP_DUMP_SEGMENT => {
                    if !heap_seen {
                        heap_seen = true;
                        v.heap_start(body - 9);
                    }
                    if heap {
                        let end = body + len;
                        while r.offset() < end {
                            count = count.wrapping_add(1);
                            if count.is_multiple_of(4096) && v.stop() {
                                return Ok(ScanEnd::Stopped);
                            }
                            objects += sub_record(&mut r, &want, v)? as u64;
                        }
                        if r.offset() != end {
                            return Err(bad("a heap dump record overruns its segment"));
                        }
                    }
                }
                HEAP_DUMP_END => {
                    if whole {
                        self.objects = Some(objects);
                    }
                    return Ok(ScanEnd::Complete);
                }
                _ => {}
            }
            let done = r.offset() - body;
            if done > len {
                return Err(bad("an HPROF record is longer than its length says"));
            }
            r.skip(len - done)?;
            count = count.wrapping_add(1);
            if count.is_multiple_of(4096) && v.stop() {
                return Ok(ScanEnd::Stopped);
            }
        }
        // HotSpot always ends a dump with this record: without it the dump is incomplete.
        Err(bad("the heap dump ends before its end record"))
    }
}

/// A class load, stack frame or stack trace record.
fn meta_record(r: &mut Reader<'_>, tag: u8, v: &mut dyn Visitor) -> io::Result<()> {
    match tag {
        LOAD_CLASS => {
            r.need(8 + 2 * r.id)?;
            let serial = r.u4();
            let class_id = r.id();
            let _trace = r.u4();
            let name = r.id();
            v.load_class(serial, class_id, name);
        }
        FRAME => {
            r.need(4 * r.id + 8)?;
            let frame = r.id();
            let method = r.id();
            let _sig = r.id();
            let _src = r.id();
            let class_serial = r.u4();
            let _line = r.u4();
            v.frame(frame, method, class_serial);
        }
        TRACE => {
            r.need(12)?;
            let serial = r.u4();
            let thread = r.u4();
            let n = r.u4() as usize;
            let bytes = n * r.id;
            if bytes <= BUF - 16 {
                r.need(bytes)?;
                let id = r.id;
                let frames: Vec<u64> = r.take(bytes).chunks_exact(id).map(be).collect();
                v.trace(serial, thread, &frames);
            }
        }
        _ => {}
    }
    Ok(())
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, &x| acc << 8 | x as u64)
}

/// A GC root sub-record: each kind carries the object, some a thread and a frame.
fn root_record(r: &mut Reader<'_>, tag: u8) -> io::Result<Root> {
    let id = r.id;
    let root = |o, thread_serial, frame| Root { kind: tag, id: o, thread_serial, frame };
    Ok(match tag {
        ROOT_JNI_GLOBAL => {
            r.need(2 * id)?;
            let o = r.id();
            let _ref = r.id();
            root(o, 0, 0)
        }
        ROOT_JNI_LOCAL | ROOT_JAVA_FRAME | ROOT_THREAD_OBJ => {
            r.need(id + 8)?;
            let o = r.id();
            let thread_serial = r.u4();
            root(o, thread_serial, r.u4())
        }
        ROOT_NATIVE_STACK | ROOT_THREAD_BLOCK => {
            r.need(id + 4)?;
            let o = r.id();
            root(o, r.u4(), 0)
        }
        _ => {
            r.need(id)?;
            root(r.id(), 0, 0)
        }
    })
}

/// Reads one heap sub-record; says whether it was an object (of a non-zero id).
fn sub_record(r: &mut Reader<'_>, want: &Want, v: &mut dyn Visitor) -> io::Result<bool> {
    r.need(1)?;
    let tag = r.u1();
    let id = r.id;
    Ok(match tag {
        ROOT_UNKNOWN | ROOT_STICKY_CLASS | ROOT_MONITOR_USED | ROOT_JNI_GLOBAL | ROOT_JNI_LOCAL | ROOT_JAVA_FRAME
        | ROOT_THREAD_OBJ | ROOT_NATIVE_STACK | ROOT_THREAD_BLOCK => {
            let root = root_record(r, tag)?;
            if want.roots {
                v.root(root);
            }
            false
        }
        CLASS_DUMP => {
            let c = class_dump(r)?;
            let object = c.id != 0;
            if want.classes {
                v.class(c);
            }
            object
        }
        INSTANCE_DUMP => {
            r.need(2 * id + 8)?;
            let o = r.id();
            let _trace = r.u4();
            let class_id = r.id();
            let n = r.u4() as usize;
            if want.instances && n <= BUF - 16 {
                r.need(n)?;
                v.instance(o, class_id, r.take(n));
            } else {
                r.skip(n as u64)?;
            }
            o != 0 && n <= BUF - 16
        }
        OBJ_ARRAY_DUMP => {
            r.need(2 * id + 8)?;
            let o = r.id();
            let _trace = r.u4();
            let length = r.u4();
            let class_id = r.id();
            let total = length as u64 * id as u64;
            if want.object_arrays {
                let mut first = 0u32;
                let per_chunk = (ARRAY_CHUNK / id) as u32;
                while first < length {
                    let n = per_chunk.min(length - first) as usize;
                    r.need(n * id)?;
                    v.object_array(o, class_id, length, first, r.take(n * id));
                    first += n as u32;
                }
            } else {
                r.skip(total)?;
            }
            o != 0 && length > 0
        }
        PRIM_ARRAY_DUMP => {
            r.need(id + 9)?;
            let o = r.id();
            let _trace = r.u4();
            let length = r.u4();
            let elem_type = r.u1();
            let size = type_size(elem_type, id).ok_or_else(|| bad("unknown primitive array type"))?;
            let bytes = length as u64 * size as u64;
            if length <= want.small_primitive_arrays {
                r.need(bytes as usize)?;
                v.primitive_array(o, elem_type, length, r.take(bytes as usize));
            } else {
                r.skip(bytes)?;
                v.primitive_array_skipped(o, elem_type, length);
            }
            o != 0
        }
        _ => return Err(bad("unknown heap dump sub-record")),
    })
}

fn class_dump(r: &mut Reader<'_>) -> io::Result<ClassDump> {
    let id = r.id;
    r.need(7 * id + 8 + 2)?;
    let mut c = ClassDump { id: r.id(), ..ClassDump::default() };
    let _trace = r.u4();
    c.super_id = r.id();
    c.loader_id = r.id();
    c.signers_id = r.id();
    c.domain_id = r.id();
    let _reserved = (r.id(), r.id());
    let _size = r.u4();
    let constants = r.u2();
    for _ in 0..constants {
        r.need(3)?;
        let _index = r.u2();
        let t = r.u1();
        let n = type_size(t, id).ok_or_else(|| bad("unknown constant pool entry type"))?;
        r.need(n)?;
        r.take(n);
    }
    r.need(2)?;
    let statics = r.u2();
    for _ in 0..statics {
        r.need(id + 1)?;
        let name = r.id();
        let t = r.u1();
        let n = type_size(t, id).ok_or_else(|| bad("unknown static field type"))?;
        r.need(n)?;
        if t == TYPE_OBJECT {
            let value = r.id();
            if value != 0 {
                c.static_refs.push((name, value));
            }
        } else {
            r.take(n);
        }
    }
    r.need(2)?;
    let fields = r.u2();
    c.fields.reserve(fields as usize);
    for _ in 0..fields {
        r.need(id + 1)?;
        let name = r.id();
        let t = r.u1();
        c.fields.push((name, t));
    }
    Ok(c)
}

/// A buffered, big-endian cursor over the file.
struct Reader<'f> {
    file: &'f mut File,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// File offset of `buf[0]`.
    at: u64,
    id: usize,
}

impl Reader<'_> {
    fn offset(&self) -> u64 {
        self.at + self.pos as u64
    }

    /// Makes `n` bytes available; false at a clean end of file.
    fn fill(&mut self, n: usize) -> io::Result<bool> {
        if self.end - self.pos >= n {
            return Ok(true);
        }
        self.buf.copy_within(self.pos..self.end, 0);
        self.at += self.pos as u64;
        self.end -= self.pos;
        self.pos = 0;
        while self.end < n {
            let got = self.file.read(&mut self.buf[self.end..])?;
            if got == 0 {
                return Ok(false);
            }
            self.end += got;
        }
        Ok(true)
    }

    fn need(&mut self, n: usize) -> io::Result<()> {
        if n > self.buf.len() {
            return Err(bad("an HPROF record is larger than the reader's buffer"));
        }
        if self.fill(n)? {
            Ok(())
        } else {
            Err(bad("the heap dump ends in the middle of a record"))
        }
    }

    fn need_id(&mut self) -> io::Result<u64> {
        self.need(self.id)?;
        Ok(self.id())
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        s
    }

    fn u1(&mut self) -> u8 {
        self.take(1)[0]
    }

    fn u2(&mut self) -> u16 {
        be(self.take(2)) as u16
    }

    fn u4(&mut self) -> u32 {
        be(self.take(4)) as u32
    }

    fn id(&mut self) -> u64 {
        let n = self.id;
        be(self.take(n))
    }

    fn skip(&mut self, n: u64) -> io::Result<()> {
        let buffered = (self.end - self.pos) as u64;
        if n <= buffered {
            self.pos += n as usize;
            return Ok(());
        }
        let target = self.offset() + n;
        self.file.seek(SeekFrom::Start(target))?;
        self.at = target;
        self.pos = 0;
        self.end = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
