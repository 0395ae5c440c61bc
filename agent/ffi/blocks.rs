//! The wrappers of `jdk.internal.misc.Unsafe`'s `allocateMemory0`, `reallocateMemory0` and
//! `freeMemory0`, which keep each block's record in a header in front of the block instead of a
//! map by address: the free reads the line just before the block, which glibc's `free` reads
//! anyway, so the ledger costs no cache miss of its own on churn (an application zeroes each new
//! buffer, evicting everything else between two events). HotSpot's `-XX:NativeMemoryTracking`
//! does the same to every `os::malloc` block, Unsafe's included.
//!
//! A block of ours is `[slack 0|16][size][tag][0][check]` + the user's bytes: the wrapper asks the
//! original for `size + ALLOC_EXTRA` and returns `base + HEADER` (or `+ HEADER + 16` when that
//! would be page-aligned). So a pointer of ours is 16-aligned and never page-aligned, and its
//! check word (`ptr - 8`) lies in the page of `ptr` itself, which is mapped since the block's
//! first byte is there: reading it cannot fault, whatever pointer `freeMemory0` is handed. The
//! check is a keyed hash of the pointer (a per-process random key): a pointer that is not ours
//! (memory from elsewhere freed through Unsafe, or allocated before the wrappers were bound)
//! matches with probability 2^-64 and goes to the original unchanged.
//!
//! Once a header block is out, the three wrappers stay bound for the life of the process (the
//! agent never restores Unsafe's natives): only the accounting in [`Hooks`] may stop.
//!
//! Without NativeMemoryTracking, HotSpot's natives are glibc's `malloc`/`realloc`/`free` behind
//! a VM-state transition (a fence each way) and `os::malloc`, whose calls the malloc hooks then
//! count down (`malloc_hooks.rs`): the wrappers call glibc themselves then (the agent's own
//! calls are never hooked), and the header says so (`RAW_BIT`), so that each block goes back
//! to the allocator it came from whatever was chosen. With NMT (or when the command line cannot
//! tell) they call the originals, and NMT counts Unsafe's blocks under "Other" as before.

use super::malloc_hooks;
use super::natives::{env_of, hooks, original, wrapped, Native};
use crate::core::health::{self, Feature};
use jni::sys::{jlong, jobject, JNIEnv};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::{Acquire, Relaxed}};

/// Bytes of the header in front of every block of ours (a multiple of 16: alignment is kept).
pub const HEADER: u64 = 32;
/// Extra bytes asked of the original per block: the header and the slack that keeps the
/// returned pointer off a page boundary.
pub const ALLOC_EXTRA: u64 = HEADER + 16;
const PAGE: u64 = 4096;
/// The header's tag when the accounting did not count the block (agent stopped, degraded).
pub const UNCOUNTED: u32 = u32::MAX;

/// The per-process key of the check word (never 0 once a wrapper is bound).
static KEY: AtomicU64 = AtomicU64::new(0);
/// New header blocks come from glibc directly (see the module's doc); set before the natives
/// bind.
static RAW: AtomicBool = AtomicBool::new(false);
/// The header's tag word: site in bits 0-31, age slot 32-39, slack 40-47, and this bit when
/// the block came from glibc directly.
const RAW_BIT: u64 = 1 << 48;

/// What a block's header says: its requested size, its site, and its age slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub size: u64,
    pub site: u32,
    pub slot: u8,
}

/// Where a block goes in the ledger: its site (or `UNCOUNTED`) and its age slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    pub site: u32,
    pub slot: u8,
}

impl Tag {
    pub const UNCOUNTED: Tag = Tag { site: UNCOUNTED, slot: 0 };
}

/// The block a reallocation started from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Old {
    /// Address 0: the reallocation is an allocation.
    Null,
    Ours(Block),
    /// Not a block of ours: passed through.
    Foreign,
}

/// Makes the key, once, before the first wrapper is handed to the JVM.
pub(super) fn init_key() {
    if KEY.load(Acquire) != 0 {
        return;
    }
    let mut k = 0u64;
    // SAFETY: getrandom writes at most 8 bytes into `k`.
    let n = unsafe { libc::getrandom(&mut k as *mut u64 as *mut libc::c_void, 8, libc::GRND_NONBLOCK) };
    if n != 8 {
        // No entropy yet (very early boot): the clock, the pid and where this stack is.
        let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: clock_gettime writes into our struct.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() } as u64;
        k = mix(ts.tv_nsec as u64 ^ (ts.tv_sec as u64) << 32 ^ pid << 16 ^ &ts as *const _ as u64);
    }
    let _ = KEY.compare_exchange(0, k | 1, Relaxed, Relaxed);
}

/// Chooses, once at start before Unsafe's natives bind, whether new header blocks come from
/// glibc directly: only when this process's command line and the JVM's option variables
/// show that NativeMemoryTracking is off, i.e. HotSpot's natives would call glibc as they are.
pub fn choose_allocator() {
    let argv = std::fs::read("/proc/self/cmdline").unwrap_or_default();
    let argv: Vec<String> = argv.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    let vars: Vec<String> = ["JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS"]
        .iter()
        .filter_map(|k| std::env::var(k).ok())
        .collect();
    RAW.store(nmt_surely_off(&argv, &vars), Relaxed);
}

/// Whether a JVM started with `argv` and these option variables surely runs without NMT: its
/// launcher is `java`, and no argument names NMT or options read from a file (`@argfile`,
/// `-XX:Flags=`, `-XX:VMOptionsFile=`). A JVM created through JNI by another program is not
/// seen here: it keeps the originals.
fn nmt_surely_off(argv: &[String], vars: &[String]) -> bool {
    let launcher = argv.first().is_some_and(|a| a.rsplit('/').next() == Some("java"));
    let unsure = |a: &str| {
        a.contains("NativeMemoryTracking") || a.starts_with('@') || a.contains("-XX:Flags=") || a.contains("VMOptionsFile")
    };
    launcher && !argv.iter().chain(vars).flat_map(|a| a.split_whitespace()).any(unsure)
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^ (x >> 33)
}

fn check(user: u64) -> u64 {
    mix(user ^ KEY.load(Relaxed))
}

/// Whether all three wrappers are bound: headers are handed out only then, so that every
/// header block is freed and reallocated by a wrapper that strips it.
fn headers_on() -> bool {
    wrapped(Native::FreeMemory) && wrapped(Native::ReallocateMemory) && wrapped(Native::AllocateMemory)
}

/// The user pointer of a block the original returned at `base`.
fn user_of(base: u64) -> u64 {
    if (base + HEADER).is_multiple_of(PAGE) {
        base + HEADER + 16
    } else {
        base + HEADER
    }
}

/// Writes the header of the block at `base` whose user pointer is `user`.
///
/// # Safety
/// `base` is a block of at least `size + ALLOC_EXTRA` bytes from the original (or from glibc
/// when `raw`), `user` is `user_of(base)`.
unsafe fn write_header(base: u64, user: u64, size: u64, tag: Tag, raw: bool) {
    let slack = user - base - HEADER;
    let h = (user - HEADER) as *mut u64;
    let raw = if raw { RAW_BIT } else { 0 };
    // SAFETY: the header's four words lie in the block, 16-aligned (malloc's alignment).
    unsafe {
        h.write(size);
        h.add(1).write(tag.site as u64 | (tag.slot as u64) << 32 | slack << 40 | raw);
        h.add(2).write(0);
        h.add(3).write(check(user));
    }
}

/// A block of ours: where the allocator's block starts, whether glibc gave it directly, and
/// its record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Ours {
    base: u64,
    raw: bool,
    block: Block,
}

/// The header of `user` when it is a block of ours.
fn read_header(user: u64) -> Option<Ours> {
    if !user.is_multiple_of(16) || user.is_multiple_of(PAGE) {
        return None;
    }
    // Wrapping: no panic in a wrapper, whatever the JVM passes (a pointer below 4 KiB is
    // not in a mapped page and would fault in free() itself).
    let h = user.wrapping_sub(HEADER) as *const u64;
    // SAFETY: `user - 8` is in the page of `user` (16-aligned, not page-aligned), which is
    // mapped: the caller hands us the start of a live block, as freeMemory0 requires.
    if unsafe { h.add(3).read() } != check(user) {
        return None;
    }
    // SAFETY: the check matched: `user` is ours, its whole header lies in our block.
    let (size, word) = unsafe { (h.read(), h.add(1).read()) };
    let block = Block { size, site: word as u32, slot: (word >> 32) as u8 };
    Some(Ours { base: user - HEADER - (word >> 40 & 0xff), raw: word & RAW_BIT != 0, block })
}

/// Forgets the check word of a block about to be freed (a double free is then not ours).
fn clear_check(user: u64) {
    // SAFETY: `user` is a live block of ours (read_header matched), its header is ours.
    unsafe { ((user - 8) as *mut u64).write(0) };
}

pub(super) type AllocFn = unsafe extern "C" fn(*mut JNIEnv, jobject, jlong) -> jlong;
pub(super) type ReallocFn = unsafe extern "C" fn(*mut JNIEnv, jobject, jlong, jlong) -> jlong;
pub(super) type FreeFn = unsafe extern "C" fn(*mut JNIEnv, jobject, jlong);

pub(super) unsafe extern "C" fn allocate_memory(env: *mut JNIEnv, unsafe_: jobject, size: jlong) -> jlong {
    let Some(f) = original!(Native::AllocateMemory, AllocFn) else { return 0 };
    let (Some(h), true, Some(extra)) = (hooks(), headers_on(), (size as u64).checked_add(ALLOC_EXTRA)) else {
        // SAFETY: the JDK's own native, called with the arguments the JVM passed to the wrapper.
        return unsafe { f(env, unsafe_, size) };
    };
    let raw = RAW.load(Relaxed);
    let base = if raw {
        // SAFETY: glibc's malloc, as the original's os::malloc without NMT (the module's doc).
        unsafe { libc::malloc(extra as usize) as u64 }
    } else {
        // SAFETY: as above, asking for the header too (a size too large fails as it would have).
        let call = || unsafe { f(env, unsafe_, extra as jlong) } as u64;
        // The ledger counts the block: native sampling skips its malloc (as zlib's streams').
        malloc_hooks::ledgered(health::enabled(Feature::Direct), call)
    };
    if base == 0 {
        return 0;
    }
    let user = user_of(base);
    let tag = h.memory_allocated(&env_of(env), size as u64);
    // SAFETY: `base` holds `size + ALLOC_EXTRA` bytes.
    unsafe { write_header(base, user, size as u64, tag, raw) };
    user as jlong
}

pub(super) unsafe extern "C" fn reallocate_memory(env: *mut JNIEnv, unsafe_: jobject, old: jlong, size: jlong) -> jlong {
    let Some(f) = original!(Native::ReallocateMemory, ReallocFn) else { return 0 };
    let old_block = match read_header(old as u64) {
        Some(b) => Some(b),
        None if old == 0 && headers_on() => None,
        None => {
            // Not ours: through unchanged, and what comes back has no header.
            // SAFETY: the JDK's own native, called with the arguments the JVM passed.
            let new = unsafe { f(env, unsafe_, old, size) };
            if let (Some(h), true) = (hooks(), new != 0) {
                let o = if old == 0 { Old::Null } else { Old::Foreign };
                h.memory_reallocated(&env_of(env), o, size as u64, false);
            }
            return new;
        }
    };
    let Some(extra) = (size as u64).checked_add(ALLOC_EXTRA) else { return 0 };
    let old_base = old_block.map_or(0, |o| o.base);
    // The block stays with the allocator that made it.
    let raw = old_block.map_or(RAW.load(Relaxed), |o| o.raw);
    let base = if raw {
        // SAFETY: glibc's realloc, with the block glibc gave us (or 0).
        unsafe { libc::realloc(old_base as *mut libc::c_void, extra as usize) as u64 }
    } else {
        // SAFETY: the original, with the block the original gave us (or 0), asking for the header.
        let call = || unsafe { f(env, unsafe_, old_base as jlong, extra as jlong) } as u64;
        malloc_hooks::ledgered(health::enabled(Feature::Direct), call)
    };
    if base == 0 {
        return 0; // the old block, and its header, are untouched
    }
    let user = user_of(base);
    if let Some(o) = old_block {
        let (from, to) = (base + (old as u64 - o.base), user);
        if from != to {
            // The slack differs: move the bytes the reallocation kept.
            // SAFETY: both ranges lie in the new block of `size + ALLOC_EXTRA` bytes.
            unsafe { std::ptr::copy(from as *const u8, to as *mut u8, o.block.size.min(size as u64) as usize) };
        }
    }
    let old = old_block.map_or(Old::Null, |o| Old::Ours(o.block));
    let tag = hooks().map_or(Tag::UNCOUNTED, |h| h.memory_reallocated(&env_of(env), old, size as u64, true));
    // SAFETY: `base` holds `size + ALLOC_EXTRA` bytes.
    unsafe { write_header(base, user, size as u64, tag, raw) };
    user as jlong
}

pub(super) unsafe extern "C" fn free_memory(env: *mut JNIEnv, unsafe_: jobject, addr: jlong) {
    let Some(f) = original!(Native::FreeMemory, FreeFn) else { return };
    let ours = read_header(addr as u64);
    if let Some(h) = hooks() {
        h.memory_freeing(&env_of(env), ours.map(|o| o.block));
    }
    let base = match ours {
        Some(o) => {
            clear_check(addr as u64);
            if o.raw {
                // SAFETY: the block glibc's malloc or realloc gave the wrapper.
                return unsafe { libc::free(o.base as *mut libc::c_void) };
            }
            o.base as jlong
        }
        None => addr,
    };
    // SAFETY: the JDK's own native, with the block it allocated (ours without the header).
    unsafe { f(env, unsafe_, base) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Headers written into real malloc blocks read back, at every slack, and a pointer that
    /// is not ours (bytes that are not a check word) is not taken for one.
    #[test]
    fn header_round_trip_and_foreign_pointers() {
        init_key();
        for i in 0..2000 {
            // SAFETY: plain malloc/free of our own test blocks.
            let base = unsafe { libc::malloc(100 + ALLOC_EXTRA as usize) } as u64;
            let user = user_of(base);
            assert!(user.is_multiple_of(16) && !user.is_multiple_of(PAGE) && user + 100 <= base + 100 + ALLOC_EXTRA);
            let raw = i % 2 == 0; // both kinds of header
            // SAFETY: `base` holds 100 + ALLOC_EXTRA bytes.
            unsafe { write_header(base, user, 100, Tag { site: 77, slot: 5 }, raw) };
            let block = Block { size: 100, site: 77, slot: 5 };
            assert_eq!(read_header(user), Some(Ours { base, raw, block }));
            assert_eq!(read_header(user + 16), None, "a pointer inside the block is not ours");
            clear_check(user);
            assert_eq!(read_header(user), None, "a freed block is not ours any more");
            // SAFETY: the block malloc gave us.
            unsafe { libc::free(base as *mut libc::c_void) };
        }
        assert_eq!(read_header(0), None);
        assert_eq!(read_header(0x7f00_0000_1000), None, "a page-aligned pointer is never read");
    }

    /// Glibc directly only when the launcher's arguments surely leave NMT off.
    #[test]
    fn raw_blocks_only_when_nmt_is_surely_off() {
        let argv = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let plain = argv(&["/usr/bin/java", "-Xmx1g", "-jar", "app.jar"]);
        assert!(nmt_surely_off(&plain, &[]));
        assert!(nmt_surely_off(&argv(&["java", "-cp", "x", "Main"]), &argv(&["-Xss1m -Dy=1"])));
        for (args, vars) in [
            (argv(&["/usr/bin/java", "-XX:NativeMemoryTracking=summary", "Main"]), vec![]),
            (plain.clone(), argv(&["-Xss1m -XX:NativeMemoryTracking=detail"])),
            (argv(&["java", "@opts.txt", "Main"]), vec![]),
            (argv(&["java", "-XX:Flags=.hotspotrc", "Main"]), vec![]),
            (argv(&["java", "-XX:VMOptionsFile=vm.opts", "Main"]), vec![]),
            (argv(&["/opt/idea/bin/idea", "Main"]), vec![]),
            (vec![], vec![]),
        ] {
            assert!(!nmt_surely_off(&args, &vars), "{args:?} {vars:?}");
        }
    }

    #[test]
    fn slack_keeps_pointers_off_page_boundaries() {
        assert_eq!(user_of(PAGE * 9 - HEADER), PAGE * 9 + 16);
        assert_eq!(user_of(PAGE * 9 - HEADER - 16), PAGE * 9 - 16);
        assert_eq!(user_of(PAGE * 9), PAGE * 9 + HEADER);
    }
}
