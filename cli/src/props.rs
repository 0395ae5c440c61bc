//! Parses what `java.util.Properties.store` writes: the attach mechanism's `properties` command
//! answers with the JVM's system properties in that format (ISO 8859-1, non-Latin-1 as `\uXXXX`,
//! `\`-escapes for separators and control characters, `#` comment lines).

use std::collections::HashMap;

pub fn parse(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut lines = text.lines();
    while let Some(first) = lines.next() {
        let mut line = first.trim_start().to_string();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        // A line ending in an odd number of backslashes continues on the next one.
        while line.chars().rev().take_while(|&c| c == '\\').count() % 2 == 1 {
            line.pop();
            match lines.next() {
                Some(next) => line.push_str(next.trim_start()),
                None => break,
            }
        }
        let (key, value) = split(&line);
        out.insert(unescape(key), unescape(value.trim_start()));
    }
    out
}

/// The key ends at the first unescaped `=`, `:` or whitespace; one separator is dropped.
fn split(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' => return (&line[..i], &line[i + 1..]),
            b' ' | b'\t' | b'\x0c' => {
                let rest = line[i..].trim_start();
                let rest = rest.strip_prefix(['=', ':']).unwrap_or(rest);
                return (&line[..i], rest);
            }
            _ => i += 1,
        }
    }
    (line, "")
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut units: Vec<u16> = Vec::new();
    let mut chars = s.chars().peekable();
    let flush = |units: &mut Vec<u16>, out: &mut String| {
        if !units.is_empty() {
            out.push_str(&String::from_utf16_lossy(units));
            units.clear();
        }
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush(&mut units, &mut out);
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u16::from_str_radix(&hex, 16) {
                    // Collected as UTF-16 units: a surrogate pair is two escapes.
                    Ok(u) => units.push(u),
                    Err(_) => {
                        flush(&mut units, &mut out);
                        out.push_str(&hex);
                    }
                }
                continue;
            }
            Some('t') => {
                flush(&mut units, &mut out);
                out.push('\t')
            }
            Some('n') => {
                flush(&mut units, &mut out);
                out.push('\n')
            }
            Some('r') => {
                flush(&mut units, &mut out);
                out.push('\r')
            }
            Some('f') => {
                flush(&mut units, &mut out);
                out.push('\x0c')
            }
            Some(other) => {
                flush(&mut units, &mut out);
                out.push(other)
            }
            None => {}
        }
    }
    flush(&mut units, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn what_properties_store_writes() {
        let text = "#Thu Jan 01 00:00:00 UTC 2026\n\
                    java.version=17.0.15\n\
                    leakagent.report.last=/var/tmp/r\\:x\\=1\\ y.json\n\
                    line.separator=\\n\n\
                    user.name=J\\u00F6rg \\uD83D\\uDE00\n\
                    empty=\n\
                    \\#key\\ with\\ space = v\n\
                    cont=a\\\n    b\n";
        let p = parse(text);
        assert_eq!(p["java.version"], "17.0.15");
        assert_eq!(p["leakagent.report.last"], "/var/tmp/r:x=1 y.json");
        assert_eq!(p["line.separator"], "\n");
        assert_eq!(p["user.name"], "Jörg 😀");
        assert_eq!(p["empty"], "");
        assert_eq!(p["#key with space"], "v");
        assert_eq!(p["cont"], "ab");
        assert_eq!(p.len(), 7);
    }
}
