//! The JVM's own memory numbers, read through the platform MXBeans with JNI: heap, metaspace,
//! class space and code cache pools, the direct and mapped buffer pools, Java threads, HotSpot
//! flags (HotSpotDiagnosticMXBean) and, when NMT is on, NMT's summary through the
//! DiagnosticCommand MBean. Runs on the report and sampler threads only, never in callbacks.
//!
//! Only the platform MBean *server* is avoided unless NMT is on: creating it registers every
//! platform MBean, which an agent should not do to an application uninvited.

use crate::ffi::jni::Env;
use leakagent_report::model::{JvmMemory, Pool};
use jni::objects::{GlobalRef, JObject, JString, JValue};
use jni::JNIEnv;
use std::collections::BTreeMap;

/// The HotSpot flags the memory section reads.
pub const FLAGS: &[&str] = &[
    "MaxHeapSize",
    "CompressedClassSpaceSize",
    "UseCompressedClassPointers",
    "ReservedCodeCacheSize",
    "MaxMetaspaceSize",
    // Only up to JDK 15, whose metaspace nodes it sizes (regions/metaspace.rs).
    "InitialBootClassLoaderMetaspaceSize",
    // G1's global mark stack, which the first of those nodes merges with.
    "MarkStackSize",
    // ZGC's mark stack space: its reservation's size (JDK 15+), or that JDK 11-14 has a 1 TiB one.
    "ZMarkStackSpaceLimit",
    "ZMarkStacksMax",
    "MaxDirectMemorySize",
    "ThreadStackSize",
    "NativeMemoryTracking",
    "TrimNativeHeapInterval",
    "UseG1GC",
    "UseParallelGC",
    "UseSerialGC",
    "UseZGC",
    "UseShenandoahGC",
];

/// Runs `f`; on a Java exception or JNI error, clears the exception and returns None.
fn java<'l, T>(j: &mut JNIEnv<'l>, f: impl FnOnce(&mut JNIEnv<'l>) -> jni::errors::Result<T>) -> Option<T> {
    match f(j) {
        Ok(v) => Some(v),
        Err(_) => {
            if j.exception_check().unwrap_or(false) {
                let _ = j.exception_clear();
            }
            None
        }
    }
}

fn string(j: &mut JNIEnv, o: JObject) -> Option<String> {
    if o.is_null() {
        return None;
    }
    let s = JString::from(o);
    java(j, |j| j.get_string(&s).map(String::from))
}

fn mf<'l>(j: &mut JNIEnv<'l>, name: &str, sig: &str) -> Option<JObject<'l>> {
    java(j, |j| j.call_static_method("java/lang/management/ManagementFactory", name, sig, &[])?.l())
        .filter(|o| !o.is_null())
}

fn long(j: &mut JNIEnv, o: &JObject, name: &str) -> Option<i64> {
    java(j, |j| j.call_method(o, name, "()J", &[])?.j())
}

/// (used, committed, max) of a `java.lang.management.MemoryUsage`.
fn usage(j: &mut JNIEnv, u: &JObject) -> Option<(u64, u64, Option<u64>)> {
    if u.is_null() {
        return None;
    }
    let used = long(j, u, "getUsed")?;
    let committed = long(j, u, "getCommitted")?;
    let max = long(j, u, "getMax")?;
    Some((used.max(0) as u64, committed.max(0) as u64, (max >= 0).then_some(max as u64)))
}

/// Platform MXBeans of an interface, e.g. every `BufferPoolMXBean`.
fn platform_beans<'l>(j: &mut JNIEnv<'l>, interface: &str) -> Vec<JObject<'l>> {
    let Some(class) = java(j, |j| j.find_class(interface)) else { return Vec::new() };
    let Some(list) = java(j, |j| {
        j.call_static_method(
            "java/lang/management/ManagementFactory",
            "getPlatformMXBeans",
            "(Ljava/lang/Class;)Ljava/util/List;",
            &[JValue::Object(&class)],
        )?
        .l()
    }) else {
        return Vec::new();
    };
    list_items(j, &list)
}

fn list_items<'l>(j: &mut JNIEnv<'l>, list: &JObject) -> Vec<JObject<'l>> {
    if list.is_null() {
        return Vec::new();
    }
    let n = java(j, |j| j.call_method(list, "size", "()I", &[])?.i()).unwrap_or(0);
    (0..n.max(0))
        .filter_map(|i| java(j, |j| j.call_method(list, "get", "(I)Ljava/lang/Object;", &[JValue::Int(i)])?.l()))
        .filter(|o| !o.is_null())
        .collect()
}

fn call_string(j: &mut JNIEnv, o: &JObject, name: &str) -> Option<String> {
    let s = java(j, |j| j.call_method(o, name, "()Ljava/lang/String;", &[])?.l())?;
    string(j, s)
}

/// Everything the report's `memory.jvm` holds except the flags-derived fields.
pub fn read(env: &Env) -> JvmMemory {
    env.with_local_frame(1024, || read_inner(env)).unwrap_or_default()
}

fn read_inner(env: &Env) -> Option<JvmMemory> {
    let mut j = env.jni()?;
    let j = &mut j;
    let mut out = JvmMemory::default();
    if let Some(mx) = mf(j, "getMemoryMXBean", "()Ljava/lang/management/MemoryMXBean;") {
        let u = java(j, |j| j.call_method(&mx, "getHeapMemoryUsage", "()Ljava/lang/management/MemoryUsage;", &[])?.l());
        if let Some((used, committed, max)) = u.and_then(|u| usage(j, &u)) {
            out.heap_used_bytes = Some(used);
            out.heap_committed_bytes = Some(committed);
            out.heap_max_bytes = max;
        }
    }
    if let Some(list) = mf(j, "getMemoryPoolMXBeans", "()Ljava/util/List;") {
        for pool in list_items(j, &list) {
            let Some(name) = call_string(j, &pool, "getName") else { continue };
            let kind = java(j, |j| j.call_method(&pool, "getType", "()Ljava/lang/management/MemoryType;", &[])?.l())
                .and_then(|t| call_string(j, &t, "name"))
                .unwrap_or_default();
            let u = java(j, |j| j.call_method(&pool, "getUsage", "()Ljava/lang/management/MemoryUsage;", &[])?.l());
            let Some((used, committed, max)) = u.and_then(|u| usage(j, &u)) else { continue };
            out.pools.push(Pool {
                name,
                kind: if kind == "HEAP" { "heap" } else { "non_heap" }.into(),
                used_bytes: used,
                committed_bytes: committed,
                max_bytes: max,
            });
        }
    }
    let sum = |pred: &dyn Fn(&str) -> bool, f: &dyn Fn(&Pool) -> u64| -> Option<u64> {
        let v: Vec<u64> = out.pools.iter().filter(|p| pred(&p.name)).map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum())
    };
    let meta = |n: &str| n == "Metaspace";
    let class = |n: &str| n == "Compressed Class Space";
    let code = |n: &str| n.starts_with("CodeHeap") || n == "Code Cache" || n == "CodeCache";
    out.metaspace_used_bytes = sum(&meta, &|p| p.used_bytes);
    out.metaspace_committed_bytes = sum(&meta, &|p| p.committed_bytes);
    out.class_space_used_bytes = sum(&class, &|p| p.used_bytes);
    out.class_space_committed_bytes = sum(&class, &|p| p.committed_bytes);
    out.code_cache_used_bytes = sum(&code, &|p| p.used_bytes);
    out.code_cache_committed_bytes = sum(&code, &|p| p.committed_bytes);

    for bp in platform_beans(j, "java/lang/management/BufferPoolMXBean") {
        let name = call_string(j, &bp, "getName").unwrap_or_default();
        let count = long(j, &bp, "getCount").map(|v| v.max(0) as u64);
        let used = long(j, &bp, "getMemoryUsed").map(|v| v.max(0) as u64);
        let capacity = long(j, &bp, "getTotalCapacity").map(|v| v.max(0) as u64);
        match name.as_str() {
            "direct" => {
                out.direct_buffers = count;
                out.direct_used_bytes = used;
                out.direct_capacity_bytes = capacity;
            }
            "mapped" => {
                out.mapped_buffers = count;
                out.mapped_capacity_bytes = capacity;
            }
            _ => {}
        }
    }
    if let Some(t) = mf(j, "getThreadMXBean", "()Ljava/lang/management/ThreadMXBean;") {
        out.java_threads = java(j, |j| j.call_method(&t, "getThreadCount", "()I", &[])?.i()).map(|n| n.max(0) as u64);
    }
    Some(out)
}

/// HotSpot flags by name (absent when this JVM has no such flag).
pub fn flags(env: &Env, names: &[&str]) -> BTreeMap<String, String> {
    env.with_local_frame(256, || {
        let mut out = BTreeMap::new();
        let Some(mut j) = env.jni() else { return out };
        let j = &mut j;
        let Some(bean) = platform_bean(j, "com/sun/management/HotSpotDiagnosticMXBean") else { return out };
        for name in names {
            let Some(jname) = java(j, |j| j.new_string(*name)) else { continue };
            let opt = java(j, |j| {
                j.call_method(&bean, "getVMOption", "(Ljava/lang/String;)Lcom/sun/management/VMOption;", &[JValue::Object(&jname)])?
                    .l()
            });
            if let Some(v) = opt.filter(|o| !o.is_null()).and_then(|o| call_string(j, &o, "getValue")) {
                out.insert(name.to_string(), v);
            }
        }
        out
    })
}

fn platform_bean<'l>(j: &mut JNIEnv<'l>, interface: &str) -> Option<JObject<'l>> {
    let class = java(j, |j| j.find_class(interface))?;
    java(j, |j| {
        j.call_static_method(
            "java/lang/management/ManagementFactory",
            "getPlatformMXBean",
            "(Ljava/lang/Class;)Ljava/lang/management/PlatformManagedObject;",
            &[JValue::Object(&class)],
        )?
        .l()
    })
    .filter(|o| !o.is_null())
}

/// Runs a diagnostic command (e.g. `vmNativeMemory` with `summary`) through the
/// DiagnosticCommand MBean and returns its text.
pub fn diagnostic_command(env: &Env, operation: &str, args: &[&str]) -> Option<String> {
    env.with_local_frame(256, || {
        let mut j = env.jni()?;
        let j = &mut j;
        let server = mf(j, "getPlatformMBeanServer", "()Ljavax/management/MBeanServer;")?;
        let on_name = java(j, |j| j.new_string("com.sun.management:type=DiagnosticCommand"))?;
        let on = java(j, |j| j.new_object("javax/management/ObjectName", "(Ljava/lang/String;)V", &[JValue::Object(&on_name)]))?;
        let jargs = java(j, |j| j.new_object_array(args.len() as i32, "java/lang/String", JObject::null()))?;
        for (i, a) in args.iter().enumerate() {
            let s = java(j, |j| j.new_string(*a))?;
            java(j, |j| j.set_object_array_element(&jargs, i as i32, &s))?;
        }
        let params = java(j, |j| j.new_object_array(1, "java/lang/Object", &jargs))?;
        let sig_elem = java(j, |j| j.new_string("[Ljava.lang.String;"))?;
        let sig = java(j, |j| j.new_object_array(1, "java/lang/String", &sig_elem))?;
        let op = java(j, |j| j.new_string(operation))?;
        let r = java(j, |j| {
            j.call_method(
                &server,
                "invoke",
                "(Ljavax/management/ObjectName;Ljava/lang/String;[Ljava/lang/Object;[Ljava/lang/String;)Ljava/lang/Object;",
                &[JValue::Object(&on), JValue::Object(&op), JValue::Object(&params), JValue::Object(&sig)],
            )?
            .l()
        })?;
        string(j, r)
    })
}

/// What the sampler reads every period, with the MXBeans looked up once.
pub struct SamplerBeans {
    memory: Option<GlobalRef>,
    direct: Option<GlobalRef>,
}

impl SamplerBeans {
    pub fn new(env: &Env) -> SamplerBeans {
        env.with_local_frame(256, || {
            let Some(mut j) = env.jni() else { return SamplerBeans { memory: None, direct: None } };
            let j = &mut j;
            let memory = mf(j, "getMemoryMXBean", "()Ljava/lang/management/MemoryMXBean;")
                .and_then(|o| java(j, |j| j.new_global_ref(o)));
            let mut direct = None;
            for bp in platform_beans(j, "java/lang/management/BufferPoolMXBean") {
                if call_string(j, &bp, "getName").as_deref() == Some("direct") {
                    direct = java(j, |j| j.new_global_ref(bp));
                    break;
                }
            }
            SamplerBeans { memory, direct }
        })
    }

    /// (heap used, direct buffer pool bytes).
    pub fn read(&self, env: &Env) -> (Option<u64>, Option<u64>) {
        env.with_local_frame(32, || {
            let Some(mut j) = env.jni() else { return (None, None) };
            let j = &mut j;
            let heap = self.memory.as_ref().and_then(|m| {
                let u = java(j, |j| j.call_method(m, "getHeapMemoryUsage", "()Ljava/lang/management/MemoryUsage;", &[])?.l())?;
                usage(j, &u).map(|(used, _, _)| used)
            });
            let direct = self.direct.as_ref().and_then(|d| long(j, d, "getMemoryUsed")).map(|v| v.max(0) as u64);
            (heap, direct)
        })
    }
}

/// The collectors' total collection time (`GarbageCollectorMXBean.getCollectionTime`, ms), with
/// the beans looked up once: the direct exhaustion check's measure of GC pauses. ZGC's and
/// Shenandoah's "Cycles" beans time their concurrent cycles, while the application runs: left out
/// (their "Pauses" beans count).
pub struct GcTime {
    beans: Vec<GlobalRef>,
}

impl GcTime {
    pub fn new(env: &Env) -> GcTime {
        let beans = env.with_local_frame(64, || {
            let Some(mut j) = env.jni() else { return Vec::new() };
            let j = &mut j;
            let list = mf(j, "getGarbageCollectorMXBeans", "()Ljava/util/List;");
            let mut pauses = Vec::new();
            for b in list.map(|l| list_items(j, &l)).unwrap_or_default() {
                if !call_string(j, &b, "getName").is_some_and(|n| n.ends_with(" Cycles")) {
                    pauses.extend(java(j, |j| j.new_global_ref(b)));
                }
            }
            pauses
        });
        GcTime { beans }
    }

    pub fn read(&self, env: &Env) -> Option<u64> {
        env.with_local_frame(16, || {
            let mut j = env.jni()?;
            self.beans.iter().map(|b| long(&mut j, b, "getCollectionTime").map(|t| t.max(0) as u64)).sum()
        })
    }
}
