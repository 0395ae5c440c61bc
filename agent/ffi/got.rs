//! Import-table patching: points the GOT entries (`R_X86_64_JUMP_SLOT`, `R_X86_64_GLOB_DAT`) of
//! chosen functions in the loaded libraries at hooks, and puts every original back. Libraries
//! are found with `dl_iterate_phdr`; each is patched once, after the loader has finished with it
//! (`dlopen(RTLD_NOLOAD)` waits for a load in progress and holds the library while we write).
//! Never patched: the agent itself, glibc's own libraries, the dynamic loader, the vDSO, the
//! main program and preloaded allocators (they define malloc, they do not import it).

use std::ffi::{c_int, c_void, CStr, CString};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

const PT_DYNAMIC: u32 = 2;
const PT_GNU_RELRO: u32 = 0x6474_e552;
const DT_NULL: i64 = 0;
const DT_PLTRELSZ: i64 = 2;
const DT_STRTAB: i64 = 5;
const DT_SYMTAB: i64 = 6;
const DT_RELA: i64 = 7;
const DT_RELASZ: i64 = 8;
const DT_STRSZ: i64 = 10;
const DT_PLTREL: i64 = 20;
const DT_JMPREL: i64 = 23;
const R_X86_64_GLOB_DAT: u32 = 6;
const R_X86_64_JUMP_SLOT: u32 = 7;

#[repr(C)]
struct Dyn {
    tag: i64,
    val: u64,
}

#[repr(C)]
struct Rela {
    offset: u64,
    info: u64,
    addend: i64,
}

#[repr(C)]
struct Sym {
    name: u32,
    info: u8,
    other: u8,
    shndx: u16,
    value: u64,
    size: u64,
}

/// A function to redirect: its name as imported, and the address to put in its GOT entries.
#[derive(Clone, Copy)]
pub struct Target {
    pub name: &'static CStr,
    pub hook: usize,
}

struct Patched {
    got: usize,
    original: usize,
    hook: usize,
    relro: bool,
}

struct Library {
    name: CString,
    base: usize,
    patched: Vec<Patched>,
}

#[derive(Default)]
struct State {
    targets: Vec<Target>,
    libraries: Vec<Library>,
    /// `dlpi_adds` at the last scan: nothing loaded since, nothing to do.
    adds: u64,
    active: bool,
}

static STATE: Mutex<State> = Mutex::new(State { targets: Vec::new(), libraries: Vec::new(), adds: 0, active: false });
/// Entries patched now (for the report), and libraries seen.
pub static ENTRIES: AtomicUsize = AtomicUsize::new(0);
pub static LIBRARIES: AtomicUsize = AtomicUsize::new(0);

/// Whether a library of this name must never be patched.
fn excluded(name: &str) -> bool {
    let file = name.rsplit('/').next().unwrap_or(name);
    const SKIP: [&str; 12] = [
        "libc.so", "libc-", "ld-linux", "ld-2.", "libpthread", "libdl.", "libm.", "librt.", "linux-vdso", "libjemalloc",
        "libtcmalloc", "libleakagent",
    ];
    file.is_empty() || SKIP.iter().any(|s| file.starts_with(s))
}

/// Starts redirecting `targets` in every library loaded now and, at each later [`rescan`], in
/// those loaded since. Returns how many entries were patched.
pub fn install(targets: &[Target]) -> usize {
    let mut st = STATE.lock().unwrap_or_else(|e| e.into_inner());
    st.targets = targets.to_vec();
    st.active = true;
    st.adds = 0;
    scan_locked(&mut st);
    ENTRIES.load(Relaxed)
}

/// Patches the libraries loaded since the last scan (cheap when none was). When another thread
/// is scanning, waits for it up to ~50 ms (a library just loaded must not miss its first
/// calls), then gives up: the next sampler tick scans again. It never blocks: a thread inside a
/// nested `dlopen` holds the loader's lock, which the scanning thread may be waiting for.
pub fn rescan() {
    for _ in 0..500 {
        match STATE.try_lock() {
            Ok(mut st) => {
                if st.active && current_adds() != st.adds {
                    scan_locked(&mut st);
                }
                return;
            }
            Err(std::sync::TryLockError::Poisoned(e)) => {
                let mut st = e.into_inner();
                if st.active && current_adds() != st.adds {
                    scan_locked(&mut st);
                }
                return;
            }
            Err(std::sync::TryLockError::WouldBlock) => std::thread::sleep(std::time::Duration::from_micros(100)),
        }
    }
}

/// Puts every original entry back (of libraries still loaded) and stops patching.
pub fn restore_all() -> usize {
    let mut st = STATE.lock().unwrap_or_else(|e| e.into_inner());
    st.active = false;
    let mut restored = 0;
    for lib in std::mem::take(&mut st.libraries) {
        if lib.patched.is_empty() {
            continue;
        }
        let Some(handle) = hold(&lib.name, lib.base) else { continue };
        for p in &lib.patched {
            // SAFETY: the library is loaded (held by `handle`) and `got` is one of its GOT
            // entries, written by us with `hook`.
            if unsafe { write_entry(p.got, p.hook, p.original, p.relro) } {
                restored += 1;
            }
        }
        release(handle);
    }
    ENTRIES.store(0, Relaxed);
    LIBRARIES.store(0, Relaxed);
    restored
}

struct Seen {
    name: CString,
    base: usize,
    phdr: usize,
    phnum: usize,
    adds: u64,
}

unsafe extern "C" fn collect(info: *mut libc::dl_phdr_info, _size: libc::size_t, data: *mut c_void) -> c_int {
    // SAFETY: dl_iterate_phdr passes a valid info; `data` is the Vec<Seen> of `scan_locked`.
    unsafe {
        let seen = &mut *(data as *mut Vec<Seen>);
        let i = &*info;
        if i.dlpi_name.is_null() {
            return 0;
        }
        let name = CStr::from_ptr(i.dlpi_name);
        seen.push(Seen {
            name: name.to_owned(),
            base: i.dlpi_addr as usize,
            phdr: i.dlpi_phdr as usize,
            phnum: i.dlpi_phnum as usize,
            adds: i.dlpi_adds,
        });
    }
    0
}

fn current_adds() -> u64 {
    let mut seen: Vec<Seen> = Vec::new();
    // SAFETY: `collect` only reads the info it is given and pushes into `seen`.
    unsafe { libc::dl_iterate_phdr(Some(collect), &mut seen as *mut Vec<Seen> as *mut c_void) };
    seen.first().map(|s| s.adds).unwrap_or(0)
}

fn scan_locked(st: &mut State) {
    let mut seen: Vec<Seen> = Vec::with_capacity(256);
    // SAFETY: `collect` only reads the info it is given and pushes into `seen`.
    unsafe { libc::dl_iterate_phdr(Some(collect), &mut seen as *mut Vec<Seen> as *mut c_void) };
    st.adds = seen.first().map(|s| s.adds).unwrap_or(0);
    // Libraries gone since the last scan: their entries went with them.
    st.libraries.retain(|l| seen.iter().any(|s| s.base == l.base && s.name == l.name));
    let own = own_base();
    for s in seen {
        if st.libraries.iter().any(|l| l.base == s.base && l.name == s.name) {
            continue;
        }
        let name = s.name.to_string_lossy();
        if excluded(&name) || s.base == own {
            continue;
        }
        // After the loader has relocated it (a load in progress holds the loader's lock).
        let Some(handle) = hold(&s.name, s.base) else { continue };
        // SAFETY: the library is loaded and held; its program headers and dynamic section are
        // mapped for as long as it is.
        let patched = unsafe { patch_library(s.base, s.phdr, s.phnum, &st.targets) };
        release(handle);
        ENTRIES.fetch_add(patched.len(), Relaxed);
        LIBRARIES.fetch_add(1, Relaxed);
        st.libraries.push(Library { name: s.name, base: s.base, patched });
    }
}

/// The base address of the agent's own library.
fn own_base() -> usize {
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr fills `info` for an address inside this library.
    if unsafe { libc::dladdr(own_base as *const c_void, &mut info) } == 0 {
        return 0;
    }
    info.dli_fbase as usize
}

/// A reference on a loaded library (waiting for a load in progress), checked to be the one at
/// `base`.
fn hold(name: &CStr, base: usize) -> Option<*mut c_void> {
    // SAFETY: RTLD_NOLOAD never loads anything; it takes a reference on a loaded object.
    let h = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOLOAD | libc::RTLD_LAZY) };
    if h.is_null() {
        return None;
    }
    let mut map: *mut LinkMap = std::ptr::null_mut();
    // SAFETY: RTLD_DI_LINKMAP stores the handle's link_map pointer.
    let ok = unsafe { libc::dlinfo(h, libc::RTLD_DI_LINKMAP, &mut map as *mut *mut LinkMap as *mut c_void) } == 0;
    // SAFETY: a link_map from the loader starts with l_addr.
    if ok && !map.is_null() && unsafe { (*map).addr } == base {
        return Some(h);
    }
    release(h);
    None
}

#[repr(C)]
struct LinkMap {
    addr: usize,
}

fn release(handle: *mut c_void) {
    // SAFETY: `handle` came from dlopen.
    unsafe { libc::dlclose(handle) };
}

/// Pointers in the dynamic section: relocated by glibc's loader, but not in every object.
fn absolute(base: usize, p: u64) -> usize {
    let p = p as usize;
    if p < base {
        base.wrapping_add(p)
    } else {
        p
    }
}

/// # Safety
/// The library at `base` is loaded and relocated, with `phnum` program headers at `phdr`.
unsafe fn patch_library(base: usize, phdr: usize, phnum: usize, targets: &[Target]) -> Vec<Patched> {
    let mut out = Vec::new();
    let mut dynamic = 0usize;
    let mut relro = (0usize, 0usize);
    for i in 0..phnum {
        // SAFETY: `phdr` holds `phnum` program headers.
        let ph = unsafe { &*((phdr as *const libc::Elf64_Phdr).add(i)) };
        if ph.p_type == PT_DYNAMIC {
            dynamic = base + ph.p_vaddr as usize;
        } else if ph.p_type == PT_GNU_RELRO {
            // As the loader protects it: whole pages only, the last partial page stays writable.
            relro = ((base + ph.p_vaddr as usize) & !4095, (base + (ph.p_vaddr + ph.p_memsz) as usize) & !4095);
        }
    }
    if dynamic == 0 {
        return out;
    }
    let (mut symtab, mut strtab, mut strsz) = (0usize, 0usize, 0usize);
    let (mut jmprel, mut pltrelsz, mut pltrel, mut rela, mut relasz) = (0usize, 0usize, 0i64, 0usize, 0usize);
    let mut d = dynamic as *const Dyn;
    for _ in 0..4096 {
        // SAFETY: the dynamic section ends with DT_NULL (bounded anyway).
        let e = unsafe { &*d };
        match e.tag {
            DT_NULL => break,
            DT_SYMTAB => symtab = absolute(base, e.val),
            DT_STRTAB => strtab = absolute(base, e.val),
            DT_STRSZ => strsz = e.val as usize,
            DT_JMPREL => jmprel = absolute(base, e.val),
            DT_PLTRELSZ => pltrelsz = e.val as usize,
            DT_PLTREL => pltrel = e.val as i64,
            DT_RELA => rela = absolute(base, e.val),
            DT_RELASZ => relasz = e.val as usize,
            _ => {}
        }
        // SAFETY: still inside the dynamic section (DT_NULL not reached).
        d = unsafe { d.add(1) };
    }
    if symtab == 0 || strtab == 0 {
        return out;
    }
    let mut tables = vec![(rela, relasz)];
    if pltrel == DT_RELA {
        tables.push((jmprel, pltrelsz));
    }
    for (start, size) in tables {
        if start == 0 {
            continue;
        }
        for k in 0..size / std::mem::size_of::<Rela>() {
            // SAFETY: the table holds `size` bytes of Elf64_Rela.
            let r = unsafe { &*((start as *const Rela).add(k)) };
            let kind = (r.info & 0xffff_ffff) as u32;
            if kind != R_X86_64_JUMP_SLOT && kind != R_X86_64_GLOB_DAT {
                continue;
            }
            // SAFETY: the symbol index of a relocation is inside the symbol table.
            let sym = unsafe { &*((symtab as *const Sym).add((r.info >> 32) as usize)) };
            if sym.name as usize >= strsz || sym.value != 0 {
                // Defined here, not imported.
                continue;
            }
            // SAFETY: st_name is an offset into the string table, NUL-terminated.
            let name = unsafe { CStr::from_ptr((strtab + sym.name as usize) as *const libc::c_char) };
            let Some(t) = targets.iter().find(|t| t.name == name) else { continue };
            let got = base + r.offset as usize;
            // SAFETY: `got` is an aligned GOT entry of the loaded library.
            let original = unsafe { (*(got as *const AtomicUsize)).load(Relaxed) };
            if original == t.hook || original == 0 {
                continue;
            }
            let in_relro = got >= relro.0 && got < relro.1;
            // SAFETY: as above; the RELRO range is made writable for the write only.
            if unsafe { write_entry(got, original, t.hook, in_relro) } {
                out.push(Patched { got, original, hook: t.hook, relro: in_relro });
            }
        }
    }
    out
}

/// Writes `new` into the GOT entry `got` if it still holds `expected`. An entry in the RELRO
/// range (read-only once relocated) is written between two mprotects; others (`.got.plt` of a
/// lazily bound library) are writable.
///
/// # Safety
/// `got` is an aligned GOT entry of a loaded, relocated library.
unsafe fn write_entry(got: usize, expected: usize, new: usize, relro: bool) -> bool {
    let page = got & !4095;
    let slot = got as *const AtomicUsize;
    if relro {
        // SAFETY: the page belongs to the library's GOT.
        if unsafe { libc::mprotect(page as *mut c_void, 4096, libc::PROT_READ | libc::PROT_WRITE) } != 0 {
            return false;
        }
    }
    // SAFETY: the entry is mapped and writable now.
    let ok = unsafe { &*slot }.compare_exchange(expected, new, Relaxed, Relaxed).is_ok();
    if relro {
        // SAFETY: as above; RELRO pages are read-only once relocated.
        unsafe { libc::mprotect(page as *mut c_void, 4096, libc::PROT_READ) };
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_and_the_agent_are_never_patched() {
        for n in ["/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2", "linux-vdso.so.1", "", "/x/libleakagent.so"] {
            assert!(excluded(n), "{n}");
        }
        for n in ["/usr/lib/jvm/java-17/lib/server/libjvm.so", "/tmp/libnativecache.so", "/usr/lib/x86_64-linux-gnu/libz.so.1"] {
            assert!(!excluded(n), "{n}");
        }
    }
}
