//! Why a heap dump could not be taken or read: kinds callers match, and the message the log and
//! the report show (`Display`).

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why one candidate directory was refused for a dump.
#[derive(Debug)]
pub enum Refused {
    /// A memory-backed file system (tmpfs), not named by the user.
    InMemory(PathBuf),
    NoRoom { dir: PathBuf, free: u64, need: u64 },
    /// Its free space could not be read.
    Unusable { dir: PathBuf, err: io::Error },
}

#[derive(Debug)]
pub enum DumpError {
    /// No directory can hold the dump: why each candidate was refused.
    NoDirectory(Vec<Refused>),
    CreateDir { dir: PathBuf, err: io::Error },
    /// The marker array could not be built (the Java heap is full, most likely).
    Marker,
    NoJniEnv,
    /// `HotSpotDiagnosticMXBean.dumpHeap` failed: the Java exception, or the JNI error.
    DumpHeap(String),
    Open(io::Error),
    /// An I/O error or a malformed file while reading the dump.
    Read(io::Error),
    /// The dump uses 4-byte identifiers (a 32-bit JVM).
    ShortIds,
    /// The chain search did not find the loaders in the dump.
    NoLoaders,
    /// A limit (chain_memory, chain_time) or the report's budget stopped the work: why.
    Stopped(String),
}

/// Why the chain search takes no heap dump (and walks instead, or stops under `chain_method=dump`).
#[derive(Debug)]
pub enum NoDump {
    /// `chain_method=walk`.
    Walk,
    NoHeapSize,
    /// No place for it.
    Place(DumpError),
    /// It would pause longer than `chain_pause`.
    Pause { bytes: u64, ms: u128, limit_ms: u128 },
    /// In the exit report: the dump and its search would not fit into what is left.
    ExitTime { bytes: u64, ms: u128, left_ms: u128 },
}

impl fmt::Display for NoDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoDump::Walk => f.write_str("chain_method=walk"),
            NoDump::NoHeapSize => f.write_str("the heap's size could not be read"),
            NoDump::Place(e) => e.fmt(f),
            NoDump::Pause { bytes, ms, limit_ms } => write!(
                f,
                "a heap dump of about {} MiB would pause the application about {ms} ms, more than chain_pause ({limit_ms} ms)",
                bytes >> 20
            ),
            NoDump::ExitTime { bytes, ms, left_ms } => write!(
                f,
                "a heap dump of about {} MiB would take about {ms} ms and its search longer, too much for the {left_ms} ms \
                 left of exit_timeout",
                bytes >> 20
            ),
        }
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refused::InMemory(dir) => write!(f, "{} is in memory (tmpfs)", dir.display()),
            Refused::NoRoom { dir, free, need } => {
                write!(f, "{} has {} MiB free, a dump needs about {} MiB", dir.display(), free >> 20, need >> 20)
            }
            Refused::Unusable { dir, err } => write!(f, "{}: {err}", dir.display()),
        }
    }
}

impl fmt::Display for DumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DumpError::NoDirectory(refused) => {
                let why: Vec<String> = refused.iter().map(Refused::to_string).collect();
                write!(f, "no directory for a heap dump ({}); name one with chain_dump_dir", why.join("; "))
            }
            DumpError::CreateDir { dir, err } => write!(f, "cannot create {}: {err}", dir.display()),
            DumpError::Marker => f.write_str("cannot create the marker array"),
            DumpError::NoJniEnv => f.write_str("no JNIEnv"),
            DumpError::DumpHeap(detail) => write!(f, "HotSpotDiagnosticMXBean.dumpHeap failed: {detail}"),
            DumpError::Open(e) => write!(f, "cannot open the heap dump: {e}"),
            DumpError::Read(e) => write!(f, "reading the heap dump: {e}"),
            DumpError::ShortIds => f.write_str("the heap dump uses 4-byte identifiers (a 32-bit JVM); not supported"),
            DumpError::NoLoaders => f.write_str("the chain search could not find the loaders in the heap dump"),
            DumpError::Stopped(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for DumpError {}
