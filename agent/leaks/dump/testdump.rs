//! Writes small HotSpot heap dumps for the tests of the dump reader and the dump search.

use crate::leaks::dump::hprof::*;
use std::fs::File;

/// Writes records in HotSpot's order: strings, classes, then one heap dump segment.
#[derive(Default)]
pub struct Builder {
    head: Vec<u8>,
    heap: Vec<u8>,
}

fn id(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn record(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
}

impl Builder {
    pub fn utf8(&mut self, sid: u64, s: &str) -> &mut Self {
        let mut b = Vec::new();
        id(&mut b, sid);
        b.extend_from_slice(s.as_bytes());
        record(&mut self.head, UTF8, &b);
        self
    }

    pub fn load_class(&mut self, serial: u32, class_id: u64, name_id: u64) -> &mut Self {
        let mut b = serial.to_be_bytes().to_vec();
        id(&mut b, class_id);
        b.extend_from_slice(&1u32.to_be_bytes());
        id(&mut b, name_id);
        record(&mut self.head, LOAD_CLASS, &b);
        self
    }

    pub fn frame(&mut self, frame_id: u64, method_id: u64, class_serial: u32) -> &mut Self {
        let mut b = Vec::new();
        for v in [frame_id, method_id, 0, 0] {
            id(&mut b, v);
        }
        b.extend_from_slice(&class_serial.to_be_bytes());
        b.extend_from_slice(&1u32.to_be_bytes());
        record(&mut self.head, FRAME, &b);
        self
    }

    pub fn trace(&mut self, serial: u32, thread: u32, frames: &[u64]) -> &mut Self {
        let mut b = serial.to_be_bytes().to_vec();
        b.extend_from_slice(&thread.to_be_bytes());
        b.extend_from_slice(&(frames.len() as u32).to_be_bytes());
        for f in frames {
            id(&mut b, *f);
        }
        record(&mut self.head, TRACE, &b);
        self
    }

    /// A class: statics are (name id, value id), fields (name id, type).
    pub fn class(&mut self, c: &ClassDump) -> &mut Self {
        let h = &mut self.heap;
        h.push(CLASS_DUMP);
        id(h, c.id);
        h.extend_from_slice(&1u32.to_be_bytes());
        for v in [c.super_id, c.loader_id, c.signers_id, c.domain_id, 0, 0] {
            id(h, v);
        }
        h.extend_from_slice(&16u32.to_be_bytes());
        // One primitive constant pool entry, to be skipped.
        h.extend_from_slice(&1u16.to_be_bytes());
        h.extend_from_slice(&7u16.to_be_bytes());
        h.push(10);
        h.extend_from_slice(&42u32.to_be_bytes());
        // Statics: the object ones given, plus one int.
        h.extend_from_slice(&(c.static_refs.len() as u16 + 1).to_be_bytes());
        for (name, value) in &c.static_refs {
            id(h, *name);
            h.push(TYPE_OBJECT);
            id(h, *value);
        }
        id(h, 999);
        h.push(10);
        h.extend_from_slice(&7u32.to_be_bytes());
        h.extend_from_slice(&(c.fields.len() as u16).to_be_bytes());
        for (name, t) in &c.fields {
            id(h, *name);
            h.push(*t);
        }
        self
    }

    pub fn instance(&mut self, oid: u64, class_id: u64, fields: &[u8]) -> &mut Self {
        let h = &mut self.heap;
        h.push(INSTANCE_DUMP);
        id(h, oid);
        h.extend_from_slice(&1u32.to_be_bytes());
        id(h, class_id);
        h.extend_from_slice(&(fields.len() as u32).to_be_bytes());
        h.extend_from_slice(fields);
        self
    }

    pub fn object_array(&mut self, oid: u64, class_id: u64, elements: &[u64]) -> &mut Self {
        let h = &mut self.heap;
        h.push(OBJ_ARRAY_DUMP);
        id(h, oid);
        h.extend_from_slice(&1u32.to_be_bytes());
        h.extend_from_slice(&(elements.len() as u32).to_be_bytes());
        id(h, class_id);
        for e in elements {
            id(h, *e);
        }
        self
    }

    pub fn long_array(&mut self, oid: u64, values: &[i64]) -> &mut Self {
        let h = &mut self.heap;
        h.push(PRIM_ARRAY_DUMP);
        id(h, oid);
        h.extend_from_slice(&1u32.to_be_bytes());
        h.extend_from_slice(&(values.len() as u32).to_be_bytes());
        h.push(TYPE_LONG);
        for v in values {
            h.extend_from_slice(&v.to_be_bytes());
        }
        self
    }

    pub fn byte_array(&mut self, oid: u64, len: u32) -> &mut Self {
        let h = &mut self.heap;
        h.push(PRIM_ARRAY_DUMP);
        id(h, oid);
        h.extend_from_slice(&1u32.to_be_bytes());
        h.extend_from_slice(&len.to_be_bytes());
        h.push(8);
        h.extend(std::iter::repeat_n(0xAB, len as usize));
        self
    }

    pub fn root(&mut self, r: Root) -> &mut Self {
        let h = &mut self.heap;
        h.push(r.kind);
        id(h, r.id);
        match r.kind {
            ROOT_JNI_GLOBAL => id(h, 0x77),
            ROOT_JNI_LOCAL | ROOT_JAVA_FRAME | ROOT_THREAD_OBJ => {
                h.extend_from_slice(&r.thread_serial.to_be_bytes());
                h.extend_from_slice(&r.frame.to_be_bytes());
            }
            ROOT_NATIVE_STACK | ROOT_THREAD_BLOCK => h.extend_from_slice(&r.thread_serial.to_be_bytes()),
            _ => {}
        }
        self
    }

    /// The whole file; the heap is split into segments of about `segment` bytes.
    pub fn bytes(&self, segment: usize) -> Vec<u8> {
        let mut out = b"JAVA PROFILE 1.0.2\0".to_vec();
        out.extend_from_slice(&8u32.to_be_bytes());
        out.extend_from_slice(&0u64.to_be_bytes());
        out.extend_from_slice(&self.head);
        // Split only between sub-records: re-walk them with the reader's own rules is
        // overkill for tests, so one segment unless asked for a split at a known boundary.
        if segment >= self.heap.len() {
            record(&mut out, HEAP_DUMP_SEGMENT, &self.heap);
        } else {
            record(&mut out, HEAP_DUMP_SEGMENT, &self.heap[..segment]);
            record(&mut out, HEAP_DUMP_SEGMENT, &self.heap[segment..]);
        }
        record(&mut out, HEAP_DUMP_END, &[]);
        out
    }

    /// Current length of the heap part: a sub-record boundary, for `bytes`.
    pub fn heap_len(&self) -> usize {
        self.heap.len()
    }

    pub fn write(&self, path: &std::path::Path, segment: usize) -> File {
        std::fs::write(path, self.bytes(segment)).unwrap();
        File::open(path).unwrap()
    }
}

/// Field values of an instance: ids and ints, big-endian.
pub fn fields(values: &[(u8, u64)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (t, v) in values {
        match *t {
            TYPE_OBJECT => out.extend_from_slice(&v.to_be_bytes()),
            10 => out.extend_from_slice(&(*v as u32).to_be_bytes()),
            TYPE_LONG => out.extend_from_slice(&v.to_be_bytes()),
            _ => panic!("test helper: type {t}"),
        }
    }
    out
}
