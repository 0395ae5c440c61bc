//! The C allocator's view: which allocator serves `malloc`, how much it has in use, how much it
//! holds free, per glibc arena (`malloc_info`), the arena limit in force, and a preloaded
//! jemalloc's or tcmalloc's own statistics. Also the trim at report time.

use crate::ffi::malloc::{self as ffi, AllocatorKind};
use leakagent_report::model::{Arena, Malloc};

/// The cheap numbers the sampler records: (in use, free). None when the allocator says nothing.
pub fn quick() -> (Option<u64>, Option<u64>) {
    match ffi::allocator().kind {
        AllocatorKind::Glibc => match ffi::glibc_mallinfo() {
            Some(mi) => (Some(mi.uordblks + mi.hblkhd), Some(mi.fordblks)),
            None => (None, None),
        },
        AllocatorKind::Jemalloc => {
            ffi::jemalloc_refresh();
            let allocated = ffi::jemalloc_size("stats.allocated");
            let resident = ffi::jemalloc_size("stats.resident");
            (allocated, resident.zip(allocated).map(|(r, a)| r.saturating_sub(a)))
        }
        AllocatorKind::Tcmalloc => (ffi::tcmalloc_property("generic.current_allocated_bytes"), tcmalloc_free()),
        _ => (None, None),
    }
}

fn tcmalloc_free() -> Option<u64> {
    let names = [
        "tcmalloc.pageheap_free_bytes",
        "tcmalloc.central_cache_free_bytes",
        "tcmalloc.transfer_cache_free_bytes",
        "tcmalloc.thread_cache_free_bytes",
    ];
    let vals: Vec<u64> = names.iter().filter_map(|n| ffi::tcmalloc_property(n)).collect();
    (!vals.is_empty()).then(|| vals.iter().sum())
}

/// Everything the report says about the allocator. `resident_free_bytes` is filled later by the
/// explanation, which knows the arenas' resident size.
pub fn snapshot() -> Malloc {
    let id = ffi::allocator();
    let mut m = Malloc {
        allocator: id.kind,
        library: id.library.clone(),
        version: id.version.clone(),
        source: "none".into(),
        ..Malloc::default()
    };
    match id.kind {
        AllocatorKind::Glibc => glibc(&mut m),
        AllocatorKind::Jemalloc => jemalloc(&mut m),
        AllocatorKind::Tcmalloc => tcmalloc(&mut m),
        AllocatorKind::Musl => m.notes.push(
            "musl's malloc publishes no statistics: malloc in use and retained memory cannot be told apart".into(),
        ),
        AllocatorKind::Unknown => m.notes.push(format!(
            "malloc comes from {}, an allocator leakagent does not know: no allocator statistics",
            if id.library.is_empty() { "an unknown library" } else { id.library.as_str() }
        )),
    }
    m
}

fn glibc(m: &mut Malloc) {
    if let Some(mi) = ffi::glibc_mallinfo() {
        m.source = if mi.legacy_int_fields { "mallinfo" } else { "mallinfo2" }.into();
        if mi.legacy_int_fields {
            m.notes.push("this glibc has no mallinfo2 (2.33+); mallinfo's int fields wrap above 4 GiB".into());
        }
        m.in_use_bytes = Some(mi.uordblks + mi.hblkhd);
        m.arena_in_use_bytes = Some(mi.uordblks);
        m.free_bytes = Some(mi.fordblks);
        m.mmapped_bytes = Some(mi.hblkhd);
        m.mmapped_chunks = Some(mi.hblks);
        m.stats.insert("mallinfo.arena".into(), mi.arena);
        m.stats.insert("mallinfo.ordblks".into(), mi.ordblks);
        m.stats.insert("mallinfo.hblks".into(), mi.hblks);
        m.stats.insert("mallinfo.hblkhd".into(), mi.hblkhd);
        m.stats.insert("mallinfo.uordblks".into(), mi.uordblks);
        m.stats.insert("mallinfo.fordblks".into(), mi.fordblks);
        m.stats.insert("mallinfo.keepcost".into(), mi.keepcost);
    }
    if let Some(xml) = ffi::glibc_malloc_info() {
        let info = parse_malloc_info(&xml);
        m.arenas = Some(info.arenas.len() as u64);
        m.arena_list = info.arenas;
        if m.source == "none" {
            m.source = "malloc_info".into();
        }
    }
    let (max, source) = glibc_arena_max(
        std::env::var("MALLOC_ARENA_MAX").ok().as_deref(),
        std::env::var("GLIBC_TUNABLES").ok().as_deref(),
        std::thread::available_parallelism().map(|n| n.get() as u64).unwrap_or(1),
    );
    m.arena_max = Some(max);
    m.arena_max_source = source;
}

/// The arena limit glibc applies: `GLIBC_TUNABLES=glibc.malloc.arena_max=N` wins over
/// `MALLOC_ARENA_MAX`, else 8 per core on 64-bit.
pub fn glibc_arena_max(env: Option<&str>, tunables: Option<&str>, cores: u64) -> (u64, String) {
    let from_tunables = tunables.and_then(|t| {
        t.split(':')
            .filter_map(|kv| kv.split_once('='))
            .filter(|(k, _)| k.trim() == "glibc.malloc.arena_max")
            .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
            .find(|v| *v > 0)
    });
    if let Some(n) = from_tunables {
        return (n, "GLIBC_TUNABLES glibc.malloc.arena_max".into());
    }
    if let Some(n) = env.and_then(|v| v.trim().parse::<u64>().ok()).filter(|v| *v > 0) {
        return (n, "MALLOC_ARENA_MAX".into());
    }
    (8 * cores.max(1), format!("glibc default: 8 per core, {} cores", cores.max(1)))
}

fn jemalloc(m: &mut Malloc) {
    m.source = "mallctl".into();
    if !ffi::jemalloc_refresh() {
        m.notes.push("jemalloc's mallctl(\"epoch\") failed: statistics may be stale".into());
    }
    if ffi::jemalloc_bool("config.stats") == Some(false) {
        m.notes.push("this jemalloc was built without statistics (--disable-stats)".into());
    }
    for name in [
        "stats.allocated",
        "stats.active",
        "stats.metadata",
        "stats.resident",
        "stats.mapped",
        "stats.retained",
    ] {
        if let Some(v) = ffi::jemalloc_size(name) {
            m.stats.insert(name.into(), v);
        }
    }
    for name in ["arenas.narenas", "opt.narenas"] {
        if let Some(v) = ffi::jemalloc_unsigned(name) {
            m.stats.insert(name.into(), v);
        }
    }
    for name in ["opt.dirty_decay_ms", "opt.muzzy_decay_ms"] {
        if let Some(v) = ffi::jemalloc_ssize(name) {
            m.stats.insert(name.into(), v.max(0) as u64);
        }
    }
    if let Some(b) = ffi::jemalloc_bool("opt.background_thread") {
        m.stats.insert("opt.background_thread".into(), b as u64);
    }
    let allocated = m.stats.get("stats.allocated").copied();
    let resident = m.stats.get("stats.resident").copied();
    m.in_use_bytes = allocated;
    m.allocator_resident_bytes = resident;
    m.free_bytes = resident.zip(allocated).map(|(r, a)| r.saturating_sub(a));
    m.arenas = m.stats.get("arenas.narenas").copied();
    m.arena_max = m.stats.get("opt.narenas").copied();
    m.arena_max_source = "jemalloc opt.narenas".into();
}

fn tcmalloc(m: &mut Malloc) {
    m.source = "MallocExtension".into();
    for name in [
        "generic.current_allocated_bytes",
        "generic.heap_size",
        "tcmalloc.pageheap_free_bytes",
        "tcmalloc.pageheap_unmapped_bytes",
        "tcmalloc.central_cache_free_bytes",
        "tcmalloc.transfer_cache_free_bytes",
        "tcmalloc.thread_cache_free_bytes",
        "tcmalloc.max_total_thread_cache_bytes",
    ] {
        if let Some(v) = ffi::tcmalloc_property(name) {
            m.stats.insert(name.into(), v);
        }
    }
    if m.stats.is_empty() {
        m.notes.push("tcmalloc's MallocExtension_GetNumericProperty is not available".into());
        return;
    }
    m.in_use_bytes = m.stats.get("generic.current_allocated_bytes").copied();
    let heap = m.stats.get("generic.heap_size").copied();
    let unmapped = m.stats.get("tcmalloc.pageheap_unmapped_bytes").copied().unwrap_or(0);
    m.allocator_resident_bytes = heap.map(|h| h.saturating_sub(unmapped));
    m.free_bytes = tcmalloc_free();
}

/// glibc's `malloc_info` XML, per arena and in total.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MallocInfo {
    pub arenas: Vec<Arena>,
    pub mmapped_chunks: Option<u64>,
    pub mmapped_bytes: Option<u64>,
}

/// Parses `malloc_info(0, ...)` output. Per arena: in use = system current - fast - rest (the
/// top chunk is counted in "rest").
pub fn parse_malloc_info(xml: &str) -> MallocInfo {
    let mut out = MallocInfo::default();
    let mut cur: Option<Arena> = None;
    let mut rest = xml;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>') else { break };
        let tag = &rest[open + 1..open + close];
        rest = &rest[open + close + 1..];
        let tag = tag.trim_end_matches('/').trim();
        let name = tag.split_whitespace().next().unwrap_or("");
        let attr = |k: &str| attribute(tag, k);
        let num = |k: &str| attribute(tag, k).and_then(|v| v.parse::<u64>().ok());
        match name {
            "heap" => {
                let index = num("nr").unwrap_or(out.arenas.len() as u64);
                cur = Some(Arena { index, main: index == 0, ..Arena::default() });
            }
            "/heap" => {
                if let Some(mut a) = cur.take() {
                    a.in_use_bytes = a.system_bytes.saturating_sub(a.free_bytes);
                    out.arenas.push(a);
                }
            }
            "total" => {
                let size = num("size").unwrap_or(0);
                let count = num("count").unwrap_or(0);
                match (cur.as_mut(), attr("type").as_deref()) {
                    (Some(a), Some("fast")) => {
                        a.fast_free_bytes = size;
                        a.free_bytes += size;
                        a.free_chunks += count;
                    }
                    (Some(a), Some("rest")) => {
                        a.free_bytes += size;
                        a.free_chunks += count;
                    }
                    (None, Some("mmap")) => {
                        out.mmapped_chunks = Some(count);
                        out.mmapped_bytes = Some(size);
                    }
                    _ => {}
                }
            }
            "system" => {
                if let Some(a) = cur.as_mut() {
                    match attr("type").as_deref() {
                        Some("current") => a.system_bytes = num("size").unwrap_or(0),
                        Some("max") => a.max_system_bytes = num("size").unwrap_or(0),
                        _ => {}
                    }
                }
            }
            "aspace" => {
                if let Some(a) = cur.as_mut() {
                    match attr("type").as_deref() {
                        Some("total") => a.address_space_bytes = num("size").unwrap_or(0),
                        Some("mprotect") => a.mprotect_bytes = num("size").unwrap_or(0),
                        Some("subheaps") => a.heaps = num("size"),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn attribute(tag: &str, key: &str) -> Option<String> {
    let pat = format!("{key}=\"");
    let mut search = tag;
    while let Some(p) = search.find(&pat) {
        // Whole attribute names only (`type=` must not match `subtype=`).
        let before = search[..p].chars().last();
        let v = &search[p + pat.len()..];
        if before.map(char::is_whitespace).unwrap_or(true) {
            return v.find('"').map(|e| v[..e].to_string());
        }
        search = v;
    }
    None
}

/// What a trim did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrimCall {
    pub performed: bool,
    pub how: String,
}

/// Returns free memory to the OS the way the allocator allows.
pub fn trim() -> TrimCall {
    let kind = ffi::allocator().kind;
    let (performed, how) = match kind {
        AllocatorKind::Glibc => match ffi::glibc_malloc_trim() {
            Some(_) => (true, "malloc_trim(0)".to_string()),
            None => (false, "this glibc has no malloc_trim".to_string()),
        },
        AllocatorKind::Jemalloc => (ffi::jemalloc_purge_all(), "mallctl(\"arena.4096.purge\")".to_string()),
        AllocatorKind::Tcmalloc => (ffi::tcmalloc_release(), "MallocExtension_ReleaseFreeMemory()".to_string()),
        _ => (false, format!("{} has no trim call leakagent knows", kind.as_str())),
    };
    TrimCall { performed, how }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"<malloc version="1">
<heap nr="0">
<sizes>
  <size from="33" to="48" total="96" count="2"/>
  <unsorted from="52657" to="52657" total="52657" count="1"/>
</sizes>
<total type="fast" count="2" size="96"/>
<total type="rest" count="1" size="129536"/>
<system type="current" size="135168"/>
<system type="max" size="135168"/>
<aspace type="total" size="135168"/>
<aspace type="mprotect" size="135168"/>
</heap>
<heap nr="1">
<sizes>
</sizes>
<total type="fast" count="0" size="0"/>
<total type="rest" count="2" size="1035393"/>
<system type="current" size="67108864"/>
<system type="max" size="67108864"/>
<aspace type="total" size="67108864"/>
<aspace type="mprotect" size="67108864"/>
<aspace type="subheaps" size="3"/>
</heap>
<total type="fast" count="2" size="96"/>
<total type="rest" count="3" size="1164929"/>
<total type="mmap" count="4" size="4210688"/>
<system type="current" size="67244032"/>
<system type="max" size="67244032"/>
<aspace type="total" size="67244032"/>
<aspace type="mprotect" size="67244032"/>
</malloc>
"#;

    #[test]
    fn malloc_info_per_arena() {
        let i = parse_malloc_info(SAMPLE);
        assert_eq!(i.arenas.len(), 2);
        let main = &i.arenas[0];
        assert!(main.main);
        assert_eq!(main.free_bytes, 96 + 129536);
        assert_eq!(main.fast_free_bytes, 96);
        assert_eq!(main.free_chunks, 3);
        assert_eq!(main.system_bytes, 135168);
        assert_eq!(main.in_use_bytes, 135168 - 96 - 129536);
        assert_eq!(main.heaps, None);
        let t = &i.arenas[1];
        assert!(!t.main);
        assert_eq!(t.index, 1);
        assert_eq!(t.heaps, Some(3));
        assert_eq!(t.in_use_bytes, 67108864 - 1035393);
        assert_eq!(t.address_space_bytes, 67108864);
        assert_eq!(i.mmapped_chunks, Some(4));
        assert_eq!(i.mmapped_bytes, Some(4210688));
    }

    #[test]
    fn malloc_info_tolerates_garbage() {
        assert_eq!(parse_malloc_info("").arenas.len(), 0);
        assert_eq!(parse_malloc_info("<heap nr=\"x\"><total type=\"rest\" size=\"9\"/></heap>").arenas[0].free_bytes, 9);
        assert_eq!(parse_malloc_info("<heap nr=\"0\"><total type=\"rest\" size=\"9").arenas.len(), 0);
    }

    #[test]
    fn attributes_match_whole_names() {
        assert_eq!(attribute(r#"x subtype="a" type="b""#, "type").as_deref(), Some("b"));
        assert_eq!(attribute(r#"x type="b""#, "size"), None);
    }

    #[test]
    fn arena_limit() {
        assert_eq!(glibc_arena_max(None, None, 2), (16, "glibc default: 8 per core, 2 cores".into()));
        assert_eq!(glibc_arena_max(Some("2"), None, 2).0, 2);
        assert_eq!(glibc_arena_max(Some("2"), None, 2).1, "MALLOC_ARENA_MAX");
        assert_eq!(glibc_arena_max(Some("0"), None, 4).0, 32);
        assert_eq!(glibc_arena_max(Some("junk"), None, 1).0, 8);
        let t = glibc_arena_max(Some("2"), Some("glibc.malloc.check=0:glibc.malloc.arena_max=3"), 2);
        assert_eq!(t, (3, "GLIBC_TUNABLES glibc.malloc.arena_max".into()));
    }

    #[test]
    fn this_process_allocator_is_named() {
        let m = snapshot();
        assert!(AllocatorKind::ALL.contains(&m.allocator));
        if m.allocator == AllocatorKind::Glibc {
            assert!(m.in_use_bytes.unwrap() > 0);
            assert!(m.arenas.unwrap() >= 1);
            assert_eq!(m.source, "mallinfo2");
        }
        let (in_use, _) = quick();
        assert!(in_use.is_some() || m.allocator != AllocatorKind::Glibc);
    }
}
