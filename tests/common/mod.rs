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

/// Every file under `dir` but `.expect` and `.md` files, sorted.
pub fn readable_captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            readable_captures(&p, out);
        } else if p.extension().is_none_or(|e| e != "expect" && e != "md") {
            out.push(p);
        }
    }
}

/// The readable captures of testdata/ and, when it is there, ../shared.
pub fn every_readable_capture() -> Vec<PathBuf> {
    let mut files = Vec::new();
    readable_captures(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata"),
        &mut files,
    );
    if shared_dir().exists() {
        readable_captures(&shared_dir().join("captures"), &mut files);
        readable_captures(&shared_dir().join("public"), &mut files);
    } else {
        eprintln!("skipping the shared captures: ../shared not found");
    }
    files
}
