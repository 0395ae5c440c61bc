//! The zlib and direct memory ledgers on real JVMs (with -Xcheck:jni): exact counts from the
//! harness truths, the harness method as the top site, release classification, findings only
//! for the leaks, the JDK pool cross-check, late attach, and every installed JDK.

mod common;

use common::*;
use std::path::Path;
use std::time::Duration;

const ZIIS_INIT: &str = "leakagent.harness.nested.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:";

/// Unsafe.allocateMemory rounds every request up to 8 bytes before the native sees it.
fn align8(n: u64) -> u64 {
    (n + 7) & !7
}

/// The size `java`'s Unsafe.allocateMemory passes to its native for a request of `n` bytes:
/// rounded up to 8 since JDK 12, as asked before (JDK 11).
fn unsafe_size(java: &Path, n: u64) -> u64 {
    if java_feature_version(java) >= 12 {
        align8(n)
    } else {
        n
    }
}

/// zlib sites whose first application frame starts with `frame`.
fn zlib_at<'a>(z: &'a Zlib, frame: &str) -> Vec<&'a ZlibSite> {
    z.sites.iter().filter(|s| s.app_frame.as_deref().is_some_and(|f| f.starts_with(frame))).collect()
}

/// Direct memory sites whose first application frame starts with `frame`.
fn direct_at<'a>(d: &'a Direct, frame: &str) -> Vec<&'a DirectSite> {
    d.sites.iter().filter(|s| s.app_frame.as_deref().is_some_and(|f| f.starts_with(frame))).collect()
}

fn sum<T>(sites: &[&T], count: impl Fn(&T) -> u64) -> u64 {
    sites.iter().map(|s| count(s)).sum()
}

fn findings_of<'a>(r: &'a Report, kind: &str) -> Vec<&'a Finding> {
    r.findings.iter().filter(|f| f.kind == kind).collect()
}

/// The kinds of finding the native ledgers make (other sections judge other things, e.g. the
/// memory section's allocator retention after direct-buffer churn).
const NATIVE_KINDS: [&str; 3] = ["zlib_not_ended", "direct_buffers_not_freed", "unsafe_memory_not_freed"];

fn native_findings(r: &Report) -> Vec<&Finding> {
    r.findings.iter().filter(|f| NATIVE_KINDS.contains(&f.kind.as_str())).collect()
}

/// Every frame of these stacks reads like a Java stack trace element.
fn assert_frames_are_java<'a>(stacks: impl Iterator<Item = &'a Vec<String>>) {
    for stack in stacks {
        for f in stack {
            if f.starts_with('<') {
                continue; // a synthetic site
            }
            let open = f.find('(').unwrap_or_else(|| panic!("frame without '(': {f}"));
            assert!(f.ends_with(')') && open > 0, "{f}");
            // "Native Method", "Unknown Source", "File.java:LINE", or a source name without a
            // line (JDK 25's LambdaForm$DMH frames).
            let place = &f[open + 1..f.len() - 1];
            let spaced = place == "Native Method" || place == "Unknown Source";
            assert!(!place.is_empty() && !place.contains('(') && (spaced || !place.contains(' ')), "frame place: {f}");
            if let Some((_, line)) = place.rsplit_once(':') {
                assert!(line.parse::<u32>().is_ok(), "line number: {f}");
            }
            assert!(f[..open].contains('.'), "class.method: {f}");
        }
    }
}

/// What every native-ledger run must show: no panics, no JNI warnings, full tracking.
fn assert_clean(f: &Finished, r: &Report) {
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let h = &r.agent.health;
    assert_eq!(h.panics, 0, "{h:?}");
    assert_eq!(h.disabled_features.len(), 0, "{h:?}");
    assert_eq!(h.stack_walk_failures, 0, "{h:?}");
    assert_eq!(r.zlib.tracking, Tracking::Full, "{:?}", r.zlib);
    assert_eq!(r.direct.tracking, Tracking::Full, "{:?}", r.direct.reason);
    assert_frames_are_java(r.zlib.sites.iter().map(|s| &s.stack));
    assert_frames_are_java(r.direct.sites.iter().map(|s| &s.stack));
}

fn run(test: &str, scenario: &str, args: &[&str], java: &Path) -> (Finished, Report) {
    let f = Jvm::scenario(test, scenario).java(java).args(args).run();
    let r = f.death_report();
    assert_clean(&f, &r);
    (f, r)
}

fn springboot_scan_leaky_checks(f: &Finished, r: &Report) {
    let created = f.truth("inflaters_created");
    assert_eq!(created, f.truth("inflaters_left_to_gc"));
    let z = &r.zlib;
    let at = zlib_at(z, ZIIS_INIT);
    assert!(!at.is_empty(), "no site at ZipInflaterInputStream.<init>: {z:?}");
    assert!(at.iter().all(|s| s.kind == "Inflater"));
    assert_eq!(sum(&at, |s| s.created), created, "every Inflater of the scan, at the loader's site");
    assert_eq!(sum(&at, |s| s.ended_explicitly), 0, "the leaky loader never ends one");
    assert_eq!(sum(&at, |s| s.released_by_gc) + sum(&at, |s| s.live), created, "freed by GC or still live");
    assert!(sum(&at, |s| s.released_by_gc) > 0, "the scenario's GC ran the Cleaner");
    // Attribution: class files come through Reflections'
    // scan, properties through ClassLoader.getResourceAsStream.
    let via = |frame: &str| -> u64 { at.iter().filter(|s| s.stack.iter().any(|f| f.starts_with(frame))).map(|s| s.created).sum() };
    assert_eq!(via("org.reflections.Reflections.getClassFile("), f.truth("class_entries"));
    assert_eq!(via("java.lang.ClassLoader.getResourceAsStream("), f.truth("resource_entries"));
    // The worst site (sites are worst first) is the loader's.
    let top = &z.sites[0];
    assert!(top.app_frame.as_deref().unwrap().starts_with(ZIIS_INIT), "top site: {top:?}");
    assert_eq!(top.stack[0], "java.util.zip.Inflater.init(Native Method)");
    assert!(top.stack.len() <= 16 && top.exact_frames >= 4, "{top:?}");
    assert!(top.first_thread.as_deref().unwrap().starts_with("scan-worker-"), "{top:?}");
    // The loader's Inflaters are ~40 KB each while live.
    for s in &at {
        assert_eq!(s.live_bytes_estimate, s.live * z.estimate.inflater_bytes);
    }
    let found = findings_of(r, "zlib_not_ended");
    assert_eq!(found.len(), 1, "{:?}", r.findings);
    let summary = &found[0].summary;
    assert!(summary.starts_with(&format!("{created} of {created} Inflaters created at {ZIIS_INIT}")), "{summary}");
    assert!(summary.contains("freed only by GC"), "{summary}");
    let fix = &found[0].fix;
    assert!(fix.contains("end()") && fix.contains("Spring Boot"), "{fix}");
}

#[test]
fn springboot_scan_counts_every_inflater_at_the_loader_and_finds_them_left_to_gc() {
    let (f, r) = run("scan-leaky", "springboot-scan", &[], &main_java());
    springboot_scan_leaky_checks(&f, &r);
    // The text rendering shows the section.
    assert!(r.zlib.totals.created >= f.truth("inflaters_created"));
}

/// Also an option of earlier versions: hot_sample=8 is accepted and changes nothing.
#[test]
fn springboot_scan_fixed_ends_every_inflater_explicitly_and_has_no_finding() {
    let f = Jvm::scenario("scan-fixed", "springboot-scan").options("hot_sample=8").args(&["--fixed"]).run();
    let r = f.death_report();
    assert_clean(&f, &r);
    assert_eq!(r.zlib.settings.hot_sample, 1, "no sampling: every event gets its own stack's site");
    let created = f.truth("inflaters_created");
    assert_eq!(created, f.truth("inflaters_ended_explicitly"));
    let at = zlib_at(&r.zlib, ZIIS_INIT);
    assert_eq!(sum(&at, |s| s.created), created);
    assert_eq!(sum(&at, |s| s.ended_explicitly), created, "close() ends it: explicit, even on the scan threads");
    assert_eq!(sum(&at, |s| s.released_by_gc), 0);
    assert_eq!(sum(&at, |s| s.live), 0);
    assert_eq!(native_findings(&r).len(), 0, "{:?}", r.findings);
}

#[test]
fn direct_leak_buffers_stay_live_at_their_site_and_match_the_jdk_pool() {
    let java = main_java();
    let (f, r) = run("direct-leak", "direct-leak", &[], &java);
    let n = f.truth("direct_buffers_allocated");
    let size = f.truth("direct_buffer_size");
    let d = &r.direct;
    let at = direct_at(d, "leakagent.harness.scenarios.DirectLeak.allocateForever(DirectLeak.java:");
    assert_eq!(at.len(), 1, "{d:?}");
    let s = at[0];
    assert_eq!(s.kind, "DirectByteBuffer");
    assert_eq!((s.allocations, s.frees, s.live_count), (n, 0, n));
    assert_eq!(s.live_bytes, n * unsafe_size(&java, size));
    assert!(s.stack.iter().any(|f| f.starts_with("java.nio.DirectByteBuffer.<init>(")));
    // Top by live bytes, and first in the list.
    assert_eq!(d.top_by_live_bytes.first(), Some(&s.id));
    assert_eq!(d.sites[0].id, s.id);
    // The JDK's pool sees the same buffers.
    let pool = d.jdk_pool.as_ref().expect("direct.jdk_pool");
    assert!(pool.count >= n && pool.total_capacity_bytes >= n * size, "{pool:?}");
    assert_eq!(d.cross_check.as_ref().map(|c| c.agrees), Some(true), "{:?}", d.cross_check);
    assert!(d.totals.direct_byte_buffers.live_bytes >= n * size);
    let found = findings_of(&r, "direct_buffers_not_freed");
    assert_eq!(found.len(), 1, "{:?}", r.findings);
    assert!(found[0].summary.contains("DirectLeak.allocateForever"), "{:?}", found[0]);
    assert_eq!(native_findings(&r).len(), 1);
}

#[test]
fn direct_leak_fixed_frees_every_buffer_explicitly_and_has_no_finding() {
    let (f, r) = run("direct-fixed", "direct-leak", &["--fixed"], &main_java());
    let n = f.truth("direct_buffers_released_explicitly");
    let at = direct_at(&r.direct, "leakagent.harness.scenarios.DirectLeak.allocateForever(DirectLeak.java:");
    assert_eq!(at.len(), 1);
    let s = at[0];
    assert_eq!((s.allocations, s.frees, s.freed_by_gc, s.live_count), (n, n, 0, 0));
    assert_eq!(s.live_bytes, 0);
    assert_eq!(native_findings(&r).len(), 0, "{:?}", r.findings);
}

#[test]
fn direct_churn_is_freed_by_gc_and_has_no_finding() {
    let java = main_java();
    let (f, r) = run("direct-churn", "direct-churn", &[], &java);
    let n = f.truth("direct_buffers_allocated");
    let at = direct_at(&r.direct, "leakagent.harness.scenarios.DirectChurn.allocateAndDrop(DirectChurn.java:");
    assert_eq!(at.len(), 1);
    let s = at[0];
    assert_eq!(s.kind, "DirectByteBuffer");
    assert_eq!(s.allocations, n);
    assert_eq!(s.frees + s.live_count, n);
    assert_eq!(s.freed_by_gc, s.frees, "every free ran on the Reference Handler");
    assert!(s.frees >= n - 97, "the scenario's GCs freed nearly all: {s:?}");
    assert_eq!(s.allocated_bytes, n * unsafe_size(&java, f.truth("direct_buffer_size")));
    assert_eq!(native_findings(&r).len(), 0, "{:?}", r.findings);
}

fn unsafe_sites(r: &Report) -> (&DirectSite, &DirectSite) {
    let d = &r.direct;
    let alloc = direct_at(d, "leakagent.harness.scenarios.UnsafeLeak.allocateRaw(UnsafeLeak.java:");
    let realloc = direct_at(d, "leakagent.harness.scenarios.UnsafeLeak.growRaw(UnsafeLeak.java:");
    assert_eq!((alloc.len(), realloc.len()), (1, 1), "{d:?}");
    assert_eq!((alloc[0].kind.as_str(), realloc[0].kind.as_str()), ("Unsafe", "Unsafe"));
    (alloc[0], realloc[0])
}

#[test]
fn unsafe_leak_blocks_and_reallocations_are_live_at_their_sites() {
    let java = main_java();
    let (f, r) = run("unsafe-leak", "unsafe-leak", &[], &java);
    let (alloc, realloc) = unsafe_sites(&r);
    let blocks = f.truth("unsafe_allocations");
    let reallocs = f.truth("unsafe_reallocations");
    assert_eq!(alloc.allocations, blocks);
    assert_eq!(alloc.moved_by_realloc, reallocs);
    assert_eq!(alloc.frees, 0);
    assert_eq!(alloc.live_count, blocks - reallocs);
    assert_eq!(alloc.live_bytes, (blocks - reallocs) * unsafe_size(&java, f.truth("unsafe_allocation_size")));
    assert_eq!((realloc.allocations, realloc.reallocations, realloc.live_count), (0, reallocs, reallocs));
    assert_eq!(realloc.live_bytes, reallocs * unsafe_size(&java, f.truth("unsafe_reallocation_size")));
    assert_eq!(r.direct.top_by_live_bytes.first(), Some(&alloc.id));
    let found = findings_of(&r, "unsafe_memory_not_freed");
    assert_eq!(found.len(), 1, "{:?}", r.findings);
    let summary = &found[0].summary;
    assert!(summary.contains("UnsafeLeak.allocateRaw") && summary.contains(&format!("{} blocks", blocks - reallocs)), "{summary}");
    assert!(found[0].fix.contains("freeMemory"));
}

/// With NMT on, Unsafe's blocks keep going through HotSpot's natives (`os::malloc`), so NMT
/// counts them under "Other" and the ledger's counts stay exact; without NMT the wrappers call
/// glibc themselves (docs/native-ledger.md, "Direct churn, session 36").
#[test]
fn unsafe_blocks_stay_in_nmt_when_it_is_on() {
    let java = main_java();
    let f = Jvm::scenario("unsafe-nmt", "unsafe-leak").java(&java).jvm_args(&["-XX:NativeMemoryTracking=summary"]).run();
    let r = f.death_report();
    assert_clean(&f, &r);
    let (alloc, realloc) = unsafe_sites(&r);
    assert_eq!(alloc.live_count + realloc.live_count, f.truth("unsafe_live_blocks"));
    let nmt = r.memory.nmt.as_ref().expect("memory.nmt");
    // NMT lists no "Other" when nothing was malloc'd under it.
    let other = nmt.categories.iter().find(|c| c.name == "Other").map_or(0, |c| c.malloc_bytes);
    assert!(other >= f.truth("unsafe_live_bytes"), "NMT Other malloc {other}, live {}: {nmt:?}", f.truth("unsafe_live_bytes"));
}

#[test]
fn unsafe_leak_fixed_frees_every_block_and_has_no_finding() {
    let (f, r) = run("unsafe-fixed", "unsafe-leak", &["--fixed"], &main_java());
    let (alloc, realloc) = unsafe_sites(&r);
    let reallocs = f.truth("unsafe_reallocations");
    assert_eq!(alloc.frees + realloc.frees, f.truth("unsafe_frees"));
    assert_eq!(realloc.frees, reallocs, "a reallocated block is freed at its new site");
    assert_eq!(alloc.freed_by_gc + realloc.freed_by_gc, 0, "freeMemory on the main thread is explicit");
    assert_eq!(alloc.live_count + realloc.live_count, 0);
    assert_eq!(native_findings(&r).len(), 0, "{:?}", r.findings);
}

#[test]
fn healthy_zlib_and_direct_use_is_counted_exactly_and_has_no_finding() {
    let (f, r) = run("healthy-native", "healthy", &[], &main_java());
    let z = &r.zlib;
    let mut healthy: Vec<&ZlibSite> = zlib_at(z, "leakagent.harness.scenarios.Healthy.deflateInflateProperly(");
    healthy.extend(zlib_at(z, "leakagent.harness.scenarios.Healthy.gzipRoundTrip("));
    let of = |kind: &str, count: fn(&ZlibSite) -> u64| sum(&healthy.iter().copied().filter(|s| s.kind == kind).collect::<Vec<_>>(), count);
    assert_eq!(of("Deflater", |s| s.created), f.truth("deflaters_ended"));
    assert_eq!(of("Deflater", |s| s.ended_explicitly), f.truth("deflaters_ended"));
    // GZIPInputStream.close() and Inflater.end() both end explicitly.
    assert_eq!(of("Inflater", |s| s.ended_explicitly), f.truth("inflaters_ended_by_app"));
    assert_eq!(of("Inflater", |s| s.released_by_gc) + of("Deflater", |s| s.released_by_gc), 0);
    let d = direct_at(&r.direct, "leakagent.harness.scenarios.Healthy.useDirectBuffer(Healthy.java:");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].allocations, f.truth("direct_buffers_dropped"));
    assert_eq!(d[0].frees + d[0].live_count, f.truth("direct_buffers_dropped"));
    assert_eq!(native_findings(&r).len(), 0, "{:?}", r.findings);
}

/// Options shape what is kept, never what is counted: shallow stacks and keys still give the
/// exact number of Inflaters at the loader's site, and most events match a stack template.
#[test]
fn stack_options_keep_counts_exact() {
    let f = Jvm::scenario("scan-options", "springboot-scan").options("stack_depth=6,key_depth=4").run();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let r = f.death_report();
    let z = &r.zlib;
    assert_eq!(z.settings.stack_depth, 6);
    assert_eq!(z.settings.key_depth, 4);
    for s in &z.sites {
        assert!(s.stack.len() <= 6, "{s:?}");
        assert!(s.exact_frames <= 4, "{s:?}");
    }
    let at = zlib_at(z, ZIIS_INIT);
    assert_eq!(sum(&at, |s| s.created), f.truth("inflaters_created"), "counts stay exact");
    let h = &r.agent.health;
    assert!(h.stack_walks < f.truth("inflaters_created") / 2, "templates spared most walks: {h:?}");
    assert_eq!(h.panics, 0);
}

/// The one site of `sites` whose stack holds `inner` and `outer` of NativeSites at the lines
/// of `frames` ("NativeSites.java:L1,NativeSites.java:L2", as the harness read them).
fn native_site<'a, T: std::fmt::Debug>(sites: &'a [T], stack: fn(&T) -> &Vec<String>, frames: &str, inner: &str, outer: &str) -> &'a T {
    let (a, b) = frames.split_once(',').unwrap_or_else(|| panic!("frames truth: {frames}"));
    let class = "leakagent.harness.scenarios.NativeSites";
    let want = [format!("{class}.{inner}({a})"), format!("{class}.{outer}({b})")];
    let found: Vec<&T> = sites.iter().filter(|s| want.iter().all(|w| stack(s).contains(w))).collect();
    assert_eq!(found.len(), 1, "one site with {want:?}: {sites:?}");
    found[0]
}

/// Every site of native-sites has exactly its own events: allocations and explicit releases
/// exactly, GC releases and live ones exactly once the GC freed what was dropped. With
/// `templates`, most events were attributed by a stack template of their thread, else every
/// event was walked.
fn native_sites_checks(f: &Finished, r: &Report, templates: bool) {
    let t = f.truths();
    let truth = |k: String| f.truth(&k);
    let gc_done = t["direct_gc_done"] == "true";
    let d = &r.direct;
    let mut events = 0;
    for i in 0..f.truth("direct_sites") {
        let p = format!("direct_site_{i}");
        let s = native_site(&d.sites, |s| &s.stack, &t[&format!("{p}_frames")], "pickBuffer", "enterBuffer");
        let (n, explicit, gc, kept) = (truth(format!("{p}_allocations")), truth(format!("{p}_freed_explicitly")), truth(format!("{p}_left_to_gc")), truth(format!("{p}_kept")));
        // JDK 11's Unsafe.allocateMemory does not round sizes up to 8 yet.
        let asked = truth(format!("{p}_size"));
        let size = if s.allocated_bytes == n * asked { asked } else { align8(asked) };
        events += n;
        assert_eq!(s.kind, "DirectByteBuffer", "{p}: {s:?}");
        assert_eq!(s.allocations, n, "{p}: {s:?}");
        assert_eq!(s.allocated_bytes, n * size, "{p}: {s:?}");
        assert_eq!(s.frees - s.freed_by_gc, explicit, "{p}: explicit frees: {s:?}");
        assert_eq!(s.freed_by_gc + s.live_count, gc + kept, "{p}: {s:?}");
        if gc_done {
            assert_eq!((s.freed_by_gc, s.live_count), (gc, kept), "{p}: {s:?}");
        }
        assert_eq!(s.live_bytes, s.live_count * size, "{p}: {s:?}");
        assert!(s.exact_frames >= 8, "{p}: {s:?}");
    }
    let z = &r.zlib;
    let per_inflater = z.estimate.inflater_bytes;
    for i in 0..f.truth("zlib_sites") {
        let p = format!("zlib_site_{i}");
        let s = native_site(&z.sites, |s| &s.stack, &t[&format!("{p}_frames")], "pickInflater", "enterInflater");
        let (n, explicit, gc, kept) = (truth(format!("{p}_created")), truth(format!("{p}_ended_explicitly")), truth(format!("{p}_left_to_gc")), truth(format!("{p}_kept")));
        events += n;
        assert_eq!(s.kind, "Inflater", "{p}: {s:?}");
        assert_eq!(s.created, n, "{p}: {s:?}");
        assert_eq!(s.ended_explicitly, explicit, "{p}: {s:?}");
        // The Common-Cleaner may still be releasing the last dropped ones.
        assert_eq!(s.released_by_gc + s.live, gc + kept, "{p}: {s:?}");
        assert!(s.live >= kept && s.released_by_gc <= gc, "{p}: {s:?}");
        assert_eq!(s.live_bytes_estimate, s.live * per_inflater, "{p}: {s:?}");
    }
    let h = &r.agent.health;
    if templates {
        assert_eq!(d.settings.stack_templates, "on", "{:?}", d.settings);
        assert!(h.stack_templates > 0 && h.stack_walks * 10 < events, "{events} events: {h:?}");
    } else {
        assert_eq!(z.settings.stack_templates, "off", "{:?}", z.settings);
        assert!(z.settings.stack_templates_reason.as_deref().unwrap().contains("stack_templates=off"));
        assert!(h.stack_templates == 0 && h.stack_walks >= events, "{events} events: {h:?}");
    }
}

/// Sites that share every frame but one, interleaved at random in short and long bursts on 4
/// threads, after a long streak at one site and then its neighbour: every site gets exactly
/// its own buffers and Inflaters, created, freed or ended, left to GC and live.
#[test]
fn native_sites_sharing_all_but_one_frame_are_counted_exactly() {
    let (f, r) = run("native-sites", "native-sites", &[], &main_java());
    native_sites_checks(&f, &r, true);
}

/// Without templates every event is walked, to the same counts.
#[test]
fn native_sites_without_stack_templates_are_walked_to_the_same_counts() {
    let f = Jvm::scenario("native-sites-walked", "native-sites").options("stack_templates=off").run();
    let r = f.death_report();
    assert_clean(&f, &r);
    native_sites_checks(&f, &r, false);
}

#[test]
fn native_sites_fixed_frees_and_ends_everything_at_every_site_and_has_no_finding() {
    let (f, r) = run("native-sites-fixed", "native-sites", &["--fixed"], &main_java());
    native_sites_checks(&f, &r, true);
    for i in 0..f.truth("zlib_sites") {
        assert_eq!(f.truth(&format!("zlib_site_{i}_created")), f.truth(&format!("zlib_site_{i}_ended_explicitly")));
    }
    assert_eq!(native_findings(&r).len(), 0, "{:?}", r.findings);
}

/// Direct keeps its records in the blocks' headers: past a tiny `max_tracked`, blocks freed on
/// another thread, moved by reallocations (bytes kept), reallocated from 0, and memory malloc'd by
/// a JNI library then freed or reallocated through Unsafe (passed to the JDK untouched, counted
/// untracked) all keep exact counts.
#[test]
fn direct_counts_stay_exact_past_max_tracked_across_threads_reallocations_and_foreign_memory() {
    let f = Jvm::scenario("unsafe-mixed", "unsafe-mixed").options("max_tracked=64").run();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let r = f.death_report();
    let d = &r.direct;
    let one = |frame: &str| {
        let at = direct_at(d, &format!("leakagent.harness.scenarios.UnsafeMixed.{frame}(UnsafeMixed.java:"));
        assert_eq!(at.len(), 1, "{frame}: {d:?}");
        at[0]
    };
    let (n, gone) = (f.truth("shared_allocations"), f.truth("shared_freed_elsewhere"));
    let shared = one("allocateShared");
    assert_eq!((shared.allocations, shared.frees, shared.freed_by_gc, shared.live_count), (n, gone, 0, n - gone));
    assert_eq!(shared.live_bytes, (n - gone) * f.truth("shared_size"));
    let growths = f.truth("growths");
    let grown: Vec<&DirectSite> = direct_at(d, "leakagent.harness.scenarios.UnsafeMixed.growChain(").into_iter().filter(|s| s.reallocations > 0).collect();
    assert_eq!(grown.len(), 1, "{d:?}");
    assert_eq!((grown[0].reallocations, grown[0].moved_by_realloc, grown[0].live_count), (growths, growths - 1, 1));
    assert_eq!(grown[0].live_bytes, f.truth("grown_size"));
    let zero = one("fromZero");
    // Unsafe.reallocateMemory(0, n) calls allocateMemory0.
    assert_eq!((zero.allocations, zero.frees, zero.live_count, zero.live_bytes), (1, 1, 0, 0));
    let foreign = one("reallocForeign");
    assert_eq!((foreign.reallocations, foreign.live_count, foreign.live_bytes), (f.truth("foreign_reallocs"), 0, 0));
    assert_eq!(d.totals.untracked, f.truth("foreign_reallocs"), "reallocated foreign memory has no header");
    // Each foreign free, each foreign block reallocated and each block that came back.
    assert_eq!(d.totals.untracked_frees, f.truth("foreign_frees") + 2 * f.truth("foreign_reallocs"));
    assert_eq!(r.agent.health.dropped, r.zlib.totals.untracked, "only zlib keeps blocks by address");
    assert_eq!(r.agent.health.panics, 0);
    // The freeing thread counted on a stripe of its own and gave it back as it ended.
    assert!(r.agent.health.direct_stripes_released >= 1, "{:?}", r.agent.health);
}

fn jcmd_ok(java: &Path, pid: i32, args: &[&str]) {
    let (ok, said) = jcmd(java, pid, args);
    assert!(ok, "jcmd {args:?}: {said}");
}

fn late_attach_checks(java: &Path) {
    let jar = late_zlib_jar();
    let mut jvm = Jvm::scenario("late-native", "healthy").java(java).without_agent().start();
    let opts = format!("\"file={}/late-%n,signal=RTMIN+4\"", jvm.dir.display());
    jcmd_ok(java, jvm.pid(), &["JVMTI.agent_load", &agent_lib().display().to_string(), &opts]);
    // jcmd loads a Java agent through the JDK's own libinstrument.
    let instrument = java.parent().unwrap().parent().unwrap().join("lib/libinstrument.so");
    jcmd_ok(java, jvm.pid(), &["JVMTI.agent_load", &instrument.display().to_string(), &jar.display().to_string()]);
    jvm.wait_for_line("LATE done", Duration::from_secs(60));
    jvm.signal(rtmin(4));
    let r = jvm.wait_for_reports(1, Duration::from_secs(60)).remove(0);
    let f = jvm.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(r.jvm.attached_late);
    assert_eq!(r.agent.health.panics, 0);
    assert!(!f.stderr.contains("WARNING in native method"), "{}", f.stderr);
    // zlib: re-registered; only streams since the attach are in the ledger.
    let z = &r.zlib;
    assert_eq!(z.tracking, Tracking::SinceAttach, "{z:?}");
    assert!(z.reason.as_deref().unwrap().contains("before the attach"));
    let kept = zlib_at(z, "LateZlib.keepInflater(LateZlib.java:");
    assert_eq!(kept.len(), 1, "{z:?}");
    assert_eq!((kept[0].created, kept[0].live, kept[0].ended_explicitly), (23, 23, 0));
    let ended = zlib_at(z, "LateZlib.endDeflater(LateZlib.java:");
    assert_eq!(ended.len(), 1, "{z:?}");
    assert_eq!(ended[0].kind, "Deflater");
    assert_eq!((ended[0].created, ended[0].ended_explicitly, ended[0].live), (19, 19, 0));
    assert_frames_are_java(z.sites.iter().map(|s| &s.stack));
    // Unsafe cannot be wrapped after an attach: no sites, the reason, and the JDK's pool totals.
    let d = &r.direct;
    assert_eq!(d.tracking, Tracking::JdkPoolOnly, "{d:?}");
    let reason = d.reason.as_deref().unwrap();
    assert!(reason.contains("attached") && reason.contains("-agentpath"), "{reason}");
    assert_eq!(d.sites.len(), 0);
    assert!(d.cross_check.is_none());
    let pool = d.jdk_pool.as_ref().expect("direct.jdk_pool");
    assert!(pool.count >= 3 && pool.total_capacity_bytes >= 3 * 1_000_003, "{pool:?}");
    assert_eq!(native_findings(&r).len(), 0, "{:?}", r.findings);
}

#[test]
fn late_attach_tracks_zlib_after_the_attach_and_explains_missing_unsafe_sites() {
    late_attach_checks(&main_java());
}

/// The leaky scan, the interleaved sites, the Unsafe leak and the late attach on every other JDK
/// installed here (at least one, or LEAKAGENT_SKIP_OTHER_JDKS=1): the natives, frames, frame
/// layouts and Cleaner threads differ across JDKs.
#[test]
fn native_ledgers_on_every_other_installed_jdk() {
    let mut ran = Vec::new();
    for java in other_javas("native_ledgers_on_every_other_installed_jdk") {
        let v = java_feature_version(&java);
        if v < 11 {
            eprintln!("JDK {v} at {}: skipped (the harness needs 11+)", java.display());
            continue;
        }
        let (f, r) = run(&format!("scan-jdk{v}"), "springboot-scan", &[], &java);
        springboot_scan_leaky_checks(&f, &r);
        let (f, r) = run(&format!("sites-jdk{v}"), "native-sites", &[], &java);
        native_sites_checks(&f, &r, true);
        let (f, r) = run(&format!("unsafe-jdk{v}"), "unsafe-leak", &[], &java);
        let (alloc, _) = unsafe_sites(&r);
        assert_eq!(alloc.live_count, f.truth("unsafe_live_blocks") - f.truth("unsafe_reallocations"));
        late_attach_checks(&java);
        ran.push(java);
    }
    ran_on("native_ledgers_on_every_other_installed_jdk", &ran);
}

/// One source line, one site: a constructor called through reflection (on JDK 17, 15 calls
/// through NativeConstructorAccessorImpl, then a GeneratedConstructorAccessorN: other frames,
/// other jmethodIDs) and a line reached through a lambda proxy are one site and one finding each.
#[test]
fn a_line_reached_through_reflection_or_a_lambda_is_one_site() {
    let f = Jvm::test_program("reflective", "ReflectiveInflaters", &["200"]).run();
    assert_eq!(f.code, Some(0), "{}\n{}", f.stdout, f.stderr);
    let r = f.death_report();
    for (frame, what) in [("ReflectiveInflaters$Holder.<init>(", "reflection"), ("ReflectiveInflaters.lambda$main$", "lambda")] {
        let at = zlib_at(&r.zlib, frame);
        assert_eq!(at.len(), 1, "{what}: one site, {at:#?}");
        assert_eq!(at[0].created, 200, "{what}");
        assert_eq!(at[0].live, 200, "{what}");
        let found: Vec<_> = r.findings.iter().filter(|x| x.kind == "zlib_not_ended" && x.summary.contains(frame)).collect();
        assert_eq!(found.len(), 1, "{what}: {:#?}", r.findings);
        assert!(found[0].summary.starts_with("200 of 200 Inflaters"), "{}", found[0].summary);
    }
}

/// Compiled code freed with its class reaches the stack templates on every JDK: HotSpot 17 and
/// later post an nmethod's CompiledMethodUnload only when its CompiledMethodLoad was posted, so
/// without the load events the templates would outlive the code they compare.
#[test]
fn compiled_code_freed_with_its_class_is_reported_on_every_jdk() {
    let javas = every_java("compiled_code_freed_with_its_class_is_reported_on_every_jdk");
    for java in &javas {
        let v = java_feature_version(java);
        let f = Jvm::test_program(&format!("code-unload-{v}"), "CodeUnload", &["12"]).java(java).run();
        assert_eq!(f.code, Some(0), "JDK {v}: {}", f.stderr);
        let r = f.death_report();
        let h = &r.agent.health;
        assert_eq!(r.zlib.settings.stack_templates, "on", "JDK {v}: {:?}", r.zlib.settings);
        assert!(h.compiled_code_unloads > 0, "JDK {v}: no CompiledMethodUnload in 12 rounds: {h:?}");
    }
    ran_on("compiled_code_freed_with_its_class_is_reported_on_every_jdk", &javas);
}
