//! Collectors: each records events cheaply in callbacks and builds its report section on the
//! report thread (`snapshot`).

pub mod chains;
pub mod classes;
pub mod direct;
pub mod leaks;
pub mod ledger;
pub mod memory;
pub mod stacks;
pub mod templates;
pub mod zlib;
