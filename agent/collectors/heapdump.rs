//! The temporary heap dump behind `chain_method=dump`: where it may go, what it will cost, and
//! taking it with the agent's marker in the heap.
//!
//! A dump holds every object of the heap, secrets included, and can be as large as the heap.
//! So it is written into a fresh private directory (mode 0700), opened, and unlinked at once:
//! the search reads an anonymous file that disappears with its descriptor, whatever happens to
//! the process afterwards. A memory-backed file system (tmpfs, often `/tmp` in containers) is
//! never chosen unless named, because a dump there costs RAM against the container's limit.

use crate::ffi::jni::Env;
use crate::ffi::os;
use jni::objects::JValue;
use jni::sys::jobject;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
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
pub fn plan(explicit: Option<&str>, report_dir: &Path, tmpdir: Option<&str>, heap_used: u64) -> Result<Plan, String> {
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
            refused.push(format!("{} is in memory (tmpfs)", dir.display()));
            continue;
        }
        match os::fs_free_bytes(&dir) {
            Ok(free) if free >= need => {
                clean_stale(&dir);
                return Ok(Plan { dir, estimated_bytes, estimated_pause });
            }
            Ok(free) => refused.push(format!("{} has {} MiB free, a dump needs about {} MiB", dir.display(), free >> 20, need >> 20)),
            Err(e) => refused.push(format!("{}: {e}", dir.display())),
        }
    }
    Err(format!("no directory for a heap dump ({}); name one with chain_dump_dir", refused.join("; ")))
}

/// Removes dump directories a killed process left behind (older than ten minutes).
fn clean_stale(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > Duration::from_secs(600));
        if old {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// A dump taken: the open, already unlinked file, its size and the pause it cost.
pub struct Taken {
    pub file: File,
    pub bytes: u64,
    pub pause: Duration,
}

/// Writes the heap dump with `marker` in the heap: an `Object[]` of the marker `long[]`, the
/// calling thread, `loaders` in order, and the marker again, held by this thread's local
/// reference while HotSpot writes. No GC runs first (the report's own GC just ran).
pub fn take(env: &Env, plan: &Plan, marker: &[i64; 4], loaders: &[jobject]) -> Result<Taken, String> {
    let stamp = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_nanos();
    let dir = plan.dir.join(format!("{DIR_PREFIX}{}-{stamp}", std::process::id()));
    fs::DirBuilder::new()
        .mode(0o700)
        .create(&dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join("heap.hprof");
    let result = env.with_local_frame(loaders.len() as i32 + 16, || {
        let long = env.long_array_of(marker);
        let me = env.call_static_object_method("java/lang/Thread", "currentThread", "()Ljava/lang/Thread;");
        if long.is_null() || me.is_null() {
            return Err("cannot create the marker array".to_string());
        }
        let mut elements = Vec::with_capacity(loaders.len() + 3);
        elements.push(long.raw());
        elements.push(me.raw());
        elements.extend_from_slice(loaders);
        elements.push(long.raw());
        let array = env.object_array_of(&elements);
        if array.is_null() {
            return Err("cannot create the marker array".to_string());
        }
        let t0 = Instant::now();
        let r = dump_heap(env, &path);
        let pause = t0.elapsed();
        drop(array);
        r.map(|()| pause)
    });
    let opened = result.and_then(|pause| {
        let file = File::open(&path).map_err(|e| format!("cannot open the heap dump: {e}"))?;
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
fn dump_heap(env: &Env, path: &Path) -> Result<(), String> {
    let mut j = env.jni().ok_or("no JNIEnv")?;
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
        let detail = java_exception(env);
        format!("HotSpotDiagnosticMXBean.dumpHeap failed: {}", detail.unwrap_or_else(|| e.to_string()))
    })
}

/// The pending Java exception's text, cleared.
fn java_exception(env: &Env) -> Option<String> {
    let mut j = env.jni()?;
    let t = j.exception_occurred().ok()?;
    if t.is_null() {
        return None;
    }
    let _ = j.exception_clear();
    let s = j.call_method(&t, "toString", "()Ljava/lang/String;", &[]).and_then(|v| v.l()).ok()?;
    let text = env.string(s.as_raw());
    env.clear_exception();
    text
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
        assert!(huge.contains("MiB free"), "{huge}");
        if Path::new("/dev/shm").exists() && os::is_memory_fs(Path::new("/dev/shm")) {
            let e = plan(None, Path::new("/dev/shm"), Some("/dev/shm"), 1 << 20).unwrap_err();
            assert!(e.contains("tmpfs"), "{e}");
        }
    }
}
