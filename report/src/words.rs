//! Small phrase helpers the renderers and the agent's findings share, so a count reads "1 class"
//! and "an Inflater" everywhere, and a native site is named the same way in the text, the HTML
//! page and the agent's findings.

use crate::model::{LeakSuspect, Loader, NativeSampling};
use std::collections::BTreeMap;

/// `n` and the noun in the number `n` takes: `count(1, "class", "classes")` is "1 class".
pub fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The indefinite article for `word`: "an Inflater", "a Deflater".
pub fn article(word: &str) -> &'static str {
    match word.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('a' | 'e' | 'i' | 'o' | 'u') => "an",
        _ => "a",
    }
}

/// Where a native site is, for people: its application frame, else the frame below the JDK's
/// allocation frames (also used by the HTML page).
pub fn site_place(app: &Option<String>, stack: &[String]) -> String {
    app.clone().or_else(|| stack.get(2).or(stack.first()).cloned()).unwrap_or_default()
}

/// Labels for a table of sites: each site's place, and where several sites share a place, the
/// first frame where their stacks part (`... via X`), or their id when the stacks kept are the same.
pub fn site_labels(sites: &[(u32, &Option<String>, &[String])]) -> Vec<String> {
    let base: Vec<String> = sites.iter().map(|(_, a, s)| site_place(a, s)).collect();
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, b) in base.iter().enumerate() {
        groups.entry(b.as_str()).or_default().push(i);
    }
    let mut out = base.clone();
    for idx in groups.values().filter(|g| g.len() > 1) {
        for &i in idx {
            let stack = sites[i].2;
            let deepest = idx.iter().map(|&j| sites[j].2.len()).max().unwrap_or(0);
            let parts = (0..deepest).find(|&d| idx.iter().any(|&j| j != i && sites[j].2.get(d) != stack.get(d)));
            out[i] = match parts.and_then(|d| stack.get(d)).filter(|f| **f != base[i]) {
                Some(frame) => format!("{} via {frame}", base[i]),
                None => format!("{} [site {}]", base[i], sites[i].0),
            };
        }
    }
    // Sites whose first differing frame is the same (three call paths, two through one caller).
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for l in &out {
        *seen.entry(l.clone()).or_default() += 1;
    }
    for (i, l) in out.iter_mut().enumerate() {
        if seen[l.as_str()] > 1 {
            l.push_str(&format!(" [site {}]", sites[i].0));
        }
    }
    out
}

/// Why a suspect should be dead, in words: `superseded` says by which loader.
pub fn reasons_text(reasons: &[crate::model::SuspectReason], superseded_by: Option<u32>) -> String {
    use crate::model::SuspectReason;
    let words: Vec<String> = reasons
        .iter()
        .map(|r| match (r, superseded_by) {
            (SuspectReason::Superseded, Some(n)) => format!("superseded by #{n}"),
            (SuspectReason::Growth, _) => "one of a growing number of loaders of its kind".to_string(),
            _ => r.as_str().replace('_', " "),
        })
        .collect();
    words.join(", ")
}

/// A sampled native site in one line: `library!function from Java frame`.
pub fn sampled_label(s: &crate::model::SampledSite) -> String {
    let place = match (&s.library, &s.function) {
        (Some(l), Some(f)) => format!("{l}!{f}"),
        (Some(l), None) => format!("{l}!?"),
        _ => s.stack.first().cloned().unwrap_or_else(|| "?".into()),
    };
    match &s.java_frame {
        Some(j) => format!("{place} from {j}"),
        None => format!("{place}{} (no Java frames)", native_callers(s)),
    }
}

/// " ← AllocateHeap ← G1ConcurrentMark::G1ConcurrentMark": without a Java frame the allocating
/// function alone (the JVM's `os::malloc`) would make its sites read alike; the next two native
/// frames tell them apart (their library left out when it is the allocating one).
fn native_callers(s: &crate::model::SampledSite) -> String {
    let own = s.library.as_deref().map(|l| format!("{l}!"));
    s.stack
        .iter()
        .skip(1)
        .take_while(|f| f.contains('!') && !f.starts_with('<'))
        .take(2)
        .map(|f| format!(" ← {}", own.as_deref().and_then(|o| f.strip_prefix(o)).unwrap_or(f)))
        .collect()
}

/// "one sample per 2048 KiB on average", and when the cap on samples a second raised the
/// interval, by how much and how often, so a reader knows the estimates rest on fewer samples.
pub fn sampling_interval_text(n: &NativeSampling) -> String {
    let mut t = format!("one sample per {} KiB on average", n.interval_bytes / 1024);
    if n.interval_raises > 0 && n.peak_interval_bytes > n.interval_bytes {
        t.push_str(&format!(
            ", raised up to {} KiB by the cap of {} samples a second ({} times; {} KiB now)",
            n.peak_interval_bytes / 1024,
            n.rate_cap_per_second,
            n.interval_raises,
            n.effective_interval_bytes / 1024
        ));
    }
    t
}

/// "8 classes, 1.2 MiB metaspace, 10 MiB retained heap": what leaked loaders cost, the parts
/// that were measured; an estimated metaspace (no HotSpot accounting) reads "~1.2 MiB metaspace
/// (estimated)".
pub fn cost_text(classes: u64, metaspace: Option<u64>, retained: Option<u64>, estimated: bool) -> String {
    let mut parts = vec![count(classes, "class", "classes")];
    if let Some(m) = metaspace {
        match estimated {
            true => parts.push(format!("~{} metaspace (estimated)", small_mib(m))),
            false => parts.push(format!("{} metaspace", small_mib(m))),
        }
    }
    if let Some(r) = retained {
        parts.push(format!("{} retained heap", small_mib(r)));
    }
    parts.join(", ")
}

/// A loader table's metaspace cell: MiB of the loaders together with two decimals (a loader of
/// a few classes holds tens of KiB), `-` when not measured, `~` before an estimate.
pub fn metaspace_cell(loaders: &[&Loader], estimated: bool) -> String {
    let mark = if estimated { "~" } else { "" };
    let mib = |b: u64| format!("{mark}{:.2}", b as f64 / (1u64 << 20) as f64);
    loaders.iter().map(|l| l.metaspace_bytes).sum::<Option<u64>>().map(mib).unwrap_or_else(|| "-".into())
}

/// MiB with one decimal, or two below 0.1 MiB: a loader of a few classes holds ~20 KiB.
fn small_mib(bytes: u64) -> String {
    if bytes > 0 && bytes < (1 << 20) / 10 {
        format!("{:.2} MiB", bytes as f64 / (1u64 << 20) as f64)
    } else {
        crate::units::mib(bytes)
    }
}

/// Sums what every suspect of a group costs; a part is left out unless every suspect has it.
pub fn group_cost(suspects: &[&LeakSuspect], estimated: bool) -> String {
    let all = |f: fn(&LeakSuspect) -> Option<u64>| suspects.iter().map(|s| f(s)).sum::<Option<u64>>();
    cost_text(
        suspects.iter().map(|s| s.classes).sum(),
        all(|s| s.metaspace_bytes),
        all(|s| s.retained_heap_bytes),
        estimated,
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_and_articles() {
        assert_eq!(super::count(1, "class", "classes"), "1 class");
        assert_eq!(super::count(0, "class", "classes"), "0 classes");
        assert_eq!(super::article("Inflater"), "an");
        assert_eq!(super::article("Deflater"), "a");
    }

    #[test]
    fn sites_at_one_place_are_told_apart() {
        let a = vec!["java.util.zip.Inflater.init(Native Method)".to_string(), "java.util.zip.Inflater.<init>(Inflater.java:131)".into(), "java.util.zip.ZipFile$CleanableResource.getInflater(ZipFile.java:735)".into(), "java.util.zip.ZipFile.getInputStream(ZipFile.java:400)".into(), "jdk.internal.loader.URLClassPath$JarLoader$2.getBytes(URLClassPath.java:900)".into()];
        let mut b = a.clone();
        b[4] = "java.util.jar.JarFile.getManifest(JarFile.java:410)".into();
        let none = None;
        let app = Some("app.Scan.open(Scan.java:9)".to_string());
        let labels = super::site_labels(&[(1, &none, &a), (2, &none, &b), (3, &app, &a), (4, &none, &a)]);
        assert_eq!(labels[0], "java.util.zip.ZipFile$CleanableResource.getInflater(ZipFile.java:735) via jdk.internal.loader.URLClassPath$JarLoader$2.getBytes(URLClassPath.java:900) [site 1]");
        assert_eq!(labels[1], "java.util.zip.ZipFile$CleanableResource.getInflater(ZipFile.java:735) via java.util.jar.JarFile.getManifest(JarFile.java:410)");
        assert_eq!(labels[2], "app.Scan.open(Scan.java:9)");
        assert_eq!(labels[3], "java.util.zip.ZipFile$CleanableResource.getInflater(ZipFile.java:735) via jdk.internal.loader.URLClassPath$JarLoader$2.getBytes(URLClassPath.java:900) [site 4]");
        let unique: std::collections::HashSet<&String> = labels.iter().collect();
        assert_eq!(unique.len(), labels.len());
    }

    #[test]
    fn reasons_read_as_words() {
        use crate::model::SuspectReason;
        assert_eq!(super::reasons_text(&[SuspectReason::Superseded, SuspectReason::ContainerStopped], Some(9)), "superseded by #9, container stopped");
    }

    #[test]
    fn a_cost_names_only_what_was_measured_and_a_group_only_what_all_have() {
        use crate::model::{LeakSuspect, Loader};
        assert_eq!(super::cost_text(1, None, None, false), "1 class");
        assert_eq!(super::cost_text(8, Some(18432), None, false), "8 classes, 0.02 MiB metaspace");
        assert_eq!(super::cost_text(8, Some(18432), None, true), "8 classes, ~0.02 MiB metaspace (estimated)");
        assert_eq!(super::cost_text(8, Some(3 << 19), Some(10 << 20), false), "8 classes, 1.5 MiB metaspace, 10.0 MiB retained heap");
        let a = LeakSuspect { classes: 2, metaspace_bytes: Some(1 << 20), retained_heap_bytes: Some(1 << 20), ..LeakSuspect::default() };
        let b = LeakSuspect { classes: 3, metaspace_bytes: Some(1 << 20), ..LeakSuspect::default() };
        assert_eq!(super::group_cost(&[&a, &b], false), "5 classes, 2.0 MiB metaspace");
        let l = Loader { metaspace_bytes: Some(5 << 20), ..Loader::default() };
        assert_eq!(super::metaspace_cell(&[&l, &l], false), "10.00");
        assert_eq!(super::metaspace_cell(&[&l], true), "~5.00");
        assert_eq!(super::metaspace_cell(&[&Loader { metaspace_bytes: Some(18432), ..Loader::default() }], false), "0.02");
        assert_eq!(super::metaspace_cell(&[&Loader::default()], true), "-");
    }

    #[test]
    fn a_site_without_java_frames_names_its_native_callers() {
        use crate::model::SampledSite;
        let stack = ["libjvm.so!os::malloc", "libjvm.so!AllocateHeap", "libz.so!inflate", "libjvm.so!x", "<no Java frames: a JVM or native thread>"];
        let s = SampledSite { library: Some("libjvm.so".into()), function: Some("os::malloc".into()), stack: stack.iter().map(|f| f.to_string()).collect(), ..SampledSite::default() };
        assert_eq!(super::sampled_label(&s), "libjvm.so!os::malloc ← AllocateHeap ← libz.so!inflate (no Java frames)");
        let j = SampledSite { java_frame: Some("A.b(A.java:1)".into()), ..s };
        assert_eq!(super::sampled_label(&j), "libjvm.so!os::malloc from A.b(A.java:1)");
    }

    #[test]
    fn a_raised_sampling_interval_is_said() {
        use crate::model::NativeSampling;
        let mut n = NativeSampling { interval_bytes: 2 << 20, effective_interval_bytes: 2 << 20, peak_interval_bytes: 2 << 20, rate_cap_per_second: 2000, ..NativeSampling::default() };
        assert_eq!(super::sampling_interval_text(&n), "one sample per 2048 KiB on average");
        n.interval_raises = 3;
        n.peak_interval_bytes = 64 << 20;
        n.effective_interval_bytes = 4 << 20;
        assert_eq!(
            super::sampling_interval_text(&n),
            "one sample per 2048 KiB on average, raised up to 65536 KiB by the cap of 2000 samples a second (3 times; 4096 KiB now)"
        );
    }
}
