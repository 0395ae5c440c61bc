//! The release a user downloads (scripts/release.sh): the tarball's library and command need no
//! glibc newer than 2.17 and no library but the C library's own, carry no debug info (it is in
//! the .debug tarball beside it, found through a debuglink), and, unpacked away from target/, the
//! library finds the seed-000 zlib leak on every JDK, has no fault injection,
//! and the packaged command renders the report it wrote.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const OLDEST_GLIBC: (u32, u32) = (2, 17);

/// Parts of glibc itself: every JVM's process has them.
const GLIBC_LIBRARIES: [&str; 5] = ["libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "ld-linux-x86-64.so.2"];

const BINARIES: [&str; 2] = ["lib/libleakagent.so", "bin/leakagent"];

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tarball(suffix: &str) -> PathBuf {
    root().join(format!("dist/leakagent-{}-linux-x86_64{suffix}", env!("CARGO_PKG_VERSION")))
}

/// Runs scripts/release.sh once per test binary (scripts/test.sh has run it before, so this only
/// checks that nothing changed) and unpacks the tarball into a fresh directory: the release's
/// top directory.
fn unpacked() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        run(Command::new("bash").arg(root().join("scripts/release.sh")));
        let dir = temp_dir("release");
        run(Command::new("tar").arg("-xzf").arg(tarball(".tar.gz")).arg("-C").arg(&dir));
        dir.join(format!("leakagent-{}-linux-x86_64", env!("CARGO_PKG_VERSION")))
    })
}

/// The glibc symbol versions an ELF file needs (its version-needs section, which ld.so checks).
fn glibc_versions(elf: &Path) -> Vec<(u32, u32)> {
    let text = run(Command::new("readelf").arg("--version-info").arg("--wide").arg(elf));
    let mut v: Vec<(u32, u32)> = text
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("GLIBC_"))
        .filter_map(|ver| {
            let mut parts = ver.split('.').map(|p| p.parse::<u32>());
            Some((parts.next()?.ok()?, parts.next().unwrap_or(Ok(0)).ok()?))
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

fn section_names(elf: &Path) -> Vec<String> {
    let text = run(Command::new("readelf").arg("--section-headers").arg("--wide").arg(elf));
    // Lines like "  [12] .text  PROGBITS ...".
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix('[').and_then(|l| l.split_once(']')))
        .filter_map(|(_, rest)| rest.split_whitespace().next().map(str::to_string))
        .collect()
}

fn needed_libraries(elf: &Path) -> Vec<String> {
    let text = run(Command::new("readelf").arg("--dynamic").arg("--wide").arg(elf));
    text.lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split_once('[').and_then(|(_, r)| r.split_once(']')).map(|(name, _)| name.to_string()))
        .collect()
}

#[test]
fn the_tarball_holds_stripped_binaries_for_glibc_2_17_and_what_a_user_reads() {
    let dir = unpacked();
    for f in ["README.md", "LICENSE", "examples/ci-gate.sh", "examples/systemd/myapp.service"] {
        assert!(dir.join(f).is_file(), "{f} is missing from the tarball");
    }
    assert!(std::fs::read_to_string(dir.join("LICENSE")).unwrap().contains("Apache License"));
    let sums = run(Command::new("sha256sum").arg("--check").arg(tarball(".sha256")).current_dir(root().join("dist")));
    assert_eq!(sums.lines().filter(|l| l.ends_with(": OK")).count(), 2, "{sums}");
    let listing = run(Command::new("tar").arg("-tzf").arg(tarball(".tar.gz")));
    assert!(!listing.lines().any(|l| l.ends_with(".debug")), "debug files inside the tarball:\n{listing}");

    let debug_dir = temp_dir("release-debug");
    run(Command::new("tar").arg("-xzf").arg(tarball(".debug.tar.gz")).arg("-C").arg(&debug_dir));
    for f in BINARIES {
        let elf = dir.join(f);
        let versions = glibc_versions(&elf);
        let newest = *versions.last().unwrap_or_else(|| panic!("{f} needs no glibc version at all?"));
        let size = std::fs::metadata(&elf).unwrap().len();
        say(&format!("release: {f}: {size} bytes, needs GLIBC_{}.{} at most", newest.0, newest.1));
        assert!(newest <= OLDEST_GLIBC, "{f} needs GLIBC_{}.{}: {versions:?}", newest.0, newest.1);

        for lib in needed_libraries(&elf) {
            assert!(GLIBC_LIBRARIES.contains(&lib.as_str()), "{f} needs {lib}, which a JVM's host may not have");
        }

        let sections = section_names(&elf);
        assert!(sections.iter().any(|s| s == ".text"), "{f}: no sections read: {sections:?}");
        // DWARF; `.debug_gdb_scripts` is not: a loaded section that names Rust's gdb pretty-printers.
        let debug: Vec<&String> = sections.iter().filter(|s| s.starts_with(".debug_") && *s != ".debug_gdb_scripts").collect();
        assert!(debug.is_empty(), "{f} still carries debug info: {debug:?}");
        // A sanity bound, not a target: with debug info the library weighs ~18 MB.
        assert!(size < 8 << 20, "{f} is {size} bytes");

        // The debuglink names the .debug file of the debug tarball, at the same relative path.
        let link = run(Command::new("readelf").arg("--string-dump=.gnu_debuglink").arg(&elf));
        let name = format!("{}.debug", Path::new(f).file_name().unwrap().to_string_lossy());
        assert!(link.contains(&name), "{f}'s debuglink does not name {name}:\n{link}");
        let debug_file = debug_dir.join(dir.file_name().unwrap()).join(format!("{f}.debug"));
        assert!(section_names(&debug_file).iter().any(|s| s == ".debug_info"), "{} has no .debug_info", debug_file.display());
    }
}

/// seed 000 with the downloaded library, on every JDK: every Inflater the scan made is counted at
/// the loader's site and found left to GC, and the downloaded command shows what the agent wrote.
#[test]
fn the_packaged_library_finds_the_zlib_leak_and_the_packaged_command_shows_it() {
    let dir = unpacked();
    let javas = every_java("release");
    for java in &javas {
        let v = java_feature_version(java);
        let f = Jvm::scenario(&format!("release-scan-{v}"), "springboot-scan")
            .agent_library(&dir.join("lib/libleakagent.so"))
            .options("format=text")
            .java(java)
            .run();
        assert_eq!(f.code, Some(0), "JDK {v}: {}", f.stderr);
        let r = f.death_report();
        assert_eq!(r.agent.health.panics, 0, "JDK {v}: {:?}", r.agent.health);
        assert_eq!(r.zlib.tracking, Tracking::Full, "JDK {v}: {:?}", r.zlib);
        let created = f.truth("inflaters_created");
        let found: Vec<&Finding> = r.findings.iter().filter(|x| x.kind == "zlib_not_ended").collect();
        assert_eq!(found.len(), 1, "JDK {v}: {:?}", r.findings);
        let summary = &found[0].summary;
        assert!(summary.starts_with(&format!("{created} of {created} Inflaters created at ")), "JDK {v}: {summary}");
        assert!(summary.contains("freed only by GC"), "JDK {v}: {summary}");

        let json = report_files(&f.dir).pop().unwrap();
        let shown = run(Command::new(dir.join("bin/leakagent")).arg("show").arg(&json));
        let text = std::fs::read_to_string(json.with_extension("txt")).unwrap();
        assert_eq!(shown, text, "JDK {v}: the packaged command prints the packaged agent's own text rendering");
        assert!(shown.contains("Inflater"), "JDK {v}: {shown}");
    }
    ran_on("release", &javas);
}

/// What users load has no fault injection (a test build's feature): the packaged library ignores
/// LEAKAGENT_FAULT and reports as usual. (Unwinding through zig's statically linked unwinder was
/// checked with a panic injected at start-up while fault injection was still in every build: the
/// guard caught it and the JVM ran on.)
#[test]
fn the_packaged_library_has_no_fault_injection() {
    let dir = unpacked();
    let lib = std::fs::read(dir.join("lib/libleakagent.so")).unwrap();
    assert!(!lib.windows(b"LEAKAGENT_FAULT".len()).any(|w| w == b"LEAKAGENT_FAULT"));
    let f = Jvm::scenario("release-nofault", "healthy")
        .agent_library(&dir.join("lib/libleakagent.so"))
        .env("LEAKAGENT_FAULT", "panic")
        .run();
    assert_eq!(f.code, Some(0), "{}", f.stderr);
    assert!(f.stderr.contains(" active (pid"), "{}", f.stderr);
    assert_eq!(f.reports().len(), 1, "the exit report");
}
