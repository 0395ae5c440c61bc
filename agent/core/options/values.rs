//! Parsers for option values: each names the option, the value and what is allowed on failure.

use super::{Formats, Level, Limit, OptionError, ReportSignal};
use leakagent_report::signals;
use std::time::Duration;

pub(super) fn err(option: &str, value: &str, allowed: impl Into<String>) -> OptionError {
    OptionError { option: option.into(), value: value.into(), allowed: allowed.into() }
}

pub(super) fn bool_value(key: &str, value: &str) -> Result<bool, OptionError> {
    match value {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err(err(key, value, "allowed: on or off")),
    }
}

pub(super) fn signal(key: &str, value: &str) -> Result<ReportSignal, OptionError> {
    let upper = value.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let allowed = signals::allowed();
    if let Some((_, why)) = signals::HOTSPOT.iter().find(|(n, _)| *n == name) {
        return Err(err(key, value, format!("{why}; {allowed}")));
    }
    match name {
        "OFF" => Ok(ReportSignal::Off),
        "USR1" => Ok(ReportSignal::Usr1),
        "RTMIN" => Ok(ReportSignal::RtMin(0)),
        _ => match name.strip_prefix("RTMIN+").map(str::parse::<u8>) {
            Some(Ok(n)) if n <= signals::RTMIN_MAX => Ok(ReportSignal::RtMin(n)),
            _ => Err(err(key, value, allowed)),
        },
    }
}

/// The one duration syntax: `1500ms`, `30s`, `5m`, `1h`; None on anything else or overflow.
pub fn duration(value: &str) -> Option<Duration> {
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

/// A duration from `min` to `max`.
pub(super) fn duration_in(key: &str, value: &str, min: Duration, max: Duration) -> Result<Duration, OptionError> {
    match duration(value) {
        Some(d) if d >= min && d <= max => Ok(d),
        _ => Err(err(key, value, duration_allowed(min, max, false))),
    }
}

/// Like [`duration_in`], or `off` (also `0`) for none.
pub(super) fn duration_or_off(key: &str, value: &str, min: Duration, max: Duration) -> Result<Option<Duration>, OptionError> {
    if value == "off" || value == "0" {
        return Ok(None);
    }
    duration_in(key, value, min, max)
        .map(Some)
        .map_err(|_| err(key, value, duration_allowed(min, max, true)))
}

/// The range and examples that are themselves allowed (`interval=500ms` must not be offered as
/// an example of what `interval` takes).
fn duration_allowed(min: Duration, max: Duration, off: bool) -> String {
    let examples: Vec<&str> = ["100ms", "500ms", "5s", "30s", "5m", "1h", "24h"]
        .into_iter()
        .filter(|e| duration(e).is_some_and(|d| d >= min && d <= max))
        .collect();
    let examples = if examples.is_empty() { String::new() } else { format!(" (e.g. {})", examples.join(", ")) };
    format!(
        "allowed: a duration from {} to {} with ms, s, m or h{examples}{}",
        show_duration(min),
        show_duration(max),
        if off { ", or off" } else { "" }
    )
}

pub(super) fn show_duration(d: Duration) -> String {
    match d.as_millis() {
        ms if ms >= 3_600_000 && ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// `4096`, `512k`, `64m`, `3g` (powers of 1024; upper case and a trailing `b` are accepted).
pub fn size(value: &str) -> Option<u64> {
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

pub(super) fn size_in(key: &str, value: &str, min: u64, max: u64) -> Result<u64, OptionError> {
    match size(value) {
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

/// Like [`size_in`], or `off` for none.
pub(super) fn size_or_off(key: &str, value: &str, min: u64, max: u64) -> Result<Option<u64>, OptionError> {
    if value == "off" {
        return Ok(None);
    }
    size_in(key, value, min, max).map(Some).map_err(|e| err(key, value, format!("{}, or off", e.allowed)))
}

/// Like [`number_in`], or `off` for none.
pub(super) fn number_or_off(key: &str, value: &str, min: u64, max: u64) -> Result<Option<u64>, OptionError> {
    if value == "off" {
        return Ok(None);
    }
    number_in(key, value, min, max).map(Some).map_err(|e| err(key, value, format!("{}, or off", e.allowed)))
}

pub(super) fn number_in(key: &str, value: &str, min: u64, max: u64) -> Result<u64, OptionError> {
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(err(key, value, format!("allowed: a whole number from {min} to {max}"))),
    }
}

pub(super) fn formats(key: &str, value: &str) -> Result<Formats, OptionError> {
    let mut f = Formats { text: false, html: false, prom: false, jsonl: false };
    for part in value.split('+') {
        match part {
            "json" => {}
            "text" | "txt" => f.text = true,
            "html" => f.html = true,
            "prom" => f.prom = true,
            "jsonl" => f.jsonl = true,
            _ => return Err(err(key, value, "allowed: json, text, html, prom, jsonl joined with '+' (e.g. text+html)")),
        }
    }
    Ok(f)
}

pub(super) fn path(key: &str, value: &str) -> Result<String, OptionError> {
    if value.is_empty() {
        return Err(err(key, value, "a file path is required"));
    }
    if value.contains('\0') {
        return Err(err(key, value, "a path cannot contain NUL"));
    }
    Ok(value.to_string())
}

/// A report file pattern: `%` followed by p, s, t, n, h, {ENV} or %, and not a directory.
pub(super) fn file_pattern(key: &str, value: &str) -> Result<String, OptionError> {
    let v = path(key, value)?;
    check_placeholders(&v, "pstnh").map_err(|()| {
        err(
            key,
            value,
            "'%' must be followed by p (pid), s (start time), t (report time), n (report number), h (host), \
             {NAME} (environment variable NAME) or %",
        )
    })?;
    if v.ends_with('/') {
        return Err(err(key, value, "the path names a directory; give a file name"));
    }
    Ok(v)
}

/// Every `%` of `v` is followed by one of `letters`, by `%`, or by `{NAME}` (an environment
/// variable's name: letters, digits and `_`).
fn check_placeholders(v: &str, letters: &str) -> Result<(), ()> {
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        match chars.next() {
            Some('%') => {}
            Some('{') => {
                let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                let valid = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid || !v.contains(&format!("%{{{name}}}")) {
                    return Err(());
                }
            }
            Some(l) if letters.contains(l) => {}
            _ => return Err(()),
        }
    }
    Ok(())
}

pub(super) fn globs(key: &str, value: &str) -> Result<Vec<String>, OptionError> {
    let globs: Vec<String> = value.split('+').filter(|g| !g.is_empty()).map(String::from).collect();
    if globs.is_empty() {
        Err(err(key, value, "one or more globs joined with '+'"))
    } else {
        Ok(globs)
    }
}

/// A file for every report of the run (the textfile, the JSON lines): `%p`, `%s`, `%h`,
/// `%{ENV}` and `%%` only.
pub(super) fn series_file(key: &str, value: &str) -> Result<String, OptionError> {
    let v = path(key, value)?;
    check_placeholders(&v, "psh").map_err(|()| {
        err(key, value, "'%' must be followed by p (pid), s (start time), h (host), {NAME} (environment variable) or %: one file serves the whole run")
    })?;
    if v.ends_with('/') {
        return Err(err(key, value, "the path names a directory; give a file name"));
    }
    Ok(v)
}

/// `off` or a limit.
pub(super) fn limit(key: &'static str, value: &str, parse: fn(&'static str, &str) -> Result<Limit, OptionError>) -> Result<Option<Limit>, OptionError> {
    if value == "off" {
        return Ok(None);
    }
    parse(key, value).map(Some)
}

/// A limit that is a size (`3g`) or a percentage of a run-time base (`85%`, above 0 up to 100).
pub(super) fn size_or_percent(key: &'static str, value: &str) -> Result<Limit, OptionError> {
    let allowed = "allowed: a size with k, m or g (e.g. 3g), or a percentage above 0 up to 100 (e.g. 85%), or off";
    let level = match value.strip_suffix('%') {
        Some(p) => match p.parse::<f64>() {
            Ok(n) if n > 0.0 && n <= 100.0 => Level::Percent(n),
            _ => return Err(err(key, value, allowed)),
        },
        None => match size(value) {
            Some(n) if n > 0 => Level::Bytes(n),
            _ => return Err(err(key, value, allowed)),
        },
    };
    Ok(Limit { option: key, raw: value.to_string(), level })
}

/// A limit that is a count (live streams, loaders).
pub(super) fn count(key: &'static str, value: &str) -> Result<Limit, OptionError> {
    let n = number_in(key, value, 1, 1_000_000_000)?;
    Ok(Limit { option: key, raw: value.to_string(), level: Level::Count(n) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("1500ms"), Some(Duration::from_millis(1500)));
        assert_eq!(duration("1h"), Some(Duration::from_secs(3600)));
        for bad in ["", "5", "s", "10x", "-1s", "1.5s", "99999999999999999999s", "999999999999999999h"] {
            assert_eq!(duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_error_offers_only_examples_it_would_accept() {
        let secs = Duration::from_secs;
        let msg = duration_allowed(secs(1), secs(720 * 3600), true);
        assert!(msg.contains("(e.g. 5s, 30s, 5m, 1h, 24h)") && !msg.contains("500ms"), "{msg}");
        let msg = duration_allowed(Duration::from_millis(10), secs(60), false);
        assert!(msg.contains("(e.g. 100ms, 500ms, 5s, 30s)"), "{msg}");
    }

    #[test]
    fn sizes() {
        assert_eq!(size("4096"), Some(4096));
        assert_eq!(size("64m"), Some(64 << 20));
        assert_eq!(size("3G"), Some(3 << 30));
        assert_eq!(size("512kb"), Some(512 << 10));
        assert_eq!(size("2gb"), Some(2 << 30));
        for bad in ["", "m", "1.5g", "-1", "10x", "99999999999999999999", "20000000000t"] {
            assert_eq!(size(bad), None, "{bad}");
        }
    }

    #[test]
    fn signals() {
        assert_eq!(signal("signal", "RTMIN+0").unwrap(), ReportSignal::RtMin(0));
        assert_eq!(signal("signal", "SIGRTMIN+8").unwrap(), ReportSignal::RtMin(8));
        assert_eq!(signal("signal", "rtmin+3").unwrap(), ReportSignal::RtMin(3));
        assert_eq!(signal("signal", "off").unwrap(), ReportSignal::Off);
        assert_eq!(signal("signal", "SIGUSR1").unwrap(), ReportSignal::Usr1);
        assert!(signal("signal", "USR2").unwrap_err().allowed.contains("HotSpot"));
        assert!(signal("signal", "QUIT").unwrap_err().allowed.contains("HotSpot"));
        for bad in ["RTMIN+9", "RTMIN+-1", "12"] {
            assert!(signal("signal", bad).is_err(), "{bad}");
        }
    }

    /// Every signal the option accepts is one the command will send (signals::owned), and
    /// every one the command would send is accepted.
    #[test]
    fn the_option_accepts_exactly_the_signals_the_command_sends() {
        let owned = signals::owned(libc::SIGRTMIN(), libc::SIGUSR1);
        let mut accepted: Vec<i32> = (0..=u8::MAX)
            .filter_map(|n| signal("signal", &format!("RTMIN+{n}")).ok())
            .chain(signal("signal", "USR1").ok())
            .map(|s| match s {
                ReportSignal::RtMin(n) => libc::SIGRTMIN() + n as i32,
                ReportSignal::Usr1 => libc::SIGUSR1,
                ReportSignal::Off => unreachable!("RTMIN+N and USR1 are signals"),
            })
            .collect();
        accepted.sort_unstable();
        let mut want = owned.clone();
        want.sort_unstable();
        assert_eq!(accepted, want);
        for (name, _) in signals::HOTSPOT {
            assert!(signal("signal", name).unwrap_err().allowed.contains("HotSpot"), "{name}");
        }
    }
}
