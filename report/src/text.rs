//! Plain-text rendering for people: findings first, then the evidence.

use super::model::{
    Cgroup, ChainSearch, ClassLoaders, Direct, LeakSuspect, Loader, LoaderRole, NativeSampling, Origin, Report, Sample, SampledSite,
    Severity, Tracking, Zlib, ZlibSite,
};
use std::collections::{BTreeMap, BTreeSet};
use crate::units;
use std::borrow::Cow;
use std::fmt::Write;

const MAX_LOADERS: usize = 40;
const MAX_DUPLICATES: usize = 40;
const MAX_NATIVE_SITES: usize = 8;
/// Loader ids listed in one line of text; the JSON report has them all.
const MAX_IDS: usize = 20;
/// Loaders of one cause shown with their names and reasons after the first.
const SHOWN_ALSO: usize = 3;

/// `Script1234` and `Script7` alike: runs of digits, which differ between redeploys, scripts
/// and threads of one kind, read as one.
pub fn numbers_as_one(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('#') {
            out.push('#');
        }
    }
    out
}

/// What makes suspects one leak repeated (redeploys, scripts): the same culprit and the same
/// fix once numbers are read as one (the fix names the holder, the thread or the MBean).
pub fn cause_key(s: &LeakSuspect) -> (String, String) {
    (s.culprit.clone().unwrap_or_else(|| "unknown".into()), numbers_as_one(&s.fix))
}

/// The leak suspects, those of one cause together, in the order first seen.
pub fn suspect_groups(c: &ClassLoaders) -> Vec<Vec<&LeakSuspect>> {
    let mut groups: Vec<Vec<&LeakSuspect>> = Vec::new();
    let mut at: BTreeMap<(String, String), usize> = BTreeMap::new();
    for s in &c.leak_suspects {
        let key = cause_key(s);
        let i = *at.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[i].push(s);
    }
    groups
}

/// At most MAX_IDS ids, then how many more.
fn id_list(ids: &[u32]) -> String {
    let mut out: Vec<String> = ids.iter().take(MAX_IDS).map(|i| i.to_string()).collect();
    if ids.len() > MAX_IDS {
        out.push(format!("and {} more", ids.len() - MAX_IDS));
    }
    out.join(", ")
}

/// Every loader id the text names outside the loader table, and the parents of those: each
/// gets a row of its own in the table.
fn mentioned_ids(c: &ClassLoaders) -> BTreeSet<u32> {
    let mut ids = BTreeSet::new();
    for g in suspect_groups(c) {
        for s in g.iter().take(1 + SHOWN_ALSO + MAX_IDS) {
            ids.insert(s.loader_id);
            ids.extend(s.superseded_by);
            ids.extend(s.path.iter().filter_map(|h| h.to_loader));
        }
    }
    for d in c.duplicate_classes.iter().take(MAX_DUPLICATES) {
        ids.extend(d.loaders.iter().take(MAX_IDS));
    }
    ids.extend(c.not_strongly_reachable.iter().take(MAX_IDS));
    ids.extend(c.stopped_at_exit.iter().take(MAX_IDS));
    let parents: BTreeMap<u32, u32> = c.loaders.iter().filter_map(|l| Some((l.id, l.parent?))).collect();
    let mut todo: Vec<u32> = ids.iter().copied().collect();
    while let Some(id) = todo.pop() {
        if let Some(&p) = parents.get(&id) {
            if ids.insert(p) {
                todo.push(p);
            }
        }
    }
    ids
}

/// What the chain search cost, in one sentence (also used by the HTML page).
pub fn chain_search_sentence(cs: &ChainSearch) -> String {
    let how = match cs.method.as_str() {
        "dump" => format!(
            "from one heap dump ({} MiB, deleted) searched in {} passes while the application ran",
            cs.dump_bytes.unwrap_or(0) >> 20,
            cs.passes
        ),
        "walk" => format!("by {} live heap walks, {} objects tagged", cs.passes, cs.objects_tagged),
        "verified" => "all confirmed from the previous report without a heap walk".to_string(),
        _ => "no search".to_string(),
    };
    let verified = if cs.verified > 0 && cs.method != "verified" {
        format!(", {} confirmed from the previous report", cs.verified)
    } else {
        String::new()
    };
    format!(
        "Chain search: {} of {} chains found {how}{verified}, in {} ms; the application paused {}, {} ms in all, {} ms at most{}{}",
        cs.chains_found,
        cs.suspects,
        cs.time_ms,
        crate::words::count(cs.pauses.len() as u64, "time", "times"),
        cs.pause_ms,
        cs.max_pause_ms,
        cs.limit_hit.as_ref().map(|l| format!("; stopped: {l}")).unwrap_or_default(),
        cs.skipped.as_ref().map(|l| format!("; {l}")).unwrap_or_default()
    )
}

/// Why a suspect should be dead, in words: `superseded` says by which loader.
pub fn reasons_text(reasons: &[String], superseded_by: Option<u32>) -> String {
    let words: Vec<String> = reasons
        .iter()
        .map(|r| match (r.as_str(), superseded_by) {
            ("superseded", Some(n)) => format!("superseded by #{n}"),
            ("growth", _) => "one of a growing number of loaders of its kind".to_string(),
            _ => r.replace('_', " "),
        })
        .collect();
    words.join(", ")
}

/// What a user knows a loader by: its label (name, context path, JSP), else the class it defines.
pub fn loader_name(l: &Loader) -> String {
    let sample = if l.role == LoaderRole::Other { &l.sample_class } else { &None };
    match (&l.label, sample) {
        (Some(n), _) => format!("'{n}'"),
        (None, Some(c)) if l.classes > 1 => format!("(defines {c} and {} more)", l.classes - 1),
        (None, Some(c)) => format!("(defines {c})"),
        (None, None) => String::new(),
    }
}

/// A row of the loader tables: one loader, or many unnamed loaders of one class (the JDK's
/// reflection loaders, a script engine's per-script loaders) in one line.
pub enum LoaderRow<'a> {
    One(&'a Loader),
    Many { class: &'a str, loaders: Vec<&'a Loader> },
}

/// Unnamed loaders of one class are one row from this many on.
const GROUP_FROM: usize = 4;

/// The live loaders, most classes first, unnamed ones of one class grouped; a leak suspect is
/// never inside a group row.
pub fn loader_rows(c: &ClassLoaders) -> Vec<LoaderRow<'_>> {
    let suspects: BTreeSet<u32> = c.leak_suspects.iter().map(|s| s.loader_id).collect();
    let grouped = |l: &&Loader| l.label.is_none() && l.role == LoaderRole::Other && !suspects.contains(&l.id);
    let live: Vec<&Loader> = c.loaders.iter().filter(|l| l.alive).collect();
    let mut by_class: BTreeMap<&str, Vec<&Loader>> = BTreeMap::new();
    for l in live.iter().filter(|l| grouped(l)) {
        by_class.entry(l.class.as_str()).or_default().push(l);
    }
    by_class.retain(|_, v| v.len() >= GROUP_FROM);
    let mut rows: Vec<(u64, u32, LoaderRow)> = live
        .iter()
        .filter(|l| !(grouped(l) && by_class.contains_key(l.class.as_str())))
        .map(|l| (l.classes, l.id, LoaderRow::One(l)))
        .collect();
    for (class, loaders) in by_class {
        let classes = loaders.iter().map(|l| l.classes).sum();
        rows.push((classes, loaders[0].id, LoaderRow::Many { class, loaders }));
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    rows.into_iter().map(|r| r.2).collect()
}

/// What a group row says about its loaders.
pub fn group_note(class: &str, loaders: &[&Loader]) -> String {
    let what = if class.ends_with(".DelegatingClassLoader") {
        "the JDK's reflection accessors, one loader per method called often through reflection".to_string()
    } else {
        let examples: Vec<&str> = loaders.iter().filter_map(|l| l.sample_class.as_deref()).take(2).collect();
        if examples.is_empty() { "defining no class".to_string() } else { format!("defining {}, ...", examples.join(", ")) }
    };
    let first = loaders.iter().map(|l| l.id).min().unwrap_or(0);
    let last = loaders.iter().map(|l| l.id).max().unwrap_or(0);
    format!("{} × {class}: {what} (ids {first}..{last} in the JSON report)", loaders.len())
}

/// Host, main, pod and container in one line (the JVM options stay in the JSON); None when the
/// report has no origin (written before it was recorded).
pub fn origin_line(o: &Origin) -> Option<String> {
    let mut parts = Vec::new();
    if !o.host.is_empty() {
        parts.push(format!("host {}", o.host));
    }
    if let Some(m) = &o.main {
        parts.push(format!("main {m}"));
    }
    match (&o.namespace, &o.pod) {
        (Some(ns), Some(pod)) => parts.push(format!("pod {ns}/{pod}")),
        (None, Some(pod)) => parts.push(format!("pod {pod}")),
        _ => {}
    }
    if let Some(c) = &o.container_id {
        parts.push(format!("container {}", &c[..c.len().min(12)]));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Why an exit report does not accuse the loaders that were closed or stopped during shutdown.
pub fn stopped_at_exit_sentence(c: &ClassLoaders) -> Option<String> {
    let ids = &c.stopped_at_exit;
    if ids.is_empty() {
        return None;
    }
    let (loaders, were) = if ids.len() == 1 { ("Loader", "was") } else { ("Loaders", "were") };
    Some(format!(
        "{loaders} {} {were} closed or stopped during shutdown and not at any earlier report: most likely the \
         application's own shutdown hooks stopped {}, so {} not accused (stopped_at_exit). A report asked for while \
         the application runs (signal, interval) tells whether such a loader leaks.",
        id_list(ids),
        if ids.len() == 1 { "it" } else { "them" },
        if ids.len() == 1 { "it is" } else { "they are" }
    ))
}

/// `s` with every control character (C0, DEL, C1: ESC starts a terminal's escape sequences)
/// written as `\xNN` or `\u{NNNN}`, so class, thread and MBean names, which the application
/// chooses, print as text and never drive the terminal they are read on. `keep_newlines` leaves
/// `\n` alone, for a rendered page whose own lines end with it.
pub fn escape_controls(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    let escaped = |c: char| c.is_control() && !(keep_newlines && c == '\n');
    if !s.chars().any(escaped) {
        return Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            c if !escaped(c) => o.push(c),
            c if (c as u32) < 0x80 => {
                let _ = write!(o, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(o, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(o)
}

/// The page, its control characters escaped (see `escape_controls`).
pub fn render(r: &Report) -> String {
    let page = render_page(r);
    match escape_controls(&page, true) {
        Cow::Borrowed(_) => page,
        Cow::Owned(escaped) => escaped,
    }
}

fn render_page(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "leakagent report #{} ({}) for pid {} at {}, JVM uptime {:.1} s",
        r.sequence,
        r.trigger.as_str(),
        r.pid,
        r.time,
        r.uptime_ms as f64 / 1000.0
    );
    let _ = writeln!(o, "JVM: {} {} ({}){}", r.jvm.vm_name, r.jvm.version, r.jvm.vendor,
        if r.jvm.attached_late { ", agent attached late" } else { "" });
    if let Some(origin) = origin_line(&r.origin) {
        let _ = writeln!(o, "From: {origin}");
    }
    if let Some(d) = &r.trigger_detail {
        let _ = writeln!(o, "Why: {}", d.summary);
    }
    o.push('\n');

    if r.findings.is_empty() {
        o.push_str("Findings: none\n");
    } else {
        let _ = writeln!(o, "Findings ({}):", r.findings.len());
        for f in &r.findings {
            let sev = match f.severity {
                Severity::Critical => "CRITICAL",
                Severity::Warning => "WARNING",
                Severity::Info => "info",
            };
            let _ = writeln!(o, "  [{sev}] {}: {}", f.kind, f.summary);
            let _ = writeln!(o, "      fix: {}", f.fix);
        }
    }
    o.push('\n');

    let c = &r.class_loaders;
    let _ = writeln!(
        o,
        "Class loaders: {} alive, {} dead; classes: {} live, {} loaded, {} unloaded",
        c.loaders_alive, c.loaders_dead, c.classes_live, c.classes_loaded, c.classes_unloaded
    );
    if let Some(n) = &c.unload_note {
        let _ = writeln!(o, "  note: {n}");
    }
    let _ = writeln!(o, "  {:>5}  {:<11}  {:>6}  {:>7}  {:>8}  class and name", "id", "role", "parent", "classes", "unloaded");
    let rows = loader_rows(c);
    let mentioned = mentioned_ids(c);
    let mut left = 0;
    for (n, row) in rows.iter().enumerate() {
        let shown = n < MAX_LOADERS || matches!(row, LoaderRow::One(l) if mentioned.contains(&l.id));
        if !shown {
            left += 1;
            continue;
        }
        match row {
            LoaderRow::One(l) => {
                let _ = writeln!(
                    o,
                    "  {:>5}  {:<11}  {:>6}  {:>7}  {:>8}  {} {}",
                    l.id,
                    l.role.as_str(),
                    l.parent.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                    l.classes,
                    l.classes_unloaded,
                    l.class,
                    loader_name(l)
                );
            }
            LoaderRow::Many { class, loaders } => {
                let _ = writeln!(
                    o,
                    "  {:>5}  {:<11}  {:>6}  {:>7}  {:>8}  {}",
                    "...",
                    "other",
                    "",
                    loaders.iter().map(|l| l.classes).sum::<u64>(),
                    loaders.iter().map(|l| l.classes_unloaded).sum::<u64>(),
                    group_note(class, loaders)
                );
            }
        }
    }
    if left > 0 {
        let _ = writeln!(o, "  ... {left} more rows of live loaders in the JSON report");
    }
    for g in &c.growth {
        let _ = writeln!(
            o,
            "  growing: {} loaders of {} alive ({} dead), each defining {} ({} distinct); {}; leak_loaders={} checks them in every report",
            g.alive,
            g.loader_class,
            g.dead,
            g.example,
            g.distinct_classes,
            g.alive_at_previous_report.map(|p| format!("{p} alive at the previous report")).unwrap_or_else(|| "first seen growing in this report".into()),
            g.leak_loaders
        );
    }
    if !c.duplicate_classes.is_empty() {
        let _ = writeln!(o, "\nClasses defined by more than one live loader ({}):", c.duplicate_classes.len());
        for d in c.duplicate_classes.iter().take(MAX_DUPLICATES) {
            let _ = writeln!(o, "  {}  (loaders {})", d.name, id_list(&d.loaders));
        }
        if c.duplicate_classes.len() > MAX_DUPLICATES {
            let _ = writeln!(o, "  ... {} more in the JSON report", c.duplicate_classes.len() - MAX_DUPLICATES);
        }
    }

    if let Some(n) = stopped_at_exit_sentence(c) {
        let _ = writeln!(o, "\n{n}");
    }
    if !c.leak_suspects.is_empty() {
        let _ = writeln!(o, "\nClass loader leak suspects ({}):", c.leak_suspects.len());
        for g in suspect_groups(c) {
            let s = g[0];
            let _ = writeln!(
                o,
                "  loader {} '{}' ({}), {}, should be dead: {}",
                s.loader_id,
                s.loader_label.as_deref().or(s.loader_name.as_deref()).unwrap_or("-"),
                s.loader_class,
                crate::words::count(s.classes, "class", "classes"),
                reasons_text(&s.reasons, s.superseded_by)
            );
            for (i, h) in s.path.iter().enumerate() {
                let mark = if Some(i) == s.culprit_hop { "=>" } else { "  " };
                let via = match h.field.as_str() {
                    "" => format!(" [{}]", h.kind),
                    f if f.starts_with('[') => format!("{f} [{}]", h.kind),
                    f => format!(".{f} [{}]", h.kind),
                };
                let _ = writeln!(o, "    {mark} {}{} -> {}", h.from, via, h.to);
            }
            let _ = writeln!(o, "     {}", s.explanation);
            // The next few by name and reason (a context and its JSP differ), the rest by id.
            for t in g.iter().skip(1).take(SHOWN_ALSO) {
                let _ = writeln!(
                    o,
                    "     also loader {} '{}' ({}), should be dead: {}",
                    t.loader_id,
                    t.loader_label.as_deref().or(t.loader_name.as_deref()).unwrap_or("-"),
                    t.loader_class,
                    reasons_text(&t.reasons, t.superseded_by)
                );
            }
            if g.len() > 1 + SHOWN_ALSO {
                let ids: Vec<u32> = g[1 + SHOWN_ALSO..].iter().map(|s| s.loader_id).collect();
                let _ = writeln!(o, "     {} more loader(s) with the same culprit and fix: {}", ids.len(), id_list(&ids));
            }
            let _ = writeln!(o, "     fix: {}", s.fix);
        }
    }
    if !c.not_strongly_reachable.is_empty() {
        let _ = writeln!(
            o,
            "Loaders {} should be dead and are alive, but only weak or soft references hold them: not leaks.",
            id_list(&c.not_strongly_reachable)
        );
    }
    if let Some(cs) = &c.chain_search {
        let _ = writeln!(o, "{}", chain_search_sentence(cs));
    }
    zlib_section(&mut o, &r.zlib);
    direct_section(&mut o, &r.direct);
    sampled_section(&mut o, &r.native_sampling);
    memory(&mut o, r);

    let h = &r.agent.health;
    let _ = writeln!(
        o,
        "\nAgent {}: {} events, {} dropped, {} panics, {} errors; {} signals ({} coalesced); {} reports written, {} failed; report built in {} ms",
        r.agent.version, h.events, h.dropped, h.panics, h.errors, h.signals_received,
        h.signal_requests_coalesced, h.reports_written, h.report_failures, r.agent.report_build_ms
    );
    if !h.disabled_features.is_empty() {
        let _ = writeln!(o, "Features switched off after an internal error: {}", h.disabled_features.join(", "));
    }
    o
}


/// The frame a person looks for: the application's, else the first frame below the native.
/// Where a native site is, for people: its application frame, else the frame below the JDK's
/// allocation frames (also used by the HTML page).
pub fn site_place(app: &Option<String>, stack: &[String]) -> String {
    app.clone().or_else(|| stack.get(2).or(stack.first()).cloned()).unwrap_or_default()
}

/// Labels for a table of sites: each site's place, and where several sites share a place, the
/// first frame where their stacks part (`... via X`), or their id when the stacks kept are the same.
pub fn site_labels(sites: &[(u32, &Option<String>, &[String])]) -> Vec<String> {
    let base: Vec<String> = sites.iter().map(|(_, a, s)| site_place(a, s)).collect();
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, b) in base.iter().enumerate() {
        groups.entry(b.as_str()).or_default().push(i);
    }
    let mut out = base.clone();
    for idx in groups.values().filter(|g| g.len() > 1) {
        for &i in idx {
            let stack = sites[i].2;
            let deepest = idx.iter().map(|&j| sites[j].2.len()).max().unwrap_or(0);
            let parts = (0..deepest).find(|&d| idx.iter().any(|&j| j != i && sites[j].2.get(d) != stack.get(d)));
            out[i] = match parts.and_then(|d| stack.get(d)).filter(|f| **f != base[i]) {
                Some(frame) => format!("{} via {frame}", base[i]),
                None => format!("{} [site {}]", base[i], sites[i].0),
            };
        }
    }
    // Sites whose first differing frame is the same (three call paths, two through one caller).
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for l in &out {
        *seen.entry(l.clone()).or_default() += 1;
    }
    for (i, l) in out.iter_mut().enumerate() {
        if seen[l.as_str()] > 1 {
            l.push_str(&format!(" [site {}]", sites[i].0));
        }
    }
    out
}

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

fn zlib_section(o: &mut String, z: &Zlib) {
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

fn direct_section(o: &mut String, d: &Direct) {
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

/// A sampled site in one line: `library!function from Java frame`.
pub fn sampled_label(s: &SampledSite) -> String {
    let place = match (&s.library, &s.function) {
        (Some(l), Some(f)) => format!("{l}!{f}"),
        (Some(l), None) => format!("{l}!?"),
        _ => s.stack.first().cloned().unwrap_or_else(|| "?".into()),
    };
    match &s.java_frame {
        Some(j) => format!("{place} from {j}"),
        None => format!("{place} (no Java frames)"),
    }
}

fn sampled_section(o: &mut String, n: &NativeSampling) {
    if n.tracking == Tracking::Off {
        return;
    }
    let _ = writeln!(
        o,
        "\nSampled native allocations (one sample per {} KiB on average): ~{} live, ~{} allocated; {} samples ({} lost, {} untracked); {} import entries in {} libraries",
        n.interval_bytes / 1024,
        units::mib(n.estimated_live_bytes),
        units::mib(n.estimated_allocated_bytes),
        n.samples,
        n.samples_lost,
        n.samples_untracked,
        n.entries_patched,
        n.libraries_patched
    );
    tracking_line(o, n.tracking, &n.reason);
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
            escape_controls(&sampled_label(s), false),
            if s.growing { " [growing]" } else { "" }
        );
    }
    if n.sites.len() > MAX_NATIVE_SITES {
        let _ = writeln!(o, "  ... {} more sites (with full stacks) in the JSON report", n.sites.len() - MAX_NATIVE_SITES);
    }
}

fn opt_mib(b: Option<u64>) -> String {
    b.map(units::mib_value).unwrap_or_else(|| "-".into())
}

fn memory(o: &mut String, r: &Report) {
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
            let _ = writeln!(o, "    {:>10}  {}", units::mib_value(x.estimated_live_bytes), escape_controls(&x.site, false));
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
    samples(o, r);
    for n in m.notes.iter().chain(a.notes.iter()) {
        let _ = writeln!(o, "  note: {n}");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    #[test]
    fn control_characters_from_the_application_are_escaped() {
        assert_eq!(escape_controls("\u{1b}[31mred\u{7f}\u{9b}2J\tok\n", false), "\\x1b[31mred\\x7f\\u{9b}2J\\x09ok\\x0a");
        assert_eq!(escape_controls("a\nb", true), "a\nb");
        assert!(matches!(escape_controls("plain Jörg 😀", false), Cow::Borrowed(_)));
        let mut r = test_report();
        r.findings.push(Finding {
            severity: Severity::Warning,
            kind: "k".into(),
            summary: "thread \u{1b}]0;owned\u{7}".into(),
            fix: "f".into(),
            subject: Subject::default(),
        });
        let page = render(&r);
        assert!(page.contains("thread \\x1b]0;owned\\x07"), "{page}");
        assert!(!page.chars().any(|c| c.is_control() && c != '\n'));
    }

    fn native_report() -> Report {
        let mut z = Zlib { tracking: Tracking::Full, ..Zlib::default() };
        z.totals.created = 1104;
        z.totals.released_by_gc = 1104;
        z.totals.sites = 1;
        z.sites.push(ZlibSite {
            id: 4,
            kind: "Inflater".into(),
            stack: vec!["java.util.zip.Inflater.init(Native Method)".into()],
            app_frame: Some("x.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:29)".into()),
            created: 1104,
            released_by_gc: 1104,
            ..ZlibSite::default()
        });
        let mut d = Direct {
            tracking: Tracking::JdkPoolOnly,
            reason: Some("the agent was attached to a running JVM".into()),
            jdk_pool: Some(JdkPool { count: 3, total_capacity_bytes: 3_000_009, memory_used_bytes: 3_000_009, max_bytes: None }),
            ..Direct::default()
        };
        d.totals.live_count = 0;
        Report { zlib: z, direct: d, ..test_report() }
    }

    #[test]
    fn native_sections_show_totals_sites_and_why_tracking_is_partial() {
        let t = render(&native_report());
        assert!(t.contains("zlib streams: 1104 created, 0 ended explicitly, 1104 freed only by GC, 0 live"), "{t}");
        assert!(t.contains("x.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:29)"), "{t}");
        assert!(t.contains("tracking: jdk_pool_only (the agent was attached to a running JVM)"), "{t}");
        assert!(t.contains("JDK direct pool: 3 buffers, 2.9 MiB capacity"), "{t}");
        assert!(!t.contains("tracking: full"), "full tracking needs no line");
        assert!(!t.contains("a pool"), "{t}");
    }

    #[test]
    fn a_pool_site_says_so_on_its_row() {
        let mut r = native_report();
        r.zlib.sites[0].pool = Some(crate::model::ZlibPool { size: 102, high_water: 104, reuses: 3988 });
        let t = render(&r);
        assert!(t.contains("x.ZipInflaterInputStream.<init>(ZipInflaterInputStream.java:29) [a pool, not a leak: 102 live, high-water 104, reused 3988 times]"), "{t}");
    }

    const M: u64 = 1 << 20;

    #[test]
    fn memory_section_shows_parts_trim_mappings_and_samples() {
        let mut r = test_report();
        r.memory = Memory {
            rss_bytes: 400 * M,
            summary: "RSS is 400.0 MiB. It is all glibc's.".into(),
            explanation: vec![
                Part { part: "java_heap".into(), bytes: 10 * M, note: "heap".into() },
                Part { part: "malloc_retained".into(), bytes: 390 * M, note: "kept".into() },
            ],
            malloc: Malloc {
                allocator: "glibc".into(),
                version: Some("2.36".into()),
                library: "/lib/x86_64-linux-gnu/libc.so.6".into(),
                source: "mallinfo2".into(),
                in_use_bytes: Some(5 * M),
                free_bytes: Some(900 * M),
                resident_free_bytes: Some(390 * M),
                arenas: Some(9),
                arena_max: Some(16),
                arena_max_source: "glibc default: 8 per core, 2 cores".into(),
                ..Malloc::default()
            },
            regions: vec![Region { kind: "malloc_arena_heaps".into(), count: 9, size_bytes: 576 * M, rss_bytes: 390 * M, recognised_by: "windows".into(), ..Region::default() }],
            trim: Some(Trim { performed: true, call: "malloc_trim(0)".into(), rss_before_bytes: 400 * M, rss_after_bytes: 60 * M, released_bytes: 340 * M, ..Trim::default() }),
            sampler: SamplerInfo { interval_ms: Some(1000), capacity: 600, taken: 3, ..SamplerInfo::default() },
            notes: vec!["a caveat".into()],
            ..Memory::default()
        };
        r.samples = (0..3).map(|i| Sample { t_ms: 1000 * i, rss_bytes: (700 - 300 * i) * M, ..Sample::default() }).collect();
        let t = render(&r);
        assert!(t.contains("Memory: RSS 400.0 MiB; allocator glibc 2.36 (/lib/x86_64-linux-gnu/libc.so.6), 9 arenas, limit 16"), "{t}");
        assert!(t.contains("  RSS is 400.0 MiB. It is all glibc's."));
        assert!(t.contains("  malloc_retained       390.0  kept"), "{t}");
        let mut r = r.clone();
        r.memory.cgroup = Some(Cgroup { version: 2, limit: Some(512 * M), usage: 450 * M, working_set: 420 * M, headroom: Some(92 * M), percent_of_limit: Some(82.0), page_cache: Some(40 * M), kernel: Some(8 * M), ..Cgroup::default() });
        r.trigger_detail = Some(TriggerDetail { summary: "rss_limit crossed: 3.0 GiB".into(), ..TriggerDetail::default() });
        let t2 = render(&r);
        assert!(t2.contains("cgroup v2: limit 512.0 MiB, usage 450.0 MiB, working set 420.0 MiB (usage - inactive page cache) = 82% of the limit, 92.0 MiB headroom; page cache 40.0 MiB, kernel 8.0 MiB"), "{t2}");
        assert!(t2.contains("Why: rss_limit crossed"), "{t2}");
        assert!(t.contains("trim: malloc_trim(0) released 340.0 MiB (RSS 400.0 -> 60.0 MiB"), "{t}");
        assert!(t.contains("malloc_arena_heaps        9        576.0      390.0  windows"), "{t}");
        assert!(t.contains("samples: 3 kept of 3 taken, every 1000 ms"), "{t}");
        assert!(t.contains("peak 700.0 MiB at 0.0 s, 100.0 MiB at 2.0 s"), "{t}");
        assert!(t.contains("note: a caveat"));
    }

    #[test]
    fn loaders_are_named_as_users_know_them_and_reflection_loaders_are_one_row() {
        let mut r = test_report();
        let l = |id: u32, class: &str, label: Option<&str>, sample: Option<&str>, classes: u64| Loader {
            id,
            class: class.into(),
            role: LoaderRole::Other,
            label: label.map(Into::into),
            sample_class: sample.map(Into::into),
            classes,
            alive: true,
            ..Loader::default()
        };
        r.class_loaders.loaders = vec![
            l(5, "org.apache.catalina.loader.ParallelWebappClassLoader", Some("/examples"), Some("async.Stockticker"), 29),
            l(6, "org.apache.jasper.servlet.JasperLoader", Some("/examples/jsp/dates/date.jsp"), Some("org.apache.jsp.jsp.dates.date_jsp"), 1),
            l(7, "groovy.lang.GroovyClassLoader$InnerLoader", None, Some("Script1"), 2),
        ];
        for id in 10..82 {
            r.class_loaders.loaders.push(l(id, "jdk.internal.reflect.DelegatingClassLoader", None, Some("jdk.internal.reflect.GeneratedMethodAccessor1"), 1));
        }
        r.class_loaders.leak_suspects.push(LeakSuspect {
            loader_id: 6,
            loader_label: Some("/examples/jsp/dates/date.jsp".into()),
            reasons: vec!["superseded".into()],
            superseded_by: Some(9),
            ..LeakSuspect::default()
        });
        let t = render(&r);
        assert!(t.contains("org.apache.catalina.loader.ParallelWebappClassLoader '/examples'"), "{t}");
        assert!(t.contains("groovy.lang.GroovyClassLoader$InnerLoader (defines Script1 and 1 more)"), "{t}");
        assert!(t.contains("72 × jdk.internal.reflect.DelegatingClassLoader: the JDK's reflection accessors"), "{t}");
        assert_eq!(t.matches("DelegatingClassLoader").count(), 1, "{t}");
        assert!(t.contains("should be dead: superseded by #9"), "{t}");
    }

    #[test]
    fn sites_at_one_place_are_told_apart() {
        let a = vec!["java.util.zip.Inflater.init(Native Method)".to_string(), "java.util.zip.Inflater.<init>(Inflater.java:131)".into(), "java.util.zip.ZipFile$CleanableResource.getInflater(ZipFile.java:735)".into(), "java.util.zip.ZipFile.getInputStream(ZipFile.java:400)".into(), "jdk.internal.loader.URLClassPath$JarLoader$2.getBytes(URLClassPath.java:900)".into()];
        let mut b = a.clone();
        b[4] = "java.util.jar.JarFile.getManifest(JarFile.java:410)".into();
        let none = None;
        let app = Some("app.Scan.open(Scan.java:9)".to_string());
        let labels = site_labels(&[(1, &none, &a), (2, &none, &b), (3, &app, &a), (4, &none, &a)]);
        assert_eq!(labels[0], "java.util.zip.ZipFile$CleanableResource.getInflater(ZipFile.java:735) via jdk.internal.loader.URLClassPath$JarLoader$2.getBytes(URLClassPath.java:900) [site 1]");
        assert_eq!(labels[1], "java.util.zip.ZipFile$CleanableResource.getInflater(ZipFile.java:735) via java.util.jar.JarFile.getManifest(JarFile.java:410)");
        assert_eq!(labels[2], "app.Scan.open(Scan.java:9)");
        assert_eq!(labels[3], "java.util.zip.ZipFile$CleanableResource.getInflater(ZipFile.java:735) via jdk.internal.loader.URLClassPath$JarLoader$2.getBytes(URLClassPath.java:900) [site 4]");
        let unique: std::collections::HashSet<&String> = labels.iter().collect();
        assert_eq!(unique.len(), labels.len());
    }

    #[test]
    fn loaders_stopped_at_exit_are_explained_not_silently_excused() {
        let mut r = test_report();
        r.class_loaders.stopped_at_exit = vec![7];
        let t = render(&r);
        assert!(t.contains("Loader 7 was closed or stopped during shutdown") && t.contains("it is not accused"), "{t}");
        r.class_loaders.stopped_at_exit = vec![7, 9];
        assert!(crate::html::render(&r).contains("Loaders 7, 9 were closed or stopped during shutdown"));
    }

    #[test]
    fn sampler_off_is_said() {
        let t = render(&test_report());
        assert!(t.contains("samples: sampler off"), "{t}");
    }

    #[test]
    fn an_unlimited_cgroup_is_said_to_be_shared() {
        let c = Cgroup { version: 1, usage: 1500 << 20, working_set: 1000 << 20, page_cache: Some(1400 << 20), kernel: Some(55 << 20), ..Cgroup::default() };
        let line = unlimited_cgroup(&c);
        assert_eq!(
            line,
            "cgroup v1: no memory limit; the cgroup charges 1500.0 MiB to all of its processes, not to this JVM alone (working set 1000.0 MiB, page cache 1400.0 MiB, kernel 55.0 MiB)"
        );
    }
}
