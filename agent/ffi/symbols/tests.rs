use super::*;

#[test]
fn demangles_the_qualified_name() {
    let cases = [
        ("_ZN2os6mallocEm8MEMFLAGS", "os::malloc"),
        ("_ZNK14compI_rRegNode4emitER10CodeBufferP13PhaseRegAlloc", "compI_rRegNode::emit"),
        ("_ZN7ciBlockC1EP8ciMethodii", "ciBlock::ciBlock"),
        ("_ZN9metaspaceL14print_settingsEP12outputStreamm", "metaspace::print_settings"),
        ("_ZN26GrowableArrayWithAllocatorI10SWNodeInfo13GrowableArrayIS0_EE4growEi", "GrowableArrayWithAllocator<…>::grow"),
        ("_ZN6ThreadD2Ev", "Thread::~Thread"),
        ("_Z10skip_commaRPc", "skip_comma"),
        ("_ZN5Arena4growEmN17AllocFailStrategy13AllocFailEnumE.part.0", "Arena::grow.part.0"),
        ("_ZNSt6vectorIiSaIiEE9push_backERKi", "std::vector<…>::push_back"),
        ("_ZN9leakagent3ffi7natives13inflater_init17h1fd6aedc29eca45cE", "leakagent::ffi::natives::inflater_init"),
        ("malloc", "malloc"),
        ("JVM_GetClassName", "JVM_GetClassName"),
        // Cannot be followed: as it is.
        ("_ZN3fooI", "_ZN3fooI"),
        ("_Z", "_Z"),
    ];
    for (mangled, want) in cases {
        assert_eq!(demangle(mangled), want, "{mangled}");
    }
}

#[inline(never)]
fn probe_for_the_symbol_table(x: usize) -> usize {
    std::hint::black_box(x.wrapping_mul(31))
}

#[test]
fn names_a_local_function_from_the_file_symbol_table() {
    // A function of this test program: not exported, so only .symtab names it.
    let pc = probe_for_the_symbol_table as *const () as usize + 2;
    let (file, _, offset) = dl_info(pc).expect("dladdr knows the test program");
    let found = symbols_of(&file, &[offset]).expect("readable").expect("a symbol table");
    let name = found[0].clone().expect("named");
    assert!(name.contains("probe_for_the_symbol_table"), "{name}");
    let mut s = Symbolizer::default();
    s.resolve([pc]);
    let (_, symbol) = s.name(pc);
    assert!(symbol.as_deref().is_some_and(|n| n.contains("probe_for_the_symbol_table")), "{symbol:?}");
    // An address in no library.
    s.resolve([16]);
    assert_eq!(s.name(16), (None, None));
}

#[test]
fn a_file_that_is_not_elf_is_an_error() {
    let dir = std::env::temp_dir().join(format!("leakagent-symbols-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("not-elf.so");
    std::fs::write(&f, b"not an ELF file at all").unwrap();
    assert!(symbols_of(f.to_str().unwrap(), &[0]).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A stripped library whose `.gnu_debuglink` names a debug file in `.debug/` beside it, as
/// `objcopy` makes them (skipped without objcopy).
#[test]
fn a_stripped_file_is_named_from_its_debug_file() {
    let pc = probe_for_the_symbol_table as *const () as usize + 2;
    let (file, _, offset) = dl_info(pc).expect("dladdr knows the test program");
    let dir = std::env::temp_dir().join(format!("leakagent-debuglink-{}", std::process::id()));
    std::fs::create_dir_all(dir.join(".debug")).unwrap();
    let (lib, debug) = (dir.join("probe.so"), dir.join(".debug/probe.so.debug"));
    let objcopy = |args: &[&std::ffi::OsStr]| std::process::Command::new("objcopy").args(args).status().is_ok_and(|s| s.success());
    if !objcopy(&["--only-keep-debug".as_ref(), file.as_ref(), debug.as_os_str()]) {
        eprintln!("a_stripped_file_is_named_from_its_debug_file: skipped, objcopy is not there");
        std::fs::remove_dir_all(&dir).unwrap();
        return;
    }
    let link = format!("--add-gnu-debuglink={}", debug.display());
    assert!(objcopy(&["--strip-all".as_ref(), link.as_ref(), file.as_ref(), lib.as_os_str()]));
    let lib = lib.to_str().unwrap();
    // The stripped file alone has no .symtab: only the debug file can name the function.
    let found = symbols_of(lib, &[offset]).expect("readable").expect("named through the debug link");
    assert!(found[0].as_deref().is_some_and(|n| n.contains("probe_for_the_symbol_table")), "{found:?}");
    std::fs::remove_file(&debug).unwrap();
    assert_eq!(symbols_of(lib, &[offset]), Ok(None), "no symbol table anywhere");
    std::fs::remove_dir_all(&dir).unwrap();
}
