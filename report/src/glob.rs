//! The one glob matcher: the agent's `leak_loaders=` patterns and `leakagent check`'s allow-list
//! use the same `*`/`?` syntax (docs/options.md, docs/cli.md), so they share this function.

/// Whether `pattern` matches all of `text`: `*` matches any run of characters (none included),
/// `?` exactly one character, every other character itself (case matters; no escapes, no
/// classes). Linear backtracking over the last `*`: no pattern makes it exponential.
pub fn matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn star_and_question_mark() {
        assert!(matches("app-gen-*", "app-gen-12"));
        assert!(matches("*WebappClassLoader*", "org.apache.catalina.loader.ParallelWebappClassLoader"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "abbc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("*", ""));
        assert!(matches("**", "x"));
        assert!(!matches("?", ""));
        assert!(matches("", ""));
        assert!(!matches("", "x"));
    }

    #[test]
    fn the_whole_text_must_match() {
        assert!(!matches("app", "app-gen-1"), "no prefix match");
        assert!(!matches("gen", "app-gen-1"), "no substring match");
        assert!(matches("*gen*", "app-gen-1"));
        assert!(matches("*.*Loader", "java.net.URLClassLoader"));
        assert!(!matches("*Loader", "java.net.URLClassLoader$1"));
    }

    #[test]
    fn backtracks_to_the_last_star() {
        assert!(matches("a*b*c", "aXbYbZc"));
        assert!(matches("*ab", "aab"));
        assert!(!matches("a*b*c", "aXbYbZ"));
        assert!(matches("jdbc-*", "jdbc-driver"));
        assert!(matches("java.sql.*.driver", "java.sql.DriverInfo.driver"));
    }

    #[test]
    fn literal_characters_and_unicode() {
        assert!(matches("[ab]", "[ab]"), "brackets are plain characters");
        assert!(!matches("[ab]", "a"));
        assert!(matches("Jö?g", "Jörg"), "? is one character, not one byte");
        assert!(!matches("App", "app"), "case matters");
        assert!(matches("x\\*", "x\\yz"), "a backslash escapes nothing");
    }

    #[test]
    fn long_texts_stay_fast() {
        let text = "a".repeat(10_000);
        assert!(!matches(&format!("{}b", "*a".repeat(50)), &text));
    }
}
