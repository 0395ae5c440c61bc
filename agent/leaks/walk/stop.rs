//! Why a live heap walk stopped before it found every chain: kinds the search sets inside the
//! heap-walk callback (no formatting at the safepoint), and the message the report's
//! `limit_hit` and the log show (`Display`).

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub enum WalkStop {
    /// `chain_objects` objects were tagged.
    Objects { limit: u64, passes: u32 },
    /// The tagged objects would take more than `chain_memory`.
    Memory { passes: u32, tagged: u64, memory: u64 },
    /// A reservation failed: the agent could not grow its maps.
    NoMemory,
    /// This heap walk paused the application longer than `chain_pause`.
    Pause { ms: u128, pass: u32 },
    /// The report's budget (its deadline, the exit) ran out.
    Budget { reason: &'static str, passes: u32 },
    /// `chain_time` ran out.
    Time { secs: u64, passes: u32 },
}

impl fmt::Display for WalkStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WalkStop::Objects { limit, passes } => {
                write!(f, "object limit of {limit} tagged objects reached after {passes} passes (chain_objects)")
            }
            WalkStop::Memory { passes, tagged, memory } => write!(
                f,
                "memory limit reached after {passes} passes ({tagged} objects tagged; chain_memory={} MiB)",
                memory >> 20
            ),
            WalkStop::NoMemory => f.write_str("the agent could not allocate memory for the search"),
            WalkStop::Pause { ms, pass } => write!(
                f,
                "one heap walk would pause the application longer than chain_pause ({ms} ms); pass {pass} was stopped"
            ),
            WalkStop::Budget { reason, passes } => write!(f, "{reason} after {passes} passes"),
            WalkStop::Time { secs, passes } => write!(f, "chain_time limit of {secs} s reached after {passes} passes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text is the report's and the log's, as it was before the kinds were typed.
    #[test]
    fn messages_are_unchanged() {
        assert_eq!(
            WalkStop::Objects { limit: 20, passes: 3 }.to_string(),
            "object limit of 20 tagged objects reached after 3 passes (chain_objects)"
        );
        assert_eq!(
            WalkStop::Memory { passes: 2, tagged: 9, memory: 64 << 20 }.to_string(),
            "memory limit reached after 2 passes (9 objects tagged; chain_memory=64 MiB)"
        );
        assert_eq!(
            WalkStop::Pause { ms: 500, pass: 4 }.to_string(),
            "one heap walk would pause the application longer than chain_pause (500 ms); pass 4 was stopped"
        );
        assert_eq!(WalkStop::Time { secs: 30, passes: 1 }.to_string(), "chain_time limit of 30 s reached after 1 passes");
        assert_eq!(WalkStop::Budget { reason: "x", passes: 1 }.to_string(), "x after 1 passes");
    }
}
