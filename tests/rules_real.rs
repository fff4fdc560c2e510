//! The rule catalogue on real captures (../shared beside the crate): the
//! binary is run with `--format json` and its findings checked against
//! each capture's `.expect` file and against what the capture is known to
//! show. Skipped with a notice when the captures are not there.

use serde_json::Value;
use std::path::{Path, PathBuf};

mod common;
use common::shared;
use std::process::Command;

/// The rules this test file answers for (the rest of the catalogue is
/// checked by its own tests).
const OWNED: &[&str] = &[
    "nonce-mismatch",
    "stale-nonce",
    "nc-reuse",
    "credentials-missing-on-retry",
    "cseq-not-incremented",
    "no-final-response",
    "algorithm-mismatch",
    "opaque-mismatch",
    "malformed-credentials",
    "brute-force",
    "scanner-user-agent",
    "unsupported-scheme",
];

fn run(file: &Path, extra: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_sipauth-diag"))
        .args(["--format", "json", "--fail-on", "never"])
        .args(extra)
        .arg(file)
        .output()
        .expect("run sipauth-diag");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn findings<'a>(report: &'a Value, rule: &str) -> Vec<&'a Value> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule"] == rule)
        .collect()
}

fn fired(report: &Value) -> Vec<String> {
    let mut v: Vec<String> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["rule"].as_str().map(String::from))
        .collect();
    v.sort();
    v.dedup();
    v
}

fn evidence<'a>(f: &'a Value, name: &str) -> &'a str {
    f["evidence"][name].as_str().unwrap_or_default()
}

/// `key: a, b` from an expect file ("none" = empty).
fn expect_list(text: &str, key: &str) -> Option<Vec<String>> {
    let line = text.lines().find(|l| l.starts_with(&format!("{key}:")))?;
    let v = line[key.len() + 1..].trim();
    Some(
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty() && s != "none")
            .collect(),
    )
}

#[test]
fn every_expect_file_holds_for_the_owned_rules() {
    let Some(root) = shared() else { return };
    let mut checked = 0;
    for dir in ["captures", "public"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut expects: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "expect"))
            .collect();
        expects.sort();
        for exp in expects {
            let text = std::fs::read_to_string(&exp).expect("read expect");
            let stem = exp.file_stem().unwrap().to_string_lossy().into_owned();
            let captures: Vec<PathBuf> = [".pcap", ".pcapng", ".sngrep.pcap"]
                .iter()
                .map(|ext| exp.with_file_name(format!("{stem}{ext}")))
                .filter(|p| p.is_file())
                .collect();
            let must = expect_list(&text, "rules").unwrap_or_default();
            let none = text.lines().any(|l| l.trim() == "rules: none");
            let mut must_not = expect_list(&text, "must_not").unwrap_or_default();
            must_not.extend(expect_list(&text, "forbid").unwrap_or_default());
            for cap in captures {
                let report = run(&cap, &[]);
                let got = fired(&report);
                let name = cap.display();
                for r in must.iter().filter(|r| OWNED.contains(&r.as_str())) {
                    // An sngrep export keeps the dialogs, not every probe.
                    assert!(got.contains(r), "{name}: {r} must fire; fired {got:?}");
                }
                for r in must_not.iter().filter(|r| OWNED.contains(&r.as_str())) {
                    assert!(!got.contains(r), "{name}: {r} must not fire");
                }
                if none {
                    for f in report["findings"].as_array().unwrap() {
                        let rule = f["rule"].as_str().unwrap_or_default();
                        let sev = f["severity"].as_str().unwrap_or_default();
                        assert!(
                            !(OWNED.contains(&rule) && (sev == "error" || sev == "critical")),
                            "{name}: 'rules: none' but {rule} ({sev}): {}",
                            f["message"]
                        );
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 25, "only {checked} captures checked");
}

#[test]
fn svcrack_dictionary_is_one_brute_force_finding_with_counts() {
    let Some(root) = shared() else { return };
    let r = run(&root.join("captures/brute_force_svcrack_noqop.pcap"), &[]);
    let b = findings(&r, "brute-force");
    assert_eq!(b.len(), 1, "one finding per source");
    let b = b[0];
    assert_eq!(b["severity"], "critical");
    assert_eq!(b["exchange"], Value::Null);
    assert_eq!(evidence(b, "source"), "127.0.0.1");
    assert_eq!(evidence(b, "failed authentications"), "25");
    assert_eq!(evidence(b, "usernames tried"), "'1000'");
    assert_eq!(evidence(b, "most passwords for one account"), "25");
    assert_eq!(evidence(b, "any attempt succeeded"), "no");
    assert!(!evidence(b, "first attempt").is_empty() && !evidence(b, "last attempt").is_empty());
    assert_eq!(b["frames"].as_array().unwrap().len(), 25);
    // The account table names the attack as the root cause.
    let acc = &r["accounts"][0];
    assert_eq!(acc["user"], "1000");
    assert_eq!(acc["root_cause"]["rule"], "brute-force");
    assert_eq!(acc["exchanges"], 1);
    assert_eq!(acc["rounds"], 26);
    // Every guess is an attempt, and every one failed.
    assert_eq!(acc["attempts"], 25);
    assert_eq!(acc["failures"], 25);
    assert_eq!(acc["successes"], 0);
}

#[test]
fn a_looping_phone_stays_no_brute_force_even_with_low_thresholds() {
    let Some(root) = shared() else { return };
    let cap = root.join("captures/wrong_password_loop_baresip.pcap");
    let strict = ["--max-failures", "2", "--window", "100000"];
    let r = run(&cap, &strict);
    let got = fired(&r);
    assert!(got.contains(&"auth-loop".to_string()), "{got:?}");
    assert!(!got.contains(&"brute-force".to_string()), "{got:?}");
    // Same for the phone that gets locked out, and the PJSUA phone with
    // many new Call-IDs.
    for f in [
        "captures/wrong_password_403_pjsua2.pcap",
        "public/goffinet_private-test-sip.pcapng",
    ] {
        let path = root.join(f);
        if path.is_file() {
            assert!(
                findings(&run(&path, &strict), "brute-force").is_empty(),
                "{f}"
            );
        }
    }
}

#[test]
fn thresholds_are_options() {
    let Some(root) = shared() else { return };
    let cap = root.join("captures/brute_force_svcrack_noqop.pcap");
    // 25 failures do not reach a threshold of 26.
    let r = run(&cap, &["--max-failures", "26"]);
    assert!(findings(&r, "brute-force").is_empty());
    // sngrep_aaa: a person switching between 2 accounts over 20 minutes is
    // no enumeration; with --max-usernames 2 and a wide window it would be.
    let aaa = root.join("public/sngrep_aaa.pcap");
    if aaa.is_file() {
        assert!(findings(&run(&aaa, &[]), "brute-force").is_empty());
        let r = run(&aaa, &["--max-usernames", "2", "--window", "3600"]);
        assert_eq!(findings(&r, "brute-force").len(), 1);
    }
}

#[test]
fn late_answers_in_aaa_are_stale_nonce_with_the_delay() {
    let Some(root) = shared() else { return };
    let cap = root.join("public/sngrep_aaa.pcap");
    if !cap.is_file() {
        eprintln!("NOTICE: {} absent; skipped", cap.display());
        return;
    }
    let r = run(&cap, &[]);
    let s = findings(&r, "stale-nonce");
    assert!(s.len() >= 4, "{s:?}");
    // The first refusal: REGISTER answered 17.1 s after the 401 of frame
    // 108, refused with "401 nonce has changed" (frame 122).
    let first = s
        .iter()
        .find(|f| f["frames"].as_array().unwrap().contains(&Value::from(122)))
        .expect("frame 122 refusal");
    assert!(
        first["message"].as_str().unwrap().contains("17.1 s"),
        "{}",
        first["message"]
    );
    assert!(evidence(first, "refusal 1").contains("nonce has changed"));
}

#[test]
fn scanner_on_an_unchallenged_options_probe() {
    let Some(root) = shared() else { return };
    let cap = root.join("public/goffinet_Forensic_challenge_4.pcap");
    if !cap.is_file() {
        eprintln!("NOTICE: {} absent; skipped", cap.display());
        return;
    }
    let r = run(&cap, &[]);
    let s = findings(&r, "scanner-user-agent");
    assert_eq!(s.len(), 1);
    assert_eq!(evidence(s[0], "source"), "172.25.105.43");
    assert_eq!(evidence(s[0], "methods"), "OPTIONS");
    assert_eq!(s[0]["frames"], serde_json::json!([1]));
}

#[test]
fn silence_after_a_request_is_no_final_response_not_incomplete() {
    let Some(root) = shared() else { return };
    // The capture goes on for over an hour after the first REGISTER.
    let cap = root.join("public/goffinet_private-test-sip.pcapng");
    if cap.is_file() {
        let r = run(&cap, &[]);
        let n = findings(&r, "no-final-response");
        assert_eq!(n.len(), 1, "{n:?}");
        assert_eq!(n[0]["frames"][0], 1);
    }
    // A capture that ends right after the credentials: incomplete, quiet.
    let cut = root.join("public/goffinet_voip-extension2downata.pcap");
    if cut.is_file() {
        assert!(findings(&run(&cut, &[]), "no-final-response").is_empty());
    }
}

#[test]
fn account_table_in_json_has_the_columns() {
    let Some(root) = shared() else { return };
    let r = run(&root.join("captures/wrong_password_403_pjsua2.pcap"), &[]);
    let acc = r["accounts"].as_array().expect("accounts");
    assert_eq!(acc.len(), 1);
    let a = &acc[0];
    assert_eq!(a["user"], "bob");
    assert_eq!(a["exchanges"], 3);
    // Three runs, each answering one challenge: two 401s and a 403.
    assert_eq!(a["attempts"], 3);
    assert_eq!(a["failures"], 3);
    assert_eq!(a["successes"], 0);
    assert_eq!(a["last_outcome"], "failed");
    assert_eq!(a["root_cause"]["severity"], "error");
    assert!(a["root_cause"]["phrase"]
        .as_str()
        .is_some_and(|p| !p.is_empty()));
}
