//! The one way reports write byte counts (binary units, as the JVM and the kernel count).

const MIB: f64 = (1u64 << 20) as f64;

/// A size for sentences: `0.4 MiB`, `12.0 MiB`, `4096.0 MiB`.
pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB)
}

/// A size for a table column headed in MiB: the number only, one decimal.
pub fn mib_value(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / MIB)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes() {
        assert_eq!(super::mib(100 << 10), "0.1 MiB");
        assert_eq!(super::mib(12 << 20), "12.0 MiB");
        assert_eq!(super::mib(21 << 29), "10752.0 MiB");
        assert_eq!(super::mib_value(340 << 20), "340.0");
    }
}
