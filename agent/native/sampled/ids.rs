//! Which classes get jmethodIDs for the malloc hooks' Java stacks. AsyncGetCallTrace cannot
//! create them, so they are made at ClassPrepare (GetClassMethods). HotSpot never frees a
//! jmethodID, not even with its class (~100 B per loader, issue 17), so once the process churns
//! loaders only the boot, platform and application loaders' classes get them: their code lives
//! as long as the process. A frame of another loader's class prepared after that comes back
//! without an id and shows as [`UNNAMED_FRAME`], counted in the report.

use crate::ffi::jni::{Env, Local, WeakGlobal};
use crate::ffi::jvmti::Jvmti;
use jni::sys::jclass;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;

/// A Java frame whose method has no jmethodID.
pub const UNNAMED_FRAME: &str = "<unnamed Java frame: its class has no jmethodID (see docs/native-memory.md)>";

#[derive(Default)]
pub struct MethodIds {
    /// The application loader and its parent (platform, or extension on JDK 8), from VMInit on.
    builtin: OnceLock<Vec<WeakGlobal>>,
    /// Classes prepared without ids.
    skipped: AtomicU64,
}

impl MethodIds {
    /// At VMInit (or attach): remembers the built-in loaders to compare with.
    pub fn learn_builtin_loaders(&self, env: &Env) {
        let app = env.call_static_object_method("java/lang/ClassLoader", "getSystemClassLoader", "()Ljava/lang/ClassLoader;");
        let parent = env.call_object_method(app.raw(), "getParent", "()Ljava/lang/ClassLoader;");
        let loaders = [&app, &parent].iter().filter_map(|l| env.new_weak(l.raw())).collect();
        let _ = self.builtin.set(loaders);
    }

    /// ClassPrepare (and the catch-up after an attach): makes `klass`'s jmethodIDs unless the
    /// process churns loaders and `klass` is not a built-in loader's.
    pub fn on_class_prepare(&self, jvmti: &Jvmti, env: &Env, klass: jclass) {
        if !crate::loaders::tracker::loaders_churn() || self.builtin_class(jvmti, env, klass) {
            jvmti.create_method_ids(klass);
        } else {
            self.skipped.fetch_add(1, Relaxed);
        }
    }

    pub fn classes_skipped(&self) -> u64 {
        self.skipped.load(Relaxed)
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
        known.iter().any(|w| w.upgrade(env).is_some_and(|l| env.same_object(l.raw(), loader.raw())))
    }
}
