//! Collectors: each records events cheaply in callbacks and builds its report section on the
//! report thread (`snapshot`).

pub mod chain_verify;
pub mod chains;
pub mod classes;
pub mod collector;
pub mod direct;
pub mod heapdump;
pub mod hop_names;
pub mod dump_search;
pub mod generations;
pub mod hprof;
pub mod leaks;
pub mod ledger;
pub mod loader_growth;
pub mod loader_labels;
pub mod mbeans;
pub mod memory;
pub mod methods;
pub mod sites;
pub mod stacks;
pub mod templates;
pub mod zlib;
