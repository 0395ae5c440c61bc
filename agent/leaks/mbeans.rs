//! Asking the platform MBeanServer which MBeans a class loader registered, to name them in a
//! chain that runs through JMX.

use crate::loaders::tags::{tag_kind, tag_loader, TAG_LOADER};
use crate::ffi::jni::{Env, Local};
use crate::ffi::jvmti::Jvmti;
use std::collections::HashMap;

/// The registered MBeans of the platform MBeanServer by the id of their class loader
/// (`MBeanServer.getClassLoaderFor`). Asked only when a chain runs through JMX, so the server
/// exists already.
pub fn by_loader(jvmti: &Jvmti, env: &Env) -> HashMap<u32, Vec<String>> {
    let mut out: HashMap<u32, Vec<String>> = HashMap::new();
    let server = env.call_static_object_method(
        "java/lang/management/ManagementFactory",
        "getPlatformMBeanServer",
        "()Ljavax/management/MBeanServer;",
    );
    if server.is_null() {
        return out;
    }
    let null = std::ptr::null_mut();
    let set = env.call_object_method_with(
        server.raw(),
        "queryNames",
        "(Ljavax/management/ObjectName;Ljavax/management/QueryExp;)Ljava/util/Set;",
        &[null, null],
    );
    let array = if set.is_null() { Local::null(env) } else { env.call_object_method(set.raw(), "toArray", "()[Ljava/lang/Object;") };
    for name in env.object_array(array.raw()) {
        let loader = env.call_object_method_with(
            server.raw(),
            "getClassLoaderFor",
            "(Ljavax/management/ObjectName;)Ljava/lang/ClassLoader;",
            &[name.raw()],
        );
        if !loader.is_null() {
            if let (Ok(tag), Some(text)) = (jvmti.tag(loader.raw()), env.call_string_method(name.raw(), "toString")) {
                if tag_kind(tag) == TAG_LOADER {
                    out.entry(tag_loader(tag)).or_default().push(text);
                }
            }
        }
    }
    out
}

