//! Which classes get jmethodIDs for the malloc hooks' Java stacks. AsyncGetCallTrace cannot
//! create them, so they are made at ClassPrepare (GetClassMethods) or by a sweep of the loaded
//! classes on the sampler thread. A frame whose class has none comes back without a method and
//! shows as [`UNNAMED_FRAME`], counted in the report.
//!
//! - The boot, platform and application loaders' classes get them at ClassPrepare: their code
//!   lives as long as the process and is on most stacks.
//! - Other loaders' classes get them only once a sample has met a frame without one (`wanted`):
//!   the next sampler tick sweeps the classes loaded so far, and from then on ClassPrepare makes
//!   them. Until then a process that loads and drops many classes (a plugin host, a redeploy, a
//!   script engine) does not pay for ids no stack needs: GetClassMethods and HotSpot's id table
//!   growth at every class, and their clearing inside the GC pause that unloads it.
//! - Once the process churns loaders, only the built-in loaders' classes get them: HotSpot never
//!   frees a jmethodID, not even with its class (~100 B per loader, issue 17).

use crate::ffi::jni::{Env, Local, WeakGlobal};
use crate::ffi::jvmti::Jvmti;
use jni::sys::{jclass, jobject};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;

/// A Java frame whose method has no jmethodID.
pub const UNNAMED_FRAME: &str = "<unnamed Java frame: its class has no jmethodID (see docs/native-memory.md)>";

#[derive(Default)]
pub struct MethodIds {
    /// The application loader and its parent (platform, or extension on JDK 8), from VMInit on.
    builtin: OnceLock<Vec<WeakGlobal>>,
    /// The same loaders by the class tracker's ids (the bootstrap loader's among them), which
    /// ClassPrepare gets from the tracker without a call.
    builtin_ids: OnceLock<Vec<u32>>,
    /// Classes prepared without ids because the process churns loaders.
    skipped: AtomicU64,
    /// Other loaders' classes prepared without ids while no sample needed one; the sweep gives
    /// them theirs.
    deferred: AtomicU64,
    /// A sample met a frame without an id: every class gets ids at ClassPrepare from now on
    /// (unless the process churns loaders).
    wanted: AtomicBool,
    /// `wanted` was just set: the sampler thread sweeps the classes deferred before.
    sweep_due: AtomicBool,
}

/// What ClassPrepare does with a class.
#[derive(Debug, PartialEq)]
enum Decision {
    Make,
    /// No id: the process churns loaders.
    Skip,
    /// No id until a sample needs one.
    Defer,
}

/// The rule above, for a class of a built-in loader or not.
fn decide(builtin: bool, churn: bool, wanted: bool) -> Decision {
    match (builtin, churn, wanted) {
        (true, _, _) | (false, false, true) => Decision::Make,
        (false, true, _) => Decision::Skip,
        (false, false, false) => Decision::Defer,
    }
}

impl MethodIds {
    /// At VMInit (or attach): remembers the built-in loaders to compare with, as weak
    /// references and by the ids `id_of` (the class tracker) gives them.
    pub fn learn_builtin_loaders(&self, env: &Env, id_of: impl Fn(jobject) -> Option<u32>) {
        let app = env.call_static_object_method("java/lang/ClassLoader", "getSystemClassLoader", "()Ljava/lang/ClassLoader;");
        let parent = env.call_object_method(app.raw(), "getParent", "()Ljava/lang/ClassLoader;");
        let loaders = [&app, &parent].iter().filter_map(|l| env.new_weak(l.raw())).collect();
        let _ = self.builtin.set(loaders);
        let ids = [std::ptr::null_mut(), app.raw(), parent.raw()].into_iter().map(&id_of).collect::<Option<Vec<u32>>>();
        if let Some(ids) = ids {
            let _ = self.builtin_ids.set(ids);
        }
    }

    /// ClassPrepare (and the catch-up after an attach): makes `klass`'s jmethodIDs, or counts it
    /// as skipped or deferred. `loader`: the id of its defining loader, when the class tracker
    /// has just read it.
    pub fn on_class_prepare(&self, jvmti: &Jvmti, env: &Env, klass: jclass, loader: Option<u32>) {
        let churn = crate::loaders::tracker::loaders_churn();
        let wanted = self.wanted.load(Relaxed);
        // Asking the loader costs a few JNI calls; when every class gets ids it is not needed,
        // and the tracker's id answers without any.
        let builtin = (!churn && wanted)
            || match (loader, self.builtin_ids.get()) {
                (Some(id), Some(ids)) => ids.contains(&id),
                _ => self.builtin_class(jvmti, env, klass),
            };
        match decide(builtin, churn, wanted) {
            Decision::Make => jvmti.create_method_ids(klass),
            Decision::Skip => {
                self.skipped.fetch_add(1, Relaxed);
            }
            Decision::Defer => {
                self.deferred.fetch_add(1, Relaxed);
            }
        }
    }

    /// The sampler met a stack with a frame without a jmethodID.
    pub fn frame_without_id(&self) {
        if !self.wanted.swap(true, Relaxed) {
            self.sweep_due.store(true, Relaxed);
        }
    }

    /// Sampler thread, after a tick that set `wanted`: gives every class loaded so far its ids
    /// (unless the process churns loaders), once. `capacity`: local references GetLoadedClasses
    /// may hand out (the class tracker's estimate).
    pub fn sweep(&self, jvmti: &Jvmti, env: &Env, capacity: i32) {
        let unguarded = crate::core::fault::injected("slow-sweep-unguarded");
        let slow = unguarded || crate::core::fault::injected("slow-sweep");
        if slow {
            // Tests only: every tick sweeps, as if each had met a frame without an id.
            self.sweep_due.store(true, Relaxed);
        }
        if !self.sweep_due.load(Relaxed) {
            return;
        }
        // Not while a report analyses: its GC would see every class alive through this thread
        // (leaks/mod.rs). The next tick sweeps.
        let _quiet = match crate::leaks::hold_references() {
            _ if unguarded => None,
            None => return,
            q => q,
        };
        if !self.sweep_due.swap(false, Relaxed) || crate::loaders::tracker::loaders_churn() {
            return;
        }
        let deferred = self.deferred.swap(0, Relaxed);
        let n = env.with_local_frame(capacity, || {
            let classes = jvmti.loaded_classes().unwrap_or_default();
            // A class not prepared yet is refused and gets its ids at ClassPrepare.
            classes.iter().for_each(|&k| jvmti.create_method_ids(k));
            if slow {
                // Tests only: the references stay held while a test drops loaders and asks for a report.
                crate::core::log::info("slow-sweep: holding every loaded class");
                std::thread::sleep(std::time::Duration::from_millis(1500));
            }
            classes.len()
        });
        crate::core::log::info(&format!(
            "a sampled stack had a frame without a jmethodID: {n} loaded classes swept ({deferred} had been left without); every class prepared from now on gets them until the process churns loaders"
        ));
    }

    /// Classes without ids: skipped under churn, or deferred while no sample needed them.
    pub fn classes_skipped(&self) -> u64 {
        self.skipped.load(Relaxed) + self.deferred.load(Relaxed)
    }

    /// Whether the boot, platform or application loader defined `klass`. Before VMInit only
    /// the JDK's own classes load: yes.
    fn builtin_class(&self, jvmti: &Jvmti, env: &Env, klass: jclass) -> bool {
        let Ok(loader) = jvmti.class_loader(klass) else { return true };
        let loader = Local::new(env, loader);
        if loader.is_null() {
            return true;
        }
        let Some(known) = self.builtin.get() else { return true };
        // Compared as weak references: every class of a churning loader asks (issue 21).
        known.iter().any(|w| w.is(env, loader.raw()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_loaders_always_get_ids_others_once_wanted_and_never_under_churn() {
        for churn in [false, true] {
            for wanted in [false, true] {
                assert_eq!(decide(true, churn, wanted), Decision::Make);
            }
        }
        assert_eq!(decide(false, false, false), Decision::Defer);
        assert_eq!(decide(false, false, true), Decision::Make);
        assert_eq!(decide(false, true, false), Decision::Skip);
        assert_eq!(decide(false, true, true), Decision::Skip);
    }

    #[test]
    fn the_first_frame_without_an_id_asks_for_one_sweep() {
        let ids = MethodIds::default();
        assert!(!ids.sweep_due.load(Relaxed));
        ids.frame_without_id();
        assert!(ids.wanted.load(Relaxed) && ids.sweep_due.swap(false, Relaxed));
        ids.frame_without_id();
        assert!(!ids.sweep_due.load(Relaxed), "a second unnamed frame sweeps no more");
    }

    #[test]
    fn deferred_and_skipped_classes_both_count_as_without_ids() {
        let ids = MethodIds::default();
        ids.deferred.store(3, Relaxed);
        ids.skipped.store(2, Relaxed);
        assert_eq!(ids.classes_skipped(), 5);
    }
}
