//! HotSpot's dynamic attach protocol on Linux, spoken directly (no jcmd, no JDK needed here),
//! and from outside a container: every path goes through /proc/PID/root or /proc/PID/cwd, and
//! the file names use the pid inside the JVM's own pid namespace.
//!
//! The listener: HotSpot opens the UNIX socket `/tmp/.java_pid<nspid>` the first time it gets
//! SIGQUIT while a file `.attach_pid<nspid>` exists in its working directory or in /tmp. It
//! accepts a peer with its own effective uid and gid, or root; it trusts a trigger file owned by
//! its own uid or by root. A request is `1\0<command>\0<arg1>\0<arg2>\0<arg3>\0` (protocol
//! version 1, which every HotSpot since JDK 6 accepts); the answer is a status line (`0`: the
//! command ran) and the command's output until the JVM closes the connection.
//!
//! Whatever answers on that socket is trusted only when it is the JVM: /tmp is everybody's, and
//! another user who binds `/tmp/.java_pid<pid>` first could answer anything (a "report signal"
//! of 15 would have root's leakagent kill the JVM). As HotSpot's own client does, the socket
//! file must be the JVM user's and closed to group and others; then the peer credentials of the
//! connection (SO_PEERCRED, taken by the kernel when the JVM listened) must name the JVM's
//! process and user.

use crate::procfs::Process;
use crate::error::{refused, Failure};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a JVM gets to open its attach socket after SIGQUIT (a loaded machine is slow).
const LISTENER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a command may take to answer (`load` runs the agent's start-up).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest answer read: `properties` of a JVM with a long class path is tens of KiB; a
/// peer that sends more is not answering a question of ours.
const MAX_REPLY_BYTES: u64 = 4 << 20;

/// Runs as the JVM's user while alive: HotSpot wants the peer and the trigger file to be its
/// own user's (root is accepted for both by JDK 11+, but not by older JDKs, and a file created
/// by root in the JVM's directory would be left root-owned); and the JVM's files are read with
/// its user's rights, root's supplementary groups dropped too. Restores on drop.
pub struct AsTarget {
    saved: Option<(u32, u32, Vec<libc::gid_t>)>,
}

impl AsTarget {
    pub fn enter(p: &Process) -> Result<AsTarget, Failure> {
        // SAFETY: plain credential calls; this program has no other threads.
        unsafe {
            let (uid, gid) = (libc::geteuid(), libc::getegid());
            if uid == p.euid && gid == p.egid {
                return Ok(AsTarget { saved: None });
            }
            if uid != 0 {
                return Err(refused(format!(
                    "JVM {} runs as uid {} gid {}, this command as uid {uid}: run leakagent as that user or as root",
                    p.pid, p.euid, p.egid
                )));
            }
            let n = libc::getgroups(0, std::ptr::null_mut());
            let mut groups = vec![0; n.max(0) as usize];
            let n = libc::getgroups(groups.len() as i32, groups.as_mut_ptr());
            groups.truncate(n.max(0) as usize);
            // Groups first: setgroups needs the capability that seteuid to another user drops.
            if libc::setgroups(1, &p.egid) != 0 || libc::setegid(p.egid) != 0 || libc::seteuid(p.euid) != 0 {
                let e = std::io::Error::last_os_error();
                libc::seteuid(uid);
                libc::setegid(gid);
                libc::setgroups(groups.len(), groups.as_ptr());
                return Err(refused(format!("cannot switch to the JVM's uid {} gid {}: {e}", p.euid, p.egid)));
            }
            Ok(AsTarget { saved: Some((uid, gid, groups)) })
        }
    }
}

impl Drop for AsTarget {
    fn drop(&mut self) {
        if let Some((uid, gid, groups)) = &self.saved {
            // SAFETY: back to the saved credentials (the saved set-user-ID is still root).
            unsafe {
                libc::seteuid(*uid);
                libc::setegid(*gid);
                libc::setgroups(groups.len(), groups.as_ptr());
            }
        }
    }
}

fn socket_path(p: &Process) -> PathBuf {
    p.inside(&format!("/tmp/.java_pid{}", p.nspid))
}

/// Whether something is at the socket's path (a symlink counts: it is refused when used).
fn socket_exists(p: &Process) -> bool {
    std::fs::symlink_metadata(socket_path(p)).is_ok()
}

/// The socket file is a socket (not a symlink) of the JVM's user, closed to group and others:
/// what HotSpot creates (0600) and what its own attach client requires.
fn check_socket_file(p: &Process, path: &Path) -> Result<(), Failure> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::symlink_metadata(path)
        .map_err(|e| refused(format!("cannot inspect JVM {}'s attach socket {}: {e}", p.pid, path.display())))?;
    let why = if !m.file_type().is_socket() {
        Some("is not a socket".to_string())
    } else if m.uid() != p.euid {
        Some(format!("is owned by uid {}, not by the JVM's uid {}", m.uid(), p.euid))
    } else if m.mode() & 0o077 != 0 {
        Some(format!("is open to group or others (mode {:03o}; HotSpot makes it 600)", m.mode() & 0o777))
    } else {
        None
    };
    match why {
        Some(why) => Err(refused(format!(
            "JVM {}'s attach socket {} {why}: another process may be impersonating the JVM; nothing was sent",
            p.pid,
            path.display()
        ))),
        None => Ok(()),
    }
}

/// The connected peer is the JVM: its pid (as our pid namespace sees it, so a container's JVM
/// is named by the pid we were given) and its user.
fn check_peer(p: &Process, s: &UnixStream, path: &Path) -> Result<(), Failure> {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt fills at most `len` bytes of `cred`.
    let r = unsafe {
        libc::getsockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_PEERCRED, &mut cred as *mut libc::ucred as *mut libc::c_void, &mut len)
    };
    if r != 0 {
        return Err(refused(format!(
            "cannot read the peer of JVM {}'s attach socket {}: {}; nothing was sent",
            p.pid,
            path.display(),
            std::io::Error::last_os_error()
        )));
    }
    if cred.pid as u32 != p.pid || cred.uid != p.euid {
        return Err(refused(format!(
            "JVM {}'s attach socket {} is served by process {} of uid {}, not by the JVM (uid {}): another process is \
             impersonating it; nothing was sent",
            p.pid,
            path.display(),
            cred.pid,
            cred.uid,
            p.euid
        )));
    }
    Ok(())
}

/// Makes sure the JVM's attach listener runs, starting it when needed. Call as the target
/// (`AsTarget`); `p` must have passed `check_hotspot`.
pub fn start_listener(p: &Process) -> Result<(), Failure> {
    if socket_exists(p) {
        return Ok(());
    }
    let pid = p.pid;
    let disabled = p.jvm_flags().iter().rev().find_map(|f| match f.as_str() {
        "-XX:+DisableAttachMechanism" => Some(true),
        "-XX:-DisableAttachMechanism" => Some(false),
        _ => None,
    });
    if disabled == Some(true) {
        return Err(refused(format!(
            "JVM {pid} was started with -XX:+DisableAttachMechanism: leakagent cannot load the agent or ask it anything \
             through the attach mechanism; start it with the agent (-agentpath:.../libleakagent.so) and send the \
             report signal yourself"
        )));
    }
    if !p.catches(libc::SIGQUIT) {
        return Err(refused(format!(
            "JVM {pid} has no SIGQUIT handler (started with -Xrs or -XX:+ReduceSignalUsage?): SIGQUIT would stop it, \
             so leakagent cannot start its attach listener; no signal was sent"
        )));
    }
    // The working directory first, as HotSpot looks there first; /tmp when it is not writable.
    let name = format!(".attach_pid{}", p.nspid);
    let candidates = [p.cwd().join(&name), p.inside(&format!("/tmp/{name}"))];
    let trigger = candidates
        .iter()
        .find(|path| {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new().write(true).create(true).truncate(false).custom_flags(libc::O_NOFOLLOW).open(path).is_ok()
        })
        .ok_or_else(|| refused(format!("cannot create the attach trigger file {} (nor in the JVM's /tmp)", candidates[0].display())))?;
    let result = (|| {
        p.send(libc::SIGQUIT).map_err(|e| refused(format!("cannot send SIGQUIT to JVM {pid}: {e}")))?;
        let start = Instant::now();
        let mut pause = Duration::from_millis(20);
        while start.elapsed() < LISTENER_TIMEOUT {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(200));
            if socket_exists(p) {
                return Ok(());
            }
            if !p.alive() {
                return Err(refused(format!("JVM {pid} exited while its attach listener was starting")));
            }
        }
        Err(refused(format!(
            "JVM {pid} did not open its attach socket {} within {} s after SIGQUIT (attach disabled, or the JVM is still \
             starting or hung); it printed a thread dump instead and keeps running",
            socket_path(p).display(),
            LISTENER_TIMEOUT.as_secs()
        )))
    })();
    let _ = std::fs::remove_file(trigger);
    result
}

/// Sends one command and returns the JVM's status code and output. Call as the target.
pub fn command(p: &Process, cmd: &str, args: [&str; 3]) -> Result<(i32, String), Failure> {
    let path = socket_path(p);
    check_socket_file(p, &path)?;
    let mut s = UnixStream::connect(&path)
        .map_err(|e| refused(format!("cannot connect to JVM {}'s attach socket {}: {e}", p.pid, path.display())))?;
    check_peer(p, &s, &path)?;
    let _ = s.set_read_timeout(Some(COMMAND_TIMEOUT));
    let mut req = Vec::new();
    for part in ["1", cmd, args[0], args[1], args[2]] {
        req.extend_from_slice(part.as_bytes());
        req.push(0);
    }
    s.write_all(&req).map_err(|e| refused(format!("cannot send '{cmd}' to JVM {}: {e}", p.pid)))?;
    let mut out = Vec::new();
    (&mut s)
        .take(MAX_REPLY_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| refused(format!("no complete answer to '{cmd}' from JVM {}: {e}", p.pid)))?;
    if out.len() as u64 > MAX_REPLY_BYTES {
        return Err(refused(format!("JVM {} answered '{cmd}' with more than {} MiB; not read", p.pid, MAX_REPLY_BYTES >> 20)));
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let (status, rest) = text.split_once('\n').unwrap_or((text.as_str(), ""));
    let code = status.trim().parse().map_err(|_| refused(format!("JVM {} answered '{cmd}' with '{}'", p.pid, status.trim())))?;
    Ok((code, rest.to_string()))
}

/// `load LIB true OPTIONS`: runs the agent's Agent_OnAttach. Returns its message on failure.
pub fn load_agent(p: &Process, lib: &str, options: &str) -> Result<(), Failure> {
    let (code, out) = command(p, "load", [lib, "true", options])?;
    let out = out.trim();
    // JDK 9+ answer "return code: N" after the status; JDK 21+ an error message instead.
    let agent_code: Option<i32> = out.lines().next().and_then(|l| l.strip_prefix("return code: ")).and_then(|n| n.trim().parse().ok());
    match (code, agent_code) {
        (0, Some(0)) => Ok(()),
        (0, Some(n)) => Err(refused(format!(
            "JVM {} refused the agent (Agent_OnAttach returned {n}); the agent's own message is in the JVM's standard error or log= file",
            p.pid
        ))),
        _ => Err(refused(format!(
            "JVM {} could not load {lib}: {}",
            p.pid,
            if out.is_empty() { format!("status {code}") } else { out.replace('\n', " ") }
        ))),
    }
}
