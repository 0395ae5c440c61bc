//! Class and class-loader lifecycle: which loaders exist, their classes, their generations and
//! labels. Wiring: `Agent::classes` made in `entry::activate`, the class callbacks in
//! `entry/callbacks.rs`, `reporter::build` (`loaders_section`).

pub mod generations;
pub mod labels;
pub mod metaspace;
pub mod tags;
pub mod tracker;
