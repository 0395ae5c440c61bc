//! Allocations a native ledger already counts are not sampled: the zlib ledger counts every
//! live `Inflater`/`Deflater` stream's malloc'd bytes, and sampling them too cost ~0.45 % of a
//! zlib-heavy workload's CPU (stack walks) for sites the RSS split leaves out anyway. They stay
//! in malloc's statistics (`malloc_in_use` is carved the same way); with `zlib=off` the
//! wrappers are not bound and these allocations are sampled as any other.
//!
//! zlib allocates a stream's memory at two moments. `inflateInit2`/`deflateInit2` (inside the
//! JDK's `init` native, which the ledger wraps) allocate the state, and for a Deflater all its
//! buffers: the wrapper runs the native under [`ledgered`], a per-thread flag the hooks check
//! only when a countdown ends. An Inflater's 32 KiB window comes later, from `inflate()` on the
//! first call that produces output, inside natives the agent does not wrap: [`quiet_inflater`]
//! points the new stream's `zalloc`/`zfree` at functions that call malloc and free directly.
//! zlib calls every allocation of a stream through those two pointers, which its API lets the
//! user choose (zlib.h, "memory allocation functions").

use super::{free_hook, tls, MallocFn, ACTIVE, REAL_MALLOC};
use std::ffi::c_void;
use std::sync::atomic::Ordering::Relaxed;

/// Runs `f`, a JDK native allocating what a ledger counts, with sampling skipped on this thread
/// when `counted` (the ledger is on); else as any other code. Nests.
pub fn ledgered<R>(counted: bool, f: impl FnOnce() -> R) -> R {
    if !counted || !ACTIVE.load(Relaxed) {
        return f();
    }
    let t = tls();
    let was = t.ledgered.replace(true);
    let r = f();
    t.ledgered.set(was);
    r
}

/// zlib's `z_stream` (zlib.h; the same in zlib-ng's compatible API), up to the fields used.
#[repr(C)]
struct ZStream {
    next_in: usize,
    avail_in: u32,
    total_in: u64,
    next_out: usize,
    avail_out: u32,
    total_out: u64,
    msg: usize,
    state: usize,
    zalloc: usize,
    zfree: usize,
}

const _: () = assert!(std::mem::offset_of!(ZStream, state) == 56 && std::mem::offset_of!(ZStream, zfree) == 72);

/// Points the allocator of the Inflater stream `strm` (the address `Inflater.init` returned,
/// before any other thread can see it) at functions sampling skips. Left alone unless the
/// stream looks as expected: its state's first word points back at it (zlib 1.2.9+, zlib-ng)
/// and an allocator is set.
pub fn quiet_inflater(strm: usize) {
    if strm == 0 || !ACTIVE.load(Relaxed) {
        return;
    }
    let s = strm as *mut ZStream;
    // SAFETY: `strm` is the z_stream the JDK's Inflater.init has just allocated and initialised
    // (zlib's calloc'd, 8-aligned struct); this thread is the only one holding it until init
    // returns to Java. The state pointer is zlib's own inflate_state, valid while the stream is.
    unsafe {
        let state = (*s).state as *const usize;
        if state.is_null() || *state != strm || (*s).zalloc == 0 || (*s).zfree == 0 {
            return;
        }
        (*s).zalloc = zalloc_quiet as *const () as usize;
        (*s).zfree = zfree_quiet as *const () as usize;
    }
}

/// zlib's `alloc_func`: the real malloc, as zlib's default `zcalloc` does, without the hook.
extern "C" fn zalloc_quiet(_opaque: *mut c_void, items: u32, size: u32) -> *mut c_void {
    // SAFETY: REAL_MALLOC holds the process's malloc, resolved before ACTIVE was first set,
    // which `quiet_inflater` checked before handing this function out.
    unsafe { std::mem::transmute::<usize, MallocFn>(REAL_MALLOC.load(Relaxed))(items as usize * size as usize) }
}

/// zlib's `free_func`: through the free hook, which forwards to the real free (a block the
/// stream got before its allocator was switched may have been sampled: the hook forgets it).
extern "C" fn zfree_quiet(_opaque: *mut c_void, p: *mut c_void) {
    free_hook(p)
}
