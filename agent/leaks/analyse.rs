//! Class loader leak suspects: loaders that should be dead and are not, after a forced GC, each
//! with the reference chain that pins it and what the culprit catalogue says about it.

use crate::leaks::walk::verify::{self, ClassIndex};
use crate::leaks::walk::search::{self as walk, Limits};
use crate::loaders::tags::{TAG_LOADER, TAG_SELF_THREAD};
use crate::loaders::tracker::ClassTracker;
use crate::leaks::dump::retained;
use crate::leaks::dump::search::{self as dump, Setup};
use crate::leaks::dump::{take, NoDump};
use crate::leaks::hops::Names;
use crate::leaks::growth::{growth, shape};
use crate::leaks::mbeans;
use crate::leaks::dump::hprof::Dump;
use crate::core::budget::Budget;
use crate::leaks::culprits;
use crate::core::options::ChainMethod;
use leakagent_report::glob::matches as glob;
use parking_lot::Mutex;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use crate::ffi::jni::{Env, Local};
use crate::ffi::jvmti::Jvmti;
use leakagent_report::model::{ChainSearch, ClassLoaders, LeakSuspect, Loader, LoaderRole, PathHop, Pause, SuspectReason};
use leakagent_report::words::reasons_text;
use jni::sys::jlong;
use std::collections::{HashMap, HashSet};

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
pub fn reasons(l: &Loader, patterns: &[String]) -> Vec<SuspectReason> {
    let mut r = Vec::new();
    if !l.alive || l.role != LoaderRole::Other {
        return r;
    }
    if l.superseded_by.is_some() {
        r.push(SuspectReason::Superseded);
    }
    if l.closed == Some(true) {
        r.push(SuspectReason::Closed);
    }
    if l.state.as_deref().is_some_and(|s| STOPPED_STATES.contains(&s)) {
        r.push(SuspectReason::ContainerStopped);
    }
    if patterns.iter().any(|p| glob(p, &l.class) || l.name.as_deref().is_some_and(|n| glob(p, n))) {
        r.push(SuspectReason::Pattern);
    }
    r
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
    /// Heap each suspect retains, when a dump was read (`dump::retained`), or why not.
    retained: Vec<Option<u64>>,
    retained_note: Option<String>,
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
        (cl.growth, *seen) = growth(&cl.loaders, &seen);
    }
    let suspects = suspects(tracker, cl, opts, budget);
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
        if path.is_empty() && search.as_ref().is_some_and(|s| s.unreachable[n]) {
            cl.not_strongly_reachable.push(l.id);
            continue;
        }
        let inside = family(&cl.loaders, l.id);
        let culprit = culprits::culprit_hop(&path, |id| inside.contains(&id));
        let (culprit_id, explanation, fix) = if path.is_empty() {
            no_chain(l, why, search.as_ref())
        } else {
            let jmx = path.iter().any(|h| h.from.starts_with("com.sun.jmx.") || h.from.starts_with("javax.management."));
            let registered = if jmx { mbeans.get_or_insert_with(|| mbeans::by_loader(jvmti, env)) } else { &HashMap::new() };
            let mut owned: Vec<String> = inside.iter().filter_map(|id| registered.get(id)).flatten().cloned().collect();
            owned.sort();
            let root_loader = search.as_ref().and_then(|s| s.root_loaders[n]);
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
            superseded_by: l.superseded_by.filter(|_| why.contains(&SuspectReason::Superseded)),
            metaspace_bytes: l.metaspace_bytes,
            retained_heap_bytes: search.as_ref().and_then(|s| s.retained[n]),
            retained_heap_note: search.as_ref().and_then(|s| s.retained_note.clone()),
        });
    }
    if let Some(s) = search {
        record(s, cl, &ids, known);
    }
}

/// The search's statistics go into the report, and its chains are remembered for the next
/// report to verify.
fn record(mut s: Search, cl: &mut ClassLoaders, ids: &[u32], known: &KnownChains) {
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

/// The suspects: each loader that should be dead (by index in `cl.loaders`) with why. At exit,
/// loaders that are only closed or stopped are listed in `cl.stopped_at_exit` instead.
fn suspects(tracker: &ClassTracker, cl: &mut ClassLoaders, opts: &LeakOptions, budget: &Budget) -> Vec<(usize, Vec<SuspectReason>)> {
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
    let mut suspects: Vec<(usize, Vec<SuspectReason>)> = cl
        .loaders
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut r = reasons(l, &opts.patterns);
            if growing.contains(&l.id) {
                r.push(SuspectReason::Growth);
            }
            (i, r)
        })
        .filter(|(_, r)| !r.is_empty())
        .collect();
    // Shutdown hooks close and stop the application's own current loaders before VM death: at
    // exit, a loader that is only closed or stopped, and was not yet when an earlier report
    // looked, was most likely stopped by the exit itself. It is listed, not accused.
    let stopped = |x: &SuspectReason| matches!(x, SuspectReason::Closed | SuspectReason::ContainerStopped);
    let stopped_only = |r: &[SuspectReason]| r.iter().all(stopped);
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
            earlier.extend(suspects.iter().filter(|(_, r)| r.iter().any(stopped)).map(|(i, _)| cl.loaders[*i].id));
        }
    }
    suspects
}

/// What a suspect without a chain says (no culprit): why there is none, and how to find it.
fn no_chain(l: &Loader, why: &[SuspectReason], search: Option<&Search>) -> (Option<String>, String, String) {
    let why_none = match search {
        None => "no chain search for this report (chains=off, or chains=demand and a periodic report)".to_string(),
        Some(s) => s.why_none.clone(),
    };
    (
        None,
        format!("{} should be dead ({}) but is alive; no chain: {why_none}", label(l), reasons_text(why, l.superseded_by)),
        format!(
            "Take a heap dump (jcmd <pid> GC.heap_dump file.hprof) and look for the shortest \
             strong path from a GC root to this loader; {}.",
            match search {
                Some(s) => raise(&s.why_none),
                None => "chains=on makes a report search for it".to_string(),
            }
        ),
    )
}

impl Search {
    fn skipped(n: usize, why: String) -> Search {
        Search {
            paths: vec![Vec::new(); n],
            root_loaders: vec![None; n],
            unreachable: vec![false; n],
            stats: ChainSearch { suspects: n as u32, method: "none".into(), skipped: Some(why.clone()), ..ChainSearch::default() },
            why_none: why,
            retained: vec![None; n],
            retained_note: None,
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

    // 1. Chains of the previous report that still hold need no search.
    verify_known(jvmti, env, tracker, ids, known, &loader_objects, &mut s);
    let open: Vec<usize> = (0..n).filter(|&i| s.paths[i].is_empty()).collect();
    s.stats.method = if s.stats.verified > 0 { "verified".into() } else { "none".into() };
    if open.is_empty() {
        finish(&mut s.stats, t0);
        return s;
    }

    // 2. How: a dump needs a place and must not pause longer than chain_pause.
    let plan = dump_plan(opts, budget);
    // At exit with no time for a dump, live walks (a pause per hop, each under chain_pause) find
    // no more in the same time: the search is given up and says which limit to raise.
    if let Err(why @ NoDump::ExitTime { .. }) = &plan {
        let why = why.to_string();
        s.stats.limit_hit = Some(format!("{why}; chains may be missing: {}", raise(&why)));
        s.stats.skipped = Some(why.clone());
        s.why_none = why;
        finish(&mut s.stats, t0);
        return s;
    }
    // A dump pauses once, where walks pause once per hop: `auto` takes it whenever it can.
    let dump_now = match opts.method {
        ChainMethod::Walk => false,
        ChainMethod::Auto => plan.is_ok(),
        ChainMethod::Dump => {
            if let Err(why) = &plan {
                s.stats.skipped = Some(why.to_string());
                s.why_none = why.to_string();
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
        walk_search(jvmti, env, tracker, cl, ids, &open, opts.limits, budget, &mut s);
    }

    // 4. One heap dump, searched while the application runs.
    if let (true, Ok(plan)) = (dump_now, &plan) {
        let at = DumpScope { ids, open: &open, loader_objects: &loader_objects, t0 };
        dump_search(jvmti, env, cl, plan, &at, opts.limits, budget, &mut s);
    }
    finish(&mut s.stats, t0);
    s
}

/// What the dump search needs to know of the suspects: their ids, which of them still need a
/// chain, the live loader objects (for the dump's marker) and when the search started.
struct DumpScope<'a, 'e> {
    ids: &'a [u32],
    open: &'a [usize],
    loader_objects: &'a [(u32, Local<'e>)],
    t0: Instant,
}

/// Keeps each chain of the previous report that still holds (`verify::holds`).
fn verify_known(
    jvmti: &Jvmti,
    env: &Env,
    tracker: &ClassTracker,
    ids: &[u32],
    known: &KnownChains,
    loader_objects: &[(u32, Local<'_>)],
    s: &mut Search,
) {
    let object_of = |id: u32| loader_objects.iter().find(|(l, _)| *l == id).map(|(_, o)| o.raw());
    let remembered: Vec<(usize, Vec<PathHop>)> = {
        let map = known.0.lock();
        ids.iter().enumerate().filter_map(|(i, id)| map.get(id).map(|p| (i, p.clone()))).collect()
    };
    if remembered.is_empty() {
        return;
    }
    // Sized now, not from the report's count: classes loaded since then (churn) and array
    // classes are among the local references GetLoadedClasses makes. Only the classes chains
    // start from are kept while the chains are followed (`ClassIndex::new`).
    let wanted: HashSet<&str> = remembered.iter().filter_map(|(_, p)| ClassIndex::wanted(p)).collect();
    env.with_local_frame(tracker.local_capacity(), || {
        let classes = ClassIndex::new(jvmti, env, &wanted);
        for (i, path) in &remembered {
            let Some(loader) = object_of(ids[*i]) else { continue };
            let ok = env.with_local_frame(64 + 8 * path.len() as i32, || verify::holds(jvmti, env, &classes, path, loader));
            if ok {
                s.paths[*i] = path.clone();
                s.stats.verified += 1;
            }
        }
    });
}

/// Where a heap dump would go, or why none can be taken (`chain_method=walk`, no heap size, no
/// place, or a pause longer than chain_pause).
fn dump_plan(opts: &LeakOptions, budget: &Budget) -> Result<take::Plan, NoDump> {
    let limits = opts.limits;
    if opts.method == ChainMethod::Walk {
        return Err(NoDump::Walk);
    }
    let used = opts.heap_used.ok_or(NoDump::NoHeapSize)?;
    let p = take::plan(opts.dump_dir.as_deref(), &opts.report_dir, opts.tmpdir.as_deref(), used).map_err(NoDump::Place)?;
    if p.estimated_pause > limits.pause {
        return Err(NoDump::Pause { bytes: p.estimated_bytes, ms: p.estimated_pause.as_millis(), limit_ms: limits.pause.as_millis() });
    }
    // The dump cannot be stopped once begun, and its search reads it at least twice: at exit it
    // needs four times its estimate, stretched by how much slower than its CPU time this report
    // ran so far (session 33: 120 MB estimated at 0.4 s took 3.5 s at load 12, and the exit
    // report missed exit_timeout).
    let need = p.estimated_pause.mul_f64(4.0 * crate::reporting::progress::stretch());
    if let Some(left) = budget.remaining().filter(|&left| left < need) {
        return Err(NoDump::ExitTime { bytes: p.estimated_bytes, ms: need.as_millis() / 4, left_ms: left.as_millis() });
    }
    Ok(p)
}

/// The open suspects' chains by live heap walks.
#[allow(clippy::too_many_arguments)]
fn walk_search(
    jvmti: &Jvmti,
    env: &Env,
    tracker: &ClassTracker,
    cl: &ClassLoaders,
    ids: &[u32],
    open: &[usize],
    limits: Limits,
    budget: &Budget,
    s: &mut Search,
) {
    tag_own_thread(jvmti, env);
    let mut names = Names::new(jvmti, env, &cl.loaders);
    let classes = names.prepare_classes(tracker);
    let targets: Vec<jlong> = open.iter().map(|&i| TAG_LOADER | ids[i] as jlong).collect();
    let o = walk::search(jvmti, env, &targets, &classes, limits, budget);
    s.stats.passes += o.passes;
    s.stats.references_visited += o.references_visited;
    s.stats.objects_tagged = o.objects_tagged;
    s.stats.memory_bytes = o.peak_memory_bytes + o.objects_tagged * walk::TAG_MAP_BYTES;
    s.stats.memory_bytes_estimate = o.objects_tagged * walk::BYTES_PER_NODE;
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
        s.stats.limit_hit = Some(format!("{l}; chains may be missing: {}", raise(&l)));
    }
}

/// The open suspects' chains, and every suspect's retained heap, from one heap dump.
#[allow(clippy::too_many_arguments)]
fn dump_search(jvmti: &Jvmti, env: &Env, cl: &ClassLoaders, plan: &take::Plan, at: &DumpScope<'_, '_>, limits: Limits, budget: &Budget, s: &mut Search) {
    let DumpScope { ids, open, loader_objects, t0 } = *at;
    s.stats.method = "dump".into();
    s.stats.dump_dir = Some(plan.dir.display().to_string());
    let nonce = t0.elapsed().as_nanos() as i64 ^ (std::process::id() as i64) << 32;
    let marker = [0x6c65_616b_6167_656e, nonce, loader_objects.len() as i64, 0x7463_6861_696e_7321];
    let objects: Vec<jni::sys::jobject> = loader_objects.iter().map(|(_, o)| o.raw()).collect();
    let mut agent_threads = 0;
    let taken = env.with_local_frame(verify::thread_capacity(jvmti, env), || {
        // The agent's threads (tagged at their start) go in the marker array: no chain starts at
        // what they hold.
        let all: Vec<Local> = jvmti.all_threads().unwrap_or_default().into_iter().map(|t| Local::new(env, t)).collect();
        let own: Vec<jni::sys::jobject> =
            all.iter().filter(|t| jvmti.tag(t.raw()).is_ok_and(|tag| tag == TAG_SELF_THREAD)).map(|t| t.raw()).collect();
        agent_threads = own.len();
        crate::reporting::progress::step("leak analysis: heap dump");
        take::take(env, plan, &marker, &objects, &own)
    });
    crate::reporting::progress::step("leak analysis: index pass over the dump");
    let taken = match taken {
        Err(e) => {
            s.why_none = e.to_string();
            s.stats.limit_hit = Some(e.to_string());
            return;
        }
        Ok(taken) => taken,
    };
    s.stats.pauses.push(Pause { what: "heap dump".into(), ms: taken.pause.as_millis() as u64 });
    s.stats.dump_bytes = Some(taken.bytes);
    let classes_of: HashMap<u32, &str> = cl.loaders.iter().map(|l| (l.id, l.class.as_str())).collect();
    let setup = Setup {
        marker,
        loader_ids: loader_objects.iter().map(|(id, _)| *id).collect(),
        loader_classes: loader_objects.iter().map(|(id, _)| classes_of.get(id).copied().unwrap_or("").to_string()).collect(),
        targets: open.iter().map(|&i| ids[i]).collect(),
        agent_threads,
        limits: Limits { time: limits.time.saturating_sub(t0.elapsed()), ..limits },
    };
    let threads = LiveThreads::read(jvmti, env);
    let found = match Dump::open(taken.file) {
        Ok(mut dump) => {
            let searching = Instant::now();
            let f = dump::search(&mut dump, &setup, budget, &threads);
            let stop = || budget.stop_now().then(|| budget.stop_reason().to_string()).or_else(|| {
                (t0.elapsed() > limits.time).then(|| format!("chain_time limit of {} s reached", limits.time.as_secs()))
            });
            // Not begun once the time is spent: its first pass does not look at the clock.
            let slow = stop().or_else(|| {
                too_slow(searching.elapsed(), f.passes, limits.time.saturating_sub(t0.elapsed()), budget.remaining())
            });
            let b = retained::Budget { memory: limits.memory, stop: &stop };
            let (sizes, note, peak) = match slow {
                Some(why) => (vec![None; ids.len()], Some(why), 0),
                None => {
                    crate::reporting::progress::step("leak analysis: retained sizes");
                    retained::for_suspects(&mut dump, f.objects.as_ref(), ids, &b)
                }
            };
            (s.retained, s.retained_note) = (sizes, note.map(|why| advised(&why)));
            s.stats.memory_bytes = s.stats.memory_bytes.max(peak);
            crate::ffi::os::drop_page_cache(dump.file());
            f
        }
        Err(e) => dump::Found { error: Some(format!("reading the heap dump: {e}")), ..Default::default() },
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
        s.stats.limit_hit = Some(format!("{l}; chains may be missing: {}", raise(&l)));
    }
}

/// Why the retained heap cannot be done in the time left (`chain_left` of chain_time,
/// `exit_left` of exit_timeout in the exit report), when its two passes over the dump alone
/// would take longer at the pace of the chain search's `passes` (which took `searched`; the
/// first of them reads less of each record, so the pace is if anything too quick).
fn too_slow(searched: Duration, passes: u32, chain_left: Duration, exit_left: Option<Duration>) -> Option<String> {
    let need = 2 * searched / Some(passes).filter(|&p| p > 0)?;
    let (left, option, need) = match exit_left {
        // At exit, where overrunning loses the whole report, three times that: at load 10 the
        // retained heap of 1,500 Groovy loaders took 3.5 s where its two passes' pace said 1.2 s
        // (building its graph is not paced by reading the dump), and the report was lost.
        Some(e) if e < chain_left => (e, "exit_timeout", 3 * need),
        _ => (chain_left, "chain_time", need),
    };
    (need > left).then(|| {
        format!(
            "the retained heap's two passes over the heap dump would take about {:.1} s (the chain search's {passes} took {:.1} s), more than the {:.1} s left of {option}",
            need.as_secs_f64(),
            searched.as_secs_f64(),
            left.as_secs_f64()
        )
    })
}

/// What to raise when a limit stopped the search: the limit it names, nothing else.
fn raise(limit: &str) -> String {
    advice(limit).unwrap_or("the agent's log may say more").to_string()
}

fn advice(limit: &str) -> Option<&'static str> {
    [
        ("exit_timeout", "raise exit_timeout"),
        ("chain_time", "raise chain_time"),
        ("chain_memory", "raise chain_memory"),
        ("chain_objects", "raise chain_objects or chain_memory"),
        ("chain_pause", "raise chain_pause, or let a heap dump be taken (chain_method=dump)"),
        ("JVM began to exit", "the exit report searches again"),
    ]
    .into_iter()
    .find(|(option, _)| limit.contains(option))
    .map(|(_, advice)| advice)
}

/// Why the retained heap is missing, with what to raise when a limit says so.
fn advised(why: &str) -> String {
    match advice(why) {
        Some(a) => format!("{why}; {a}"),
        None => why.to_string(),
    }
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
        env.with_local_frame(verify::thread_capacity(jvmti, env), || {
            for t in jvmti.all_threads().unwrap_or_default().into_iter().map(|t| Local::new(env, t)) {
                if let (Some(tid), Some(name)) = (env.long_field(t.raw(), c"tid"), jvmti.thread_name(t.raw())) {
                    map.insert(tid, name);
                }
            }
        });
        LiveThreads(map)
    }
}

impl dump::Live for LiveThreads {
    fn thread_name(&self, tid: i64) -> Option<String> {
        self.0.get(&tid).cloned()
    }
}

fn tag_own_thread(jvmti: &Jvmti, env: &Env) {
    let t = env.call_static_object_method("java/lang/Thread", "currentThread", "()Ljava/lang/Thread;");
    if !t.is_null() {
        let _ = jvmti.set_tag(t.raw(), TAG_SELF_THREAD);
    }
}

#[cfg(test)]
mod tests;
