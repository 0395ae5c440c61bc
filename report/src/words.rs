//! Small phrase helpers the renderers and the agent's findings share, so a count reads "1 class"
//! and "an Inflater" everywhere.

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

#[cfg(test)]
mod tests {
    #[test]
    fn counts_and_articles() {
        assert_eq!(super::count(1, "class", "classes"), "1 class");
        assert_eq!(super::count(0, "class", "classes"), "0 classes");
        assert_eq!(super::article("Inflater"), "an");
        assert_eq!(super::article("Deflater"), "a");
    }
}
