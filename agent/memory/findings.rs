//! Findings about memory: the allocator keeping freed memory resident, RSS that nothing
//! explains, the container's limit coming near, and what an `oom` report ran out of. They read
//! the finished report (mostly `report.memory`), never the JVM.

use leakagent_report::units::mib;
use leakagent_report::model::{Allocator, Finding, Memory, Report, RssPart, Severity, Subject, Tracking};

const MIB: u64 = 1 << 20;
/// The allocator's retention is reported from this size and this share of RSS (as info);
/// from `RETAINED_LARGE` it is a warning, and critical when it is also half of RSS.
/// Measured: arena-retention keeps 270-450 MiB (80-90% of RSS), springboot-scan 11-12 MiB
/// (18-19%), their fixed twins 1-3.3 MiB (2-7%), healthy 0.
pub const RETAINED_MIN: u64 = 8 * MIB;
pub const RETAINED_PERCENT: u64 = 10;
pub const RETAINED_LARGE: u64 = 64 * MIB;
/// Unexplained memory is reported from this size and this share of RSS.
pub const UNEXPLAINED_MIN: u64 = 128 * MIB;
pub const UNEXPLAINED_PERCENT: u64 = 25;

pub fn derive(report: &Report, out: &mut Vec<Finding>) {
    out.extend(allocator_retention(report));
    out.extend(unexplained_memory(report));
    out.extend(container_limit(report));
    out.extend(out_of_memory(report));
}

/// An `oom` report says what ran out, how full it was, and where to look: the report's own
/// evidence for the kinds it can see into (class loaders for metaspace, the direct ledger's top
/// site for direct memory), a heap dump for the heap, whose contents the agent does not analyse.
fn out_of_memory(r: &Report) -> Option<Finding> {
    let oom = r.trigger_detail.as_ref()?.oom.as_ref()?;
    let j = &r.memory.jvm;
    // The pools are read through Java calls, which can fail on the very heap that is full
    // (seen under ZGC): the sentence then says so instead of giving no number.
    let of = |used: Option<u64>, max: Option<u64>| match (used, max) {
        (Some(u), Some(m)) => format!(" ({} of {} in use)", mib(u), mib(m)),
        (Some(u), None) => format!(" ({} in use)", mib(u)),
        _ => " (its size could not be read: the report's own Java calls met the exhausted memory too)".to_string(),
    };
    let suspects = r.class_loaders.leak_suspects.len();
    let mut subject = Subject::default();
    let (what, fix) = match oom.kind.as_str() {
        "heap" => (
            format!("the Java heap is full{}", of(j.heap_used_bytes, j.heap_max_bytes)),
            "Find what fills the heap: run with -XX:+HeapDumpOnOutOfMemoryError and open the dump's dominator tree \
             (Eclipse MAT, VisualVM); if the live set is legitimate, raise -Xmx (and the container's limit with it)"
                .to_string(),
        ),
        "metaspace" | "class_space" => (
            format!(
                "{} is full{}; {} class loaders alive, {} of them should be dead",
                if oom.kind == "metaspace" { "Metaspace" } else { "the compressed class space" },
                of(j.metaspace_used_bytes, None),
                r.class_loaders.loaders.iter().filter(|l| l.alive).count(),
                suspects
            ),
            if suspects > 0 {
                "Fix the class loader leak this report names (see the classloader_leak finding and its chain): each \
                 leaked loader keeps its classes' metadata in Metaspace"
                    .to_string()
            } else {
                "No loader looks leaked: the application needs more class metadata than MaxMetaspaceSize \
                 (or CompressedClassSpaceSize) allows; raise it, or look for code generation that never stops \
                 (proxies, scripts, lambdas per request)"
                    .to_string()
            },
        ),
        "direct" => {
            let top = r.direct.sites.iter().filter(|s| s.live_bytes > 0).max_by_key(|s| s.live_bytes);
            subject.site = top.map(|s| leakagent_report::text::site_place(&s.app_frame, &s.stack));
            (
                match top {
                    Some(s) => format!(
                        "direct buffer memory is exhausted; the most live direct memory, {} in {} blocks, was allocated at {}",
                        mib(s.live_bytes),
                        s.live_count,
                        subject.site.as_deref().unwrap_or("?")
                    ),
                    None => "direct buffer memory is exhausted".to_string(),
                },
                "Release the buffers of that site (or pool them) instead of leaving them to the GC; raise \
                 -XX:MaxDirectMemorySize only if the live amount is legitimate"
                    .to_string(),
            )
        }
        "threads" => (
            match r.memory.regions.iter().find(|g| g.kind == "thread_stacks") {
                Some(g) => format!(
                    "no more threads can be created: {} thread stacks are mapped ({} reserved, {} resident)",
                    g.count,
                    mib(g.size_bytes),
                    mib(g.rss_bytes)
                ),
                None => "no more threads can be created".to_string(),
            },
            "Find the thread pool or code that keeps starting threads (the thread names in a thread dump, kill -3); \
             otherwise raise the process's thread limit (ulimit -u, the container's pids limit)"
                .to_string(),
        ),
        _ => (format!("the JVM ran out of a resource ({})", oom.description), "See the JVM's own message above".to_string()),
    };
    Some(Finding {
        severity: Severity::Critical,
        kind: "out_of_memory".into(),
        summary: format!("OutOfMemoryError ({}): {}: {what}", oom.kind, oom.description),
        fix,
        subject,
    })
}

/// The container's limit is near, or the heap growing to -Xmx with today's native memory would
/// pass it: reported when the heap alone fits, so the part outside the heap is what will hit
/// the limit (the first field report, seeds/000: RSS 7 G against a 4 G heap; in a container the OOM killer's SIGKILL).
pub const CONTAINER_PRESSURE_PERCENT: u64 = 80;
pub const CONTAINER_CRITICAL_PERCENT: u64 = 90;

fn container_limit(r: &Report) -> Option<Finding> {
    let m = &r.memory;
    let c = m.cgroup.as_ref()?;
    let limit = c.limit?;
    let heap = part(m, RssPart::JavaHeap);
    let non_heap = m.rss_bytes.saturating_sub(heap);
    let heap_max = m.jvm.heap_max_bytes.unwrap_or(heap).max(heap);
    let ws_pct = percent(c.working_set, limit);
    let heap_fits = heap_max < limit;
    let overflows_at_xmx = heap_max + non_heap >= limit;
    if !heap_fits || non_heap == 0 || !(ws_pct >= CONTAINER_PRESSURE_PERCENT || overflows_at_xmx) {
        return None;
    }
    let largest = m
        .explanation
        .iter()
        .filter(|p| p.part != RssPart::JavaHeap)
        .max_by_key(|p| p.bytes)
        .map(|p| format!(" (largest part: {} {})", p.part, mib(p.bytes)))
        .unwrap_or_default();
    let kernel_counts = c.page_cache.unwrap_or(0).saturating_sub(c.inactive_file.unwrap_or(0)) + c.kernel.unwrap_or(0);
    let severity = if ws_pct >= CONTAINER_CRITICAL_PERCENT { Severity::Critical } else { Severity::Warning };
    let mut summary = format!(
        "the container's memory limit is {}: its working set is {} ({ws_pct}%), {} left; {} of RSS is outside the Java heap{largest}",
        mib(limit),
        mib(c.working_set),
        mib(c.headroom.unwrap_or(0)),
        mib(non_heap)
    );
    if overflows_at_xmx {
        summary.push_str(&format!(
            ", so the heap growing to its -Xmx {} would take the process past the limit: the part outside the heap, not the heap, will meet the OOM killer",
            mib(heap_max)
        ));
    }
    if kernel_counts > 0 {
        summary.push_str(&format!("; the kernel also charges {} of active page cache and kernel memory that RSS does not show", mib(kernel_counts)));
    }
    Some(Finding {
        severity,
        kind: "container_limit".into(),
        summary,
        fix: format!(
            "Find what grows outside the heap (the other findings and memory.explanation name it) and fix it; until then \
             either raise the container's limit to at least {} or lower -Xmx, and run with rss_limit=85% or usage_limit=85% \
             so a report is written before the OOM killer's SIGKILL, which leaves no exit report",
            mib(heap_max + non_heap + non_heap / 4)
        ),
        subject: Subject::default(),
    })
}

#[cfg(test)]
fn derive_all(report: &Report) -> Vec<Finding> {
    let mut out = Vec::new();
    derive(report, &mut out);
    out.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out
}

fn part(m: &Memory, name: RssPart) -> u64 {
    m.explanation.iter().find(|p| p.part == name).map(|p| p.bytes).unwrap_or(0)
}


fn percent(part: u64, whole: u64) -> u64 {
    (part as u128 * 100 / whole.max(1) as u128) as u64
}

/// Freed memory the C allocator keeps resident: in the first field report (seeds/000), glibc's
/// 64 MiB per-thread arenas held gigabytes that no Java tool showed.
fn allocator_retention(r: &Report) -> Option<Finding> {
    let m = &r.memory;
    let rss = m.rss_bytes;
    let retained = part(m, RssPart::MallocRetained);
    if rss == 0 || retained < RETAINED_MIN || percent(retained, rss) < RETAINED_PERCENT {
        return None;
    }
    let a = &m.malloc;
    let in_use = part(m, RssPart::MallocInUse) + part(m, RssPart::Zlib) + part(m, RssPart::Direct);
    let largest = m.explanation.iter().filter(|p| p.part != RssPart::JavaHeap).max_by_key(|p| p.bytes);
    let is_largest = largest.is_some_and(|p| p.part == RssPart::MallocRetained);
    let mut summary = format!(
        "{} malloc keeps {} of freed memory resident ({}% of RSS {})",
        a.allocator,
        mib(retained),
        percent(retained, rss),
        mib(rss)
    );
    if a.allocator == Allocator::Glibc {
        if let Some(n) = a.arenas {
            summary.push_str(&format!(" in {n} arenas"));
        }
    }
    summary.push_str(&format!(" while only {} is in use", mib(in_use)));
    if is_largest {
        summary.push_str("; it is the largest part of RSS outside the Java heap");
    }
    if let Some(t) = m.trim.as_ref().filter(|t| t.performed) {
        summary.push_str(&format!(
            ". trim=on's {} then released {} (RSS {} -> {})",
            t.call,
            mib(t.released_bytes),
            mib(t.rss_before_bytes),
            mib(t.rss_after_bytes)
        ));
    }
    let pid = r.pid;
    let j = &m.jvm;
    let fix = match a.allocator {
        Allocator::Glibc => {
            let mut f = Vec::new();
            if j.trim_native_heap_command {
                f.push(format!("return it now with `jcmd {pid} System.trim_native_heap` (or this agent's trim=on)"));
            } else {
                f.push("return it now with this agent's trim=on (this JDK has no System.trim_native_heap; JDK 18+ has it)".to_string());
            }
            match j.trim_native_heap_interval_ms {
                Some(0) => f.push("keep it returned with -XX:TrimNativeHeapInterval=5000 (this JDK has the flag; it trims every 5 s)".into()),
                Some(ms) => f.push(format!("-XX:TrimNativeHeapInterval is already {ms} ms: a shorter interval trims sooner")),
                None => f.push("keep it returned with -XX:TrimNativeHeapInterval=5000 on a JDK that has it (22+, recent 17 and 21 updates)".into()),
            }
            f.push(format!(
                "MALLOC_ARENA_MAX=2 bounds how many arenas can hold freed memory (now {}{}), but does not return memory after GC",
                a.arena_max.map(|n| n.to_string()).unwrap_or_else(|| "unknown".into()),
                if a.arena_max_source.is_empty() { String::new() } else { format!(", {}", a.arena_max_source) }
            ));
            f.push("or run with jemalloc and its background thread, which returns free pages while the JVM idles: LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 MALLOC_CONF=background_thread:true (Debian package libjemalloc2; without the background thread an idle process keeps them)".into());
            f.push(format!("and {}", churn_source(r)));
            f.join("; ")
        }
        Allocator::Jemalloc => format!("jemalloc returns dirty pages only when it runs: without its background thread an idle process keeps them. Set MALLOC_CONF=background_thread:true (optionally with dirty_decay_ms:1000,muzzy_decay_ms:0); this agent's trim=on purges every arena at report time; and {}", churn_source(r)),
        Allocator::Tcmalloc => format!("tcmalloc keeps freed pages in its page heap: raise TCMALLOC_RELEASE_RATE, or call MallocExtension::ReleaseFreeMemory (this agent's trim=on does at report time); and {}", churn_source(r)),
        other => format!("{other}: return free memory to the OS the way this allocator allows, and {}", churn_source(r)),
    };
    Some(Finding {
        severity: if retained >= RETAINED_LARGE && percent(retained, rss) >= 50 {
            Severity::Critical
        } else if retained >= RETAINED_LARGE {
            Severity::Warning
        } else {
            Severity::Info
        },
        kind: "allocator_retention".into(),
        summary,
        fix,
        subject: Subject::default(),
    })
}

/// Where the freed memory came from, by this report's own ledgers: streams and buffers freed only
/// by GC are the churn the application can stop; when the ledgers show none, it is not theirs.
fn churn_source(r: &Report) -> String {
    let zlib = r.zlib.tracking.per_site().then_some(r.zlib.totals.released_by_gc);
    let direct = (r.direct.tracking == Tracking::Full).then_some(r.direct.totals.freed_by_gc);
    let mut causes = Vec::new();
    if let Some(n) = zlib.filter(|n| *n > 0) {
        causes.push(format!("end() the {n} zlib Inflaters/Deflaters this report saw freed only by GC (see the zlib sites)"));
    }
    if let Some(n) = direct.filter(|n| *n > 0) {
        causes.push(format!("reuse or free the {n} direct buffers and Unsafe blocks this report saw freed only by GC (see the direct sites)"));
    }
    match (causes.is_empty(), zlib, direct) {
        (false, _, _) => format!("stop the churn at its source: {}", causes.join(", and ")),
        (true, Some(_), Some(_)) => "look beyond zlib and direct memory: this report's ledgers show no zlib stream and no direct buffer freed by GC, so the freed memory was malloc'd by the JVM itself (JIT compilation, class loading, GC structures; NMT names them) or by native libraries".into(),
        _ => "stop the churn at its source if it is zlib streams never end()ed or direct buffers freed only by GC (this report's ledgers cannot tell: see zlib.tracking and direct.tracking)".into(),
    }
}

/// RSS that no part accounts for: what took the first field report's team (seeds/000) pmap,
/// strace and gdb to find.
fn unexplained_memory(r: &Report) -> Option<Finding> {
    let m = &r.memory;
    let rss = m.rss_bytes;
    let u = part(m, RssPart::Unexplained);
    if rss == 0 || u < UNEXPLAINED_MIN || percent(u, rss) < UNEXPLAINED_PERCENT {
        return None;
    }
    let pid = r.pid;
    let summary = format!(
        "{} of RSS ({}% of {}) is anonymous memory that neither the Java heap, metaspace, code cache, thread stacks, {} malloc nor files account for{}",
        mib(u),
        percent(u, rss),
        mib(rss),
        m.malloc.allocator,
        if m.nmt.is_some() { ", and NMT does not name it either" } else { "" }
    );
    let fix = if m.nmt.is_some() {
        format!(
            "NMT sees all of the JVM's own memory, so this was mapped by native code outside the JVM and outside malloc (JNI libraries calling mmap, a second allocator): \
             look for its large anonymous regions with `pmap -x {pid}`, and check this report's zlib and direct sites for native memory the JDK allocates on the application's behalf"
        )
    } else {
        format!(
            "start the JVM with -XX:NativeMemoryTracking=summary: this report then names the JVM's own mappings (GC data structures, ...) under `memory.nmt` (or run `jcmd {pid} VM.native_memory summary`); \
             what NMT does not see either comes from native code mapping memory itself (JNI libraries): look at `pmap -x {pid}` for the large anonymous regions, and at this report's zlib and direct sites"
        )
    };
    Some(Finding { severity: Severity::Warning, kind: "unexplained_memory".into(), summary, fix, subject: Subject::default() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakagent_report::model::*;

    fn report(parts: &[(RssPart, u64)], allocator: &str) -> Report {
        let mut r = test_report();
        r.memory = Memory {
            rss_bytes: parts.iter().map(|p| p.1).sum(),
            explanation: parts.iter().map(|(p, b)| Part { part: *p, bytes: *b, note: String::new() }).collect(),
            malloc: Malloc {
                allocator: Allocator::ALL.into_iter().find(|k| k.as_str() == allocator).unwrap_or_default(),
                arenas: Some(16),
                arena_max: Some(16),
                arena_max_source: "glibc default: 8 per core, 2 cores".into(),
                ..Malloc::default()
            },
            jvm: JvmMemory { trim_native_heap_command: true, trim_native_heap_interval_ms: Some(0), ..JvmMemory::default() },
            ..Memory::default()
        };
        r
    }

    #[test]
    fn container_limit_when_the_part_outside_the_heap_will_hit_it() {
        let mut r = report(&[(RssPart::JavaHeap, 300 * MIB), (RssPart::MallocInUse, 500 * MIB), (RssPart::Other, 50 * MIB)], "glibc");
        r.memory.jvm.heap_max_bytes = Some(512 * MIB);
        let cg = |ws: u64| Cgroup { version: 1, limit: Some(1024 * MIB), working_set: ws, headroom: Some(1024 * MIB - ws), kernel: Some(20 * MIB), ..Cgroup::default() };
        r.memory.cgroup = Some(cg(860 * MIB));
        let f = container_limit(&r).expect("84% of the limit, 512 MiB heap + 550 MiB native > 1 GiB");
        assert_eq!(f.severity, Severity::Warning);
        assert!(f.summary.contains("1024.0 MiB") && f.summary.contains("largest part: malloc_in_use"), "{}", f.summary);
        assert!(f.summary.contains("not the heap") && f.summary.contains("kernel also charges 20.0 MiB"), "{}", f.summary);
        r.memory.cgroup = Some(cg(950 * MIB));
        assert_eq!(container_limit(&r).unwrap().severity, Severity::Critical);
        // Plenty of room: heap max plus native memory fits, working set low.
        let mut ok = report(&[(RssPart::JavaHeap, 300 * MIB), (RssPart::MallocInUse, 100 * MIB)], "glibc");
        ok.memory.jvm.heap_max_bytes = Some(512 * MIB);
        ok.memory.cgroup = Some(cg(400 * MIB));
        assert!(container_limit(&ok).is_none());
        // A heap that alone does not fit is the heap's problem, not this finding's.
        ok.memory.jvm.heap_max_bytes = Some(2048 * MIB);
        ok.memory.cgroup = Some(cg(900 * MIB));
        assert!(container_limit(&ok).is_none());
        // Unlimited: nothing to say.
        r.memory.cgroup = Some(Cgroup { limit: None, ..cg(950 * MIB) });
        assert!(container_limit(&r).is_none());
    }

    #[test]
    fn glibc_retention_after_gc_is_critical_and_names_the_fixes() {
        let r = report(
            &[(RssPart::JavaHeap, 2 * MIB), (RssPart::MallocInUse, 8 * MIB), (RssPart::MallocRetained, 380 * MIB), (RssPart::Other, 33 * MIB)],
            "glibc",
        );
        let f = derive_all(&r);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, "allocator_retention");
        assert_eq!(f[0].severity, Severity::Critical);
        assert!(f[0].summary.contains("glibc malloc keeps 380.0 MiB of freed memory resident (89% of RSS 423.0 MiB) in 16 arenas"), "{}", f[0].summary);
        assert!(f[0].summary.contains("largest part of RSS outside the Java heap"));
        for needle in ["jcmd 4242 System.trim_native_heap", "-XX:TrimNativeHeapInterval=5000", "MALLOC_ARENA_MAX=2", "libjemalloc.so.2", "background_thread:true", "end()"] {
            assert!(f[0].fix.contains(needle), "fix lacks {needle}: {}", f[0].fix);
        }
    }

    #[test]
    fn the_churn_advice_follows_the_ledgers() {
        let mut r = report(&[(RssPart::MallocRetained, 100 * MIB), (RssPart::Other, 100 * MIB)], "glibc");
        r.zlib.tracking = Tracking::Full;
        r.direct.tracking = Tracking::Full;
        let f = derive_all(&r);
        assert!(f[0].fix.contains("no zlib stream and no direct buffer freed by GC"), "{}", f[0].fix);
        assert!(!f[0].fix.contains("end() the"), "{}", f[0].fix);
        r.zlib.totals.released_by_gc = 160_000;
        let f = derive_all(&r);
        assert!(f[0].fix.contains("end() the 160000 zlib Inflaters/Deflaters this report saw freed only by GC"), "{}", f[0].fix);
        assert!(!f[0].fix.contains("direct buffers and Unsafe"), "{}", f[0].fix);
        r.direct.tracking = Tracking::Off;
        r.zlib.totals.released_by_gc = 0;
        let f = derive_all(&r);
        assert!(f[0].fix.contains("cannot tell"), "{}", f[0].fix);
    }

    #[test]
    fn trim_result_is_in_the_summary_and_old_jdks_get_other_advice() {
        let mut r = report(&[(RssPart::MallocRetained, 100 * MIB), (RssPart::Other, 200 * MIB)], "glibc");
        r.memory.trim = Some(Trim {
            performed: true,
            call: "malloc_trim(0)".into(),
            rss_before_bytes: 300 * MIB,
            rss_after_bytes: 210 * MIB,
            released_bytes: 90 * MIB,
            ..Trim::default()
        });
        r.memory.jvm.trim_native_heap_command = false;
        r.memory.jvm.trim_native_heap_interval_ms = None;
        let f = derive_all(&r);
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].summary.contains("malloc_trim(0) then released 90.0 MiB (RSS 300.0 MiB -> 210.0 MiB)"), "{}", f[0].summary);
        assert!(!f[0].summary.contains("largest"));
        assert!(f[0].fix.contains("this JDK has no System.trim_native_heap"));
        assert!(f[0].fix.contains("on a JDK that has it"));
    }

    #[test]
    fn small_or_minor_retention_and_healthy_processes_get_nothing() {
        assert!(derive_all(&report(&[(RssPart::MallocRetained, 7 * MIB), (RssPart::Other, 10 * MIB)], "glibc")).is_empty());
        assert!(derive_all(&report(&[(RssPart::MallocRetained, 80 * MIB), (RssPart::JavaHeap, 920 * MIB)], "glibc")).is_empty());
        // springboot-scan's size: a small share worth a line, not an alarm.
        let f = derive_all(&report(&[(RssPart::MallocRetained, 12 * MIB), (RssPart::MallocInUse, 9 * MIB), (RssPart::Other, 41 * MIB)], "glibc"));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Info);
        // Fixed twins: about 1 MiB of 50.
        assert!(derive_all(&report(&[(RssPart::MallocRetained, MIB), (RssPart::MallocInUse, 9 * MIB), (RssPart::Other, 40 * MIB)], "glibc")).is_empty());
        assert!(derive_all(&report(&[(RssPart::JavaHeap, 20 * MIB), (RssPart::MallocRetained, 3 * MIB), (RssPart::Other, 30 * MIB), (RssPart::Unexplained, 4 * MIB)], "glibc")).is_empty());
        assert!(derive_all(&report(&[], "glibc")).is_empty());
    }

    #[test]
    fn jemalloc_retention_gets_jemalloc_advice() {
        let f = derive_all(&report(&[(RssPart::MallocRetained, 200 * MIB), (RssPart::Other, 100 * MIB)], "jemalloc"));
        assert!(f[0].summary.starts_with("jemalloc malloc keeps 200.0 MiB"), "{}", f[0].summary);
        assert!(f[0].fix.contains("background_thread:true"));
    }

    #[test]
    fn large_unexplained_memory_says_how_to_look() {
        let mut r = report(&[(RssPart::JavaHeap, 100 * MIB), (RssPart::Unexplained, 300 * MIB)], "glibc");
        let f = derive_all(&r);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, "unexplained_memory");
        assert!(f[0].summary.contains("300.0 MiB of RSS (75% of 400.0 MiB)"), "{}", f[0].summary);
        assert!(f[0].fix.contains("-XX:NativeMemoryTracking=summary") && f[0].fix.contains("pmap -x 4242"));
        r.memory.nmt = Some(Nmt::default());
        let f = derive_all(&r);
        assert!(f[0].summary.contains("NMT does not name it either"));
        assert!(f[0].fix.contains("outside the JVM"));
    }

    #[test]
    fn an_oom_finding_says_when_the_heap_could_not_be_read() {
        let oom = Oom { kind: "heap".into(), description: "Java heap space".into(), count: 1 };
        let mut r = Report { trigger_detail: Some(TriggerDetail { oom: Some(oom), ..TriggerDetail::default() }), ..blank_report(1) };
        let f = out_of_memory(&r).unwrap();
        assert!(f.summary.ends_with("the Java heap is full (its size could not be read: the report's own Java calls met the exhausted memory too)"), "{}", f.summary);
        r.memory.jvm.heap_used_bytes = Some(61 << 20);
        r.memory.jvm.heap_max_bytes = Some(64 << 20);
        assert!(out_of_memory(&r).unwrap().summary.ends_with("the Java heap is full (61.0 MiB of 64.0 MiB in use)"));
    }
}
