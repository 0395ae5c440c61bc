//! Generates the JVMTI bindings from the installed JDK's `jvmti.h`.
//! JNI types are not generated: they come from `jni::sys`, so one `jobject` type is used everywhere.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn jdk_home() -> Result<PathBuf, String> {
    if let Some(home) = env::var_os("JAVA_HOME") {
        let home = PathBuf::from(home);
        if home.join("include/jvmti.h").is_file() {
            return Ok(home);
        }
        return Err(format!(
            "JAVA_HOME={} has no include/jvmti.h: point JAVA_HOME at a JDK (not a JRE), e.g. /usr/lib/jvm/java-17-openjdk-amd64",
            home.display()
        ));
    }
    // The JDK that `javac` on PATH belongs to: <home>/bin/javac.
    let out = Command::new("sh")
        .args(["-c", "readlink -f \"$(command -v javac)\""])
        .output()
        .map_err(|e| format!("cannot run sh to locate javac: {e}"))?;
    let javac = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if javac.is_empty() {
        return Err("no JDK found: set JAVA_HOME or put javac on PATH (Debian: apt-get install -y openjdk-17-jdk-headless)".into());
    }
    let home = Path::new(&javac)
        .parent()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .ok_or_else(|| format!("cannot derive the JDK home from {javac}"))?;
    if home.join("include/jvmti.h").is_file() {
        Ok(home)
    } else {
        Err(format!("the JDK at {} has no include/jvmti.h", home.display()))
    }
}

fn main() {
    println!("cargo:rerun-if-env-changed=JAVA_HOME");
    println!("cargo:rerun-if-changed=build.rs");
    let home = match jdk_home() {
        Ok(h) => h,
        Err(e) => panic!("leakagent build: {e}"),
    };
    let include = home.join("include");
    println!("cargo:rerun-if-changed={}", include.join("jvmti.h").display());

    // Everything jvmti.h takes from jni.h is blocklisted and imported from jni::sys instead.
    // (`__gnuc_va_list` appears only with zig's libc headers, in scripts/release.sh's build.)
    let jni_types = [
        "jint", "jlong", "jbyte", "jboolean", "jchar", "jshort", "jfloat", "jdouble", "jsize",
        "jobject", "jclass", "jstring", "jthrowable", "jweak", "jarray", "jvalue", "jfieldID",
        "jmethodID", "_jobject", "_jfieldID", "_jmethodID", "JNIEnv", "JNIEnv_", "JavaVM",
        "JavaVM_", "JNINativeInterface_", "JNIInvokeInterface_", "JNINativeMethod", "va_list",
        "__va_list_tag", "__builtin_va_list", "__gnuc_va_list", "jobjectRefType",
    ];
    let mut builder = bindgen::Builder::default()
        .header(include.join("jvmti.h").to_string_lossy())
        .clang_arg(format!("-I{}", include.display()))
        .clang_arg(format!("-I{}", include.join("linux").display()))
        .allowlist_type("jvmti.*|_jvmti.*|jthread|jthreadGroup|jlocation|jrawMonitorID|jniNativeInterface")
        .allowlist_var("JVMTI_.*")
        .raw_line("#[allow(unused_imports)] use jni::sys::*;")
        .derive_default(true)
        .layout_tests(false)
        .generate_comments(false)
        .prepend_enum_name(false)
        .default_enum_style(bindgen::EnumVariation::Consts);
    for t in jni_types {
        builder = builder.blocklist_type(t);
    }
    let bindings = builder
        .generate()
        .unwrap_or_else(|e| panic!("leakagent build: bindgen failed on {}: {e} (is libclang installed? apt-get install -y libclang-dev)", include.display()));
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("jvmti_bindings.rs");
    bindings.write_to_file(&out).expect("write jvmti bindings");
}
