//! The agent's own files on real JVMs: the log, the JSON lines file and the Prometheus textfile
//! are never written through a symlink and are refused when someone else owns them or can write
//! to them; a dangling link at a report's name loses no report; a report directory that cannot
//! be written stops start-up (and refuses a late attach); heap dumps of runs that died are
//! removed at the next start; a full disk leaves no partial file; fault injection exists only in
//! the test build.

mod common;

use common::*;
use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

const NOBODY: u32 = 65534;

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// A JVM that must not start: the agent refused its options.
fn refused(test: &str, options: &str) -> Finished {
    let j = Jvm::scenario(test, "healthy");
    let opts = format!("file={}/report-%n,{options}", j.dir.display());
    let f = j.raw_options(&opts).run();
    assert_ne!(f.code, Some(0), "the JVM must not start with {options}: {}", f.stderr);
    assert!(f.stderr.contains("the JVM will not start"), "{}", f.stderr);
    f
}

/// `log=`, the JSON lines file and the textfile: created 0600 (the textfile 0644); a planted
/// symlink, another user's file or a file others can write is refused at start-up with a
/// message naming the option, and the file is left as it was; a link planted while the JVM
/// runs is not followed either.
#[test]
fn the_agents_files_are_private_and_never_followed() {
    // Created by the agent: private, except the textfile node_exporter must read.
    let running = Jvm::scenario("own-files", "healthy").options("log=agent.log,format=json+prom+jsonl").start();
    let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    let pid = running.pid();
    // The textfile lives while its JVM does (the exit report removes it).
    let prom = running.dir.join(format!("leakagent-{host}-{pid}.prom"));
    for _ in 0..200 {
        if prom.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(mode(&prom), 0o644);
    let f = running.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let (log, jsonl) = (f.dir.join("agent.log"), f.dir.join(format!("leakagent-{host}-{pid}.jsonl")));
    assert!(fs::read_to_string(&log).unwrap().contains("active"), "the log has the agent's lines");
    assert_eq!((mode(&log), mode(&jsonl)), (0o600, 0o600));

    // A symlink at log= (a root JVM appended its log to the link's target).
    let dir = temp_dir("planted-targets");
    let victim = dir.join("victim");
    fs::write(&victim, b"precious\n").unwrap();
    let link = dir.join("agent.log");
    symlink(&victim, &link).unwrap();
    let f = refused("log-link", &format!("log={}", link.display()));
    assert!(f.stderr.contains("option 'log'") && f.stderr.contains("symbolic link"), "{}", f.stderr);

    // Another user's file, and one that group or others can write.
    let foreign = dir.join("foreign.log");
    fs::write(&foreign, b"theirs\n").unwrap();
    std::os::unix::fs::chown(&foreign, Some(NOBODY), Some(NOBODY)).unwrap();
    let f = refused("log-foreign", &format!("log={}", foreign.display()));
    assert!(f.stderr.contains(&format!("belongs to uid {NOBODY}")), "{}", f.stderr);
    let shared = dir.join("shared.log");
    fs::write(&shared, b"shared\n").unwrap();
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o666)).unwrap();
    let f = refused("log-shared", &format!("log={}", shared.display()));
    assert!(f.stderr.contains("group or others can write to it (mode 666)"), "{}", f.stderr);

    // The JSON lines file and the textfile, likewise.
    let f = refused("jsonl-link", &format!("format=json+jsonl,jsonl_file={}", link.display()));
    assert!(f.stderr.contains("option 'jsonl_file'") && f.stderr.contains("symbolic link"), "{}", f.stderr);
    let f = refused("prom-foreign", &format!("format=json+prom,prom_file={}", foreign.display()));
    assert!(f.stderr.contains("option 'prom_file'") && f.stderr.contains("belongs to uid"), "{}", f.stderr);
    let f = refused("prom-shared", &format!("format=json+prom,prom_file={}", shared.display()));
    assert!(f.stderr.contains("option 'prom_file'") && f.stderr.contains("mode 666"), "{}", f.stderr);

    // A link planted at the JSON lines file after start-up: the exit report is not appended
    // through it, and the failure is said.
    let j = Jvm::scenario("jsonl-late-link", "healthy").options("format=json+jsonl,sample_interval=off");
    let late = j.dir.join("late.jsonl");
    let jvm = j.options(&format!("jsonl_file={}", late.display())).start();
    symlink(&victim, &late).unwrap();
    let f = jvm.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(f.stderr.contains(&format!("cannot append report #1 to {}: it is a symbolic link", late.display())), "{}", f.stderr);
    assert!(f.dir.join("report-1.json").is_file(), "the report itself is written");

    for untouched in [&victim, &foreign, &shared] {
        let before = if untouched == &victim { "precious\n" } else if untouched == &foreign { "theirs\n" } else { "shared\n" };
        assert_eq!(fs::read_to_string(untouched).unwrap(), before, "{} untouched", untouched.display());
    }
    assert_eq!(fs::metadata(&foreign).unwrap().uid(), NOBODY);
}

/// A dangling symlink at the name of a numbered report: the report moves on to the next name,
/// the link stays as it was and its target is not created (before, the report was lost).
#[test]
fn a_dangling_link_at_a_report_name_loses_no_report() {
    let j = Jvm::scenario("dangling", "healthy");
    let link = j.dir.join("report-1.json");
    let target = j.dir.join("nowhere");
    symlink(&target, &link).unwrap();
    let f = j.run();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    let moved = f.dir.join("report-1-2.json");
    assert!(f.stderr.contains(&format!("written to {}", moved.display())), "{}", f.stderr);
    assert_eq!(read_report(&moved).trigger, Trigger::VmDeath);
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(fs::read_link(&link).unwrap(), target);
    assert!(!target.exists(), "the link is never followed");
}

/// A report directory the JVM's user cannot write stops start-up with a message naming the
/// option and the directory (before: "active", then four error lines at every report); so does
/// a missing one and a missing `chain_dump_dir`. A late attach with such a directory is refused
/// and the JVM runs on.
#[test]
fn an_unwritable_report_directory_is_refused_at_start() {
    // Not writable by its user: a root-owned 0755 directory for a JVM running as nobody.
    let dir = temp_dir("unwritable");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    let out = Command::new("setpriv")
        .args(["--reuid", &NOBODY.to_string(), "--regid", &NOBODY.to_string(), "--clear-groups"])
        .arg(main_java())
        .arg(format!("-agentpath:{}=file={}/report-%n", agent_lib().display(), dir.display()))
        .arg("-version")
        .current_dir("/")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("option 'file' names the directory '{}', where the agent cannot create files: Permission denied", dir.display())),
        "{stderr}"
    );
    assert!(stderr.contains("the JVM will not start"), "{stderr}");

    let f = refused("missing-dir", "chain_dump_dir=/nonexistent/dumps");
    assert!(f.stderr.contains("option 'chain_dump_dir' names the directory '/nonexistent/dumps'"), "{}", f.stderr);
    let j = Jvm::scenario("missing-report-dir", "healthy");
    let f = j.raw_options("file=/nonexistent/reports/r-%n").run();
    assert_ne!(f.code, Some(0));
    assert!(f.stderr.contains("option 'file' names the directory '/nonexistent/reports'") && f.stderr.contains("No such file"), "{}", f.stderr);

    // Late attach: refused, the JVM goes on and exits normally.
    let java = main_java();
    let jvm = Jvm::scenario("attach-missing-dir", "healthy").without_agent().start();
    let (ok, said) = jcmd(&java, jvm.pid(), &["JVMTI.agent_load", &agent_lib().display().to_string(), "\"file=/nonexistent/late/r-%n\""]);
    assert!(!ok, "the attach must be refused: {said}");
    let f = jvm.finish();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(f.stdout.contains("HARNESS done"), "{}", f.stdout);
    assert!(f.stderr.contains("'/nonexistent/late'") && f.stderr.contains("the agent was not loaded"), "{}", f.stderr);
}

/// Unmounts a test's tmpfs when the test ends, however it ends.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A full disk at the exit report (a 64 KiB tmpfs, needs root): every file fails with "No space
/// left on device" on standard error, no temporary file is left, and the JSON lines file and the
/// log keep only their whole lines (before, the part of a line that fit in the file's last page
/// stayed, and every reader of the file choked on it).
#[test]
fn a_full_disk_leaves_no_partial_file() {
    let full = temp_dir("full-disk");
    let ok = Command::new("mount").args(["-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs"]).arg(&full).status().unwrap();
    assert!(ok.success(), "mount a tmpfs at {}", full.display());
    let _mounted = Mounted(full.clone());
    // Whole lines that leave 96 bytes of their page free, then nothing else free.
    let (jsonl, log) = (full.join("reports.jsonl"), full.join("agent.log"));
    let first = format!("{{\"pad\":\"{}\"}}\n", "x".repeat(4000 - 11));
    assert_eq!(first.len(), 4000);
    for f in [&jsonl, &log] {
        fs::write(f, &first).unwrap();
        fs::set_permissions(f, fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut filler = fs::File::create(full.join("filler")).unwrap();
    while std::io::Write::write_all(&mut filler, &[0u8; 4096]).is_ok() {}
    drop(filler);

    let j = Jvm::scenario("full-disk", "healthy");
    let opts = format!(
        "file={0}/report-%n,format=json+txt+jsonl,jsonl_file={1},log={2},sample_interval=off",
        full.display(),
        jsonl.display(),
        log.display()
    );
    let f = j.raw_options(&opts).run();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(f.stdout.contains("HARNESS done"), "{}", f.stdout);
    let enospc = "No space left on device";
    assert!(f.stderr.contains(&format!("cannot append report #1 to {}: {enospc}", jsonl.display())), "{}", f.stderr);
    assert!(f.stderr.contains(&format!("cannot write report #1 to {}/report-1.txt: {enospc}", full.display())), "{}", f.stderr);
    assert!(f.stderr.contains(&format!("cannot write report #1 (vm_death) to {}/report-1.json: {enospc}", full.display())), "{}", f.stderr);
    // The lines that did not fit went to standard error instead (above); a short one may fit.
    for f in [&jsonl, &log] {
        let kept = fs::read_to_string(f).unwrap();
        assert!(kept.starts_with(&first) && kept.ends_with('\n'), "{} holds whole lines only; after them: {:?}", f.display(), kept.get(first.len()..));
    }
    let mut left: Vec<String> = fs::read_dir(&full).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, ["agent.log", "filler", "reports.jsonl"], "no report, no temporary file");
}

/// The start tick of a running process, as /proc/PID/stat has it.
fn start_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat[stat.rfind(')').unwrap() + 2..].split_whitespace().nth(19).unwrap().parse().unwrap()
}

/// A heap dump whose JVM died while writing it (kill -9 left the whole heap in the reports'
/// directory) is removed when the agent next starts there, however young; the dump of a live
/// process sharing the directory stays, and so does a dump in `chain_dump_dir` of a live one.
#[test]
fn heap_dumps_of_dead_runs_are_removed_at_start() {
    let j = Jvm::scenario("dead-dumps", "healthy");
    let dumps = temp_dir("dump-dir");
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let mut alive = Command::new("sleep").arg("60").spawn().unwrap();
    let now_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let plant = |dir: &Path, owner: String| {
        let d = dir.join(format!(".leakagent-dump-{owner}"));
        fs::create_dir(&d).unwrap();
        fs::write(d.join("heap.hprof"), vec![7u8; 1 << 20]).unwrap();
        d
    };
    let dead_here = plant(&j.dir, format!("{dead}-{}-{now_ns}", start_ticks(std::process::id())));
    let dead_there = plant(&dumps, format!("{dead}-{now_ns}"));
    let live_here = plant(&j.dir, format!("{}-{}-{now_ns}", alive.id(), start_ticks(alive.id())));
    let live_there = plant(&dumps, format!("{}-{}-{now_ns}", alive.id(), start_ticks(alive.id())));
    let f = j.options(&format!("chain_dump_dir={}", dumps.display())).run();
    let _ = alive.kill();
    let _ = alive.wait();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(!dead_here.exists() && !dead_there.exists(), "dead runs' dumps are removed:\n{}", f.stderr);
    assert!(f.stderr.contains(&format!("removed the heap dump of a process that died while writing it: {}", dead_here.display())), "{}", f.stderr);
    assert!(live_here.join("heap.hprof").is_file() && live_there.join("heap.hprof").is_file(), "a live process's dump stays");
}

/// `LEAKAGENT_FAULT` is read only by the test build: the library `cargo build --release` makes
/// does not contain the name, and a JVM with the variable set runs the agent normally.
#[test]
fn fault_injection_is_only_in_the_test_build() {
    let has = |p: &Path| fs::read(p).unwrap().windows(15).any(|w| w == b"LEAKAGENT_FAULT");
    assert!(has(&fault_lib()), "the test build reads LEAKAGENT_FAULT");
    assert!(!has(&agent_lib()), "{} must not contain LEAKAGENT_FAULT", agent_lib().display());
    let f = Jvm::scenario("no-fault", "healthy").env("LEAKAGENT_FAULT", "panic").run();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(!f.stderr.contains("not active"), "{}", f.stderr);
    assert_eq!(f.death_report().trigger, Trigger::VmDeath);
}
