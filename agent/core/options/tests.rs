use super::table::{Unset, HELP_MARGIN, MAX_INTERVAL};
use super::*;

#[test]
fn defaults_when_empty() {
    let o = parse("").unwrap();
    assert_eq!(o.file, "leakagent-%p-%s-%n.json");
    assert_eq!(o.signal, ReportSignal::RtMin(2));
    assert_eq!(o.interval, None);
    assert!(!o.datadump && !o.help && !o.formats.text && !o.formats.html);
    assert!(!o.trim);
    assert_eq!(o.sample_interval, Some(Duration::from_secs(1)));
    assert_eq!(o.samples, 600);
}

#[test]
fn memory_options() {
    let o = parse("trim=on,sample_interval=250ms,samples=32").unwrap();
    assert!(o.trim);
    assert_eq!(o.sample_interval, Some(Duration::from_millis(250)));
    assert_eq!(o.samples, 32);
    assert_eq!(parse("sample_interval=off").unwrap().sample_interval, None);
    assert_eq!(parse("sample_interval=10ms").unwrap().sample_interval, Some(Duration::from_millis(10)));
    assert_eq!(parse("sample_interval=2m").unwrap().sample_interval, Some(Duration::from_secs(120)));
    assert!(!parse("trim=off").unwrap().trim);
    let errs = parse("trim=sometimes,sample_interval=5ms,samples=3").unwrap_err();
    let names: Vec<_> = errs.iter().map(|e| e.option.as_str()).collect();
    assert_eq!(names, ["trim", "sample_interval", "samples"]);
    for bad in ["", "1", "9ms", "1.5s", "fast", "99999999999999999999h"] {
        assert_eq!(parse(&format!("sample_interval={bad}")).unwrap_err()[0].option, "sample_interval", "{bad}");
    }
    for bad in ["", "15", "100001", "-1", "ten"] {
        assert_eq!(parse(&format!("samples={bad}")).unwrap_err()[0].option, "samples", "{bad}");
    }
    assert!(parse("samples=16").is_ok() && parse("samples=100000").is_ok());
}

#[test]
fn every_option_parses() {
    let o = parse("file=/tmp/r-%p-%t-%n,format=text+html,signal=USR1,interval=5m,log=/tmp/a.log,datadump=on")
        .unwrap();
    assert_eq!(o.file, "/tmp/r-%p-%t-%n");
    assert_eq!(o.formats, Formats { text: true, html: true, prom: false, jsonl: false });
    assert_eq!(o.signal, ReportSignal::Usr1);
    assert_eq!(o.interval, Some(Duration::from_secs(300)));
    assert_eq!(o.log.as_deref(), Some("/tmp/a.log"));
    assert!(o.datadump);
    assert!(parse("help").unwrap().help);
}

#[test]
fn signals() {
    assert_eq!(parse("signal=SIGRTMIN+8").unwrap().signal, ReportSignal::RtMin(8));
    let e = parse("signal=USR2").unwrap_err();
    assert_eq!(e[0].option, "signal");
    assert!(e[0].allowed.contains("HotSpot"), "{}", e[0]);
}

#[test]
fn intervals() {
    let interval = |v: &str| parse(&format!("interval={v}")).map(|o| o.interval);
    assert_eq!(interval("30s").unwrap(), Some(Duration::from_secs(30)));
    assert_eq!(interval("1h").unwrap(), Some(Duration::from_secs(3600)));
    assert_eq!(interval("1500ms").unwrap(), Some(Duration::from_millis(1500)));
    assert_eq!(interval("off").unwrap(), None);
    for bad in ["", "5", "s", "10x", "500ms", "-1s", "1.5s", "99999999999999999999s"] {
        let e = interval(bad).unwrap_err();
        assert_eq!(e[0].option, "interval", "{bad}");
        assert!(e[0].allowed.contains("from 1s to 720h") && e[0].allowed.contains("or off"), "{}", e[0]);
    }
}

/// Every duration option has an upper bound: `interval=18446744073709551615s` used to be
/// accepted, then the interval deadline overflowed and panicked in the report thread.
#[test]
fn every_duration_is_bounded() {
    let huge = "18446744073709551615s";
    for (key, allowed) in [
        ("interval", "from 1s to 720h"),
        ("sample_interval", "from 10ms to 1h"),
        ("chain_time", "from 1s to 1h"),
        ("chain_pause", "from 10ms to 1m"),
        ("exit_timeout", "from 1s to 10m"),
    ] {
        let e = parse(&format!("{key}={huge}")).unwrap_err();
        assert_eq!((e[0].option.as_str(), e[0].value.as_str()), (key, huge));
        assert!(e[0].allowed.contains(allowed), "{}", e[0]);
    }
    assert_eq!(parse("interval=720h").unwrap().interval, Some(MAX_INTERVAL));
    assert!(parse("interval=721h").is_err());
    let o = parse("").unwrap();
    for d in [o.chain_time, o.chain_pause, o.exit_timeout, o.sample_interval.unwrap()] {
        assert!(std::time::Instant::now().checked_add(d).is_some());
    }
}

#[test]
fn retention_options() {
    let o = parse("").unwrap();
    assert_eq!((o.keep, o.keep_bytes, o.jsonl_max, o.interval_gc), (Some(100), Some(256 << 20), 64 << 20, false));
    let o = parse("keep=3,keep_bytes=off,jsonl_max=1m,interval_gc=on").unwrap();
    assert_eq!((o.keep, o.keep_bytes, o.jsonl_max, o.interval_gc), (Some(3), None, 1 << 20, true));
    assert_eq!(parse("keep=off").unwrap().keep, None);
    for bad in ["keep=0", "keep=x", "keep_bytes=1k", "jsonl_max=1k", "jsonl_max=off", "interval_gc=2"] {
        let e = parse(bad).unwrap_err();
        assert_eq!(e[0].option, bad.split('=').next().unwrap(), "{bad}");
    }
    assert!(parse("keep=0").unwrap_err()[0].allowed.contains("from 1 to 1000000, or off"));
}

#[test]
fn all_errors_are_reported_at_once() {
    let errs = parse("bogus=1,signal=USR2,interval=soon,format=pdf,datadump=maybe").unwrap_err();
    let names: Vec<_> = errs.iter().map(|e| e.option.as_str()).collect();
    assert_eq!(names, ["bogus", "signal", "interval", "format", "datadump"]);
    for e in &errs {
        let msg = e.to_string();
        assert!(msg.contains(&e.option) && msg.contains(&e.value), "{msg}");
    }
    assert!(errs[0].allowed.contains("known options"));
}

#[test]
fn leak_options() {
    let o = parse("gc=off,chains=off,chain_time=2m,chain_objects=5000,leak_loaders=plugin-*+*Webapp*").unwrap();
    assert!(!o.gc && o.chains == Chains::Off);
    assert_eq!(parse("chains=demand").unwrap().chains, Chains::Demand);
    assert!(parse("chains=sometimes").unwrap_err()[0].allowed.contains("demand"));
    assert_eq!(o.chain_time, Duration::from_secs(120));
    assert_eq!(o.chain_objects, 5000);
    assert_eq!(o.leak_loaders, ["plugin-*", "*Webapp*"]);
    let d = parse("").unwrap();
    assert!(d.gc && d.chains == Chains::Demand && d.leak_loaders.is_empty());
    assert_eq!(parse("chains=on").unwrap().chains, Chains::On);
    for bad in ["chain_time=0", "chain_time=fast", "chain_objects=9", "chain_objects=x", "leak_loaders=", "gc=maybe"] {
        let e = parse(bad).unwrap_err();
        assert_eq!(e[0].option, bad.split('=').next().unwrap(), "{bad}: {e:?}");
    }
}

#[test]
fn safety_options() {
    let d = parse("").unwrap();
    assert_eq!(d.exit_timeout, Duration::from_secs(10));
    assert_eq!((d.chain_pause, d.chain_memory), (Duration::from_secs(1), 64 << 20));
    assert_eq!((d.chain_method, d.chain_dump_dir.as_deref()), (ChainMethod::Auto, None));
    assert_eq!(d.max_dead_loaders, 1000);
    let o = parse("exit_timeout=25s,chain_pause=1500ms,chain_memory=1g,chain_method=dump,chain_dump_dir=/var/tmp,max_dead_loaders=50")
        .unwrap();
    assert_eq!(o.exit_timeout, Duration::from_secs(25));
    assert_eq!((o.chain_pause, o.chain_memory, o.chain_method), (Duration::from_millis(1500), 1 << 30, ChainMethod::Dump));
    assert_eq!((o.chain_dump_dir.as_deref(), o.max_dead_loaders), (Some("/var/tmp"), 50));
    assert_eq!(parse("chain_method=walk").unwrap().chain_method, ChainMethod::Walk);
    for bad in [
        "exit_timeout=0",
        "exit_timeout=500ms",
        "exit_timeout=11m",
        "chain_pause=5ms",
        "chain_pause=2m",
        "chain_memory=512k",
        "chain_memory=5g",
        "chain_memory=lots",
        "chain_method=guess",
        "chain_dump_dir=",
        "max_dead_loaders=3",
    ] {
        let e = parse(bad).unwrap_err();
        assert_eq!(e[0].option, bad.split('=').next().unwrap(), "{bad}: {e:?}");
        assert!(e[0].allowed.contains("allowed") || e[0].allowed.contains("required"), "{bad}: {}", e[0]);
    }
}

#[test]
fn limit_options() {
    let d = parse("").unwrap();
    assert_eq!(d.limits, Limits::default());
    assert!(d.oom && d.prom_file.is_none() && !d.formats.prom && !d.formats.jsonl);
    let o = parse("rss_limit=3g,usage_limit=85%,direct_limit=80%,zlib_limit=1000,loaders_limit=50,oom=off,format=json+prom+jsonl,prom_file=/var/lib/ne/leak-%p.prom,jsonl_file=/var/log/leak.jsonl")
        .unwrap();
    assert_eq!(o.limits.rss.as_ref().unwrap().level, Level::Bytes(3 << 30));
    assert_eq!(o.limits.usage.as_ref().unwrap().level, Level::Percent(85.0));
    assert_eq!(o.limits.usage.as_ref().unwrap().raw, "85%");
    assert_eq!(o.limits.direct.as_ref().unwrap().level, Level::Percent(80.0));
    assert_eq!(o.limits.zlib.as_ref().unwrap().level, Level::Count(1000));
    assert_eq!(o.limits.loaders.as_ref().unwrap().level, Level::Count(50));
    assert_eq!(o.limits.all().count(), 5);
    assert!(!o.oom && o.formats.prom && o.formats.jsonl);
    assert_eq!(o.prom_file.as_deref(), Some("/var/lib/ne/leak-%p.prom"));
    assert_eq!(parse("rss_limit=92.5%").unwrap().limits.rss.unwrap().level, Level::Percent(92.5));
    assert_eq!(parse("rss_limit=off").unwrap().limits.rss, None);
    let e = parse("sample_interval=off,zlib_limit=10").unwrap_err();
    assert_eq!((e.len(), e[0].option.as_str()), (1, "zlib_limit"));
    assert!(e[0].allowed.contains("sample_interval=off"), "{}", e[0]);
    for bad in [
        "rss_limit=0",
        "rss_limit=0%",
        "rss_limit=101%",
        "rss_limit=lots",
        "rss_limit=-5%",
        "rss_limit=",
        "usage_limit=3x",
        "direct_limit=200%",
        "zlib_limit=0",
        "zlib_limit=10%",
        "loaders_limit=many",
        "oom=maybe",
        "prom_file=/tmp/x-%n.prom",
        "jsonl_file=",
        "format=json+csv",
    ] {
        let e = parse(bad).unwrap_err();
        assert_eq!(e[0].option, bad.split('=').next().unwrap(), "{bad}: {e:?}");
        assert!(e[0].to_string().contains("allowed") || e[0].to_string().contains("must") || e[0].to_string().contains("required"), "{bad}: {}", e[0]);
    }
}

#[test]
fn file_patterns() {
    assert!(parse("file=/tmp/r-%p-%s-%n").is_ok());
    assert!(parse("file=").is_err());
    assert!(parse("file=/tmp/x%q").is_err());
    assert!(parse("file=/tmp/dir/").is_err());
    assert!(parse("file=/tmp/100%%").is_ok());
    assert!(parse("file=a,file=b").unwrap_err()[0].allowed.contains("twice"));
    assert!(parse("log=").is_err());
    assert!(parse("help=1").is_err());
}

#[test]
fn native_options() {
    let d = parse("").unwrap().native;
    assert_eq!(d, NativeOptions::default());
    assert!(d.zlib && d.direct && d.stack_depth == 16 && d.key_depth == 8 && d.hot_sample == 1);
    let o = parse("zlib=off,direct=off,stack_depth=32,key_depth=12,hot_sample=64,stack_templates=off,max_sites=100,max_tracked=5000")
        .unwrap()
        .native;
    assert_eq!(
        o,
        NativeOptions {
            zlib: false,
            direct: false,
            stack_depth: 32,
            key_depth: 12,
            hot_sample: 64,
            stack_templates: false,
            max_sites: 100,
            max_tracked: 5000
        }
    );
    // A shallow stack lowers the default key depth; it may still be 1 frame deep.
    let shallow = parse("stack_depth=6").unwrap().native;
    assert_eq!((shallow.stack_depth, shallow.key_depth), (6, 6));
    assert_eq!(parse("stack_depth=1").unwrap().native.key_depth, 1);
    let e = parse("stack_depth=6,key_depth=10").unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].option, "key_depth");
    assert!(e[0].allowed.contains("stack_depth (6)"), "{}", e[0]);
    for bad in [
        "stack_depth=0",
        "stack_depth=65",
        "key_depth=3",
        "key_depth=17",
        "hot_sample=0",
        "stack_templates=yes please",
        "max_sites=15",
        "max_tracked=10",
        "max_tracked=63",
        "zlib=maybe",
        "direct=",
        "stack_depth=-1",
        "key_depth=8.5",
    ] {
        let e = parse(bad).unwrap_err();
        assert!(e[0].allowed.contains("allowed"), "{bad}: {}", e[0]);
    }
}

#[test]
fn help_lists_every_option_with_its_default() {
    let h = help_text();
    for o in OPTIONS {
        // An option's entry: its line and the wrapped lines under it, joined.
        let mut lines = h.lines().skip_while(|l| !l.starts_with(&format!("  {} ", o.key)) && l.trim() != o.key);
        let first = lines.next().unwrap_or_else(|| panic!("{}", o.key));
        let rest: Vec<&str> = lines.take_while(|l| l.starts_with(&" ".repeat(HELP_MARGIN))).map(str::trim).collect();
        let entry = std::iter::once(first.trim_end()).chain(rest).collect::<Vec<_>>().join(" ");
        if let Value(v) = o.default {
            assert!(entry.ends_with(&format!("(default: {v})")), "{entry}");
        }
    }
}

/// Each default parses to the same value through the table, and `parse("")` is the default.
#[test]
fn defaults_come_from_the_table() {
    let d = Options::default();
    assert_eq!(parse("").unwrap(), Options { raw: String::new(), ..d.clone() });
    for o in OPTIONS {
        if let Value(v) = o.default {
            let given = parse(&format!("{}={v}", o.key)).unwrap();
            assert_eq!(Options { raw: String::new(), ..given }, d, "{}", o.key);
        }
    }
    assert_eq!(d.signal, ReportSignal::RtMin(2));
    assert_eq!((d.chain_time, d.samples, d.native.max_tracked), (Duration::from_secs(60), 600, 2_000_000));
}

#[test]
fn an_unknown_option_suggests_the_nearest_one() {
    let e = parse("fmt=text").unwrap_err();
    assert!(e[0].to_string().contains("did you mean 'format'?"), "{}", e[0]);
    assert!(parse("intervall=5m").unwrap_err()[0].to_string().contains("did you mean 'interval'?"));
    assert!(parse("sgnal=USR1").unwrap_err()[0].to_string().contains("did you mean 'signal'?"));
    assert!(!parse("zzzz=1").unwrap_err()[0].to_string().contains("did you mean"));
}

#[test]
fn help_fits_100_columns() {
    let h = help_text();
    for line in h.lines() {
        assert!(line.chars().count() <= 100, "{} columns: {line}", line.chars().count());
    }
    assert!(h.contains("\n  file              where reports go;"), "{h}");
}

/// README's options table names every option with the table's default, so the document
/// cannot drift from the code.
#[test]
fn readme_lists_every_option_with_its_default() {
    // The README links the options page; the page's table is the reference.
    assert!(include_str!("../../../README.md").contains("(docs/options.md)"));
    let page = include_str!("../../../docs/options.md");
    let section = page.split("\n## ").next().unwrap();
    let mut documented: Vec<(String, String)> = Vec::new();
    for row in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let keys: Vec<String> = cells[0]
            .trim_start_matches("| ")
            .split(", ")
            .map(|k| k.trim_matches('`').split('=').next().unwrap().to_string())
            .collect();
        let defaults: Vec<&str> = if keys.len() == 1 { vec![cells[1]] } else { cells[1].split(", ").collect() };
        assert_eq!(keys.len(), defaults.len(), "README row: {row}");
        documented.extend(keys.into_iter().zip(defaults.into_iter().map(String::from)));
    }
    for o in OPTIONS {
        let (_, d) = documented
            .iter()
            .find(|(k, _)| k == o.key)
            .unwrap_or_else(|| panic!("README's options table lacks `{}`", o.key));
        match o.default {
            Value(v) => assert!(d.contains(&format!("`{v}`")), "README gives `{}` the default {d:?}, the table {v:?}", o.key),
            Unset(v) => assert!(d.replace('`', "").contains(v), "README gives `{}` the default {d:?}, the table {v:?}", o.key),
        }
    }
    for (k, _) in &documented {
        assert!(OPTIONS.iter().any(|o| o.key == k), "README documents `{k}`, which is not an option");
    }
}

/// The `chain_objects` help quotes the cost of one tagged object; the search's constant is the
/// one place that fact lives, so the text must follow it.
#[test]
fn chain_objects_help_quotes_the_cost_per_node() {
    let o = OPTIONS.iter().find(|o| o.key == "chain_objects").unwrap();
    let cost = format!("about {} bytes each", crate::leaks::walk::search::BYTES_PER_NODE);
    assert!(o.help.contains(&cost), "chain_objects help should say {cost:?}: {}", o.help);
}

/// Random strings never panic the parser (a tiny xorshift keeps the test dependency-free).
#[test]
fn random_strings_never_panic() {
    let alphabet: Vec<char> = "abcdefhilmnoprstuvx=,+%/.0123456789 RTMINUS\u{e9}\u{1F600}-_\0".chars().collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let keys = [
        "file=", "format=", "signal=", "interval=", "log=", "datadump=", "gc=", "chains=", "chain_time=",
        "chain_objects=", "chain_pause=", "chain_memory=", "chain_method=", "chain_dump_dir=", "exit_timeout=",
        "max_dead_loaders=", "leak_loaders=", "trim=", "sample_interval=", "samples=", "help", "", "zlib=",
        "direct=", "stack_depth=", "key_depth=", "hot_sample=", "stack_templates=", "max_sites=", "max_tracked=",
        "rss_limit=", "usage_limit=", "direct_limit=", "zlib_limit=", "loaders_limit=", "oom=", "prom_file=",
        "jsonl_file=", "native=", "native_interval=", "native_rate=",
    ];
    for _ in 0..20_000 {
        let len = (next() % 40) as usize;
        let mut s = String::from(keys[(next() % keys.len() as u64) as usize]);
        for _ in 0..len {
            s.push(alphabet[(next() % alphabet.len() as u64) as usize]);
        }
        let _ = parse(&s);
    }
}

#[test]
fn native_sampling_options() {
    let d = Options::default();
    assert!(d.native_sampling);
    assert_eq!(d.native_interval, 2 << 20);
    let o = parse("native=on,native_interval=64k").unwrap();
    assert!(o.native_sampling);
    assert_eq!(o.native_interval, 64 << 10);
    assert_eq!((d.native_rate, parse("native_rate=50").unwrap().native_rate), (2000, 50));
    for bad in ["native=maybe", "native_interval=1k", "native_interval=2g", "native_interval=x", "native_rate=5", "native_rate=1m"] {
        let e = parse(bad).unwrap_err();
        let key = bad.split('=').next().unwrap();
        assert_eq!((e.len(), e[0].option.as_str()), (1, key), "{bad}");
        assert!(!e[0].allowed.is_empty(), "{bad}: {}", e[0]);
    }
}
