//! The hooks' per-thread state, reached without `__tls_get_addr`.
//!
//! A Rust `thread_local!` in a dlopen'ed library compiles to the general-dynamic model: a call
//! through the PLT to `__tls_get_addr`, which checks the thread's DTV generation, on every
//! allocation (~3 ns). This block lives in the agent's TLS segment too (`.tbss`, zeroed for
//! each thread), but is reached through a TLS descriptor (`@tlsdesc`/`@tlscall`, gcc's
//! `-mtls-dialect=gnu2`): one indirect call to a resolver the loader picked when it relocated
//! the agent. When glibc could place the agent's TLS in the static surplus that resolver
//! returns a constant offset (two instructions); otherwise it is `_dl_tlsdesc_dynamic`, which
//! reads the thread's DTV without a PLT hop or a caller-saved spill. Unlike the initial-exec
//! model, a descriptor can never make `dlopen` (or a late attach) fail: the loader falls back
//! to dynamic TLS when the surplus is exhausted. The surplus glibc keeps for descriptors is
//! 512 B (`glibc.rtld.optional_static_tls`) and takes a library's whole TLS segment or none of
//! it: the agent's thread-locals stay small (big ones live on the heap), and
//! `tests/native_sampling.rs` bounds the segment.
//!
//! The resolver preserves every general register but `rax` (and the flags), so the hooks' own
//! arguments stay in place and an unsampled allocation needs no frame. The asm still declares
//! the vector registers clobbered: glibc before 2.40 did not preserve them in the dynamic
//! resolver's slow path (a thread's first touch of the block, BZ #31372). That slow path may
//! allocate with the loader's malloc, which is glibc's own and never a hook (glibc's libraries
//! are never patched).

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The state of one thread. All zero is the state of a thread that never allocated: no draw
/// yet (`mean` 0), not busy, stack bounds unknown. No destructor, no initialiser.
#[repr(C)]
pub(super) struct Tls {
    /// Bytes left before the next sample: an allocation of at least this many ends the
    /// countdown. First, at offset 0: `counted` reaches it from the thread pointer.
    pub(super) left: Cell<u64>,
    /// The mean interval `left` was drawn with (the weight of the sample that ends it); 0
    /// before the thread's first draw.
    pub(super) mean: Cell<u64>,
    pub(super) rng: Cell<u64>,
    pub(super) stack_lo: Cell<usize>,
    pub(super) stack_hi: Cell<usize>,
    /// Inside the hooks' own work (a sample, a rescan): nested hook calls only forward.
    pub(super) busy: Cell<bool>,
    /// Inside a JDK native whose allocations a native ledger counts (`ledgered.rs`): a
    /// countdown that ends here draws anew but takes no sample.
    pub(super) ledgered: Cell<bool>,
    /// The native ledgers' per-thread record (`native/thread.rs`), 0 until the thread's first
    /// ledger event: here, the ledgers reach it without `__tls_get_addr`.
    pub(super) ledgers: Cell<usize>,
}

/// Bytes reserved in `.tbss`; `Tls` must fit (checked at compile time).
const SIZE: usize = 56;
const _: () = assert!(std::mem::size_of::<Tls>() <= SIZE && std::mem::align_of::<Tls>() <= 8);
const _: () = assert!(std::mem::offset_of!(Tls, left) == 0);

// The block: local to the agent (hidden), zero-initialised for every thread.
core::arch::global_asm!(
    ".pushsection .tbss.leakagent_hook_tls,\"awT\",@nobits",
    ".p2align 3",
    ".globl leakagent_hook_tls",
    ".hidden leakagent_hook_tls",
    ".type leakagent_hook_tls,@object",
    ".size leakagent_hook_tls,{size}",
    "leakagent_hook_tls:",
    ".zero {size}",
    ".popsection",
    size = const SIZE,
);

/// The calling thread's block.
#[inline(always)]
pub(super) fn tls() -> &'static Tls {
    let tp: usize;
    // SAFETY: reads the thread pointer (the TCB's first word is its own address, x86-64 ABI).
    unsafe {
        core::arch::asm!("mov {tp}, qword ptr fs:[0]", tp = out(reg) tp, options(nostack, preserves_flags, readonly));
    }
    // SAFETY: this thread's copy of the block: 8-aligned, SIZE zero-initialised bytes that live
    // as long as the thread, and are reached only by this thread (each hook takes the reference
    // anew, none keeps it across a return), through `Cell`s.
    unsafe { &*(tp.wrapping_add(offset()) as *const Tls) }
}

/// The block's offset from the thread pointer once `find_static` saw glibc place the agent's
/// TLS in static TLS (where the offset is the same in every thread and never changes); 0 until
/// then, or when it is dynamic: each access then calls the descriptor.
static STATIC_OFFSET: AtomicUsize = AtomicUsize::new(0);

/// The block's offset from the thread pointer.
#[inline(always)]
fn offset() -> usize {
    match STATIC_OFFSET.load(Relaxed) {
        0 => described(),
        offset => offset,
    }
}

/// The calling thread's block's offset from the thread pointer, through the descriptor.
#[inline(always)]
fn described() -> usize {
    let offset: usize;
    // SAFETY: the TLS descriptor sequence the x86-64 TLSDESC ABI defines (lea of the
    // descriptor, call through it); the resolver returns the block's offset from the thread
    // pointer in rax. The stack is aligned for a call (no `nostack`).
    unsafe {
        core::arch::asm!(
            "lea rax, [rip + leakagent_hook_tls@TLSDESC]",
            "call qword ptr [rax + leakagent_hook_tls@TLSCALL]",
            out("rax") offset,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _, out("xmm4") _, out("xmm5") _,
            out("xmm6") _, out("xmm7") _, out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
        );
    }
    offset
}

/// Whether glibc placed the agent's TLS in static TLS; if so the hooks reach their block
/// without calling the descriptor. A resolved descriptor is two words, the resolver and its
/// argument; glibc's static resolver (`_dl_tlsdesc_return`) returns the argument, the block's
/// fixed offset from the thread pointer, while the dynamic one's argument is a pointer to a
/// heap record, never equal to the offset it returns. Called before the hooks are installed.
pub(super) fn find_static() -> bool {
    let offset: usize;
    let desc: *const usize;
    // SAFETY: the descriptor sequence as in `described()`, keeping the descriptor's address
    // (the resolver preserves every register but rax).
    unsafe {
        core::arch::asm!(
            "lea rax, [rip + leakagent_hook_tls@TLSDESC]",
            "mov {d}, rax",
            "call qword ptr [rax + leakagent_hook_tls@TLSCALL]",
            d = out(reg) desc,
            out("rax") offset,
            out("xmm0") _, out("xmm1") _, out("xmm2") _, out("xmm3") _, out("xmm4") _, out("xmm5") _,
            out("xmm6") _, out("xmm7") _, out("xmm8") _, out("xmm9") _, out("xmm10") _, out("xmm11") _,
            out("xmm12") _, out("xmm13") _, out("xmm14") _, out("xmm15") _,
        );
    }
    if desc as usize == offset {
        // Linked into an executable: the linker made the sequence a constant (no descriptor).
        return false;
    }
    // SAFETY: the descriptor is two words in the agent's GOT, resolved (the call above went
    // through it) and readable for the life of the library.
    let arg = unsafe { desc.add(1).read_volatile() };
    if offset != 0 && arg == offset {
        STATIC_OFFSET.store(offset, Relaxed);
        return true;
    }
    false
}

/// Whether `find_static` found the agent's TLS in static TLS.
pub(super) fn is_static() -> bool {
    STATIC_OFFSET.load(Relaxed) != 0
}

/// The countdown's fast path: counts an allocation of `size` bytes down and returns true when
/// it is not sampled; false (nothing changed) when `size` ends the countdown, or the thread
/// never drew one (`left` 0). Reaches `left` relative to the thread pointer (`fs:[offset]`):
/// no load of the thread pointer itself, as `tls()` needs, and in static TLS no descriptor call
/// either.
#[inline(always)]
pub(super) fn counted(size: usize) -> bool {
    let offset = offset();
    let left: u64;
    // SAFETY: `fs:[offset]` is this thread's `Tls::left` (offset 0 of the block, 8-aligned),
    // read as the Cell would.
    unsafe {
        core::arch::asm!(
            "mov {left}, qword ptr fs:[{offset}]",
            offset = in(reg) offset,
            left = lateout(reg) left,
            options(nostack, preserves_flags, readonly),
        );
    }
    if (size as u64) < left {
        // SAFETY: as above: the store the Cell's `set` would make, on this thread's block.
        unsafe {
            core::arch::asm!(
                "mov qword ptr fs:[{offset}], {v}",
                offset = in(reg) offset,
                v = in(reg) left - size as u64,
                options(nostack, preserves_flags),
            );
        }
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_thread_has_its_own_zeroed_block() {
        let here = tls() as *const Tls as usize;
        tls().left.set(42);
        assert!(counted(41), "41 bytes of 42 go on counting");
        assert_eq!(tls().left.get(), 1);
        assert!(!counted(1), "the last byte ends the countdown");
        assert_eq!(tls().left.get(), 1, "an ended countdown is left to be drawn anew");
        tls().left.set(42);
        assert_eq!(tls().left.get(), 42, "the same block on a second access");
        let (there, left, mean, busy) = std::thread::spawn(|| {
            let t = tls();
            (t as *const Tls as usize, t.left.get(), t.mean.get(), t.busy.get())
        })
        .join()
        .unwrap();
        assert_ne!(here, there);
        assert_eq!((left, mean, busy), (0, 0, false));
        assert_eq!(here % 8, 0);
        tls().left.set(0);
    }
}
