//! The only exported symbols (`Agent_OnLoad`, `Agent_OnAttach`, `Agent_OnUnload`) and the JVMTI
//! callback table. Wiring: owns `activate`, where each feature's `Agent` field is made, and the
//! events and callbacks that feed the features (`enable_events`, `callbacks.rs`).
//!
//! Every function here that the JVM calls runs inside a guard: a panic is caught, counted and
//! logged, and the JVM keeps running.
// The exported functions take the JVM's raw pointers by the JVMTI contract; they are called by
// the JVM only.
#![allow(clippy::not_unsafe_ptr_arg_deref)]
#![allow(unsafe_code)]

mod callbacks;

use callbacks::*;
use leakagent_report::model::Tracking;
use crate::{leaks, native};
use crate::loaders::tracker::ClassTracker;
use crate::native::direct::DirectLedger;
use crate::memory::MemoryCollector;
use crate::reporting::sampling;
use crate::native::stacks::Stacks;
use crate::native::zlib::ZlibLedger;
use crate::core::fault;
use crate::core::guard::guarded;
use crate::ffi::jni::Env;
use crate::ffi::jvmti::Jvmti;
use crate::ffi::natives::{self, Native};
use leakagent_report::model::ZlibKind;
use crate::ffi::os;
use crate::ffi::sys::*;
use crate::core::health::{self, Feature, COUNTERS};
use crate::core::log;
use crate::core::options::{self, ReportSignal};
use crate::core::runtime::{self, Agent};
use crate::reporting::trigger;
use jni::sys::{jclass, jint, jlong, jmethodID, JNIEnv, JavaVM, JNI_ERR, JNI_OK};
use std::ffi::{c_char, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering::Relaxed};
use std::time::Instant;

#[no_mangle]
pub extern "C" fn Agent_OnLoad(vm: *mut JavaVM, options: *mut c_char, _reserved: *mut c_void) -> jint {
    // SAFETY: the arguments are those the JVM passed to this entry point, on this thread.
    entry_guard(vm, false, || unsafe { start(vm, options, false) })
}

#[no_mangle]
pub extern "C" fn Agent_OnAttach(vm: *mut JavaVM, options: *mut c_char, _reserved: *mut c_void) -> jint {
    // SAFETY: the arguments are those the JVM passed to this entry point, on this thread.
    entry_guard(vm, true, || unsafe { start(vm, options, true) })
}

#[no_mangle]
pub extern "C" fn Agent_OnUnload(_vm: *mut JavaVM) {
    let _ = catch_unwind(|| {
        // The library may be unmapped after this: a late report signal must not jump into it,
        // and no import entry may point into it.
        if let Some(agent) = runtime::get() {
            agent.sampled.stop();
            if let Some(signo) = signal_number(agent.options.signal) {
                os::ignore_signal(signo);
            }
        }
    });
}

/// A panic while starting leaves the JVM running without the agent: at start-up `Agent_OnLoad`
/// still returns OK (an error would stop the JVM), after an attach everything installed is
/// removed first (HotSpot unloads the library when `Agent_OnAttach` fails), the zlib natives
/// too: bound to wrappers in an unloaded library, the next Inflater would crash the JVM.
fn entry_guard(vm: *mut JavaVM, late: bool, f: impl FnOnce() -> jint) -> jint {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(code) => code,
        Err(_) => {
            health::bump(&COUNTERS.panics);
            let _ = catch_unwind(|| {
                // SAFETY: `vm` is what the JVM passed to the running entry point, on this thread
                // (attached: Agent_OnAttach runs on the attach listener).
                let env = if late { unsafe { current_env(vm) }.ok() } else { None };
                deactivate(late, env.as_ref())
            });
            log::error("internal error while loading the agent; it is not active, the JVM continues");
            if late {
                JNI_ERR
            } else {
                JNI_OK
            }
        }
    }
}

/// What a failed start installed, so that `deactivate` removes exactly that.
static SIGNAL_INSTALLED: AtomicI32 = AtomicI32::new(0);
static ZLIB_REBOUND: AtomicBool = AtomicBool::new(false);


/// Removes every event, callback, signal handler and native wrapper a failed start installed.
fn deactivate(late: bool, env: Option<&Env>) {
    let Some(agent) = runtime::get() else { return };
    agent.sampled.stop();
    let j = &agent.jvmti;
    for e in [
        JVMTI_EVENT_VM_INIT,
        JVMTI_EVENT_VM_DEATH,
        JVMTI_EVENT_CLASS_LOAD,
        JVMTI_EVENT_CLASS_PREPARE,
        JVMTI_EVENT_OBJECT_FREE,
        JVMTI_EVENT_DATA_DUMP_REQUEST,
        JVMTI_EVENT_NATIVE_METHOD_BIND,
        JVMTI_EVENT_COMPILED_METHOD_LOAD,
        JVMTI_EVENT_COMPILED_METHOD_UNLOAD,
        JVMTI_EVENT_THREAD_END,
    ] {
        let _ = j.set_event(false, e);
    }
    if let Ok(Some((index, _))) = j.find_extension_event("com.sun.hotspot.events.ClassUnload") {
        let _ = j.set_event(false, index as jvmtiEvent);
        // SAFETY: clearing an extension callback takes no function.
        let _ = unsafe { j.set_extension_event_callback(index, None) };
    }
    let _ = j.set_event_callbacks(&jvmtiEventCallbacks::default());
    let signo = SIGNAL_INSTALLED.swap(0, Relaxed);
    if signo != 0 {
        os::restore_default_signal(signo);
    }
    if let Some(env) = env.filter(|_| ZLIB_REBOUND.swap(false, Relaxed)) {
        natives::restore_zlib(env);
    }
    os::close_self_pipe(agent.pipe_read);
    if late {
        j.dispose();
        // HotSpot unloads the library when the attach fails: let a callback that was already
        // running when the events went off leave it first.
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn signal_number(s: ReportSignal) -> Option<i32> {
    match s {
        ReportSignal::Off => None,
        ReportSignal::Usr1 => Some(libc::SIGUSR1),
        ReportSignal::RtMin(n) => Some(os::rtmin_plus(n)),
    }
}

/// # Safety
/// `vm` and `options` are what the JVM passed to Agent_OnLoad/Agent_OnAttach, on this thread.
unsafe fn start(vm: *mut JavaVM, options_ptr: *mut c_char, late: bool) -> jint {
    let raw = if options_ptr.is_null() {
        String::new()
    } else {
        // SAFETY: a non-null options pointer is the NUL-terminated string the JVM passed; it
        // lives for this call and is copied here.
        unsafe { CStr::from_ptr(options_ptr) }.to_string_lossy().into_owned()
    };
    let not_loaded = if late { "the agent was not loaded" } else { "the JVM will not start" };
    let opts = match options::parse(&raw) {
        Ok(o) => o,
        Err(errors) => {
            for e in &errors {
                log::error(&e.to_string());
            }
            log::error(&format!("{} bad option(s) in '{raw}'; {not_loaded}; use 'help' to list every option", errors.len()));
            return JNI_ERR;
        }
    };
    if opts.help {
        print!("{}", options::help_text());
        use std::io::Write;
        let _ = std::io::stdout().flush();
        if late {
            return JNI_ERR;
        }
        std::process::exit(0);
    }
    let started_epoch_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    // Before log= takes the lines: like bad options, these go to standard error.
    let unusable = crate::core::files::check_at_start(&opts, &os::local_timestamp(started_epoch_s));
    if !unusable.is_empty() {
        for e in &unusable {
            log::error(e);
        }
        log::error(&format!("{} unusable file option(s) in '{raw}'; {not_loaded}", unusable.len()));
        return JNI_ERR;
    }
    if let Some(path) = &opts.log {
        // Refused like a bad option: the lines stay on standard error, where this one goes.
        match crate::core::files::open_append(path.as_ref()) {
            Ok(f) => log::set_file(f),
            Err(e) => {
                log::error(&format!("option 'log' has a bad value '{path}': cannot open it for appending: {e}; {not_loaded}"));
                return JNI_ERR;
            }
        }
    }
    if runtime::get().is_some() {
        log::error("leakagent is already loaded in this JVM; the new options are ignored");
        return JNI_ERR;
    }
    let mut env: Option<Env> = None;
    // SAFETY: `vm` is the JavaVM the JVM passed to this entry point (this function's contract).
    match unsafe { activate(vm, opts, late, started_epoch_s, &mut env) } {
        Ok(()) => JNI_OK,
        Err(why) => {
            deactivate(late, env.as_ref());
            log::error(&format!("{why}; the agent is not active, the JVM continues"));
            if late {
                JNI_ERR
            } else {
                JNI_OK
            }
        }
    }
}

/// Everything after the options: a failure here is the agent's, not the user's, and the JVM
/// goes on without the agent. Each feature's state is one field of [`Agent`], made here.
///
/// # Safety
/// As for `start`.
unsafe fn activate(vm: *mut JavaVM, opts: options::Options, late: bool, started_epoch_s: i64, env_out: &mut Option<Env>) -> Result<(), String> {
    // SAFETY: `vm` is the JavaVM the JVM passed to this entry point (this function's contract).
    let jvmti = unsafe { Jvmti::from_vm(vm, JVMTI_VERSION_1_2 as jint) }.ok_or("this JVM offers no JVMTI 1.2 environment")?;
    let missing = add_capabilities(&jvmti, late);
    guarded(Feature::Startup, (), || remove_dead_dumps(&jvmti, &opts, started_epoch_s));
    let pipe = if fault::injected("pipe") { Err(std::io::Error::from_raw_os_error(libc::EMFILE)) } else { os::self_pipe() };
    let (pipe_read, _pipe_write) = match pipe {
        Ok(p) => p,
        Err(e) => {
            jvmti.dispose();
            return Err(format!("cannot create the report request pipe: {e}"));
        }
    };
    let memory = MemoryCollector::new(&opts);
    let agent = Agent {
        jvmti,
        started: Instant::now(),
        attached_late: late,
        capabilities_missing: missing,
        pipe_read,
        classes: ClassTracker::new(opts.max_dead_loaders),
        stacks: Stacks::new(&opts.native),
        zlib: ZlibLedger::new(&opts.native),
        direct: DirectLedger::new(&opts.native),
        memory,
        sampled: crate::native::sampled::NativeSampler::new(opts.native_sampling, opts.native_interval, opts.native_rate, late),
        known_chains: Default::default(),
        started_epoch_s,
        options: opts,
    };
    let agent = runtime::install(agent).map_err(|_| "leakagent is already loaded in this JVM".to_string())?;
    if !late {
        // Before Unsafe's natives bind (after an attach they are never wrapped).
        guarded(Feature::Natives, (), crate::ffi::blocks::choose_allocator);
    }
    natives::set_hooks(&NATIVE_HOOKS);
    guarded(Feature::Natives, (), || agent.sampled.start(vm));
    enable_events(agent).map_err(|e| format!("cannot enable JVMTI events: {e}"))?;
    if fault::injected("events") {
        return Err("cannot enable JVMTI events: injected fault".into());
    }
    if fault::injected("panic") {
        panic!("injected fault");
    }
    if late {
        // SAFETY: as above; Agent_OnAttach runs on a thread attached to the JVM.
        let env = unsafe { current_env(vm) }?;
        *env_out = Some(env);
        live_phase_prepare(agent, &env);
        if fault::injected("attach") {
            return Err("late attach: injected fault after the events, the signal handler and the zlib wrappers".into());
        }
        if fault::injected("attach-panic") {
            panic!("injected fault after the zlib wrappers");
        }
        start_threads(agent, &env);
    }
    announce(agent);
    Ok(())
}

/// The calling thread's JNIEnv.
///
/// # Safety
/// `vm` is the JavaVM the JVM passed to the running entry point, and this thread is attached.
unsafe fn current_env(vm: *mut JavaVM) -> Result<Env, String> {
    // SAFETY: `vm` points to the JVM's invocation interface (this function's contract).
    let get_env = unsafe { (**vm).GetEnv }.ok_or("no GetEnv")?;
    let mut env_ptr: *mut c_void = ptr::null_mut();
    // SAFETY: this JVM's GetEnv, writing into a local.
    if unsafe { get_env(vm, &mut env_ptr, jni::sys::JNI_VERSION_1_6) } != JNI_OK {
        return Err("cannot get a JNIEnv in Agent_OnAttach".into());
    }
    // SAFETY: GetEnv returned the calling thread's JNIEnv, and the Env stays on this thread.
    Ok(unsafe { Env::new(env_ptr as *mut JNIEnv) })
}

/// Heap dumps that killed runs left where this run may put its own (a dump holds every secret
/// of its heap, and can be as large): removed now, whatever their age.
fn remove_dead_dumps(jvmti: &Jvmti, opts: &options::Options, started_epoch_s: i64) {
    let reports = crate::reporting::writer::expand(&opts.file, std::process::id(), &os::local_timestamp(started_epoch_s), "", 0);
    let mut dirs = vec![crate::core::files::dir_of(&reports)];
    dirs.extend(opts.chain_dump_dir.as_ref().map(std::path::PathBuf::from));
    // As at dump time: the property if given on the command line, else HotSpot's default.
    dirs.push(jvmti.system_property("java.io.tmpdir").unwrap_or_else(|| "/tmp".into()).into());
    dirs.sort();
    dirs.dedup();
    for d in dirs {
        leaks::dump::take::remove_dead(&d);
    }
}

/// Requests every capability later features need, so none needs a redesign. Returns the names of
/// those this JVM does not offer.
fn add_capabilities(jvmti: &Jvmti, late: bool) -> Vec<String> {
    let potential = jvmti.potential_capabilities().unwrap_or_default();
    let mut want = jvmtiCapabilities::default();
    let mut missing = Vec::new();
    macro_rules! want {
        ($get:ident, $set:ident) => {
            if potential.$get() != 0 {
                want.$set(1);
            } else {
                missing.push(stringify!($get).to_string());
            }
        };
    }
    want!(can_tag_objects, set_can_tag_objects);
    want!(can_generate_object_free_events, set_can_generate_object_free_events);
    want!(can_generate_native_method_bind_events, set_can_generate_native_method_bind_events);
    want!(can_get_source_file_name, set_can_get_source_file_name);
    want!(can_generate_resource_exhaustion_heap_events, set_can_generate_resource_exhaustion_heap_events);
    want!(can_generate_resource_exhaustion_threads_events, set_can_generate_resource_exhaustion_threads_events);
    want!(can_get_line_numbers, set_can_get_line_numbers);
    // The metaspace estimate where HotSpot's accounting cannot be read (loaders/metaspace.rs).
    want!(can_get_constant_pool, set_can_get_constant_pool);
    // CompiledMethodUnload: code may be reused, the native ledgers' stack templates start over.
    want!(can_generate_compiled_method_load_events, set_can_generate_compiled_method_load_events);
    if !late {
        // Only possible at start-up: lets NativeMethodBind see natives bound in the start phase.
        want!(can_generate_early_vmstart, set_can_generate_early_vmstart);
    }
    if let Err(e) = jvmti.add_capabilities(&want) {
        log::warn(&format!("AddCapabilities failed: {e}; some features will be missing"));
        missing.push(format!("all ({e})"));
    }
    missing
}

fn enable_events(agent: &Agent) -> Result<(), crate::ffi::jvmti::JvmtiError> {
    let jvmti = &agent.jvmti;
    let mut cb = jvmtiEventCallbacks { VMInit: Some(on_vm_init), ..Default::default() };
    cb.VMDeath = Some(on_vm_death);
    cb.ClassLoad = Some(on_class_load);
    cb.ClassPrepare = Some(on_class_prepare);
    cb.ObjectFree = Some(on_object_free);
    cb.DataDumpRequest = Some(on_data_dump_request);
    cb.NativeMethodBind = Some(on_native_method_bind);
    cb.CompiledMethodUnload = Some(on_compiled_method_unload);
    cb.CompiledMethodLoad = Some(on_compiled_method_load);
    cb.ResourceExhausted = Some(on_resource_exhausted);
    cb.ThreadEnd = Some(on_thread_end);
    jvmti.set_event_callbacks(&cb)?;
    jvmti.set_event(true, JVMTI_EVENT_VM_INIT)?;
    jvmti.set_event(true, JVMTI_EVENT_VM_DEATH)?;
    jvmti.set_event(true, JVMTI_EVENT_CLASS_LOAD)?;
    jvmti.set_event(true, JVMTI_EVENT_CLASS_PREPARE)?;
    if let Err(e) = jvmti.set_event(true, JVMTI_EVENT_OBJECT_FREE) {
        log::warn(&format!("ObjectFree events unavailable ({e}): class unloading is seen only at report time"));
    }
    if agent.options.datadump {
        jvmti.set_event(true, JVMTI_EVENT_DATA_DUMP_REQUEST)?;
    }
    if agent.options.oom {
        if let Err(e) = jvmti.set_event(true, JVMTI_EVENT_RESOURCE_EXHAUSTED) {
            log::warn(&format!("ResourceExhausted events unavailable ({e}): OutOfMemoryError writes no oom report"));
        }
    }
    let n = &agent.options.native;
    if n.zlib || n.direct {
        if let Err(e) = jvmti.set_event(true, JVMTI_EVENT_NATIVE_METHOD_BIND) {
            log::warn(&format!("NativeMethodBind events unavailable ({e}): zlib and direct memory are not tracked"));
            let why = format!("this JVM refused NativeMethodBind events ({e})");
            agent.zlib.set_status(Tracking::Failed, Some(why.clone()));
            agent.direct.set_status(Tracking::Failed, Some(why));
        }
        // A thread's direct counter stripe goes back as it ends, for the threads that come later.
        if n.direct {
            if let Err(e) = jvmti.set_event(true, JVMTI_EVENT_THREAD_END) {
                log::info(&format!("ThreadEnd events unavailable ({e}): direct counter stripes stay with their first threads"));
            }
        }
        // HotSpot 17+ posts an nmethod's unload only if its load was posted.
        let loads = jvmti.set_event(true, JVMTI_EVENT_COMPILED_METHOD_LOAD);
        if let Err(e) = loads.and_then(|()| jvmti.set_event(true, JVMTI_EVENT_COMPILED_METHOD_UNLOAD)) {
            log::info(&format!("CompiledMethodUnload events unavailable ({e}): every zlib/direct event is walked"));
            // Templates would outlive the code they compare.
            native::templates::disable("this JVM does not report unloaded compiled code (CompiledMethodUnload)");
        }
    }
    if !enable_class_unload_extension(agent) {
        // A Method* of an unloaded class could be reused without the templates knowing.
        native::templates::disable("this JVM does not report unloaded classes (HotSpot's ClassUnload event)");
    }
    if let Some(signo) = signal_number(agent.options.signal) {
        if let Err(e) = os::install_report_signal(signo).inspect(|()| SIGNAL_INSTALLED.store(signo, Relaxed)) {
            log::error(&format!(
                "cannot handle signal {} ({signo}) for reports: {e}; reports still come on exit{}",
                agent.options.signal,
                if agent.options.interval.is_some() { " and by interval" } else { "" }
            ));
        }
    }
    Ok(())
}

/// HotSpot's `com.sun.hotspot.events.ClassUnload` extension event (JNIEnv, class name).
/// Newer JDKs also want it enabled with SetEventNotificationMode, which older ones refuse.
/// Returns whether the callback is set.
fn enable_class_unload_extension(agent: &Agent) -> bool {
    let jvmti = &agent.jvmti;
    let Ok(Some((index, params))) = jvmti.find_extension_event("com.sun.hotspot.events.ClassUnload") else {
        return false;
    };
    if params != [JVMTI_TYPE_JNIENV, JVMTI_TYPE_CCHAR] {
        log::info("HotSpot's ClassUnload extension event has an unknown signature; not used");
        return false;
    }
    type ClassUnloadFn = unsafe extern "C" fn(*mut jvmtiEnv, *mut JNIEnv, *const c_char);
    let f: ClassUnloadFn = on_class_unload;
    // SAFETY: the parameter list was checked above; the JVM calls it through the variadic type.
    let cb: jvmtiExtensionEvent = Some(unsafe { std::mem::transmute::<ClassUnloadFn, unsafe extern "C" fn(*mut jvmtiEnv, ...)>(f) });
    // SAFETY: `cb` has the signature the event's parameters, checked above, describe.
    if unsafe { jvmti.set_extension_event_callback(index, cb) }.is_ok() {
        let _ = jvmti.set_event(true, index as jvmtiEvent);
        agent.classes.set_unload_events_enabled();
        return true;
    }
    false
}

fn announce(agent: &Agent) {
    let o = &agent.options;
    let pid = std::process::id();
    let how = match o.signal {
        ReportSignal::Off => "report signal off".to_string(),
        s => format!("for a report: kill -s {s} {pid} (signal {})", signal_number(s).unwrap_or_default()),
    };
    log::info(&format!(
        "leakagent {} active (pid {pid}): reports to {}{}; {how}{}",
        env!("CARGO_PKG_VERSION"),
        o.file,
        o.interval.map(|d| format!(" every {}s", d.as_secs())).unwrap_or_default(),
        if o.datadump { format!("; kill -3 {pid} also writes a report") } else { String::new() }
    ));
}

/// Live phase reached (VMInit): catch up on classes, set up the native ledgers and start the
/// report and sampler threads.
fn live_phase_start(agent: &Agent, env: &Env) {
    live_phase_prepare(agent, env);
    start_threads(agent, env);
}

/// Catches up on the classes loaded so far and sets up the native ledgers.
fn live_phase_prepare(agent: &Agent, env: &Env) {
    guarded(Feature::Classes, (), || {
        agent.classes.register_loaded(&agent.jvmti, env);
    });
    if agent.sampled.enabled() {
        // Classes prepared before the attach, or before ClassPrepare is posted (the primordial
        // phase: ClassLoader, Thread, String...), get their jmethodIDs now (the malloc hooks'
        // walks cannot create them).
        guarded(Feature::Natives, (), || {
            agent.sampled.ids.learn_builtin_loaders(env, |l| agent.classes.loader_id(&agent.jvmti, env, l));
            // The class references live until the frame ends.
            env.with_local_frame(1 << 16, || {
                for k in agent.jvmti.loaded_classes_in(env).unwrap_or_default() {
                    agent.sampled.ids.on_class_prepare(&agent.jvmti, env, k, None);
                }
            })
        });
    }
    let n = &agent.options.native;
    if n.zlib || n.direct {
        // Code compiled before the attach had no load posted, so HotSpot would not post its
        // unload: posting the loads now lets stack templates hear of it.
        if let Err(e) = agent.jvmti.generate_events(JVMTI_EVENT_COMPILED_METHOD_LOAD) {
            log::info(&format!("GenerateEvents(CompiledMethodLoad) failed ({e}): every zlib/direct event is walked"));
            native::templates::disable("this JVM cannot replay compiled code loaded before the attach (GenerateEvents)");
        }
    }
    guarded(Feature::Natives, (), || native_ledgers_live(agent, env));
}

/// The report thread and the sampler: started last, since nothing may fail after them.
fn start_threads(agent: &Agent, env: &Env) {
    guarded(Feature::Triggers, (), || {
        if fault::injected("no-report-thread") {
            return;
        }
        if let Err(e) = start_agent_thread(agent, env, "leakagent-report", report_thread_main) {
            log::error(&format!("cannot start the report thread: {e}; only the exit report will be written"));
            health::bump(&COUNTERS.errors);
        }
    });
    if agent.options.sample_interval.is_some() {
        guarded(Feature::Sampler, (), || {
            if let Err(e) = start_agent_thread(agent, env, "leakagent-sampler", sampler_thread_main) {
                log::error(&format!("cannot start the sampler thread: {e}; reports will have no samples"));
                health::bump(&COUNTERS.errors);
            }
        });
    }
    // Nested in Startup: a failure here must not switch off reports or triggers.
    guarded(Feature::Startup, (), || crate::reporting::state::publish_started(agent, env));
}

/// The native ledgers in the live phase: stacks can be walked; the ids of `Inflater.end()` and
/// `Deflater.end()` tell explicit releases on cleanup threads; after a late attach the zlib
/// natives are re-bound, and the missing Unsafe wrappers are explained.
fn native_ledgers_live(agent: &Agent, env: &Env) {
    let n = &agent.options.native;
    agent.stacks.set_live(env);
    if n.zlib {
        let inflater = env.find_class(c"java/util/zip/Inflater");
        let deflater = env.find_class(c"java/util/zip/Deflater");
        agent.zlib.set_end_methods(env.method_id(inflater.raw(), c"end", c"()V"), env.method_id(deflater.raw(), c"end", c"()V"));
    }
    if agent.attached_late {
        if n.zlib {
            let home = agent.jvmti.system_property("java.home").unwrap_or_default();
            let libzip = format!("{home}/lib/libzip.so");
            let rebound = natives::rebind_zlib(env, &libzip);
            if rebound.is_ok() {
                ZLIB_REBOUND.store(true, Relaxed);
                COUNTERS.natives_wrapped.fetch_add(4, std::sync::atomic::Ordering::Relaxed);
            }
            agent.zlib.rebound_after_attach(rebound);
        }
        if n.direct {
            agent.direct.attached_late();
        }
    } else if n.direct && agent.direct.tracking() == Tracking::Full && !natives::wrapped(Native::AllocateMemory) {
        agent.direct.natives_missed(!agent.capabilities_missing.iter().any(|c| c == "can_generate_early_vmstart"));
    }
}

type AgentThreadMain = unsafe extern "C" fn(*mut jvmtiEnv, *mut JNIEnv, *mut c_void);

fn start_agent_thread(agent: &Agent, env: &Env, thread_name: &str, main: AgentThreadMain) -> Result<(), String> {
    use jni::objects::JValue;
    let mut jenv = env.jni().ok_or("no JNIEnv")?;
    let name = jenv.new_string(thread_name).map_err(|e| e.to_string())?;
    let thread = jenv
        .new_object("java/lang/Thread", "(Ljava/lang/String;)V", &[JValue::Object(&name)])
        .map_err(|e| {
            env.clear_exception();
            e.to_string()
        })?;
    // Tagged as the agent's own, so that a chain search never starts a chain at a reference
    // this thread holds (leaks/walk/search.rs; a dump search knows it from the marker array).
    let _ = agent.jvmti.set_tag(thread.as_raw(), crate::loaders::tags::TAG_SELF_THREAD);
    // SAFETY: `thread` is a fresh, unstarted java.lang.Thread.
    unsafe { agent.jvmti.run_agent_thread(thread.as_raw(), Some(main), ptr::null()) }
        .map_err(|e| e.to_string())
}
