//! Class-loader leaks: which dead-looking loaders are still alive, the reference chain that pins
//! each (a live heap walk or a heap dump search), the culprit and the fix. Wiring:
//! `Agent::known_chains` made in `entry::activate`, `reporter::build` (`leak_options`,
//! `leaks_section`), `reporting::findings`.

pub mod analyse;
pub mod culprits;
pub mod dump;
pub mod findings;
pub mod growth;
pub mod hops;
pub mod mbeans;
pub mod walk;
