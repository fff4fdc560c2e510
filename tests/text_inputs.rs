//! Text inputs and multi-input merging, end to end through the binary.
//!
//! Tests that read `/work/shared` (as `../shared` beside the crate) skip
//! with a notice when it is absent.

use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};

mod common;
use common::{bin, shared};
use std::process::Stdio;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/logs")
        .join(name)
}

/// Runs the tool with `--format json` and the given inputs.
fn json(args: &[&Path]) -> Value {
    let out = bin()
        .arg("--format")
        .arg("json")
        .arg("--fail-on")
        .arg("never")
        .args(args)
        .output()
        .expect("run sipauth-diag");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn json_stdin(bytes: &[u8]) -> Value {
    let mut child = bin()
        .args(["--format", "json", "--fail-on", "never", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run sipauth-diag");
    let mut stdin = child.stdin.take().unwrap();
    let data = bytes.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(0));
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn rules(v: &Value) -> BTreeSet<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

fn sip_messages(v: &Value) -> u64 {
    v["summary"]["sip_messages"].as_u64().unwrap()
}

fn warnings(v: &Value, input: usize) -> Vec<String> {
    v["inputs"][input]["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Every sngrep text save in /work/shared and the capture it was made from.
fn sngrep_pairs(shared: &Path) -> Vec<(PathBuf, PathBuf)> {
    let mut pairs = Vec::new();
    for entry in std::fs::read_dir(shared.join("captures")).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if let Some(stem) = name.strip_suffix(".sngrep.txt") {
            let pcap = ["pcap", "pcapng", "pcap.gz"]
                .iter()
                .map(|ext| shared.join("captures").join(format!("{stem}.{ext}")))
                .find(|c| c.exists())
                .unwrap_or_else(|| panic!("no capture beside {name}"));
            pairs.push((p, pcap));
        }
    }
    for (txt, pcap) in [
        ("sngrep_aaa_export_TZ-UTC.txt", "sngrep_aaa.pcap"),
        (
            "sngrep_ipv6frag_export_TZ-UTC.txt",
            "sngrep_ipv6frag_noauth.pcap",
        ),
    ] {
        let (t, p) = (
            shared.join("public").join(txt),
            shared.join("public").join(pcap),
        );
        if t.exists() && p.exists() {
            pairs.push((t, p));
        }
    }
    pairs.sort();
    pairs
}

#[test]
fn sngrep_text_saves_give_the_same_rules_as_their_captures() {
    let Some(shared) = shared() else { return };
    let pairs = sngrep_pairs(&shared);
    assert!(
        pairs.len() >= 5,
        "expected the sngrep saves in /work/shared"
    );
    let mut any_rules = false;
    for (txt, pcap) in pairs {
        let t = json(&[&txt]);
        let p = json(&[&pcap]);
        assert_eq!(t["inputs"][0]["format"], "sngrep-text", "{}", txt.display());
        assert_eq!(
            rules(&t),
            rules(&p),
            "{} vs {}",
            txt.display(),
            pcap.display()
        );
        any_rules |= !rules(&t).is_empty();
        let unreassembled = warnings(&p, 0)
            .iter()
            .any(|w| w.contains("IP fragments were not reassembled"));
        if unreassembled {
            // sngrep reassembled fragments the packet path skips today.
            eprintln!(
                "NOTICE: {} leaves IP fragments unreassembled: {} SIP messages vs {} in the text save",
                pcap.display(),
                sip_messages(&p),
                sip_messages(&t)
            );
            assert!(sip_messages(&t) >= sip_messages(&p));
        } else {
            assert_eq!(sip_messages(&t), sip_messages(&p), "{}", txt.display());
        }
        let w = warnings(&t, 0);
        assert!(w.iter().any(|w| w.contains("read as UTC")), "{w:?}");
        assert!(w.iter().any(|w| w.contains("no transport marker")), "{w:?}");
        // The exchanges start at the same instants (the saves were made
        // with TZ=UTC).
        let starts = |v: &Value| -> Vec<String> {
            let mut s: Vec<String> = v["exchanges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["start"].as_str().unwrap().to_string())
                .collect();
            s.sort();
            s
        };
        assert_eq!(starts(&t), starts(&p), "{}", txt.display());
    }
    assert!(any_rules, "some saves must produce findings");
}

#[test]
fn stdin_and_gzip_give_the_same_findings_as_the_file() {
    let Some(shared) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "captures/wrong_password_loop_baresip.pcap",
        "captures/ipv6_register_baresip.pcapng",
        "captures/wrong_password_loop_baresip.sngrep.txt",
        "public/sngrep_aaa.pcap",
    ] {
        let path = shared.join(name);
        let bytes = std::fs::read(&path).unwrap();
        let file = json(&[&path]);
        assert!(sip_messages(&file) > 0, "{name}");
        let piped = json_stdin(&bytes);
        assert_eq!(piped["findings"], file["findings"], "stdin: {name}");
        assert_eq!(piped["summary"], file["summary"], "stdin: {name}");
        assert_eq!(piped["inputs"][0]["name"], "<stdin>");

        let gz = dir.path().join("copy.gz");
        std::fs::write(&gz, gzip(&bytes)).unwrap();
        let zipped = json(&[&gz]);
        assert_eq!(zipped["findings"], file["findings"], "gzip: {name}");
        assert_eq!(zipped["summary"], file["summary"], "gzip: {name}");
        assert_eq!(zipped["inputs"][0]["format"], file["inputs"][0]["format"]);
        let piped_gz = json_stdin(&gzip(&bytes));
        assert_eq!(
            piped_gz["findings"], file["findings"],
            "gzip on stdin: {name}"
        );
    }
}

/// Splits a classic little-endian pcap into two by record parity.
fn split_pcap(bytes: &[u8]) -> (Vec<u8>, Vec<u8>, usize) {
    assert_eq!(&bytes[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian pcap");
    let (mut a, mut b) = (bytes[..24].to_vec(), bytes[..24].to_vec());
    let mut at = 24;
    let mut n = 0;
    while at + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        let rec = &bytes[at..at + 16 + incl];
        if n % 2 == 0 {
            a.extend_from_slice(rec);
        } else {
            b.extend_from_slice(rec);
        }
        at += 16 + incl;
        n += 1;
    }
    (a, b, n)
}

#[test]
fn two_inputs_are_merged_by_time() {
    let Some(shared) = shared() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = shared.join("captures/wrong_password_loop_baresip.pcap");
    let whole = json(&[&path]);
    let (a, b, n) = split_pcap(&std::fs::read(&path).unwrap());
    let (pa, pb) = (dir.path().join("even.pcap"), dir.path().join("odd.pcap"));
    std::fs::write(&pa, a).unwrap();
    std::fs::write(&pb, b).unwrap();
    // Named in reverse order: requests and their answers sit in different
    // files, so only a merge by time pairs them as the single file does.
    let merged = json(&[&pb, &pa]);
    assert_eq!(rules(&merged), rules(&whole));
    assert!(!rules(&whole).is_empty());
    assert_eq!(sip_messages(&merged), sip_messages(&whole));
    let shape = |v: &Value| -> Vec<(String, u64, String)> {
        v["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["start"].as_str().unwrap().to_string(),
                    e["rounds"].as_u64().unwrap(),
                    e["outcome"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(shape(&merged), shape(&whole));
    // Exchanges come out in time order.
    let starts: Vec<String> = shape(&merged).into_iter().map(|s| s.0).collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted);
    // Per-input summaries and frame counts stay per input.
    let inputs = merged["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 2);
    assert_eq!(inputs[0]["name"], pb.display().to_string());
    let packets: u64 = inputs.iter().map(|i| i["packets"].as_u64().unwrap()).sum();
    assert_eq!(packets as usize, n);
    assert_eq!(inputs[0]["packets"].as_u64().unwrap() as usize, n / 2);
}

#[test]
fn a_text_save_merges_with_a_capture() {
    let Some(shared) = shared() else { return };
    let pcap = shared.join("captures/ok_register_qop_baresip.pcap");
    let txt = shared.join("captures/wrong_password_loop_baresip.sngrep.txt");
    let merged = json(&[&txt, &pcap]);
    let starts: Vec<(String, u64)> = merged["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["start"].as_str().unwrap().to_string(),
                e["input"].as_u64().unwrap(),
            )
        })
        .collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted, "exchanges in time order across inputs");
    let from: BTreeSet<u64> = starts.iter().map(|s| s.1).collect();
    assert_eq!(from.len(), 2, "both inputs contribute: {starts:?}");
    assert_eq!(
        rules(&merged),
        rules(&json(&[&txt]))
            .union(&rules(&json(&[&pcap])))
            .cloned()
            .collect()
    );
}

#[test]
fn console_logs_are_recognised_and_analysed() {
    let cases: [(&str, &str, &[&str], &str); 4] = [
        (
            "asterisk_pjsip_logger.log",
            "asterisk-log",
            &["auth-loop", "credentials-rejected"],
            "udp",
        ),
        ("freeswitch_siptrace.log", "freeswitch-log", &[], "tcp"),
        (
            "snom_trace.txt",
            "snom-log",
            &["forbidden-after-auth"],
            "udp",
        ),
        ("plain_sip.txt", "plain-sip", &[], "udp"),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, format, want, transport) in cases {
        let path = fixture(name);
        let v = json(&[&path]);
        assert_eq!(v["inputs"][0]["format"], format, "{name}");
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        assert_eq!(rules(&v), want, "{name}");
        assert_eq!(v["summary"]["broken_sip_messages"], 0, "{name}");
        assert_eq!(
            sip_messages(&v),
            v["inputs"][0]["packets"].as_u64().unwrap()
        );
        let ex = &v["exchanges"][0];
        assert_eq!(ex["transport"], transport, "{name}");
        if format != "plain-sip" {
            assert!(
                ex["start"].as_str().unwrap().contains("-11-22T10:00:0"),
                "{name}: {ex}"
            );
        }
        let w = warnings(&v, 0).join("\n");
        match format {
            "plain-sip" => assert!(w.contains("no times or addresses"), "{w}"),
            _ => {
                assert!(w.contains("read as UTC"), "{w}");
                assert!(w.contains("local address is unknown"), "{w}");
            }
        }
        // Text formats work gzipped too.
        let gz = dir.path().join(format!("{name}.gz"));
        std::fs::write(&gz, gzip(&std::fs::read(&path).unwrap())).unwrap();
        let z = json(&[&gz]);
        assert_eq!(z["findings"], v["findings"], "{name} gzipped");
        assert_eq!(z["inputs"][0]["format"], format);
    }
}

#[test]
fn tz_shifts_text_times() {
    let path = fixture("snom_trace.txt");
    let out = bin()
        .args(["--format", "json", "--fail-on", "never", "--tz", "+02:00"])
        .arg(&path)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["exchanges"][0]["start"], "2026-11-22T08:00:03.118000Z");
    assert!(warnings(&v, 0)
        .iter()
        .any(|w| w.contains("UTC+02:00 (--tz)")));
    let bad = bin()
        .args(["--tz", "Mars/Olympus"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn unrecognised_text_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("notes.txt");
    std::fs::write(&p, "Dear team,\nthe phone does not register.\n").unwrap();
    let out = bin().arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a capture"));
}
