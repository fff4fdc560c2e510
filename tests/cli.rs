//! The binary end to end on captures shipped in testdata/: exit codes,
//! stdin, JSON contract, unreadable inputs.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

mod common;
use common::bin;

fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}

const LAB: &str = "register_kamailio_sipsak.pcap";

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn lab_capture_findings_and_exit_code() {
    let out = bin()
        .args(["--format", "json"])
        .arg(testdata(LAB))
        .output()
        .unwrap();
    // A rejected password is an error: exit 1 with the default --fail-on.
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["summary"]["sip_messages"], 12);
    assert_eq!(v["summary"]["exchanges"], 3);
    assert_eq!(v["summary"]["by_outcome"]["succeeded"], 2);
    let rules: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"credentials-rejected"), "{rules:?}");
    assert!(rules.contains(&"auth-user-split"), "{rules:?}");
    // The accepted challenges of alice and 300 are not findings.
    let rejected: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "credentials-rejected")
        .collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["frames"], serde_json::json!([11, 12]));
    assert_eq!(rejected[0]["evidence"]["digest username"], "alice");
    let ex = &v["exchanges"][1];
    assert_eq!(ex["user"], "300");
    assert_eq!(ex["auth_user"], "mario_rossi");
    assert_eq!(ex["realm"], "lab.example");
    assert_eq!(ex["outcome"], "succeeded");
}

#[test]
fn fail_on_thresholds() {
    let code = |level: &str| {
        bin()
            .args(["--fail-on", level, "--format", "json"])
            .arg(testdata(LAB))
            .output()
            .unwrap()
            .status
            .code()
    };
    assert_eq!(code("never"), Some(0));
    assert_eq!(code("critical"), Some(0));
    assert_eq!(code("error"), Some(1));
    assert_eq!(code("info"), Some(1));
}

#[test]
fn stdin_gives_the_same_report() {
    let file = bin()
        .args(["--format", "json"])
        .arg(testdata(LAB))
        .output()
        .unwrap();
    let mut child = bin()
        .args(["--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let bytes = std::fs::read(testdata(LAB)).unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let piped = child.wait_with_output().unwrap();
    let (mut a, mut b) = (json(&file), json(&piped));
    a["inputs"][0]["name"] = "x".into();
    b["inputs"][0]["name"] = "x".into();
    assert_eq!(a, b);
}

#[test]
fn unreadable_inputs_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    let garbage = dir.path().join("garbage.bin");
    std::fs::write(&garbage, b"this is not a capture at all\n").unwrap();
    for (path, why) in [
        (empty.as_path(), "empty input"),
        (garbage.as_path(), "not a capture"),
        (Path::new("/nonexistent/x.pcap"), "No such file"),
    ] {
        let out = bin().arg(path).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", path.display());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(&*path.display().to_string()) && err.contains(why),
            "{err}"
        );
    }
}

#[test]
fn header_only_pcap_is_clean_with_a_warning() {
    let mut pcap = Vec::new();
    pcap.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    pcap.extend_from_slice(&[2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    pcap.extend_from_slice(&65535u32.to_le_bytes());
    pcap.extend_from_slice(&1u32.to_le_bytes());
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("h.pcap");
    std::fs::write(&f, &pcap).unwrap();
    let out = bin().args(["--format", "json"]).arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["inputs"][0]["packets"], 0);
    assert!(v["inputs"][0]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|w| w == "no packets"));
}

#[test]
fn text_report_names_the_problem_without_colour_in_pipes() {
    let out = bin().arg(testdata(LAB)).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains('\x1b'), "colour in a pipe");
    assert!(text.contains("credentials-rejected"));
    assert!(text.contains("mario_rossi"));
    let forced = bin()
        .args(["--color", "always"])
        .arg(testdata(LAB))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&forced.stdout).contains("\x1b[1;31m"));
    let no_color = bin()
        .env("NO_COLOR", "1")
        .arg(testdata(LAB))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&no_color.stdout).contains('\x1b'));
}

#[test]
fn usage_errors_exit_2() {
    let out = bin().args(["--format", "yaml", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().args(["-", "-"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = bin().args(["--threads", "0", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// `--threads 1` does everything on one thread; the report is the one the
/// two threads of the default write, in every format, exit status too.
#[test]
fn one_thread_writes_the_report_two_threads_write() {
    for format in ["text", "json", "jsonl", "markdown"] {
        let run = |threads: &str| {
            bin()
                .args(["--format", format, "--threads", threads])
                .arg(testdata(LAB))
                .output()
                .unwrap()
        };
        let (one, two) = (run("1"), run("2"));
        assert_eq!(
            one.status.code(),
            Some(1),
            "{format}: the lab capture has errors"
        );
        assert_eq!(one.status.code(), two.status.code(), "{format}");
        assert!(!one.stdout.is_empty());
        assert!(
            one.stdout == two.stdout,
            "{format}: one thread differs from two"
        );
    }
}

/// Without a usable temporary directory the Markdown and HTML reports are
/// still written, the same, from the kept analysis, and the user is told
/// why.
#[test]
fn ticket_reports_without_a_temporary_directory() {
    for (format, name) in [("markdown", "Markdown"), ("html", "HTML")] {
        let normal = bin()
            .args(["--format", format])
            .arg(testdata(LAB))
            .output()
            .unwrap();
        let no_tmp = bin()
            .env("TMPDIR", "/nonexistent/sipauth-diag-test")
            .args(["--format", format])
            .arg(testdata(LAB))
            .output()
            .unwrap();
        assert_eq!(no_tmp.status.code(), normal.status.code());
        assert_eq!(no_tmp.stdout, normal.stdout, "the same {name} report");
        let err = String::from_utf8_lossy(&no_tmp.stderr);
        assert!(
            err.contains("cannot create a temporary file")
                && err.contains(&format!("the {name} report is kept in memory")),
            "{err}"
        );
        assert!(
            normal.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&normal.stderr)
        );
    }
}

/// Without a usable temporary directory the JSON report is still written,
/// the same, from memory, and the user is told why.
#[test]
fn json_report_without_a_temporary_directory() {
    let normal = bin()
        .args(["--format", "json"])
        .arg(testdata(LAB))
        .output()
        .unwrap();
    let no_tmp = bin()
        .env("TMPDIR", "/nonexistent/sipauth-diag-test")
        .args(["--format", "json"])
        .arg(testdata(LAB))
        .output()
        .unwrap();
    assert_eq!(no_tmp.status.code(), normal.status.code());
    assert_eq!(no_tmp.stdout, normal.stdout, "the same report");
    let err = String::from_utf8_lossy(&no_tmp.stderr);
    assert!(
        err.contains("cannot create a temporary file") && err.contains("kept in memory"),
        "{err}"
    );
    assert!(
        normal.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&normal.stderr)
    );
}

#[test]
fn jsonl_takes_filters_and_refuses_redaction_with_one() {
    // alice's exchanges only: exit code and counts follow what is shown.
    let out = bin()
        .args(["--format", "jsonl", "--user", "alice"])
        .arg(testdata(LAB))
        .output()
        .unwrap();
    let lines: Vec<serde_json::Value> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["filter"]["filter"], "user alice");
    assert_eq!(summary["filter"]["exchanges_total"], 3);
    let shown = lines.iter().filter(|l| l["type"] == "exchange").count();
    assert_eq!(summary["exchanges"], shown);
    assert_eq!(summary["filter"]["exchanges_shown"], shown);
    assert!((1..3).contains(&shown), "{shown}");
    // Without a filter there is no `filter` object.
    let all = bin()
        .args(["--format", "jsonl"])
        .arg(testdata(LAB))
        .output()
        .unwrap();
    let last = all
        .stdout
        .split(|&b| b == b'\n')
        .rfind(|l| !l.is_empty())
        .unwrap();
    let last: serde_json::Value = serde_json::from_slice(last).unwrap();
    assert!(last.get("filter").is_none(), "{last}");
    // Redaction numbers pseudonyms over what a filter shows: refused with
    // one; finding filters and times of day need standard input read
    // twice, which a run without a temporary directory cannot.
    let no_temp = std::env::temp_dir().join("sipauth-diag-no-such-directory");
    for (refused, stdin) in [
        (&["--redact", "--user", "alice"][..], false),
        (&["--rule", "auth-loop"], true),
        (&["--since", "10:00"], true),
    ] {
        let mut cmd = bin();
        cmd.args(["--format", "jsonl"]).args(refused);
        if stdin {
            cmd.arg("-")
                .stdin(std::fs::File::open(testdata(LAB)).unwrap())
                .env("TMPDIR", &no_temp);
        } else {
            cmd.arg(testdata(LAB));
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{refused:?}");
        assert!(out.stdout.is_empty(), "{refused:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("use --format json"), "{refused:?}: {err}");
    }
}

#[test]
fn the_allocator_gives_memory_back_promptly() {
    // mimalloc prints its options when asked to be verbose: the three the
    // binary sets before main (src/main.rs) must have their new values,
    // or peak memory grows by half (docs/performance.md).
    let out = bin()
        .arg("--version")
        .env("MIMALLOC_VERBOSE", "1")
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for option in [
        "option 'arena_eager_commit': 0",
        "option 'purge_delay': 2",
        "option 'purge_extend_delay': 0",
    ] {
        assert!(err.contains(option), "{option} not in:\n{err}");
    }
}
