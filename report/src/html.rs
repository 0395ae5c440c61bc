//! A self-contained HTML page: the verdict first (one line per finding, linked to its evidence),
//! then the evidence, with inline SVG charts; no external resource, and one small inline script
//! that sorts tables. The page frame is `template.html`, embedded in the library and
//! filled at its `{{...}}` markers.

use super::model::{LeakSuspect, Memory, PathHop, Report, Severity};
use super::text::{group_note, loader_name, loader_rows, reasons_text, site_labels, LoaderRow};
use super::words::{cost_text, group_cost, metaspace_cell};
use crate::units;
use std::fmt::Write;

const TEMPLATE: &str = include_str!("template.html");
const MAX_LOADERS: usize = 60;
const MAX_DUPLICATES: usize = 60;

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}


pub fn render(r: &Report) -> String {
    let mut b = String::new();
    // The answer first: the verdict with links to each finding's evidence, then the evidence,
    // class loader chains right under the findings.
    header(r, &mut b);
    verdict(r, &mut b);
    toc(r, &mut b);
    findings(r, &mut b);
    leaks(r, &mut b);
    native_sites(r, &mut b);
    memory(r, &mut b);
    crate::chart::samples_charts(&r.samples, &mut b);
    loaders(r, &mut b);
    agent(r, &mut b);
    let title = format!("leakagent report #{} ({}) pid {}", r.sequence, r.trigger.as_str(), r.pid);
    TEMPLATE.replace("{{TITLE}}", &esc(&title)).replace("{{BODY}}", &b)
}

fn header(r: &Report, b: &mut String) {
    let _ = write!(
        b,
        "<h1>leakagent report #{} <span class=meta>({})</span></h1>\n<div class=meta>pid {} &middot; {} &middot; JVM uptime {:.1} s &middot; {} {} ({}){}</div>\n",
        r.sequence,
        esc(r.trigger.as_str()),
        r.pid,
        esc(&r.time),
        r.uptime_ms as f64 / 1000.0,
        esc(&r.jvm.vm_name),
        esc(&r.jvm.version),
        esc(&r.jvm.vendor),
        if r.jvm.attached_late { " &middot; agent attached late" } else { "" }
    );
    if let Some(origin) = super::text::origin_line(&r.origin) {
        let _ = writeln!(b, "<div class=meta>{}</div>", esc(&origin));
    }
    if let Some(d) = &r.trigger_detail {
        let _ = writeln!(b, "<p><b>Why:</b> {}</p>", esc(&d.summary));
    }
}

/// Where a finding's evidence is on the page.
fn evidence_anchor(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "classloader_leak" => ("leaks", "the chain"),
        k if k.starts_with("zlib") => ("zlib", "the sites"),
        k if k.starts_with("direct") || k.starts_with("unsafe") => ("direct", "the sites"),
        _ => ("memory", "the RSS parts"),
    }
}

/// The first sentence of `text` (up to about 180 characters), for one-line verdicts.
fn first_sentence(text: &str) -> String {
    let end = text.find(". ").map_or(text.len(), |i| i + 1);
    let s = &text[..end];
    if s.chars().count() <= 180 {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(179).collect::<String>().trim_end())
    }
}

/// Each finding in one line, linked to its evidence and its fix.
fn verdict(r: &Report, b: &mut String) {
    if r.findings.is_empty() {
        b.push_str("<p class=\"verdict ok\"><b>No findings.</b> Nothing this report measured is leaking by its evidence.</p>\n");
        return;
    }
    let count = |sev| r.findings.iter().filter(|f| f.severity == sev).count();
    let _ = write!(
        b,
        "<p class=verdict><b>{} finding{}</b>: {} critical, {} warning, {} info.</p>\n<ul class=verdict>",
        r.findings.len(),
        if r.findings.len() == 1 { "" } else { "s" },
        count(Severity::Critical),
        count(Severity::Warning),
        count(Severity::Info)
    );
    for (i, f) in r.findings.iter().enumerate() {
        let class = f.severity.name();
        let (anchor, what) = evidence_anchor(&f.kind);
        let _ = write!(
            b,
            "<li class={class}><span class=sev>{class}</span> {} <a href=\"#{anchor}\">{what}</a> &middot; <a href=\"#finding-{i}\">fix</a></li>",
            esc(&first_sentence(&f.summary))
        );
    }
    b.push_str("</ul>\n");
}

/// Links to the sections this page has.
fn toc(r: &Report, b: &mut String) {
    let c = &r.class_loaders;
    let sections = [
        ("findings", "Findings", true),
        ("leaks", "Class loader leaks", !c.leak_suspects.is_empty() || c.chain_search.is_some()),
        ("zlib", "zlib streams", !r.zlib.sites.is_empty() || r.zlib.reason.is_some()),
        ("direct", "Direct memory", !r.direct.sites.is_empty() || r.direct.reason.is_some()),
        ("native-sampling", "Sampled native allocations", !r.native_sampling.sites.is_empty()),
        ("memory", "Memory (RSS)", r.memory.rss_bytes > 0),
        ("over-time", "Over time", r.samples.len() >= 2),
        ("loaders", "Class loaders", true),
        ("agent", "Agent", true),
    ];
    let links: Vec<String> = sections.iter().filter(|s| s.2).map(|(id, name, _)| format!("<a href=\"#{id}\">{name}</a>")).collect();
    let _ = writeln!(b, "<nav class=toc>{}</nav>", links.join(" &middot; "));
}

fn findings(r: &Report, b: &mut String) {
    b.push_str("<h2 id=findings>Findings</h2>\n");
    if r.findings.is_empty() {
        b.push_str("<p class=ok>No findings.</p>\n");
        return;
    }
    for (i, f) in r.findings.iter().enumerate() {
        let class = f.severity.name();
        let _ = writeln!(
            b,
            "<div class=\"finding {class}\" id=finding-{i}><span class=sev>{class}</span> <code>{}</code><div>{}</div><div class=fix><b>Fix:</b> {}</div></div>",
            esc(&f.kind),
            esc(&f.summary),
            esc(&f.fix)
        );
    }
}

const MAX_SITES: usize = 15;

/// One collapsible stack: where the site is in the summary, the whole stack inside.
fn stack_cell(label: &str, stack: &[String]) -> String {
    let head = esc(label);
    let frames: Vec<String> = stack.iter().map(|f| esc(f)).collect();
    format!("<details><summary class=mono>{head}</summary><pre class=mono>{}</pre></details>", frames.join("\n"))
}

/// One row of a native site table: kind, place, four counts, live MiB.
fn site_row(b: &mut String, kind: &str, label: &str, stack: &[String], counts: [u64; 4], live_bytes: u64) {
    let _ = write!(b, "<tr><td>{kind}</td><td>{}</td>", stack_cell(label, stack));
    for c in counts {
        let _ = write!(b, "<td class=n>{c}</td>");
    }
    let _ = writeln!(b, "<td class=n>{}</td></tr>", units::mib_value(live_bytes));
}

/// The zlib and direct/Unsafe sites, worst first.
fn native_sites(r: &Report, b: &mut String) {
    let z = &r.zlib;
    if !z.sites.is_empty() || z.reason.is_some() {
        let t = &z.totals;
        let _ = writeln!(
            b,
            "<h2 id=zlib>zlib streams</h2><p>{} created: {} ended explicitly, {} freed only by GC, {} live (~{} MiB).{}</p>",
            t.created,
            t.ended_explicitly,
            t.released_by_gc,
            t.live,
            units::mib_value(t.live_bytes_estimate),
            z.reason.as_ref().map(|x| format!(" <span class=small>{}</span>", esc(x))).unwrap_or_default()
        );
        b.push_str("<table class=sortable><tr><th>kind</th><th>created at</th><th class=n>created</th><th class=n>ended</th><th class=n>by GC</th><th class=n>live</th><th class=n>live MiB</th></tr>\n");
        let shown: Vec<_> = z.sites.iter().take(MAX_SITES).map(|s| (s.id, &s.app_frame, s.stack.as_slice())).collect();
        for (site, label) in z.sites.iter().zip(site_labels(&shown)) {
            let label = format!("{label}{}", crate::text::pool_note(site.pool.as_ref()));
            site_row(b, site.kind.as_str(), &label, &site.stack, [site.created, site.ended_explicitly, site.released_by_gc, site.live], site.live_bytes_estimate);
        }
        b.push_str("</table>\n");
    }
    let d = &r.direct;
    if !d.sites.is_empty() || d.reason.is_some() {
        let _ = writeln!(
            b,
            "<h2 id=direct>Direct and Unsafe memory</h2><p>{}</p>",
            d.reason.as_ref().map(|x| esc(x)).unwrap_or_else(|| "Every DirectByteBuffer and Unsafe block, by the Java stack that allocated it.".into())
        );
        if !d.sites.is_empty() {
            b.push_str("<table class=sortable><tr><th>kind</th><th>allocated at</th><th class=n>allocations</th><th class=n>frees</th><th class=n>by GC</th><th class=n>live</th><th class=n>live MiB</th></tr>\n");
            let shown: Vec<_> = d.sites.iter().take(MAX_SITES).map(|s| (s.id, &s.app_frame, s.stack.as_slice())).collect();
            for (site, label) in d.sites.iter().zip(site_labels(&shown)) {
                site_row(b, site.kind.as_str(), &label, &site.stack, [site.allocations, site.frees, site.freed_by_gc, site.live_count], site.live_bytes);
            }
            b.push_str("</table>\n");
        }
    }
    let n = &r.native_sampling;
    if !n.sites.is_empty() {
        let _ = writeln!(
            b,
            "<h2 id=native-sampling>Sampled native allocations</h2><p>malloc and its kin in the JVM and its libraries, {}: ~{} MiB live, ~{} MiB allocated, {} samples.{}</p>",
            esc(&crate::words::sampling_interval_text(n)),
            units::mib_value(n.estimated_live_bytes),
            units::mib_value(n.estimated_allocated_bytes),
            n.samples,
            n.reason.iter().chain(&n.tls_note).map(|x| format!(" <span class=small>{}</span>", esc(x))).collect::<String>()
        );
        b.push_str("<table class=sortable><tr><th>library</th><th>allocated at</th><th class=n>samples</th><th class=n>live samples</th><th class=n>alloc MiB</th><th class=n>growth MiB</th><th class=n>live MiB</th></tr>\n");
        for s in n.sites.iter().take(MAX_SITES) {
            let label = format!("{}{}", crate::words::sampled_label(s), if s.growing { " [growing]" } else { "" });
            let _ = writeln!(
                b,
                "<tr><td>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{:+.1}</td><td class=n>{}</td></tr>",
                esc(s.library.as_deref().unwrap_or("?")),
                stack_cell(&label, &s.stack),
                s.samples,
                s.live_samples,
                units::mib_value(s.allocated_bytes),
                s.growth_bytes as f64 / (1024.0 * 1024.0),
                units::mib_value(s.estimated_live_bytes)
            );
        }
        b.push_str("</table>\n");
    }
}

const PALETTE: [&str; 10] =
    ["#4e79a7", "#a0cbe8", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#bab0ac"];

fn memory(r: &Report, b: &mut String) {
    let m = &r.memory;
    if m.rss_bytes == 0 {
        return;
    }
    let _ = write!(b, "<h2 id=memory>Memory: RSS {} MiB</h2>\n<p>{}</p>\n", units::mib_value(m.rss_bytes), esc(&m.summary));
    if let Some(c) = m.cgroup.as_ref().filter(|c| c.limit.is_none()) {
        let _ = writeln!(b, "<p>{}</p>", esc(&crate::text::unlimited_cgroup(c)));
    } else if let Some(c) = &m.cgroup {
        let _ = writeln!(
            b,
            "<p>cgroup v{}: limit {}, working set {} MiB (usage {} MiB minus inactive page cache){}; page cache {} MiB, kernel {} MiB</p>",
            c.version,
            c.limit.map(|l| format!("{} MiB", units::mib_value(l))).unwrap_or_else(|| "none".into()),
            units::mib_value(c.working_set),
            units::mib_value(c.usage),
            c.headroom.map(|h| format!(", {} MiB headroom", units::mib_value(h))).unwrap_or_default(),
            c.page_cache.map(units::mib_value).unwrap_or_else(|| "-".into()),
            c.kernel.map(units::mib_value).unwrap_or_else(|| "-".into()),
        );
    }
    rss_bar(m, b);
    allocator(m, b);
}

/// One stacked bar of where RSS is, its legend and the parts' table.
fn rss_bar(m: &Memory, b: &mut String) {
    let total = m.rss_bytes.max(1) as f64;
    let (w, h) = (1100.0, 34.0);
    let mut x = 0.0;
    let _ = write!(b, "<svg width=\"100%\" viewBox=\"0 0 {w} {h}\" role=img aria-label=\"RSS by part\">");
    for (i, p) in m.explanation.iter().enumerate() {
        let pw = p.bytes as f64 / total * w;
        if pw > 0.0 {
            let _ = write!(
                b,
                "<rect x=\"{x:.1}\" y=\"0\" width=\"{pw:.1}\" height=\"{h}\" fill=\"{}\"><title>{}: {} MiB</title></rect>",
                PALETTE[i % PALETTE.len()],
                esc(p.part.as_str()),
                units::mib_value(p.bytes)
            );
        }
        x += pw;
    }
    b.push_str("</svg>\n<div class=legend>");
    for (i, p) in m.explanation.iter().enumerate() {
        let _ = write!(b, "<span><i style=\"background:{}\"></i>{} {} MiB</span>", PALETTE[i % PALETTE.len()], esc(p.part.as_str()), units::mib_value(p.bytes));
    }
    b.push_str("</div>\n<table><tr><th>part</th><th class=n>MiB</th><th>what it is</th></tr>\n");
    for p in &m.explanation {
        let _ = writeln!(b, "<tr><td>{}</td><td class=n>{}</td><td>{}</td></tr>", esc(p.part.as_str()), units::mib_value(p.bytes), esc(&p.note));
    }
    b.push_str("</table>\n");
    if let Some(s) = &m.malloc_split {
        b.push_str("<h3>malloc_in_use by sampled site (estimates)</h3><table><tr><th class=n>MiB</th><th>site</th></tr>\n");
        for x in &s.sites {
            let _ = writeln!(b, "<tr><td class=n>{}</td><td class=mono>{}</td></tr>", units::mib_value(x.estimated_live_bytes), esc(&x.site));
        }
        let _ = writeln!(b, "<tr><td class=n>{}</td><td>the rest</td></tr></table>", units::mib_value(s.rest_bytes));
    }
}

/// The allocator, a trim at this report, the mappings, NMT and the notes.
fn allocator(m: &Memory, b: &mut String) {
    let a = &m.malloc;
    let _ = writeln!(
        b,
        "<h3>Allocator: {} {}</h3><p class=small>in use {} MiB, free {} MiB ({} MiB of it resident), arenas {}, limit {} ({}); source {}</p>",
        esc(a.allocator.as_str()),
        esc(a.version.as_deref().unwrap_or("")),
        a.in_use_bytes.map(units::mib_value).unwrap_or_else(|| "?".into()),
        a.free_bytes.map(units::mib_value).unwrap_or_else(|| "?".into()),
        a.resident_free_bytes.map(units::mib_value).unwrap_or_else(|| "?".into()),
        a.arenas.map(|n| n.to_string()).unwrap_or_else(|| "?".into()),
        a.arena_max.map(|n| n.to_string()).unwrap_or_else(|| "?".into()),
        esc(&a.arena_max_source),
        esc(&a.source)
    );
    if let Some(t) = &m.trim {
        let _ = writeln!(
            b,
            "<p>Trim at this report ({}): RSS {} &rarr; {} MiB, {} MiB returned.</p>",
            esc(&t.call),
            units::mib_value(t.rss_before_bytes),
            units::mib_value(t.rss_after_bytes),
            units::mib_value(t.released_bytes)
        );
    }
    b.push_str("<h3>Mappings</h3><table class=sortable><tr><th>kind</th><th class=n>count</th><th class=n>size MiB</th><th class=n>RSS MiB</th><th>recognised by</th></tr>\n");
    for g in &m.regions {
        let _ = writeln!(
            b,
            "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=small>{}</td></tr>",
            esc(&g.kind),
            g.count,
            units::mib_value(g.size_bytes),
            units::mib_value(g.rss_bytes),
            esc(&g.recognised_by)
        );
    }
    b.push_str("</table>\n");
    if let Some(n) = &m.nmt {
        let _ = writeln!(b, "<h3>NMT ({})</h3><p class=small>committed {} MiB, reserved {} MiB</p><table><tr><th>category</th><th class=n>committed MiB</th><th class=n>malloc MiB</th></tr>", esc(&n.mode), units::mib_value(n.committed_bytes), units::mib_value(n.reserved_bytes));
        for c in &n.categories {
            let _ = writeln!(b, "<tr><td>{}</td><td class=n>{}</td><td class=n>{}</td></tr>", esc(&c.name), units::mib_value(c.committed_bytes), units::mib_value(c.malloc_bytes));
        }
        b.push_str("</table>\n");
    }
    for n in &m.notes {
        let _ = writeln!(b, "<p class=small>Note: {}</p>", esc(n));
    }
}

fn leaks(r: &Report, b: &mut String) {
    let c = &r.class_loaders;
    if c.leak_suspects.is_empty() && c.chain_search.is_none() {
        return;
    }
    let _ = writeln!(b, "<h2 id=leaks>Class loader leak suspects ({})</h2>", c.leak_suspects.len());
    // One chain per cause, as in the text: 1,500 scripts pinned by one list are one section,
    // with its fix once.
    for g in super::text::suspect_groups(c) {
        let s = g[0];
        suspect_chain(s, c.metaspace_estimated(), b);
        if g.len() > 1 {
            // The next three with their names and reasons (a context and its JSP differ), then ids.
            let others: Vec<String> = g[1..]
                .iter()
                .enumerate()
                .map(|(n, t)| if n >= 3 { t.loader_id.to_string() } else { format!("{} <code>{}</code> ({})", t.loader_id, esc(t.loader_label.as_deref().or(t.loader_name.as_deref()).unwrap_or("-")), esc(&reasons_text(&t.reasons, t.superseded_by))) })
                .collect();
            let _ = writeln!(b, "<p>{} more loader(s) with the same culprit and fix: {}</p>", others.len(), others.join(", "));
            let _ = writeln!(b, "<p>Together: {}.</p>", group_cost(&g, c.metaspace_estimated()));
        }
        if let Some(n) = &s.retained_heap_note {
            let _ = writeln!(b, "<p class=small>Retained heap not computed: {}</p>", esc(n));
        }
        let _ = writeln!(b, "<p class=fix><b>Fix:</b> {}</p>", esc(&s.fix));
    }
    if let Some(cs) = &c.chain_search {
        let _ = writeln!(b, "<p class=small>{}</p>", esc(&super::text::chain_search_sentence(cs)));
    }
}

/// One suspect: what it is, its chain from the holder a user can change (the hops from the GC
/// root down to it folded, one click away), and the explanation.
fn suspect_chain(s: &LeakSuspect, estimated: bool, b: &mut String) {
    let _ = writeln!(
        b,
        "<h3>Loader {} <code>{}</code> ({}), {} &mdash; should be dead: {}</h3>",
        s.loader_id,
        esc(s.loader_label.as_deref().or(s.loader_name.as_deref()).unwrap_or("-")),
        esc(&s.loader_class),
        cost_text(s.classes, s.metaspace_bytes, s.retained_heap_bytes, estimated),
        esc(&reasons_text(&s.reasons, s.superseded_by))
    );
    let hop = |i: usize, h: &PathHop| {
        let via = match h.field.as_str() {
            "" => String::new(),
            f if f.starts_with('[') => esc(f),
            f => format!(".{}", esc(f)),
        };
        format!(
            "<li{}><span class=mono>{}{}</span> <span class=small>[{}]</span> &rarr; <span class=mono>{}</span></li>",
            if Some(i) == s.culprit_hop { " class=culprit" } else { "" },
            esc(&h.from),
            via,
            esc(h.kind.as_str()),
            esc(&h.to)
        )
    };
    let fold = s.culprit_hop.filter(|&c| c >= 2 && c < s.path.len()).unwrap_or(0);
    if fold > 0 {
        let root: String = (0..fold).map(|i| hop(i, &s.path[i])).collect();
        let _ = write!(
            b,
            "<details class=root><summary class=small>{fold} hops from the GC root ({}) to the holder</summary><ol class=chain start=0>{root}</ol></details>",
            esc(s.path[0].kind.as_str())
        );
    }
    let _ = write!(b, "<ol class=chain start={fold}>");
    for (i, h) in s.path.iter().enumerate().skip(fold) {
        b.push_str(&hop(i, h));
    }
    b.push_str("</ol>\n");
    let _ = writeln!(b, "<p>{}</p>", esc(&s.explanation));
}

fn loaders(r: &Report, b: &mut String) {
    let c = &r.class_loaders;
    let _ = writeln!(
        b,
        "<h2 id=loaders>Class loaders</h2><p>{} alive, {} dead; classes {} live, {} loaded, {} unloaded.</p>",
        c.loaders_alive, c.loaders_dead, c.classes_live, c.classes_loaded, c.classes_unloaded
    );
    if let Some(n) = &c.unload_note {
        let _ = writeln!(b, "<p class=small>Note: {}</p>", esc(n));
    }
    if let Some(n) = super::text::stopped_at_exit_sentence(c) {
        let _ = writeln!(b, "<p>{}</p>", esc(&n));
    }
    for g in &c.growth {
        let _ = writeln!(
            b,
            "<p>Growing: {} loaders of <code>{}</code> alive ({} dead), each defining <code>{}</code>; {}; <code>leak_loaders={}</code> checks them in every report.</p>",
            g.alive,
            esc(&g.loader_class),
            g.dead,
            esc(&g.example),
            g.alive_at_previous_report.map(|p| format!("{p} alive at the previous report")).unwrap_or_else(|| "first seen growing in this report".into()),
            esc(&g.leak_loaders)
        );
    }
    b.push_str("<table class=sortable><tr><th class=n>id</th><th>role</th><th>class</th><th>name</th><th class=n>parent</th><th class=n>classes</th><th class=n>unloaded</th><th class=n>metaspace MiB</th><th>generation</th><th>suspect</th></tr>\n");
    let suspect = |id: u32| c.leak_suspects.iter().any(|s| s.loader_id == id);
    let rows = loader_rows(c);
    for row in rows.iter().take(MAX_LOADERS) {
        match row {
            LoaderRow::One(l) => {
                let _ = writeln!(
                    b,
                    "<tr{}><td class=n>{}</td><td>{}</td><td class=mono>{}</td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td><td>{}</td></tr>",
                    if suspect(l.id) { " class=suspect" } else { "" },
                    l.id,
                    l.role.as_str(),
                    esc(&l.class),
                    esc(&l.label.clone().unwrap_or_else(|| loader_name(l))),
                    l.parent.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
                    l.classes,
                    l.classes_unloaded,
                    metaspace_cell(&[l], c.metaspace_estimated()),
                    match (l.generation, l.superseded_by) {
                        (Some(g), Some(by)) => format!("{g}, superseded by #{by}"),
                        (Some(g), None) => g.to_string(),
                        _ => String::new(),
                    },
                    if suspect(l.id) { "<a href=\"#leaks\">suspect</a>" } else { "" }
                );
            }
            LoaderRow::Many { class, loaders } => {
                let _ = writeln!(
                    b,
                    "<tr><td class=n>&hellip;</td><td>other</td><td colspan=3>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td></td><td>{}</td></tr>",
                    esc(&group_note(class, loaders)),
                    loaders.iter().map(|l| l.classes).sum::<u64>(),
                    loaders.iter().map(|l| l.classes_unloaded).sum::<u64>(),
                    metaspace_cell(loaders, c.metaspace_estimated()),
                    match loaders.iter().filter(|l| suspect(l.id)).count() {
                        0 => String::new(),
                        n => format!("<a href=\"#leaks\">{n} suspects</a>"),
                    }
                );
            }
        }
    }
    b.push_str("</table>\n");
    if rows.len() > MAX_LOADERS {
        let _ = writeln!(b, "<p class=small>{} more rows of live loaders in the JSON report.</p>", rows.len() - MAX_LOADERS);
    }
    if !c.duplicate_classes.is_empty() {
        let _ = write!(b, "<h3>Classes defined by more than one live loader ({})</h3><ul>", c.duplicate_classes.len());
        for d in c.duplicate_classes.iter().take(MAX_DUPLICATES) {
            let ids: Vec<String> = d.loaders.iter().map(|i| i.to_string()).collect();
            let _ = write!(b, "<li><code>{}</code> <span class=small>(loaders {})</span></li>", esc(&d.name), ids.join(", "));
        }
        b.push_str("</ul>\n");
    }
}

fn agent(r: &Report, b: &mut String) {
    let h = &r.agent.health;
    let _ = writeln!(
        b,
        "<h2 id=agent>Agent</h2><p class=small>leakagent {} &middot; options <code>{}</code> &middot; {} events, {} dropped, {} panics, {} errors &middot; {} signals ({} coalesced) &middot; report built in {} ms{}</p>",
        esc(&r.agent.version),
        esc(&r.agent.options),
        h.events,
        h.dropped,
        h.panics,
        h.errors,
        h.signals_received,
        h.signal_requests_coalesced,
        r.agent.report_build_ms,
        if h.disabled_features.is_empty() {
            String::new()
        } else {
            format!(" &middot; switched off after an internal error: {}", esc(&h.disabled_features.join(", ")))
        }
    );
}

#[cfg(test)]
mod tests;
