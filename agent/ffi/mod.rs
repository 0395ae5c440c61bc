//! The FFI boundary: generated JVMTI bindings, thin safe wrappers over JVMTI, JNI and the OS,
//! and the guard every callback runs in. All `unsafe` code of the agent lives here and in
//! `entry.rs`.
#![allow(unsafe_code)]

pub mod asgct;
pub mod guard;
pub mod heapwalk;
pub mod hotspot;
pub mod jni;
pub mod jvmti;
pub mod malloc;
pub mod natives;
pub mod os;
pub mod sys;
