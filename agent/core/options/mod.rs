//! Agent options: `key=value` pairs separated by `,`.
//!
//! Every option is one row of the table in `table.rs`: its key, its default, its help and how its
//! value is parsed into [`Options`]. Parsing (here), `help` (beside the table),
//! [`Options::default`] and the README check (a unit test in `tests.rs`) all read that table, so a
//! default is written once. The value parsers are in `values.rs`.
//!
//! Parsing is complete before anything is reported: every bad key or value is collected and the
//! caller prints all of them, each naming the option, the value and what is allowed.

mod table;
mod values;

use std::fmt;
use std::time::Duration;
use table::{Value, OPTIONS};
pub use table::help_text;
use values::err;

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
    /// The cap on native samples a second.
    pub native_rate: u64,
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
            native_rate: 0,
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
mod tests;
