//! Agent options: `key=value` pairs separated by `,`.
//!
//! Parsing is complete before anything is reported: every bad key or value is collected and the
//! caller prints all of them, each naming the option, the value and what is allowed.

use std::fmt;
use std::time::Duration;

/// Which signal asks for a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportSignal {
    Off,
    Usr1,
    /// `SIGRTMIN+n`, n in 0..=8.
    RtMin(u8),
}

impl ReportSignal {
    pub const DEFAULT: ReportSignal = ReportSignal::RtMin(2);
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
    pub limits: Limits,
    /// The Prometheus textfile (`%p`, `%s` expanded); None: `leakagent-%p.prom` beside the reports.
    pub prom_file: Option<String>,
    /// The JSON lines file; None: `leakagent-%p.jsonl` beside the reports.
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

pub const DEFAULT_STACK_DEPTH: usize = 16;
pub const DEFAULT_KEY_DEPTH: usize = 8;
pub const DEFAULT_HOT_SAMPLE: u32 = 1;
pub const MAX_STACK_DEPTH: usize = 64;
pub const MAX_KEY_DEPTH: usize = 16;
/// Below this the key cannot reach past the JDK frames of a DirectByteBuffer allocation.
pub const MIN_KEY_DEPTH: usize = 4;

impl Default for NativeOptions {
    fn default() -> Self {
        NativeOptions {
            zlib: true,
            direct: true,
            stack_depth: DEFAULT_STACK_DEPTH,
            key_depth: DEFAULT_KEY_DEPTH,
            hot_sample: DEFAULT_HOT_SAMPLE,
            stack_templates: true,
            max_sites: 4096,
            max_tracked: 2_000_000,
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            file: DEFAULT_FILE.into(),
            formats: Formats { text: false, html: false, prom: false, jsonl: false },
            signal: ReportSignal::DEFAULT,
            interval: None,
            log: None,
            datadump: false,
            gc: true,
            chains: Chains::Demand,
            chain_time: Duration::from_secs(DEFAULT_CHAIN_TIME_S),
            chain_objects: DEFAULT_CHAIN_OBJECTS,
            chain_pause: DEFAULT_CHAIN_PAUSE,
            chain_memory: DEFAULT_CHAIN_MEMORY,
            chain_method: ChainMethod::Auto,
            chain_dump_dir: None,
            exit_timeout: DEFAULT_EXIT_TIMEOUT,
            max_dead_loaders: DEFAULT_MAX_DEAD_LOADERS,
            leak_loaders: Vec::new(),
            trim: false,
            sample_interval: Some(DEFAULT_SAMPLE_INTERVAL),
            samples: DEFAULT_SAMPLES,
            help: false,
            raw: String::new(),
            native: NativeOptions::default(),
            limits: Limits::default(),
            prom_file: None,
            jsonl_file: None,
            oom: true,
        }
    }
}

/// `%s` (the agent's start time) keeps a restarted container's reports (same pid, often 1)
/// from overwriting the previous run's.
pub const DEFAULT_FILE: &str = "leakagent-%p-%s-%n.json";
pub const DEFAULT_CHAIN_TIME_S: u64 = 60;
pub const DEFAULT_CHAIN_OBJECTS: u64 = 2_000_000;
pub const DEFAULT_CHAIN_PAUSE: Duration = Duration::from_secs(1);
pub const DEFAULT_CHAIN_MEMORY: u64 = 64 << 20;
pub const DEFAULT_EXIT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_DEAD_LOADERS: usize = 1000;
pub const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
pub const DEFAULT_SAMPLES: usize = 600;
const MIN_SAMPLES: usize = 16;
const MAX_SAMPLES: usize = 100_000;

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
        } else {
            write!(f, "option '{}' has a bad value '{}': {}", self.option, self.value, self.allowed)
        }
    }
}

struct Spec {
    key: &'static str,
    default: &'static str,
    help: &'static str,
}

const SPECS: &[Spec] = &[
    Spec {
        key: "file",
        default: DEFAULT_FILE,
        help: "where reports go; %p = pid, %s = the agent's start time and %t = the report's local time \
               (YYYYmmdd-HHMMSS), %n = report number, %% = %. A .json suffix is added when missing; other \
               formats sit beside it (.txt, .html). A name with %n never replaces an existing file",
    },
    Spec {
        key: "format",
        default: "json",
        help: "renderings written besides JSON, joined with '+': text, html, prom (a Prometheus textfile replaced \
               at every sample and report, see prom_file), jsonl (one JSON line appended per report, see jsonl_file). \
               JSON is always written",
    },
    Spec {
        key: "prom_file",
        default: "leakagent-%p.prom beside the reports",
        help: "the Prometheus textfile of format=...+prom (%p = pid, %s = start time); point node_exporter's \
               --collector.textfile.directory at its directory",
    },
    Spec {
        key: "jsonl_file",
        default: "leakagent-%p.jsonl beside the reports",
        help: "the file format=...+jsonl appends one JSON line per report to (%p = pid, %s = start time)",
    },
    Spec {
        key: "rss_limit",
        default: "off",
        help: "a threshold report when RSS crosses this size (e.g. 3g) or this percentage of the memory cgroup's \
               limit (e.g. 85%); again only after RSS fell below 90% of it",
    },
    Spec {
        key: "usage_limit",
        default: "off",
        help: "a threshold report when the memory cgroup's working set (usage - inactive_file, what Kubernetes \
               acts on) crosses this size or percentage of the cgroup's limit (e.g. 90%)",
    },
    Spec {
        key: "direct_limit",
        default: "off",
        help: "a threshold report when the direct buffer memory the JDK reserved crosses this percentage of \
               MaxDirectMemorySize (e.g. 80%) or this size",
    },
    Spec {
        key: "zlib_limit",
        default: "off",
        help: "a threshold report when this many zlib streams are live (1..1000000000)",
    },
    Spec {
        key: "loaders_limit",
        default: "off",
        help: "a threshold report when this many class loaders are alive (1..1000000000); loaders that should \
               be dead are told apart at the report",
    },
    Spec {
        key: "oom",
        default: "on",
        help: "on: a report (trigger oom) when the JVM throws OutOfMemoryError for the heap, metaspace or \
               threads, written before the throwing thread continues (up to 5s), and when direct buffer \
               memory is found exhausted",
    },
    Spec {
        key: "signal",
        default: "RTMIN+2",
        help: "signal that asks for a report: RTMIN+N (N 0..8), USR1, or off. USR2, QUIT, TERM, INT and HUP belong to HotSpot",
    },
    Spec {
        key: "interval",
        default: "off",
        help: "periodic reports, e.g. 30s, 5m, 1h (at least 1s), or off",
    },
    Spec { key: "log", default: "stderr", help: "file the agent's own log lines are appended to" },
    Spec {
        key: "datadump",
        default: "off",
        help: "on: kill -3 (SIGQUIT, JVMTI DataDumpRequest) also writes a report, besides HotSpot's thread dump",
    },
    Spec {
        key: "gc",
        default: "on",
        help: "on: a full GC (JVMTI ForceGarbageCollection, works under -XX:+DisableExplicitGC) before each report, so only loaders that cannot die remain",
    },
    Spec {
        key: "chains",
        default: "demand",
        help: "demand: find the reference chain from a GC root to each suspect class loader in reports somebody asked for (signal, kill -3, exit), not in periodic ones; on: in every report; off",
    },
    Spec {
        key: "chain_time",
        default: "60s",
        help: "time limit of one chain search (the search reports what it found and that it stopped)",
    },
    Spec {
        key: "chain_objects",
        default: "2000000",
        help: "most objects one live-heap chain search may tag (about 134 bytes each, in HotSpot and the agent)",
    },
    Spec {
        key: "chain_pause",
        default: "1s",
        help: "longest one safepoint pause of the chain search may be (10ms..60s): a heap walk that would pause longer is aborted, and the search moves to a heap dump or stops",
    },
    Spec {
        key: "chain_memory",
        default: "64m",
        help: "memory the chain search may use for its own bookkeeping (1m..4g; k, m, g suffixes); past it the search stops and says so",
    },
    Spec {
        key: "chain_method",
        default: "auto",
        help: "auto: a live heap walk when the heap is small, else one heap dump searched while the application runs; walk: live heap walks only (a pause per hop); dump: always the heap dump",
    },
    Spec {
        key: "chain_dump_dir",
        default: "beside the reports",
        help: "directory for the temporary heap dump (deleted at once, never left behind); a memory-backed file system (tmpfs) is refused unless named here",
    },
    Spec {
        key: "exit_timeout",
        default: "10s",
        help: "longest VM death waits for the exit report (1s..10m), whatever the path; the exit report fits its work (GC, chain search) into it and says what it skipped",
    },
    Spec {
        key: "max_dead_loaders",
        default: "1000",
        help: "dead class loaders kept one by one in the report (16..1000000); older dead ones are summarised by class, so memory stays bounded",
    },
    Spec {
        key: "leak_loaders",
        default: "none",
        help: "globs on class loader class or name, joined with '+', that must not be alive (e.g. plugin-*+*.MyLoader)",
    },
    Spec {
        key: "trim",
        default: "off",
        help: "on: at report time, after the memory section is measured, return the allocator's free memory \
               to the OS (glibc malloc_trim(0), jemalloc arena purge, tcmalloc ReleaseFreeMemory) and report \
               RSS before and after",
    },
    Spec {
        key: "sample_interval",
        default: "1s",
        help: "period of the memory sampler (RSS, malloc, heap, direct, classes over time), e.g. 500ms, 1s, 10s \
               (at least 10ms), or off",
    },
    Spec {
        key: "samples",
        default: "600",
        help: "how many samples the sampler keeps (16..100000); when full, the older half is thinned to every \
               second sample, so memory stays bounded and the whole run stays visible",
    },
    Spec {
        key: "zlib",
        default: "on",
        help: "on: track every Inflater/Deflater (site, explicit end() or GC, live count and bytes)",
    },
    Spec {
        key: "direct",
        default: "on",
        help: "on: track DirectByteBuffer and Unsafe.allocateMemory blocks by site (needs start-up loading)",
    },
    Spec {
        key: "stack_depth",
        default: "16",
        help: "Java frames kept per zlib/direct site, 1..64 (taken once per new site)",
    },
    Spec {
        key: "key_depth",
        default: "8",
        help: "top Java frames that identify a zlib/direct site, 4..16 and at most stack_depth; the first \
               two are the native and its JDK caller; each more frame tells callers further apart. An event \
               whose stack matches a template of its thread is not walked; a walk costs about 80 ns per frame",
    },
    Spec {
        key: "hot_sample",
        default: "1",
        help: "no effect, accepted (1..1000000) so that older command lines still start: every zlib/direct \
               event is attributed to the site of its own stack",
    },
    Spec {
        key: "stack_templates",
        default: "on",
        help: "on: an event whose stack matches a template of its thread (the words a first walk read) gets \
               that template's site without a walk; off: walk every event (the same exact counts, slower)",
    },
    Spec {
        key: "max_sites",
        default: "4096",
        help: "distinct sites per ledger (16..1000000); later events go to an '<other sites>' site",
    },
    Spec {
        key: "max_tracked",
        default: "2000000",
        help: "live blocks/streams tracked by address per ledger (64..100000000, about 40 bytes each); \
               beyond, events are counted in health.dropped",
    },
    Spec { key: "help", default: "", help: "print this list and stop the JVM" },
];

/// The text `help` prints.
pub fn help_text() -> String {
    let mut out = String::from(
        "leakagent options: -agentpath:/path/libleakagent.so=key=value,key=value,...\n\n",
    );
    for s in SPECS {
        let default = if s.default.is_empty() { String::new() } else { format!(" (default: {})", s.default) };
        out.push_str(&format!("  {:<16}{}{}\n", s.key, s.help, default));
    }
    out.push_str(
        "\nExample: -agentpath:/opt/libleakagent.so=file=/tmp/leak-%p-%n,format=text,interval=5m\n",
    );
    out
}

fn err(option: &str, value: &str, allowed: impl Into<String>) -> OptionError {
    OptionError { option: option.into(), value: value.into(), allowed: allowed.into() }
}

fn parse_bool(key: &str, value: &str) -> Result<bool, OptionError> {
    match value {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(err(key, value, "allowed: on or off")),
    }
}

pub fn parse_signal(value: &str) -> Result<ReportSignal, OptionError> {
    let v = value.trim();
    let upper = v.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let allowed = "allowed: RTMIN+N with N from 0 to 8, USR1, or off";
    match name {
        "OFF" => Ok(ReportSignal::Off),
        "USR1" => Ok(ReportSignal::Usr1),
        "RTMIN" => Ok(ReportSignal::RtMin(0)),
        "USR2" => Err(err("signal", value, format!("HotSpot uses SIGUSR2 to suspend threads; {allowed}"))),
        "QUIT" | "TERM" | "INT" | "HUP" => {
            Err(err("signal", value, format!("HotSpot handles SIG{name}; {allowed}")))
        }
        _ => match name.strip_prefix("RTMIN+").map(str::parse::<u8>) {
            Some(Ok(n)) if n <= 8 => Ok(ReportSignal::RtMin(n)),
            _ => Err(err("signal", value, allowed)),
        },
    }
}

/// `30s`, `5m`, `1h`, `1500ms`; `off` or `0` means none.
pub fn parse_interval(value: &str) -> Result<Option<Duration>, OptionError> {
    let allowed = "allowed: a number with ms, s, m or h (e.g. 30s, 5m, 1h), at least 1s, or off";
    if value == "off" || value == "0" {
        return Ok(None);
    }
    let split = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let n: u64 = digits.parse().map_err(|_| err("interval", value, allowed))?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        _ => return Err(err("interval", value, allowed)),
    };
    if d < Duration::from_secs(1) {
        return Err(err("interval", value, allowed));
    }
    Ok(Some(d))
}

/// The sampler period: like `interval` but from 10ms, or `off`.
pub fn parse_sample_interval(value: &str) -> Result<Option<Duration>, OptionError> {
    let allowed = "allowed: a number with ms, s, m or h (e.g. 500ms, 1s, 10s), at least 10ms, or off";
    if value == "off" || value == "0" {
        return Ok(None);
    }
    let d = parse_duration(value).ok_or_else(|| err("sample_interval", value, allowed))?;
    if d < Duration::from_millis(10) {
        return Err(err("sample_interval", value, allowed));
    }
    Ok(Some(d))
}

/// `1500ms`, `30s`, `5m`, `1h`.
fn parse_duration(value: &str) -> Option<Duration> {
    let split = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let n: u64 = digits.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        "h" => Some(Duration::from_secs(n.checked_mul(3600)?)),
        _ => None,
    }
}

/// A duration between `min` and `max`, e.g. `500ms`, `10s`, `2m`.
fn parse_duration_in(key: &str, value: &str, min: Duration, max: Duration) -> Result<Duration, OptionError> {
    match parse_duration(value) {
        Some(d) if d >= min && d <= max => Ok(d),
        _ => Err(err(
            key,
            value,
            format!("allowed: a duration from {} to {} (e.g. 500ms, 10s, 2m)", show_duration(min), show_duration(max)),
        )),
    }
}

fn show_duration(d: Duration) -> String {
    match d.as_millis() {
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// `4096`, `512k`, `64m`, `3g` (powers of 1024; a `b` suffix, upper case and a trailing `b`
/// after the unit are accepted).
pub fn parse_size(value: &str) -> Option<u64> {
    let v = value.trim().to_ascii_lowercase();
    let v = v.strip_suffix('b').filter(|r| !r.is_empty()).unwrap_or(&v);
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

fn parse_size_in(key: &str, value: &str, min: u64, max: u64) -> Result<u64, OptionError> {
    match parse_size(value) {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(err(
            key,
            value,
            format!("allowed: a size from {} to {} bytes, with k, m or g (e.g. 64m)", show_size(min), show_size(max)),
        )),
    }
}

fn show_size(n: u64) -> String {
    match n {
        n if n >= 1 << 30 && n % (1 << 30) == 0 => format!("{}g", n >> 30),
        n if n >= 1 << 20 && n % (1 << 20) == 0 => format!("{}m", n >> 20),
        n if n >= 1 << 10 && n % (1 << 10) == 0 => format!("{}k", n >> 10),
        n => n.to_string(),
    }
}

fn parse_samples(value: &str) -> Result<usize, OptionError> {
    match value.parse::<usize>() {
        Ok(n) if (MIN_SAMPLES..=MAX_SAMPLES).contains(&n) => Ok(n),
        _ => Err(err("samples", value, format!("allowed: a whole number from {MIN_SAMPLES} to {MAX_SAMPLES}"))),
    }
}

fn parse_formats(value: &str) -> Result<Formats, OptionError> {
    let mut f = Formats { text: false, html: false, prom: false, jsonl: false };
    for part in value.split('+') {
        match part {
            "json" => {}
            "text" | "txt" => f.text = true,
            "html" => f.html = true,
            "prom" => f.prom = true,
            "jsonl" => f.jsonl = true,
            _ => {
                return Err(err(
                    "format",
                    value,
                    "allowed: json, text, html, prom, jsonl joined with '+' (e.g. text+prom)",
                ))
            }
        }
    }
    Ok(f)
}

fn parse_number(key: &str, value: &str, min: u64, max: u64) -> Result<u64, OptionError> {
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(err(key, value, format!("allowed: a whole number from {min} to {max}"))),
    }
}

fn check_path(key: &str, value: &str) -> Result<String, OptionError> {
    if value.is_empty() {
        return Err(err(key, value, "a file path is required"));
    }
    if value.contains('\0') {
        return Err(err(key, value, "a path cannot contain NUL"));
    }
    Ok(value.to_string())
}

/// A limit that is a size (`3g`) or a percentage of a run-time base (`85%`, above 0 up to 100).
fn parse_size_or_percent(option: &'static str, value: &str) -> Result<Limit, OptionError> {
    let allowed = "allowed: a size with k, m or g (e.g. 3g), or a percentage above 0 up to 100 (e.g. 85%), or off";
    let level = match value.strip_suffix('%') {
        Some(p) => match p.parse::<f64>() {
            Ok(n) if n > 0.0 && n <= 100.0 => Level::Percent(n),
            _ => return Err(err(option, value, allowed)),
        },
        None => match parse_size(value) {
            Some(n) if n > 0 => Level::Bytes(n),
            _ => return Err(err(option, value, allowed)),
        },
    };
    Ok(Limit { option, raw: value.to_string(), level })
}

fn parse_count_limit(option: &'static str, value: &str) -> Result<Limit, OptionError> {
    let n = parse_number(option, value, 1, 1_000_000_000)?;
    Ok(Limit { option, raw: value.to_string(), level: Level::Count(n) })
}

/// `off` or a limit.
fn parse_limit(
    option: &'static str,
    value: &str,
    parse: fn(&'static str, &str) -> Result<Limit, OptionError>,
) -> Result<Option<Limit>, OptionError> {
    if value == "off" {
        return Ok(None);
    }
    parse(option, value).map(Some)
}

/// A file for every report of the run: `%p`, `%s` and `%%` only.
fn parse_series_file(key: &str, value: &str) -> Result<String, OptionError> {
    let v = check_path(key, value)?;
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '%' && !matches!(chars.next(), Some('p' | 's' | '%')) {
            return Err(err(key, value, "'%' must be followed by p (pid), s (start time) or %: one file serves the whole run"));
        }
    }
    if v.ends_with('/') {
        return Err(err(key, value, "the path names a directory; give a file name"));
    }
    Ok(v)
}

/// Checks that `%` in a file pattern is followed by p, t, n or %.
fn check_pattern(value: &str) -> Result<(), OptionError> {
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c == '%' && !matches!(chars.next(), Some('p' | 's' | 't' | 'n' | '%')) {
            return Err(err(
                "file",
                value,
                "'%' must be followed by p (pid), s (start time), t (report time), n (report number) or %",
            ));
        }
    }
    if value.ends_with('/') {
        return Err(err("file", value, "the path names a directory; give a file name"));
    }
    Ok(())
}

/// Parses the whole options string, returning every error found.
pub fn parse(input: &str) -> Result<Options, Vec<OptionError>> {
    let mut opts = Options { raw: input.to_string(), ..Options::default() };
    let mut errors = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    let mut key_depth_given = false;
    for item in input.split(',') {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (key, value) = match item.split_once('=') {
            Some((k, v)) => (k.trim(), v.trim()),
            None => (item, ""),
        };
        if let Some(spec) = SPECS.iter().find(|s| s.key == key) {
            if seen.contains(&spec.key) {
                errors.push(err(key, value, "this option is given twice"));
                continue;
            }
            seen.push(spec.key);
        }
        let r: Result<(), OptionError> = match key {
            "file" => check_path("file", value).and_then(|v| {
                check_pattern(&v)?;
                opts.file = v;
                Ok(())
            }),
            "format" => parse_formats(value).map(|f| opts.formats = f),
            "signal" => parse_signal(value).map(|s| opts.signal = s),
            "interval" => parse_interval(value).map(|d| opts.interval = d),
            "log" => check_path("log", value).map(|v| opts.log = Some(v)),
            "datadump" => parse_bool("datadump", value).map(|b| opts.datadump = b),
            "gc" => parse_bool("gc", value).map(|b| opts.gc = b),
            "chains" => match value {
                "demand" => {
                    opts.chains = Chains::Demand;
                    Ok(())
                }
                _ => parse_bool("chains", value)
                    .map(|b| opts.chains = if b { Chains::On } else { Chains::Off })
                    .map_err(|e| OptionError { allowed: "allowed: on, off or demand".into(), ..e }),
            },
            "chain_time" => parse_interval(value)
                .map_err(|e| OptionError { option: "chain_time".into(), ..e })
                .and_then(|d| d.ok_or_else(|| err("chain_time", value, "a duration of at least 1s")))
                .map(|d| opts.chain_time = d),
            "chain_objects" => match value.parse::<u64>() {
                Ok(n) if (10..=1_000_000_000).contains(&n) => {
                    opts.chain_objects = n;
                    Ok(())
                }
                _ => Err(err("chain_objects", value, "a whole number from 10 to 1000000000")),
            },
            "chain_pause" => parse_duration_in(key, value, Duration::from_millis(10), Duration::from_secs(60))
                .map(|d| opts.chain_pause = d),
            "chain_memory" => parse_size_in(key, value, 1 << 20, 4 << 30).map(|n| opts.chain_memory = n),
            "chain_method" => match value {
                "auto" => Ok(ChainMethod::Auto),
                "walk" => Ok(ChainMethod::Walk),
                "dump" => Ok(ChainMethod::Dump),
                _ => Err(err(key, value, "allowed: auto, walk or dump")),
            }
            .map(|m| opts.chain_method = m),
            "chain_dump_dir" => check_path(key, value).map(|v| opts.chain_dump_dir = Some(v)),
            "exit_timeout" => parse_duration_in(key, value, Duration::from_secs(1), Duration::from_secs(600))
                .map(|d| opts.exit_timeout = d),
            "max_dead_loaders" => parse_number(key, value, 16, 1_000_000).map(|n| opts.max_dead_loaders = n as usize),
            "leak_loaders" => {
                let globs: Vec<String> = value.split('+').filter(|g| !g.is_empty()).map(String::from).collect();
                if globs.is_empty() {
                    Err(err("leak_loaders", value, "one or more globs joined with '+'"))
                } else {
                    opts.leak_loaders = globs;
                    Ok(())
                }
            }
            "trim" => parse_bool("trim", value).map(|b| opts.trim = b),
            "sample_interval" => parse_sample_interval(value).map(|d| opts.sample_interval = d),
            "samples" => parse_samples(value).map(|n| opts.samples = n),
            "zlib" => parse_bool("zlib", value).map(|b| opts.native.zlib = b),
            "direct" => parse_bool("direct", value).map(|b| opts.native.direct = b),
            "stack_depth" => parse_number(key, value, 1, MAX_STACK_DEPTH as u64).map(|n| opts.native.stack_depth = n as usize),
            "key_depth" => parse_number(key, value, MIN_KEY_DEPTH as u64, MAX_KEY_DEPTH as u64).map(|n| {
                opts.native.key_depth = n as usize;
                key_depth_given = true;
            }),
            "hot_sample" => parse_number(key, value, 1, 1_000_000).map(|n| opts.native.hot_sample = n as u32),
            "stack_templates" => parse_bool("stack_templates", value).map(|b| opts.native.stack_templates = b),
            "max_sites" => parse_number(key, value, 16, 1_000_000).map(|n| opts.native.max_sites = n as usize),
            "max_tracked" => parse_number(key, value, 64, 100_000_000).map(|n| opts.native.max_tracked = n as usize),
            "prom_file" => parse_series_file(key, value).map(|v| opts.prom_file = Some(v)),
            "jsonl_file" => parse_series_file(key, value).map(|v| opts.jsonl_file = Some(v)),
            "rss_limit" => parse_limit("rss_limit", value, parse_size_or_percent).map(|l| opts.limits.rss = l),
            "usage_limit" => parse_limit("usage_limit", value, parse_size_or_percent).map(|l| opts.limits.usage = l),
            "direct_limit" => parse_limit("direct_limit", value, parse_size_or_percent).map(|l| opts.limits.direct = l),
            "zlib_limit" => parse_limit("zlib_limit", value, parse_count_limit).map(|l| opts.limits.zlib = l),
            "loaders_limit" => parse_limit("loaders_limit", value, parse_count_limit).map(|l| opts.limits.loaders = l),
            "oom" => parse_bool("oom", value).map(|b| opts.oom = b),
            "help" if value.is_empty() => {
                opts.help = true;
                Ok(())
            }
            "help" => Err(err("help", value, "help takes no value")),
            _ => Err(OptionError {
                option: key.to_string(),
                value: value.to_string(),
                allowed: format!(
                    "unknown option; known options: {}",
                    SPECS.iter().map(|s| s.key).collect::<Vec<_>>().join(", ")
                ),
            }),
        };
        if let Err(e) = r {
            errors.push(e);
        }
    }
    // The key is a prefix of the kept stack: a shallower stack_depth lowers the default key
    // depth, and an explicit key_depth deeper than stack_depth is refused.
    let n = &mut opts.native;
    if n.key_depth > n.stack_depth {
        if key_depth_given {
            errors.push(err(
                "key_depth",
                &n.key_depth.to_string(),
                format!("must not exceed stack_depth ({})", n.stack_depth),
            ));
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
        assert_eq!(o.file, DEFAULT_FILE);
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
            assert!(parse_sample_interval(bad).is_err(), "{bad}");
        }
        for bad in ["", "15", "100001", "-1", "ten"] {
            assert!(parse_samples(bad).is_err(), "{bad}");
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
        assert_eq!(parse_signal("RTMIN+0").unwrap(), ReportSignal::RtMin(0));
        assert_eq!(parse_signal("SIGRTMIN+8").unwrap(), ReportSignal::RtMin(8));
        assert_eq!(parse_signal("rtmin+3").unwrap(), ReportSignal::RtMin(3));
        assert_eq!(parse_signal("off").unwrap(), ReportSignal::Off);
        assert_eq!(parse_signal("SIGUSR1").unwrap(), ReportSignal::Usr1);
        let e = parse_signal("USR2").unwrap_err();
        assert!(e.allowed.contains("HotSpot"), "{e}");
        assert!(parse_signal("RTMIN+9").is_err());
        assert!(parse_signal("RTMIN+-1").is_err());
        assert!(parse_signal("QUIT").unwrap_err().allowed.contains("HotSpot"));
        assert!(parse_signal("12").is_err());
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("30s").unwrap(), Some(Duration::from_secs(30)));
        assert_eq!(parse_interval("1h").unwrap(), Some(Duration::from_secs(3600)));
        assert_eq!(parse_interval("1500ms").unwrap(), Some(Duration::from_millis(1500)));
        assert_eq!(parse_interval("off").unwrap(), None);
        for bad in ["", "5", "s", "10x", "500ms", "-1s", "1.5s", "99999999999999999999s"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
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
    fn sizes() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("3G"), Some(3 << 30));
        assert_eq!(parse_size("512kb"), Some(512 << 10));
        assert_eq!(parse_size("2gb"), Some(2 << 30));
        for bad in ["", "m", "1.5g", "-1", "10x", "99999999999999999999", "20000000000t"] {
            assert_eq!(parse_size(bad), None, "{bad}");
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
    fn help_lists_every_option() {
        let h = help_text();
        for s in SPECS {
            assert!(h.contains(s.key));
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
            "jsonl_file=",
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
