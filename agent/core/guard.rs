//! The guard every entry point and callback runs inside: no panic crosses into the JVM.

use crate::core::health::{self, Feature, COUNTERS};
use crate::core::log;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f` unless `feature` is switched off. A panic switches the feature off, is counted and
/// logged once, and `fallback` is returned instead.
pub fn guarded<T>(feature: Feature, fallback: T, f: impl FnOnce() -> T) -> T {
    if !health::enabled(feature) {
        return fallback;
    }
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => v,
        Err(payload) => {
            health::bump(&COUNTERS.panics);
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            if health::disable(feature) {
                log::error(&format!(
                    "internal error in {}: {what}; this feature is now off, the JVM continues",
                    feature.name()
                ));
            }
            fallback
        }
    }
}
