//! Native memory the JDK hands out for Java code: zlib streams and direct/Unsafe memory, each a
//! ledger of live blocks by Java allocation site (section.rs: what both report sections share).
//! Wiring: `Agent::{stacks,zlib,direct}` made in `entry::activate`, the native-method wrappers in
//! `entry/callbacks.rs`, `reporter::build`, `reporting::findings`.

pub mod direct;
pub mod findings;
pub mod ledger;
pub mod methods;
pub mod section;
pub mod sites;
pub mod stacks;
pub mod templates;
pub mod zlib;
