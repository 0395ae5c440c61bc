//! Collectors: each records events cheaply in callbacks and builds its report section on the
//! report thread (`snapshot`).

pub mod classes;
pub mod chains;
pub mod leaks;
pub mod memory;
