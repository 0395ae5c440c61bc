//! Growth evidence: loaders of one class that each define a class of the same shape and keep
//! being created without dying (a script engine's loaders), when no single loader looks stale.

use leakagent_report::model::{Loader, LoaderGrowth, LoaderRole};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Loaders of one class defining classes of one shape are a growth group when at least this many
/// of them are alive after the GC, and more than at the previous report. A web application has
/// one JasperLoader per JSP, each with its own page's class; a script engine that gives every
/// script its own loader has hundreds defining `Script1` (a new GroovyShell per script) or
/// `Script1`, `Script2`, ... (one shell).
pub const GROWTH_MIN_ALIVE: u64 = 100;

/// The JDK's per-method reflection loaders: many, alive with the methods they serve, never the
/// application's to fix.
pub fn reflection_loader(class: &str) -> bool {
    matches!(class, "jdk.internal.reflect.DelegatingClassLoader" | "sun.reflect.DelegatingClassLoader")
}

/// A class name with every run of digits as `#`: `Script12$_run_closure1` is `Script#$_run_closure#`.
pub fn shape(class: &str) -> String {
    let mut out = String::with_capacity(class.len());
    for c in class.chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('#') {
                out.push('#');
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Growth evidence: loaders of one class that each define a class of the same shape (a script
/// engine's `Script1`, or `Script12`, `Script13`, ...) and keep being created without dying.
/// Returns the groups that qualify (many alive after the GC, more than at the previous report)
/// and, for the next report, how many of every sizeable group are alive. One JSP per loader is
/// not a growth group: JSP classes are named after their pages.
pub fn growth(loaders: &[Loader], previous: &HashMap<String, u64>) -> (Vec<LoaderGrowth>, HashMap<String, u64>) {
    let mut groups: BTreeMap<String, Vec<&Loader>> = BTreeMap::new();
    for l in loaders.iter().filter(|l| l.role == LoaderRole::Other && !reflection_loader(&l.class)) {
        if let Some(c) = &l.sample_class {
            groups.entry(format!("{}|{}", l.class, shape(c))).or_default().push(l);
        }
    }
    let mut out = Vec::new();
    let mut counts = HashMap::new();
    for (key, members) in groups {
        let alive = members.iter().filter(|l| l.alive).count() as u64;
        if alive < GROWTH_MIN_ALIVE {
            continue;
        }
        counts.insert(key.clone(), alive);
        let before = previous.get(&key).copied();
        if before.is_some_and(|b| alive <= b) {
            continue;
        }
        let distinct: HashSet<&str> = members.iter().filter_map(|l| l.sample_class.as_deref()).collect();
        let first = members[0];
        let newest = members.iter().filter(|l| l.alive).max_by_key(|l| l.id).unwrap_or(&first);
        out.push(LoaderGrowth {
            loader_class: first.class.clone(),
            defines: shape(first.sample_class.as_deref().unwrap_or_default()),
            example: newest.sample_class.clone().unwrap_or_default(),
            alive,
            dead: members.len() as u64 - alive,
            distinct_classes: distinct.len() as u64,
            alive_at_previous_report: before,
            first_seen_ms: members.iter().map(|l| l.first_seen_ms).min().unwrap_or(0),
            last_seen_ms: members.iter().map(|l| l.first_seen_ms).max().unwrap_or(0),
            leak_loaders: first.class.clone(),
        });
    }
    (out, counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script_loader(id: u32, n: u32, alive: bool) -> Loader {
        Loader {
            id,
            class: "groovy.lang.GroovyClassLoader$InnerLoader".into(),
            role: LoaderRole::Other,
            parent: Some(id - 1),
            alive,
            first_seen_ms: id as u64 * 10,
            sample_class: Some(format!("Script{n}")),
            ..Loader::default()
        }
    }

    #[test]
    fn numbered_scripts_that_keep_coming_are_growth_and_jsps_are_not() {
        assert_eq!(shape("Script12$_run_closure1"), "Script#$_run_closure#");
        let scripts: Vec<Loader> = (0..150).map(|i| script_loader(1000 + 2 * i, i + 1, i % 3 != 0)).collect();
        let (g, counts) = growth(&scripts, &HashMap::new());
        assert_eq!(g.len(), 1, "{g:#?}");
        assert_eq!((g[0].alive, g[0].dead, g[0].distinct_classes), (100, 50, 150));
        // A new GroovyShell per script: every loader defines Script1.
        let shells: Vec<Loader> = (0..120).map(|i| script_loader(1000 + 2 * i, 1, true)).collect();
        assert_eq!(growth(&shells, &HashMap::new()).0[0].distinct_classes, 1);
        assert_eq!(g[0].defines, "Script#");
        assert_eq!(g[0].example, "Script150");
        assert_eq!(g[0].leak_loaders, "groovy.lang.GroovyClassLoader$InnerLoader");
        // A later report with as many alive: a stable population, not growth.
        let (again, _) = growth(&scripts, &counts);
        assert!(again.is_empty());
        let mut more = scripts.clone();
        more.push(script_loader(5000, 151, true));
        let (grew, _) = growth(&more, &counts);
        assert_eq!(grew[0].alive_at_previous_report, Some(100));
        // Fewer alive than the threshold, or JSPs named after their pages.
        let few: Vec<Loader> = (0..150).map(|i| script_loader(1000 + 2 * i, i, i % 2 == 0)).collect();
        assert!(growth(&few, &HashMap::new()).0.is_empty());
        let jsps: Vec<Loader> = ["index", "date", "snoop", "numguess", "cart"]
            .iter()
            .enumerate()
            .map(|(i, p)| Loader { class: "org.apache.jasper.servlet.JasperLoader".into(), sample_class: Some(format!("org.apache.jsp.{p}_jsp")), ..script_loader(10 + i as u32, 0, true) })
            .collect();
        assert!(growth(&jsps, &HashMap::new()).0.is_empty());
        let reflection: Vec<Loader> = (0..150)
            .map(|i| Loader { class: "jdk.internal.reflect.DelegatingClassLoader".into(), sample_class: Some(format!("jdk.internal.reflect.GeneratedMethodAccessor{i}")), ..script_loader(10 + i, 0, true) })
            .collect();
        assert!(growth(&reflection, &HashMap::new()).0.is_empty(), "the JDK's reflection loaders are never growth");
    }
}
