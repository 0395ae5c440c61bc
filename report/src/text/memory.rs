//! The memory section of the text page: RSS by part, the cgroup, the allocator, trims, mappings,
//! the JVM's own numbers, NMT and the sampler's series.

use crate::model::{Cgroup, Memory, Report, Sample};
use crate::units;
use std::fmt::Write;

/// A cgroup without a memory limit charges every process in it (a desktop session, a CI job):
/// its numbers are context, not this JVM's, and no OOM killer acts on them.
pub fn unlimited_cgroup(c: &Cgroup) -> String {
    format!(
        "cgroup v{}: no memory limit; the cgroup charges {} MiB to all of its processes, not to this JVM alone (working set {} MiB, page cache {} MiB, kernel {} MiB)",
        c.version,
        units::mib_value(c.usage),
        units::mib_value(c.working_set),
        opt_mib(c.page_cache),
        opt_mib(c.kernel)
    )
}

fn opt_mib(b: Option<u64>) -> String {
    b.map(units::mib_value).unwrap_or_else(|| "-".into())
}

/// RSS by part, the cgroup, the allocator, mappings, the JVM's numbers, NMT and the samples.
pub(super) fn section(o: &mut String, r: &Report) {
    let m = &r.memory;
    let a = &m.malloc;
    let _ = writeln!(
        o,
        "\nMemory: RSS {} MiB; allocator {}{} ({}){}",
        units::mib_value(m.rss_bytes),
        a.allocator,
        a.version.as_deref().map(|v| format!(" {v}")).unwrap_or_default(),
        if a.library.is_empty() { "?" } else { a.library.as_str() },
        match (a.arenas, a.arena_max) {
            (Some(n), Some(max)) => format!(", {n} arenas, limit {max} ({})", a.arena_max_source),
            (Some(n), None) => format!(", {n} arenas"),
            _ => String::new(),
        }
    );
    if !m.summary.is_empty() {
        let _ = writeln!(o, "  {}", m.summary);
    }
    let _ = writeln!(o, "  {:<16} {:>10}  what it is", "part", "MiB");
    for p in &m.explanation {
        let _ = writeln!(o, "  {:<16} {:>10}  {}", p.part, units::mib_value(p.bytes), p.note);
    }
    if let Some(s) = &m.malloc_split {
        let _ = writeln!(o, "  malloc_in_use by sampled site (estimates):");
        for x in &s.sites {
            let _ = writeln!(o, "    {:>10}  {}", units::mib_value(x.estimated_live_bytes), super::escape_controls(&x.site, false));
        }
        let _ = writeln!(o, "    {:>10}  the rest", units::mib_value(s.rest_bytes));
    }
    if let Some(c) = m.cgroup.as_ref().filter(|c| c.limit.is_none()) {
        let _ = writeln!(o, "  {}", unlimited_cgroup(c));
    } else if let Some(c) = &m.cgroup {
        let _ = writeln!(
            o,
            "  cgroup v{}: limit {}, usage {} MiB, working set {} MiB (usage - inactive page cache){}; page cache {} MiB, kernel {} MiB (the kernel counts both, RSS does not)",
            c.version,
            c.limit.map(|l| format!("{} MiB", units::mib_value(l))).unwrap_or_else(|| "none".into()),
            units::mib_value(c.usage),
            units::mib_value(c.working_set),
            match (c.headroom, c.percent_of_limit) {
                (Some(h), Some(p)) => format!(" = {p}% of the limit, {} MiB headroom", units::mib_value(h)),
                _ => String::new(),
            },
            opt_mib(c.page_cache),
            opt_mib(c.kernel)
        );
    }
    allocator(o, m);
    mappings(o, m);
    nmt(o, m);
    samples(o, r);
    for n in m.notes.iter().chain(a.notes.iter()) {
        let _ = writeln!(o, "  note: {n}");
    }
}

/// What the allocator holds, and what a trim at this report gave back.
fn allocator(o: &mut String, m: &Memory) {
    let a = &m.malloc;
    let _ = writeln!(
        o,
        "  malloc: {} MiB in use, {} MiB free ({} MiB of it resident), {} MiB in {} mmapped chunks [{}]",
        opt_mib(a.in_use_bytes),
        opt_mib(a.free_bytes),
        opt_mib(a.resident_free_bytes),
        opt_mib(a.mmapped_bytes),
        a.mmapped_chunks.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
        a.source
    );
    if let Some(t) = &m.trim {
        if t.performed {
            let _ = writeln!(
                o,
                "  trim: {} released {} MiB (RSS {} -> {} MiB; allocator free {} -> {} MiB)",
                t.call,
                units::mib_value(t.released_bytes),
                units::mib_value(t.rss_before_bytes),
                units::mib_value(t.rss_after_bytes),
                opt_mib(t.free_before_bytes),
                opt_mib(t.free_after_bytes)
            );
        } else {
            let _ = writeln!(o, "  trim: not performed: {}", t.call);
        }
    }
}

/// The process's mappings by kind, and the JVM's own view of its memory.
fn mappings(o: &mut String, m: &Memory) {
    let _ = writeln!(o, "  {:<20} {:>6} {:>12} {:>10}  recognised by", "mappings", "count", "size MiB", "rss MiB");
    for g in m.regions.iter().filter(|g| g.size_bytes > 0) {
        let _ = writeln!(
            o,
            "  {:<20} {:>6} {:>12} {:>10}  {}",
            g.kind,
            g.count,
            units::mib_value(g.size_bytes),
            units::mib_value(g.rss_bytes),
            g.recognised_by
        );
    }
    if !m.unrecognised.is_empty() {
        let list: Vec<String> =
            m.unrecognised.iter().map(|u| format!("{} {} {} KiB rss {} KiB", u.address, u.perms, u.size_bytes >> 10, u.rss_bytes >> 10)).collect();
        let _ = writeln!(o, "  largest unrecognised: {}", list.join("; "));
    }
    let j = &m.jvm;
    let _ = writeln!(
        o,
        "  JVM: heap {} used / {} committed / {} max MiB; metaspace {} / {} MiB (class space {} / {}); code cache {} / {} MiB; direct {} MiB in {} buffers; {} Java threads, {} OS threads",
        opt_mib(j.heap_used_bytes),
        opt_mib(j.heap_committed_bytes),
        opt_mib(j.heap_max_bytes),
        opt_mib(j.metaspace_used_bytes),
        opt_mib(j.metaspace_committed_bytes),
        opt_mib(j.class_space_used_bytes),
        opt_mib(j.class_space_committed_bytes),
        opt_mib(j.code_cache_used_bytes),
        opt_mib(j.code_cache_committed_bytes),
        opt_mib(j.direct_used_bytes),
        j.direct_buffers.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
        j.java_threads.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
        j.os_threads.map(|n| n.to_string()).unwrap_or_else(|| "-".into())
    );
}

/// NMT's totals and its biggest categories, when NMT is on.
fn nmt(o: &mut String, m: &Memory) {
    if let Some(n) = &m.nmt {
        let _ = writeln!(o, "  NMT ({}): reserved {} MiB, committed {} MiB", n.mode, units::mib_value(n.reserved_bytes), units::mib_value(n.committed_bytes));
        let mut cats: Vec<_> = n.categories.iter().collect();
        cats.sort_by_key(|c| std::cmp::Reverse(c.committed_bytes));
        for c in cats.iter().take(12) {
            let _ = writeln!(
                o,
                "    {:<26} committed {:>9} MiB (malloc {:>8}, mmap {:>8})",
                c.name,
                units::mib_value(c.committed_bytes),
                units::mib_value(c.malloc_bytes),
                units::mib_value(c.mmap_committed_bytes)
            );
        }
    }
}

fn samples(o: &mut String, r: &Report) {
    let s = &r.samples;
    let info = &r.memory.sampler;
    let Some(interval) = info.interval_ms else {
        let _ = writeln!(o, "  samples: sampler off");
        return;
    };
    let (Some(first), Some(last)) = (s.first(), s.last()) else {
        let _ = writeln!(o, "  samples: none yet (every {interval} ms)");
        return;
    };
    let max = s.iter().max_by_key(|x| x.rss_bytes).unwrap_or(last);
    let _ = writeln!(
        o,
        "  samples: {} kept of {} taken, every {} ms (older ones thinned {} times); RSS {} MiB at {:.1} s, peak {} MiB at {:.1} s, {} MiB at {:.1} s",
        s.len(),
        info.taken,
        interval,
        info.thinned,
        units::mib_value(first.rss_bytes),
        first.t_ms as f64 / 1000.0,
        units::mib_value(max.rss_bytes),
        max.t_ms as f64 / 1000.0,
        units::mib_value(last.rss_bytes),
        last.t_ms as f64 / 1000.0
    );
    let _ = writeln!(o, "  {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}", "t s", "rss", "heap", "malloc", "free", "direct", "classes", "loaders");
    let step = (s.len() / 10).max(1);
    let rows: Vec<&Sample> = s.iter().step_by(step).chain(std::iter::once(last)).collect();
    let mut prev_t = None;
    for x in rows {
        if prev_t == Some(x.t_ms) {
            continue;
        }
        prev_t = Some(x.t_ms);
        let _ = writeln!(
            o,
            "  {:>9.1} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8}",
            x.t_ms as f64 / 1000.0,
            units::mib_value(x.rss_bytes),
            opt_mib(x.heap_used_bytes),
            opt_mib(x.malloc_in_use_bytes),
            opt_mib(x.malloc_free_bytes),
            opt_mib(x.direct_live_bytes),
            x.classes_live,
            x.loaders_alive
        );
    }
}
