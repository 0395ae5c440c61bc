//! The heap-dump chain search: take a dump, read it off the safepoint, and search it for the
//! paths from GC roots to the suspects.

mod error;
pub mod hprof;
mod index;
mod meter;
mod names;
pub mod retained;
pub mod search;
pub mod take;
pub use error::{DumpError, NoDump, Refused};
#[cfg(test)]
mod testdump;
