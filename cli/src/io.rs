//! Reading reports (every failure is one line naming the file, every input bounded) and
//! writing outputs whole.

use crate::error::{usage, Failure};
use leakagent_report::model::{Report, SCHEMA_VERSION};
use leakagent_report::text::escape_controls;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The largest report (or allow-list) read: the agent's biggest reports are a few MiB, and a
/// limit keeps `leakagent show /dev/zero` from growing without end.
pub const MAX_REPORT_BYTES: u64 = 64 << 20;

/// What a report's strings become when it is read.
#[derive(Clone, Copy, PartialEq)]
pub enum Strings {
    /// As written: for JSON output and for the numbers.
    Raw,
    /// Control characters escaped (`\x1b`): for text a person reads on a terminal.
    Escaped,
}

/// Reads a regular file of at most `MAX_REPORT_BYTES`. Opened without blocking (a FIFO would
/// wait for a writer) and checked on the open descriptor, so what was checked is what is read.
pub fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    read_checked(f, MAX_REPORT_BYTES)
}

/// Reads an open file that must be regular and at most `limit` bytes (also while it grows).
pub fn read_checked(mut f: std::fs::File, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Error, ErrorKind};
    let m = f.metadata()?;
    if !m.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, "not a regular file"));
    }
    let too_big = || Error::new(ErrorKind::InvalidData, format!("larger than the limit of {} MiB", limit >> 20));
    if m.len() > limit {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(m.len() as usize);
    Read::by_ref(&mut f).take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(bytes)
}

pub fn read_report(path: &Path, strings: Strings) -> Result<Report, Failure> {
    let bytes = read_bounded(path).map_err(|e| usage(format!("cannot read report {}: {e}", path.display())))?;
    parse_report(&bytes, &path.display().to_string(), strings)
}

/// A report from its bytes; `name` names it in errors.
pub fn parse_report(bytes: &[u8], name: &str, strings: Strings) -> Result<Report, Failure> {
    let p = name;
    let mut value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| usage(format!("{p} is not JSON: {e}")))?;
    let version = value.get("schema_version").and_then(|v| v.as_u64());
    match version {
        None => return Err(usage(format!("{p} is not a leakagent report: it has no schema_version"))),
        Some(v) if v > SCHEMA_VERSION as u64 => {
            return Err(usage(format!(
                "{p} has schema_version {v}; this leakagent reads up to {SCHEMA_VERSION}: use the leakagent of the agent that wrote it"
            )))
        }
        Some(_) => {}
    }
    if strings == Strings::Escaped {
        escape_strings(&mut value);
    }
    serde_json::from_value(value).map_err(|e| usage(format!("{p} is not a complete leakagent report: {e}")))
}

/// Escapes the control characters of every string and key, whatever section it is in: names
/// come from the application in many places (loaders, classes, threads, MBeans, frames).
fn escape_strings(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(e) = escape_controls(s, false) {
                *s = e;
            }
        }
        Value::Array(a) => a.iter_mut().for_each(escape_strings),
        Value::Object(o) => {
            let entries = std::mem::take(o);
            for (k, mut v) in entries {
                escape_strings(&mut v);
                o.insert(escape_controls(&k, false).into_owned(), v);
            }
        }
        _ => {}
    }
}

/// Writes `bytes` to standard output, or to `path` through a temporary file in the same
/// directory and a rename, so a reader (node_exporter, a browser) never sees half a file.
pub fn emit(path: Option<&Path>, bytes: &[u8]) -> Result<(), Failure> {
    let Some(path) = path else {
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) is the reader's choice, not an error.
        let _ = out.write_all(bytes).and_then(|_| out.flush());
        return Ok(());
    };
    write_atomic(path, bytes, 0o666).map_err(|e| usage(format!("cannot write {}: {e}", path.display())))
}

/// Writes `path` whole: a new temporary file (O_EXCL: never an existing file or a symlink
/// planted there) created with `mode` (less the umask), then a rename (which replaces a
/// symlink at `path` rather than following it).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)?;
    // Past the open the temporary file is ours to remove on failure; before it, what is at its
    // name (a killed run's, or planted) is not.
    let result = f.write_all(bytes).and_then(|_| f.sync_all()).and_then(|_| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    // The new name lives in the directory: without its fsync a machine crash can lose it.
    // Best effort: the file is in place, and some file systems refuse fsync on a directory.
    if let Ok(d) = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC).open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakagent_report::model::{test_report, Finding, Severity, Subject};

    fn write(name: &str, v: &serde_json::Value) -> std::path::PathBuf {
        let p = std::env::temp_dir().join(format!("leakagent-io-{}-{name}.json", std::process::id()));
        std::fs::write(&p, serde_json::to_vec(v).unwrap()).unwrap();
        p
    }

    #[test]
    fn a_file_at_the_temporary_name_is_left_alone() {
        let dir = std::env::temp_dir().join(format!("leakagent-io-{}-tmp", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let planted = dir.join(format!(".out.json.{}.tmp", std::process::id()));
        std::fs::write(&planted, b"not ours").unwrap();
        assert!(write_atomic(&dir.join("out.json"), b"{}", 0o600).is_err());
        assert_eq!(std::fs::read(&planted).unwrap(), b"not ours", "a file this call did not create stays");
        std::fs::remove_file(&planted).unwrap();
        write_atomic(&dir.join("out.json"), b"{}", 0o600).unwrap();
        assert_eq!(std::fs::read(dir.join("out.json")).unwrap(), b"{}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn reads_reports_written_before_findings_had_subjects() {
        let mut r = test_report();
        r.findings.push(Finding { severity: Severity::Warning, kind: "k".into(), summary: "s".into(), fix: "f".into(), subject: Subject::default() });
        let mut v = serde_json::to_value(&r).unwrap();
        for key in ["culprit", "holder", "site", "loaders"] {
            v["findings"][0].as_object_mut().unwrap().remove(key);
        }
        let p = write("old", &v);
        let back = read_report(&p, Strings::Raw).unwrap();
        assert_eq!(back.findings[0].subject, Subject::default());
        v["schema_version"] = (SCHEMA_VERSION + 1).into();
        let p = write("newer", &v);
        let err = read_report(&p, Strings::Raw).unwrap_err();
        assert_eq!(err.exit, crate::error::Exit::Usage);
        assert!(err.message.contains("has schema_version 2"), "{}", err.message);
    }
}
