//! The temporary heap dump behind `chain_method=dump`: where it may go, what it will cost, and
//! taking it with the agent's marker in the heap.
//!
//! A dump holds every object of the heap, secrets included, and can be as large as the heap.
//! So it is written into a fresh private directory (mode 0700), opened, and unlinked at once:
//! the search reads an anonymous file that disappears with its descriptor, whatever happens to
//! the process afterwards. A process killed while HotSpot writes leaves the file: the directory's
//! name holds its pid and start tick, and the next agent to start there removes it
//! ([`remove_dead`]). A memory-backed file system (tmpfs, often `/tmp` in containers) is
//! never chosen unless named, because a dump there costs RAM against the container's limit.

use super::{DumpError, Refused};
use crate::ffi::jni::Env;
use crate::ffi::os;
use jni::objects::JValue;
use jni::sys::jobject;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant, SystemTime};

/// What HotSpot wrote per millisecond of pause in this process's last dump; until one was taken,
/// a conservative 300 MB/s.
static BYTES_PER_MS: AtomicU64 = AtomicU64::new(300_000);

const DIR_PREFIX: &str = ".leakagent-dump-";

/// Where a dump would go and what it would cost.
#[derive(Clone, Debug)]
pub struct Plan {
    pub dir: PathBuf,
    pub estimated_bytes: u64,
    pub estimated_pause: Duration,
}

/// Chooses the directory for a dump of a heap with `heap_used` bytes: `explicit` if given (any
/// file system), else the reports' directory, else `java.io.tmpdir`, skipping memory-backed file
/// systems and those without room for twice the estimate.
pub fn plan(explicit: Option<&str>, report_dir: &Path, tmpdir: Option<&str>, heap_used: u64) -> Result<Plan, DumpError> {
    let estimated_bytes = heap_used + heap_used / 10 + (16 << 20);
    let rate = BYTES_PER_MS.load(Relaxed).max(1);
    let estimated_pause = Duration::from_millis(estimated_bytes / rate);
    let need = 2 * estimated_bytes + (64 << 20);
    let mut refused = Vec::new();
    let candidates: Vec<(PathBuf, bool)> = match explicit {
        Some(d) => vec![(PathBuf::from(d), true)],
        None => std::iter::once(report_dir.to_path_buf()).chain(tmpdir.map(PathBuf::from)).map(|d| (d, false)).collect(),
    };
    for (dir, named) in candidates {
        if !named && os::is_memory_fs(&dir) {
            refused.push(Refused::InMemory(dir));
            continue;
        }
        match os::fs_free_bytes(&dir) {
            Ok(free) if free >= need => {
                remove_dead(&dir);
                return Ok(Plan { dir, estimated_bytes, estimated_pause });
            }
            Ok(free) => refused.push(Refused::NoRoom { dir, free, need }),
            Err(err) => refused.push(Refused::Unusable { dir, err }),
        }
    }
    Err(DumpError::NoDirectory(refused))
}

/// Removes the dumps in `dir` whose process is gone, whatever their age: a run killed while
/// HotSpot wrote its dump (kill -9, the OOM killer) leaves the whole heap on disk. A dump of a
/// live process (another JVM sharing the directory, or this one) stays, and so do other users'.
pub fn remove_dead(dir: &Path) {
    let me = os::euid();
    let dead = |name: &str, m: &fs::Metadata| {
        name.strip_prefix(DIR_PREFIX).is_some_and(|owner| m.is_dir() && m.uid() == me && !owner_alive(owner))
    };
    for s in crate::core::files::sweep(dir, dead) {
        match s.result {
            Ok(()) => crate::core::log::info(&format!(
                "removed the heap dump of a process that died while writing it: {} ({} MiB)",
                s.path.display(),
                s.bytes >> 20
            )),
            Err(err) => crate::core::log::warn(&format!("cannot remove the heap dump of a dead process {}: {err}", s.path.display())),
        }
    }
}

/// Whether the process named by a dump directory (`PID-STARTTICKS-NANOS`, or `PID-NANOS` as
/// older versions named it) still runs. In doubt, alive.
fn owner_alive(owner: &str) -> bool {
    let parts: Vec<&str> = owner.split('-').collect();
    let (pid, start, stamp) = match parts[..] {
        [pid, start, stamp] => (pid, start.parse::<u64>().ok(), stamp),
        [pid, stamp] => (pid, None, stamp),
        _ => return true,
    };
    if pid.parse::<u32>().is_err() {
        return true;
    }
    let Some(now) = os::start_ticks(pid) else { return false };
    match start {
        // The same pid started at another tick is another process (a restarted container's pid 1).
        Some(start) => now == start,
        // Without the start tick: a process started after the dump began is not its writer.
        None => match (stamp.parse::<f64>(), os::start_epoch_s(pid)) {
            (Ok(nanos), Some(started)) => started <= nanos / 1e9 + 2.0,
            _ => true,
        },
    }
}

/// A dump taken: the open, already unlinked file, its size and the pause it cost.
pub struct Taken {
    pub file: File,
    pub bytes: u64,
    pub pause: Duration,
}

/// Writes the heap dump with `marker` in the heap: an `Object[]` of the marker `long[]`, the
/// calling thread, `loaders` in order, the agent's other `threads`, and the marker again, held
/// by this thread's local reference while HotSpot writes. No GC runs first (the report's own GC
/// just ran).
pub fn take(env: &Env, plan: &Plan, marker: &[i64; 4], loaders: &[jobject], threads: &[jobject]) -> Result<Taken, DumpError> {
    let stamp = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let start = os::start_ticks("self").unwrap_or(0);
    let dir = plan.dir.join(format!("{DIR_PREFIX}{}-{start}-{stamp}", std::process::id()));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|err| DumpError::CreateDir { dir: dir.clone(), err })?;
    let path = dir.join("heap.hprof");
    let result = env.with_local_frame(loaders.len() as i32 + 16, || {
        let long = env.long_array_of(marker);
        let me = env.call_static_object_method("java/lang/Thread", "currentThread", "()Ljava/lang/Thread;");
        if long.is_null() || me.is_null() {
            return Err(DumpError::Marker);
        }
        let mut elements = Vec::with_capacity(loaders.len() + threads.len() + 3);
        elements.push(long.raw());
        elements.push(me.raw());
        elements.extend_from_slice(loaders);
        elements.extend_from_slice(threads);
        elements.push(long.raw());
        let array = env.object_array_of(&elements);
        if array.is_null() {
            return Err(DumpError::Marker);
        }
        let t0 = Instant::now();
        let r = dump_heap(env, &path);
        let pause = t0.elapsed();
        drop(array);
        r.map(|()| pause)
    });
    let opened = result.and_then(|pause| {
        let file = File::open(&path).map_err(DumpError::Open)?;
        let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Taken { file, bytes, pause })
    });
    // The dump is gone from the file system before anything reads it.
    let _ = fs::remove_file(&path);
    let _ = fs::remove_dir(&dir);
    let taken = opened?;
    let ms = taken.pause.as_millis() as u64;
    if ms > 0 && taken.bytes > 0 {
        BYTES_PER_MS.store((taken.bytes / ms).max(1), Relaxed);
    }
    Ok(taken)
}

/// `HotSpotDiagnosticMXBean.dumpHeap(path, false)`: every object, no GC first.
fn dump_heap(env: &Env, path: &Path) -> Result<(), DumpError> {
    let mut j = env.jni().ok_or(DumpError::NoJniEnv)?;
    let r = (|| -> jni::errors::Result<()> {
        let class = j.find_class("com/sun/management/HotSpotDiagnosticMXBean")?;
        let bean = j
            .call_static_method(
                "java/lang/management/ManagementFactory",
                "getPlatformMXBean",
                "(Ljava/lang/Class;)Ljava/lang/management/PlatformManagedObject;",
                &[JValue::Object(&class)],
            )?
            .l()?;
        if bean.is_null() {
            return Err(jni::errors::Error::NullPtr("HotSpotDiagnosticMXBean"));
        }
        let p = j.new_string(path.to_string_lossy())?;
        j.call_method(&bean, "dumpHeap", "(Ljava/lang/String;Z)V", &[JValue::Object(&p), JValue::Bool(0)])?;
        Ok(())
    })();
    r.map_err(|e| {
        let detail = env.take_exception_text();
        DumpError::DumpHeap(detail.unwrap_or_else(|| e.to_string()))
    })
}

use std::os::unix::fs::DirBuilderExt;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_never_goes_to_memory_unless_named_and_needs_room() {
        let tmp = std::env::temp_dir();
        let p = plan(None, &tmp, None, 1 << 20);
        if os::is_memory_fs(&tmp) {
            assert!(p.is_err());
        } else {
            let p = p.unwrap();
            assert_eq!(p.dir, tmp);
            assert!(p.estimated_bytes > 1 << 20);
        }
        let named = plan(Some(tmp.to_str().unwrap()), Path::new("/nonexistent"), None, 1 << 20).unwrap();
        assert_eq!(named.dir, tmp);
        let huge = plan(Some(tmp.to_str().unwrap()), &tmp, None, u64::MAX / 8).unwrap_err();
        assert!(matches!(&huge, DumpError::NoDirectory(r) if matches!(r[..], [Refused::NoRoom { .. }])), "{huge:?}");
        assert!(huge.to_string().contains("MiB free, a dump needs about"), "{huge}");
        if Path::new("/dev/shm").exists() && os::is_memory_fs(Path::new("/dev/shm")) {
            let e = plan(None, Path::new("/dev/shm"), Some("/dev/shm"), 1 << 20).unwrap_err();
            assert!(matches!(&e, DumpError::NoDirectory(r) if matches!(r[..], [Refused::InMemory(_), Refused::InMemory(_)])), "{e:?}");
            assert!(e.to_string().contains("is in memory (tmpfs)"), "{e}");
        }
    }

    #[test]
    fn dumps_of_dead_processes_go_whatever_their_age_live_ones_stay() {
        let dir = std::env::temp_dir().join(format!("leakagent-dumps-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let me = std::process::id();
        let ticks = os::start_ticks("self").unwrap();
        let now_ns = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos();
        let named = |n: String| {
            let d = dir.join(format!("{DIR_PREFIX}{n}"));
            fs::create_dir(&d).unwrap();
            fs::write(d.join("heap.hprof"), b"secrets").unwrap();
            d
        };
        let gone = named(format!("{dead}-1-{now_ns}"));
        let reused = named(format!("{me}-{}-{now_ns}", ticks + 1));
        let old_format_gone = named(format!("{dead}-{now_ns}"));
        let live = named(format!("{me}-{ticks}-{now_ns}"));
        let old_format_live = named(format!("{me}-{now_ns}"));
        // A pid reused by a process started long after the dump (a restarted container's pid 1).
        let old_format_reused = named(format!("{me}-1000000000"));
        remove_dead(&dir);
        for d in [&gone, &reused, &old_format_gone, &old_format_reused] {
            assert!(!d.exists(), "{} is removed", d.display());
        }
        assert!(live.join("heap.hprof").exists() && old_format_live.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
