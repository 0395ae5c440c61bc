//! Reading reports (every failure is one line naming the file) and writing outputs whole.

use crate::{usage, Failure};
use leakagent_report::model::{Report, SCHEMA_VERSION};
use std::io::Write;
use std::path::Path;

pub fn read_report(path: &Path) -> Result<Report, Failure> {
    let p = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read report {p}: {e}")))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| usage(format!("{p} is not JSON: {e}")))?;
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
    serde_json::from_value(value).map_err(|e| usage(format!("{p} is not a complete leakagent report: {e}")))
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
    write_atomic(path, bytes).map_err(|e| usage(format!("cannot write {}: {e}", path.display())))
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
    fn reads_reports_written_before_findings_had_subjects() {
        let mut r = test_report();
        r.findings.push(Finding { severity: Severity::Warning, kind: "k".into(), summary: "s".into(), fix: "f".into(), subject: Subject::default() });
        let mut v = serde_json::to_value(&r).unwrap();
        for key in ["culprit", "holder", "site", "loaders"] {
            v["findings"][0].as_object_mut().unwrap().remove(key);
        }
        let p = write("old", &v);
        let back = read_report(&p).unwrap();
        assert_eq!(back.findings[0].subject, Subject::default());
        v["schema_version"] = (SCHEMA_VERSION + 1).into();
        let p = write("newer", &v);
        let err = read_report(&p).unwrap_err();
        assert_eq!(err.code, 2);
        assert!(err.message.contains("has schema_version 2"), "{}", err.message);
    }
}
