//! Each live loader's metaspace estimated from JVMTI alone, for a JVM whose own accounting
//! cannot be read (no VMStructs, not HotSpot, or `VM.classloader_stats` failed). Per class: a
//! fixed part (the class's own structures, its vtables and method headers of an average class)
//! plus a multiple of its constant pool as `GetConstantPool` reconstitutes it, which grows with
//! what the class declares and calls. The constants were fitted against HotSpot's own numbers
//! (docs/class-loader-leaks.md). No jmethodID or jfieldID is created (issue #17): method and
//! field counts would need them.

use crate::ffi::jni::{Env, Local};
use crate::ffi::jvmti::Jvmti;
use crate::loaders::tags::{tag_kind, tag_loader, TAG_CLASS};
use crate::loaders::tracker::ClassTracker;
use leakagent_report::model::{ClassLoaders, MetaspaceSource};
use std::collections::HashMap;
use std::time::Instant;

/// Bytes of metaspace per class besides its constant pool.
const PER_CLASS: u64 = 1000;
/// Metaspace per byte of constant pool, in fifths (x 1.6).
const PER_POOL_BYTE_FIFTHS: u64 = 8;

/// Gives every live loader an estimate, replacing the failed `source` (its `error` says why
/// HotSpot's own numbers are missing).
pub fn fill(jvmti: &Jvmti, env: &Env, tracker: &ClassTracker, cl: &mut ClassLoaders, source: MetaspaceSource) -> MetaspaceSource {
    let why = source.error.clone().unwrap_or_default();
    let t0 = Instant::now();
    let (pools, unread) = pools(jvmti, env, tracker);
    if pools.is_empty() {
        return MetaspaceSource { error: Some(format!("{why}; no class could be listed for an estimate")), ..source };
    }
    let (mut matched, mut total) = (0, 0);
    for l in cl.loaders.iter_mut().filter(|l| l.alive) {
        // A loader none of whose classes is alive holds no class metadata.
        let est = pools.get(&l.id).map(|&(n, pool)| estimate(n, pool)).unwrap_or(0);
        l.metaspace_bytes = Some(est);
        total += est;
        matched += 1;
    }
    MetaspaceSource {
        method: "estimate".into(),
        loaders_matched: matched,
        loaders_unmatched: 0,
        total_bytes: total,
        ms: t0.elapsed().as_millis() as u64,
        error: Some(format!(
            "{why}; sizes estimated from each class's constant pool (within about -30 %/+30 % of HotSpot's own on JDK 17 and 25){}",
            if unread > 0 { format!(", {unread} class(es) without a readable pool counted by their fixed part only") } else { String::new() }
        )),
    }
}

/// Metaspace of `classes` classes whose constant pools hold `pool_bytes` together.
fn estimate(classes: u64, pool_bytes: u64) -> u64 {
    classes * PER_CLASS + pool_bytes * PER_POOL_BYTE_FIFTHS / 5
}

/// Per loader id: (live classes, constant pool bytes of those whose pool could be read), and
/// how many pools could not be read (a class not prepared yet, or no can_get_constant_pool).
fn pools(jvmti: &Jvmti, env: &Env, tracker: &ClassTracker) -> (HashMap<u32, (u64, u64)>, u64) {
    let mut out: HashMap<u32, (u64, u64)> = HashMap::new();
    let mut unread = 0;
    env.with_local_frame(tracker.local_capacity(), || {
        let Ok(classes) = jvmti.loaded_classes_in(env) else { return };
        for k in classes.into_iter().map(|k| Local::new(env, k)) {
            let Ok(tag) = jvmti.tag(k.raw()) else { continue };
            if tag_kind(tag) != TAG_CLASS {
                continue;
            }
            let e = out.entry(tag_loader(tag)).or_default();
            e.0 += 1;
            match jvmti.constant_pool_bytes(k.raw()) {
                Ok(b) => e.1 += b,
                Err(_) => unread += 1,
            }
        }
    });
    (out, unread)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_is_a_fixed_part_and_a_multiple_of_the_pool() {
        // guava 20 on JDK 17: 1799 classes, 3,496,421 pool bytes, HotSpot: 7,396,712 used.
        let e = estimate(1799, 3_496_421);
        assert!((7_000_000..7_800_000).contains(&e), "{e}");
        assert_eq!(estimate(0, 0), 0);
    }
}
