//! `leakagent diff`'s text: each list biggest growth first, cut at `--top` rows.

use super::{Change, Diff, LoadersDiff, Side};
use std::fmt::Write;

fn bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

fn signed_bytes(d: i64) -> String {
    match d {
        0 => "0 B".to_string(),
        d if d > 0 => format!("+{}", bytes(d as u64)),
        d => format!("-{}", bytes(d.unsigned_abs())),
    }
}

fn count(c: Change) -> String {
    format!("{} -> {} ({:+})", c.old, c.new, c.delta)
}

fn byte_change(c: Change) -> String {
    format!("{} -> {} ({})", bytes(c.old), bytes(c.new), signed_bytes(c.delta))
}

fn loader_label(id: u32, name: &Option<String>, class: &str) -> String {
    format!("#{id} {} ({class})", name.as_deref().unwrap_or("-"))
}

fn more(o: &mut String, total: usize, shown: usize) {
    if total > shown {
        let _ = writeln!(o, "    ... {} more (--top 0 shows all)", total - shown);
    }
}

pub fn render(d: &Diff, top: usize) -> String {
    let mut o = String::new();
    let s = |x: &Side| format!("report #{} ({}, pid {}, {})", x.sequence, x.trigger, x.pid, x.time);
    let _ = writeln!(o, "OLD {}: {}", d.old.path, s(&d.old));
    let _ = writeln!(o, "NEW {}: {}", d.new.path, s(&d.new));
    let _ = writeln!(
        o,
        "{}, {:.1} s apart{}",
        if d.same_process { "same process" } else { "different runs: loaders are matched by class and label or name" },
        d.elapsed_ms as f64 / 1000.0,
        if d.elapsed_ms < 0 { " (NEW was taken before OLD)" } else { "" }
    );

    let f = &d.findings;
    let _ = writeln!(o, "\nFindings: {} new, {} resolved, {} unchanged", f.new.len(), f.resolved.len(), f.unchanged);
    for (mark, list) in [("+", &f.new), ("-", &f.resolved)] {
        for x in list.iter().take(top) {
            let _ = writeln!(o, "  {mark} [{}] {}: {}", x.severity.name(), x.kind, x.summary);
        }
        more(&mut o, list.len(), top.min(list.len()));
    }

    loaders(&mut o, &d.class_loaders, top);
    memory(&mut o, d, top);
    o
}

/// Counts, then new and gone suspects, loaders born and died, live loaders by kind, new
/// duplicate classes.
fn loaders(o: &mut String, c: &LoadersDiff, top: usize) {
    let _ = writeln!(
        o,
        "\nClass loaders: alive {}, dead {}, suspects {}",
        count(c.alive),
        count(c.dead),
        count(c.suspects)
    );
    let _ = writeln!(
        o,
        "Classes: live {}, loaded {}, unloaded {}, duplicate names {}",
        count(c.classes_live),
        count(c.classes_loaded),
        count(c.classes_unloaded),
        count(c.duplicate_classes)
    );
    if !c.new_suspects.is_empty() {
        let _ = writeln!(o, "  new leak suspects:");
        for x in c.new_suspects.iter().take(top) {
            let _ = writeln!(
                o,
                "    + {}, {} classes, culprit {}",
                loader_label(x.loader_id, &x.loader_name, &x.loader_class),
                x.classes,
                x.culprit.as_deref().unwrap_or("unknown")
            );
        }
        more(o, c.new_suspects.len(), top.min(c.new_suspects.len()));
    }
    if !c.gone_suspects.is_empty() {
        let _ = writeln!(o, "  no longer suspected:");
        for x in c.gone_suspects.iter().take(top) {
            let _ = writeln!(o, "    - {}", loader_label(x.loader_id, &x.loader_name, &x.loader_class));
        }
        more(o, c.gone_suspects.len(), top.min(c.gone_suspects.len()));
    }
    for (title, list) in [("born", &c.born), ("died", &c.died)] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(o, "  {title} ({}):", list.len());
        for l in list.iter().take(top) {
            let _ = writeln!(
                o,
                "    {}, {} classes{}",
                loader_label(l.id, &l.name, &l.class),
                l.classes,
                if title == "born" && !l.alive { ", already dead" } else { "" }
            );
        }
        more(o, list.len(), top.min(list.len()));
    }
    if !c.by_kind.is_empty() {
        let _ = writeln!(o, "  live loaders by kind:");
        for k in c.by_kind.iter().take(top) {
            let _ = writeln!(
                o,
                "    {:>+5}  {} ({} -> {}, classes {} -> {})",
                k.alive.delta, k.kind, k.alive.old, k.alive.new, k.classes.old, k.classes.new
            );
        }
        more(o, c.by_kind.len(), top.min(c.by_kind.len()));
    }
    if !c.new_duplicate_classes.is_empty() {
        let shown: Vec<&str> = c.new_duplicate_classes.iter().take(top).map(|s| s.as_str()).collect();
        let _ = writeln!(
            o,
            "  newly duplicated classes ({}): {}{}",
            c.new_duplicate_classes.len(),
            shown.join(", "),
            if c.new_duplicate_classes.len() > shown.len() { ", ..." } else { "" }
        );
    }

}

/// RSS by part, then the zlib and direct sites.
fn memory(o: &mut String, d: &Diff, top: usize) {
    let _ = writeln!(o, "\nRSS: {}", byte_change(d.rss.total));
    for p in d.rss.parts.iter().take(top) {
        let _ = writeln!(o, "  {:>12}  {:<16} {} -> {}", signed_bytes(p.bytes.delta), p.part, bytes(p.bytes.old), bytes(p.bytes.new));
    }
    more(o, d.rss.parts.len(), top.min(d.rss.parts.len()));

    for (title, unit, s) in [("zlib streams", "live", &d.zlib), ("Direct memory", "blocks", &d.direct)] {
        let _ = writeln!(o, "\n{title}: {unit} {}, bytes {}", count(s.live), byte_change(s.live_bytes));
        for x in s.sites.iter().take(top) {
            let _ = writeln!(
                o,
                "  {:>12}  {:>+7} {unit}  {:>+7} created  {} at {}",
                signed_bytes(x.live_bytes.delta),
                x.live.delta,
                x.created.delta,
                x.kind,
                x.place
            );
        }
        more(o, s.sites.len(), top.min(s.sites.len()));
    }
}
