//! The native ledgers' sections of the text page: zlib streams and direct memory, by site.

use super::site_labels;
use crate::model::{Direct, Tracking, Zlib, ZlibSite};
use crate::units;
use std::fmt::Write;

const MAX_NATIVE_SITES: usize = 8;

fn tracking_line(o: &mut String, tracking: Tracking, reason: &Option<String>) {
    if tracking != Tracking::Full {
        let _ = writeln!(o, "  tracking: {}{}", tracking.as_str(), reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default());
    }
}

/// What a row says of a site that is a pool (no finding: its streams are reused).
pub fn pool_note(s: &ZlibSite) -> String {
    s.pool
        .as_ref()
        .map(|p| format!(" [a pool, not a leak: {} live, high-water {}, reused {} times]", p.size, p.high_water, p.reuses))
        .unwrap_or_default()
}

pub(super) fn zlib_section(o: &mut String, z: &Zlib) {
    let t = &z.totals;
    let _ = writeln!(
        o,
        "\nzlib streams: {} created, {} ended explicitly, {} freed only by GC, {} live (~{}); {} sites",
        t.created, t.ended_explicitly, t.released_by_gc, t.live, units::mib(t.live_bytes_estimate), t.sites
    );
    tracking_line(o, z.tracking, &z.reason);
    let b = &t.before_tracking;
    if b.ended_explicitly + b.released_by_gc > 0 {
        let _ = writeln!(
            o,
            "  streams from before tracking: {} ended explicitly, {} freed only by GC",
            b.ended_explicitly, b.released_by_gc
        );
    }
    if z.sites.is_empty() {
        return;
    }
    let _ = writeln!(o, "  {:>5}  {:<8}  {:>8}  {:>8}  {:>8}  {:>7}  {:>9}  site", "id", "kind", "created", "ended", "by GC", "live", "live MB");
    let shown: Vec<_> = z.sites.iter().take(MAX_NATIVE_SITES).map(|s| (s.id, &s.app_frame, s.stack.as_slice())).collect();
    let labels = site_labels(&shown);
    for (s, label) in z.sites.iter().zip(labels) {
        let _ = writeln!(
            o,
            "  {:>5}  {:<8}  {:>8}  {:>8}  {:>8}  {:>7}  {:>9.1}  {}{}",
            s.id,
            s.kind,
            s.created,
            s.ended_explicitly,
            s.released_by_gc,
            s.live,
            s.live_bytes_estimate as f64 / (1024.0 * 1024.0),
            label,
            pool_note(s)
        );
    }
    if z.sites.len() > MAX_NATIVE_SITES {
        let _ = writeln!(o, "  ... {} more sites (with full stacks) in the JSON report", z.sites.len() - MAX_NATIVE_SITES);
    }
}

pub(super) fn direct_section(o: &mut String, d: &Direct) {
    let t = &d.totals;
    let _ = writeln!(
        o,
        "\nDirect memory: {}, {} ({} in {}, {} in {}); {} allocated, {} freed ({} by GC)",
        crate::words::count(t.live_count, "live block", "live blocks"),
        units::mib(t.live_bytes),
        units::mib(t.direct_byte_buffers.live_bytes),
        crate::words::count(t.direct_byte_buffers.live_count, "DirectByteBuffer", "DirectByteBuffers"),
        units::mib(t.unsafe_memory.live_bytes),
        crate::words::count(t.unsafe_memory.live_count, "Unsafe block", "Unsafe blocks"),
        t.allocations + t.reallocations,
        t.frees,
        t.freed_by_gc
    );
    tracking_line(o, d.tracking, &d.reason);
    if let Some(p) = &d.jdk_pool {
        let _ = writeln!(
            o,
            "  JDK direct pool: {}, {} capacity{}{}",
            crate::words::count(p.count, "buffer", "buffers"),
            units::mib(p.total_capacity_bytes),
            p.max_bytes.map(|m| format!(", limit {}", units::mib(m))).unwrap_or_default(),
            d.cross_check.as_ref().map(|c| if c.agrees { "; agrees with the agent".to_string() } else { format!("; {}", c.note) }).unwrap_or_default()
        );
    }
    if d.sites.is_empty() {
        return;
    }
    let _ = writeln!(o, "  {:>5}  {:<16}  {:>8}  {:>8}  {:>8}  {:>10}  site", "id", "kind", "allocs", "frees", "live", "live MB");
    let shown: Vec<_> = d.sites.iter().take(MAX_NATIVE_SITES).map(|s| (s.id, &s.app_frame, s.stack.as_slice())).collect();
    let labels = site_labels(&shown);
    for (s, label) in d.sites.iter().zip(labels) {
        let _ = writeln!(
            o,
            "  {:>5}  {:<16}  {:>8}  {:>8}  {:>8}  {:>10.1}  {}",
            s.id,
            s.kind,
            s.allocations + s.reallocations,
            s.frees,
            s.live_count,
            s.live_bytes as f64 / (1024.0 * 1024.0),
            label
        );
    }
    if d.sites.len() > MAX_NATIVE_SITES {
        let _ = writeln!(o, "  ... {} more sites (with full stacks) in the JSON report", d.sites.len() - MAX_NATIVE_SITES);
    }
}
