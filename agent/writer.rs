//! Puts rendered reports on disk: file name patterns, and atomic writes (temporary file in the
//! target directory, fsync, rename), mode 0600, never through a symlink.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Expands `%p`, `%t`, `%n` and `%%` in a `file=` pattern.
pub fn expand(pattern: &str, pid: u32, timestamp: &str, seq: u64) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('p') => out.push_str(&pid.to_string()),
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

/// The JSON path for an expanded name, and the stem other formats append their suffix to.
pub fn json_path(expanded: &str) -> (PathBuf, String) {
    match expanded.strip_suffix(".json") {
        Some(stem) if !stem.is_empty() && !stem.ends_with('/') => (PathBuf::from(expanded), stem.to_string()),
        _ => (PathBuf::from(format!("{expanded}.json")), expanded.to_string()),
    }
}

/// Writes `bytes` to `path` atomically: readers see the old file or the whole new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "report path has no file name"))?;
    let tmp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        drop(f);
        // rename(2) replaces a symlink at the final name instead of following it.
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_expand() {
        assert_eq!(expand("r-%p-%t-%n", 42, "20261121-101500", 3), "r-42-20261121-101500-3");
        assert_eq!(expand("100%%-%x%", 1, "t", 1), "100%-%x%");
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
        write_atomic(&link, b"{}").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"precious");
        let meta = fs::symlink_metadata(&link).unwrap();
        assert!(meta.file_type().is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(fs::read(&link).unwrap(), b"{}");
        assert!(meta.nlink() == 1);
        let err = write_atomic(&dir.join("missing/x.json"), b"{}").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2, "no temporary file left behind");
        fs::remove_dir_all(&dir).unwrap();
    }
}
