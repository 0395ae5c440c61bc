//! The class loader section of the text page: counts, the live loader table, growth, duplicate
//! classes and the leak suspects with their chains (the helpers are shared with the HTML page).

use super::reasons_text;
use crate::model::{ChainSearch, ClassLoaders, LeakSuspect, Loader, LoaderRole};
use crate::words::{cost_text, group_cost, metaspace_cell};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

const MAX_LOADERS: usize = 40;
const MAX_DUPLICATES: usize = 40;
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

/// Counts, the live loaders, growth, duplicate classes, the suspects and the chain search.
pub(super) fn section(o: &mut String, c: &ClassLoaders) {
    let _ = writeln!(
        o,
        "Class loaders: {} alive, {} dead; classes: {} live, {} loaded, {} unloaded",
        c.loaders_alive, c.loaders_dead, c.classes_live, c.classes_loaded, c.classes_unloaded
    );
    if let Some(n) = &c.unload_note {
        let _ = writeln!(o, "  note: {n}");
    }
    table(o, c);
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
    suspects(o, c);
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
}

/// The live loaders, biggest first; past MAX_LOADERS only those the text names elsewhere.
fn table(o: &mut String, c: &ClassLoaders) {
    let _ = writeln!(
        o,
        "  {:>5}  {:<11}  {:>6}  {:>7}  {:>8}  {:>9}  class and name",
        "id", "role", "parent", "classes", "unloaded", "meta MiB"
    );
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
                    "  {:>5}  {:<11}  {:>6}  {:>7}  {:>8}  {:>9}  {} {}",
                    l.id,
                    l.role.as_str(),
                    l.parent.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                    l.classes,
                    l.classes_unloaded,
                    metaspace_cell(&[l], c.metaspace_estimated()),
                    l.class,
                    loader_name(l)
                );
            }
            LoaderRow::Many { class, loaders } => {
                let _ = writeln!(
                    o,
                    "  {:>5}  {:<11}  {:>6}  {:>7}  {:>8}  {:>9}  {}",
                    "...",
                    "other",
                    "",
                    loaders.iter().map(|l| l.classes).sum::<u64>(),
                    loaders.iter().map(|l| l.classes_unloaded).sum::<u64>(),
                    metaspace_cell(loaders, c.metaspace_estimated()),
                    group_note(class, loaders)
                );
            }
        }
    }
    if left > 0 {
        let _ = writeln!(o, "  ... {left} more rows of live loaders in the JSON report");
    }
}

/// One paragraph per cause: the first suspect's chain, the others of its cause, the fix.
fn suspects(o: &mut String, c: &ClassLoaders) {
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
                cost_text(s.classes, s.metaspace_bytes, s.retained_heap_bytes, c.metaspace_estimated()),
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
            if g.len() > 1 {
                let _ = writeln!(o, "     together: {}", group_cost(&g, c.metaspace_estimated()));
            }
            if let Some(n) = &s.retained_heap_note {
                let _ = writeln!(o, "     retained heap not computed: {n}");
            }
            let _ = writeln!(o, "     fix: {}", s.fix);
        }
    }
}
