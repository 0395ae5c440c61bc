//! The x86-64 layout of HotSpot's frames (frame_x86.hpp, JDK 9 to 25): where a frame keeps the
//! link to its caller, its return address and, when interpreted, its Method* and bytecode
//! pointer. Addresses only: reading them is `hotspot::Walk`'s job, walking native/templates.rs'.

/// Bytes in a stack word.
pub const WORD: usize = std::mem::size_of::<usize>();

// Slots of an interpreted frame, in words from its fp.
const INTERP_SENDER_SP: isize = -1;
const INTERP_METHOD: isize = -3;
const INTERP_BCP: isize = -8;
const LINK: isize = 0;
const RETURN_PC: isize = 1;
/// Words between an interpreted frame's fp and its caller's sp (saved fp, return pc).
const SENDER_SP: isize = 2;

fn at(base: usize, words: isize) -> usize {
    base.wrapping_add_signed(words * WORD as isize)
}

/// Whether `fp` can be an interpreted frame's fp above `sp`.
pub fn plausible_fp(fp: usize, sp: usize) -> bool {
    fp >= sp && fp.is_multiple_of(WORD)
}

/// The slot of an interpreted frame's Method*.
pub fn interp_method(fp: usize) -> usize {
    at(fp, INTERP_METHOD)
}

/// The slot of an interpreted frame's bytecode pointer.
pub fn interp_bcp(fp: usize) -> usize {
    at(fp, INTERP_BCP)
}

/// The slot of an interpreted frame's sender sp: where a compiled caller's frame starts (an
/// adapter may have extended it).
pub fn interp_sender_sp(fp: usize) -> usize {
    at(fp, INTERP_SENDER_SP)
}

/// The slot of an interpreted frame's return address.
pub fn interp_return_pc(fp: usize) -> usize {
    at(fp, RETURN_PC)
}

/// The slot of an interpreted frame's saved fp (its caller's fp).
pub fn interp_link(fp: usize) -> usize {
    at(fp, LINK)
}

/// The sp of an interpreted frame's interpreted caller.
pub fn interp_caller_sp(fp: usize) -> usize {
    at(fp, SENDER_SP)
}

/// Where a compiled frame of `frame_words` words at `sp` ends: its caller's sp.
pub fn compiled_sender_sp(sp: usize, frame_words: usize) -> Option<usize> {
    sp.checked_add(frame_words.checked_mul(WORD)?)
}

/// The slot of a compiled frame's return address, by its sender sp.
pub fn compiled_return_pc(sender_sp: usize) -> usize {
    at(sender_sp, -RETURN_PC)
}

/// The slot where compiled code saves its caller's fp (just below the return address), by its
/// sender sp.
pub fn compiled_saved_fp(sender_sp: usize) -> usize {
    at(sender_sp, -SENDER_SP)
}
