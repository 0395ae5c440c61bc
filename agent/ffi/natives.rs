//! Wrappers around the JDK natives that create and release native memory: zlib streams
//! (`java.util.zip.Inflater`/`Deflater` `init`/`end`, and `reset`, which tells a stream that is
//! handed out again, as pools do) and raw memory
//! (`jdk.internal.misc.Unsafe` `allocateMemory0`/`reallocateMemory0`/`freeMemory0`).
//!
//! At start-up the JVM reports every native method it binds (JVMTI NativeMethodBind): `on_bind`
//! recognises the natives above, keeps the original address and hands the JVM a wrapper instead.
//! The zlib natives bind lazily in the live phase; Unsafe's bind in the start phase, which is
//! early enough to identify them only with `can_generate_early_vmstart`.
//!
//! After a late attach the zlib natives are bound already: `rebind_zlib` finds the originals in
//! the JDK's `libzip.so` with `dlsym` and points the methods at the wrappers with JNI
//! `RegisterNatives`. Unsafe's originals are local symbols of `libjvm.so`, so Unsafe cannot be
//! wrapped after an attach.
//!
//! A wrapper calls the original exactly once, outside any guard, and tells the collectors through
//! [`Hooks`], whose implementation runs guarded. Unsafe's wrappers are in `blocks.rs`: they keep
//! each block's record in a header in front of the block. A release is reported *before* the original
//! frees the memory (another thread may get the same address from malloc right after), and a
//! creation *after* the original returned it.

use super::blocks::{self, Block, Old, Tag};
use super::malloc_hooks;
use crate::core::health::{self, Feature};
use super::jni::{Env, Local};
use super::jvmti::Jvmti;
use leakagent_report::model::ZlibKind;
use jni::sys::{jboolean, jclass, jint, jlong, jmethodID, JNIEnv};
use std::ffi::{c_void, CStr, CString};
use std::sync::atomic::{AtomicUsize, Ordering::{Acquire, Release}};
use std::sync::OnceLock;

/// The natives the agent wraps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Native {
    InflaterInit,
    InflaterEnd,
    DeflaterInit,
    DeflaterEnd,
    AllocateMemory,
    ReallocateMemory,
    FreeMemory,
    InflaterReset,
    DeflaterReset,
}

pub const ALL: [Native; 9] = [
    Native::InflaterInit,
    Native::InflaterEnd,
    Native::InflaterReset,
    Native::DeflaterInit,
    Native::DeflaterEnd,
    Native::DeflaterReset,
    Native::AllocateMemory,
    Native::ReallocateMemory,
    Native::FreeMemory,
];

impl Native {
    /// (class signature, method name, method signature, symbol in libzip.so).
    fn spec(self) -> (&'static str, &'static CStr, &'static CStr, Option<&'static CStr>) {
        const INFLATER: &str = "Ljava/util/zip/Inflater;";
        const DEFLATER: &str = "Ljava/util/zip/Deflater;";
        const UNSAFE: &str = "Ljdk/internal/misc/Unsafe;";
        match self {
            Native::InflaterInit => (INFLATER, c"init", c"(Z)J", Some(c"Java_java_util_zip_Inflater_init")),
            Native::InflaterEnd => (INFLATER, c"end", c"(J)V", Some(c"Java_java_util_zip_Inflater_end")),
            Native::DeflaterInit => (DEFLATER, c"init", c"(IIZ)J", Some(c"Java_java_util_zip_Deflater_init")),
            Native::DeflaterEnd => (DEFLATER, c"end", c"(J)V", Some(c"Java_java_util_zip_Deflater_end")),
            // static native since JDK 11 (and still on 25)
            Native::InflaterReset => (INFLATER, c"reset", c"(J)V", Some(c"Java_java_util_zip_Inflater_reset")),
            Native::DeflaterReset => (DEFLATER, c"reset", c"(J)V", Some(c"Java_java_util_zip_Deflater_reset")),
            Native::AllocateMemory => (UNSAFE, c"allocateMemory0", c"(J)J", None),
            Native::ReallocateMemory => (UNSAFE, c"reallocateMemory0", c"(JJ)J", None),
            Native::FreeMemory => (UNSAFE, c"freeMemory0", c"(J)V", None),
        }
    }

    pub fn is_zlib(self) -> bool {
        matches!(
            self,
            Native::InflaterInit
                | Native::InflaterEnd
                | Native::InflaterReset
                | Native::DeflaterInit
                | Native::DeflaterEnd
                | Native::DeflaterReset
        )
    }

    fn wrapper(self) -> usize {
        match self {
            Native::InflaterInit => inflater_init as InflaterInitFn as usize,
            Native::InflaterEnd => inflater_end as EndFn as usize,
            Native::DeflaterInit => deflater_init as DeflaterInitFn as usize,
            Native::DeflaterEnd => deflater_end as EndFn as usize,
            Native::InflaterReset => inflater_reset as EndFn as usize,
            Native::DeflaterReset => deflater_reset as EndFn as usize,
            Native::AllocateMemory => blocks::allocate_memory as blocks::AllocFn as usize,
            Native::ReallocateMemory => blocks::reallocate_memory as blocks::ReallocFn as usize,
            Native::FreeMemory => blocks::free_memory as blocks::FreeFn as usize,
        }
    }
}

/// What the collectors learn from the wrappers. Implementations must not panic across the
/// wrappers (they run their work inside the feature guard) and must be cheap.
pub trait Hooks: Sync {
    fn stream_created(&self, env: &Env, kind: ZlibKind, addr: u64);
    fn stream_ending(&self, env: &Env, kind: ZlibKind, addr: u64);
    /// A live stream was reset to be used again.
    fn stream_reset(&self, env: &Env, kind: ZlibKind, addr: u64);
    /// A block of `size` bytes was allocated: where its header files it.
    fn memory_allocated(&self, env: &Env, size: u64) -> Tag;
    /// A reallocation from `old` succeeded; `header` says whether the new block has one (not
    /// when `old` was not ours). Where its header files it.
    fn memory_reallocated(&self, env: &Env, old: Old, size: u64, header: bool) -> Tag;
    /// A block is about to be freed: its header, None when it is not ours.
    fn memory_freeing(&self, env: &Env, block: Option<Block>);
}

static HOOKS: OnceLock<&'static dyn Hooks> = OnceLock::new();

/// The original function of each native (0 until known), indexed by `Native as usize`.
pub(super) static ORIGINALS: [AtomicUsize; ALL.len()] = [const { AtomicUsize::new(0) }; ALL.len()];

/// Sets the collectors' hooks (once).
pub fn set_hooks(hooks: &'static dyn Hooks) {
    let _ = HOOKS.set(hooks);
}

/// Whether the JVM calls the wrapper of `n` (its original is known and was replaced).
pub fn wrapped(n: Native) -> bool {
    ORIGINALS[n as usize].load(Acquire) != 0
}

/// NativeMethodBind: when `method` is one of the natives and `wanted` says so, remembers the
/// original `address` and makes the JVM bind the wrapper. Returns the native it wrapped (None
/// for the bind events of the agent's own RegisterNatives).
/// In the primordial phase methods cannot be identified; nothing happens then.
///
/// # Safety
/// `env`, `method`, `address` and `new_address_ptr` are the arguments of a NativeMethodBind
/// event being handled on this thread.
pub unsafe fn on_bind(
    jvmti: &Jvmti,
    env: &Env,
    method: jmethodID,
    address: *mut c_void,
    new_address_ptr: *mut *mut c_void,
    wanted: impl Fn(Native) -> bool,
) -> Option<Native> {
    if new_address_ptr.is_null() || address.is_null() {
        return None;
    }
    let (name, sig) = jvmti.method_name_and_signature(method).ok()?;
    if !matches!(name.as_str(), "init" | "end" | "reset" | "allocateMemory0" | "reallocateMemory0" | "freeMemory0") {
        return None;
    }
    let klass = Local::new(env, jvmti.method_declaring_class(method).ok()?);
    let class = jvmti.class_signature(klass.raw()).unwrap_or_default();
    let native = ALL.into_iter().find(|n| {
        let (c, m, s, _) = n.spec();
        c == class && m.to_bytes() == name.as_bytes() && s.to_bytes() == sig.as_bytes()
    })?;
    // Unsafe's three are wrapped all or none: a block with a header must meet the wrappers
    // that strip it, so once one is wrapped the others are, whatever `wanted` says now.
    let unsafe_started = !native.is_zlib() && ALL.iter().any(|n| !n.is_zlib() && wrapped(*n));
    if !wanted(native) && !unsafe_started {
        return None;
    }
    let wrapper = native.wrapper();
    if address as usize == wrapper {
        // Our own RegisterNatives (late attach): already wrapped.
        return None;
    }
    if !native.is_zlib() {
        blocks::init_key();
    }
    // Publish the original before the JVM can call the wrapper.
    ORIGINALS[native as usize].store(address as usize, Release);
    // SAFETY: the caller passes the event's out-parameter.
    unsafe { *new_address_ptr = wrapper as *mut c_void };
    Some(native)
}

/// Why `rebind_zlib` could not wrap the zlib natives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RebindError {
    /// The path holds a NUL byte.
    BadPath(String),
    /// dlopen refused the library: dlerror's text.
    Open { path: String, why: String },
    NoSymbol { path: String, symbol: &'static CStr },
    /// RegisterNatives failed for this class.
    Register(&'static CStr),
}

impl std::fmt::Display for RebindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RebindError::BadPath(p) => write!(f, "bad path {p}"),
            RebindError::Open { path, why } => write!(f, "cannot open {path}: {why}"),
            RebindError::NoSymbol { path, symbol } => write!(f, "{path} has no symbol {}", symbol.to_string_lossy()),
            RebindError::Register(class) => write!(f, "RegisterNatives failed for {}", class.to_string_lossy()),
        }
    }
}

/// Late attach: binds the zlib natives to the wrappers with `RegisterNatives`, taking the
/// originals from `libzip` (the JDK's `lib/libzip.so`).
pub fn rebind_zlib(env: &Env, libzip: &str) -> Result<(), RebindError> {
    let path = CString::new(libzip).map_err(|_| RebindError::BadPath(libzip.into()))?;
    // SAFETY: dlopen/dlsym/dlerror with NUL-terminated strings; the handle is never closed, so
    // the symbols stay valid.
    let syms = unsafe {
        let mut handle = libc::dlopen(path.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD);
        if handle.is_null() {
            handle = libc::dlopen(path.as_ptr(), libc::RTLD_NOW);
        }
        if handle.is_null() {
            let e = libc::dlerror();
            let why = if e.is_null() { "unknown error".into() } else { CStr::from_ptr(e).to_string_lossy().into_owned() };
            return Err(RebindError::Open { path: libzip.into(), why });
        }
        let mut syms = Vec::new();
        for n in ALL.into_iter().filter(|n| n.is_zlib()) {
            let symbol = n.spec().3.expect("zlib natives have a symbol");
            let f = libc::dlsym(handle, symbol.as_ptr());
            if f.is_null() {
                return Err(RebindError::NoSymbol { path: libzip.into(), symbol });
            }
            syms.push((n, f as usize));
        }
        syms
    };
    for &(n, f) in &syms {
        // A bind event since the attach may have set it already, and is then just as right.
        let _ = ORIGINALS[n as usize].compare_exchange(0, f, Release, Acquire);
    }
    for (class, natives) in [
        (c"java/util/zip/Inflater", [Native::InflaterInit, Native::InflaterEnd, Native::InflaterReset]),
        (c"java/util/zip/Deflater", [Native::DeflaterInit, Native::DeflaterEnd, Native::DeflaterReset]),
    ] {
        let cls = env.find_class(class);
        let table: Vec<(&CStr, &CStr, usize)> = natives
            .iter()
            .map(|n| {
                let (_, name, sig, _) = n.spec();
                (name, sig, n.wrapper())
            })
            .collect();
        if !env.register_natives(cls.raw(), &table) {
            return Err(RebindError::Register(class));
        }
    }
    Ok(())
}

/// Puts the JDK's own zlib natives back (a late attach that failed after `rebind_zlib`).
pub fn restore_zlib(env: &Env) {
    for (class, natives) in [
        (c"java/util/zip/Inflater", [Native::InflaterInit, Native::InflaterEnd, Native::InflaterReset]),
        (c"java/util/zip/Deflater", [Native::DeflaterInit, Native::DeflaterEnd, Native::DeflaterReset]),
    ] {
        let table: Vec<(&CStr, &CStr, usize)> = natives
            .iter()
            .filter_map(|n| {
                let (_, name, sig, _) = n.spec();
                let f = ORIGINALS[*n as usize].load(Acquire);
                (f != 0).then_some((name, sig, f))
            })
            .collect();
        if table.len() == natives.len() {
            env.register_natives(env.find_class(class).raw(), &table);
        }
    }
}

/// Asks the CPU to start loading the cache line at `addr` (the ledgers' next slot, while the
/// wrapper finds the event's site). Any address will do: a prefetch never faults.
#[inline]
pub fn prefetch(addr: usize) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of x86_64, and PREFETCHT0 does not access memory architecturally: it
    // cannot fault, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(addr as *const i8)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = addr;
}

// ---- The wrappers. Each has the C signature of the JDK native it replaces. ----

type InflaterInitFn = unsafe extern "C" fn(*mut JNIEnv, jclass, jboolean) -> jlong;
type DeflaterInitFn = unsafe extern "C" fn(*mut JNIEnv, jclass, jint, jint, jboolean) -> jlong;
type EndFn = unsafe extern "C" fn(*mut JNIEnv, jclass, jlong);

/// The original of `$n` as a function of type `$t`. A wrapper is handed out only after its
/// original was stored, so it is always there; `Option` keeps a zero from being a function.
macro_rules! original {
    ($n:expr, $t:ty) => {
        // SAFETY: the value is 0 or the address of the JDK function with the C signature `$t`.
        unsafe { std::mem::transmute::<usize, Option<$t>>($crate::ffi::natives::ORIGINALS[$n as usize].load(Acquire)) }
    };
}
// Unsafe's wrappers in blocks.rs read their originals the same way.
pub(super) use original;

pub(super) fn hooks() -> Option<&'static dyn Hooks> {
    HOOKS.get().copied()
}

/// Whether the zlib ledger counts the stream being created: native sampling then skips its
/// allocations (malloc_hooks/ledgered.rs).
fn zlib_counted() -> bool {
    hooks().is_some() && health::enabled(Feature::Zlib)
}

/// The wrapper's JNIEnv as an `Env`.
pub(super) fn env_of(env: *mut JNIEnv) -> Env {
    // SAFETY: a native method is always called with the calling thread's JNIEnv.
    unsafe { Env::new(env) }
}

unsafe extern "C" fn inflater_init(env: *mut JNIEnv, cls: jclass, nowrap: jboolean) -> jlong {
    let Some(f) = original!(Native::InflaterInit, InflaterInitFn) else { return 0 };
    let call = || {
        // SAFETY: the JDK's own native, called with the arguments the JVM passed to the wrapper.
        unsafe { f(env, cls, nowrap) }
    };
    let counted = zlib_counted();
    let addr = malloc_hooks::ledgered(counted, call);
    if addr != 0 {
        if counted {
            malloc_hooks::quiet_inflater(addr as usize);
        }
        if let Some(h) = hooks() {
            h.stream_created(&env_of(env), ZlibKind::Inflater, addr as u64);
        }
    }
    addr
}

unsafe extern "C" fn deflater_init(env: *mut JNIEnv, cls: jclass, level: jint, strategy: jint, nowrap: jboolean) -> jlong {
    let Some(f) = original!(Native::DeflaterInit, DeflaterInitFn) else { return 0 };
    let call = || {
        // SAFETY: the JDK's own native, called with the arguments the JVM passed to the wrapper.
        unsafe { f(env, cls, level, strategy, nowrap) }
    };
    let addr = malloc_hooks::ledgered(zlib_counted(), call);
    if addr != 0 {
        if let Some(h) = hooks() {
            h.stream_created(&env_of(env), ZlibKind::Deflater, addr as u64);
        }
    }
    addr
}

unsafe extern "C" fn inflater_end(env: *mut JNIEnv, cls: jclass, addr: jlong) {
    if let Some(h) = hooks() {
        h.stream_ending(&env_of(env), ZlibKind::Inflater, addr as u64);
    }
    if let Some(f) = original!(Native::InflaterEnd, EndFn) {
        // SAFETY: the JDK's own native, called with the arguments the JVM passed to the wrapper.
        unsafe { f(env, cls, addr); }
    }
}

unsafe extern "C" fn deflater_end(env: *mut JNIEnv, cls: jclass, addr: jlong) {
    if let Some(h) = hooks() {
        h.stream_ending(&env_of(env), ZlibKind::Deflater, addr as u64);
    }
    if let Some(f) = original!(Native::DeflaterEnd, EndFn) {
        // SAFETY: the JDK's own native, called with the arguments the JVM passed to the wrapper.
        unsafe { f(env, cls, addr); }
    }
}

/// The stream stays live: told after the original reset it.
unsafe extern "C" fn inflater_reset(env: *mut JNIEnv, cls: jclass, addr: jlong) {
    if let Some(f) = original!(Native::InflaterReset, EndFn) {
        // SAFETY: the JDK's own native, called with the arguments the JVM passed to the wrapper.
        unsafe { f(env, cls, addr); }
    }
    if let Some(h) = hooks() {
        h.stream_reset(&env_of(env), ZlibKind::Inflater, addr as u64);
    }
}

unsafe extern "C" fn deflater_reset(env: *mut JNIEnv, cls: jclass, addr: jlong) {
    if let Some(f) = original!(Native::DeflaterReset, EndFn) {
        // SAFETY: the JDK's own native, called with the arguments the JVM passed to the wrapper.
        unsafe { f(env, cls, addr); }
    }
    if let Some(h) = hooks() {
        h.stream_reset(&env_of(env), ZlibKind::Deflater, addr as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_native_has_a_distinct_wrapper() {
        // Distinct as long as the agent can install the wrappers (entry/ sets the hooks and
        // on_bind the originals); otherwise the optimizer may fold the then empty wrappers.
        let mut seen = Vec::new();
        for n in ALL {
            assert!(!seen.contains(&n.wrapper()), "{n:?}");
            seen.push(n.wrapper());
            assert_eq!(n.is_zlib(), n.spec().3.is_some());
        }
    }
}
