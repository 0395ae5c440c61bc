//! The live chain search: JVMTI heap walks from the suspects to a GC root, and the cheap check
//! that a chain from the previous report still holds.

pub mod search;
pub mod stop;
pub mod verify;
