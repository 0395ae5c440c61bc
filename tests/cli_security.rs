//! The `leakagent` command run as root trusts nothing the target or its reports say: an attach
//! socket another process bound first is refused before anything is sent, only the signals the
//! agent can own are sent, the JVM user's files are read as that user without following their
//! symlinks and copied 0600, oversized or special files are refused, and the application's
//! control characters are printed escaped. Throwaway users are created and removed (root only).

mod common;

use common::*;
use std::ffi::CString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

type Out = CliOut;

/// Runs leakagent with at most 256 MiB of address space: an unbounded read fails instead of
/// taking the machine's memory.
fn leakagent<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Out {
    use std::os::unix::process::CommandExt;
    let mut c = Command::new(cli_bin());
    c.args(args);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let r = libc::rlimit { rlim_cur: 256 << 20, rlim_max: 256 << 20 };
            if libc::setrlimit(libc::RLIMIT_AS, &r) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cli_output(c)
}

/// A throwaway system user (and its group), removed when dropped, also when the test fails.
struct User {
    name: String,
    uid: u32,
    gid: u32,
}

impl User {
    fn create(tag: &str) -> User {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("leakagent-t{tag}{:x}", (std::process::id() << 8) ^ nanos);
        let out = Command::new("useradd")
            .args(["--system", "--no-create-home", "--user-group", "--shell", "/usr/sbin/nologin", &name])
            .output()
            .expect("useradd (this test runs as root)");
        assert!(out.status.success(), "useradd {name}: {}", String::from_utf8_lossy(&out.stderr));
        // Guarded from here: removed even if what follows fails.
        let mut u = User { name, uid: 0, gid: 0 };
        let id = |flag: &str, name: &str| -> u32 {
            let o = Command::new("id").args([flag, name]).output().unwrap();
            String::from_utf8_lossy(&o.stdout).trim().parse().unwrap()
        };
        (u.uid, u.gid) = (id("-u", &u.name), id("-g", &u.name));
        u
    }

    /// A `java` that runs the main JDK's as this user (setpriv keeps the pid).
    fn java(&self, dir: &Path) -> PathBuf {
        let w = dir.join(format!("java-as-{}", self.name));
        std::fs::write(
            &w,
            format!(
                "#!/bin/sh\nexec setpriv --reuid={} --regid={} --clear-groups {} \"$@\"\n",
                self.uid,
                self.gid,
                main_java().display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&w, std::fs::Permissions::from_mode(0o755)).unwrap();
        w
    }
}

impl Drop for User {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

/// A process of `uid` that binds `path` (mode `mode`) and answers every attach request as an
/// agent whose report signal is 15 (SIGTERM). Killed, and its socket removed, when dropped.
struct Impostor {
    pid: libc::pid_t,
    path: PathBuf,
}

impl Impostor {
    fn bind(path: &Path, uid: u32, gid: u32, mode: libc::mode_t) -> Impostor {
        let cpath = CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: sockaddr_un is plain bytes.
        let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (d, s) in addr.sun_path.iter_mut().zip(cpath.as_bytes()) {
            *d = *s as libc::c_char;
        }
        let reply = b"0\nleakagent.version=9.9.9\nleakagent.signal=TERM\nleakagent.signal.number=15\nleakagent.report.sequence=0\n";
        // SAFETY: the child makes only async-signal-safe system calls on memory prepared before
        // the fork, and never returns.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: as above.
            unsafe {
                if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                    libc::_exit(3);
                }
                let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
                let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
                if libc::bind(fd, &addr as *const _ as *const libc::sockaddr, len) != 0 || libc::chmod(cpath.as_ptr(), mode) != 0 {
                    libc::_exit(4);
                }
                libc::listen(fd, 8);
                let mut buf = [0u8; 4096];
                loop {
                    let c = libc::accept(fd, std::ptr::null_mut(), std::ptr::null_mut());
                    if c >= 0 {
                        libc::read(c, buf.as_mut_ptr() as *mut libc::c_void, buf.len());
                        libc::write(c, reply.as_ptr() as *const libc::c_void, reply.len());
                        libc::close(c);
                    }
                }
            }
        }
        let start = Instant::now();
        while std::fs::symlink_metadata(path).is_err() {
            assert!(start.elapsed() < Duration::from_secs(10), "the impostor did not bind {}", path.display());
            std::thread::sleep(Duration::from_millis(10));
        }
        Impostor { pid, path: path.to_path_buf() }
    }
}

impl Drop for Impostor {
    fn drop(&mut self) {
        // SAFETY: our own child, killed and reaped.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

#[test]
fn report_refuses_an_impostor_socket_and_copies_only_the_jvm_users_own_files() {
    let (jvm_user, other) = (User::create("j"), User::create("o"));
    let mut jvm = Jvm::scenario("sec-impostor", "healthy");
    let java = jvm_user.java(&jvm.dir);
    jvm = jvm.java(&java);
    std::os::unix::fs::chown(&jvm.dir, Some(jvm_user.uid), Some(jvm_user.gid)).unwrap();
    let dir = jvm.dir.clone();
    let jvm = jvm.start();
    let pid = jvm.pid();
    let socket = PathBuf::from(format!("/tmp/.java_pid{pid}"));
    assert!(std::fs::symlink_metadata(&socket).is_err(), "the JVM's attach listener is not started yet");

    // Another user bound the JVM's socket name first (and let everybody in).
    let impostor = Impostor::bind(&socket, other.uid, other.gid, 0o777);
    let out = leakagent(&["report", &pid.to_string(), "--wait", "20"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(&format!("is owned by uid {}, not by the JVM's uid {}", other.uid, jvm_user.uid)) && out.stderr.contains("nothing was sent"),
        "{}",
        out.stderr
    );
    drop(impostor);
    assert!(alive(pid), "the JVM must survive");

    // The JVM's own user, from another process, with HotSpot's mode: only the peer's pid tells.
    let impostor = Impostor::bind(&socket, jvm_user.uid, jvm_user.gid, 0o600);
    let out = leakagent(&["report", &pid.to_string(), "--wait", "20"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains(&format!("is served by process {}", impostor.pid)) && out.stderr.contains("nothing was sent"), "{}", out.stderr);
    drop(impostor);
    assert!(alive(pid), "the JVM must survive");

    // The JVM's user plants, beside the coming report, a symlink to a file only root can read
    // and a file of root's; neither is read nor copied.
    let secret_dir = temp_dir("sec-secret");
    std::fs::set_permissions(&secret_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let secret = secret_dir.join("secret");
    std::fs::write(&secret, "TOP-SECRET").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&secret, dir.join("report-1.txt")).unwrap();
    std::os::unix::fs::lchown(dir.join("report-1.txt"), Some(jvm_user.uid), Some(jvm_user.gid)).unwrap();
    std::fs::write(dir.join("report-1.html"), "root's own").unwrap();
    let got = temp_dir("sec-got");
    let out = leakagent(&["report".as_ref(), pid.to_string().as_ref(), "-o".as_ref(), got.as_os_str(), "--wait".as_ref(), "60".as_ref()]);
    assert_eq!(out.code, 0, "the real JVM is asked: {}\n{}", out.stdout, out.stderr);
    let name = |n: &str| format!("{}", dir.join(n).display());
    assert!(
        out.stderr.contains(&format!("skipped {} in JVM {pid}'s file system: the path goes through a symbolic link", name("report-1.txt"))),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&format!("skipped {} in JVM {pid}'s file system: owned by uid 0, not by the JVM's uid {}", name("report-1.html"), jvm_user.uid)),
        "{}",
        out.stderr
    );
    let mut copied: Vec<String> = std::fs::read_dir(&got).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    copied.sort();
    assert_eq!(copied, ["report-1.json"], "{}", out.stdout);
    let copy = got.join("report-1.json");
    assert_eq!(std::fs::metadata(&copy).unwrap().mode() & 0o777, 0o600, "copies are readable by their owner only");
    assert_eq!(std::fs::read(&copy).unwrap(), std::fs::read(dir.join("report-1.json")).unwrap());
    assert_eq!(read_report(&copy).trigger, Trigger::Signal);
    let f = jvm.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
}

#[test]
fn report_sends_only_a_signal_the_agent_can_own() {
    // Any application can set the properties the agent publishes; this one names SIGTERM.
    let jvm = Jvm::scenario("sec-signal", "healthy")
        .without_agent()
        .jvm_args(&["-Dleakagent.version=9.9.9", "-Dleakagent.signal=TERM", "-Dleakagent.signal.number=15"])
        .start();
    let pid = jvm.pid();
    let out = leakagent(&["report", &pid.to_string(), "--no-load", "--wait", "20"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "JVM {pid} names signal 15 ('TERM') as the agent's report signal, which is none the agent can own (USR1 = 10, RTMIN+0..RTMIN+8 = {}..{}); nothing was sent",
            rtmin(0),
            rtmin(8)
        )),
        "{}",
        out.stderr
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(alive(pid), "the JVM must survive");
    let f = jvm.finish();
    assert_eq!(f.code, Some(0), "the JVM exits normally, not by SIGTERM: {}", f.stderr);
}

#[test]
fn report_refuses_an_attach_answer_over_4_mib() {
    // A system property of 5 MiB (through an @argfile: a command line cannot carry it) makes
    // the JVM's own answer to `properties` too long.
    let mut jvm = Jvm::scenario("sec-reply", "healthy").without_agent();
    let argfile = jvm.dir.join("big.args");
    std::fs::write(&argfile, format!("-Dbig={}\n", "x".repeat(5 << 20))).unwrap();
    jvm = jvm.jvm_args(&[&format!("@{}", argfile.display())]);
    let jvm = jvm.start();
    let pid = jvm.pid();
    let out = leakagent(&["report", &pid.to_string(), "--no-load", "--wait", "20"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stderr.contains(&format!("JVM {pid} answered 'properties' with more than 4 MiB; not read")), "{}", out.stderr);
    let f = jvm.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
}

#[test]
fn reports_that_are_not_bounded_regular_files_are_refused_with_status_2() {
    let dir = temp_dir("sec-bounded");
    let big = dir.join("big.json");
    std::fs::File::create(&big).unwrap().set_len((64 << 20) + 1).unwrap();
    let fifo = dir.join("fifo.json");
    let c = CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo with a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let allow = dir.join("allow.toml");
    std::fs::write(&allow, "").unwrap();
    for (args, said) in [
        (vec!["show", "/dev/zero"], "cannot read report /dev/zero: not a regular file"),
        (vec!["show", fifo.to_str().unwrap()], "fifo.json: not a regular file"),
        (vec!["show", big.to_str().unwrap()], "big.json: larger than the limit of 64 MiB"),
        (vec!["metrics", big.to_str().unwrap()], "big.json: larger than the limit of 64 MiB"),
        (vec!["diff", "/dev/zero", big.to_str().unwrap()], "/dev/zero: not a regular file"),
        (vec!["check", "/dev/zero"], "/dev/zero: not a regular file"),
        (vec!["check", big.to_str().unwrap(), "--allow", "/dev/zero"], "allow-list /dev/zero: not a regular file"),
    ] {
        let out = leakagent(&args);
        assert_eq!(out.code, 2, "{args:?}: {}\n{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(said), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn show_check_and_diff_print_the_applications_control_characters_escaped() {
    let app = app_jar("healthy");
    let f = Jvm::test_program("sec-names", "EvilNames", &[&app.display().to_string()]).options("format=text").start().finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let first = f.dir.join("report-1.json");
    let raw = std::fs::read_to_string(&first).unwrap();
    assert!(raw.contains("\\u001b[31mevil\\nloader-gen-1"), "the report keeps the names as they are: {raw}");
    let agent_text = std::fs::read_to_string(f.dir.join("report-1.txt")).unwrap();
    assert!(agent_text.contains("\\x1b[31mevil"), "{agent_text}");

    let shown = leakagent(&["show".as_ref(), first.as_os_str()]);
    let checked = leakagent(&["check".as_ref(), first.as_os_str(), "--fail-on".as_ref(), "info".as_ref()]);
    // The same report before its loaders were suspected: the diff lists them as new suspects.
    let mut before = read_json(&first);
    before["class_loaders"]["leak_suspects"] = serde_json::json!([]);
    before["findings"] = serde_json::json!([]);
    let before_path = f.dir.join("before.json");
    std::fs::write(&before_path, serde_json::to_vec(&before).unwrap()).unwrap();
    let diffed = leakagent(&["diff".as_ref(), before_path.as_os_str(), first.as_os_str(), "--top".as_ref(), "0".as_ref()]);
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert_eq!(diffed.code, 0, "{}", diffed.stderr);
    for (what, out) in [("show", &shown), ("check", &checked), ("diff", &diffed)] {
        assert!(!out.stdout.contains('\u{1b}') && !agent_text.contains('\u{1b}'), "{what} printed a raw ESC:\n{}", out.stdout);
        assert!(out.stdout.contains("\\x1b[31mevil\\x0aloader-gen-"), "{what} names the loaders, escaped:\n{}", out.stdout);
    }
}
