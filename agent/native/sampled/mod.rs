//! Sampled native allocations: owns what the malloc hooks (`ffi/malloc_hooks.rs`) recorded, as
//! sites with stacks, estimated live and allocated bytes and growth, and the finding on them.

mod finding;
mod ids;
mod rename;

pub use finding::derive;
pub use ids::{MethodIds, UNNAMED_FRAME};

use crate::native::methods::MethodCache;
use crate::ffi::jni::Env;
use crate::ffi::jvmti::{Frame, Jvmti};
use crate::ffi::malloc_hooks as hooks;
use crate::ffi::got;
use crate::ffi::symbols::Symbolizer;
use jni::sys::JavaVM;
use leakagent_report::model::{NativeSampling, SampledSite, TlsPlacement, Tracking};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;

/// Sites in the report; the rest are summed.
const MAX_REPORTED: usize = 50;
/// Stacks remembered (by hash); past this, new stacks are summed as `<other sites>`.
const MAX_STACKS: usize = 20_000;
/// Points of each site's live series.
const SERIES: usize = 16;
/// The report's word on dynamic TLS (docs/native-memory.md, "Overhead").
const DYNAMIC_TLS_NOTE: &str = "glibc had no static TLS left for the agent (a late attach after other libraries used glibc's static surplus, or glibc.rtld.optional_static_tls=0): every malloc and free calls a TLS descriptor, about 5% more CPU on a malloc-heavy workload than at start-up; load the agent at start-up (-agentpath) to avoid it";

/// What was recorded for one stack hash.
struct Stack {
    java: Vec<Frame>,
    native: Vec<usize>,
    samples: u64,
    allocated: u64,
    /// Rendered once (method names need JVMTI): the site's label.
    label: Option<usize>,
    /// A Java frame without a jmethodID, not named since (`rename.rs`).
    unnamed: bool,
    /// The native frames as the site shows them (hashed): the same code reached from the
    /// interpreter and from compiled code differs in the frames past the libraries'.
    native_key: u64,
}

/// One site: stacks with the same rendering.
#[derive(Default)]
struct Site {
    stack: Vec<String>,
    library: Option<String>,
    function: Option<String>,
    java_frame: Option<String>,
    jdk_library: bool,
    samples: u64,
    allocated: u64,
    live: u64,
    live_samples: u64,
    series: Vec<u64>,
    /// Ticks between two series points (doubled when the series is thinned).
    stride: u32,
    skipped: u32,
    reported_live: u64,
    /// Its native frames' rendering, hashed (`Stack::native_key`).
    native_key: u64,
}

#[derive(Default)]
struct State {
    next_seq: u64,
    lost: u64,
    stacks: HashMap<u64, Stack>,
    sites: Vec<Site>,
    labels: HashMap<Vec<String>, usize>,
    overflow_allocated: u64,
    symbols: Symbolizer,
    renamer: rename::Renamer,
}

pub struct NativeSampler {
    enabled: bool,
    interval: u64,
    /// The cap on samples a second (`native_rate`).
    rate: u64,
    status: Mutex<(Tracking, Option<String>)>,
    /// Where the hooks' per-thread state is, once installed.
    tls: Mutex<Option<TlsPlacement>>,
    since_attach: bool,
    state: Mutex<State>,
    /// Which classes get the jmethodIDs the hooks' stacks need.
    pub ids: MethodIds,
}

impl NativeSampler {
    pub fn new(enabled: bool, interval: u64, rate: u64, late: bool) -> NativeSampler {
        NativeSampler {
            enabled,
            interval,
            rate,
            status: Mutex::new((Tracking::Off, Some("native=off".into()))),
            tls: Mutex::new(None),
            since_attach: late,
            state: Mutex::new(State::default()),
            ids: MethodIds::default(),
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Patches the loaded libraries and starts sampling (start-up or attach).
    pub fn start(&self, vm: *mut JavaVM) {
        if !self.enabled {
            return;
        }
        let status = match hooks::install(vm, self.interval, self.rate) {
            Ok(n) if n > 0 => {
                let tls = if hooks::static_tls() { TlsPlacement::Static } else { TlsPlacement::Dynamic };
                *self.tls.lock() = Some(tls);
                crate::core::log::info(&format!(
                    "native allocations sampled every {} bytes on average (at most {} a second): {} import entries in {} libraries patched, per-thread state in {} TLS",
                    self.interval,
                    self.rate,
                    n,
                    got::LIBRARIES.load(Relaxed),
                    if tls == TlsPlacement::Static { "static" } else { "dynamic" }
                ));
                if tls == TlsPlacement::Dynamic {
                    crate::core::log::warn(DYNAMIC_TLS_NOTE);
                }
                if self.since_attach {
                    (Tracking::SinceAttach, Some("loaded into a running JVM: allocations made before the attach are not tracked, and blocks allocated before it and freed after are not seen".into()))
                } else {
                    (Tracking::Full, None)
                }
            }
            Ok(_) => (Tracking::Failed, Some("no library of this process imports malloc through its GOT".into())),
            Err(e) => (Tracking::Failed, Some(format!("cannot resolve the allocator: {e}"))),
        };
        *self.status.lock() = status;
    }

    /// Restores every patched entry (VM death, unload, failed start). Idempotent.
    pub fn stop(&self) {
        if self.enabled && hooks::active() {
            let n = hooks::uninstall();
            crate::core::log::info(&format!("native sampling stopped: {n} import entries restored"));
        }
    }

    /// Sampler tick and report: patches libraries loaded since, drains the samples into sites
    /// and adds a point to each site's live series.
    pub fn tick(&self, jvmti: &Jvmti, env: &Env, methods: &MethodCache) {
        if !self.enabled || !hooks::active() {
            return;
        }
        got::rescan();
        let mut st = self.state.lock();
        let st = &mut *st;
        let (next, lost) = hooks::drain(st.next_seq, |s| {
            let len = st.stacks.len();
            match st.stacks.get_mut(&s.hash) {
                Some(k) => {
                    k.samples += 1;
                    k.allocated += s.weight;
                }
                None if len < MAX_STACKS => {
                    let unnamed = has_unnamed_frame(&s.java);
                    if unnamed {
                        self.ids.frame_without_id();
                    }
                    st.stacks.insert(s.hash, Stack { java: s.java, native: s.native, samples: 1, allocated: s.weight, label: None, unnamed, native_key: 0 });
                }
                None => st.overflow_allocated += s.weight,
            }
        });
        st.next_seq = next;
        st.lost += lost;
        let new = label_new(st, jvmti, env, methods);
        // Stacks sampled before the jmethodID sweep take the site of their twin sampled after.
        st.renamer.add(&mut st.stacks, &new);
        for site in &mut st.sites {
            site.samples = 0;
            site.allocated = 0;
            site.live = 0;
            site.live_samples = 0;
        }
        for k in st.stacks.values() {
            if let Some(site) = k.label.and_then(|i| st.sites.get_mut(i)) {
                site.samples += k.samples;
                site.allocated += k.allocated;
            }
        }
        let (stacks, sites) = (&st.stacks, &mut st.sites);
        hooks::live(|hash, weight| {
            if let Some(site) = stacks.get(&hash).and_then(|k| k.label).and_then(|i| sites.get_mut(i)) {
                site.live += weight;
                site.live_samples += 1;
            }
        });
        for site in sites.iter_mut() {
            site.skipped += 1;
            if site.skipped >= site.stride {
                site.skipped = 0;
                site.series.push(site.live);
                if site.series.len() > SERIES {
                    // Keep every second point: the series spans the whole run at half the detail.
                    let kept: Vec<u64> = site.series.iter().copied().step_by(2).collect();
                    site.series = kept;
                    site.stride = site.stride.saturating_mul(2);
                }
            }
        }
    }

    /// The report's section; `tick` runs first. The growth is since the previous report.
    pub fn snapshot(&self, jvmti: &Jvmti, env: &Env, methods: &MethodCache) -> NativeSampling {
        let (tracking, reason) = self.status.lock().clone();
        let mut out = NativeSampling {
            tracking,
            reason,
            since_attach: self.since_attach,
            interval_bytes: self.interval,
            effective_interval_bytes: self.interval,
            peak_interval_bytes: self.interval,
            rate_cap_per_second: self.rate,
            ..NativeSampling::default()
        };
        if hooks::active() {
            out.tls = *self.tls.lock();
            out.tls_note = (out.tls == Some(TlsPlacement::Dynamic)).then(|| DYNAMIC_TLS_NOTE.to_string());
        }
        if !self.enabled {
            return out;
        }
        self.tick(jvmti, env, methods);
        if hooks::active() {
            let rate = hooks::rate();
            out.effective_interval_bytes = rate.effective;
            out.peak_interval_bytes = rate.peak;
            out.interval_raises = rate.raises;
        }
        out.libraries_patched = got::LIBRARIES.load(Relaxed) as u64;
        out.entries_patched = got::ENTRIES.load(Relaxed) as u64;
        out.samples = hooks::SAMPLES.load(Relaxed);
        out.samples_untracked = hooks::TABLE_FULL.load(Relaxed);
        out.classes_without_method_ids = self.ids.classes_skipped();
        let mut st = self.state.lock();
        out.samples_lost = st.lost;
        out.samples_with_unnamed_frames = st.stacks.values().filter(|k| k.unnamed).map(|k| k.samples).sum();
        out.samples_named_after_sweep = st.stacks.values().filter(|k| !k.unnamed && has_unnamed_frame(&k.java)).map(|k| k.samples).sum();
        out.estimated_allocated_bytes = st.overflow_allocated;
        let mut sites: Vec<SampledSite> = Vec::new();
        // A site whose stacks were all named since (`rename.rs`) has nothing left.
        for s in st.sites.iter_mut().filter(|s| s.samples > 0) {
            out.estimated_live_bytes += s.live;
            out.estimated_allocated_bytes += s.allocated;
            let growth = s.live as i64 - s.reported_live as i64;
            s.reported_live = s.live;
            sites.push(SampledSite {
                stack: s.stack.clone(),
                library: s.library.clone(),
                function: s.function.clone(),
                java_frame: s.java_frame.clone(),
                jdk_library: s.jdk_library,
                estimated_live_bytes: s.live,
                allocated_bytes: s.allocated,
                samples: s.samples,
                live_samples: s.live_samples,
                growth_bytes: growth,
                growing: growing(&s.series),
                live_series: s.series.clone(),
            });
        }
        sites.sort_by(|a, b| b.estimated_live_bytes.cmp(&a.estimated_live_bytes).then(b.allocated_bytes.cmp(&a.allocated_bytes)));
        if sites.len() > MAX_REPORTED {
            out.other_sites_live_bytes = sites[MAX_REPORTED..].iter().map(|s| s.estimated_live_bytes).sum();
            sites.truncate(MAX_REPORTED);
        }
        out.sites = sites;
        out
    }
}

/// Labels the stacks drained since the last tick (JVMTI for method names, the symbolizer for
/// native frames, read for all of them at once); returns their hashes.
fn label_new(st: &mut State, jvmti: &Jvmti, env: &Env, methods: &MethodCache) -> Vec<u64> {
    let new: Vec<u64> = st.stacks.iter().filter(|(_, k)| k.label.is_none()).map(|(h, _)| *h).collect();
    st.symbols.resolve(new.iter().filter_map(|h| st.stacks.get(h)).flat_map(|k| k.native.iter().copied()));
    for &h in &new {
        let Some(k) = st.stacks.get(&h) else { continue };
        let site = render(jvmti, env, methods, &st.symbols, &k.java, &k.native);
        let native_key = site.native_key;
        let idx = match st.labels.get(&site.stack) {
            Some(&i) => i,
            None => {
                st.sites.push(Site { stride: 1, ..site });
                let i = st.sites.len() - 1;
                st.labels.insert(st.sites[i].stack.clone(), i);
                i
            }
        };
        if let Some(k) = st.stacks.get_mut(&h) {
            k.label = Some(idx);
            k.native_key = native_key;
        }
    }
    new
}

/// Whether a live series grew: at least 4 points, the last well above the first, and no point
/// more than a tenth below the highest before it (a cache that fills and is trimmed is not
/// growth).
pub fn growing(series: &[u64]) -> bool {
    let (Some(&first), Some(&last)) = (series.first(), series.last()) else { return false };
    if series.len() < 4 || last < first.saturating_mul(3) / 2 + (1 << 20) {
        return false;
    }
    let mut high = 0u64;
    for &v in series {
        if v < high - high / 10 {
            return false;
        }
        high = high.max(v);
    }
    true
}

/// Whether a sampled stack has a Java frame whose class had no jmethodID (`ids.rs`).
fn has_unnamed_frame(java: &[Frame]) -> bool {
    java.iter().any(|f| f.method == 0)
}

/// A site's rendering: native frames as `library!symbol`, then the Java frames (a frame without
/// a jmethodID as [`UNNAMED_FRAME`]).
fn render(jvmti: &Jvmti, env: &Env, methods: &MethodCache, symbols: &Symbolizer, java: &[Frame], native: &[usize]) -> Site {
    let java_home = jvmti.system_property("java.home").unwrap_or_default();
    let mut site = Site::default();
    let mut stack = Vec::new();
    for (i, &pc) in native.iter().enumerate() {
        let (file, sym) = symbols.name(pc);
        let lib = file.as_deref().map(|f| f.rsplit('/').next().unwrap_or(f).to_string());
        let frame = match (&lib, &sym) {
            (Some(l), Some(s)) => format!("{l}!{s}"),
            (Some(l), None) => format!("{l}!?"),
            _ => format!("{pc:#x}"),
        };
        if i == 0 {
            site.library = lib.clone();
            site.function = sym.clone();
            site.jdk_library = match &file {
                Some(f) => (!java_home.is_empty() && f.starts_with(&java_home)) || f.contains("/jvm/"),
                None => false,
            };
        }
        if file.is_none() && i > 0 {
            // Not code of any library: the frame-pointer chain went astray.
            break;
        }
        stack.push(frame);
    }
    site.native_key = {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        std::hash::Hash::hash(&stack, &mut h);
        std::hash::Hasher::finish(&h)
    };
    let mut first_java = None;
    let mut first_app = None;
    for f in java {
        if f.method == 0 {
            stack.push(UNNAMED_FRAME.to_string());
            continue;
        }
        let info = methods.get(jvmti, env, f.method);
        let text = info.render(f.location);
        if first_java.is_none() {
            first_java = Some(text.clone());
        }
        if first_app.is_none() && !info.is_jdk() {
            first_app = Some(text.clone());
        }
        stack.push(text);
    }
    if java.is_empty() {
        stack.push("<no Java frames: a JVM or native thread>".into());
    }
    site.java_frame = first_app.or(first_java);
    site.stack = stack;
    site
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_needs_a_rise_without_falls() {
        const M: u64 = 1 << 20;
        assert!(growing(&[0, 10 * M, 20 * M, 30 * M]));
        assert!(!growing(&[0, 10 * M, 20 * M]), "three points are not enough");
        assert!(!growing(&[30 * M, 30 * M, 31 * M, 31 * M]), "flat");
        assert!(!growing(&[10 * M, 40 * M, 5 * M, 40 * M]), "a fall");
        assert!(!growing(&[]));
        assert!(!growing(&[0, 0, M / 4, M / 2]), "under a MiB is noise");
    }
}
