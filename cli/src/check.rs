//! `leakagent check`: the CI gate. Findings at or above a severity that no allow-list entry
//! accepts fail the build, one line each.
//!
//! The allow-list is TOML (comments, quoting and line numbers in errors come for free):
//!
//! ```toml
//! [[allow]]
//! kind = "classloader_leak"          # required; a glob: "*" accepts every kind
//! culprit = "jdbc-driver"            # optional globs; every key given must match
//! holder = "java.sql.DriverInfo.driver"
//! loader = "app-gen-*"               # every loader the finding names must match
//! site = "com.example.Scanner.*"
//! max_severity = "warning"           # optional: the entry stops accepting above this
//! reason = "test driver stays registered; APP-123"   # required
//! ```

use crate::io::{read_report, Strings};
use crate::check_output::{self, Failing, Format, Outcome};
use crate::error::{usage, Exit, Failure};
use leakagent_report::glob::matches as glob;
use leakagent_report::model::{Finding, Severity};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowFile {
    #[serde(default)]
    allow: Vec<Entry>,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    kind: String,
    culprit: Option<String>,
    holder: Option<String>,
    loader: Option<String>,
    site: Option<String>,
    max_severity: Option<Severity>,
    reason: String,
}

impl Entry {
    pub fn accepts(&self, f: &Finding) -> bool {
        let s = &f.subject;
        let opt = |pattern: &Option<String>, value: &Option<String>| match (pattern, value) {
            (None, _) => true,
            (Some(p), Some(v)) => glob(p, v),
            (Some(_), None) => false,
        };
        glob(&self.kind, &f.kind)
            && opt(&self.culprit, &s.culprit)
            && opt(&self.holder, &s.holder)
            && opt(&self.site, &s.site)
            && self.loader.as_ref().is_none_or(|p| !s.loaders.is_empty() && s.loaders.iter().all(|l| glob(p, l)))
            && self.max_severity.is_none_or(|m| f.severity <= m)
    }

    fn describe(&self) -> String {
        let mut keys = vec![format!("kind={}", self.kind)];
        for (k, v) in [("culprit", &self.culprit), ("holder", &self.holder), ("loader", &self.loader), ("site", &self.site)] {
            if let Some(v) = v {
                keys.push(format!("{k}={v}"));
            }
        }
        keys.join(" ")
    }
}

pub fn read_allow_list(path: &Path) -> Result<Vec<Entry>, Failure> {
    let p = path.display();
    let bytes = crate::io::read_bounded(path).map_err(|e| usage(format!("cannot read allow-list {p}: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| usage(format!("cannot read allow-list {p}: {e}")))?;
    let file: AllowFile = toml::from_str(&text).map_err(|e| {
        // toml's message spans several lines (the source line and a caret); keep the first
        // and the position.
        let msg = e.message().to_string();
        let at = e.span().map(|s| line_col(&text, s.start)).map(|(l, c)| format!(" at line {l}, column {c}")).unwrap_or_default();
        usage(format!("allow-list {p}{at}: {msg}"))
    })?;
    for (i, e) in file.allow.iter().enumerate() {
        if e.reason.trim().is_empty() {
            return Err(usage(format!("allow-list {p}: entry {} ({}) has an empty reason: say why the team accepts it", i + 1, e.describe())));
        }
    }
    Ok(file.allow)
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

pub fn run(reports: &[PathBuf], fail_on: Severity, allow: Option<&Path>, format: Format) -> Result<Exit, Failure> {
    let entries = match allow {
        Some(p) => read_allow_list(p)?,
        None => Vec::new(),
    };
    let mut used = vec![0usize; entries.len()];
    let mut o = Outcome { fail_on, reports: Vec::new(), failing: Vec::new(), allowed: 0, below: 0, unreadable: 0 };
    for path in reports {
        let report = match read_report(path, Strings::Escaped) {
            Ok(r) => r,
            Err(f) => {
                eprintln!("leakagent: {}", f.message);
                o.unreadable += 1;
                continue;
            }
        };
        let shown = path.display().to_string();
        let h = &report.agent.health;
        if !h.disabled_features.is_empty() {
            eprintln!(
                "leakagent: note: {shown}: the agent switched off {} after an internal error; findings may be missing",
                h.disabled_features.join(", ")
            );
        }
        for f in report.findings {
            if f.severity < fail_on {
                o.below += 1;
                continue;
            }
            if let Some(i) = entries.iter().position(|e| e.accepts(&f)) {
                used[i] += 1;
                o.allowed += 1;
                continue;
            }
            o.failing.push(Failing { report: shown.clone(), finding: f });
        }
        o.reports.push(shown);
    }
    for (e, n) in entries.iter().zip(&used) {
        if *n == 0 {
            eprintln!("leakagent: note: allow-list entry '{}' ({}) matched no finding", e.describe(), e.reason);
        }
    }
    print!("{}", check_output::render(&o, format));
    Ok(if o.unreadable > 0 {
        Exit::Usage
    } else if !o.failing.is_empty() {
        Exit::No
    } else {
        Exit::Success
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakagent_report::model::Subject;

    fn leak(loaders: &[&str]) -> Finding {
        Finding {
            severity: Severity::Critical,
            kind: "classloader_leak".into(),
            summary: "s".into(),
            fix: "f".into(),
            subject: Subject {
                culprit: Some("jdbc-driver".into()),
                holder: Some("java.sql.DriverInfo.driver".into()),
                site: None,
                loaders: loaders.iter().map(|s| s.to_string()).collect(),
            },
        }
    }

    fn entries(toml_text: &str) -> Result<Vec<Entry>, Failure> {
        let dir = std::env::temp_dir().join(format!("leakagent-allow-{}-{}", std::process::id(), toml_text.len()));
        std::fs::write(&dir, toml_text).unwrap();
        let r = read_allow_list(&dir);
        let _ = std::fs::remove_file(&dir);
        r
    }

    #[test]
    fn every_given_key_must_match() {
        let e = entries("[[allow]]\nkind = \"classloader_leak\"\nculprit = \"jdbc-*\"\nloader = \"app-gen-*\"\nreason = \"r\"\n").unwrap();
        assert!(e[0].accepts(&leak(&["app-gen-1", "app-gen-2"])));
        assert!(!e[0].accepts(&leak(&["app-gen-1", "other"])), "a loader outside the pattern is not accepted");
        assert!(!e[0].accepts(&leak(&[])));
        let mut zlib = leak(&["app-gen-1"]);
        zlib.kind = "zlib_not_ended".into();
        assert!(!e[0].accepts(&zlib));
    }

    #[test]
    fn max_severity_and_missing_subject() {
        let e = entries("[[allow]]\nkind = \"*\"\nmax_severity = \"warning\"\nreason = \"r\"\n[[allow]]\nkind = \"*\"\nsite = \"x\"\nreason = \"r\"\n").unwrap();
        let mut f = leak(&[]);
        assert!(!e[0].accepts(&f));
        f.severity = Severity::Warning;
        assert!(e[0].accepts(&f));
        assert!(!e[1].accepts(&f), "a site pattern never accepts a finding without a site");
    }

    #[test]
    fn bad_files_name_the_problem() {
        let err = entries("[[allow]]\nkind = \"x\"\nculprti = \"y\"\nreason = \"r\"\n").unwrap_err();
        assert!(err.message.contains("culprti") && err.message.contains("line 3"), "{}", err.message);
        let err = entries("[[allow]]\nkind = \"x\"\nreason = \" \"\n").unwrap_err();
        assert!(err.message.contains("empty reason"), "{}", err.message);
        let err = entries("[[allow]]\nkind = \"x\"\n").unwrap_err();
        assert!(err.message.contains("reason"), "{}", err.message);
        assert_eq!(err.exit, Exit::Usage);
    }
}
