//! The current thread's Java stack as `Throwable.getStackTrace()` names it: class, method, file
//! and line per frame, and whether the class belongs to a loader that never dies. Unlike JVMTI
//! `GetStackTrace`, it creates no jmethodID. HotSpot never frees the memory of a jmethodID, not
//! even when its class is unloaded (measured on 11, 17, 21 and 25 with NMT: the first id of a
//! class loader costs a `JNIMethodBlock` of ~104 bytes, "Class" and "Internal", ~140 with
//! malloc's headers), so walking every churned loader's code with JVMTI grows the process
//! without bound.
//!
//! Slower than a JVMTI walk (it allocates the whole stack's elements), so it serves only the
//! walks that would otherwise create ids for classes of loaders that may die.

use super::jni::{Env, Local};
use jni::sys::{jclass, jfieldID, jmethodID, jobject, JNIEnv};
use std::sync::OnceLock;

/// One frame, innermost first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedFrame {
    pub class: String,
    pub method: String,
    pub file: Option<String>,
    /// The source line; -1 unknown, -2 a native method (as StackTraceElement has it).
    pub line: i32,
    /// Defined by the boot, platform or application class loader (these never die): ids of its
    /// methods cost nothing per loader.
    pub builtin: bool,
}

/// Which frames of the stack are wanted.
#[derive(Clone, Copy, Debug)]
pub enum Take {
    /// The innermost `n`.
    Top(usize),
    /// The outermost `n`.
    Bottom(usize),
}

/// StackTraceElement's `format` bits (JDK 9+): a built-in loader defined the class, or a JDK
/// module of the boot layer holds it (the boot loader's classes; the boot loader is no
/// `BuiltinClassLoader`).
const BUILTIN_CLASS_LOADER: i8 = 0x1;
const JDK_NON_UPGRADEABLE_MODULE: i8 = 0x2;

/// JNI ids of Throwable and StackTraceElement, looked up once (both are boot classes: these ids
/// are made once for the run).
struct Ids {
    throwable: jclass,
    init: jmethodID,
    get_stack_trace: jmethodID,
    declaring_class: jfieldID,
    method_name: jfieldID,
    file_name: jfieldID,
    line_number: jfieldID,
    format: jfieldID,
}

// SAFETY: `throwable` is a global reference and the other ids are VM-lifetime handles, valid
// on every thread.
unsafe impl Send for Ids {}
unsafe impl Sync for Ids {}

static IDS: OnceLock<Option<Ids>> = OnceLock::new();

macro_rules! jni {
    ($env:expr, $f:ident) => {
        // Used inside unsafe blocks only: `$env` is the current thread's JNIEnv.
        (**$env).$f.expect(concat!("JNI function ", stringify!($f)))
    };
}

fn ids(env: &Env) -> Option<&'static Ids> {
    IDS.get_or_init(|| {
        let e = env.raw();
        let ids = lookup(e);
        if ids.is_none() {
            env.clear_exception();
        }
        ids
    })
    .as_ref()
}

fn lookup(e: *mut JNIEnv) -> Option<Ids> {
    // SAFETY: JNI calls on the current thread's env with valid names and signatures; each
    // result is checked for null before use.
    unsafe {
        let local = jni!(e, FindClass)(e, c"java/lang/Throwable".as_ptr());
        let ste = jni!(e, FindClass)(e, c"java/lang/StackTraceElement".as_ptr());
        if local.is_null() || ste.is_null() {
            return None;
        }
        let throwable = jni!(e, NewGlobalRef)(e, local);
        let field = |name: &std::ffi::CStr, sig: &std::ffi::CStr| jni!(e, GetFieldID)(e, ste, name.as_ptr(), sig.as_ptr());
        let ids = Ids {
            throwable,
            init: jni!(e, GetMethodID)(e, local, c"<init>".as_ptr(), c"()V".as_ptr()),
            get_stack_trace: jni!(e, GetMethodID)(e, local, c"getStackTrace".as_ptr(), c"()[Ljava/lang/StackTraceElement;".as_ptr()),
            declaring_class: field(c"declaringClass", c"Ljava/lang/String;"),
            method_name: field(c"methodName", c"Ljava/lang/String;"),
            file_name: field(c"fileName", c"Ljava/lang/String;"),
            line_number: field(c"lineNumber", c"I"),
            format: field(c"format", c"B"),
        };
        jni!(e, DeleteLocalRef)(e, local);
        jni!(e, DeleteLocalRef)(e, ste);
        let complete = !throwable.is_null()
            && ![ids.init, ids.get_stack_trace].iter().any(|m| m.is_null())
            && ![ids.declaring_class, ids.method_name, ids.file_name, ids.line_number, ids.format].iter().any(|f| f.is_null());
        complete.then_some(ids)
    }
}

/// Whether stack traces can be read here (JDK 9+: StackTraceElement says which loader defined
/// a frame's class). Call on a Java thread in the live phase.
pub fn available(env: &Env) -> bool {
    ids(env).is_some()
}

/// The frames `take` asks for, innermost first; None when Java cannot be called here (no
/// live phase, a pending exception, an allocation failure). Runs Java code: the caller holds
/// no lock.
pub fn current_stack(env: &Env, take: Take) -> Option<Vec<NamedFrame>> {
    // The Java code run here could reach an agent hook again (class loading through a jar's
    // Inflater, say): that inner walk gives up instead of recursing.
    if BUSY.with(|b| b.replace(true)) {
        return None;
    }
    // Every local reference made (some by the string conversion) goes with the frame.
    let out = env.with_local_frame(8, || walk(env, take));
    BUSY.with(|b| b.set(false));
    out
}

thread_local! {
    static BUSY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn walk(env: &Env, take: Take) -> Option<Vec<NamedFrame>> {
    let ids = ids(env)?;
    let e = env.raw();
    // SAFETY: a JNI call on this thread's env. Java must not run with an exception pending.
    if unsafe { jni!(e, ExceptionCheck)(e) } != 0 {
        return None;
    }
    // SAFETY: `e` is this thread's env; the ids were looked up from these very classes.
    let t = Local::new(env, unsafe { jni!(e, NewObject)(e, ids.throwable, ids.init) });
    if env.clear_exception() || t.is_null() {
        return None;
    }
    // SAFETY: as above; `t` is a live Throwable.
    let trace = Local::new(env, unsafe { jni!(e, CallObjectMethod)(e, t.raw(), ids.get_stack_trace) });
    if env.clear_exception() || trace.is_null() {
        return None;
    }
    // SAFETY: `trace` is a StackTraceElement[].
    let len = unsafe { jni!(e, GetArrayLength)(e, trace.raw()) }.max(0) as usize;
    let range = match take {
        Take::Top(n) => 0..n.min(len),
        Take::Bottom(n) => len.saturating_sub(n)..len,
    };
    let mut out = Vec::with_capacity(range.len());
    for i in range {
        let f = env.with_local_frame(8, || {
            // SAFETY: `i` is within the array.
            let el = Local::new(env, unsafe { jni!(e, GetObjectArrayElement)(e, trace.raw(), i as i32) });
            if env.clear_exception() || el.is_null() {
                return None;
            }
            frame(env, ids, el.raw())
        });
        out.push(f?);
    }
    Some(out)
}

fn frame(env: &Env, ids: &Ids, el: jobject) -> Option<NamedFrame> {
    let e = env.raw();
    let string = |f: jfieldID| {
        // SAFETY: `el` is a StackTraceElement and `f` one of its String fields.
        let s = Local::new(env, unsafe { jni!(e, GetObjectField)(e, el, f) });
        utf8(e, s.raw())
    };
    // SAFETY: `el` is a StackTraceElement; both fields are its own, of these types.
    let (line, format) = unsafe { (jni!(e, GetIntField)(e, el, ids.line_number), jni!(e, GetByteField)(e, el, ids.format)) };
    Some(NamedFrame {
        class: string(ids.declaring_class)?,
        method: string(ids.method_name)?,
        file: string(ids.file_name),
        line,
        builtin: format & (BUILTIN_CLASS_LOADER | JDK_NON_UPGRADEABLE_MODULE) != 0,
    })
}

/// A String's contents through GetStringUTFRegion: no class lookup per call (the `jni` crate's
/// conversion checks the type with FindClass every time, most of a walk's cost).
fn utf8(e: *mut JNIEnv, s: jobject) -> Option<String> {
    if s.is_null() {
        return None;
    }
    // SAFETY: `s` is a live java.lang.String of this thread; the buffer holds the modified UTF-8
    // length HotSpot reports for all `chars` characters.
    unsafe {
        let chars = jni!(e, GetStringLength)(e, s);
        let bytes = jni!(e, GetStringUTFLength)(e, s).max(0) as usize;
        let mut buf = vec![0u8; bytes + 1];
        jni!(e, GetStringUTFRegion)(e, s, 0, chars, buf.as_mut_ptr().cast());
        buf.truncate(bytes);
        Some(String::from_utf8_lossy(&buf).into_owned())
    }
}
