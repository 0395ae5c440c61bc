//! Class loader leak suspects: loaders that should be dead and are not, after a forced GC, each
//! with the reference chain that pins it and what the culprit catalogue says about it.

use super::chain_verify::{self, ClassIndex};
use super::chains::{self, Limits, RawHop, TAG_SELF_THREAD};
use super::classes::{tag_kind, tag_loader, ClassTracker, TAG_ARRAY_CLASS, TAG_CLASS, TAG_LOADER};
use super::dump_search::{self, Setup};
use super::heapdump;
use super::hprof::Dump;
use crate::budget::Budget;
use crate::culprits;
use crate::options::ChainMethod;
use parking_lot::Mutex;
use std::path::PathBuf;
use std::time::Instant;
use crate::ffi::jni::{Env, Local};
use crate::ffi::jvmti::{signature_to_name, Jvmti};
use crate::ffi::sys::*;
use leakagent_report::model::{ChainSearch, ClassLoaders, LeakSuspect, Loader, LoaderGrowth, LoaderRole, PathHop, Pause};
use leakagent_report::text::reasons_text;
use jni::sys::{jclass, jlong};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What makes a loader a suspect, and how far to look for its chain.
#[derive(Clone, Debug, PartialEq)]
pub struct LeakOptions {
    pub chains: bool,
    pub limits: Limits,
    /// Globs on loader class or name: loaders that match must not be alive.
    pub patterns: Vec<String>,
    pub method: ChainMethod,
    /// `chain_dump_dir`, the reports' directory and `java.io.tmpdir`: where a dump may go.
    pub dump_dir: Option<String>,
    pub report_dir: PathBuf,
    pub tmpdir: Option<String>,
    /// Heap in use after the report's GC, to size a dump.
    pub heap_used: Option<u64>,
}

/// The chains of the previous report, by loader id: a report first checks whether they still
/// hold (no pause) and searches only for the others.
#[derive(Default)]
pub struct KnownChains(Mutex<HashMap<u32, Vec<PathHop>>>);

/// Tomcat `LifecycleState`s of a loader whose application is no longer running.
const STOPPED_STATES: &[&str] = &["STOPPING_PREP", "STOPPING", "STOPPED", "DESTROYING", "DESTROYED", "FAILED"];

/// Why `l` should be dead; empty when it may live.
pub fn reasons(l: &Loader, patterns: &[String]) -> Vec<String> {
    let mut r = Vec::new();
    if !l.alive || l.role != LoaderRole::Other {
        return r;
    }
    if l.superseded_by.is_some() {
        r.push("superseded".to_string());
    }
    if l.closed == Some(true) {
        r.push("closed".to_string());
    }
    if l.state.as_deref().is_some_and(|s| STOPPED_STATES.contains(&s)) {
        r.push("container_stopped".to_string());
    }
    if patterns.iter().any(|p| glob(p, &l.class) || l.name.as_deref().is_some_and(|n| glob(p, n))) {
        r.push("pattern".to_string());
    }
    r
}

/// `*` matches any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Loaders of one class defining classes of one shape are a growth group when at least this many
/// of them are alive after the GC, and more than at the previous report. A web application has
/// one JasperLoader per JSP, each with its own page's class; a script engine that gives every
/// script its own loader has hundreds defining `Script1` (a new GroovyShell per script) or
/// `Script1`, `Script2`, ... (one shell).
pub const GROWTH_MIN_ALIVE: u64 = 100;

/// The JDK's per-method reflection loaders: many, alive with the methods they serve, never the
/// application's to fix.
pub fn reflection_loader(class: &str) -> bool {
    matches!(class, "jdk.internal.reflect.DelegatingClassLoader" | "sun.reflect.DelegatingClassLoader")
}

/// A class name with every run of digits as `#`: `Script12$_run_closure1` is `Script#$_run_closure#`.
pub fn shape(class: &str) -> String {
    let mut out = String::with_capacity(class.len());
    for c in class.chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('#') {
                out.push('#');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Growth evidence: loaders of one class that each define a class of the same shape (a script
/// engine's `Script1`, or `Script12`, `Script13`, ...) and keep being created without dying.
/// Returns the groups that qualify (many alive after the GC, more than at the previous report)
/// and, for the next report, how many of every sizeable group are alive. One JSP per loader is
/// not a growth group: JSP classes are named after their pages.
pub fn growth(loaders: &[Loader], previous: &HashMap<String, u64>) -> (Vec<LoaderGrowth>, HashMap<String, u64>) {
    let mut groups: BTreeMap<String, Vec<&Loader>> = BTreeMap::new();
    for l in loaders.iter().filter(|l| l.role == LoaderRole::Other && !reflection_loader(&l.class)) {
        if let Some(c) = &l.sample_class {
            groups.entry(format!("{}|{}", l.class, shape(c))).or_default().push(l);
        }
    }
    let mut out = Vec::new();
    let mut counts = HashMap::new();
    for (key, members) in groups {
        let alive = members.iter().filter(|l| l.alive).count() as u64;
        if alive < GROWTH_MIN_ALIVE {
            continue;
        }
        counts.insert(key.clone(), alive);
        let before = previous.get(&key).copied();
        if before.is_some_and(|b| alive <= b) {
            continue;
        }
        let distinct: HashSet<&str> = members.iter().filter_map(|l| l.sample_class.as_deref()).collect();
        let first = members[0];
        let newest = members.iter().filter(|l| l.alive).max_by_key(|l| l.id).unwrap_or(&first);
        out.push(LoaderGrowth {
            loader_class: first.class.clone(),
            defines: shape(first.sample_class.as_deref().unwrap_or_default()),
            example: newest.sample_class.clone().unwrap_or_default(),
            alive,
            dead: members.len() as u64 - alive,
            distinct_classes: distinct.len() as u64,
            alive_at_previous_report: before,
            first_seen_ms: members.iter().map(|l| l.first_seen_ms).min().unwrap_or(0),
            last_seen_ms: members.iter().map(|l| l.first_seen_ms).max().unwrap_or(0),
            leak_loaders: first.class.clone(),
        });
    }
    (out, counts)
}

/// The ids of `id` and of every loader below it (its children's, their children's, ...): what an
/// application's loader and the loaders it creates (JSPs, scripts) define is the application's.
fn family(loaders: &[Loader], id: u32) -> HashSet<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for l in loaders {
        if let Some(p) = l.parent.filter(|p| *p != l.id) {
            children.entry(p).or_default().push(l.id);
        }
    }
    let mut out = HashSet::from([id]);
    let mut todo = vec![id];
    while let Some(n) = todo.pop() {
        for &c in children.get(&n).map(Vec::as_slice).unwrap_or_default() {
            if out.insert(c) {
                todo.push(c);
            }
        }
    }
    out
}

fn label(l: &Loader) -> String {
    match (&l.label, &l.sample_class) {
        (Some(n), _) => format!("class loader '{n}' ({})", l.class),
        (None, Some(c)) => format!("class loader #{} ({}, defines {c})", l.id, l.class),
        (None, None) => format!("class loader #{} ({})", l.id, l.class),
    }
}

/// What the chain search found for the suspects, in suspect order.
struct Search {
    paths: Vec<Vec<PathHop>>,
    /// For a chain rooted in a stack frame, the loader of the frame's class.
    root_loaders: Vec<Option<u32>>,
    /// Proven to have no strong path from a GC root (a complete search found none, or found
    /// only paths through weak or soft references).
    unreachable: Vec<bool>,
    stats: ChainSearch,
    /// Why a suspect has no chain, when the search did not decide it.
    why_none: String,
}

/// Fills `growth`, `leak_suspects` and `chain_search` of `cl`.
pub fn analyse(
    jvmti: &Jvmti,
    env: &Env,
    tracker: &ClassTracker,
    cl: &mut ClassLoaders,
    opts: &LeakOptions,
    budget: &Budget,
    known: &KnownChains,
) {
    // Counts of loaders that garbage has not left are only evidence after a GC.
    if cl.gc_before_report {
        let mut seen = tracker.growth_seen.lock();
        let (groups, counts) = growth(&cl.loaders, &seen);
        *seen = counts;
        cl.growth = groups;
    }
    // Growing loaders are checked only when chains are searched: most of a script engine's
    // loaders are held softly by its caches, and only a chain tells those from the pinned ones.
    let growing: HashSet<u32> = if opts.chains {
        let kinds: HashSet<(&str, String)> = cl.growth.iter().map(|g| (g.loader_class.as_str(), g.defines.clone())).collect();
        cl.loaders
            .iter()
            .filter(|l| l.alive && l.sample_class.as_deref().is_some_and(|c| kinds.contains(&(l.class.as_str(), shape(c)))))
            .map(|l| l.id)
            .collect()
    } else {
        HashSet::new()
    };
    let mut suspects: Vec<(usize, Vec<String>)> = cl
        .loaders
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut r = reasons(l, &opts.patterns);
            if growing.contains(&l.id) {
                r.push("growth".into());
            }
            (i, r)
        })
        .filter(|(_, r)| !r.is_empty())
        .collect();
    // Shutdown hooks close and stop the application's own current loaders before VM death: at
    // exit, a loader that is only closed or stopped, and was not yet when an earlier report
    // looked, was most likely stopped by the exit itself. It is listed, not accused.
    let stopped_only = |r: &[String]| r.iter().all(|x| x == "closed" || x == "container_stopped");
    {
        let mut earlier = tracker.stopped_earlier.lock();
        if budget.is_exit() {
            suspects.retain(|(i, r)| {
                let id = cl.loaders[*i].id;
                let excused = stopped_only(r) && !earlier.contains(&id);
                if excused {
                    cl.stopped_at_exit.push(id);
                }
                !excused
            });
        } else {
            let alive: HashSet<u32> = cl.loaders.iter().filter(|l| l.alive).map(|l| l.id).collect();
            earlier.retain(|id| alive.contains(id));
            earlier.extend(suspects.iter().filter(|(_, r)| r.iter().any(|x| x == "closed" || x == "container_stopped")).map(|(i, _)| cl.loaders[*i].id));
        }
    }
    if suspects.is_empty() {
        known.0.lock().clear();
        return;
    }
    let ids: Vec<u32> = suspects.iter().map(|(i, _)| cl.loaders[*i].id).collect();
    let search = if !opts.chains {
        None
    } else if budget.stop_now() {
        Some(Search::skipped(ids.len(), "no time was left before the JVM exits (exit_timeout)".into()))
    } else {
        let frame = cl.loaders.len().min(1 << 20) as i32 + 512;
        Some(env.with_local_frame(frame, || search(jvmti, env, tracker, cl, &ids, opts, budget, known)))
    };
    let mut mbeans: Option<HashMap<u32, Vec<String>>> = None;
    for (n, (i, why)) in suspects.iter().enumerate() {
        let l = &cl.loaders[*i];
        let path = search.as_ref().map(|s| s.paths[n].clone()).unwrap_or_default();
        let root_loader = search.as_ref().and_then(|s| s.root_loaders[n]);
        if path.is_empty() && search.as_ref().is_some_and(|s| s.unreachable[n]) {
            cl.not_strongly_reachable.push(l.id);
            continue;
        }
        let inside = family(&cl.loaders, l.id);
        let culprit = culprits::culprit_hop(&path, |id| inside.contains(&id));
        let (culprit_id, explanation, fix) = if path.is_empty() {
            let why_none = match &search {
                None => "no chain search for this report (chains=off, or chains=demand and a periodic report)".to_string(),
                Some(s) => s.why_none.clone(),
            };
            (
                None,
                format!(
                    "{} should be dead ({}) but is alive; no chain: {why_none}",
                    label(l),
                    reasons_text(why, l.superseded_by)
                ),
                "Take a heap dump (jcmd <pid> GC.heap_dump file.hprof) and look for the shortest \
                 strong path from a GC root to this loader, or raise chain_time/chain_memory/chain_pause."
                    .to_string(),
            )
        } else {
            let jmx = path.iter().any(|h| h.from.starts_with("com.sun.jmx.") || h.from.starts_with("javax.management."));
            let registered = if jmx { mbeans.get_or_insert_with(|| mbeans_by_loader(jvmti, env)) } else { &HashMap::new() };
            let mut owned: Vec<String> = inside.iter().filter_map(|id| registered.get(id)).flatten().cloned().collect();
            owned.sort();
            let ctx = culprits::Context { root_frame_inside: root_loader.is_some_and(|r| inside.contains(&r)), mbeans: owned };
            let v = culprits::classify(&path, culprit, &label(l), &ctx);
            (Some(v.culprit.to_string()), v.explanation, v.fix)
        };
        cl.leak_suspects.push(LeakSuspect {
            loader_id: l.id,
            loader_class: l.class.clone(),
            loader_name: l.name.clone(),
            classes: l.classes,
            reasons: why.clone(),
            holder_hop: culprits::holder_hop(&path, culprit),
            path,
            culprit_hop: culprit,
            culprit: culprit_id,
            explanation,
            fix,
            loader_label: l.label.clone(),
            superseded_by: l.superseded_by.filter(|_| why.iter().any(|r| r == "superseded")),
        });
    }
    if let Some(mut s) = search {
        s.stats.not_strongly_reachable = cl.not_strongly_reachable.len() as u32;
        s.stats.chains_found = s.paths.iter().filter(|p| !p.is_empty()).count() as u32;
        let mut map = known.0.lock();
        map.clear();
        for (n, id) in ids.iter().enumerate() {
            if !s.paths[n].is_empty() {
                map.insert(*id, s.paths[n].clone());
            }
        }
        cl.chain_search = Some(s.stats);
    }
}

impl Search {
    fn skipped(n: usize, why: String) -> Search {
        Search {
            paths: vec![Vec::new(); n],
            root_loaders: vec![None; n],
            unreachable: vec![false; n],
            stats: ChainSearch { suspects: n as u32, method: "none".into(), skipped: Some(why.clone()), ..ChainSearch::default() },
            why_none: why,
        }
    }
}

/// Verifies the known chains, then searches for the rest: with one heap dump where one can be
/// written (`chain_method=auto`, `dump`), else with live heap walks.
#[allow(clippy::too_many_arguments)]
fn search(
    jvmti: &Jvmti,
    env: &Env,
    tracker: &ClassTracker,
    cl: &ClassLoaders,
    ids: &[u32],
    opts: &LeakOptions,
    budget: &Budget,
    known: &KnownChains,
) -> Search {
    let t0 = Instant::now();
    let n = ids.len();
    let mut s = Search::skipped(n, String::new());
    s.stats.skipped = None;
    s.why_none = "no strong path from a GC root was found".into();
    let loader_objects = tracker.alive_loaders(env);
    let object_of = |id: u32| loader_objects.iter().find(|(l, _)| *l == id).map(|(_, o)| o.raw());

    // 1. Chains of the previous report that still hold need no search.
    let remembered: Vec<(usize, Vec<PathHop>)> = {
        let map = known.0.lock();
        ids.iter().enumerate().filter_map(|(i, id)| map.get(id).map(|p| (i, p.clone()))).collect()
    };
    if !remembered.is_empty() {
        env.with_local_frame(cl.classes_live.min(i32::MAX as u64 / 4) as i32 + 1024, || {
            let classes = ClassIndex::new(jvmti);
            for (i, path) in &remembered {
                let Some(loader) = object_of(ids[*i]) else { continue };
                let ok = env.with_local_frame(64 + 8 * path.len() as i32, || chain_verify::holds(jvmti, env, &classes, path, loader));
                if ok {
                    s.paths[*i] = path.clone();
                    s.stats.verified += 1;
                }
            }
        });
    }
    let open: Vec<usize> = (0..n).filter(|&i| s.paths[i].is_empty()).collect();
    s.stats.method = if s.stats.verified > 0 { "verified".into() } else { "none".into() };
    if open.is_empty() {
        finish(&mut s.stats, t0);
        return s;
    }

    // 2. How: a dump needs a place and must not pause longer than chain_pause.
    let limits = opts.limits;
    let plan = match opts.method {
        ChainMethod::Walk => Err("chain_method=walk".to_string()),
        _ => opts
            .heap_used
            .ok_or_else(|| "the heap's size could not be read".to_string())
            .and_then(|used| heapdump::plan(opts.dump_dir.as_deref(), &opts.report_dir, opts.tmpdir.as_deref(), used))
            .and_then(|p| {
                if p.estimated_pause > limits.pause {
                    Err(format!(
                        "a heap dump of about {} MiB would pause the application about {} ms, more than chain_pause ({} ms)",
                        p.estimated_bytes >> 20,
                        p.estimated_pause.as_millis(),
                        limits.pause.as_millis()
                    ))
                } else {
                    Ok(p)
                }
            }),
    };
    // A dump pauses once, where walks pause once per hop: `auto` takes it whenever it can.
    let dump_now = match opts.method {
        ChainMethod::Walk => false,
        ChainMethod::Auto => plan.is_ok(),
        ChainMethod::Dump => {
            if let Err(why) = &plan {
                s.stats.skipped = Some(why.clone());
                s.why_none = why.clone();
                finish(&mut s.stats, t0);
                return s;
            }
            true
        }
    };
    if let (false, ChainMethod::Auto, Err(why)) = (dump_now, opts.method, &plan) {
        s.stats.skipped = Some(format!("no heap dump, live heap walks instead (a pause per hop): {why}"));
    }

    // 3. Live heap walks.
    if !dump_now {
        tag_own_thread(jvmti, env);
        let mut names = Names::new(jvmti, env, &cl.loaders);
        let referents = names.prepare_classes(tracker);
        let targets: Vec<jlong> = open.iter().map(|&i| TAG_LOADER | ids[i] as jlong).collect();
        let o = chains::search(jvmti, &targets, &referents, Limits { time: budget.cap(limits.time), ..limits }, budget);
        s.stats.passes += o.passes;
        s.stats.references_visited += o.references_visited;
        s.stats.objects_tagged = o.objects_tagged;
        s.stats.memory_bytes = o.peak_memory_bytes + o.objects_tagged * (chains::BYTES_PER_NODE - 64);
        s.stats.memory_bytes_estimate = o.objects_tagged * chains::BYTES_PER_NODE;
        s.stats.pauses.extend(o.pauses.iter().map(|(what, ms)| Pause { what: what.clone(), ms: *ms }));
        s.stats.method = "walk".into();
        let complete = o.limit_hit.is_none() && o.error.is_none();
        for (k, &i) in open.iter().enumerate() {
            match &o.chains[k] {
                Some(raw) => (s.paths[i], s.root_loaders[i]) = names.render(raw, o.root_threads.get(&k)),
                None => s.unreachable[i] = complete,
            }
        }
        if let Some(l) = o.limit_hit.clone().or(o.error.clone()) {
            s.why_none = l.clone();
            s.stats.limit_hit = Some(format!("{l}; chains may be missing: raise chain_time, chain_memory or chain_pause, or use a heap dump"));
        }
    }

    // 4. One heap dump, searched while the application runs.
    if let (true, Ok(plan)) = (dump_now, &plan) {
        s.stats.method = "dump".into();
        s.stats.dump_dir = Some(plan.dir.display().to_string());
        let nonce = t0.elapsed().as_nanos() as i64 ^ (std::process::id() as i64) << 32;
        let marker = [0x6c65_616b_6167_656e, nonce, loader_objects.len() as i64, 0x7463_6861_696e_7321];
        let objects: Vec<jni::sys::jobject> = loader_objects.iter().map(|(_, o)| o.raw()).collect();
        match heapdump::take(env, plan, &marker, &objects) {
            Err(e) => {
                s.why_none = e.clone();
                s.stats.limit_hit = Some(e);
            }
            Ok(taken) => {
                s.stats.pauses.push(Pause { what: "heap dump".into(), ms: taken.pause.as_millis() as u64 });
                s.stats.dump_bytes = Some(taken.bytes);
                let classes_of: HashMap<u32, &str> = cl.loaders.iter().map(|l| (l.id, l.class.as_str())).collect();
                let setup = Setup {
                    marker,
                    loader_ids: loader_objects.iter().map(|(id, _)| *id).collect(),
                    loader_classes: loader_objects.iter().map(|(id, _)| classes_of.get(id).copied().unwrap_or("").to_string()).collect(),
                    targets: open.iter().map(|&i| ids[i]).collect(),
                    limits: Limits { time: limits.time.saturating_sub(t0.elapsed()), ..limits },
                };
                let threads = LiveThreads::read(jvmti, env);
                let found = match Dump::open(taken.file) {
                    Ok(mut dump) => {
                        let f = dump_search::search(&mut dump, &setup, budget, &threads);
                        crate::ffi::os::drop_page_cache(dump.file());
                        f
                    }
                    Err(e) => dump_search::Found { error: Some(format!("reading the heap dump: {e}")), ..Default::default() },
                };
                s.stats.passes += found.passes;
                s.stats.references_visited += found.references_visited;
                s.stats.memory_bytes = s.stats.memory_bytes.max(found.peak_memory_bytes);
                for (k, &i) in open.iter().enumerate() {
                    match found.chains.get(k).cloned().flatten() {
                        Some((p, root_loader)) => (s.paths[i], s.root_loaders[i]) = (p, root_loader),
                        None => s.unreachable[i] = found.complete,
                    }
                }
                if let Some(l) = found.limit_hit.clone().or(found.error.clone()) {
                    s.why_none = l.clone();
                    s.stats.limit_hit = Some(format!("{l}; chains may be missing: raise chain_time or chain_memory"));
                }
            }
        }
    }
    finish(&mut s.stats, t0);
    s
}

/// Totals of the pauses and the time (the loader references free themselves when dropped).
fn finish(stats: &mut ChainSearch, t0: Instant) {
    stats.pause_ms = stats.pauses.iter().map(|p| p.ms).sum();
    stats.max_pause_ms = stats.pauses.iter().map(|p| p.ms).max().unwrap_or(0);
    stats.time_ms = t0.elapsed().as_millis() as u64;
}

/// Live threads by `Thread.tid`, to name the threads a dump's chains start from.
struct LiveThreads(HashMap<i64, String>);

impl LiveThreads {
    fn read(jvmti: &Jvmti, env: &Env) -> LiveThreads {
        let mut map = HashMap::new();
        env.with_local_frame(1024, || {
            for t in jvmti.all_threads().unwrap_or_default().into_iter().map(|t| Local::new(env, t)) {
                if let (Some(tid), Some(name)) = (env.long_field(t.raw(), c"tid"), jvmti.thread_name(t.raw())) {
                    map.insert(tid, name);
                }
            }
        });
        LiveThreads(map)
    }
}

impl dump_search::Live for LiveThreads {
    fn thread_name(&self, tid: i64) -> Option<String> {
        self.0.get(&tid).cloned()
    }
}

/// The registered MBeans of the platform MBeanServer by the id of their class loader
/// (`MBeanServer.getClassLoaderFor`). Asked only when a chain runs through JMX, so the server
/// exists already.
fn mbeans_by_loader(jvmti: &Jvmti, env: &Env) -> HashMap<u32, Vec<String>> {
    let mut out: HashMap<u32, Vec<String>> = HashMap::new();
    let server = env.call_static_object_method(
        "java/lang/management/ManagementFactory",
        "getPlatformMBeanServer",
        "()Ljavax/management/MBeanServer;",
    );
    if server.is_null() {
        return out;
    }
    let null = std::ptr::null_mut();
    let set = env.call_object_method_with(
        server.raw(),
        "queryNames",
        "(Ljavax/management/ObjectName;Ljavax/management/QueryExp;)Ljava/util/Set;",
        &[null, null],
    );
    let array = if set.is_null() { Local::null(env) } else { env.call_object_method(set.raw(), "toArray", "()[Ljava/lang/Object;") };
    for name in env.object_array(array.raw()) {
        let loader = env.call_object_method_with(
            server.raw(),
            "getClassLoaderFor",
            "(Ljavax/management/ObjectName;)Ljava/lang/ClassLoader;",
            &[name.raw()],
        );
        if !loader.is_null() {
            if let (Ok(tag), Some(text)) = (jvmti.tag(loader.raw()), env.call_string_method(name.raw(), "toString")) {
                if tag_kind(tag) == TAG_LOADER {
                    out.entry(tag_loader(tag)).or_default().push(text);
                }
            }
        }
    }
    out
}

/// Marks the report thread's `Thread` so its own local references are not taken for roots.
fn tag_own_thread(jvmti: &Jvmti, env: &Env) {
    let t = env.call_static_object_method("java/lang/Thread", "currentThread", "()Ljava/lang/Thread;");
    if !t.is_null() {
        let _ = jvmti.set_tag(t.raw(), TAG_SELF_THREAD);
    }
}

/// Resolves class tags, field indices and loaders to names, with caches for one report.
struct Names<'a> {
    jvmti: &'a Jvmti,
    env: &'a Env,
    loaders: HashMap<u32, &'a Loader>,
    classes: HashMap<jlong, String>,
    fields: HashMap<jlong, (usize, Vec<String>)>,
    /// Thread names by `Thread.getId()`, read the first time a stack root needs one.
    threads: Option<HashMap<i64, String>>,
}

impl<'a> Names<'a> {
    fn new(jvmti: &'a Jvmti, env: &'a Env, loaders: &'a [Loader]) -> Names<'a> {
        Names {
            jvmti,
            env,
            loaders: loaders.iter().map(|l| (l.id, l)).collect(),
            classes: HashMap::new(),
            fields: HashMap::new(),
            threads: None,
        }
    }

    /// A local reference to the class with this (unique) class tag.
    fn class_of(&self, tag: jlong) -> Option<Local<'a>> {
        if tag_kind(tag) != TAG_CLASS && tag_kind(tag) != TAG_ARRAY_CLASS {
            return None;
        }
        // Collected first so that any further object with the tag is freed too.
        let all: Vec<Local<'a>> = self.jvmti.objects_with_tags(&[tag]).ok()?.into_iter().map(|(o, _)| Local::new(self.env, o)).collect();
        all.into_iter().next()
    }

    fn class_name(&mut self, tag: jlong) -> String {
        if let Some(n) = self.classes.get(&tag) {
            return n.clone();
        }
        let name = match self.class_of(tag) {
            Some(k) => self.jvmti.class_signature(k.raw()).map(|s| signature_to_name(&s)).unwrap_or_default(),
            None => "<unknown class>".into(),
        };
        self.classes.insert(tag, name.clone());
        name
    }

    /// How the report names an object: a class as `class X`, a loader by its class, anything
    /// else by its class.
    fn describe(&mut self, object: jlong, class_tag: jlong) -> String {
        match tag_kind(object) {
            TAG_CLASS | TAG_ARRAY_CLASS => format!("class {}", self.class_name(object)),
            TAG_LOADER => self
                .loaders
                .get(&tag_loader(object))
                .map(|l| l.class.clone())
                .unwrap_or_else(|| "<class loader>".into()),
            _ if class_tag != 0 => self.class_name(class_tag),
            _ => "<object>".into(),
        }
    }

    fn loader_of(object: jlong, class_tag: jlong) -> Option<u32> {
        match tag_kind(object) {
            TAG_CLASS | TAG_LOADER => Some(tag_loader(object)),
            _ if tag_kind(class_tag) == TAG_CLASS || tag_kind(class_tag) == TAG_ARRAY_CLASS => Some(tag_loader(class_tag)),
            _ => None,
        }
    }

    /// Field names in heap-walk index order for the class with this tag: the JVMTI rule is the
    /// fields of every implemented interface first (counted, `n`), then the fields of
    /// java.lang.Object down to the class itself, each class in GetClassFields order; for an
    /// interface, its superinterfaces' fields are counted and its own follow.
    fn field_table(&mut self, class_tag: jlong) -> Option<&(usize, Vec<String>)> {
        if !self.fields.contains_key(&class_tag) {
            let k = self.class_of(class_tag)?;
            let table = field_table(self.jvmti, self.env, k.raw());
            self.fields.insert(class_tag, table);
        }
        self.fields.get(&class_tag)
    }

    fn field_name(&mut self, class_tag: jlong, index: i32) -> String {
        match self.field_table(class_tag) {
            Some((n, names)) => index
                .checked_sub(*n as i32)
                .and_then(|i| names.get(i as usize))
                .cloned()
                .unwrap_or_else(|| format!("<field {index}>")),
            None => format!("<field {index}>"),
        }
    }

    /// Tags array classes so chains can name them, and returns, for every loaded subclass of
    /// java.lang.ref.Reference, the heap-walk index of `referent`.
    fn prepare_classes(&mut self, tracker: &ClassTracker) -> HashMap<jlong, i32> {
        let mut out = HashMap::new();
        let reference = self.env.find_class(c"java/lang/ref/Reference");
        if reference.is_null() {
            return out;
        }
        let Ok(all) = self.jvmti.loaded_classes() else { return out };
        for k in all.into_iter().map(|k| Local::new(self.env, k)) {
            let k = k.raw();
            if self.jvmti.tag(k) == Ok(0) {
                let _ = tracker.tag_array_class(self.jvmti, self.env, k);
            }
            if self.env.is_assignable_from(k, reference.raw()) {
                if let Ok(tag) = self.jvmti.tag(k) {
                    let (n, names) = field_table(self.jvmti, self.env, k);
                    if let Some(pos) = names.iter().position(|f| f == "referent") {
                        out.insert(tag, (n + pos) as i32);
                    }
                }
            }
        }
        out
    }

    /// `Class.method` and the id of the loader that defined the class.
    fn method(&self, method: usize) -> (String, Option<u32>) {
        let m = method as jni::sys::jmethodID;
        let name = self.jvmti.method_name(m).unwrap_or_default();
        let (class, loader) = self
            .jvmti
            .method_declaring_class(m)
            .ok()
            .map(|k| {
                let k = Local::new(self.env, k);
                let n = self.jvmti.class_signature(k.raw()).map(|s| signature_to_name(&s)).unwrap_or_default();
                let tag = self.jvmti.tag(k.raw()).unwrap_or(0);
                (n, (tag_kind(tag) == TAG_CLASS).then(|| tag_loader(tag)))
            })
            .unwrap_or_default();
        (format!("{class}.{name}"), loader)
    }

    /// The thread of a stack root, by its id: `thread "name", id N`.
    fn thread(&mut self, id: jlong) -> String {
        let (jvmti, env) = (self.jvmti, self.env);
        let names = self.threads.get_or_insert_with(|| {
            let mut m = HashMap::new();
            for t in jvmti.all_threads().unwrap_or_default().into_iter().map(|t| Local::new(env, t)) {
                if let (Some(tid), Some(name)) = (env.call_long_method(t.raw(), "getId"), jvmti.thread_name(t.raw())) {
                    m.insert(tid, name);
                }
            }
            m
        });
        match names.get(&id) {
            Some(n) => format!("thread \"{n}\", id {id}"),
            None => format!("thread id {id}"),
        }
    }

    /// The chain in names, and for a stack root the loader of the method's class.
    fn render(&mut self, raw: &[RawHop], root_thread: Option<&String>) -> (Vec<PathHop>, Option<u32>) {
        let mut out: Vec<PathHop> = Vec::new();
        let mut root_loader = None;
        let mut i = 0;
        while i < raw.len() {
            let h = &raw[i];
            let to = self.describe(h.to, h.to_class);
            let to_loader = Self::loader_of(h.to, h.to_class);
            if i == 0 {
                // A system class root followed by one of its static fields reads as the field.
                if h.kind == JVMTI_HEAP_REFERENCE_SYSTEM_CLASS {
                    if let Some(next) = raw.get(1).filter(|n| n.kind == JVMTI_HEAP_REFERENCE_STATIC_FIELD) {
                        let from = self.class_name(h.to);
                        let field = self.field_name(h.to, next.index);
                        let to = self.describe(next.to, next.to_class);
                        out.push(PathHop { from, field, kind: "static_field".into(), to, to_loader: Self::loader_of(next.to, next.to_class) });
                        i += 2;
                        continue;
                    }
                }
                let (from, kind) = match h.kind {
                    JVMTI_HEAP_REFERENCE_SYSTEM_CLASS => ("<system class>".to_string(), "system_class"),
                    JVMTI_HEAP_REFERENCE_THREAD => (
                        format!("<thread \"{}\">", root_thread.map(String::as_str).unwrap_or("?")),
                        "thread",
                    ),
                    JVMTI_HEAP_REFERENCE_STACK_LOCAL | JVMTI_HEAP_REFERENCE_JNI_LOCAL => {
                        let (method, loader) = self.method(h.method);
                        root_loader = loader;
                        let what = if h.kind == JVMTI_HEAP_REFERENCE_STACK_LOCAL { "local variable" } else { "JNI local" };
                        (
                            format!("<{what} in {method} ({})>", self.thread(h.thread_id)),
                            if h.kind == JVMTI_HEAP_REFERENCE_STACK_LOCAL { "stack_local" } else { "jni_local" },
                        )
                    }
                    JVMTI_HEAP_REFERENCE_JNI_GLOBAL => ("<JNI global reference>".to_string(), "jni_global"),
                    JVMTI_HEAP_REFERENCE_MONITOR => ("<monitor>".to_string(), "monitor"),
                    _ => ("<VM internal root>".to_string(), "other"),
                };
                out.push(PathHop { from, field: String::new(), kind: kind.into(), to, to_loader });
                i += 1;
                continue;
            }
            // A static field belongs to a class: name the class itself, as `X.field`.
            let from = if h.kind == JVMTI_HEAP_REFERENCE_STATIC_FIELD {
                self.class_name(h.from)
            } else {
                self.describe(h.from, h.from_class)
            };
            let (kind, field) = match h.kind {
                JVMTI_HEAP_REFERENCE_FIELD => ("field", self.field_name(h.from_class, h.index)),
                JVMTI_HEAP_REFERENCE_STATIC_FIELD => ("static_field", self.field_name(h.from, h.index)),
                JVMTI_HEAP_REFERENCE_ARRAY_ELEMENT => ("array_element", format!("[{}]", h.index)),
                JVMTI_HEAP_REFERENCE_CLASS => ("class", String::new()),
                JVMTI_HEAP_REFERENCE_CLASS_LOADER => ("class_loader", String::new()),
                JVMTI_HEAP_REFERENCE_CONSTANT_POOL => ("constant_pool", format!("#{}", h.index)),
                JVMTI_HEAP_REFERENCE_PROTECTION_DOMAIN => ("protection_domain", String::new()),
                JVMTI_HEAP_REFERENCE_SIGNERS => ("signers", String::new()),
                JVMTI_HEAP_REFERENCE_INTERFACE => ("interface", String::new()),
                JVMTI_HEAP_REFERENCE_SUPERCLASS => ("superclass", String::new()),
                _ => ("other", String::new()),
            };
            out.push(PathHop { from, field, kind: kind.into(), to, to_loader });
            i += 1;
        }
        (out, root_loader)
    }
}

fn field_table(jvmti: &Jvmti, env: &Env, k: jclass) -> (usize, Vec<String>) {
    let names_of = |c: jclass| -> Vec<String> {
        jvmti
            .class_fields(c)
            .unwrap_or_default()
            .into_iter()
            .map(|f| jvmti.field_name(c, f).unwrap_or_default())
            .collect()
    };
    // Every interface reachable from the class (or, for an interface, its superinterfaces).
    let mut interface_fields = 0usize;
    let mut seen: HashSet<jlong> = HashSet::new();
    let interfaces = |c: jclass| jvmti.implemented_interfaces(c).unwrap_or_default().into_iter().map(|i| Local::new(env, i));
    let mut stack: Vec<Local> = Vec::new();
    // Popped interfaces stay alive until the end: an untagged one is known by its reference.
    let mut visited: Vec<Local> = Vec::new();
    let is_interface = jvmti.is_interface(k);
    let mut supers: Vec<Local> = Vec::new();
    if is_interface {
        stack.extend(interfaces(k));
    } else {
        let mut c = env.superclass(k);
        while !c.is_null() {
            let next = env.superclass(c.raw());
            supers.push(c);
            c = next;
        }
    }
    let chain: Vec<jclass> = if is_interface { Vec::new() } else { std::iter::once(k).chain(supers.iter().map(Local::raw)).collect() };
    for &c in &chain {
        stack.extend(interfaces(c));
    }
    while let Some(i) = stack.pop() {
        let tag = jvmti.tag(i.raw()).unwrap_or(0);
        let key = if tag != 0 { tag } else { i.raw() as usize as jlong };
        if seen.insert(key) {
            interface_fields += jvmti.class_fields(i.raw()).map(|f| f.len()).unwrap_or(0);
            stack.extend(interfaces(i.raw()));
        }
        visited.push(i);
    }
    let mut names = Vec::new();
    if is_interface {
        names = names_of(k);
    } else {
        for &c in chain.iter().rev() {
            names.extend(names_of(c));
        }
    }
    (interface_fields, names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("app-gen-*", "app-gen-12"));
        assert!(glob("*WebappClassLoader*", "org.apache.catalina.loader.ParallelWebappClassLoader"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "abbc"));
        assert!(!glob("app", "app-gen-1"));
        assert!(glob("*", ""));
    }

    fn script_loader(id: u32, n: u32, alive: bool) -> Loader {
        Loader {
            id,
            class: "groovy.lang.GroovyClassLoader$InnerLoader".into(),
            role: LoaderRole::Other,
            parent: Some(id - 1),
            alive,
            first_seen_ms: id as u64 * 10,
            sample_class: Some(format!("Script{n}")),
            ..Loader::default()
        }
    }

    #[test]
    fn numbered_scripts_that_keep_coming_are_growth_and_jsps_are_not() {
        assert_eq!(shape("Script12$_run_closure1"), "Script#$_run_closure#");
        let scripts: Vec<Loader> = (0..150).map(|i| script_loader(1000 + 2 * i, i + 1, i % 3 != 0)).collect();
        let (g, counts) = growth(&scripts, &HashMap::new());
        assert_eq!(g.len(), 1, "{g:#?}");
        assert_eq!((g[0].alive, g[0].dead, g[0].distinct_classes), (100, 50, 150));
        // A new GroovyShell per script: every loader defines Script1.
        let shells: Vec<Loader> = (0..120).map(|i| script_loader(1000 + 2 * i, 1, true)).collect();
        assert_eq!(growth(&shells, &HashMap::new()).0[0].distinct_classes, 1);
        assert_eq!(g[0].defines, "Script#");
        assert_eq!(g[0].example, "Script150");
        assert_eq!(g[0].leak_loaders, "groovy.lang.GroovyClassLoader$InnerLoader");
        // A later report with as many alive: a stable population, not growth.
        let (again, _) = growth(&scripts, &counts);
        assert!(again.is_empty());
        let mut more = scripts.clone();
        more.push(script_loader(5000, 151, true));
        let (grew, _) = growth(&more, &counts);
        assert_eq!(grew[0].alive_at_previous_report, Some(100));
        // Fewer alive than the threshold, or JSPs named after their pages.
        let few: Vec<Loader> = (0..150).map(|i| script_loader(1000 + 2 * i, i, i % 2 == 0)).collect();
        assert!(growth(&few, &HashMap::new()).0.is_empty());
        let jsps: Vec<Loader> = ["index", "date", "snoop", "numguess", "cart"]
            .iter()
            .enumerate()
            .map(|(i, p)| Loader { class: "org.apache.jasper.servlet.JasperLoader".into(), sample_class: Some(format!("org.apache.jsp.{p}_jsp")), ..script_loader(10 + i as u32, 0, true) })
            .collect();
        assert!(growth(&jsps, &HashMap::new()).0.is_empty());
        let reflection: Vec<Loader> = (0..150)
            .map(|i| Loader { class: "jdk.internal.reflect.DelegatingClassLoader".into(), sample_class: Some(format!("jdk.internal.reflect.GeneratedMethodAccessor{i}")), ..script_loader(10 + i, 0, true) })
            .collect();
        assert!(growth(&reflection, &HashMap::new()).0.is_empty(), "the JDK's reflection loaders are never growth");
    }

    #[test]
    fn a_loader_s_family_is_the_loaders_below_it() {
        let ls = vec![
            Loader { id: 5, parent: Some(3), ..Loader::default() },
            Loader { id: 8, parent: Some(5), ..Loader::default() },
            Loader { id: 9, parent: Some(8), ..Loader::default() },
            Loader { id: 10, parent: Some(3), ..Loader::default() },
        ];
        let mut f: Vec<u32> = family(&ls, 5).into_iter().collect();
        f.sort();
        assert_eq!(f, [5, 8, 9]);
        assert_eq!(reasons_text(&["superseded".into(), "container_stopped".into()], Some(9)), "superseded by #9, container stopped");
    }

    #[test]
    fn what_makes_a_suspect() {
        let base = Loader { id: 5, class: "java.net.URLClassLoader".into(), role: LoaderRole::Other, alive: true, ..Loader::default() };
        assert!(reasons(&base, &[]).is_empty());
        let l = Loader { superseded_by: Some(6), closed: Some(true), ..base.clone() };
        assert_eq!(reasons(&l, &[]), ["superseded", "closed"]);
        let dead = Loader { alive: false, ..l.clone() };
        assert!(reasons(&dead, &[]).is_empty(), "dead loaders are never suspects");
        let tomcat = Loader { state: Some("DESTROYED".into()), ..base.clone() };
        assert_eq!(reasons(&tomcat, &[]), ["container_stopped"]);
        let running = Loader { state: Some("STARTED".into()), ..base.clone() };
        assert!(reasons(&running, &[]).is_empty());
        let named = Loader { name: Some("plugin-3".into()), ..base.clone() };
        assert_eq!(reasons(&named, &["plugin-*".into()]), ["pattern"]);
        let app = Loader { role: LoaderRole::Application, closed: Some(true), ..base };
        assert!(reasons(&app, &[]).is_empty(), "the JDK's own loaders are never suspects");
    }
}
