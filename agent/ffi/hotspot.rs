//! HotSpot's physical Java frames, read through the JVM's own description of its structures
//! (VMStructs: the `gHotSpotVMStructs` table that the serviceability agent reads), for the
//! stack templates of native/templates.rs.
//!
//! What is read, and how each read stays safe:
//! - the current thread's last-Java-frame anchor (`JavaThread::_anchor`: sp, pc, fp), found from
//!   the JNIEnv at a fixed offset learned once from `java.lang.Thread.eetop`;
//! - words of the current thread's own stack, only between the anchor's sp and the stack base;
//! - the code heaps' segment maps and block headers, only inside a code heap's committed range;
//! - code blob fields (name, frame size, method) and metadata (Method, ConstMethod,
//!   ConstantPool, InstanceKlass), only with `process_vm_readv` on this process, which fails
//!   with EFAULT instead of faulting on a bad address.
//!
//! x86_64 only: frame layouts are per CPU. Anything missing or inconsistent turns templates off
//! (every event is then walked with AsyncGetCallTrace), never the JVM.

use super::jni::Env;
use std::collections::HashMap;
use std::ffi::{c_void, CStr};
use std::sync::OnceLock;

const W: usize = std::mem::size_of::<usize>();

/// Where a physical frame's pc is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// The template interpreter: the frame's fp locates its Method* and bytecode pointer.
    Interpreter,
    /// An nmethod (compiled Java method or native wrapper): its root method and frame size.
    Compiled { method: usize, frame_words: usize },
    /// Anything else (stubs, the call stub, unknown memory): the walk stops.
    Other,
}

/// A method's jmethodID and where its bytecodes start (bci = bcp - code_base).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MethodRef {
    pub jmethod_id: usize,
    pub code_base: usize,
}

/// The current thread's last Java frame, as the native wrapper left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Anchor {
    pub sp: usize,
    pub pc: usize,
    pub fp: usize,
}

/// Why HotSpot's frames cannot be read on this JVM: stack templates are then off and every
/// event is walked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unavailable {
    /// Frame layouts are known for x86_64 Linux only.
    Platform,
    /// `process_vm_readv` on this process is refused (a seccomp filter, say).
    SafeReadDenied,
    /// libjvm.so exports no such VMStructs symbol (not HotSpot, or stripped).
    NoSymbol(&'static str),
    /// VMStructs lacks a type or field this walk reads (another HotSpot version).
    Missing(String),
    /// A structure read through VMStructs is not what its description says.
    Inconsistent(&'static str),
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unavailable::Platform => f.write_str("stack templates know HotSpot's frame layout on x86_64 Linux only"),
            Unavailable::SafeReadDenied => f.write_str("process_vm_readv on this process is not permitted (seccomp?)"),
            Unavailable::NoSymbol(name) => write!(f, "this JVM exports no {name}"),
            Unavailable::Missing(what) => write!(f, "VMStructs has no {what}"),
            Unavailable::Inconsistent(what) => f.write_str(what),
        }
    }
}

type Found<T> = Result<T, Unavailable>;

/// The offsets and addresses the walk needs, from VMStructs.
struct Layout {
    /// JNIEnv address minus JavaThread address.
    env_offset: usize,
    java_thread_size: usize,
    anchor_sp: usize,
    anchor_pc: usize,
    anchor_fp: usize,
    stack_base: usize,
    stack_size: usize,
    heaps: Vec<CodeHeap>,
    interpreter: (usize, usize),
    call_stub_return: usize,
    block_used: usize,
    block_size: usize,
    blob_frame_size: usize,
    blob_name: usize,
    nmethod_method: usize,
    method_const: usize,
    const_constants: usize,
    const_idnum: usize,
    const_size: usize,
    pool_holder: usize,
    jmethod_ids: usize,
}

/// One code heap: where its memory and segment map live (their committed ends grow, so they
/// are read on use).
struct CodeHeap {
    memory_low: usize,
    memory_high_at: usize,
    segmap_low: usize,
    segmap_high_at: usize,
    log2_segment: u32,
}

static LAYOUT: OnceLock<Found<Layout>> = OnceLock::new();

/// Reads the VMStructs tables and the thread offset; call once in the live phase on a Java
/// thread. Returns why templates cannot work here, if they cannot.
pub fn init(env: &Env) -> Found<()> {
    LAYOUT.get_or_init(|| build_layout(env)).as_ref().map(|_| ()).map_err(Clone::clone)
}

fn layout() -> Option<&'static Layout> {
    LAYOUT.get().and_then(|l| l.as_ref().ok())
}

/// Whether `init` succeeded.
pub fn available() -> bool {
    layout().is_some()
}

/// Why the frames cannot be read (None once `init` succeeded).
pub fn unavailable() -> Option<String> {
    match LAYOUT.get() {
        Some(Ok(_)) => None,
        Some(Err(why)) => Some(why.to_string()),
        None => Some("not in the live phase yet".into()),
    }
}

/// The current thread's anchor; None before `init` succeeded.
#[inline]
pub fn anchor(env: &Env) -> Option<Anchor> {
    let l = layout()?;
    let thread = (env.raw() as usize).wrapping_sub(l.env_offset);
    // SAFETY: `thread` is the current JavaThread (the JNIEnv is embedded in it at env_offset,
    // checked in `init`) and the anchor fields lie inside it.
    unsafe {
        Some(Anchor {
            sp: std::ptr::read_volatile((thread + l.anchor_sp) as *const usize),
            pc: std::ptr::read_volatile((thread + l.anchor_pc) as *const usize),
            fp: std::ptr::read_volatile((thread + l.anchor_fp) as *const usize),
        })
    }
}

/// Stack words a template compares in one line-aligned block: each address lies between the sp
/// of the anchor the template was learned at and the base of the thread's stack. Only
/// `Walk::seal` makes one. Up to `INLINE_WORDS` words are kept in place, as offsets from sp
/// and values: on churn every event finds the template's lines evicted (the application
/// zeroed a buffer since the last one), and a pointer to the words would be one dependent miss
/// more and the words' (address, value) pairs twice the lines.
#[repr(C)]
pub struct Checks {
    sp: usize,
    /// Words kept in place; `OUT_OF_LINE` when they are all in `more`.
    len: u8,
    offsets: [u16; INLINE_WORDS],
    values: [usize; INLINE_WORDS],
    more: Box<[(usize, usize)]>,
}

/// Words compared in place (an interpreted frame takes 4, a compiled one 1 or 2).
pub const INLINE_WORDS: usize = 16;
const OUT_OF_LINE: u8 = u8::MAX;

impl Checks {
    /// The checks of `words` against anchor sp `sp`, every address at or above `sp`.
    fn new(sp: usize, words: Vec<(usize, usize)>) -> Checks {
        let mut c = Checks { sp, len: 0, offsets: [0; INLINE_WORDS], values: [0; INLINE_WORDS], more: Box::default() };
        let offset = |a: usize| u16::try_from((a - sp) / W).ok();
        if words.len() <= INLINE_WORDS && words.iter().all(|&(a, _)| offset(a).is_some()) {
            for (i, &(a, v)) in words.iter().enumerate() {
                (c.offsets[i], c.values[i]) = (offset(a).unwrap_or(0), v);
            }
            c.len = words.len() as u8;
        } else {
            (c.len, c.more) = (OUT_OF_LINE, words.into_boxed_slice());
        }
        c
    }

    /// Whether every word still holds its value. The caller has checked that the current
    /// thread's anchor sp equals the one the checks were made for, on the same thread: the
    /// words are then inside that thread's live stack.
    #[inline]
    pub fn hold(&self, anchor_sp: usize) -> bool {
        if anchor_sp != self.sp {
            return false;
        }
        // SAFETY: every address is in [sp, stack base) of this thread's stack (checked by
        // `Walk::seal`), and the stack from the anchor's sp up is live, mapped memory.
        let read = |addr: usize| unsafe { std::ptr::read_volatile(addr as *const usize) };
        if self.len == OUT_OF_LINE {
            return self.more.iter().all(|&(addr, value)| read(addr) == value);
        }
        let n = self.len as usize;
        self.offsets[..n].iter().zip(&self.values[..n]).all(|(&o, &value)| read(self.sp + o as usize * W) == value)
    }
}

/// Reading the current thread's frames while learning a template.
pub struct Walk {
    stack_low: usize,
    stack_high: usize,
    anchor: Anchor,
}

impl Walk {
    /// A walk of the current thread's frames from its anchor; None before `init`, or when the
    /// anchor is not set or outside the thread's stack.
    pub fn current(env: &Env) -> Option<Walk> {
        let l = layout()?;
        let thread = (env.raw() as usize).wrapping_sub(l.env_offset);
        // SAFETY: as in `anchor`: fields of the current JavaThread.
        let (base, size) = unsafe {
            (
                std::ptr::read_volatile((thread + l.stack_base) as *const usize),
                std::ptr::read_volatile((thread + l.stack_size) as *const usize),
            )
        };
        let a = anchor(env)?;
        let low = base.checked_sub(size)?;
        (a.sp != 0 && a.pc != 0 && low <= a.sp && a.sp < base && a.sp.is_multiple_of(W))
            .then_some(Walk { stack_low: a.sp, stack_high: base, anchor: a })
    }

    pub fn anchor(&self) -> Anchor {
        self.anchor
    }

    /// A word of the thread's stack above the anchor, None outside it.
    pub fn stack_word(&self, addr: usize) -> Option<usize> {
        if addr < self.stack_low || addr.checked_add(W)? > self.stack_high || !addr.is_multiple_of(W) {
            return None;
        }
        // SAFETY: inside the live part of the current thread's stack (checked above).
        Some(unsafe { std::ptr::read_volatile(addr as *const usize) })
    }

    /// The checks of a learned template, if every address is inside the walked stack.
    pub fn seal(&self, words: Vec<(usize, usize)>) -> Option<Checks> {
        words
            .iter()
            .all(|&(a, _)| a >= self.stack_low && a + W <= self.stack_high && a.is_multiple_of(W))
            .then(|| Checks::new(self.anchor.sp, words))
    }

    /// What code `pc` belongs to.
    pub fn code(&self, pc: usize) -> Code {
        let Some(l) = layout() else { return Code::Other };
        if pc >= l.interpreter.0 && pc < l.interpreter.1 {
            return Code::Interpreter;
        }
        if pc == l.call_stub_return {
            return Code::Other;
        }
        let Some(blob) = l.heaps.iter().find_map(|h| h.blob_of(l, pc)) else { return Code::Other };
        blob_code(l, blob)
    }

    /// A Method*'s jmethodID and bytecode start, through safe reads (cached per Method*).
    pub fn method(&self, method: usize) -> Option<MethodRef> {
        let l = layout()?;
        method_ref(l, method)
    }
}

impl CodeHeap {
    /// The code blob containing `pc`, when `pc` is in this heap's committed memory.
    fn blob_of(&self, l: &Layout, pc: usize) -> Option<usize> {
        // SAFETY: the high fields are words of the CodeHeap object (a VM-lifetime object).
        let (high, seg_high) = unsafe {
            (
                std::ptr::read_volatile(self.memory_high_at as *const usize),
                std::ptr::read_volatile(self.segmap_high_at as *const usize),
            )
        };
        if pc < self.memory_low || pc >= high {
            return None;
        }
        let mut idx = (pc - self.memory_low) >> self.log2_segment;
        let byte = |i: usize| -> Option<u8> {
            let at = self.segmap_low.checked_add(i)?;
            // SAFETY: inside the segment map's committed range (checked).
            (at < seg_high).then(|| unsafe { std::ptr::read_volatile(at as *const u8) })
        };
        // 0xFF marks a free segment; other non-zero bytes are hops back towards the block's
        // first segment (0).
        let mut hops = 0;
        loop {
            match byte(idx)? {
                0 => break,
                0xFF => return None,
                b => idx = idx.checked_sub(b as usize)?,
            }
            hops += 1;
            if hops > 1 << 16 {
                return None;
            }
        }
        let block = self.memory_low + (idx << self.log2_segment);
        if block + l.block_size + l.blob_name + W > high {
            return None;
        }
        // SAFETY: the block header and blob header lie inside the heap's committed memory.
        let used = unsafe { std::ptr::read_volatile((block + l.block_used) as *const u8) };
        (used != 0).then_some(block + l.block_size)
    }
}

type Cache<V> = OnceLock<parking_lot::Mutex<HashMap<usize, V>>>;

/// Each nmethod's code by blob address, and each Method*'s id: only what was found, so that
/// what is not (yet) there is read again; cleared by `forget_code`.
static BLOBS: Cache<Code> = OnceLock::new();
static METHODS: Cache<MethodRef> = OnceLock::new();

fn cached<V: Copy>(cache: &Cache<V>, key: usize, read: impl FnOnce() -> Option<V>) -> Option<V> {
    let map = cache.get_or_init(Default::default);
    if let Some(v) = map.lock().get(&key) {
        return Some(*v);
    }
    let v = read()?;
    let mut m = map.lock();
    if m.len() >= 1 << 16 {
        m.clear();
    }
    m.insert(key, v);
    Some(v)
}

/// Code or metadata may have been freed (an nmethod or a class unloaded): what was read
/// about them is read again.
pub fn forget_code() {
    if let Some(m) = BLOBS.get() {
        m.lock().clear();
    }
    if let Some(m) = METHODS.get() {
        m.lock().clear();
    }
}

fn blob_code(l: &Layout, blob: usize) -> Code {
    cached(&BLOBS, blob, || Some(read_blob(l, blob)).filter(|c| *c != Code::Other)).unwrap_or(Code::Other)
}

fn read_blob(l: &Layout, blob: usize) -> Code {
    let Some(name) = safe_word(blob + l.blob_name) else { return Code::Other };
    let Some(name) = safe_cstr(name) else { return Code::Other };
    // Java nmethods are named "nmethod", native wrappers "native nmethod".
    if name != "nmethod" && name != "native nmethod" {
        return Code::Other;
    }
    let (Some(frame), Some(method)) = (safe_u32(blob + l.blob_frame_size), safe_word(blob + l.nmethod_method)) else {
        return Code::Other;
    };
    if method == 0 || !(2..=1 << 16).contains(&frame) {
        return Code::Other;
    }
    Code::Compiled { method, frame_words: frame as usize }
}

fn method_ref(l: &Layout, method: usize) -> Option<MethodRef> {
    cached(&METHODS, method, || read_method(l, method))
}

/// Method -> ConstMethod -> ConstantPool -> InstanceKlass -> jmethodID cache[idnum + 1]
/// (element 0 holds the cache's length), as `InstanceKlass::jmethod_id_or_null` reads it.
fn read_method(l: &Layout, method: usize) -> Option<MethodRef> {
    let cm = safe_word(method + l.method_const)?;
    let pool = safe_word(cm + l.const_constants)?;
    let holder = safe_word(pool + l.pool_holder)?;
    let ids = safe_word(holder + l.jmethod_ids)?;
    let idnum = safe_u16(cm + l.const_idnum)? as usize;
    if ids == 0 || safe_word(ids)? <= idnum {
        return None;
    }
    let id = safe_word(ids + (idnum + 1) * W)?;
    (id != 0).then_some(MethodRef { jmethod_id: id, code_base: cm + l.const_size })
}

// ---- Safe reads of memory that may not be mapped. ----

fn safe_read(addr: usize, out: &mut [u8]) -> bool {
    if addr == 0 {
        return false;
    }
    let local = libc::iovec { iov_base: out.as_mut_ptr() as *mut c_void, iov_len: out.len() };
    let remote = libc::iovec { iov_base: addr as *mut c_void, iov_len: out.len() };
    // SAFETY: reads this process's memory into `out`; the kernel returns EFAULT (no signal)
    // when `addr` is not readable.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    n == out.len() as isize
}

pub(super) fn safe_word(addr: usize) -> Option<usize> {
    let mut b = [0u8; W];
    safe_read(addr, &mut b).then(|| usize::from_ne_bytes(b))
}

pub(super) fn safe_u32(addr: usize) -> Option<u32> {
    let mut b = [0u8; 4];
    safe_read(addr, &mut b).then(|| u32::from_ne_bytes(b))
}

fn safe_u16(addr: usize) -> Option<u16> {
    let mut b = [0u8; 2];
    safe_read(addr, &mut b).then(|| u16::from_ne_bytes(b))
}

fn safe_cstr(addr: usize) -> Option<String> {
    let mut b = [0u8; 32];
    if !safe_read(addr, &mut b) && !safe_read(addr, &mut b[..16]) {
        return None;
    }
    let end = b.iter().position(|&c| c == 0)?;
    std::str::from_utf8(&b[..end]).ok().map(String::from)
}

// ---- VMStructs. ----

/// `gHotSpotVMStructs` and `gHotSpotVMTypes`, by (type, field) and type name.
pub(super) struct VmStructs {
    fields: HashMap<(String, String), (bool, usize)>,
    types: HashMap<String, usize>,
}

impl VmStructs {
    /// Reads both tables. They are static data of libjvm.so, built for the serviceability agent
    /// to read, with NUL-terminated names; each ends with an entry whose type name is null.
    pub(super) fn read() -> Found<VmStructs> {
        let value = |name: &'static CStr| -> Found<usize> {
            // SAFETY: dlsym on the global scope, where the launcher loaded libjvm.so.
            let p = unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) };
            if p.is_null() {
                return Err(Unavailable::NoSymbol(name.to_str().unwrap_or("VMStructs symbol")));
            }
            // SAFETY: each of these symbols is a pointer-sized variable of libjvm.so.
            Ok(unsafe { *(p as *const usize) })
        };
        // SAFETY: addresses inside the tables (below), or names they point to.
        let word = |at: usize| unsafe { *(at as *const usize) };
        let name = |at: usize| unsafe { CStr::from_ptr(at as *const std::ffi::c_char) }.to_string_lossy().into_owned();
        let base = value(c"gHotSpotVMStructs")?;
        let stride = value(c"gHotSpotVMStructEntryArrayStride")?;
        let o_type = value(c"gHotSpotVMStructEntryTypeNameOffset")?;
        let o_field = value(c"gHotSpotVMStructEntryFieldNameOffset")?;
        let o_static = value(c"gHotSpotVMStructEntryIsStaticOffset")?;
        let o_offset = value(c"gHotSpotVMStructEntryOffsetOffset")?;
        let o_addr = value(c"gHotSpotVMStructEntryAddressOffset")?;
        let tbase = value(c"gHotSpotVMTypes")?;
        let tstride = value(c"gHotSpotVMTypeEntryArrayStride")?;
        let t_name = value(c"gHotSpotVMTypeEntryTypeNameOffset")?;
        let t_size = value(c"gHotSpotVMTypeEntrySizeOffset")?;
        if base == 0 || stride == 0 || tbase == 0 || tstride == 0 {
            return Err(Unavailable::Inconsistent("VMStructs is empty"));
        }
        let mut fields = HashMap::new();
        for e in (0..100_000).map(|i| base + i * stride) {
            let t = word(e + o_type);
            if t == 0 {
                break;
            }
            let f = word(e + o_field);
            if f == 0 {
                continue;
            }
            // SAFETY: the entry's isStatic field is a 32-bit int.
            let is_static = unsafe { *((e + o_static) as *const i32) } != 0;
            let v = if is_static { word(e + o_addr) } else { word(e + o_offset) };
            fields.insert((name(t), name(f)), (is_static, v));
        }
        let mut types = HashMap::new();
        for e in (0..100_000).map(|i| tbase + i * tstride) {
            let n = word(e + t_name);
            if n == 0 {
                break;
            }
            types.insert(name(n), word(e + t_size));
        }
        Ok(VmStructs { fields, types })
    }

    pub(super) fn offset(&self, ty: &str, field: &str) -> Found<usize> {
        match self.fields.get(&(ty.to_string(), field.to_string())) {
            Some(&(false, off)) => Ok(off),
            _ => Err(Unavailable::Missing(format!("field {ty}::{field}"))),
        }
    }

    /// The first of several names a field had across JDK versions.
    fn offset_of_any(&self, names: &[(&str, &str)]) -> Found<usize> {
        names.iter().find_map(|(t, f)| self.offset(t, f).ok()).ok_or_else(|| {
            Unavailable::Missing(format!("field of {}", names.iter().map(|(t, f)| format!("{t}::{f}")).collect::<Vec<_>>().join(", ")))
        })
    }

    pub(super) fn static_address(&self, ty: &str, field: &str) -> Found<usize> {
        match self.fields.get(&(ty.to_string(), field.to_string())) {
            Some(&(true, addr)) if addr != 0 => Ok(addr),
            _ => Err(Unavailable::Missing(format!("static field {ty}::{field}"))),
        }
    }

    fn size(&self, ty: &str) -> Found<usize> {
        self.types.get(ty).copied().filter(|&s| s > 0).ok_or_else(|| Unavailable::Missing(format!("type {ty}")))
    }
}

fn build_layout(env: &Env) -> Found<Layout> {
    if !cfg!(all(target_arch = "x86_64", target_os = "linux")) {
        return Err(Unavailable::Platform);
    }
    let probe = 0x5eed_u64;
    if safe_word(&probe as *const u64 as usize) != Some(probe as usize) {
        return Err(Unavailable::SafeReadDenied);
    }
    let vs = VmStructs::read()?;
    let anchor = vs.offset("JavaThread", "_anchor")?;
    let call_stub_return = safe_word(vs.static_address("StubRoutines", "_call_stub_return_address")?).unwrap_or(0);
    let l = Layout {
        env_offset: 0,
        java_thread_size: vs.size("JavaThread")?,
        anchor_sp: anchor + vs.offset("JavaFrameAnchor", "_last_Java_sp")?,
        anchor_pc: anchor + vs.offset("JavaFrameAnchor", "_last_Java_pc")?,
        anchor_fp: anchor + vs.offset("JavaFrameAnchor", "_last_Java_fp")?,
        stack_base: vs.offset_of_any(&[("JavaThread", "_stack_base"), ("Thread", "_stack_base")])?,
        stack_size: vs.offset_of_any(&[("JavaThread", "_stack_size"), ("Thread", "_stack_size")])?,
        heaps: code_heaps(&vs)?,
        interpreter: interpreter(&vs)?,
        call_stub_return,
        block_used: vs.offset("HeapBlock::Header", "_used")? + vs.offset("HeapBlock", "_header")?,
        block_size: vs.size("HeapBlock")?,
        blob_frame_size: vs.offset("CodeBlob", "_frame_size")?,
        blob_name: vs.offset("CodeBlob", "_name")?,
        nmethod_method: vs.offset_of_any(&[("nmethod", "_method"), ("CompiledMethod", "_method")])?,
        method_const: vs.offset("Method", "_constMethod")?,
        const_constants: vs.offset("ConstMethod", "_constants")?,
        const_idnum: vs.offset("ConstMethod", "_method_idnum")?,
        const_size: vs.size("ConstMethod")?,
        pool_holder: vs.offset("ConstantPool", "_pool_holder")?,
        jmethod_ids: vs.offset("InstanceKlass", "_methods_jmethod_ids")?,
    };
    let env_offset = env_offset(env, &l)?;
    Ok(Layout { env_offset, ..l })
}

/// The code heaps (`CodeCache::_heaps`), each checked: its segment map covers its memory.
fn code_heaps(vs: &VmStructs) -> Found<Vec<CodeHeap>> {
    const UNREADABLE: Unavailable = Unavailable::Inconsistent("CodeCache::_heaps is unreadable");
    let heaps_at = vs.static_address("CodeCache", "_heaps")?;
    let heaps_array = safe_word(heaps_at).filter(|&a| a != 0).ok_or(Unavailable::Inconsistent("CodeCache::_heaps is not set"))?;
    let len_off = vs.offset_of_any(&[("GrowableArrayBase", "_len"), ("GenericGrowableArray", "_len")])?;
    let data_off = vs.offset("GrowableArray<int>", "_data")?;
    let n = safe_u32(heaps_array + len_off).ok_or(UNREADABLE)? as usize;
    let data = safe_word(heaps_array + data_off).ok_or(UNREADABLE)?;
    if n == 0 || n > 16 {
        return Err(Unavailable::Inconsistent("CodeCache::_heaps has no heap, or more than 16"));
    }
    let memory = vs.offset("CodeHeap", "_memory")?;
    let segmap = vs.offset("CodeHeap", "_segmap")?;
    let log2 = vs.offset("CodeHeap", "_log2_segment_size")?;
    let vs_low = vs.offset("VirtualSpace", "_low")?;
    let vs_high = vs.offset("VirtualSpace", "_high")?;
    let mut heaps = Vec::new();
    for i in 0..n {
        const HEAP: Unavailable = Unavailable::Inconsistent("a code heap is unreadable");
        let h = safe_word(data + i * W).filter(|&h| h != 0).ok_or(HEAP)?;
        let log2_segment = safe_u32(h + log2).ok_or(HEAP)?;
        let heap = CodeHeap {
            memory_low: safe_word(h + memory + vs_low).ok_or(HEAP)?,
            memory_high_at: h + memory + vs_high,
            segmap_low: safe_word(h + segmap + vs_low).ok_or(HEAP)?,
            segmap_high_at: h + segmap + vs_high,
            log2_segment,
        };
        let high = safe_word(heap.memory_high_at).ok_or(HEAP)?;
        let seg_high = safe_word(heap.segmap_high_at).ok_or(HEAP)?;
        // The segment map has one byte per segment of committed memory.
        let consistent = (4..=16).contains(&log2_segment)
            && heap.memory_low != 0
            && high >= heap.memory_low
            && seg_high >= heap.segmap_low
            && seg_high - heap.segmap_low >= (high - heap.memory_low) >> log2_segment;
        if !consistent {
            return Err(Unavailable::Inconsistent("a code heap's VMStructs fields are inconsistent"));
        }
        heaps.push(heap);
    }
    Ok(heaps)
}

/// The template interpreter's code: [start, end).
fn interpreter(vs: &VmStructs) -> Found<(usize, usize)> {
    const UNREADABLE: Unavailable = Unavailable::Inconsistent("the interpreter is unreadable");
    let code = vs.static_address("AbstractInterpreter", "_code")?;
    let queue = safe_word(code).filter(|&q| q != 0).ok_or(Unavailable::Inconsistent("the interpreter is not generated"))?;
    let start = safe_word(queue + vs.offset("StubQueue", "_stub_buffer")?).ok_or(UNREADABLE)?;
    let limit = safe_u32(queue + vs.offset("StubQueue", "_buffer_limit")?).ok_or(UNREADABLE)?;
    if start == 0 || limit == 0 {
        return Err(Unavailable::Inconsistent("the interpreter's code is empty"));
    }
    Ok((start, start + limit as usize))
}

/// JNIEnv minus JavaThread, from `Thread.currentThread().eetop` (the JavaThread address
/// java.lang.Thread keeps), checked against this thread's own stack.
fn env_offset(env: &Env, l: &Layout) -> Found<usize> {
    let eetop = env.current_thread_eetop().ok_or(Unavailable::Inconsistent("java.lang.Thread has no readable eetop field"))? as usize;
    let envp = env.raw() as usize;
    let off = envp.checked_sub(eetop).filter(|&o| o > 0 && o < l.java_thread_size);
    let Some(off) = off else { return Err(Unavailable::Inconsistent("the JNIEnv is not inside the JavaThread")) };
    let base = safe_word(eetop + l.stack_base).unwrap_or(0);
    let size = safe_word(eetop + l.stack_size).unwrap_or(0);
    let here = &off as *const usize as usize;
    if !(base > size && here < base && here >= base - size) {
        return Err(Unavailable::Inconsistent("the JavaThread's stack bounds do not contain this thread's stack"));
    }
    Ok(off)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks over a buffer standing for the stack above the anchor's sp.
    fn checks_over(stack: &[usize], at: &[usize]) -> Checks {
        let sp = stack.as_ptr() as usize;
        Checks::new(sp, at.iter().map(|&i| (sp + i * W, stack[i])).collect())
    }

    #[test]
    fn checks_hold_until_a_word_changes_in_place_and_out_of_line() {
        let mut stack: Vec<usize> = (0..64).map(|i| 0x1000 + i).collect();
        let sp = stack.as_ptr() as usize;
        let few: Vec<usize> = vec![3, 0, 9, 2];
        let many: Vec<usize> = (0..INLINE_WORDS + 3).map(|i| i * 3).collect();
        for (at, in_place) in [(&few, true), (&many, false)] {
            let c = checks_over(&stack, at);
            assert_eq!(c.len != OUT_OF_LINE, in_place);
            assert!(c.hold(sp));
            assert!(!c.hold(sp + W), "another anchor sp");
            let last = *at.last().unwrap();
            stack[last] ^= 1;
            assert!(!c.hold(sp), "the last word changed");
            stack[last] ^= 1;
            assert!(c.hold(sp));
            stack[1] ^= 1; // a word no template reads
            assert!(c.hold(sp));
            stack[1] ^= 1;
        }
    }
}
