//! The sampler thread: every `sample_interval` it records RSS, malloc, the heap, direct memory,
//! zlib and classes (memory/), checks the limit options (thresholds.rs), keeps the
//! Prometheus textfile current, and lets the class tracker drop dead loaders' references.

use crate::memory::jvm_pools;
use crate::ffi::jni::Env;
use crate::core::guard::guarded;
use crate::core::health::{self, Feature};
use crate::core::runtime::Agent;
use crate::reporting::thresholds::{DirectMarks, Values, Watcher};
use leakagent_report::model::Tracking;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);

/// How often the sampler forgets what the native ledgers keep of unloaded classes: under
/// loader churn their methods pile up between reports otherwise.
const FORGET_EVERY: Duration = Duration::from_secs(10);

/// Called at VM death: the sampler takes no further samples.
pub fn stop() {
    STOP.store(true, Relaxed);
}

/// The sampler thread's body; returns at VM death or when the sampler fails.
pub fn run(agent: &Agent, env: &Env) {
    let Some(period) = agent.options.sample_interval else { return };
    let beans = guarded(Feature::Sampler, None, || Some(jvm_pools::SamplerBeans::new(env)));
    let Some(beans) = beans else { return };
    crate::reporting::trigger::mark_agent_thread();
    let mut watcher = Watcher::new(&agent.options.limits, agent.options.oom, period);
    let mut direct_max: Option<u64> = None;
    let mut gc_time: Option<jvm_pools::GcTime> = None;
    let start = Instant::now();
    let mut forgot = start;
    let mut tick: u32 = 0;
    loop {
        tick = next_tick(start, period, tick);
        if STOP.load(Relaxed) || !health::enabled(Feature::Sampler) {
            return;
        }
        // Sampled native allocations: libraries loaded since, new samples, a point of each site's series.
        guarded(Feature::Natives, (), || {
            agent.sampled.tick(&agent.jvmti, env, &agent.stacks.methods);
            agent.sampled.ids.sweep(&agent.jvmti, env, agent.classes.local_capacity());
        });
        guarded(Feature::Sampler, (), || {
            let t0 = Instant::now();
            let s = agent.memory.sample(agent.memory_sources(), env, &beans, None);
            if watcher.wants_direct_pool() && direct_max.is_none() {
                // MaxDirectMemorySize is fixed at start: one read of java.nio.Bits.MAX_MEMORY.
                direct_max = crate::native::direct::jdk_pool(env).and_then(|p| p.max_bytes);
            }
            let cgroup = agent.memory.cgroup.as_ref();
            // The textfile shows the whole cgroup reading; read it once and let the usage_limit
            // check take its working set from it.
            let full = cgroup.filter(|_| agent.options.formats.prom).and_then(|c| c.read());
            let working_set = match &full {
                Some(c) => Some(c.working_set),
                None => cgroup.filter(|_| watcher.wants_working_set()).and_then(|c| c.working_set()),
            };
            let mut values = Values {
                rss: s.rss_bytes,
                cgroup_limit: s.cgroup_limit_bytes,
                working_set,
                direct_reserved: s.direct_pool_bytes,
                direct_max,
                zlib_live: s.zlib_live,
                loaders_alive: s.loaders_alive,
                at: start.elapsed(),
                direct_marks: None,
            };
            if watcher.direct_full(&values) {
                values.direct_marks = Some(direct_marks(agent, env, &mut gc_time));
            }
            let found = watcher.check(&values);
            for why in &found.unresolved {
                crate::core::log::warn(why);
            }
            if !found.crossings.is_empty() {
                crate::reporting::trigger::request_threshold(found.crossings);
            }
            if let Some(oom) = found.direct_exhausted {
                crate::reporting::trigger::on_oom("direct", oom.description, false);
            }
            agent.memory.record(s.clone(), t0.elapsed());
            if agent.options.formats.prom {
                crate::reporting::reporter::update_prom(agent, &s, full);
            }
            // Its look-up of lost loader deaths holds every loader a moment: not while a
            // report analyses (leaks/mod.rs); the next tick does it.
            if let Some(_quiet) = crate::leaks::hold_references() {
                agent.classes.prune_dead(env);
            }
            if forgot.elapsed() >= FORGET_EVERY {
                forgot = Instant::now();
                agent.forget_unloaded();
            }
        });
    }
}

/// Sleeps to the next multiple of the period after `tick` (the cadence kept); returns its number.
fn next_tick(start: Instant, period: Duration, tick: u32) -> u32 {
    let tick = tick.saturating_add(1);
    let next = start + period.saturating_mul(tick);
    let now = Instant::now();
    if next > now {
        std::thread::sleep(next - now);
        tick
    } else {
        // Fell behind (a long GC, a stopped JVM): skip the missed ticks.
        std::thread::sleep(Duration::from_millis(1));
        (now.duration_since(start).as_nanos() / period.as_nanos().max(1)) as u32
    }
}

/// What shows that a full direct pool is being released (thresholds.rs), read only while it is
/// full: the ledger's released buffer bytes walk every site, the collectors' beans are looked up
/// the first time.
fn direct_marks(agent: &Agent, env: &Env, gc_time: &mut Option<jvm_pools::GcTime>) -> DirectMarks {
    let gc = gc_time.get_or_insert_with(|| jvm_pools::GcTime::new(env));
    DirectMarks {
        released: (agent.direct.tracking() == Tracking::Full).then(|| agent.direct.buffer_bytes_released()),
        count: crate::native::direct::jdk_pool(env).map(|p| p.count),
        gc_ms: gc.read(env),
    }
}
