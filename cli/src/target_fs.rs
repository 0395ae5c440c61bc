//! Reading the target JVM's files when leakagent runs as root: the paths come from the JVM
//! (system properties the application can set) and the directories belong to its user, who can
//! plant symlinks there (`r-1.txt -> /root/secret`). So every file is opened
//! - as the JVM's user (`AsTarget`: effective uid and gid, supplementary groups dropped), so
//!   permissions are checked as for them;
//! - inside the JVM's root (/proc/PID/root as the directory of an openat2 RESOLVE_IN_ROOT),
//!   so an absolute path or `..` never leaves its container;
//! - following no symlink at all (RESOLVE_NO_SYMLINKS, O_NOFOLLOW), so nothing redirects root's
//!   read elsewhere, also not within the JVM's own files;
//! - and checked on the open descriptor: a regular file of the JVM's user, of bounded size.
//!
//! openat2 (Linux 5.6) rather than a forked child that drops privileges: it needs no second
//! process, and the kernel resolves the whole path under these rules in one call. Kernels
//! without it get the same rules from a walk, one component at a time with O_NOFOLLOW.

use crate::io::{read_checked, MAX_REPORT_BYTES};
use crate::procfs::Process;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

/// Why a file of the JVM was not read.
pub enum Refusal {
    /// There is no such file (a rendering the agent was not asked for).
    Missing,
    /// It exists but is not trusted: the reason, in words.
    Refused(String),
}

/// The bytes of `path` (as the JVM names it) under the rules above.
pub fn read(p: &Process, path: &str) -> Result<Vec<u8>, Refusal> {
    let refused = |why: String| Refusal::Refused(format!("{path} in JVM {}'s file system: {why}", p.pid));
    let f = open(p, path).map_err(|e| match e.raw_os_error() {
        Some(libc::ENOENT) => Refusal::Missing,
        Some(libc::ELOOP) => refused("the path goes through a symbolic link, which leakagent never follows there".into()),
        _ => refused(e.to_string()),
    })?;
    let m = f.metadata().map_err(|e| refused(e.to_string()))?;
    if !m.is_file() {
        return Err(refused("not a regular file".into()));
    }
    if m.uid() != p.euid {
        return Err(refused(format!("owned by uid {}, not by the JVM's uid {}", m.uid(), p.euid)));
    }
    read_checked(f, MAX_REPORT_BYTES).map_err(|e| refused(e.to_string()))
}

fn open(p: &Process, path: &str) -> std::io::Result<File> {
    let root = open_fd(libc::AT_FDCWD, &format!("/proc/{}/root", p.pid), libc::O_PATH | libc::O_DIRECTORY)?;
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK | libc::O_CLOEXEC;
    // SAFETY: open_how is plain integers; all zero is "no flags" (libc marks it non-exhaustive).
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = flags as u64;
    how.resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS;
    let c = cstring(path)?;
    // SAFETY: openat2 reads the path and the open_how of the given size; returns a new fd or -1.
    let fd = unsafe {
        libc::syscall(libc::SYS_openat2, root.as_raw_fd(), c.as_ptr(), &how as *const libc::open_how, std::mem::size_of::<libc::open_how>())
    };
    if fd >= 0 {
        // SAFETY: a descriptor this process now owns.
        return Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd as i32) }));
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() != Some(libc::ENOSYS) {
        return Err(e);
    }
    walk(root, path, flags)
}

/// The fallback for kernels before 5.6: each directory opened with O_NOFOLLOW from the last,
/// `..` refused (it could climb out of the root).
fn walk(root: OwnedFd, path: &str, flags: i32) -> std::io::Result<File> {
    let parts: Vec<&str> = path.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    let Some((last, dirs)) = parts.split_last() else {
        return Err(std::io::Error::from_raw_os_error(libc::EISDIR));
    };
    let mut dir = root;
    for part in dirs.iter().chain(std::iter::once(last)) {
        if *part == ".." {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path climbs with '..'"));
        }
    }
    for part in dirs {
        dir = match open_fd(dir.as_raw_fd(), part, libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW) {
            Ok(d) => d,
            // O_PATH|O_NOFOLLOW on a symlink opens the link itself, which is no directory.
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) && is_symlink(&dir, part) => {
                return Err(std::io::Error::from_raw_os_error(libc::ELOOP))
            }
            Err(e) => return Err(e),
        };
    }
    open_fd(dir.as_raw_fd(), last, flags).map(File::from)
}

fn is_symlink(dir: &OwnedFd, name: &str) -> bool {
    let Ok(c) = cstring(name) else { return false };
    // SAFETY: fstatat fills the stat buffer for a name relative to an open directory.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        libc::fstatat(dir.as_raw_fd(), c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFLNK
    }
}

fn open_fd(dir: i32, name: &str, flags: i32) -> std::io::Result<OwnedFd> {
    let c = cstring(name)?;
    // SAFETY: openat with a NUL-terminated name; returns a new descriptor or -1.
    let fd = unsafe { libc::openat(dir, c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a descriptor this process now owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn cstring(s: &str) -> std::io::Result<CString> {
    CString::new(s).map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "a NUL byte in the path"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The walk kernels without openat2 use, on a directory of our own standing in for a root.
    #[test]
    fn the_fallback_walk_follows_no_symlink_and_never_climbs() {
        let d = std::env::temp_dir().join(format!("leakagent-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("reports")).unwrap();
        std::fs::write(d.join("reports/r-1.json"), "{}").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join("reports/r-1.txt")).unwrap();
        std::os::unix::fs::symlink(d.join("reports"), d.join("via")).unwrap();
        let root = || open_fd(libc::AT_FDCWD, d.to_str().unwrap(), libc::O_PATH | libc::O_DIRECTORY).unwrap();
        let flags = libc::O_RDONLY | libc::O_NOFOLLOW;
        assert!(walk(root(), "/reports/./r-1.json", flags).is_ok());
        for (path, errno) in [("/reports/r-1.txt", Some(libc::ELOOP)), ("/via/r-1.json", Some(libc::ELOOP)), ("/reports/none", Some(libc::ENOENT))] {
            assert_eq!(walk(root(), path, flags).err().and_then(|e| e.raw_os_error()), errno, "{path}");
        }
        assert!(walk(root(), "/reports/../../etc/passwd", flags).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }
}
