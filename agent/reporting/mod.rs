//! When and how a report is made: triggers (signals, thresholds, intervals, exit), the sampler,
//! building the report from every feature (`reporter::build`), findings merged and sorted, and
//! writing it safely (temporary file and rename, retention, the CLI's state properties).
//! Wiring: owns `reporter::build`, where every feature's section is one call.
//!
//! # Adding a feature
//! A feature is a folder under `agent/` (as `loaders/`, `leaks/`, `native/`, `memory/`) whose
//! `mod.rs` names what it owns and these wiring points, and it touches three places outside it:
//! 1. `core/runtime.rs`: its state as a field of `Agent` (a ledger, a tracker, a collector);
//! 2. `entry::activate`: that field made from the options (plus a JVMTI event in
//!    `entry::enable_events` and a callback in `entry/callbacks.rs` if it records events);
//! 3. `reporter::build`: one call that returns its section of the report, run under its own
//!    `health::Feature` guard so that a panic switches off that feature alone, and its field in
//!    `Report` (`report/src/model/`).
//!
//! Its findings, if any, are one more line in `findings::derive`; its options are rows of the
//! table in `core/options/table.rs`; its `Feature` is one row of `core/health.rs`'s list.

pub mod findings;
pub mod origin;
pub mod progress;
pub mod reporter;
pub mod retention;
pub mod sampling;
pub mod state;
pub mod thresholds;
pub mod trigger;
pub mod writer;
