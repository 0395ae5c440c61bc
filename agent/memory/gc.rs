//! Which garbage collector the JVM runs, read once from HotSpot's `Use*GC` flags. The report
//! names it (`jvm.collector`), and the reporter asks it whether a forced GC is safe at VM death:
//! HotSpot stops the ZGC and Shenandoah threads before it posts VMDeath, so a collection asked
//! for then never completes and would hang the exit. It forces no GC itself.

use crate::memory::jvm_pools;
use crate::ffi::jni::Env;
use std::sync::OnceLock;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Collector {
    Serial,
    Parallel,
    G1,
    Z,
    Shenandoah,
    Epsilon,
}

impl Collector {
    /// The name the report gives it.
    pub fn name(self) -> &'static str {
        match self {
            Collector::Serial => "Serial",
            Collector::Parallel => "Parallel",
            Collector::G1 => "G1",
            Collector::Z => "ZGC",
            Collector::Shenandoah => "Shenandoah",
            Collector::Epsilon => "Epsilon",
        }
    }

    /// Whether a forced GC completes once VM death has begun.
    pub fn gc_at_exit_is_safe(self) -> bool {
        !matches!(self, Collector::Z | Collector::Shenandoah)
    }
}

const FLAGS: &[(&str, Collector)] = &[
    ("UseZGC", Collector::Z),
    ("UseShenandoahGC", Collector::Shenandoah),
    ("UseEpsilonGC", Collector::Epsilon),
    ("UseG1GC", Collector::G1),
    ("UseParallelGC", Collector::Parallel),
    ("UseSerialGC", Collector::Serial),
];

static DETECTED: OnceLock<Option<Collector>> = OnceLock::new();

/// The collector, read once from HotSpot's `Use*GC` flags; None when the flags cannot be read.
pub fn detect(env: &Env) -> Option<Collector> {
    *DETECTED.get_or_init(|| {
        let names: Vec<&str> = FLAGS.iter().map(|(f, _)| *f).collect();
        let flags = jvm_pools::flags(env, &names);
        FLAGS.iter().find(|(f, _)| super::flag_on(&flags, f)).map(|(_, c)| *c)
    })
}

/// The collector if it was already detected (no JNI).
pub fn known() -> Option<Collector> {
    DETECTED.get().copied().flatten()
}
