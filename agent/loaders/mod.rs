//! Class and class-loader lifecycle: which loaders exist, their classes, their generations and
//! labels. Wiring: `Agent::classes`, the ClassPrepare/ObjectFree callbacks, `reporter::build`.

pub mod generations;
pub mod labels;
pub mod tags;
pub mod tracker;
