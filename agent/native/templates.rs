//! Stack templates: the exact site of an event without a stack walk.
//!
//! A walk (AsyncGetCallTrace) costs ~100 ns plus ~80 ns per frame, too much for every event. But
//! a thread that reaches a native through the same Java frames leaves the same words in the
//! same places on its stack: the return address of each compiled frame, the Method* and bytecode
//! pointer of each interpreted frame, and the links between frames. The first time a thread
//! reaches a native from some stack, the agent walks it as usual, and also walks its physical
//! frames (laid out as ffi/frame.rs says) from the thread's last-Java-frame anchor
//! (ffi/hotspot.rs) until they cover the key's `key_depth` frames, recording every word that walk
//! read: the *template*. Each of the walk's
//! frames must agree with AsyncGetCallTrace's (same method, same bytecode index for interpreted
//! frames), or no template is kept. Later events of that thread compare the anchor and those
//! words (a few loads) and, when all hold, file the event under the template's site.
//!
//! Why equal words mean equal frames: the walk from the anchor is a function of the words it
//! reads and of the code and metadata they point to. Equal anchor sp and pc give the same
//! first frame; its return slot holding the same pc gives the same compiled method at the same
//! call site, hence the same frame size, hence the same next return slot; an interpreted frame
//! is found through its saved frame pointer and named by its Method* and bytecode pointer, all
//! compared. Code and metadata could only change under an unchanged word if an nmethod or a
//! class were unloaded and their memory reused: every unload (JVMTI CompiledMethodUnload and
//! HotSpot's ClassUnload event) drops every template (`code_changed`).

use crate::native::stacks::Slot;
use crate::native::thread;
use crate::ffi::asgct;
use crate::ffi::frame;
use crate::ffi::hotspot::{self, Anchor, Checks, Code, MethodRef, Walk};
use crate::ffi::jni::Env;
use crate::ffi::jvmti::Frame;
use crate::core::health::{self, COUNTERS};
use leakagent_report::model::StackSettings;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;

/// Templates kept per thread (over all ledgers and kinds).
const PER_THREAD: usize = 16;
/// Physical frames a template may span.
const MAX_FRAMES: usize = 40;
/// At most one learning in this many walks when learning keeps failing on a thread.
const MAX_BACKOFF: u32 = 64;

/// What the walk of physical frames needs from the stack and the VM.
pub trait Stack {
    fn word(&self, addr: usize) -> Option<usize>;
    fn code(&self, pc: usize) -> Code;
    fn method(&self, method: usize) -> Option<MethodRef>;
}

impl Stack for Walk {
    fn word(&self, addr: usize) -> Option<usize> {
        self.stack_word(addr)
    }
    fn code(&self, pc: usize) -> Code {
        Walk::code(self, pc)
    }
    fn method(&self, method: usize) -> Option<MethodRef> {
        Walk::method(self, method)
    }
}

/// Why a stack got no template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A frame the walk does not know (a stub, the call stub, unknown code).
    UnknownFrame,
    /// A stack word outside the thread's stack.
    OutOfStack,
    /// The physical frames disagree with AsyncGetCallTrace's frames.
    Disagrees,
    /// The stack has fewer frames than a key, or more physical frames than a template spans.
    Depth,
}

/// A learned template before it is sealed: (address, word) pairs, and whether the anchor's fp
/// must match too (when the native was entered from the interpreter).
#[derive(Debug, PartialEq, Eq)]
pub struct Learned {
    pub words: Vec<(usize, usize)>,
    pub check_fp: bool,
}

/// Walks the physical frames from `anchor` until they cover `key_len` of `frames` (the
/// AsyncGetCallTrace frames of the same stack, innermost first, deeper than `key_len` so that
/// the root of the last compiled frame is among them), checking each against `frames`, and
/// records every word the walk read.
pub fn learn(stack: &impl Stack, anchor: Anchor, frames: &[Frame], key_len: usize) -> Result<Learned, Refusal> {
    if key_len == 0 || frames.len() < key_len {
        return Err(Refusal::Depth);
    }
    let mut words = Vec::new();
    let mut read = |addr: usize| -> Result<usize, Refusal> {
        let v = stack.word(addr).ok_or(Refusal::OutOfStack)?;
        words.push((addr, v));
        Ok(v)
    };
    let (mut pc, mut sp, mut fp) = (anchor.pc, anchor.sp, anchor.fp);
    let mut code = stack.code(pc);
    let check_fp = code == Code::Interpreter;
    // Frames of `frames` the physical frames walked so far stand for.
    let mut covered = 0;
    for _ in 0..MAX_FRAMES {
        let next_pc;
        match code {
            Code::Interpreter => {
                if !frame::plausible_fp(fp, sp) {
                    return Err(Refusal::OutOfStack);
                }
                let method = read(frame::interp_method(fp))?;
                let bcp = read(frame::interp_bcp(fp))?;
                let m = stack.method(method).ok_or(Refusal::Disagrees)?;
                let f = frames.get(covered).ok_or(Refusal::Depth)?;
                let bci_ok = f.location < 0 || bcp.checked_sub(m.code_base) == Some(f.location as usize);
                if m.jmethod_id != f.method || !bci_ok {
                    return Err(Refusal::Disagrees);
                }
                covered += 1;
                if covered >= key_len {
                    break;
                }
                next_pc = read(frame::interp_return_pc(fp))?;
                match stack.code(next_pc) {
                    Code::Interpreter => {
                        sp = frame::interp_caller_sp(fp);
                        fp = read(frame::interp_link(fp))?;
                    }
                    Code::Compiled { .. } => {
                        sp = read(frame::interp_sender_sp(fp))?;
                    }
                    Code::Other => return Err(Refusal::UnknownFrame),
                }
            }
            Code::Compiled { method, frame_words } => {
                let m = stack.method(method).ok_or(Refusal::Disagrees)?;
                // The frame stands for its inlined callees and, last, its root method: the
                // first frame from here with the root's id. Stopping at the first such frame
                // never counts more frames than the physical frame really covers.
                let root = frames[covered..].iter().position(|f| f.method == m.jmethod_id).ok_or(Refusal::Disagrees)?;
                covered += root + 1;
                if covered >= key_len {
                    break;
                }
                let sender_sp = frame::compiled_sender_sp(sp, frame_words).ok_or(Refusal::OutOfStack)?;
                next_pc = read(frame::compiled_return_pc(sender_sp))?;
                match stack.code(next_pc) {
                    Code::Interpreter => {
                        fp = read(frame::compiled_saved_fp(sender_sp))?;
                    }
                    Code::Compiled { .. } => {}
                    Code::Other => return Err(Refusal::UnknownFrame),
                }
                sp = sender_sp;
            }
            Code::Other => return Err(Refusal::UnknownFrame),
        }
        pc = next_pc;
        code = stack.code(pc);
    }
    if covered < key_len {
        return Err(Refusal::Depth);
    }
    Ok(Learned { words, check_fp })
}

/// One template of this thread: the ledger slot it belongs to, the anchor it was learned at,
/// the words to compare and the site. Line-aligned, with what the check reads first (slot, pc,
/// fp, the anchor sp and the words' offsets) in its first line and the words' values after it:
/// an event's check touches the fewest lines the words allow.
#[repr(C, align(64))]
struct Template {
    pc: usize,
    /// Compared when `check_fp` (the native was entered from the interpreter).
    fp: usize,
    site: u32,
    hits: u32,
    slot: Slot,
    check_fp: bool,
    checks: Checks,
}

pub struct ThreadTemplates {
    epoch: u64,
    list: Vec<Template>,
    /// The slot the next template replaces when the list is full.
    next: usize,
    /// Learn on one walk in `backoff` (1 to MAX_BACKOFF, doubled when learning is wasted).
    backoff: u32,
    walks: u32,
}

impl ThreadTemplates {
    pub const fn new() -> ThreadTemplates {
        ThreadTemplates { epoch: 0, list: Vec::new(), next: 0, backoff: 1, walks: 0 }
    }
}

/// `f` on this thread's templates (in its record: native/thread.rs).
#[inline]
fn with_templates<R>(f: impl FnOnce(&mut ThreadTemplates) -> R) -> Option<R> {
    thread::with(|t| f(&mut t.templates))
}

/// Bumped when code or classes are unloaded: every thread drops its templates.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Why templates are never learned (the option, or no news of unloaded code).
static OFF: OnceLock<&'static str> = OnceLock::new();

/// Learn no templates, for `why`.
pub fn disable(why: &'static str) {
    let _ = OFF.set(why);
}

/// An nmethod or a class was unloaded: their memory may be reused, so templates that compared
/// its addresses prove nothing any more.
pub fn code_changed() {
    EPOCH.fetch_add(1, Relaxed);
    hotspot::forget_code();
}

/// The ledgers' settings with whether templates are in use (and why not).
pub fn settings(base: &StackSettings) -> StackSettings {
    let reason = if !asgct::available() {
        Some("this JVM has no AsyncGetCallTrace: every event is walked with JVMTI".to_string())
    } else if let Some(why) = OFF.get() {
        Some(format!("every event is walked: {why}"))
    } else {
        hotspot::unavailable().map(|why| format!("every event is walked: {why}"))
    };
    StackSettings {
        stack_templates: if reason.is_none() { "on" } else { "off" }.to_string(),
        stack_templates_reason: reason,
        ..base.clone()
    }
}

/// The site of the current event if one of this thread's templates for `slot` holds.
#[inline]
pub fn lookup(slot: Slot, env: &Env) -> Option<u32> {
    let a = hotspot::anchor(env)?;
    with_templates(|t| lookup_in(t, slot, &a)).flatten()
}

/// `lookup` on the thread's templates `t` (from its record, which the caller holds) with the
/// thread's anchor `a`.
#[inline]
pub fn lookup_in(t: &mut ThreadTemplates, slot: Slot, a: &Anchor) -> Option<u32> {
    let epoch = EPOCH.load(Relaxed);
    if t.epoch != epoch {
        t.list.clear();
        t.epoch = epoch;
    }
    let i = t.list.iter().position(|e| e.slot == slot && e.pc == a.pc && (!e.check_fp || e.fp == a.fp) && e.checks.hold(a.sp))?;
    // The template that held goes first: a thread's churn repeats one stack, and each
    // template passed over is a cache line the event's work (a buffer zeroed) evicted.
    if i > 0 {
        t.list.swap(0, i);
    }
    let found = &mut t.list[0];
    found.hits = found.hits.saturating_add(1);
    if found.hits == 1 {
        // Learning pays off on this thread again.
        t.backoff = (t.backoff / 2).max(1);
    }
    Some(found.site)
}

/// Whether this walk should also learn a template (not when learning keeps being wasted).
pub fn wants_to_learn() -> bool {
    if !hotspot::available() || OFF.get().is_some() {
        return false;
    }
    with_templates(|t| {
        t.walks = t.walks.wrapping_add(1);
        t.walks % t.backoff == 0
    })
    .unwrap_or(false)
}

/// Learns the template of the current stack for `site`: `frames` are the AsyncGetCallTrace
/// frames just walked (deeper than the key), `key_len` the key's frames.
pub fn learn_current(slot: Slot, env: &Env, frames: &[Frame], key_len: usize, site: u32) {
    let Some(walk) = Walk::current(env) else { return };
    let anchor = walk.anchor();
    let sealed = learn(&walk, anchor, frames, key_len).ok().and_then(|l| walk.seal(l.words).map(|c| (c, l.check_fp)));
    let _ = with_templates(|t| {
        let epoch = EPOCH.load(Relaxed);
        if t.epoch != epoch {
            t.list.clear();
            t.epoch = epoch;
        }
        let Some((checks, check_fp)) = sealed else {
            health::bump(&COUNTERS.stack_template_refusals);
            t.backoff = (t.backoff * 2).min(MAX_BACKOFF);
            return;
        };
        health::bump(&COUNTERS.stack_templates);
        let template = Template { pc: anchor.pc, fp: anchor.fp, site, hits: 0, slot, check_fp, checks };
        if t.list.len() < PER_THREAD {
            t.list.push(template);
        } else {
            let i = t.next;
            t.next = (i + 1) % PER_THREAD;
            if t.list[i].hits == 0 {
                // A template that never matched: this thread's stacks do not repeat much.
                t.backoff = (t.backoff * 2).min(MAX_BACKOFF);
            }
            t.list[i] = template;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::frame::{interp_bcp, interp_link, interp_method, interp_return_pc, interp_sender_sp, WORD as W};
    use std::collections::HashMap;

    /// A fake stack: words by address, code by pc, methods by Method*.
    #[derive(Default)]
    struct Fake {
        words: HashMap<usize, usize>,
        code: HashMap<usize, Code>,
        methods: HashMap<usize, MethodRef>,
    }

    impl Stack for Fake {
        fn word(&self, addr: usize) -> Option<usize> {
            self.words.get(&addr).copied()
        }
        fn code(&self, pc: usize) -> Code {
            self.code.get(&pc).copied().unwrap_or(Code::Other)
        }
        fn method(&self, m: usize) -> Option<MethodRef> {
            self.methods.get(&m).copied()
        }
    }

    const NATIVE: usize = 0x1000; // the native wrapper's code
    const C1: usize = 0x2000; // a compiled frame with two inlined callees
    const INTERP: usize = 0x3000; // the interpreter
    const C2: usize = 0x4000;

    fn frame(method: usize, location: i64) -> Frame {
        Frame { method, location }
    }

    /// native wrapper (4 words) -> compiled frame standing for ids 11, 12, 13 (6 words) ->
    /// interpreted frame of id 14 at bci 7 -> interpreted frame of id 15 at bci 3 -> compiled
    /// frame of id 16 (a c2i-extended caller).
    fn stack() -> (Fake, Anchor, Vec<Frame>) {
        let mut s = Fake::default();
        let sp = 0x7000_0000;
        s.code.insert(NATIVE + 5, Code::Compiled { method: 0xa10, frame_words: 4 });
        s.code.insert(C1 + 9, Code::Compiled { method: 0xa13, frame_words: 6 });
        s.code.insert(INTERP + 1, Code::Interpreter);
        s.code.insert(INTERP + 2, Code::Interpreter);
        s.code.insert(C2 + 3, Code::Compiled { method: 0xa16, frame_words: 8 });
        for (m, id, base) in [(0xa10, 10, 0), (0xa13, 13, 0), (0xa14, 14, 0x5000), (0xa15, 15, 0x6000), (0xa16, 16, 0)] {
            s.methods.insert(m, MethodRef { jmethod_id: id, code_base: base });
        }
        // Native wrapper: return pc into C1 at sp + 3 words.
        s.words.insert(sp + 3 * W, C1 + 9);
        // C1 frame from sp + 4 words, 6 words: returns into the interpreter; its saved fp.
        let c1_end = sp + 10 * W;
        s.words.insert(c1_end - W, INTERP + 1);
        let fp1 = sp + 20 * W;
        s.words.insert(c1_end - 2 * W, fp1);
        // Interpreted frame 14: method, bcp, return pc into the interpreter, link.
        s.words.insert(interp_method(fp1), 0xa14);
        s.words.insert(interp_bcp(fp1), 0x5000 + 7);
        s.words.insert(interp_return_pc(fp1), INTERP + 2);
        let fp2 = sp + 40 * W;
        s.words.insert(interp_link(fp1), fp2);
        // Interpreted frame 15, called from compiled code through an adapter.
        s.words.insert(interp_method(fp2), 0xa15);
        s.words.insert(interp_bcp(fp2), 0x6000 + 3);
        s.words.insert(interp_return_pc(fp2), C2 + 3);
        s.words.insert(interp_sender_sp(fp2), sp + 45 * W);
        let frames = vec![frame(10, -1), frame(11, 4), frame(12, 9), frame(13, 2), frame(14, 7), frame(15, 3), frame(16, 30), frame(17, 1)];
        (s, Anchor { sp, pc: NATIVE + 5, fp: 0 }, frames)
    }

    #[test]
    fn a_template_covers_the_key_and_records_every_word_it_read() {
        let (s, a, frames) = stack();
        let l = learn(&s, a, &frames, 6).unwrap();
        assert!(!l.check_fp, "entered from compiled code: the anchor's fp is not used");
        let sp = a.sp;
        let fp1 = sp + 20 * W;
        let fp2 = sp + 40 * W;
        let expected = vec![
            (sp + 3 * W, C1 + 9),
            (sp + 9 * W, INTERP + 1),
            (sp + 8 * W, fp1),
            (interp_method(fp1), 0xa14),
            (interp_bcp(fp1), 0x5007),
            (interp_return_pc(fp1), INTERP + 2),
            (interp_link(fp1), fp2),
            (interp_method(fp2), 0xa15),
            (interp_bcp(fp2), 0x6003),
        ];
        assert_eq!(l.words, expected);
        // Covering one more frame reads how frame 15 returns into compiled code.
        let l7 = learn(&s, a, &frames, 7).unwrap();
        assert_eq!(l7.words.len(), expected.len() + 2);
        assert_eq!(l7.words[expected.len() + 1], (interp_sender_sp(fp2), sp + 45 * W));
        // The compiled root of 0xa13 covers frames 11..13 at once.
        assert_eq!(learn(&s, a, &frames, 3).unwrap().words, expected[..1].to_vec());
    }

    #[test]
    fn frames_that_disagree_with_the_walk_get_no_template() {
        let (s, a, mut frames) = stack();
        frames[4].location = 8; // another bytecode index in frame 14
        assert_eq!(learn(&s, a, &frames, 6), Err(Refusal::Disagrees));
        let (s, a, mut frames) = stack();
        frames[5].method = 99; // another method in frame 15
        assert_eq!(learn(&s, a, &frames, 6), Err(Refusal::Disagrees));
        let (s, a, mut frames) = stack();
        frames[3].method = 99; // the compiled root is not where the walk expects it
        assert_eq!(learn(&s, a, &frames, 6), Err(Refusal::Disagrees));
        let (mut s, a, frames) = stack();
        s.code.remove(&(INTERP + 2)); // frame 15 returns into unknown code
        assert_eq!(learn(&s, a, &frames, 6), Err(Refusal::UnknownFrame));
        let (mut s, a, frames) = stack();
        s.words.remove(&(a.sp + 3 * W)); // outside the stack
        assert_eq!(learn(&s, a, &frames, 6), Err(Refusal::OutOfStack));
        let (s, a, frames) = stack();
        assert_eq!(learn(&s, a, &frames[..5], 6), Err(Refusal::Depth), "a stack shorter than the key");
    }

    #[test]
    fn a_native_entered_from_the_interpreter_checks_the_anchor_fp() {
        let mut s = Fake::default();
        let sp = 0x7000_0000;
        let fp = sp + 12 * W;
        s.code.insert(INTERP + 9, Code::Interpreter);
        s.code.insert(C2 + 3, Code::Compiled { method: 0xa16, frame_words: 8 });
        s.methods.insert(0xa10, MethodRef { jmethod_id: 10, code_base: 0 });
        s.methods.insert(0xa16, MethodRef { jmethod_id: 16, code_base: 0 });
        s.words.insert(interp_method(fp), 0xa10);
        s.words.insert(interp_bcp(fp), 0);
        s.words.insert(interp_return_pc(fp), C2 + 3);
        s.words.insert(interp_sender_sp(fp), sp + 14 * W);
        let frames = [frame(10, -1), frame(16, 5)];
        let l = learn(&s, Anchor { sp, pc: INTERP + 9, fp }, &frames, 2).unwrap();
        assert!(l.check_fp);
        assert_eq!(l.words.len(), 4);
    }
}
