//! The malloc family's hooks for sampled native allocations (docs/native-memory.md): the GOT
//! entries of `malloc`, `calloc`, `realloc`, `posix_memalign`, `aligned_alloc`, `memalign`,
//! `free` and `dlopen` in the JVM's libraries point here (`got.rs`). Allocations are sampled by
//! bytes (a per-thread countdown drawn from an exponential distribution whose mean is the
//! interval in force, raised by the cap on samples a second: `rate.rs`); a sample records the
//! Java stack (AsyncGetCallTrace) and the top native return addresses into a fixed ring the
//! report side drains, and its block's address into a fixed table until freed.
//!
//! What a hook may do: no allocation, no lock, no panic (no indexing that can fail, no unwrap).
//! Everything it touches is static and allocated before the first patch; per-thread state is
//! a zero-initialised block without destructor, reached through a TLS descriptor (`tls.rs`:
//! no `__tls_get_addr`, and a load can never fail for want of static TLS). Code it calls that
//! may itself call malloc (AsyncGetCallTrace inside libjvm) runs under a per-thread reentrancy
//! flag: a nested call goes straight to the real function. An allocation not sampled costs the
//! descriptor call, a compare, a subtraction and a store, then a jump to the real function
//! (the hook decides before it allocates). `free` touches no per-thread state: one byte of a
//! 32 KiB filter keyed by page (`table.rs`), and a probe of one 64-byte bucket only when the
//! filter says a sampled block may live in that page. Neither has a frame.

use super::asgct;
use super::got::{self, Target};
use super::jvmti::Frame;
use jni::sys::{jint, JNIEnv, JavaVM, JNI_OK};
use std::ffi::c_void;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering::*};

/// Java frames kept per sample, and how many identify its site.
pub const JAVA_DEPTH: usize = 16;
pub const JAVA_KEY: usize = 8;
/// Native return addresses kept per sample (the allocating call first), and how many identify
/// its site.
pub const NATIVE_DEPTH: usize = 6;
pub const NATIVE_KEY: usize = 2;
/// Samples the ring holds between two drains (the report side drains every sampler tick).
pub const RING: usize = 8192;
/// Live sampled blocks: buckets of 8 addresses (one cache line).
const BUCKETS: usize = 1 << 14;
const WAYS: usize = 8;
/// A slot being filled: never an address malloc returns.
const RESERVED: usize = 1;

// ---- The real functions (resolved once, before any patch). ----

static REAL_MALLOC: AtomicUsize = AtomicUsize::new(0);
static REAL_CALLOC: AtomicUsize = AtomicUsize::new(0);
static REAL_REALLOC: AtomicUsize = AtomicUsize::new(0);
static REAL_FREE: AtomicUsize = AtomicUsize::new(0);
static REAL_POSIX_MEMALIGN: AtomicUsize = AtomicUsize::new(0);
static REAL_ALIGNED_ALLOC: AtomicUsize = AtomicUsize::new(0);
static REAL_MEMALIGN: AtomicUsize = AtomicUsize::new(0);
static REAL_DLOPEN: AtomicUsize = AtomicUsize::new(0);

/// Sampling on: off, hooks only forward (they stay callable after the entries are restored).
static ACTIVE: AtomicBool = AtomicBool::new(false);
static VM: AtomicPtr<JavaVM> = AtomicPtr::new(std::ptr::null_mut());

// ---- Counters for the report. ----

pub static SAMPLES: AtomicU64 = AtomicU64::new(0);
/// Samples whose block could not be tracked (its bucket full).
pub static TABLE_FULL: AtomicU64 = AtomicU64::new(0);
/// Sampled blocks freed (found in the table by free or realloc).
pub static FREED: AtomicU64 = AtomicU64::new(0);

// ---- The sample ring. ----

struct Record {
    /// 2*seq+1 while written, 2*seq+2 when complete.
    state: AtomicU64,
    hash: AtomicU64,
    size: AtomicU64,
    weight: AtomicU64,
    /// Java frames in the low 32 bits, native in the high.
    counts: AtomicU64,
    java: [AtomicU64; 2 * JAVA_DEPTH],
    native: [AtomicU64; NATIVE_DEPTH],
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY_RECORD: Record = Record {
    state: AtomicU64::new(0),
    hash: AtomicU64::new(0),
    size: AtomicU64::new(0),
    weight: AtomicU64::new(0),
    counts: AtomicU64::new(0),
    java: [const { AtomicU64::new(0) }; 2 * JAVA_DEPTH],
    native: [const { AtomicU64::new(0) }; NATIVE_DEPTH],
};

static RECORDS: [Record; RING] = [EMPTY_RECORD; RING];
static HEAD: AtomicU64 = AtomicU64::new(0);

// ---- The live table (table.rs). ----

mod table;
use table::*;

// ---- Per-thread state (tls.rs) and the cap on samples a second (rate.rs). ----

mod frames;
mod ledgered;
mod rate;
mod tls;
pub use ledgered::{ledgered, quiet_inflater};
use frames::{java_frames, native_frames};
use tls::{counted, tls, Tls};

/// Exponentially distributed with mean `mean` (xorshift64*; the seed mixes the thread's
/// block address, so threads draw apart).
fn draw_mean(t: &Tls, mean: f64) -> u64 {
    let mut x = t.rng.get();
    if x == 0 {
        x = (t as *const Tls as u64) ^ 0x2545_F491_4F6C_DD1D ^ HEAD.load(Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x |= 1;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    t.rng.set(x);
    let u = ((x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    ((-u.ln()) * mean).clamp(1.0, mean * 64.0) as u64
}

/// Counts an allocation of `size` bytes down; when it is sampled, the mean interval its
/// countdown was drawn with (its weight's), else 0.
#[inline(always)]
fn countdown(size: usize) -> u64 {
    if counted(size) {
        0
    } else {
        countdown_ended(tls(), size)
    }
}

/// The countdown reached 0, or the thread never drew: draws the next one with the mean in
/// force; the allocation is sampled unless this is the first draw or the thread is busy.
#[cold]
#[inline(never)]
fn countdown_ended(t: &Tls, size: usize) -> u64 {
    if !ACTIVE.load(Relaxed) {
        // Stopped: forward, and look again after another interval's bytes.
        t.left.set(rate::MEAN.load(Relaxed).max(1));
        return 0;
    }
    let drawn = t.mean.get();
    let mean = rate::MEAN.load(Relaxed).max(1);
    t.mean.set(mean);
    let next = draw_mean(t, mean as f64);
    if drawn == 0 {
        // The thread's first allocation: it counts against its first draw.
        if (size as u64) < next {
            t.left.set(next - size as u64);
            return 0;
        }
        t.left.set(draw_mean(t, mean as f64));
        return if t.busy.get() || t.ledgered.get() { 0 } else { mean };
    }
    t.left.set(next);
    if t.busy.get() || t.ledgered.get() {
        0
    } else {
        drawn
    }
}

/// The bytes a sampled block of `size` stands for when it was drawn at mean `mean`:
/// size / P(sampled), P = 1 - e^(-size/mean).
fn weight_for(size: usize, mean: f64) -> u64 {
    let s = size.max(1) as f64;
    let p = 1.0 - (-s / mean).exp();
    if p <= 0.0 {
        return mean as u64;
    }
    (s / p) as u64
}

/// Records a sampled block `p` of `size` bytes drawn at mean `mean`, allocated by the call
/// whose return address is at `entry_sp` with the caller's frame pointer `fp`.
#[inline(never)]
fn record(p: *mut c_void, size: usize, mean: u64, entry_sp: usize, fp: usize) {
    if p.is_null() {
        return;
    }
    let t = tls();
    if t.busy.replace(true) {
        return;
    }
    record_on(t, p as usize, size, mean, entry_sp, fp);
    rate::on_sample();
    t.busy.set(false);
}

fn record_on(t: &Tls, addr: usize, size: usize, mean: u64, entry_sp: usize, fp: usize) {
    SAMPLES.fetch_add(1, Relaxed);
    let mut native = [0usize; NATIVE_DEPTH];
    let n_native = native_frames(t, entry_sp, fp, &mut native);
    let mut java = [Frame::EMPTY; JAVA_DEPTH];
    let ret = native[0];
    let n_java = java_frames(&mut java, ret, entry_sp + 8, fp);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut mix = |v: u64| {
        h = (h ^ v).wrapping_mul(0x0000_0100_0000_01B3);
        h ^= h >> 29;
    };
    for f in java.iter().take(n_java.min(JAVA_KEY)) {
        mix(f.method as u64);
        mix(f.location as u64);
    }
    mix(0x5eed);
    for &pc in native.iter().take(n_native.min(NATIVE_KEY)) {
        mix(pc as u64);
    }
    let w = weight_for(size, mean as f64);
    if !table_insert(addr, h, w) {
        TABLE_FULL.fetch_add(1, Relaxed);
    }
    let seq = HEAD.fetch_add(1, Relaxed);
    let Some(r) = RECORDS.get((seq % RING as u64) as usize) else { return };
    r.state.store(seq * 2 + 1, Release);
    r.hash.store(h, Relaxed);
    r.size.store(size as u64, Relaxed);
    r.weight.store(w, Relaxed);
    r.counts.store(n_java as u64 | ((n_native as u64) << 32), Relaxed);
    for (slot, f) in r.java.chunks_exact(2).zip(java.iter().take(n_java)) {
        if let [m, l] = slot {
            m.store(f.method as u64, Relaxed);
            l.store(f.location as u64, Relaxed);
        }
    }
    for (slot, &pc) in r.native.iter().zip(native.iter().take(n_native)) {
        slot.store(pc as u64, Relaxed);
    }
    r.state.store(seq * 2 + 2, Release);
}

// ---- The hooks. The entries are naked: they pass the return address's slot and the
// caller's frame pointer to the body, and jump, so the body returns to the real caller. Each
// body decides first whether the allocation is sampled: when not (nearly always), it ends in a
// jump to the real function, with no frame of its own. ----

type MallocFn = unsafe extern "C" fn(usize) -> *mut c_void;
type CallocFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type ReallocFn = unsafe extern "C" fn(*mut c_void, usize) -> *mut c_void;
type FreeFn = unsafe extern "C" fn(*mut c_void);
type PosixMemalignFn = unsafe extern "C" fn(*mut *mut c_void, usize, usize) -> i32;
type AlignedFn = unsafe extern "C" fn(usize, usize) -> *mut c_void;
type DlopenFn = unsafe extern "C" fn(*const libc::c_char, i32) -> *mut c_void;

/// The real function in `$cell` (to be used inside the caller's unsafe block: the cell is set
/// once, before any entry points here, to the non-null function of this type that the process
/// resolves for the name).
macro_rules! real {
    ($cell:ident, $ty:ty) => {
        std::mem::transmute::<usize, $ty>($cell.load(Relaxed))
    };
}

/// An allocation whose countdown ended: made by `alloc`, and recorded when sampled. Out of
/// line, and reached by a jump, so that the bodies' fast path needs no frame.
#[inline(never)]
fn ended(size: usize, entry_sp: usize, fp: usize, alloc: impl FnOnce() -> *mut c_void) -> *mut c_void {
    let mean = countdown_ended(tls(), size);
    let p = alloc();
    if mean != 0 {
        record(p, size, mean, entry_sp, fp);
    }
    p
}

#[unsafe(naked)]
unsafe extern "C" fn malloc_entry(_size: usize) -> *mut c_void {
    core::arch::naked_asm!("mov rsi, rsp", "mov rdx, rbp", "jmp {f}", f = sym malloc_body)
}

extern "C" fn malloc_body(size: usize, entry_sp: usize, fp: usize) -> *mut c_void {
    if counted(size) {
        // SAFETY: forwarding the caller's arguments to the real function (see `real!`).
        return unsafe { real!(REAL_MALLOC, MallocFn)(size) };
    }
    // SAFETY: as above.
    ended(size, entry_sp, fp, move || unsafe { real!(REAL_MALLOC, MallocFn)(size) })
}

#[unsafe(naked)]
unsafe extern "C" fn calloc_entry(_n: usize, _size: usize) -> *mut c_void {
    core::arch::naked_asm!("mov rdx, rsp", "mov rcx, rbp", "jmp {f}", f = sym calloc_body)
}

extern "C" fn calloc_body(n: usize, size: usize, entry_sp: usize, fp: usize) -> *mut c_void {
    let bytes = n.saturating_mul(size);
    if counted(bytes) {
        // SAFETY: forwarding the caller's arguments to the real function (see `real!`).
        return unsafe { real!(REAL_CALLOC, CallocFn)(n, size) };
    }
    // SAFETY: as above.
    ended(bytes, entry_sp, fp, move || unsafe { real!(REAL_CALLOC, CallocFn)(n, size) })
}

#[unsafe(naked)]
unsafe extern "C" fn realloc_entry(_p: *mut c_void, _size: usize) -> *mut c_void {
    core::arch::naked_asm!("mov rdx, rsp", "mov rcx, rbp", "jmp {f}", f = sym realloc_body)
}

extern "C" fn realloc_body(old: *mut c_void, size: usize, entry_sp: usize, fp: usize) -> *mut c_void {
    if !old.is_null() && maybe_live(old as usize) {
        // Out of line, so that the usual realloc saves no registers around the table's probe.
        return realloc_tracked(old, size, entry_sp, fp);
    }
    realloc_counted(old, size, entry_sp, fp)
}

/// A realloc of a block the filter says may be sampled.
#[cold]
#[inline(never)]
extern "C" fn realloc_tracked(old: *mut c_void, size: usize, entry_sp: usize, fp: usize) -> *mut c_void {
    // Before the real call: once it returns, another thread may be handed the old address.
    table_remove(old as usize);
    realloc_counted(old, size, entry_sp, fp)
}

/// The new size counted down, then the real realloc (recorded when the countdown ends).
#[inline(always)]
fn realloc_counted(old: *mut c_void, size: usize, entry_sp: usize, fp: usize) -> *mut c_void {
    if size == 0 || counted(size) {
        // SAFETY: forwarding the caller's arguments to the real function (see `real!`).
        return unsafe { real!(REAL_REALLOC, ReallocFn)(old, size) };
    }
    // SAFETY: as above.
    ended(size, entry_sp, fp, move || unsafe { real!(REAL_REALLOC, ReallocFn)(old, size) })
}

#[unsafe(naked)]
unsafe extern "C" fn posix_memalign_entry(_out: *mut *mut c_void, _align: usize, _size: usize) -> i32 {
    core::arch::naked_asm!("mov rcx, rsp", "mov r8, rbp", "jmp {f}", f = sym posix_memalign_body)
}

extern "C" fn posix_memalign_body(out: *mut *mut c_void, align: usize, size: usize, entry_sp: usize, fp: usize) -> i32 {
    let mean = if out.is_null() { 0 } else { countdown(size) };
    // SAFETY: forwarding the caller's arguments to the real function (see `real!`).
    let rc = unsafe { real!(REAL_POSIX_MEMALIGN, PosixMemalignFn)(out, align, size) };
    if rc == 0 && mean != 0 {
        // SAFETY: on success posix_memalign stored the block in `*out`.
        record(unsafe { *out }, size, mean, entry_sp, fp);
    }
    rc
}

#[unsafe(naked)]
unsafe extern "C" fn aligned_alloc_entry(_align: usize, _size: usize) -> *mut c_void {
    core::arch::naked_asm!("mov rdx, rsp", "mov rcx, rbp", "jmp {f}", f = sym aligned_alloc_body)
}

extern "C" fn aligned_alloc_body(align: usize, size: usize, entry_sp: usize, fp: usize) -> *mut c_void {
    if counted(size) {
        // SAFETY: forwarding the caller's arguments to the real function (see `real!`).
        return unsafe { real!(REAL_ALIGNED_ALLOC, AlignedFn)(align, size) };
    }
    // SAFETY: as above.
    ended(size, entry_sp, fp, move || unsafe { real!(REAL_ALIGNED_ALLOC, AlignedFn)(align, size) })
}

#[unsafe(naked)]
unsafe extern "C" fn memalign_entry(_align: usize, _size: usize) -> *mut c_void {
    core::arch::naked_asm!("mov rdx, rsp", "mov rcx, rbp", "jmp {f}", f = sym memalign_body)
}

extern "C" fn memalign_body(align: usize, size: usize, entry_sp: usize, fp: usize) -> *mut c_void {
    if counted(size) {
        // SAFETY: forwarding the caller's arguments to the real function (see `real!`).
        return unsafe { real!(REAL_MEMALIGN, AlignedFn)(align, size) };
    }
    // SAFETY: as above.
    ended(size, entry_sp, fp, move || unsafe { real!(REAL_MEMALIGN, AlignedFn)(align, size) })
}

extern "C" fn free_hook(p: *mut c_void) {
    if !p.is_null() && maybe_live(p as usize) {
        // Out of line: the usual free needs no frame, both ends are jumps.
        return free_tracked(p);
    }
    // SAFETY: forwarding the caller's argument to the real function (see `real!`).
    unsafe { real!(REAL_FREE, FreeFn)(p) }
}

/// A free of a block the filter says may be sampled.
#[cold]
#[inline(never)]
extern "C" fn free_tracked(p: *mut c_void) {
    table_remove(p as usize);
    // SAFETY: forwarding the caller's argument to the real function (see `real!`).
    unsafe { real!(REAL_FREE, FreeFn)(p) }
}

extern "C" fn dlopen_hook(name: *const libc::c_char, flags: i32) -> *mut c_void {
    // SAFETY: forwarding the caller's arguments to the real function (see `real!`).
    let h = unsafe { real!(REAL_DLOPEN, DlopenFn)(name, flags) };
    if !h.is_null() && ACTIVE.load(Relaxed) {
        // A JNI library loaded through the JVM: patched before its first call returns here.
        // A nested hook call on this thread (a constructor's malloc) forwards.
        let t = tls();
        if !t.busy.replace(true) {
            got::rescan();
            t.busy.set(false);
        }
    }
    h
}

fn resolve(name: &std::ffi::CStr) -> usize {
    // SAFETY: dlsym on the global scope for a libc function name.
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) as usize }
}

/// Resolves the real functions, points the loaded libraries' entries at the hooks and starts
/// sampling every `interval` bytes on average, at most `cap` samples a second. `vm` gives the
/// hooks JNIEnvs (GetEnv). Returns the entries patched, or why nothing was.
pub fn install(vm: *mut JavaVM, interval: u64, cap: u64) -> Result<usize, String> {
    let reals = [
        (&REAL_MALLOC, c"malloc"),
        (&REAL_CALLOC, c"calloc"),
        (&REAL_REALLOC, c"realloc"),
        (&REAL_FREE, c"free"),
        (&REAL_POSIX_MEMALIGN, c"posix_memalign"),
        (&REAL_ALIGNED_ALLOC, c"aligned_alloc"),
        (&REAL_MEMALIGN, c"memalign"),
        (&REAL_DLOPEN, c"dlopen"),
    ];
    for (cell, name) in reals {
        let p = resolve(name);
        if p == 0 {
            return Err(format!("{} not found with dlsym", name.to_string_lossy()));
        }
        cell.store(p, Relaxed);
    }
    rate::configure(interval, cap);
    tls::find_static();
    VM.store(vm, Relaxed);
    ACTIVE.store(true, Release);
    let targets = [
        Target { name: c"malloc", hook: malloc_entry as *const () as usize },
        Target { name: c"calloc", hook: calloc_entry as *const () as usize },
        Target { name: c"realloc", hook: realloc_entry as *const () as usize },
        Target { name: c"free", hook: free_hook as *const () as usize },
        Target { name: c"posix_memalign", hook: posix_memalign_entry as *const () as usize },
        Target { name: c"aligned_alloc", hook: aligned_alloc_entry as *const () as usize },
        Target { name: c"memalign", hook: memalign_entry as *const () as usize },
        Target { name: c"dlopen", hook: dlopen_hook as *const () as usize },
    ];
    Ok(got::install(&targets))
}

/// Stops sampling and puts every patched entry back. The hooks stay callable (a thread may be
/// inside one, or hold a pointer a GLOB_DAT entry gave it): they forward.
pub fn uninstall() -> usize {
    ACTIVE.store(false, Release);
    got::restore_all()
}

pub fn active() -> bool {
    ACTIVE.load(Relaxed)
}

/// The calling thread's word for the native ledgers' record (0 until set).
#[inline]
pub fn ledgers_word() -> usize {
    tls().ledgers.get()
}

pub fn set_ledgers_word(v: usize) {
    // A thread's first record: the ledgers reach the word through the thread pointer alone
    // once the TLS is known to be static, also when sampling is off (`native=off`), where
    // `install` never looked and every access called the TLS descriptor.
    if v != 0 && !tls::is_static() {
        tls::find_static();
    }
    tls().ledgers.set(v);
}

/// Whether glibc placed the agent's TLS in static TLS (known once installed): the hooks then
/// reach their per-thread state without a call (docs/native-memory.md, "Overhead").
pub fn static_tls() -> bool {
    tls::is_static()
}

/// The interval in force now and the highest since start, and how often the cap on samples a
/// second raised it.
pub struct Rate {
    pub effective: u64,
    pub peak: u64,
    pub raises: u64,
}

pub fn rate() -> Rate {
    Rate {
        effective: rate::MEAN.load(Relaxed),
        peak: rate::PEAK.load(Relaxed),
        raises: rate::RAISES.load(Relaxed),
    }
}

/// One sample as the report side reads it.
pub struct Sample {
    pub hash: u64,
    pub weight: u64,
    pub java: Vec<Frame>,
    pub native: Vec<usize>,
}

/// The samples recorded since `from` (a sequence number), through `f`; returns the next
/// sequence number to drain from and how many samples were overwritten before they were read.
pub fn drain(from: u64, mut f: impl FnMut(Sample)) -> (u64, u64) {
    let head = HEAD.load(Acquire);
    let mut lost = 0;
    let mut seq = from.max(head.saturating_sub(RING as u64));
    lost += seq - from.min(seq);
    while seq < head {
        let Some(r) = RECORDS.get((seq % RING as u64) as usize) else { break };
        let state = r.state.load(Acquire);
        if state == seq * 2 + 1 {
            // Still being written: read it next time.
            break;
        }
        if state != seq * 2 + 2 {
            lost += 1;
            seq += 1;
            continue;
        }
        let counts = r.counts.load(Relaxed);
        let n_java = ((counts & 0xffff_ffff) as usize).min(JAVA_DEPTH);
        let n_native = ((counts >> 32) as usize).min(NATIVE_DEPTH);
        let java = r
            .java
            .chunks_exact(2)
            .take(n_java)
            .map(|c| Frame { method: c[0].load(Relaxed) as usize, location: c[1].load(Relaxed) as i64 })
            .collect();
        let native = r.native.iter().take(n_native).map(|a| a.load(Relaxed) as usize).collect();
        let s = Sample { hash: r.hash.load(Relaxed), weight: r.weight.load(Relaxed), java, native };
        if r.state.load(Acquire) == state {
            f(s);
        } else {
            lost += 1;
        }
        seq += 1;
    }
    (seq, lost)
}

/// Every sampled block live now: (site hash, weight), through `f`.
pub fn live(mut f: impl FnMut(u64, u64)) {
    for (b, bucket) in KEYS.iter().enumerate() {
        for (i, k) in bucket.keys.iter().enumerate() {
            let key = k.load(Acquire);
            if key > RESERVED {
                let slot = b * WAYS + i;
                if let (Some(h), Some(w)) = (HASHES.get(slot), WEIGHTS.get(slot)) {
                    f(h.load(Relaxed), w.load(Relaxed));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
