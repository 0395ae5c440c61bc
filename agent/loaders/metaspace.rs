//! What each live class loader holds in metaspace, from HotSpot's own accounting: the
//! `VM.classloader_stats` diagnostic command lists every ClassLoaderData with the chunks and
//! blocks its metaspace holds. It runs once per report, from the report thread, through the
//! DiagnosticCommand MBean's implementation (one VM operation: a short safepoint pause).
//!
//! The command names loaders by the address of their ClassLoaderData (CLD) and the class of the
//! loader object. The agent's loaders are tied to rows, in this order: by the loader object's
//! address, read before and after the command, which the CLD's handle holds (not under ZGC,
//! whose handles hold colored pointers, nor for a loader a GC moved meanwhile); the rest through
//! a live class each defined (its `Klass*` names its CLD: metadata, which no collector moves or
//! colors); the JDK's application and platform loaders with no live class by their class, of
//! which each is the only instance. Anything else stays unmatched.
//! Where the command cannot be run or read, `estimate` gives each loader an estimate.

use crate::ffi::jni::{Env, Local};
use crate::ffi::jvmti::Jvmti;
use crate::ffi::metaspace as ffi;
use crate::loaders::tags::{tag_kind, tag_loader, TAG_CLASS};
use crate::loaders::tracker::ClassTracker;
use jni::objects::{JObject, JValue};
use leakagent_report::model::{ClassLoaders, LoaderRole, MetaspaceSource};
use std::collections::{HashMap, HashSet};
use std::time::Instant;

mod estimate;

/// One ClassLoaderData of the command's table, hidden classes of its loader added.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Row {
    /// 0 for the bootstrap loader (its loader class column is null).
    pub loader_klass: u64,
    pub cld: u64,
    pub classes: u64,
    pub chunk_bytes: u64,
    pub block_bytes: u64,
}

/// Fills `metaspace_bytes` of every live loader that can be matched, and `cl.metaspace`.
/// Where HotSpot's accounting cannot be read, each loader gets an estimate (estimate.rs).
pub fn fill(jvmti: &Jvmti, env: &Env, tracker: &ClassTracker, cl: &mut ClassLoaders) {
    let frame = cl.loaders.len().min(1 << 20) as i32 + 64;
    let source = env.with_local_frame(frame, || measure(jvmti, env, tracker, cl));
    let source = if source.method == "none" { estimate::fill(jvmti, env, tracker, cl, source) } else { source };
    cl.metaspace = Some(source);
}

fn measure(jvmti: &Jvmti, env: &Env, tracker: &ClassTracker, cl: &mut ClassLoaders) -> MetaspaceSource {
    let failed = |why: String| MetaspaceSource { method: "none".into(), error: Some(why), ..MetaspaceSource::default() };
    if let Err(why) = ffi::available() {
        return failed(format!("HotSpot's ClassLoaderData cannot be read: {why}"));
    }
    let alive = tracker.alive_loaders(env);
    let before: Vec<Option<usize>> = alive.iter().map(|(_, l)| ffi::oop_of(l.raw())).collect();
    let t0 = Instant::now();
    // Its own frame: the command's few local references come on top of one per live loader.
    let text = match env.with_local_frame(32, || classloader_stats(env)) {
        Ok(t) => t,
        Err(why) => return failed(why),
    };
    let ms = t0.elapsed().as_millis() as u64;
    let feature = env.system_property("java.specification.version").and_then(|v| v.parse::<u32>().ok());
    let scale = words_scale(feature);
    let rows: Vec<Row> = parse(&text)
        .into_iter()
        .map(|r| Row { chunk_bytes: r.chunk_bytes * scale, block_bytes: r.block_bytes * scale, ..r })
        .collect();
    let mut owner: HashMap<u64, u32> = HashMap::new();
    by_oops(&alive, before, &rows, &mut owner);
    by_classes(jvmti, env, tracker, &alive, &rows, &mut owner);
    let builtin: HashSet<u32> =
        cl.loaders.iter().filter(|l| l.alive && matches!(l.role, LoaderRole::Application | LoaderRole::Platform)).map(|l| l.id).collect();
    by_singleton_class(env, &alive, &builtin, &rows, &mut owner);
    let mut sizes: HashMap<u32, (u64, u64)> = HashMap::new();
    for r in &rows {
        if let Some(id) = owner.get(&r.cld) {
            let e = sizes.entry(*id).or_default();
            e.0 += r.chunk_bytes;
            e.1 += r.block_bytes;
        }
    }
    let (mut matched, mut unmatched) = (0, 0);
    for l in cl.loaders.iter_mut().filter(|l| l.alive) {
        match sizes.get(&l.id) {
            Some(&(chunk, block)) => {
                l.metaspace_bytes = Some(chunk);
                l.metaspace_used_bytes = Some(block);
                matched += 1;
            }
            None => unmatched += 1,
        }
    }
    MetaspaceSource {
        method: if scale == 1 { "VM.classloader_stats".into() } else { "VM.classloader_stats (words x 8, JDK-8302455)".into() },
        loaders_matched: matched,
        loaders_unmatched: unmatched,
        total_bytes: rows.iter().map(|r| r.chunk_bytes).sum(),
        ms,
        error: if rows.is_empty() {
            Some("VM.classloader_stats listed no class loader data".into())
        } else if unmatched > 0 {
            Some(unmatched_note(unmatched))
        } else {
            None
        },
    }
}

/// Rows the loader-oop route left (generational ZGC, a loader a GC moved meanwhile) tied
/// through a class each loader defined (tagged with its loader's id by the tracker): the class's
/// `Klass*` names its CLD, and the row must list the loader object's own class
/// (`loader_klass`) for the match to count. A CLD two loaders would claim is nobody's.
fn by_classes(jvmti: &Jvmti, env: &Env, tracker: &ClassTracker, alive: &[(u32, Local)], rows: &[Row], owner: &mut HashMap<u64, u32>) {
    let claimed: HashSet<u32> = owner.values().copied().collect();
    let loader_klass: HashMap<u32, usize> = alive
        .iter()
        .filter(|(id, _)| !claimed.contains(id))
        .filter_map(|(id, l)| Some((*id, ffi::klass_of(env.object_class(l.raw()).raw())?)))
        .collect();
    if loader_klass.is_empty() {
        return;
    }
    let row_klass: HashMap<u64, u64> =
        rows.iter().filter(|r| r.loader_klass != 0 && !owner.contains_key(&r.cld)).map(|r| (r.cld, r.loader_klass)).collect();
    let mut found: HashMap<u64, u32> = HashMap::new();
    let mut done: HashSet<u32> = HashSet::new();
    let mut clash: HashSet<u64> = HashSet::new();
    env.with_local_frame(tracker.local_capacity(), || {
        let Ok(classes) = jvmti.loaded_classes_in(env) else { return };
        for k in classes.into_iter().map(|k| Local::new(env, k)) {
            let Ok(tag) = jvmti.tag(k.raw()) else { continue };
            let id = tag_loader(tag);
            if tag_kind(tag) != TAG_CLASS || done.contains(&id) {
                continue;
            }
            let Some(&want) = loader_klass.get(&id) else { continue };
            // A hidden class's own CLD is not a row (its sizes are in its loader's row).
            let Some(cld) = ffi::klass_of(k.raw()).and_then(ffi::cld_of_klass).map(|c| c as u64) else { continue };
            if row_klass.get(&cld) != Some(&(want as u64)) {
                continue;
            }
            done.insert(id);
            if found.insert(cld, id).is_some_and(|other| other != id) {
                clash.insert(cld);
            }
            if done.len() == loader_klass.len() {
                break;
            }
        }
    });
    owner.extend(found.into_iter().filter(|(cld, _)| !clash.contains(cld)));
}

/// The JDK's application and platform loaders with no live class of their own (the platform
/// loader of a small application): each is the only instance of its class by construction, so
/// the one row whose loader is of that class is theirs.
fn by_singleton_class(env: &Env, alive: &[(u32, Local)], builtin: &HashSet<u32>, rows: &[Row], owner: &mut HashMap<u64, u32>) {
    let claimed: HashSet<u32> = owner.values().copied().collect();
    for (id, l) in alive.iter().filter(|(id, _)| builtin.contains(id) && !claimed.contains(id)) {
        let Some(klass) = ffi::klass_of(env.object_class(l.raw()).raw()).map(|k| k as u64) else { continue };
        let mut of_class = rows.iter().filter(|r| r.loader_klass == klass);
        if let (Some(r), None) = (of_class.next(), of_class.next()) {
            owner.entry(r.cld).or_insert(*id);
        }
    }
}

/// Rows tied by the loader object's address, the cheapest route (a few reads per row): an oop
/// read the same before and after the command is the loader's address throughout, compared
/// with the one the row's CLD holds. The bootstrap loader's row has no loader class.
fn by_oops(alive: &[(u32, Local)], before: Vec<Option<usize>>, rows: &[Row], owner: &mut HashMap<u64, u32>) {
    let mut by_oop: HashMap<usize, u32> = HashMap::new();
    for ((id, l), old) in alive.iter().zip(before) {
        if let Some(o) = old.filter(|&o| ffi::oop_of(l.raw()) == Some(o)) {
            by_oop.insert(o, *id);
        }
    }
    let claimed: HashSet<u32> = owner.values().copied().collect();
    for r in rows.iter().filter(|r| !owner.contains_key(&r.cld)).collect::<Vec<_>>() {
        let id = if r.loader_klass == 0 {
            Some(0)
        } else {
            ffi::cld_loader_words(r.cld as usize).iter().flatten().find_map(|w| by_oop.get(w).copied())
        };
        if let Some(id) = id.filter(|id| !claimed.contains(id)) {
            owner.insert(r.cld, id);
        }
    }
}

/// Why loaders were left without a size: only loaders with no live class of their own can be,
/// and ZGC (generational from JDK 23, or with -XX:+ZGenerational) keeps colored pointers in
/// the slots a ClassLoaderData's handle points at, which are not compared.
fn unmatched_note(unmatched: u32) -> String {
    let zgc = crate::memory::gc::known() == Some(crate::memory::gc::Collector::Z);
    format!(
        "{unmatched} live loader(s) with no live class of their own could not be tied to the JVM's class loader data{}",
        if zgc { " (ZGC keeps colored pointers there)" } else { " (unreadable, or moved by a GC meanwhile)" }
    )
}

/// JDK 16 to 20 (the metaspace of JEP 387, before JDK-8302455) print words where the table
/// says bytes; JDK 11 and 21+ print bytes.
fn words_scale(feature: Option<u32>) -> u64 {
    match feature {
        Some(16..=20) => std::mem::size_of::<usize>() as u64,
        _ => 1,
    }
}

/// The text of `VM.classloader_stats`, through `DiagnosticCommandImpl.executeDiagnosticCommand`
/// (JNI ignores Java access checks, and this needs no MBeanServer).
fn classloader_stats(env: &Env) -> Result<String, String> {
    let mut j = env.jni().ok_or("no JNIEnv")?;
    let r = (|| -> jni::errors::Result<Option<String>> {
        // Its native methods live in libmanagement_ext, which this class loads when initialised.
        j.get_static_method_id("com/sun/management/internal/PlatformMBeanProviderImpl", "<clinit>", "()V")
            .map(|_| ())
            .or_else(|_| j.exception_clear())?;
        let bean = j
            .call_static_method(
                "com/sun/management/internal/DiagnosticCommandImpl",
                "getDiagnosticCommandMBean",
                "()Lcom/sun/management/DiagnosticCommandMBean;",
                &[],
            )?
            .l()?;
        if bean.is_null() {
            return Ok(None);
        }
        let cmd = j.new_string("VM.classloader_stats")?;
        let out = j
            .call_method(&bean, "executeDiagnosticCommand", "(Ljava/lang/String;)Ljava/lang/String;", &[JValue::Object(&cmd)])?
            .l()?;
        let text = if out.is_null() { None } else { env.string(JObject::as_raw(&out)) };
        Ok(text)
    })();
    match r {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err("this JVM offers no DiagnosticCommand MBean".into()),
        Err(e) => {
            let why = env.take_exception_text().unwrap_or_else(|| e.to_string());
            Err(format!("VM.classloader_stats failed: {why}"))
        }
    }
}

/// Rows of the table: `ClassLoader Parent CLD* Classes ChunkSz BlockSz Type`, each possibly
/// followed by a line of its loader's hidden classes (`+ hidden classes`, JDK 11:
/// `+ unsafe anonymous classes`) with classes, chunk and block sizes only.
pub fn parse(text: &str) -> Vec<Row> {
    let hex = |s: &str| s.strip_prefix("0x").and_then(|h| u64::from_str_radix(h, 16).ok());
    let mut rows: Vec<Row> = Vec::new();
    for line in text.lines() {
        let t: Vec<&str> = line.split_whitespace().collect();
        if t.len() >= 6 && t[0].starts_with("0x") {
            let (Some(klass), Some(cld)) = (hex(t[0]), hex(t[2])) else { continue };
            let n: Vec<Option<u64>> = t[3..6].iter().map(|x| x.parse().ok()).collect();
            if let [Some(classes), Some(chunk), Some(block)] = n[..] {
                rows.push(Row { loader_klass: klass, cld, classes, chunk_bytes: chunk, block_bytes: block });
            }
        } else if t.len() >= 4 && t[3] == "+" && line.contains("classes") {
            let n: Vec<Option<u64>> = t[..3].iter().map(|x| x.parse().ok()).collect();
            if let ([Some(classes), Some(chunk), Some(block)], Some(last)) = (&n[..], rows.last_mut()) {
                last.classes += classes;
                last.chunk_bytes += chunk;
                last.block_bytes += block;
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    const JDK17: &str = "ClassLoader         Parent              CLD*               Classes   ChunkSz   BlockSz  Type
0x00007f996f07af08  0x00007f996f07d1e8  0x00007f99f011fca0    1241    879232    876679  jdk.internal.loader.ClassLoaders$AppClassLoader
0x0000000000000000  0x0000000000000000  0x00007f99f00dac30    1151    557056    225731  <boot class loader>
                                                                32     12288      7322   + hidden classes
Total = 2                                                     2424   1448576   1109732  
ChunkSz: Total size of all allocated metaspace chunks
";

    #[test]
    fn rows_carry_their_loaders_hidden_classes() {
        let rows = parse(JDK17);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], Row { loader_klass: 0x7f996f07af08, cld: 0x7f99f011fca0, classes: 1241, chunk_bytes: 879232, block_bytes: 876679 });
        assert_eq!(rows[1], Row { loader_klass: 0, cld: 0x7f99f00dac30, classes: 1183, chunk_bytes: 569344, block_bytes: 233053 });
    }

    #[test]
    fn jdk16_to_20_count_words() {
        assert_eq!((words_scale(Some(11)), words_scale(Some(17)), words_scale(Some(20)), words_scale(Some(21))), (1, 8, 8, 1));
    }

    #[test]
    fn jdk11s_anonymous_classes_line_counts_too() {
        let text = "0x0000000800010000  0x0000000000000000  0x00007f30dc2b7a30       3      6144      1416  a.B\n\
                    \x20                                                               2      2048      1000   + unsafe anonymous classes\n";
        assert_eq!(parse(text)[0].chunk_bytes, 8192);
        assert_eq!(parse(text)[0].classes, 5);
    }
}
