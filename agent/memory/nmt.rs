//! NMT's summary (`jcmd <pid> VM.native_memory summary`, read in-process through the
//! DiagnosticCommand MBean) parsed into categories. The text format differs a little between
//! JDK releases; only the stable parts are read: the `Total:` line, each `- Name (reserved=,
//! committed=)` header and the `(malloc=...)` and `(mmap: ... committed=...)` lines under it.

use leakagent_report::model::{Nmt, NmtCategory};

/// Categories whose mmap'd memory the explanation counts elsewhere (heap, metaspace, code
/// cache, thread stacks, the CDS archive file).
pub const COUNTED_ELSEWHERE: &[&str] =
    &["Java Heap", "Class", "Metaspace", "Code", "Thread", "Thread Stack", "Shared class space"];

pub fn parse(text: &str, mode: &str) -> Option<Nmt> {
    let mut out = Nmt { mode: mode.to_string(), ..Nmt::default() };
    let mut seen_total = false;
    for line in text.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Total:") {
            out.reserved_bytes = value(rest, "reserved=")?;
            out.committed_bytes = value(rest, "committed=")?;
            seen_total = true;
        } else if let Some(rest) = t.strip_prefix('-') {
            let Some(open) = rest.find("(reserved=") else { continue };
            let name = rest[..open].trim().to_string();
            out.categories.push(NmtCategory {
                name,
                reserved_bytes: value(&rest[open..], "reserved=").unwrap_or(0),
                committed_bytes: value(&rest[open..], "committed=").unwrap_or(0),
                ..NmtCategory::default()
            });
        } else if let Some(cat) = out.categories.last_mut() {
            if let Some(rest) = t.strip_prefix("(malloc=") {
                cat.malloc_bytes = value(rest, "").unwrap_or(0);
            } else if let Some(rest) = t.strip_prefix("(mmap:") {
                cat.mmap_committed_bytes = value(rest, "committed=").unwrap_or(0);
            }
        }
    }
    seen_total.then_some(out)
}

/// The number after `key` with its unit (B, KB, MB, GB; KB when absent), in bytes.
fn value(s: &str, key: &str) -> Option<u64> {
    let start = s.find(key)? + key.len();
    let rest = &s[start..];
    let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let n: u64 = rest[..digits].parse().ok()?;
    let unit = &rest[digits..];
    let mult = if unit.starts_with("KB") {
        1 << 10
    } else if unit.starts_with("MB") {
        1 << 20
    } else if unit.starts_with("GB") {
        1 << 30
    } else if unit.starts_with('B') {
        1
    } else {
        1 << 10
    };
    Some(n * mult)
}

/// Committed mmap'd memory of the JVM's own data structures that no other part counts (GC
/// card tables and bitmaps, ...): the part of `other_anonymous` NMT can name.
pub fn internal_mmap_committed(n: &Nmt) -> u64 {
    n.categories
        .iter()
        .filter(|c| !COUNTED_ELSEWHERE.contains(&c.name.as_str()))
        .map(|c| c.mmap_committed_bytes)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JDK17: &str = "22020:

Native Memory Tracking:

(Omitting categories weighting less than 1KB)

Total: reserved=7840990KB, committed=104434KB
       malloc: 7574KB #8301
       mmap:   reserved=7833416KB, committed=96860KB

-                 Java Heap (reserved=6172672KB, committed=40960KB)
                            (mmap: reserved=6172672KB, committed=40960KB) 
 
-                     Class (reserved=1048684KB, committed=236KB)
                            (classes #898)
                            (malloc=108KB #1258) (peak=108KB #1238) 
                            (mmap: reserved=1048576KB, committed=128KB) 
                            (  Metadata:   )
                            (    reserved=65536KB, committed=768KB)
 
-                    Thread (reserved=20533KB, committed=913KB)
                            (thread #20)
                            (stack: reserved=20480KB, committed=860KB)
                            (malloc=31KB #124) (peak=52KB #170) 
                            (arena=22KB #38) (peak=83KB #34)
 
-                        GC (reserved=267432KB, committed=39888KB)
                            (malloc=5396KB #924) (peak=11596KB #945) 
                            (mmap: reserved=262036KB, committed=34492KB) 
 
-                  Internal (reserved=225KB, committed=225KB)
                            (malloc=189KB #1539) (at peak)
                            (mmap: reserved=36KB, committed=36KB) 
";

    const JDK25: &str = "Total: reserved=7732580KB, committed=81776KB
       malloc: 8688KB #8447, peak=13994KB #8639
       mmap:   reserved=7723892KB, committed=73088KB

-                 Java Heap (reserved=6172672KB, committed=16384KB)
                            (mmap: reserved=6172672KB, committed=16384KB, peak=393216KB)

-                        GC (reserved=158237KB, committed=37997KB)
                            (malloc=4705KB tag=GC #675) (peak=10979KB #715)
                            (mmap: reserved=153532KB, committed=33292KB, peak=40652KB)

-        Shared class space (reserved=16384KB, committed=13908KB, readonly=0KB)
                            (mmap: reserved=16384KB, committed=13908KB, peak=14116KB)

-    Native Memory Tracking (reserved=154KB, committed=154KB)
                            (malloc=5KB tag=Native Memory Tracking #79) (peak=6KB #86)
";

    #[test]
    fn jdk17_summary() {
        let n = parse(JDK17, "summary").unwrap();
        assert_eq!(n.reserved_bytes, 7840990 * 1024);
        assert_eq!(n.committed_bytes, 104434 * 1024);
        let names: Vec<_> = n.categories.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["Java Heap", "Class", "Thread", "GC", "Internal"]);
        let gc = &n.categories[3];
        assert_eq!(gc.committed_bytes, 39888 * 1024);
        assert_eq!(gc.malloc_bytes, 5396 * 1024);
        assert_eq!(gc.mmap_committed_bytes, 34492 * 1024);
        assert_eq!(n.categories[1].mmap_committed_bytes, 128 * 1024);
        assert_eq!(internal_mmap_committed(&n), (34492 + 36) * 1024);
    }

    #[test]
    fn jdk25_summary() {
        let n = parse(JDK25, "summary").unwrap();
        assert_eq!(n.categories.len(), 4);
        assert_eq!(n.categories[2].name, "Shared class space");
        assert_eq!(n.categories[3].name, "Native Memory Tracking");
        assert_eq!(n.categories[3].malloc_bytes, 5 * 1024);
        assert_eq!(n.categories[1].mmap_committed_bytes, 33292 * 1024);
        assert_eq!(internal_mmap_committed(&n), 33292 * 1024);
    }

    #[test]
    fn nmt_off_or_garbage() {
        assert!(parse("Native memory tracking is not enabled\n", "summary").is_none());
        assert!(parse("", "summary").is_none());
        assert_eq!(value("x=12MB", "x="), Some(12 << 20));
        assert_eq!(value("x=12B", "x="), Some(12));
        assert_eq!(value("x=", "x="), None);
    }
}
