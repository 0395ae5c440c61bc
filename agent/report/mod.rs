//! The report model and its renderers. Renderers never touch JVMTI: they read the model only.

pub mod html;
pub mod json;
pub mod model;
pub mod text;
pub mod writer;
