//! Netty 4.1.137 (java-harness/netty/: an HTTP server on ServerBootstrap, NIO, the default
//! PooledByteBufAllocator, and an in-process load driver posting bodies of 4-36 KiB for
//! responses of 2 KiB to 1 MiB, every 97th 5 MiB: Netty's huge, unpooled allocations). Netty
//! keeps its pool's 4 MiB chunks for the life of the process by design: a healthy server is
//! quiet on both of Netty's allocation paths (JDK 17's default: ByteBuffer.allocateDirect with a
//! Cleaner; with java.nio opened: Unsafe.allocateMemory/freeMemory, no Cleaner), its chunks are
//! reported as a pool whose bytes are Netty's own count; a ByteBuf never released (LeakyHandler)
//! is a finding once the pool keeps rising across reports, or, unpooled, once the buffers'
//! site's kept blocks (born in closed age periods, still live) pile up; the same handler
//! releasing them (fixed) is quiet; traffic that grows then levels off (ramp), with a report
//! every second, is quiet too. The same server on Netty 4.2.18 (java-harness/netty42/), whose
//! default is the AdaptiveByteBufAllocator: quiet when healthy, its leak found, fixed quiet.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Netty's no-cleaner path: Unsafe.allocateMemory/freeMemory directly, Netty's own
/// maxDirectMemory counter.
const NO_CLEANER: [&str; 3] = ["--add-opens", "java.base/java.nio=ALL-UNNAMED", "-Dio.netty.tryReflectionSetAccessible=true"];

fn check(dir: &Path) -> (i32, String) {
    let bin = std::env::var_os("LEAKAGENT_BIN").map(PathBuf::from).unwrap_or_else(|| root().join("target/release/leakagent"));
    let o = Command::new(bin).arg("check").args(report_files(dir)).stdin(Stdio::null()).output().expect("run leakagent check");
    (o.status.code().expect("leakagent exited by a signal"), String::from_utf8_lossy(&o.stdout).into_owned())
}

/// Requests per run (a third of them, a report's period, took 0.87 s on a quiet machine).
const REQUESTS: u64 = 2400;

/// How long the server pauses after a signal report: a period's blocks are kept once it has been
/// over for a second (`KEPT_AFTER_MS`), so the next report, a third later, must come later than
/// that however fast the third is served.
const PAUSE: Duration = Duration::from_millis(1500);

/// The server in MODE for `REQUESTS` requests with JVM_ARGS and agent OPTIONS: a report by signal
/// after a third and two thirds of them, each while the server pauses (`PAUSE`), and the exit
/// report (three, so that growth across reports can show; by requests, not time, so that a
/// loaded machine leaks as much).
fn serve(test: &str, mode: &str, jvm_args: &[&str], options: &str) -> (Finished, Vec<Report>, PathBuf) {
    serve_on("netty", test, &[mode], jvm_args, options)
}

/// The Netty server (Netty 4.1 or 4.2's harness) in MODE serving `requests` requests, not started.
fn server(netty: &str, test: &str, mode: &[&str], requests: u64, jvm_args: &[&str]) -> Jvm {
    let n = harness_jar().parent().unwrap().join(netty);
    let cp = format!("{}:{}/*", n.join("netty-harness.jar").display(), n.join("lib").display());
    let mut args = vec!["-Xmx256m"];
    args.extend_from_slice(jvm_args);
    let requests = requests.to_string();
    let mut launch = vec!["-cp", &cp, "leakagent.netty.NettyServer", mode[0], &requests];
    launch.extend_from_slice(&mode[1..]);
    Jvm::program(test, "netty", &launch).jvm_args(&args)
}

/// `serve` on the harness built against another Netty (`netty42`: 4.2.18), with the server's
/// MODE and its arguments after the count of requests.
fn serve_on(netty: &str, test: &str, mode: &[&str], jvm_args: &[&str], options: &str) -> (Finished, Vec<Report>, PathBuf) {
    let mut jvm = server(netty, test, mode, REQUESTS, jvm_args);
    if !options.is_empty() {
        jvm = jvm.options(options);
    }
    let mut running = jvm.start();
    for (i, at) in ["HARNESS netty third=1", "HARNESS netty third=2"].iter().enumerate() {
        running.wait_for_prefix(at, Duration::from_secs(120));
        running.signal(rtmin(2));
        running.wait_for_reports(i + 1, Duration::from_secs(60));
        std::thread::sleep(PAUSE);
        running.send_line("go");
    }
    let dir = running.dir.clone();
    let f = running.finish();
    assert_eq!(f.code, Some(0), "{}\n{}", f.stdout, f.stderr);
    let reports = reports_in(&dir);
    assert_eq!(reports.len(), 3, "two signal reports and the exit report");
    for r in &reports {
        assert_eq!(r.agent.health.panics, 0, "{:?}", r.agent.health);
        assert_eq!(r.direct.tracking, Tracking::Full, "{:?}", r.direct);
    }
    (f, reports, dir)
}

fn netty_findings(r: &Report) -> Vec<&Finding> {
    r.findings.iter().filter(|f| f.kind.starts_with("direct_") || f.kind.starts_with("unsafe_")).collect()
}

/// Healthy, pooled, on both allocation paths: no finding, `leakagent check` passes, the pool's
/// chunks are one pool in `direct.pools` (sites at `PoolArena$DirectArena.newChunk`) whose live
/// bytes are what Netty's own `PooledByteBufAllocator.metric().usedDirectMemory()` says, and RSS
/// is explained within 5 %.
#[test]
fn a_healthy_netty_server_is_quiet_and_its_pool_is_accounted_on_both_allocation_paths() {
    for (what, jvm_args) in [("cleaner", &[][..]), ("no-cleaner", &NO_CLEANER[..])] {
        let (f, reports, dir) = serve(&format!("netty-healthy-{what}"), "healthy", jvm_args, "");
        assert_eq!(f.truth("no_cleaner"), (what == "no-cleaner") as u64, "{}", f.stdout);
        assert_eq!(f.truth("requests"), REQUESTS, "{}", f.stdout);
        for r in &reports {
            // Info (glibc keeping freed memory) is no warning; check passes with it.
            let warned: Vec<&Finding> = r.findings.iter().filter(|x| x.severity != Severity::Info).collect();
            assert!(warned.is_empty(), "{what}: a healthy Netty server has no warning: {warned:#?}");
        }
        let (code, out) = check(&dir);
        assert_eq!(code, 0, "{what}: leakagent check fails a healthy server:\n{out}");
        let last = reports.last().unwrap();
        assert_eq!(last.direct.pools.len(), 1, "{what}: {:#?}", last.direct.pools);
        let pool = &last.direct.pools[0];
        assert_eq!(pool.allocator, "netty");
        assert!(pool.rising.is_none(), "{what}: a healthy pool levels off: {pool:?}");
        for id in &pool.sites {
            let s = last.direct.sites.iter().find(|s| s.id == *id).expect("the pool's site is listed");
            assert!(s.stack.iter().any(|fr| fr.starts_with("io.netty.buffer.PoolArena$DirectArena.newChunk(")), "{s:#?}");
        }
        // Netty's own count of the pool's memory, printed by the harness at exit.
        assert_eq!(pool.live_bytes, f.truth("pooled_used_direct"), "{what}: {pool:?}\n{}", f.stdout);
        assert!(pool.chunks >= 1 && pool.live_bytes == pool.chunks * (4 << 20), "{what}: 4 MiB chunks: {pool:?}");
        // Huge buffers (5 MiB, above the chunk) are blocks of their own, freed with their ByteBuf.
        let huge: Vec<&DirectSite> =
            last.direct.sites.iter().filter(|s| s.stack.iter().any(|fr| fr.contains("PoolArena$DirectArena.newUnpooledChunk("))).collect();
        assert!(huge.iter().map(|s| s.frees).sum::<u64>() >= 1 && huge.iter().all(|s| s.freed_by_gc == 0), "{what}: {huge:#?}");
        let explained = last.memory.explanation.iter().find(|p| p.part == RssPart::Unexplained).map_or(0, |p| p.bytes);
        assert!(explained * 20 <= last.memory.rss_bytes, "{what}: {explained} of {} unexplained", last.memory.rss_bytes);
    }
}

/// A ByteBuf never released in a pooled allocator: the pool's chunks rise at every report, a
/// `direct_pool_grows` finding names Netty's chunk allocation and its callers, and tells to
/// release the ByteBuf and to find it with Netty's paranoid leak detection. Fixed: quiet.
#[test]
fn a_bytebuf_never_released_makes_the_netty_pool_rise_and_the_fixed_handler_is_quiet() {
    for (what, jvm_args) in [("cleaner", &[][..]), ("no-cleaner", &NO_CLEANER[..])] {
        let (f, reports, dir) = serve(&format!("netty-leak-{what}"), "leak", jvm_args, "");
        assert!(f.truth("leaked_bytes") >= 32 << 20, "{what}: {}", f.stdout);
        let last = reports.last().unwrap();
        let found: Vec<&Finding> = last.findings.iter().filter(|x| x.kind == "direct_pool_grows").collect();
        assert_eq!(found.len(), 1, "{what}: {:#?}", last.findings);
        let s = &found[0].summary;
        assert!(s.starts_with("Netty's pooled allocator keeps growing: ") && s.contains("io.netty.buffer.PoolArena$DirectArena.newChunk("), "{s}");
        assert!(s.contains("over the last 2 reports"), "evidence across samples: {s}");
        let fix = &found[0].fix;
        assert!(fix.contains("ReferenceCountUtil.release") && fix.contains("-Dio.netty.leakDetection.level=paranoid"), "{fix}");
        assert!(!fix.contains("bounded pool") && !fix.contains("MaxDirectMemorySize"), "advice that is wrong for a pool: {fix}");
        let pool = &last.direct.pools[0];
        assert!(pool.rising.is_some_and(|r| r.reports == 2) && pool.live_bytes > pool.high_water_bytes, "{pool:?}");
        // The pool's chunks are no `direct_buffers_not_freed`: one finding, for the pool.
        assert_eq!(netty_findings(last).len(), 1, "{what}: {:#?}", last.findings);
        let (code, out) = check(&dir);
        assert_eq!(code, 1, "{what}: {out}");
    }
    let (_, reports, dir) = serve("netty-fixed", "fixed", &[], "");
    for r in &reports {
        assert!(netty_findings(r).is_empty(), "fixed: {:#?}", r.findings);
    }
    assert_eq!(check(&dir).0, 0);
}

/// Unpooled (`-Dio.netty.allocator.type=unpooled`): each leaked ByteBuf is its own block, at the
/// site of every other buffer of Netty's unpooled allocator (the top 8 frames are Netty's), most
/// released: the site's rise at every report is the evidence, the finding says where the first
/// block came from and that key_depth=16 tells callers apart. With key_depth=16 the leaked
/// buffers have a site of their own, named by the handler that made them.
#[test]
fn an_unpooled_bytebuf_leak_rises_at_its_site_and_key_depth_16_names_the_handler() {
    let unpooled = ["-Dio.netty.allocator.type=unpooled"];
    let (f, reports, _) = serve("netty-unpooled", "leak", &unpooled, "");
    let last = reports.last().unwrap();
    let found = netty_findings(last);
    assert_eq!(found.len(), 1, "{:#?}", last.findings);
    assert_eq!(found[0].kind, "direct_buffers_not_freed");
    let s = &found[0].summary;
    assert!(s.contains("io.netty.buffer.UnpooledDirectByteBuf.allocateDirect(") && s.contains("keeps growing"), "{s}");
    // At the exit report, or from the first when a sampler tick closed a period before it.
    assert!(s.contains("born in every period since are still live, and they piled up at each of the last ") && !s.contains("last 1 report"), "{s}");
    // The evidence: kept blocks in every closed period, none of them a buffer in flight.
    let site = last.direct.sites.iter().find(|x| x.rising.is_some()).expect("the rising site");
    assert!(site.kept_by_age.len() >= 2 && site.kept_by_age.iter().all(|p| p.count > 0), "{site:#?}");
    assert!(site.kept_count <= f.truth("leaked_buffers"), "only leaked buffers are kept: {} of {}", site.kept_count, f.truth("leaked_buffers"));
    assert!(found[0].fix.contains("ReferenceCountUtil.release") && found[0].fix.contains("paranoid"), "{}", found[0].fix);

    let (_, reports, _) = serve("netty-unpooled-k16", "leak", &unpooled, "key_depth=16");
    let last = reports.last().unwrap();
    let found = netty_findings(last);
    assert_eq!(found.len(), 1, "{:#?}", last.findings);
    assert!(found[0].summary.starts_with("direct memory at leakagent.netty.LeakyHandler.channelRead(LeakyHandler.java:"), "{}", found[0].summary);
    assert!(found[0].fix.contains("paranoid"), "{}", found[0].fix);
}

/// Netty 4.2.18 with its default allocator (AdaptiveByteBufAllocator: chunks that are freed once
/// their buffers are, at `AdaptiveByteBufAllocator$DirectChunkAllocator.allocate`): healthy is
/// quiet and `leakagent check` passes, its chunks are the `netty-adaptive` pool; a ByteBuf never
/// released keeps its chunk, and the kept chunks piling up by age are a `direct_pool_grows`
/// naming the allocator and the handler's frame; the fixed handler is quiet.
#[test]
fn netty_4_2s_adaptive_allocator_is_quiet_when_healthy_and_its_leak_is_found() {
    let (f, reports, dir) = serve_on("netty42", "netty42-healthy", &["healthy"], &[], "");
    assert_eq!(f.truths().get("allocator").map(String::as_str), Some("AdaptiveByteBufAllocator"), "{}", f.stdout);
    for r in &reports {
        let warned: Vec<&Finding> = r.findings.iter().filter(|x| x.severity != Severity::Info).collect();
        assert!(warned.is_empty(), "a healthy Netty 4.2 server has no warning: {warned:#?}");
    }
    let (code, out) = check(&dir);
    assert_eq!(code, 0, "leakagent check fails a healthy Netty 4.2 server:\n{out}");
    let last = reports.last().unwrap();
    let pool = last.direct.pools.iter().find(|p| p.allocator == "netty-adaptive").expect("the adaptive pool");
    // The chunks its magazines hold for reuse are kept too (and may still grow while the pool
    // warms up): a few MiB, far from a finding's 8 MiB.
    assert!(pool.chunks >= 1 && pool.kept_bytes < 4 << 20 && pool.rising.is_none_or(|r| r.bytes < 4 << 20), "{pool:?}");

    let (f, reports, dir) = serve_on("netty42", "netty42-leak", &["leak"], &[], "");
    assert!(f.truth("leaked_bytes") >= 32 << 20, "{}", f.stdout);
    let last = reports.last().unwrap();
    let found = netty_findings(last);
    assert_eq!(found.len(), 1, "{:#?}", last.findings);
    assert_eq!(found[0].kind, "direct_pool_grows");
    let s = &found[0].summary;
    assert!(s.starts_with("Netty's adaptive allocator keeps chunks it should free: ") && s.contains("AdaptiveByteBufAllocator$DirectChunkAllocator.allocate("), "{s}");
    // Its callers are ~20 frames deep, below the 16 kept: the finding says how to record them.
    assert!(s.ends_with("Chunks were requested via code below the frames kept (stack_depth=32 records the first caller of each site)"), "{s}");
    assert!(found[0].fix.contains("ReferenceCountUtil.release") && found[0].fix.contains("paranoid"), "{}", found[0].fix);
    assert_eq!(check(&dir).0, 1);

    let (_, reports, dir) = serve_on("netty42", "netty42-fixed", &["fixed"], &[], "");
    for r in &reports {
        assert!(netty_findings(r).is_empty(), "fixed: {:#?}", r.findings);
    }
    assert_eq!(check(&dir).0, 0);
}

/// The server in MODE (Netty 4.1 or 4.2) with a report every second (`interval=1s`) and at exit:
/// a pool's warm-up spans several reports, and reports catch the first buffers in flight. The
/// "exit" sent at once lifts the server's pauses at its thirds: the traffic never stops.
fn serve_every_second(netty: &str, test: &str, mode: &[&str], requests: u64, jvm_args: &[&str]) -> Vec<Report> {
    let running = server(netty, test, mode, requests, jvm_args).options("interval=1s").start();
    let dir = running.dir.clone();
    let f = running.finish();
    assert_eq!(f.code, Some(0), "{}\n{}", f.stdout, f.stderr);
    let reports = reports_in(&dir);
    assert!(reports.len() >= 3, "reports every second and at exit: {}", reports.len());
    for r in &reports {
        assert_eq!(r.agent.health.panics, 0, "{:?}", r.agent.health);
    }
    reports
}

/// No report has a finding on direct memory. (The ramp's 64 client threads may leave glibc
/// holding freed memory in its arenas: `allocator_retention`, true, and no verdict on Netty.)
fn assert_quiet(test: &str, reports: &[Report]) {
    for r in reports {
        assert!(netty_findings(r).is_empty(), "{test}: {:#?}", r.findings);
    }
}

/// A warm-up ramp: 64 connections joining one by one over the first half of the requests, each
/// response held 50 ms (a slow backend), then steady, with a report every second. Pooled, Netty
/// 4.1's pool grows by 8 MiB or more over several reports while its new chunks are young, and
/// levels off once they are kept: no warning, whereas its rise alone was once a
/// `direct_pool_grows` (+16 MiB over the last 2 reports). Unpooled (buffers in flight swing with
/// the traffic and are never kept) and Netty 4.2's adaptive allocator: no warning either. The
/// reports every second also catch Netty's first huge buffers (5 MiB) in flight before any was
/// freed, never a finding.
#[test]
fn a_netty_server_warming_up_with_traffic_that_levels_off_is_quiet() {
    let ramp = ["ramp", "64"];
    let reports = serve_every_second("netty", "netty-ramp-pooled", &ramp, REQUESTS, &[]);
    assert_quiet("pooled", &reports);
    let pool: Vec<u64> = reports.iter().map(|r| r.direct.pools.iter().find(|p| p.allocator == "netty").map_or(0, |p| p.live_bytes)).collect();
    let top = pool.iter().position(|b| b == pool.iter().max().unwrap()).unwrap();
    let first = *pool.iter().find(|&&b| b > 0).unwrap();
    let rises = pool.windows(2).take(top).filter(|w| w[1] > w[0]).count();
    assert!(pool[top] >= first + (8 << 20) && rises >= 2, "the pool grows by 8 MiB or more over 2 reports or more: {pool:?}");
    assert!(pool[pool.len() - 1] <= pool[pool.len() - 2], "then levels off: {pool:?}");
    let reports = serve_every_second("netty", "netty-ramp-unpooled", &ramp, REQUESTS, &["-Dio.netty.allocator.type=unpooled"]);
    assert_quiet("unpooled", &reports);
    let reports = serve_every_second("netty42", "netty42-ramp", &ramp, REQUESTS, &[]);
    assert_quiet("4.2", &reports);
}

/// Netty 4.2's leak with a report every second: every age slot soon holds leaked chunks, so the
/// two oldest periods merge (`direct_age_merges`), the kept chunks go on following the leak to
/// the end (they once stopped at the first 6 periods': 528 of 1,476 chunks) and the finding
/// stays.
#[test]
fn netty_4_2s_leak_reported_every_second_keeps_its_kept_chunks_counted() {
    // Long enough for every age slot to fill with leaked chunks while the leak goes on.
    let reports = serve_every_second("netty42", "netty42-leak-every-second", &["leak"], 3 * REQUESTS, &[]);
    let last = reports.last().unwrap();
    let pool = last.direct.pools.iter().find(|p| p.allocator == "netty-adaptive").expect("the adaptive pool");
    // All but the chunks of the last period (since the report before) are kept.
    assert!(pool.kept_count * 3 >= pool.chunks * 2, "{pool:?}");
    assert!(last.agent.health.direct_age_merges >= 1, "{:?}", last.agent.health);
    // Found, and found again at every later report: a report a second after the last, whose
    // period closed then is not kept yet, keeps the verdict (the kept periods are fewer once the
    // oldest merge, so their number cannot tell).
    let found: Vec<bool> = reports.iter().map(|r| r.findings.iter().any(|f| f.kind == "direct_pool_grows")).collect();
    let first = found.iter().position(|&f| f).expect("the leak is found");
    assert!(found[first..].iter().all(|&f| f), "{found:?}");
}
