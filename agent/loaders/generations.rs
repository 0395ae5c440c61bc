//! Generations: loaders of one application's successive deployments (same class and name stem
//! or code source, defining the same classes), each marked with its ordinal and its successor.

use leakagent_report::model::{Generation, Loader, LoaderRole};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

/// The key loaders of one application's successive deployments share: class and name without
/// its trailing number (read when the loader is first seen, so dead loaders have it too), else
/// class and code source. Loaders with neither have no generations.
fn generation_key(l: &Loader) -> Option<String> {
    if l.role != LoaderRole::Other {
        return None;
    }
    if let Some(name) = l.name.as_deref() {
        let stem = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-' || c == '_' || c == '#' || c == '.');
        let stem = if stem.is_empty() { name } else { stem };
        return Some(format!("{}|{stem}", l.class));
    }
    l.code_source.as_ref().map(|cs| format!("{}|{cs}", l.class))
}

/// Groups loaders into generations and marks each with its ordinal and the loader that replaced
/// it. Loaders of one generation key are generations of one application only when they define
/// the same classes: a later loader replaces an earlier one when at least half of the class names
/// of the smaller of the two are defined by both (`names`: class name hashes per loader id).
/// Siblings that each define their own classes (one JasperLoader per JSP, one loader per script
/// or plugin) are not generations of each other.
pub fn generations(loaders: &mut [Loader], names: &HashMap<u32, HashSet<u64>>) -> Vec<Generation> {
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, l) in loaders.iter().enumerate() {
        if let Some(k) = generation_key(l) {
            groups.entry(k).or_default().push(i);
        }
    }
    let empty = HashSet::new();
    let mut out = Vec::new();
    for (key, mut idx) in groups {
        if idx.len() < 2 {
            continue;
        }
        idx.sort_by_key(|&i| loaders[i].id);
        let set = |n: usize| names.get(&loaders[idx[n]].id).unwrap_or(&empty);
        // Which members define each class name, so that overlaps are found without comparing
        // every pair (a context can have thousands of JSP loaders).
        let mut by_name: HashMap<u64, Vec<usize>> = HashMap::new();
        for n in 0..idx.len() {
            for h in set(n) {
                by_name.entry(*h).or_default().push(n);
            }
        }
        let mut component: Vec<usize> = (0..idx.len()).collect();
        let mut next: Vec<Option<usize>> = vec![None; idx.len()];
        // `n` indexes `idx`, `next` and `component` alike.
        #[allow(clippy::needless_range_loop)]
        for n in 0..idx.len() {
            let mut shared: HashMap<usize, usize> = HashMap::new();
            for h in set(n) {
                for &m in &by_name[h] {
                    if m != n {
                        *shared.entry(m).or_default() += 1;
                    }
                }
            }
            for (m, common) in shared {
                if common * 2 < set(n).len().min(set(m).len()) {
                    continue;
                }
                let (a, b) = (root(&mut component, n), root(&mut component, m));
                component[a] = b;
                if m > n && next[n].is_none_or(|x| m < x) {
                    next[n] = Some(m);
                }
            }
        }
        let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for n in 0..idx.len() {
            let r = root(&mut component, n);
            members.entry(r).or_default().push(n);
        }
        let split = members.values().filter(|m| m.len() > 1).count() > 1;
        for m in members.values().filter(|m| m.len() > 1) {
            for (g, &n) in m.iter().enumerate() {
                let by = next[n].map(|x| loaders[idx[x]].id);
                let l = &mut loaders[idx[n]];
                l.generation = Some(g as u32 + 1);
                l.superseded_by = by;
            }
            let first = &loaders[idx[m[0]]];
            let key = match (split, first.sample_class.as_deref()) {
                (true, Some(c)) => format!("{key}|{c}"),
                _ => key.clone(),
            };
            out.push(Generation {
                key,
                loader_class: first.class.clone(),
                loaders: m.iter().map(|&n| loaders[idx[n]].id).collect(),
                current: loaders[idx[*m.last().unwrap()]].id,
                alive: m.iter().filter(|&&n| loaders[idx[n]].alive).count() as u32,
            });
        }
    }
    out
}

/// Union-find: the representative of `n`'s component.
fn root(c: &mut [usize], mut n: usize) -> usize {
    while c[n] != n {
        c[n] = c[c[n]];
        n = c[n];
    }
    n
}

pub fn name_hash(name: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    h.finish()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub(crate) fn loader(id: u32, class: &str, name: Option<&str>, cs: Option<&str>, alive: bool) -> Loader {
        Loader {
            id,
            class: class.into(),
            name: name.map(Into::into),
            role: LoaderRole::Other,
            code_source: cs.map(Into::into),
            alive,
            ..Loader::default()
        }
    }

    fn defines(list: &[(u32, &[&str])]) -> HashMap<u32, HashSet<u64>> {
        list.iter().map(|(id, names)| (*id, names.iter().map(|n| name_hash(n)).collect())).collect()
    }

    #[test]
    fn generations_need_the_same_classes() {
        let mut ls = vec![
            loader(3, "java.net.URLClassLoader", Some("app-gen-1"), Some("file:/a.jar"), true),
            loader(4, "java.net.URLClassLoader", Some("app-gen-2"), Some("file:/a.jar"), false),
            loader(5, "java.net.URLClassLoader", Some("app-gen-3"), Some("file:/a.jar"), true),
            loader(6, "java.net.URLClassLoader", Some("other"), Some("file:/a.jar"), true),
            loader(11, "java.net.URLClassLoader", None, Some("file:/c.jar"), true),
            loader(12, "java.net.URLClassLoader", None, Some("file:/c.jar"), true),
            loader(7, "org.x.WebLoader", Some("shop-1"), None, true),
            loader(8, "org.x.WebLoader", Some("shop-2"), None, true),
            loader(9, "jdk.internal.reflect.DelegatingClassLoader", None, None, true),
            loader(10, "jdk.internal.reflect.DelegatingClassLoader", None, None, true),
        ];
        let app: &[&str] = &["app.Main", "app.Util", "app.Level$1"];
        let names = defines(&[(3, app), (4, app), (5, &["app.Main", "app.Util"]), (6, &["o.X"]), (11, &["c.A"]), (12, &["c.A", "c.B"]), (7, &["s.A"]), (8, &["s.A"]), (9, &["G1"]), (10, &["G1"])]);
        let g = generations(&mut ls, &names);
        assert_eq!(g.len(), 3, "{g:?}");
        assert_eq!(g[0].loaders, [3, 4, 5]);
        assert_eq!(g[0].current, 5);
        assert_eq!(g[0].alive, 2);
        assert_eq!(g[1].loaders, [11, 12], "no name: by code source");
        assert_eq!(g[2].loaders, [7, 8]);
        assert_eq!(ls[0].generation, Some(1));
        assert_eq!(ls[0].superseded_by, Some(4));
        assert_eq!(ls[2].superseded_by, None);
        assert_eq!(ls[3].generation, None);
        assert_eq!(ls[8].generation, None, "anonymous loaders have no generations");
    }

    #[test]
    fn sibling_jsp_loaders_are_not_generations_but_a_recompiled_jsp_is() {
        let work = Some("file:/work/Tomcat/localhost/examples/");
        let mut ls: Vec<Loader> = (20..26).map(|id| loader(id, "org.apache.jasper.servlet.JasperLoader", None, work, true)).collect();
        let names = defines(&[
            (20, &["org.apache.jsp.jsp.dates.date_jsp"]),
            (21, &["org.apache.jsp.jsp.snp.snoop_jsp"]),
            (22, &["org.apache.jsp.jsp.num.numguess_jsp"]),
            (23, &["org.apache.jsp.jsp.dates.date_jsp"]),
            (24, &["org.apache.jsp.index_jsp"]),
        ]);
        let g = generations(&mut ls, &names);
        assert_eq!(g.len(), 1, "{g:?}");
        assert_eq!(g[0].loaders, [20, 23]);
        assert_eq!(ls[0].superseded_by, Some(23), "the recompiled JSP replaced its loader");
        for l in &ls[1..] {
            assert_eq!(l.superseded_by, None, "loader {} holds a different JSP", l.id);
        }
        // Two JSPs recompiled: two generation groups under one key, told apart by their class.
        let names = defines(&[(20, &["p.a_jsp"]), (21, &["p.b_jsp"]), (22, &["p.a_jsp"]), (23, &["p.b_jsp"])]);
        for l in ls.iter_mut() {
            l.sample_class = Some(if l.id % 2 == 0 { "p.a_jsp".into() } else { "p.b_jsp".into() });
        }
        let g = generations(&mut ls, &names);
        assert_eq!(g.len(), 2);
        assert!(g[0].key.ends_with("|p.a_jsp") && g[1].key.ends_with("|p.b_jsp"), "{g:?}");
    }
}
