//! The functions the JVM calls on its own threads: JVMTI event callbacks, the agent threads'
//! bodies and the hooks of the wrapped natives. Each does the minimum inside a guard: it records,
//! or wakes the report thread, and returns.

#![allow(clippy::not_unsafe_ptr_arg_deref)]
#![allow(unsafe_code)]

use super::*;
use crate::ffi::blocks::{Block, Old, Tag};

pub(super) unsafe extern "C" fn sampler_thread_main(_jvmti: *mut jvmtiEnv, jni: *mut JNIEnv, _arg: *mut c_void) {
    let Some(agent) = runtime::get() else { return };
    // SAFETY: `jni` is the calling thread's JNIEnv, passed by the JVM; `env` stays on this thread.
    let env = unsafe { Env::new(jni) };
    guarded(Feature::Sampler, (), || sampling::run(agent, &env));
}

pub(super) unsafe extern "C" fn report_thread_main(_jvmti: *mut jvmtiEnv, jni: *mut JNIEnv, _arg: *mut c_void) {
    let Some(agent) = runtime::get() else { return };
    // SAFETY: `jni` is the calling thread's JNIEnv, passed by the JVM; `env` stays on this thread.
    let env = unsafe { Env::new(jni) };
    let ok = guarded(Feature::Triggers, false, || {
        trigger::run_report_loop(agent, &env);
        true
    });
    if !ok {
        trigger::report_thread_failed();
    }
}

// ---- JVMTI callbacks: record and return. ----

pub(super) unsafe extern "C" fn on_vm_init(_jvmti: *mut jvmtiEnv, jni: *mut JNIEnv, _thread: jthread) {
    // SAFETY: `jni` is the calling thread's JNIEnv, passed by the JVM; `env` stays on this thread.
    let env = unsafe { Env::new(jni) };
    guarded(Feature::Startup, (), || {
        if let Some(agent) = runtime::get() {
            live_phase_start(agent, &env);
        }
    });
}

pub(super) unsafe extern "C" fn on_vm_death(_jvmti: *mut jvmtiEnv, jni: *mut JNIEnv) {
    sampling::stop();
    // SAFETY: `jni` is the calling thread's JNIEnv, passed by the JVM; `env` stays on this thread.
    let env = unsafe { Env::new(jni) };
    guarded(Feature::Reports, (), || {
        if let Some(agent) = runtime::get() {
            trigger::on_vm_death(agent, &env);
        }
    });
    // After the exit report: the JVM's own shutdown allocates through patched entries no more.
    guarded(Feature::Natives, (), || {
        if let Some(agent) = runtime::get() {
            agent.sampled.stop();
        }
    });
}

pub(super) unsafe extern "C" fn on_thread_end(_jvmti: *mut jvmtiEnv, jni: *mut JNIEnv, _thread: jthread) {
    guarded(Feature::Direct, (), || {
        if let Some(agent) = runtime::get() {
            agent.direct.on_thread_end(jni as usize);
        }
    });
}

pub(super) unsafe extern "C" fn on_class_load(jvmti: *mut jvmtiEnv, jni: *mut JNIEnv, _thread: jthread, klass: jclass) {
    health::bump(&COUNTERS.events);
    // SAFETY: `jni` is the calling thread's JNIEnv, passed by the JVM; `env` stays on this thread.
    let env = unsafe { Env::new(jni) };
    // SAFETY: `jvmti` is the environment this event was posted to, valid for the call.
    let jvmti = unsafe { Jvmti::from_raw(jvmti) };
    guarded(Feature::Classes, (), || {
        if let Some(agent) = runtime::get() {
            agent.classes.on_class_load(&jvmti, &env, klass);
        }
    });
}

pub(super) unsafe extern "C" fn on_class_prepare(jvmti: *mut jvmtiEnv, jni: *mut JNIEnv, _thread: jthread, klass: jclass) {
    health::bump(&COUNTERS.events);
    // SAFETY: `jni` is the calling thread's JNIEnv, passed by the JVM; `env` stays on this thread.
    let env = unsafe { Env::new(jni) };
    // SAFETY: `jvmti` is the environment this event was posted to, valid for the call.
    let jvmti = unsafe { Jvmti::from_raw(jvmti) };
    guarded(Feature::Classes, (), || {
        if let Some(agent) = runtime::get() {
            let loader = agent.classes.on_class_prepare(&jvmti, &env, klass);
            if agent.sampled.enabled() {
                // The malloc hooks walk with AsyncGetCallTrace, which cannot create jmethodIDs.
                agent.sampled.ids.on_class_prepare(&agent.jvmti, &env, klass, loader);
            }
        }
    });
}

pub(super) unsafe extern "C" fn on_object_free(_jvmti: *mut jvmtiEnv, tag: jlong) {
    health::bump(&COUNTERS.events);
    guarded(Feature::Classes, (), || {
        if let Some(agent) = runtime::get() {
            agent.classes.on_object_free(tag);
        }
    });
}

pub(super) unsafe extern "C" fn on_class_unload(_jvmti: *mut jvmtiEnv, _jni: *mut JNIEnv, _name: *const c_char) {
    health::bump(&COUNTERS.events);
    crate::native::templates::code_changed();
    guarded(Feature::Classes, (), || {
        if let Some(agent) = runtime::get() {
            agent.classes.on_class_unload_event();
        }
    });
}

pub(super) unsafe extern "C" fn on_compiled_method_unload(_jvmti: *mut jvmtiEnv, _method: jmethodID, _code: *const c_void) {
    health::bump(&COUNTERS.events);
    health::bump(&COUNTERS.compiled_code_unloads);
    crate::native::templates::code_changed();
}

/// Enabled only so that HotSpot posts CompiledMethodUnload: from JDK 17 on (not 11) it posts the unload of
/// an nmethod only when its load was posted (`nmethod::load_reported`).
pub(super) unsafe extern "C" fn on_compiled_method_load(
    _jvmti: *mut jvmtiEnv,
    _method: jmethodID,
    _code_size: jint,
    _code: *const c_void,
    _map_length: jint,
    _map: *const jvmtiAddrLocationMap,
    _compile_info: *const c_void,
) {
}

/// OutOfMemoryError for the heap, metaspace or threads, on the throwing thread: records the
/// kind and waits (bounded) for the `oom` report, see `trigger::on_oom` for why waiting here is
/// right.
pub(super) unsafe extern "C" fn on_resource_exhausted(
    _jvmti: *mut jvmtiEnv,
    _jni: *mut JNIEnv,
    flags: jint,
    _reserved: *const c_void,
    description: *const c_char,
) {
    health::bump(&COUNTERS.events);
    let description = if description.is_null() {
        String::new()
    } else {
        // SAFETY: a non-null description is a NUL-terminated string the JVM owns for the call.
        unsafe { std::ffi::CStr::from_ptr(description) }.to_string_lossy().into_owned()
    };
    guarded(Feature::Triggers, (), || {
        let flags = flags as u32;
        if flags & JVMTI_RESOURCE_EXHAUSTED_OOM_ERROR == 0 {
            return; // Not thrown as OutOfMemoryError (the JVM continues as if it had memory).
        }
        let kind = trigger::oom_kind(
            flags & JVMTI_RESOURCE_EXHAUSTED_JAVA_HEAP != 0,
            flags & JVMTI_RESOURCE_EXHAUSTED_THREADS != 0,
            &description,
        );
        trigger::on_oom(kind, description, true);
    });
}

pub(super) unsafe extern "C" fn on_data_dump_request(_jvmti: *mut jvmtiEnv) {
    health::bump(&COUNTERS.events);
    guarded(Feature::Triggers, (), trigger::on_data_dump);
}

pub(super) unsafe extern "C" fn on_native_method_bind(
    jvmti: *mut jvmtiEnv,
    jni: *mut JNIEnv,
    _thread: jthread,
    method: jmethodID,
    address: *mut c_void,
    new_address_ptr: *mut *mut c_void,
) {
    health::bump(&COUNTERS.events);
    // SAFETY: `jni` is the calling thread's JNIEnv, passed by the JVM; `env` stays on this thread.
    let env = unsafe { Env::new(jni) };
    // SAFETY: `jvmti` is the environment this event was posted to, valid for the call.
    let jvmti = unsafe { Jvmti::from_raw(jvmti) };
    guarded(Feature::Natives, (), || {
        let Some(agent) = runtime::get() else { return };
        let n = &agent.options.native;
        let wanted = |native: Native| {
            if native.is_zlib() {
                n.zlib && health::enabled(Feature::Zlib)
            } else {
                n.direct && health::enabled(Feature::Direct)
            }
        };
        // SAFETY: the arguments are those of this NativeMethodBind event.
        if unsafe { natives::on_bind(&jvmti, &env, method, address, new_address_ptr, wanted) }.is_some() {
            health::bump(&COUNTERS.natives_wrapped);
        }
    });
}

// ---- Native wrappers' hooks: run guarded, feed the ledgers. ----

pub(super) struct NativeHooks;
pub(super) static NATIVE_HOOKS: NativeHooks = NativeHooks;

impl natives::Hooks for NativeHooks {
    fn stream_created(&self, env: &Env, kind: ZlibKind, addr: u64) {
        guarded(Feature::Zlib, (), || {
            if let Some(a) = runtime::get() {
                a.zlib.on_created(&a.stacks, &a.jvmti, env, kind, addr);
            }
        })
    }

    fn stream_ending(&self, env: &Env, _kind: ZlibKind, addr: u64) {
        guarded(Feature::Zlib, (), || {
            if let Some(a) = runtime::get() {
                a.zlib.on_ending(&a.stacks, &a.jvmti, env, addr);
            }
        })
    }

    fn stream_reset(&self, env: &Env, _kind: ZlibKind, addr: u64) {
        guarded(Feature::Zlib, (), || {
            if let Some(a) = runtime::get() {
                a.zlib.on_reset(&a.stacks, &a.jvmti, env, addr);
            }
        })
    }

    fn memory_allocated(&self, env: &Env, size: u64) -> Tag {
        guarded(Feature::Direct, Tag::UNCOUNTED, || {
            runtime::get().map_or(Tag::UNCOUNTED, |a| a.direct.on_allocated(&a.stacks, &a.jvmti, env, size))
        })
    }

    fn memory_reallocated(&self, env: &Env, old: Old, size: u64, header: bool) -> Tag {
        guarded(Feature::Direct, Tag::UNCOUNTED, || {
            runtime::get().map_or(Tag::UNCOUNTED, |a| a.direct.on_reallocated(&a.stacks, &a.jvmti, env, old, size, header))
        })
    }

    fn memory_freeing(&self, env: &Env, block: Option<Block>) {
        guarded(Feature::Direct, (), || {
            if let Some(a) = runtime::get() {
                a.direct.on_freeing(&a.stacks, &a.jvmti, env, block);
            }
        })
    }
}
