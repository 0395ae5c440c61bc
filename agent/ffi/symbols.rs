//! Names for the native frames of the sampled allocation sites, on the report side only.
//! `dladdr` gives the library and the exported symbol around an address; libjvm.so exports a
//! few hundred of its ~60,000 functions, so most JVM frames have none there. Those are named
//! from the library file's own `.symtab` (every JDK build here keeps it), else from a separate
//! debug file under /usr/lib/debug (by build-id or `.gnu_debuglink`, as Debian's `*-dbg`
//! packages install them); else the frame keeps its offset in the library (`0x1a2b3c`, for
//! `addr2line`). `.gnu_debugdata` (xz-compressed minidebuginfo) is not read. Each file is read
//! bounded (headers, the symbol table, then only the matched names), once per batch of
//! addresses, and what it gave is cached by address.

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader, SectionTable, Sym};
use object::read::ReadCache;
use object::Endianness;
use std::collections::{HashMap, HashSet};
use std::ffi::c_void;
use std::fs::File;

/// A symbol table past this is not read (64 MiB: ~2.8 M symbols; libjvm's is ~1.5 MiB).
const MAX_SYMTAB: u64 = 64 << 20;
/// Addresses remembered; past this the cache starts over.
const MAX_CACHED: usize = 50_000;
/// Where Debian and Fedora install separate debug files.
const DEBUG_ROOT: &str = "/usr/lib/debug";

/// The library file and the symbol of a code address (or its offset in the library, `0x…`);
/// both None when no library holds it.
pub type Named = (Option<String>, Option<String>);

type Header = elf::FileHeader64<Endianness>;

/// Names code addresses, remembering what each address and each library gave.
#[derive(Default)]
pub struct Symbolizer {
    names: HashMap<usize, Named>,
    /// Libraries with no symbol table to be found: not read again.
    bare: HashSet<String>,
}

impl Symbolizer {
    /// The name of `pc`, a return address, once [`Symbolizer::resolve`] has seen it.
    pub fn name(&self, pc: usize) -> Named {
        self.names.get(&pc).cloned().unwrap_or((None, None))
    }

    /// Names every address of `pcs` not named yet: `dladdr` first, then each library's symbol
    /// table, read once for all its addresses.
    pub fn resolve(&mut self, pcs: impl IntoIterator<Item = usize>) {
        if self.names.len() > MAX_CACHED {
            self.names.clear();
        }
        let mut wanted: HashMap<String, Vec<(usize, u64)>> = HashMap::new();
        for pc in pcs {
            if self.names.contains_key(&pc) {
                continue;
            }
            let named = match dl_info(pc) {
                None => (None, None),
                Some((file, Some(symbol), _)) => (Some(file), Some(demangle(&symbol))),
                Some((file, None, offset)) => {
                    if !self.bare.contains(&file) {
                        wanted.entry(file.clone()).or_default().push((pc, offset));
                    }
                    (Some(file), Some(format!("{:#x}", offset + 1)))
                }
            };
            self.names.insert(pc, named);
        }
        for (file, addrs) in wanted {
            let offsets: Vec<u64> = addrs.iter().map(|&(_, o)| o).collect();
            match symbols_of(&file, &offsets) {
                Ok(Some(found)) => {
                    for (&(pc, _), name) in addrs.iter().zip(found) {
                        if let Some(name) = name {
                            self.names.insert(pc, (Some(file.clone()), Some(demangle(&name))));
                        }
                    }
                }
                Ok(None) => {
                    self.bare.insert(file);
                }
                Err(why) => {
                    crate::core::log::info(&format!("native frames of {file} keep their offsets: {why}"));
                    self.bare.insert(file);
                }
            }
        }
    }
}

/// `dladdr` of a return address: the library file, its exported symbol around `pc - 1` (a return
/// address may be the first byte after the calling function), and `pc - 1`'s offset from where
/// the library was mapped.
fn dl_info(pc: usize) -> Option<(String, Option<String>, u64)> {
    let at = pc.saturating_sub(1);
    // SAFETY: a zeroed Dl_info is a valid value for dladdr to fill.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only reads the loader's tables; the strings it returns point into them.
    if unsafe { libc::dladdr(at as *const c_void, &mut info) } == 0 {
        return None;
    }
    let text = |p: *const libc::c_char| {
        // SAFETY: a NUL-terminated string owned by the loader.
        (!p.is_null()).then(|| unsafe { std::ffi::CStr::from_ptr(p) }.to_string_lossy().into_owned())
    };
    let file = text(info.dli_fname)?;
    Some((file, text(info.dli_sname), at.wrapping_sub(info.dli_fbase as usize) as u64))
}

/// The function symbols around `offsets` (from where the library was mapped) in `path`'s
/// `.symtab`, or in its separate debug file; None when neither has one.
fn symbols_of(path: &str, offsets: &[u64]) -> Result<Option<Vec<Option<String>>>, String> {
    let file = File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
    let data = &ReadCache::new(file);
    let header = Header::parse(data).map_err(|e| format!("not a 64-bit ELF file: {e}"))?;
    let endian = header.endian().map_err(|e| e.to_string())?;
    // dli_fbase is where the first loadable segment was mapped, its address rounded down to a
    // page; symbol values are addresses in the file's own numbering.
    let phdrs = header.program_headers(endian, data).map_err(|e| e.to_string())?;
    let first = phdrs.iter().find(|p| p.p_type(endian) == elf::PT_LOAD).map(|p| p.p_vaddr(endian)).unwrap_or(0);
    let base = first & !(super::os::page_size() - 1);
    let addrs: Vec<u64> = offsets.iter().map(|o| o + base).collect();
    let sections = header.sections(endian, data).map_err(|e| e.to_string())?;
    if let Some(found) = lookup(&sections, endian, data, &addrs)? {
        return Ok(Some(found));
    }
    // The debug file's symbols are numbered as the library's.
    for debug in debug_files(path, &sections, endian, data) {
        let Ok(file) = File::open(&debug) else { continue };
        let data = &ReadCache::new(file);
        let Ok(header) = Header::parse(data) else { continue };
        let Ok(sections) = header.sections(endian, data) else { continue };
        if let Some(found) = lookup(&sections, endian, data, &addrs)? {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

type Sections<'d> = SectionTable<'d, Header, &'d ReadCache<File>>;

/// For each address, the name of the function symbol whose range holds it (None for an
/// address outside every function); None when the file has no `.symtab`.
fn lookup(sections: &Sections<'_>, endian: Endianness, data: &ReadCache<File>, addrs: &[u64]) -> Result<Option<Vec<Option<String>>>, String> {
    let Some(section) = sections.iter().find(|s| s.sh_type(endian) == elf::SHT_SYMTAB) else { return Ok(None) };
    if section.sh_size(endian) > MAX_SYMTAB {
        return Err(format!("its symbol table has {} bytes, over the {MAX_SYMTAB} read", section.sh_size(endian)));
    }
    let symtab = sections.symbols(endian, data, elf::SHT_SYMTAB).map_err(|e| e.to_string())?;
    if symtab.is_empty() {
        return Ok(None);
    }
    let mut order: Vec<usize> = (0..addrs.len()).collect();
    order.sort_by_key(|&i| addrs[i]);
    let mut found: Vec<Option<usize>> = vec![None; addrs.len()];
    for (index, sym) in symtab.symbols().iter().enumerate() {
        let size = sym.st_size(endian);
        if sym.st_type() != elf::STT_FUNC || size == 0 {
            continue;
        }
        let start = sym.st_value(endian);
        let end = start.saturating_add(size);
        let mut k = order.partition_point(|&i| addrs[i] < start);
        while let Some(&i) = order.get(k).filter(|&&i| addrs[i] < end) {
            found[i].get_or_insert(index);
            k += 1;
        }
    }
    let name = |index: usize| {
        let sym = symtab.symbols().get(index)?;
        let bytes = sym.name(endian, symtab.strings()).ok()?;
        Some(String::from_utf8_lossy(bytes).into_owned())
    };
    Ok(Some(found.into_iter().map(|f| f.and_then(name)).collect()))
}

/// Where a separate debug file for `path` may be: by build-id, then by `.gnu_debuglink` beside
/// the library and under /usr/lib/debug.
fn debug_files(path: &str, sections: &Sections<'_>, endian: Endianness, data: &ReadCache<File>) -> Vec<String> {
    let mut out = Vec::new();
    for s in sections.iter().filter(|s| s.sh_type(endian) == elf::SHT_NOTE) {
        let Ok(Some(mut notes)) = s.notes(endian, data) else { continue };
        while let Ok(Some(note)) = notes.next() {
            if note.name() == elf::ELF_NOTE_GNU && note.n_type(endian) == elf::NT_GNU_BUILD_ID && note.desc().len() > 1 {
                let hex: String = note.desc().iter().map(|b| format!("{b:02x}")).collect();
                out.push(format!("{DEBUG_ROOT}/.build-id/{}/{}.debug", &hex[..2], &hex[2..]));
            }
        }
    }
    let link = sections.section_by_name(endian, b".gnu_debuglink").and_then(|(_, s)| s.data(endian, data).ok());
    if let Some(name) = link.and_then(|d| d.split(|&b| b == 0).next()).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name);
        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or(".");
        out.push(format!("{dir}/.debug/{name}"));
        out.push(format!("{DEBUG_ROOT}{dir}/{name}"));
    }
    out
}

/// The qualified name of an Itanium-mangled C++ symbol without its parameter types
/// (`_ZN2os6mallocEm` → `os::malloc`, `_ZN7ciBlockC1EP8ciMethodii` → `ciBlock::ciBlock`; Rust's
/// legacy names lose their hash);
/// anything else, or what this short reader cannot follow, as it is. GCC's clone suffixes
/// (`.part.0`, `.cold`) stay.
pub fn demangle(symbol: &str) -> String {
    let (base, clone) = symbol.split_at(symbol.find('.').unwrap_or(symbol.len()));
    match base.strip_prefix("_Z").and_then(qualified) {
        Some(name) => name + clone,
        None => symbol.to_string(),
    }
}

fn qualified(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let nested = b.first() == Some(&b'N');
    let mut i = usize::from(nested);
    while nested && matches!(b.get(i), Some(b'r' | b'V' | b'K' | b'R' | b'O')) {
        i += 1;
    }
    let mut parts: Vec<String> = Vec::new();
    loop {
        match b.get(i) {
            Some(c) if c.is_ascii_digit() => {
                let (name, next) = source_name(s, i)?;
                parts.push(name.to_string());
                i = next;
            }
            Some(b'L') => i += 1,
            Some(b'S') if b.get(i + 1) == Some(&b't') && parts.is_empty() => {
                parts.push("std".into());
                i += 2;
            }
            Some(b'C') if nested && matches!(b.get(i + 1), Some(b'1'..=b'5')) => {
                parts.push(parts.last()?.split('<').next()?.to_string());
                i += 2;
            }
            Some(b'D') if nested && matches!(b.get(i + 1), Some(b'0'..=b'5')) => {
                parts.push(format!("~{}", parts.last()?.split('<').next()?));
                i += 2;
            }
            Some(b'I') if !parts.is_empty() => {
                i = skip_template_args(b, i)?;
                parts.last_mut()?.push_str("<…>");
            }
            _ => break,
        }
        if !nested && !parts.is_empty() && b.get(i) != Some(&b'I') {
            break;
        }
    }
    // Rust's legacy mangling ends with a hash (`::h0123456789abcdef`): noise to a reader.
    let hash = |p: &String| p.len() == 17 && p.starts_with('h') && p[1..].bytes().all(|c| c.is_ascii_hexdigit());
    if parts.len() > 1 && parts.last().is_some_and(hash) {
        parts.pop();
    }
    (!parts.is_empty()).then(|| parts.join("::"))
}

/// `<length><identifier>` at `i`: the identifier and the index after it.
fn source_name(s: &str, i: usize) -> Option<(&str, usize)> {
    let digits = s[i..].bytes().take_while(u8::is_ascii_digit).count();
    let len: usize = s[i..i + digits].parse().ok()?;
    let start = i + digits;
    Some((s.get(start..start + len)?, start + len))
}

/// Skips `I … E` (template arguments) from `i`, their nesting and the identifiers inside
/// included: the index after the closing `E`.
fn skip_template_args(b: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        let c = *b.get(i)?;
        match c {
            b'0'..=b'9' => {
                let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
                let len: usize = std::str::from_utf8(&b[i..i + digits]).ok()?.parse().ok()?;
                i += digits + len;
                continue;
            }
            // A literal (`Li42E`): its digits are a value, not a length.
            b'L' => {
                i += b[i..].iter().position(|&c| c == b'E')?;
                depth += 1;
                continue;
            }
            // Substitutions and template parameters (`S0_`, `T_`); `St`, `Sa`: two letters.
            b'S' if b.get(i + 1).is_some_and(u8::is_ascii_lowercase) => i += 1,
            b'S' | b'T' => i += b[i..].iter().position(|&c| c == b'_')?,
            b'I' | b'N' | b'X' | b'J' | b'F' => depth += 1,
            b'E' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests;
