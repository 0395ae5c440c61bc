//! What every feature stands on: the agent's process-wide state (`runtime`), options, health
//! counters, the log, the panic guard, hashing, time budgets and the agent's own files.
//! Wiring: owns `Agent` (`runtime.rs`), where each feature keeps its state as a field.

pub mod budget;
pub mod fault;
pub mod files;
pub mod guard;
pub mod hash;
pub mod health;
pub mod log;
pub mod options;
pub mod runtime;
