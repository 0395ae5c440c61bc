//! The agent's own log: one line per message, with its UTC time, to standard error or to
//! `log=PATH`; and the UTC timestamp format reports share.
//! Messages are rare (start-up, reports, first failure of a feature); the mutex is held only to
//! take the file, never across the write, so a callback's message never waits on a slow disk.

use parking_lot::Mutex;
use std::fs::File;
use std::io::Write;
use std::sync::Arc;

static SINK: Mutex<Option<Arc<File>>> = Mutex::new(None);

/// Sends further log lines to `file` instead of standard error.
pub fn set_file(file: File) {
    *SINK.lock() = Some(Arc::new(file));
}

fn write(level: &str, msg: &str) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let line = format!("[leakagent] {} {level}: {msg}\n", rfc3339(now));
    let sink = SINK.lock().clone();
    let ok = match sink {
        Some(f) => crate::core::files::append_whole(&f, line.as_bytes()).is_ok(),
        None => false,
    };
    if !ok {
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

pub fn info(msg: &str) {
    write("info", msg);
}

pub fn warn(msg: &str) {
    write("warning", msg);
}

pub fn error(msg: &str) {
    write("error", msg);
}

/// Milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
pub fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (proleptic Gregorian), valid for every date after 1970.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_dates() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(super::rfc3339(1_795_250_990_123), "2026-11-21T08:49:50.123Z");
        assert_eq!(super::rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
