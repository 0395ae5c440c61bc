//! The agent's own files besides the reports: the log (`log=`), the JSON lines file and the
//! Prometheus textfile, and the directories they and the reports go to.
//!
//! A JVM often runs as root, in directories others can write to. So a file is never opened
//! through a symbolic link, is created 0600 (the textfile 0644: node_exporter runs as its own
//! user), and an existing one is refused when it is not a regular file, belongs to another user
//! or can be written by group or others: whoever planted or can change it chooses what the agent
//! writes into, or what others read as the agent's output.
//!
//! What a killed run leaves behind (a report's temporary file, a heap dump's directory) is
//! removed by the next run through one sweep ([`sweep`]); each caller says what is stale.

use crate::ffi::os;
use crate::core::options::Options;
use crate::reporting::writer;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Opens `path` for appending, creating it 0600; refuses a link, a non-regular file (a FIFO
/// opens without blocking, then is refused), another user's file or one others can write to.
pub fn open_append(path: &Path) -> io::Result<File> {
    let f = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| if e.raw_os_error() == Some(libc::ELOOP) { symlink_error() } else { e })?;
    trusted(&f.metadata()?)?;
    Ok(f)
}

/// Appends `bytes` to a file opened for appending. What a full disk had room for is cut off
/// again (half a line breaks every reader of a log or JSON lines file), unless another writer
/// appended since.
pub fn append_whole(mut f: &File, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let before = f.metadata()?.len();
    let mut done = 0;
    while done < bytes.len() {
        let e = match f.write(&bytes[done..]) {
            Ok(0) => io::ErrorKind::WriteZero.into(),
            Ok(n) => {
                done += n;
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => e,
        };
        if done > 0 && f.metadata().is_ok_and(|m| m.len() == before + done as u64) {
            let _ = f.set_len(before);
        }
        return Err(e);
    }
    Ok(())
}

/// Makes a rename in `dir` survive a crash of the machine, not only of the process: the new
/// name lives in the directory, which `fsync` of the file does not write. Best effort: the file
/// is already in place, and some file systems refuse `fsync` on a directory.
pub fn sync_dir(dir: &Path) {
    if let Ok(d) = OpenOptions::new().read(true).custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC).open(dir) {
        let _ = d.sync_all();
    }
}

/// Whether what is at `path` now (if anything) may be replaced or appended to: the same rule as
/// [`open_append`], without following a link.
pub fn check_existing(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(symlink_error()),
        Ok(m) => trusted(&m),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn symlink_error() -> io::Error {
    io::Error::other("it is a symbolic link, and the agent never writes through one")
}

fn trusted(m: &Metadata) -> io::Result<()> {
    let me = os::euid();
    if !m.file_type().is_file() {
        return Err(io::Error::other("it is not a regular file"));
    }
    if m.uid() != me {
        return Err(io::Error::other(format!("it belongs to uid {}, not to the JVM's user (uid {me})", m.uid())));
    }
    if m.mode() & 0o022 != 0 {
        return Err(io::Error::other(format!("group or others can write to it (mode {:o})", m.mode() & 0o7777)));
    }
    Ok(())
}

/// Whether this process can create files in `dir`: creates and removes a unique file there
/// (named like the writer's temporaries, so a leftover is swept like theirs).
pub fn probe_dir(dir: &Path) -> io::Result<()> {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
    let probe = dir.join(format!(".probe.{}-{nanos}{}", std::process::id(), writer::TMP_SUFFIX));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&probe)?;
    fs::remove_file(&probe)
}

/// One entry [`sweep`] removed, or tried to: its path, the bytes it held and the outcome.
pub struct Swept {
    pub path: PathBuf,
    pub bytes: u64,
    pub result: io::Result<()>,
}

/// Removes the entries of `dir` that `stale` picks by name and metadata (of the entry itself: a
/// link is never followed, and is removed as a link): a file, or a directory with what it holds.
/// Returns each removal with its outcome, for the caller to log; an unreadable `dir` is none.
pub fn sweep(dir: &Path, stale: impl Fn(&str, &Metadata) -> bool) -> Vec<Swept> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut swept = Vec::new();
    for e in entries.flatten() {
        // The agent names its files in UTF-8 (options arrive as text): any other name is not ours.
        let (Some(name), Ok(m)) = (e.file_name().to_str().map(String::from), e.metadata()) else { continue };
        if !stale(&name, &m) {
            continue;
        }
        let path = e.path();
        let (bytes, result) = if m.is_dir() {
            let bytes = fs::read_dir(&path)
                .map(|d| d.flatten().filter_map(|f| f.metadata().ok()).map(|m| m.len()).sum::<u64>())
                .unwrap_or(0);
            (bytes, fs::remove_dir_all(&path))
        } else {
            (m.len(), fs::remove_file(&path))
        };
        swept.push(Swept { path, bytes, result });
    }
    swept
}

/// Whether what `m` describes was last modified more than `age` ago (a time in the future is not).
pub fn older_than(m: &Metadata, age: Duration) -> bool {
    m.modified().ok().and_then(|t| SystemTime::now().duration_since(t).ok()).is_some_and(|a| a > age)
}

/// The directory of a file path (`.` for a bare name).
pub fn dir_of(path: &str) -> PathBuf {
    match Path::new(path).parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Checks at start-up what the options name, so that a bad directory or file stops start-up
/// (or refuses the attach) with a message instead of failing at every report: the reports'
/// directory, `chain_dump_dir`, and the JSON lines file and textfile with their directories.
/// `started`: the agent's start time as `%s` expands it.
pub fn check_at_start(o: &Options, started: &str) -> Vec<String> {
    let pid = std::process::id();
    let mut errors = Vec::new();
    let dir_ok = |errors: &mut Vec<String>, key: &str, dir: &Path| match probe_dir(dir) {
        Ok(()) => true,
        Err(e) => {
            errors.push(format!("option '{key}' names the directory '{}', where the agent cannot create files: {e}", dir.display()));
            false
        }
    };
    // A directory that depends on the report (%t, %n) is known only when it is written.
    let report_dir = dir_of(&o.file);
    if !report_dir.to_string_lossy().contains("%t") && !report_dir.to_string_lossy().contains("%n") {
        dir_ok(&mut errors, "file", Path::new(&writer::expand(&report_dir.to_string_lossy(), pid, started, "", 0)));
    }
    if let Some(d) = &o.chain_dump_dir {
        dir_ok(&mut errors, "chain_dump_dir", Path::new(d));
    }
    let series = [
        (o.formats.jsonl, "jsonl_file", o.jsonl_file.as_deref(), "jsonl"),
        (o.formats.prom, "prom_file", o.prom_file.as_deref(), "prom"),
    ];
    for (on, key, given, suffix) in series {
        if !on {
            continue;
        }
        let path = series_path(&o.file, given, started, suffix);
        if given.is_some() && !dir_ok(&mut errors, key, &dir_of(&path)) {
            continue;
        }
        if let Err(e) = check_existing(Path::new(&path)) {
            errors.push(format!("option '{key}': the agent will not write to '{path}': {e}"));
        }
    }
    errors
}

/// A file that serves the whole run (`prom_file`, `jsonl_file`): as given, else
/// `leakagent-HOST-PID.SUFFIX` beside the reports (`file`); the host keeps apart the files of
/// JVMs that are all pid 1 in their containers and share a volume.
pub fn series_path(file: &str, given: Option<&str>, started: &str, suffix: &str) -> String {
    let pid = std::process::id();
    match given {
        Some(p) => writer::expand(p, pid, started, "", 0),
        None => {
            let reports = writer::expand(file, pid, started, "", 0);
            let dir = Path::new(&reports).parent().filter(|p| !p.as_os_str().is_empty());
            let name = format!("{}.{suffix}", writer::expand("leakagent-%h-%p", pid, started, "", 0));
            dir.map(|d| d.join(&name).display().to_string()).unwrap_or(name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn links_fifos_and_writable_files_are_refused_new_files_are_private() {
        let dir = std::env::temp_dir().join(format!("leakagent-files-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let new = dir.join("new.log");
        open_append(&new).unwrap();
        assert_eq!(fs::metadata(&new).unwrap().permissions().mode() & 0o777, 0o600);
        let victim = dir.join("victim");
        fs::write(&victim, b"precious").unwrap();
        let link = dir.join("link.log");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let e = open_append(&link).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(check_existing(&link).unwrap_err().to_string().contains("symbolic link"));
        let shared = dir.join("shared.log");
        fs::write(&shared, b"").unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o666)).unwrap();
        let e = open_append(&shared).unwrap_err().to_string();
        assert!(e.contains("mode 666"), "{e}");
        let fifo = dir.join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        assert!(open_append(&fifo).is_err(), "a FIFO is refused without blocking");
        assert!(check_existing(&dir.join("absent")).is_ok());
        probe_dir(&dir).unwrap();
        assert!(probe_dir(&dir.join("absent")).is_err());
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_sweep_removes_what_its_caller_picks_files_and_directories() {
        let dir = std::env::temp_dir().join(format!("leakagent-sweep-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("old-dir")).unwrap();
        fs::write(dir.join("old-dir/a"), b"12345").unwrap();
        fs::write(dir.join("old-file"), b"123").unwrap();
        fs::write(dir.join("kept"), b"1").unwrap();
        let target = dir.join("kept-target");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("b"), b"1").unwrap();
        std::os::unix::fs::symlink(&target, dir.join("old-link")).unwrap();
        let mut swept = sweep(&dir, |name, _| name.starts_with("old-"));
        swept.sort_by(|a, b| a.path.cmp(&b.path));
        let got: Vec<(String, u64, bool)> = swept
            .iter()
            .map(|s| (s.path.file_name().unwrap().to_string_lossy().into_owned(), s.bytes, s.result.is_ok()))
            .collect();
        let link_len = target.as_os_str().len() as u64;
        assert_eq!(got, [("old-dir".into(), 5, true), ("old-file".into(), 3, true), ("old-link".into(), link_len, true)]);
        assert!(dir.join("kept").exists() && target.join("b").exists(), "a link is removed, not followed");
        assert!(sweep(&dir.join("absent"), |_, _| true).is_empty());
        assert!(!older_than(&fs::metadata(dir.join("kept")).unwrap(), Duration::from_secs(600)));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn series_files_sit_beside_the_reports_unless_named() {
        let pid = std::process::id();
        let host = writer::expand("%h", 0, "", "", 0);
        assert_eq!(series_path("/r/x-%n", None, "s", "prom"), format!("/r/leakagent-{host}-{pid}.prom"));
        assert_eq!(series_path("x-%n", None, "s", "jsonl"), format!("leakagent-{host}-{pid}.jsonl"));
        assert_eq!(series_path("x", Some("/v/l-%s.jsonl"), "S", "jsonl"), "/v/l-S.jsonl");
    }
}
