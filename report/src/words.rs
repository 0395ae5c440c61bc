//! Small phrase helpers the renderers and the agent's findings share, so a count reads "1 class"
//! and "an Inflater" everywhere, and a native site is named the same way in the text, the HTML
//! page and the agent's findings.

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
        None => format!("{place} (no Java frames)"),
    }
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
}
