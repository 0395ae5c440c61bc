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
    fn reasons_read_as_words() {
        use crate::model::SuspectReason;
        assert_eq!(super::reasons_text(&[SuspectReason::Superseded, SuspectReason::ContainerStopped], Some(9)), "superseded by #9, container stopped");
    }
}
