//! When and how a report is made: triggers (signals, thresholds, intervals, exit), the sampler,
//! building the report from every feature (`reporter::build`), findings merged and sorted, and
//! writing it safely (temporary file and rename, retention, the CLI's state properties).

pub mod findings;
pub mod origin;
pub mod reporter;
pub mod retention;
pub mod sampling;
pub mod state;
pub mod thresholds;
pub mod trigger;
pub mod writer;
