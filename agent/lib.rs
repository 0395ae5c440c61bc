//! leakagent: a JVMTI agent that explains why a JVM uses more memory than its heap and why old
//! class loaders never die. `entry` holds the exported symbols; `ffi` all other unsafe code.

pub mod collectors;
pub mod culprits;
pub mod entry;
pub mod ffi;
pub mod findings;
pub mod health;
pub mod log;
pub mod options;
pub mod report;
pub mod reporter;
pub mod runtime;
pub mod trigger;
