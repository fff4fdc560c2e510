//! Helpers shared by the integration tests.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};

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
