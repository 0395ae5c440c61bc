//! Counters that describe the agent's own health; every report carries them in `agent.health`.

use leakagent_report::model::Health;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// Declares [`Feature`] from one list of `Variant => "name"` rows: the enum, [`FEATURES`] (every
/// feature, in the order of the list) and [`Feature::name`] (the name in
/// `agent.health.disabled_features`) all come from it, so a new feature is one row.
macro_rules! features {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)+) => {
        /// A part of the agent that can fail on its own and be switched off without the others.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Feature {
            $($(#[$doc])* $variant,)+
        }

        pub const FEATURES: &[Feature] = &[$(Feature::$variant,)+];

        impl Feature {
            pub fn name(self) -> &'static str {
                match self {
                    $(Feature::$variant => $name,)+
                }
            }
        }
    };
}

features! {
    Startup => "startup",
    Classes => "classes",
    Leaks => "class_loader_leaks",
    Triggers => "triggers",
    Reports => "reports",
    /// The `memory` section: smaps, the allocator, JVM pools, the RSS explanation.
    Memory => "memory",
    /// The sampler thread behind `samples`.
    Sampler => "sampler",
    /// Binding the native wrappers (NativeMethodBind, RegisterNatives after an attach).
    Natives => "natives",
    /// The zlib stream ledger (Inflater, Deflater).
    Zlib => "zlib",
    /// The direct memory ledger (DirectByteBuffer, Unsafe).
    Direct => "direct",
}

impl Feature {
    /// The feature's slot in [`DISABLED`]: variants are numbered in the list's order.
    fn index(self) -> usize {
        self as usize
    }
}

static DISABLED: [AtomicBool; FEATURES.len()] = [const { AtomicBool::new(false) }; FEATURES.len()];

pub fn enabled(f: Feature) -> bool {
    !DISABLED[f.index()].load(Relaxed)
}

/// Switches a feature off; returns true the first time, so that the caller logs once.
pub fn disable(f: Feature) -> bool {
    !DISABLED[f.index()].swap(true, Relaxed)
}

pub fn disabled_features() -> Vec<&'static str> {
    FEATURES.iter().filter(|f| !enabled(**f)).map(|f| f.name()).collect()
}

/// Event and failure counters. Plain relaxed atomics: callbacks only ever add.
#[derive(Default)]
pub struct Counters {
    pub events: AtomicU64,
    pub dropped: AtomicU64,
    pub panics: AtomicU64,
    pub errors: AtomicU64,
    pub signal_requests_coalesced: AtomicU64,
    pub data_dump_requests: AtomicU64,
    pub reports_written: AtomicU64,
    pub report_failures: AtomicU64,
    /// Native methods the agent wrapped (zlib and Unsafe).
    pub natives_wrapped: AtomicU64,
    /// Native ledger events whose Java stack could not be taken (attributed to a
    /// "<stack unavailable>" site).
    pub stack_walk_failures: AtomicU64,
    /// Native ledger events attributed to an "<other sites>" site because `max_sites` distinct
    /// stacks were already interned.
    pub site_overflow_events: AtomicU64,
    /// Native ledger events whose site came from a stack walk (the others matched a stack
    /// template of their thread).
    pub stack_walks: AtomicU64,
    /// Stack templates learned, and stacks that got none (a frame the template walk does not
    /// know, or frames that disagreed with the stack walk).
    pub stack_templates: AtomicU64,
    pub stack_template_refusals: AtomicU64,
    /// Reports of this process removed by `keep`/`keep_bytes`.
    pub reports_removed: AtomicU64,
    /// Methods of unloaded classes dropped from the method cache, and the methods it holds now.
    pub methods_forgotten: AtomicU64,
    pub methods_cached: AtomicU64,
    /// Native ledger sites evicted: nothing live, every class of their stacks unloaded.
    pub sites_evicted: AtomicU64,
    /// CompiledMethodUnload events: compiled code freed, every stack template dropped.
    pub compiled_code_unloads: AtomicU64,
    /// Direct-ledger counter stripes given back by threads as they ended.
    pub direct_stripes_released: AtomicU64,
    /// Direct-ledger age periods merged because every age slot held live blocks.
    pub direct_age_merges: AtomicU64,
}

pub static COUNTERS: Counters = Counters {
    events: AtomicU64::new(0),
    dropped: AtomicU64::new(0),
    panics: AtomicU64::new(0),
    errors: AtomicU64::new(0),
    signal_requests_coalesced: AtomicU64::new(0),
    data_dump_requests: AtomicU64::new(0),
    reports_written: AtomicU64::new(0),
    report_failures: AtomicU64::new(0),
    natives_wrapped: AtomicU64::new(0),
    stack_walk_failures: AtomicU64::new(0),
    site_overflow_events: AtomicU64::new(0),
    stack_walks: AtomicU64::new(0),
    stack_templates: AtomicU64::new(0),
    stack_template_refusals: AtomicU64::new(0),
    reports_removed: AtomicU64::new(0),
    methods_forgotten: AtomicU64::new(0),
    methods_cached: AtomicU64::new(0),
    sites_evicted: AtomicU64::new(0),
    compiled_code_unloads: AtomicU64::new(0),
    direct_stripes_released: AtomicU64::new(0),
    direct_age_merges: AtomicU64::new(0),
};

pub fn bump(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

/// `signals`: the report signals received and those that found the request pipe full.
pub fn snapshot(capabilities_missing: &[String], signals: (u64, u64)) -> Health {
    let c = &COUNTERS;
    Health {
        events: c.events.load(Relaxed),
        dropped: c.dropped.load(Relaxed),
        panics: c.panics.load(Relaxed),
        errors: c.errors.load(Relaxed),
        signals_received: signals.0,
        signal_requests_coalesced: c.signal_requests_coalesced.load(Relaxed)
            + signals.1,
        data_dump_requests: c.data_dump_requests.load(Relaxed),
        reports_written: c.reports_written.load(Relaxed),
        report_failures: c.report_failures.load(Relaxed),
        natives_wrapped: c.natives_wrapped.load(Relaxed),
        stack_walk_failures: c.stack_walk_failures.load(Relaxed),
        site_overflow_events: c.site_overflow_events.load(Relaxed),
        // Hot sampling is gone: no event is attributed without its own stack any more.
        hot_sample_mismatches: 0,
        stack_walks: c.stack_walks.load(Relaxed),
        stack_templates: c.stack_templates.load(Relaxed),
        stack_template_refusals: c.stack_template_refusals.load(Relaxed),
        reports_removed: c.reports_removed.load(Relaxed),
        methods_forgotten: c.methods_forgotten.load(Relaxed),
        methods_cached: c.methods_cached.load(Relaxed),
        sites_evicted: c.sites_evicted.load(Relaxed),
        compiled_code_unloads: c.compiled_code_unloads.load(Relaxed),
        direct_stripes_released: c.direct_stripes_released.load(Relaxed),
        direct_age_merges: c.direct_age_merges.load(Relaxed),
        heap_bytes: crate::ffi::counting::in_use(),
        disabled_features: disabled_features().into_iter().map(String::from).collect(),
        capabilities_missing: capabilities_missing.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_has_its_own_slot_and_name() {
        for (i, f) in FEATURES.iter().enumerate() {
            assert_eq!(f.index(), i, "{f:?}");
            assert_eq!(FEATURES.iter().filter(|g| g.name() == f.name()).count(), 1, "{}", f.name());
        }
        assert_eq!(Feature::Leaks.name(), "class_loader_leaks");
    }
}
