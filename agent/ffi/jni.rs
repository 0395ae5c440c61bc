//! Raw JNI handles the callbacks need before a `jni::JNIEnv` is worth building:
//! weak global references to loaders ([`WeakGlobal`]) and local references freed by a guard
//! ([`Local`]), so no caller deletes a reference by hand.
// The wrappers take JNI references (`jobject`), opaque handles that only the JVM hands out and
// that cannot be checked here; keeping the wrappers safe keeps `unsafe` inside ffi/.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use crate::core::log;
use jni::sys::{jobject, jweak, JNIEnv};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

/// Set once a local frame was refused, so the warning is logged once.
static FRAME_REFUSED: AtomicBool = AtomicBool::new(false);
/// The frame taken when a larger one is refused.
const SMALL_FRAME: i32 = 16;

/// HotSpot's default -XX:MaxJNILocalCapacity (JDK 11, 17, 21, 25): the largest frame
/// PushLocalFrame, and the most EnsureLocalCapacity, grants.
pub const MAX_JNI_LOCAL_CAPACITY: usize = 65536;

macro_rules! jni_fn {
    ($env:expr, $f:ident) => {
        // Used inside unsafe blocks only: `$env` is the current thread's JNIEnv (see `Env::new`).
        (**$env.0).$f.expect(concat!("JNI function ", stringify!($f)))
    };
}

/// The JNIEnv of the current thread, as handed to a JVMTI callback or agent thread.
#[derive(Clone, Copy)]
pub struct Env(*mut JNIEnv);

/// A JNI weak global reference: does not keep its object alive. Neither Copy nor Clone, and
/// only `delete(self)` frees it, so it cannot be deleted twice or used after deletion.
/// Dropping it without `delete` leaks the reference (a few bytes), never corrupts the JVM.
#[derive(Debug)]
pub struct WeakGlobal(usize);

/// A local reference deleted when dropped. It borrows the `Env` of its thread, so it cannot
/// leave the thread or outlive the env; not Copy, so it is deleted once. Null is allowed (a
/// failed call) and deletes nothing.
pub struct Local<'e> {
    env: &'e Env,
    obj: jobject,
}

impl<'e> Local<'e> {
    /// Takes ownership of `obj`, a local reference of `env`'s thread (or null).
    pub fn new(env: &'e Env, obj: jobject) -> Local<'e> {
        Local { env, obj }
    }

    /// The raw reference, valid while `self` lives.
    pub fn raw(&self) -> jobject {
        self.obj
    }

    pub fn is_null(&self) -> bool {
        self.obj.is_null()
    }

    /// A null reference, for the paths that found nothing.
    pub fn null(env: &'e Env) -> Local<'e> {
        Local::new(env, std::ptr::null_mut())
    }

    /// `Some(self)` unless null.
    pub fn non_null(self) -> Option<Local<'e>> {
        (!self.obj.is_null()).then_some(self)
    }
}

impl Drop for Local<'_> {
    fn drop(&mut self) {
        if !self.obj.is_null() {
            // SAFETY: `obj` is a local reference of this thread (contract of `Local::new`), owned
            // by this guard alone and deleted only here.
            unsafe { jni_fn!(self.env, DeleteLocalRef)(self.env.0, self.obj) }
        }
    }
}

impl WeakGlobal {
    /// A local reference to the object, or None when it was collected.
    pub fn upgrade<'e>(&self, env: &'e Env) -> Option<Local<'e>> {
        // SAFETY: `self` came from `Env::new_weak` and is alive: deletion consumes it.
        Local::new(env, unsafe { jni_fn!(env, NewLocalRef)(env.0, self.0 as jweak) }).non_null()
    }

    /// Whether `obj` is this reference's object (false once it was collected): one JNI call,
    /// where `upgrade` and a compare take three.
    pub fn is(&self, env: &Env, obj: jobject) -> bool {
        // SAFETY: `self` is alive (as for `upgrade`); IsSameObject takes weak references as they
        // are, a collected one comparing equal to null only.
        !obj.is_null() && unsafe { jni_fn!(env, IsSameObject)(env.0, self.0 as jweak, obj) != 0 }
    }

    pub fn delete(self, env: &Env) {
        // SAFETY: as for `upgrade`; `self` is consumed, so this runs once per reference.
        unsafe { jni_fn!(env, DeleteWeakGlobalRef)(env.0, self.0 as jweak) }
    }
}

impl Env {
    /// # Safety
    /// `env` must be the JNIEnv of the calling thread, and the `Env` must not leave that thread.
    pub unsafe fn new(env: *mut JNIEnv) -> Env {
        Env(env)
    }

    pub fn raw(&self) -> *mut JNIEnv {
        self.0
    }

    /// A `jni` crate view of this environment, for calling Java.
    pub fn jni(&self) -> Option<jni::JNIEnv<'static>> {
        // SAFETY: the pointer is this thread's JNIEnv (contract of `Env::new`).
        unsafe { jni::JNIEnv::from_raw(self.0).ok() }
    }

    pub fn new_weak(&self, obj: jobject) -> Option<WeakGlobal> {
        if obj.is_null() {
            return None;
        }
        // SAFETY: `obj` is a valid reference handed to us by the JVM.
        let w = unsafe { jni_fn!(self, NewWeakGlobalRef)(self.0, obj) };
        (!w.is_null()).then_some(WeakGlobal(w as usize))
    }

    /// A new local reference to `obj` (null stays null).
    pub fn new_local(&self, obj: jobject) -> Local<'_> {
        if obj.is_null() {
            return Local::null(self);
        }
        // SAFETY: `obj` is a valid reference of this thread.
        Local::new(self, unsafe { jni_fn!(self, NewLocalRef)(self.0, obj) })
    }

    pub fn same_object(&self, a: jobject, b: jobject) -> bool {
        // SAFETY: both are valid references or null.
        unsafe { jni_fn!(self, IsSameObject)(self.0, a, b) != 0 }
    }

    pub fn object_class(&self, obj: jobject) -> Local<'_> {
        // SAFETY: `obj` is a valid non-null reference.
        Local::new(self, unsafe { jni_fn!(self, GetObjectClass)(self.0, obj) })
    }

    /// The pending Java exception's `toString()`, cleared (None when there is none).
    pub fn take_exception_text(&self) -> Option<String> {
        let mut j = self.jni()?;
        let t = j.exception_occurred().ok()?;
        if t.is_null() {
            return None;
        }
        let _ = j.exception_clear();
        let s = j.call_method(&t, "toString", "()Ljava/lang/String;", &[]).and_then(|v| v.l()).ok()?;
        let text = self.string(s.as_raw());
        self.clear_exception();
        text
    }

    /// Clears a pending Java exception; returns whether there was one.
    pub fn clear_exception(&self) -> bool {
        // SAFETY: plain JNI calls on this thread.
        unsafe {
            if jni_fn!(self, ExceptionCheck)(self.0) != 0 {
                jni_fn!(self, ExceptionClear)(self.0);
                true
            } else {
                false
            }
        }
    }

    /// Runs `f` inside a local reference frame so long-lived agent threads do not pile up
    /// local references.
    pub fn with_local_frame<T>(&self, capacity: i32, f: impl FnOnce() -> T) -> T {
        // SAFETY: push/pop are paired on this thread.
        let push = |n: i32| unsafe { jni_fn!(self, PushLocalFrame)(self.0, n) } == 0;
        // A refused frame leaves an OutOfMemoryError pending and would put the closure's
        // references in the caller's frame: clear it and take a small frame (capacity is a
        // plan, not a limit, outside checked JNI).
        let pushed = push(capacity) || {
            self.clear_exception();
            if !FRAME_REFUSED.swap(true, Relaxed) {
                log::warn(&format!("the JVM refused a local frame of {capacity} references; using a small one"));
            }
            push(SMALL_FRAME)
        };
        let out = f();
        if pushed {
            unsafe { jni_fn!(self, PopLocalFrame)(self.0, std::ptr::null_mut()) };
        }
        out
    }

    /// Declares that `n` more local references are about to be made in the current frame
    /// (more than it was sized for when the count grew meanwhile); false when the JVM refuses.
    pub fn ensure_local_capacity(&self, n: i32) -> bool {
        // SAFETY: a JNI call on this thread's env; an OutOfMemoryError it throws is cleared.
        let ok = unsafe { jni_fn!(self, EnsureLocalCapacity)(self.0, n) } == 0;
        if !ok {
            self.clear_exception();
        }
        ok
    }

    /// Calls a no-argument instance method returning an object; null on any failure
    /// (the Java exception, if any, is cleared).
    pub fn call_object_method(&self, obj: jobject, name: &str, sig: &str) -> Local<'_> {
        let Some(mut env) = self.jni() else { return Local::null(self) };
        // SAFETY: `obj` is a valid local or global reference of this thread.
        let target = unsafe { jni::objects::JObject::from_raw(obj) };
        let r = env.call_method(&target, name, sig, &[]).and_then(|v| v.l());
        self.object_result(r)
    }

    /// The local reference a `jni` crate call returned, or null with its exception cleared.
    fn object_result(&self, r: jni::errors::Result<jni::objects::JObject>) -> Local<'_> {
        match r {
            Ok(o) => Local::new(self, o.into_raw()),
            Err(_) => {
                self.clear_exception();
                Local::null(self)
            }
        }
    }

    /// Calls an instance method taking object arguments and returning an object; null on any
    /// failure (the Java exception, if any, is cleared). `args` may hold nulls.
    pub fn call_object_method_with(&self, obj: jobject, name: &str, sig: &str, args: &[jobject]) -> Local<'_> {
        let Some(mut env) = self.jni() else { return Local::null(self) };
        // SAFETY: `obj` and `args` are valid (or null) local or global references of this thread.
        let target = unsafe { jni::objects::JObject::from_raw(obj) };
        let objs: Vec<jni::objects::JObject> = args.iter().map(|a| unsafe { jni::objects::JObject::from_raw(*a) }).collect();
        let values: Vec<jni::objects::JValue> = objs.iter().map(jni::objects::JValue::Object).collect();
        self.object_result(env.call_method(&target, name, sig, &values).and_then(|v| v.l()))
    }

    /// Calls a no-argument instance method returning `long`.
    pub fn call_long_method(&self, obj: jobject, name: &str) -> Option<i64> {
        let mut env = self.jni()?;
        // SAFETY: `obj` is a valid local or global reference of this thread.
        let target = unsafe { jni::objects::JObject::from_raw(obj) };
        match env.call_method(&target, name, "()J", &[]).and_then(|v| v.j()) {
            Ok(v) => Some(v),
            Err(_) => {
                self.clear_exception();
                None
            }
        }
    }

    /// The elements of an object array (local references), empty for null.
    pub fn object_array(&self, arr: jobject) -> Vec<Local<'_>> {
        if arr.is_null() {
            return Vec::new();
        }
        // SAFETY: `arr` is a valid reference to an Object[].
        unsafe {
            let n = jni_fn!(self, GetArrayLength)(self.0, arr);
            (0..n).map(|i| Local::new(self, jni_fn!(self, GetObjectArrayElement)(self.0, arr, i))).collect()
        }
    }

    /// Calls a static no-argument method returning an object; null on any failure.
    pub fn call_static_object_method(&self, class: &str, name: &str, sig: &str) -> Local<'_> {
        let Some(mut env) = self.jni() else { return Local::null(self) };
        self.object_result(env.call_static_method(class, name, sig, &[]).and_then(|v| v.l()))
    }

    /// `Thread.currentThread().eetop`: HotSpot keeps the address of the thread's JavaThread in
    /// this private field (None when absent or the call fails).
    pub fn current_thread_eetop(&self) -> Option<i64> {
        let t = self.call_static_object_method("java/lang/Thread", "currentThread", "()Ljava/lang/Thread;").non_null()?;
        self.long_field(t.raw(), c"eetop").filter(|&v| v != 0)
    }

    /// The contents of a `java.lang.String` reference (null gives None).
    pub fn string(&self, s: jobject) -> Option<String> {
        if s.is_null() {
            return None;
        }
        let mut env = self.jni()?;
        // SAFETY: `s` is a valid reference to a java.lang.String.
        let js = unsafe { jni::objects::JString::from_raw(s) };
        let out = env.get_string(&js).ok().map(String::from);
        out
    }

    /// Calls a no-argument method returning `String`.
    pub fn call_string_method(&self, obj: jobject, name: &str) -> Option<String> {
        self.string(self.call_object_method(obj, name, "()Ljava/lang/String;").raw())
    }

    /// `System.getProperty(name)`: the live value, unlike JVMTI's start-up property list.
    pub fn system_property(&self, name: &str) -> Option<String> {
        use jni::objects::JValue;
        let mut env = self.jni()?;
        let key = env.new_string(name).ok()?;
        let key = env.auto_local(key);
        let r = env
            .call_static_method(
                "java/lang/System",
                "getProperty",
                "(Ljava/lang/String;)Ljava/lang/String;",
                &[JValue::Object(&key)],
            )
            .and_then(|v| v.l());
        drop(key);
        self.string(self.object_result(r).raw())
    }

    /// Reads `ClassLoader.name` and `ClassLoader.parent` straight from the fields: no Java code
    /// runs, so this is safe inside a ClassLoad or ClassPrepare callback. The parent is a local reference.
    pub fn loader_name_and_parent(&self, loader: jobject) -> (Option<String>, Local<'_>) {
        static FIELDS: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();
        let ids = *FIELDS.get_or_init(|| {
            // SAFETY: JNI lookups on this thread; java.lang.ClassLoader is never unloaded, so
            // its field ids stay valid for the life of the VM.
            unsafe {
                let cls = jni_fn!(self, FindClass)(self.0, c"java/lang/ClassLoader".as_ptr());
                if cls.is_null() {
                    self.clear_exception();
                    return None;
                }
                let name = jni_fn!(self, GetFieldID)(self.0, cls, c"name".as_ptr(), c"Ljava/lang/String;".as_ptr());
                self.clear_exception();
                let parent = jni_fn!(self, GetFieldID)(self.0, cls, c"parent".as_ptr(), c"Ljava/lang/ClassLoader;".as_ptr());
                self.clear_exception();
                drop(Local::new(self, cls));
                Some((name as usize, parent as usize))
            }
        });
        let Some((name_id, parent_id)) = ids else { return (None, Local::null(self)) };
        // SAFETY: `loader` is a valid reference to a java.lang.ClassLoader; ids are non-null
        // when checked.
        unsafe {
            let name = if name_id != 0 {
                self.string(Local::new(self, jni_fn!(self, GetObjectField)(self.0, loader, name_id as jni::sys::jfieldID)).raw())
            } else {
                None
            };
            let parent = if parent_id != 0 {
                Local::new(self, jni_fn!(self, GetObjectField)(self.0, loader, parent_id as jni::sys::jfieldID))
            } else {
                Local::null(self)
            };
            (name, parent)
        }
    }

    pub fn superclass(&self, klass: jobject) -> Local<'_> {
        // SAFETY: `klass` is a valid jclass.
        Local::new(self, unsafe { jni_fn!(self, GetSuperclass)(self.0, klass) })
    }

    pub fn is_assignable_from(&self, sub: jobject, sup: jobject) -> bool {
        // SAFETY: both are valid jclass references.
        unsafe { jni_fn!(self, IsAssignableFrom)(self.0, sub, sup) != 0 }
    }

    /// A class by JNI name (`java/lang/ref/Reference`) through the system loader; null if absent
    /// (the exception is cleared). JNI initializes the class it finds, so only look up classes
    /// whose initialization is harmless.
    pub fn find_class(&self, name: &std::ffi::CStr) -> Local<'_> {
        // SAFETY: `name` is NUL-terminated.
        let c = Local::new(self, unsafe { jni_fn!(self, FindClass)(self.0, name.as_ptr()) });
        if c.is_null() {
            self.clear_exception();
        }
        c
    }

    /// The id of an instance method (0 when missing; the exception is cleared).
    pub fn method_id(&self, class: jobject, name: &std::ffi::CStr, sig: &std::ffi::CStr) -> usize {
        if class.is_null() {
            return 0;
        }
        // SAFETY: `class` is a valid class reference; the strings are NUL-terminated.
        let id = unsafe { jni_fn!(self, GetMethodID)(self.0, class, name.as_ptr(), sig.as_ptr()) };
        if id.is_null() {
            self.clear_exception();
        }
        id as usize
    }

    /// Binds `methods` (name, signature, function address) of `class` with `RegisterNatives`.
    pub fn register_natives(&self, class: jobject, methods: &[(&std::ffi::CStr, &std::ffi::CStr, usize)]) -> bool {
        if class.is_null() {
            return false;
        }
        let table: Vec<jni::sys::JNINativeMethod> = methods
            .iter()
            .map(|(name, sig, f)| jni::sys::JNINativeMethod {
                name: name.as_ptr() as *mut std::ffi::c_char,
                signature: sig.as_ptr() as *mut std::ffi::c_char,
                fnPtr: *f as *mut std::ffi::c_void,
            })
            .collect();
        // SAFETY: `table` lives across the call; every entry names a method of `class` whose C
        // signature the caller matched.
        let rc = unsafe { jni_fn!(self, RegisterNatives)(self.0, class, table.as_ptr(), table.len() as jni::sys::jint) };
        if rc != 0 {
            self.clear_exception();
        }
        rc == 0
    }

    /// Reads a static `long` field of an already initialized class (None when missing).
    pub fn static_long_field(&self, class: jobject, name: &std::ffi::CStr) -> Option<i64> {
        // SAFETY: `class` is a valid class reference; the strings are NUL-terminated.
        unsafe {
            let id = jni_fn!(self, GetStaticFieldID)(self.0, class, name.as_ptr(), c"J".as_ptr());
            if id.is_null() {
                self.clear_exception();
                return None;
            }
            Some(jni_fn!(self, GetStaticLongField)(self.0, class, id))
        }
    }

    /// Reads a static `java.util.concurrent.atomic.AtomicLong` field's value straight from its
    /// `value` field: no Java code runs.
    pub fn static_atomic_long_field(&self, class: jobject, name: &std::ffi::CStr) -> Option<i64> {
        // SAFETY: `class` is a valid class reference; the strings are NUL-terminated; the
        // object read is an AtomicLong (checked through its field lookup).
        unsafe {
            let id = jni_fn!(self, GetStaticFieldID)(
                self.0,
                class,
                name.as_ptr(),
                c"Ljava/util/concurrent/atomic/AtomicLong;".as_ptr(),
            );
            if id.is_null() {
                self.clear_exception();
                return None;
            }
            let obj = Local::new(self, jni_fn!(self, GetStaticObjectField)(self.0, class, id)).non_null()?;
            self.long_field(obj.raw(), c"value")
        }
    }
    /// Reads a boolean instance field by name; None if the field does not exist.
    pub fn bool_field(&self, obj: jobject, name: &std::ffi::CStr) -> Option<bool> {
        // SAFETY: `obj` is a valid reference; the field id comes from its own class.
        unsafe {
            let id = jni_fn!(self, GetFieldID)(self.0, self.object_class(obj).raw(), name.as_ptr(), c"Z".as_ptr());
            if id.is_null() {
                self.clear_exception();
                return None;
            }
            Some(jni_fn!(self, GetBooleanField)(self.0, obj, id) != 0)
        }
    }

    /// Reads a long instance field by name; None if the field does not exist.
    pub fn long_field(&self, obj: jobject, name: &std::ffi::CStr) -> Option<i64> {
        // SAFETY: as for `bool_field`.
        unsafe {
            let id = jni_fn!(self, GetFieldID)(self.0, self.object_class(obj).raw(), name.as_ptr(), c"J".as_ptr());
            if id.is_null() {
                self.clear_exception();
                return None;
            }
            Some(jni_fn!(self, GetLongField)(self.0, obj, id))
        }
    }

    /// Reads an object instance field by name and signature (local reference, or null).
    pub fn object_field(&self, obj: jobject, name: &std::ffi::CStr, sig: &std::ffi::CStr) -> Local<'_> {
        // SAFETY: as for `bool_field`.
        unsafe {
            let id = jni_fn!(self, GetFieldID)(self.0, self.object_class(obj).raw(), name.as_ptr(), sig.as_ptr());
            if id.is_null() {
                self.clear_exception();
                return Local::null(self);
            }
            Local::new(self, jni_fn!(self, GetObjectField)(self.0, obj, id))
        }
    }

    /// Calls `getURLs()` on a URLClassLoader and returns the URLs as strings.
    pub fn url_class_loader_urls(&self, loader: jobject) -> Option<Vec<String>> {
        let arr = self.call_object_method(loader, "getURLs", "()[Ljava/net/URL;").non_null()?;
        // One URL at a time: each element's reference is freed before the next is read.
        let mut out = Vec::new();
        // SAFETY: `arr` is a URL[] local reference.
        let n = unsafe { jni_fn!(self, GetArrayLength)(self.0, arr.raw()) };
        for i in 0..n {
            // SAFETY: as above, `i` is in bounds.
            let u = Local::new(self, unsafe { jni_fn!(self, GetObjectArrayElement)(self.0, arr.raw(), i) });
            out.extend(self.call_string_method(u.raw(), "toString"));
        }
        Some(out)
    }

    /// Reads an object field (instance, or static when `obj` is a class) by JVMTI field id.
    /// The caller checked that the field is object-typed and static or not as `is_static` says.
    pub fn field_by_id(&self, obj: jobject, field: jni::sys::jfieldID, is_static: bool) -> Local<'_> {
        // SAFETY: `field` was read from `obj`'s class (or a superclass) through JVMTI, which
        // hands out the same field ids as JNI, and its type is an object type.
        Local::new(self, unsafe {
            if is_static {
                jni_fn!(self, GetStaticObjectField)(self.0, obj, field)
            } else {
                jni_fn!(self, GetObjectField)(self.0, obj, field)
            }
        })
    }

    /// Element `index` of an object array (local reference), or null when out of bounds.
    pub fn array_element(&self, array: jobject, index: i32) -> Local<'_> {
        // SAFETY: `array` is an object array reference; the index is checked first.
        unsafe {
            if index < 0 || index >= jni_fn!(self, GetArrayLength)(self.0, array) {
                return Local::null(self);
            }
            let e = Local::new(self, jni_fn!(self, GetObjectArrayElement)(self.0, array, index));
            self.clear_exception();
            e
        }
    }

    /// A new `Object[]` holding `elements` (local reference), or null.
    pub fn object_array_of(&self, elements: &[jobject]) -> Local<'_> {
        let object = self.find_class(c"java/lang/Object");
        if object.is_null() {
            return object;
        }
        // SAFETY: plain JNI allocation and stores of valid references.
        unsafe {
            let arr = Local::new(self, jni_fn!(self, NewObjectArray)(self.0, elements.len() as i32, object.raw(), std::ptr::null_mut()));
            if arr.is_null() {
                self.clear_exception();
                return arr;
            }
            for (i, &e) in elements.iter().enumerate() {
                jni_fn!(self, SetObjectArrayElement)(self.0, arr.raw(), i as i32, e);
            }
            arr
        }
    }

    /// A new `long[]` holding `values` (local reference), or null.
    pub fn long_array_of(&self, values: &[i64]) -> Local<'_> {
        // SAFETY: the region written is the array's whole length.
        unsafe {
            let arr = Local::new(self, jni_fn!(self, NewLongArray)(self.0, values.len() as i32));
            if arr.is_null() {
                self.clear_exception();
                return arr;
            }
            jni_fn!(self, SetLongArrayRegion)(self.0, arr.raw(), 0, values.len() as i32, values.as_ptr());
            arr
        }
    }
}
