//! What /proc says about the target process: is it a HotSpot JVM, who owns it, its pid inside
//! its own namespace, which signals it handles. And signals sent only to the process that was
//! inspected (a pidfd, so a recycled pid never receives one).

use crate::error::{refused, Failure};
use std::fs;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

// What the CLI reads of another process is bounded here, not only by the kernel: a JVM with
// very many mappings, or a planted environment, costs at most this much memory.
const STATUS_LIMIT: u64 = 1 << 20;
const MAPS_LIMIT: u64 = 64 << 20;
const ARGS_LIMIT: u64 = 16 << 20;

/// /proc/PID/NAME, at most `limit` bytes (an error beyond).
fn read_proc(pid: u32, name: &str, limit: u64) -> std::io::Result<Vec<u8>> {
    crate::io::read_checked(fs::File::open(format!("/proc/{pid}/{name}"))?, limit)
}

fn read_proc_text(pid: u32, name: &str, limit: u64) -> std::io::Result<String> {
    read_proc(pid, name, limit).map(|b| String::from_utf8_lossy(&b).into_owned())
}

pub struct Process {
    pub pid: u32,
    /// The pid inside the process's own (innermost) pid namespace: the attach files use it.
    pub nspid: u32,
    pub euid: u32,
    pub egid: u32,
    pub name: String,
    /// SigCgt: signals with a handler installed (bit n-1 for signal n).
    caught: u64,
    /// Refers to the inspected process even if its pid is reused (None: kernel without pidfd).
    pidfd: Option<OwnedFd>,
}

impl Process {
    /// Reads /proc/PID; fails (status 1) when there is no such process or it cannot be read.
    pub fn inspect(pid: u32) -> Result<Process, Failure> {
        // Opened first: if the pid is recycled after this, signals through it fail instead of
        // reaching the new process.
        let pidfd = pidfd_open(pid);
        let status = read_proc_text(pid, "status", STATUS_LIMIT).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => refused(format!("no process {pid}")),
            _ => refused(format!("cannot read /proc/{pid}/status: {e}")),
        })?;
        let field = |key: &str| status.lines().find_map(|l| l.strip_prefix(key)).map(str::trim);
        let second = |key: &str| field(key).and_then(|v| v.split_whitespace().nth(1)).and_then(|v| v.parse().ok());
        let nspid = field("NSpid:")
            .and_then(|v| v.split_whitespace().last())
            .and_then(|v| v.parse().ok())
            .unwrap_or(pid);
        if let Some(tgid) = field("Tgid:").and_then(|v| v.parse::<u32>().ok()).filter(|&t| t != pid) {
            return Err(refused(format!("{pid} is a thread of process {tgid}: give the process id")));
        }
        let caught = field("SigCgt:").and_then(|v| u64::from_str_radix(v, 16).ok()).unwrap_or(0);
        Ok(Process {
            pid,
            nspid,
            euid: second("Uid:").unwrap_or(u32::MAX),
            egid: second("Gid:").unwrap_or(u32::MAX),
            name: field("Name:").unwrap_or("?").to_string(),
            caught,
            pidfd,
        })
    }

    /// The mapped libraries name libjvm.so (and not OpenJ9's libj9vm, whose attach differs).
    pub fn check_hotspot(&self) -> Result<(), Failure> {
        let pid = self.pid;
        let maps = read_proc_text(pid, "maps", MAPS_LIMIT)
            .map_err(|e| refused(format!("cannot read /proc/{pid}/maps to check that {pid} is a JVM: {e}; run leakagent as the JVM's user or as root")))?;
        let libs = || maps.lines().filter_map(|l| l.split_whitespace().nth(5));
        if libs().any(|p| p.contains("/libj9vm")) {
            return Err(refused(format!("process {pid} ({}) is an OpenJ9 JVM; leakagent supports HotSpot JVMs only", self.name)));
        }
        if !libs().any(|p| p.ends_with("/libjvm.so")) {
            return Err(refused(format!(
                "process {pid} ({}) is not a HotSpot JVM (no libjvm.so in /proc/{pid}/maps); no signal was sent",
                self.name
            )));
        }
        Ok(())
    }

    /// Whether the process has a handler for `signo` (so the signal cannot kill it).
    pub fn catches(&self, signo: i32) -> bool {
        (1..=64).contains(&signo) && self.caught & (1u64 << (signo - 1)) != 0
    }

    /// Re-reads the handlers: the agent installs its own at start-up.
    pub fn refresh_signals(&mut self) {
        if let Ok(p) = Process::inspect(self.pid) {
            self.caught = p.caught;
        }
    }

    pub fn alive(&self) -> bool {
        self.send(0).is_ok()
    }

    /// Sends `signo` (0: only checks) to the inspected process.
    pub fn send(&self, signo: i32) -> std::io::Result<()> {
        // SAFETY: plain syscalls with integer arguments; a null siginfo means "as kill(2)".
        let r = unsafe {
            match &self.pidfd {
                Some(fd) => libc::syscall(libc::SYS_pidfd_send_signal, fd.as_raw_fd(), signo, std::ptr::null::<libc::siginfo_t>(), 0),
                None => libc::kill(self.pid as i32, signo) as libc::c_long,
            }
        };
        if r == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    }

    /// The process's view of the file system (its container's root, or ours).
    pub fn root(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.pid))
    }

    /// `path` as the process sees it, reachable from here: through /proc/PID/root unless the
    /// process shares our root.
    pub fn inside(&self, path: &str) -> PathBuf {
        if self.same_mount_namespace() && fs::read_link(self.root()).is_ok_and(|r| r == Path::new("/")) {
            return PathBuf::from(path);
        }
        self.root().join(path.trim_start_matches('/'))
    }

    pub fn cwd(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/cwd", self.pid))
    }

    /// JVM options in the order HotSpot applies them (a later one wins): JAVA_TOOL_OPTIONS,
    /// JDK_JAVA_OPTIONS (the launcher puts it before the command line), the command line
    /// (/proc/PID/cmdline), then _JAVA_OPTIONS.
    pub fn jvm_flags(&self) -> Vec<String> {
        let env = read_proc(self.pid, "environ", ARGS_LIMIT).unwrap_or_default();
        let var = |name: &str| -> Vec<String> {
            env.split(|&c| c == 0)
                .filter_map(|v| v.strip_prefix(name.as_bytes()))
                .flat_map(|v| String::from_utf8_lossy(v).split_whitespace().map(String::from).collect::<Vec<_>>())
                .collect()
        };
        let cmdline = read_proc(self.pid, "cmdline", ARGS_LIMIT).unwrap_or_default();
        let mut flags = var("JAVA_TOOL_OPTIONS=");
        flags.extend(var("JDK_JAVA_OPTIONS="));
        flags.extend(cmdline.split(|&c| c == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into_owned()));
        flags.extend(var("_JAVA_OPTIONS="));
        flags
    }

    /// Whether the process sees the same mounts as this one.
    pub fn same_mount_namespace(&self) -> bool {
        let ns = |p: String| fs::read_link(p).ok();
        matches!((ns("/proc/self/ns/mnt".into()), ns(format!("/proc/{}/ns/mnt", self.pid))), (Some(a), Some(b)) if a == b)
    }
}

fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a non-negative result is a descriptor this process now owns.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}
