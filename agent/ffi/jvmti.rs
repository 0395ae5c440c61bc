//! A thin, `Result`-returning wrapper over the JVMTI function table.
//!
//! Every JVMTI call the agent makes goes through [`Jvmti`]; memory that JVMTI allocates is
//! released with `Deallocate` by RAII guards, never with `free`.
// The wrappers take JNI references (`jobject`, `jclass`, `jmethodID`), opaque handles that only the
// JVM hands out and that cannot be checked here; keeping the wrappers safe keeps `unsafe` in ffi/.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use super::sys::*;
use jni::sys::{jclass, jint, jlong, jmethodID, jobject, JavaVM};
use std::ffi::{c_char, c_void, CStr, CString};
use std::fmt;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// A JVMTI error code with its symbolic name.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct JvmtiError(pub jvmtiError);

impl JvmtiError {
    pub fn name(self) -> &'static str {
        match self.0 {
            JVMTI_ERROR_INVALID_THREAD => "INVALID_THREAD",
            JVMTI_ERROR_INVALID_OBJECT => "INVALID_OBJECT",
            JVMTI_ERROR_INVALID_CLASS => "INVALID_CLASS",
            JVMTI_ERROR_CLASS_NOT_PREPARED => "CLASS_NOT_PREPARED",
            JVMTI_ERROR_INVALID_METHODID => "INVALID_METHODID",
            JVMTI_ERROR_INVALID_LOCATION => "INVALID_LOCATION",
            JVMTI_ERROR_ABSENT_INFORMATION => "ABSENT_INFORMATION",
            JVMTI_ERROR_NATIVE_METHOD => "NATIVE_METHOD",
            JVMTI_ERROR_MUST_POSSESS_CAPABILITY => "MUST_POSSESS_CAPABILITY",
            JVMTI_ERROR_NULL_POINTER => "NULL_POINTER",
            JVMTI_ERROR_ILLEGAL_ARGUMENT => "ILLEGAL_ARGUMENT",
            JVMTI_ERROR_OUT_OF_MEMORY => "OUT_OF_MEMORY",
            JVMTI_ERROR_WRONG_PHASE => "WRONG_PHASE",
            JVMTI_ERROR_NOT_AVAILABLE => "NOT_AVAILABLE",
            JVMTI_ERROR_UNATTACHED_THREAD => "UNATTACHED_THREAD",
            JVMTI_ERROR_INVALID_ENVIRONMENT => "INVALID_ENVIRONMENT",
            JVMTI_ERROR_INTERNAL => "INTERNAL",
            _ => "OTHER",
        }
    }
}

impl fmt::Debug for JvmtiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JVMTI_ERROR_{} ({})", self.name(), self.0)
    }
}

impl fmt::Display for JvmtiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

pub type JvmtiResult<T> = Result<T, JvmtiError>;

/// How many classes the last GetLoadedClasses handed out (arrays included).
static LISTED: AtomicUsize = AtomicUsize::new(0);

/// How many local references the last GetLoadedClasses made: what the next one will make, give
/// or take the classes loaded and unloaded since. 0 before the first.
pub fn last_listed_classes() -> usize {
    LISTED.load(Relaxed)
}

fn check(code: jvmtiError) -> JvmtiResult<()> {
    if code == JVMTI_ERROR_NONE {
        Ok(())
    } else {
        Err(JvmtiError(code))
    }
}

macro_rules! call {
    ($self:expr, $f:ident $(, $arg:expr)* $(,)?) => {{
        let env = $self.0;
        // SAFETY: `env` is a live jvmtiEnv obtained from GetEnv (see `Jvmti::from_vm`);
        // the function table is immutable for the environment's life.
        match unsafe { (**env).$f } {
            Some(func) => check(unsafe { func(env $(, $arg)*) }),
            None => Err(JvmtiError(JVMTI_ERROR_NOT_AVAILABLE)),
        }
    }};
}

/// Handle to one JVMTI environment. JVMTI environments may be used from any thread.
#[derive(Clone, Copy)]
pub struct Jvmti(*mut jvmtiEnv);

// SAFETY: the JVMTI specification allows an environment to be used from every thread.
unsafe impl Send for Jvmti {}
unsafe impl Sync for Jvmti {}

/// Memory that JVMTI allocated and that must go back through `Deallocate`.
struct JvmtiBuf<'a> {
    jvmti: &'a Jvmti,
    ptr: *mut u8,
}

impl Drop for JvmtiBuf<'_> {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            let _ = call!(self.jvmti, Deallocate, self.ptr);
        }
    }
}

/// One entry of `GetStackTrace`: laid out exactly as `jvmtiFrameInfo`, so a stack walk writes
/// straight into a slice of frames.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Frame {
    pub method: usize,
    pub location: i64,
}

const _: () = {
    assert!(std::mem::size_of::<Frame>() == std::mem::size_of::<jvmtiFrameInfo>());
    assert!(std::mem::align_of::<Frame>() == std::mem::align_of::<jvmtiFrameInfo>());
};

impl Frame {
    pub const EMPTY: Frame = Frame { method: 0, location: 0 };
}

impl Jvmti {
    /// # Safety
    /// `vm` must be the JavaVM pointer handed to `Agent_OnLoad`/`Agent_OnAttach`.
    pub unsafe fn from_vm(vm: *mut JavaVM, version: jint) -> Option<Jvmti> {
        // SAFETY: `vm` is the JavaVM the JVM passed (this function's contract); GetEnv writes
        // into a local.
        unsafe {
            let mut env: *mut c_void = ptr::null_mut();
            let get_env = (**vm).GetEnv?;
            if get_env(vm, &mut env, version) != jni::sys::JNI_OK || env.is_null() {
                return None;
            }
            Some(Jvmti(env as *mut jvmtiEnv))
        }
    }

    /// # Safety
    /// `env` must be the jvmtiEnv pointer a JVMTI callback received.
    pub unsafe fn from_raw(env: *mut jvmtiEnv) -> Jvmti {
        Jvmti(env)
    }

    fn take_cstring(&self, p: *mut c_char) -> Option<String> {
        if p.is_null() {
            return None;
        }
        let _guard = JvmtiBuf { jvmti: self, ptr: p as *mut u8 };
        // SAFETY: JVMTI returns NUL-terminated modified UTF-8.
        Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    pub fn potential_capabilities(&self) -> JvmtiResult<jvmtiCapabilities> {
        let mut caps = jvmtiCapabilities::default();
        call!(self, GetPotentialCapabilities, &mut caps)?;
        Ok(caps)
    }

    pub fn add_capabilities(&self, caps: &jvmtiCapabilities) -> JvmtiResult<()> {
        call!(self, AddCapabilities, caps)
    }

    pub fn set_event_callbacks(&self, callbacks: &jvmtiEventCallbacks) -> JvmtiResult<()> {
        call!(
            self,
            SetEventCallbacks,
            callbacks,
            std::mem::size_of::<jvmtiEventCallbacks>() as jint
        )
    }

    pub fn set_event(&self, enable: bool, event: jvmtiEvent) -> JvmtiResult<()> {
        let mode = if enable { JVMTI_ENABLE } else { JVMTI_DISABLE };
        call!(self, SetEventNotificationMode, mode, event, ptr::null_mut())
    }

    /// Posts the given event for what already exists (GenerateEvents: compiled methods, dynamic code).
    pub fn generate_events(&self, event: jvmtiEvent) -> JvmtiResult<()> {
        call!(self, GenerateEvents, event)
    }

    /// Finds an extension event by id and returns (index, parameter kinds as JVMTI types).
    pub fn find_extension_event(&self, id: &str) -> JvmtiResult<Option<(jint, Vec<jvmtiParamTypes>)>> {
        let mut count: jint = 0;
        let mut infos: *mut jvmtiExtensionEventInfo = ptr::null_mut();
        call!(self, GetExtensionEvents, &mut count, &mut infos)?;
        let _all = JvmtiBuf { jvmti: self, ptr: infos as *mut u8 };
        let mut found = None;
        for i in 0..count.max(0) as usize {
            // SAFETY: JVMTI returned `count` entries.
            let info = unsafe { &*infos.add(i) };
            let name = self.take_cstring(info.id).unwrap_or_default();
            let _desc = self.take_cstring(info.short_description);
            let mut kinds = Vec::new();
            for p in 0..info.param_count.max(0) as usize {
                // SAFETY: `params` has `param_count` entries.
                let param = unsafe { &*info.params.add(p) };
                let _pname = self.take_cstring(param.name);
                kinds.push(param.base_type);
            }
            let _params = JvmtiBuf { jvmti: self, ptr: info.params as *mut u8 };
            if name == id && found.is_none() {
                found = Some((info.extension_event_index, kinds));
            }
        }
        Ok(found)
    }

    /// # Safety
    /// `callback` must have the C signature the extension event documents.
    pub unsafe fn set_extension_event_callback(
        &self,
        index: jint,
        callback: jvmtiExtensionEvent,
    ) -> JvmtiResult<()> {
        call!(self, SetExtensionEventCallback, index, callback)
    }

    pub fn system_property(&self, name: &str) -> Option<String> {
        let cname = CString::new(name).ok()?;
        let mut value: *mut c_char = ptr::null_mut();
        call!(self, GetSystemProperty, cname.as_ptr(), &mut value).ok()?;
        self.take_cstring(value)
    }

    pub fn tag(&self, object: jobject) -> JvmtiResult<jlong> {
        let mut tag: jlong = 0;
        call!(self, GetTag, object, &mut tag)?;
        Ok(tag)
    }

    pub fn set_tag(&self, object: jobject, tag: jlong) -> JvmtiResult<()> {
        call!(self, SetTag, object, tag)
    }

    /// The defining loader of `klass`: a local reference, or null for the bootstrap loader.
    pub fn class_loader(&self, klass: jclass) -> JvmtiResult<jobject> {
        let mut loader: jobject = ptr::null_mut();
        call!(self, GetClassLoader, klass, &mut loader)?;
        Ok(loader)
    }

    /// The JVM signature of `klass`, e.g. `Ljava/lang/String;`.
    pub fn class_signature(&self, klass: jclass) -> JvmtiResult<String> {
        let mut sig: *mut c_char = ptr::null_mut();
        call!(self, GetClassSignature, klass, &mut sig, ptr::null_mut())?;
        Ok(self.take_cstring(sig).unwrap_or_default())
    }

    /// `klass`'s JVMTI status bits (`JVMTI_CLASS_STATUS_*`).
    pub fn class_status(&self, klass: jclass) -> JvmtiResult<jint> {
        let mut status: jint = 0;
        call!(self, GetClassStatus, klass, &mut status)?;
        Ok(status)
    }

    /// Whether `klass` is linked (JVMTI's PREPARED status bit: its ClassPrepare was posted).
    pub fn class_prepared(&self, klass: jclass) -> JvmtiResult<bool> {
        self.class_status(klass).map(|s| s as u32 & crate::ffi::sys::JVMTI_CLASS_STATUS_PREPARED != 0)
    }

    /// Every loaded class as local references (arrays included, primitives not).
    pub fn loaded_classes(&self) -> JvmtiResult<Vec<jclass>> {
        let mut count: jint = 0;
        let mut classes: *mut jclass = ptr::null_mut();
        call!(self, GetLoadedClasses, &mut count, &mut classes)?;
        let _buf = JvmtiBuf { jvmti: self, ptr: classes as *mut u8 };
        LISTED.store(count.max(0) as usize, Relaxed);
        let mut out = Vec::with_capacity(count.max(0) as usize);
        for i in 0..count.max(0) as usize {
            // SAFETY: JVMTI returned `count` entries.
            out.push(unsafe { *classes.add(i) });
        }
        Ok(out)
    }

    /// `loaded_classes`, then declared to `env`'s current frame: JVMTI makes the references
    /// without asking JNI, and the frame was sized from an estimate, so -Xcheck:jni would count
    /// them past its planned capacity (`JNI local refs: 10852, exceeds capacity: 9720` on JDK 11
    /// under loader churn, classes loaded and not linked being counted late). HotSpot's checked
    /// JNI checks the count when a JNI function returns, so declaring them right after is in time.
    pub fn loaded_classes_in(&self, env: &super::jni::Env) -> JvmtiResult<Vec<jclass>> {
        let classes = self.loaded_classes()?;
        // The caller's own few references on top (the frame may hold some already).
        env.ensure_local_capacity(classes.len().saturating_add(1024).min(super::jni::MAX_JNI_LOCAL_CAPACITY) as i32);
        Ok(classes)
    }

    /// Makes sure every method of `klass` has a jmethodID (GetClassMethods creates them), so
    /// that AsyncGetCallTrace can name its frames. A class not prepared yet is skipped.
    pub fn create_method_ids(&self, klass: jclass) {
        let mut count: jint = 0;
        let mut methods: *mut jmethodID = ptr::null_mut();
        if call!(self, GetClassMethods, klass, &mut count, &mut methods).is_ok() {
            let _buf = JvmtiBuf { jvmti: self, ptr: methods as *mut u8 };
        }
    }

    /// Every live thread as local references.
    pub fn all_threads(&self) -> JvmtiResult<Vec<jobject>> {
        let mut count: jint = 0;
        let mut threads: *mut jobject = ptr::null_mut();
        call!(self, GetAllThreads, &mut count, &mut threads)?;
        let _buf = JvmtiBuf { jvmti: self, ptr: threads as *mut u8 };
        // SAFETY: JVMTI returned `count` entries.
        Ok((0..count.max(0) as usize).map(|i| unsafe { *threads.add(i) }).collect())
    }

    pub fn force_garbage_collection(&self) -> JvmtiResult<()> {
        call!(self, ForceGarbageCollection)
    }

    /// Looks up tagged objects; used with an empty tag list it also makes HotSpot post the
    /// ObjectFree events it has deferred since the last GC.
    pub fn objects_with_tags(&self, tags: &[jlong]) -> JvmtiResult<Vec<(jobject, jlong)>> {
        let mut count: jint = 0;
        let mut objects: *mut jobject = ptr::null_mut();
        let mut out_tags: *mut jlong = ptr::null_mut();
        call!(
            self,
            GetObjectsWithTags,
            tags.len() as jint,
            tags.as_ptr(),
            &mut count,
            &mut objects,
            &mut out_tags
        )?;
        let _o = JvmtiBuf { jvmti: self, ptr: objects as *mut u8 };
        let _t = JvmtiBuf { jvmti: self, ptr: out_tags as *mut u8 };
        let mut out = Vec::with_capacity(count.max(0) as usize);
        for i in 0..count.max(0) as usize {
            // SAFETY: JVMTI returned `count` entries in both arrays.
            out.push(unsafe { (*objects.add(i), *out_tags.add(i)) });
        }
        Ok(out)
    }

    /// # Safety
    /// `thread` must be a local or global reference to an unstarted `java.lang.Thread`;
    /// `proc_` must be safe to run on that thread with `arg`.
    pub unsafe fn run_agent_thread(
        &self,
        thread: jobject,
        proc_: jvmtiStartFunction,
        arg: *const c_void,
    ) -> JvmtiResult<()> {
        call!(self, RunAgentThread, thread, proc_, arg, JVMTI_THREAD_NORM_PRIORITY as jint)
    }

    /// Frames of the current thread into `out`, innermost first, starting at `start_depth`
    /// (negative: counted from the oldest frame, as JVMTI defines). Returns how many were written.
    /// This is the hot-path walk: no allocation, no copy.
    pub fn current_stack(&self, start_depth: i32, out: &mut [Frame]) -> JvmtiResult<usize> {
        let mut count: jint = 0;
        call!(
            self,
            GetStackTrace,
            ptr::null_mut(),
            start_depth,
            out.len().min(i32::MAX as usize) as jint,
            // `Frame` has the layout of `jvmtiFrameInfo` (checked at compile time above).
            out.as_mut_ptr() as *mut jvmtiFrameInfo,
            &mut count
        )?;
        Ok(count.max(0) as usize)
    }

    /// Number of Java frames on the current thread.
    pub fn current_frame_count(&self) -> JvmtiResult<usize> {
        let mut count: jint = 0;
        call!(self, GetFrameCount, ptr::null_mut(), &mut count)?;
        Ok(count.max(0) as usize)
    }

    /// The current thread's name. `GetThreadInfo` also hands out two local references (thread
    /// group, context class loader); they are deleted through `env` before returning.
    pub fn current_thread_name(&self, env: &super::jni::Env) -> JvmtiResult<String> {
        let mut info = jvmtiThreadInfo::default();
        call!(self, GetThreadInfo, ptr::null_mut(), &mut info)?;
        drop((super::jni::Local::new(env, info.thread_group), super::jni::Local::new(env, info.context_class_loader)));
        Ok(self.take_cstring(info.name).unwrap_or_default())
    }

    /// (name, JVM signature) of a method, e.g. ("init", "(Z)J").
    pub fn method_name_and_signature(&self, method: jmethodID) -> JvmtiResult<(String, String)> {
        let mut name: *mut c_char = ptr::null_mut();
        let mut sig: *mut c_char = ptr::null_mut();
        call!(self, GetMethodName, method, &mut name, &mut sig, ptr::null_mut())?;
        let name = self.take_cstring(name).unwrap_or_default();
        let sig = self.take_cstring(sig).unwrap_or_default();
        Ok((name, sig))
    }

    pub fn method_name(&self, method: jmethodID) -> JvmtiResult<String> {
        let mut name: *mut c_char = ptr::null_mut();
        call!(self, GetMethodName, method, &mut name, ptr::null_mut(), ptr::null_mut())?;
        Ok(self.take_cstring(name).unwrap_or_default())
    }

    /// Whether a jmethodID still names a method: HotSpot clears the ids of an unloaded class's
    /// methods (never reuses them), and GetMethodModifiers then fails; it allocates nothing.
    pub fn method_is_loaded(&self, method: jmethodID) -> bool {
        let mut modifiers: jint = 0;
        call!(self, GetMethodModifiers, method, &mut modifiers).is_ok()
    }

    pub fn method_declaring_class(&self, method: jmethodID) -> JvmtiResult<jclass> {
        let mut klass: jclass = ptr::null_mut();
        call!(self, GetMethodDeclaringClass, method, &mut klass)?;
        Ok(klass)
    }

    pub fn source_file_name(&self, klass: jclass) -> JvmtiResult<String> {
        let mut name: *mut c_char = ptr::null_mut();
        call!(self, GetSourceFileName, klass, &mut name)?;
        Ok(self.take_cstring(name).unwrap_or_default())
    }

    /// The byte size of `klass`'s constant pool as JVMTI reconstitutes it (class-file form);
    /// the copy is freed at once. Creates no jmethodID or jfieldID.
    pub fn constant_pool_bytes(&self, klass: jclass) -> JvmtiResult<u64> {
        let (mut count, mut bytes): (jint, jint) = (0, 0);
        let mut pool: *mut u8 = ptr::null_mut();
        call!(self, GetConstantPool, klass, &mut count, &mut bytes, &mut pool)?;
        let _buf = JvmtiBuf { jvmti: self, ptr: pool };
        Ok(bytes.max(0) as u64)
    }

    /// (start location, line number) pairs of a method.
    pub fn line_number_table(&self, method: jmethodID) -> JvmtiResult<Vec<(i64, i32)>> {
        let mut count: jint = 0;
        let mut table: *mut jvmtiLineNumberEntry = ptr::null_mut();
        call!(self, GetLineNumberTable, method, &mut count, &mut table)?;
        let _buf = JvmtiBuf { jvmti: self, ptr: table as *mut u8 };
        let mut out = Vec::with_capacity(count.max(0) as usize);
        for i in 0..count.max(0) as usize {
            // SAFETY: JVMTI returned `count` entries.
            let e = unsafe { &*table.add(i) };
            out.push((e.start_location, e.line_number));
        }
        Ok(out)
    }

    /// The fields `klass` declares, in the order heap walk field indices use.
    pub fn class_fields(&self, klass: jclass) -> JvmtiResult<Vec<jni::sys::jfieldID>> {
        let mut count: jint = 0;
        let mut fields: *mut jni::sys::jfieldID = ptr::null_mut();
        call!(self, GetClassFields, klass, &mut count, &mut fields)?;
        let _buf = JvmtiBuf { jvmti: self, ptr: fields as *mut u8 };
        // SAFETY: JVMTI returned `count` entries.
        Ok((0..count.max(0) as usize).map(|i| unsafe { *fields.add(i) }).collect())
    }

    pub fn field_name(&self, klass: jclass, field: jni::sys::jfieldID) -> JvmtiResult<String> {
        let mut name: *mut c_char = ptr::null_mut();
        call!(self, GetFieldName, klass, field, &mut name, ptr::null_mut(), ptr::null_mut())?;
        Ok(self.take_cstring(name).unwrap_or_default())
    }

    /// A field's name, JVM signature and whether it is static.
    pub fn field_info(&self, klass: jclass, field: jni::sys::jfieldID) -> JvmtiResult<(String, String, bool)> {
        let mut name: *mut c_char = ptr::null_mut();
        let mut sig: *mut c_char = ptr::null_mut();
        call!(self, GetFieldName, klass, field, &mut name, &mut sig, ptr::null_mut())?;
        let name = self.take_cstring(name).unwrap_or_default();
        let sig = self.take_cstring(sig).unwrap_or_default();
        let mut modifiers: jint = 0;
        call!(self, GetFieldModifiers, klass, field, &mut modifiers)?;
        Ok((name, sig, modifiers & 0x0008 != 0))
    }

    /// Interfaces `klass` declares directly (local references).
    pub fn implemented_interfaces(&self, klass: jclass) -> JvmtiResult<Vec<jclass>> {
        let mut count: jint = 0;
        let mut out: *mut jclass = ptr::null_mut();
        call!(self, GetImplementedInterfaces, klass, &mut count, &mut out)?;
        let _buf = JvmtiBuf { jvmti: self, ptr: out as *mut u8 };
        // SAFETY: JVMTI returned `count` entries.
        Ok((0..count.max(0) as usize).map(|i| unsafe { *out.add(i) }).collect())
    }

    pub fn is_interface(&self, klass: jclass) -> bool {
        let mut b: jni::sys::jboolean = 0;
        call!(self, IsInterface, klass, &mut b).map(|_| b != 0).unwrap_or(false)
    }

    /// The name of a thread (a `java.lang.Thread` reference).
    pub fn thread_name(&self, thread: jobject) -> Option<String> {
        let mut info = jvmtiThreadInfo::default();
        call!(self, GetThreadInfo, thread, &mut info).ok()?;
        self.take_cstring(info.name)
    }

    pub fn dispose(&self) {
        let _ = call!(self, DisposeEnvironment);
    }

    /// # Safety
    /// `callbacks` must be valid for the given heap walk; `user_data` is passed through.
    pub unsafe fn follow_references(
        &self,
        heap_filter: jint,
        klass: jclass,
        initial_object: jobject,
        callbacks: &jvmtiHeapCallbacks,
        user_data: *const c_void,
    ) -> JvmtiResult<()> {
        call!(self, FollowReferences, heap_filter, klass, initial_object, callbacks, user_data)
    }

    /// # Safety
    /// As for `follow_references`.
    pub unsafe fn iterate_through_heap(
        &self,
        heap_filter: jint,
        klass: jclass,
        callbacks: &jvmtiHeapCallbacks,
        user_data: *const c_void,
    ) -> JvmtiResult<()> {
        call!(self, IterateThroughHeap, heap_filter, klass, callbacks, user_data)
    }
}

/// Converts a JVM class signature (`Ljava/lang/String;`, `[I`) to a Java name
/// (`java.lang.String`, `int[]`).
pub fn signature_to_name(sig: &str) -> String {
    let dims = sig.bytes().take_while(|&b| b == b'[').count();
    let base = &sig[dims..];
    let mut name = match base.as_bytes().first() {
        Some(b'L') => base[1..].trim_end_matches(';').replace('/', "."),
        Some(b'Z') => "boolean".into(),
        Some(b'B') => "byte".into(),
        Some(b'C') => "char".into(),
        Some(b'S') => "short".into(),
        Some(b'I') => "int".into(),
        Some(b'J') => "long".into(),
        Some(b'F') => "float".into(),
        Some(b'D') => "double".into(),
        Some(b'V') => "void".into(),
        _ => base.to_string(),
    };
    for _ in 0..dims {
        name.push_str("[]");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::signature_to_name;

    #[test]
    fn signatures_become_java_names() {
        assert_eq!(signature_to_name("Ljava/lang/String;"), "java.lang.String");
        assert_eq!(signature_to_name("[I"), "int[]");
        assert_eq!(signature_to_name("[[Lcom/x/Y$Z;"), "com.x.Y$Z[][]");
        assert_eq!(signature_to_name("Lfoo/Bar;"), "foo.Bar");
    }
}
