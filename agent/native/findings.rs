//! Findings about the native ledgers: zlib streams never ended, direct and Unsafe memory never
//! freed. Read `report.zlib` and `report.direct` only.

use crate::native::{pools, zlib};
use leakagent_report::model::{DirectKind, DirectPool, DirectSite, Finding, Rising, Report, Severity, Subject, ZlibKind, ZlibSite};
use leakagent_report::words::{self, site_labels};
use leakagent_report::units::mib;
use std::collections::BTreeMap;

/// A zlib site group is reported when at least this many streams were never ended...
pub const ZLIB_MIN_NEVER_ENDED: u64 = 100;
/// ...and they are at least half of those created there.
pub const ZLIB_MIN_NEVER_ENDED_SHARE: f64 = 0.5;
/// Critical from this many GC releases or this many estimated live bytes.
pub const ZLIB_CRITICAL_GC: u64 = 10_000;
pub const ZLIB_CRITICAL_BYTES: u64 = 256 << 20;
/// A direct site group is reported when it holds at least this much live memory...
pub const DIRECT_MIN_LIVE_BYTES: u64 = 8 << 20;
/// ...and at most this share of its blocks was ever freed.
pub const DIRECT_MAX_FREED_SHARE: f64 = 0.1;
pub const DIRECT_CRITICAL_BYTES: u64 = 256 << 20;

pub fn derive(report: &Report, out: &mut Vec<Finding>) {
    out.extend(zlib_findings(&report.zlib.sites));
    let max_direct = report.direct.jdk_pool.as_ref().and_then(|p| p.max_bytes);
    out.extend(direct_findings(&report.direct.sites, &report.direct.pools, max_direct, report.direct.totals.growth_window_ms));
}

/// Where a site's memory comes from, in one frame: the first application frame, else the first
/// frame below the JDK's own allocation frames.
fn place(app_frame: &Option<String>, stack: &[String], skip: usize) -> String {
    app_frame
        .clone()
        .or_else(|| stack.get(skip).or(stack.last()).cloned())
        .unwrap_or_else(|| "<unknown site>".into())
}

/// Where the sites of one finding part, when several call paths reach its place: ` (2 call
/// paths: via A; via B)`, so a place in the JDK says who called it.
fn call_paths(sites: &[(u32, &Option<String>, &[String])]) -> String {
    if sites.len() < 2 {
        return String::new();
    }
    let mut vias: Vec<String> = site_labels(sites)
        .into_iter()
        .filter_map(|l| l.split_once(" via ").map(|(_, v)| v.split(" [site").next().unwrap_or(v).to_string()))
        .collect();
    vias.sort();
    vias.dedup();
    match vias.len() {
        0 | 1 => String::new(),
        n if n > 3 => format!(" ({n} call paths: via {}; ...)", vias[..3].join("; via ")),
        n => format!(" ({n} call paths: via {})", vias.join("; via ")),
    }
}

/// Sites of one kind created at the same place.
fn group<T, K: Ord>(sites: &[T], key: impl Fn(&T) -> (K, String)) -> BTreeMap<(K, String), Vec<&T>> {
    let mut g: BTreeMap<(K, String), Vec<&T>> = BTreeMap::new();
    for s in sites {
        g.entry(key(s)).or_default().push(s);
    }
    g
}

fn zlib_findings(sites: &[ZlibSite]) -> Vec<Finding> {
    let mut out = Vec::new();
    // A pool's streams are reused, not leaked (zlib.rs judges it from resets and growth).
    let leaky: Vec<&ZlibSite> = sites.iter().filter(|s| s.pool.is_none()).collect();
    let groups = group(&leaky, |s| (s.kind, place(&s.app_frame, &s.stack, 2)));
    for ((kind, at), sites) in groups {
        if sites.iter().all(|s| s.app_frame.is_none() && s.stack.len() <= 1) {
            continue; // synthetic sites (<other sites>, <stack unavailable>): no place to blame
        }
        let created: u64 = sites.iter().map(|s| s.created).sum();
        let gc: u64 = sites.iter().map(|s| s.released_by_gc).sum();
        let live: u64 = sites.iter().map(|s| s.live).sum();
        let bytes: u64 = sites.iter().map(|s| s.live_bytes_estimate).sum();
        let never = gc + live;
        if never < ZLIB_MIN_NEVER_ENDED || (never as f64) < ZLIB_MIN_NEVER_ENDED_SHARE * created as f64 {
            continue;
        }
        let spring = sites.iter().any(|s| old_spring_boot_loader(&s.stack));
        let severity = if gc >= ZLIB_CRITICAL_GC || bytes >= ZLIB_CRITICAL_BYTES { Severity::Critical } else { Severity::Warning };
        let per_stream = about_kb(zlib::estimate_bytes(kind));
        let paths = call_paths(&sites.iter().map(|s| (s.id, &s.app_frame, s.stack.as_slice())).collect::<Vec<_>>());
        let mut fix = format!(
            "Call end() on every {kind} when you are done with it (in a finally block), or close the stream that owns it: \
             {} end only the {kind}s they create themselves, never one passed to their constructor. Until it is ended, {} \
             {kind}'s zlib memory ({per_stream}) lives outside the heap and is freed only when the GC runs its Cleaner; \
             glibc then often keeps the freed memory in its arenas, so RSS stays high.",
            match kind {
                ZlibKind::Deflater => "DeflaterOutputStream and GZIPOutputStream",
                ZlibKind::Inflater => "InflaterInputStream and GZIPInputStream",
            },
            words::article(kind.as_str())
        );
        if spring {
            fix.push_str(
                " This is Spring Boot's nested-jar loader bug (ZipInflaterInputStream never ended its Inflater up to \
                 2.0.4 and 1.5.15; 2.0.5-2.0.9 and 1.5.16-1.5.22 end it but still create a second one per entry that only \
                 GC frees; fixed in Spring Boot 2.1.0): upgrade Spring Boot, and narrow classpath scans (Reflections, \
                 component scanning) to the packages you need.",
            );
        }
        out.push(Finding {
            severity,
            kind: "zlib_not_ended".into(),
            summary: format!(
                "{never} of {created} {kind}{} created at {at}{paths} {} never ended: {gc} ({}%) {} freed only by GC, {live} {} live \
                 holding ~{}",
                if created == 1 { "" } else { "s" },
                if never == 1 { "was" } else { "were" },
                percent(gc, never),
                if gc == 1 { "was" } else { "were" },
                if live == 1 { "is" } else { "are" },
                mib(bytes)
            ),
            fix,
            subject: Subject { site: Some(at), ..Subject::default() },
        });
    }
    out
}

/// Whether a stack is in the nested-jar loader that had the Inflater bug: its
/// ZipInflaterInputStream (org.springframework.boot.loader.jar, or a copy of it) made the stream,
/// and the stack holds none of the loader that replaced it in Spring Boot 3.2 (`loader.launch`,
/// `NestedJarFile`), where advising 2.1.0 would be advising a downgrade.
fn old_spring_boot_loader(stack: &[String]) -> bool {
    stack.iter().any(|f| f.contains(".ZipInflaterInputStream.<init>("))
        && !stack.iter().any(|f| f.starts_with("org.springframework.boot.loader.launch.") || f.contains("NestedJarFile"))
}

/// A stream's size for people, to the nearest 10 KB: "about 260 KB".
fn about_kb(bytes: u64) -> String {
    format!("about {} KB", (bytes as f64 / 10_240.0).round() as u64 * 10)
}

fn percent(part: u64, whole: u64) -> u64 {
    if whole == 0 {
        0
    } else {
        ((part as f64 / whole as f64) * 100.0).round() as u64
    }
}

/// A duration for people: "4.2 s", "3 min", "2.5 h".
fn span(ms: u64) -> String {
    let s = ms as f64 / 1000.0;
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

/// The JDK's own allocation frames on top of a direct site's stack: a DirectByteBuffer's has two
/// more than a raw Unsafe block's (its constructor and the factory).
fn jdk_frames(kind: DirectKind) -> usize {
    if kind == DirectKind::DirectByteBuffer {
        4
    } else {
        2
    }
}

/// Where a direct site's memory comes from for its finding, and whether every block of the site
/// shares that frame: the site's place, unless that is Netty's own code (its allocator, its
/// codecs), then the first frame below Netty, the code that asked for the buffer.
fn direct_place(s: &DirectSite) -> (String, bool) {
    let at = place(&s.app_frame, &s.stack, jdk_frames(s.kind));
    if !pools::is_netty(&at) {
        return (at, true);
    }
    let from = s.stack.iter().position(|f| *f == at).unwrap_or(0);
    let below = || s.stack.iter().enumerate().skip(from).find(|(_, f)| !pools::is_netty(f) && !f.starts_with("java.") && !f.starts_with("jdk."));
    // Else Netty's own caller of its allocator (its socket reads, its encoders).
    let allocator = s.stack.iter().rposition(|f| f.contains("netty.buffer.")).map_or(from, |i| i + 1);
    match below().or_else(|| s.stack.get(allocator).filter(|_| allocator > from).map(|f| (allocator, f))) {
        Some((i, f)) => (f.clone(), i < s.exact_frames),
        None => (at, true),
    }
}

/// Whether a site's blocks come from Netty's allocators (pooled or not).
fn netty_site(s: &DirectSite) -> bool {
    s.stack.iter().any(|f| pools::is_netty(f) && f.contains("netty.buffer."))
}

/// The fix for memory held by Netty ByteBufs never released.
fn netty_fix(pooled: bool) -> String {
    format!(
        "Release every ByteBuf you allocate, retain or receive and do not pass on: ByteBuf.release() or \
         ReferenceCountUtil.release(msg) in a finally block (SimpleChannelInboundHandler releases the message it hands \
         you; a buffer kept in a list or map must be released when it is removed). Run with \
         -Dio.netty.leakDetection.level=paranoid to have Netty log where each leaked ByteBuf was allocated and last \
         accessed.{}",
        if pooled {
            " Chunks that level off are the pool working as designed: PooledByteBufAllocator keeps them for reuse; \
             only a pool that keeps rising holds buffers nobody releases."
        } else {
            ""
        }
    )
}

/// A pool rises when it grew past its high-water mark at this many reports in a row (a site, or
/// Netty's adaptive pool, when its kept bytes did)...
pub const POOL_MIN_RISING_REPORTS: u32 = 2;
/// ...by at least this much over them.
pub const POOL_MIN_RISE_BYTES: u64 = 8 << 20;

fn rises(r: &Option<Rising>) -> bool {
    r.is_some_and(|r| r.reports >= POOL_MIN_RISING_REPORTS && r.bytes >= POOL_MIN_RISE_BYTES)
}

fn verb(never_freed: bool) -> &'static str {
    if never_freed {
        "grows and is never freed"
    } else {
        "keeps growing"
    }
}

fn pool_findings(pools: &[DirectPool], sites: &[DirectSite], max_direct: Option<u64>) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in pools.iter().filter(|p| rises(&p.rising)) {
        let rise = p.rising.unwrap_or_default();
        let mut callers: Vec<String> = sites
            .iter()
            .filter(|s| p.sites.contains(&s.id))
            .map(|s| direct_place(s).0)
            .filter(|f| !pools::is_netty(f) && !f.starts_with("java.") && !f.starts_with("jdk."))
            .collect();
        callers.sort();
        callers.dedup();
        // Netty 4.2's adaptive allocator is ~20 frames deep: its callers are below the frames kept.
        let callers = if callers.is_empty() {
            "code below the frames kept (stack_depth=32 records the first caller of each site)".to_string()
        } else {
            callers.join("; ")
        };
        let at = sites
            .iter()
            .filter(|s| p.sites.contains(&s.id))
            .max_by_key(|s| s.live_bytes)
            .and_then(|s| pools::chunk_frame(&s.stack).cloned())
            .unwrap_or_else(|| "io.netty.buffer.PoolArena$DirectArena.newChunk".into());
        let near_limit = max_direct.is_some_and(|m| p.live_bytes * 2 >= m);
        let severity = if p.live_bytes >= DIRECT_CRITICAL_BYTES || near_limit { Severity::Critical } else { Severity::Warning };
        let summary = if p.allocator == "netty" {
            format!(
                "Netty's pooled allocator keeps growing: {} chunks at {at} hold {}, +{} over the last {} reports (a healthy pool \
                 levels off); ByteBufs that are never released keep their chunks. Chunks were requested via {}",
                p.chunks,
                mib(p.live_bytes),
                mib(rise.bytes),
                rise.reports,
                callers
            )
        } else {
            format!(
                "Netty's adaptive allocator keeps chunks it should free: of {} chunks at {at} ({}), {} born in every period \
                 since stay live (~{}), +{} over the last {} reports (a healthy allocator frees a chunk once its buffers are \
                 released); ByteBufs that are never released keep their chunks. Chunks were requested via {}",
                p.chunks,
                mib(p.live_bytes),
                p.kept_count,
                mib(p.kept_bytes),
                mib(rise.bytes),
                rise.reports,
                callers
            )
        };
        out.push(Finding {
            severity,
            kind: "direct_pool_grows".into(),
            summary,
            fix: netty_fix(true),
            subject: Subject { site: Some(at), ..Subject::default() },
        });
    }
    out
}

fn direct_findings(sites: &[DirectSite], pools: &[DirectPool], max_direct: Option<u64>, window_ms: u64) -> Vec<Finding> {
    let mut out = pool_findings(pools, sites, max_direct);
    // A pool's chunks are judged together, by their rise (pool_findings), never as blocks never freed.
    let pooled: Vec<u32> = pools.iter().flat_map(|p| p.sites.iter().copied()).collect();
    let own: Vec<&DirectSite> = sites.iter().filter(|s| !pooled.contains(&s.id)).collect();
    let groups = group(&own, |s| (s.kind, direct_place(s).0));
    for ((kind, at), sites) in groups {
        let made: u64 = sites.iter().map(|s| s.allocations + s.reallocations).sum();
        let frees: u64 = sites.iter().map(|s| s.frees).sum();
        let live: u64 = sites.iter().map(|s| s.live_count).sum();
        let bytes: u64 = sites.iter().map(|s| s.live_bytes).sum();
        let growth: i64 = sites.iter().map(|s| s.growth_bytes).sum();
        // Blocks never freed, or blocks freed at one place while others of it pile up by age (a
        // leak beside churn: a Netty allocator's buffers, most released): kept blocks, born in
        // closed periods and still live, rising at every report. Buffers in flight that merely
        // peak higher at each report (a busy server's, a ramp-up's) are never kept.
        let rising: Vec<(Rising, u64)> = sites.iter().filter_map(|s| s.rising.filter(|_| rises(&s.rising)).map(|r| (r, s.kept_count))).collect();
        let never_freed = frees as f64 <= DIRECT_MAX_FREED_SHARE * made as f64;
        let netty = sites.iter().any(|s| netty_site(s));
        // Netty frees its buffers as they are released: its first huge ones (5 MiB each), in
        // flight before any was freed, are no evidence; blocks never freed from a closed period
        // are (`kept_bytes`).
        let held = if netty && never_freed { sites.iter().map(|s| s.kept_bytes).sum() } else { bytes };
        if held < DIRECT_MIN_LIVE_BYTES || (!never_freed && rising.is_empty()) {
            continue;
        }
        let exact = sites.iter().all(|s| direct_place(s).1);
        let near_limit = kind == DirectKind::DirectByteBuffer && max_direct.is_some_and(|m| bytes * 2 >= m);
        let severity = if bytes >= DIRECT_CRITICAL_BYTES || near_limit { Severity::Critical } else { Severity::Warning };
        let grew = if growth > 0 { format!(", +{} in the last {}", mib(growth as u64), span(window_ms)) } else { String::new() };
        let mut at = format!("{at}{}", call_paths(&sites.iter().map(|s| (s.id, &s.app_frame, s.stack.as_slice())).collect::<Vec<_>>()));
        if !exact {
            // The frame is below the key: the first block's caller, not necessarily every block's.
            at = format!("{} (first seen from {at}; key_depth=16 tells callers apart)", place(&sites[0].app_frame, &sites[0].stack, jdk_frames(kind)));
        }
        let freed = if frees == 0 {
            "none was ever freed".to_string()
        } else if never_freed {
            format!("only {frees} of {made} were freed")
        } else {
            let (r, kept) = rising.iter().max_by_key(|(r, _)| r.bytes).copied().unwrap_or_default();
            format!(
                "{frees} of {made} were freed, but {kept} born in every period since are still live, and they piled up at each of \
                 the last {} reports (+{})",
                r.reports,
                mib(r.bytes)
            )
        };
        let (summary, fix) = if kind == DirectKind::DirectByteBuffer {
            (
                format!("direct memory at {at} {}: {live} DirectByteBuffers hold {}{grew}; {freed}", verb(never_freed), mib(bytes)),
                if netty {
                    netty_fix(false)
                } else {
                    format!(
                        "Keep direct buffers in a bounded pool and reuse them, or drop every reference to them so the GC can free \
                         them: a list, map or cache that only grows keeps them forever. -XX:MaxDirectMemorySize{} caps the total \
                         and turns silent growth into OutOfMemoryError: Direct buffer memory.",
                        max_direct.map(|m| format!(" (now {})", mib(m))).unwrap_or_default()
                    )
                },
            )
        } else {
            (
                format!(
                    "memory from Unsafe.allocateMemory at {at} {}: {live} blocks hold {}{grew}; {freed}",
                    verb(never_freed),
                    mib(bytes)
                ),
                if netty {
                    netty_fix(false)
                } else {
                    "Free every block from Unsafe.allocateMemory with Unsafe.freeMemory (in a finally block, or from a Cleaner \
                     registered on the object that owns the address). The GC never frees this memory, and \
                     -XX:MaxDirectMemorySize does not limit it."
                        .to_string()
                },
            )
        };
        let kind = match kind {
            DirectKind::DirectByteBuffer => "direct_buffers_not_freed",
            DirectKind::Unsafe => "unsafe_memory_not_freed",
        };
        out.push(Finding { severity, kind: kind.into(), summary, fix, subject: Subject { site: Some(at), ..Subject::default() } });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakagent_report::model::KeptPeriod;

    fn zsite(id: u32, frame: &str, created: u64, ended: u64, gc: u64, live: u64) -> ZlibSite {
        ZlibSite {
            id,
            kind: ZlibKind::Inflater,
            stack: vec![
                "java.util.zip.Inflater.init(Native Method)".into(),
                "java.util.zip.Inflater.<init>(Inflater.java:131)".into(),
                frame.into(),
            ],
            app_frame: Some(frame.into()),
            created,
            ended_explicitly: ended,
            released_by_gc: gc,
            live,
            live_bytes_estimate: live * zlib::INFLATER_BYTES,
            ..ZlibSite::default()
        }
    }

    fn dsite(kind: DirectKind, frame: &str, allocs: u64, frees: u64, live: u64, bytes: u64) -> DirectSite {
        DirectSite {
            kind,
            stack: vec!["jdk.internal.misc.Unsafe.allocateMemory0(Native Method)".into(), frame.into()],
            app_frame: Some(frame.into()),
            allocations: allocs,
            frees,
            live_count: live,
            live_bytes: bytes,
            growth_bytes: bytes as i64,
            ..DirectSite::default()
        }
    }

    const ZIIS: &str = "leakagent.harness.nested.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:29)";

    #[test]
    fn inflaters_left_to_gc_at_one_place_are_one_finding_with_the_spring_boot_fix() {
        // Two call paths into the same constructor: one finding for the place.
        let f = zlib_findings(&[zsite(4, ZIIS, 943, 0, 940, 3), zsite(5, ZIIS, 161, 0, 161, 0)]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, "zlib_not_ended");
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(
            f[0].summary,
            format!("1104 of 1104 Inflaters created at {ZIIS} were never ended: 1101 (100%) were freed only by GC, 3 are live holding ~0.1 MiB")
        );
        assert!(f[0].fix.contains("end()") && f[0].fix.contains("Spring Boot 2.1.0"), "{}", f[0].fix);
    }

    #[test]
    fn pools_are_not_findings_and_spring_boot_3_2_on_gets_no_upgrade_advice() {
        let mut pool = zsite(2, "org.springframework.boot.loader.jar.NestedJarFileResources.getOrCreateInflater(NestedJarFileResources.java:136)", 179, 13, 0, 166);
        pool.pool = Some(leakagent_report::model::ZlibPool { size: 166, high_water: 166, reuses: 5_400 });
        assert!(zlib_findings(std::slice::from_ref(&pool)).is_empty(), "a pool");
        // The same site growing (no longer judged a pool) is a finding, without the 2.1.0 advice.
        pool.pool = None;
        pool.stack.push("org.springframework.boot.loader.jar.NestedJarFile.getInputStream(NestedJarFile.java:300)".into());
        let f = zlib_findings(&[pool]);
        assert_eq!(f.len(), 1);
        assert!(!f[0].fix.contains("Spring Boot"), "{}", f[0].fix);
    }

    #[test]
    fn a_place_inside_the_jdk_says_who_called_it() {
        let jdk = |caller: &str| {
            let mut s = zsite(0, "java.util.zip.ZipFile$CleanableResource.getInflater(ZipFile.java:735)", 200, 0, 200, 0);
            s.app_frame = None;
            s.stack.push("java.util.zip.ZipFile.getInputStream(ZipFile.java:400)".into());
            s.stack.push(caller.into());
            s
        };
        let mut a = jdk("jdk.internal.loader.URLClassPath$JarLoader$2.getBytes(URLClassPath.java:900)");
        a.id = 1;
        let mut b = jdk("java.util.jar.JarFile.getManifest(JarFile.java:410)");
        b.id = 2;
        let f = zlib_findings(&[a, b]);
        assert_eq!(f.len(), 1, "one place, one finding");
        assert!(f[0].summary.contains(
            "created at java.util.zip.ZipFile$CleanableResource.getInflater(ZipFile.java:735) (2 call paths: via java.util.jar.JarFile.getManifest(JarFile.java:410); via jdk.internal.loader.URLClassPath$JarLoader$2.getBytes(URLClassPath.java:900)) were never ended"
        ), "{}", f[0].summary);
    }

    #[test]
    fn ended_streams_pools_and_small_counts_are_not_findings() {
        assert!(zlib_findings(&[zsite(4, ZIIS, 1104, 1104, 0, 0)]).is_empty(), "fixed twin");
        assert!(zlib_findings(&[zsite(3, "java.util.zip.ZipFile.getInputStream(ZipFile.java:394)", 10, 0, 0, 10)]).is_empty());
        assert!(zlib_findings(&[zsite(7, "a.B.c(B.java:1)", 10_000, 9_000, 600, 400)]).is_empty(), "mostly ended");
        let many = zlib_findings(&[zsite(7, "a.B.c(B.java:1)", 160_088, 0, 160_000, 88)]);
        assert_eq!(many[0].severity, Severity::Critical);
        assert!(!many[0].fix.contains("Spring"));
    }

    #[test]
    fn direct_memory_never_freed_is_a_finding_and_churn_is_not() {
        let leak = dsite(DirectKind::DirectByteBuffer, "x.DirectLeak.allocateForever(DirectLeak.java:43)", 37, 0, 37, 38_797_312);
        let f = direct_findings(std::slice::from_ref(&leak), &[], Some(6_000_000_000), 4_200);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, "direct_buffers_not_freed");
        assert_eq!(
            f[0].summary,
            "direct memory at x.DirectLeak.allocateForever(DirectLeak.java:43) grows and is never freed: 37 DirectByteBuffers \
             hold 37.0 MiB, +37.0 MiB in the last 4.2 s; none was ever freed"
        );
        assert!(f[0].fix.contains("MaxDirectMemorySize"));
        assert_eq!(direct_findings(&[leak], &[], Some(60_000_000), 0)[0].severity, Severity::Critical, "near the limit");
        let churn = dsite(DirectKind::DirectByteBuffer, "x.DirectChurn.allocateAndDrop(DirectChurn.java:48)", 2003, 2003, 0, 0);
        assert!(direct_findings(&[churn], &[], None, 0).is_empty());
        let unsafe_ = dsite(DirectKind::Unsafe, "x.UnsafeLeak.allocateRaw(UnsafeLeak.java:66)", 53, 0, 48, 12_583_296);
        let f = direct_findings(&[unsafe_], &[], None, 0);
        assert_eq!(f[0].kind, "unsafe_memory_not_freed");
        assert!(f[0].summary.contains("48 blocks hold 12.0 MiB") && f[0].fix.contains("freeMemory"), "{}", f[0].summary);
        let small = dsite(DirectKind::Unsafe, "x.Y.z(Y.java:1)", 5, 0, 5, 2_621_560);
        assert!(direct_findings(&[small], &[], None, 0).is_empty());
        assert_eq!(span(3_000_000), "50 min");
        assert_eq!((about_kb(zlib::DEFLATER_BYTES), about_kb(zlib::INFLATER_BYTES)), ("about 260 KB".into(), "about 40 KB".into()));
        assert_eq!(span(9_000_000), "2.5 h");
    }

    #[test]
    fn a_netty_pool_is_a_finding_only_when_it_keeps_rising() {
        let mut chunk = dsite(DirectKind::DirectByteBuffer, "io.netty.buffer.PoolArena$DirectArena.allocateDirect(PoolArena.java:718)", 10, 0, 10, 40 << 20);
        chunk.id = 3;
        chunk.stack.push("io.netty.buffer.PoolArena$DirectArena.newChunk(PoolArena.java:693)".into());
        chunk.stack.push("x.LeakyHandler.channelRead(LeakyHandler.java:29)".into());
        chunk.exact_frames = 8;
        let mut pool = DirectPool { allocator: "netty".into(), sites: vec![3], chunks: 10, live_bytes: 40 << 20, high_water_bytes: 16 << 20, rising: None, ..DirectPool::default() };
        assert!(direct_findings(std::slice::from_ref(&chunk), std::slice::from_ref(&pool), None, 0).is_empty(), "a pool that holds still");
        pool.rising = Some(Rising { reports: 1, bytes: 24 << 20 });
        assert!(direct_findings(std::slice::from_ref(&chunk), std::slice::from_ref(&pool), None, 0).is_empty(), "one rise: no evidence yet");
        pool.rising = Some(Rising { reports: 2, bytes: 32 << 20 });
        let f = direct_findings(std::slice::from_ref(&chunk), std::slice::from_ref(&pool), None, 0);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].kind, "direct_pool_grows");
        assert!(f[0].summary.contains("10 chunks at io.netty.buffer.PoolArena$DirectArena.newChunk(PoolArena.java:693) hold 40.0 MiB, +32.0 MiB over the last 2 reports"), "{}", f[0].summary);
        assert!(f[0].summary.ends_with("via x.LeakyHandler.channelRead(LeakyHandler.java:29)"), "{}", f[0].summary);
        assert!(f[0].fix.contains("paranoid") && !f[0].fix.contains("MaxDirectMemorySize"), "{}", f[0].fix);
    }

    /// Netty's huge buffers (above its chunk, a block each) in flight at a report before the
    /// first was freed: never freed so far, yet no evidence until they outlive a period.
    #[test]
    fn netty_buffers_in_flight_before_any_was_freed_are_no_finding_until_kept() {
        let mut huge = dsite(DirectKind::DirectByteBuffer, "io.netty.buffer.PoolArena$DirectArena.allocateDirect(PoolArena.java:718)", 2, 0, 2, 10 << 20);
        huge.stack.push("io.netty.buffer.PoolArena$DirectArena.newUnpooledChunk(PoolArena.java:707)".into());
        huge.kept_by_age = vec![KeptPeriod { age_ms: 3_000, count: 0 }, KeptPeriod { age_ms: 2_000, count: 0 }];
        assert!(direct_findings(std::slice::from_ref(&huge), &[], None, 3_000).is_empty(), "in flight: {:#?}", huge);
        (huge.kept_by_age[1].count, huge.kept_count, huge.kept_bytes) = (2, 2, 10 << 20);
        let f = direct_findings(&[huge], &[], None, 3_000);
        assert_eq!((f.len(), f[0].kind.as_str()), (1, "direct_buffers_not_freed"), "{f:#?}");
    }

    #[test]
    fn a_site_that_frees_most_blocks_but_keeps_piling_up_is_a_finding() {
        let mut s = dsite(DirectKind::DirectByteBuffer, "io.netty.buffer.UnpooledDirectByteBuf.allocateDirect(UnpooledDirectByteBuf.java:121)", 20_000, 17_000, 3_000, 24 << 20);
        assert!(direct_findings(std::slice::from_ref(&s), &[], None, 0).is_empty(), "churn without kept blocks piling up");
        s.rising = Some(Rising { reports: 1, bytes: 20 << 20 });
        assert!(direct_findings(std::slice::from_ref(&s), &[], None, 30_000).is_empty(), "one report: no evidence yet");
        (s.rising, s.kept_count) = (Some(Rising { reports: 2, bytes: 20 << 20 }), 2_500);
        let f = direct_findings(std::slice::from_ref(&s), &[], None, 30_000);
        assert_eq!(f.len(), 1);
        assert!(
            f[0].summary.contains("keeps growing")
                && f[0].summary.contains("17000 of 20000 were freed, but 2500 born in every period since are still live, and they piled up at each of the last 2 reports (+20.0 MiB)"),
            "{}",
            f[0].summary
        );
        assert!(f[0].fix.contains("ReferenceCountUtil.release"), "{}", f[0].fix);
    }
}
