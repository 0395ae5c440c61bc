//! How a command ends: its exit status, and for a failure the one line it prints on standard
//! error. Every command returns `Result<Exit, Failure>`; only `main` turns that into a status.

use std::process::ExitCode;

/// The exit statuses every command shares (README.md, "Command line").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: done (check: no finding left to fail on).
    Success,
    /// 1: the command ran and the answer is no (check: findings left; report: no report).
    No,
    /// 2: the command line, an input file or a report is wrong.
    Usage,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(match e {
            Exit::Success => 0,
            Exit::No => 1,
            Exit::Usage => 2,
        })
    }
}

/// Why a command stopped: its status (never `Success`) and one line for standard error.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

/// Status 2: the command line, an input file or a report is wrong.
pub fn usage(message: impl Into<String>) -> Failure {
    Failure { exit: Exit::Usage, message: message.into() }
}

/// Status 1: the command ran and the answer is no (no report could be had).
pub fn refused(message: impl Into<String>) -> Failure {
    Failure { exit: Exit::No, message: message.into() }
}
