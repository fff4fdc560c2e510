//! The generated capture (examples/gen-capture) against its truth file:
//! the diagnosis must find exactly what the generator put in.
//!
//! Checks that need rules or options not in this build yet (wrong-password,
//! digest-verified, brute-force, a credentials file) are skipped with a
//! printed notice until `--list-rules` knows them.

mod common;
#[allow(dead_code)]
#[path = "../examples/gen-capture/generator.rs"]
mod generator;

use serde_json::Value;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_sipauth-diag");

fn generate(dir: &Path, mb: u64, seed: u64) -> (std::path::PathBuf, generator::Truth) {
    let pcap = dir.join("gen.pcap");
    let file = std::fs::File::create(&pcap).expect("create pcap");
    let truth = generator::generate(
        generator::Config::for_size_mb(mb, seed),
        std::io::BufWriter::new(file),
    )
    .expect("generate");
    (pcap, truth)
}

fn known_rules() -> String {
    let out = Command::new(BIN).arg("--list-rules").output().expect("run");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn rule_known(list: &str, id: &str) -> bool {
    list.lines()
        .any(|l| l.split_whitespace().next() == Some(id))
}

fn has_credentials_option() -> bool {
    let out = Command::new(BIN).arg("--help").output().expect("run");
    // clap prints `--credentials <FILE>`; a differently named option
    // (`--credentials-file`) must not be taken for it.
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    help.contains("--credentials <") || help.contains("--credentials=")
}

fn diagnose(pcap: &Path, credentials: Option<&Path>) -> Value {
    let mut cmd = Command::new(BIN);
    cmd.args(["--format", "json", "--fail-on", "never"]);
    if let Some(c) = credentials {
        cmd.arg("--credentials").arg(c);
    }
    let out = cmd.arg(pcap).output().expect("run sipauth-diag");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn rule_count(report: &Value, id: &str) -> u64 {
    report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| f["rule"] == id)
        .count() as u64
}

fn responses_covered(report: &Value, id: &str) -> u64 {
    report["findings"]
        .as_array()
        .expect("findings array")
        .iter()
        .filter(|f| f["rule"] == id)
        .map(|f| {
            f["evidence"]["responses"]
                .as_str()
                .and_then(|n| n.parse::<u64>().ok())
                .expect("a count of responses")
        })
        .sum()
}

#[test]
fn generated_capture_matches_its_truth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pcap, truth) = generate(dir.path(), 3, 11);
    assert!(truth.missing_cnonce > 0 && truth.wrong_password > 0 && truth.digest_verified > 0);
    assert_eq!(truth.brute_force, 2);
    let creds = dir.path().join("gen.credentials");
    std::fs::write(&creds, truth.credentials_text()).expect("write credentials");
    let with_creds = has_credentials_option();
    let report = diagnose(&pcap, with_creds.then_some(creds.as_path()));

    // What exists today.
    assert_eq!(report["summary"]["sip_messages"], truth.sip_messages);
    assert_eq!(report["summary"]["broken_sip_messages"], 0);
    assert_eq!(report["inputs"][0]["packets"].as_u64(), Some(truth.packets));
    assert_eq!(rule_count(&report, "missing-cnonce"), truth.missing_cnonce);

    // Rules written in parallel: checked once this build knows them.
    let rules = known_rules();
    let expect = [
        ("wrong-password", truth.wrong_password, true),
        ("digest-verified", truth.digest_verified, true),
        ("brute-force", truth.brute_force, false),
    ];
    for (id, want, needs_credentials) in expect {
        if !rule_known(&rules, id) {
            println!(
                "NOTICE: rule '{id}' is not in --list-rules yet; its count ({want}) is not checked"
            );
            continue;
        }
        if needs_credentials && !with_creds {
            println!("NOTICE: no --credentials option yet; '{id}' ({want}) is not checked");
            continue;
        }
        // Verification findings cover every response of an exchange with
        // the same verdict and say how many; the truth counts responses.
        let got = if needs_credentials {
            responses_covered(&report, id)
        } else {
            rule_count(&report, id)
        };
        assert_eq!(got, want, "findings of rule {id}");
    }
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let cfg = |seed| generator::Config::for_size_mb(1, seed);
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut c = Vec::new();
    let ta = generator::generate(cfg(5), &mut a).expect("generate");
    generator::generate(cfg(5), &mut b).expect("generate");
    generator::generate(cfg(6), &mut c).expect("generate");
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_eq!(ta.bytes, a.len() as u64);
    assert!(a.len() >= 1_000_000);
}

/// `--format jsonl` streams the same exchanges and findings as the JSON
/// report, one object per line, with a closing summary.
#[test]
fn jsonl_stream_agrees_with_the_json_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pcap, truth) = generate(dir.path(), 2, 23);
    let report = diagnose(&pcap, None);
    let out = Command::new(BIN)
        .args(["--format", "jsonl", "--fail-on", "never"])
        .arg(&pcap)
        .output()
        .expect("run sipauth-diag");
    assert_eq!(out.status.code(), Some(0));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    let summary = lines.last().expect("lines");
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["sip_messages"], truth.sip_messages);
    let count = |t: &str| lines.iter().filter(|l| l["type"] == t).count() as u64;
    assert_eq!(
        Some(count("exchange")),
        report["summary"]["exchanges"].as_u64()
    );
    assert_eq!(summary["exchanges"], report["summary"]["exchanges"]);
    // Every rule runs on the stream too, the capture-wide ones (brute
    // force, nc-reuse) at its end.
    let json_count: u64 = report["summary"]["findings_by_rule"]
        .as_object()
        .expect("object")
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(count("finding"), json_count);
    assert_eq!(
        summary["findings_by_rule"],
        report["summary"]["findings_by_rule"]
    );
    assert!(
        summary["findings_by_rule"]["brute-force"].as_u64() >= Some(1),
        "the generated attack is found on the stream too"
    );
    assert_eq!(summary["by_outcome"], report["summary"]["by_outcome"]);
    // Every finding follows the exchange it belongs to.
    let mut last_exchange = None;
    for l in &lines {
        match l["type"].as_str() {
            Some("exchange") => last_exchange = l["id"].as_u64(),
            // Findings about the whole capture (exchange null, or judged
            // over all exchanges) close the stream; the others follow
            // their exchange.
            Some("finding") if l["exchange"].is_null() || l["rule"] == "nc-reuse" => {}
            Some("finding") => assert_eq!(l["exchange"].as_u64(), last_exchange),
            _ => {}
        }
    }
}

/// Phones registering over TCP (one kept connection each, one message per
/// segment) are read as completely as the UDP ones.
#[test]
fn generated_capture_with_tcp_phones_matches_its_truth() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pcap = dir.path().join("tcp.pcap");
    let mut cfg = generator::Config::for_size_mb(2, 31);
    cfg.tcp_percent = 40;
    let file = std::fs::File::create(&pcap).expect("create pcap");
    let truth = generator::generate(cfg, std::io::BufWriter::new(file)).expect("generate");
    let report = diagnose(&pcap, None);
    assert_eq!(report["summary"]["sip_messages"], truth.sip_messages);
    assert_eq!(report["summary"]["broken_sip_messages"], 0);
    assert_eq!(rule_count(&report, "missing-cnonce"), truth.missing_cnonce);
    let tcp_exchanges = report["exchanges"]
        .as_array()
        .expect("exchanges")
        .iter()
        .filter(|e| e["transport"] == "tcp")
        .count();
    assert!(tcp_exchanges > 10, "{tcp_exchanges} exchanges over TCP");
}

/// A reader that goes away early (`| head`) ends every format quietly,
/// with the exit status of the findings, as if it had read to the end.
#[test]
fn a_closed_pipe_keeps_the_exit_status_of_the_findings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pcap, _) = generate(dir.path(), 2, 41);
    for format in ["json", "jsonl", "text"] {
        let (status, err) = common::read_a_little_then_close(
            Command::new(BIN)
                .args(["--format", format, "--details"])
                .arg(&pcap),
        );
        assert!(
            err.is_empty(),
            "{format}: stderr after a closed pipe: {err}"
        );
        assert_eq!(
            status.code(),
            Some(1),
            "{format}: the generated capture has errors, whether or not the report was read"
        );
    }
}
