//! The few raw OS calls the agent needs: the self-pipe, the report signal, local time.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering::Relaxed};

/// Write end of the self-pipe, read by the signal handler (async-signal-safe: a plain load).
static PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
/// Signals received and bytes the handler could not write (pipe full: the request coalesces).
static SIGNALS: AtomicU64 = AtomicU64::new(0);
static SIGNAL_OVERFLOW: AtomicU64 = AtomicU64::new(0);

/// Closes both ends of the self-pipe (a start that failed).
pub fn close_self_pipe(read: RawFd) {
    let write = PIPE_WRITE.swap(-1, Relaxed);
    // SAFETY: closing descriptors this module opened.
    unsafe {
        libc::close(read);
        if write >= 0 {
            libc::close(write);
        }
    }
}

/// (report signals received, those whose request found the pipe full).
pub fn signal_counts() -> (u64, u64) {
    (SIGNALS.load(Relaxed), SIGNAL_OVERFLOW.load(Relaxed))
}

/// A non-blocking, close-on-exec pipe: (read end, write end).
pub fn self_pipe() -> io::Result<(RawFd, RawFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    PIPE_WRITE.store(fds[1], Relaxed);
    Ok((fds[0], fds[1]))
}

/// Writes one request byte to the self-pipe; never blocks. Returns false when the pipe is full
/// (a report is already pending, so the request coalesces) or gone.
pub fn post(byte: u8) -> bool {
    let fd = PIPE_WRITE.load(Relaxed);
    if fd < 0 {
        return false;
    }
    // SAFETY: writing one byte from a valid buffer; errno is saved and restored because this
    // also runs inside a signal handler.
    unsafe {
        let errno = *libc::__errno_location();
        let n = libc::write(fd, &byte as *const u8 as *const libc::c_void, 1);
        *libc::__errno_location() = errno;
        n == 1
    }
}

extern "C" fn on_report_signal(_sig: libc::c_int) {
    // Only atomics and write(2): both async-signal-safe.
    SIGNALS.fetch_add(1, Relaxed);
    if !post(b'S') {
        SIGNAL_OVERFLOW.fetch_add(1, Relaxed);
    }
}

/// The number of `SIGRTMIN+n` in this process (glibc reserves the first real-time signals).
pub fn rtmin_plus(n: u8) -> libc::c_int {
    libc::SIGRTMIN() + n as libc::c_int
}

/// Installs the report signal handler. Refuses when somebody else already handles the signal.
pub fn install_report_signal(signo: libc::c_int) -> io::Result<()> {
    // SAFETY: plain sigaction calls on zero-initialised structs.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        if libc::sigaction(signo, std::ptr::null(), &mut old) != 0 {
            return Err(io::Error::last_os_error());
        }
        if old.sa_sigaction != libc::SIG_DFL && old.sa_sigaction != libc::SIG_IGN {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("signal {signo} already has a handler in this process"),
            ));
        }
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_report_signal as *const () as usize;
        sa.sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(signo, &sa, std::ptr::null_mut()) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Whether the agent's own report handler is the one installed for `signo` now.
pub fn report_signal_installed(signo: libc::c_int) -> bool {
    // SAFETY: sigaction with a null new action only reads the current one.
    unsafe {
        let mut cur: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signo, std::ptr::null(), &mut cur) == 0 && cur.sa_sigaction == on_report_signal as *const () as usize
    }
}

/// Waits up to `timeout_ms` (negative: forever) for the pipe to become readable, then drains it.
pub fn wait_and_drain(fd: RawFd, timeout_ms: i32, out: &mut Vec<u8>) -> io::Result<()> {
    let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return if e.kind() == io::ErrorKind::Interrupted { Ok(()) } else { Err(e) };
    }
    let mut buf = [0u8; 256];
    loop {
        // SAFETY: reading into a valid local buffer.
        let r = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if r <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..r as usize]);
    }
    Ok(())
}

/// Local time as `YYYYmmdd-HHMMSS` for `%t` in file names.
pub fn local_timestamp(epoch_secs: i64) -> String {
    // SAFETY: localtime_r writes into our zeroed struct.
    unsafe {
        let t: libc::time_t = epoch_secs as libc::time_t;
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return format!("{epoch_secs}");
        }
        format!(
            "{:04}{:02}{:02}-{:02}{:02}{:02}",
            tm.tm_year + 1900,
            tm.tm_mon + 1,
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec
        )
    }
}

/// Milliseconds since this process started (from /proc/self/stat and /proc/uptime).
pub fn process_uptime_ms() -> Option<u64> {
    let start_ticks = start_ticks("self")? as f64;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime").ok()?.split_whitespace().next()?.parse().ok()?;
    let hz = clock_ticks_per_s()? as f64;
    Some(((uptime - start_ticks / hz) * 1000.0).max(0.0) as u64)
}

/// When process `pid` ("self" for this one) started, in clock ticks after boot: with the pid, it
/// names one process (a pid is reused, never at the same tick). None: no such process.
pub fn start_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// When process `pid` started, in seconds since the epoch (to about a second: boot time is
/// kept in whole seconds).
pub fn start_epoch_s(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let boot: f64 = stat.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()?;
    Some(boot + start_ticks(pid)? as f64 / clock_ticks_per_s()? as f64)
}

fn clock_ticks_per_s() -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (hz > 0).then_some(hz as u64)
}

/// Gives a signal back its default disposition (a start that failed after installing the
/// report handler, which was only installed over the default).
pub fn restore_default_signal(signo: libc::c_int) {
    // SAFETY: plain signal(2) call.
    unsafe {
        libc::signal(signo, libc::SIG_DFL);
    }
}

/// Sets a signal to be ignored (used at unload, when the handler may go away with the library).
pub fn ignore_signal(signo: libc::c_int) {
    // SAFETY: plain signal(2) call.
    unsafe {
        libc::signal(signo, libc::SIG_IGN);
    }
}

/// A cheap monotonic clock in milliseconds (CLOCK_MONOTONIC_COARSE: a few ns to read, a few ms
/// of resolution), for the age of ledger entries on the hot path.
pub fn coarse_monotonic_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into our struct.
    if unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// CPU time the calling thread has used (CLOCK_THREAD_CPUTIME_ID).
pub fn thread_cpu_time() -> Option<std::time::Duration> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec into `ts`, which lives across the call.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (r == 0).then(|| std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// The size of a memory page in bytes: a power of two, so callers may mask with it.
pub fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 && (n as u64).is_power_of_two() {
        n as u64
    } else {
        4096
    }
}

/// Free bytes for an unprivileged writer on the file system that holds `path`.
pub fn fs_free_bytes(path: &std::path::Path) -> io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs writes into our zeroed struct; `c` is NUL-terminated.
    unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st.f_bavail as u64 * st.f_frsize as u64)
    }
}

/// Whether `path` is on a file system kept in memory (tmpfs, ramfs): a file there costs RAM, and
/// in a container it counts against the memory limit.
pub fn is_memory_fs(path: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    const RAMFS_MAGIC: i64 = 0x8584_58f6;
    let Ok(c) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: statfs writes into our zeroed struct.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        if libc::statfs(c.as_ptr(), &mut st) != 0 {
            return false;
        }
        let t = st.f_type as i64;
        t == TMPFS_MAGIC || t == RAMFS_MAGIC
    }
}

/// The effective user id: who owns the files this process creates.
pub fn euid() -> u32 {
    // SAFETY: geteuid takes nothing and cannot fail.
    unsafe { libc::geteuid() }
}

/// Tells the kernel the file's cached pages are no longer needed (a read heap dump).
pub fn drop_page_cache(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: advice on a valid open descriptor.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
}

/// rename(2) that fails with `AlreadyExists` instead of replacing `to` (renameat2 with
/// RENAME_NOREPLACE; link and unlink where the kernel or file system lacks it).
pub fn rename_noreplace(from: &std::path::Path, to: &std::path::Path) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c = |p: &std::path::Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    };
    let (f, t) = (c(from)?, c(to)?);
    // The raw system call, not glibc's renameat2 wrapper (2.28+): the release library runs on
    // glibc 2.17, and the wrapper adds nothing for RENAME_NOREPLACE.
    // SAFETY: both paths are NUL-terminated; renameat2 takes (int, char*, int, char*, unsigned).
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            f.as_ptr(),
            libc::AT_FDCWD,
            t.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINVAL) | Some(libc::ENOSYS) => {
            std::fs::hard_link(from, to)?;
            std::fs::remove_file(from)
        }
        _ => Err(e),
    }
}
