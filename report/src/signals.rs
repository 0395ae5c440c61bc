//! The report signals the agent may own: its `signal=` option accepts exactly these, and
//! `leakagent report` sends a signal only when the JVM names one of them. One set, read by
//! both crates, so that they cannot drift.

/// `SIGRTMIN+n` for n from 0 to this. glibc keeps the kernel's first real-time signals for
/// itself; `SIGRTMIN` is the first one left to programs.
pub const RTMIN_MAX: u8 = 8;

/// Signals HotSpot handles itself, which the option refuses: name (without `SIG`) and why.
pub const HOTSPOT: [(&str, &str); 5] = [
    ("USR2", "HotSpot uses SIGUSR2 to suspend threads"),
    ("QUIT", "HotSpot handles SIGQUIT"),
    ("TERM", "HotSpot handles SIGTERM"),
    ("INT", "HotSpot handles SIGINT"),
    ("HUP", "HotSpot handles SIGHUP"),
];

/// What the option allows, for its error messages.
pub fn allowed() -> String {
    format!("allowed: RTMIN+N with N from 0 to {RTMIN_MAX}, USR1, or off")
}

/// The numbers of the signals the agent may own, given the process's `SIGRTMIN` and `SIGUSR1`
/// (libc's; this crate does not depend on libc).
pub fn owned(sigrtmin: i32, sigusr1: i32) -> Vec<i32> {
    (0..=RTMIN_MAX as i32).map(|n| sigrtmin + n).chain([sigusr1]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owned_set_is_rtmin_to_rtmin_max_and_usr1() {
        // Linux x86-64 with glibc: SIGRTMIN 34, SIGUSR1 10.
        assert_eq!(owned(34, 10), vec![34, 35, 36, 37, 38, 39, 40, 41, 42, 10]);
        assert!(allowed().contains("from 0 to 8"), "{}", allowed());
        assert!(HOTSPOT.iter().all(|(name, why)| why.contains("HotSpot") && !name.starts_with("SIG") && *name != "USR1"));
    }
}
