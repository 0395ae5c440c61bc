//! The C allocator's own numbers, looked up at run time with `dlsym` so that the agent loads
//! under any allocator and any glibc: glibc `mallinfo2` (2.33+, `mallinfo` as fallback),
//! `malloc_info`, `malloc_trim`; jemalloc `mallctl`; gperftools tcmalloc's `MallocExtension_*`
//! C API. Which allocator serves `malloc` is decided by the library that defines the `malloc`
//! symbol the process resolves (`dladdr`), so a preloaded jemalloc or tcmalloc is recognised.

use libc::{c_char, c_int, c_void, size_t};
use std::ffi::{CStr, CString};
use std::sync::OnceLock;

/// Which allocator serves `malloc` in this process (the report model's enum: one set of names).
pub use leakagent_report::model::Allocator as AllocatorKind;

#[derive(Clone, Debug)]
pub struct Allocator {
    pub kind: AllocatorKind,
    /// The shared object that defines the `malloc` this process calls.
    pub library: String,
    pub version: Option<String>,
}

fn sym(name: &str) -> *mut c_void {
    let Ok(c) = CString::new(name) else { return std::ptr::null_mut() };
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only reads the symbol tables.
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, c.as_ptr()) }
}

fn library_of(addr: *mut c_void) -> Option<String> {
    if addr.is_null() {
        return None;
    }
    // SAFETY: dladdr fills a zeroed Dl_info; dli_fname points into the loader's own tables.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(addr, &mut info) == 0 || info.dli_fname.is_null() {
            return None;
        }
        Some(CStr::from_ptr(info.dli_fname).to_string_lossy().into_owned())
    }
}

/// Identifies the allocator once; the answer cannot change while the process runs.
pub fn allocator() -> &'static Allocator {
    static ID: OnceLock<Allocator> = OnceLock::new();
    ID.get_or_init(identify)
}

fn identify() -> Allocator {
    let library = library_of(sym("malloc")).unwrap_or_default();
    let base = library.rsplit('/').next().unwrap_or("").to_ascii_lowercase();
    let kind = if base.contains("jemalloc") || (!sym("mallctl").is_null() && !base.starts_with("libc.")) {
        AllocatorKind::Jemalloc
    } else if base.contains("tcmalloc") {
        AllocatorKind::Tcmalloc
    } else if base.contains("musl") {
        AllocatorKind::Musl
    } else if base.starts_with("libc.so") && !sym("gnu_get_libc_version").is_null() {
        AllocatorKind::Glibc
    } else {
        AllocatorKind::Unknown
    };
    let version = match kind {
        AllocatorKind::Glibc => glibc_version(),
        AllocatorKind::Jemalloc => jemalloc_string("version"),
        _ => None,
    };
    Allocator { kind, library, version }
}

fn glibc_version() -> Option<String> {
    let f = sym("gnu_get_libc_version");
    if f.is_null() {
        return None;
    }
    // SAFETY: glibc's `const char *gnu_get_libc_version(void)` returns a static string.
    unsafe {
        let f: extern "C" fn() -> *const c_char = std::mem::transmute(f);
        let p = f();
        (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
    }
}

/// glibc's `struct mallinfo2` (all `size_t`); `mallinfo` has the same fields as `int`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MallInfo {
    /// Non-mmapped space allocated from the system (all arenas).
    pub arena: u64,
    /// Free chunks.
    pub ordblks: u64,
    pub smblks: u64,
    /// Chunks served by mmap and their bytes.
    pub hblks: u64,
    pub hblkhd: u64,
    pub usmblks: u64,
    pub fsmblks: u64,
    /// Bytes in chunks in use (arenas only, mmapped chunks are in `hblkhd`).
    pub uordblks: u64,
    /// Free bytes in the arenas, resident or not.
    pub fordblks: u64,
    pub keepcost: u64,
    /// `true` when read with the old `mallinfo`, whose `int` fields wrap at 4 GiB.
    pub legacy_int_fields: bool,
}

#[repr(C)]
#[derive(Default)]
struct RawMallinfo2 {
    f: [size_t; 10],
}

#[repr(C)]
#[derive(Default)]
struct RawMallinfo {
    f: [c_int; 10],
}

/// glibc's `mallinfo2`, else `mallinfo`. Only meaningful when glibc serves `malloc`.
pub fn glibc_mallinfo() -> Option<MallInfo> {
    static MALLINFO2: OnceLock<usize> = OnceLock::new();
    static MALLINFO: OnceLock<usize> = OnceLock::new();
    let m2 = *MALLINFO2.get_or_init(|| sym("mallinfo2") as usize);
    let fields: [u64; 10];
    let legacy;
    if m2 != 0 {
        // SAFETY: glibc's `struct mallinfo2 mallinfo2(void)`: ten size_t returned by value.
        let raw = unsafe {
            let f: extern "C" fn() -> RawMallinfo2 = std::mem::transmute(m2);
            f()
        };
        fields = raw.f.map(|v| v as u64);
        legacy = false;
    } else {
        let m = *MALLINFO.get_or_init(|| sym("mallinfo") as usize);
        if m == 0 {
            return None;
        }
        // SAFETY: glibc's `struct mallinfo mallinfo(void)`: ten int returned by value.
        let raw = unsafe {
            let f: extern "C" fn() -> RawMallinfo = std::mem::transmute(m);
            f()
        };
        // The fields are int: reinterpret as unsigned 32-bit (they wrap above 4 GiB).
        fields = raw.f.map(|v| v as u32 as u64);
        legacy = true;
    }
    Some(MallInfo {
        arena: fields[0],
        ordblks: fields[1],
        smblks: fields[2],
        hblks: fields[3],
        hblkhd: fields[4],
        usmblks: fields[5],
        fsmblks: fields[6],
        uordblks: fields[7],
        fordblks: fields[8],
        keepcost: fields[9],
        legacy_int_fields: legacy,
    })
}

/// glibc's `malloc_info(0, stream)` written to memory: an XML document, one `<heap>` per arena.
pub fn glibc_malloc_info() -> Option<String> {
    let f = sym("malloc_info");
    if f.is_null() {
        return None;
    }
    // SAFETY: open_memstream gives a FILE that writes into a malloc'd buffer; after fclose the
    // buffer and its size are final, and we free it with free(3) as the manual says.
    unsafe {
        let f: extern "C" fn(c_int, *mut libc::FILE) -> c_int = std::mem::transmute(f);
        let mut buf: *mut c_char = std::ptr::null_mut();
        let mut len: size_t = 0;
        let fp = libc::open_memstream(&mut buf, &mut len);
        if fp.is_null() {
            return None;
        }
        let rc = f(0, fp);
        libc::fclose(fp);
        if buf.is_null() {
            return None;
        }
        let bytes = std::slice::from_raw_parts(buf as *const u8, len);
        let out = (rc == 0).then(|| String::from_utf8_lossy(bytes).into_owned());
        libc::free(buf as *mut c_void);
        out
    }
}

/// glibc's `malloc_trim(0)`: returns free memory at the top of every arena and, since 2.8, whole
/// free pages inside them (MADV_DONTNEED). `Some(true)` when memory was released.
pub fn glibc_malloc_trim() -> Option<bool> {
    let f = sym("malloc_trim");
    if f.is_null() {
        return None;
    }
    // SAFETY: `int malloc_trim(size_t pad)`.
    unsafe {
        let f: extern "C" fn(size_t) -> c_int = std::mem::transmute(f);
        Some(f(0) != 0)
    }
}

type MallctlFn = unsafe extern "C" fn(*const c_char, *mut c_void, *mut size_t, *mut c_void, size_t) -> c_int;

fn mallctl_fn() -> Option<MallctlFn> {
    static F: OnceLock<usize> = OnceLock::new();
    let p = *F.get_or_init(|| sym("mallctl") as usize);
    // SAFETY: jemalloc's documented `mallctl` signature.
    (p != 0).then(|| unsafe { std::mem::transmute::<usize, MallctlFn>(p) })
}

/// Reads a jemalloc control of exactly `T`'s size (jemalloc checks the length and fails
/// otherwise).
fn mallctl_read<T: Copy + Default>(name: &str) -> Option<T> {
    let f = mallctl_fn()?;
    let c = CString::new(name).ok()?;
    let mut v = T::default();
    let mut len = std::mem::size_of::<T>();
    // SAFETY: `v` has room for `len` bytes; no new value is written.
    let rc = unsafe { f(c.as_ptr(), &mut v as *mut T as *mut c_void, &mut len, std::ptr::null_mut(), 0) };
    (rc == 0 && len == std::mem::size_of::<T>()).then_some(v)
}

/// A `size_t` jemalloc statistic, e.g. `stats.allocated`.
pub fn jemalloc_size(name: &str) -> Option<u64> {
    mallctl_read::<size_t>(name).map(|v| v as u64)
}

/// An `unsigned` jemalloc control, e.g. `arenas.narenas`.
pub fn jemalloc_unsigned(name: &str) -> Option<u64> {
    mallctl_read::<libc::c_uint>(name).map(u64::from)
}

/// An `ssize_t` jemalloc control, e.g. `opt.dirty_decay_ms`.
pub fn jemalloc_ssize(name: &str) -> Option<i64> {
    mallctl_read::<libc::ssize_t>(name).map(|v| v as i64)
}

pub fn jemalloc_bool(name: &str) -> Option<bool> {
    mallctl_read::<u8>(name).map(|v| v != 0)
}

/// A `const char *` jemalloc control, e.g. `version`.
pub fn jemalloc_string(name: &str) -> Option<String> {
    let p = mallctl_read::<usize>(name)? as *const c_char;
    // SAFETY: jemalloc returns a pointer to a static NUL-terminated string.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// Advances jemalloc's statistics epoch so that `stats.*` are fresh.
pub fn jemalloc_refresh() -> bool {
    let Some(f) = mallctl_fn() else { return false };
    let mut epoch: u64 = 1;
    let mut len = std::mem::size_of::<u64>();
    // SAFETY: reads and writes one uint64_t, as jemalloc documents for "epoch".
    unsafe {
        f(
            c"epoch".as_ptr(),
            &mut epoch as *mut u64 as *mut c_void,
            &mut len,
            &mut epoch as *mut u64 as *mut c_void,
            std::mem::size_of::<u64>(),
        ) == 0
    }
}

/// `arena.<all>.purge`: returns every arena's unused dirty pages to the OS.
pub fn jemalloc_purge_all() -> bool {
    let Some(f) = mallctl_fn() else { return false };
    // MALLCTL_ARENAS_ALL is 4096 in jemalloc 5.
    // SAFETY: a void control: no old or new value.
    unsafe { f(c"arena.4096.purge".as_ptr(), std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut(), 0) == 0 }
}

/// gperftools' `MallocExtension_GetNumericProperty`, e.g. `generic.current_allocated_bytes`.
pub fn tcmalloc_property(name: &str) -> Option<u64> {
    static F: OnceLock<usize> = OnceLock::new();
    let p = *F.get_or_init(|| sym("MallocExtension_GetNumericProperty") as usize);
    if p == 0 {
        return None;
    }
    let c = CString::new(name).ok()?;
    let mut v: size_t = 0;
    // SAFETY: `int MallocExtension_GetNumericProperty(const char*, size_t*)` from
    // gperftools' malloc_extension_c.h; returns non-zero on success.
    let ok = unsafe {
        let f: extern "C" fn(*const c_char, *mut size_t) -> c_int = std::mem::transmute(p);
        f(c.as_ptr(), &mut v)
    };
    (ok != 0).then_some(v as u64)
}

/// gperftools' `MallocExtension_ReleaseFreeMemory`: returns free pages to the OS.
pub fn tcmalloc_release() -> bool {
    let p = sym("MallocExtension_ReleaseFreeMemory");
    if p.is_null() {
        return false;
    }
    // SAFETY: `void MallocExtension_ReleaseFreeMemory(void)`.
    unsafe {
        let f: extern "C" fn() = std::mem::transmute(p);
        f();
    }
    true
}
