//! Native memory the JDK hands out for Java code: zlib streams and direct/Unsafe memory, each a
//! ledger of live blocks by Java allocation site; `sampled/`: every other malloc, sampled by bytes
//! through the malloc hooks (`ffi/malloc_hooks.rs`). Wiring: `Agent::{stacks,zlib,direct}`, the
//! native-method wrappers in `entry/callbacks.rs`, `reporter::build`, `reporting::findings`.

pub mod direct;
pub mod findings;
pub mod ledger;
pub mod methods;
pub mod sites;
pub mod stacks;
pub mod templates;
pub mod zlib;
pub mod sampled;
