//! A sample's stacks: the native return addresses through frame pointers, and the Java frames
//! through AsyncGetCallTrace. Hook code: the parent's rules (no allocation, lock or panic).

use super::*;

/// The calling thread's stack bounds, asked of glibc once per thread.
fn stack_bounds(t: &Tls) -> (usize, usize) {
    if t.stack_hi.get() == 0 {
        let (mut lo, mut hi) = (1usize, 1usize);
        // SAFETY: pthread_attr_t is filled by pthread_getattr_np and destroyed after use.
        unsafe {
            let mut attr: libc::pthread_attr_t = std::mem::zeroed();
            if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) == 0 {
                let mut addr: *mut c_void = std::ptr::null_mut();
                let mut size: libc::size_t = 0;
                if libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0 {
                    lo = addr as usize;
                    hi = lo.saturating_add(size);
                }
                libc::pthread_attr_destroy(&mut attr);
            }
        }
        t.stack_lo.set(lo);
        t.stack_hi.set(hi);
    }
    (t.stack_lo.get(), t.stack_hi.get())
}

/// The allocating call's return address, then the callers found through frame pointers, each
/// frame checked to lie on this thread's stack above the hook's own.
pub(super) fn native_frames(t: &Tls, entry_sp: usize, fp: usize, out: &mut [usize; NATIVE_DEPTH]) -> usize {
    // SAFETY: `entry_sp` is the hook's entry stack pointer: it holds the return address.
    let ret = unsafe { *(entry_sp as *const usize) };
    out[0] = ret;
    let mut n = 1;
    let (lo, hi) = stack_bounds(t);
    let lo = lo.max(entry_sp);
    let mut fp = fp;
    while n < NATIVE_DEPTH {
        if fp < lo || fp.saturating_add(16) > hi || fp & 7 != 0 {
            break;
        }
        // SAFETY: [fp, fp+16) lies within this thread's mapped stack, above the current frame.
        let (next, pc) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if pc < 4096 {
            break;
        }
        if let Some(o) = out.get_mut(n) {
            *o = pc;
        }
        n += 1;
        if next <= fp {
            break;
        }
        fp = next;
    }
    n
}

/// The Java frames of the current thread, when it is a Java thread (JNIEnv from GetEnv, which
/// reads HotSpot's thread-local) and AsyncGetCallTrace can walk. The context handed to it is
/// the allocating caller's (pc, sp, fp), as a profiler's signal would see it.
pub(super) fn java_frames(out: &mut [Frame; JAVA_DEPTH], pc: usize, sp: usize, fp: usize) -> usize {
    let vm = VM.load(Relaxed);
    if vm.is_null() {
        return 0;
    }
    let mut env: *mut c_void = std::ptr::null_mut();
    // SAFETY: `vm` is the JavaVM the agent was loaded into; GetEnv only reads the current
    // thread's HotSpot thread-local and answers JNI_EDETACHED for other threads and before the
    // VM is created.
    let ok = unsafe {
        match (**vm).GetEnv {
            Some(get_env) => get_env(vm, &mut env, jni::sys::JNI_VERSION_1_6 as jint) == JNI_OK,
            None => false,
        }
    };
    if !ok || env.is_null() {
        return 0;
    }
    // SAFETY: a zeroed ucontext_t is a valid value; only the three registers are read.
    let mut uc: libc::ucontext_t = unsafe { std::mem::zeroed() };
    uc.uc_mcontext.gregs[libc::REG_RIP as usize] = pc as i64;
    uc.uc_mcontext.gregs[libc::REG_RSP as usize] = sp as i64;
    uc.uc_mcontext.gregs[libc::REG_RBP as usize] = fp as i64;
    asgct::stack_from_context(env as *mut JNIEnv, out, &mut uc as *mut libc::ucontext_t as *mut c_void)
}
