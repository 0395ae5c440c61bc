//! The finding on sampled native allocations: a site outside the JDK's own libraries whose
//! estimated live bytes grew across the sampler's ticks. Reads `report.native_sampling` only.

use leakagent_report::model::{Finding, Report, Severity, Subject};
use leakagent_report::units::mib;

/// A site is reported when it holds at least this much (estimated) live memory...
pub const MIN_LIVE_BYTES: u64 = 16 << 20;
/// ...and critical from this much.
pub const CRITICAL_BYTES: u64 = 512 << 20;

pub fn derive(report: &Report, out: &mut Vec<Finding>) {
    let n = &report.native_sampling;
    for s in &n.sites {
        // The JVM's and the JDK's own libraries (JIT, class loading, GC, zlib, NIO) are not
        // something a user fixes; zlib and direct memory have their own ledgers.
        if s.jdk_library || !s.growing || s.estimated_live_bytes < MIN_LIVE_BYTES || ledgered(&s.stack) {
            continue;
        }
        let function = match (&s.library, &s.function) {
            (Some(l), Some(f)) => format!("{f} in {l}"),
            (Some(l), None) => format!("code in {l}"),
            _ => "unknown native code".to_string(),
        };
        let caller = s.java_frame.clone().unwrap_or_else(|| "a thread with no Java frames".into());
        let first = s.live_series.first().copied().unwrap_or(0);
        out.push(Finding {
            severity: if s.estimated_live_bytes >= CRITICAL_BYTES { Severity::Critical } else { Severity::Warning },
            kind: "native_malloc_growth".into(),
            summary: format!(
                "Native memory allocated by {function}, called from {caller}, keeps growing: about {} live now \
                 (from {} at the first sample of the series; {} of {} sampled blocks still live, estimated from \
                 sampling every {} bytes on average)",
                mib(s.estimated_live_bytes),
                mib(first),
                s.live_samples,
                s.samples,
                n.interval_bytes
            ),
            fix: format!(
                "Find where what {function} allocates should be freed: its Java caller {caller} (or the \
                 native library's close/release call it offers) is called without the matching free, or a \
                 cache behind it has no bound. The stack is in native_sampling.sites."
            ),
            subject: Subject { site: Some(caller), ..Subject::default() },
        });
    }
}

/// A zlib stream's or an `Unsafe` block's allocation (the system's libz.so serves the JDK's
/// Inflaters on many distributions): the zlib and direct ledgers judge those.
pub fn ledgered(stack: &[String]) -> bool {
    stack.iter().any(|f| {
        f.starts_with("java.util.zip.Inflater.") || f.starts_with("java.util.zip.Deflater.") || f.contains("Unsafe.allocateMemory")
            || f.contains("Unsafe.reallocateMemory")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakagent_report::model::{test_report, SampledSite};

    fn site(jdk: bool, live: u64, growing: bool) -> SampledSite {
        SampledSite {
            stack: vec!["libnativecache.so!Java_NativeCache_put".into(), "app.NativeCache.put(Native Method)".into()],
            library: Some("libnativecache.so".into()),
            function: Some("Java_NativeCache_put".into()),
            java_frame: Some("app.NativeCache.put(Native Method)".into()),
            jdk_library: jdk,
            estimated_live_bytes: live,
            live_series: vec![0, live / 3, live / 2, live],
            growing,
            ..SampledSite::default()
        }
    }

    #[test]
    fn a_growing_application_site_is_named_with_its_function_and_java_frame() {
        let mut r = test_report();
        let mut zlib = site(false, 64 << 20, true);
        zlib.stack = vec!["libz.so.1!inflateInit2_".into(), "java.util.zip.Inflater.init(Native Method)".into()];
        r.native_sampling.sites =
            vec![site(false, 64 << 20, true), site(true, 900 << 20, true), site(false, 64 << 20, false), site(false, 4 << 20, true), zlib];
        let mut out = Vec::new();
        derive(&r, &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert!(out[0].summary.contains("Java_NativeCache_put in libnativecache.so"), "{}", out[0].summary);
        assert!(out[0].summary.contains("app.NativeCache.put(Native Method)"));
        assert_eq!(out[0].subject.site.as_deref(), Some("app.NativeCache.put(Native Method)"));
    }
}
