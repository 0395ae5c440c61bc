//! The heap-dump chain search: take a dump, read it off the safepoint, and search it for the
//! paths from GC roots to the suspects.

pub mod hprof;
mod index;
mod names;
pub mod retained;
pub mod search;
pub mod take;
#[cfg(test)]
mod testdump;
