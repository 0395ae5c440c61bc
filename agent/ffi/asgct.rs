//! HotSpot's `AsyncGetCallTrace`: the stack walker profilers use. From a thread inside a native
//! method it walks from the thread's last Java frame without entering the VM, so it costs far
//! less than JVMTI `GetStackTrace` (no thread state transition, no thread list handle, no vframe
//! allocated per frame). It is not a standard API: it is looked up in libjvm.so with `dlsym`,
//! returns no frames at all when it cannot walk (during GC, say), and gives a null method id for
//! methods that never got a jmethodID; callers then take a JVMTI walk (which creates the ids).

use super::jvmti::Frame;
use jni::sys::{jint, jmethodID, JNIEnv};
use std::ffi::c_void;
use std::sync::OnceLock;

#[repr(C)]
#[derive(Clone, Copy)]
struct CallFrame {
    /// The bytecode index; -3 for a native method.
    lineno: jint,
    method_id: jmethodID,
}

#[repr(C)]
struct CallTrace {
    env_id: *mut JNIEnv,
    num_frames: jint,
    frames: *mut CallFrame,
}

type AsgctFn = unsafe extern "C" fn(*mut CallTrace, jint, *mut c_void);

static ASGCT: OnceLock<Option<AsgctFn>> = OnceLock::new();

fn function() -> Option<AsgctFn> {
    *ASGCT.get_or_init(|| {
        // SAFETY: dlsym on the global scope, where the JVM loaded libjvm.so; the symbol, when
        // present, has this C signature in every HotSpot since JDK 6.
        let f = unsafe { libc::dlsym(libc::RTLD_DEFAULT, c"AsyncGetCallTrace".as_ptr()) };
        (!f.is_null()).then(|| unsafe { std::mem::transmute::<*mut c_void, AsgctFn>(f) })
    })
}

/// Whether this JVM exports AsyncGetCallTrace.
pub fn available() -> bool {
    function().is_some()
}

/// Up to `out.len()` (at most 64) frames of the current thread, innermost first, as JVMTI would
/// report them (a native frame has location -1): how many frames it put in `out`, and whether
/// that is all it walked. It stops short (`false`) at a method that never got a jmethodID.
/// None when AsyncGetCallTrace is missing or cannot walk now.
pub fn current_stack(env: *mut JNIEnv, out: &mut [Frame]) -> Option<(usize, bool)> {
    let f = function()?;
    let mut buf = [CallFrame { lineno: 0, method_id: std::ptr::null_mut() }; 64];
    let depth = out.len().min(buf.len());
    let mut trace = CallTrace { env_id: env, num_frames: 0, frames: buf.as_mut_ptr() };
    // SAFETY: `trace` points at a buffer of `depth` frames; `env` is the current thread's
    // JNIEnv; a null ucontext is allowed when the thread is in native code (it walks from the
    // last Java frame anchor).
    unsafe { f(&mut trace, depth as jint, std::ptr::null_mut()) };
    let n = trace.num_frames;
    if n <= 0 {
        return None;
    }
    let n = (n as usize).min(depth);
    for (i, (o, c)) in out.iter_mut().zip(&buf[..n]).enumerate() {
        if c.method_id.is_null() {
            return (i > 0).then_some((i, false));
        }
        *o = Frame { method: c.method_id as usize, location: if c.lineno < 0 { -1 } else { c.lineno as i64 } };
    }
    Some((n, true))
}

/// As [`current_stack`], for a thread that may be anywhere (inside the JVM's own code, say):
/// `ucontext` gives the (pc, sp, fp) AsyncGetCallTrace starts from when the thread has no
/// walkable Java frame anchor. A method without a jmethodID (the malloc hooks leave classes of
/// churned loaders without one) is kept as method 0, so the frames below it are not lost and
/// the report can show and count it. Never allocates; returns how many frames it put in `out`
/// (0 when it cannot walk).
pub fn stack_from_context(env: *mut JNIEnv, out: &mut [Frame], ucontext: *mut c_void) -> usize {
    let Some(f) = function() else { return 0 };
    let mut buf = [CallFrame { lineno: 0, method_id: std::ptr::null_mut() }; 64];
    let depth = out.len().min(buf.len());
    let mut trace = CallTrace { env_id: env, num_frames: 0, frames: buf.as_mut_ptr() };
    // SAFETY: `trace` points at a buffer of `depth` frames; `env` is the current thread's
    // JNIEnv; `ucontext` is a valid ucontext_t for the duration of the call.
    unsafe { f(&mut trace, depth as jint, ucontext) };
    let n = (trace.num_frames.max(0) as usize).min(depth);
    for (o, c) in out.iter_mut().zip(buf.iter().take(n)) {
        *o = Frame { method: c.method_id as usize, location: if c.lineno < 0 { -1 } else { c.lineno as i64 } };
    }
    n
}
