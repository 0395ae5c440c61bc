//! Native memory the JDK hands out for Java code: zlib streams and direct/Unsafe memory, each a
//! ledger of live blocks by Java allocation site (section.rs: what both report sections share;
//! zlib's streams by address in ledger.rs, direct's records in the blocks' headers);
//! `sampled/`: every other malloc, sampled by bytes through the malloc hooks
//! (`ffi/malloc_hooks.rs`). Wiring: `Agent::{stacks,zlib,direct,sampled}` made in
//! `entry::activate`, the native-method wrappers in `entry/callbacks.rs`, `reporter::build`,
//! `reporting::findings`, the sampler's tick.

pub mod direct;
pub mod findings;
pub mod ledger;
pub mod methods;
pub mod pools;
pub mod section;
pub mod sites;
pub mod stacks;
pub mod templates;
pub mod thread;
pub mod zlib;
pub mod sampled;
