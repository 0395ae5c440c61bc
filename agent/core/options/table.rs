//! The option table: one row per option (key, default, help, how its value is stored), and the
//! `help` text printed from it.

use super::values::{self, bool_value, duration_in, duration_or_off, err, number_in, size_in};
use super::{ChainMethod, Chains, OptionError, Options, MAX_KEY_DEPTH, MAX_STACK_DEPTH, MIN_KEY_DEPTH};
use std::time::Duration;

/// An option's default: a value parsed like a user's, or the field left unset (what that means
/// is said in words, for `help` and the README).
#[derive(Clone, Copy)]
pub(super) enum Given {
    Value(&'static str),
    Unset(&'static str),
}

/// One option: the key, its default, its help, and how a value is stored (the key is passed
/// so that errors name it).
pub(super) struct Opt {
    pub(super) key: &'static str,
    pub(super) default: Given,
    pub(super) help: &'static str,
    pub(super) set: fn(&mut Options, &'static str, &str) -> Result<(), OptionError>,
}

pub(super) use Given::{Unset, Value};

const MS: fn(u64) -> Duration = Duration::from_millis;
const SECS: fn(u64) -> Duration = Duration::from_secs;
/// Every duration has an upper bound, so that no deadline computed from one overflows.
pub(super) const MAX_INTERVAL: Duration = Duration::from_secs(30 * 24 * 3600);

pub(super) const OPTIONS: &[Opt] = &[
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
        // On by default, so every malloc'd byte has an owner (issue 21): with the TLS-descriptor
        // fast path and the sample-rate cap, bench/malloc_overhead.sh measures ~5% at 20 M mallocs
        // a second per thread and ~0.3% at 1 M (docs/native-memory.md, "Overhead").
        default: Value("on"),
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
        key: "native_rate",
        default: Value("2000"),
        help: "at most this many native samples a second, process-wide (10..100000); above it the interval \
               in force rises, and falls back when the rate does (each sample weighed by its own interval)",
        set: |o, k, v| number_in(k, v, 10, 100_000).map(|n| o.native_rate = n),
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
        help: "live zlib streams tracked by address (64..100000000, about 40 bytes each; direct blocks \
               carry their record in a header); beyond, events are counted in health.dropped",
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
pub(super) const HELP_MARGIN: usize = 20;

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
