//! The FFI boundary: generated JVMTI bindings and thin safe wrappers over JVMTI, JNI, HotSpot's
//! own structures and the OS, and the x86-64 layout of HotSpot's frames. All `unsafe` code of the
//! agent lives here and in `entry/`; this module depends on nothing else of the agent.
#![allow(unsafe_code)]

pub mod asgct;
pub mod blocks;
pub mod counting;
pub mod frame;
pub mod got;
pub mod heapwalk;
pub mod hotspot;
pub mod jni;
pub mod jvmti;
pub mod malloc;
pub mod metaspace;
pub mod named_stack;
pub mod malloc_hooks;
pub mod natives;
pub mod os;
pub mod symbols;
pub mod thread_record;
pub mod sys;
