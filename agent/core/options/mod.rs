//! Agent options: `key=value` pairs separated by `,`.
//!
//! Every option is one row of [`OPTIONS`]: its key, its default, its help and how its value is
//! parsed into [`Options`]. Parsing, `help`, [`Options::default`] and the README check (a unit
//! test) all read that table, so a default is written once.
//!
//! Parsing is complete before anything is reported: every bad key or value is collected and the
//! caller prints all of them, each naming the option, the value and what is allowed.

mod values;

use std::fmt;
use std::time::Duration;
use values::{bool_value, duration_in, duration_or_off, err, number_in, size_in};

/// Which signal asks for a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportSignal {
    Off,
    Usr1,
    /// `SIGRTMIN+n`, n in 0..=8.
    RtMin(u8),
}

impl fmt::Display for ReportSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportSignal::Off => f.write_str("off"),
            ReportSignal::Usr1 => f.write_str("USR1"),
            ReportSignal::RtMin(n) => write!(f, "RTMIN+{n}"),
        }
    }
}

/// When the class loader chain search runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chains {
    On,
    Off,
    /// For reports somebody asked for, not periodic ones: each pass pauses the application.
    Demand,
}

/// How the chain search reads the heap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainMethod {
    /// A probe walk on the live heap; when one walk pauses too long, a heap dump instead.
    Auto,
    /// Live heap walks only (one safepoint pause per hop of the longest chain).
    Walk,
    /// One heap dump (one pause), searched on the report thread while the application runs.
    Dump,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Formats {
    pub text: bool,
    pub html: bool,
    /// A Prometheus textfile replaced at every sample and report (`prom_file`).
    pub prom: bool,
    /// One compact JSON line appended per report (`jsonl_file`).
    pub jsonl: bool,
}

/// A limit option's threshold: a size, or a percentage of a base the sampler knows (the
/// cgroup's memory limit, MaxDirectMemorySize).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Level {
    Bytes(u64),
    Percent(f64),
    Count(u64),
}

/// One limit option as given.
#[derive(Clone, Debug, PartialEq)]
pub struct Limit {
    pub option: &'static str,
    /// The value as given, for the report.
    pub raw: String,
    pub level: Level,
}

/// The limit options; each reports once per crossing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Limits {
    /// RSS (/proc/self/statm).
    pub rss: Option<Limit>,
    /// The cgroup's working set (usage - inactive_file).
    pub usage: Option<Limit>,
    /// Direct buffer memory the JDK reserved (its direct pool).
    pub direct: Option<Limit>,
    /// Live zlib streams.
    pub zlib: Option<Limit>,
    /// Class loaders alive.
    pub loaders: Option<Limit>,
}

impl Limits {
    pub fn all(&self) -> impl Iterator<Item = &Limit> {
        [&self.rss, &self.usage, &self.direct, &self.zlib, &self.loaders].into_iter().flatten()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub file: String,
    pub formats: Formats,
    pub signal: ReportSignal,
    pub interval: Option<Duration>,
    pub log: Option<String>,
    pub datadump: bool,
    /// Full GC (JVMTI ForceGarbageCollection) before each report.
    pub gc: bool,
    /// The full GC also before interval reports (a fleet pays for a full GC per interval).
    pub interval_gc: bool,
    /// Reports of this process kept on disk (None: all); older ones are removed.
    pub keep: Option<usize>,
    /// Bytes of this process's reports kept on disk (None: no bound); the newest always stays.
    pub keep_bytes: Option<u64>,
    /// The JSON lines file rolls to `.1` past this size.
    pub jsonl_max: u64,
    pub chains: Chains,
    pub chain_time: Duration,
    pub chain_objects: u64,
    /// Longest one safepoint pause of the chain search may be (a heap walk is aborted past it).
    pub chain_pause: Duration,
    /// Memory the chain search may use for its own bookkeeping, in bytes.
    pub chain_memory: u64,
    /// How chains are found: a live heap walk per hop, one heap dump searched off-pause, or the
    /// cheaper of the two for this heap.
    pub chain_method: ChainMethod,
    /// Where the temporary heap dump of `chain_method=dump` goes (None: chosen at report time).
    pub chain_dump_dir: Option<String>,
    /// How long VM death waits for the exit report, every path included.
    pub exit_timeout: Duration,
    /// Dead class loaders kept one by one; older ones are summarised by class.
    pub max_dead_loaders: usize,
    pub leak_loaders: Vec<String>,
    /// `malloc_trim(0)` (or the preloaded allocator's purge) at report time.
    pub trim: bool,
    /// Period of the memory sampler; None switches it off.
    pub sample_interval: Option<Duration>,
    /// How many samples the sampler keeps (older ones are thinned).
    pub samples: usize,
    pub help: bool,
    /// The options string as given, for the report.
    pub raw: String,
    pub native: NativeOptions,
    /// Sampled native allocations (malloc hooks): on, and the mean interval in bytes.
    pub native_sampling: bool,
    pub native_interval: u64,
    pub limits: Limits,
    /// The Prometheus textfile (`%p`, `%s` expanded); None: `leakagent-%h-%p.prom` beside the reports.
    pub prom_file: Option<String>,
    /// The JSON lines file; None: `leakagent-%h-%p.jsonl` beside the reports.
    pub jsonl_file: Option<String>,
    /// Report OutOfMemoryErrors (trigger `oom`).
    pub oom: bool,
}

/// Options of the native ledgers (zlib streams, direct memory).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NativeOptions {
    pub zlib: bool,
    pub direct: bool,
    /// Frames kept per site (the full stack, taken once per new site).
    pub stack_depth: usize,
    /// Top frames that identify a site (compared through a stack template, or walked:
    /// AsyncGetCallTrace ~100 ns + ~80 ns per frame).
    pub key_depth: usize,
    /// Accepted so that command lines of earlier versions still start; no effect (every event
    /// is attributed from its own stack). Values above 1 are logged as ignored.
    pub hot_sample: u32,
    /// Attribute events through the threads' stack templates (else walk every event).
    pub stack_templates: bool,
    /// Distinct sites per ledger; further events go to an "<other sites>" site.
    pub max_sites: usize,
    /// Live entries per ledger; beyond, events are counted but not tracked by address.
    pub max_tracked: usize,
}

pub const MAX_STACK_DEPTH: usize = 64;
pub const MAX_KEY_DEPTH: usize = 16;
/// Below this the key cannot reach past the JDK frames of a DirectByteBuffer allocation.
pub const MIN_KEY_DEPTH: usize = 4;

impl Options {
    /// Every field at its "unset" value; [`Options::default`] then applies the table's defaults.
    fn unset() -> Options {
        Options {
            file: String::new(),
            formats: Formats { text: false, html: false, prom: false, jsonl: false },
            signal: ReportSignal::Off,
            interval: None,
            log: None,
            datadump: false,
            gc: false,
            interval_gc: false,
            keep: None,
            keep_bytes: None,
            jsonl_max: 0,
            chains: Chains::Off,
            chain_time: Duration::ZERO,
            chain_objects: 0,
            chain_pause: Duration::ZERO,
            chain_memory: 0,
            chain_method: ChainMethod::Auto,
            chain_dump_dir: None,
            exit_timeout: Duration::ZERO,
            max_dead_loaders: 0,
            leak_loaders: Vec::new(),
            trim: false,
            sample_interval: None,
            samples: 0,
            help: false,
            raw: String::new(),
            native: NativeOptions {
                zlib: false,
                direct: false,
                stack_depth: 0,
                key_depth: 0,
                hot_sample: 0,
                stack_templates: false,
                max_sites: 0,
                max_tracked: 0,
            },
            native_sampling: false,
            native_interval: 0,
            limits: Limits::default(),
            prom_file: None,
            jsonl_file: None,
            oom: false,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        let mut o = Options::unset();
        for opt in OPTIONS {
            if let Value(v) = opt.default {
                (opt.set)(&mut o, opt.key, v).expect("every default in OPTIONS parses");
            }
        }
        o
    }
}

impl Default for NativeOptions {
    fn default() -> Self {
        Options::default().native
    }
}

/// One problem in the options string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionError {
    pub option: String,
    pub value: String,
    pub allowed: String,
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() && self.option.is_empty() {
            write!(f, "empty option: {}", self.allowed)
        } else if let Some(rest) = self.allowed.strip_prefix("unknown option; ") {
            let value = if self.value.is_empty() { String::new() } else { format!(" (value '{}')", self.value) };
            write!(f, "unknown option '{}'{value}; {rest}", self.option)
        } else {
            write!(f, "option '{}' has a bad value '{}': {}", self.option, self.value, self.allowed)
        }
    }
}

/// An option's default: a value parsed like a user's, or the field left unset (what that means
/// is said in words, for `help` and the README).
#[derive(Clone, Copy)]
enum Given {
    Value(&'static str),
    Unset(&'static str),
}

/// One option: the key, its default, its help, and how a value is stored (the key is passed
/// so that errors name it).
struct Opt {
    key: &'static str,
    default: Given,
    help: &'static str,
    set: fn(&mut Options, &'static str, &str) -> Result<(), OptionError>,
}

use Given::{Unset, Value};

const MS: fn(u64) -> Duration = Duration::from_millis;
const SECS: fn(u64) -> Duration = Duration::from_secs;
/// Every duration has an upper bound, so that no deadline computed from one overflows.
const MAX_INTERVAL: Duration = Duration::from_secs(30 * 24 * 3600);

const OPTIONS: &[Opt] = &[
    Opt {
        key: "file",
        // `%s` (the agent's start time) keeps a restarted container's reports (same pid, often
        // 1) from overwriting the previous run's.
        default: Value("leakagent-%p-%s-%n.json"),
        help: "where reports go; %p = pid, %s = the agent's start time and %t = the report's local time \
               (YYYYmmdd-HHMMSS), %n = report number, %h = host name, %{NAME} = environment variable NAME (e.g. \
               %{POD_NAME}), %% = %. A .json suffix is added when missing; other \
               formats sit beside it (.txt, .html). A name with %n never replaces an existing file",
        set: |o, k, v| values::file_pattern(k, v).map(|v| o.file = v),
    },
    Opt {
        key: "format",
        default: Value("json"),
        help: "renderings written besides JSON, joined with '+': text, html, prom (a Prometheus textfile replaced \
               at every sample and report, see prom_file), jsonl (one JSON line appended per report, see jsonl_file). \
               JSON is always written",
        set: |o, k, v| values::formats(k, v).map(|f| o.formats = f),
    },
    Opt {
        key: "prom_file",
        default: Unset("leakagent-%h-%p.prom beside the reports"),
        help: "the Prometheus textfile of format=...+prom (%p = pid, %s = start time, %h = host, %{NAME} = \
               environment variable); point node_exporter's \
               --collector.textfile.directory at its directory",
        set: |o, k, v| values::series_file(k, v).map(|v| o.prom_file = Some(v)),
    },
    Opt {
        key: "jsonl_file",
        default: Unset("leakagent-%h-%p.jsonl beside the reports"),
        help: "the file format=...+jsonl appends one JSON line per report to (%p = pid, %s = start time, %h = host, \
               %{NAME} = environment variable)",
        set: |o, k, v| values::series_file(k, v).map(|v| o.jsonl_file = Some(v)),
    },
    Opt {
        key: "rss_limit",
        default: Value("off"),
        help: "a threshold report when RSS crosses this size (e.g. 3g) or this percentage of the memory cgroup's \
               limit (e.g. 85%); again only after RSS fell below 90% of it",
        set: |o, k, v| values::limit(k, v, values::size_or_percent).map(|l| o.limits.rss = l),
    },
    Opt {
        key: "usage_limit",
        default: Value("off"),
        help: "a threshold report when the memory cgroup's working set (usage - inactive_file, what Kubernetes \
               acts on) crosses this size or percentage of the cgroup's limit (e.g. 90%)",
        set: |o, k, v| values::limit(k, v, values::size_or_percent).map(|l| o.limits.usage = l),
    },
    Opt {
        key: "direct_limit",
        default: Value("off"),
        help: "a threshold report when the direct buffer memory the JDK reserved crosses this percentage of \
               MaxDirectMemorySize (e.g. 80%) or this size",
        set: |o, k, v| values::limit(k, v, values::size_or_percent).map(|l| o.limits.direct = l),
    },
    Opt {
        key: "zlib_limit",
        default: Value("off"),
        help: "a threshold report when this many zlib streams are live (1..1000000000)",
        set: |o, k, v| values::limit(k, v, values::count).map(|l| o.limits.zlib = l),
    },
    Opt {
        key: "loaders_limit",
        default: Value("off"),
        help: "a threshold report when this many class loaders are alive (1..1000000000); loaders that should \
               be dead are told apart at the report",
        set: |o, k, v| values::limit(k, v, values::count).map(|l| o.limits.loaders = l),
    },
    Opt {
        key: "oom",
        default: Value("on"),
        help: "on: a report (trigger oom) when the JVM throws OutOfMemoryError for the heap, metaspace or \
               threads, written before the throwing thread continues (up to 5s), and when direct buffer \
               memory is found exhausted",
        set: |o, k, v| bool_value(k, v).map(|b| o.oom = b),
    },
    Opt {
        key: "signal",
        default: Value("RTMIN+2"),
        help: "signal that asks for a report: RTMIN+N (N 0..8), USR1, or off. USR2, QUIT, TERM, INT and HUP belong to HotSpot",
        set: |o, k, v| values::signal(k, v).map(|s| o.signal = s),
    },
    Opt {
        key: "interval",
        default: Value("off"),
        help: "periodic reports, e.g. 30s, 5m, 1h (1s..720h, i.e. 30 days), or off",
        set: |o, k, v| duration_or_off(k, v, SECS(1), MAX_INTERVAL).map(|d| o.interval = d),
    },
    Opt {
        key: "log",
        default: Unset("standard error"),
        help: "file the agent's own log lines are appended to (created 0600; a symlink, another user's file or one others can write is refused)",
        set: |o, k, v| values::path(k, v).map(|v| o.log = Some(v)),
    },
    Opt {
        key: "datadump",
        default: Value("off"),
        help: "on: kill -3 (SIGQUIT, JVMTI DataDumpRequest) also writes a report, besides HotSpot's thread dump",
        set: |o, k, v| bool_value(k, v).map(|b| o.datadump = b),
    },
    Opt {
        key: "gc",
        default: Value("on"),
        help: "on: a full GC (JVMTI ForceGarbageCollection, works under -XX:+DisableExplicitGC) before each report, so only loaders that cannot die remain",
        set: |o, k, v| bool_value(k, v).map(|b| o.gc = b),
    },
    Opt {
        key: "interval_gc",
        // A full GC of a large heap every interval is a pause and CPU a fleet notices; interval
        // reports say that none ran (class_loaders.gc_skipped).
        default: Value("off"),
        help: "on: interval reports too get the full GC of gc=on; off: they run without it and say so \
               (loaders dead since the last collection still count as alive there)",
        set: |o, k, v| bool_value(k, v).map(|b| o.interval_gc = b),
    },
    Opt {
        key: "keep",
        // 100 reports of ~1 MiB (a report with 500 sites) fit a container's disk; at interval=30s
        // they span the last 50 minutes, and reports asked for stay among them.
        default: Value("100"),
        help: "reports of this process kept on disk (1..1000000, or off): after each report the oldest this \
               process wrote (with their .txt/.html) are removed; never another file",
        set: |o, k, v| values::number_or_off(k, v, 1, 1_000_000).map(|n| o.keep = n.map(|n| n as usize)),
    },
    Opt {
        key: "keep_bytes",
        default: Value("256m"),
        help: "bytes of this process's reports kept on disk (1m..1t, or off): the oldest are removed past it, \
               the newest report always stays",
        set: |o, k, v| values::size_or_off(k, v, 1 << 20, 1 << 40).map(|n| o.keep_bytes = n),
    },
    Opt {
        key: "jsonl_max",
        default: Value("64m"),
        help: "the JSON lines file (format=...+jsonl) is renamed to NAME.1 (replacing the previous one) when \
               the next line would take it past this size (4k..16g)",
        set: |o, k, v| size_in(k, v, 4 << 10, 16 << 30).map(|n| o.jsonl_max = n),
    },
    Opt {
        key: "chains",
        default: Value("demand"),
        help: "demand: find the reference chain from a GC root to each suspect class loader in reports somebody asked for (signal, kill -3, exit), not in periodic ones; on: in every report; off",
        set: |o, k, v| {
            o.chains = match v {
                "demand" => Chains::Demand,
                _ => match bool_value(k, v) {
                    Ok(true) => Chains::On,
                    Ok(false) => Chains::Off,
                    Err(_) => return Err(err(k, v, "allowed: on, off or demand")),
                },
            };
            Ok(())
        },
    },
    Opt {
        key: "chain_time",
        default: Value("60s"),
        help: "time limit of one chain search (1s..1h; the search reports what it found and that it stopped)",
        set: |o, k, v| duration_in(k, v, SECS(1), SECS(3600)).map(|d| o.chain_time = d),
    },
    Opt {
        key: "chain_objects",
        default: Value("2000000"),
        help: "most objects one live-heap chain search may tag (10..1000000000; about 134 bytes each, in HotSpot and the agent)",
        set: |o, k, v| number_in(k, v, 10, 1_000_000_000).map(|n| o.chain_objects = n),
    },
    Opt {
        key: "chain_pause",
        default: Value("1s"),
        help: "longest one safepoint pause of the chain search may be (10ms..60s): a heap walk that would pause longer is aborted, and the search moves to a heap dump or stops",
        set: |o, k, v| duration_in(k, v, MS(10), SECS(60)).map(|d| o.chain_pause = d),
    },
    Opt {
        key: "chain_memory",
        default: Value("64m"),
        help: "memory the chain search may use for its own bookkeeping (1m..4g; k, m, g suffixes); past it the search stops and says so",
        set: |o, k, v| size_in(k, v, 1 << 20, 4 << 30).map(|n| o.chain_memory = n),
    },
    Opt {
        key: "chain_method",
        default: Value("auto"),
        help: "auto: one heap dump searched while the application runs, whenever its estimated pause fits chain_pause and its directory has room, else live heap walks (a pause per hop); walk: live heap walks only; dump: the heap dump or no search",
        set: |o, k, v| {
            o.chain_method = match v {
                "auto" => ChainMethod::Auto,
                "walk" => ChainMethod::Walk,
                "dump" => ChainMethod::Dump,
                _ => return Err(err(k, v, "allowed: auto, walk or dump")),
            };
            Ok(())
        },
    },
    Opt {
        key: "chain_dump_dir",
        default: Unset("beside the reports"),
        help: "directory for the temporary heap dump (deleted at once, never left behind); a memory-backed file system (tmpfs) is refused unless named here; name a local directory that is neither kept nor shipped",
        set: |o, k, v| values::path(k, v).map(|v| o.chain_dump_dir = Some(v)),
    },
    Opt {
        key: "exit_timeout",
        default: Value("10s"),
        help: "longest VM death waits for the exit report (1s..10m), whatever the path; the exit report fits its work (GC, chain search) into it and says what it skipped",
        set: |o, k, v| duration_in(k, v, SECS(1), SECS(600)).map(|d| o.exit_timeout = d),
    },
    Opt {
        key: "max_dead_loaders",
        default: Value("1000"),
        help: "dead class loaders kept one by one in the report (16..1000000); older dead ones are summarised by class, so memory stays bounded",
        set: |o, k, v| number_in(k, v, 16, 1_000_000).map(|n| o.max_dead_loaders = n as usize),
    },
    Opt {
        key: "leak_loaders",
        default: Unset("none"),
        help: "globs on class loader class or name, joined with '+', that must not be alive (e.g. plugin-*+*.MyLoader)",
        set: |o, k, v| values::globs(k, v).map(|g| o.leak_loaders = g),
    },
    Opt {
        key: "trim",
        default: Value("off"),
        help: "on: at report time, after the memory section is measured, return the allocator's free memory \
               to the OS (glibc malloc_trim(0), jemalloc arena purge, tcmalloc ReleaseFreeMemory) and report \
               RSS before and after",
        set: |o, k, v| bool_value(k, v).map(|b| o.trim = b),
    },
    Opt {
        key: "sample_interval",
        default: Value("1s"),
        help: "period of the memory sampler (RSS, malloc, heap, direct, classes over time), e.g. 500ms, 1s, 10s \
               (10ms..1h), or off",
        set: |o, k, v| duration_or_off(k, v, MS(10), SECS(3600)).map(|d| o.sample_interval = d),
    },
    Opt {
        key: "samples",
        default: Value("600"),
        help: "how many samples the sampler keeps (16..100000); when full, the older half is thinned to every \
               second sample, so memory stays bounded and the whole run stays visible",
        set: |o, k, v| number_in(k, v, 16, 100_000).map(|n| o.samples = n as usize),
    },
    Opt {
        key: "zlib",
        default: Value("on"),
        help: "on: track every Inflater/Deflater (site, explicit end() or GC, live count and bytes)",
        set: |o, k, v| bool_value(k, v).map(|b| o.native.zlib = b),
    },
    Opt {
        key: "direct",
        default: Value("on"),
        help: "on: track DirectByteBuffer and Unsafe.allocateMemory blocks by site (needs start-up loading)",
        set: |o, k, v| bool_value(k, v).map(|b| o.native.direct = b),
    },
    Opt {
        key: "native",
        // Off by default: bench/malloc_overhead.sh measures more than 3% on malloc-heavy JNI
        // work (docs/native-memory.md, "Overhead").
        default: Value("off"),
        help: "on: sample native allocations (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign) \
               of the JVM and its libraries by bytes, with Java and native stacks, through their import tables",
        set: |o, k, v| bool_value(k, v).map(|b| o.native_sampling = b),
    },
    Opt {
        key: "native_interval",
        default: Value("2m"),
        help: "mean bytes allocated between two native samples (4k..1g; Poisson: small and large blocks are \
               both represented)",
        set: |o, k, v| size_in(k, v, 4 << 10, 1 << 30).map(|n| o.native_interval = n),
    },
    Opt {
        key: "stack_depth",
        default: Value("16"),
        help: "Java frames kept per zlib/direct site, 1..64 (taken once per new site)",
        set: |o, k, v| number_in(k, v, 1, MAX_STACK_DEPTH as u64).map(|n| o.native.stack_depth = n as usize),
    },
    Opt {
        key: "key_depth",
        default: Value("8"),
        help: "top Java frames that identify a zlib/direct site, 4..16 and at most stack_depth; the first \
               two are the native and its JDK caller; each more frame tells callers further apart. An event \
               whose stack matches a template of its thread is not walked; a walk costs about 80 ns per frame",
        set: |o, k, v| number_in(k, v, MIN_KEY_DEPTH as u64, MAX_KEY_DEPTH as u64).map(|n| o.native.key_depth = n as usize),
    },
    Opt {
        key: "hot_sample",
        default: Value("1"),
        help: "no effect, accepted (1..1000000) so that older command lines still start: every zlib/direct \
               event is attributed to the site of its own stack",
        set: |o, k, v| number_in(k, v, 1, 1_000_000).map(|n| o.native.hot_sample = n as u32),
    },
    Opt {
        key: "stack_templates",
        default: Value("on"),
        help: "on: an event whose stack matches a template of its thread (the words a first walk read) gets \
               that template's site without a walk; off: walk every event (the same exact counts, slower)",
        set: |o, k, v| bool_value(k, v).map(|b| o.native.stack_templates = b),
    },
    Opt {
        key: "max_sites",
        default: Value("4096"),
        help: "distinct sites per ledger (16..1000000); later events go to an '<other sites>' site",
        set: |o, k, v| number_in(k, v, 16, 1_000_000).map(|n| o.native.max_sites = n as usize),
    },
    Opt {
        key: "max_tracked",
        default: Value("2000000"),
        help: "live blocks/streams tracked by address per ledger (64..100000000, about 40 bytes each); \
               beyond, events are counted in health.dropped",
        set: |o, k, v| number_in(k, v, 64, 100_000_000).map(|n| o.native.max_tracked = n as usize),
    },
    Opt {
        key: "help",
        default: Unset(""),
        help: "print this list and stop the JVM",
        set: |o, k, v| {
            if !v.is_empty() {
                return Err(err(k, v, "help takes no value"));
            }
            o.help = true;
            Ok(())
        },
    },
];

/// The text `help` prints.
pub fn help_text() -> String {
    let mut out = String::from("leakagent options: -agentpath:/path/libleakagent.so=key=value,key=value,...\n\n");
    for o in OPTIONS {
        let default = match o.default {
            Value(v) | Unset(v) if v.is_empty() => String::new(),
            Value(v) | Unset(v) => format!(" (default: {v})"),
        };
        wrap_into(&mut out, o.key, &format!("{}{default}", o.help.split_whitespace().collect::<Vec<_>>().join(" ")));
    }
    out.push_str("\nExample: -agentpath:/opt/libleakagent.so=file=/tmp/leak-%p-%n,format=text,interval=5m\n");
    out
}

/// Help lines fit a 100-column terminal: the key in a 20-column margin, the text wrapped at words.
const HELP_WIDTH: usize = 100;
const HELP_MARGIN: usize = 20;

fn wrap_into(out: &mut String, key: &str, text: &str) {
    let mut line = format!("  {key:<w$}", w = HELP_MARGIN - 2);
    if line.len() > HELP_MARGIN {
        out.push_str(line.trim_end());
        out.push('\n');
        line = " ".repeat(HELP_MARGIN);
    }
    let mut empty = true;
    for word in text.split(' ') {
        if !empty && line.len() + 1 + word.len() > HELP_WIDTH {
            out.push_str(&line);
            out.push('\n');
            line = " ".repeat(HELP_MARGIN);
            empty = true;
        }
        if !empty {
            line.push(' ');
        }
        line.push_str(word);
        empty = false;
    }
    out.push_str(&line);
    out.push('\n');
}

/// The known option a mistyped `key` most likely meant: one within two edits, or whose letters
/// `key` keeps in order with the same first letter (`fmt` for `format`).
fn nearest_key(key: &str) -> Option<&'static str> {
    let key = key.to_ascii_lowercase();
    let subsequence = |k: &str| {
        let mut it = k.chars();
        key.chars().next() == k.chars().next() && key.chars().all(|c| it.any(|x| x == c))
    };
    OPTIONS
        .iter()
        .map(|o| (edit_distance(&key, o.key), o.key))
        .filter(|(d, k)| *d <= 2.min(k.len() / 2) || (key.len() >= 2 && subsequence(k)))
        .min()
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for j in 0..b.len() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != b[j])).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Parses the whole options string, returning every error found.
pub fn parse(input: &str) -> Result<Options, Vec<OptionError>> {
    let mut opts = Options { raw: input.to_string(), ..Options::default() };
    let mut errors = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for item in input.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (key, value) = match item.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (item, ""),
        };
        let Some(opt) = OPTIONS.iter().find(|o| o.key == key) else {
            let known: Vec<&str> = OPTIONS.iter().map(|o| o.key).collect();
            let hint = nearest_key(key).map(|k| format!("did you mean '{k}'? ")).unwrap_or_default();
            errors.push(err(key, value, format!("unknown option; {hint}known options: {}", known.join(", "))));
            continue;
        };
        if seen.contains(&opt.key) {
            errors.push(err(key, value, "this option is given twice"));
            continue;
        }
        seen.push(opt.key);
        if let Err(e) = (opt.set)(&mut opts, opt.key, value) {
            errors.push(e);
        }
    }
    // The key is a prefix of the kept stack: a shallower stack_depth lowers the default key
    // depth, and an explicit key_depth deeper than stack_depth is refused.
    let n = &mut opts.native;
    if n.key_depth > n.stack_depth {
        if seen.contains(&"key_depth") {
            errors.push(err("key_depth", &n.key_depth.to_string(), format!("must not exceed stack_depth ({})", n.stack_depth)));
        } else {
            n.key_depth = n.stack_depth;
        }
    }
    // The sampler checks the limits: without it they would never report.
    if opts.sample_interval.is_none() {
        for l in opts.limits.all() {
            errors.push(err(l.option, &l.raw, "needs the sampler, which sample_interval=off stops; allowed: off, or a sample_interval"));
        }
    }
    if errors.is_empty() {
        Ok(opts)
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_when_empty() {
        let o = parse("").unwrap();
        assert_eq!(o.file, "leakagent-%p-%s-%n.json");
        assert_eq!(o.signal, ReportSignal::RtMin(2));
        assert_eq!(o.interval, None);
        assert!(!o.datadump && !o.help && !o.formats.text && !o.formats.html);
        assert!(!o.trim);
        assert_eq!(o.sample_interval, Some(Duration::from_secs(1)));
        assert_eq!(o.samples, 600);
    }

    #[test]
    fn memory_options() {
        let o = parse("trim=on,sample_interval=250ms,samples=32").unwrap();
        assert!(o.trim);
        assert_eq!(o.sample_interval, Some(Duration::from_millis(250)));
        assert_eq!(o.samples, 32);
        assert_eq!(parse("sample_interval=off").unwrap().sample_interval, None);
        assert_eq!(parse("sample_interval=10ms").unwrap().sample_interval, Some(Duration::from_millis(10)));
        assert_eq!(parse("sample_interval=2m").unwrap().sample_interval, Some(Duration::from_secs(120)));
        assert!(!parse("trim=off").unwrap().trim);
        let errs = parse("trim=sometimes,sample_interval=5ms,samples=3").unwrap_err();
        let names: Vec<_> = errs.iter().map(|e| e.option.as_str()).collect();
        assert_eq!(names, ["trim", "sample_interval", "samples"]);
        for bad in ["", "1", "9ms", "1.5s", "fast", "99999999999999999999h"] {
            assert_eq!(parse(&format!("sample_interval={bad}")).unwrap_err()[0].option, "sample_interval", "{bad}");
        }
        for bad in ["", "15", "100001", "-1", "ten"] {
            assert_eq!(parse(&format!("samples={bad}")).unwrap_err()[0].option, "samples", "{bad}");
        }
        assert!(parse("samples=16").is_ok() && parse("samples=100000").is_ok());
    }

    #[test]
    fn every_option_parses() {
        let o = parse("file=/tmp/r-%p-%t-%n,format=text+html,signal=USR1,interval=5m,log=/tmp/a.log,datadump=on")
            .unwrap();
        assert_eq!(o.file, "/tmp/r-%p-%t-%n");
        assert_eq!(o.formats, Formats { text: true, html: true, prom: false, jsonl: false });
        assert_eq!(o.signal, ReportSignal::Usr1);
        assert_eq!(o.interval, Some(Duration::from_secs(300)));
        assert_eq!(o.log.as_deref(), Some("/tmp/a.log"));
        assert!(o.datadump);
        assert!(parse("help").unwrap().help);
    }

    #[test]
    fn signals() {
        assert_eq!(parse("signal=SIGRTMIN+8").unwrap().signal, ReportSignal::RtMin(8));
        let e = parse("signal=USR2").unwrap_err();
        assert_eq!(e[0].option, "signal");
        assert!(e[0].allowed.contains("HotSpot"), "{}", e[0]);
    }

    #[test]
    fn intervals() {
        let interval = |v: &str| parse(&format!("interval={v}")).map(|o| o.interval);
        assert_eq!(interval("30s").unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(interval("1h").unwrap(), Some(Duration::from_secs(3600)));
        assert_eq!(interval("1500ms").unwrap(), Some(Duration::from_millis(1500)));
        assert_eq!(interval("off").unwrap(), None);
        for bad in ["", "5", "s", "10x", "500ms", "-1s", "1.5s", "99999999999999999999s"] {
            let e = interval(bad).unwrap_err();
            assert_eq!(e[0].option, "interval", "{bad}");
            assert!(e[0].allowed.contains("from 1s to 720h") && e[0].allowed.contains("or off"), "{}", e[0]);
        }
    }

    /// Every duration option has an upper bound: `interval=18446744073709551615s` used to be
    /// accepted, then the interval deadline overflowed and panicked in the report thread.
    #[test]
    fn every_duration_is_bounded() {
        let huge = "18446744073709551615s";
        for (key, allowed) in [
            ("interval", "from 1s to 720h"),
            ("sample_interval", "from 10ms to 1h"),
            ("chain_time", "from 1s to 1h"),
            ("chain_pause", "from 10ms to 1m"),
            ("exit_timeout", "from 1s to 10m"),
        ] {
            let e = parse(&format!("{key}={huge}")).unwrap_err();
            assert_eq!((e[0].option.as_str(), e[0].value.as_str()), (key, huge));
            assert!(e[0].allowed.contains(allowed), "{}", e[0]);
        }
        assert_eq!(parse("interval=720h").unwrap().interval, Some(MAX_INTERVAL));
        assert!(parse("interval=721h").is_err());
        let o = parse("").unwrap();
        for d in [o.chain_time, o.chain_pause, o.exit_timeout, o.sample_interval.unwrap()] {
            assert!(std::time::Instant::now().checked_add(d).is_some());
        }
    }

    #[test]
    fn retention_options() {
        let o = parse("").unwrap();
        assert_eq!((o.keep, o.keep_bytes, o.jsonl_max, o.interval_gc), (Some(100), Some(256 << 20), 64 << 20, false));
        let o = parse("keep=3,keep_bytes=off,jsonl_max=1m,interval_gc=on").unwrap();
        assert_eq!((o.keep, o.keep_bytes, o.jsonl_max, o.interval_gc), (Some(3), None, 1 << 20, true));
        assert_eq!(parse("keep=off").unwrap().keep, None);
        for bad in ["keep=0", "keep=x", "keep_bytes=1k", "jsonl_max=1k", "jsonl_max=off", "interval_gc=2"] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e[0].option, bad.split('=').next().unwrap(), "{bad}");
        }
        assert!(parse("keep=0").unwrap_err()[0].allowed.contains("from 1 to 1000000, or off"));
    }

    #[test]
    fn all_errors_are_reported_at_once() {
        let errs = parse("bogus=1,signal=USR2,interval=soon,format=pdf,datadump=maybe").unwrap_err();
        let names: Vec<_> = errs.iter().map(|e| e.option.as_str()).collect();
        assert_eq!(names, ["bogus", "signal", "interval", "format", "datadump"]);
        for e in &errs {
            let msg = e.to_string();
            assert!(msg.contains(&e.option) && msg.contains(&e.value), "{msg}");
        }
        assert!(errs[0].allowed.contains("known options"));
    }

    #[test]
    fn leak_options() {
        let o = parse("gc=off,chains=off,chain_time=2m,chain_objects=5000,leak_loaders=plugin-*+*Webapp*").unwrap();
        assert!(!o.gc && o.chains == Chains::Off);
        assert_eq!(parse("chains=demand").unwrap().chains, Chains::Demand);
        assert!(parse("chains=sometimes").unwrap_err()[0].allowed.contains("demand"));
        assert_eq!(o.chain_time, Duration::from_secs(120));
        assert_eq!(o.chain_objects, 5000);
        assert_eq!(o.leak_loaders, ["plugin-*", "*Webapp*"]);
        let d = parse("").unwrap();
        assert!(d.gc && d.chains == Chains::Demand && d.leak_loaders.is_empty());
        assert_eq!(parse("chains=on").unwrap().chains, Chains::On);
        for bad in ["chain_time=0", "chain_time=fast", "chain_objects=9", "chain_objects=x", "leak_loaders=", "gc=maybe"] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e[0].option, bad.split('=').next().unwrap(), "{bad}: {e:?}");
        }
    }

    #[test]
    fn safety_options() {
        let d = parse("").unwrap();
        assert_eq!(d.exit_timeout, Duration::from_secs(10));
        assert_eq!((d.chain_pause, d.chain_memory), (Duration::from_secs(1), 64 << 20));
        assert_eq!((d.chain_method, d.chain_dump_dir.as_deref()), (ChainMethod::Auto, None));
        assert_eq!(d.max_dead_loaders, 1000);
        let o = parse("exit_timeout=25s,chain_pause=1500ms,chain_memory=1g,chain_method=dump,chain_dump_dir=/var/tmp,max_dead_loaders=50")
            .unwrap();
        assert_eq!(o.exit_timeout, Duration::from_secs(25));
        assert_eq!((o.chain_pause, o.chain_memory, o.chain_method), (Duration::from_millis(1500), 1 << 30, ChainMethod::Dump));
        assert_eq!((o.chain_dump_dir.as_deref(), o.max_dead_loaders), (Some("/var/tmp"), 50));
        assert_eq!(parse("chain_method=walk").unwrap().chain_method, ChainMethod::Walk);
        for bad in [
            "exit_timeout=0",
            "exit_timeout=500ms",
            "exit_timeout=11m",
            "chain_pause=5ms",
            "chain_pause=2m",
            "chain_memory=512k",
            "chain_memory=5g",
            "chain_memory=lots",
            "chain_method=guess",
            "chain_dump_dir=",
            "max_dead_loaders=3",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e[0].option, bad.split('=').next().unwrap(), "{bad}: {e:?}");
            assert!(e[0].allowed.contains("allowed") || e[0].allowed.contains("required"), "{bad}: {}", e[0]);
        }
    }

    #[test]
    fn limit_options() {
        let d = parse("").unwrap();
        assert_eq!(d.limits, Limits::default());
        assert!(d.oom && d.prom_file.is_none() && !d.formats.prom && !d.formats.jsonl);
        let o = parse("rss_limit=3g,usage_limit=85%,direct_limit=80%,zlib_limit=1000,loaders_limit=50,oom=off,format=json+prom+jsonl,prom_file=/var/lib/ne/leak-%p.prom,jsonl_file=/var/log/leak.jsonl")
            .unwrap();
        assert_eq!(o.limits.rss.as_ref().unwrap().level, Level::Bytes(3 << 30));
        assert_eq!(o.limits.usage.as_ref().unwrap().level, Level::Percent(85.0));
        assert_eq!(o.limits.usage.as_ref().unwrap().raw, "85%");
        assert_eq!(o.limits.direct.as_ref().unwrap().level, Level::Percent(80.0));
        assert_eq!(o.limits.zlib.as_ref().unwrap().level, Level::Count(1000));
        assert_eq!(o.limits.loaders.as_ref().unwrap().level, Level::Count(50));
        assert_eq!(o.limits.all().count(), 5);
        assert!(!o.oom && o.formats.prom && o.formats.jsonl);
        assert_eq!(o.prom_file.as_deref(), Some("/var/lib/ne/leak-%p.prom"));
        assert_eq!(parse("rss_limit=92.5%").unwrap().limits.rss.unwrap().level, Level::Percent(92.5));
        assert_eq!(parse("rss_limit=off").unwrap().limits.rss, None);
        let e = parse("sample_interval=off,zlib_limit=10").unwrap_err();
        assert_eq!((e.len(), e[0].option.as_str()), (1, "zlib_limit"));
        assert!(e[0].allowed.contains("sample_interval=off"), "{}", e[0]);
        for bad in [
            "rss_limit=0",
            "rss_limit=0%",
            "rss_limit=101%",
            "rss_limit=lots",
            "rss_limit=-5%",
            "rss_limit=",
            "usage_limit=3x",
            "direct_limit=200%",
            "zlib_limit=0",
            "zlib_limit=10%",
            "loaders_limit=many",
            "oom=maybe",
            "prom_file=/tmp/x-%n.prom",
            "jsonl_file=",
            "format=json+csv",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e[0].option, bad.split('=').next().unwrap(), "{bad}: {e:?}");
            assert!(e[0].to_string().contains("allowed") || e[0].to_string().contains("must") || e[0].to_string().contains("required"), "{bad}: {}", e[0]);
        }
    }

    #[test]
    fn file_patterns() {
        assert!(parse("file=/tmp/r-%p-%s-%n").is_ok());
        assert!(parse("file=").is_err());
        assert!(parse("file=/tmp/x%q").is_err());
        assert!(parse("file=/tmp/dir/").is_err());
        assert!(parse("file=/tmp/100%%").is_ok());
        assert!(parse("file=a,file=b").unwrap_err()[0].allowed.contains("twice"));
        assert!(parse("log=").is_err());
        assert!(parse("help=1").is_err());
    }

    #[test]
    fn native_options() {
        let d = parse("").unwrap().native;
        assert_eq!(d, NativeOptions::default());
        assert!(d.zlib && d.direct && d.stack_depth == 16 && d.key_depth == 8 && d.hot_sample == 1);
        let o = parse("zlib=off,direct=off,stack_depth=32,key_depth=12,hot_sample=64,stack_templates=off,max_sites=100,max_tracked=5000")
            .unwrap()
            .native;
        assert_eq!(
            o,
            NativeOptions {
                zlib: false,
                direct: false,
                stack_depth: 32,
                key_depth: 12,
                hot_sample: 64,
                stack_templates: false,
                max_sites: 100,
                max_tracked: 5000
            }
        );
        // A shallow stack lowers the default key depth; it may still be 1 frame deep.
        let shallow = parse("stack_depth=6").unwrap().native;
        assert_eq!((shallow.stack_depth, shallow.key_depth), (6, 6));
        assert_eq!(parse("stack_depth=1").unwrap().native.key_depth, 1);
        let e = parse("stack_depth=6,key_depth=10").unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].option, "key_depth");
        assert!(e[0].allowed.contains("stack_depth (6)"), "{}", e[0]);
        for bad in [
            "stack_depth=0",
            "stack_depth=65",
            "key_depth=3",
            "key_depth=17",
            "hot_sample=0",
            "stack_templates=yes please",
            "max_sites=15",
            "max_tracked=10",
            "max_tracked=63",
            "zlib=maybe",
            "direct=",
            "stack_depth=-1",
            "key_depth=8.5",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e[0].allowed.contains("allowed"), "{bad}: {}", e[0]);
        }
    }

    #[test]
    fn help_lists_every_option_with_its_default() {
        let h = help_text();
        for o in OPTIONS {
            // An option's entry: its line and the wrapped lines under it, joined.
            let mut lines = h.lines().skip_while(|l| !l.starts_with(&format!("  {} ", o.key)) && l.trim() != o.key);
            let first = lines.next().unwrap_or_else(|| panic!("{}", o.key));
            let rest: Vec<&str> = lines.take_while(|l| l.starts_with(&" ".repeat(HELP_MARGIN))).map(str::trim).collect();
            let entry = std::iter::once(first.trim_end()).chain(rest).collect::<Vec<_>>().join(" ");
            if let Value(v) = o.default {
                assert!(entry.ends_with(&format!("(default: {v})")), "{entry}");
            }
        }
    }

    #[test]
    fn native_sampling_options() {
        let d = Options::default();
        assert!(!d.native_sampling);
        assert_eq!(d.native_interval, 2 << 20);
        let o = parse("native=on,native_interval=64k").unwrap();
        assert!(o.native_sampling);
        assert_eq!(o.native_interval, 64 << 10);
        for bad in ["native=maybe", "native_interval=1k", "native_interval=2g", "native_interval=x"] {
            let e = parse(bad).unwrap_err();
            let key = bad.split('=').next().unwrap();
            assert_eq!((e.len(), e[0].option.as_str()), (1, key), "{bad}");
            assert!(!e[0].allowed.is_empty(), "{bad}: {}", e[0]);
        }
    }

    /// Each default parses to the same value through the table, and `parse("")` is the default.
    #[test]
    fn defaults_come_from_the_table() {
        let d = Options::default();
        assert_eq!(parse("").unwrap(), Options { raw: String::new(), ..d.clone() });
        for o in OPTIONS {
            if let Value(v) = o.default {
                let given = parse(&format!("{}={v}", o.key)).unwrap();
                assert_eq!(Options { raw: String::new(), ..given }, d, "{}", o.key);
            }
        }
        assert_eq!(d.signal, ReportSignal::RtMin(2));
        assert_eq!((d.chain_time, d.samples, d.native.max_tracked), (Duration::from_secs(60), 600, 2_000_000));
    }

    /// README's options table names every option with the table's default, so the document
    /// cannot drift from the code.
    #[test]
    fn an_unknown_option_suggests_the_nearest_one() {
        let e = parse("fmt=text").unwrap_err();
        assert!(e[0].to_string().contains("did you mean 'format'?"), "{}", e[0]);
        assert!(parse("intervall=5m").unwrap_err()[0].to_string().contains("did you mean 'interval'?"));
        assert!(parse("sgnal=USR1").unwrap_err()[0].to_string().contains("did you mean 'signal'?"));
        assert!(!parse("zzzz=1").unwrap_err()[0].to_string().contains("did you mean"));
    }

    #[test]
    fn help_fits_100_columns() {
        let h = help_text();
        for line in h.lines() {
            assert!(line.chars().count() <= 100, "{} columns: {line}", line.chars().count());
        }
        assert!(h.contains("\n  file              where reports go;"), "{h}");
    }

    #[test]
    fn readme_lists_every_option_with_its_default() {
        // The README links the options page; the page's table is the reference.
        assert!(include_str!("../../../README.md").contains("(docs/options.md)"));
        let page = include_str!("../../../docs/options.md");
        let section = page.split("\n## ").next().unwrap();
        let mut documented: Vec<(String, String)> = Vec::new();
        for row in section.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = row.split(" | ").collect();
            let keys: Vec<String> = cells[0]
                .trim_start_matches("| ")
                .split(", ")
                .map(|k| k.trim_matches('`').split('=').next().unwrap().to_string())
                .collect();
            let defaults: Vec<&str> = if keys.len() == 1 { vec![cells[1]] } else { cells[1].split(", ").collect() };
            assert_eq!(keys.len(), defaults.len(), "README row: {row}");
            documented.extend(keys.into_iter().zip(defaults.into_iter().map(String::from)));
        }
        for o in OPTIONS {
            let (_, d) = documented
                .iter()
                .find(|(k, _)| k == o.key)
                .unwrap_or_else(|| panic!("README's options table lacks `{}`", o.key));
            match o.default {
                Value(v) => assert!(d.contains(&format!("`{v}`")), "README gives `{}` the default {d:?}, the table {v:?}", o.key),
                Unset(v) => assert!(d.replace('`', "").contains(v), "README gives `{}` the default {d:?}, the table {v:?}", o.key),
            }
        }
        for (k, _) in &documented {
            assert!(OPTIONS.iter().any(|o| o.key == k), "README documents `{k}`, which is not an option");
        }
    }

    /// Random strings never panic the parser (a tiny xorshift keeps the test dependency-free).
    #[test]
    fn random_strings_never_panic() {
        let alphabet: Vec<char> = "abcdefhilmnoprstuvx=,+%/.0123456789 RTMINUS\u{e9}\u{1F600}-_\0".chars().collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let keys = [
            "file=", "format=", "signal=", "interval=", "log=", "datadump=", "gc=", "chains=", "chain_time=",
            "chain_objects=", "chain_pause=", "chain_memory=", "chain_method=", "chain_dump_dir=", "exit_timeout=",
            "max_dead_loaders=", "leak_loaders=", "trim=", "sample_interval=", "samples=", "help", "", "zlib=",
            "direct=", "stack_depth=", "key_depth=", "hot_sample=", "stack_templates=", "max_sites=", "max_tracked=",
            "rss_limit=", "usage_limit=", "direct_limit=", "zlib_limit=", "loaders_limit=", "oom=", "prom_file=",
            "jsonl_file=", "native=", "native_interval=",
        ];
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let mut s = String::from(keys[(next() % keys.len() as u64) as usize]);
            for _ in 0..len {
                s.push(alphabet[(next() % alphabet.len() as u64) as usize]);
            }
            let _ = parse(&s);
        }
    }
}
