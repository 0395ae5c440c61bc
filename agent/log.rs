//! The agent's own log: one line per message, to standard error or to `log=PATH`.
//! Messages are rare (start-up, reports, first failure of a feature), so a mutex is fine here.

use parking_lot::Mutex;
use std::fs::File;
use std::io::Write;

static SINK: Mutex<Option<File>> = Mutex::new(None);

/// Sends further log lines to `file` instead of standard error.
pub fn set_file(file: File) {
    *SINK.lock() = Some(file);
}

fn write(level: &str, msg: &str) {
    let line = format!("[leakagent] {level}: {msg}\n");
    let mut sink = SINK.lock();
    let ok = match sink.as_mut() {
        Some(f) => f.write_all(line.as_bytes()).is_ok(),
        None => false,
    };
    if !ok {
        let _ = std::io::stderr().write_all(line.as_bytes());
    }
}

pub fn info(msg: &str) {
    write("info", msg);
}

pub fn warn(msg: &str) {
    write("warning", msg);
}

pub fn error(msg: &str) {
    write("error", msg);
}
