//! Puts rendered reports on disk: file name patterns, and atomic writes (temporary file in the
//! target directory, fsync, rename), mode 0600, never through a symlink.

use crate::ffi::os;
use parking_lot::Mutex;
use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Expands `%p`, `%s` (start time), `%t` (report time), `%n`, `%h` (host), `%{ENV}` and `%%` in
/// a `file=` pattern. Host and environment values are made safe as one file-name component.
pub fn expand(pattern: &str, pid: u32, started: &str, timestamp: &str, seq: u64) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('h') => out.push_str(&name_component(crate::reporting::origin::host())),
            Some('{') => {
                let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                out.push_str(&name_component(&std::env::var(&name).unwrap_or_default()));
            }
            Some('p') => out.push_str(&pid.to_string()),
            Some('s') => out.push_str(started),
            Some('t') => out.push_str(timestamp),
            Some('n') => out.push_str(&seq.to_string()),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// `value` as one safe file-name component: letters, digits, `.`, `-` and `_` kept, anything
/// else (a `/` above all) becomes `_`; never empty, `.` or `..`.
fn name_component(value: &str) -> String {
    let s: String = value.chars().take(128).map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        "_".repeat(s.len().max(1))
    } else {
        s
    }
}

/// The JSON path for an expanded name, and the stem other formats append their suffix to.
pub fn json_path(expanded: &str) -> (PathBuf, String) {
    match expanded.strip_suffix(".json") {
        Some(stem) if !stem.is_empty() && !stem.ends_with('/') => (PathBuf::from(expanded), stem.to_string()),
        _ => (PathBuf::from(format!("{expanded}.json")), expanded.to_string()),
    }
}

/// Appends `line` and a newline with one `write` on an `O_APPEND` descriptor, so lines of
/// concurrent writers never interleave; opened as `files::open_append` allows, and never left
/// half written (`files::append_whole`).
pub fn append_line(path: &Path, line: &str) -> io::Result<()> {
    crate::core::files::append_whole(&crate::core::files::open_append(path)?, format!("{line}\n").as_bytes())
}

/// Writes `bytes` to `path` atomically: readers see the old file or the whole new one. With
/// `replace` false an existing file at `path` is never replaced (`AlreadyExists`).
///
/// The temporary file's name is unique to this process and moment, so one that a killed run
/// left behind never blocks a later run with the same pid (a container's pid 1); such leftovers
/// older than ten minutes are removed the first time this process writes into the directory.
pub fn write_atomic(path: &Path, bytes: &[u8], replace: bool) -> io::Result<()> {
    write_file(path, bytes, replace, true, 0o600)
}

/// The Prometheus textfile: replaced atomically like a report, but readable by node_exporter
/// (which runs as its own user) and not fsynced: it is rewritten every sample, and after a
/// crash the next run's first sample replaces it anyway. What is there must be a file of ours
/// that others cannot write (`files::check_existing`): a link or another user's file is left.
pub fn write_textfile(path: &Path, bytes: &[u8]) -> io::Result<()> {
    crate::core::files::check_existing(path)?;
    write_file(path, bytes, true, false, 0o644)
}

fn write_file(path: &Path, bytes: &[u8], replace: bool, durable: bool, mode: u32) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "report path has no file name"))?;
    clean_stale_once(&dir);
    let n = TMP_COUNTER.fetch_add(1, Relaxed);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    let tmp = dir.join(format!(".{}.{}-{nanos}-{n}{TMP_SUFFIX}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
        drop(f);
        if replace {
            // rename(2) replaces a symlink at the final name instead of following it.
            fs::rename(&tmp, path)?;
        } else {
            os::rename_noreplace(&tmp, path)?;
        }
        if durable {
            crate::core::files::sync_dir(&dir);
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

pub(crate) const TMP_SUFFIX: &str = ".leakagent.tmp";
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);
static CLEANED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn clean_stale_once(dir: &Path) {
    {
        let mut done = CLEANED.lock();
        if done.iter().any(|d| d == dir) {
            return;
        }
        done.push(dir.to_path_buf());
    }
    // Another process's write in flight is younger: the name is unique to a process and moment.
    // A directory is never one of ours, whatever its name.
    crate::core::files::sweep(dir, |name, m| {
        name.starts_with('.') && name.ends_with(TMP_SUFFIX) && !m.is_dir() && crate::core::files::older_than(m, Duration::from_secs(600))
    });
}

/// The JSON path and stem for a sequenced report name that no file uses yet: the name itself,
/// else `<stem>-2`, `<stem>-3`, ... (another run with the same pid and start second wrote it).
/// Anything at a name takes it, a dangling symlink too: following it would write where the
/// link's planter chose, and removing it could destroy what someone meant; the next name loses
/// nothing.
pub fn unused_name(json: PathBuf, stem: String) -> (PathBuf, String) {
    let taken = |p: &Path| fs::symlink_metadata(p).is_ok();
    if !taken(&json) {
        return (json, stem);
    }
    for k in 2..1000 {
        let s = format!("{stem}-{k}");
        let j = PathBuf::from(format!("{s}.json"));
        if !taken(&j) {
            return (j, s);
        }
    }
    (json, stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_expand() {
        assert_eq!(expand("r-%p-%t-%n", 42, "s", "20261121-101500", 3), "r-42-20261121-101500-3");
        assert_eq!(expand("r-%p-%s-%n", 1, "20261121-090000", "t", 2), "r-1-20261121-090000-2");
        assert_eq!(expand("100%%-%x%", 1, "s", "t", 1), "100%-%x%");
        std::env::set_var("LEAKAGENT_TEST_POD", "shop/../web-7f9");
        assert_eq!(expand("r-%{LEAKAGENT_TEST_POD}-%{LEAKAGENT_TEST_UNSET}-%n", 1, "s", "t", 2), "r-shop_.._web-7f9-_-2");
        let host = crate::reporting::origin::host();
        assert_eq!(expand("r-%h", 1, "s", "t", 1), format!("r-{}", name_component(host)));
        assert!(!host.is_empty());
    }

    #[test]
    fn json_suffix_is_added_once() {
        assert_eq!(json_path("/tmp/a").0, PathBuf::from("/tmp/a.json"));
        assert_eq!(json_path("/tmp/a.json"), (PathBuf::from("/tmp/a.json"), "/tmp/a".into()));
        assert_eq!(json_path("/tmp/a").1, "/tmp/a");
    }

    #[test]
    fn atomic_write_replaces_symlink_and_sets_mode() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let dir = std::env::temp_dir().join(format!("leakagent-writer-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("victim");
        fs::write(&target, b"precious").unwrap();
        let link = dir.join("report.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomic(&link, b"{}", true).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        let meta = fs::symlink_metadata(&link).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read(&link).unwrap(), b"{}");
        assert!(meta.nlink() == 1);
        let err = write_atomic(&dir.join("missing/x.json"), b"{}", true).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2, "no temporary file left behind");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_sequenced_report_never_replaces_another_runs_and_old_temporaries_go() {
        let dir = std::env::temp_dir().join(format!("leakagent-writer2-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        // A temporary file of a killed run (older than ten minutes) and one being written now.
        let stale = dir.join(format!(".x.json.1-5-0{TMP_SUFFIX}"));
        fs::write(&stale, b"partial").unwrap();
        let old = SystemTime::now() - Duration::from_secs(3600);
        fs::File::options().write(true).open(&stale).unwrap().set_modified(old).unwrap();
        let fresh = dir.join(format!(".y.json.1-6-0{TMP_SUFFIX}"));
        fs::write(&fresh, b"being written").unwrap();
        let earlier = dir.join("r-1-1.json");
        fs::write(&earlier, b"earlier run").unwrap();
        let e = write_atomic(&earlier, b"{}", false).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&earlier).unwrap(), b"earlier run");
        assert!(!stale.exists(), "a stale temporary is removed");
        assert!(fresh.exists(), "a recent one may be another process's write in flight");
        let (j, stem) = unused_name(earlier.clone(), dir.join("r-1-1").display().to_string());
        assert_eq!(j, dir.join("r-1-1-2.json"));
        assert!(stem.ends_with("r-1-1-2"));
        write_atomic(&j, b"{}", false).unwrap();
        assert_eq!(fs::read(&j).unwrap(), b"{}");
        // A dangling link takes its name: never followed (it would create its target), never removed.
        let link = dir.join("r-2.json");
        std::os::unix::fs::symlink(dir.join("planted"), &link).unwrap();
        let (j, _) = unused_name(link.clone(), dir.join("r-2").display().to_string());
        assert_eq!(j, dir.join("r-2-2.json"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
