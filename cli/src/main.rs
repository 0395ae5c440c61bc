//! `leakagent`: ask a running JVM for a report, render a saved one, compare two, gate CI on
//! findings, and export the numbers to Prometheus. Reads reports with the agent's own model and
//! renders them with the agent's own renderers (crate leakagent-report).
//!
//! Exit status: 0 success (check: nothing left to fail on), 1 the job's negative answer (check:
//! findings; report: no report could be had), 2 a usage error or an unreadable report.

mod ask;
mod attach;
mod check;
mod check_output;
mod diff;
mod error;
mod io;
mod procfs;
mod props;
mod target_fs;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use leakagent_report::model::Severity;
use error::{Exit, Failure};
use std::path::PathBuf;
use std::process::ExitCode;

const ABOUT: &str = "Ask a running JVM for a leakagent report, read, compare and gate reports";

const EXAMPLES: &str = "\
Examples:
  leakagent report 4242          ask JVM 4242 for a report (loading the agent if needed)
  leakagent show leak-4242-1.json --format html -o leak.html
  leakagent diff leak-4242-1.json leak-4242-2.json
  leakagent check build/reports/*.json --fail-on warning --allow leakagent-allow.toml
  leakagent metrics leak-4242-2.json -o /var/lib/node_exporter/textfile/leakagent.prom

Exit status: 0 success, 1 findings (check) or no report (report), 2 usage error or unreadable report.
Run 'leakagent <COMMAND> --help' for every flag of a command.";

#[derive(Parser)]
#[command(name = "leakagent", version, about = ABOUT, after_help = EXAMPLES, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Report(ReportArgs),
    Show(ShowArgs),
    Diff(DiffArgs),
    Check(CheckArgs),
    Metrics(MetricsArgs),
}

/// Ask a running JVM for a report and print its paths and summary when it lands
///
/// When the agent is loaded in PID, leakagent reads the agent's report signal from the JVM's
/// system properties (leakagent.signal.number, through HotSpot's attach mechanism), checks that
/// the agent's handler is installed (/proc/PID/status SigCgt), sends it and waits for the report.
/// When it is not loaded, leakagent loads it first (the attach mechanism's `load` command, no jcmd
/// needed, across container namespaces) with --options. A process that is not a HotSpot JVM, or
/// that would die of a signal, is never sent one.
#[derive(Args)]
#[command(after_help = "\
Examples:
  leakagent report 4242
  leakagent report 4242 --wait 300 -o ./reports
  leakagent report 4242 --options 'format=text+html,file=/var/tmp/leak-%p-%n' --lib /opt/leakagent/libleakagent.so
  leakagent report 1234 --no-load        only ask an agent that is already loaded

Exit status: 0 the report landed, 1 no report (not a JVM, attach refused, no signal, timeout), 2 usage.")]
struct ReportArgs {
    /// The JVM's process id (as this shell sees it; a container's JVM works too)
    pid: u32,
    /// Seconds to wait for the report to land (a report with a chain search can take a minute)
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    wait: u64,
    /// Copy the report's files (JSON, and the text/HTML beside it) into DIR
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    output: Option<PathBuf>,
    /// Agent options used when the agent must be loaded (ignored when it already is)
    #[arg(long, value_name = "OPTIONS", default_value = "")]
    options: String,
    /// The agent library to load [default: libleakagent.so next to this program]
    #[arg(long, value_name = "PATH")]
    lib: Option<PathBuf>,
    /// Never load the agent: fail when it is not loaded in PID
    #[arg(long)]
    no_load: bool,
    /// Print the outcome as one JSON object (paths, counts, findings) instead of text
    #[arg(long)]
    json: bool,
}

/// Render a saved JSON report as text or HTML, the same pages the agent writes
#[derive(Args)]
#[command(after_help = "\
Examples:
  leakagent show leak-4242-1.json | less
  leakagent show leak-4242-1.json --format html -o leak.html")]
struct ShowArgs {
    /// The JSON report
    report: PathBuf,
    /// Rendering
    #[arg(long, value_enum, default_value_t = ShowFormat::Text)]
    format: ShowFormat,
    /// Write to FILE (atomically) instead of standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ShowFormat {
    Text,
    Html,
}

/// Compare two reports, biggest growth first
///
/// Two reports of one process (two signals during a redeploy loop) or of two runs. Shows findings new and resolved; class loaders born, died and newly suspected, loaders alive by
/// kind, classes; RSS by part; zlib and direct sites by live count and bytes. Each list puts the
/// biggest growth first. Loader ids are compared only when both reports come from the same
/// process; across runs loaders are matched by class and name.
#[derive(Args)]
#[command(after_help = "\
Examples:
  leakagent diff leak-4242-1.json leak-4242-2.json
  leakagent diff leaky.json fixed.json --top 0
  leakagent diff old.json new.json --format json | jq '.rss.parts[0]'")]
struct DiffArgs {
    /// The older report
    old: PathBuf,
    /// The newer report
    new: PathBuf,
    /// Output: text for people, json for scripts (every row, --top does not apply)
    #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
    format: DiffFormat,
    /// Rows per list in the text output (0: all)
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
}

#[derive(Clone, Copy, ValueEnum)]
enum DiffFormat {
    Text,
    Json,
}

/// Gate a build on findings: status 1 when some are left after the allow-list
///
/// Status 1 when a finding at or above --fail-on is left after the allow-list (each is printed on
/// one line), 0 when none is, 2 for a usage error or an unreadable report.
///
/// The allow-list is a TOML file of [[allow]] entries, each with a `kind` (glob), optional
/// `culprit`, `holder`, `site`, `loader` globs (`*` and `?`), an optional `max_severity`, and a
/// `reason`. A finding is accepted when every key given matches it. See README.md, "Command line".
#[derive(Args)]
#[command(after_help = "\
Examples:
  leakagent check report.json
  leakagent check reports/*.json --fail-on critical
  leakagent check report.json --allow leakagent-allow.toml

Allow-list (TOML):
  [[allow]]
  kind = \"classloader_leak\"
  culprit = \"jdbc-driver\"
  loader = \"app-gen-*\"
  reason = \"test driver stays registered; APP-123\"

Exit status: 0 no finding left, 1 findings left, 2 usage error or unreadable report.")]
struct CheckArgs {
    /// JSON reports (findings of all of them are checked)
    #[arg(required = true, value_name = "REPORT")]
    reports: Vec<PathBuf>,
    /// Lowest severity that fails
    #[arg(long, value_name = "LEVEL", default_value = "warning", value_parser = severity())]
    fail_on: Severity,
    /// Allow-list of accepted findings (TOML)
    #[arg(long, value_name = "FILE")]
    allow: Option<PathBuf>,
    /// Output: text lines, JSON, JUnit XML (Jenkins, GitLab) or SARIF 2.1.0 (code scanning)
    #[arg(long, value_enum, default_value_t = check_output::Format::Text)]
    format: check_output::Format,
}

/// Print a report's numbers as Prometheus metrics (text exposition format)
///
/// leakagent_* gauges and counters for node_exporter's textfile collector. Every series has a
/// `pid` label; README.md ("Command line") lists every name.
#[derive(Args)]
#[command(after_help = "\
Examples:
  leakagent metrics report.json
  leakagent metrics report.json --label app=shop -o /var/lib/node_exporter/textfile/shop.prom")]
struct MetricsArgs {
    /// The JSON report
    report: PathBuf,
    /// Constant label added to every series (repeatable)
    #[arg(long = "label", value_name = "NAME=VALUE", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// Write to FILE (atomically, as the textfile collector needs) instead of standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
}

/// `--fail-on`'s values: the report's own severity names.
fn severity() -> impl TypedValueParser<Value = Severity> {
    PossibleValuesParser::new(Severity::ALL.map(Severity::name)).map(|s| Severity::parse(&s).expect("a possible value"))
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("'{s}' is not NAME=VALUE"))?;
    if !leakagent_report::prom::valid_label_name(k) || k == "pid" {
        return Err(format!("'{k}' is not an allowed label name ([a-zA-Z_][a-zA-Z0-9_]*, not __*, not pid)"));
    }
    Ok((k.to_string(), v.to_string()))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => return clap_error(e),
    };
    let result = match cli.command {
        Command::Report(a) => ask::run(&ask::Request {
            pid: a.pid,
            wait: std::time::Duration::from_secs(a.wait),
            output: a.output,
            options: a.options,
            lib: a.lib,
            load: !a.no_load,
            json: a.json,
        }),
        Command::Show(a) => show(&a),
        Command::Diff(a) => diff::run(&a.old, &a.new, matches!(a.format, DiffFormat::Json), a.top),
        Command::Check(a) => check::run(&a.reports, a.fail_on, a.allow.as_deref(), a.format),
        Command::Metrics(a) => metrics(&a),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(f) => {
            // Messages quote what the JVM and its reports say.
            eprintln!("leakagent: {}", leakagent_report::text::escape_controls(&f.message, false));
            f.exit.into()
        }
    }
}

/// Help and version go to standard output with status 0; a usage error is one line and status 2.
fn clap_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            Exit::Success.into()
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprint!("{}", e.render());
            Exit::Usage.into()
        }
        _ => {
            let text = e.render().to_string();
            // The message, with the indented lines a message ending in ':' lists.
            let mut lines = text.lines();
            let mut first = lines.next().unwrap_or("bad arguments").trim_start_matches("error: ").to_string();
            if first.ends_with(':') {
                first.pop();
                let listed: Vec<&str> = lines.take_while(|l| l.starts_with(' ')).map(str::trim).collect();
                first = format!("{first}: {}", listed.join(", "));
            }
            let hint = match text.lines().find_map(|l| l.strip_prefix("Usage: ")) {
                Some(u) => format!("usage: {u}"),
                None => {
                    let sub = std::env::args().nth(1).filter(|a| !a.starts_with('-')).map(|a| format!(" {a}")).unwrap_or_default();
                    format!("see 'leakagent{sub} --help'")
                }
            };
            eprintln!("leakagent: {first} ({hint})");
            Exit::Usage.into()
        }
    }
}

fn show(a: &ShowArgs) -> Result<Exit, Failure> {
    // The HTML renderer escapes for HTML; the text is read on a terminal.
    let strings = match a.format {
        ShowFormat::Text => io::Strings::Escaped,
        ShowFormat::Html => io::Strings::Raw,
    };
    let report = io::read_report(&a.report, strings)?;
    let page = match a.format {
        ShowFormat::Text => leakagent_report::text::render(&report),
        ShowFormat::Html => leakagent_report::html::render(&report),
    };
    io::emit(a.output.as_deref(), page.as_bytes())?;
    Ok(Exit::Success)
}

fn metrics(a: &MetricsArgs) -> Result<Exit, Failure> {
    let report = io::read_report(&a.report, io::Strings::Raw)?;
    io::emit(a.output.as_deref(), leakagent_report::prom::render(&report, &a.labels).as_bytes())?;
    Ok(Exit::Success)
}
