//! Helpers shared by the integration tests (each test file uses some).
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

/// `../shared` beside the clone: captures made by real SIP stacks and
/// public ones, with their `.expect` files.
pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// [`shared_dir`] when it is there; otherwise a printed notice, and the
/// test that asked skips what needs it.
pub fn shared() -> Option<PathBuf> {
    let p = shared_dir();
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "NOTICE: {} not found (captures live beside the clone); skipped",
            p.display()
        );
        None
    }
}

/// The binary, without the environment that would change its output.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sipauth-diag"));
    c.env_remove("NO_COLOR").env_remove("SIPAUTH_CREDENTIALS");
    c
}

/// [`bin`] for the text view at a fixed width.
pub fn tool() -> Command {
    let mut c = bin();
    c.env("COLUMNS", "120");
    c
}

/// Runs `cmd`, reads the first bytes of its output and closes the pipe, as
/// `| head` does; returns how it ended and what it wrote to stderr.
pub fn read_a_little_then_close(cmd: &mut Command) -> (ExitStatus, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sipauth-diag");
    let mut first = [0u8; 64];
    child
        .stdout
        .as_mut()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("some output");
    drop(child.stdout.take());
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("stderr text");
    (child.wait().expect("exit status"), err)
}
