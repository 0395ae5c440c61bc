//! The agent's process-wide state: options, the JVMTI environment and the collectors.

use crate::loaders::tracker::ClassTracker;
use crate::native::direct::DirectLedger;
use crate::leaks::analyse::KnownChains;
use crate::memory::MemoryCollector;
use crate::native::stacks::Stacks;
use crate::native::zlib::ZlibLedger;
use crate::ffi::jvmti::Jvmti;
use crate::core::options::Options;
use std::os::fd::RawFd;
use std::sync::OnceLock;
use std::time::Instant;

pub struct Agent {
    pub jvmti: Jvmti,
    pub options: Options,
    pub started: Instant,
    pub attached_late: bool,
    pub capabilities_missing: Vec<String>,
    /// Read end of the self-pipe the triggers write to.
    pub pipe_read: RawFd,
    pub classes: ClassTracker,
    /// Stack settings and the method-name cache shared by the native ledgers.
    pub stacks: Stacks,
    pub zlib: ZlibLedger,
    pub direct: DirectLedger,
    pub memory: MemoryCollector,
    /// Sampled native allocations (the malloc hooks' sites).
    pub sampled: crate::native::sampled::NativeSampler,
    /// The previous report's chains, confirmed before searching again.
    pub known_chains: KnownChains,
    /// Wall-clock seconds when the agent started, for `%s` in report names.
    pub started_epoch_s: i64,
}

impl Agent {
    /// What the memory collector reads from the other collectors.
    pub fn memory_sources(&self) -> crate::memory::Sources<'_> {
        crate::memory::Sources { zlib: &self.zlib, direct: &self.direct, classes: &self.classes }
    }

    /// Forgets what the native ledgers keep of unloaded classes: their methods, the stacks
    /// through them, and the sites those leave with nothing live. Report and sampler threads
    /// only (JVMTI is asked about every cached method).
    pub fn forget_unloaded(&self) {
        let dead = self.stacks.methods.forget_unloaded(&self.jvmti);
        let evicted = self.zlib.forget_methods(&dead) + self.direct.forget_methods(&dead);
        crate::core::health::COUNTERS.sites_evicted.fetch_add(evicted, std::sync::atomic::Ordering::Relaxed);
    }
}

static AGENT: OnceLock<Agent> = OnceLock::new();

/// Installs the agent; fails when one is already installed in this process.
pub fn install(agent: Agent) -> Result<&'static Agent, ()> {
    AGENT.set(agent).map_err(drop)?;
    Ok(AGENT.get().expect("just set"))
}

pub fn get() -> Option<&'static Agent> {
    AGENT.get()
}
