//! leakagent: a JVMTI agent that explains why a JVM uses more memory than its heap and why old
//! class loaders never die. `entry` holds the exported symbols; `ffi` all other unsafe code.
// Unsafe code is allowed in `ffi` and `entry` only, and every unsafe operation needs its own
// block (and SAFETY comment) even inside an unsafe fn.
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]

mod core;
mod entry;
mod ffi;
mod leaks;
mod loaders;
mod memory;
mod native;
mod reporting;
