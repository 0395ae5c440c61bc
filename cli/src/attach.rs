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

use crate::procfs::Process;
use crate::{refused, Failure};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a JVM gets to open its attach socket after SIGQUIT (a loaded machine is slow).
const LISTENER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a command may take to answer (`load` runs the agent's start-up).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs as the JVM's user while alive: HotSpot wants the peer and the trigger file to be its
/// own user's (root is accepted for both by JDK 11+, but not by older JDKs, and a file created
/// by root in the JVM's directory would be left root-owned). Restores on drop.
pub struct AsTarget {
    saved: Option<(u32, u32)>,
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
            if libc::setegid(p.egid) != 0 || libc::seteuid(p.euid) != 0 {
                let e = std::io::Error::last_os_error();
                libc::seteuid(uid);
                libc::setegid(gid);
                return Err(refused(format!("cannot switch to the JVM's uid {} gid {}: {e}", p.euid, p.egid)));
            }
            Ok(AsTarget { saved: Some((uid, gid)) })
        }
    }
}

impl Drop for AsTarget {
    fn drop(&mut self) {
        if let Some((uid, gid)) = self.saved {
            // SAFETY: back to the saved credentials (the saved set-user-ID is still root).
            unsafe {
                libc::seteuid(uid);
                libc::setegid(gid);
            }
        }
    }
}

fn socket_path(p: &Process) -> PathBuf {
    p.inside(&format!("/tmp/.java_pid{}", p.nspid))
}

fn socket_exists(p: &Process) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(socket_path(p)).map(|m| m.file_type().is_socket()).unwrap_or(false)
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
        .find(|path| std::fs::OpenOptions::new().write(true).create(true).truncate(false).open(path).is_ok())
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
    let mut s = UnixStream::connect(&path)
        .map_err(|e| refused(format!("cannot connect to JVM {}'s attach socket {}: {e}", p.pid, path.display())))?;
    let _ = s.set_read_timeout(Some(COMMAND_TIMEOUT));
    let mut req = Vec::new();
    for part in ["1", cmd, args[0], args[1], args[2]] {
        req.extend_from_slice(part.as_bytes());
        req.push(0);
    }
    s.write_all(&req).map_err(|e| refused(format!("cannot send '{cmd}' to JVM {}: {e}", p.pid)))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| refused(format!("no complete answer to '{cmd}' from JVM {}: {e}", p.pid)))?;
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
