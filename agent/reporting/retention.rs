//! Bounded disk: the reports this process wrote are kept up to `keep` files and `keep_bytes`
//! bytes, oldest removed first, and the JSON lines file rolls to `NAME.1` at `jsonl_max`.
//!
//! Only files this process wrote are ever removed: the list is what it wrote, in memory, so
//! another process's reports, a previous run's and the user's files in the same directory are
//! never touched (a pattern match on names could not tell them apart).

use crate::reporting::writer;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One report on disk: its JSON file, its siblings (.txt, .html) and their size.
struct Written {
    files: Vec<PathBuf>,
    bytes: u64,
}

static WRITTEN: Mutex<VecDeque<Written>> = Mutex::new(VecDeque::new());

/// Records a report just written (`files`, the JSON file first) and removes the oldest reports
/// of this process beyond `keep` files or `keep_bytes` bytes; the newest always stays. Returns
/// how many reports were removed.
pub fn written(files: Vec<PathBuf>, keep: Option<usize>, keep_bytes: Option<u64>) -> u64 {
    let bytes = files.iter().filter_map(|f| fs::symlink_metadata(f).ok()).map(|m| m.len()).sum();
    let mut list = WRITTEN.lock();
    // A name without %n is rewritten by every report: it is one report on disk, not several.
    list.retain(|w| !w.files.iter().any(|f| files.contains(f)));
    list.push_back(Written { files, bytes });
    let mut removed = 0;
    loop {
        let total: u64 = list.iter().map(|w| w.bytes).sum();
        let over = keep.is_some_and(|k| list.len() > k) || keep_bytes.is_some_and(|b| total > b);
        if !over || list.len() <= 1 {
            return removed;
        }
        let Some(old) = list.pop_front() else { return removed };
        for f in &old.files {
            match fs::remove_file(f) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => crate::core::log::warn(&format!("cannot remove the old report {} (keep): {e}", f.display())),
            }
        }
        removed += 1;
    }
}

/// Appends `line` to the JSON lines file, first renaming it to `NAME.1` (replacing an older
/// `.1`) when the line would take it past `max` bytes: the file and its predecessor take at
/// most about twice `max`, and a shipper tailing the name follows the rename as a rotation.
pub fn append_rolling(path: &Path, line: &str, max: u64) -> io::Result<bool> {
    let size = match fs::symlink_metadata(path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    };
    let rolled = size > 0 && size.saturating_add(line.len() as u64 + 1) > max;
    if rolled {
        let mut old = path.as_os_str().to_owned();
        old.push(".1");
        // rename(2) replaces a symlink at NAME.1 instead of following it.
        fs::rename(path, PathBuf::from(old))?;
    }
    writer::append_line(path, line)?;
    Ok(rolled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jsonl_file_rolls_past_its_size() {
        let dir = std::env::temp_dir().join(format!("leakagent-roll-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.jsonl");
        let line = "x".repeat(99);
        let rolls: Vec<bool> = (0..25).map(|_| append_rolling(&f, &line, 1000).unwrap()).collect();
        // Ten lines of 100 bytes fill 1000 bytes; the eleventh rolls.
        assert_eq!(rolls.iter().filter(|r| **r).count(), 2);
        assert!(!rolls[9] && rolls[10] && rolls[20]);
        assert_eq!(fs::read_to_string(&f).unwrap().lines().count(), 5);
        assert_eq!(fs::read_to_string(dir.join("a.jsonl.1")).unwrap().lines().count(), 10);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 2);
        fs::remove_dir_all(&dir).unwrap();
    }
}
