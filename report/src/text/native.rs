//! The native ledgers' sections of the text page, zlib streams and direct memory: one section
//! written once and looped over both ledgers.

use super::site_labels;
use crate::ledger::{ledgers, Ledger, Source};
use crate::model::{Direct, NativeSampling, Report, Tracking, Zlib, ZlibPool};
use crate::units;
use crate::words::count;
use std::fmt::Write;

const MAX_NATIVE_SITES: usize = 8;

/// A site table's columns: the kind's width, the counts (`created`, the releases, `live`) with
/// their headings and widths, and the width of live MB.
struct Columns {
    kind: usize,
    counts: &'static [(&'static str, usize)],
    live_mb: usize,
}

const ZLIB_COLUMNS: Columns = Columns { kind: 8, counts: &[("created", 8), ("ended", 8), ("by GC", 8), ("live", 7)], live_mb: 9 };
const DIRECT_COLUMNS: Columns = Columns { kind: 16, counts: &[("allocs", 8), ("frees", 8), ("live", 8)], live_mb: 10 };

/// Each ledger: its totals, how it tracks, what only it has, and its worst sites.
pub(super) fn sections(o: &mut String, r: &Report) {
    for l in ledgers(r) {
        let (summary, detail, columns) = match l.source {
            Source::Zlib(z) => (zlib_summary(z), before_tracking(z), &ZLIB_COLUMNS),
            Source::Direct(d) => (direct_summary(d), jdk_pool(d), &DIRECT_COLUMNS),
        };
        let _ = writeln!(o, "\n{summary}");
        tracking_line(o, l.tracking, l.reason);
        if let Some(d) = detail {
            let _ = writeln!(o, "  {d}");
        }
        site_table(o, &l, columns);
    }
    sampled_section(o, &r.native_sampling);
}

/// Sampled native allocations (`native=on`): the totals and the largest sites.
fn sampled_section(o: &mut String, n: &NativeSampling) {
    if n.tracking == Tracking::Off {
        return;
    }
    let _ = writeln!(
        o,
        "\nSampled native allocations ({}): ~{} live, ~{} allocated; {} samples ({} lost, {} untracked); {} import entries in {} libraries",
        crate::words::sampling_interval_text(n),
        units::mib(n.estimated_live_bytes),
        units::mib(n.estimated_allocated_bytes),
        n.samples,
        n.samples_lost,
        n.samples_untracked,
        n.entries_patched,
        n.libraries_patched
    );
    tracking_line(o, n.tracking, &n.reason);
    if let Some(note) = &n.tls_note {
        let _ = writeln!(o, "  per-thread state in dynamic TLS: {note}");
    }
    if n.sites.is_empty() {
        return;
    }
    let _ = writeln!(o, "  {:>9}  {:>10}  {:>7}  {:>9}  site", "live MB", "alloc MB", "samples", "growth MB");
    for s in n.sites.iter().take(MAX_NATIVE_SITES) {
        let _ = writeln!(
            o,
            "  {:>9.1}  {:>10.1}  {:>7}  {:>+9.1}  {}{}",
            s.estimated_live_bytes as f64 / (1024.0 * 1024.0),
            s.allocated_bytes as f64 / (1024.0 * 1024.0),
            s.samples,
            s.growth_bytes as f64 / (1024.0 * 1024.0),
            super::escape_controls(&crate::words::sampled_label(s), false),
            if s.growing { " [growing]" } else { "" }
        );
    }
    if n.sites.len() > MAX_NATIVE_SITES {
        let _ = writeln!(o, "  ... {} more sites (with full stacks) in the JSON report", n.sites.len() - MAX_NATIVE_SITES);
    }
}

fn tracking_line(o: &mut String, tracking: Tracking, reason: &Option<String>) {
    if tracking != Tracking::Full {
        let _ = writeln!(o, "  tracking: {}{}", tracking.as_str(), reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default());
    }
}

/// What a row says of a site that is a pool (no finding: its streams are reused).
pub fn pool_note(pool: Option<&ZlibPool>) -> String {
    pool.map(|p| format!(" [a pool, not a leak: {} live, high-water {}, reused {} times]", p.size, p.high_water, p.reuses))
        .unwrap_or_default()
}

fn zlib_summary(z: &Zlib) -> String {
    let t = &z.totals;
    format!(
        "zlib streams: {} created, {} ended explicitly, {} freed only by GC, {} live (~{}); {} sites",
        t.created, t.ended_explicitly, t.released_by_gc, t.live, units::mib(t.live_bytes_estimate), t.sites
    )
}

/// Releases of streams created before a late attach, when there were any.
fn before_tracking(z: &Zlib) -> Option<String> {
    let b = &z.totals.before_tracking;
    (b.ended_explicitly + b.released_by_gc > 0).then(|| {
        format!("streams from before tracking: {} ended explicitly, {} freed only by GC", b.ended_explicitly, b.released_by_gc)
    })
}

fn direct_summary(d: &Direct) -> String {
    let t = &d.totals;
    format!(
        "Direct memory: {}, {} ({} in {}, {} in {}); {} allocated, {} freed ({} by GC)",
        count(t.live_count, "live block", "live blocks"),
        units::mib(t.live_bytes),
        units::mib(t.direct_byte_buffers.live_bytes),
        count(t.direct_byte_buffers.live_count, "DirectByteBuffer", "DirectByteBuffers"),
        units::mib(t.unsafe_memory.live_bytes),
        count(t.unsafe_memory.live_count, "Unsafe block", "Unsafe blocks"),
        t.allocations + t.reallocations,
        t.frees,
        t.freed_by_gc
    )
}

/// The JDK's own direct pool, and whether it agrees with the agent.
fn jdk_pool(d: &Direct) -> Option<String> {
    let p = d.jdk_pool.as_ref()?;
    Some(format!(
        "JDK direct pool: {}, {} capacity{}{}",
        count(p.count, "buffer", "buffers"),
        units::mib(p.total_capacity_bytes),
        p.max_bytes.map(|m| format!(", limit {}", units::mib(m))).unwrap_or_default(),
        d.cross_check.as_ref().map(|c| if c.agrees { "; agrees with the agent".to_string() } else { format!("; {}", c.note) }).unwrap_or_default()
    ))
}

/// The first MAX_NATIVE_SITES sites, each on one row with a label that tells it apart.
fn site_table(o: &mut String, l: &Ledger, c: &Columns) {
    if l.sites.is_empty() {
        return;
    }
    let _ = write!(o, "  {:>5}  {:<kind$}", "id", "kind", kind = c.kind);
    for (name, width) in c.counts {
        let _ = write!(o, "  {name:>width$}");
    }
    let _ = writeln!(o, "  {:>mb$}  site", "live MB", mb = c.live_mb);
    let shown: Vec<_> = l.sites.iter().take(MAX_NATIVE_SITES).map(|s| (s.id, s.app_frame, s.stack)).collect();
    for (s, label) in l.sites.iter().zip(site_labels(&shown)) {
        let _ = write!(o, "  {:>5}  {:<kind$}", s.id, s.kind, kind = c.kind);
        let counts = std::iter::once(s.created).chain(s.released.counts()).chain([s.live]);
        for (n, (_, width)) in counts.zip(c.counts) {
            let _ = write!(o, "  {n:>width$}");
        }
        let mib = s.live_bytes as f64 / (1024.0 * 1024.0);
        let _ = writeln!(o, "  {mib:>mb$.1}  {label}{}", pool_note(s.pool), mb = c.live_mb);
    }
    if l.sites.len() > MAX_NATIVE_SITES {
        let _ = writeln!(o, "  ... {} more sites (with full stacks) in the JSON report", l.sites.len() - MAX_NATIVE_SITES);
    }
}
